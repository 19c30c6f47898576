//! The log's witnesses (C2SP tlog-witness): each new checkpoint is sent to every configured
//! witness with a consistency proof from the size that witness last cosigned; the cosignature
//! it answers is checked against its key and stored, and the notes the service serves carry
//! them. A witness that is down or refuses does not stop a checkpoint: the newest checkpoint
//! is offered again on the next maintenance round, and the log key's view says which
//! checkpoints hold the quorum.

use std::sync::Arc;
use std::time::Duration;

use crate::config::WitnessEndpoint;
use crate::db::chain::CheckpointRow;
use crate::db::cosignatures::{self, CosignatureRow};
use crate::db::{self, Pool};
use crate::domain::note::read_note;
use crate::domain::witness::AddCheckpoint;
use crate::error::Error;

/// The witnesses, their quorum, and the client that reaches them.
#[derive(Debug, Clone)]
pub struct Witnesses {
    /// Each witness.
    pub list: Arc<Vec<WitnessEndpoint>>,
    /// How many must cosign.
    pub quorum: usize,
    client: reqwest::Client,
}

/// What one witness answered to one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Cosigned (the cosignature is stored).
    Cosigned,
    /// It holds a larger tree than this checkpoint's: a newer checkpoint is its to cosign.
    Passed(u64),
    /// Refused, with the status it gave (a fork or a rewrite shows here as 422).
    Refused(u16),
    /// Not reached, or its answer was not a cosignature by its key.
    Unreachable,
}

/// The longest answer read from a witness (a few signature lines).
const MAX_ANSWER: usize = 16 * 1024;

