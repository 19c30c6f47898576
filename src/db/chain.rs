//! Reading the audit trail: queries, verification, checkpoints. (Appending is in `write`.)

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Db;
use super::schema::{audit_checkpoints, audit_events, audit_heads};
use crate::domain::audit::{
    AuditRecord, BreakReason, ChainVerifier, GENESIS_HASH, Link, checkpoint_hash, checkpoint_heads_text,
    parse_checkpoint_heads,
};
use crate::domain::merkle::{Hash, LogReplay, leaf_hash};
use crate::domain::note::LogSigner;
use crate::error::Error;

/// One stored event.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_events)]
#[allow(missing_docs)]
pub struct EventRow {
    pub seq: i64,
    pub stream: String,
    pub stream_seq: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub org_id: Option<Uuid>,
    pub request_id: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Uuid,
    pub fund_id: Option<Uuid>,
    pub stage: Option<String>,
    pub amount: Option<Decimal>,
    pub entry_id: Option<Uuid>,
    pub before_json: Option<String>,
    pub after_json: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl EventRow {
    /// The event as the hash sees it.
    pub fn record(&self) -> AuditRecord {
        AuditRecord {
            seq: self.seq,
            stream: self.stream.clone(),
            stream_seq: self.stream_seq,
            occurred_at: self.occurred_at,
            actor: self.actor.clone(),
            actor_role: self.actor_role.clone(),
            org_id: self.org_id,
            request_id: self.request_id.clone(),
            action: self.action.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            fund_id: self.fund_id,
            stage: self.stage.clone(),
            amount: self.amount,
            entry_id: self.entry_id,
            before: self.before_json.clone(),
            after: self.after_json.clone(),
            prev_hash: self.prev_hash.clone(),
        }
    }
}

/// Filters of `GET /audit/events` (API.md).
#[derive(Debug, Default, Clone)]
#[allow(missing_docs)]
pub struct EventFilter {
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    pub fund_id: Option<Uuid>,
    pub stage: Option<String>,
    pub actor: Option<String>,
    pub org_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub amount_min: Option<Decimal>,
    pub amount_max: Option<Decimal>,
}

/// A page of events after `after_seq`, oldest first.
pub fn list(conn: &mut Db<'_>, f: &EventFilter, after_seq: Option<i64>, limit: i64) -> Result<Vec<EventRow>, Error> {
    use audit_events::dsl as e;
    let mut q = e::audit_events.select(EventRow::as_select()).into_boxed();
    if let Some(v) = &f.entity_type {
        q = q.filter(e::entity_type.eq(v.clone()));
    }
    if let Some(v) = f.entity_id {
        q = q.filter(e::entity_id.eq(v));
    }
    if let Some(v) = f.fund_id {
        q = q.filter(e::fund_id.eq(v));
    }
    if let Some(v) = &f.stage {
        q = q.filter(e::stage.eq(v.clone()));
    }
    if let Some(v) = &f.actor {
        q = q.filter(e::actor.eq(v.clone()));
    }
    if let Some(v) = f.org_id {
        q = q.filter(e::org_id.eq(v));
    }
    if let Some(v) = &f.request_id {
        q = q.filter(e::request_id.eq(v.clone()));
    }
    if let Some(v) = f.from {
        q = q.filter(e::occurred_at.ge(v));
    }
    if let Some(v) = f.to {
        q = q.filter(e::occurred_at.lt(v));
    }
    if let Some(v) = f.amount_min {
        q = q.filter(e::amount.ge(v));
    }
    if let Some(v) = f.amount_max {
        q = q.filter(e::amount.le(v));
    }
    if let Some(after) = after_seq {
        q = q.filter(e::seq.gt(after));
    }
    Ok(q.order(e::seq.asc()).limit(limit).load(conn.pg())?)
}

/// Events with `from_seq <= seq <= to_seq`, in order, `batch` at a time (for verify and export).
pub fn batch(conn: &mut Db<'_>, after_seq: i64, to_seq: i64, batch: i64) -> Result<Vec<EventRow>, Error> {
    use audit_events::dsl as e;
    Ok(e::audit_events
        .select(EventRow::as_select())
        .filter(e::seq.gt(after_seq).and(e::seq.le(to_seq)))
        .order(e::seq.asc())
        .limit(batch)
        .load(conn.pg())?)
}

/// The result of verifying the trail (API.md: `{ok, checked, first_broken?}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// Events checked.
    pub checked: u64,
    /// The first broken event's `seq` and why, if any.
    pub first_broken: Option<(i64, BreakReason)>,
}

