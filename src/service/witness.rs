//! A witness of logs run by others (c2sp.org/tlog-witness): what it last cosigned for each log,
//! kept in a state file, and the one lock under which a request is checked against that state
//! and the new state written, before the cosignature is answered.
//!
//! The state file is JSON, origin → `{size, root (base64), note}`, written atomically (a temp
//! file in the same directory, fsync, rename, fsync of the directory). A file that cannot be read
//! is a refusal to start, never a fresh start: a witness that forgets what it cosigned is one a
//! forked log can fool. One process per state file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::domain::merkle::Hash;
use crate::domain::note::{Cosigner, VerifierKey, read_note};
use crate::domain::witness::{AddCheckpoint, Cosigned, Refusal, checkpoint_of, decide};

/// What the witness last cosigned for one log.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Latest {
    size: u64,
    root: Hash,
    /// The checkpoint with the log's signature and the witness's cosignature.
    note: String,
}

/// One log's entry in the state file.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Stored {
    size: u64,
    root: String,
    note: String,
}

/// The witness: its key, the logs it follows, and its state.
pub struct Witness {
    cosigner: Cosigner,
    logs: Vec<VerifierKey>,
    path: PathBuf,
    state: Mutex<BTreeMap<String, Latest>>,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness").field("name", &self.cosigner.name()).field("path", &self.path).finish()
    }
}

/// Why the witness cannot start, or could not record a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file exists but is not a state this witness wrote.
    #[error("state file {0}: corrupt ({1}); refusing to start rather than forget what was cosigned")]
    Corrupt(PathBuf, String),
    /// Reading or writing failed.
    #[error("state file {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// The answer to an `add-checkpoint` request, with what the request said (for the log line).
#[derive(Debug)]
pub struct Outcome {
    /// The note's origin, when the note could be read.
    pub origin: Option<String>,
    /// The old size, when the request could be read.
    pub old: Option<u64>,
    /// The note's size, when it could be read.
    pub size: Option<u64>,
    /// Cosigned, refused, or failed.
    pub verdict: Verdict,
}

/// What the witness did.
#[derive(Debug)]
pub enum Verdict {
    /// Recorded, then cosigned: the cosignature line(s).
    Cosigned(String),
    /// Refused, with the protocol's status.
    Refused(Refusal),
    /// The state could not be written (nothing was cosigned); the cause, for the log.
    Failed(String),
}

