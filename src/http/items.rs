//! `/api/v1/items[...]`: the four stages of an earmarked item.

use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, post};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Authorized, IdempotencyKey, IfMatch, JsonBody, PageQuery, perm};
use crate::AppState;
use crate::domain::FieldError;
use crate::domain::hardship as rules;
use crate::domain::ids::ItemId;
use crate::domain::items::UseReport;
use crate::domain::money::Money;
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::items::{self, Disburse, ItemView, MovementAnswer, ReportUse, TraceView, UseLine};

/// Filters of the item list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ItemQuery {
    /// One fund's.
    pub fund_id: Option<Uuid>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists items, oldest first, with their figures (a clerk: its own organisation's).
#[utoipa::path(get, path = "/api/v1/items", tag = "items", params(ItemQuery),
    responses((status = 200, body = inline(Listed<ItemView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/items")]
pub async fn list_items(
    state: Data<AppState>,
    caller: Authorized<perm::ReadItems>,
    q: Query<ItemQuery>,
) -> Result<HttpResponse, Error> {
    let q = q.into_inner();
    let page = PageQuery { limit: q.limit, cursor: q.cursor }.page()?;
    Ok(HttpResponse::Ok().json(items::list(&state.pool, caller.scope(), q.fund_id.map(Into::into), page).await?))
}

/// One item with its figures.
#[utoipa::path(get, path = "/api/v1/items/{id}", tag = "items", params(("id" = Uuid, Path)),
    responses((status = 200, body = ItemView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/items/{id}")]
pub async fn get_item(
    state: Data<AppState>,
    caller: Authorized<perm::ReadItems>,
    id: Path<ItemId>,
) -> Result<HttpResponse, Error> {
    let view = items::get(&state.pool, caller.scope(), id.into_inner()).await?;
    let tag = crate::service::etag(view.version);
    Ok(super::with_etag(&view, tag))
}

/// Stage 1.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    /// How much to commit from the fund.
    pub amount: Money,
}

/// Stage 1: commits money from the fund to the item (finance officer). 409 `over_allocation`
/// beyond the approved amount or the fund's available money; 409 `matching_not_in_place` while
/// the fund's required local matching is missing.
#[utoipa::path(post, path = "/api/v1/items/{id}/allocations", tag = "items", request_body = AllocationRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = MovementAnswer, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/items/{id}/allocations")]
pub async fn create_allocation(
    state: Data<AppState>,
    caller: Authorized<perm::MoveItemMoney>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<ItemId>,
    body: JsonBody<AllocationRequest>,
) -> Result<HttpResponse, Error> {
    let amount = positive("amount", body.value.amount)?;
    items::allocate(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), if_match.0, id.into_inner(), amount)
        .await
        .map(super::stored)
}

/// How a disbursement is paid.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Transfer to the payee's bank account.
    BankTransfer,
    /// Cash, against the payee's signature.
    Cash,
    /// Goods (rice, oil, winter clothing) bought for the payee.
    Goods,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::BankTransfer => "bank_transfer",
            Method::Cash => "cash",
            Method::Goods => "goods",
        }
    }
}

/// Stage 2.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DisbursementRequest {
    /// How much to pay out (a tranche; several may follow).
    pub amount: Money,
    /// To whom (up to 200 characters).
    pub payee: String,
    /// How.
    pub method: Method,
}

/// Stage 2: pays a tranche of the allocation out (finance officer). 409 `over_disbursement`
/// beyond what is allocated and not yet paid; two at once cannot together exceed it.
#[utoipa::path(post, path = "/api/v1/items/{id}/disbursements", tag = "items", request_body = DisbursementRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = MovementAnswer, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/items/{id}/disbursements")]
pub async fn create_disbursement(
    state: Data<AppState>,
    caller: Authorized<perm::MoveItemMoney>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<ItemId>,
    body: JsonBody<DisbursementRequest, Disburse>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    let cmd = body.value;
    items::disburse(&state.pool, caller.write_ctx(), idem, if_match.0, id.into_inner(), cmd).await.map(super::stored)
}

