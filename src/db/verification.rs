//! Incremental verification of the trail (`audit_verifications`, migration 000020).
//!
//! A run starts from the last sound verification — the tree size and root it verified and the
//! frontier of that tree (its O(log n) peaks) — and checks only what the Merkle log took since,
//! in log order: each event's hash, its link to the previous event of its stream (the stream's
//! tail as stored is the seed, as a ranged verification seeds from the event before its range),
//! and the event as a leaf pushed onto the frontier. The root so grown must be the log head's
//! root, and every checkpoint signed since must be a prefix of it: its root equal to the grown
//! tree's at its size, or — for a checkpoint of a size already passed — proven consistent with
//! the verified root by the stored nodes. Then one row records the new size, root and frontier.
//!
//! Within a stream the log's order is the stream's order (an event's `seq` is drawn under its
//! stream's head lock and the sequencer takes the queue in `seq` order), so a walk in log order
//! meets each stream's events in turn. Events not yet sequenced are left for the next run.
//!
//! What a run does not redo is the past: an event altered after it was verified is found by a
//! full verification (`chain::verify`, the auditors' `GET /api/v1/audit/verify`), not here.
//! A run that finds a break records it, and the next runs answer that record without going on:
//! a break stays reported until a person looks at it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Bool, Nullable, Text, Timestamptz};

use super::Db;
use super::chain::EventRow;
use super::schema::{audit_checkpoints, audit_events};
use crate::domain::audit::{BreakReason, ChainVerifier, GENESIS_HASH, Link};
use crate::domain::merkle::{self, Frontier, Hash, LogReplay, NodeMap, Recorder, TwoPass, leaf_hash};
use crate::error::Error;

/// Leaves read per query.
const BATCH: i64 = 5_000;

/// Advisory-lock key that serialises verification runs across processes ("verifyrn").
const VERIFY_LOCK: i64 = 0x7665_7269_6679_726e;

/// One verification run, as recorded.
#[derive(Debug, Clone, QueryableByName)]
pub struct VerificationRow {
    /// Its number (0 for the empty trail's implicit start).
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    /// When it ran.
    #[diesel(sql_type = Timestamptz)]
    pub verified_at: DateTime<Utc>,
    /// The log's size it verified.
    #[diesel(sql_type = BigInt)]
    pub tree_size: i64,
    /// That tree's root.
    #[diesel(sql_type = Binary)]
    pub root: Vec<u8>,
    /// The tree's frontier: its peaks, 32 bytes each, left to right.
    #[diesel(sql_type = Binary)]
    pub frontier: Vec<u8>,
    /// The last signed checkpoint checked.
    #[diesel(sql_type = BigInt)]
    pub last_checkpoint_id: i64,
    /// Events this run checked.
    #[diesel(sql_type = BigInt)]
    pub run_events: i64,
    /// Events all runs together checked.
    #[diesel(sql_type = BigInt)]
    pub checked: i64,
    /// No break found.
    #[diesel(sql_type = Bool)]
    pub ok: bool,
    /// The first broken event, if any.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub first_broken_seq: Option<i64>,
    /// Why.
    #[diesel(sql_type = Nullable<Text>)]
    pub reason: Option<String>,
}

impl VerificationRow {
    /// Where the first run starts: the empty tree.
    fn genesis(now: DateTime<Utc>) -> Self {
        Self {
            id: 0,
            verified_at: now,
            tree_size: 0,
            root: merkle::empty_root().to_vec(),
            frontier: Vec::new(),
            last_checkpoint_id: 0,
            run_events: 0,
            checked: 0,
            ok: true,
            first_broken_seq: None,
            reason: None,
        }
    }
}

/// The latest verification, if any ran.
pub fn latest(conn: &mut Db<'_>) -> Result<Option<VerificationRow>, Error> {
    Ok(diesel::sql_query(
        "SELECT id, verified_at, tree_size, root, frontier, last_checkpoint_id, run_events, checked, ok, \
                first_broken_seq, reason FROM audit_verifications ORDER BY id DESC LIMIT 1",
    )
    .get_result(conn.pg())
    .optional()?)
}

