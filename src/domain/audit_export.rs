//! The audit export as the offline verifiers read it (`unionfund audit verify-export` and
//! `verify-consistency`, README, "Verifying offline"): its columns, one NDJSON line read back
//! into the exact bytes the hash covers, the chain checks over a file, and a consistency proof
//! file. Pure: the lines come in as text, and what they say goes out as values; reading files
//! and writing verdicts is the service's.
//!
//! Each answers exactly what `tools/verify_trail.py` answers: the same fields in the same
//! order, the same words for unreadable input.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::audit::{BreakReason, GENESIS_HASH, MAGIC, field};
use super::merkle::{Hash, from_hex};

/// The columns of an export, in order.
pub const EXPORT_COLUMNS: [&str; 20] = [
    "seq",
    "stream",
    "stream_seq",
    "occurred_at",
    "actor",
    "actor_role",
    "org_id",
    "request_id",
    "action",
    "entity_type",
    "entity_id",
    "fund_id",
    "stage",
    "amount",
    "entry_id",
    "before",
    "after",
    "prev_hash",
    "hash",
    "log_index",
];

/// The 18 fields the hash covers, in their order (README, "The hash, byte for byte"): the export's
/// columns up to `hash`, which is the hash itself.
pub const HASHED_FIELDS: &[&str] = EXPORT_COLUMNS.split_at(18).0;

/// One export line as the verifiers read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportLine {
    /// Its `seq`.
    pub seq: i64,
    /// Its `stream`.
    pub stream: String,
    /// Its `stream_seq`.
    pub stream_seq: i64,
    /// Its `prev_hash`; `None` when null.
    pub prev_hash: Option<String>,
    /// Its `hash`, as exported.
    pub hash: String,
    /// Its position in the Merkle log; `None` when absent or null.
    pub log_index: Option<u64>,
    /// The v1 hash input, made from each field's text exactly as exported: the hash covers that
    /// text, not a value re-formatted from it (which would accept a line the Python verifier,
    /// hashing the text, refuses).
    pub canonical: Vec<u8>,
}

impl ExportLine {
    /// Its hash recomputes from its fields.
    pub fn hash_holds(&self) -> bool {
        hex::encode(Sha256::digest(&self.canonical)) == self.hash
    }
}

/// Reads one export line; `Err` says why it is not an event (without the line number).
pub fn read_export_line(text: &str) -> Result<ExportLine, String> {
    let Ok(value) = serde_json::from_str::<Value>(text) else { return Err("not JSON".into()) };
    let Value::Object(mut event) = value else { return Err("not a JSON object".into()) };
    let mut canonical = Vec::with_capacity(text.len());
    canonical.extend_from_slice(MAGIC);
    for &name in HASHED_FIELDS {
        let integer;
        let value = match (name, event.get(name)) {
            (_, None) => return Err(format!("missing field '{name}'")),
            ("seq" | "stream_seq", Some(v)) => {
                integer = v.as_i64().ok_or_else(|| format!("'{name}' is not an integer"))?.to_string();
                Some(integer.as_str())
            }
            (_, Some(Value::String(s))) => Some(s.as_str()),
            ("stream", Some(_)) => return Err("'stream' is not text".into()),
            (_, Some(Value::Null)) => None,
            (_, Some(_)) => return Err(format!("'{name}' is neither text nor null")),
        };
        field(&mut canonical, value);
    }
    let hash = match event.remove("hash") {
        None => return Err("missing field 'hash'".into()),
        Some(Value::String(s)) => s,
        Some(_) => return Err("'hash' is not text".into()),
    };
    let log_index = match event.get("log_index") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or("'log_index' is neither a non-negative integer nor null")?),
    };
    // Each was read above: seq and stream_seq are integers, stream text.
    let seq = event.get("seq").and_then(Value::as_i64).unwrap_or_default();
    let stream_seq = event.get("stream_seq").and_then(Value::as_i64).unwrap_or_default();
    let mut text = |name: &str| match event.remove(name) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    };
    let (stream, prev_hash) = (text("stream").unwrap_or_default(), text("prev_hash"));
    Ok(ExportLine { seq, stream, stream_seq, prev_hash, hash, log_index, canonical })
}

