//! Offline verification: `unionfund audit verify-export` and `verify-consistency`. They answer
//! exactly what `tools/verify_trail.py` answers (README, "Verifying offline"): the same fields in
//! the same order, the same counts, the same words for unreadable input. The lines and the proof
//! are read by `domain::audit_export`; this file reads the files and gives the verdicts.

use serde::Serialize;

use crate::domain::audit_export::{ConsistencyProof, FileChain, read_export_line};
use crate::domain::merkle;
use crate::domain::note::{Checkpoint, VerifierKey, read_note};
use crate::domain::witness::{Bundle, Policy, Witnessed};

/// What an export says of a signed checkpoint.
#[derive(Debug, Serialize)]
pub struct CheckpointCheck {
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// Whether the note carries a valid signature by the key given.
    pub signature_valid: bool,
    /// Whether the root recomputed from the exported events equals the note's.
    pub root_matches: bool,
    /// `log_incomplete` when the export does not hold every position below the tree size
    /// exactly once; null otherwise.
    pub log_problem: Option<&'static str>,
    /// With a policy, which of its witnesses cosigned the note and whether they make its
    /// quorum; null without one.
    pub witnesses: Option<Witnessed>,
}

/// A checkpoint note as the verifiers read it: whether the log's key signed it, what it says,
/// and (with a policy) what the witnesses did.
#[derive(Debug, Clone)]
pub struct KeptNote {
    /// Signed by the log's key.
    pub signed: bool,
    /// What it says.
    pub checkpoint: Checkpoint,
    /// The policy's verdict; `None` without a policy.
    pub witnesses: Option<Witnessed>,
}

impl KeptNote {
    fn holds(&self) -> bool {
        self.signed && self.witnesses.as_ref().is_none_or(|w| w.quorum_met)
    }
}

/// An event of an export that fails a check.
#[derive(Debug, Serialize)]
pub struct BrokenEvent {
    /// Its `seq`.
    pub seq: i64,
    /// Its line in the file, from 1.
    pub line: u64,
    /// `hash_mismatch` or `chain_broken`: the first check that fails.
    pub reason: &'static str,
    /// Which check, in words.
    pub detail: String,
}

/// The offline verification of an export: the chain, and optionally a signed checkpoint.
#[derive(Debug, Serialize)]
pub struct ExportVerification {
    /// No event is broken (and the checkpoint, when given, holds).
    pub ok: bool,
    /// Every event read and checked: verification does not stop at a break.
    pub checked: u64,
    /// The events that fail a check.
    pub broken: u64,
    /// The first of them in the file; null when none.
    pub first_broken: Option<BrokenEvent>,
    /// The checkpoint's verdict; null when none was given.
    pub checkpoint: Option<CheckpointCheck>,
}

/// The words for an error opening or reading a file (the Python verifier uses the same).
pub fn read_problem(e: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    match e.kind() {
        ErrorKind::NotFound => "no such file",
        ErrorKind::PermissionDenied => "permission denied",
        ErrorKind::IsADirectory => "is a directory",
        _ => "cannot be read",
    }
}

/// Parses a verifier key given on the command line.
pub fn read_verifier_key(text: &str) -> Result<VerifierKey, String> {
    VerifierKey::parse(text).map_err(|_| "verifier key: malformed".to_owned())
}

/// Reads a policy file given on the command line: its lines, and that it accepts the log key.
pub fn read_policy(text: &str, key: &VerifierKey) -> Result<Policy, String> {
    let policy = Policy::parse(text).map_err(|e| e.to_string())?;
    if !policy.accepts_log(key) {
        return Err("log key not in policy".into());
    }
    Ok(policy)
}

