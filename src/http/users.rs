//! `/api/v1/users` and `/api/v1/clients` (admin).

use actix_web::http::header::{CACHE_CONTROL, HeaderValue};
use actix_web::web::{Data, Path, Query};
use actix_web::{HttpRequest, HttpResponse, get, patch, post};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::extract::{AnyCaller, Authorized, IdempotencyKey, IfMatch, JsonBody, PageQuery, perm};
use crate::AppState;
use crate::db::write::Stored;
use crate::domain::FieldError;
use crate::domain::policy::Role;
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::users::{self, ClientView, NewClient, NewPassword, NewUser, UserChanges, UserView};

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

/// Changes to a person; absent fields stay. At least one is needed.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// `true` disables the account (its tokens stop working at once), `false` enables it again.
    pub disabled: Option<bool>,
    /// New role (ends the user's tokens).
    pub role: Option<Role>,
    /// New organisation (ends the user's tokens).
    pub org_id: Option<Uuid>,
    /// New name shown on screens (at most 200 characters).
    pub display_name: Option<String>,
}

/// A new password: set by an admin, or by the user itself with its current one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPasswordRequest {
    /// The current password: required when you change your own (an admin resetting someone
    /// else's does not send it).
    #[schema(value_type = Option<String>)]
    pub old_password: Option<SecretString>,
    /// The new password: 10–256 characters.
    #[schema(value_type = String, example = "another long passphrase")]
    pub new_password: SecretString,
}

/// Changes to a system client.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateClientRequest {
    /// `true` disables the client (its tokens stop working at once), `false` enables it again.
    pub disabled: bool,
}

/// A secret rotation: no fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretRequest {}

/// The password rule, the same at creation and at every change.
fn check_password(errors: &mut Vec<FieldError>, field: &str, password: &SecretString) {
    let len = password.expose_secret().chars().count();
    if !(10..=256).contains(&len) {
        errors.push(FieldError::new(field, "must be 10–256 characters"));
    }
}

fn check_display_name(errors: &mut Vec<FieldError>, name: &str) {
    if name.chars().count() > 200 {
        errors.push(FieldError::new("display_name", "must be at most 200 characters"));
    }
}

