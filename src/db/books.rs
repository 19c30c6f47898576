//! A year's books as stored: its row (once asked to close), the year locks, and the adjusting
//! entries (journal entries marked with their reason; migration 000016).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int4, Nullable, Numeric, Text, Timestamptz};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Db;
use super::schema::book_years as by;
use super::write::Tx;
use crate::error::Error;

/// A year's books as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = by, treat_none_as_null = true, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct BookYearRow {
    pub id: Uuid,
    pub year: i32,
    pub state: String,
    pub reason: Option<String>,
    pub requested_by: Option<Uuid>,
    pub requested_at: Option<DateTime<Utc>>,
    pub closed_by: Option<Uuid>,
    pub closed_at: Option<DateTime<Utc>>,
    pub rejected_by: Option<Uuid>,
    pub rejected_at: Option<DateTime<Utc>>,
    pub rejection_reason: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(QueryableByName)]
struct YearState {
    #[diesel(sql_type = Int4)]
    year: i32,
    #[diesel(sql_type = Text)]
    state: String,
}

/// Each year's state, with the year's lock taken shared (until commit) before its state is read:
/// a close waits for the writes dated in its year, and a write that waited for a close sees it.
/// `years` sorted and without duplicates, so that locks are always taken in year order.
pub fn lock_shared(tx: &mut Tx<'_>, years: &[i32]) -> Result<Vec<(i32, String)>, Error> {
    let rows: Vec<YearState> = diesel::sql_query(
        "SELECT y AS year, book_year_state(y) AS state FROM unnest($1::int4[]) WITH ORDINALITY AS u(y, o) ORDER BY o",
    )
    .bind::<Array<Int4>, _>(years)
    .load(tx.pg())?;
    Ok(rows.into_iter().map(|r| (r.year, r.state)).collect())
}

/// Takes the year's lock exclusive (until commit): waits for every write dated in the year that
/// is under way, and holds back the next ones until this transaction ends.
pub fn lock_exclusive(tx: &mut Tx<'_>, year: i32) -> Result<(), Error> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(book_year_lock_key($1))").bind::<Int4, _>(year).execute(tx.pg())?;
    Ok(())
}

/// Makes the transaction's journal entries in closed years adjusting entries with this reason
/// (the trigger `journal_entries_period_open` marks them); transaction-local.
pub fn mark_adjusting(tx: &mut Tx<'_>, reason: &str) -> Result<(), Error> {
    diesel::sql_query("SELECT set_config('unionfund.adjusting_reason', $1, true)")
        .bind::<Text, _>(reason)
        .execute(tx.pg())?;
    Ok(())
}

/// The year of a fund, if the fund exists (a fund's year never changes: no lock needed).
pub fn fund_year(conn: &mut Db<'_>, fund_id: Uuid) -> Result<Option<i32>, Error> {
    use super::schema::funds;
    Ok(funds::table.select(funds::year).filter(funds::id.eq(fund_id)).first(conn.pg()).optional()?)
}

/// The year of a campaign's fund, if the campaign exists.
pub fn campaign_year(conn: &mut Db<'_>, campaign_id: Uuid) -> Result<Option<i32>, Error> {
    use super::schema::{funds, hardship_campaigns as hc};
    Ok(hc::table
        .inner_join(funds::table)
        .select(funds::year)
        .filter(hc::id.eq(campaign_id))
        .first(conn.pg())
        .optional()?)
}

/// A year's row, if it was ever asked to close.
pub fn find(conn: &mut Db<'_>, year: i32) -> Result<Option<BookYearRow>, Error> {
    Ok(by::table.select(BookYearRow::as_select()).filter(by::year.eq(year)).first(conn.pg()).optional()?)
}

/// A year's row, locked.
pub fn lock(tx: &mut Tx<'_>, year: i32) -> Result<Option<BookYearRow>, Error> {
    Ok(by::table.select(BookYearRow::as_select()).filter(by::year.eq(year)).for_update().first(tx.pg()).optional()?)
}