/// Reads a checkpoint note: whether `key` signed it and, with a policy, which witnesses
/// cosigned it; `Err` only for a malformed note.
pub fn open_checkpoint(note: &str, key: &VerifierKey, policy: Option<&Policy>) -> Result<KeptNote, String> {
    let malformed = |_| "malformed checkpoint note".to_owned();
    let (signed, checkpoint) = key.check(note).map_err(malformed)?;
    let witnesses = policy.map(|p| read_note(note).map(|n| p.witnessed(&n))).transpose().map_err(malformed)?;
    Ok(KeptNote { signed, checkpoint, witnesses })
}

/// Verifies an NDJSON export offline: every line's hash and every stream's chain; with a
/// signed checkpoint note and the log's verifier key, also the signature and the Merkle root of
/// the exported events at the checkpoint's size (leaves by `log_index`).
pub fn verify_export(
    lines: impl Iterator<Item = std::io::Result<String>>,
    checkpoint: Option<(&str, &VerifierKey)>,
) -> Result<ExportVerification, String> {
    let checkpoint = checkpoint.map(|(note, key)| open_checkpoint(note, key, None)).transpose()?;
    verify_export_against(lines, checkpoint.as_ref())
}

/// [`verify_export`] against a note already opened (`open_checkpoint`), so that a caller can
/// tell a malformed note from a malformed export. `Err` says why the export cannot be read.
pub fn verify_export_against(
    lines: impl Iterator<Item = std::io::Result<String>>,
    checkpoint: Option<&KeptNote>,
) -> Result<ExportVerification, String> {
    // The tree is rebuilt as the lines come (LogReplay holds only the leaves met before their
    // turn), so memory is the export's disorder, not its length.
    let mut replay = checkpoint.map(|k| merkle::LogReplay::new(k.checkpoint.size, []));
    let mut chain = FileChain::default();
    let (mut checked, mut broken, mut first_broken) = (0_u64, 0_u64, None);
    for (line_no, line) in (1_u64..).zip(lines) {
        let line = line.map_err(|e| match e.kind() {
            std::io::ErrorKind::InvalidData => format!("line {line_no}: not UTF-8"),
            _ => read_problem(&e).to_owned(),
        })?;
        if line.trim_matches([' ', '\t', '\r']).is_empty() {
            continue;
        }
        let event = read_export_line(&line).map_err(|e| format!("line {line_no}: {e}"))?;
        checked += 1;
        if let Some((reason, detail)) = chain.check(&event) {
            broken += 1;
            if first_broken.is_none() {
                first_broken = Some(BrokenEvent { seq: event.seq, line: line_no, reason: reason.as_str(), detail });
            }
        }
        if let (Some(replay), Some(i)) = (replay.as_mut(), event.log_index) {
            replay.push(i, merkle::leaf_hash(&event.canonical));
        }
    }
    if checked == 0 {
        return Err("no events".into());
    }
    let checkpoint = checkpoint.zip(replay).map(|(kept, replay)| {
        let cp = &kept.checkpoint;
        // Each position below the size exactly once (a repeat marks the replay mismatched).
        let complete = !replay.mismatched() && replay.held() == 0 && replay.frontier().size() == cp.size;
        CheckpointCheck {
            tree_size: cp.size,
            signature_valid: kept.signed,
            root_matches: complete && replay.frontier().root() == cp.root,
            log_problem: (!complete).then_some("log_incomplete"),
            witnesses: kept.witnesses.clone(),
        }
    });
    let ok = broken == 0
        && checkpoint
            .as_ref()
            .is_none_or(|c| c.signature_valid && c.root_matches && c.witnesses.as_ref().is_none_or(|w| w.quorum_met));
    Ok(ExportVerification { ok, checked, broken, first_broken, checkpoint })
}

/// Checks a consistency proof between two signed checkpoints an auditor kept.
#[derive(Debug, Serialize)]
pub struct ConsistencyCheck {
    /// Both verdicts hold.
    pub ok: bool,
    /// The older note's size.
    pub from: u64,
    /// The newer note's size.
    pub to: u64,
    /// Both notes are signed by the key given.
    pub signatures_valid: bool,
    /// The proof shows the older tree to be a prefix of the newer.
    pub proof_valid: bool,
    /// With a policy, the witnesses' verdict on each note; null without one.
    pub witnesses: Option<BothWitnessed>,
}

