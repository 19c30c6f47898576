//! The witness's HTTP interface (c2sp.org/tlog-witness), on a small server of its own (not the
//! service's routes): `POST /add-checkpoint` and `GET /<hex SHA-256 of the origin>/checkpoint`.
//! One log line per request: status, origin and sizes; never the body, never the key.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;

use crate::domain::witness::Refusal;
use crate::service::witness::{Verdict, Witness};

/// The largest request body read (a request of 63 proof lines and a note with a few signatures
/// is under 4 KiB).
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// How long a body may take to arrive.
const BODY_TIMEOUT: Duration = Duration::from_secs(15);

/// Every other answer's content type.
const TEXT: &str = "text/plain; charset=utf-8";

/// The content type of a 409's body (tlog-witness).
const TLOG_SIZE: &str = "text/x.tlog.size";

/// Starts the witness's server on `bind` with `workers` threads.
pub fn start(witness: Arc<Witness>, bind: &str, workers: usize) -> anyhow::Result<crate::Running> {
    let data = web::Data::from(witness);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .wrap(DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff")))
            .route("/add-checkpoint", web::post().to(add_checkpoint))
            .route("/{origin_hash}/checkpoint", web::get().to(checkpoint))
    })
    .workers(workers.max(1))
    .client_request_timeout(Duration::from_secs(5))
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(Duration::from_secs(5))
    .shutdown_timeout(10)
    .bind(bind)?;
    let addr = server.addrs().first().copied().ok_or_else(|| anyhow::anyhow!("bound to no address"))?;
    Ok(crate::Running { server: server.run(), addr })
}

fn text(status: u16, content_type: &'static str, body: String) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    HttpResponse::build(status).content_type(content_type).body(body)
}

/// The request's body, up to the limit and within the timeout; else the status and reason.
async fn read_body(req: &HttpRequest, mut payload: web::Payload) -> Result<Vec<u8>, (u16, &'static str)> {
    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > 16 * BODY_LIMIT_BYTES) {
        return Err((413, "request body too large"));
    }
    let read = async {
        let mut body = Vec::new();
        let mut seen: usize = 0;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| (400, "could not read the body"))?;
            seen = seen.saturating_add(chunk.len());
            if seen <= BODY_LIMIT_BYTES {
                body.extend_from_slice(&chunk);
            } else if seen > 16 * BODY_LIMIT_BYTES {
                break;
            }
        }
        if seen > BODY_LIMIT_BYTES { Err((413, "request body too large")) } else { Ok(body) }
    };
    tokio::time::timeout(BODY_TIMEOUT, read).await.map_err(|_| (408, "the body took too long"))?
}

/// `POST /add-checkpoint`.
async fn add_checkpoint(witness: web::Data<Witness>, req: HttpRequest, payload: web::Payload) -> HttpResponse {
    let body = match read_body(&req, payload).await {
        Ok(body) => body,
        Err((status, reason)) => {
            tracing::info!(status, "add-checkpoint refused: {reason}");
            return text(status, TEXT, format!("{reason}\n"));
        }
    };
    let out = witness.into_inner().add(body).await;
    // The origin is the caller's text: a bounded prefix of it, on one line (telemetry escapes breaks).
    let origin: String = out.origin.as_deref().unwrap_or("-").chars().take(128).collect();
    let (old, size) = (out.old, out.size);
    match out.verdict {
        Verdict::Cosigned(lines) => {
            tracing::info!(status = 200, origin, old, size, "add-checkpoint cosigned");
            text(200, TEXT, lines)
        }
        Verdict::Refused(Refusal::Conflict(held)) => {
            tracing::info!(
                status = 409,
                origin,
                old,
                size,
                held,
                "add-checkpoint refused: {}",
                Refusal::Conflict(held)
            );
            text(409, TLOG_SIZE, format!("{held}\n"))
        }
        Verdict::Refused(refusal) => {
            let status = refusal.status();
            if status == 422 {
                // Signed by the log, yet not an extension of what was cosigned: evidence of a fork.
                tracing::warn!(status, origin, old, size, "add-checkpoint refused: {refusal}");
            } else {
                tracing::info!(status, origin, old, size, "add-checkpoint refused: {refusal}");
            }
            text(status, TEXT, format!("{refusal}\n"))
        }
        Verdict::Failed(cause) => {
            tracing::error!(status = 500, origin, old, size, error.cause = %cause, "add-checkpoint: state not written, nothing cosigned");
            text(500, TEXT, "the witness could not record the checkpoint\n".into())
        }
    }
}

/// `GET /<origin hash>/checkpoint`: the latest cosigned checkpoint of that log.
async fn checkpoint(witness: web::Data<Witness>, origin_hash: web::Path<String>) -> HttpResponse {
    let hash = origin_hash.into_inner();
    let found = (hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| witness.checkpoint(&hash))
        .flatten();
    match found {
        Some(note) => {
            tracing::info!(status = 200, origin_hash = %hash, "checkpoint served");
            text(200, TEXT, note)
        }
        None => {
            tracing::info!(status = 404, "checkpoint: no log of that origin hash cosigned");
            text(404, TEXT, "no checkpoint cosigned for that log\n".into())
        }
    }
}
