//! The export: the whole trail as CSV or NDJSON, streamed one batch at a time.

use bytes::Bytes;
use utoipa::ToSchema;
use uuid::Uuid;

use super::EventView;
use crate::db::Pool;
use crate::db::chain;
use crate::domain::audit_export::EXPORT_COLUMNS;
use crate::error::Error;
use crate::service::csv_out::{Cell, CsvOut};

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Comma-separated, RFC 4180, with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

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
    let to = crate::service::read(&pool, chain::max_seq).await?;
    let mut after = 0;
    let mut header = format == ExportFormat::Csv;
    loop {
        let pool = pool.clone();
        let (chunk, last, n) =
            crate::service::blocking(move || render_batch(&pool, format, after, to, settings.batch_events, header))
                .await?;
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
    permit: crate::service::limits::HeavyPermit,
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
