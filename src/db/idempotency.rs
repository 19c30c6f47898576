//! Idempotency keys with Stripe's semantics (API.md, "Idempotency"). The key is claimed by an
//! insert inside the transaction that does the work: a concurrent request with the same key
//! blocks on that insert until the first commits (then replays its answer) or rolls back (then
//! acts itself). So one key acts at most once, across threads and across processes.
//! Answers of failed requests are not stored: the transaction rolled back, so a retry acts anew.
//! An answer that carries a secret shown once (a client's new or rotated secret) is stored
//! without it (`write::execute_keeping`): its replay answers the same status and body, minus
//! the secret. Answers that must not be kept at all (revealed personal data) take no key.

use bytes::Bytes;
use diesel::prelude::*;

use super::Db;
use super::schema::idempotency_keys as k;
use super::write::{Idempotency, Stored};
use crate::error::Error;

/// How long keys are kept: at least 24 hours (API.md), here 48 so a day-late retry is safe.
pub const RETENTION_HOURS: i64 = 48;

/// The outcome of claiming a key.
pub enum Claim {
    /// First use: go ahead.
    Claimed,
    /// Seen before with the same request: answer this again.
    Replay(Stored),
}

/// Claims `key` for `caller`, or finds the answer stored under it.
pub fn claim(conn: &mut Db<'_>, caller: &str, idem: &Idempotency) -> Result<Claim, Error> {
    let inserted = diesel::insert_into(k::table)
        .values((k::caller.eq(caller), k::key.eq(&idem.key), k::request_hash.eq(&idem.fingerprint)))
        .on_conflict_do_nothing()
        .execute(conn.pg())?;
    if inserted == 1 {
        return Ok(Claim::Claimed);
    }
    let (hash, status, etag, body): (String, Option<i16>, Option<String>, Option<Vec<u8>>) = k::table
        .select((k::request_hash, k::response_status, k::response_etag, k::response_body))
        .filter(k::caller.eq(caller).and(k::key.eq(&idem.key)))
        .first(conn.pg())?;
    if hash != idem.fingerprint {
        return Err(Error::IdempotencyKeyReused);
    }
    match (status, body) {
        (Some(status), Some(body)) => Ok(Claim::Replay(Stored {
            status: u16::try_from(status).map_err(Error::internal)?,
            etag,
            body: Bytes::from(body),
            replayed: true,
        })),
        // Only completed claims are ever committed, so this cannot be seen; refuse rather than act twice.
        _ => Err(Error::Conflict {
            code: "idempotency_key_in_use",
            detail: "a request with this key is in progress".into(),
        }),
    }
}

/// Stores the answer under the claimed key, in the same transaction as the work.
pub fn complete(conn: &mut Db<'_>, caller: &str, idem: &Idempotency, stored: &Stored) -> Result<(), Error> {
    diesel::update(k::table.filter(k::caller.eq(caller).and(k::key.eq(&idem.key))))
        .set((
            k::response_status.eq(i16::try_from(stored.status).map_err(Error::internal)?),
            k::response_etag.eq(&stored.etag),
            k::response_body.eq(stored.body.as_ref()),
        ))
        .execute(conn.pg())?;
    Ok(())
}

/// Forgets keys older than the retention period; run periodically.
pub fn purge_expired(conn: &mut Db<'_>) -> Result<usize, Error> {
    let cutoff = chrono::Utc::now() - chrono::Duration::hours(RETENTION_HOURS);
    Ok(diesel::delete(k::table.filter(k::created_at.lt(cutoff))).execute(conn.pg())?)
}
