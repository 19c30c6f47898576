//! THE write path. Every state change of the service goes through `execute`: in one database
//! transaction it claims the idempotency key, runs the use case's work (business rows and balanced
//! ledger entries, through `Tx`), appends the audit events, stores the answer for replays, and
//! commits — or, on any error, writes nothing at all. No other code inserts postings or events.
//!
//! Isolation and lock order. Transactions run at READ COMMITTED and take row locks explicitly,
//! always in this order, so that two writers never wait on each other in a cycle:
//!   1. the idempotency key (the claim's insert; a concurrent duplicate waits here, then replays);
//!   2. business rows: first the year locks of the books the write is dated in (shared, in year
//!      order; a year's close takes its lock exclusive: `service::books`), then organisations,
//!      then funds by id, then the items of a fund; a change of a user's role or `disabled` flag
//!      takes the admin-changes advisory lock before the user's row
//!      (`db::users::lock_admin_changes`);
//!   3. ledger accounts, touched only by the posting trigger, after the fund row that owns them
//!      is locked, and in account order (entries sort their legs);
//!   4. audit stream heads, last and briefly, in stream-name order.
//!
//! A stream head is held from its lock to commit only: a few statements, never a client round
//! trip (see MEASURED.md: a head locked first costs 40% of throughput, one locked last ~7%).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int8, Nullable, Numeric, Text, Timestamptz};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::idempotency::{self, Claim};
use super::pool::Pool;
use super::schema::audit_events;
use crate::domain::audit::{AuditRecord, GENESIS_HASH, Stream};
use crate::domain::ledger::JournalEntry;
use crate::domain::policy::{Caller, SubjectKind};
use crate::error::Error;

/// Above this many rows, inserts use COPY (a multi-row INSERT of 19 columns would also hit
/// PostgreSQL's 65,535-parameter limit at 3,450 rows).
pub const COPY_ABOVE_ROWS: usize = 500;

/// Inserts rows set-based: `COPY` above [`COPY_ABOVE_ROWS`], one multi-row `INSERT` for a few,
/// nothing for none. Every batch table writes through it.
macro_rules! insert_rows {
    ($tx:expr, $table:expr, $rows:expr) => {{
        let rows = $rows;
        if rows.len() > $crate::db::write::COPY_ABOVE_ROWS {
            diesel::copy_from($table).from_insertable(rows).execute($tx.pg())?;
        } else if !rows.is_empty() {
            diesel::insert_into($table).values(rows).execute($tx.pg())?;
        }
        Ok::<(), $crate::error::Error>(())
    }};
}
pub(crate) use insert_rows;

/// Who is writing, under which request, at what time (one clock reading per request, truncated
/// to microseconds because that is what PostgreSQL keeps and what the hash covers).
#[derive(Debug, Clone)]
pub struct WriteCtx {
    /// The caller, from its token; `None` for the service itself (start-up, demo data).
    pub caller: Option<Caller>,
    /// The request's `X-Request-Id`.
    pub request_id: String,
    /// The request's time.
    pub now: DateTime<Utc>,
    /// The request's `Adjusting-Reason`, if it sent one (`service::books::ensure_open` decides
    /// whether the write is an adjusting entry).
    pub adjusting: Option<crate::domain::books::Adjusting>,
}

impl WriteCtx {
    /// The actor as written into the ledger and the trail.
    pub fn actor(&self) -> String {
        self.caller.as_ref().map_or_else(|| "system".to_owned(), Caller::actor)
    }

    /// The caller's user or client id (nil for the system itself), as rows record who did it.
    pub fn subject(&self) -> Uuid {
        self.caller.as_ref().map_or(Uuid::nil(), |c| c.subject)
    }

    /// The actor's role as written into the trail.
    pub fn role(&self) -> &'static str {
        self.caller.as_ref().map_or("system", |c| c.role.as_str())
    }
}

/// A request's `Idempotency-Key` with the fingerprint of the request it came with.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The key as the client sent it.
    pub key: String,
    /// SHA-256 of method, path and canonical body: the same key with another request is refused.
    pub fingerprint: String,
}

