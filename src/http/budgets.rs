//! `/api/v1/budgets/{year}/…` (budget lines, appropriations, basic expenditure) and
//! `/api/v1/assets` (fixed assets).

use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, patch, post};
use chrono::NaiveDate;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Authorized, IdempotencyKey, IfMatch, JsonBody, PageQuery, perm};
use crate::AppState;
use crate::domain::FieldError;
use crate::domain::funds::SourceKind;
use crate::domain::money::Money;
use crate::error::{Error, Problem};
use crate::service::budgets::{
    self, AppropriationView, AssetCategory, AssetView, ExpenditureView, LineChanges, LineKind, LineView,
    NewAppropriation, NewAsset, NewExpenditure, NewLine,
};
use crate::service::{Listed, etag};

/// A new budget line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLineRequest {
    /// Code, unique within the year: a lower-case letter, then letters, digits or `_` (≤ 40).
    #[schema(example = "basic_wages")]
    pub code: String,
    /// Name, as the budget document writes it.
    #[schema(example = "工资福利支出")]
    pub name: String,
    /// `group` (sums the lines under it), `basic` (opens a fund of its own) or `project`
    /// (names the earmarked fund that carries it).
    pub kind: LineKind,
    /// The group line above it.
    #[schema(example = "basic")]
    pub parent_code: Option<String>,
    /// The budget as adopted.
    pub budget: Money,
    /// A project line's fund (same year).
    pub fund_id: Option<Uuid>,
}

/// Changes to a line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLineRequest {
    /// New name.
    pub name: Option<String>,
    /// Why execution differs from the budget (up to 2,000 characters; empty clears it).
    pub variance_explanation: Option<String>,
}

/// An appropriation from the finance bureau.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAppropriationRequest {
    /// The leaf line funded.
    pub line_id: Uuid,
    /// Amount (more than zero).
    pub amount: Money,
    /// The bureau's document number, unique within the year (1–100 characters).
    #[schema(example = "沅财预〔2022〕17号")]
    pub reference: String,
    /// When the money arrived.
    pub received_on: NaiveDate,
    /// `finance_appropriation` (default) or `local_matching` (the city's matching money).
    pub source_kind: Option<SourceKind>,
    /// What it is.
    pub description: Option<String>,
}

/// Basic expenditure against a basic line.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExpenditureRequest {
    /// Amount (more than zero).
    pub amount: Money,
    /// What was paid for (1–500 characters).
    #[schema(example = "12月工资")]
    pub description: String,
    /// The voucher's number, unique within the line.
    pub voucher_no: Option<String>,
    /// When it was paid.
    pub spent_on: NaiveDate,
}

/// A fixed asset.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAssetRequest {
    /// Category.
    pub category: AssetCategory,
    /// Name (1–200 characters).
    #[schema(example = "台式电脑")]
    pub name: String,
    /// How many (1 or more).
    pub quantity: i32,
    /// Their value together.
    pub value: Money,
    /// When acquired.
    pub acquired_on: NaiveDate,
}

/// Asset list filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AssetQuery {
    /// Only assets acquired by this day.
    pub held_on: Option<NaiveDate>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn text(errors: &mut Vec<FieldError>, field: &str, value: &str, max: usize) -> String {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        errors.push(FieldError::new(field, format!("must be 1–{max} characters")));
    }
    v.to_owned()
}

fn valid_code(code: &str) -> bool {
    let mut chars = code.chars();
    matches!(chars.next(), Some('a'..='z'))
        && code.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl TryFrom<CreateLineRequest> for NewLine {
    type Error = Error;
    fn try_from(r: CreateLineRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if !valid_code(&r.code) {
            errors.push(FieldError::new("code", "a lower-case letter, then up to 39 letters, digits or _"));
        }
        let name = text(&mut errors, "name", &r.name, 200);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewLine {
            code: r.code,
            name,
            kind: r.kind,
            parent_code: r.parent_code,
            budget: r.budget,
            fund_id: r.fund_id,
        })
    }
}

