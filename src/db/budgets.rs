//! Budget lines, appropriations against them, basic expenditure, and fixed assets.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Db;
use super::schema::{appropriations, budget_lines, fixed_assets, line_expenditures};
use super::write::Tx;
use crate::error::Error;

/// A budget line as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = budget_lines, treat_none_as_null = true)]
#[allow(missing_docs)]
pub struct LineRow {
    pub id: Uuid,
    pub year: i32,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<Uuid>,
    pub budget: Decimal,
    pub fund_id: Option<Uuid>,
    pub variance_explanation: String,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An appropriation as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = appropriations)]
#[allow(missing_docs)]
pub struct AppropriationRow {
    pub id: Uuid,
    pub year: i32,
    pub line_id: Uuid,
    pub source_id: Uuid,
    pub amount: Decimal,
    pub reference: String,
    pub received_on: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A basic expenditure as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = line_expenditures, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct ExpenditureRow {
    pub id: Uuid,
    pub line_id: Uuid,
    pub fund_id: Uuid,
    pub amount: Decimal,
    pub description: String,
    pub voucher_no: Option<String>,
    pub spent_on: NaiveDate,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A fixed asset as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = fixed_assets)]
#[allow(missing_docs)]
pub struct AssetRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub category: String,
    pub name: String,
    pub quantity: i32,
    pub value: Decimal,
    pub acquired_on: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// Serialises changes to a year's lines (a transaction-scoped advisory lock on the year).
pub fn lock_year(tx: &mut Tx<'_>, year: i32) -> Result<(), Error> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext('budget:' || $1::text))")
        .bind::<diesel::sql_types::Int4, _>(year)
        .execute(tx.pg())?;
    Ok(())
}

