//! The audit trail for auditors: queries, verification, export, checkpoints.

use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::csv_out::{Cell, CsvOut};
use super::{Listed, Page};
use crate::db::Pool;
use crate::db::chain::{self, CheckpointRow, EventFilter, EventRow, KeptCheckpoint, Verification};
use crate::domain::audit::{AuditRecord, ChainVerifier, format_amount, format_time};
use crate::domain::note::LogSigner;
use crate::error::Error;

/// One event as answered and exported. Every field is in the text form the hash covers, so an
/// export can be verified offline (README, "Verifying the trail").
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct EventView {
    /// Position in the whole trail.
    pub seq: i64,
    /// The chain: `fund:<id>`, `org:<id>`, …
    pub stream: String,
    /// Position in the stream.
    pub stream_seq: i64,
    /// When (UTC, microseconds).
    #[schema(example = "2022-12-01T08:00:00.000000Z")]
    pub occurred_at: String,
    /// `user:<id>`, `client:<id>` or `system`.
    pub actor: String,
    /// The actor's role.
    pub actor_role: String,
    /// Organisation concerned.
    pub org_id: Option<Uuid>,
    /// The request that wrote it.
    pub request_id: String,
    /// What happened.
    #[schema(example = "fund.source_added")]
    pub action: String,
    /// Kind of thing.
    pub entity_type: String,
    /// The thing.
    pub entity_id: Uuid,
    /// Fund concerned.
    pub fund_id: Option<Uuid>,
    /// Money stage.
    pub stage: Option<String>,
    /// Amount moved, two decimals.
    pub amount: Option<String>,
    /// The journal entry.
    pub entry_id: Option<Uuid>,
    /// State before, as the exact JSON text hashed.
    pub before: Option<String>,
    /// State after, as the exact JSON text hashed.
    pub after: Option<String>,
    /// Previous hash in the stream.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
    /// Its position in the Merkle log; absent until the sequencer reaches it (a second or so).
    /// Not hashed into the event: the log commits to the event, not the other way round.
    #[serde(default)]
    pub log_index: Option<i64>,
}

impl EventView {
    fn of(r: EventRow, log_index: Option<i64>) -> Self {
        Self {
            log_index,
            seq: r.seq,
            stream: r.stream,
            stream_seq: r.stream_seq,
            occurred_at: format_time(&r.occurred_at),
            actor: r.actor,
            actor_role: r.actor_role,
            org_id: r.org_id,
            request_id: r.request_id,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            fund_id: r.fund_id,
            stage: r.stage,
            amount: r.amount.map(format_amount),
            entry_id: r.entry_id,
            before: r.before_json,
            after: r.after_json,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }

    /// The record the hash covers, read back from an export line.
    pub fn record(&self) -> Result<AuditRecord, String> {
        let occurred_at = chrono::DateTime::parse_from_rfc3339(&self.occurred_at)
            .map_err(|e| format!("seq {}: occurred_at: {e}", self.seq))?
            .with_timezone(&chrono::Utc);
        let amount =
            self.amount.as_deref().map(str::parse).transpose().map_err(|e| format!("seq {}: amount: {e}", self.seq))?;
        Ok(AuditRecord {
            seq: self.seq,
            stream: self.stream.clone(),
            stream_seq: self.stream_seq,
            occurred_at,
            actor: self.actor.clone(),
            actor_role: self.actor_role.clone(),
            org_id: self.org_id,
            request_id: self.request_id.clone(),
            action: self.action.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            fund_id: self.fund_id,
            stage: self.stage.clone(),
            amount,
            entry_id: self.entry_id,
            before: self.before.clone(),
            after: self.after.clone(),
            prev_hash: self.prev_hash.clone(),
        })
    }
}

/// The answer of a verification (API.md: `{ok, checked, first_broken?}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    /// True when nothing is broken.
    pub ok: bool,
    /// Events checked.
    pub checked: u64,
    /// The first broken event, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<BrokenView>,
}

/// Where the trail broke.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenView {
    /// The lowest `seq` that fails.
    pub seq: i64,
    /// `hash_mismatch` (altered or moved), `chain_broken` (removed, inserted, reordered),
    /// `head_mismatch` (cut off the end, or a checkpoint no longer matches).
    pub reason: String,
}

