//! unionfund: the earmarked money of a city trade-union federation.
//!
//! Layers (STYLE.md): `http → service → {db, domain}`, `db → domain`; `domain` is pure.

pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod http;
pub mod pii;
pub mod service;
pub mod telemetry;

use std::net::SocketAddr;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpMessage, HttpServer, web};
use tracing::Span;
use tracing_actix_web::{RootSpanBuilder, TracingLogger};

use crate::config::Config;
use crate::db::Pool;
use crate::error::Error;
use crate::http::extract::{BODY_LIMIT_BYTES, BodyTimeout, RequestId};
use crate::service::auth::{LoginThrottle, TokenKeys};

/// What every handler shares.
pub struct AppState {
    /// Database connections.
    pub pool: Pool,
    /// Token keys.
    pub tokens: TokenKeys,
    /// Login throttle.
    pub throttle: LoginThrottle,
    /// The keys that seal personal data.
    pub pii: std::sync::Arc<pii::PiiKeys>,
    /// Who may approve how much.
    pub approval: domain::approval::ApprovalPolicy,
    /// The key that signs the Merkle log's checkpoints.
    pub log_signer: std::sync::Arc<domain::note::LogSigner>,
    /// True when that key is the public development key.
    pub log_key_development: bool,
    /// Tokens' subjects as last read, for a few seconds (`UNIONFUND_AUTH_CACHE_MS`).
    pub subjects: service::auth::SubjectCache,
    /// The heavy reads running now (verify, export, checks, annual report) and their limits.
    pub heavy: std::sync::Arc<service::limits::HeavyReads>,
    /// How an audit export reads the trail and how long it waits for its client.
    pub export: service::audit::ExportSettings,
    /// The witnesses each checkpoint is sent to, and their quorum.
    pub witnesses: service::witnessing::Witnesses,
}

/// Takes the caller's `X-Request-Id` when it is sane (1–128 visible ASCII characters), else
/// makes one; puts it in the request's extensions (for handlers, spans and the audit trail) and
/// on the response.
async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic()))
        .map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = next.call(req).await?;
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static("x-request-id"), value);
    }
    Ok(res)
}

/// The request span: method, route, status, and our request id (not tracing-actix-web's own).
struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = request.extensions().get::<RequestId>().map(|r| r.0.clone()).unwrap_or_default();
        tracing::info_span!(
            "request",
            request_id = %id,
            http.method = %request.method(),
            http.route = %request.match_pattern().unwrap_or_else(|| request.path().to_owned()),
            http.status_code = tracing::field::Empty,
            caller = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    /// Records the status and, for an error, its stable code only: never the error's `Debug`
    /// (tracing-actix-web's default records it as `exception.details`), which would carry what
    /// the caller sent into the access log.
    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, actix_web::Error>) {
        let (status, error) = match outcome {
            Ok(res) => (res.status(), res.response().error()),
            Err(e) => (e.as_response_error().status_code(), Some(e)),
        };
        span.record("http.status_code", status.as_u16());
        span.record("otel.status_code", if status.is_server_error() { "ERROR" } else { "OK" });
        if let Some(e) = error {
            let code = e.as_error::<Error>().map_or("http_error", Error::code);
            span.record("exception.message", code);
        }
    }
}

/// Checks a request's bearer token, when it has one, before routing and extraction, and leaves
/// the outcome for `Authorized<P>` (see `http::extract::Authentication`): so authorisation is
/// decided before any body, `If-Match` or path is looked at.
async fn authenticate(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        let outcome = http::extract::authenticate(req.request()).await;
        req.extensions_mut().insert(http::extract::Authentication(outcome));
    }
    next.call(req).await
}

