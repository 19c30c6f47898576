//! The Merkle log's tables: the queue writers fill, the leaves and stored subtrees the
//! sequencer appends, and the head.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Binary, SmallInt, Timestamptz};

use super::Db;
use super::chain::EventRow;
use super::schema::audit_events;
use crate::domain::merkle::Hash;
use crate::error::Error;

/// Advisory-lock key of the one sequencer ("rfc6962").
const SEQUENCER_LOCK: i64 = 0x0072_6663_3639_3632;

/// Takes the sequencer's lock for this transaction: waiting for it, or (`wait = false`)
/// answering `false` at once when another process holds it.
pub fn lock_sequencer(conn: &mut Db<'_>, wait: bool) -> Result<bool, Error> {
    if wait {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({SEQUENCER_LOCK})")).execute(conn.pg())?;
        return Ok(true);
    }
    #[derive(QueryableByName)]
    struct Got {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        got: bool,
    }
    let g: Got = diesel::sql_query(format!("SELECT pg_try_advisory_xact_lock({SEQUENCER_LOCK}) AS got"))
        .get_result(conn.pg())?;
    Ok(g.got)
}

/// The log's head.
#[derive(Debug, Clone, QueryableByName)]
pub struct Head {
    /// Leaves so far.
    #[diesel(sql_type = BigInt)]
    pub size: i64,
    /// Their root.
    #[diesel(sql_type = Binary)]
    pub root: Vec<u8>,
}

/// The head.
pub fn head(conn: &mut Db<'_>) -> Result<Head, Error> {
    Ok(diesel::sql_query("SELECT size, root FROM log_head").get_result(conn.pg())?)
}

/// How many committed events wait for the sequencer (a count over the queue: kept off the
/// proof path, where a queue just drained of a million rows costs a scan of its dead rows).
pub fn pending(conn: &mut Db<'_>) -> Result<i64, Error> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    Ok(diesel::sql_query("SELECT count(*) AS n FROM log_queue").get_result::<N>(conn.pg())?.n)
}

/// Takes up to `max` queued events out of the queue, oldest `seq` first, and reads them.
///
/// The statement's shape is chosen so that no statistics can make it slow. The queue is empty
/// most of the time, so an `ANALYZE` of it (autovacuum's auto-analyze, or a person's) records
/// `reltuples = 0`; `DELETE … WHERE seq IN (SELECT … LIMIT n)` was then planned as a nested-loop
/// semi-join that rescans the subquery for every row — 176 s for one batch of a 70,000-event
/// queue, measured here, against 20 ms. `= ANY(ARRAY(subquery))` makes the batch an InitPlan,
/// computed once, and the delete an index scan on the primary key whatever the estimates say.
pub fn take_queued(conn: &mut Db<'_>, max: i64) -> Result<Vec<EventRow>, Error> {
    #[derive(QueryableByName)]
    struct Seq {
        #[diesel(sql_type = BigInt)]
        seq: i64,
    }
    let seqs: Vec<Seq> = diesel::sql_query(
        "DELETE FROM log_queue WHERE seq = ANY(ARRAY(SELECT seq FROM log_queue ORDER BY seq LIMIT $1)) RETURNING seq",
    )
    .bind::<BigInt, _>(max)
    .load(conn.pg())?;
    let seqs: Vec<i64> = seqs.into_iter().map(|s| s.seq).collect();
    Ok(audit_events::table
        .select(EventRow::as_select())
        .filter(audit_events::seq.eq_any(&seqs))
        .order(audit_events::seq.asc())
        .load(conn.pg())?)
}

