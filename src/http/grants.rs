//! `/api/v1/township-grants[...]`.

use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, post};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Authorized, IdempotencyKey, JsonBody, PageQuery, perm};
use crate::AppState;
use crate::domain::FieldError;
use crate::domain::hardship as rules;
use crate::domain::ids::GrantId;
use crate::domain::money::Money;
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::grants::{self, Formula, FormulaView, GrantView, NewGrant};

/// An application for a grant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGrantRequest {
    /// The township-grant fund (its year is the grant's).
    pub fund_id: Uuid,
    /// The township union (a clerk: its own).
    pub org_id: Uuid,
    /// What the money is for (1–500 characters).
    pub purpose: String,
    /// The work plan (up to 5,000 characters).
    pub work_plan: Option<String>,
    /// How much.
    pub requested_amount: Money,
}

/// Applies for a grant: a draft, to be submitted, reviewed by the organisation department and
/// approved by a leader (a township union's clerk, for its own union).
#[utoipa::path(post, path = "/api/v1/township-grants", tag = "township-grants", request_body = CreateGrantRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = GrantView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/township-grants")]
pub async fn create_grant(
    state: Data<AppState>,
    caller: Authorized<perm::FileGrants>,
    key: IdempotencyKey,
    body: JsonBody<CreateGrantRequest, NewGrant>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    grants::create(&state.pool, caller.write_ctx(), idem, caller.scope(), body.value).await.map(super::stored)
}

impl TryFrom<CreateGrantRequest> for NewGrant {
    type Error = Error;
    fn try_from(r: CreateGrantRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let purpose = rules::text("purpose", &r.purpose, 500).map_err(|e| errors.push(e)).ok();
        let work_plan =
            r.work_plan.map(|w| rules::text("work_plan", &w, 5000)).transpose().map_err(|e| errors.push(e)).ok();
        if r.requested_amount.is_zero() {
            errors.push(FieldError::new("requested_amount", "must be more than 0.00"));
        }
        let (Some(purpose), Some(work_plan), true) = (purpose, work_plan, errors.is_empty()) else {
            return Err(Error::Validation(errors));
        };
        Ok(NewGrant { fund_id: r.fund_id, org_id: r.org_id, purpose, work_plan, requested_amount: r.requested_amount })
    }
}

/// Filters of the grant list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GrantQuery {
    /// One fund's.
    pub fund_id: Option<Uuid>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists grants, oldest first (a clerk: its own union's).
#[utoipa::path(get, path = "/api/v1/township-grants", tag = "township-grants", params(GrantQuery),
    responses((status = 200, body = inline(Listed<GrantView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/township-grants")]
pub async fn list_grants(
    state: Data<AppState>,
    caller: Authorized<perm::ReadGrants>,
    q: Query<GrantQuery>,
) -> Result<HttpResponse, Error> {
    let q = q.into_inner();
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    Ok(HttpResponse::Ok().json(grants::list(&state.pool, caller.scope(), q.fund_id.map(Into::into), page).await?))
}

/// One grant (another union's is 404 to a clerk).
#[utoipa::path(get, path = "/api/v1/township-grants/{id}", tag = "township-grants", params(("id" = Uuid, Path)),
    responses((status = 200, body = GrantView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/township-grants/{id}")]
pub async fn get_grant(
    state: Data<AppState>,
    caller: Authorized<perm::ReadGrants>,
    id: Path<GrantId>,
) -> Result<HttpResponse, Error> {
    let view = grants::get(&state.pool, caller.scope(), id.into_inner()).await?;
    let tag = crate::service::etag(view.version);
    Ok(super::with_etag(&view, tag))
}

action_handler!(
    submit_grant,
    "/api/v1/township-grants/{id}/submit",
    "township-grants",
    crate::db::grants::GrantRow,
    GrantView,
    Submit,
    SubmitGrants,
    "draft → submitted (the township union's clerk, or the organisation department)."
);
action_handler!(
    review_grant,
    "/api/v1/township-grants/{id}/review",
    "township-grants",
    crate::db::grants::GrantRow,
    GrantView,
    Review,
    ReviewGrants,
    "submitted → reviewed (the organisation department or a leader; never someone who submitted or \
     approved it at any point: 403 `separation_of_duties`)."
);
action_handler!(
    approve_grant,
    "/api/v1/township-grants/{id}/approve",
    "township-grants",
    crate::db::grants::GrantRow,
    GrantView,
    Approve,
    ReviewGrants,
    "reviewed → approved, creating the item (never someone who submitted or reviewed it at any point; \
     when more than the leader threshold is asked, a leader, whatever `approved_amount` grants)."
);
action_handler!(
    reject_grant,
    "/api/v1/township-grants/{id}/reject",
    "township-grants",
    crate::db::grants::GrantRow,
    GrantView,
    Reject,
    ReviewGrants,
    "submitted | reviewed → rejected, with a reason."
);
action_handler!(
    return_grant,
    "/api/v1/township-grants/{id}/return",
    "township-grants",
    crate::db::grants::GrantRow,
    GrantView,
    Return,
    ReviewGrants,
    "submitted | reviewed → draft, for revision, with a reason."
);
action_handler!(
    withdraw_grant,
    "/api/v1/township-grants/{id}/withdraw",
    "township-grants",
    crate::db::grants::GrantRow,
    GrantView,
    Withdraw,
    SubmitGrants,
    "draft | submitted | reviewed → withdrawn, with a reason."
);

/// One township of a formula allocation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormulaTownship {
    /// The township union.
    pub org_id: Uuid,
    /// Its members.
    pub members: u32,
}

/// A year's allocation by formula.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FormulaRequest {
    /// The township-grant fund.
    pub fund_id: Uuid,
    /// What to split, e.g. `"279999.99"`.
    pub total: Money,
    /// What each township gets first.
    pub base_per_township: Money,
    /// The townships (1–500) and their members.
    pub townships: Vec<FormulaTownship>,
}

/// Allocates a year's total by formula (finance officer): each township the base plus a share of
/// the rest by members, the parts adding up exactly to `total` (largest remainders; ties to the
/// township with more members, then to the earlier in the request). One approved grant and one
/// allocated item per township, in one transaction; idempotent with `Idempotency-Key`. 409
/// `over_allocation` beyond the fund's available money.
#[utoipa::path(post, path = "/api/v1/township-grants/formula", tag = "township-grants", request_body = FormulaRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = FormulaView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/township-grants/formula")]
pub async fn allocate_by_formula(
    state: Data<AppState>,
    caller: Authorized<perm::MoveItemMoney>,
    key: IdempotencyKey,
    body: JsonBody<FormulaRequest, Formula>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    grants::allocate_by_formula(&state.pool, caller.write_ctx(), idem, body.value).await.map(super::stored)
}

impl TryFrom<FormulaRequest> for Formula {
    type Error = Error;
    fn try_from(r: FormulaRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.total.is_zero() {
            errors.push(FieldError::new("total", "must be more than 0.00"));
        }
        if r.townships.is_empty() || r.townships.len() > 500 {
            errors.push(FieldError::new("townships", "1 to 500 townships"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(Formula {
            fund_id: r.fund_id,
            total: r.total,
            base_per_township: r.base_per_township,
            townships: r.townships.into_iter().map(|t| (t.org_id, t.members)).collect(),
        })
    }
}
