//! `/api/v1/hardship/applications[...]`.

use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, patch, post};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Authorized, IdempotencyKey, IfMatch, JsonBody, perm};
use crate::AppState;
use crate::domain::FieldError;
use crate::domain::approval::CaseStatus;
use crate::domain::hardship::{self as rules, Category, Level};
use crate::domain::ids::{ApplicationId, ResidentId};
use crate::domain::money::Money;
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::hardship::{self, ApplicationView, NewApplication, RevealedView};

/// A worker's application for hardship aid.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApplicationRequest {
    /// The hardship fund (its year is the application's year).
    pub fund_id: Uuid,
    /// The worker's organisation (a clerk: its own).
    pub org_id: Uuid,
    /// The worker's name.
    pub worker_name: String,
    /// Resident ID number, 18 characters, GB 11643 check character (a final `x` is read as `X`).
    /// Stored encrypted; answered masked.
    #[schema(example = "11010519491231002X")]
    pub id_number: String,
    /// Phone; stored encrypted, answered masked.
    pub phone: Option<String>,
    /// Bank account for the payment; stored encrypted, answered masked.
    pub bank_account: Option<String>,
    /// Why the worker is in difficulty.
    pub category: Category,
    /// How deep the difficulty is.
    pub level: Level,
    /// People in the household (1–50).
    pub household_members: Option<i32>,
    /// The household's monthly income.
    pub household_monthly_income: Option<Money>,
    /// Other household facts (up to 2,000 characters).
    pub household_notes: Option<String>,
    /// How much is asked for.
    pub requested_amount: Money,
    /// Why (up to 2,000 characters).
    pub reason: String,
    /// The campaign (of the same fund) it is part of.
    pub campaign_id: Option<Uuid>,
}

impl TryFrom<CreateApplicationRequest> for NewApplication {
    type Error = Error;
    /// Checked field by field as an edit is (`UpdateApplicationRequest`), every field given.
    fn try_from(r: CreateApplicationRequest) -> Result<Self, Error> {
        let c = hardship::ApplicationChanges::try_from(UpdateApplicationRequest {
            worker_name: Some(r.worker_name),
            id_number: Some(r.id_number),
            phone: r.phone,
            bank_account: r.bank_account,
            category: Some(r.category),
            level: Some(r.level),
            household_members: r.household_members,
            household_monthly_income: r.household_monthly_income,
            household_notes: r.household_notes,
            requested_amount: Some(r.requested_amount),
            reason: Some(r.reason),
        })?;
        let given = || Error::internal("a checked field went missing");
        Ok(NewApplication {
            fund_id: r.fund_id,
            org_id: r.org_id,
            worker_name: c.worker_name.ok_or_else(given)?,
            id_number: c.id_number.ok_or_else(given)?,
            phone: c.phone,
            bank_account: c.bank_account,
            category: c.category.ok_or_else(given)?,
            level: c.level.ok_or_else(given)?,
            household_members: c.household_members,
            household_monthly_income: c.household_monthly_income,
            household_notes: c.household_notes,
            requested_amount: c.requested_amount.ok_or_else(given)?,
            reason: c.reason.ok_or_else(given)?,
            campaign_id: r.campaign_id,
        })
    }
}

/// Files a draft application (a clerk for its own organisation, or a rights-protection officer
/// for a walk-in worker). The body's fingerprint is kept keyed (HMAC), so the idempotency table
/// cannot be searched for a guessed ID number.
#[utoipa::path(post, path = "/api/v1/hardship/applications", tag = "hardship", request_body = CreateApplicationRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ApplicationView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/hardship/applications")]
pub async fn create_application(
    state: Data<AppState>,
    caller: Authorized<perm::FileHardship>,
    key: IdempotencyKey,
    body: JsonBody<CreateApplicationRequest, NewApplication>,
) -> Result<HttpResponse, Error> {
    let fingerprint = state.pii.lookup_hash("request", &body.fingerprint);
    let cmd = body.value;
    hardship::create(&state.pool, state.pii.clone(), caller.write_ctx(), key.with(&fingerprint), caller.scope(), cmd)
        .await
        .map(super::stored)
}

/// Changes to a draft application; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApplicationRequest {
    /// The worker's name.
    pub worker_name: Option<String>,
    /// Resident ID number (GB 11643 check character); stored encrypted, answered masked.
    #[schema(example = "11010519491231002X")]
    pub id_number: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Bank account for the payment.
    pub bank_account: Option<String>,
    /// Why the worker is in difficulty.
    pub category: Option<Category>,
    /// How deep the difficulty is.
    pub level: Option<Level>,
    /// People in the household (1–50).
    pub household_members: Option<i32>,
    /// The household's monthly income.
    pub household_monthly_income: Option<Money>,
    /// Other household facts (up to 2,000 characters).
    pub household_notes: Option<String>,
    /// How much is asked for.
    pub requested_amount: Option<Money>,
    /// Why (up to 2,000 characters).
    pub reason: Option<String>,
}

