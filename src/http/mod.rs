//! The only module (with `error.rs` and `lib.rs`) that imports actix-web. Handlers are thin:
//! parse, call one service function, answer.

pub mod audit;
pub mod auth;
pub mod campaigns;
pub mod extract;
pub mod fees;
pub mod funds;
pub mod hardship;
pub mod health;
pub mod items;
pub mod openapi;
pub mod orgs;
pub mod routes;
pub mod users;

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

use crate::db::write::Stored;

/// Answers what the write path stored (or replayed): status, JSON body, `ETag`, and
/// `Idempotent-Replayed: true` on a replay.
pub fn stored(s: Stored) -> HttpResponse {
    let mut res = HttpResponse::build(StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK));
    res.content_type("application/json");
    if let Some(etag) = s.etag {
        res.insert_header((header::ETAG, etag));
    }
    if s.replayed {
        res.insert_header(("Idempotent-Replayed", "true"));
    }
    res.body(s.body)
}

/// Answers a read with its `ETag`.
pub fn with_etag<T: serde::Serialize>(body: &T, etag: String) -> HttpResponse {
    HttpResponse::Ok().insert_header((header::ETAG, etag)).json(body)
}