/// Stored nodes by (level, index); absent ones are left out.
pub fn nodes(conn: &mut Db<'_>, keys: &[(u32, u64)]) -> Result<HashMap<(u32, u64), Hash>, Error> {
    #[derive(QueryableByName)]
    struct Node {
        #[diesel(sql_type = SmallInt)]
        level: i16,
        #[diesel(sql_type = BigInt)]
        idx: i64,
        #[diesel(sql_type = Binary)]
        hash: Vec<u8>,
    }
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let levels: Vec<i16> = keys.iter().map(|(l, _)| i16::try_from(*l).unwrap_or(i16::MAX)).collect();
    let idxs: Vec<i64> = keys.iter().map(|(_, i)| i64::try_from(*i).unwrap_or(i64::MAX)).collect();
    let rows: Vec<Node> = diesel::sql_query(
        "SELECT n.level, n.idx, n.hash FROM unnest($1::smallint[], $2::bigint[]) AS k(level, idx) \
         JOIN log_nodes n ON n.level = k.level AND n.idx = k.idx",
    )
    .bind::<Array<SmallInt>, _>(levels)
    .bind::<Array<BigInt>, _>(idxs)
    .load(conn.pg())?;
    Ok(rows
        .into_iter()
        .filter_map(|n| {
            let hash: Hash = n.hash.try_into().ok()?;
            Some(((u32::try_from(n.level).ok()?, u64::try_from(n.idx).ok()?), hash))
        })
        .collect())
}

/// Appends what one sequencer run made: the leaves' positions, the nodes, the new head.
pub fn append(
    conn: &mut Db<'_>,
    leaves: &[(i64, i64)],
    nodes: &[(u32, u64, Hash)],
    size: i64,
    root: &Hash,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    for chunk in leaves.chunks(10_000) {
        diesel::sql_query("INSERT INTO log_leaves (idx, event_seq) SELECT * FROM unnest($1::bigint[], $2::bigint[])")
            .bind::<Array<BigInt>, _>(chunk.iter().map(|l| l.0).collect::<Vec<_>>())
            .bind::<Array<BigInt>, _>(chunk.iter().map(|l| l.1).collect::<Vec<_>>())
            .execute(conn.pg())?;
    }
    for chunk in nodes.chunks(10_000) {
        let levels: Vec<i16> = chunk.iter().map(|n| i16::try_from(n.0).unwrap_or(i16::MAX)).collect();
        let idxs: Vec<i64> = chunk.iter().map(|n| i64::try_from(n.1).unwrap_or(i64::MAX)).collect();
        let hashes: Vec<Vec<u8>> = chunk.iter().map(|n| n.2.to_vec()).collect();
        diesel::sql_query(
            "INSERT INTO log_nodes (level, idx, hash) SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])",
        )
        .bind::<Array<SmallInt>, _>(levels)
        .bind::<Array<BigInt>, _>(idxs)
        .bind::<Array<Binary>, _>(hashes)
        .execute(conn.pg())?;
    }
    diesel::sql_query("UPDATE log_head SET size = $1, root = $2, updated_at = $3")
        .bind::<BigInt, _>(size)
        .bind::<Binary, _>(root.to_vec())
        .bind::<Timestamptz, _>(now)
        .execute(conn.pg())?;
    Ok(())
}

/// A leaf of the log: its position and the event it is.
#[derive(Debug, Clone, Copy, QueryableByName)]
pub struct Leaf {
    /// The position.
    #[diesel(sql_type = BigInt)]
    pub idx: i64,
    /// The event's `seq`.
    #[diesel(sql_type = BigInt)]
    pub event_seq: i64,
}

/// The leaves at positions `from..to`, in order, at most `limit` of them.
pub fn leaves(conn: &mut Db<'_>, from: i64, to: i64, limit: i64) -> Result<Vec<Leaf>, Error> {
    Ok(diesel::sql_query("SELECT idx, event_seq FROM log_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3")
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .bind::<BigInt, _>(limit)
        .load(conn.pg())?)
}