impl TryFrom<UpdateApplicationRequest> for hardship::ApplicationChanges {
    type Error = Error;
    fn try_from(r: UpdateApplicationRequest) -> Result<Self, Error> {
        let mut errors: Vec<FieldError> = Vec::new();
        let mut take = |result: Result<String, FieldError>| result.map_err(|e| errors.push(e)).ok();
        let worker_name = r.worker_name.as_deref().map(|n| take(rules::text("worker_name", n, 100)));
        let reason = r.reason.as_deref().map(|n| take(rules::text("reason", n, 2000)));
        let phone = r.phone.as_deref().map(|p| take(rules::phone("phone", p)));
        let bank_account = r.bank_account.as_deref().map(|b| take(rules::bank_account("bank_account", b)));
        let household_notes = r.household_notes.as_deref().map(|n| take(rules::text("household_notes", n, 2000)));
        // The message never repeats the number.
        let id_number = r.id_number.as_deref().and_then(|n| {
            ResidentId::parse(n.trim()).map_err(|e| errors.push(FieldError::new("id_number", e.to_string()))).ok()
        });
        if r.household_members.is_some_and(|m| !(1..=50).contains(&m)) {
            errors.push(FieldError::new("household_members", "must be between 1 and 50"));
        }
        if r.requested_amount.is_some_and(|a| a.is_zero()) {
            errors.push(FieldError::new("requested_amount", "must be more than 0.00"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(hardship::ApplicationChanges {
            worker_name: worker_name.flatten(),
            id_number,
            phone: phone.flatten(),
            bank_account: bank_account.flatten(),
            category: r.category,
            level: r.level,
            household_members: r.household_members,
            household_monthly_income: r.household_monthly_income,
            household_notes: household_notes.flatten(),
            requested_amount: r.requested_amount,
            reason: reason.flatten(),
        })
    }
}

/// Edits a draft application (`If-Match` required; the side that files: a clerk for its own
/// organisation, a rights-protection officer): one being written, or returned for revision —
/// edited, not filed again. A submitted, reviewed, approved or closed application is 409
/// `not_a_draft`: what was reviewed and approved is what was asked. The body's fingerprint is kept
/// keyed (HMAC), as when filing.
#[utoipa::path(patch, path = "/api/v1/hardship/applications/{id}", tag = "hardship", request_body = UpdateApplicationRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header, description = "The ETag you read"),
        ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ApplicationView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[patch("/api/v1/hardship/applications/{id}")]
pub async fn update_application(
    state: Data<AppState>,
    caller: Authorized<perm::FileHardship>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<ApplicationId>,
    body: JsonBody<UpdateApplicationRequest, hardship::ApplicationChanges>,
) -> Result<HttpResponse, Error> {
    let fingerprint = state.pii.lookup_hash("request", &body.fingerprint);
    let changes = body.value;
    let id = id.into_inner().uuid();
    hardship::update(
        &state.pool,
        state.pii.clone(),
        caller.write_ctx(),
        key.with(&fingerprint),
        caller.scope(),
        if_match.0,
        id,
        changes,
    )
    .await
    .map(super::stored)
}

/// Filters of the application list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ApplicationQuery {
    /// One organisation's.
    pub org_id: Option<Uuid>,
    /// In one state.
    pub status: Option<CaseStatus>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists applications, oldest first, masked (a clerk: its own organisation's).
#[utoipa::path(get, path = "/api/v1/hardship/applications", tag = "hardship", params(ApplicationQuery),
    responses((status = 200, body = inline(Listed<ApplicationView>)), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/hardship/applications")]
pub async fn list_applications(
    state: Data<AppState>,
    caller: Authorized<perm::ReadHardship>,
    q: Query<ApplicationQuery>,
) -> Result<HttpResponse, Error> {
    let q = q.into_inner();
    let page = super::extract::PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    Ok(HttpResponse::Ok()
        .json(hardship::list(&state.pool, caller.scope(), q.org_id.map(Into::into), q.status, page).await?))
}

/// One application, masked (another organisation's is 404 to a clerk).
#[utoipa::path(get, path = "/api/v1/hardship/applications/{id}", tag = "hardship", params(("id" = Uuid, Path)),
    responses((status = 200, body = ApplicationView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/hardship/applications/{id}")]
pub async fn get_application(
    state: Data<AppState>,
    caller: Authorized<perm::ReadHardship>,
    id: Path<ApplicationId>,
) -> Result<HttpResponse, Error> {
    let view = hardship::get(&state.pool, caller.scope(), id.into_inner()).await?;
    let tag = crate::service::etag(view.version);
    Ok(super::with_etag(&view, tag))
}

action_handler!(
    submit_application,
    "/api/v1/hardship/applications/{id}/submit",
    "hardship",
    crate::db::hardship::ApplicationRow,
    ApplicationView,
    Submit,
    FileHardship,
    "draft → submitted (a clerk of the organisation, or a rights-protection officer; never someone who \
     reviewed or approved it: 403 `separation_of_duties`). Refused with 409 \
     `duplicate_beneficiary` while the same ID number has other active aid in the year, unless a leader \
     has overridden the check."
);
action_handler!(
    review_application,
    "/api/v1/hardship/applications/{id}/review",
    "hardship",
    crate::db::hardship::ApplicationRow,
    ApplicationView,
    Review,
    ReviewHardship,
    "submitted → reviewed (a rights-protection officer or a leader; never someone who submitted or \
     approved it at any point, returns included: 403 `separation_of_duties`)."
);
action_handler!(
    approve_application,
    "/api/v1/hardship/applications/{id}/approve",
    "hardship",
    crate::db::hardship::ApplicationRow,
    ApplicationView,
    Approve,
    ReviewHardship,
    "reviewed → approved, creating the item that will pay it (`item_id`). Never someone who submitted \
     or reviewed it at any point, returns included (403 `separation_of_duties`); when more than the \
     leader threshold is asked, a leader, whatever `approved_amount` grants (403 `forbidden`)."
);
action_handler!(
    reject_application,
    "/api/v1/hardship/applications/{id}/reject",
    "hardship",
    crate::db::hardship::ApplicationRow,
    ApplicationView,
    Reject,
    ReviewHardship,
    "submitted | reviewed → rejected, with a reason."
);
action_handler!(
    return_application,
    "/api/v1/hardship/applications/{id}/return",
    "hardship",
    crate::db::hardship::ApplicationRow,
    ApplicationView,
    Return,
    ReviewHardship,
    "submitted | reviewed → draft, for revision, with a reason."
);
action_handler!(
    withdraw_application,
    "/api/v1/hardship/applications/{id}/withdraw",
    "hardship",
    crate::db::hardship::ApplicationRow,
    ApplicationView,
    Withdraw,
    FileHardship,
    "draft | submitted | reviewed → withdrawn (the organisation's side), with a reason."
);

/// Why something is done: a reveal, an override.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    /// Why (1–1,000 characters); recorded in the audit event.
    pub reason: String,
}

impl ReasonRequest {
    fn checked(self) -> Result<String, Error> {
        Ok(rules::text("reason", &self.reason, 1000)?)
    }
}

/// Lets an application through the duplicate-beneficiary check (a leader, with a reason; audited
/// as `hardship_application.duplicate_overridden`).
#[utoipa::path(post, path = "/api/v1/hardship/applications/{id}/override-duplicate", tag = "hardship",
    request_body = ReasonRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ApplicationView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/hardship/applications/{id}/override-duplicate")]
pub async fn override_duplicate(
    state: Data<AppState>,
    caller: Authorized<perm::OverrideDuplicates>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<ApplicationId>,
    body: JsonBody<ReasonRequest>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    let reason = body.value.checked()?;
    hardship::override_duplicate(&state.pool, caller.write_ctx(), idem, if_match.0, id.into_inner(), reason)
        .await
        .map(super::stored)
}

/// The application's ID number, phone and bank account, whole (rights-protection officer,
/// finance officer, leader). Writes the audit event `hardship_application.pii_revealed` with the
/// reason before answering; the answer is `Cache-Control: no-store` and never kept for
/// idempotent replay.
#[utoipa::path(post, path = "/api/v1/hardship/applications/{id}/reveal", tag = "hardship", request_body = ReasonRequest,
    params(("id" = Uuid, Path)),
    responses((status = 200, body = RevealedView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/hardship/applications/{id}/reveal")]
pub async fn reveal_application(
    state: Data<AppState>,
    caller: Authorized<perm::RevealPii>,
    id: Path<ApplicationId>,
    body: JsonBody<ReasonRequest>,
) -> Result<HttpResponse, Error> {
    let reason = body.value.checked()?;
    let stored =
        hardship::reveal(&state.pool, state.pii.clone(), caller.write_ctx(), caller.scope(), id.into_inner(), reason)
            .await?;
    let mut res = super::stored(stored);
    res.headers_mut()
        .insert(actix_web::http::header::CACHE_CONTROL, actix_web::http::header::HeaderValue::from_static("no-store"));
    Ok(res)
}
