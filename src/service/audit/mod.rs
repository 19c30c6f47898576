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
    BothWitnessed, BrokenEvent, BundleCheck, BundledEvent, CheckpointCheck, ConsistencyCheck, ExportVerification,
    KeptNote, open_checkpoint, read_policy, read_problem, read_verifier_key, verify_bundle, verify_consistency,
    verify_export, verify_export_against,
};
pub use self::views::{BrokenView, CheckpointView, CosignatureView, EventView, VerifyView};
use super::{Listed, Page};
use crate::db::chain::{self, CheckpointRow, EventFilter, KeptCheckpoint};
use crate::db::{Db, Pool, cosignatures};
use crate::domain::DomainError;
pub use crate::domain::audit_export::{ConsistencyProof, EXPORT_COLUMNS, read_consistency_proof};
use crate::domain::note::LogSigner;
use crate::domain::witness::Bundle;
use crate::error::Error;
use crate::service::witnessing::Witnesses;

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
/// that the signed tree covers the trail as it stands; then it goes to the witnesses, and the
/// answer carries the cosignatures they gave.
pub async fn checkpoint(pool: &Pool, signer: Arc<LogSigner>, witnesses: &Witnesses) -> Result<CheckpointView, Error> {
    let row = super::read(pool, move |conn| {
        crate::db::log::sequence_all(conn, super::now(), true)?;
        chain::take_checkpoint(conn, super::now(), &signer)
    })
    .await?;
    witnesses.cosign(pool, &row).await;
    let id = row.id;
    let cosigned = super::read(pool, move |conn| cosignatures::of(conn, &[id])).await?;
    Ok(CheckpointView::of(row, cosigned.get(&id).cloned().unwrap_or_default()))
}

/// Checkpoints with their cosignatures.
fn with_cosignatures(conn: &mut Db<'_>, rows: Vec<CheckpointRow>) -> Result<Vec<CheckpointView>, Error> {
    let mut cosigned = cosignatures::of(conn, &rows.iter().map(|r| r.id).collect::<Vec<_>>())?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let c = cosigned.remove(&r.id).unwrap_or_default();
            CheckpointView::of(r, c)
        })
        .collect())
}

/// The newest checkpoint.
pub async fn latest_checkpoint(pool: &Pool) -> Result<CheckpointView, Error> {
    super::read(pool, |conn| {
        let rows = chain::list_checkpoints(conn, None, 1)?;
        with_cosignatures(conn, rows)?.into_iter().next().ok_or(Error::NotFound)
    })
    .await
}

/// A page of checkpoints, newest first.
pub async fn list_checkpoints(pool: &Pool, page: Page) -> Result<Listed<CheckpointView>, Error> {
    let before = page.seq_cursor()?;
    super::read(pool, move |conn| {
        let rows = chain::list_checkpoints(conn, before, page.fetch())?;
        let views = with_cosignatures(conn, rows)?;
        Ok(Listed::from_rows(views, &page, |v| v.id.to_string(), |v| v))
    })
    .await
}

/// The C2SP tlog-proof bundle of one event: its export line (as the bundle's extra data), its
/// index, its inclusion proof in the tree of a signed checkpoint, and that checkpoint's note
/// with its cosignatures — what an auditor keeps for a payment and checks offline
/// (`unionfund audit verify-proof`). The checkpoint is the newest one, or the one of
/// `tree_size`; 409 `not_yet_checkpointed` when no checkpoint holds the event yet.
pub async fn proof_bundle(pool: &Pool, seq: i64, tree_size: Option<i64>) -> Result<String, Error> {
    super::read(pool, move |conn| {
        let Some(&index) = crate::db::log::positions(conn, &[seq])?.get(&seq) else {
            // Not sequenced yet, so in no checkpoint yet (taking one sequences it first).
            return Err(if seq > 0 && !chain::batch(conn, seq - 1, seq, 1)?.is_empty() {
                not_checkpointed()
            } else {
                Error::NotFound
            });
        };
        let cp = match tree_size {
            Some(size) => chain::checkpoint_of_size(conn, size)?.ok_or_else(|| {
                Error::from(DomainError::conflict("tree_size_unavailable", "no signed checkpoint has this tree size"))
            })?,
            None => chain::list_checkpoints(conn, None, 1)?.into_iter().next().ok_or_else(not_checkpointed)?,
        };
        let (Some(size), Some(note)) = (cp.tree_size, cp.note.clone()) else { return Err(not_checkpointed()) };
        if size <= index {
            return Err(match tree_size {
                Some(_) => DomainError::conflict("not_in_tree", "the event came after this checkpoint").into(),
                None => not_checkpointed(),
            });
        }
        let row = chain::batch(conn, seq - 1, seq, 1)?.into_iter().next().ok_or(Error::NotFound)?;
        let line = serde_json::to_string(&EventView::of(row, Some(index))).map_err(Error::internal)?;
        let (index, size) =
            (u64::try_from(index).map_err(Error::internal)?, u64::try_from(size).map_err(Error::internal)?);
        let proof = super::log::inclusion_hashes(conn, index, size)?;
        let cosigned = cosignatures::of(conn, &[cp.id])?.remove(&cp.id).unwrap_or_default();
        let note = crate::service::witnessing::cosigned_note(&note, &cosigned);
        Ok(Bundle { extra: line.into_bytes(), index, proof, note }.to_text())
    })
    .await
}

fn not_checkpointed() -> Error {
    DomainError::conflict(
        "not_yet_checkpointed",
        "no signed checkpoint holds this event yet; take one (POST /api/v1/audit/checkpoints) or wait for the next",
    )
    .into()
}