/// The witnesses' verdicts on the two notes of a consistency check.
#[derive(Debug, Serialize)]
pub struct BothWitnessed {
    /// On the older note.
    pub old: Witnessed,
    /// On the newer note.
    pub new: Witnessed,
}

/// Verifies a consistency proof between two notes already opened (`open_checkpoint`).
pub fn verify_consistency(old: &KeptNote, new: &KeptNote, proof: &ConsistencyProof) -> ConsistencyCheck {
    let (o, n) = (&old.checkpoint, &new.checkpoint);
    let sizes_match = proof.from == i128::from(o.size) && proof.to == i128::from(n.size);
    let proof_valid = sizes_match && merkle::verify_consistency(o.size, n.size, &o.root, &n.root, &proof.proof);
    let signatures_valid = old.signed && new.signed;
    let witnesses = old.witnesses.clone().zip(new.witnesses.clone()).map(|(old, new)| BothWitnessed { old, new });
    ConsistencyCheck {
        ok: old.holds() && new.holds() && proof_valid,
        from: o.size,
        to: n.size,
        signatures_valid,
        proof_valid,
        witnesses,
    }
}

/// The event a proof bundle is about.
#[derive(Debug, Serialize)]
pub struct BundledEvent {
    /// Its `seq`.
    pub seq: i64,
    /// Its stream.
    pub stream: String,
    /// Its hash, as the bundle states it.
    pub hash: String,
}

/// The offline verification of a C2SP tlog-proof bundle.
#[derive(Debug, Serialize)]
pub struct BundleCheck {
    /// Every verdict holds.
    pub ok: bool,
    /// The leaf index the bundle states.
    pub index: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// The checkpoint is signed by the log's key.
    pub signature_valid: bool,
    /// The event's hash recomputes, and its `log_index` is the bundle's index.
    pub event_valid: bool,
    /// The inclusion proof binds the event's leaf to the checkpoint's root.
    pub inclusion_valid: bool,
    /// With a policy, the witnesses' verdict on the checkpoint; null without one.
    pub witnesses: Option<Witnessed>,
    /// The event.
    pub event: BundledEvent,
}

/// Verifies a tlog-proof bundle (`GET /api/v1/audit/events/{seq}/proof?format=tlog-proof`).
/// `Err` says why it cannot be read: `malformed proof bundle`, `malformed checkpoint note`, or
/// `event: <why its line is not an event>`.
pub fn verify_bundle(text: &str, key: &VerifierKey, policy: Option<&Policy>) -> Result<BundleCheck, String> {
    let bundle = Bundle::parse(text).ok_or("malformed proof bundle")?;
    let kept = open_checkpoint(&bundle.note, key, policy)?;
    let line = String::from_utf8(bundle.extra).map_err(|_| "event: not UTF-8".to_owned())?;
    let event = read_export_line(&line).map_err(|e| format!("event: {e}"))?;
    let event_valid = event.hash_holds() && event.log_index == Some(bundle.index);
    let cp = &kept.checkpoint;
    let leaf = merkle::leaf_hash(&event.canonical);
    let inclusion_valid =
        bundle.index < cp.size && merkle::verify_inclusion(bundle.index, cp.size, &leaf, &bundle.proof, &cp.root);
    Ok(BundleCheck {
        ok: kept.holds() && event_valid && inclusion_valid,
        index: bundle.index,
        tree_size: cp.size,
        signature_valid: kept.signed,
        event_valid,
        inclusion_valid,
        witnesses: kept.witnesses,
        event: BundledEvent { seq: event.seq, stream: event.stream, hash: event.hash },
    })
}
