//! `POST /api/v1/auth/token`.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, post};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{JsonBody, typed};
use crate::AppState;
use crate::error::{Error, Problem};
use crate::service::auth::{self, Grant};

// The document's schema; the body itself is read field by field in `grant_of`.
/// A token request: a person's password grant or a system's client_credentials grant.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "grant_type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenRequest {
    /// A person.
    Password {
        /// Username.
        #[schema(example = "finance_officer")]
        username: String,
        /// Password.
        #[schema(value_type = String, example = "unionfund-demo")]
        password: SecretString,
    },
    /// A system (the finance bureau).
    ClientCredentials {
        /// Client id.
        client_id: String,
        /// Client secret.
        #[schema(value_type = String)]
        client_secret: SecretString,
    },
}

/// The fields of a password grant, read once `grant_type` is known: serde's internally tagged
/// enums lose the field's path, so a numeric password would be refused as "body", not "password".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordGrant {
    #[serde(rename = "grant_type")]
    _grant_type: String,
    username: String,
    password: SecretString,
}

/// The fields of a client_credentials grant (see [`PasswordGrant`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientGrant {
    #[serde(rename = "grant_type")]
    _grant_type: String,
    client_id: String,
    client_secret: SecretString,
}

/// The grant a [`TokenRequest`] body asks for, each refused field named.
fn grant_of(body: &serde_json::Value) -> Result<Grant, Error> {
    const EXPECTED: &str = "expected `password` or `client_credentials`";
    match body.get("grant_type").map(|g| g.as_str()) {
        Some(Some("password")) => {
            let g: PasswordGrant = typed(body)?;
            Ok(Grant::Password { username: g.username, password: g.password })
        }
        Some(Some("client_credentials")) => {
            let g: ClientGrant = typed(body)?;
            Ok(Grant::ClientCredentials { client_id: g.client_id, client_secret: g.client_secret })
        }
        Some(_) => Err(Error::invalid("grant_type", format!("unknown value, {EXPECTED}"))),
        None => Err(Error::invalid("grant_type", format!("missing field `grant_type`, {EXPECTED}"))),
    }
}

/// A token answer.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until it expires.
    #[schema(example = 900)]
    pub expires_in: i64,
}

/// Exchanges credentials for an access token. Attempts are throttled per client address, and
/// failures per username (or client) from one address: past either limit the answer is 429
/// with `Retry-After`, so wrong guesses from one address never lock the account out elsewhere.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem), (status = 422, body = Problem),
              (status = 429, body = Problem)))]
#[post("/api/v1/auth/token")]
pub async fn create_token(
    state: Data<AppState>,
    req: HttpRequest,
    body: JsonBody<serde_json::Value>,
) -> Result<HttpResponse, Error> {
    let grant = grant_of(&body.value)?;
    // The socket's peer address, never X-Forwarded-For or Forwarded (nor actix's
    // `realip_remote_addr`, which reads them): a client could forge those headers to dodge the
    // throttle, or to throttle someone else. Behind a reverse proxy every client shares the
    // proxy's address; there is no trusted-proxy setting yet.
    let address = req.peer_addr().map(|a| a.ip());
    let token = auth::token(&state.pool, &state.tokens, &state.throttle, address, grant).await?;
    Ok(HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(TokenResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: state.tokens.ttl_secs(),
    }))
}