impl Witnesses {
    /// The configured witnesses, reached with the given timeout.
    pub fn new(list: Vec<WitnessEndpoint>, quorum: usize, timeout: Duration) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(Error::internal)?;
        Ok(Self { list: Arc::new(list), quorum, client })
    }

    /// The trust policy (c2sp.org/tlog-policy) an auditor keeps to check cosigned notes
    /// offline with `--policy`: the log, these witnesses, this quorum.
    pub fn policy_text(&self, log_verifier_key: &str) -> String {
        let mut out = format!("log {log_verifier_key}\n");
        for (i, w) in self.list.iter().enumerate() {
            out.push_str(&format!("witness w{} {} {}\n", i + 1, w.key_text(), w.url));
        }
        if self.list.is_empty() {
            out.push_str("quorum none\n");
        } else {
            let names: Vec<String> = (1..=self.list.len()).map(|i| format!("w{i}")).collect();
            out.push_str(&format!("group witnesses {} {}\nquorum witnesses\n", self.quorum, names.join(" ")));
        }
        out
    }

    /// Sends a checkpoint to every witness at once; each verified cosignature is stored.
    pub async fn cosign(&self, pool: &Pool, checkpoint: &CheckpointRow) -> Vec<(String, Outcome)> {
        let sends = self.list.iter().map(|w| async move {
            let outcome = match self.send(pool, w, checkpoint).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(witness = %w.key.name(), error.cause = %e, "witnessing the checkpoint failed");
                    Outcome::Unreachable
                }
            };
            (w.key.name().to_owned(), outcome)
        });
        futures_util::future::join_all(sends).await
    }

    /// Offers the newest checkpoint to the witnesses that have not cosigned it (maintenance).
    pub async fn cosign_latest(&self, pool: &Pool) -> Result<(), Error> {
        if self.list.is_empty() {
            return Ok(());
        }
        let found = super::read(pool, |conn| {
            let Some(cp) = db::chain::list_checkpoints(conn, None, 1)?.into_iter().next() else { return Ok(None) };
            let have = cosignatures::of(conn, &[cp.id])?.remove(&cp.id).unwrap_or_default();
            Ok(Some((cp, have)))
        })
        .await?;
        let Some((cp, have)) = found else { return Ok(()) };
        if cp.note.is_none() || self.list.iter().all(|w| have.iter().any(|c| c.witness == w.key.name())) {
            return Ok(());
        }
        self.cosign(pool, &cp).await;
        Ok(())
    }

    async fn send(&self, pool: &Pool, w: &WitnessEndpoint, cp: &CheckpointRow) -> Result<Outcome, Error> {
        let (Some(note), Some(size)) = (cp.note.clone(), cp.tree_size) else { return Ok(Outcome::Unreachable) };
        let size = u64::try_from(size).map_err(Error::internal)?;
        let name = w.key.name().to_owned();
        let mut old = super::read(pool, move |conn| cosignatures::last_size(conn, &name)).await?;
        // One retry: a 409 tells the size the witness holds (another process sent it a newer
        // checkpoint, or this database forgot one); the proof is then made from that size.
        for _ in 0..2 {
            let from = u64::try_from(old).map_err(Error::internal)?;
            if from > size {
                return Ok(Outcome::Passed(from));
            }
            let proof = match from {
                0 => Vec::new(),
                f if f == size => Vec::new(),
                f => super::read(pool, move |conn| super::log::consistency_hashes(conn, f, size)).await?,
            };
            let body = AddCheckpoint { old: from, proof, note: note.clone() }.to_body();
            let Ok(res) = self.client.post(format!("{}add-checkpoint", w.url)).body(body).send().await else {
                tracing::warn!(witness = %w.key.name(), "witness not reached");
                return Ok(Outcome::Unreachable);
            };
            let status = res.status().as_u16();
            let text = read_limited(res).await;
            match status {
                200 => return self.keep(pool, w, cp, &note, size, &text).await,
                409 => match text.strip_suffix('\n').and_then(|t| t.parse::<i64>().ok()) {
                    Some(held) if held >= 0 && held != old => old = held,
                    _ => return Ok(Outcome::Refused(409)),
                },
                s => {
                    tracing::warn!(witness = %w.key.name(), status = s, tree_size = size, "the witness refused the checkpoint");
                    return Ok(Outcome::Refused(s));
                }
            }
        }
        Ok(Outcome::Refused(409))
    }

    async fn keep(
        &self,
        pool: &Pool,
        w: &WitnessEndpoint,
        cp: &CheckpointRow,
        note: &str,
        size: u64,
        answer: &str,
    ) -> Result<Outcome, Error> {
        let body = read_note(note).map_err(Error::internal)?.body;
        // The client must ignore lines of other keys, and keeps only what verifies.
        let Some(line) = w.key.lines_over(&body, answer).into_iter().next() else {
            tracing::warn!(witness = %w.key.name(), "the witness answered no valid cosignature");
            return Ok(Outcome::Unreachable);
        };
        let timestamp = w.key.cosigned(&body, &line).unwrap_or(0);
        let row = CosignatureRow {
            checkpoint_id: cp.id,
            witness: w.key.name().to_owned(),
            tree_size: i64::try_from(size).map_err(Error::internal)?,
            cosigned_at: i64::try_from(timestamp)
                .ok()
                .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
                .unwrap_or_else(super::now),
            line: line.trim_end_matches('\n').to_owned(),
            received_at: super::now(),
        };
        super::read(pool, move |conn| cosignatures::record(conn, &row)).await?;
        tracing::info!(witness = %w.key.name(), tree_size = size, "checkpoint cosigned");
        Ok(Outcome::Cosigned)
    }
}

impl WitnessEndpoint {
    fn key_text(&self) -> String {
        self.key.verifier_key()
    }
}

/// A witness's answer, at most `MAX_ANSWER` bytes of it, as text (empty if it is not UTF-8).
async fn read_limited(res: reqwest::Response) -> String {
    let mut res = res;
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = res.chunk().await {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_ANSWER {
            return String::new();
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

/// A note with the cosignature lines of its checkpoint appended (the note that is served).
pub fn cosigned_note(note: &str, cosignatures: &[CosignatureRow]) -> String {
    let mut out = note.to_owned();
    for c in cosignatures {
        out.push_str(&c.line);
        out.push('\n');
    }
    out
}
