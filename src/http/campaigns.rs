//! `/api/v1/hardship/campaigns[...]`.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, post};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Authorized, IdempotencyKey, IfMatch, JsonBody, PageQuery, parse_rows, perm};
use crate::AppState;
use crate::domain::FieldError;
use crate::domain::hardship::{self as rules, CampaignKind};
use crate::domain::ids::{CampaignId, ResidentId};
use crate::domain::money::Money;
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::campaigns::{
    self, AddedView, BankResult, BeneficiaryView, CampaignView, MAX_BENEFICIARIES_PER_REQUEST, NewBeneficiary,
    NewCampaign, PaymentStatus, ResultsView,
};

/// The body limit of the two batch endpoints: 5,000 beneficiaries fit in well under it.
pub const CAMPAIGN_BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// A new campaign.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaignRequest {
    /// The hardship fund it spends.
    pub fund_id: Uuid,
    /// Name (1–200 characters), e.g. "2022年冬季送温暖".
    pub name: String,
    /// What kind of campaign.
    pub kind: CampaignKind,
    /// The most its beneficiaries may be granted in all; with the fund's other campaigns, within
    /// the fund's budget.
    pub budget: Money,
}

/// Creates a campaign (rights-protection officer).
#[utoipa::path(post, path = "/api/v1/hardship/campaigns", tag = "hardship", request_body = CreateCampaignRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CampaignView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/hardship/campaigns")]
pub async fn create_campaign(
    state: Data<AppState>,
    caller: Authorized<perm::ManageCampaigns>,
    key: IdempotencyKey,
    body: JsonBody<CreateCampaignRequest, NewCampaign>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    campaigns::create(&state.pool, caller.write_ctx(), idem, body.value).await.map(super::stored)
}