/// A checkpoint an auditor kept: its id and hash.
#[derive(Debug, Clone)]
pub struct KeptCheckpoint {
    /// The checkpoint's id.
    pub id: i64,
    /// Its hash, as the auditor wrote it down.
    pub hash: String,
}

const VERIFY_BATCH: i64 = 20_000;

/// A stream's event as a position and a hash (a head, or a link of the chain).
#[derive(QueryableByName)]
pub(crate) struct StreamLink {
    #[diesel(sql_type = Text)]
    pub(crate) stream: String,
    #[diesel(sql_type = BigInt)]
    pub(crate) stream_seq: i64,
    #[diesel(sql_type = Text)]
    pub(crate) hash: String,
}

/// Verifies events with `from_seq <= seq <= to_seq` (the whole trail when both are None).
/// A whole-trail check also compares every stream's head and every stored checkpoint with the
/// events, which catches events cut off the end; `kept` adds a checkpoint the auditor kept.
pub fn verify(
    conn: &mut Db<'_>,
    from_seq: Option<i64>,
    to_seq: Option<i64>,
    kept: Option<&KeptCheckpoint>,
) -> Result<Verification, Error> {
    let whole = from_seq.is_none() && to_seq.is_none();
    let from = from_seq.unwrap_or(1).max(1);
    let to = to_seq.unwrap_or(i64::MAX);
    let mut verifier = if from > 1 {
        // Seed each stream with the event just before the range, as stored.
        let links: Vec<StreamLink> = diesel::sql_query(
            "SELECT e.stream, e.stream_seq, e.hash FROM audit_events e \
             JOIN (SELECT stream, min(stream_seq) AS first FROM audit_events \
                   WHERE seq >= $1 AND seq <= $2 GROUP BY stream) r \
               ON e.stream = r.stream AND e.stream_seq = r.first - 1",
        )
        .bind::<BigInt, _>(from)
        .bind::<BigInt, _>(to)
        .load(conn.pg())?;
        ChainVerifier::starting_from(
            links.into_iter().map(|l| (l.stream, Link { stream_seq: l.stream_seq, hash: l.hash })).collect(),
        )
    } else {
        ChainVerifier::new()
    };
    // What the whole trail is checked against is read first, in one snapshot: the Merkle log's
    // head, every stream's head and the last event. Writes committed while the events are read
    // are left for the next run — an event past its stream's head as read here is not looked
    // at — so a head moved by a concurrent write is never taken for a break. (Read last, as it
    // once was, the heads could be ahead of the events read: a false `head_mismatch`.)
    let state = if whole { Some(whole_trail_state(conn)?) } else { None };
    let to = state.as_ref().map_or(to, |s| s.last_seq);
    let mut after = from - 1;
    let mut last_seq = 0;
    // Over the whole trail, the Merkle log is rebuilt from the events as well, leaf by leaf as
    // they come (memory: the leaves that come before their turn, and the tree's frontier).
    let mut replay = match &state {
        Some(s) => Some(LogReplay::new(u64::try_from(s.log.size).map_err(Error::internal)?, signed_roots(conn.pg())?)),
        None => None,
    };
    loop {
        let rows = batch(conn, after, to, VERIFY_BATCH)?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        last_seq = last.seq;
        let positions = if whole {
            super::log::positions(conn, &rows.iter().map(|r| r.seq).collect::<Vec<_>>())?
        } else {
            HashMap::new()
        };
        for row in &rows {
            if let Some(state) = &state
                && state.heads.get(&row.stream).is_none_or(|head| row.stream_seq > head.stream_seq)
            {
                continue;
            }
            let record = row.record();
            let bytes = record.canonical_bytes();
            verifier.push_canonical(&record, &bytes, &row.hash);
            if let (Some(replay), Some(&index)) = (replay.as_mut(), positions.get(&row.seq)) {
                replay.push(u64::try_from(index).map_err(Error::internal)?, leaf_hash(&bytes));
            }
        }
        if rows.len() < usize::try_from(VERIFY_BATCH).unwrap_or(usize::MAX) {
            break;
        }
    }
    if let Some(state) = state {
        // The log must be the tree of the events as they are now: every position filled, the
        // root at each signed checkpoint's size equal to the root it signed, and the head's
        // root equal to the whole tree's. An event altered after it was logged fails all three.
        let head_root = Hash::try_from(state.log.root.as_slice()).map_err(Error::internal)?;
        if !replay.is_some_and(|r| r.matches(&head_root)) {
            verifier.break_at(last_seq + 1, BreakReason::LogMismatch);
        }
        verifier.check_heads(state.heads.iter().map(|(s, l)| (s.as_str(), l)), last_seq + 1);
        check_checkpoints(conn.pg(), &mut verifier, kept, last_seq + 1)?;
    } else if let Some(kept) = kept {
        check_checkpoints(conn.pg(), &mut verifier, Some(kept), last_seq + 1)?;
    }
    Ok(Verification { checked: verifier.checked(), first_broken: verifier.first_broken() })
}