impl From<Verification> for VerifyView {
    fn from(v: Verification) -> Self {
        Self {
            ok: v.first_broken.is_none(),
            checked: v.checked,
            first_broken: v.first_broken.map(|(seq, reason)| BrokenView { seq, reason: reason.as_str().into() }),
        }
    }
}

/// A checkpoint as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    /// Id (increasing).
    pub id: i64,
    /// Taken at.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Streams it commits to.
    pub streams: i64,
    /// Events it covers.
    pub events: i64,
    /// The previous checkpoint's hash.
    pub prev_hash: String,
    /// This checkpoint's hash: write it down, and pass it to verify later.
    pub hash: String,
    /// One line per stream: `stream stream_seq hash`.
    pub heads: String,
    /// The Merkle log's size it signs (absent on checkpoints older than the log).
    pub tree_size: Option<i64>,
    /// The Merkle log's root at that size, hex.
    pub root_hash: Option<String>,
    /// The signed C2SP checkpoint note: keep it, and verify exports and proofs against it.
    pub note: Option<String>,
}

impl CheckpointView {
    fn of(r: CheckpointRow) -> Self {
        Self {
            id: r.id,
            created_at: r.created_at,
            streams: r.streams,
            events: r.events,
            prev_hash: r.prev_hash,
            hash: r.hash,
            heads: r.heads,
            tree_size: r.tree_size,
            root_hash: r.root_hash,
            note: r.note,
        }
    }
}

/// A page of events matching the filter, oldest first.
pub async fn list(pool: &Pool, filter: EventFilter, page: Page) -> Result<Listed<EventView>, Error> {
    let after = page.seq_cursor()?;
    super::read(pool, move |conn| {
        let rows = chain::list(conn, &filter, after, page.fetch())?;
        let at = crate::db::log::positions(conn, &rows.iter().map(|r| r.seq).collect::<Vec<_>>())?;
        Ok(Listed::from_rows(
            rows,
            &page,
            |r| r.seq.to_string(),
            |r| {
                let i = at.get(&r.seq).copied();
                EventView::of(r, i)
            },
        ))
    })
    .await
}

/// Verifies the trail, or a range of it, optionally against a checkpoint the auditor kept.
#[tracing::instrument(skip_all)]
pub async fn verify(
    pool: &Pool,
    from_seq: Option<i64>,
    to_seq: Option<i64>,
    kept: Option<KeptCheckpoint>,
) -> Result<VerifyView, Error> {
    super::read(pool, move |conn| chain::verify(conn, from_seq, to_seq, kept.as_ref())).await.map(VerifyView::from)
}

/// Takes a checkpoint now: every committed event is sequenced into the Merkle log first, so
/// that the signed tree covers the trail as it stands.
pub async fn checkpoint(pool: &Pool, signer: std::sync::Arc<LogSigner>) -> Result<CheckpointView, Error> {
    super::read(pool, move |conn| {
        crate::db::log::sequence_all(conn, super::now(), true)?;
        chain::take_checkpoint(conn, super::now(), &signer)
    })
    .await
    .map(CheckpointView::of)
}

/// The newest checkpoint.
pub async fn latest_checkpoint(pool: &Pool) -> Result<CheckpointView, Error> {
    super::read(pool, |conn| chain::list_checkpoints(conn, None, 1)?.into_iter().next().ok_or(Error::NotFound))
        .await
        .map(CheckpointView::of)
}

