//! The audit trail for auditors: queries, verification, export, checkpoints.
//!
//! Reads and checkpoints are here; what they answer is in `views`, the streamed export in
//! `export`, and the offline verifiers of an export and of a consistency proof in `offline`
//! (their pure parsing is `domain::audit_export`).

mod export;
mod offline;
mod views;

use std::sync::Arc;

pub use self::export::{ExportFormat, ExportSettings, export};
pub use self::offline::{
    BrokenEvent, CheckpointCheck, ConsistencyCheck, ExportVerification, open_checkpoint, read_problem,
    read_verifier_key, verify_consistency, verify_export, verify_export_against,
};
pub use self::views::{BrokenView, CheckpointView, EventView, VerifyView};
use super::{Listed, Page};
use crate::db::Pool;
use crate::db::chain::{self, EventFilter, KeptCheckpoint};
pub use crate::domain::audit_export::{ConsistencyProof, EXPORT_COLUMNS, read_consistency_proof};
use crate::domain::note::LogSigner;
use crate::error::Error;

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
pub async fn checkpoint(pool: &Pool, signer: Arc<LogSigner>) -> Result<CheckpointView, Error> {
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
