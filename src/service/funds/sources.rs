//! Money received from a fund's sources: an upper allocation, local matching, an
//! appropriation — each a journal entry (`domain::funds::source_entry`) and an audit event.

use uuid::Uuid;

use super::{source_view, stream};
use crate::db::funds::{FundRow, SourceRow};
use crate::db::write::{self, Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::funds::{SourceKind, check_source, source_entry};
use crate::domain::ids::FundId;
use crate::domain::money::{Money, Ratio};
use crate::error::Error;
use crate::service::check_if_match;

/// A new source, validated.
#[derive(Debug)]
pub struct NewSource {
    /// Kind.
    pub kind: SourceKind,
    /// Amount (positive).
    pub amount: Money,
    /// Matching ratio (upper allocations only).
    pub matching_ratio: Option<Ratio>,
    /// Description.
    pub description: String,
    /// The sender's document reference: a second source with it in the same fund is a 409
    /// `duplicate_reference` (a retry under a new key, not new money).
    pub reference: String,
}

/// Records money received from a source (a journal entry: funding ← source).
/// `If-Match` is optional here: sources are added by systems that retry with an idempotency
/// key; when given, it must be current. The source's `reference` is unique within the fund.
#[tracing::instrument(skip_all, fields(fund.id = %fund_id))]
pub async fn add_source(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    fund_id: FundId,
    cmd: NewSource,
) -> Result<Stored, Error> {
    let fund_id = fund_id.uuid();
    let pool = pool.clone();
    crate::service::blocking(move || add_source_now(&pool, &ctx, idem.as_ref(), if_match.as_deref(), fund_id, cmd))
        .await
}

/// Records a source on the calling thread.
pub fn add_source_now(
    pool: &Pool,
    ctx: &WriteCtx,
    idem: Option<&Idempotency>,
    if_match: Option<&str>,
    fund_id: Uuid,
    cmd: NewSource,
) -> Result<Stored, Error> {
    check_source(cmd.kind, cmd.amount, cmd.matching_ratio)?;
    write::execute(pool, ctx, idem, |tx| {
        crate::service::books::ensure_fund_open(tx, fund_id)?;
        let mut fund = db::funds::lock(tx, fund_id)?;
        if if_match.is_some() {
            check_if_match(if_match, fund.version)?;
        }
        let row = post_source(tx, &mut fund, cmd)?;
        Ok(Answer { status: 201, etag: None, body: source_view(row)? })
    })
}

/// Records money received from a source inside a write, on a fund the caller has locked:
/// the journal entry (funding ← source), the source row, a new version of the fund, the event.
pub fn post_source(tx: &mut Tx<'_>, fund: &mut FundRow, cmd: NewSource) -> Result<SourceRow, Error> {
    let fund_id = fund.id;
    // The fund is locked, so no other writer can record this reference between here and the insert
    // (the UNIQUE constraint refuses it anyway).
    if db::funds::source_by_reference(tx.db(), fund_id, &cmd.reference)?.is_some() {
        return Err(Error::duplicate_reference());
    }
    let entry = source_entry(fund_id, cmd.kind, cmd.amount)?;
    let id = Uuid::now_v7();
    let entry_id = tx.post(&entry, Some(fund_id), "fund_source", id)?;
    let row = SourceRow {
        id,
        fund_id,
        kind: cmd.kind.as_str().into(),
        amount: cmd.amount.as_decimal(),
        matching_ratio: cmd.matching_ratio.map(|r| r.as_decimal()),
        description: cmd.description,
        entry_id,
        created_at: tx.ctx().now,
        reference: cmd.reference,
    };
    db::funds::insert_source(tx, &row)?;
    fund.version += 1;
    fund.updated_at = tx.ctx().now;
    db::funds::update(tx, fund)?;
    tx.record(Event {
        org_id: Some(fund.org_id),
        fund_id: Some(fund_id),
        amount: Some(row.amount),
        entry_id: Some(entry_id),
        after: Some(serde_json::json!({"kind": row.kind, "reference": row.reference,
            "matching_ratio": row.matching_ratio.map(|r| r.normalize().to_string())})),
        ..Event::new(stream(fund_id), "fund.source_added", "fund_source", id)
    });
    Ok(row)
}
