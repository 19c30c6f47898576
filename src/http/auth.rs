//! `POST /api/v1/auth/token`.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, post};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::JsonBody;
use crate::AppState;
use crate::error::{Error, Problem};
use crate::service::auth::{self, Grant};

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
    body: JsonBody<TokenRequest>,
) -> Result<HttpResponse, Error> {
    let grant = match body.value {
        TokenRequest::Password { username, password } => Grant::Password { username, password },
        TokenRequest::ClientCredentials { client_id, client_secret } => {
            Grant::ClientCredentials { client_id, client_secret }
        }
    };
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