/// Answers 422 for a NUL character (U+0000) in a query parameter, naming it: PostgreSQL's text
/// cannot hold one, so it would otherwise reach the database as a 500.
async fn refuse_nul_in_query(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, actix_web::Error> {
    let nul = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.0.into_iter().find(|(k, v)| k.contains('\0') || v.contains('\0')));
    if let Some((name, _)) = nul {
        let field = http::extract::field_of(&name.replace('\0', ""), "");
        let e = Error::invalid(field, "must not contain the NUL character (U+0000)");
        return Ok(req.error_response(e).map_into_boxed_body());
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The content security policy of the API's answers (JSON, CSV, and the annual report's HTML,
/// which has inline styles and no scripts): nothing loads, nothing frames it.
const CSP_API: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";
/// Swagger UI's policy: its own scripts and styles (compiled into the binary), nothing else.
const CSP_DOCS: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Security headers on every answer (README, "Security and limits"): no content sniffing, no
/// framing, a content security policy, and `Cache-Control: no-store` on every answer to an
/// authenticated request or a login (tokens, personal data and money must not sit in a cache).
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let authenticated = req.headers().contains_key(header::AUTHORIZATION) || req.path() == "/api/v1/auth/token";
    let docs = req.path().starts_with("/docs") || req.path().starts_with("/api-docs");
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(if docs { CSP_DOCS } else { CSP_API }));
    if authenticated {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// A query or path that could not be read: the message says what was expected, never what was
/// sent (a path or query value may be anything the caller typed).
fn unreadable(part: &str, message: String, sent: Vec<String>) -> actix_web::Error {
    let sent: Vec<serde_json::Value> = sent.into_iter().map(serde_json::Value::String).collect();
    let message = http::extract::public_message(&message, &sent);
    Error::bad_request(part, message).into()
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::IF_MATCH, header::ACCEPT])
        .allowed_header("idempotency-key")
        .allowed_header("x-request-id")
        .expose_headers([header::ETAG, header::LOCATION, header::RETRY_AFTER])
        .expose_headers(["x-request-id", "idempotent-replayed"])
        .max_age(3600);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

/// A running server and the address it listens on.
pub struct Running {
    /// The server; await it to run, or spawn it.
    pub server: Server,
    /// The bound address (port 0 in the configuration becomes a real port here).
    pub addr: SocketAddr,
}

/// Builds the HTTP server on an open pool (migrated) and starts the background tasks.
pub fn start(config: &Config, pool: Pool) -> anyhow::Result<Running> {
    let state = web::Data::new(AppState {
        pool: pool.clone(),
        tokens: TokenKeys::new(&config.jwt, config.token_ttl_secs),
        throttle: LoginThrottle::new(config.login_burst_per_username, config.login_burst_per_address),
        pii: config.pii.clone(),
        approval: domain::approval::ApprovalPolicy { leader_threshold: config.leader_threshold },
        log_signer: config.log_signer.clone(),
        log_key_development: config.log_key_development,
        subjects: service::auth::SubjectCache::new(Duration::from_millis(config.auth_cache_ms)),
        heavy: service::limits::HeavyReads::new(service::limits::HeavyLimits {
            per_caller_max: config.heavy_per_caller_max,
            queries_max: config.heavy_queries_max,
            exports_max: config.exports_max,
            retry_after_secs: config.heavy_retry_after_secs,
        }),
        export: service::audit::ExportSettings {
            batch_events: config.export_batch_events.max(1),
            send_timeout: Duration::from_secs(config.export_send_timeout_secs.max(1)),
        },
        witnesses: service::witnessing::Witnesses::new(
            config.witnesses.clone(),
            config.witness_quorum,
            Duration::from_millis(config.witness_timeout_ms.max(1)),
        )?,
    });
    let origins = config.cors_origins.clone();
    let limits = config.http;
    let server = HttpServer::new({
        let state = state.clone();
        move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(BODY_LIMIT_BYTES))
                .app_data(BodyTimeout(Duration::from_millis(limits.body_timeout_ms)))
                .app_data(web::PathConfig::default().error_handler(|e, req| {
                    let sent = req.match_info().iter().map(|(_, v)| v.to_owned()).collect();
                    let message = match e {
                        actix_web::error::PathError::Deserialize(inner) => inner.to_string(),
                        other => other.to_string(),
                    };
                    unreadable("path", message, sent)
                }))
                .app_data(web::QueryConfig::default().error_handler(|e, req| {
                    let sent = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
                        .map(|q| q.0.into_iter().flat_map(|(k, v)| [k, v]).collect())
                        .unwrap_or_default();
                    let message = match e {
                        actix_web::error::QueryPayloadError::Deserialize(inner) => inner.to_string(),
                        other => other.to_string(),
                    };
                    unreadable("query", message, sent)
                }))
                .wrap(from_fn(authenticate))
                .wrap(from_fn(refuse_nul_in_query))
                .wrap(cors(&origins))
                .wrap(TracingLogger::<RequestSpan>::new())
                .wrap(from_fn(security_headers))
                .wrap(from_fn(request_id))
                .configure(http::routes::configure)
        }
    })
    .workers(config.workers)
    // A connection that sends nothing, or not its whole head in time, is answered 408 and closed;
    // an idle kept-alive one is closed; past the cap, new connections wait in the backlog.
    .client_request_timeout(Duration::from_millis(limits.header_timeout_ms))
    .client_disconnect_timeout(Duration::from_secs(1))
    .keep_alive(Duration::from_secs(limits.keep_alive_secs))
    .max_connections(limits.max_connections)
    .shutdown_timeout(30)
    .bind(&config.bind)?;
    let addr = server.addrs().first().copied().ok_or_else(|| anyhow::anyhow!("bound to no address"))?;
    let server = server.run();
    spawn_sequencer(state.clone(), config.log_sequence_ms);
    spawn_maintenance(state, config.checkpoint_every_secs);
    Ok(Running { server, addr })
}