impl TryFrom<DisbursementRequest> for Disburse {
    type Error = Error;
    fn try_from(r: DisbursementRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than 0.00"));
        }
        let payee = rules::text("payee", &r.payee, 200).map_err(|e| errors.push(e)).ok();
        match payee {
            Some(payee) if errors.is_empty() => {
                Ok(Disburse { amount: r.amount, payee, method: r.method.as_str().into() })
            }
            _ => Err(Error::Validation(errors)),
        }
    }
}

/// Stage 3.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseRequest {
    /// How much of what was paid out was used.
    pub amount: Money,
    /// On what (up to 1,000 characters), or the worker's confirmation of receipt.
    pub description: String,
    /// The receipt or voucher number.
    pub voucher_no: Option<String>,
    /// The receipts, when there are several; they must add up to `amount`.
    pub lines: Option<Vec<UseLine>>,
}

/// Stage 3: records how paid-out money was used (finance officer; a clerk for its own
/// organisation's items). 409 `over_use` beyond what was paid out and not yet accounted for;
/// 409 `duplicate_voucher` when a voucher number already backs a use report of the same fund.
#[utoipa::path(post, path = "/api/v1/items/{id}/uses", tag = "items", request_body = UseRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = MovementAnswer, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/items/{id}/uses")]
pub async fn create_use(
    state: Data<AppState>,
    caller: Authorized<perm::RecordItemUse>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<ItemId>,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    // A clerk may report only on its own organisation's items: another's is 404 before the body
    // is looked at, so that a 422 tells it nothing (the write checks the scope again).
    let id = id.into_inner();
    items::ensure_visible(&state.pool, caller.scope(), id).await?;
    let idem = key.with(&body.fingerprint);
    let cmd = super::extract::command::<UseRequest, ReportUse>(&body.value)?;
    items::report_use(&state.pool, caller.write_ctx(), idem, caller.scope(), if_match.0, id, cmd)
        .await
        .map(super::stored)
}

impl TryFrom<UseRequest> for ReportUse {
    type Error = Error;
    fn try_from(r: UseRequest) -> Result<Self, Error> {
        check_use(r)
    }
}

/// The report's rules are the domain's (`domain::items::UseReport::check`).
fn check_use(r: UseRequest) -> Result<ReportUse, Error> {
    let report = UseReport { amount: r.amount, description: r.description, voucher_no: r.voucher_no, lines: r.lines };
    Ok(report.check()?)
}

/// Stage 4.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    /// Carry the unused money over to this fund — next year's fund of the same kind — instead of
    /// returning it to this one.
    pub carry_over_to: Option<Uuid>,
}

/// Stage 4: returns the unused money (or carries it over to next year's fund of the same kind,
/// `{"carry_over_to": "<fund id>"}`) and releases the undisbursed to the fund, and closes the
/// item for good (finance officer). Any later stage is 409 `invalid_transition`.
#[utoipa::path(post, path = "/api/v1/items/{id}/settlement", tag = "items", request_body = SettlementRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = MovementAnswer, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/items/{id}/settlement")]
pub async fn create_settlement(
    state: Data<AppState>,
    caller: Authorized<perm::MoveItemMoney>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<ItemId>,
    body: JsonBody<SettlementRequest>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    items::settle(
        &state.pool,
        caller.write_ctx(),
        idem,
        if_match.0,
        id.into_inner(),
        body.value.carry_over_to.map(Into::into),
    )
    .await
    .map(super::stored)
}

/// The item from allocation to settlement: every movement with its amount, actor, request and
/// journal entry, the item's net effect on the fund's accounts, and whether it all reconciles.
#[utoipa::path(get, path = "/api/v1/items/{id}/trace", tag = "items", params(("id" = Uuid, Path)),
    responses((status = 200, body = TraceView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/items/{id}/trace")]
pub async fn get_trace(
    state: Data<AppState>,
    caller: Authorized<perm::ReadItems>,
    id: Path<ItemId>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(items::trace(&state.pool, caller.scope(), id.into_inner()).await?))
}

fn positive(field: &str, amount: Money) -> Result<Money, Error> {
    if amount.is_zero() { Err(Error::invalid(field, "must be more than 0.00")) } else { Ok(amount) }
}