/// The answer of a write, as sent and as stored for replays.
#[derive(Debug, Clone)]
pub struct Stored {
    /// HTTP status.
    pub status: u16,
    /// The `ETag` of the resource written, if any.
    pub etag: Option<String>,
    /// The JSON body.
    pub body: Bytes,
    /// True when this is a replay of an earlier answer.
    pub replayed: bool,
}

/// What a use case's work hands back: the answer's status, body and `ETag`.
pub struct Answer<T> {
    /// HTTP status (201 for a creation, 200 otherwise).
    pub status: u16,
    /// The body.
    pub body: T,
    /// The `ETag` of the written resource.
    pub etag: Option<String>,
}

/// An audit event waiting to be appended at the end of the transaction.
#[derive(Debug, Clone)]
pub struct Event {
    /// The chain it belongs to: `fund:<id>`, `org:<id>`, `user:<id>`, …
    pub stream: String,
    /// What happened, past tense, `entity.verb_ed`.
    pub action: &'static str,
    /// The kind of thing.
    pub entity_type: &'static str,
    /// The thing.
    pub entity_id: Uuid,
    /// The organisation concerned.
    pub org_id: Option<Uuid>,
    /// The fund concerned.
    pub fund_id: Option<Uuid>,
    /// The money stage, if any.
    pub stage: Option<&'static str>,
    /// The amount moved, if any.
    pub amount: Option<Decimal>,
    /// The journal entry that moved it.
    pub entry_id: Option<Uuid>,
    /// State before, as JSON.
    pub before: Option<serde_json::Value>,
    /// State after, as JSON.
    pub after: Option<serde_json::Value>,
}

impl Event {
    /// An event with no money and no state, to fill in with struct-update syntax.
    pub fn new(stream: Stream, action: &'static str, entity_type: &'static str, entity_id: Uuid) -> Self {
        Self {
            stream: stream.to_string(),
            action,
            entity_type,
            entity_id,
            org_id: None,
            fund_id: None,
            stage: None,
            amount: None,
            entry_id: None,
            before: None,
            after: None,
        }
    }
}

/// The open transaction, as a use case sees it.
pub struct Tx<'a> {
    db: super::Db<'a>,
    ctx: &'a WriteCtx,
    events: Vec<Event>,
    /// The reason of an adjusting entry, once `service::books::ensure_open` has admitted one.
    adjusting: Option<String>,
    /// Whether a journal entry was posted: money moved.
    posted: bool,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events, treat_none_as_default_value = false)]
struct NewEventRow {
    seq: i64,
    stream: String,
    stream_seq: i64,
    occurred_at: DateTime<Utc>,
    actor: String,
    actor_role: String,
    org_id: Option<Uuid>,
    request_id: String,
    action: String,
    entity_type: String,
    entity_id: Uuid,
    fund_id: Option<Uuid>,
    stage: Option<String>,
    amount: Option<Decimal>,
    entry_id: Option<Uuid>,
    before_json: Option<String>,
    after_json: Option<String>,
    prev_hash: String,
    hash: String,
}

#[derive(QueryableByName)]
struct HeadLock {
    #[diesel(sql_type = BigInt)]
    stream_seq: i64,
    #[diesel(sql_type = Text)]
    hash: String,
    #[diesel(sql_type = Array<Int8>)]
    seqs: Vec<i64>,
}

/// One journal entry to post, with what it records ([`Tx::post_many`]).
#[derive(Debug, Clone, Copy)]
pub struct ToPost<'e> {
    /// The entry.
    pub entry: &'e JournalEntry,
    /// The fund it belongs to, if any.
    pub fund_id: Option<Uuid>,
    /// What it records: an entity type …
    pub entity_type: &'e str,
    /// … and its id.
    pub entity_id: Uuid,
}

