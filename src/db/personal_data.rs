//! The queries of key rotation for personal data at rest (`service::personal_data`). Table and
//! column names are `&'static str`: they come from that module's constant lists, never from input.

use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};
use uuid::Uuid;

use super::write::Tx;
use crate::error::Error;

#[derive(QueryableByName)]
struct Sealed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    value: String,
}

#[derive(QueryableByName)]
struct Hashed {
    #[diesel(sql_type = SqlUuid)]
    id: Uuid,
    #[diesel(sql_type = Text)]
    sealed: String,
    #[diesel(sql_type = Text)]
    hash: String,
}

/// The values of `table.column` not sealed under the key `prefix` names (`<kid>:%`), locked.
pub fn stale(
    tx: &mut Tx<'_>,
    table: &'static str,
    column: &'static str,
    prefix: &str,
) -> Result<Vec<(Uuid, String)>, Error> {
    let rows: Vec<Sealed> = diesel::sql_query(format!(
        "SELECT id, {column} AS value FROM {table} WHERE {column} IS NOT NULL AND {column} NOT LIKE $1 FOR UPDATE"
    ))
    .bind::<Text, _>(prefix)
    .load(tx.pg())?;
    Ok(rows.into_iter().map(|r| (r.id, r.value)).collect())
}

/// Stores a value sealed again.
pub fn set_sealed(
    tx: &mut Tx<'_>,
    table: &'static str,
    column: &'static str,
    id: Uuid,
    value: &str,
) -> Result<(), Error> {
    diesel::sql_query(format!("UPDATE {table} SET {column} = $1 WHERE id = $2"))
        .bind::<Text, _>(value)
        .bind::<SqlUuid, _>(id)
        .execute(tx.pg())?;
    Ok(())
}

/// Every row's id, sealed number and stored hash, locked (a stored hash carries no key id, so a
/// pass that moves hashes reads them all).
pub fn hashed(
    tx: &mut Tx<'_>,
    table: &'static str,
    column: &'static str,
    sealed: &'static str,
) -> Result<Vec<(Uuid, String, String)>, Error> {
    let rows: Vec<Hashed> =
        diesel::sql_query(format!("SELECT id, {sealed} AS sealed, {column} AS hash FROM {table} FOR UPDATE"))
            .load(tx.pg())?;
    Ok(rows.into_iter().map(|r| (r.id, r.sealed, r.hash)).collect())
}

/// Stores new hashes by row id, in one statement; returns how many rows changed.
pub fn set_hashes(
    tx: &mut Tx<'_>,
    table: &'static str,
    column: &'static str,
    ids: &[Uuid],
    hashes: &[String],
) -> Result<usize, Error> {
    Ok(diesel::sql_query(format!(
        "UPDATE {table} t SET {column} = m.hash FROM unnest($1::uuid[], $2::text[]) AS m(id, hash) WHERE t.id = m.id"
    ))
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<Text>, _>(hashes)
    .execute(tx.pg())?)
}

/// Replaces each older hash by its current one wherever it is stored; returns how many rows moved.
pub fn replace_hashes(
    tx: &mut Tx<'_>,
    table: &'static str,
    column: &'static str,
    older: &[String],
    current: &[String],
) -> Result<usize, Error> {
    Ok(diesel::sql_query(format!(
        "UPDATE {table} t SET {column} = m.current FROM unnest($1::text[], $2::text[]) AS m(older, current) \
         WHERE t.{column} = m.older"
    ))
    .bind::<Array<Text>, _>(older)
    .bind::<Array<Text>, _>(current)
    .execute(tx.pg())?)
}
