//! One stage written for many items at once: a campaign's bank batch, a formula allocation.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::stream;
use crate::db;
use crate::db::items::MovementRow;
use crate::db::write::{Event, Tx};
use crate::domain::items::MovementKind;
use crate::domain::ledger::{AccountRef, JournalEntry};
use crate::domain::money::Money;
use crate::error::Error;

pub(crate) fn movement(tx: &Tx<'_>, item: Uuid, kind: MovementKind, amount: Decimal) -> MovementRow {
    MovementRow {
        id: Uuid::now_v7(),
        item_id: item,
        kind: kind.as_str().into(),
        amount,
        payee: None,
        method: None,
        description: None,
        voucher_no: None,
        lines_json: None,
        entry_id: Uuid::nil(),
        actor: tx.ctx().actor(),
        request_id: tx.ctx().request_id.clone(),
        created_at: tx.ctx().now,
        carried_to: None,
    }
}

/// Writes one batch stage for many items: one journal entry for the total (cited by every
/// movement), the movements, the items' new versions, and an audit event per item.
pub(crate) fn post_batch(
    tx: &mut Tx<'_>,
    (entity_type, entity_id): (&'static str, Uuid),
    fund_id: Uuid,
    entry: &JournalEntry,
    moves: Vec<(Uuid, Uuid, MovementRow)>,
    action: &'static str,
    stage: &'static str,
) -> Result<Uuid, Error> {
    let entry_id = tx.post(entry, Some(fund_id), entity_type, entity_id)?;
    let mut rows = Vec::with_capacity(moves.len());
    for (item, org, mut m) in moves {
        m.entry_id = entry_id;
        tx.record(Event {
            org_id: Some(org),
            fund_id: Some(fund_id),
            stage: Some(stage),
            amount: Some(m.amount),
            entry_id: Some(entry_id),
            after: Some(
                serde_json::json!({"movement": m.id, "kind": m.kind, "batch": {"type": entity_type, "id": entity_id}}),
            ),
            ..Event::new(stream(fund_id), action, "item", item)
        });
        rows.push(m);
    }
    let ids: Vec<Uuid> = rows.iter().map(|m| m.item_id).collect();
    db::items::insert_movements(tx, &rows)?;
    let now = tx.ctx().now;
    db::items::touch_many(tx, &ids, now)?;
    Ok(entry_id)
}

/// A transfer of a batch's total between two accounts of one fund.
pub(crate) fn batch_transfer(
    kind: &str,
    memo: &str,
    fund: Uuid,
    from: &str,
    to: &str,
    amount: Decimal,
) -> Result<JournalEntry, Error> {
    let amount = Money::from_decimal(amount).map_err(|_| Error::internal(format!("batch total {amount}")))?;
    Ok(JournalEntry::transfer(kind, memo, AccountRef::of_fund(fund, from), AccountRef::of_fund(fund, to), amount)?)
}
