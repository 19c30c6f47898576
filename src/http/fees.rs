//! `/api/v1/fee-rates` and `/api/v1/union-fees/...`.

use actix_web::web::{Data, Query};
use actix_web::{HttpResponse, get, post};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Authorized, IdempotencyKey, JsonBody, PageQuery, perm};
use crate::AppState;
use crate::domain::FieldError;
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
    /// `union_fee` (default) or `preparatory_fee` (units without a union; its `remit_rate` is 1).
    pub scheme: Option<crate::domain::fees::FeeScheme>,
    /// Share of payroll due as the fee, e.g. `"0.02"`.
    pub fee_rate: Rate,
    /// Share of the fee remitted upward, e.g. `"0.40"`: the city federation's share and the
    /// upper levels' together; the grassroots union keeps the rest.
    pub remit_rate: Rate,
    /// Of the fee, the share the city passes on to the provincial and national federations
    /// (at most `remit_rate`; default 0: the city keeps all it receives).
    pub upper_rate: Option<Rate>,
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
    /// Why the month is corrected: required when money has moved for it (paid, credited or
    /// remitted), which only the finance office may correct; kept in the audit event. 1–500
    /// characters.
    pub reason: Option<String>,
}

/// The longest `reason` a correction or a refund takes.
const REASON_CHARS_MAX: usize = 500;

/// A reason as the API takes it: trimmed, 1–500 characters when given.
fn reason(errors: &mut Vec<FieldError>, value: Option<String>) -> Option<String> {
    let v = value?.trim().to_owned();
    if v.is_empty() || v.chars().count() > REASON_CHARS_MAX {
        errors.push(FieldError::new("reason", format!("must be 1–{REASON_CHARS_MAX} characters")));
    }
    Some(v)
}

fn refused(errors: Vec<FieldError>) -> Result<(), Error> {
    if errors.is_empty() { Ok(()) } else { Err(Error::Validation(errors)) }
}

impl TryFrom<DeclareRequest> for Declare {
    type Error = Error;
    fn try_from(r: DeclareRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let reason = reason(&mut errors, r.reason);
        refused(errors)?;
        Ok(Declare { org_id: r.org_id, period: r.period, payroll_total: r.payroll_total, reason })
    }
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
        scheme: r.scheme.unwrap_or(crate::domain::fees::FeeScheme::UnionFee),
        fee_rate: r.fee_rate,
        remit_rate: r.remit_rate,
        upper_rate: r.upper_rate.unwrap_or(Rate::ZERO),
        effective_from: r.effective_from,
    };
    fees::create_rate(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), rate).await.map(super::stored)
}

/// Declares a member unit's payroll for a month → `fee_due`, `remit_due`, `retained`. Declaring
/// the same unit and month again is a correction: a new version, the old one kept, the ledger
/// posting the difference. A clerk declares only for its own unit. A month that has been paid or
/// remitted is corrected by the finance office only (403 `reserved_to_finance_office`), with a
/// `reason` (422 without), which the audit event keeps. A declaration repeating the current one
/// (same payroll, same rates in force) writes nothing: 200 with the current version, `unchanged`.
#[utoipa::path(post, path = "/api/v1/union-fees/declarations", tag = "union-fees", request_body = DeclareRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = DeclarationView), (status = 200, description = "the current version, unchanged", body = DeclarationView),
        (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/union-fees/declarations")]
pub async fn create_declaration(
    state: Data<AppState>,
    caller: Authorized<perm::DeclareFees>,
    key: IdempotencyKey,
    body: JsonBody<DeclareRequest, Declare>,
) -> Result<HttpResponse, Error> {
    fees::declare(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), caller.scope(), body.value)
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
    Ok(HttpResponse::Ok()
        .json(fees::list_declarations(&state.pool, caller.scope(), q.org_id.map(Into::into), page).await?))
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
    Ok(HttpResponse::Ok().json(fees::statement(&state.pool, caller.scope(), q.org_id.into(), q.year).await?))
}

