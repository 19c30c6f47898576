//! `/api/v1/orgs`.

use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, patch, post};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Authorized, IdempotencyKey, IfMatch, JsonBody, perm};
use crate::AppState;
use crate::domain::FieldError;
use crate::domain::ids::{CreditCode, OrgId};
use crate::domain::orgs::{OrgKind, UnitKind};
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::orgs::{self, NewOrg, OrgChanges, OrgView};

/// A new organisation.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    /// Name (1–200 characters).
    #[schema(example = "琼湖街道总工会")]
    pub name: String,
    /// Kind.
    pub kind: OrgKind,
    /// The organisation above it.
    pub parent_id: Option<Uuid>,
    /// Unified social credit code (18 characters, GB 32100 check character).
    #[schema(example = "91350100M000100Y43")]
    pub credit_code: Option<String>,
    /// For member units (required for them): `administrative`, `public_institution`, `enterprise`.
    pub unit_kind: Option<UnitKind>,
    /// For member units: whether it has a union (default true). Without one it pays the
    /// preparatory fee (工会筹备金), which goes up in full.
    pub has_union: Option<bool>,
    /// For member units with a union founded within the books: the day (`YYYY-MM-DD`); months
    /// that start before it pay the preparatory fee.
    pub union_founded_on: Option<chrono::NaiveDate>,
}

/// Changes to an organisation; absent fields stay.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgRequest {
    /// New name.
    pub name: Option<String>,
    /// New credit code.
    pub credit_code: Option<String>,
    /// New unit kind (member units only).
    pub unit_kind: Option<UnitKind>,
    /// Whether it has a union now (member units only; send with `union_founded_on`, which is
    /// cleared when absent). A declaration made before keeps its scheme until it is corrected.
    pub has_union: Option<bool>,
    /// The day its union was founded (with `has_union: true`).
    pub union_founded_on: Option<chrono::NaiveDate>,
}

/// The union status a request gives, if it gives one.
fn union_of(has_union: Option<bool>, founded_on: Option<chrono::NaiveDate>) -> Option<orgs::UnionStatus> {
    match (has_union, founded_on) {
        (None, None) => None,
        (h, f) => Some(orgs::UnionStatus { has_union: h.unwrap_or(true), founded_on: f }),
    }
}

fn name(errors: &mut Vec<FieldError>, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new("name", "must be 1–200 characters"));
    }
}

fn credit_code(errors: &mut Vec<FieldError>, code: Option<String>) -> Option<CreditCode> {
    code.and_then(|c| {
        CreditCode::parse(&c).map_err(|e| errors.push(FieldError::new("credit_code", e.to_string()))).ok()
    })
}

impl TryFrom<CreateOrgRequest> for NewOrg {
    type Error = Error;
    fn try_from(r: CreateOrgRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        name(&mut errors, &r.name);
        let credit_code = credit_code(&mut errors, r.credit_code);
        if let Err(crate::domain::DomainError::Invalid(e)) = orgs::check_unit_kind(r.kind, r.unit_kind) {
            errors.extend(e);
        }
        let union = union_of(r.has_union, r.union_founded_on);
        if let Err(crate::domain::DomainError::Invalid(e)) = orgs::check_union(r.kind, union) {
            errors.extend(e);
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewOrg {
            name: r.name.trim().to_owned(),
            kind: r.kind,
            parent_id: r.parent_id,
            credit_code,
            unit_kind: r.unit_kind,
            union,
        })
    }
}

impl TryFrom<UpdateOrgRequest> for OrgChanges {
    type Error = Error;
    fn try_from(r: UpdateOrgRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if let Some(n) = &r.name {
            name(&mut errors, n);
        }
        let credit_code = credit_code(&mut errors, r.credit_code);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(OrgChanges {
            name: r.name.map(|n| n.trim().to_owned()),
            credit_code,
            unit_kind: r.unit_kind,
            union: union_of(r.has_union, r.union_founded_on),
        })
    }
}

/// List filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// Only this kind.
    pub kind: Option<OrgKind>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Creates an organisation (admin).
#[utoipa::path(post, path = "/api/v1/orgs", tag = "orgs", request_body = CreateOrgRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = OrgView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/orgs")]
pub async fn create_org(
    state: Data<AppState>,
    caller: Authorized<perm::ManageOrgs>,
    key: IdempotencyKey,
    body: JsonBody<CreateOrgRequest, NewOrg>,
) -> Result<HttpResponse, Error> {
    orgs::create(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), body.value).await.map(super::stored)
}

/// Lists organisations (a clerk sees only its own).
#[utoipa::path(get, path = "/api/v1/orgs", tag = "orgs", params(OrgQuery),
    responses((status = 200, body = inline(Listed<OrgView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/orgs")]
pub async fn list_orgs(
    state: Data<AppState>,
    caller: Authorized<perm::ReadOrgs>,
    q: Query<OrgQuery>,
) -> Result<HttpResponse, Error> {
    let page = super::extract::PageQuery { limit: q.limit, cursor: q.cursor.clone() }.page()?;
    Ok(HttpResponse::Ok().json(orgs::list(&state.pool, caller.scope(), q.kind, page).await?))
}

/// One organisation (404 when it is not the clerk's own).
#[utoipa::path(get, path = "/api/v1/orgs/{id}", tag = "orgs", params(("id" = Uuid, Path)),
    responses((status = 200, body = OrgView, headers(("ETag" = String))), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/orgs/{id}")]
pub async fn get_org(
    state: Data<AppState>,
    caller: Authorized<perm::ReadOrgs>,
    id: Path<OrgId>,
) -> Result<HttpResponse, Error> {
    let (view, etag) = orgs::get(&state.pool, caller.scope(), id.into_inner()).await?;
    Ok(super::with_etag(&view, etag))
}

/// Changes an organisation (admin; `If-Match` required).
#[utoipa::path(patch, path = "/api/v1/orgs/{id}", tag = "orgs", request_body = UpdateOrgRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header, description = "The ETag you read")),
    responses((status = 200, body = OrgView, headers(("ETag" = String))), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[patch("/api/v1/orgs/{id}")]
pub async fn update_org(
    state: Data<AppState>,
    caller: Authorized<perm::ManageOrgs>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<OrgId>,
    body: JsonBody<UpdateOrgRequest, OrgChanges>,
) -> Result<HttpResponse, Error> {
    let changes = body.value;
    orgs::update(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), if_match.0, id.into_inner(), changes)
        .await
        .map(super::stored)
}