/// A page of checkpoints, newest first.
pub async fn list_checkpoints(pool: &Pool, page: Page) -> Result<Listed<CheckpointView>, Error> {
    let before = page.seq_cursor()?;
    super::read(pool, move |conn| {
        let rows = chain::list_checkpoints(conn, before, page.fetch())?;
        Ok(Listed::from_rows(rows, &page, |r| r.id.to_string(), CheckpointView::of))
    })
    .await
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated, RFC 4180, with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

/// The columns of an export, in order.
pub const EXPORT_COLUMNS: [&str; 20] = [
    "seq",
    "stream",
    "stream_seq",
    "occurred_at",
    "actor",
    "actor_role",
    "org_id",
    "request_id",
    "action",
    "entity_type",
    "entity_id",
    "fund_id",
    "stage",
    "amount",
    "entry_id",
    "before",
    "after",
    "prev_hash",
    "hash",
    "log_index",
];

/// One event as a CSV row (`csv_out`): `seq`, `stream_seq`, `amount` and `log_index` are number
/// cells, written as they are (an amount keeps its sign); every other column is text, neutralised
/// against formula injection, so a request id `=1+2` is written `'=1+2`. The NDJSON export keeps
/// every value exactly.
fn csv_row(out: &mut CsvOut, e: &EventView) -> Result<(), Error> {
    let opt = |u: &Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
    let (seq, stream_seq) = (e.seq.to_string(), e.stream_seq.to_string());
    let (org_id, entity_id, fund_id, entry_id) =
        (opt(&e.org_id), e.entity_id.to_string(), opt(&e.fund_id), opt(&e.entry_id));
    let log_index = e.log_index.map(|i| i.to_string()).unwrap_or_default();
    let text = |v: &Option<String>| v.as_deref().unwrap_or_default().to_owned();
    let (stage, amount, before, after) = (text(&e.stage), text(&e.amount), text(&e.before), text(&e.after));
    out.row(&[
        Cell::Number(&seq),
        Cell::Text(&e.stream),
        Cell::Number(&stream_seq),
        Cell::Text(&e.occurred_at),
        Cell::Text(&e.actor),
        Cell::Text(&e.actor_role),
        Cell::Text(&org_id),
        Cell::Text(&e.request_id),
        Cell::Text(&e.action),
        Cell::Text(&e.entity_type),
        Cell::Text(&entity_id),
        Cell::Text(&fund_id),
        Cell::Text(&stage),
        Cell::Number(&amount),
        Cell::Text(&entry_id),
        Cell::Text(&before),
        Cell::Text(&after),
        Cell::Text(&e.prev_hash),
        Cell::Text(&e.hash),
        Cell::Number(&log_index),
    ])
}

/// How an export reads the trail and waits on its client (`Config`).
#[derive(Debug, Clone, Copy)]
pub struct ExportSettings {
    /// Events read per query.
    pub batch_events: i64,
    /// How long a batch may wait for the client to take it before the export ends.
    pub send_timeout: std::time::Duration,
}

/// How an export ended.
enum ExportEnd {
    /// Every event up to the newest at the start was sent.
    Complete,
    /// The client hung up.
    ClientGone,
    /// The client took nothing for the send timeout.
    Stalled,
}

/// Reads one batch after `after` (up to `to`) on a pooled connection, gives the connection back,
/// then renders it: the rendered chunk and the last `seq` read (`None` once nothing is left).
fn render_batch(
    pool: &Pool,
    format: ExportFormat,
    after: i64,
    to: i64,
    batch: i64,
    header: bool,
) -> Result<(Bytes, Option<i64>, u64), Error> {
    let (rows, at) = {
        let mut conn = pool.get()?;
        let rows = chain::batch(&mut conn, after, to, batch)?;
        let at = crate::db::log::positions(&mut conn, &rows.iter().map(|r| r.seq).collect::<Vec<_>>())?;
        (rows, at)
    };
    let last = rows.last().map(|r| r.seq);
    let n = u64::try_from(rows.len()).unwrap_or(u64::MAX);
    let views = rows.into_iter().map(|row| {
        let i = at.get(&row.seq).copied();
        EventView::of(row, i)
    });
    let chunk = match format {
        ExportFormat::Csv => {
            let mut out = CsvOut::with_capacity(views.len() * 600);
            if header {
                out.header(&EXPORT_COLUMNS)?;
            }
            for view in views {
                csv_row(&mut out, &view)?;
            }
            out.into_bytes()?
        }
        ExportFormat::Ndjson => {
            let mut out = Vec::with_capacity(views.len() * 600);
            for view in views {
                serde_json::to_writer(&mut out, &view).map_err(Error::internal)?;
                out.push(b'\n');
            }
            out
        }
    };
    Ok((Bytes::from(chunk), last, n))
}

/// Sends the trail, up to the newest event at the start (so the export is a prefix of the
/// append-only trail, however long it takes), one batch at a time. A connection is borrowed for
/// each batch's query and given back before the batch is sent, so a client that stops reading
/// holds no connection; a batch it does not take within the send timeout ends the export.
async fn produce(
    pool: Pool,
    format: ExportFormat,
    settings: ExportSettings,
    sink: &tokio::sync::mpsc::Sender<Result<Bytes, Error>>,
    sent: &mut u64,
) -> Result<ExportEnd, Error> {
    let to = super::read(&pool, chain::max_seq).await?;
    let mut after = 0;
    let mut header = format == ExportFormat::Csv;
    loop {
        let pool = pool.clone();
        let (chunk, last, n) =
            super::blocking(move || render_batch(&pool, format, after, to, settings.batch_events, header)).await?;
        header = false;
        if !chunk.is_empty() {
            match tokio::time::timeout(settings.send_timeout, sink.send(Ok(chunk))).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Ok(ExportEnd::ClientGone),
                Err(_) => return Ok(ExportEnd::Stalled),
            }
        }
        *sent = sent.saturating_add(n);
        let Some(last) = last else { return Ok(ExportEnd::Complete) };
        after = last;
    }
}

