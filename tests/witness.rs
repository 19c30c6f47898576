//! The witness (`unionfund witness`, c2sp.org/tlog-witness) over real HTTP: an in-process
//! server on a free port with its own state file, fed checkpoints of a log built here (and,
//! once, the real binary).

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};
use unionfund::domain::merkle::{Frontier, Hash, NodeMap, consistency_proof, leaf_hash, root};
use unionfund::domain::note::{Cosigner, LogSigner, VerifierKey, WitnessKey, read_note};
use unionfund::domain::witness::AddCheckpoint;
use unionfund::service::witness::Witness;

use crate::helpers::{capture_logs, logs};

const WITNESS_SEED: [u8; 32] = [0x5a; 32];
const WITNESS_NAME: &str = "finance-bureau.example/witness";

/// A log of its own per test (so that log lines can be told apart), and its tree.
struct Log {
    signer: LogSigner,
    nodes: NodeMap,
}

impl Log {
    fn new(seed: u8) -> Self {
        let origin = format!("t{}.unionfund.example/audit-log", uuid::Uuid::new_v4().simple());
        Self { signer: LogSigner::new(origin, [seed; 32]), nodes: leaves(None) }
    }

    /// The same origin signed with `seed`, over the same leaves but `rewritten` (what a
    /// database rewritten after the witness cosigned, and signed by the log's key, gives).
    fn with(&self, seed: u8, rewritten: Option<u64>) -> Self {
        Self { signer: LogSigner::new(self.signer.name(), [seed; 32]), nodes: leaves(rewritten) }
    }

    fn key(&self) -> VerifierKey {
        VerifierKey::parse(&self.signer.verifier_key()).unwrap()
    }

    fn root(&mut self, size: u64) -> Hash {
        root(&mut self.nodes, size).unwrap()
    }

    fn note(&mut self, size: u64) -> String {
        let r = self.root(size);
        self.signer.sign(size, r)
    }

    /// The request from `old` to `size`, with its consistency proof.
    fn request(&mut self, old: u64, size: u64) -> String {
        let proof = if old == 0 { vec![] } else { consistency_proof(&mut self.nodes, old, size).unwrap() };
        AddCheckpoint { old, proof, note: self.note(size) }.to_body()
    }
}

/// 64 leaves, one of them rewritten.
fn leaves(rewritten: Option<u64>) -> NodeMap {
    tree((0..64).map(|i: u64| if Some(i) == rewritten { leaf_hash(b"rewritten") } else { leaf_hash(&i.to_be_bytes()) }))
}

fn tree(leaves: impl IntoIterator<Item = Hash>) -> NodeMap {
    let (mut f, mut made, mut nodes) = (Frontier::default(), Vec::new(), NodeMap::default());
    for leaf in leaves {
        f.push(leaf, &mut made);
    }
    nodes.0.extend(made.into_iter().map(|(level, index, h)| ((level, index), h)));
    nodes
}

/// An in-process witness on a free port.
struct Running {
    base: String,
    http: reqwest::Client,
    server: actix_web::dev::ServerHandle,
}

async fn witness(state: &Path, logs: Vec<VerifierKey>) -> Running {
    let w = Witness::open(Cosigner::new(WITNESS_NAME, WITNESS_SEED), logs, state).unwrap();
    let running = unionfund::http::witness::start(Arc::new(w), "127.0.0.1:0", 2).unwrap();
    let server = running.server.handle();
    tokio::spawn(running.server);
    // No idle connections kept: a graceful stop then need not wait for their keep-alive to end.
    let http = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    Running { base: format!("http://{}", running.addr), http, server }
}

fn witness_key() -> WitnessKey {
    WitnessKey::parse(&Cosigner::new(WITNESS_NAME, WITNESS_SEED).verifier_key()).unwrap()
}

/// Status, content type and body of an add-checkpoint.
async fn add(w: &Running, body: impl Into<reqwest::Body>) -> (u16, String, String) {
    let r = w.http.post(format!("{}/add-checkpoint", w.base)).body(body).send().await.unwrap();
    let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (r.status().as_u16(), ct, r.text().await.unwrap())
}

