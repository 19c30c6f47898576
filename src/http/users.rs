//! `/api/v1/users` and `/api/v1/clients` (admin).

use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, post};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{Authorized, IdempotencyKey, JsonBody, PageQuery, perm};
use crate::AppState;
use crate::db::write::Stored;
use crate::domain::FieldError;
use crate::domain::policy::Role;
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::users::{self, ClientView, NewClient, NewUser, UserView};

/// A new person.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Login name: 3–64 letters, digits, `.`, `_` or `-`.
    #[schema(example = "township_clerk")]
    pub username: String,
    /// At least 10 characters.
    #[schema(value_type = String, example = "a long passphrase")]
    pub password: SecretString,
    /// Role.
    pub role: Role,
    /// Organisation.
    pub org_id: Uuid,
    /// Name shown on screens.
    pub display_name: Option<String>,
}

/// A new system client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClientRequest {
    /// Name.
    #[schema(example = "沅江市财政局 system")]
    pub name: String,
    /// Role (usually `finance_bureau`).
    pub role: Role,
    /// Organisation.
    pub org_id: Uuid,
}

/// An answer that holds a secret: never cached on the way.
fn not_stored(s: Stored) -> HttpResponse {
    let mut res = super::stored(s);
    res.headers_mut().insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

impl TryFrom<CreateUserRequest> for NewUser {
    type Error = Error;
    fn try_from(r: CreateUserRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        let ok_name = (3..=64).contains(&r.username.len())
            && r.username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok_name {
            errors.push(FieldError::new("username", "must be 3–64 letters, digits, '.', '_' or '-'"));
        }
        let len = r.password.expose_secret().chars().count();
        if !(10..=256).contains(&len) {
            errors.push(FieldError::new("password", "must be 10–256 characters"));
        }
        let display_name = r.display_name.unwrap_or_default();
        if display_name.chars().count() > 200 {
            errors.push(FieldError::new("display_name", "must be at most 200 characters"));
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewUser { username: r.username, password: r.password, role: r.role, org_id: r.org_id, display_name })
    }
}

/// Creates a person (admin). The body's fingerprint is kept keyed (HMAC) for idempotent
/// replay, so that the idempotency table holds nothing a guessed password could be checked against.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUserRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = UserView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/users")]
pub async fn create_user(
    state: Data<AppState>,
    caller: Authorized<perm::ManageUsers>,
    key: IdempotencyKey,
    body: JsonBody<CreateUserRequest>,
) -> Result<HttpResponse, Error> {
    let cmd = NewUser::try_from(body.value)?;
    let fingerprint = state.pii.lookup_hash("request", &body.fingerprint);
    users::create(&state.pool, caller.write_ctx(), key.with(&fingerprint), cmd).await.map(super::stored)
}

/// Lists people (admin).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(PageQuery),
    responses((status = 200, body = inline(Listed<UserView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/users")]
pub async fn list_users(
    state: Data<AppState>,
    _caller: Authorized<perm::ManageUsers>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(users::list(&state.pool, q.page()?).await?))
}

/// One person (admin).
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/users/{id}")]
pub async fn get_user(
    state: Data<AppState>,
    _caller: Authorized<perm::ManageUsers>,
    id: Path<Uuid>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(users::get(&state.pool, id.into_inner()).await?))
}

/// Creates a system client (admin). The answer holds `client_secret`: it is shown this once
/// and stored nowhere — a replay of the request's `Idempotency-Key` answers the same status and
/// body without it.
#[utoipa::path(post, path = "/api/v1/clients", tag = "users", request_body = CreateClientRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ClientView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/clients")]
pub async fn create_client(
    state: Data<AppState>,
    caller: Authorized<perm::ManageUsers>,
    key: IdempotencyKey,
    body: JsonBody<CreateClientRequest>,
) -> Result<HttpResponse, Error> {
    let r = body.value;
    if r.name.trim().is_empty() || r.name.chars().count() > 200 {
        return Err(Error::invalid("name", "must be 1–200 characters"));
    }
    let cmd = NewClient { id: None, name: r.name.trim().to_owned(), role: r.role, org_id: r.org_id };
    users::create_client(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), cmd).await.map(not_stored)
}

/// Lists system clients (admin; never their secrets).
#[utoipa::path(get, path = "/api/v1/clients", tag = "users", params(PageQuery),
    responses((status = 200, body = inline(Listed<ClientView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/clients")]
pub async fn list_clients(
    state: Data<AppState>,
    _caller: Authorized<perm::ManageUsers>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(users::list_clients(&state.pool, q.page()?).await?))
}
