//! Every CSV the service writes is formula-safe (OWASP "CSV injection"): a text cell that begins
//! with `=`, `+`, `-`, `@`, a tab or a carriage return is written with a `'` before it; numbers
//! are written as they are. Read back with the `csv` crate, as a spreadsheet would split it.

use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use unionfund::domain::ids::ResidentId;
use unionfund::domain::policy::Role;

use crate::helpers::*;

const CAMPAIGNS: &str = "/api/v1/hardship/campaigns";

/// The names of issue 15, each a formula if a spreadsheet evaluated it.
const FORMULAS: [&str; 5] = ["=1+2", "+SUM(1,1)", "-2+3", "@SUM(1)", "=HYPERLINK(\"http://evil.example/\",\"点击\")"];

fn id_number(n: u32) -> String {
    let first17 = format!("43092119900102{n:03}");
    format!("{first17}{}", ResidentId::check_char(&first17).unwrap())
}

/// Parses a CSV answer: its header and its rows.
fn parse(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r.records().map(|rec| rec.unwrap().iter().map(str::to_owned).collect()).collect();
    (header, rows)
}

async fn post(app: &TestApp, role: Role, id: &str, what: &str, body: Value) -> reqwest::Response {
    let r = app.get_as(Role::Auditor, &format!("{CAMPAIGNS}/{id}")).await;
    let tag = r.headers()["etag"].to_str().unwrap().to_owned();
    app.post_with(role, &format!("{CAMPAIGNS}/{id}/{what}"), body, &[("If-Match", &tag)]).await
}

#[tokio::test]
async fn formula_names_in_the_bank_file_are_inert_and_its_digest_is_of_the_bytes_answered() {
    let app = spawn_app().await;
    let fund = app.fund("100000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let c = json!({"fund_id": fund, "name": "2022年冬季送温暖", "kind": "winter_warmth", "budget": "10000.00"});
    let r = app.post_as(Role::RightsOfficer, CAMPAIGNS, c).await;
    assert_eq!(r.status(), 201);
    let id = body(r).await["id"].as_str().unwrap().to_owned();
    let mut names: Vec<&str> = FORMULAS.to_vec();
    names.extend(["李春梅", "Smith, J"]);
    let rows: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({"org_id": township, "worker_name": name, "id_number": id_number(i as u32),
                   "bank_account": format!("6222020000000{i:03}"), "amount": "400.00"})
        })
        .collect();
    assert_eq!(post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": rows})).await.status(), 201);
    assert_eq!(post(&app, Role::Leader, &id, "approve", json!({})).await.status(), 200);
    assert_eq!(post(&app, Role::FinanceOfficer, &id, "disbursement", json!({})).await.status(), 200);

    let file = app.post_as(Role::FinanceOfficer, &format!("{CAMPAIGNS}/{id}/bank-file"), json!({})).await;
    assert_eq!(file.status(), 200);
    let text = file.text().await.unwrap();
    let (header, rows) = parse(&text);
    assert_eq!(header, ["row_no", "beneficiary_id", "worker_name", "bank_account", "amount"]);
    assert_eq!(rows.len(), names.len());
    for (i, (row, name)) in rows.iter().zip(&names).enumerate() {
        let expected = if FORMULAS.contains(name) { format!("'{name}") } else { (*name).to_owned() };
        assert_eq!(row[2], expected, "row {i}: the name is text, never a formula");
        assert!(!row[2].starts_with(['=', '+', '-', '@', '\t', '\r']));
        // Ordinary cells are unchanged: numbers stay numbers, the account stays whole.
        assert_eq!(row[0], (i + 1).to_string());
        assert_eq!(row[3], format!("6222020000000{i:03}"));
        assert_eq!(row[4], "400.00");
        assert!(uuid::Uuid::parse_str(&row[1]).is_ok());
    }
    assert!(text.contains("李春梅,"), "an ordinary name is written bare");
    assert!(text.contains("\"Smith, J\""), "a comma is quoted, RFC 4180");
    assert!(text.ends_with("\r\n"));

    // The audit event's SHA-256 is of the very bytes answered; a second export of the same pending
    // payments is byte for byte the same file, with the same digest, and is audited again.
    let again = app.post_as(Role::FinanceOfficer, &format!("{CAMPAIGNS}/{id}/bank-file"), json!({})).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), text);
    let events = body(
        app.get_as(Role::Auditor, &format!("/api/v1/audit/events?entity_id={id}&entity_type=hardship_campaign")).await,
    )
    .await;
    let digests: Vec<String> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "hardship_campaign.bank_file_exported")
        .map(|e| {
            serde_json::from_str::<Value>(e["after"].as_str().unwrap()).unwrap()["sha256"].as_str().unwrap().to_owned()
        })
        .collect();
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    assert_eq!(digests, [digest.clone(), digest]);
    app.finish().await;
}

#[tokio::test]
async fn a_request_id_that_is_a_formula_is_inert_in_the_audit_csv_and_exact_in_ndjson() {
    let app = spawn_app().await;
    let t = app.token(Role::FinanceOfficer).await;
    let body_ = json!({"name": "Test fund", "kind": "hardship", "year": 2022, "budget": "100.00"});
    let r = app.send(Method::POST, "/api/v1/funds", Some(&t), Some(body_), &[("X-Request-Id", "=1+2")]).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], "=1+2");
    let fund = body(r).await["id"].as_str().unwrap().to_owned();
    for amount in ["12.50", "7.25"] {
        let r = app
            .post_as(
                Role::FinanceOfficer,
                &format!("/api/v1/funds/{fund}/sources"),
                json!({"kind": "other", "amount": amount, "reference": format!("CSV-{amount}")}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }

    let a = app.token(Role::Auditor).await;
    let csv = app.send(Method::GET, "/api/v1/audit/export?format=csv", Some(&a), None, &[]).await;
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let (header, rows) = parse(&csv.text().await.unwrap());
    assert_eq!(header, unionfund::service::audit::EXPORT_COLUMNS);
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let total = app.count("SELECT count(*) AS n FROM audit_events");
    assert_eq!(rows.len() as i64, total);
    let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[col("request_id")] == "'=1+2").collect();
    assert!(!mine.is_empty(), "the fund's creation is exported with its request id neutralised");
    assert!(rows.iter().all(|r| !r[col("request_id")].starts_with('=')));
    // Ordinary cells are unchanged: numbers stay numbers, JSON stays JSON, actions stay as they are.
    for r in &rows {
        assert!(r[col("seq")].parse::<i64>().is_ok());
        assert!(r[col("stream_seq")].parse::<i64>().is_ok());
        assert!(r[col("after")].is_empty() || serde_json::from_str::<Value>(&r[col("after")]).is_ok());
    }
    let amounts: Vec<&str> =
        rows.iter().filter(|r| r[col("action")] == "fund.source_added").map(|r| r[col("amount")].as_str()).collect();
    assert_eq!(amounts, ["12.50", "7.25"]);

    // NDJSON, the format to verify, carries the request id exactly, and still verifies.
    let nd =
        app.send(Method::GET, "/api/v1/audit/export?format=ndjson", Some(&a), None, &[]).await.text().await.unwrap();
    let lines: Vec<String> = nd.lines().map(str::to_owned).collect();
    assert!(lines.iter().any(|l| serde_json::from_str::<Value>(l).unwrap()["request_id"] == "=1+2"));
    let v = unionfund::service::audit::verify_export(lines.into_iter().map(Ok), None).unwrap();
    assert!(v.ok);
    app.finish().await;
}