impl Witness {
    /// Opens the witness on its state file, creating the file (empty) when it is missing.
    pub fn open(cosigner: Cosigner, logs: Vec<VerifierKey>, path: &Path) -> Result<Self, StateError> {
        let state = match std::fs::read(path) {
            Ok(bytes) => load(&bytes).map_err(|e| StateError::Corrupt(path.to_owned(), e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let empty = BTreeMap::new();
                save(path, &empty)?;
                empty
            }
            Err(e) => return Err(StateError::Io(path.to_owned(), e)),
        };
        Ok(Self { cosigner, logs, path: path.to_owned(), state: Mutex::new(state) })
    }

    /// The witness's verifier key.
    pub fn verifier_key(&self) -> String {
        self.cosigner.verifier_key()
    }

    /// How many logs it has cosigned for.
    pub fn logs_cosigned(&self) -> usize {
        self.state.lock().map_or_else(|p| p.into_inner().len(), |s| s.len())
    }

    /// Decides a request on the blocking pool (the state is written with fsyncs).
    pub async fn add(self: std::sync::Arc<Self>, body: Vec<u8>) -> Outcome {
        tokio::task::spawn_blocking(move || self.add_checkpoint(&body, now_unix())).await.unwrap_or_else(|e| Outcome {
            origin: None,
            old: None,
            size: None,
            verdict: Verdict::Failed(e.to_string()),
        })
    }

    /// Decides a request at `now` (POSIX seconds): under the state's lock, checks it against what
    /// was last cosigned for its origin, and when it holds records it (written to the file)
    /// before cosigning it.
    pub fn add_checkpoint(&self, body: &[u8], now: Option<u64>) -> Outcome {
        let request = std::str::from_utf8(body).ok().and_then(AddCheckpoint::parse);
        let Some(request) = request else {
            return Outcome { origin: None, old: None, size: None, verdict: Verdict::Refused(Refusal::Malformed) };
        };
        let said = checkpoint_of(&request.note).ok();
        Outcome {
            origin: said.as_ref().map(|c| c.origin.clone()),
            old: Some(request.old),
            size: said.as_ref().map(|c| c.size),
            verdict: self.record(&request, now),
        }
    }

    fn record(&self, request: &AddCheckpoint, now: Option<u64>) -> Verdict {
        // One lock around the check and the write: two requests from the same old size cannot
        // both pass (tlog-witness: otherwise the later write could roll the size back).
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let opened =
            match decide(request, &self.logs, |o| state.get(o).map(|l| Cosigned { size: l.size, root: l.root })) {
                Ok(opened) => opened,
                Err(refusal) => return Verdict::Refused(refusal),
            };
        let Some(now) = now.filter(|&t| t > 0 && t < 1 << 63) else {
            return Verdict::Failed("the clock is before 1970".into());
        };
        let cp = &opened.checkpoint;
        let cosignature = self.cosigner.cosign(&opened.body, now);
        // The log's own lines and ours: what a monitor fetching the checkpoint checks.
        let log_lines: String = opened
            .signatures
            .lines()
            .filter(|l| l.strip_prefix('\u{2014}').is_some_and(|r| r.starts_with(&format!(" {} ", cp.origin))))
            .map(|l| format!("{l}\n"))
            .collect();
        let latest =
            Latest { size: cp.size, root: cp.root, note: format!("{}\n{log_lines}{cosignature}", opened.body) };
        let previous = state.insert(cp.origin.clone(), latest);
        if let Err(e) = save(&self.path, &state) {
            match previous {
                Some(p) => state.insert(cp.origin.clone(), p),
                None => state.remove(&cp.origin),
            };
            return Verdict::Failed(e.to_string());
        }
        Verdict::Cosigned(cosignature)
    }

    /// The latest cosigned checkpoint of the log whose origin hashes (SHA-256, lower-case hex)
    /// to `origin_hash`.
    pub fn checkpoint(&self, origin_hash: &str) -> Option<String> {
        let state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state
            .iter()
            .find(|(origin, _)| hex::encode(Sha256::digest(origin.as_bytes())) == origin_hash)
            .map(|(_, l)| l.note.clone())
    }
}

/// Now, in POSIX seconds (`None` before 1970).
fn now_unix() -> Option<u64> {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok().map(|d| d.as_secs())
}

/// Reads a state file; `Err` says what is wrong with it.
fn load(bytes: &[u8]) -> Result<BTreeMap<String, Latest>, String> {
    let stored: BTreeMap<String, Stored> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    stored
        .into_iter()
        .map(|(origin, s)| {
            let bad = |what: &str| format!("log {origin:?}: {what}");
            let root: Hash = B64.decode(&s.root).ok().and_then(|r| r.try_into().ok()).ok_or_else(|| bad("root"))?;
            let cp = read_note(&s.note).map_err(|_| bad("note"))?.checkpoint;
            if cp.origin != origin || cp.size != s.size || cp.root != root {
                return Err(bad("the note is not the checkpoint recorded"));
            }
            Ok((origin, Latest { size: s.size, root, note: s.note }))
        })
        .collect()
}

/// Writes the state atomically: a temp file beside it, fsynced, renamed over it, and the
/// directory fsynced so that the rename itself survives a crash.
fn save(path: &Path, state: &BTreeMap<String, Latest>) -> Result<(), StateError> {
    let io = |e| StateError::Io(path.to_owned(), e);
    let stored: BTreeMap<&str, Stored> = state
        .iter()
        .map(|(o, l)| (o.as_str(), Stored { size: l.size, root: B64.encode(l.root), note: l.note.clone() }))
        .collect();
    let mut text = serde_json::to_vec_pretty(&stored).map_err(|e| io(std::io::Error::other(e)))?;
    text.push(b'\n');
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file name")))?;
    let temp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let written = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(&text)?;
        f.sync_all()?;
        std::fs::rename(&temp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written.map_err(io)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::note::LogSigner;

    const ORIGIN: &str = "example.org/log";

    fn witness(path: &Path) -> Result<Witness, StateError> {
        let log = VerifierKey::parse(&LogSigner::new(ORIGIN, [1; 32]).verifier_key()).unwrap();
        Witness::open(Cosigner::new("w.example/w", [2; 32]), vec![log], path)
    }

    fn first(size_root: (u64, Hash)) -> Vec<u8> {
        let note = LogSigner::new(ORIGIN, [1; 32]).sign(size_root.0, size_root.1);
        AddCheckpoint { old: 0, proof: vec![], note }.to_body().into_bytes()
    }

    #[test]
    fn the_state_survives_a_restart_and_a_corrupt_file_is_a_refusal_to_start() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let w = witness(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{}\n", "created empty");
        let out = w.add_checkpoint(&first((3, [5; 32])), Some(1_700_000_000));
        assert!(matches!(out.verdict, Verdict::Cosigned(_)), "{out:?}");
        assert_eq!((out.origin.as_deref(), out.old, out.size), (Some(ORIGIN), Some(0), Some(3)));
        drop(w);
        let w = witness(&path).unwrap();
        let again = w.add_checkpoint(&first((3, [5; 32])), Some(1_700_000_001));
        assert!(matches!(again.verdict, Verdict::Refused(Refusal::Conflict(3))), "{again:?}");
        let hash = hex::encode(Sha256::digest(ORIGIN));
        assert!(w.checkpoint(&hash).unwrap().contains("\n\u{2014} w.example/w "));
        assert_eq!(w.checkpoint(&"0".repeat(64)), None);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")], "no temp file is left");
        // Damaged files: the witness does not start, and the file is left as found.
        let text = std::fs::read_to_string(&path).unwrap();
        for damaged in [String::new(), text.replace("\"size\": 3", "\"size\": 2"), text[..text.len() / 2].to_owned()] {
            std::fs::write(&path, &damaged).unwrap();
            let err = witness(&path).unwrap_err().to_string();
            assert!(err.contains("corrupt"), "{err}");
            assert_eq!(std::fs::read_to_string(&path).unwrap(), damaged);
        }
    }

    #[test]
    fn a_witness_that_cannot_write_cosigns_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let w = witness(&path).unwrap();
        // The state file's directory goes away: the write fails, nothing is cosigned or held.
        drop(dir);
        let out = w.add_checkpoint(&first((3, [5; 32])), Some(1_700_000_000));
        assert!(matches!(out.verdict, Verdict::Failed(_)), "{out:?}");
        assert_eq!(w.logs_cosigned(), 0);
        let bad = w.add_checkpoint(b"old 0\n\nnot a note", Some(1));
        assert!(matches!(bad.verdict, Verdict::Refused(Refusal::Malformed)));
    }
}
