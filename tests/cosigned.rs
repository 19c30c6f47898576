//! Cosigned checkpoints and tlog-proof bundles (issue 18): the bundle of one event verifies
//! offline with the binary and the Python script, and fails when any byte of it changes; the
//! witnesses' cosignatures ride on the notes; a note without the policy's quorum fails both
//! verifiers.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use unionfund::domain::note::VerifierKey;
use unionfund::domain::policy::Role;
use unionfund::domain::witness::Policy;
use unionfund::service::audit::verify_bundle;

use crate::helpers::*;

async fn last_seq(app: &TestApp) -> i64 {
    let b = body(app.get_as(Role::Auditor, "/api/v1/audit/events?limit=500").await).await;
    b["items"].as_array().unwrap().last().unwrap()["seq"].as_i64().unwrap()
}

async fn bundle(app: &TestApp, seq: i64, query: &str) -> reqwest::Response {
    app.get_as(Role::Auditor, &format!("/api/v1/audit/events/{seq}/proof?format=tlog-proof{query}")).await
}

async fn log_key(app: &TestApp) -> Value {
    body(app.get_as(Role::Auditor, "/api/v1/audit/log-key").await).await
}

/// A scratch folder, removed at the end.
pub struct Files(PathBuf);

impl Files {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("unionfund-cosigned-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
    pub fn put(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary (`audit <verb>`) and the Python script (`<form>`) on the same arguments:
/// both must print the same line and exit alike; answers the verdict and the exit code.
pub fn both(verb: &str, form: &str, args: &[&str]) -> (Value, i32) {
    let binary = Command::new(env!("CARGO_BIN_EXE_unionfund")).args(["audit", verb]).args(args).output().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_trail.py");
    let mut python = Command::new("python3");
    python.arg(script);
    if !form.is_empty() {
        python.arg(form);
    }
    let python = python.args(args).output().unwrap();
    let (b, p) = (String::from_utf8_lossy(&binary.stdout), String::from_utf8_lossy(&python.stdout));
    assert_eq!(b, p, "binary and python differ on {args:?}: {}", String::from_utf8_lossy(&python.stderr));
    assert_eq!(binary.status.code(), python.status.code(), "{args:?}");
    (serde_json::from_str(&b).unwrap(), binary.status.code().unwrap())
}

/// Each byte of `text` changed three ways (its low bit flipped, made a carriage return, made a
/// newline): `holds` must refuse every change (a change that is no longer UTF-8 cannot even be
/// read as text, so it counts as refused).
fn every_byte_matters(text: &str, holds: impl Fn(&str) -> bool) {
    assert!(holds(text));
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        for to in [bytes[i] ^ 1, b'\r', b'\n'] {
            if to == bytes[i] {
                continue;
            }
            let mut changed = bytes.to_vec();
            changed[i] = to;
            if let Ok(changed) = String::from_utf8(changed) {
                assert!(
                    !holds(&changed),
                    "byte {i} ({:?}) made {to:?} and the bundle still verifies",
                    bytes[i] as char
                );
            }
        }
    }
}

#[tokio::test]
async fn a_tlog_proof_bundle_verifies_offline_and_fails_when_any_byte_of_it_changes() {
    let app = spawn_app().await;
    some_events(&app, &["100.00", "250.50", "12.34"]).await;
    let seq = last_seq(&app).await;
    // Before any checkpoint holds it, there is no bundle to give.
    problem(bundle(&app, seq, "").await, 409, "not_yet_checkpointed").await;
    let cp = checkpoint(&app).await;
    let r = bundle(&app, seq, "").await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(&format!("event-{seq}.tlog-proof")));
    let text = r.text().await.unwrap();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{text}");
    assert!(text.ends_with(cp["note"].as_str().unwrap()), "the bundle carries the checkpoint's note verbatim");
    let key_text = log_key(&app).await["verifier_key"].as_str().unwrap().to_owned();
    let key = VerifierKey::parse(&key_text).unwrap();
    let v = verify_bundle(&text, &key, None).unwrap();
    assert!(v.ok && v.event_valid && v.inclusion_valid && v.signature_valid, "{v:?}");
    assert_eq!((v.event.seq, v.tree_size), (seq, cp["tree_size"].as_u64().unwrap()));

    // Every byte matters: changed to another byte, the bundle is refused (unreadable or not ok).
    every_byte_matters(&text, |t| verify_bundle(t, &key, None).is_ok_and(|v| v.ok));

    // Both offline verifiers, on the file as saved.
    let files = Files::new();
    let path = files.put("event.tlog-proof", text.as_bytes());
    let (verdict, code) = both("verify-proof", "proof", &[&path, "--key", &key_text]);
    assert_eq!((verdict["ok"].as_bool(), code), (Some(true), 0), "{verdict}");
    assert_eq!(verdict["event"]["seq"].as_i64(), Some(seq));
    assert_eq!(verdict["witnesses"], Value::Null);
    let altered = text.replacen("index ", "index 1", 1);
    let path = files.put("altered.tlog-proof", altered.as_bytes());
    let (verdict, code) = both("verify-proof", "proof", &[&path, "--key", &key_text]);
    assert_eq!((verdict["ok"].as_bool(), code), (Some(false), 1), "{verdict}");
    let path = files.put("cut.tlog-proof", &text.as_bytes()[..40]);
    let (verdict, code) = both("verify-proof", "proof", &[&path, "--key", &key_text]);
    assert_eq!(code, 2, "{verdict}");
    assert_eq!(verdict["error"].as_str(), Some(format!("{path}: malformed proof bundle").as_str()));

    // A checkpoint of a given size, and the errors.
    let size = cp["tree_size"].as_i64().unwrap();
    assert_eq!(bundle(&app, seq, &format!("&tree_size={size}")).await.status(), 200);
    problem(bundle(&app, seq, &format!("&tree_size={}", size + 7)).await, 409, "tree_size_unavailable").await;
    problem(
        app.get_as(Role::Auditor, &format!("/api/v1/audit/events/{seq}/proof?format=pdf")).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(bundle(&app, 99_999_999, "").await.status(), 404);
    app.finish().await;
}

#[tokio::test]
async fn without_witnesses_the_policy_of_the_log_asks_no_quorum_and_a_policy_that_does_fails_the_note() {
    let app = spawn_app().await;
    some_events(&app, &["10.00"]).await;
    let cp = checkpoint(&app).await;
    assert_eq!(cp["cosignatures"], json!([]));
    let key = log_key(&app).await;
    assert_eq!(key["witnesses"], json!([]));
    let policy = key["policy"].as_str().unwrap();
    assert_eq!(policy, format!("log {}\nquorum none\n", key["verifier_key"].as_str().unwrap()));
    assert!(Policy::parse(policy).is_ok());
    // A policy that asks for a witness the note does not carry fails the note, in both verifiers.
    let witness = unionfund::domain::note::Cosigner::new("bureau.example/witness", [42; 32]);
    let files = Files::new();
    let vk = key["verifier_key"].as_str().unwrap();
    let strict = files.put(
        "strict.policy",
        format!("log {vk}\nwitness bureau {}\nquorum bureau\n", witness.verifier_key()).as_bytes(),
    );
    let seq = last_seq(&app).await;
    let text = bundle(&app, seq, "").await.text().await.unwrap();
    let path = files.put("event.tlog-proof", text.as_bytes());
    let (verdict, code) = both("verify-proof", "proof", &[&path, "--key", vk, "--policy", &strict]);
    assert_eq!((verdict["ok"].as_bool(), code), (Some(false), 1), "{verdict}");
    assert_eq!(verdict["witnesses"], json!({"quorum_met": false, "cosigned_by": []}));
    let note = files.put("note", cp["note"].as_str().unwrap().as_bytes());
    let export = body_text(app.get_as(Role::Auditor, "/api/v1/audit/export").await).await;
    let export = files.put("trail.ndjson", export.as_bytes());
    let (verdict, code) =
        both("verify-export", "", &[&export, "--checkpoint", &note, "--key", vk, "--policy", &strict]);
    assert_eq!((verdict["ok"].as_bool(), code), (Some(false), 1), "{verdict}");
    assert_eq!(verdict["checkpoint"]["witnesses"]["quorum_met"], json!(false));
    assert_eq!(verdict["checkpoint"]["root_matches"], json!(true));
    // With the log's own policy (no quorum), the same note holds.
    let own = files.put("own.policy", policy.as_bytes());
    let (verdict, code) = both("verify-export", "", &[&export, "--checkpoint", &note, "--key", vk, "--policy", &own]);
    assert_eq!((verdict["ok"].as_bool(), code), (Some(true), 0), "{verdict}");
    // A policy naming another log is refused before anything else is read.
    let other = unionfund::domain::note::LogSigner::new("other.example/log", [3; 32]);
    let foreign = files.put("foreign.policy", format!("log {}\nquorum none\n", other.verifier_key()).as_bytes());
    let (verdict, code) = both("verify-proof", "proof", &[&path, "--key", vk, "--policy", &foreign]);
    assert_eq!(code, 2);
    assert_eq!(verdict["error"].as_str(), Some(format!("{foreign}: log key not in policy").as_str()));
    let broken = files.put("broken.policy", b"witness w1 nonsense\nquorum w1\n");
    let (verdict, _) = both("verify-proof", "proof", &[&path, "--key", vk, "--policy", &broken]);
    assert_eq!(verdict["error"].as_str(), Some(format!("{broken}: line 1: malformed policy").as_str()));
    app.finish().await;
}

async fn body_text(r: reqwest::Response) -> String {
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// A witness (`unionfund witness`'s server, in process) on a state file of its own.
struct LiveWitness {
    url: String,
    key: String,
    handle: actix_web::dev::ServerHandle,
}

async fn live_witness(name: &str, seed: [u8; 32], log: &VerifierKey, state: &Path) -> LiveWitness {
    use unionfund::domain::note::Cosigner;
    let w = unionfund::service::witness::Witness::open(Cosigner::new(name, seed), vec![log.clone()], state).unwrap();
    let key = w.verifier_key();
    let running = unionfund::http::witness::start(std::sync::Arc::new(w), "127.0.0.1:0", 1).unwrap();
    let handle = running.server.handle();
    tokio::spawn(running.server);
    LiveWitness { url: format!("http://{}/", running.addr), key, handle }
}

fn cosigners(cp: &Value) -> Vec<String> {
    cp["cosignatures"].as_array().unwrap().iter().map(|c| c["witness"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn two_witnesses_cosign_each_checkpoint_a_missing_one_fails_the_quorum_and_a_rewritten_database_is_refused() {
    let log =
        VerifierKey::parse(&unionfund::config::Config::defaults("postgres://x").log_signer.verifier_key()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (bureau_state, committee_state) = (dir.path().join("bureau.json"), dir.path().join("committee.json"));
    let bureau = live_witness("bureau.example/witness", [11; 32], &log, &bureau_state).await;
    let committee = live_witness("committee.example/witness", [12; 32], &log, &committee_state).await;
    let list = format!("{} {},{} {}", bureau.url, bureau.key, committee.url, committee.key);
    let witnesses = unionfund::config::parse_witnesses(&list).unwrap();
    let app = spawn_app_with(|c| {
        c.witnesses = witnesses.clone();
        c.witness_quorum = 2;
        c.witness_timeout_ms = 2000;
    })
    .await;

    // Each checkpoint goes to both; the second with a consistency proof from the first.
    some_events(&app, &["100.00", "20.00"]).await;
    let cp1 = checkpoint(&app).await;
    assert_eq!(cosigners(&cp1), ["bureau.example/witness", "committee.example/witness"], "{cp1}");
    some_events(&app, &["30.00"]).await;
    let cp2 = checkpoint(&app).await;
    assert_eq!(cosigners(&cp2).len(), 2, "{cp2}");
    let note = cp2["note"].as_str().unwrap();
    assert_eq!(note.matches("\n\u{2014} ").count(), 3, "the log's signature and two cosignatures: {note}");
    let opened = unionfund::domain::note::read_note(note).unwrap();
    for w in &witnesses {
        assert!(w.key.cosigned(&opened.body, &opened.signatures).is_some(), "{} cosigned", w.key.name());
    }
    assert_eq!(cp2["cosignatures"], latest(&app).await["cosignatures"]);
    let listed = body(app.get_as(Role::Auditor, "/api/v1/audit/checkpoints?limit=1").await).await;
    assert_eq!(listed["items"][0]["note"].as_str(), Some(note));
    let served = app.get_as(Role::Auditor, "/api/v1/audit/checkpoints/latest?format=note").await.text().await.unwrap();
    assert_eq!(served, note);

    // The log's policy names both and asks both; a bundle verifies under it, in both verifiers.
    let key = log_key(&app).await;
    assert_eq!(key["quorum"], json!(2));
    assert_eq!(key["witnesses"].as_array().unwrap().len(), 2);
    let policy_text = key["policy"].as_str().unwrap().to_owned();
    let policy = Policy::parse(&policy_text).unwrap();
    let vk = key["verifier_key"].as_str().unwrap().to_owned();
    let seq = last_seq(&app).await;
    let text = bundle(&app, seq, "").await.text().await.unwrap();
    let v = verify_bundle(&text, &log, Some(&policy)).unwrap();
    assert!(v.ok, "{v:?}");
    assert_eq!(v.witnesses.as_ref().unwrap().cosigned_by, ["w1", "w2"]);
    // With the policy, every byte of the cosigned bundle matters, cosignatures included.
    every_byte_matters(&text, |t| verify_bundle(t, &log, Some(&policy)).is_ok_and(|v| v.ok));
    let files = Files::new();
    let policy_path = files.put("unionfund.policy", policy_text.as_bytes());
    let path = files.put("event.tlog-proof", text.as_bytes());
    let (verdict, code) = both("verify-proof", "proof", &[&path, "--key", &vk, "--policy", &policy_path]);
    assert_eq!((verdict["ok"].as_bool(), code), (Some(true), 0), "{verdict}");
    assert_eq!(verdict["witnesses"], json!({"quorum_met": true, "cosigned_by": ["w1", "w2"]}));
    let (old, new) =
        (files.put("old.note", cp1["note"].as_str().unwrap().as_bytes()), files.put("new.note", note.as_bytes()));
    let (from, to) = (cp1["tree_size"].as_i64().unwrap(), cp2["tree_size"].as_i64().unwrap());
    let proof = body(app.get_as(Role::Auditor, &format!("/api/v1/audit/consistency?from={from}&to={to}")).await).await;
    let proof = files.put("proof.json", proof.to_string().as_bytes());
    let (verdict, code) =
        both("verify-consistency", "consistency", &[&old, &new, &proof, "--key", &vk, "--policy", &policy_path]);
    assert_eq!((verdict["ok"].as_bool(), code), (Some(true), 0), "{verdict}");
    assert_eq!(verdict["witnesses"]["new"]["quorum_met"], json!(true));

    // The committee's witness is down: the checkpoint is taken with one cosignature, and its
    // note fails the policy's quorum in both verifiers.
    committee.handle.stop(true).await;
    some_events(&app, &["40.00"]).await;
    let cp3 = checkpoint(&app).await;
    assert_eq!(cosigners(&cp3), ["bureau.example/witness"], "{cp3}");
    let seq = last_seq(&app).await;
    let text = bundle(&app, seq, "").await.text().await.unwrap();
    let path = files.put("short.tlog-proof", text.as_bytes());
    let (verdict, code) = both("verify-proof", "proof", &[&path, "--key", &vk, "--policy", &policy_path]);
    assert_eq!((verdict["ok"].as_bool(), code), (Some(false), 1), "{verdict}");
    assert_eq!(verdict["witnesses"], json!({"quorum_met": false, "cosigned_by": ["w1"]}));
    assert_eq!((verdict["inclusion_valid"].as_bool(), verdict["signature_valid"].as_bool()), (Some(true), Some(true)));

    // Back up on its state file, it is offered the newest checkpoint again (the maintenance
    // round) and cosigns it with a proof from the tree it last cosigned.
    let committee = live_witness("committee.example/witness", [12; 32], &log, &committee_state).await;
    let w = unionfund::service::witnessing::Witnesses::new(
        unionfund::config::parse_witnesses(&format!(
            "{} {},{} {}",
            bureau.url, bureau.key, committee.url, committee.key
        ))
        .unwrap(),
        2,
        std::time::Duration::from_secs(2),
    )
    .unwrap();
    let pool = unionfund::db::pool::connect(&app.db.url, 1).unwrap();
    w.cosign_latest(&pool).await.unwrap();
    assert_eq!(cosigners(&latest(&app).await).len(), 2);
    let held = app
        .count("SELECT max(tree_size) AS n FROM checkpoint_cosignatures WHERE witness = 'committee.example/witness'");
    assert_eq!(held, cp3["tree_size"].as_i64().unwrap());

    // A database rewritten after the witnesses cosigned: another trail under the same log key,
    // longer than the one they hold. Both refuse it (its tree does not extend theirs); the
    // checkpoint is taken, uncosigned, and the witnesses still hold the first trail's size.
    let forged = spawn_app_with(|c| {
        c.witnesses = unionfund::config::parse_witnesses(&format!(
            "{} {},{} {}",
            bureau.url, bureau.key, committee.url, committee.key
        ))
        .unwrap();
        c.witness_quorum = 2;
    })
    .await;
    let amounts: Vec<String> = (1..=40).map(|i| format!("{i}.00")).collect();
    some_events(&forged, &amounts.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let fork = checkpoint(&forged).await;
    assert!(fork["tree_size"].as_i64().unwrap() > cp3["tree_size"].as_i64().unwrap(), "{fork}");
    assert_eq!(fork["cosignatures"], json!([]), "{fork}");
    for state in [&bureau_state, &committee_state] {
        let held: Value = serde_json::from_slice(&std::fs::read(state).unwrap()).unwrap();
        assert_eq!(held[log.name()]["size"].as_i64(), cp3["tree_size"].as_i64(), "{held}");
    }
    assert_eq!(forged.count("SELECT count(*) AS n FROM checkpoint_cosignatures"), 0);
    forged.finish().await;
    app.finish().await;
    bureau.handle.stop(true).await;
    committee.handle.stop(true).await;
}

async fn latest(app: &TestApp) -> Value {
    body(app.get_as(Role::Auditor, "/api/v1/audit/checkpoints/latest").await).await
}
