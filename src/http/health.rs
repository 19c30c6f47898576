//! Liveness and readiness.

use actix_web::web::Data;
use actix_web::{HttpResponse, get};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::error::Error;

/// Health answer.
#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or what is missing.
    pub status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// The database is reachable and every migration is applied; 503 otherwise.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, body = crate::error::Problem)))]
#[get("/readyz")]
pub async fn readyz(state: Data<AppState>) -> Result<HttpResponse, Error> {
    let applied = crate::service::read(&state.pool, |conn| {
        crate::db::pool::migrations_applied(conn).map_err(|e| Error::Unavailable(e.to_string()))
    })
    .await?;
    if applied {
        Ok(HttpResponse::Ok().json(Health { status: "ok" }))
    } else {
        Err(Error::Unavailable("migrations pending".into()))
    }
}
