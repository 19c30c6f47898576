//! Offline verification: `unionfund audit verify-export` and `verify-consistency`. They answer
//! exactly what `tools/verify_trail.py` answers (README, "Verifying offline"): the same fields in
//! the same order, the same counts, the same words for unreadable input. The lines and the proof
//! are read by `domain::audit_export`; this file reads the files and gives the verdicts.

use serde::Serialize;

use crate::domain::audit_export::{ConsistencyProof, FileChain, read_export_line};
use crate::domain::note::{Checkpoint, VerifierKey};

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

/// Reads a checkpoint note and says whether `key` signed it; `Err` only for a malformed note.
pub fn open_checkpoint(note: &str, key: &VerifierKey) -> Result<(bool, Checkpoint), String> {
    key.check(note).map_err(|_| "malformed checkpoint note".to_owned())
}

/// Verifies an NDJSON export offline: every line's hash and every stream's chain; with a
/// signed checkpoint note and the log's verifier key, also the signature and the Merkle root of
/// the exported events at the checkpoint's size (leaves by `log_index`).
pub fn verify_export(
    lines: impl Iterator<Item = std::io::Result<String>>,
    checkpoint: Option<(&str, &VerifierKey)>,
) -> Result<ExportVerification, String> {
    let checkpoint = checkpoint.map(|(note, key)| open_checkpoint(note, key)).transpose()?;
    verify_export_against(lines, checkpoint.as_ref())
}

/// [`verify_export`] against a note already opened (`open_checkpoint`), so that a caller can
/// tell a malformed note from a malformed export. `Err` says why the export cannot be read.
pub fn verify_export_against(
    lines: impl Iterator<Item = std::io::Result<String>>,
    checkpoint: Option<&(bool, Checkpoint)>,
) -> Result<ExportVerification, String> {
    use crate::domain::merkle::{Frontier, Hash, leaf_hash};
    let size = checkpoint.map(|(_, cp)| cp.size);
    let mut chain = FileChain::default();
    let (mut checked, mut broken, mut first_broken) = (0_u64, 0_u64, None);
    let mut leaves: std::collections::HashMap<u64, Hash> = std::collections::HashMap::new();
    let mut repeated = false;
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
        if let (Some(size), Some(i)) = (size, event.log_index)
            && i < size
        {
            repeated |= leaves.insert(i, leaf_hash(&event.canonical)).is_some();
        }
    }
    if checked == 0 {
        return Err("no events".into());
    }
    let checkpoint = checkpoint.map(|(signature_valid, cp)| {
        let complete = !repeated && u64::try_from(leaves.len()).is_ok_and(|n| n == cp.size);
        let root = complete.then(|| {
            let (mut f, mut made) = (Frontier::default(), Vec::new());
            for i in 0..cp.size {
                if let Some(h) = leaves.get(&i) {
                    f.push(*h, &mut made);
                }
                made.clear();
            }
            f.root()
        });
        CheckpointCheck {
            tree_size: cp.size,
            signature_valid: *signature_valid,
            root_matches: root == Some(cp.root),
            log_problem: (!complete).then_some("log_incomplete"),
        }
    });
    let ok = broken == 0 && checkpoint.as_ref().is_none_or(|c| c.signature_valid && c.root_matches);
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
}

/// Verifies a consistency proof between two notes already opened (`open_checkpoint`).
pub fn verify_consistency(
    (old_signed, old): &(bool, Checkpoint),
    (new_signed, new): &(bool, Checkpoint),
    proof: &ConsistencyProof,
) -> ConsistencyCheck {
    use crate::domain::merkle;
    let sizes_match = proof.from == i128::from(old.size) && proof.to == i128::from(new.size);
    let proof_valid = sizes_match && merkle::verify_consistency(old.size, new.size, &old.root, &new.root, &proof.proof);
    let signatures_valid = *old_signed && *new_signed;
    ConsistencyCheck {
        ok: signatures_valid && proof_valid,
        from: old.size,
        to: new.size,
        signatures_valid,
        proof_valid,
    }
}
