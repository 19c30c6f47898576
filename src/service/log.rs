//! The Merkle log over the audit trail, as auditors use it: its head, inclusion proofs for any
//! event against any tree size, consistency proofs between two sizes, and the sequencer that
//! grows it. The math is `domain::merkle`; the formats of signed checkpoints `domain::note`.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::Db;
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::merkle::{self, Hash, NodeMap, Nodes, ProofError, Recorder, TwoPass};
use crate::error::Error;

/// The log's head now.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogView {
    /// Leaves (events) in the tree.
    pub tree_size: i64,
    /// Its root, hex.
    pub root_hash: String,
    /// Events committed and waiting for the sequencer.
    pub pending: i64,
}

/// An inclusion proof (RFC 9162 §2.1.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionView {
    /// The event.
    pub seq: i64,
    /// Its position in the log.
    pub log_index: i64,
    /// The tree the proof is against.
    pub tree_size: i64,
    /// SHA-256(0x00 ‖ the event's canonical bytes), hex.
    pub leaf_hash: String,
    /// The tree's root, hex.
    pub root_hash: String,
    /// The audit path, hex, leaf end first.
    pub proof: Vec<String>,
}

/// A consistency proof (RFC 9162 §2.1.4).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyView {
    /// The older tree's size.
    pub from: i64,
    /// The newer tree's size.
    pub to: i64,
    /// The older tree's root, hex.
    pub from_root: String,
    /// The newer tree's root, hex.
    pub to_root: String,
    /// The proof, hex.
    pub proof: Vec<String>,
}

/// The log's public key.
#[derive(Debug, Serialize, ToSchema)]
pub struct LogKeyView {
    /// The log's name (the checkpoint's first line, and the key's name).
    pub origin: String,
    /// The C2SP verifier key: `name+keyid+base64(0x01 ‖ public key)`.
    pub verifier_key: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// True when the public development key is in use: its checkpoints prove nothing.
    pub development: bool,
    /// The witnesses each checkpoint is sent to (`UNIONFUND_WITNESSES`).
    pub witnesses: Vec<WitnessView>,
    /// How many of them must cosign (`UNIONFUND_WITNESS_QUORUM`).
    pub quorum: usize,
    /// The C2SP tlog-policy file of this log, its witnesses and the quorum: save it and pass it
    /// to the offline verifiers as `--policy`.
    pub policy: String,
}

/// One witness of the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct WitnessView {
    /// Its key name.
    pub name: String,
    /// Its verifier key (`name+keyid+base64(0x04 ‖ key)`).
    pub verifier_key: String,
    /// Where checkpoints are sent (`<url>add-checkpoint`).
    pub url: String,
}

fn hexes(h: &[Hash]) -> Vec<String> {
    h.iter().map(merkle::to_hex).collect()
}

/// Runs a proof twice: once to learn which nodes it reads, then over those nodes fetched in
/// one query.
fn with_nodes<T>(conn: &mut Db<'_>, proof: impl Fn(&mut TwoPass) -> Result<T, ProofError>) -> Result<T, Error> {
    let mut pass = TwoPass::Record(Recorder::default());
    proof(&mut pass).map_err(proof_error)?;
    let keys = match pass {
        TwoPass::Record(r) => r.0,
        TwoPass::Serve(_) => Vec::new(),
    };
    let mut pass = TwoPass::Serve(NodeMap(db::log::nodes(conn, &keys)?));
    proof(&mut pass).map_err(proof_error)
}

fn proof_error(e: ProofError) -> Error {
    match e {
        ProofError::OutOfRange(m) => DomainError::conflict("not_in_tree", m).into(),
        ProofError::MissingNode(..) => Error::internal(e),
    }
}

fn size_within(requested: Option<i64>, head: i64) -> Result<u64, Error> {
    let size = requested.unwrap_or(head);
    if size < 1 || size > head {
        return Err(DomainError::conflict(
            "tree_size_unavailable",
            format!("the log holds {head} events; ask for a tree size from 1 to {head}"),
        )
        .into());
    }
    u64::try_from(size).map_err(Error::internal)
}

