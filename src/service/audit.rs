//! The audit trail for auditors: queries, verification, export, checkpoints.

use bytes::Bytes;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::csv_out::{Cell, CsvOut};
use super::{Listed, Page};
use crate::db::Pool;
use crate::db::chain::{self, CheckpointRow, EventFilter, EventRow, KeptCheckpoint, Verification};
use crate::domain::audit::{AuditRecord, BreakReason, GENESIS_HASH, format_amount, format_time};
use crate::domain::note::{Checkpoint, LogSigner, VerifierKey};
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
    let (rows, at) = pool.read(|conn| {
        let rows = chain::batch(conn, after, to, batch)?;
        let at = crate::db::log::positions(conn, &rows.iter().map(|r| r.seq).collect::<Vec<_>>())?;
        Ok((rows, at))
    })?;
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

// Offline verification: `unionfund audit verify-export` and `verify-consistency`. They answer
// exactly what `tools/verify_trail.py` answers (README, "Verifying offline"): the same fields in
// the same order, the same counts, the same words for unreadable input.

/// The 18 fields the hash covers, in their order (README, "The hash, byte for byte"): the export's
/// columns up to `hash`, which is the hash itself.
const HASHED_FIELDS: &[&str] = EXPORT_COLUMNS.split_at(18).0;

/// What an export says of a signed checkpoint.
#[derive(Debug, Serialize)]
pub struct CheckpointCheck {
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// Whether the note carries a valid signature by the key given.
    pub signature_valid: bool,
    /// Whether the root recomputed from the exported events equals the note's.
    pub root_matches: bool,
    /// `log_incomplete` when the export does not hold every position below the tree size
    /// exactly once; null otherwise.
    pub log_problem: Option<&'static str>,
}

/// An event of an export that fails a check.
#[derive(Debug, Serialize)]
pub struct BrokenEvent {
    /// Its `seq`.
    pub seq: i64,
    /// Its line in the file, from 1.
    pub line: u64,
    /// `hash_mismatch` or `chain_broken`: the first check that fails.
    pub reason: &'static str,
    /// Which check, in words.
    pub detail: String,
}

/// The offline verification of an export: the chain, and optionally a signed checkpoint.
#[derive(Debug, Serialize)]
pub struct ExportVerification {
    /// No event is broken (and the checkpoint, when given, holds).
    pub ok: bool,
    /// Every event read and checked: verification does not stop at a break.
    pub checked: u64,
    /// The events that fail a check.
    pub broken: u64,
    /// The first of them in the file; null when none.
    pub first_broken: Option<BrokenEvent>,
    /// The checkpoint's verdict; null when none was given.
    pub checkpoint: Option<CheckpointCheck>,
}

/// The words for an error opening or reading a file (the Python verifier uses the same).
pub fn read_problem(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file",
        ErrorKind::PermissionDenied => "permission denied",
        ErrorKind::IsADirectory => "is a directory",
        _ => "cannot be read",
    }
}

/// Parses a verifier key given on the command line.
pub fn read_verifier_key(text: &str) -> Result<VerifierKey, String> {
    VerifierKey::parse(text).map_err(|_| "verifier key: malformed".to_owned())
}

/// Reads a checkpoint note and says whether `key` signed it; `Err` only for a malformed note.
pub fn open_checkpoint(note: &str, key: &VerifierKey) -> Result<(bool, Checkpoint), String> {
    key.check(note).map_err(|_| "malformed checkpoint note".to_owned())
}

/// One export line as the verifiers read it.
struct ExportLine {
    seq: i64,
    stream: String,
    stream_seq: i64,
    prev_hash: Option<String>,
    hash: String,
    log_index: Option<u64>,
    /// The v1 hash input, made from each field's text exactly as exported: the hash covers that
    /// text, not a value re-formatted from it (which would accept a line the Python verifier,
    /// hashing the text, refuses).
    canonical: Vec<u8>,
}

