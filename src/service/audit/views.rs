//! What the trail's reads answer: an event, a verification, a checkpoint.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::chain::{CheckpointRow, EventRow, Verification};
use crate::db::cosignatures::CosignatureRow;
use crate::domain::audit::{AuditRecord, format_amount, format_time};

/// One event as answered and exported. Every field is in the text form the hash covers, so an
/// export can be verified offline (README, "Verifying the trail").
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct EventView {
    /// Position in the whole trail.
    pub seq: i64,
    /// The chain: `fund:<id>`, `org:<id>`, …
    pub stream: String,
    /// Position in the stream.
    pub stream_seq: i64,
    /// When (UTC, microseconds).
    #[schema(example = "2022-12-01T08:00:00.000000Z")]
    pub occurred_at: String,
    /// `user:<id>`, `client:<id>` or `system`.
    pub actor: String,
    /// The actor's role.
    pub actor_role: String,
    /// Organisation concerned.
    pub org_id: Option<Uuid>,
    /// The request that wrote it.
    pub request_id: String,
    /// What happened.
    #[schema(example = "fund.source_added")]
    pub action: String,
    /// Kind of thing.
    pub entity_type: String,
    /// The thing.
    pub entity_id: Uuid,
    /// Fund concerned.
    pub fund_id: Option<Uuid>,
    /// Money stage.
    pub stage: Option<String>,
    /// Amount moved, two decimals.
    pub amount: Option<String>,
    /// The journal entry.
    pub entry_id: Option<Uuid>,
    /// State before, as the exact JSON text hashed.
    pub before: Option<String>,
    /// State after, as the exact JSON text hashed.
    pub after: Option<String>,
    /// Previous hash in the stream.
    pub prev_hash: String,
    /// This event's hash.
    pub hash: String,
    /// Its position in the Merkle log; absent until the sequencer reaches it (a second or so).
    /// Not hashed into the event: the log commits to the event, not the other way round.
    #[serde(default)]
    pub log_index: Option<i64>,
}

impl EventView {
    pub(super) fn of(r: EventRow, log_index: Option<i64>) -> Self {
        Self {
            log_index,
            seq: r.seq,
            stream: r.stream,
            stream_seq: r.stream_seq,
            occurred_at: format_time(&r.occurred_at),
            actor: r.actor,
            actor_role: r.actor_role,
            org_id: r.org_id,
            request_id: r.request_id,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            fund_id: r.fund_id,
            stage: r.stage,
            amount: r.amount.map(format_amount),
            entry_id: r.entry_id,
            before: r.before_json,
            after: r.after_json,
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }

    /// The record the hash covers, read back from an export line.
    pub fn record(&self) -> Result<AuditRecord, String> {
        let occurred_at = chrono::DateTime::parse_from_rfc3339(&self.occurred_at)
            .map_err(|e| format!("seq {}: occurred_at: {e}", self.seq))?
            .with_timezone(&chrono::Utc);
        let amount =
            self.amount.as_deref().map(str::parse).transpose().map_err(|e| format!("seq {}: amount: {e}", self.seq))?;
        Ok(AuditRecord {
            seq: self.seq,
            stream: self.stream.clone(),
            stream_seq: self.stream_seq,
            occurred_at,
            actor: self.actor.clone(),
            actor_role: self.actor_role.clone(),
            org_id: self.org_id,
            request_id: self.request_id.clone(),
            action: self.action.clone(),
            entity_type: self.entity_type.clone(),
            entity_id: self.entity_id,
            fund_id: self.fund_id,
            stage: self.stage.clone(),
            amount,
            entry_id: self.entry_id,
            before: self.before.clone(),
            after: self.after.clone(),
            prev_hash: self.prev_hash.clone(),
        })
    }
}

/// The answer of a verification (API.md: `{ok, checked, first_broken?}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyView {
    /// True when nothing is broken.
    pub ok: bool,
    /// Events checked.
    pub checked: u64,
    /// The first broken event, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_broken: Option<BrokenView>,
}

/// Where the trail broke.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokenView {
    /// The lowest `seq` that fails.
    pub seq: i64,
    /// `hash_mismatch` (altered or moved), `chain_broken` (removed, inserted, reordered),
    /// `head_mismatch` (cut off the end, or a checkpoint no longer matches).
    pub reason: String,
}

impl From<Verification> for VerifyView {
    fn from(v: Verification) -> Self {
        Self {
            ok: v.first_broken.is_none(),
            checked: v.checked,
            first_broken: v.first_broken.map(|(seq, reason)| BrokenView { seq, reason: reason.as_str().into() }),
        }
    }
}

/// A checkpoint as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    /// Id (increasing).
    pub id: i64,
    /// Taken at.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Streams it commits to.
    pub streams: i64,
    /// Events it covers.
    pub events: i64,
    /// The previous checkpoint's hash.
    pub prev_hash: String,
    /// This checkpoint's hash: write it down, and pass it to verify later.
    pub hash: String,
    /// One line per stream: `stream stream_seq hash`.
    pub heads: String,
    /// The Merkle log's size it signs (absent on checkpoints older than the log).
    pub tree_size: Option<i64>,
    /// The Merkle log's root at that size, hex.
    pub root_hash: Option<String>,
    /// The signed C2SP checkpoint note, with the witnesses' cosignatures received so far: keep
    /// it, and verify exports and proofs against it (with `--policy`, against the witnesses too).
    pub note: Option<String>,
    /// The witnesses that cosigned this checkpoint (C2SP tlog-cosignature v1), by key name.
    pub cosignatures: Vec<CosignatureView>,
}

/// One witness's cosignature of a checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct CosignatureView {
    /// The witness's key name.
    pub witness: String,
    /// When it cosigned (its own clock, inside the signature).
    pub cosigned_at: chrono::DateTime<chrono::Utc>,
}

impl CheckpointView {
    pub(super) fn of(r: CheckpointRow, cosignatures: Vec<CosignatureRow>) -> Self {
        let note = r.note.map(|n| crate::service::witnessing::cosigned_note(&n, &cosignatures));
        Self {
            id: r.id,
            created_at: r.created_at,
            streams: r.streams,
            events: r.events,
            prev_hash: r.prev_hash,
            hash: r.hash,
            heads: r.heads,
            tree_size: r.tree_size,
            root_hash: r.root_hash,
            note,
            cosignatures: cosignatures
                .into_iter()
                .map(|c| CosignatureView { witness: c.witness, cosigned_at: c.cosigned_at })
                .collect(),
        }
    }
}
