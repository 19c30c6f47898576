//! `/api/v1/audit/...`: the trail, its verification, exports, checkpoints.

use actix_web::web::{Data, Path, Query};
use actix_web::{HttpResponse, get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::extract::{Authorized, PageQuery, perm};
use crate::AppState;
use crate::db::chain::{EventFilter, KeptCheckpoint};
use crate::domain::money::Money;
use crate::error::{Error, Problem};
use crate::service::Listed;
use crate::service::audit::{self, CheckpointView, EventView, ExportFormat, VerifyView};
use crate::service::limits::HeavyKind;
use crate::service::log::{self as merkle_log, ConsistencyView, InclusionView, LogKeyView, LogView, WitnessView};

/// Filters of the trail (API.md).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventQuery {
    /// `fund`, `org`, `user`, `client`, `fund_source`, …
    pub entity_type: Option<String>,
    /// One entity.
    pub entity_id: Option<Uuid>,
    /// One fund.
    pub fund_id: Option<Uuid>,
    /// `allocation`, `disbursement`, `use`, `settlement`.
    pub stage: Option<String>,
    /// `user:<id>`, `client:<id>` or `system`.
    pub actor: Option<String>,
    /// One organisation.
    pub org_id: Option<Uuid>,
    /// One request (`X-Request-Id`).
    pub request_id: Option<String>,
    /// At or after (RFC 3339).
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Before (RFC 3339).
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// Amount at least.
    #[param(value_type = Option<String>)]
    pub amount_min: Option<String>,
    /// Amount at most.
    #[param(value_type = Option<String>)]
    pub amount_max: Option<String>,
    /// Page size (1–500, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn amount(field: &str, v: Option<&str>) -> Result<Option<rust_decimal::Decimal>, Error> {
    v.map(|s| Money::parse(s).map(|m| m.as_decimal()).map_err(|e| Error::invalid(field, e.to_string()))).transpose()
}