/// The log positions of these events (those sequenced).
pub fn positions(conn: &mut Db<'_>, seqs: &[i64]) -> Result<HashMap<i64, i64>, Error> {
    let rows: Vec<Leaf> = diesel::sql_query("SELECT idx, event_seq FROM log_leaves WHERE event_seq = ANY($1)")
        .bind::<Array<BigInt>, _>(seqs)
        .load(conn.pg())?;
    Ok(rows.into_iter().map(|l| (l.event_seq, l.idx)).collect())
}

/// One sequencer run, in one transaction: under the sequencer's lock, takes up to `max` queued
/// events, gives each the next log position, and stores its leaf, every subtree it completes
/// and the new head. `None` when `wait` is false and another process is sequencing.
pub fn sequence(conn: &mut Db<'_>, max: i64, wait: bool, now: DateTime<Utc>) -> Result<Option<usize>, Error> {
    use crate::domain::merkle::{Frontier, leaf_hash};
    conn.pg().transaction(|pg| {
        let conn = &mut Db::new(pg);
        if !lock_sequencer(conn, wait)? {
            return Ok(None);
        }
        let events = take_queued(conn, max)?;
        if events.is_empty() {
            return Ok(Some(0));
        }
        let size = u64::try_from(head(conn)?.size).map_err(Error::internal)?;
        let keys = Frontier::peaks_of(size);
        let stored = nodes(conn, &keys)?;
        let peaks = keys
            .iter()
            .map(|k| stored.get(k).copied().ok_or_else(|| Error::internal(format!("log node {k:?} is missing"))))
            .collect::<Result<Vec<_>, _>>()?;
        let mut frontier = Frontier::from_peaks(size, peaks).ok_or_else(|| Error::internal("bad frontier"))?;
        let mut made = Vec::with_capacity(events.len() * 2);
        let mut leaves = Vec::with_capacity(events.len());
        for e in &events {
            leaves.push((i64::try_from(frontier.size()).map_err(Error::internal)?, e.seq));
            frontier.push(leaf_hash(&e.record().canonical_bytes()), &mut made);
        }
        let new_size = i64::try_from(frontier.size()).map_err(Error::internal)?;
        append(conn, &leaves, &made, new_size, &frontier.root(), now)?;
        Ok(Some(events.len()))
    })
}

/// Sequences until the queue is empty, and answers how many. With `wait`, waits for another
/// sequencer to finish first; without, stops at once while another is sequencing.
pub fn sequence_all(conn: &mut Db<'_>, now: DateTime<Utc>, wait: bool) -> Result<usize, Error> {
    let mut total = 0;
    loop {
        match sequence(conn, SEQUENCE_BATCH, wait, now)? {
            Some(0) | None => return Ok(total),
            Some(n) => total += n,
        }
    }
}

/// Events per sequencer transaction.
pub const SEQUENCE_BATCH: i64 = 5_000;

/// Dead rows in the queue past which the sequencer has it vacuumed.
pub const VACUUM_DEAD_ROWS: i64 = 50_000;

/// The queue is drained by deleting its rows, and a deleted row stays in the table and its
/// index until a vacuum: each poll of an empty queue then reads past every event ever drained
/// (145 ms a poll at 10 million, growing with the trail, once a second). Autovacuum is off on
/// some servers and may lag on others, so nothing waits for it: past [`VACUUM_DEAD_ROWS`] dead
/// rows the queue is vacuumed here, by the owner (a plain `VACUUM`: writers go on). Answers
/// whether it was.
pub fn vacuum_queue_if_dead(pool: &super::Pool) -> Result<bool, Error> {
    #[derive(QueryableByName)]
    struct Dead {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let dead = pool.read(|conn| {
        Ok(diesel::sql_query(
            "SELECT coalesce(max(n_dead_tup), 0) AS n FROM pg_stat_user_tables WHERE relname = 'log_queue'",
        )
        .get_result::<Dead>(conn.pg())?
        .n)
    })?;
    if dead < VACUUM_DEAD_ROWS {
        return Ok(false);
    }
    pool.as_owner("VACUUM log_queue")?;
    Ok(true)
}