/// The head of the log.
pub async fn head(pool: &Pool) -> Result<LogView, Error> {
    super::read(pool, |conn| {
        let h = db::log::head(conn)?;
        Ok(LogView { tree_size: h.size, root_hash: hex::encode(&h.root), pending: db::log::pending(conn)? })
    })
    .await
}

/// The inclusion proof of event `seq` in the tree of `tree_size` leaves (default: the whole
/// log). 404 for no such event; 409 `not_yet_sequenced` for an event the sequencer has not
/// reached (a second at most), `not_in_tree` for one that came after that size.
pub async fn inclusion(pool: &Pool, seq: i64, tree_size: Option<i64>) -> Result<InclusionView, Error> {
    super::read(pool, move |conn| {
        let head = db::log::head(conn)?;
        let size = size_within(tree_size, head.size)?;
        let Some(&index) = db::log::positions(conn, &[seq])?.get(&seq) else {
            if seq > 0 && event_exists(conn, seq)? {
                return Err(DomainError::conflict(
                    "not_yet_sequenced",
                    "the event is committed and waits for the sequencer; ask again in a second",
                )
                .into());
            }
            return Err(Error::NotFound);
        };
        let i = u64::try_from(index).map_err(Error::internal)?;
        let (leaf, root, proof) = with_nodes(conn, |n| {
            let proof = merkle::inclusion_proof(n, i, size)?;
            Ok((n.node(0, i)?, merkle::root(n, size)?, proof))
        })?;
        Ok(InclusionView {
            seq,
            log_index: index,
            tree_size: i64::try_from(size).map_err(Error::internal)?,
            leaf_hash: merkle::to_hex(&leaf),
            root_hash: merkle::to_hex(&root),
            proof: hexes(&proof),
        })
    })
    .await
}

/// The consistency proof between two sizes the log holds, over the stored nodes.
pub(crate) fn consistency_hashes(conn: &mut Db<'_>, from: u64, to: u64) -> Result<Vec<Hash>, Error> {
    with_nodes(conn, |n| merkle::consistency_proof(n, from, to))
}

/// The inclusion proof of leaf `index` in the tree of `size`, over the stored nodes.
pub(crate) fn inclusion_hashes(conn: &mut Db<'_>, index: u64, size: u64) -> Result<Vec<Hash>, Error> {
    with_nodes(conn, |n| merkle::inclusion_proof(n, index, size))
}

fn event_exists(conn: &mut Db<'_>, seq: i64) -> Result<bool, Error> {
    Ok(!db::chain::batch(conn, seq - 1, seq, 1)?.is_empty())
}

/// The consistency proof between the trees of `from` and `to` leaves (`to` default: the whole
/// log), with both roots.
pub async fn consistency(pool: &Pool, from: i64, to: Option<i64>) -> Result<ConsistencyView, Error> {
    super::read(pool, move |conn| {
        let head = db::log::head(conn)?;
        let to = size_within(to, head.size)?;
        let from = size_within(Some(from), i64::try_from(to).map_err(Error::internal)?)?;
        let (old, new, proof) = with_nodes(conn, |n| {
            let proof = merkle::consistency_proof(n, from, to)?;
            Ok((merkle::root(n, from)?, merkle::root(n, to)?, proof))
        })?;
        Ok(ConsistencyView {
            from: i64::try_from(from).map_err(Error::internal)?,
            to: i64::try_from(to).map_err(Error::internal)?,
            from_root: merkle::to_hex(&old),
            to_root: merkle::to_hex(&new),
            proof: hexes(&proof),
        })
    })
    .await
}

/// One background run: drains the queue unless another process is sequencing.
pub async fn sequence_background(pool: &Pool) -> Result<usize, Error> {
    super::read(pool, |conn| db::log::sequence_all(conn, super::now(), false)).await
}

/// Has the queue vacuumed when its drained rows pile up (`db::log::vacuum_queue_if_dead`).
pub async fn vacuum_queue(pool: &Pool) -> Result<bool, Error> {
    let pool = pool.clone();
    super::blocking(move || db::log::vacuum_queue_if_dead(&pool)).await
}
