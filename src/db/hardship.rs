//! Hardship applications as stored: personal data sealed, with masked forms and a keyed hash.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Db;
use super::schema::hardship_applications as ha;
use super::write::Tx;
use crate::error::Error;

/// An application as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = ha, treat_none_as_null = true)]
#[allow(missing_docs)]
pub struct ApplicationRow {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub org_id: Uuid,
    pub year: i32,
    pub worker_name: String,
    pub id_number_sealed: String,
    pub id_number_hash: String,
    pub id_number_masked: String,
    pub phone_sealed: Option<String>,
    pub phone_masked: Option<String>,
    pub bank_account_sealed: Option<String>,
    pub bank_account_masked: Option<String>,
    pub category: String,
    pub level: String,
    pub household_members: Option<i32>,
    pub household_monthly_income: Option<Decimal>,
    pub household_notes: Option<String>,
    pub requested_amount: Decimal,
    pub approved_amount: Option<Decimal>,
    pub reason: String,
    pub status: String,
    pub created_by: Uuid,
    pub submitted_by: Option<Uuid>,
    pub reviewed_by: Option<Uuid>,
    pub approved_by: Option<Uuid>,
    pub duplicate_override_by: Option<Uuid>,
    pub duplicate_override_reason: Option<String>,
    pub item_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub campaign_id: Option<Uuid>,
}

/// Inserts an application.
pub fn insert(tx: &mut Tx<'_>, row: &ApplicationRow) -> Result<(), Error> {
    diesel::insert_into(ha::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// One application.
pub fn find(conn: &mut Db<'_>, id: Uuid) -> Result<ApplicationRow, Error> {
    Ok(ha::table.select(ApplicationRow::as_select()).filter(ha::id.eq(id)).first(conn.pg())?)
}

/// One application, locked.
pub fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<ApplicationRow, Error> {
    Ok(ha::table.select(ApplicationRow::as_select()).filter(ha::id.eq(id)).for_update().first(tx.pg())?)
}

/// Writes every column of an application (its id stays).
pub fn update(tx: &mut Tx<'_>, row: &ApplicationRow) -> Result<(), Error> {
    diesel::update(ha::table.filter(ha::id.eq(row.id))).set(row).execute(tx.pg())?;
    Ok(())
}

/// A page of applications in creation order.
pub fn list(
    conn: &mut Db<'_>,
    org: Option<Uuid>,
    status: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<ApplicationRow>, Error> {
    let mut q = ha::table.select(ApplicationRow::as_select()).into_boxed();
    if let Some(org) = org {
        q = q.filter(ha::org_id.eq(org));
    }
    if let Some(status) = status {
        q = q.filter(ha::status.eq(status.to_owned()));
    }
    if let Some(after) = after {
        q = q.filter(ha::id.gt(after));
    }
    Ok(q.order(ha::id.asc()).limit(limit).load(conn.pg())?)
}

/// Serialises every check of one person's aid in a year for the rest of the transaction (two
/// applications of the same worker submitted at once would otherwise both see none active).
pub fn lock_person(tx: &mut Tx<'_>, id_number_hash: &str, year: i32) -> Result<(), Error> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtextextended($1, $2))")
        .bind::<diesel::sql_types::Text, _>(id_number_hash)
        .bind::<diesel::sql_types::BigInt, _>(i64::from(year))
        .execute(tx.pg())?;
    Ok(())
}

/// Other applications of the same person in the same year that are active aid (submitted,
/// reviewed or approved).
pub fn active_for_person(conn: &mut Db<'_>, id_number_hash: &str, year: i32, except: Uuid) -> Result<Vec<Uuid>, Error> {
    Ok(ha::table
        .select(ha::id)
        .filter(ha::id_number_hash.eq(id_number_hash))
        .filter(ha::year.eq(year))
        .filter(ha::id.ne(except))
        .filter(ha::status.eq_any(["submitted", "reviewed", "approved"]))
        .order(ha::id.asc())
        .load(conn.pg())?)
}
