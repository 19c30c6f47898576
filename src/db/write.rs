//! THE write path. Every state change of the service goes through `execute`: in one database
//! transaction it claims the idempotency key, runs the use case's work (business rows and balanced
//! ledger entries, through `Tx`), appends the audit events, stores the answer for replays, and
//! commits — or, on any error, writes nothing at all. No other code inserts postings or events.
//!
//! Isolation and lock order. Transactions run at READ COMMITTED and take row locks explicitly,
//! always in this order, so that two writers never wait on each other in a cycle:
//!   1. the idempotency key (the claim's insert; a concurrent duplicate waits here, then replays);
//!   2. business rows: organisations, then funds by id, then the items of a fund;
//!   3. ledger accounts, touched only by the posting trigger, after the fund row that owns them
//!      is locked, and in account order (entries sort their legs);
//!   4. audit stream heads, last and briefly, in stream-name order.
//!
//! A stream head is held from its lock to commit only: a few statements, never a client round
//! trip (see MEASURED.md: a head locked first costs 40% of throughput, one locked last ~7%).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Int8, Text};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

use super::idempotency::{self, Claim};
use super::pool::Pool;
use super::schema::{accounts, audit_events, journal_entries, postings};
use crate::domain::audit::{AuditRecord, GENESIS_HASH};
use crate::domain::ledger::{AccountRef, JournalEntry};
use crate::domain::policy::Caller;
use crate::error::Error;

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
}