/// What a verification of the whole trail checks the events against, read in one snapshot.
struct TrailState {
    /// The Merkle log's head.
    log: super::log::Head,
    /// Every stream's head, in stream order.
    heads: BTreeMap<String, Link>,
    /// The highest `seq` committed (0 for an empty trail).
    last_seq: i64,
}

/// One statement, so one snapshot whatever the transaction around it (the checks run it inside
/// their REPEATABLE READ snapshot, the verify endpoint outside any).
fn whole_trail_state(conn: &mut Db<'_>) -> Result<TrailState, Error> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        size: i64,
        #[diesel(sql_type = diesel::sql_types::Binary)]
        root: Vec<u8>,
        #[diesel(sql_type = BigInt)]
        last_seq: i64,
        #[diesel(sql_type = diesel::sql_types::Array<Text>)]
        streams: Vec<String>,
        #[diesel(sql_type = diesel::sql_types::Array<BigInt>)]
        stream_seqs: Vec<i64>,
        #[diesel(sql_type = diesel::sql_types::Array<Text>)]
        hashes: Vec<String>,
    }
    let r: Row = diesel::sql_query(
        "SELECT h.size, h.root, (SELECT coalesce(max(seq), 0) FROM audit_events) AS last_seq, \
                ARRAY(SELECT stream FROM audit_heads ORDER BY stream) AS streams, \
                ARRAY(SELECT stream_seq FROM audit_heads ORDER BY stream) AS stream_seqs, \
                ARRAY(SELECT hash FROM audit_heads ORDER BY stream) AS hashes \
         FROM log_head h",
    )
    .get_result(conn.pg())?;
    let heads = r
        .streams
        .into_iter()
        .zip(r.stream_seqs)
        .zip(r.hashes)
        .map(|((s, n), h)| (s, Link { stream_seq: n, hash: h }))
        .collect();
    Ok(TrailState { log: super::log::Head { size: r.size, root: r.root }, heads, last_seq: r.last_seq })
}

/// Every signed checkpoint's tree: (size, root).
fn signed_roots(conn: &mut PgConnection) -> Result<Vec<(u64, Hash)>, Error> {
    Ok(audit_checkpoints::table
        .select((audit_checkpoints::tree_size, audit_checkpoints::root_hash))
        .load::<(Option<i64>, Option<String>)>(conn)?
        .into_iter()
        .filter_map(|(size, root)| {
            // A root that is not 32 bytes of hex can match no tree.
            let root = root.map(|r| crate::domain::merkle::from_hex(&r).unwrap_or([0xff; 32]))?;
            Some((u64::try_from(size?).ok()?, root))
        })
        .collect())
}

