//! `/api/v1/fee-rates` and `/api/v1/union-fees/...`.

use actix_web::web::{Data, Query};
use actix_web::{HttpResponse, get, post};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Authorized, IdempotencyKey, JsonBody, PageQuery, perm};
use crate::AppState;
use crate::domain::fees::FeeRate;
use crate::domain::ids::Period;
use crate::domain::money::{Money, Rate};
use crate::domain::orgs::UnitKind;
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::fees::{self, DeclarationView, Declare, FeeRateView, StatementView};

/// A new rate.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFeeRateRequest {
    /// Which units it applies to.
    pub unit_kind: UnitKind,
    /// Share of payroll due as the fee, e.g. `"0.02"`.
    pub fee_rate: Rate,
    /// Share of the fee remitted to the federation, e.g. `"0.40"`.
    pub remit_rate: Rate,
    /// First day in force (`YYYY-MM-DD`); a period uses the rate in force on its first day.
    #[schema(example = "2022-07-01")]
    pub effective_from: NaiveDate,
}

/// A payroll declaration.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareRequest {
    /// The member unit.
    pub org_id: Uuid,
    /// The month, `YYYY-MM`.
    pub period: Period,
    /// Total payroll (工资总额) for the month.
    pub payroll_total: Money,
}

/// Lists the fee-rate table.
#[utoipa::path(get, path = "/api/v1/fee-rates", tag = "union-fees", params(PageQuery),
    responses((status = 200, body = inline(Listed<FeeRateView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/fee-rates")]
pub async fn list_fee_rates(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadFees>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(fees::list_rates(&state.pool, q.page()?).await?))
}

/// Adds a rate (admin). Rates are never changed or removed: a new rate takes effect from its date.
#[utoipa::path(post, path = "/api/v1/fee-rates", tag = "union-fees", request_body = CreateFeeRateRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = FeeRateView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/fee-rates")]
pub async fn create_fee_rate(
    state: Data<AppState>,
    caller: Authorized<perm::ManageFeeRates>,
    key: IdempotencyKey,
    body: JsonBody<CreateFeeRateRequest>,
) -> Result<HttpResponse, Error> {
    let r = body.value;
    let rate = FeeRate {
        unit_kind: r.unit_kind,
        fee_rate: r.fee_rate,
        remit_rate: r.remit_rate,
        effective_from: r.effective_from,
    };
    fees::create_rate(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), rate).await.map(super::stored)
}

/// Declares a member unit's payroll for a month → `fee_due`, `remit_due`, `retained`. Declaring
/// the same unit and month again is a correction: a new version, the old one kept, the ledger
/// posting the difference. A clerk declares only for its own unit.
#[utoipa::path(post, path = "/api/v1/union-fees/declarations", tag = "union-fees", request_body = DeclareRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = DeclarationView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/union-fees/declarations")]
pub async fn create_declaration(
    state: Data<AppState>,
    caller: Authorized<perm::DeclareFees>,
    key: IdempotencyKey,
    body: JsonBody<DeclareRequest>,
) -> Result<HttpResponse, Error> {
    let r = body.value;
    let cmd = Declare { org_id: r.org_id, period: r.period, payroll_total: r.payroll_total };
    fees::declare(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), caller.scope(), cmd)
        .await
        .map(super::stored)
}

