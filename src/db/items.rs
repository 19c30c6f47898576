//! Items and their movements. An item's figures are sums of its movements, read here.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Db;
use super::schema::{item_movements, items};
use super::write::Tx;
use crate::domain::items::{ItemFigures, MovementKind};
use crate::error::Error;

/// An item as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = items, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct ItemRow {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub org_id: Uuid,
    pub origin_type: String,
    pub origin_id: Uuid,
    pub approved_amount: Decimal,
    pub settled_at: Option<DateTime<Utc>>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One movement of an item's money.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = item_movements, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct MovementRow {
    pub id: Uuid,
    pub item_id: Uuid,
    pub kind: String,
    pub amount: Decimal,
    pub payee: Option<String>,
    pub method: Option<String>,
    pub description: Option<String>,
    pub voucher_no: Option<String>,
    pub lines_json: Option<String>,
    pub entry_id: Uuid,
    pub actor: String,
    pub request_id: String,
    pub created_at: DateTime<Utc>,
    pub carried_to: Option<Uuid>,
}

/// One item.
pub fn find(conn: &mut Db<'_>, id: Uuid) -> Result<ItemRow, Error> {
    Ok(items::table.select(ItemRow::as_select()).filter(items::id.eq(id)).first(conn.pg())?)
}

/// Several items, in id order.
pub fn find_many(conn: &mut Db<'_>, ids: &[Uuid]) -> Result<Vec<ItemRow>, Error> {
    Ok(items::table
        .select(ItemRow::as_select())
        .filter(items::id.eq_any(ids))
        .order(items::id.asc())
        .load(conn.pg())?)
}

/// One item, locked (after its fund: lock order, step 2).
pub fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<ItemRow, Error> {
    Ok(items::table.select(ItemRow::as_select()).filter(items::id.eq(id)).for_update().first(tx.pg())?)
}

/// Inserts items (one per approved case; a campaign's beneficiaries together).
pub fn insert(tx: &mut Tx<'_>, rows: &[ItemRow]) -> Result<(), Error> {
    super::write::insert_rows!(tx, items::table, rows)
}

/// Writes an item's bumped version (and its settlement).
pub fn update(tx: &mut Tx<'_>, row: &ItemRow) -> Result<(), Error> {
    diesel::update(items::table.filter(items::id.eq(row.id)))
        .set((
            items::version.eq(row.version),
            items::updated_at.eq(row.updated_at),
            items::settled_at.eq(row.settled_at),
        ))
        .execute(tx.pg())?;
    Ok(())
}

/// Inserts movements.
pub fn insert_movements(tx: &mut Tx<'_>, rows: &[MovementRow]) -> Result<(), Error> {
    super::write::insert_rows!(tx, item_movements::table, rows)
}

/// An item's movements, oldest first.
pub fn movements(conn: &mut Db<'_>, item_id: Uuid) -> Result<Vec<MovementRow>, Error> {
    Ok(item_movements::table
        .select(MovementRow::as_select())
        .filter(item_movements::item_id.eq(item_id))
        .order(item_movements::id.asc())
        .load(conn.pg())?)
}

/// The figures of several items, summed by the database.
pub fn figures_of(conn: &mut Db<'_>, rows: &[&ItemRow]) -> Result<HashMap<Uuid, ItemFigures>, Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let sums: Vec<(Uuid, String, Option<Decimal>)> = item_movements::table
        .filter(item_movements::item_id.eq_any(&ids))
        .group_by((item_movements::item_id, item_movements::kind))
        .select((item_movements::item_id, item_movements::kind, diesel::dsl::sum(item_movements::amount)))
        .load(conn.pg())?;
    figures_from(rows.iter().copied(), sums)
}

fn figures_from<'a>(
    rows: impl Iterator<Item = &'a ItemRow>,
    sums: Vec<(Uuid, String, Option<Decimal>)>,
) -> Result<HashMap<Uuid, ItemFigures>, Error> {
    let mut out: HashMap<Uuid, ItemFigures> = rows
        .map(|r| {
            let f = ItemFigures { approved: r.approved_amount, settled: r.settled_at.is_some(), ..Default::default() };
            (r.id, f)
        })
        .collect();
    for (item, kind, sum) in sums {
        let kind = MovementKind::parse(&kind).ok_or_else(|| Error::internal(format!("bad movement kind {kind}")))?;
        if let Some(f) = out.get_mut(&item) {
            f.add(kind, sum.unwrap_or_default());
        }
    }
    Ok(out)
}

/// The figures of one item.
pub fn figures(conn: &mut Db<'_>, row: &ItemRow) -> Result<ItemFigures, Error> {
    figures_of(conn, &[row])?.remove(&row.id).ok_or_else(|| Error::internal("item figures missing"))
}