/// Extends the latest sound verification to the log's head now, and records the run (nothing
/// is recorded when the log has not grown and no checkpoint was signed since). Answers the
/// latest verification after the run.
pub fn extend(conn: &mut Db<'_>, now: DateTime<Utc>) -> Result<VerificationRow, Error> {
    conn.pg().transaction(|pg| {
        let conn = &mut Db::new(pg);
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({VERIFY_LOCK})")).execute(conn.pg())?;
        let base = latest(conn)?.unwrap_or_else(|| VerificationRow::genesis(now));
        if !base.ok {
            return Ok(base);
        }
        let log = super::log::head(conn)?;
        let checkpoints = checkpoints_since(conn, base.last_checkpoint_id, log.size)?;
        if log.size == base.tree_size && checkpoints.is_empty() {
            return Ok(base);
        }
        let run = run(conn, &base, &log, &checkpoints)?;
        // A sound run moves the record on to the grown tree; a broken one keeps the last sound
        // tree and says where it broke.
        let (tree_size, root, frontier, last_checkpoint_id) = match &run.grown {
            Some(grown) => (
                log.size,
                grown.root().to_vec(),
                grown.peaks.iter().flat_map(|(_, _, h)| *h).collect(),
                checkpoints.last().map_or(base.last_checkpoint_id, |c| c.id),
            ),
            None => (base.tree_size, base.root.clone(), base.frontier.clone(), base.last_checkpoint_id),
        };
        let row = VerificationRow {
            id: base.id + 1,
            verified_at: now,
            tree_size,
            root,
            frontier,
            last_checkpoint_id,
            run_events: run.events,
            checked: base.checked + run.events,
            ok: run.broken.is_none(),
            first_broken_seq: run.broken.map(|(seq, _)| seq),
            reason: run.broken.map(|(_, r)| r.as_str().to_owned()),
        };
        insert(conn, &row)?;
        Ok(row)
    })
}

