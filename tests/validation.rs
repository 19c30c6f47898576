//! "Every bad field at once" (STYLE.md §3, issue 17): a 422 names every field serde refuses — a
//! wrong type, a bad amount, an unknown value — and every refusal of the command's own checks on
//! the fields that could be read, in the order the request type lists them; nothing is written.

use reqwest::Method;
use serde_json::{Value, json};
use unionfund::domain::ids::ResidentId;
use unionfund::domain::policy::Role;

use crate::helpers::*;

const FIRST17: &str = "43092119850307001";

fn id_number() -> String {
    format!("{FIRST17}{}", ResidentId::check_char(FIRST17).unwrap())
}

/// A resident ID number whose check character is wrong.
fn bad_id_number() -> String {
    let right = ResidentId::check_char(FIRST17).unwrap();
    format!("{FIRST17}{}", if right == '1' { '2' } else { '1' })
}

fn application(fund: &str, org: uuid::Uuid) -> Value {
    json!({
        "fund_id": fund, "org_id": org, "worker_name": "李春梅", "id_number": id_number(),
        "category": "illness", "level": "deep", "requested_amount": "2000.00", "reason": "hospital costs",
    })
}

fn messages(p: &Value) -> Vec<String> {
    p["errors"].as_array().unwrap().iter().map(|e| e["message"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn a_bad_id_number_and_a_three_decimal_amount_are_named_together_and_nothing_is_written() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let clerk = app.token(Role::Clerk).await;
    let events = app.count("SELECT count(*) AS n FROM audit_events");

    let mut a = application(&fund, township);
    a["id_number"] = json!(bad_id_number());
    a["requested_amount"] = json!("2000.005");
    let r = app.send(Method::POST, "/api/v1/hardship/applications", Some(&clerk), Some(a.clone()), &[]).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["id_number", "requested_amount"], "{p}");
    // The amount is named for its decimals once, not also for the placeholder that stood in for it.
    assert_eq!(messages(&p)[1], "must have at most two decimals (whole fen)");
    assert!(!p.to_string().contains(&bad_id_number()) && !p.to_string().contains("2000.005"), "{p}");
    assert_eq!(app.count("SELECT count(*) AS n FROM hardship_applications"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events"), events, "no audit event");

    // Either alone is named alone; with both fixed the application is filed.
    a["requested_amount"] = json!("2000.00");
    let r = app.send(Method::POST, "/api/v1/hardship/applications", Some(&clerk), Some(a.clone()), &[]).await;
    assert_eq!(fields(&problem(r, 422, "validation_failed").await), ["id_number"]);
    a["id_number"] = json!(id_number());
    let r = app.send(Method::POST, "/api/v1/hardship/applications", Some(&clerk), Some(a), &[]).await;
    assert_eq!(r.status(), 201);
    app.finish().await;
}

#[tokio::test]
async fn three_values_of_the_wrong_type_in_a_fund_source_are_named_at_once() {
    let app = spawn_app().await;
    let fund = app.fund("1000.00").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/funds/{fund}/sources");
    let body = json!({"kind": 5, "amount": 100, "reference": 42});
    let p = problem(app.post_as(Role::FinanceOfficer, &path, body).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["kind", "amount", "reference"], "{p}");
    let m = messages(&p);
    assert!(m[0].contains("`upper_allocation`"), "says which kinds there are: {p}");
    assert_eq!(m[1], "must be a string with at most two decimals, like \"1500.00\"");
    assert_eq!(m[2], "invalid type, expected a string");
    // With a bad description beside them, and a missing reference: each field once.
    let body = json!({"kind": "other", "amount": "-1", "description": 7});
    let p = problem(app.post_as(Role::FinanceOfficer, &path, body).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["amount", "description", "reference"], "{p}");
    assert_eq!(app.count("SELECT count(*) AS n FROM fund_sources"), 0);
    app.finish().await;
}

#[tokio::test]
async fn an_unknown_value_and_a_too_long_text_are_named_at_once() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let clerk = app.token(Role::Clerk).await;
    let mut a = application(&fund, township);
    a["category"] = json!("moonstruck");
    a["worker_name"] = json!("长".repeat(101));
    let r = app.send(Method::POST, "/api/v1/hardship/applications", Some(&clerk), Some(a), &[]).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["worker_name", "category"], "{p}");
    assert!(messages(&p)[1].contains("`illness`") && !p.to_string().contains("moonstruck"), "{p}");

    // A check that compares a readable field with one that could not be read is not made: the
    // ratio is allowed or not depending on what `kind` was meant to be.
    let path = format!("/api/v1/funds/{fund}/sources");
    let body = json!({"kind": "upper_alocation", "amount": "10.00", "matching_ratio": "0.5", "reference": "A-1",
                      "description": "长".repeat(501)});
    let p = problem(app.post_as(Role::FinanceOfficer, &path, body).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["kind", "description"], "{p}");
    assert_eq!(app.count("SELECT count(*) AS n FROM hardship_applications"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM fund_sources"), 0);
    app.finish().await;
}

#[tokio::test]
async fn a_batch_names_every_bad_field_of_every_bad_row() {
    let app = spawn_app().await;
    let fund = app.fund("10000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let c = json!({"fund_id": fund, "name": "冬季送温暖", "kind": "winter_warmth", "budget": "5000.00"});
    let campaign = body(app.post_as(Role::RightsOfficer, "/api/v1/hardship/campaigns", c).await).await;
    let path = format!("/api/v1/hardship/campaigns/{}/beneficiaries", campaign["id"].as_str().unwrap());
    let row = |n: u32| {
        let first17 = format!("43092119900101{n:03}");
        let id = format!("{first17}{}", ResidentId::check_char(&first17).unwrap());
        json!({"org_id": township, "worker_name": format!("工人{n}"), "id_number": id,
               "bank_account": format!("62220200{n:08}"), "amount": "100.00"})
    };
    let mut rows: Vec<Value> = (0..5).map(row).collect();
    // Row 1: a check character the ID-number check refuses, and an amount sent as a number.
    rows[1]["id_number"] = json!(bad_id_number());
    rows[1]["amount"] = json!(100);
    // Row 3: a name too long for the worker-name check, and an account sent as a number.
    rows[3]["worker_name"] = json!("长".repeat(101));
    rows[3]["bank_account"] = json!(6_222_020_000_000_003_u64);
    let r = app.post_with(Role::RightsOfficer, &path, json!({"rows": rows}), &[("If-Match", "\"1\"")]).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(
        fields(&p),
        ["rows[1].id_number", "rows[1].amount", "rows[3].worker_name", "rows[3].bank_account"],
        "{p}"
    );
    assert!(!p.to_string().contains("6222020000000003") && !p.to_string().contains(&bad_id_number()), "{p}");
    assert_eq!(app.count("SELECT count(*) AS n FROM campaign_beneficiaries"), 0);

    // The fee batch: two bad fields in each of two rows, and the batch's own reason, at once.
    let unit = uuid::Uuid::now_v7();
    let good = json!({"org_id": unit, "period": "2022-01", "payroll_total": "1000.00"});
    let rows = [
        good.clone(),
        json!({"org_id": unit, "period": "2022-13", "payroll_total": "1.001"}),
        good,
        json!({"org_id": unit, "period": 202_201, "payroll_total": 5}),
    ];
    let batch = json!({"rows": rows, "reason": " "});
    let r = app.post_as(Role::FinanceBureau, "/api/v1/union-fees/declarations/batch", batch).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(
        fields(&p),
        ["rows[1].period", "rows[1].payroll_total", "rows[3].period", "rows[3].payroll_total", "reason"],
        "{p}"
    );
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations"), 0);
    app.finish().await;
}

#[tokio::test]
async fn a_body_typed_after_the_scope_check_and_an_action_body_name_every_bad_field() {
    let app = spawn_app().await;
    let b = json!({"name": "2022年乡镇工会组织工作经费", "kind": "township_grant", "year": 2022, "budget": "1000.00"});
    let fund =
        body(app.post_as(Role::FinanceOfficer, "/api/v1/funds", b).await).await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let f = json!({"fund_id": fund, "total": "1000.00", "base_per_township": "100.00",
                   "townships": [{"org_id": township, "members": 10}]});
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/township-grants/formula", f).await;
    assert_eq!(r.status(), 201);
    let item = body(r).await["grants"][0]["item_id"].as_str().unwrap().to_owned();
    let tag = app.get_as(Role::Auditor, &format!("/api/v1/items/{item}")).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let report = json!({"amount": "1.001", "description": "长".repeat(1001), "voucher_no": 5});
    let r = app.post_with(Role::Clerk, &format!("/api/v1/items/{item}/uses"), report, &[("If-Match", &tag)]).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["amount", "description", "voucher_no"], "{p}");

    // The formula: a zero total (its own check) beside a base and a township of the wrong types
    // (the fields inside a list's item come in the order found).
    let f = json!({"fund_id": fund, "total": "0", "base_per_township": 100,
                   "townships": [{"org_id": "t1", "members": -1}]});
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/township-grants/formula", f).await;
    let p = problem(r, 422, "validation_failed").await;
    let mut named = fields(&p);
    named[2..].sort();
    assert_eq!(named, ["total", "base_per_township", "townships[0].members", "townships[0].org_id"], "{p}");

    // An action of the approval machine: a reason too long and an amount of three decimals.
    let grant = body(app.get_as(Role::Auditor, "/api/v1/township-grants").await).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let act = json!({"reason": "长".repeat(1001), "approved_amount": "1.001"});
    let path = format!("/api/v1/township-grants/{grant}/approve");
    let p = problem(app.post_with(Role::Leader, &path, act, &[("If-Match", "\"1\"")]).await, 422, "validation_failed")
        .await;
    assert_eq!(fields(&p), ["reason", "approved_amount"], "{p}");
    assert_eq!(app.count("SELECT count(*) AS n FROM item_movements WHERE kind = 'use'"), 0);
    app.finish().await;
}
