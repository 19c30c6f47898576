//! Township grants as stored.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Db;
use super::schema::township_grants as tg;
use super::write::Tx;
use crate::error::Error;

/// A grant as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = tg, treat_none_as_null = true, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct GrantRow {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub org_id: Uuid,
    pub year: i32,
    pub basis: String,
    pub purpose: String,
    pub work_plan: Option<String>,
    pub members: Option<i32>,
    pub requested_amount: Decimal,
    pub approved_amount: Option<Decimal>,
    pub status: String,
    pub created_by: Uuid,
    pub submitted_by: Option<Uuid>,
    pub reviewed_by: Option<Uuid>,
    pub approved_by: Option<Uuid>,
    pub item_id: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Inserts grants.
pub fn insert(tx: &mut Tx<'_>, rows: &[GrantRow]) -> Result<(), Error> {
    diesel::insert_into(tg::table).values(rows).execute(tx.pg())?;
    Ok(())
}

/// One grant.
pub fn find(conn: &mut Db<'_>, id: Uuid) -> Result<GrantRow, Error> {
    Ok(tg::table.select(GrantRow::as_select()).filter(tg::id.eq(id)).first(conn.pg())?)
}

/// One grant, locked.
pub fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<GrantRow, Error> {
    Ok(tg::table.select(GrantRow::as_select()).filter(tg::id.eq(id)).for_update().first(tx.pg())?)
}

/// Writes every column of a grant.
pub fn update(tx: &mut Tx<'_>, row: &GrantRow) -> Result<(), Error> {
    diesel::update(tg::table.filter(tg::id.eq(row.id))).set(row).execute(tx.pg())?;
    Ok(())
}

/// A page of grants in creation order.
pub fn list(
    conn: &mut Db<'_>,
    org: Option<Uuid>,
    fund: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<GrantRow>, Error> {
    let mut q = tg::table.select(GrantRow::as_select()).into_boxed();
    if let Some(org) = org {
        q = q.filter(tg::org_id.eq(org));
    }
    if let Some(fund) = fund {
        q = q.filter(tg::fund_id.eq(fund));
    }
    if let Some(after) = after {
        q = q.filter(tg::id.gt(after));
    }
    Ok(q.order(tg::id.asc()).limit(limit).load(conn.pg())?)
}
