//! `/api/v1/funds` and `/api/v1/funds/{id}/sources`.

use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, patch, post};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Authorized, IdempotencyKey, IfMatch, JsonBody, PageQuery, perm};
use crate::AppState;
use crate::domain::FieldError;
use crate::domain::funds::{FundKind, SourceKind};
use crate::domain::ids::FundId;
use crate::domain::money::{Money, Ratio};
use crate::error::{Error, Problem};
use crate::service::funds::{self, FundChanges, FundView, NewFund, NewSource, SourceView};
use crate::service::{Listed, etag};

/// A new fund.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFundRequest {
    /// Name.
    #[schema(example = "2022年帮扶基金")]
    pub name: String,
    /// Kind.
    pub kind: FundKind,
    /// Budget year (2000–2100).
    #[schema(example = 2022)]
    pub year: i32,
    /// Budget.
    pub budget: Money,
}

/// Changes to a fund.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFundRequest {
    /// New name.
    pub name: Option<String>,
    /// New budget; may not fall below what is already committed.
    pub budget: Option<Money>,
}

/// A source of a fund's money.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSourceRequest {
    /// Kind.
    pub kind: SourceKind,
    /// Amount received (more than zero).
    pub amount: Money,
    /// For an upper allocation that requires local matching: local money required per yuan.
    pub matching_ratio: Option<Ratio>,
    /// What it is.
    pub description: Option<String>,
    /// The sender's own document reference (its voucher or document number): trimmed, 1–64
    /// characters, no control characters; unique within the fund, so that a retry sent under a
    /// new `Idempotency-Key` is refused (409 `duplicate_reference`) instead of counted twice.
    #[schema(example = "沅财预〔2022〕17号")]
    pub reference: String,
}

/// The longest document reference a payment or a source takes.
pub const REFERENCE_CHARS_MAX: usize = 64;

/// A document reference as the API takes it (a source's, a payment's): trimmed, 1–64
/// characters, no control characters. A refusal names `field` and never quotes the value.
pub fn reference(errors: &mut Vec<FieldError>, field: &str, value: &str) -> String {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > REFERENCE_CHARS_MAX || v.chars().any(char::is_control) {
        errors.push(FieldError::new(
            field,
            format!("must be 1–{REFERENCE_CHARS_MAX} characters, without control characters"),
        ));
    }
    v.to_owned()
}

fn check_name(errors: &mut Vec<FieldError>, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1–200 characters"));
    }
}

impl TryFrom<CreateFundRequest> for NewFund {
    type Error = Error;
    fn try_from(r: CreateFundRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        check_name(&mut errors, &r.name);
        if !(2000..=2100).contains(&r.year) {
            errors.push(FieldError::new("year", "must be between 2000 and 2100"));
        }
        if r.kind == FundKind::Basic {
            errors.push(FieldError::new(
                "kind",
                "a basic fund is opened with its budget line (/api/v1/budgets/{year}/lines)",
            ));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewFund { name: r.name.trim().to_owned(), kind: r.kind, year: r.year, budget: r.budget })
    }
}

impl TryFrom<CreateSourceRequest> for NewSource {
    type Error = Error;
    fn try_from(r: CreateSourceRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than zero"));
        }
        if r.matching_ratio.is_some() && r.kind != SourceKind::UpperAllocation {
            errors.push(FieldError::new("matching_ratio", "only an upper_allocation can require matching"));
        }
        let description = r.description.unwrap_or_default();
        if description.chars().count() > 500 {
            errors.push(FieldError::new("description", "must be at most 500 characters"));
        }
        let reference = reference(&mut errors, "reference", &r.reference);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewSource { kind: r.kind, amount: r.amount, matching_ratio: r.matching_ratio, description, reference })
    }
}

impl TryFrom<UpdateFundRequest> for FundChanges {
    type Error = Error;
    fn try_from(r: UpdateFundRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if let Some(n) = &r.name {
            check_name(&mut errors, n);
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(FundChanges { name: r.name.map(|n| n.trim().to_owned()), budget: r.budget })
    }
}

/// List filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FundQuery {
    /// Only this year.
    pub year: Option<i32>,
    /// Only this kind.
    pub kind: Option<FundKind>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Creates a fund with its budget (finance officer). The budget is a journal entry.
#[utoipa::path(post, path = "/api/v1/funds", tag = "funds", request_body = CreateFundRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = FundView, headers(("ETag" = String))), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/funds")]
pub async fn create_fund(
    state: Data<AppState>,
    caller: Authorized<perm::ManageFunds>,
    key: IdempotencyKey,
    body: JsonBody<CreateFundRequest, NewFund>,
) -> Result<HttpResponse, Error> {
    funds::create(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), body.value).await.map(super::stored)
}

/// Lists funds with their balances.
#[utoipa::path(get, path = "/api/v1/funds", tag = "funds", params(FundQuery),
    responses((status = 200, body = inline(Listed<FundView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/funds")]
pub async fn list_funds(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadFunds>,
    q: Query<FundQuery>,
) -> Result<HttpResponse, Error> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() }.page()?;
    Ok(HttpResponse::Ok().json(funds::list(&state.pool, q.year, q.kind, page).await?))
}

/// One fund with its balances, derived from the ledger.
#[utoipa::path(get, path = "/api/v1/funds/{id}", tag = "funds", params(("id" = Uuid, Path)),
    responses((status = 200, body = FundView, headers(("ETag" = String))), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/funds/{id}")]
pub async fn get_fund(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadFunds>,
    id: Path<FundId>,
) -> Result<HttpResponse, Error> {
    let view = funds::get(&state.pool, id.into_inner()).await?;
    let tag = etag(view.version);
    Ok(super::with_etag(&view, tag))
}

/// Renames a fund or changes its budget (finance officer; `If-Match` required).
#[utoipa::path(patch, path = "/api/v1/funds/{id}", tag = "funds", request_body = UpdateFundRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = FundView, headers(("ETag" = String))), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[patch("/api/v1/funds/{id}")]
pub async fn update_fund(
    state: Data<AppState>,
    caller: Authorized<perm::ManageFunds>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<FundId>,
    body: JsonBody<UpdateFundRequest, FundChanges>,
) -> Result<HttpResponse, Error> {
    let changes = body.value;
    funds::update(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), if_match.0, id.into_inner(), changes)
        .await
        .map(super::stored)
}

/// Records money received from a source (finance officer or the finance bureau's system).
/// `If-Match` is optional; when sent it must be the fund's current `ETag`. The `reference` is
/// unique within the fund: a second source with it is 409 `duplicate_reference`.
#[utoipa::path(post, path = "/api/v1/funds/{id}/sources", tag = "funds", request_body = CreateSourceRequest,
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header), ("If-Match" = Option<String>, Header)),
    responses((status = 201, body = SourceView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/funds/{id}/sources")]
pub async fn create_source(
    state: Data<AppState>,
    caller: Authorized<perm::PostFundSources>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<FundId>,
    body: JsonBody<CreateSourceRequest, NewSource>,
) -> Result<HttpResponse, Error> {
    let cmd = body.value;
    funds::add_source(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), if_match.0, id.into_inner(), cmd)
        .await
        .map(super::stored)
}

/// Lists a fund's sources.
#[utoipa::path(get, path = "/api/v1/funds/{id}/sources", tag = "funds", params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = inline(Listed<SourceView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/funds/{id}/sources")]
pub async fn list_sources(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadFunds>,
    id: Path<FundId>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(funds::list_sources(&state.pool, id.into_inner(), q.page()?).await?))
}