/// Each checkpoint must chain to the previous one, hash to its stored hash, and name events that
/// are still in the trail with the same hashes; a kept checkpoint must match the stored one.
fn check_checkpoints(
    conn: &mut PgConnection,
    v: &mut ChainVerifier,
    kept: Option<&KeptCheckpoint>,
    at_seq: i64,
) -> Result<(), Error> {
    let rows: Vec<CheckpointRow> = audit_checkpoints::table.order(audit_checkpoints::id.asc()).load(conn)?;
    if let Some(kept) = kept
        && !rows.iter().any(|c| c.id == kept.id && c.hash == kept.hash)
    {
        v.break_at(at_seq, BreakReason::HeadMismatch);
    }
    let mut prev = GENESIS_HASH.to_owned();
    for cp in rows {
        check_checkpoint(conn, v, &prev, &cp.heads, &cp.prev_hash, &cp.hash, at_seq)?;
        prev = cp.hash;
    }
    Ok(())
}

/// One checkpoint: it must chain to `prev` (the hash of the one before it), hash to its stored
/// hash, and name events that are still in the trail with the same hashes.
pub(super) fn check_checkpoint(
    conn: &mut PgConnection,
    v: &mut ChainVerifier,
    prev: &str,
    heads_text: &str,
    prev_hash: &str,
    hash: &str,
    at_seq: i64,
) -> Result<(), Error> {
    let sound = prev_hash == prev && checkpoint_hash(prev_hash, heads_text) == hash;
    let Some(heads) = parse_checkpoint_heads(heads_text).filter(|_| sound) else {
        v.break_at(at_seq, BreakReason::HeadMismatch);
        return Ok(());
    };
    for chunk in heads.chunks(1000) {
        let streams: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
        let found: Vec<(String, i64, String)> = audit_events::table
            .select((audit_events::stream, audit_events::stream_seq, audit_events::hash))
            .filter(audit_events::stream.eq_any(&streams))
            .filter(audit_events::stream_seq.eq_any(chunk.iter().map(|(_, l)| l.stream_seq)))
            .load(conn)?;
        let found: HashMap<(String, i64), String> = found.into_iter().map(|(s, n, h)| ((s, n), h)).collect();
        if chunk.iter().any(|(stream, link)| found.get(&(stream.clone(), link.stream_seq)) != Some(&link.hash)) {
            v.break_at(at_seq, BreakReason::HeadMismatch);
        }
    }
    Ok(())
}

/// A stored checkpoint.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_checkpoints)]
#[allow(missing_docs)]
pub struct CheckpointRow {
    pub id: i64,
    pub created_at: DateTime<Utc>,
    pub heads: String,
    pub streams: i64,
    pub events: i64,
    pub prev_hash: String,
    pub hash: String,
    pub tree_size: Option<i64>,
    pub root_hash: Option<String>,
    pub note: Option<String>,
}

/// Advisory-lock key that serialises checkpoint takers across processes.
const CHECKPOINT_LOCK: i64 = 0x6368_6b70_6f69_6e74;

