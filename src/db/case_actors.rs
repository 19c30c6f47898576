//! Who took which duty of the maker-checker chain (submit, review, approve) in a case, at any
//! point of its history. Append-only; the database refuses a second duty for one person in one
//! case (`case_actors_one_duty`), after the service has (`domain::approval::authorize`).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use uuid::Uuid;

use super::Db;
use super::schema::case_actors as ca;
use super::write::Tx;
use crate::error::Error;

/// One person's duty in one case.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = ca)]
#[allow(missing_docs)]
pub struct CaseActorRow {
    pub case_id: Uuid,
    pub case_type: String,
    pub actor_id: Uuid,
    pub duty: String,
    pub first_at: DateTime<Utc>,
}

/// Everyone who took a duty in the case, in the order they first did.
pub fn of_case(conn: &mut Db<'_>, case_id: Uuid) -> Result<Vec<CaseActorRow>, Error> {
    Ok(ca::table
        .select(CaseActorRow::as_select())
        .filter(ca::case_id.eq(case_id))
        .order((ca::first_at, ca::actor_id))
        .load(conn.pg())?)
}

/// Records a duty taken (once: taking the same duty again keeps the first time). The trigger's
/// refusal of a second duty answers 403 `separation_of_duties`, like the service's own check.
pub fn record(tx: &mut Tx<'_>, row: &CaseActorRow) -> Result<(), Error> {
    diesel::insert_into(ca::table)
        .values(row)
        .on_conflict((ca::case_id, ca::actor_id, ca::duty))
        .do_nothing()
        .execute(tx.pg())
        .map_err(|e| match e {
            DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info)
                if info.constraint_name() == Some("case_actors_one_duty") =>
            {
                Error::Forbidden {
                    code: "separation_of_duties",
                    detail: "whoever submits, reviews or approves a case takes no other of those duties in it".into(),
                }
            }
            other => other.into(),
        })?;
    Ok(())
}
