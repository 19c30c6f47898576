//! Audit events and the bytes that are hashed into the trail.
//!
//! The hash input is a fixed byte encoding (not whatever a JSON library prints today), so that
//! an auditor can recompute it in any language from an export. Version 1, byte for byte:
//!
//! ```text
//! "unionfund-audit-v1"            18 ASCII bytes, no terminator
//! then 18 fields, in this order, each as
//!     absent:  FF FF FF FF
//!     present: u32 big-endian byte length, then the UTF-8 bytes
//! seq, stream, stream_seq, occurred_at, actor, actor_role, org_id, request_id, action,
//! entity_type, entity_id, fund_id, stage, amount, entry_id, before, after, prev_hash
//! ```
//! Text forms: integers in decimal ASCII; `occurred_at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC,
//! exactly six fractional digits); UUIDs lower-case hyphenated; `amount` with exactly two
//! decimals and a leading `-` when negative; `before`/`after` are the stored JSON text as is;
//! `prev_hash` as 64 lower-case hex digits (64 zeros for the first event of a stream).
//! `hash` = lower-case hex of SHA-256 over those bytes.
//!
//! Each stream (a fund, an organisation, …) is its own chain: event n of a stream carries the
//! hash of event n − 1 of the same stream. `seq` orders the whole trail and is hashed too, so
//! moving an event to another position breaks its hash.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The `prev_hash` of a stream's first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The first bytes of every event's hash input (version 1).
pub const MAGIC: &[u8] = b"unionfund-audit-v1";

/// The chain an event belongs to. Its text (`Display`) is what is stored in `stream` and hashed
/// into every event, so these spellings are part of the trail's format: never change one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stream {
    /// `fund:<id>`: a fund's sources, items and cases (hardship, grants, campaigns).
    Fund(Uuid),
    /// `org:<id>`: an organisation, its users and clients, its union fees.
    Org(Uuid),
    /// `budget:<year>`: the year's budget lines and appropriations.
    Budget(i32),
    /// `books:<year>`: the year's close.
    Books(i32),
    /// `fee_rates`: the fee-rate table.
    FeeRates,
    /// `system`: the service's own maintenance (key rotation).
    System,
}

impl std::fmt::Display for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fund(id) => write!(f, "fund:{id}"),
            Self::Org(id) => write!(f, "org:{id}"),
            Self::Budget(year) => write!(f, "budget:{year}"),
            Self::Books(year) => write!(f, "books:{year}"),
            Self::FeeRates => f.write_str("fee_rates"),
            Self::System => f.write_str("system"),
        }
    }
}

/// One event of the trail, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the whole trail.
    pub seq: i64,
    /// The chain this event belongs to, e.g. `fund:<uuid>`.
    pub stream: String,
    /// Position within the stream, from 1 without gaps.
    pub stream_seq: i64,
    /// When it happened (microsecond precision, as PostgreSQL keeps it).
    pub occurred_at: DateTime<Utc>,
    /// `user:<id>`, `client:<id>` or `system`.
    pub actor: String,
    /// The actor's role at the time.
    pub actor_role: String,
    /// The organisation the event concerns.
    pub org_id: Option<Uuid>,
    /// The `X-Request-Id` of the request that wrote it.
    pub request_id: String,
    /// What happened, past tense (`fund.created`, `fund.source_added`, …).
    pub action: String,
    /// The kind of thing it happened to.
    pub entity_type: String,
    /// The thing it happened to.
    pub entity_id: Uuid,
    /// The fund concerned, if any.
    pub fund_id: Option<Uuid>,
    /// The money stage (allocation, disbursement, use, settlement), if any.
    pub stage: Option<String>,
    /// The amount moved, if any.
    pub amount: Option<Decimal>,
    /// The journal entry that moved it, if any.
    pub entry_id: Option<Uuid>,
    /// The state before, as JSON text.
    pub before: Option<String>,
    /// The state after, as JSON text.
    pub after: Option<String>,
    /// The previous event's hash in the same stream.
    pub prev_hash: String,
}

/// The text form of a timestamp inside the hash input.
pub fn format_time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The text form of an amount inside the hash input: exactly two decimals.
pub fn format_amount(d: Decimal) -> String {
    let mut d = d.round_dp(2);
    d.rescale(2);
    d.to_string()
}