/// A page of items in creation order.
pub fn list(
    conn: &mut Db<'_>,
    org: Option<Uuid>,
    fund: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ItemRow>, Error> {
    let mut q = items::table.select(ItemRow::as_select()).into_boxed();
    if let Some(org) = org {
        q = q.filter(items::org_id.eq(org));
    }
    if let Some(fund) = fund {
        q = q.filter(items::fund_id.eq(fund));
    }
    if let Some(after) = after {
        q = q.filter(items::id.gt(after));
    }
    Ok(q.order(items::id.asc()).limit(limit).load(conn.pg())?)
}

/// The ledger's view of an item: the sum of its entries' postings per account code of its fund
/// (debit positive; a carry-over's legs in next year's fund are left out), for the trace's
/// reconciliation.
pub fn ledger_by_account(conn: &mut Db<'_>, item_id: Uuid, fund_id: Uuid) -> Result<Vec<(String, Decimal)>, Error> {
    use super::schema::{accounts, journal_entries, postings};
    let rows: Vec<(String, Option<Decimal>)> = postings::table
        .inner_join(journal_entries::table)
        .inner_join(accounts::table)
        .filter(journal_entries::entity_type.eq("item").and(journal_entries::entity_id.eq(item_id)))
        .filter(accounts::fund_id.eq(fund_id))
        .group_by(accounts::code)
        .select((accounts::code, diesel::dsl::sum(postings::amount)))
        .order(accounts::code.asc())
        .load(conn.pg())?;
    Ok(rows.into_iter().map(|(c, s)| (c, s.unwrap_or_default())).collect())
}

/// Locks many items (after their fund), in id order so that two batches cannot deadlock.
pub fn lock_many(tx: &mut Tx<'_>, ids: &[Uuid]) -> Result<Vec<ItemRow>, Error> {
    Ok(items::table
        .select(ItemRow::as_select())
        .filter(items::id.eq_any(ids))
        .order(items::id.asc())
        .for_update()
        .load(tx.pg())?)
}

/// Bumps the version of many items at once (a batch stage).
pub fn touch_many(tx: &mut Tx<'_>, ids: &[Uuid], now: DateTime<Utc>) -> Result<(), Error> {
    diesel::update(items::table.filter(items::id.eq_any(ids)))
        .set((items::version.eq(items::version + 1), items::updated_at.eq(now)))
        .execute(tx.pg())?;
    Ok(())
}

/// For each journal entry: what it debits to the stage accounts (`available`, `committed`,
/// `paid_out`, `spent`; the `returned` memo pair is left out), and what the movements citing it
/// add up to. The two agree for every entry the item stages write, whether the entry serves one
/// item or a whole campaign batch.
pub fn entry_totals(conn: &mut Db<'_>, entry_ids: &[Uuid]) -> Result<Vec<EntryTotal>, Error> {
    Ok(diesel::sql_query(
        "SELECT e.id AS entry_id, e.entity_id, \
                coalesce((SELECT sum(p.amount) FROM postings p JOIN accounts a ON a.id = p.account_id \
                          WHERE p.entry_id = e.id AND p.amount > 0 \
                            AND a.code IN ('available', 'committed', 'paid_out', 'spent')), 0) AS debits, \
                coalesce((SELECT sum(m.amount) FROM item_movements m WHERE m.entry_id = e.id), 0) AS moved \
         FROM journal_entries e WHERE e.id = ANY($1) ORDER BY e.id",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(entry_ids)
    .load(conn.pg())?)
}

/// One entry's totals (see [`entry_totals`]).
#[derive(Debug, QueryableByName)]
pub struct EntryTotal {
    /// The entry.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub entry_id: Uuid,
    /// What it was posted for: the item, or the campaign of a batch.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub entity_id: Uuid,
    /// Its debits to the stage accounts.
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub debits: Decimal,
    /// The movements citing it, summed.
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub moved: Decimal,
}

/// Which of these voucher numbers already back a use report of the fund.
pub fn vouchers_taken(conn: &mut Db<'_>, fund_id: Uuid, numbers: &[String]) -> Result<Vec<String>, Error> {
    use super::schema::item_vouchers as v;
    Ok(v::table
        .filter(v::fund_id.eq(fund_id))
        .filter(v::voucher_no.eq_any(numbers))
        .select(v::voucher_no)
        .order(v::voucher_no.asc())
        .load(conn.pg())?)
}

/// Records the voucher numbers a use report relies on (the primary key refuses a repeat).
pub fn insert_vouchers(tx: &mut Tx<'_>, fund_id: Uuid, movement_id: Uuid, numbers: &[String]) -> Result<(), Error> {
    use super::schema::item_vouchers as v;
    let rows: Vec<_> =
        numbers.iter().map(|n| (v::fund_id.eq(fund_id), v::voucher_no.eq(n), v::movement_id.eq(movement_id))).collect();
    diesel::insert_into(v::table).values(&rows).execute(tx.pg())?;
    Ok(())
}