/// Takes a checkpoint of every stream's head now (one snapshot), chained to the last one, with
/// the Merkle log's head signed as a C2SP checkpoint note.
pub fn take_checkpoint(conn: &mut Db<'_>, now: DateTime<Utc>, signer: &LogSigner) -> Result<CheckpointRow, Error> {
    conn.pg().transaction(|pg| {
        let conn = &mut Db::new(pg);
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({CHECKPOINT_LOCK})")).execute(conn.pg())?;
        let heads: Vec<(String, i64, String)> = audit_heads::table
            .select((audit_heads::stream, audit_heads::stream_seq, audit_heads::hash))
            .load(conn.pg())?;
        let links: Vec<(String, Link)> =
            heads.into_iter().map(|(s, n, h)| (s, Link { stream_seq: n, hash: h })).collect();
        let text = checkpoint_heads_text(links.iter().map(|(s, l)| (s.as_str(), l)));
        let last: Option<(i64, String)> = audit_checkpoints::table
            .select((audit_checkpoints::id, audit_checkpoints::hash))
            .order(audit_checkpoints::id.desc())
            .first(conn.pg())
            .optional()?;
        let (prev_id, prev_hash) = last.unwrap_or((0, GENESIS_HASH.to_owned()));
        let log = super::log::head(conn)?;
        let root: crate::domain::merkle::Hash = log.root.try_into().map_err(|_| Error::internal("bad log root"))?;
        let row = CheckpointRow {
            tree_size: Some(log.size),
            root_hash: Some(hex::encode(root)),
            note: Some(signer.sign(u64::try_from(log.size).map_err(Error::internal)?, root)),
            id: prev_id + 1,
            created_at: now,
            streams: i64::try_from(links.len()).map_err(Error::internal)?,
            events: links.iter().map(|(_, l)| l.stream_seq).sum(),
            hash: checkpoint_hash(&prev_hash, &text),
            heads: text,
            prev_hash,
        };
        diesel::insert_into(audit_checkpoints::table)
            .values((
                audit_checkpoints::id.eq(row.id),
                audit_checkpoints::created_at.eq(row.created_at),
                audit_checkpoints::heads.eq(&row.heads),
                audit_checkpoints::streams.eq(row.streams),
                audit_checkpoints::events.eq(row.events),
                audit_checkpoints::prev_hash.eq(&row.prev_hash),
                audit_checkpoints::hash.eq(&row.hash),
                audit_checkpoints::tree_size.eq(row.tree_size),
                audit_checkpoints::root_hash.eq(&row.root_hash),
                audit_checkpoints::note.eq(&row.note),
            ))
            .execute(conn.pg())?;
        Ok(row)
    })
}

/// Takes a checkpoint only when some stream moved since the last one (the periodic task).
pub fn take_checkpoint_if_changed(
    conn: &mut Db<'_>,
    now: DateTime<Utc>,
    signer: &LogSigner,
) -> Result<Option<CheckpointRow>, Error> {
    let events: Option<i64> = audit_heads::table
        .select(diesel::dsl::sum(audit_heads::stream_seq))
        .first::<Option<rust_decimal::Decimal>>(conn.pg())?
        .and_then(|d| i64::try_from(d).ok());
    let last: Option<i64> = audit_checkpoints::table
        .select(audit_checkpoints::events)
        .order(audit_checkpoints::id.desc())
        .first(conn.pg())
        .optional()?;
    if events.unwrap_or(0) == 0 || last == events {
        return Ok(None);
    }
    take_checkpoint(conn, now, signer).map(Some)
}

/// The newest checkpoint of this tree size.
pub fn checkpoint_of_size(conn: &mut Db<'_>, size: i64) -> Result<Option<CheckpointRow>, Error> {
    Ok(audit_checkpoints::table
        .filter(audit_checkpoints::tree_size.eq(size))
        .select(CheckpointRow::as_select())
        .order(audit_checkpoints::id.desc())
        .first(conn.pg())
        .optional()?)
}

/// Checkpoints, newest first, after the cursor.
pub fn list_checkpoints(conn: &mut Db<'_>, before_id: Option<i64>, limit: i64) -> Result<Vec<CheckpointRow>, Error> {
    let mut q = audit_checkpoints::table.select(CheckpointRow::as_select()).into_boxed();
    if let Some(b) = before_id {
        q = q.filter(audit_checkpoints::id.lt(b));
    }
    Ok(q.order(audit_checkpoints::id.desc()).limit(limit).load(conn.pg())?)
}

/// The newest `seq` committed so far.
pub fn max_seq(conn: &mut Db<'_>) -> Result<i64, Error> {
    Ok(audit_events::table.select(diesel::dsl::max(audit_events::seq)).first::<Option<i64>>(conn.pg())?.unwrap_or(0))
}