fn insert(conn: &mut Db<'_>, r: &VerificationRow) -> Result<(), Error> {
    diesel::sql_query(
        "INSERT INTO audit_verifications (id, verified_at, tree_size, root, frontier, last_checkpoint_id, \
                run_events, checked, ok, first_broken_seq, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind::<BigInt, _>(r.id)
    .bind::<Timestamptz, _>(r.verified_at)
    .bind::<BigInt, _>(r.tree_size)
    .bind::<Binary, _>(&r.root)
    .bind::<Binary, _>(&r.frontier)
    .bind::<BigInt, _>(r.last_checkpoint_id)
    .bind::<BigInt, _>(r.run_events)
    .bind::<BigInt, _>(r.checked)
    .bind::<Bool, _>(r.ok)
    .bind::<Nullable<BigInt>, _>(r.first_broken_seq)
    .bind::<Nullable<Text>, _>(&r.reason)
    .execute(conn.pg())?;
    Ok(())
}

/// A checkpoint to check: its place in the checkpoints' chain and the tree it signed.
struct Checkpoint {
    id: i64,
    heads: String,
    prev_hash: String,
    hash: String,
    tree: Option<(i64, String)>,
}

/// The checkpoints after `after_id` whose tree the log already holds, in order, with the one
/// they chain to; a checkpoint of a tree larger than `log_size` (signed after the head was
/// read) and every one after it wait for the next run.
fn checkpoints_since(conn: &mut Db<'_>, after_id: i64, log_size: i64) -> Result<Vec<Checkpoint>, Error> {
    type CheckpointColumns = (i64, String, String, String, Option<i64>, Option<String>);
    let rows: Vec<CheckpointColumns> = audit_checkpoints::table
        .select((
            audit_checkpoints::id,
            audit_checkpoints::heads,
            audit_checkpoints::prev_hash,
            audit_checkpoints::hash,
            audit_checkpoints::tree_size,
            audit_checkpoints::root_hash,
        ))
        .filter(audit_checkpoints::id.gt(after_id))
        .order(audit_checkpoints::id.asc())
        .load(conn.pg())?;
    Ok(rows
        .into_iter()
        .map(|(id, heads, prev_hash, hash, size, root)| Checkpoint { id, heads, prev_hash, hash, tree: size.zip(root) })
        .take_while(|c| c.tree.as_ref().is_none_or(|(size, _)| *size <= log_size))
        .collect())
}

struct Run {
    events: i64,
    /// The tree grown, when sound.
    grown: Option<Frontier>,
    broken: Option<(i64, BreakReason)>,
}

fn run(
    conn: &mut Db<'_>,
    base: &VerificationRow,
    log: &super::log::Head,
    checkpoints: &[Checkpoint],
) -> Result<Run, Error> {
    let peaks: Vec<Hash> = base.frontier.chunks(32).filter_map(|c| Hash::try_from(c).ok()).collect();
    let size = u64::try_from(base.tree_size).map_err(Error::internal)?;
    let frontier = Frontier::from_peaks(size, peaks)
        .ok_or_else(|| Error::internal("stored verification frontier is malformed"))?;
    let mut verifier = ChainVerifier::new();
    // The roots checkpoints signed at sizes the tree grows through are compared on the way;
    // those of sizes already passed are checked by consistency proofs below. A root that is
    // not 32 bytes of hex can match no tree.
    let signed = checkpoints.iter().filter_map(|c| {
        let (s, root) = c.tree.as_ref()?;
        Some((u64::try_from(*s).ok()?, merkle::from_hex(root).unwrap_or([0xff; 32])))
    });
    let mut replay = LogReplay::resume(frontier, u64::try_from(log.size).map_err(Error::internal)?, signed);
    let mut next = base.tree_size;
    let mut last_seq = 0;
    let mut events = 0;
    while next < log.size {
        let leaves = super::log::leaves(conn, next, log.size, BATCH)?;
        let seqs: Vec<i64> = leaves.iter().map(|l| l.event_seq).collect();
        let rows: HashMap<i64, EventRow> = audit_events::table
            .select(EventRow::as_select())
            .filter(audit_events::seq.eq_any(&seqs))
            .load(conn.pg())?
            .into_iter()
            .map(|r: EventRow| (r.seq, r))
            .collect();
        seed(conn, &mut verifier, rows.values())?;
        for leaf in &leaves {
            let (Some(row), true) = (rows.get(&leaf.event_seq), leaf.idx == next) else {
                verifier.break_at(leaf.event_seq, BreakReason::LogMismatch);
                return Ok(broken(&verifier, events));
            };
            let record = row.record();
            let bytes = record.canonical_bytes();
            events += 1;
            last_seq = last_seq.max(row.seq);
            if !verifier.push_canonical(&record, &bytes, &row.hash) {
                return Ok(broken(&verifier, events));
            }
            replay.push(u64::try_from(leaf.idx).map_err(Error::internal)?, leaf_hash(&bytes));
            next += 1;
            if replay.mismatched() {
                verifier.break_at(row.seq, BreakReason::LogMismatch);
                return Ok(broken(&verifier, events));
            }
        }
        if leaves.is_empty() {
            // The head counts leaves the table does not have.
            verifier.break_at(last_seq + 1, BreakReason::LogMismatch);
            return Ok(broken(&verifier, events));
        }
    }
    let root = Hash::try_from(log.root.as_slice()).map_err(Error::internal)?;
    if !replay.matches(&root) {
        verifier.break_at(last_seq + 1, BreakReason::LogMismatch);
        return Ok(broken(&verifier, events));
    }
    check_checkpoints(conn, &mut verifier, base, checkpoints, last_seq + 1)?;
    if verifier.first_broken().is_some() {
        return Ok(broken(&verifier, events));
    }
    Ok(Run { events, grown: Some(replay.frontier().clone()), broken: None })
}

fn broken(verifier: &ChainVerifier, events: i64) -> Run {
    Run { events, grown: None, broken: verifier.first_broken() }
}

/// Seeds every stream of `rows` not met yet with its event just before the first of `rows`
/// (as stored: it was verified by an earlier run, or is the genesis).
fn seed<'r>(
    conn: &mut Db<'_>,
    verifier: &mut ChainVerifier,
    rows: impl Iterator<Item = &'r EventRow>,
) -> Result<(), Error> {
    let mut first: HashMap<&str, i64> = HashMap::new();
    for r in rows {
        if verifier.tails().contains_key(&r.stream) {
            continue;
        }
        let f = first.entry(r.stream.as_str()).or_insert(r.stream_seq);
        *f = (*f).min(r.stream_seq);
    }
    let wanted: Vec<(&str, i64)> = first.into_iter().filter(|(_, n)| *n > 1).collect();
    for chunk in wanted.chunks(1000) {
        let streams: Vec<&str> = chunk.iter().map(|(s, _)| *s).collect();
        let before: Vec<i64> = chunk.iter().map(|(_, n)| n - 1).collect();
        #[derive(QueryableByName)]
        struct Tail {
            #[diesel(sql_type = Text)]
            stream: String,
            #[diesel(sql_type = BigInt)]
            stream_seq: i64,
            #[diesel(sql_type = Text)]
            hash: String,
        }
        let tails: Vec<Tail> = diesel::sql_query(
            "SELECT e.stream, e.stream_seq, e.hash FROM unnest($1::text[], $2::bigint[]) AS w(stream, stream_seq) \
             JOIN audit_events e ON e.stream = w.stream AND e.stream_seq = w.stream_seq",
        )
        .bind::<diesel::sql_types::Array<Text>, _>(&streams)
        .bind::<diesel::sql_types::Array<BigInt>, _>(&before)
        .load(conn.pg())?;
        for t in tails {
            verifier.seed(&t.stream, Link { stream_seq: t.stream_seq, hash: t.hash });
        }
    }
    Ok(())
}