/// Filters of the declaration list.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeclarationQuery {
    /// One unit.
    pub org_id: Option<Uuid>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Lists declarations, every version — corrected ones included (a clerk: its own unit's).
#[utoipa::path(get, path = "/api/v1/union-fees/declarations", tag = "union-fees", params(DeclarationQuery),
    responses((status = 200, body = inline(Listed<DeclarationView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/union-fees/declarations")]
pub async fn list_declarations(
    state: Data<AppState>,
    caller: Authorized<perm::ReadFees>,
    q: Query<DeclarationQuery>,
) -> Result<HttpResponse, Error> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() }.page()?;
    Ok(HttpResponse::Ok().json(fees::list_declarations(&state.pool, caller.scope(), q.org_id, page).await?))
}

/// Which statement.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    /// The member unit.
    pub org_id: Uuid,
    /// The year.
    pub year: i32,
}

/// A unit's year: per period payroll, due, remit, retained, paid, remitted, arrears, credit, and totals.
#[utoipa::path(get, path = "/api/v1/union-fees/statement", tag = "union-fees", params(StatementQuery),
    responses((status = 200, body = StatementView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/union-fees/statement")]
pub async fn get_statement(
    state: Data<AppState>,
    caller: Authorized<perm::ReadFees>,
    q: Query<StatementQuery>,
) -> Result<HttpResponse, Error> {
    super::extract::year(q.year)?;
    Ok(HttpResponse::Ok().json(fees::statement(&state.pool, caller.scope(), q.org_id, q.year).await?))
}

/// The finance bureau's batch of declarations.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareBatchRequest {
    /// 1 to 10,000 rows.
    #[schema(value_type = Vec<fees::BatchRow>)]
    pub rows: Vec<serde_json::Value>,
}

/// The batch endpoint's body limit: 10,000 rows fit in well under this.
pub const BATCH_BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// Declares up to 10,000 rows at once (finance bureau, finance officer), each naming its unit
/// by `org_id` or `credit_code`: all or nothing, idempotent with `Idempotency-Key`. A bad batch
/// is a 422 naming every bad row (`rows[i].field`) and writes nothing; a body over 4 MiB is a 413.
#[utoipa::path(post, path = "/api/v1/union-fees/declarations/batch", tag = "union-fees", request_body = DeclareBatchRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = fees::BatchView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
pub async fn create_declaration_batch(
    state: Data<AppState>,
    caller: Authorized<perm::DeclareFeeBatches>,
    key: IdempotencyKey,
    body: JsonBody<DeclareBatchRequest>,
) -> Result<HttpResponse, Error> {
    let rows = super::extract::parse_rows(body.value.rows, fees::BATCH_ROWS_MAX)?;
    fees::declare_batch(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), rows).await.map(super::stored)
}

/// A payment or a remittance for a unit's month.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthAmountRequest {
    /// The member unit.
    pub org_id: Uuid,
    /// The month, `YYYY-MM`.
    pub period: Period,
    /// More than zero.
    pub amount: Money,
}

impl TryFrom<MonthAmountRequest> for fees::MonthAmount {
    type Error = Error;
    fn try_from(r: MonthAmountRequest) -> Result<Self, Error> {
        if r.amount.is_zero() {
            return Err(Error::invalid("amount", "must be more than zero"));
        }
        Ok(fees::MonthAmount { org_id: r.org_id, period: r.period, amount: r.amount })
    }
}

/// Records a unit's payment for a month (finance officer, finance bureau): applied to what the
/// month owes; anything beyond is kept as credit and applied to the unit's months in arrears,
/// oldest first — never lost.
#[utoipa::path(post, path = "/api/v1/union-fees/payments", tag = "union-fees", request_body = MonthAmountRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = fees::PaymentView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/union-fees/payments")]
pub async fn create_fee_payment(
    state: Data<AppState>,
    caller: Authorized<perm::RecordFeePayments>,
    key: IdempotencyKey,
    body: JsonBody<MonthAmountRequest>,
) -> Result<HttpResponse, Error> {
    let cmd = fees::MonthAmount::try_from(body.value)?;
    fees::record_payment(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), cmd).await.map(super::stored)
}

/// Records the federation's share of a unit's month as remitted (at most `remit_due` in all).
#[utoipa::path(post, path = "/api/v1/union-fees/remittances", tag = "union-fees", request_body = MonthAmountRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = fees::RemittanceView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/union-fees/remittances")]
pub async fn create_fee_remittance(
    state: Data<AppState>,
    caller: Authorized<perm::RecordFeePayments>,
    key: IdempotencyKey,
    body: JsonBody<MonthAmountRequest>,
) -> Result<HttpResponse, Error> {
    let cmd = fees::MonthAmount::try_from(body.value)?;
    fees::record_remittance(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), cmd).await.map(super::stored)
}

/// Which year, and a page of units.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// The year.
    pub year: i32,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A year's union fees across units — fee, remit, retained, paid, remitted, arrears, credit —
/// per unit and in total (a clerk sees only its own unit).
#[utoipa::path(get, path = "/api/v1/union-fees/summary", tag = "union-fees", params(SummaryQuery),
    responses((status = 200, body = fees::SummaryView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/union-fees/summary")]
pub async fn get_fee_summary(
    state: Data<AppState>,
    caller: Authorized<perm::ReadFees>,
    q: Query<SummaryQuery>,
) -> Result<HttpResponse, Error> {
    super::extract::year(q.year)?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() }.page()?;
    Ok(HttpResponse::Ok().json(fees::summary(&state.pool, caller.scope(), q.year, page).await?))
}