/// The finance bureau's batch of declarations.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareBatchRequest {
    /// 1 to 10,000 rows.
    #[schema(value_type = Vec<fees::BatchRow>)]
    pub rows: Vec<serde_json::Value>,
    /// Why, when a row corrects a month that has been paid or remitted (the finance office only);
    /// kept in each corrected row's audit event.
    pub reason: Option<String>,
}

/// A batch, read: its rows and its reason.
pub struct DeclareBatch {
    rows: Vec<fees::BatchRow>,
    reason: Option<String>,
}

impl TryFrom<DeclareBatchRequest> for DeclareBatch {
    type Error = Error;
    fn try_from(r: DeclareBatchRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let rows = super::extract::parse_rows::<fees::BatchRow, _>(&r.rows, fees::BATCH_ROWS_MAX, &mut errors);
        let reason = reason(&mut errors, r.reason);
        refused(errors)?;
        Ok(DeclareBatch { rows, reason })
    }
}

/// The batch endpoint's body limit: 10,000 rows fit in well under this.
pub const BATCH_BODY_LIMIT_BYTES: usize = 4 * 1024 * 1024;

/// Declares up to 10,000 rows at once (finance bureau, finance officer), each naming its unit
/// by `org_id` or `credit_code`: all or nothing, idempotent with `Idempotency-Key`. A bad batch
/// is a 422 naming every bad row (`rows[i].field`) and writes nothing; a body over 4 MiB is a 413.
/// A row repeating its unit's current declaration writes nothing and is answered
/// `"unchanged": true` (a batch of only such rows answers 200). A row correcting a month that
/// has been paid or remitted needs the finance office (403 `reserved_to_finance_office`) and the
/// batch's `reason`.
#[utoipa::path(post, path = "/api/v1/union-fees/declarations/batch", tag = "union-fees", request_body = DeclareBatchRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = fees::BatchView), (status = 200, description = "every row unchanged", body = fees::BatchView),
        (status = "4XX", body = Problem)), security(("bearer" = [])))]
pub async fn create_declaration_batch(
    state: Data<AppState>,
    caller: Authorized<perm::DeclareFeeBatches>,
    key: IdempotencyKey,
    body: JsonBody<DeclareBatchRequest, DeclareBatch>,
) -> Result<HttpResponse, Error> {
    let DeclareBatch { rows, reason } = body.value;
    fees::declare_batch(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), rows, reason)
        .await
        .map(super::stored)
}

/// A payment received for a unit's month.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// The member unit.
    pub org_id: Uuid,
    /// The month, `YYYY-MM`.
    pub period: Period,
    /// More than zero.
    pub amount: Money,
    /// The sender's own document reference (the bureau's voucher number): trimmed, 1–64
    /// characters, no control characters; unique per unit and year, so that a retry sent under
    /// a new `Idempotency-Key` is refused (409 `duplicate_reference`) instead of paid twice.
    #[schema(example = "沅财缴〔2022〕0113号")]
    pub reference: String,
}

impl TryFrom<PaymentRequest> for fees::Payment {
    type Error = Error;
    fn try_from(r: PaymentRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than zero"));
        }
        let reference = super::funds::reference(&mut errors, "reference", &r.reference);
        refused(errors)?;
        Ok(fees::Payment { org_id: r.org_id, period: r.period, amount: r.amount, reference })
    }
}

/// Money the upper level gave back for a unit's over-remitted month.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemitRefundRequest {
    /// The member unit.
    pub org_id: Uuid,
    /// The month, `YYYY-MM`.
    pub period: Period,
    /// More than zero, at most the month's `remit_receivable`.
    pub amount: Money,
    /// Why (the upper level's document, the correction it follows): 1–500 characters.
    pub reason: String,
}

impl TryFrom<RemitRefundRequest> for fees::Refund {
    type Error = Error;
    fn try_from(r: RemitRefundRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than zero"));
        }
        let reason = reason(&mut errors, Some(r.reason)).unwrap_or_default();
        refused(errors)?;
        Ok(fees::Refund { org_id: r.org_id, period: r.period, amount: r.amount, reason })
    }
}