/// The chain checks over an export, in file order. Each event is judged against the previous
/// line and the previous event of its stream *as read*, whatever their own verdict, so that one
/// altered, removed or moved line shows as one break (or a few), not as every line after it.
/// (The online verifier, `ChainVerifier`, reads the trail in `seq` order from the database and
/// stops trusting a stream at its first break.)
#[derive(Debug, Default)]
pub struct FileChain {
    last_seq: Option<i64>,
    heads: std::collections::HashMap<String, (i64, String)>,
}

impl FileChain {
    /// The first check the event fails, as (reason, detail).
    pub fn check(&mut self, e: &ExportLine) -> Option<(BreakReason, String)> {
        let (prev_stream_seq, prev_hash) =
            self.heads.get(&e.stream).map_or((0, GENESIS_HASH), |(n, h)| (*n, h.as_str()));
        let expected_stream_seq = i128::from(prev_stream_seq) + 1;
        let verdict = if !e.hash_holds() {
            Some((BreakReason::HashMismatch, "recomputed hash differs from the stored hash".to_owned()))
        } else if let Some(last) = self.last_seq.filter(|&last| e.seq <= last) {
            Some((BreakReason::ChainBroken, format!("seq {} does not follow seq {last}", e.seq)))
        } else if i128::from(e.stream_seq) != expected_stream_seq {
            let detail = format!("stream_seq {} in {} should be {expected_stream_seq}", e.stream_seq, e.stream);
            Some((BreakReason::ChainBroken, detail))
        } else if e.prev_hash.as_deref() != Some(prev_hash) {
            Some((BreakReason::ChainBroken, format!("prev_hash does not match the previous hash in {}", e.stream)))
        } else {
            None
        };
        self.last_seq = Some(e.seq);
        match self.heads.get_mut(&e.stream) {
            Some(head) => *head = (e.stream_seq, e.hash.clone()),
            None => {
                self.heads.insert(e.stream.clone(), (e.stream_seq, e.hash.clone()));
            }
        }
        verdict
    }
}

/// A consistency proof as the API answers it (`GET /api/v1/audit/consistency`).
#[derive(Debug)]
pub struct ConsistencyProof {
    /// The size it claims to start from (any JSON integer: compared, not trusted).
    pub from: i128,
    /// The size it claims to reach.
    pub to: i128,
    /// The proof's hashes.
    pub proof: Vec<Hash>,
}