impl<'a> Tx<'a> {
    /// The transaction's connection, for the reads a write makes (`db` functions that change or
    /// lock rows take the `Tx` itself, in the order documented above).
    pub fn db(&mut self) -> &mut super::Db<'a> {
        &mut self.db
    }

    /// The connection itself, for `db`'s queries.
    pub(in crate::db) fn pg(&mut self) -> &mut PgConnection {
        self.db.pg()
    }

    /// The raw connection of the open transaction, for tests that look at the transaction from
    /// inside (its isolation, its time limits). Nothing under `src/` calls it: `tests/layers.rs`
    /// keeps it so.
    #[doc(hidden)]
    pub fn unchecked_connection(&mut self) -> &mut PgConnection {
        self.db.pg()
    }

    /// The request's context.
    pub fn ctx(&self) -> &WriteCtx {
        self.ctx
    }

    /// Queues an audit event; events are appended when the work is done, heads locked last.
    pub fn record(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Makes this write an adjusting entry: every event it records says so, with the reason.
    pub fn mark_adjusting(&mut self, reason: &str) {
        self.adjusting = Some(reason.to_owned());
    }

    /// Posts a balanced journal entry and returns its id, in one statement: the accounts an entry
    /// names are created on their first posting, the entry row and its legs are inserted together,
    /// and the posting trigger checks the balance and moves the account balances before the
    /// statement ends. The database re-checks the entry at commit.
    pub fn post(
        &mut self,
        entry: &JournalEntry,
        fund_id: Option<Uuid>,
        entity_type: &str,
        entity_id: Uuid,
    ) -> Result<Uuid, Error> {
        let ids = self.post_many(&[ToPost { entry, fund_id, entity_type, entity_id }])?;
        ids.first().copied().ok_or_else(|| Error::internal("an entry posted without an id"))
    }

    /// Posts many balanced journal entries in one statement, as [`Tx::post`] posts one, and
    /// returns their ids in order: a batch of a thousand payments is one round trip to the
    /// ledger, each payment still its own entry. The posting trigger judges each entry's balance
    /// (it groups the statement's legs by entry).
    pub fn post_many(&mut self, entries: &[ToPost<'_>]) -> Result<Vec<Uuid>, Error> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = entries.iter().map(|_| Uuid::now_v7()).collect();
        let (mut leg_entries, mut funds, mut codes, mut amounts) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (id, e) in ids.iter().zip(entries) {
            for p in e.entry.postings() {
                leg_entries.push(*id);
                funds.push(p.account.fund_id);
                codes.push(p.account.code.as_str());
                amounts.push(p.amount);
            }
        }
        let kinds: Vec<&str> = entries.iter().map(|e| e.entry.kind()).collect();
        let entry_funds: Vec<Option<Uuid>> = entries.iter().map(|e| e.fund_id).collect();
        let entity_types: Vec<&str> = entries.iter().map(|e| e.entity_type).collect();
        let entity_ids: Vec<Uuid> = entries.iter().map(|e| e.entity_id).collect();
        let memos: Vec<&str> = entries.iter().map(|e| e.entry.memo()).collect();
        // Two writers posting to an account neither has seen before would find it created but not
        // yet visible to this statement; the fund lock held by every writer (lock order, step 2)
        // makes that impossible for fund accounts, and the NOT NULL on account_id refuses it anyway.
        let inserted = diesel::sql_query(
            "WITH legs AS (SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::numeric[]) \
                             AS l(entry_id, fund_id, code, amount)), \
                  created AS (INSERT INTO accounts (fund_id, code) SELECT DISTINCT fund_id, code FROM legs \
                              ON CONFLICT ((coalesce(fund_id, '00000000-0000-0000-0000-000000000000'::uuid)), code) \
                              DO NOTHING RETURNING id, fund_id, code), \
                  entry AS (INSERT INTO journal_entries \
                              (id, kind, fund_id, entity_type, entity_id, memo, request_id, actor, created_at) \
                            SELECT e.id, e.kind, e.fund_id, e.entity_type, e.entity_id, e.memo, $11, $12, $13 \
                            FROM unnest($5::uuid[], $6::text[], $7::uuid[], $8::text[], $9::uuid[], $10::text[]) \
                              AS e(id, kind, fund_id, entity_type, entity_id, memo)) \
             INSERT INTO postings (entry_id, account_id, amount) \
             SELECT l.entry_id, coalesce(c.id, a.id), l.amount FROM legs l \
             LEFT JOIN created c ON c.fund_id IS NOT DISTINCT FROM l.fund_id AND c.code = l.code \
             LEFT JOIN accounts a \
               ON coalesce(a.fund_id, '00000000-0000-0000-0000-000000000000'::uuid) \
                = coalesce(l.fund_id, '00000000-0000-0000-0000-000000000000'::uuid) AND a.code = l.code",
        )
        .bind::<Array<diesel::sql_types::Uuid>, _>(&leg_entries)
        .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(&funds)
        .bind::<Array<Text>, _>(&codes)
        .bind::<Array<Numeric>, _>(&amounts)
        .bind::<Array<diesel::sql_types::Uuid>, _>(&ids)
        .bind::<Array<Text>, _>(&kinds)
        .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(&entry_funds)
        .bind::<Array<Text>, _>(&entity_types)
        .bind::<Array<diesel::sql_types::Uuid>, _>(&entity_ids)
        .bind::<Array<Text>, _>(&memos)
        .bind::<Text, _>(&self.ctx.request_id)
        .bind::<Text, _>(self.ctx.actor())
        .bind::<Timestamptz, _>(self.ctx.now)
        .execute(self.db.pg())?;
        if inserted != leg_entries.len() {
            return Err(Error::internal(format!(
                "{} journal entries: {inserted} of {} legs posted",
                ids.len(),
                leg_entries.len()
            )));
        }
        self.posted = true;
        Ok(ids)
    }

    /// Locks (creating when new) the head of every stream written, in stream-name order, and draws
    /// the events' trail positions while the locks are held, so that `seq` grows with
    /// `stream_seq` in every stream. One statement for one stream — the common case — two for many.
    fn lock_heads(&mut self, by_stream: &BTreeMap<String, Vec<Event>>) -> Result<HashMap<String, HeadLock>, Error> {
        if let [(stream, events)] = by_stream.iter().collect::<Vec<_>>().as_slice() {
            let count = i64::try_from(events.len()).map_err(Error::internal)?;
            let head: HeadLock = diesel::sql_query(
                "INSERT INTO audit_heads (stream, stream_seq, hash) VALUES ($1, 0, $2) \
                 ON CONFLICT (stream) DO UPDATE SET stream = EXCLUDED.stream \
                 RETURNING stream_seq, hash, \
                   (SELECT array_agg(s ORDER BY s) FROM (SELECT nextval('audit_seq') AS s FROM generate_series(1, $3)) n) AS seqs",
            )
            .bind::<Text, _>(*stream)
            .bind::<Text, _>(GENESIS_HASH)
            .bind::<BigInt, _>(count)
            .get_result(self.db.pg())?;
            return Ok(HashMap::from([((*stream).clone(), head)]));
        }
        #[derive(QueryableByName)]
        struct Seqs {
            #[diesel(sql_type = Array<Int8>)]
            seqs: Vec<i64>,
        }
        let streams: Vec<&String> = by_stream.keys().collect();
        // A multi-row upsert locks its rows in input order: sorted, like every other writer.
        let locked: Vec<super::chain::StreamLink> = diesel::sql_query(
            "INSERT INTO audit_heads (stream, stream_seq, hash) \
             SELECT s, 0, $2 FROM unnest($1::text[]) WITH ORDINALITY AS u(s, o) ORDER BY o \
             ON CONFLICT (stream) DO UPDATE SET stream = EXCLUDED.stream RETURNING stream, stream_seq, hash",
        )
        .bind::<Array<Text>, _>(&streams)
        .bind::<Text, _>(GENESIS_HASH)
        .load(self.db.pg())?;
        let total: i64 = by_stream.values().map(|v| i64::try_from(v.len()).unwrap_or(i64::MAX)).sum();
        let seqs: Seqs = diesel::sql_query(
            "SELECT array_agg(s ORDER BY s) AS seqs FROM (SELECT nextval('audit_seq') AS s FROM generate_series(1, $1)) n",
        )
        .bind::<BigInt, _>(total)
        .get_result(self.db.pg())?;
        let mut seqs = seqs.seqs.into_iter();
        let mut heads = HashMap::new();
        let by_name: HashMap<String, super::chain::StreamLink> =
            locked.into_iter().map(|l| (l.stream.clone(), l)).collect();
        for (stream, events) in by_stream {
            let l = by_name.get(stream).ok_or_else(|| Error::internal("stream head not returned"))?;
            let mine: Vec<i64> = seqs.by_ref().take(events.len()).collect();
            heads.insert(stream.clone(), HeadLock { stream_seq: l.stream_seq, hash: l.hash.clone(), seqs: mine });
        }
        Ok(heads)
    }

    /// Appends the queued events: per stream (in name order) lock the head, take `seq`s under
    /// that lock (so that `seq` and `stream_seq` grow together), hash, insert, move the head.
    fn append_events(&mut self) -> Result<(), Error> {
        if self.events.is_empty() {
            return Ok(());
        }
        let mut by_stream: BTreeMap<String, Vec<Event>> = BTreeMap::new();
        for e in self.events.drain(..) {
            by_stream.entry(e.stream.clone()).or_default().push(e);
        }
        let actor = self.ctx.actor();
        let role = self.ctx.role();
        let mut rows = Vec::new();
        let mut heads = self.lock_heads(&by_stream)?;
        for (stream, events) in by_stream {
            let head = heads.remove(&stream).ok_or_else(|| Error::internal("stream head not locked"))?;
            let mut prev_hash = head.hash;
            for (stream_seq, (event, seq)) in (head.stream_seq + 1..).zip(events.into_iter().zip(head.seqs)) {
                let record = AuditRecord {
                    seq,
                    stream: stream.clone(),
                    stream_seq,
                    occurred_at: self.ctx.now,
                    actor: actor.clone(),
                    actor_role: role.to_owned(),
                    org_id: event.org_id,
                    request_id: self.ctx.request_id.clone(),
                    action: event.action.to_owned(),
                    entity_type: event.entity_type.to_owned(),
                    entity_id: event.entity_id,
                    fund_id: event.fund_id,
                    stage: event.stage.map(str::to_owned),
                    amount: event.amount,
                    entry_id: event.entry_id,
                    before: event.before.map(|v| v.to_string()),
                    after: adjusted(event.after, self.adjusting.as_deref()).map(|v| v.to_string()),
                    prev_hash,
                };
                let hash = record.compute_hash();
                prev_hash = hash.clone();
                rows.push(NewEventRow {
                    seq: record.seq,
                    stream: record.stream,
                    stream_seq: record.stream_seq,
                    occurred_at: record.occurred_at,
                    actor: record.actor,
                    actor_role: record.actor_role,
                    org_id: record.org_id,
                    request_id: record.request_id,
                    action: record.action,
                    entity_type: record.entity_type,
                    entity_id: record.entity_id,
                    fund_id: record.fund_id,
                    stage: record.stage,
                    amount: record.amount,
                    entry_id: record.entry_id,
                    before_json: record.before,
                    after_json: record.after,
                    prev_hash: record.prev_hash,
                    hash: hash.clone(),
                });
            }
        }
        // The insert's statement trigger moves each stream's head to its newest event.
        // A single row goes in as a single-row insert: diesel caches its prepared statement,
        // which it does not for a multi-row insert.
        match rows.as_slice() {
            [row] => {
                diesel::insert_into(audit_events::table).values(row).execute(self.db.pg())?;
            }
            // Many rows (a batch) stream in with COPY: no statement to parse, no parameter limit.
            rows if rows.len() > COPY_ABOVE_ROWS => {
                diesel::copy_from(audit_events::table).from_insertable(rows).execute(self.db.pg())?;
            }
            rows => {
                diesel::insert_into(audit_events::table).values(rows).execute(self.db.pg())?;
            }
        }
        Ok(())
    }
}

/// An event's `after` state, with `adjusting: true` and the reason when the write is an adjusting
/// entry (issue 16: the trail shows adjusting entries as such).
fn adjusted(after: Option<serde_json::Value>, reason: Option<&str>) -> Option<serde_json::Value> {
    let Some(reason) = reason else { return after };
    let mut map = match after {
        Some(serde_json::Value::Object(map)) => map,
        None => serde_json::Map::new(),
        Some(other) => serde_json::Map::from_iter([("state".to_owned(), other)]),
    };
    map.insert("adjusting".into(), true.into());
    map.insert("adjusting_reason".into(), reason.into());
    Some(serde_json::Value::Object(map))
}

/// Runs one state change through the write path (see the module documentation).
/// `work` returns the answer; nothing it wrote survives if it (or anything after it) fails.
pub fn execute<T, F>(pool: &Pool, ctx: &WriteCtx, idempotency: Option<&Idempotency>, work: F) -> Result<Stored, Error>
where
    T: Serialize,
    F: FnOnce(&mut Tx<'_>) -> Result<Answer<T>, Error>,
{
    run(pool, ctx, idempotency, work, |_, body| Ok(body.clone()))
}

/// `execute` for an answer that carries a secret shown once (a new or rotated client secret):
/// the caller receives `work`'s answer whole, but what is stored for a replay of its
/// `Idempotency-Key` is `keep(&answer)` — the answer without the secret — so that the secret
/// is kept nowhere, not even for the 48 hours of a key (nor in any dump of the database).
pub fn execute_keeping<T, K, F, R>(
    pool: &Pool,
    ctx: &WriteCtx,
    idempotency: Option<&Idempotency>,
    work: F,
    keep: R,
) -> Result<Stored, Error>
where
    T: Serialize,
    K: Serialize,
    F: FnOnce(&mut Tx<'_>) -> Result<Answer<T>, Error>,
    R: FnOnce(&T) -> K,
{
    run(pool, ctx, idempotency, work, |answer, _| {
        Ok(Bytes::from(serde_json::to_vec(&keep(answer)).map_err(Error::internal)?))
    })
}

/// The write path itself; `stored_body` makes the body kept for replays from the answer.
fn run<T, F, S>(
    pool: &Pool,
    ctx: &WriteCtx,
    idempotency: Option<&Idempotency>,
    work: F,
    stored_body: S,
) -> Result<Stored, Error>
where
    T: Serialize,
    F: FnOnce(&mut Tx<'_>) -> Result<Answer<T>, Error>,
    S: FnOnce(&T, &Bytes) -> Result<Bytes, Error>,
{
    let mut conn = pool.get()?;
    let limits = pool.limits();
    // READ COMMITTED stated, not inherited from whatever the server's default is: the lock order
    // above is what keeps writers apart, and it assumes each statement sees the latest commits.
    // The time limits hold for this transaction only: a write waits at most `lock_timeout` for
    // a row lock (then the database cancels it and the caller gets 503 `try_again`, nothing
    // written), and no statement of it runs longer than `statement_timeout`.
    conn.build_transaction().read_committed().run(|conn| {
        conn.batch_execute(&format!(
            "SET LOCAL lock_timeout = {}; SET LOCAL statement_timeout = {}",
            limits.lock_timeout_ms, limits.statement_timeout_ms
        ))?;
        let caller = ctx.actor();
        if let Some(idem) = idempotency {
            match idempotency::claim(&mut super::Db::new(conn), &caller, idem)? {
                Claim::Claimed => {}
                Claim::Replay(stored) => return Ok(stored),
            }
        }
        let mut tx = Tx { db: super::Db::new(conn), ctx, events: Vec::new(), adjusting: None, posted: false };
        let answer = work(&mut tx)?;
        // A system client retries: money moved without a key would move again on its retry.
        // `http::extract::MONEY_POSTS` refuses this before any work; this catches a route missing there.
        if tx.posted && idempotency.is_none() && ctx.caller.as_ref().is_some_and(|c| c.kind == SubjectKind::Client) {
            return Err(Error::IdempotencyKeyRequired);
        }
        tx.append_events()?;
        let body = Bytes::from(serde_json::to_vec(&answer.body).map_err(Error::internal)?);
        if let Some(idem) = idempotency {
            let kept = stored_body(&answer.body, &body)?;
            let kept = Stored { status: answer.status, etag: answer.etag.clone(), body: kept, replayed: false };
            idempotency::complete(tx.db(), &caller, idem, &kept)?;
        }
        Ok(Stored { status: answer.status, etag: answer.etag, body, replayed: false })
    })
}