/// The Merkle log's sequencer: every `every_ms`, drains the events committed since, unless
/// another process is sequencing (an advisory lock: one sequencer at a time, whatever the
/// number of processes). Writers never wait for it.
fn spawn_sequencer(state: web::Data<AppState>, every_ms: u64) {
    if every_ms == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(every_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            if let Err(e) = service::log::sequence_background(&state.pool).await {
                tracing::warn!(error.cause = %e, "sequencing the audit log failed");
            }
            // Every tenth round: the drained queue's dead rows, vacuumed past a bound, so that
            // an empty poll stays one index page whether autovacuum runs or not.
            ticks += 1;
            if ticks.is_multiple_of(10) {
                match service::log::vacuum_queue(&state.pool).await {
                    Ok(true) => tracing::info!("the audit log's queue was vacuumed"),
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error.cause = %e, "vacuuming the audit log's queue failed"),
                }
            }
        }
    });
}

/// Periodic upkeep: audit checkpoints, expired idempotency keys, the throttle's memory.
fn spawn_maintenance(state: web::Data<AppState>, checkpoint_every_secs: u64) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut elapsed_secs: u64 = 0;
        loop {
            tick.tick().await;
            state.throttle.shrink();
            if checkpoint_every_secs > 0 && elapsed_secs.is_multiple_of(checkpoint_every_secs.max(60)) {
                let signer = state.log_signer.clone();
                if let Err(e) = service::read(&state.pool, move |conn| {
                    db::chain::take_checkpoint_if_changed(conn, service::now(), &signer)
                })
                .await
                {
                    tracing::warn!(error.cause = %e, "audit checkpoint failed");
                }
                // The newest checkpoint goes to every witness that has not cosigned it yet.
                if let Err(e) = state.witnesses.cosign_latest(&state.pool).await {
                    tracing::warn!(error.cause = %e, "witnessing the newest checkpoint failed");
                }
                // Each checkpoint's tree is verified off the request path, from the last run on.
                if let Err(e) = service::reports::extend_verification(&state.pool).await {
                    tracing::warn!(error.cause = %e, "extending the trail's verification failed");
                }
            }
            if elapsed_secs.is_multiple_of(3600)
                && let Err(e) = service::read(&state.pool, db::idempotency::purge_expired).await
            {
                tracing::warn!(error.cause = %e, "idempotency purge failed");
            }
            elapsed_secs += 60;
        }
    });
}
