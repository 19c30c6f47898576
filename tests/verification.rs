//! Incremental verification (issue 18): the year's checks cite the latest verification of the
//! trail, and each run checks only what the Merkle log took since the last one — the new
//! events' hashes and links, the new leaves grown onto the stored frontier, and the
//! checkpoints signed since — never a full pass over the trail.

use serde_json::{Value, json};
use unionfund::domain::policy::Role;

use crate::helpers::*;

async fn trail_check(app: &TestApp) -> Value {
    let c = body(app.get_as(Role::Auditor, "/api/v1/reports/checks?year=2022").await).await;
    c["items"].as_array().unwrap().iter().find(|i| i["code"] == "audit_chain_verifies").unwrap().clone()
}

/// (run_events, checked, tree_size, last_checkpoint_id) of every run, in order.
fn runs(app: &TestApp) -> Vec<(i64, i64, i64, i64)> {
    let n = app.count("SELECT count(*) AS n FROM audit_verifications");
    (1..=n)
        .map(|id| {
            let of = |col: &str| app.count(&format!("SELECT {col} AS n FROM audit_verifications WHERE id = {id}"));
            (of("run_events"), of("checked"), of("tree_size"), of("last_checkpoint_id"))
        })
        .collect()
}

fn tamper(app: &TestApp, sql: &str) {
    app.sql(&format!(
        "BEGIN; ALTER TABLE audit_events DISABLE TRIGGER USER; {sql}; ALTER TABLE audit_events ENABLE TRIGGER USER; COMMIT;"
    ));
}

#[tokio::test]
async fn each_run_checks_only_the_events_logged_since_the_last_and_the_checks_cite_it() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    post_sources(&app, &fund, &["10.00", "20.00"]).await;
    let c = trail_check(&app).await;
    assert_eq!(c["passed"], true, "{c}");
    let first = app.count("SELECT count(*) AS n FROM log_leaves");
    assert_eq!(c["figures"]["verified_tree_size"].as_i64(), Some(first));
    assert_eq!(c["figures"]["checked"].as_i64(), Some(first));
    assert_eq!(runs(&app), vec![(first, first, first, 0)]);
    // Nothing new: no run is recorded, the check cites the same verification.
    assert_eq!(trail_check(&app).await["figures"]["verified_tree_size"].as_i64(), Some(first));
    assert_eq!(runs(&app).len(), 1);
    // Three more events, a checkpoint, two more events: the next run checks exactly the new
    // ones and the checkpoint.
    post_sources(&app, &fund, &["1.00", "2.00", "3.00"]).await;
    let cp = body(app.post_as(Role::Auditor, "/api/v1/audit/checkpoints", json!({})).await).await;
    post_sources(&app, &fund, &["4.00", "5.00"]).await;
    let c = trail_check(&app).await;
    assert_eq!(c["passed"], true, "{c}");
    let second = app.count("SELECT count(*) AS n FROM log_leaves");
    assert!(second >= first + 5);
    let r = runs(&app);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1], (second - first, second, second, cp["id"].as_i64().unwrap()));
    assert_eq!(c["figures"]["verified_tree_size"].as_i64(), Some(second));
    assert_eq!(c["figures"]["log_tree_size"].as_i64(), Some(second));
    assert_eq!(
        c["figures"]["verified_root"].as_str().unwrap(),
        body(app.get_as(Role::Auditor, "/api/v1/audit/log").await).await["root_hash"].as_str().unwrap()
    );
    app.finish().await;
}

#[tokio::test]
async fn an_event_altered_before_its_run_fails_the_check_and_the_break_stays_reported() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    post_sources(&app, &fund, &["10.00"]).await;
    assert_eq!(trail_check(&app).await["passed"], true);
    post_sources(&app, &fund, &["30.00"]).await;
    let seq = app.count("SELECT max(seq) AS n FROM audit_events WHERE action = 'fund.source_added'");
    tamper(&app, &format!("UPDATE audit_events SET amount = 3000.00 WHERE seq = {seq}"));
    let c = trail_check(&app).await;
    assert_eq!(c["passed"], false, "{c}");
    assert_eq!(c["figures"]["first_broken"], json!({"seq": seq, "reason": "hash_mismatch"}));
    // The last sound tree is still what the record says was verified; later runs go no further.
    post_sources(&app, &fund, &["1.00"]).await;
    let again = trail_check(&app).await;
    assert_eq!(again["passed"], false);
    assert_eq!(again["figures"]["verified_tree_size"], c["figures"]["verified_tree_size"]);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_verifications WHERE NOT ok"), 1);
    app.finish_tampered().await;
}

/// Two checkpoints signed after the last run: one of the tree that run verified (checked by a
/// consistency proof from the stored nodes), one of a larger tree (checked as the tree grows).
/// Both pass as signed; either one's signed root rewritten in the database fails the next run.
async fn checkpoints_after_a_run(rewritten: Option<usize>) {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    post_sources(&app, &fund, &["10.00"]).await;
    let verified = trail_check(&app).await;
    assert_eq!(verified["passed"], true);
    let old = body(app.post_as(Role::Auditor, "/api/v1/audit/checkpoints", json!({})).await).await;
    assert_eq!(old["tree_size"], verified["figures"]["verified_tree_size"], "{old} {verified}");
    post_sources(&app, &fund, &["20.00"]).await;
    let new = body(app.post_as(Role::Auditor, "/api/v1/audit/checkpoints", json!({})).await).await;
    assert!(new["tree_size"].as_i64() > old["tree_size"].as_i64(), "{old} {new}");
    let Some(which) = rewritten else {
        let c = trail_check(&app).await;
        assert_eq!(c["passed"], true, "{c}");
        assert_eq!(
            app.count("SELECT max(last_checkpoint_id) AS n FROM audit_verifications"),
            new["id"].as_i64().unwrap()
        );
        return app.finish().await;
    };
    let id = [&old, &new][which]["id"].as_i64().unwrap();
    app.sql(&format!(
        "BEGIN; ALTER TABLE audit_checkpoints DISABLE TRIGGER USER; \
         UPDATE audit_checkpoints SET root_hash = repeat('ab', 32) WHERE id = {id}; \
         ALTER TABLE audit_checkpoints ENABLE TRIGGER USER; COMMIT;"
    ));
    let c = trail_check(&app).await;
    assert_eq!(c["passed"], false, "{c}");
    assert_eq!(c["figures"]["first_broken"]["reason"], "log_mismatch", "{c}");
    app.finish_tampered().await;
}

#[tokio::test]
async fn a_checkpoint_of_a_verified_tree_whose_root_was_rewritten_fails_the_next_run() {
    checkpoints_after_a_run(Some(0)).await;
}

#[tokio::test]
async fn a_checkpoint_of_a_new_tree_whose_root_was_rewritten_fails_the_next_run() {
    checkpoints_after_a_run(Some(1)).await;
}

#[tokio::test]
async fn checkpoints_of_a_verified_tree_and_of_a_new_one_pass_the_next_run_as_signed() {
    checkpoints_after_a_run(None).await;
}