/// Reads a proof file's text: `{"from": m, "to": n, "proof": ["<64 hex>", …]}`.
pub fn read_consistency_proof(text: &str) -> Result<ConsistencyProof, String> {
    let Ok(doc) = serde_json::from_str::<Value>(text) else { return Err("not JSON".into()) };
    let integer = |name: &str| {
        let v = doc.get(name)?;
        v.as_i64().map(i128::from).or_else(|| v.as_u64().map(i128::from))
    };
    let (Some(from), Some(to), Some(proof)) =
        (integer("from"), integer("to"), doc.get("proof").and_then(Value::as_array))
    else {
        return Err("expected from, to and proof".into());
    };
    let proof = proof
        .iter()
        .map(|h| h.as_str().and_then(from_hex))
        .collect::<Option<Vec<_>>>()
        .ok_or("a proof element is not 64 hex digits")?;
    Ok(ConsistencyProof { from, to, proof })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use rust_decimal::Decimal;
    use serde_json::json;
    use uuid::Uuid;

    use super::*;
    use crate::domain::audit::{AuditRecord, format_amount, format_time};
    use crate::domain::merkle::to_hex;

    /// A source added on `stream` (the shared fixture, with a negative amount and a JSON `after`).
    fn record(seq: i64, stream: &str, stream_seq: i64, prev_hash: &str) -> AuditRecord {
        AuditRecord {
            action: "fund.source_added".into(),
            entity_type: "fund_source".into(),
            entity_id: Uuid::from_u128(7),
            amount: Some(Decimal::new(-1_050, 2)),
            after: Some("{\"kind\":\"upper_allocation\"}".into()),
            ..crate::domain::audit::fixtures::event(seq, stream, stream_seq, prev_hash)
        }
    }

    /// The export line of a record, as `service::audit` writes it.
    fn line_of(r: &AuditRecord, log_index: Option<u64>) -> String {
        json!({
            "seq": r.seq, "stream": r.stream, "stream_seq": r.stream_seq,
            "occurred_at": format_time(&r.occurred_at), "actor": r.actor, "actor_role": r.actor_role,
            "org_id": r.org_id, "request_id": r.request_id, "action": r.action,
            "entity_type": r.entity_type, "entity_id": r.entity_id, "fund_id": r.fund_id, "stage": r.stage,
            "amount": r.amount.map(format_amount), "entry_id": r.entry_id, "before": r.before, "after": r.after,
            "prev_hash": r.prev_hash, "hash": r.compute_hash(), "log_index": log_index,
        })
        .to_string()
    }

    /// A chain of `n` events in one stream, as export lines.
    fn chain(n: i64) -> Vec<String> {
        let mut prev = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|i| {
                let r = record(i, "fund:a", i, &prev);
                prev = r.compute_hash();
                line_of(&r, u64::try_from(i - 1).ok())
            })
            .collect()
    }

    fn verdicts(lines: &[String]) -> Vec<Option<BreakReason>> {
        let mut chain = FileChain::default();
        lines.iter().map(|l| chain.check(&read_export_line(l).unwrap()).map(|(reason, _)| reason)).collect()
    }

    #[test]
    fn the_hashed_fields_are_the_columns_up_to_hash() {
        assert_eq!(HASHED_FIELDS.len(), 18);
        assert_eq!(HASHED_FIELDS.first(), Some(&"seq"));
        assert_eq!(HASHED_FIELDS.last(), Some(&"prev_hash"));
        assert_eq!(EXPORT_COLUMNS[18..], ["hash", "log_index"]);
    }

    #[test]
    fn a_line_reads_back_into_the_bytes_its_hash_covers() {
        let r = record(3, "fund:a", 2, GENESIS_HASH);
        let line = read_export_line(&line_of(&r, Some(9))).unwrap();
        assert_eq!(line.canonical, r.canonical_bytes());
        assert_eq!((line.seq, line.stream.as_str(), line.stream_seq), (3, "fund:a", 2));
        assert_eq!(line.prev_hash.as_deref(), Some(GENESIS_HASH));
        assert_eq!(line.hash, r.compute_hash());
        assert_eq!(line.log_index, Some(9));
    }

    #[test]
    fn the_hash_covers_the_exported_text_not_a_reformatted_value() {
        // `-10.5` is the same amount as `-10.50`, but not the text the hash was made over.
        let r = record(1, "fund:a", 1, GENESIS_HASH);
        let text = line_of(&r, None).replace("\"-10.50\"", "\"-10.5\"");
        let line = read_export_line(&text).unwrap();
        assert_ne!(line.canonical, r.canonical_bytes());
        assert_eq!(FileChain::default().check(&line).map(|v| v.0), Some(BreakReason::HashMismatch));
    }

    #[test]
    fn an_unreadable_line_says_why_in_the_python_verifiers_words() {
        let good: Value = serde_json::from_str(&line_of(&record(1, "fund:a", 1, GENESIS_HASH), None)).unwrap();
        let with = |name: &str, v: Value| {
            let mut e = good.clone();
            e[name] = v;
            read_export_line(&e.to_string()).err().unwrap()
        };
        let without = |name: &str| {
            let mut e = good.clone();
            e.as_object_mut().unwrap().remove(name);
            read_export_line(&e.to_string()).err()
        };
        assert_eq!(read_export_line("{").err().unwrap(), "not JSON");
        assert_eq!(read_export_line("[1]").err().unwrap(), "not a JSON object");
        assert_eq!(without("actor").unwrap(), "missing field 'actor'");
        assert_eq!(without("hash").unwrap(), "missing field 'hash'");
        assert_eq!(without("log_index"), None, "log_index may be absent");
        assert_eq!(with("seq", json!("1")), "'seq' is not an integer");
        assert_eq!(with("stream_seq", json!(1.5)), "'stream_seq' is not an integer");
        assert_eq!(with("stream", Value::Null), "'stream' is not text");
        assert_eq!(with("amount", json!(10.5)), "'amount' is neither text nor null");
        assert_eq!(with("hash", json!(1)), "'hash' is not text");
        assert_eq!(with("log_index", json!(-1)), "'log_index' is neither a non-negative integer nor null");
    }

    #[test]
    fn an_intact_chain_has_no_break() {
        assert_eq!(verdicts(&chain(4)), [None, None, None, None]);
    }

    #[test]
    fn an_altered_line_is_one_hash_mismatch_and_the_rest_still_chain() {
        let mut lines = chain(4);
        lines[1] = lines[1].replace("req-1", "req-2");
        assert_eq!(verdicts(&lines), [None, Some(BreakReason::HashMismatch), None, None]);
    }

    #[test]
    fn a_removed_or_moved_line_breaks_the_chain_where_it_was() {
        let mut removed = chain(4);
        removed.remove(1);
        assert_eq!(verdicts(&removed), [None, Some(BreakReason::ChainBroken), None]);
        let mut moved = chain(3);
        moved.swap(1, 2);
        assert_eq!(verdicts(&moved)[1], Some(BreakReason::ChainBroken), "seq 3 before seq 2");
        let mut chain = FileChain::default();
        let first = read_export_line(&chain_line_with_prev("ab")).unwrap();
        let (reason, detail) = chain.check(&first).unwrap();
        assert_eq!(reason, BreakReason::ChainBroken);
        assert_eq!(detail, "prev_hash does not match the previous hash in fund:a");
    }

    /// The first event of a stream, hashed over a `prev_hash` that is not the genesis hash.
    fn chain_line_with_prev(prev: &str) -> String {
        line_of(&record(1, "fund:a", 1, prev), None)
    }

    #[test]
    fn streams_chain_apart() {
        let a1 = record(1, "fund:a", 1, GENESIS_HASH);
        let b1 = record(2, "org:b", 1, GENESIS_HASH);
        let a2 = record(3, "fund:a", 2, &a1.compute_hash());
        let b3 = record(4, "org:b", 3, &b1.compute_hash());
        let lines: Vec<String> = [&a1, &b1, &a2, &b3].into_iter().map(|r| line_of(r, None)).collect();
        let mut chain = FileChain::default();
        let found: Vec<_> = lines.iter().map(|l| chain.check(&read_export_line(l).unwrap())).collect();
        assert_eq!(found[..3], [None, None, None]);
        assert_eq!(found[3], Some((BreakReason::ChainBroken, "stream_seq 3 in org:b should be 2".to_owned())));
    }

    #[test]
    fn a_proof_file_reads_or_says_why_not() {
        let h = to_hex(&[7; 32]);
        let p = read_consistency_proof(&format!("{{\"from\": 2, \"to\": 5, \"proof\": [\"{h}\"]}}")).unwrap();
        assert_eq!((p.from, p.to, p.proof), (2, 5, vec![[7; 32]]));
        let huge = read_consistency_proof("{\"from\": 18446744073709551615, \"to\": -1, \"proof\": []}").unwrap();
        assert_eq!((huge.from, huge.to), (i128::from(u64::MAX), -1), "sizes are compared, not trusted");
        assert_eq!(read_consistency_proof("nope").err().unwrap(), "not JSON");
        assert_eq!(
            read_consistency_proof("{\"from\": 1, \"proof\": []}").err().unwrap(),
            "expected from, to and proof"
        );
        assert_eq!(
            read_consistency_proof("{\"from\": 1, \"to\": 2, \"proof\": [\"00\"]}").err().unwrap(),
            "a proof element is not 64 hex digits"
        );
    }
}
