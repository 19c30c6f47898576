//! Organisation rows and queries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use super::Db;
use super::schema::orgs;
use super::write::Tx;
use crate::domain::policy::Scope;
use crate::error::Error;

/// An organisation as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, serde::Serialize)]
#[diesel(table_name = orgs)]
#[allow(missing_docs)]
pub struct OrgRow {
    pub id: Uuid,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<Uuid>,
    pub credit_code: Option<String>,
    pub unit_kind: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// A member unit with a union (else it pays the preparatory fee).
    pub has_union: bool,
    /// When its union was founded, if within the books: months before it are preparatory.
    pub union_founded_on: Option<chrono::NaiveDate>,
}

/// Restricts a boxed query to what the scope may see.
macro_rules! scoped {
    ($q:expr, $scope:expr, $col:expr) => {
        match $scope {
            Scope::All => $q,
            Scope::Org(own) => $q.filter($col.eq(own)),
        }
    };
}

/// One organisation, if it exists and the scope sees it.
pub fn find(conn: &mut Db<'_>, scope: Scope, id: Uuid) -> Result<OrgRow, Error> {
    let q = orgs::table.select(OrgRow::as_select()).filter(orgs::id.eq(id)).into_boxed();
    Ok(scoped!(q, scope, orgs::id).first(conn.pg())?)
}

/// Which of these organisations exist.
pub fn existing(conn: &mut Db<'_>, ids: &[Uuid]) -> Result<Vec<Uuid>, Error> {
    Ok(orgs::table.filter(orgs::id.eq_any(ids)).select(orgs::id).load(conn.pg())?)
}

/// One organisation, locked for update.
pub fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<OrgRow, Error> {
    Ok(orgs::table.select(OrgRow::as_select()).filter(orgs::id.eq(id)).for_update().first(tx.pg())?)
}

/// A page of organisations after `after`, in creation order.
pub fn list(
    conn: &mut Db<'_>,
    scope: Scope,
    kind: Option<&str>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<OrgRow>, Error> {
    let mut q = orgs::table.select(OrgRow::as_select()).into_boxed();
    q = scoped!(q, scope, orgs::id);
    if let Some(kind) = kind {
        q = q.filter(orgs::kind.eq(kind.to_owned()));
    }
    if let Some(after) = after {
        q = q.filter(orgs::id.gt(after));
    }
    Ok(q.order(orgs::id.asc()).limit(limit).load(conn.pg())?)
}

/// The only unique column besides the id is the credit code: a violation means it is taken.
fn credit_code_taken(e: diesel::result::Error) -> Error {
    match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            Error::Conflict {
                code: "duplicate_credit_code",
                detail: "another organisation already has this unified social credit code".into(),
            }
        }
        other => other.into(),
    }
}

/// Inserts an organisation. A credit code already used elsewhere is a 409.
pub fn insert(tx: &mut Tx<'_>, row: &OrgRow) -> Result<(), Error> {
    diesel::insert_into(orgs::table).values(row).execute(tx.pg()).map_err(credit_code_taken)?;
    Ok(())
}

/// Writes a changed organisation back (its version already bumped by the caller).
pub fn update(tx: &mut Tx<'_>, row: &OrgRow) -> Result<(), Error> {
    diesel::update(orgs::table.filter(orgs::id.eq(row.id)))
        .set((
            orgs::name.eq(&row.name),
            orgs::parent_id.eq(row.parent_id),
            orgs::credit_code.eq(&row.credit_code),
            orgs::unit_kind.eq(&row.unit_kind),
            orgs::has_union.eq(row.has_union),
            orgs::union_founded_on.eq(row.union_founded_on),
            orgs::version.eq(row.version),
            orgs::updated_at.eq(row.updated_at),
        ))
        .execute(tx.pg())
        .map_err(credit_code_taken)?;
    Ok(())
}

/// Whether any organisation exists (demo data loads only into an empty database).
pub fn any(conn: &mut Db<'_>) -> Result<bool, Error> {
    Ok(diesel::select(diesel::dsl::exists(orgs::table.select(orgs::id))).get_result(conn.pg())?)
}