impl TryFrom<CreateCampaignRequest> for NewCampaign {
    type Error = Error;
    fn try_from(r: CreateCampaignRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let name = rules::text("name", &r.name, 200).map_err(|e| errors.push(e)).ok();
        if r.budget.is_zero() {
            errors.push(FieldError::new("budget", "must be more than 0.00"));
        }
        match name {
            Some(name) if errors.is_empty() => {
                Ok(NewCampaign { fund_id: r.fund_id, name, kind: r.kind, budget: r.budget })
            }
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// Filters of the campaign list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CampaignQuery {
    /// One fund's.
    pub fund_id: Option<Uuid>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists campaigns, oldest first.
#[utoipa::path(get, path = "/api/v1/hardship/campaigns", tag = "hardship", params(CampaignQuery),
    responses((status = 200, body = inline(Listed<CampaignView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/hardship/campaigns")]
pub async fn list_campaigns(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadHardship>,
    q: Query<CampaignQuery>,
) -> Result<HttpResponse, Error> {
    let q = q.into_inner();
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    Ok(HttpResponse::Ok().json(campaigns::list(&state.pool, q.fund_id.map(Into::into), page).await?))
}

/// One campaign, with its totals and its payments by status.
#[utoipa::path(get, path = "/api/v1/hardship/campaigns/{id}", tag = "hardship", params(("id" = Uuid, Path)),
    responses((status = 200, body = CampaignView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/hardship/campaigns/{id}")]
pub async fn get_campaign(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadHardship>,
    id: Path<CampaignId>,
) -> Result<HttpResponse, Error> {
    let view = campaigns::get(&state.pool, id.into_inner()).await?;
    let tag = crate::service::etag(view.version);
    Ok(super::with_etag(&view, tag))
}

/// One beneficiary to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BeneficiaryRequest {
    /// The worker's organisation.
    pub org_id: Uuid,
    /// The worker's name.
    pub worker_name: String,
    /// Resident ID number (GB 11643); stored encrypted, answered masked.
    pub id_number: String,
    /// The account the bank pays; stored encrypted, answered masked.
    pub bank_account: String,
    /// The grant.
    pub amount: Money,
}

/// Beneficiaries to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddBeneficiariesRequest {
    /// 1 to 5,000 rows.
    #[schema(value_type = Vec<BeneficiaryRequest>)]
    pub rows: Vec<serde_json::Value>,
}

impl TryFrom<BeneficiaryRequest> for NewBeneficiary {
    type Error = Error;
    fn try_from(r: BeneficiaryRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let name = rules::text("worker_name", &r.worker_name, 100).map_err(|e| errors.push(e)).ok();
        let account = rules::bank_account("bank_account", &r.bank_account).map_err(|e| errors.push(e)).ok();
        // The message never repeats the number.
        let id_number = ResidentId::parse(r.id_number.trim())
            .map_err(|e| errors.push(FieldError::new("id_number", e.to_string())))
            .ok();
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than 0.00"));
        }
        match (name, account, id_number) {
            (Some(worker_name), Some(bank_account), Some(id_number)) if errors.is_empty() => {
                Ok(NewBeneficiary { org_id: r.org_id, worker_name, id_number, bank_account, amount: r.amount })
            }
            _ => Err(Error::Validation(errors)),
        }
    }
}

impl TryFrom<AddBeneficiariesRequest> for Vec<NewBeneficiary> {
    type Error = Error;
    fn try_from(r: AddBeneficiariesRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let rows =
            parse_rows::<BeneficiaryRequest, NewBeneficiary>(&r.rows, MAX_BENEFICIARIES_PER_REQUEST, &mut errors);
        if errors.is_empty() { Ok(rows) } else { Err(Error::Validation(errors)) }
    }
}

/// Adds beneficiaries to a draft campaign by the thousand (rights-protection officer; `If-Match`
/// of the campaign): all or none. A 422 names each bad row (`rows[i].field`): a bad ID number,
/// an unknown organisation, a worker already in the campaign or twice in the request
/// (`duplicate_beneficiary: …`). 409 `over_budget` past the campaign's budget.
#[utoipa::path(post, path = "/api/v1/hardship/campaigns/{id}/beneficiaries", tag = "hardship",
    request_body = AddBeneficiariesRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = AddedView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn add_beneficiaries(
    state: Data<AppState>,
    caller: Authorized<perm::ManageCampaigns>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<CampaignId>,
    body: JsonBody<AddBeneficiariesRequest, Vec<NewBeneficiary>>,
) -> Result<HttpResponse, Error> {
    // Keyed, like an application's: the idempotency table cannot be searched for a guessed ID.
    let idem = key.with(&state.pii.lookup_hash("request", &body.fingerprint));
    let rows = body.value;
    campaigns::add_beneficiaries(
        &state.pool,
        state.pii.clone(),
        caller.write_ctx(),
        idem,
        if_match.0,
        id.into_inner(),
        rows,
    )
    .await
    .map(super::stored)
}

/// A campaign's beneficiaries in row order, masked (a clerk: its own organisation's workers).
#[utoipa::path(get, path = "/api/v1/hardship/campaigns/{id}/beneficiaries", tag = "hardship",
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = inline(Listed<BeneficiaryView>)), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn list_beneficiaries(
    state: Data<AppState>,
    caller: Authorized<perm::ReadHardship>,
    id: Path<CampaignId>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok()
        .json(campaigns::beneficiaries(&state.pool, caller.scope(), id.into_inner(), q.page()?).await?))
}

/// An empty body (`{}`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyRequest {}

/// Approves a draft campaign (a leader who did not create it): one item per beneficiary. Anyone
/// else is refused (403) before `If-Match` or the campaign's state are looked at.
#[utoipa::path(post, path = "/api/v1/hardship/campaigns/{id}/approve", tag = "hardship", request_body = EmptyRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CampaignView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/hardship/campaigns/{id}/approve")]
pub async fn approve_campaign(
    state: Data<AppState>,
    caller: Authorized<perm::ApproveCampaigns>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<CampaignId>,
    body: JsonBody<EmptyRequest>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    campaigns::approve(&state.pool, caller.write_ctx(), idem, caller.caller.clone(), if_match.0, id.into_inner())
        .await
        .map(super::stored)
}

/// Pays an approved campaign as one bank batch (finance officer): each item allocated and
/// disbursed, each payment `pending` until the bank's results are recorded.
#[utoipa::path(post, path = "/api/v1/hardship/campaigns/{id}/disbursement", tag = "hardship", request_body = EmptyRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = CampaignView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/hardship/campaigns/{id}/disbursement")]
pub async fn disburse_campaign(
    state: Data<AppState>,
    caller: Authorized<perm::MoveItemMoney>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<CampaignId>,
    body: JsonBody<EmptyRequest>,
) -> Result<HttpResponse, Error> {
    campaigns::disburse(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), if_match.0, id.into_inner())
        .await
        .map(super::stored)
}

/// The bank payment file (finance officer): `text/csv`, a header then one row per pending
/// payment — `row_no,beneficiary_id,worker_name,bank_account,amount` — with whole account
/// numbers. Audited (`hardship_campaign.bank_file_exported`, with the file's SHA-256); never
/// cached.
#[utoipa::path(post, path = "/api/v1/hardship/campaigns/{id}/bank-file", tag = "hardship", request_body = EmptyRequest,
    params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/hardship/campaigns/{id}/bank-file")]
pub async fn bank_file(
    state: Data<AppState>,
    caller: Authorized<perm::MoveItemMoney>,
    id: Path<CampaignId>,
    _body: JsonBody<EmptyRequest>,
) -> Result<HttpResponse, Error> {
    let csv = campaigns::bank_file(&state.pool, state.pii.clone(), caller.write_ctx(), id.into_inner()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")))
        .insert_header((CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(csv))
}

/// One row of the bank's result file.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankResultRequest {
    /// The payment file's `beneficiary_id`.
    pub beneficiary_id: Uuid,
    /// `paid`, `failed` (never made) or `returned` (made, then sent back).
    pub status: PaymentStatus,
    /// The bank's reference (up to 100 characters).
    pub bank_reference: Option<String>,
    /// The bank's message (up to 500 characters).
    pub message: Option<String>,
}

/// The bank's result file.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankResultsRequest {
    /// 1 to 5,000 rows.
    #[schema(value_type = Vec<BankResultRequest>)]
    pub rows: Vec<serde_json::Value>,
}

/// Records the bank's result file (finance officer; `If-Match` of the campaign), all rows or
/// none: `pending → paid | failed`, `paid → returned`. A failed or returned payment reverses
/// that item's disbursement: the money is committed to the item again.
#[utoipa::path(post, path = "/api/v1/hardship/campaigns/{id}/bank-results", tag = "hardship",
    request_body = BankResultsRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ResultsView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
pub async fn record_bank_results(
    state: Data<AppState>,
    caller: Authorized<perm::MoveItemMoney>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<CampaignId>,
    body: JsonBody<BankResultsRequest, Vec<BankResult>>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    campaigns::record_results(&state.pool, caller.write_ctx(), idem, if_match.0, id.into_inner(), body.value)
        .await
        .map(super::stored)
}

impl TryFrom<BankResultRequest> for BankResult {
    type Error = Error;
    fn try_from(r: BankResultRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let reference = r.bank_reference.map(|v| rules::text("bank_reference", &v, 100));
        let message = r.message.map(|v| rules::text("message", &v, 500));
        let bank_reference = reference.transpose().map_err(|e| errors.push(e)).ok().flatten();
        let message = message.transpose().map_err(|e| errors.push(e)).ok().flatten();
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(BankResult { beneficiary_id: r.beneficiary_id, status: r.status, bank_reference, message })
    }
}

impl TryFrom<BankResultsRequest> for Vec<BankResult> {
    type Error = Error;
    fn try_from(r: BankResultsRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let rows = parse_rows::<BankResultRequest, BankResult>(&r.rows, MAX_BENEFICIARIES_PER_REQUEST, &mut errors);
        if errors.is_empty() { Ok(rows) } else { Err(Error::Validation(errors)) }
    }
}