impl WriteCtx {
    /// The actor as written into the ledger and the trail.
    pub fn actor(&self) -> String {
        self.caller.as_ref().map_or_else(|| "system".to_owned(), Caller::actor)
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
    pub fn new(stream: String, action: &'static str, entity_type: &'static str, entity_id: Uuid) -> Self {
        Self {
            stream,
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
    conn: &'a mut PgConnection,
    ctx: &'a WriteCtx,
    events: Vec<Event>,
    account_ids: HashMap<AccountRef, i64>,
}

#[derive(Insertable)]
#[diesel(table_name = journal_entries)]
struct NewEntryRow<'a> {
    id: Uuid,
    kind: &'a str,
    fund_id: Option<Uuid>,
    entity_type: &'a str,
    entity_id: Uuid,
    memo: &'a str,
    request_id: &'a str,
    actor: &'a str,
    created_at: DateTime<Utc>,
}

#[derive(Insertable)]
#[diesel(table_name = postings)]
struct NewPostingRow {
    entry_id: Uuid,
    account_id: i64,
    amount: Decimal,
}

#[derive(Insertable)]
#[diesel(table_name = audit_events)]
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

impl<'a> Tx<'a> {
    /// The connection, for the use case's own rows (locks in the order documented above).
    pub fn conn(&mut self) -> &mut PgConnection {
        self.conn
    }

    /// The request's context.
    pub fn ctx(&self) -> &WriteCtx {
        self.ctx
    }

    /// Queues an audit event; events are appended when the work is done, heads locked last.
    pub fn record(&mut self, event: Event) {
        self.events.push(event);
    }

    /// Posts a balanced journal entry and returns its id. The database re-checks the balance at
    /// commit and moves the account balances in the same statement as the postings.
    pub fn post(
        &mut self,
        entry: &JournalEntry,
        fund_id: Option<Uuid>,
        entity_type: &str,
        entity_id: Uuid,
    ) -> Result<Uuid, Error> {
        let ids = self.account_ids(entry.postings().iter().map(|p| &p.account))?;
        let id = Uuid::now_v7();
        let actor = self.ctx.actor();
        diesel::insert_into(journal_entries::table)
            .values(NewEntryRow {
                id,
                kind: entry.kind(),
                fund_id,
                entity_type,
                entity_id,
                memo: entry.memo(),
                request_id: &self.ctx.request_id,
                actor: &actor,
                created_at: self.ctx.now,
            })
            .execute(self.conn)?;
        let rows: Vec<NewPostingRow> = entry
            .postings()
            .iter()
            .zip(ids)
            .map(|(p, account_id)| NewPostingRow { entry_id: id, account_id, amount: p.amount })
            .collect();
        diesel::insert_into(postings::table).values(&rows).execute(self.conn)?;
        Ok(id)
    }

    /// Ids of the accounts, creating the missing ones (an account exists from its first posting).
    fn account_ids<'r>(&mut self, refs: impl Iterator<Item = &'r AccountRef> + Clone) -> Result<Vec<i64>, Error> {
        let missing: Vec<&AccountRef> = refs.clone().filter(|r| !self.account_ids.contains_key(*r)).collect();
        if !missing.is_empty() {
            // Accounts exist from their first posting on, so usually one SELECT finds them all;
            // only a first posting pays for the insert (ON CONFLICT: another writer may race us).
            self.load_accounts(&missing)?;
            let absent: Vec<&AccountRef> = missing.into_iter().filter(|r| !self.account_ids.contains_key(*r)).collect();
            if !absent.is_empty() {
                let rows: Vec<_> = absent
                    .iter()
                    .map(|r| (accounts::fund_id.eq(r.fund_id), accounts::code.eq(r.code.as_str())))
                    .collect();
                diesel::insert_into(accounts::table).values(&rows).on_conflict_do_nothing().execute(self.conn)?;
                self.load_accounts(&absent)?;
            }
        }
        refs.map(|r| self.account_ids.get(r).copied().ok_or_else(|| Error::internal(format!("account {r:?} missing"))))
            .collect()
    }

    fn load_accounts(&mut self, refs: &[&AccountRef]) -> Result<(), Error> {
        let funds: Vec<Uuid> = refs.iter().filter_map(|r| r.fund_id).collect();
        let codes: Vec<&str> = refs.iter().map(|r| r.code.as_str()).collect();
        let found: Vec<(i64, Option<Uuid>, String)> = accounts::table
            .select((accounts::id, accounts::fund_id, accounts::code))
            .filter(accounts::code.eq_any(&codes))
            .filter(accounts::fund_id.eq_any(&funds).or(accounts::fund_id.is_null()))
            .load(self.conn)?;
        for (id, fund_id, code) in found {
            self.account_ids.insert(AccountRef { fund_id, code }, id);
        }
        Ok(())
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
        let mut heads: Vec<(String, i64, String)> = Vec::new();
        for (stream, events) in by_stream {
            let count = i64::try_from(events.len()).map_err(Error::internal)?;
            // Creates the head on a stream's first event; in every case locks it and returns it,
            // with the trail positions for this stream's events drawn while the lock is held.
            let head: HeadLock = diesel::sql_query(
                "INSERT INTO audit_heads (stream, stream_seq, hash) VALUES ($1, 0, $2) \
                 ON CONFLICT (stream) DO UPDATE SET stream = EXCLUDED.stream \
                 RETURNING stream_seq, hash, \
                   (SELECT array_agg(s ORDER BY s) FROM (SELECT nextval('audit_seq') AS s FROM generate_series(1, $3)) n) AS seqs",
            )
            .bind::<Text, _>(&stream)
            .bind::<Text, _>(GENESIS_HASH)
            .bind::<BigInt, _>(count)
            .get_result(self.conn)?;
            let mut prev_hash = head.hash;
            let mut stream_seq = head.stream_seq;
            for (event, seq) in events.into_iter().zip(head.seqs) {
                stream_seq += 1;
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
                    after: event.after.map(|v| v.to_string()),
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
            heads.push((stream, stream_seq, prev_hash));
        }
        diesel::insert_into(audit_events::table).values(&rows).execute(self.conn)?;
        for (stream, stream_seq, hash) in heads {
            use super::schema::audit_heads::dsl as h;
            diesel::update(h::audit_heads.filter(h::stream.eq(stream)))
                .set((h::stream_seq.eq(stream_seq), h::hash.eq(hash)))
                .execute(self.conn)?;
        }
        Ok(())
    }
}

/// Runs one state change through the write path (see the module documentation).
/// `work` returns the answer; nothing it wrote survives if it (or anything after it) fails.
pub fn execute<T, F>(pool: &Pool, ctx: &WriteCtx, idempotency: Option<&Idempotency>, work: F) -> Result<Stored, Error>
where
    T: Serialize,
    F: FnOnce(&mut Tx<'_>) -> Result<Answer<T>, Error>,
{
    let mut conn = pool.get()?;
    conn.transaction(|conn| {
        let caller = ctx.actor();
        if let Some(idem) = idempotency {
            match idempotency::claim(conn, &caller, idem)? {
                Claim::Claimed => {}
                Claim::Replay(stored) => return Ok(stored),
            }
        }
        let mut tx = Tx { conn, ctx, events: Vec::new(), account_ids: HashMap::new() };
        let answer = work(&mut tx)?;
        tx.append_events()?;
        let body = Bytes::from(serde_json::to_vec(&answer.body).map_err(Error::internal)?);
        let stored = Stored { status: answer.status, etag: answer.etag, body, replayed: false };
        if let Some(idem) = idempotency {
            idempotency::complete(tx.conn, &caller, idem, &stored)?;
        }
        Ok(stored)
    })
}