/// Inserts a year's row (its first close request).
pub fn insert(tx: &mut Tx<'_>, row: &BookYearRow) -> Result<(), Error> {
    diesel::insert_into(by::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// Writes every column of a year's row.
pub fn update(tx: &mut Tx<'_>, row: &BookYearRow) -> Result<(), Error> {
    diesel::update(by::table.filter(by::id.eq(row.id))).set(row).execute(tx.pg())?;
    Ok(())
}

#[derive(QueryableByName)]
struct Year {
    #[diesel(sql_type = Int4)]
    year: i32,
}

/// Years before `year` that have books (a fund) and are not closed, oldest first.
pub fn earlier_open(conn: &mut Db<'_>, year: i32) -> Result<Vec<i32>, Error> {
    let rows: Vec<Year> = diesel::sql_query(
        "SELECT DISTINCT f.year FROM funds f LEFT JOIN book_years b ON b.year = f.year \
         WHERE f.year < $1 AND coalesce(b.state, 'open') <> 'closed' ORDER BY f.year",
    )
    .bind::<Int4, _>(year)
    .load(conn.pg())?;
    Ok(rows.into_iter().map(|r| r.year).collect())
}

/// A page of the years that have books (a fund) or were asked to close, in order.
pub fn years(conn: &mut Db<'_>, after: Option<i32>, limit: i64) -> Result<Vec<i32>, Error> {
    let rows: Vec<Year> = diesel::sql_query(
        "SELECT year FROM (SELECT year FROM funds UNION SELECT year FROM book_years) y \
         WHERE $1::int4 IS NULL OR year > $1 ORDER BY year LIMIT $2",
    )
    .bind::<Nullable<Int4>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn.pg())?;
    Ok(rows.into_iter().map(|r| r.year).collect())
}

/// The rows of these years (those that have one).
pub fn find_many(conn: &mut Db<'_>, years: &[i32]) -> Result<Vec<BookYearRow>, Error> {
    Ok(by::table.select(BookYearRow::as_select()).filter(by::year.eq_any(years)).load(conn.pg())?)
}

/// How many adjusting entries a year holds, and what they moved (the sum of their debits).
#[derive(Debug, Clone, QueryableByName)]
pub struct AdjustingTotals {
    /// The year.
    #[diesel(sql_type = Int4)]
    pub year: i32,
    /// Adjusting entries.
    #[diesel(sql_type = BigInt)]
    pub entries: i64,
    /// The sum of their debits.
    #[diesel(sql_type = Numeric)]
    pub total: Decimal,
}

/// Adjusting entries per year, for these years (a year without any is absent).
pub fn adjusting_totals(conn: &mut Db<'_>, years: &[i32]) -> Result<Vec<AdjustingTotals>, Error> {
    Ok(diesel::sql_query(
        "SELECT f.year, count(DISTINCT j.id) AS entries, coalesce(sum(p.amount) FILTER (WHERE p.amount > 0), 0) AS total \
         FROM journal_entries j JOIN funds f ON f.id = j.fund_id JOIN postings p ON p.entry_id = j.id \
         WHERE j.adjusting_reason IS NOT NULL AND f.year = ANY($1::int4[]) GROUP BY f.year",
    )
    .bind::<Array<Int4>, _>(years)
    .load(conn.pg())?)
}

/// An adjusting entry as stored, with its size.
#[derive(Debug, Clone, QueryableByName)]
#[allow(missing_docs)]
pub struct AdjustingEntryRow {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub memo: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub fund_id: Uuid,
    #[diesel(sql_type = Text)]
    pub entity_type: String,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub entity_id: Uuid,
    #[diesel(sql_type = Numeric)]
    pub amount: Decimal,
    #[diesel(sql_type = Text)]
    pub adjusting_reason: String,
    #[diesel(sql_type = Text)]
    pub actor: String,
    #[diesel(sql_type = Text)]
    pub request_id: String,
    #[diesel(sql_type = Timestamptz)]
    pub created_at: DateTime<Utc>,
}

/// A page of a year's adjusting entries, oldest first (entry ids are v7: they grow with time).
pub fn adjusting_entries(
    conn: &mut Db<'_>,
    year: i32,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AdjustingEntryRow>, Error> {
    Ok(diesel::sql_query(
        "SELECT j.id, j.kind, j.memo, j.fund_id, j.entity_type, j.entity_id, j.adjusting_reason, j.actor, \
                j.request_id, j.created_at, \
                (SELECT coalesce(sum(p.amount), 0) FROM postings p WHERE p.entry_id = j.id AND p.amount > 0) AS amount \
         FROM journal_entries j JOIN funds f ON f.id = j.fund_id \
         WHERE j.adjusting_reason IS NOT NULL AND f.year = $1 AND ($2::uuid IS NULL OR j.id > $2) \
         ORDER BY j.id LIMIT $3",
    )
    .bind::<Int4, _>(year)
    .bind::<Nullable<diesel::sql_types::Uuid>, _>(after)
    .bind::<BigInt, _>(limit)
    .load(conn.pg())?)
}