impl TryFrom<UpdateUserRequest> for UserChanges {
    type Error = Error;
    fn try_from(r: UpdateUserRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        if r.disabled.is_none() && r.role.is_none() && r.org_id.is_none() && r.display_name.is_none() {
            errors.push(FieldError::new("body", "name at least one of disabled, role, org_id, display_name"));
        }
        if let Some(name) = &r.display_name {
            check_display_name(&mut errors, name);
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(UserChanges { disabled: r.disabled, role: r.role, org_id: r.org_id, display_name: r.display_name })
    }
}

impl TryFrom<SetPasswordRequest> for NewPassword {
    type Error = Error;
    fn try_from(r: SetPasswordRequest) -> Result<Self, Error> {
        let mut errors = Vec::new();
        check_password(&mut errors, "new_password", &r.new_password);
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        Ok(NewPassword { old_password: r.old_password, new_password: r.new_password })
    }
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
        check_password(&mut errors, "password", &r.password);
        let display_name = r.display_name.unwrap_or_default();
        check_display_name(&mut errors, &display_name);
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
    responses((status = 201, body = UserView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/users")]
pub async fn create_user(
    state: Data<AppState>,
    caller: Authorized<perm::ManageUsers>,
    key: IdempotencyKey,
    body: JsonBody<CreateUserRequest, NewUser>,
) -> Result<HttpResponse, Error> {
    let fingerprint = state.pii.lookup_hash("request", &body.fingerprint);
    let cmd = body.value;
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

/// One person (admin), with its `ETag`.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = UserView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/users/{id}")]
pub async fn get_user(
    state: Data<AppState>,
    _caller: Authorized<perm::ManageUsers>,
    id: Path<Uuid>,
) -> Result<HttpResponse, Error> {
    let (view, etag) = users::get(&state.pool, id.into_inner().into()).await?;
    Ok(super::with_etag(&view, etag))
}

/// Changes a person (admin; `If-Match` required): `disabled`, `role`, `org_id`,
/// `display_name`. Disabling, or a new role or organisation, ends every token the user holds at
/// once (401 on its next request). The last enabled admin cannot be disabled or demoted: 409
/// `last_admin`. Audited as `user.updated` with what changed.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", request_body = UpdateUserRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header, description = "The ETag you read"),
           ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = UserView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[patch("/api/v1/users/{id}")]
pub async fn update_user(
    state: Data<AppState>,
    caller: Authorized<perm::ManageUsers>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<Uuid>,
    body: JsonBody<UpdateUserRequest, UserChanges>,
) -> Result<HttpResponse, Error> {
    let changes = body.value;
    let idem = key.with(&body.fingerprint);
    users::update(&state.pool, &state.subjects, caller.write_ctx(), idem, if_match.0, id.into_inner().into(), changes)
        .await
        .map(super::stored)
}

/// Sets a person's password: an admin for anyone (`new_password`), or a user for itself
/// (`old_password` and `new_password`; wrong old passwords count against the login throttle).
/// Every token the user holds stops working at once — yours too, when it is your own: log in
/// again. `If-Match` is checked when sent. Audited as `user.password_changed` (never the
/// password). Anyone else: 403.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "users", request_body = SetPasswordRequest,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "The ETag you read, if any")),
    responses((status = 200, body = UserView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/users/{id}/password")]
pub async fn set_password(
    state: Data<AppState>,
    req: HttpRequest,
    caller: AnyCaller,
    if_match: IfMatch,
    id: Path<Uuid>,
    body: JsonBody<SetPasswordRequest, NewPassword>,
) -> Result<HttpResponse, Error> {
    let cmd = body.value;
    // The socket's peer, as at login (see `auth::create_token`).
    let address = req.peer_addr().map(|a| a.ip());
    let (pool, subjects, throttle) = (&state.pool, &state.subjects, &state.throttle);
    users::set_password(pool, subjects, throttle, caller.write_ctx(), address, if_match.0, id.into_inner().into(), cmd)
        .await
        .map(super::stored)
}

/// Creates a system client (admin). The answer holds `client_secret`: it is shown this once
/// and stored nowhere — a replay of the request's `Idempotency-Key` answers the same status and
/// body without it.
#[utoipa::path(post, path = "/api/v1/clients", tag = "users", request_body = CreateClientRequest,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = ClientView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/clients")]
pub async fn create_client(
    state: Data<AppState>,
    caller: Authorized<perm::ManageUsers>,
    key: IdempotencyKey,
    body: JsonBody<CreateClientRequest, NewClient>,
) -> Result<HttpResponse, Error> {
    users::create_client(&state.pool, caller.write_ctx(), key.with(&body.fingerprint), body.value).await.map(not_stored)
}

impl TryFrom<CreateClientRequest> for NewClient {
    type Error = Error;
    fn try_from(r: CreateClientRequest) -> Result<Self, Error> {
        if r.name.trim().is_empty() || r.name.chars().count() > 200 {
            return Err(Error::invalid("name", "must be 1–200 characters"));
        }
        Ok(NewClient { id: None, name: r.name.trim().to_owned(), role: r.role, org_id: r.org_id })
    }
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

/// One system client (admin; never its secret), with its `ETag`.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "users", params(("id" = Uuid, Path)),
    responses((status = 200, body = ClientView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/clients/{id}")]
pub async fn get_client(
    state: Data<AppState>,
    _caller: Authorized<perm::ManageUsers>,
    id: Path<Uuid>,
) -> Result<HttpResponse, Error> {
    let (view, etag) = users::get_client(&state.pool, id.into_inner().into()).await?;
    Ok(super::with_etag(&view, etag))
}

/// Disables a system client, or enables it again (admin; `If-Match` required). Disabling ends
/// every token it holds at once. Audited as `client.updated`.
#[utoipa::path(patch, path = "/api/v1/clients/{id}", tag = "users", request_body = UpdateClientRequest,
    params(("id" = Uuid, Path), ("If-Match" = String, Header, description = "The ETag you read"),
           ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ClientView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[patch("/api/v1/clients/{id}")]
pub async fn update_client(
    state: Data<AppState>,
    caller: Authorized<perm::ManageUsers>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<Uuid>,
    body: JsonBody<UpdateClientRequest>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    let disabled = body.value.disabled;
    users::update_client(
        &state.pool,
        &state.subjects,
        caller.write_ctx(),
        idem,
        if_match.0,
        id.into_inner().into(),
        disabled,
    )
    .await
    .map(super::stored)
}

/// Rotates a system client's secret (admin; body `{}`). The answer holds the new
/// `client_secret`, shown this once and stored nowhere (a replay of the `Idempotency-Key`
/// answers without it); the old secret and every token issued with it stop working at once.
/// `If-Match` is checked when sent. Audited as `client.secret_rotated` (never the secret).
#[utoipa::path(post, path = "/api/v1/clients/{id}/secret", tag = "users", request_body = RotateSecretRequest,
    params(("id" = Uuid, Path), ("If-Match" = Option<String>, Header, description = "The ETag you read, if any"),
           ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, body = ClientView, headers(("ETag" = String))), (status = "4XX", body = Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/clients/{id}/secret")]
pub async fn rotate_client_secret(
    state: Data<AppState>,
    caller: Authorized<perm::ManageUsers>,
    key: IdempotencyKey,
    if_match: IfMatch,
    id: Path<Uuid>,
    body: JsonBody<RotateSecretRequest>,
) -> Result<HttpResponse, Error> {
    let idem = key.with(&body.fingerprint);
    users::rotate_secret(&state.pool, &state.subjects, caller.write_ctx(), idem, if_match.0, id.into_inner().into())
        .await
        .map(not_stored)
}