/// Reads one export line; `Err` says why it is not an event (without the line number).
fn read_export_line(text: &str) -> Result<ExportLine, String> {
    use serde_json::Value;
    let Ok(value) = serde_json::from_str::<Value>(text) else { return Err("not JSON".into()) };
    let Value::Object(mut event) = value else { return Err("not a JSON object".into()) };
    let mut canonical = Vec::with_capacity(text.len());
    canonical.extend_from_slice(crate::domain::audit::MAGIC);
    for &name in HASHED_FIELDS {
        let integer;
        let field = match (name, event.get(name)) {
            (_, None) => return Err(format!("missing field '{name}'")),
            ("seq" | "stream_seq", Some(v)) => {
                integer = v.as_i64().ok_or_else(|| format!("'{name}' is not an integer"))?.to_string();
                Some(integer.as_str())
            }
            (_, Some(Value::String(s))) => Some(s.as_str()),
            ("stream", Some(_)) => return Err("'stream' is not text".into()),
            (_, Some(Value::Null)) => None,
            (_, Some(_)) => return Err(format!("'{name}' is neither text nor null")),
        };
        crate::domain::audit::field(&mut canonical, field);
    }
    let hash = match event.remove("hash") {
        None => return Err("missing field 'hash'".into()),
        Some(Value::String(s)) => s,
        Some(_) => return Err("'hash' is not text".into()),
    };
    let log_index = match event.get("log_index") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or("'log_index' is neither a non-negative integer nor null")?),
    };
    // Each was read above: seq and stream_seq are integers, stream text.
    let seq = event.get("seq").and_then(Value::as_i64).unwrap_or_default();
    let stream_seq = event.get("stream_seq").and_then(Value::as_i64).unwrap_or_default();
    let mut text = |name: &str| match event.remove(name) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let (stream, prev_hash) = (text("stream").unwrap_or_default(), text("prev_hash"));
    Ok(ExportLine { seq, stream, stream_seq, prev_hash, hash, log_index, canonical })
}

/// The chain checks over an export, in file order. Each event is judged against the previous
/// line and the previous event of its stream *as read*, whatever their own verdict, so that one
/// altered, removed or moved line shows as one break (or a few), not as every line after it.
/// (The online verifier, `ChainVerifier`, reads the trail in `seq` order from the database and
/// stops trusting a stream at its first break.)
#[derive(Default)]
struct FileChain {
    last_seq: Option<i64>,
    heads: std::collections::HashMap<String, (i64, String)>,
}

impl FileChain {
    /// The first check the event fails, as (reason, detail).
    fn check(&mut self, e: &ExportLine) -> Option<(BreakReason, String)> {
        use sha2::{Digest, Sha256};
        let (prev_stream_seq, prev_hash) =
            self.heads.get(&e.stream).map_or((0, GENESIS_HASH), |(n, h)| (*n, h.as_str()));
        let expected_stream_seq = i128::from(prev_stream_seq) + 1;
        let verdict = if hex::encode(Sha256::digest(&e.canonical)) != e.hash {
            Some((BreakReason::HashMismatch, "recomputed hash differs from the stored hash".to_owned()))
        } else if let Some(last) = self.last_seq.filter(|&last| e.seq <= last) {
            Some((BreakReason::ChainBroken, format!("seq {} does not follow seq {last}", e.seq)))
        } else if i128::from(e.stream_seq) != expected_stream_seq {
            let detail = format!("stream_seq {} in {} should be {expected_stream_seq}", e.stream_seq, e.stream);
            Some((BreakReason::ChainBroken, detail))
        } else if e.prev_hash.as_deref() != Some(prev_hash) {
            Some((BreakReason::ChainBroken, format!("prev_hash does not match the previous hash in {}", e.stream)))
        } else {
            None
        };
        self.last_seq = Some(e.seq);
        match self.heads.get_mut(&e.stream) {
            Some(head) => *head = (e.stream_seq, e.hash.clone()),
            None => {
                self.heads.insert(e.stream.clone(), (e.stream_seq, e.hash.clone()));
            }
        }
        verdict
    }
}

/// Verifies an NDJSON export offline: every line's hash and every stream's chain; with a
/// signed checkpoint note and the log's verifier key, also the signature and the Merkle root of
/// the exported events at the checkpoint's size (leaves by `log_index`).
pub fn verify_export(
    lines: impl Iterator<Item = std::io::Result<String>>,
    checkpoint: Option<(&str, &VerifierKey)>,
) -> Result<ExportVerification, String> {
    let checkpoint = checkpoint.map(|(note, key)| open_checkpoint(note, key)).transpose()?;
    verify_export_against(lines, checkpoint.as_ref())
}