/// Appends one field of the hash input: its 4-byte big-endian length and its UTF-8 bytes, or
/// `FF FF FF FF` when absent. The offline verifier hashes an export's text with it too.
pub fn field(out: &mut Vec<u8>, value: Option<&str>) {
    match value {
        None => out.extend_from_slice(&[0xFF; 4]),
        Some(v) => {
            // An event field is far below 4 GiB: the request body limit is a few MiB.
            let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(v.as_bytes());
        }
    }
}

impl AuditRecord {
    /// The version-1 hash input (see the module documentation).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let uuid = |u: &Option<Uuid>| u.map(|u| u.to_string());
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(MAGIC);
        field(&mut out, Some(&self.seq.to_string()));
        field(&mut out, Some(&self.stream));
        field(&mut out, Some(&self.stream_seq.to_string()));
        field(&mut out, Some(&format_time(&self.occurred_at)));
        field(&mut out, Some(&self.actor));
        field(&mut out, Some(&self.actor_role));
        field(&mut out, uuid(&self.org_id).as_deref());
        field(&mut out, Some(&self.request_id));
        field(&mut out, Some(&self.action));
        field(&mut out, Some(&self.entity_type));
        field(&mut out, Some(&self.entity_id.to_string()));
        field(&mut out, uuid(&self.fund_id).as_deref());
        field(&mut out, self.stage.as_deref());
        field(&mut out, self.amount.map(format_amount).as_deref());
        field(&mut out, uuid(&self.entry_id).as_deref());
        field(&mut out, self.before.as_deref());
        field(&mut out, self.after.as_deref());
        field(&mut out, Some(&self.prev_hash));
        out
    }

    /// Lower-case hex SHA-256 of the canonical bytes.
    pub fn compute_hash(&self) -> String {
        hex::encode(Sha256::digest(self.canonical_bytes()))
    }
}

/// Why verification stopped trusting an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakReason {
    /// The stored hash is not the hash of the stored content: the event was altered or moved.
    HashMismatch,
    /// The event does not follow its stream's previous event: one was removed, inserted or
    /// reordered.
    ChainBroken,
    /// The stream's head (or a checkpoint) names an event that is not there, or differs.
    HeadMismatch,
    /// The Merkle log disagrees with the trail: a signed checkpoint's root (or the log's head)
    /// is not the root recomputed from the events, or an event is missing from the log.
    LogMismatch,
}

impl BreakReason {
    /// Stable machine-readable name, used in `first_broken.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakReason::HashMismatch => "hash_mismatch",
            BreakReason::ChainBroken => "chain_broken",
            BreakReason::HeadMismatch => "head_mismatch",
            BreakReason::LogMismatch => "log_mismatch",
        }
    }
}

/// The last verified event of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Its position in the stream.
    pub stream_seq: i64,
    /// Its hash.
    pub hash: String,
}

/// Walks events in `seq` order and checks each against its stream's previous one.
/// It keeps one link per stream, not the events, so a million events need little memory.
#[derive(Debug, Default)]
pub struct ChainVerifier {
    tails: HashMap<String, Link>,
    checked: u64,
    first_broken: Option<(i64, BreakReason)>,
}

impl ChainVerifier {
    /// A verifier for a whole trail (every stream starts at the genesis hash).
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier for a range: `tails` gives, for streams that began before the range, the
    /// event just before it (trusted as stored; verify the earlier range to check it too).
    pub fn starting_from(tails: HashMap<String, Link>) -> Self {
        Self { tails, ..Self::default() }
    }

    /// Seeds a stream not seen yet with the event just before the first one to be checked
    /// (trusted as stored, as [`Self::starting_from`]'s tails are); a stream already seen keeps
    /// what it has.
    pub fn seed(&mut self, stream: &str, link: Link) {
        self.tails.entry(stream.to_owned()).or_insert(link);
    }

    /// Checks one event with its stored hash. Returns false once the trail is broken.
    pub fn push(&mut self, event: &AuditRecord, stored_hash: &str) -> bool {
        self.push_canonical(event, &event.canonical_bytes(), stored_hash)
    }