fn held_size(state: &Path, origin: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
    v[origin]["size"].as_u64().unwrap()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn a_witness_cosigns_extensions_and_refuses_stale_forked_foreign_and_malformed_checkpoints() {
    capture_logs();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness.json");
    let mut log = Log::new(1);
    let origin = log.signer.name().to_owned();
    let w = witness(&state, vec![log.key()]).await;
    let key = witness_key();

    // The first checkpoint (old 0): cosigned, and the line verifies over the note's body.
    let (status, ct, lines) = add(&w, log.request(0, 6)).await;
    assert_eq!((status, ct.as_str()), (200, "text/plain; charset=utf-8"), "{lines}");
    let body = read_note(&log.note(6)).unwrap().body;
    let t = key.cosigned(&body, &lines).expect("the witness's cosignature verifies");
    assert!(t.abs_diff(now()) < 60, "timestamped now: {t}");
    assert!(lines.starts_with(&format!("\u{2014} {WITNESS_NAME} ")) && lines.ends_with('\n'));
    assert_eq!(held_size(&state, &origin), 6);

    // An extension with its consistency proof.
    let (status, _, lines) = add(&w, log.request(6, 10)).await;
    assert_eq!(status, 200, "{lines}");
    assert!(key.cosigned(&read_note(&log.note(10)).unwrap().body, &lines).is_some());

    // A stale old size: 409 and the size held.
    let (status, ct, held) = add(&w, log.request(6, 12)).await;
    assert_eq!((status, ct.as_str(), held.as_str()), (409, "text/x.tlog.size", "10\n"));

    // A rewritten database: the same sizes over a rewritten leaf, signed by the log's own key.
    let mut fork = log.with(1, Some(2));
    assert_ne!(fork.root(10), log.root(10));
    let (status, _, reason) = add(&w, fork.request(10, 14)).await;
    assert_eq!(status, 422, "{reason}");
    let (status, _, _) = add(&w, fork.request(6, 10).replacen("old 6", "old 10", 1)).await;
    assert_eq!(status, 422, "the same size with another root");
    assert_eq!(held_size(&state, &origin), 10, "nothing of the fork was recorded");

    // Another log; another key for this log; old past new; not a request; too large.
    assert_eq!(add(&w, Log::new(1).request(0, 3)).await.0, 404);
    let mut impostor = log.with(9, None);
    assert_eq!(add(&w, impostor.request(10, 12)).await.0, 403);
    let valid = log.request(10, 12);
    let mut sig = B64.decode(valid.trim_end().rsplit_once(' ').unwrap().1).unwrap();
    sig[67] ^= 1;
    let failing = format!("{valid}\u{2014} {origin} {}\n", B64.encode(&sig));
    assert_eq!(add(&w, failing).await.0, 403, "a failing line of the log's key, beside a valid one");
    let (status, ct, _) = add(&w, log.request(0, 12).replacen("old 0", "old 13", 1)).await;
    assert_eq!((status, ct.as_str()), (400, "text/plain; charset=utf-8"));
    assert_eq!(add(&w, "old 10\nnot base64!\n\nx\n").await.0, 400);
    assert_eq!(add(&w, vec![b'a'; 100 * 1024]).await.0, 413);
    assert_eq!(add(&w, vec![0xff, 0xfe]).await.0, 400);

    // The monitors' endpoint: the latest cosigned checkpoint, with both signatures.
    let hash = hex::encode(Sha256::digest(origin.as_bytes()));
    let r = w.http.get(format!("{}/{hash}/checkpoint", w.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let note = r.text().await.unwrap();
    assert_eq!(log.key().open(&note).unwrap().size, 10);
    let opened = read_note(&note).unwrap();
    assert!(key.cosigned(&opened.body, &opened.signatures).is_some());
    let r = w.http.get(format!("{}/{}/checkpoint", w.base, "0".repeat(64))).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // The log lines: the capture works, and they hold no hash of a body, nor the key.
    w.server.stop(true).await;
    let logs = logs();
    let mine: Vec<&str> = logs.lines().filter(|l| l.contains(&origin)).collect();
    assert!(mine.len() >= 7, "one line per request: {mine:?}");
    assert!(
        mine.iter().any(|l| l.contains("\"status\":422") && l.contains("\"old\":10") && l.contains("\"size\":14")),
        "status, origin and sizes: {mine:?}"
    );
    let mut secrets = vec![B64.encode(WITNESS_SEED), hex::encode(WITNESS_SEED)];
    for size in [6, 10, 12, 14] {
        secrets.push(B64.encode(log.root(size)));
        secrets.push(B64.encode(fork.root(size)));
    }
    secrets.extend(consistency_proof(&mut log.nodes, 6, 10).unwrap().iter().map(|h| B64.encode(h)));
    secrets.extend(consistency_proof(&mut fork.nodes, 10, 14).unwrap().iter().map(|h| B64.encode(h)));
    for s in secrets {
        assert!(!logs.contains(&s), "a log line holds {s}");
    }
}

#[tokio::test]
async fn a_restarted_witness_remembers_what_it_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness.json");
    let mut log = Log::new(2);
    let w = witness(&state, vec![log.key()]).await;
    assert_eq!(add(&w, log.request(0, 5)).await.0, 200);
    w.server.stop(true).await;

    let w = witness(&state, vec![log.key()]).await;
    let (status, ct, held) = add(&w, log.request(0, 5)).await;
    assert_eq!((status, ct.as_str(), held.as_str()), (409, "text/x.tlog.size", "5\n"));
    assert_eq!(add(&w, log.request(5, 8)).await.0, 200);
    assert_eq!(held_size(&state, log.signer.name()), 8);
    w.server.stop(true).await;
}

#[tokio::test]
async fn of_concurrent_requests_from_one_old_size_exactly_one_is_cosigned() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness.json");
    let mut log = Log::new(3);
    let w = Arc::new(witness(&state, vec![log.key()]).await);
    assert_eq!(add(&w, log.request(0, 4)).await.0, 200);
    let requests: Vec<(u64, String)> = (5..=16).map(|size| (size, log.request(4, size))).collect();
    let answers = futures_util::future::join_all(requests.into_iter().map(|(size, body)| {
        let w = w.clone();
        async move { (size, add(&w, body).await) }
    }))
    .await;
    let won: Vec<u64> = answers.iter().filter(|(_, a)| a.0 == 200).map(|(s, _)| *s).collect();
    assert_eq!(won.len(), 1, "{answers:?}");
    for (_, (status, ct, body)) in answers.iter().filter(|(_, a)| a.0 != 200) {
        assert_eq!((*status, ct.as_str(), body.clone()), (409, "text/x.tlog.size", format!("{}\n", won[0])));
    }
    assert_eq!(held_size(&state, log.signer.name()), won[0]);
    w.server.stop(false).await;
}

#[tokio::test]
async fn the_binary_prints_its_key_refuses_to_start_without_one_or_on_a_corrupt_state_and_serves() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("witness.json");
    let mut log = Log::new(4);
    let log_key = log.signer.verifier_key();
    let run = |args: &[&str], key: Option<&str>| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_unionfund"));
        c.arg("witness").args(args).env("UNIONFUND_WITNESS_NAME", WITNESS_NAME).env("RUST_LOG", "warn");
        c.env("UNIONFUND_WITNESS_LOGS", &log_key).env("UNIONFUND_WITNESS_STATE", &state);
        match key {
            Some(k) => c.env("UNIONFUND_WITNESS_KEY", k),
            None => c.env_remove("UNIONFUND_WITNESS_KEY"),
        };
        c
    };
    let seed = B64.encode(WITNESS_SEED);
    let out = run(&["--print-verifier-key"], Some(&seed)).output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{}\n", Cosigner::new(WITNESS_NAME, WITNESS_SEED).verifier_key())
    );
    let out = run(&[], None).output().unwrap();
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("UNIONFUND_WITNESS_KEY"));
    std::fs::write(&state, "{\"not\": \"a state\"}").unwrap();
    let out = run(&[], Some(&seed)).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("corrupt"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&state).unwrap(), "{\"not\": \"a state\"}", "left as found");

    // It serves: a first checkpoint is cosigned, and the state file created.
    std::fs::remove_file(&state).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = run(&["--bind", &format!("127.0.0.1:{port}")], Some(&seed))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/add-checkpoint");
    let mut answer = None;
    for _ in 0..100 {
        if let Ok(r) = http.post(&url).body(log.request(0, 7)).send().await {
            answer = Some((r.status().as_u16(), r.text().await.unwrap()));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let (status, lines) = answer.expect("the witness answered");
    assert_eq!(status, 200, "{lines}");
    assert!(witness_key().cosigned(&read_note(&log.note(7)).unwrap().body, &lines).is_some());
    assert_eq!(held_size(&state, log.signer.name()), 7);
}