/// The error that breaks the body of an export cut short.
fn broken() -> Error {
    Error::Unavailable("the export ended before the end of the trail".into())
}

/// The export as a body stream, from a task of its own that holds `permit` (one export slot)
/// until it ends. CSV cannot tell an empty text from an absent one; NDJSON can, and is the format
/// to verify. When the export ends before the last event (the client stalled past the send
/// timeout, or the database failed), the stream ends with an error the next time it is read, so
/// the client sees a broken transfer, never a file that looks complete.
pub fn export(
    pool: Pool,
    format: ExportFormat,
    settings: ExportSettings,
    permit: super::limits::HeavyPermit,
) -> impl futures_util::Stream<Item = Result<Bytes, Error>> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tracing::Instrument;

    // Two batches in flight at most: what a stalled client pins in memory stays small.
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    let cut = Arc::new(AtomicBool::new(false));
    let cut_by_producer = Arc::clone(&cut);
    tokio::spawn(
        async move {
            let _slot = permit;
            let mut sent = 0_u64;
            match produce(pool, format, settings, &tx, &mut sent).await {
                Ok(ExportEnd::Complete) => tracing::debug!(export.events = sent, "audit export complete"),
                Ok(ExportEnd::ClientGone) => {
                    tracing::info!(export.events = sent, "audit export ended: the client went away")
                }
                Ok(ExportEnd::Stalled) => {
                    cut_by_producer.store(true, Ordering::Release);
                    tracing::warn!(
                        export.events = sent,
                        export.send_timeout_secs = settings.send_timeout.as_secs(),
                        "audit export cut off: the client took no data within the send timeout"
                    );
                }
                Err(e) => {
                    cut_by_producer.store(true, Ordering::Release);
                    tracing::error!(error.cause = %e, export.events = sent, "audit export failed");
                    // The status line is already sent; an error ends the body as a broken transfer.
                    drop(tx.try_send(Err(e)));
                }
            }
        }
        .instrument(tracing::Span::current()),
    );
    futures_util::stream::unfold((rx, cut, false), move |(mut rx, cut, done)| async move {
        if done {
            return None;
        }
        if cut.load(Ordering::Acquire) {
            return Some((Err(broken()), (rx, cut, true)));
        }
        match rx.recv().await {
            Some(Ok(chunk)) => Some((Ok(chunk), (rx, cut, false))),
            Some(Err(e)) => Some((Err(e), (rx, cut, true))),
            None if cut.load(Ordering::Acquire) => Some((Err(broken()), (rx, cut, true))),
            None => None,
        }
    })
}

/// What an export says of a signed checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointCheck {
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// Whether the note carries a valid signature by the key given.
    pub signature_valid: bool,
    /// Whether the root recomputed from the exported events equals the note's.
    pub root_matches: bool,
    /// `log_incomplete` when the export does not hold every position below the tree size once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_problem: Option<&'static str>,
}