    /// [`Self::push`] with the event's canonical bytes already made (the Merkle log's leaf
    /// is made from the same bytes, so verifiers build them once).
    pub fn push_canonical(&mut self, event: &AuditRecord, canonical: &[u8], stored_hash: &str) -> bool {
        self.checked += 1;
        let expected = self.tails.get(&event.stream);
        let follows = match expected {
            None => event.stream_seq == 1 && event.prev_hash == GENESIS_HASH,
            Some(link) => event.stream_seq == link.stream_seq + 1 && event.prev_hash == link.hash,
        };
        let reason = if hex::encode(Sha256::digest(canonical)) != stored_hash {
            Some(BreakReason::HashMismatch)
        } else if !follows {
            Some(BreakReason::ChainBroken)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.break_at(event.seq, reason);
            return false;
        }
        self.tails.insert(event.stream.clone(), Link { stream_seq: event.stream_seq, hash: stored_hash.to_owned() });
        true
    }

    /// Compares what the trail ends with against heads recorded elsewhere (the head table, or a
    /// checkpoint): each named event must be there with that hash. Catches events cut off the
    /// end of a stream, which no link inside the trail can show. `at_seq` names the failure.
    pub fn check_heads<'a>(&mut self, heads: impl IntoIterator<Item = (&'a str, &'a Link)>, at_seq: i64) {
        for (stream, head) in heads {
            let ok = matches!(self.tails.get(stream), Some(t) if t.stream_seq >= head.stream_seq);
            if !ok {
                self.break_at(at_seq, BreakReason::HeadMismatch);
            }
        }
    }

    /// Records a break found elsewhere (for instance, a checkpoint whose event differs).
    pub fn break_at(&mut self, seq: i64, reason: BreakReason) {
        if self.first_broken.is_none_or(|(s, _)| seq < s) {
            self.first_broken = Some((seq, reason));
        }
    }

    /// The streams' last verified events.
    pub fn tails(&self) -> &HashMap<String, Link> {
        &self.tails
    }

    /// Events checked so far.
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The lowest `seq` found broken, with why.
    pub fn first_broken(&self) -> Option<(i64, BreakReason)> {
        self.first_broken
    }
}

/// A checkpoint's canonical text: one line per stream, `stream stream_seq hash\n`, sorted by
/// stream; its hash is SHA-256 over `"unionfund-checkpoint-v1\n" ‖ prev_hash ‖ "\n" ‖ heads`.
pub fn checkpoint_heads_text<'a>(heads: impl IntoIterator<Item = (&'a str, &'a Link)>) -> String {
    let mut lines: Vec<String> = heads.into_iter().map(|(s, l)| format!("{s} {} {}\n", l.stream_seq, l.hash)).collect();
    lines.sort();
    lines.concat()
}

/// The hash of a checkpoint (see `checkpoint_heads_text`).
pub fn checkpoint_hash(prev_hash: &str, heads_text: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"unionfund-checkpoint-v1\n");
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(heads_text.as_bytes());
    hex::encode(h.finalize())
}

/// Parses a checkpoint's heads text back into (stream, link) pairs; None if it is malformed.
pub fn parse_checkpoint_heads(text: &str) -> Option<Vec<(String, Link)>> {
    text.lines()
        .map(|line| {
            let mut parts = line.split(' ');
            let stream = parts.next()?.to_owned();
            let stream_seq = parts.next()?.parse().ok()?;
            let hash = parts.next()?.to_owned();
            parts.next().is_none().then_some((stream, Link { stream_seq, hash }))
        })
        .collect()
}

/// An event to test with (a fund created on `stream`), for this module's tests and the export's.
#[cfg(test)]
pub(crate) mod fixtures {
    #![allow(clippy::unwrap_used)]
    use chrono::TimeZone;

    use super::*;