/// Adds a line.
pub fn insert_line(tx: &mut Tx<'_>, row: &LineRow) -> Result<(), Error> {
    diesel::insert_into(budget_lines::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// Saves a line's mutable fields (name, budget, explanation, version).
pub fn update_line(tx: &mut Tx<'_>, row: &LineRow) -> Result<(), Error> {
    diesel::update(budget_lines::table.find(row.id)).set(row).execute(tx.pg())?;
    Ok(())
}

/// One line of a year.
pub fn find_line(conn: &mut Db<'_>, year: i32, id: Uuid) -> Result<LineRow, Error> {
    Ok(budget_lines::table
        .select(LineRow::as_select())
        .filter(budget_lines::year.eq(year).and(budget_lines::id.eq(id)))
        .first(conn.pg())?)
}

/// One line of a year, locked (lock order: after its fund, when both are locked).
pub fn lock_line(tx: &mut Tx<'_>, year: i32, id: Uuid) -> Result<LineRow, Error> {
    Ok(budget_lines::table
        .select(LineRow::as_select())
        .filter(budget_lines::year.eq(year).and(budget_lines::id.eq(id)))
        .for_update()
        .first(tx.pg())?)
}

/// A line of a year by its code.
pub fn find_line_by_code(conn: &mut Db<'_>, year: i32, code: &str) -> Result<Option<LineRow>, Error> {
    Ok(budget_lines::table
        .select(LineRow::as_select())
        .filter(budget_lines::year.eq(year).and(budget_lines::code.eq(code)))
        .first(conn.pg())
        .optional()?)
}

/// A page of a year's lines in creation order (`limit` may be `i64::MAX` for all).
pub fn lines(conn: &mut Db<'_>, year: i32, after: Option<Uuid>, limit: i64) -> Result<Vec<LineRow>, Error> {
    let mut q = budget_lines::table.select(LineRow::as_select()).filter(budget_lines::year.eq(year)).into_boxed();
    if let Some(after) = after {
        q = q.filter(budget_lines::id.gt(after));
    }
    Ok(q.order(budget_lines::id.asc()).limit(limit).load(conn.pg())?)
}

/// Every year that has budget lines.
pub fn years(conn: &mut Db<'_>) -> Result<Vec<i32>, Error> {
    Ok(budget_lines::table.select(budget_lines::year).distinct().order(budget_lines::year.asc()).load(conn.pg())?)
}

/// Whether some line already carries this fund.
pub fn fund_budgeted(conn: &mut Db<'_>, fund_id: Uuid) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(budget_lines::table.filter(budget_lines::fund_id.eq(fund_id))))
        .get_result(conn.pg())?)
}

/// Adds an appropriation.
pub fn insert_appropriation(tx: &mut Tx<'_>, row: &AppropriationRow) -> Result<(), Error> {
    diesel::insert_into(appropriations::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// The appropriation of a year with this reference, if any.
pub fn appropriation_by_reference(
    conn: &mut Db<'_>,
    year: i32,
    reference: &str,
) -> Result<Option<AppropriationRow>, Error> {
    Ok(appropriations::table
        .select(AppropriationRow::as_select())
        .filter(appropriations::year.eq(year).and(appropriations::reference.eq(reference)))
        .first(conn.pg())
        .optional()?)
}

/// A page of a year's appropriations in the order received.
pub fn appropriations(
    conn: &mut Db<'_>,
    year: i32,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AppropriationRow>, Error> {
    let mut q =
        appropriations::table.select(AppropriationRow::as_select()).filter(appropriations::year.eq(year)).into_boxed();
    if let Some(after) = after {
        q = q.filter(appropriations::id.gt(after));
    }
    Ok(q.order(appropriations::id.asc()).limit(limit).load(conn.pg())?)
}

/// What was appropriated to each line of a year.
pub fn appropriated_by_line(conn: &mut Db<'_>, year: i32) -> Result<HashMap<Uuid, Decimal>, Error> {
    let rows: Vec<(Uuid, Option<Decimal>)> = appropriations::table
        .filter(appropriations::year.eq(year))
        .group_by(appropriations::line_id)
        .select((appropriations::line_id, diesel::dsl::sum(appropriations::amount)))
        .load(conn.pg())?;
    Ok(rows.into_iter().map(|(id, s)| (id, s.unwrap_or_default())).collect())
}

/// Adds a basic expenditure.
pub fn insert_expenditure(tx: &mut Tx<'_>, row: &ExpenditureRow) -> Result<(), Error> {
    diesel::insert_into(line_expenditures::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// Whether a voucher number already backs an expenditure of this fund.
pub fn voucher_used(conn: &mut Db<'_>, fund_id: Uuid, voucher_no: &str) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(
        line_expenditures::table
            .filter(line_expenditures::fund_id.eq(fund_id))
            .filter(line_expenditures::voucher_no.eq(voucher_no)),
    ))
    .get_result(conn.pg())?)
}

/// A page of a line's expenditures.
pub fn expenditures(
    conn: &mut Db<'_>,
    line_id: Uuid,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ExpenditureRow>, Error> {
    let mut q = line_expenditures::table
        .select(ExpenditureRow::as_select())
        .filter(line_expenditures::line_id.eq(line_id))
        .into_boxed();
    if let Some(after) = after {
        q = q.filter(line_expenditures::id.gt(after));
    }
    Ok(q.order(line_expenditures::id.asc()).limit(limit).load(conn.pg())?)
}

/// Union fees received into each of these funds (the cash legs of `fee_payment` entries).
pub fn fees_received(conn: &mut Db<'_>, fund_ids: &[Uuid]) -> Result<HashMap<Uuid, Decimal>, Error> {
    use super::schema::{accounts, journal_entries, postings};
    let rows: Vec<(Option<Uuid>, Option<Decimal>)> = postings::table
        .inner_join(journal_entries::table)
        .inner_join(accounts::table)
        .filter(journal_entries::fund_id.eq_any(fund_ids))
        .filter(journal_entries::kind.eq("fee_payment"))
        .filter(accounts::code.eq(crate::domain::fees::accounts::CASH))
        .group_by(journal_entries::fund_id)
        .select((journal_entries::fund_id, diesel::dsl::sum(postings::amount)))
        .load(conn.pg())?;
    Ok(rows.into_iter().filter_map(|(id, s)| id.map(|id| (id, s.unwrap_or_default()))).collect())
}

/// Adds a fixed asset.
pub fn insert_asset(tx: &mut Tx<'_>, row: &AssetRow) -> Result<(), Error> {
    diesel::insert_into(fixed_assets::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// A page of fixed assets in the order recorded; `held_on` keeps those acquired by that day.
pub fn assets(
    conn: &mut Db<'_>,
    held_on: Option<NaiveDate>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<AssetRow>, Error> {
    let mut q = fixed_assets::table.select(AssetRow::as_select()).into_boxed();
    if let Some(day) = held_on {
        q = q.filter(fixed_assets::acquired_on.le(day));
    }
    if let Some(after) = after {
        q = q.filter(fixed_assets::id.gt(after));
    }
    Ok(q.order(fixed_assets::id.asc()).limit(limit).load(conn.pg())?)
}