/// Each checkpoint signed since must chain to the one before it and hash to its stored hash,
/// name events still in the trail with those hashes, and have signed a prefix of the verified
/// tree: for a size reached while growing it was compared on the way; for a size already
/// passed, the stored nodes must prove it consistent with the verified root.
fn check_checkpoints(
    conn: &mut Db<'_>,
    v: &mut ChainVerifier,
    base: &VerificationRow,
    checkpoints: &[Checkpoint],
    at_seq: i64,
) -> Result<(), Error> {
    if checkpoints.is_empty() {
        return Ok(());
    }
    let mut prev = if base.last_checkpoint_id == 0 {
        GENESIS_HASH.to_owned()
    } else {
        audit_checkpoints::table
            .select(audit_checkpoints::hash)
            .filter(audit_checkpoints::id.eq(base.last_checkpoint_id))
            .first::<String>(conn.pg())
            .optional()?
            .unwrap_or_default()
    };
    let verified = u64::try_from(base.tree_size).map_err(Error::internal)?;
    for cp in checkpoints {
        super::chain::check_checkpoint(conn.pg(), v, &prev, &cp.heads, &cp.prev_hash, &cp.hash, at_seq)?;
        prev = cp.hash.clone();
        if let Some((size, signed_root)) = &cp.tree {
            let size = u64::try_from(*size).map_err(Error::internal)?;
            if size <= verified && !consistent(conn, size, signed_root, verified, &base.root)? {
                v.break_at(at_seq, BreakReason::LogMismatch);
            }
        }
    }
    Ok(())
}

/// Whether the tree of `size` whose root a checkpoint signed is a prefix of the verified tree
/// of `verified` leaves (root `verified_root`), by a consistency proof from the stored nodes.
fn consistent(
    conn: &mut Db<'_>,
    size: u64,
    signed_root: &str,
    verified: u64,
    verified_root: &[u8],
) -> Result<bool, Error> {
    let Some(signed) = merkle::from_hex(signed_root) else { return Ok(false) };
    let Ok(verified_root) = Hash::try_from(verified_root) else { return Ok(false) };
    if size == 0 {
        return Ok(signed == merkle::empty_root());
    }
    if size == verified {
        return Ok(signed == verified_root);
    }
    let mut pass = TwoPass::Record(Recorder::default());
    let _ = merkle::consistency_proof(&mut pass, size, verified);
    let keys = match pass {
        TwoPass::Record(r) => r.0,
        TwoPass::Serve(_) => Vec::new(),
    };
    let mut pass = TwoPass::Serve(NodeMap(super::log::nodes(conn, &keys)?));
    let Ok(proof) = merkle::consistency_proof(&mut pass, size, verified) else { return Ok(false) };
    Ok(merkle::verify_consistency(size, verified, &signed, &verified_root, &proof))
}