    /// The event at `seq`, `stream_seq` of `stream`, after `prev`.
    pub(crate) fn event(seq: i64, stream: &str, stream_seq: i64, prev: &str) -> AuditRecord {
        AuditRecord {
            seq,
            stream: stream.into(),
            stream_seq,
            occurred_at: Utc.with_ymd_and_hms(2022, 12, 1, 8, 0, 0).unwrap(),
            actor: "user:0190a0b0-0000-7000-8000-000000000001".into(),
            actor_role: "finance_officer".into(),
            org_id: None,
            request_id: "req-1".into(),
            action: "fund.created".into(),
            entity_type: "fund".into(),
            entity_id: Uuid::from_u128(5),
            fund_id: Some(Uuid::from_u128(5)),
            stage: None,
            amount: Some(Decimal::new(6_000_000, 2)),
            entry_id: None,
            before: None,
            after: Some("{\"budget\":\"60000.00\"}".into()),
            prev_hash: prev.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    use super::fixtures::event;

    fn chain(n: i64) -> Vec<(AuditRecord, String)> {
        let mut out = Vec::new();
        let mut prev = GENESIS_HASH.to_owned();
        for i in 1..=n {
            let e = event(i, "fund:a", i, &prev);
            let h = e.compute_hash();
            prev = h.clone();
            out.push((e, h));
        }
        out
    }

    #[test]
    fn the_encoding_is_fixed() {
        let e = event(1, "fund:a", 1, GENESIS_HASH);
        let bytes = e.canonical_bytes();
        assert!(bytes.starts_with(b"unionfund-audit-v1\x00\x00\x00\x011"));
        // org_id is absent: four 0xFF bytes stand in its place.
        assert!(bytes.windows(4).any(|w| w == [0xFF; 4]));
        assert_eq!(format_amount(Decimal::new(6_000_000, 2)), "60000.00");
        assert_eq!(format_amount(Decimal::new(-5, 1)), "-0.50");
        assert_eq!(format_time(&e.occurred_at), "2022-12-01T08:00:00.000000Z");
        // A golden value: changing the encoding must be a deliberate, versioned decision.
        assert_eq!(e.compute_hash().len(), 64);
    }

    #[test]
    fn an_intact_chain_verifies() {
        let mut v = ChainVerifier::new();
        for (e, h) in chain(5) {
            assert!(v.push(&e, &h));
        }
        assert_eq!(v.checked(), 5);
        assert_eq!(v.first_broken(), None);
    }

    #[test]
    fn an_altered_event_is_named() {
        let mut events = chain(5);
        events[2].0.amount = Some(Decimal::new(1, 2));
        let mut v = ChainVerifier::new();
        let broken = events.iter().find(|(e, h)| !v.push(e, h)).map(|(e, _)| e.seq);
        assert_eq!(broken, Some(3));
        assert_eq!(v.first_broken(), Some((3, BreakReason::HashMismatch)));
    }

    #[test]
    fn a_removed_event_breaks_the_chain_at_its_successor() {
        let mut events = chain(5);
        events.remove(1);
        let mut v = ChainVerifier::new();
        events.iter().all(|(e, h)| v.push(e, h));
        assert_eq!(v.first_broken(), Some((3, BreakReason::ChainBroken)));
    }

    #[test]
    fn a_cut_tail_is_caught_by_the_head() {
        let events = chain(5);
        let mut v = ChainVerifier::new();
        for (e, h) in &events[..3] {
            v.push(e, h);
        }
        let head = Link { stream_seq: 5, hash: events[4].1.clone() };
        v.check_heads([("fund:a", &head)], 4);
        assert_eq!(v.first_broken(), Some((4, BreakReason::HeadMismatch)));
    }

    #[test]
    fn checkpoint_text_round_trips() {
        let a = Link { stream_seq: 3, hash: "ab".repeat(32) };
        let b = Link { stream_seq: 1, hash: "cd".repeat(32) };
        let text = checkpoint_heads_text([("org:b", &b), ("fund:a", &a)]);
        assert!(text.starts_with("fund:a 3 "));
        let parsed = parse_checkpoint_heads(&text).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].1, a);
        assert_ne!(checkpoint_hash(GENESIS_HASH, &text), checkpoint_hash(GENESIS_HASH, ""));
    }

    #[test]
    fn stream_names_are_the_stored_spellings() {
        let id = Uuid::parse_str("0190a6d4-0000-7000-8000-000000000001").unwrap();
        assert_eq!(Stream::Fund(id).to_string(), "fund:0190a6d4-0000-7000-8000-000000000001");
        assert_eq!(Stream::Org(id).to_string(), "org:0190a6d4-0000-7000-8000-000000000001");
        assert_eq!(Stream::Budget(2022).to_string(), "budget:2022");
        assert_eq!(Stream::Books(2022).to_string(), "books:2022");
        assert_eq!(Stream::FeeRates.to_string(), "fee_rates");
        assert_eq!(Stream::System.to_string(), "system");
    }
}