/// A remittance for a unit's month.
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
/// oldest first — never lost. The `reference` is unique per unit and year: a second payment
/// with it is 409 `duplicate_reference`.
#[utoipa::path(post, path = "/api/v1/union-fees/payments", tag = "union-fees", request_body = PaymentRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = fees::PaymentView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/union-fees/payments")]
pub async fn create_fee_payment(
    state: Data<AppState>,
    caller: Authorized<perm::RecordFeePayments>,
    key: IdempotencyKey,
    body: JsonBody<PaymentRequest, fees::Payment>,
) -> Result<HttpResponse, Error> {
    let cmd = body.value;
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
    body: JsonBody<MonthAmountRequest, fees::MonthAmount>,
) -> Result<HttpResponse, Error> {
    let cmd = body.value;
    fees::record_remittance(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), cmd).await.map(super::stored)
}

/// Records money the upper level gave back for a unit's month remitted beyond what is now due
/// (after a correction downwards; the statement's `remit_receivable`): the finance officer only
/// (403 `reserved_to_finance_office`), at most what the month has receivable (409 `over_refund`).
/// The check `remittances_within_due` fails until every such month is refunded.
#[utoipa::path(post, path = "/api/v1/union-fees/remittance-refunds", tag = "union-fees", request_body = RemitRefundRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = fees::RemitRefundView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/union-fees/remittance-refunds")]
pub async fn create_remit_refund(
    state: Data<AppState>,
    caller: Authorized<perm::RecordFeePayments>,
    key: IdempotencyKey,
    body: JsonBody<RemitRefundRequest, fees::Refund>,
) -> Result<HttpResponse, Error> {
    let cmd = body.value;
    fees::record_remit_refund(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), cmd)
        .await
        .map(super::stored)
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

/// A payments batch, as sent.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBatchRequest {
    /// 1 to 10,000 rows.
    #[schema(value_type = Vec<fees::PaymentBatchRow>)]
    pub rows: Vec<serde_json::Value>,
}

/// A payments batch's row, checked: an amount above zero, a well-formed reference.
pub struct CheckedPaymentRow(fees::PaymentBatchRow);

impl TryFrom<fees::PaymentBatchRow> for CheckedPaymentRow {
    type Error = Error;
    fn try_from(mut r: fees::PaymentBatchRow) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than zero"));
        }
        r.reference = super::funds::reference(&mut errors, "reference", &r.reference);
        refused(errors)?;
        Ok(CheckedPaymentRow(r))
    }
}

/// A payments batch, read.
pub struct PaymentBatch(Vec<fees::PaymentBatchRow>);

impl TryFrom<PaymentBatchRequest> for PaymentBatch {
    type Error = Error;
    fn try_from(r: PaymentBatchRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let rows = super::extract::parse_rows::<fees::PaymentBatchRow, CheckedPaymentRow>(
            &r.rows,
            fees::BATCH_ROWS_MAX,
            &mut errors,
        );
        refused(errors)?;
        Ok(PaymentBatch(rows.into_iter().map(|c| c.0).collect()))
    }
}

/// Records the bank's or the tax office's file of payments (finance officer, finance bureau), up
/// to 10,000 rows `{org_id | credit_code, period, amount, reference}`: all or nothing, idempotent
/// with `Idempotency-Key`. Each row is recorded exactly as a single payment would be after the
/// rows before it — applied to what the month owes, the rest kept as credit and applied to the
/// unit's months in arrears, oldest first. A bad batch is a 422 naming every bad row
/// (`rows[i].field`; a reference already recorded for the unit in the year says
/// `duplicate_reference`) and writes nothing; a body over 4 MiB is a 413.
#[utoipa::path(post, path = "/api/v1/union-fees/payments/batch", tag = "union-fees", request_body = PaymentBatchRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = fees::PaymentBatchView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
pub async fn create_fee_payment_batch(
    state: Data<AppState>,
    caller: Authorized<perm::RecordFeePayments>,
    key: IdempotencyKey,
    body: JsonBody<PaymentBatchRequest, PaymentBatch>,
) -> Result<HttpResponse, Error> {
    let PaymentBatch(rows) = body.value;
    fees::record_payments(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), rows).await.map(super::stored)
}