impl TryFrom<UpdateLineRequest> for LineChanges {
    type Error = Error;
    fn try_from(r: UpdateLineRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let name = r.name.map(|n| text(&mut errors, "name", &n, 200));
        let explanation = r.variance_explanation.map(|t| t.trim().to_owned());
        if explanation.as_ref().is_some_and(|t| t.chars().count() > 2000) {
            errors.push(FieldError::new("variance_explanation", "must be at most 2000 characters"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(LineChanges { name, variance_explanation: explanation })
    }
}

impl TryFrom<CreateAppropriationRequest> for NewAppropriation {
    type Error = Error;
    fn try_from(r: CreateAppropriationRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than zero"));
        }
        let reference = text(&mut errors, "reference", &r.reference, 100);
        let source_kind = r.source_kind.unwrap_or(SourceKind::FinanceAppropriation);
        if !matches!(source_kind, SourceKind::FinanceAppropriation | SourceKind::LocalMatching) {
            errors.push(FieldError::new("source_kind", "must be finance_appropriation or local_matching"));
        }
        let description = r.description.unwrap_or_default().trim().to_owned();
        if description.chars().count() > 300 {
            errors.push(FieldError::new("description", "must be at most 300 characters"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewAppropriation {
            line_id: r.line_id,
            amount: r.amount,
            reference,
            received_on: r.received_on,
            source_kind,
            description,
        })
    }
}

impl TryFrom<CreateExpenditureRequest> for NewExpenditure {
    type Error = Error;
    fn try_from(r: CreateExpenditureRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than zero"));
        }
        let description = text(&mut errors, "description", &r.description, 500);
        let voucher_no = r.voucher_no.map(|v| text(&mut errors, "voucher_no", &v, 100));
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewExpenditure { amount: r.amount, description, voucher_no, spent_on: r.spent_on })
    }
}

impl TryFrom<CreateAssetRequest> for NewAsset {
    type Error = Error;
    fn try_from(r: CreateAssetRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let name = text(&mut errors, "name", &r.name, 200);
        if r.quantity < 1 {
            errors.push(FieldError::new("quantity", "must be 1 or more"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewAsset { category: r.category, name, quantity: r.quantity, value: r.value, acquired_on: r.acquired_on })
    }
}

/// Adds a line to a year's budget (finance officer). A `basic` line opens a fund of kind
/// `basic` with the line's budget; a `project` line names its fund. 409 `duplicate_line` for a
/// code the year already has, `fund_already_budgeted` for a fund another line carries.
#[utoipa::path(post, path = "/api/v1/budgets/{year}/lines", tag = "budgets", request_body = CreateLineRequest,
    params(("year" = i32, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = LineView, headers(("ETag" = String))), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/budgets/{year}/lines")]
pub async fn create_line(
    state: Data<AppState>,
    caller: Authorized<perm::ManageBudget>,
    key: IdempotencyKey,
    year: Path<i32>,
    body: JsonBody<CreateLineRequest, NewLine>,
) -> Result<HttpResponse, Error> {
    let year = super::extract::year(year.into_inner())?;
    budgets::create_line(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), year, body.value)
        .await
        .map(super::stored)
}

/// A year's budget lines with their execution (parents before their children): budget,
/// appropriated, executed, variance and execution rate.
#[utoipa::path(get, path = "/api/v1/budgets/{year}/lines", tag = "budgets", params(("year" = i32, Path), PageQuery),
    responses((status = 200, body = inline(Listed<LineView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/budgets/{year}/lines")]
pub async fn list_lines(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadReports>,
    year: Path<i32>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    let year = super::extract::year(year.into_inner())?;
    Ok(HttpResponse::Ok().json(budgets::list_lines(&state.pool, year, q.page()?).await?))
}

/// One budget line with its execution.
#[utoipa::path(get, path = "/api/v1/budgets/{year}/lines/{id}", tag = "budgets",
    params(("year" = i32, Path), ("id" = Uuid, Path)),
    responses((status = 200, body = LineView, headers(("ETag" = String))), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/budgets/{year}/lines/{id}")]
pub async fn get_line(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadReports>,
    path: Path<(i32, Uuid)>,
) -> Result<HttpResponse, Error> {
    let (year, id) = path.into_inner();
    let view = budgets::get_line(&state.pool, super::extract::year(year)?, id.into()).await?;
    let tag = etag(view.version);
    Ok(super::with_etag(&view, tag))
}

/// Renames a line or records why its execution differs from its budget (finance officer;
/// `If-Match` required). The budget itself is the one adopted; in-year money arrives as
/// appropriations.
#[utoipa::path(patch, path = "/api/v1/budgets/{year}/lines/{id}", tag = "budgets", request_body = UpdateLineRequest,
    params(("year" = i32, Path), ("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = LineView, headers(("ETag" = String))), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[patch("/api/v1/budgets/{year}/lines/{id}")]
pub async fn update_line(
    state: Data<AppState>,
    caller: Authorized<perm::ManageBudget>,
    key: IdempotencyKey,
    if_match: IfMatch,
    path: Path<(i32, Uuid)>,
    body: JsonBody<UpdateLineRequest, LineChanges>,
) -> Result<HttpResponse, Error> {
    let (year, id) = path.into_inner();
    let changes = body.value;
    budgets::update_line(
        &state.pool,
        caller.write_ctx(),
        key.with(&body.fingerprint),
        if_match.0,
        super::extract::year(year)?,
        id.into(),
        changes,
    )
    .await
    .map(super::stored)
}

/// Records money the finance bureau appropriated against a leaf line (the bureau's system
/// client or a finance officer; send an `Idempotency-Key` and retry with it). A `reference`
/// already recorded in the year is 409 `duplicate_appropriation`.
#[utoipa::path(post, path = "/api/v1/budgets/{year}/appropriations", tag = "budgets", request_body = CreateAppropriationRequest,
    params(("year" = i32, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = AppropriationView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/budgets/{year}/appropriations")]
pub async fn create_appropriation(
    state: Data<AppState>,
    caller: Authorized<perm::PostFundSources>,
    key: IdempotencyKey,
    year: Path<i32>,
    body: JsonBody<CreateAppropriationRequest, NewAppropriation>,
) -> Result<HttpResponse, Error> {
    let year = super::extract::year(year.into_inner())?;
    budgets::appropriate(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), year, body.value)
        .await
        .map(super::stored)
}

/// A year's appropriations, in the order received.
#[utoipa::path(get, path = "/api/v1/budgets/{year}/appropriations", tag = "budgets", params(("year" = i32, Path), PageQuery),
    responses((status = 200, body = inline(Listed<AppropriationView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/budgets/{year}/appropriations")]
pub async fn list_appropriations(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadReports>,
    year: Path<i32>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    let year = super::extract::year(year.into_inner())?;
    Ok(HttpResponse::Ok().json(budgets::list_appropriations(&state.pool, year, q.page()?).await?))
}

/// Records basic expenditure against a basic line (finance officer): 409 `not_a_basic_line`
/// for a project or group line, `insufficient_funds` beyond what was received and not yet
/// spent, `duplicate_voucher` for a voucher already recorded on the line.
#[utoipa::path(post, path = "/api/v1/budgets/{year}/lines/{id}/expenditures", tag = "budgets", request_body = CreateExpenditureRequest,
    params(("year" = i32, Path), ("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ExpenditureView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/budgets/{year}/lines/{id}/expenditures")]
pub async fn create_expenditure(
    state: Data<AppState>,
    caller: Authorized<perm::ManageBudget>,
    key: IdempotencyKey,
    path: Path<(i32, Uuid)>,
    body: JsonBody<CreateExpenditureRequest, NewExpenditure>,
) -> Result<HttpResponse, Error> {
    let (year, id) = path.into_inner();
    let cmd = body.value;
    budgets::spend(
        &state.pool,
        caller.write_ctx(),
        key.with(&body.fingerprint),
        super::extract::year(year)?,
        id.into(),
        cmd,
    )
    .await
    .map(super::stored)
}

/// A basic line's expenditures.
#[utoipa::path(get, path = "/api/v1/budgets/{year}/lines/{id}/expenditures", tag = "budgets",
    params(("year" = i32, Path), ("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = inline(Listed<ExpenditureView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/budgets/{year}/lines/{id}/expenditures")]
pub async fn list_expenditures(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadReports>,
    path: Path<(i32, Uuid)>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    let (year, id) = path.into_inner();
    Ok(HttpResponse::Ok()
        .json(budgets::list_expenditures(&state.pool, super::extract::year(year)?, id.into(), q.page()?).await?))
}

/// Records a fixed asset of the caller's organisation (finance officer).
#[utoipa::path(post, path = "/api/v1/assets", tag = "budgets", request_body = CreateAssetRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = AssetView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/assets")]
pub async fn create_asset(
    state: Data<AppState>,
    caller: Authorized<perm::ManageBudget>,
    key: IdempotencyKey,
    body: JsonBody<CreateAssetRequest, NewAsset>,
) -> Result<HttpResponse, Error> {
    budgets::record_asset(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), body.value)
        .await
        .map(super::stored)
}

/// Fixed assets, in the order recorded.
#[utoipa::path(get, path = "/api/v1/assets", tag = "budgets", params(AssetQuery),
    responses((status = 200, body = inline(Listed<AssetView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/assets")]
pub async fn list_assets(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadReports>,
    q: Query<AssetQuery>,
) -> Result<HttpResponse, Error> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() }.page()?;
    Ok(HttpResponse::Ok().json(budgets::list_assets(&state.pool, q.held_on, page).await?))
}
