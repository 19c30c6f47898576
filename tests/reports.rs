//! What auditors run: the year's reconciliation checks, and the two offline verifiers of an
//! export (the binary, and the stdlib-only Python script written from the README alone).

use std::process::Command;

use serde_json::{Value, json};
use unionfund::domain::policy::Role;

use crate::helpers::*;

#[tokio::test]
async fn an_export_passes_both_offline_verifiers_and_fails_both_once_a_line_is_edited() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let source = json!({"kind": "local_matching", "amount": "1234.56", "reference": "LOCAL-1"});
    assert_eq!(app.post_as(Role::FinanceOfficer, &format!("/api/v1/funds/{fund}/sources"), source).await.status(), 201);
    let r = app.get_as(Role::Auditor, "/api/v1/audit/export?format=ndjson").await;
    assert_eq!(r.status(), 200);
    let export = r.text().await.unwrap();
    assert!(export.lines().count() >= 4);
    let dir = std::env::temp_dir().join(format!("unionfund-export-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("trail.ndjson");
    std::fs::write(&good, &export).unwrap();
    let edited = dir.join("edited.ndjson");
    assert!(export.contains("1234.56"));
    std::fs::write(&edited, export.replacen("1234.56", "1234.57", 1)).unwrap();

    let binary = |file: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_unionfund")).args(["audit", "verify-export"]).arg(file).output().unwrap()
    };
    let python = |file: &std::path::Path| {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/verify_trail.py");
        Command::new("python3").arg(script).arg(file).output().expect("python3 runs")
    };
    for (name, run) in [("binary", &binary as &dyn Fn(&std::path::Path) -> std::process::Output), ("python", &python)] {
        let ok = run(&good);
        assert!(ok.status.success(), "{name} refuses a sound export: {}", String::from_utf8_lossy(&ok.stdout));
        let v: Value = serde_json::from_slice(&ok.stdout).unwrap();
        assert_eq!(v["ok"], true, "{name}");
        assert_eq!(v["checked"].as_u64().unwrap(), export.lines().count() as u64, "{name}");
        let bad = run(&edited);
        assert_eq!(bad.status.code(), Some(1), "{name} must fail an edited export");
        let v: Value = serde_json::from_slice(&bad.stdout).unwrap();
        assert_eq!(v["ok"], false, "{name}");
        assert_eq!(v["first_broken"]["reason"], "hash_mismatch", "{name}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    app.finish().await;
}

#[tokio::test]
async fn the_years_checks_pass_on_sound_books_and_name_what_breaks() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let upper =
        json!({"kind": "upper_allocation", "amount": "40000.00", "matching_ratio": "0.5", "reference": "UPPER-1"});
    assert_eq!(app.post_as(Role::FinanceOfficer, &format!("/api/v1/funds/{fund}/sources"), upper).await.status(), 201);
    problem(app.get_as(Role::Clerk, "/api/v1/reports/checks?year=2022").await, 403, "forbidden").await;
    let c = body(app.get_as(Role::Auditor, "/api/v1/reports/checks?year=2022").await).await;
    assert_eq!(c["year"], 2022);
    let by_code =
        |c: &Value, code: &str| c["items"].as_array().unwrap().iter().find(|i| i["code"] == code).unwrap().clone();
    for code in [
        "journal_entries_balance",
        "balances_equal_postings",
        "item_stages_reconcile",
        "entries_match_movements",
        "spending_within_budget",
        "fee_splits_add_up",
        "audit_chain_verifies",
    ] {
        assert_eq!(by_code(&c, code)["passed"], true, "{code}: {c}");
    }
    // The matching is missing: that check fails and says by how much.
    let m = by_code(&c, "matching_in_place");
    assert_eq!(m["passed"], false);
    assert_eq!(m["figures"]["missing"][0]["required"], "20000.00");
    assert_eq!(c["failed"], 1);
    // A balance drifted in the database (triggers off) is named.
    app.sql(&format!(
        "ALTER TABLE accounts DISABLE TRIGGER USER; \
         UPDATE accounts SET balance = balance + 1 WHERE fund_id = '{fund}' AND code = 'available'; \
         ALTER TABLE accounts ENABLE TRIGGER USER;"
    ));
    let c = body(app.get_as(Role::FinanceBureau, "/api/v1/reports/checks?year=2022").await).await;
    let b = by_code(&c, "balances_equal_postings");
    assert_eq!(b["passed"], false);
    assert_eq!(b["figures"]["failing"], 1);
    app.sql(&format!(
        "ALTER TABLE accounts DISABLE TRIGGER USER; \
         UPDATE accounts SET balance = balance - 1 WHERE fund_id = '{fund}' AND code = 'available'; \
         ALTER TABLE accounts ENABLE TRIGGER USER;"
    ));
    app.finish().await;
}
