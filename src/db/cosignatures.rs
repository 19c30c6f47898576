//! Witnesses' cosignatures of signed checkpoints (`checkpoint_cosignatures`, migration 000021):
//! stored once verified, read back onto the notes the service serves. They are the log's own
//! machinery, like checkpoints, so they take a `Db`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::Db;
use super::schema::checkpoint_cosignatures as cs;
use crate::error::Error;

/// One cosignature as stored.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cs)]
#[allow(missing_docs)]
pub struct CosignatureRow {
    pub checkpoint_id: i64,
    pub witness: String,
    pub tree_size: i64,
    pub cosigned_at: DateTime<Utc>,
    pub line: String,
    pub received_at: DateTime<Utc>,
}

/// Records a verified cosignature; a second one of the same witness for the same checkpoint
/// (another process, a retry) is dropped.
pub fn record(conn: &mut Db<'_>, row: &CosignatureRow) -> Result<(), Error> {
    diesel::insert_into(cs::table)
        .values((
            cs::checkpoint_id.eq(row.checkpoint_id),
            cs::witness.eq(&row.witness),
            cs::tree_size.eq(row.tree_size),
            cs::cosigned_at.eq(row.cosigned_at),
            cs::line.eq(&row.line),
            cs::received_at.eq(row.received_at),
        ))
        .on_conflict_do_nothing()
        .execute(conn.pg())?;
    Ok(())
}

/// The largest tree size this witness has cosigned for the log (0: none), which is what the
/// next add-checkpoint request to it proves consistency from.
pub fn last_size(conn: &mut Db<'_>, witness: &str) -> Result<i64, Error> {
    Ok(cs::table
        .filter(cs::witness.eq(witness))
        .select(diesel::dsl::max(cs::tree_size))
        .first::<Option<i64>>(conn.pg())?
        .unwrap_or(0))
}

/// The cosignatures of these checkpoints, by checkpoint, in witness-name order.
pub fn of(conn: &mut Db<'_>, checkpoint_ids: &[i64]) -> Result<HashMap<i64, Vec<CosignatureRow>>, Error> {
    let rows: Vec<CosignatureRow> = cs::table
        .filter(cs::checkpoint_id.eq_any(checkpoint_ids))
        .order((cs::checkpoint_id, cs::witness))
        .select(CosignatureRow::as_select())
        .load(conn.pg())?;
    let mut out: HashMap<i64, Vec<CosignatureRow>> = HashMap::new();
    for r in rows {
        out.entry(r.checkpoint_id).or_default().push(r);
    }
    Ok(out)
}
