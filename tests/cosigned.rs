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

async fn some_events(app: &TestApp, amounts: &[&str]) {
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    post_sources(app, &fund, amounts).await;
}

async fn checkpoint(app: &TestApp) -> Value {
    let r = app.post_as(Role::Auditor, "/api/v1/audit/checkpoints", json!({})).await;
    assert_eq!(r.status(), 201);
    body(r).await
}

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
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        let mut changed = bytes.to_vec();
        changed[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let Ok(changed) = String::from_utf8(changed) else { continue };
        if let Ok(v) = verify_bundle(&changed, &key, None) {
            assert!(!v.ok, "byte {i} ({:?}) changed and the bundle still verifies", bytes[i] as char);
        }
    }

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