/// A remittances batch, as sent.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemittanceBatchRequest {
    /// 1 to 10,000 rows.
    #[schema(value_type = Vec<fees::RemittanceBatchRow>)]
    pub rows: Vec<serde_json::Value>,
}

/// A remittances batch's row, checked: an amount above zero.
pub struct CheckedRemittanceRow(fees::RemittanceBatchRow);

impl TryFrom<fees::RemittanceBatchRow> for CheckedRemittanceRow {
    type Error = Error;
    fn try_from(r: fees::RemittanceBatchRow) -> Result<Self, Error> {
        if r.amount.is_zero() {
            return Err(Error::invalid("amount", "must be more than zero"));
        }
        Ok(CheckedRemittanceRow(r))
    }
}

/// A remittances batch, read.
pub struct RemittanceBatch(Vec<fees::RemittanceBatchRow>);

impl TryFrom<RemittanceBatchRequest> for RemittanceBatch {
    type Error = Error;
    fn try_from(r: RemittanceBatchRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let rows = super::extract::parse_rows::<fees::RemittanceBatchRow, CheckedRemittanceRow>(
            &r.rows,
            fees::BATCH_ROWS_MAX,
            &mut errors,
        );
        refused(errors)?;
        Ok(RemittanceBatch(rows.into_iter().map(|c| c.0).collect()))
    }
}

/// Records many remittances at once (finance officer, finance bureau), up to 10,000 rows
/// `{org_id | credit_code, period, amount}`: all or nothing, idempotent. Each row is checked as a
/// single remittance would be after the rows before it; a row beyond its month's `remit_due` is
/// named in the 422 (`rows[i].amount`, `over_remittance`) and nothing is written.
#[utoipa::path(post, path = "/api/v1/union-fees/remittances/batch", tag = "union-fees", request_body = RemittanceBatchRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = fees::RemittanceBatchView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
pub async fn create_fee_remittance_batch(
    state: Data<AppState>,
    caller: Authorized<perm::RecordFeePayments>,
    key: IdempotencyKey,
    body: JsonBody<RemittanceBatchRequest, RemittanceBatch>,
) -> Result<HttpResponse, Error> {
    let RemittanceBatch(rows) = body.value;
    fees::record_remittances(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), rows)
        .await
        .map(super::stored)
}

/// What the city passes on to the upper levels.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpperRemittanceRequest {
    /// The year whose fees it is.
    pub year: i32,
    /// More than zero, at most what the city still owes upward for the year (the summary's
    /// `city.upper_payable`).
    pub amount: Money,
    /// The city's payment document: 1–64 characters, unique in the year.
    #[schema(example = "沅工缴〔2022〕12号")]
    pub reference: String,
}

impl TryFrom<UpperRemittanceRequest> for fees::UpperRemittance {
    type Error = Error;
    fn try_from(r: UpperRemittanceRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than zero"));
        }
        if super::extract::year(r.year).is_err() {
            errors.push(FieldError::new("year", "must be between 2000 and 2100"));
        }
        let reference = super::funds::reference(&mut errors, "reference", &r.reference);
        refused(errors)?;
        Ok(fees::UpperRemittance { year: r.year, amount: r.amount, reference })
    }
}

/// Records what the city federation passed on to the provincial and national federations of a
/// year's fees (the finance officer only, 403 `reserved_to_finance_office`): at most what it owes
/// upward (409 `over_remittance`); a reference used before in the year is 409
/// `duplicate_reference`.
#[utoipa::path(post, path = "/api/v1/union-fees/upper-remittances", tag = "union-fees", request_body = UpperRemittanceRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = fees::UpperRemittanceView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/union-fees/upper-remittances")]
pub async fn create_upper_remittance(
    state: Data<AppState>,
    caller: Authorized<perm::RecordFeePayments>,
    key: IdempotencyKey,
    body: JsonBody<UpperRemittanceRequest, fees::UpperRemittance>,
) -> Result<HttpResponse, Error> {
    let cmd = body.value;
    fees::record_upper_remittance(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), cmd)
        .await
        .map(super::stored)
}
