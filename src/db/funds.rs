//! Funds, their sources, and their balances (read from the ledger's accounts).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Db;
use super::schema::{accounts, fund_sources, funds};
use super::write::Tx;
use crate::error::Error;

/// A fund as stored; its money is in the ledger, not here.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = funds)]
#[allow(missing_docs)]
pub struct FundRow {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub year: i32,
    pub org_id: Uuid,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A source of a fund's money.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = fund_sources)]
#[allow(missing_docs)]
pub struct SourceRow {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub kind: String,
    pub amount: Decimal,
    pub matching_ratio: Option<Decimal>,
    pub description: String,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub reference: String,
}

/// These sources.
pub fn sources_by_id(conn: &mut Db<'_>, ids: &[Uuid]) -> Result<Vec<SourceRow>, Error> {
    Ok(fund_sources::table.select(SourceRow::as_select()).filter(fund_sources::id.eq_any(ids)).load(conn.pg())?)
}

/// One fund.
pub fn find(conn: &mut Db<'_>, id: Uuid) -> Result<FundRow, Error> {
    Ok(funds::table.select(FundRow::as_select()).filter(funds::id.eq(id)).first(conn.pg())?)
}

/// One fund, locked: every money movement of a fund holds this lock first (lock order, step 2).
pub fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<FundRow, Error> {
    Ok(funds::table.select(FundRow::as_select()).filter(funds::id.eq(id)).for_update().first(tx.pg())?)
}

/// A page of funds in creation order.
pub fn list(
    conn: &mut Db<'_>,
    year: Option<i32>,
    kind: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<FundRow>, Error> {
    let mut q = funds::table.select(FundRow::as_select()).into_boxed();
    if let Some(year) = year {
        q = q.filter(funds::year.eq(year));
    }
    if let Some(kind) = kind {
        q = q.filter(funds::kind.eq(kind.to_owned()));
    }
    if let Some(after) = after {
        q = q.filter(funds::id.gt(after));
    }
    Ok(q.order(funds::id.asc()).limit(limit).load(conn.pg())?)
}

/// Inserts a fund.
pub fn insert(tx: &mut Tx<'_>, row: &FundRow) -> Result<(), Error> {
    diesel::insert_into(funds::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// Writes the fund's name and bumped version (its `ETag`).
pub fn update(tx: &mut Tx<'_>, row: &FundRow) -> Result<(), Error> {
    diesel::update(funds::table.filter(funds::id.eq(row.id)))
        .set((funds::name.eq(&row.name), funds::version.eq(row.version), funds::updated_at.eq(row.updated_at)))
        .execute(tx.pg())?;
    Ok(())
}

/// The balances of a fund's accounts by code.
pub fn balances(conn: &mut Db<'_>, fund_id: Uuid) -> Result<HashMap<String, Decimal>, Error> {
    let rows: Vec<(String, Decimal)> = accounts::table
        .select((accounts::code, accounts::balance))
        .filter(accounts::fund_id.eq(fund_id))
        .load(conn.pg())?;
    Ok(rows.into_iter().collect())
}

/// The balances of several funds' accounts, by fund then code.
pub fn balances_of(conn: &mut Db<'_>, fund_ids: &[Uuid]) -> Result<HashMap<Uuid, HashMap<String, Decimal>>, Error> {
    let rows: Vec<(Option<Uuid>, String, Decimal)> = accounts::table
        .select((accounts::fund_id, accounts::code, accounts::balance))
        .filter(accounts::fund_id.eq_any(fund_ids))
        .load(conn.pg())?;
    let mut out: HashMap<Uuid, HashMap<String, Decimal>> = HashMap::new();
    for (fund, code, balance) in rows {
        if let Some(fund) = fund {
            out.entry(fund).or_default().insert(code, balance);
        }
    }
    Ok(out)
}

/// A fund's sources, in creation order.
pub fn sources(conn: &mut Db<'_>, fund_id: Uuid, after: Option<Uuid>, limit: i64) -> Result<Vec<SourceRow>, Error> {
    let mut q =
        fund_sources::table.select(SourceRow::as_select()).filter(fund_sources::fund_id.eq(fund_id)).into_boxed();
    if let Some(after) = after {
        q = q.filter(fund_sources::id.gt(after));
    }
    Ok(q.order(fund_sources::id.asc()).limit(limit).load(conn.pg())?)
}

/// What the matching rule reads of a fund's sources (`domain::funds::Matching`).
#[derive(Debug, Clone, QueryableByName)]
pub struct MatchingSource {
    /// The fund.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub fund_id: Uuid,
    /// `upper_allocation` or `local_matching`.
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    /// The allocation's amount, or the fund's local matching in all.
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub amount: rust_decimal::Decimal,
    /// The allocation's required matching ratio.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    pub matching_ratio: Option<rust_decimal::Decimal>,
}

/// The sources the matching rule reads, for several funds: each upper allocation (its
/// requirement is rounded one by one, as its documents state it) and each fund's local matching
/// summed. A fund's read no longer loads every source it ever had (18 ms at 6,789 sources), only
/// its allocations, through the (fund_id, kind) index.
pub fn matching_sources(conn: &mut Db<'_>, fund_ids: &[Uuid]) -> Result<Vec<MatchingSource>, Error> {
    Ok(diesel::sql_query(
        "SELECT fund_id, kind, amount, matching_ratio FROM fund_sources \
          WHERE fund_id = ANY($1) AND kind = 'upper_allocation' \
         UNION ALL \
         SELECT fund_id, 'local_matching', sum(amount), NULL FROM fund_sources \
          WHERE fund_id = ANY($1) AND kind = 'local_matching' GROUP BY fund_id",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(fund_ids)
    .load(conn.pg())?)
}

/// The fund's source with this document reference, if any.
pub fn source_by_reference(conn: &mut Db<'_>, fund_id: Uuid, reference: &str) -> Result<Option<SourceRow>, Error> {
    Ok(fund_sources::table
        .select(SourceRow::as_select())
        .filter(fund_sources::fund_id.eq(fund_id).and(fund_sources::reference.eq(reference)))
        .first(conn.pg())
        .optional()?)
}

/// Inserts a source.
pub fn insert_source(tx: &mut Tx<'_>, row: &SourceRow) -> Result<(), Error> {
    diesel::insert_into(fund_sources::table).values(row).execute(tx.pg())?;
    Ok(())
}