/// [`verify_export`] against a note already opened (`open_checkpoint`), so that a caller can
/// tell a malformed note from a malformed export. `Err` says why the export cannot be read.
pub fn verify_export_against(
    lines: impl Iterator<Item = std::io::Result<String>>,
    checkpoint: Option<&(bool, Checkpoint)>,
) -> Result<ExportVerification, String> {
    use crate::domain::merkle::{Frontier, Hash, leaf_hash};
    let size = checkpoint.map(|(_, cp)| cp.size);
    let mut chain = FileChain::default();
    let (mut checked, mut broken, mut first_broken) = (0_u64, 0_u64, None);
    let mut leaves: std::collections::HashMap<u64, Hash> = std::collections::HashMap::new();
    let mut repeated = false;
    for (line_no, line) in (1_u64..).zip(lines) {
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => format!("line {line_no}: not UTF-8"),
            _ => read_problem(&e).to_owned(),
        })?;
        if line.trim_matches([' ', '\t', '\r']).is_empty() {
            continue;
        }
        let event = read_export_line(&line).map_err(|e| format!("line {line_no}: {e}"))?;
        checked += 1;
        if let Some((reason, detail)) = chain.check(&event) {
            broken += 1;
            if first_broken.is_none() {
                first_broken = Some(BrokenEvent { seq: event.seq, line: line_no, reason: reason.as_str(), detail });
            }
        }
        if let (Some(size), Some(i)) = (size, event.log_index)
            && i < size
        {
            repeated |= leaves.insert(i, leaf_hash(&event.canonical)).is_some();
        }
    }
    if checked == 0 {
        return Err("no events".into());
    }
    let checkpoint = checkpoint.map(|(signature_valid, cp)| {
        let complete = !repeated && u64::try_from(leaves.len()).is_ok_and(|n| n == cp.size);
        let root = complete.then(|| {
            let (mut f, mut made) = (Frontier::default(), Vec::new());
            for i in 0..cp.size {
                if let Some(h) = leaves.get(&i) {
                    f.push(*h, &mut made);
                }
                made.clear();
            }
            f.root()
        });
        CheckpointCheck {
            tree_size: cp.size,
            signature_valid: *signature_valid,
            root_matches: root == Some(cp.root),
            log_problem: (!complete).then_some("log_incomplete"),
        }
    });
    let ok = broken == 0 && checkpoint.as_ref().is_none_or(|c| c.signature_valid && c.root_matches);
    Ok(ExportVerification { ok, checked, broken, first_broken, checkpoint })
}

/// Checks a consistency proof between two signed checkpoints an auditor kept.
#[derive(Debug, Serialize)]
pub struct ConsistencyCheck {
    /// Both verdicts hold.
    pub ok: bool,
    /// The older note's size.
    pub from: u64,
    /// The newer note's size.
    pub to: u64,
    /// Both notes are signed by the key given.
    pub signatures_valid: bool,
    /// The proof shows the older tree to be a prefix of the newer.
    pub proof_valid: bool,
}

/// A consistency proof as the API answers it (`GET /api/v1/audit/consistency`).
#[derive(Debug)]
pub struct ConsistencyProof {
    /// The size it claims to start from (any JSON integer: compared, not trusted).
    pub from: i128,
    /// The size it claims to reach.
    pub to: i128,
    /// The proof's hashes.
    pub proof: Vec<crate::domain::merkle::Hash>,
}

/// Reads a proof file's text: `{"from": m, "to": n, "proof": ["<64 hex>", …]}`.
pub fn read_consistency_proof(text: &str) -> Result<ConsistencyProof, String> {
    use serde_json::Value;
    let Ok(doc) = serde_json::from_str::<Value>(text) else { return Err("not JSON".into()) };
    let integer = |name: &str| {
        let v = doc.get(name)?;
        v.as_i64().map(i128::from).or_else(|| v.as_u64().map(i128::from))
    };
    let (Some(from), Some(to), Some(proof)) =
        (integer("from"), integer("to"), doc.get("proof").and_then(Value::as_array))
    else {
        return Err("expected from, to and proof".into());
    };
    let proof = proof
        .iter()
        .map(|h| h.as_str().and_then(crate::domain::merkle::from_hex))
        .collect::<Option<Vec<_>>>()
        .ok_or("a proof element is not 64 hex digits")?;
    Ok(ConsistencyProof { from, to, proof })
}

/// Verifies a consistency proof between two notes already opened (`open_checkpoint`).
pub fn verify_consistency(
    (old_signed, old): &(bool, Checkpoint),
    (new_signed, new): &(bool, Checkpoint),
    proof: &ConsistencyProof,
) -> ConsistencyCheck {
    use crate::domain::merkle;
    let sizes_match = proof.from == i128::from(old.size) && proof.to == i128::from(new.size);
    let proof_valid = sizes_match && merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &proof.proof);
    let signatures_valid = *old_signed && *new_signed;
    ConsistencyCheck {
        ok: signatures_valid && proof_valid,
        from: old.size,
        to: new.size,
        signatures_valid,
        proof_valid,
    }
}