/// The offline verification of an export: the chain, and optionally a signed checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportVerification {
    /// Chain (and checkpoint, when given) hold.
    pub ok: bool,
    /// Events that passed.
    pub checked: u64,
    /// The first broken event, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<BrokenView>,
    /// The checkpoint's verdict, when one was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointCheck>,
}

/// Verifies an NDJSON export offline: every line's hash and every stream's chain; with a
/// signed checkpoint note and the log's verifier key, also the signature and the Merkle root of
/// the exported events at the checkpoint's size (leaves by `log_index`).
pub fn verify_export(
    lines: impl Iterator<Item = std::io::Result<String>>,
    checkpoint: Option<(&str, &crate::domain::note::VerifierKey)>,
) -> Result<ExportVerification, String> {
    use crate::domain::merkle::{Frontier, Hash, leaf_hash};
    let mut v = ChainVerifier::new();
    let mut leaves: std::collections::HashMap<u64, Hash> = std::collections::HashMap::new();
    let mut duplicate = false;
    for (n, line) in lines.enumerate() {
        let line = line.map_err(|e| e.to_string())?;
        if line.trim().is_empty() {
            continue;
        }
        let event: EventView = serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", n + 1))?;
        let record = event.record()?;
        let bytes = record.canonical_bytes();
        v.push_canonical(&record, &bytes, &event.hash);
        if checkpoint.is_some()
            && let Some(i) = event.log_index.and_then(|i| u64::try_from(i).ok())
        {
            duplicate |= leaves.insert(i, leaf_hash(&bytes)).is_some();
        }
    }
    let chain_ok = v.first_broken().is_none();
    let checkpoint = match checkpoint {
        None => None,
        Some((note, key)) => {
            let (signature_valid, cp) = key.check(note).map_err(|e| e.to_string())?;
            let mut f = Frontier::default();
            let mut made = Vec::new();
            let mut complete = !duplicate;
            for i in 0..cp.size {
                match leaves.get(&i) {
                    Some(h) => f.push(*h, &mut made),
                    None => {
                        complete = false;
                        break;
                    }
                }
                made.clear();
            }
            Some(CheckpointCheck {
                tree_size: cp.size,
                signature_valid,
                root_matches: complete && f.root() == cp.root,
                log_problem: (!complete).then_some("log_incomplete"),
            })
        }
    };
    let ok = chain_ok && checkpoint.as_ref().is_none_or(|c| c.signature_valid && c.root_matches);
    Ok(ExportVerification {
        ok,
        checked: v.checked(),
        first_broken: v.first_broken().map(|(seq, reason)| BrokenView { seq, reason: reason.as_str().into() }),
        checkpoint,
    })
}

/// Checks a consistency proof between two signed checkpoints an auditor kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyCheck {
    /// Both verdicts hold.
    pub ok: bool,
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// Both notes are signed by the key given.
    pub signatures_valid: bool,
    /// The proof shows the older tree to be a prefix of the newer.
    pub proof_valid: bool,
}

/// Verifies `proof` (the body of `GET /api/v1/audit/consistency`) between two notes.
pub fn verify_consistency(
    old_note: &str,
    new_note: &str,
    proof: &serde_json::Value,
    key: &crate::domain::note::VerifierKey,
) -> Result<ConsistencyCheck, String> {
    use crate::domain::merkle;
    let (old_ok, old) = key.check(old_note).map_err(|e| e.to_string())?;
    let (new_ok, new) = key.check(new_note).map_err(|e| e.to_string())?;
    let hashes = proof["proof"]
        .as_array()
        .ok_or("the proof file has no \"proof\" array")?
        .iter()
        .map(|h| h.as_str().and_then(merkle::from_hex).ok_or_else(|| "a proof element is not 64 hex digits".to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    let sizes_match = proof["from"].as_u64() == Some(old.size) && proof["to"].as_u64() == Some(new.size);
    let proof_valid = sizes_match && merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &hashes);
    let signatures_valid = old_ok && new_ok;
    Ok(ConsistencyCheck {
        ok: signatures_valid && proof_valid,
        from: old.size,
        to: new.size,
        signatures_valid,
        proof_valid,
    })
}