/// The audit trail, filtered, oldest first.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit", params(EventQuery),
    responses((status = 200, body = inline(Listed<EventView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/audit/events")]
pub async fn list_audit_events(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadAudit>,
    q: Query<EventQuery>,
) -> Result<HttpResponse, Error> {
    let q = q.into_inner();
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() }.page()?;
    let filter = EventFilter {
        amount_min: amount("amount_min", q.amount_min.as_deref())?,
        amount_max: amount("amount_max", q.amount_max.as_deref())?,
        entity_type: q.entity_type,
        entity_id: q.entity_id,
        fund_id: q.fund_id,
        stage: q.stage,
        actor: q.actor,
        org_id: q.org_id,
        request_id: q.request_id,
        from: q.from,
        to: q.to,
    };
    Ok(HttpResponse::Ok().json(audit::list(&state.pool, filter, page).await?))
}

/// What to verify.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// First `seq` of a range.
    pub from_seq: Option<i64>,
    /// Last `seq` of a range.
    pub to_seq: Option<i64>,
    /// A checkpoint you kept: its id …
    pub checkpoint_id: Option<i64>,
    /// … and its hash. The trail must still contain it.
    pub checkpoint_hash: Option<String>,
}

/// Verifies the hash chains (all of it, or `from_seq..=to_seq`), every stream's head, every
/// stored checkpoint, and a checkpoint you kept. Names the first broken event. A heavy read: a
/// caller runs at most `UNIONFUND_HEAVY_PER_CALLER_MAX` (default 2) heavy reads at once, the
/// service `UNIONFUND_HEAVY_QUERIES_MAX` (default 4 with the default pool) verifications, checks
/// and reports; past either, 429 `too_many_requests` with `Retry-After`.
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", params(VerifyQuery),
    responses((status = 200, body = VerifyView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/audit/verify")]
pub async fn verify_audit(
    state: Data<AppState>,
    caller: Authorized<perm::ReadAudit>,
    q: Query<VerifyQuery>,
) -> Result<HttpResponse, Error> {
    let kept = match (q.checkpoint_id, &q.checkpoint_hash) {
        (Some(id), Some(hash)) => Some(KeptCheckpoint { id, hash: hash.clone() }),
        (None, None) => None,
        _ => return Err(Error::invalid("checkpoint_hash", "give both checkpoint_id and checkpoint_hash")),
    };
    if let (Some(a), Some(b)) = (q.from_seq, q.to_seq)
        && a > b
    {
        return Err(Error::invalid("to_seq", "must not be below from_seq"));
    }
    let permit = state.heavy.try_acquire(&caller, HeavyKind::Query)?;
    let (pool, from_seq, to_seq) = (state.pool.clone(), q.from_seq, q.to_seq);
    let view = permit.run(async move { audit::verify(&pool, from_seq, to_seq, kept).await }).await?;
    Ok(HttpResponse::Ok().json(view))
}

/// Export format.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `csv` or `ndjson` (the default; the one to verify offline).
    pub format: Option<ExportFormat>,
}

/// Streams the whole trail, for offline verification (`unionfund audit verify-export FILE`), up
/// to the newest event at the start. In CSV, a text cell that begins with `=`, `+`, `-`, `@`, a
/// tab or a carriage return is written with a `'` before it (formula injection); NDJSON carries
/// every value exactly. A heavy read: at most `UNIONFUND_EXPORTS_MAX` (default 4) exports at once,
/// and a caller's share of heavy reads (`UNIONFUND_HEAVY_PER_CALLER_MAX`, default 2); past either,
/// 429 `too_many_requests` with `Retry-After`. A client that takes no data for
/// `UNIONFUND_EXPORT_SEND_TIMEOUT_SECS` (default 30) is cut off: the transfer ends broken.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(ExportQuery),
    responses((status = 200, description = "The trail, streamed: one event per line or row",
        content((String = "application/x-ndjson"), (String = "text/csv"))),
              (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/audit/export")]
pub async fn export_audit(
    state: Data<AppState>,
    caller: Authorized<perm::ReadAudit>,
    q: Query<ExportQuery>,
) -> Result<HttpResponse, Error> {
    let format = q.format.unwrap_or(ExportFormat::Ndjson);
    let permit = state.heavy.try_acquire(&caller, HeavyKind::Export)?;
    let body = audit::export(state.pool.clone(), format, state.export, permit);
    let (content_type, ext) = match format {
        ExportFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        ExportFormat::Ndjson => ("application/x-ndjson", "ndjson"),
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"audit-trail.{ext}\"")))
        .streaming(body))
}

/// Takes a checkpoint now: every committed event is first sequenced into the Merkle log, then
/// every stream's head and the log's signed head (`note`, a C2SP checkpoint) are recorded, and
/// the checkpoint is sent to the witnesses (`UNIONFUND_WITNESSES`), whose cosignatures the
/// `note` carries. Keep its `id` and `hash` (passing them to verify later proves the trail was
/// not cut back before this moment) and its `note` (exports and proofs verify against it
/// offline). A witness that is down or refuses does not fail the checkpoint: its cosignature
/// is missing from `cosignatures`, and the newest checkpoint is offered to it again later.
#[utoipa::path(post, path = "/api/v1/audit/checkpoints", tag = "audit",
    responses((status = 201, body = CheckpointView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[post("/api/v1/audit/checkpoints")]
pub async fn create_checkpoint(
    state: Data<AppState>,
    _caller: Authorized<perm::TakeCheckpoint>,
) -> Result<HttpResponse, Error> {
    let view = audit::checkpoint(&state.pool, state.log_signer.clone(), &state.witnesses).await?;
    Ok(HttpResponse::Created().json(view))
}

/// Checkpoints, newest first.
#[utoipa::path(get, path = "/api/v1/audit/checkpoints", tag = "audit", params(PageQuery),
    responses((status = 200, body = inline(Listed<CheckpointView>)), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/audit/checkpoints")]
pub async fn list_checkpoints(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadAudit>,
    q: Query<PageQuery>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(audit::list_checkpoints(&state.pool, q.page()?).await?))
}

/// How the newest checkpoint is answered.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LatestQuery {
    /// `note` answers the signed C2SP checkpoint note alone, as `text/plain`.
    pub format: Option<String>,
}

/// The newest checkpoint, with its signed note (`?format=note`: the note alone, `text/plain`).
#[utoipa::path(get, path = "/api/v1/audit/checkpoints/latest", tag = "audit", params(LatestQuery),
    responses((status = 200, description = "The checkpoint, or its note alone",
            content((CheckpointView = "application/json"), (String = "text/plain"))),
        (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/audit/checkpoints/latest")]
pub async fn latest_checkpoint(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadAudit>,
    q: Query<LatestQuery>,
) -> Result<HttpResponse, Error> {
    let cp = audit::latest_checkpoint(&state.pool).await?;
    match q.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(cp)),
        Some("note") => {
            let note = cp.note.ok_or(Error::NotFound)?;
            Ok(HttpResponse::Ok().content_type("text/plain; charset=utf-8").body(note))
        }
        Some(_) => Err(Error::invalid("format", "json or note")),
    }
}

/// The Merkle log's head: its size, its root, and how many committed events wait for the
/// sequencer (it runs every second; writes never wait for it).
#[utoipa::path(get, path = "/api/v1/audit/log", tag = "audit",
    responses((status = 200, body = LogView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/audit/log")]
pub async fn get_log(state: Data<AppState>, _caller: Authorized<perm::ReadAudit>) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(merkle_log::head(&state.pool).await?))
}

/// The key that signs the log's checkpoints and the witnesses that cosign them: keep the
/// `verifier_key` to check notes offline, and the `policy` (a C2SP tlog-policy file) to check
/// that they carry the witnesses' quorum (`--policy`).
#[utoipa::path(get, path = "/api/v1/audit/log-key", tag = "audit",
    responses((status = 200, body = LogKeyView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/audit/log-key")]
pub async fn get_log_key(state: Data<AppState>, _caller: Authorized<perm::ReadAudit>) -> Result<HttpResponse, Error> {
    let s = &state.log_signer;
    let w = &state.witnesses;
    Ok(HttpResponse::Ok().json(LogKeyView {
        origin: s.name().to_owned(),
        verifier_key: s.verifier_key(),
        public_key: s.public_key_hex(),
        development: state.log_key_development,
        witnesses: w
            .list
            .iter()
            .map(|e| WitnessView {
                name: e.key.name().to_owned(),
                verifier_key: e.key.verifier_key(),
                url: e.url.clone(),
            })
            .collect(),
        quorum: w.quorum,
        policy: w.policy_text(&s.verifier_key()),
    }))
}

/// The tree an inclusion proof is against.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ProofQuery {
    /// A checkpoint's tree size (default: the whole log now; with `tlog-proof`, the newest
    /// checkpoint).
    pub tree_size: Option<i64>,
    /// `json` (the default) or `tlog-proof`: a C2SP tlog-proof bundle (text) of the event, its
    /// inclusion proof and the signed, cosigned checkpoint, to keep and verify offline.
    pub format: Option<String>,
}

/// The inclusion proof of one event in the tree of `tree_size` events (RFC 9162 §2.1.3). 409
/// `not_yet_sequenced` for an event committed in the last second, `not_in_tree` for one after
/// that size, `tree_size_unavailable` for a size the log has not reached. With
/// `format=tlog-proof`, the C2SP tlog-proof bundle (`unionfund audit verify-proof FILE`): its
/// `extra` line is the event's NDJSON export line, its checkpoint the newest signed one (or the
/// one of `tree_size`); 409 `not_yet_checkpointed` when no checkpoint holds the event yet.
#[utoipa::path(get, path = "/api/v1/audit/events/{seq}/proof", tag = "audit", params(("seq" = i64, Path), ProofQuery),
    responses((status = 200, description = "The proof, or its tlog-proof bundle",
            content((InclusionView = "application/json"), (String = "text/plain"))),
        (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/audit/events/{seq}/proof")]
pub async fn get_inclusion_proof(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadAudit>,
    seq: Path<i64>,
    q: Query<ProofQuery>,
) -> Result<HttpResponse, Error> {
    let seq = seq.into_inner();
    match q.format.as_deref() {
        None | Some("json") => Ok(HttpResponse::Ok().json(merkle_log::inclusion(&state.pool, seq, q.tree_size).await?)),
        Some("tlog-proof") => {
            let bundle = audit::proof_bundle(&state.pool, seq, q.tree_size).await?;
            Ok(HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .insert_header(("Content-Disposition", format!("attachment; filename=\"event-{seq}.tlog-proof\"")))
                .body(bundle))
        }
        Some(_) => Err(Error::invalid("format", "json or tlog-proof")),
    }
}

/// The two trees a consistency proof is between.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older tree's size (1 or more).
    pub from: i64,
    /// The newer tree's size (default: the whole log now).
    pub to: Option<i64>,
}

/// The consistency proof between two tree sizes (RFC 9162 §2.1.4): that the log of `to`
/// events begins with the log of `from` events, unchanged.
#[utoipa::path(get, path = "/api/v1/audit/consistency", tag = "audit", params(ConsistencyQuery),
    responses((status = 200, body = ConsistencyView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/audit/consistency")]
pub async fn get_consistency_proof(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadAudit>,
    q: Query<ConsistencyQuery>,
) -> Result<HttpResponse, Error> {
    Ok(HttpResponse::Ok().json(merkle_log::consistency(&state.pool, q.from, q.to).await?))
}
