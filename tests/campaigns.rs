//! Hardship campaigns: thousands of beneficiaries, approved together, paid as one bank batch.

use rust_decimal::Decimal;
use serde_json::{Value, json};
use unionfund::domain::ids::ResidentId;
use unionfund::domain::policy::Role;

use crate::helpers::*;

const CAMPAIGNS: &str = "/api/v1/hardship/campaigns";

/// A valid resident ID number, different for each `n` < 9000.
fn id_number(n: u32) -> String {
    let first17 = format!("4309211990010{}{:03}", 1 + n / 1000, n % 1000);
    format!("{first17}{}", ResidentId::check_char(&first17).unwrap())
}

fn account(n: u32) -> String {
    format!("62220200{n:08}")
}

fn rows(org: uuid::Uuid, range: std::ops::Range<u32>, amount: &str) -> Vec<Value> {
    range
        .map(|n| {
            json!({"org_id": org, "worker_name": format!("工人{n}"), "id_number": id_number(n),
                   "bank_account": account(n), "amount": amount})
        })
        .collect()
}

async fn etag_of(app: &TestApp, path: &str) -> String {
    let r = app.get_as(Role::Auditor, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.headers()["etag"].to_str().unwrap().to_owned()
}

/// Posts to a campaign's sub-path with its current `ETag`.
async fn post(app: &TestApp, role: Role, id: &str, what: &str, body: Value) -> reqwest::Response {
    let tag = etag_of(app, &format!("{CAMPAIGNS}/{id}")).await;
    app.post_with(role, &format!("{CAMPAIGNS}/{id}/{what}"), body, &[("If-Match", &tag)]).await
}

async fn fund_of(app: &TestApp, fund: &str) -> Value {
    body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{fund}")).await).await
}

async fn campaign(app: &TestApp, fund: &str, budget: &str) -> String {
    let c = json!({"fund_id": fund, "name": "2022年冬季送温暖", "kind": "winter_warmth", "budget": budget});
    let r = app.post_as(Role::RightsOfficer, CAMPAIGNS, c).await;
    assert_eq!(r.status(), 201);
    body(r).await["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_campaign_of_two_thousand_is_added_approved_and_paid_as_one_bank_batch() {
    let app = spawn_app().await;
    let fund = app.fund("1000000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let id = campaign(&app, &fund, "800000.00").await;

    // 2,000 beneficiaries in one call.
    let r =
        post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": rows(township, 0..2000, "400.00")})).await;
    assert_eq!(r.status(), 201);
    let added = body(r).await;
    assert_eq!(added["added"], 2000);
    assert_eq!(added["added_amount"], "800000.00");
    assert_eq!(added["campaign"]["beneficiaries"], 2000);

    // Duplicates are named row by row, and nothing is written.
    let mut again = rows(township, 1999..2001, "1.00");
    again.push(again[1].clone());
    let p = problem(
        post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": again})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["rows[0].id_number", "rows[2].id_number"]);
    assert!(p["errors"][0]["message"].as_str().unwrap().starts_with("duplicate_beneficiary"));
    assert!(p["errors"][1]["message"].as_str().unwrap().contains("rows[1]"));
    // The budget holds.
    let r = post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": rows(township, 2000..2001, "0.01")}))
        .await;
    problem(r, 409, "over_budget").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM campaign_beneficiaries"), 2000);

    // Approved together, by a leader.
    problem(post(&app, Role::RightsOfficer, &id, "approve", json!({})).await, 403, "forbidden").await;
    let r = post(&app, Role::Leader, &id, "approve", json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["status"], "approved");
    assert_eq!(app.count("SELECT count(*) AS n FROM items WHERE origin_type = 'campaign_beneficiary'"), 2000);
    assert_eq!(fund_of(&app, &fund).await["allocated"], "0.00", "approval moves no money");

    // Paid as one batch by the finance office.
    let r = post(&app, Role::FinanceOfficer, &id, "disbursement", json!({})).await;
    assert_eq!(r.status(), 200);
    let c = body(r).await;
    assert_eq!(c["status"], "disbursed");
    assert_eq!(c["payments"], json!({"pending": 2000}));
    let f = fund_of(&app, &fund).await;
    assert_eq!((f["allocated"].as_str(), f["disbursed"].as_str()), (Some("800000.00"), Some("800000.00")));
    assert_eq!(f["available"], "200000.00");
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries WHERE entity_type = 'hardship_campaign'"), 2);

    // The bank file: a header and 2,000 rows adding up to the batch.
    let r = app.post_as(Role::FinanceOfficer, &format!("{CAMPAIGNS}/{id}/bank-file"), json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let csv = r.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "row_no,beneficiary_id,worker_name,bank_account,amount");
    assert_eq!(lines.len(), 2001);
    let mut sum = Decimal::ZERO;
    let mut ids = Vec::new();
    for (i, line) in lines[1..].iter().enumerate() {
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(cols[0], (i + 1).to_string());
        assert_eq!(cols[3], account(u32::try_from(i).unwrap()), "whole account numbers, in row order");
        sum += cols[4].parse::<Decimal>().unwrap();
        ids.push(cols[1].to_owned());
    }
    assert_eq!(sum, "800000.00".parse::<Decimal>().unwrap());
    let exported =
        app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'hardship_campaign.bank_file_exported'");
    assert_eq!(exported, 1);

    // The bank's results: all paid but one failed; later, one paid payment comes back.
    let mut results: Vec<Value> =
        ids.iter().map(|b| json!({"beneficiary_id": b, "status": "paid", "bank_reference": "B-1"})).collect();
    results[5] = json!({"beneficiary_id": ids[5], "status": "failed", "message": "account closed"});
    let r = post(&app, Role::FinanceOfficer, &id, "bank-results", json!({"rows": results})).await;
    assert_eq!(r.status(), 200);
    let res = body(r).await;
    assert_eq!((res["paid"].as_u64(), res["failed"].as_u64()), (Some(1999), Some(1)));
    assert_eq!(res["reversed_amount"], "400.00");
    // A paid payment cannot be paid again; a failed one cannot be returned.
    let bad = json!({"rows": [{"beneficiary_id": ids[0], "status": "paid"}, {"beneficiary_id": ids[5], "status": "returned"}]});
    let p = problem(post(&app, Role::FinanceOfficer, &id, "bank-results", bad).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["rows[0].status", "rows[1].status"]);
    let back = json!({"rows": [{"beneficiary_id": ids[7], "status": "returned", "message": "name mismatch"}]});
    assert_eq!(post(&app, Role::FinanceOfficer, &id, "bank-results", back).await.status(), 200);
    let c = body(app.get_as(Role::Auditor, &format!("{CAMPAIGNS}/{id}")).await).await;
    assert_eq!(c["payments"], json!({"paid": 1998, "failed": 1, "returned": 1}));
    let f = fund_of(&app, &fund).await;
    assert_eq!(f["disbursed"], "799200.00");
    assert_eq!(f["allocated"], "800000.00");

    // The failed worker's item: disbursed, reversed, reconciled; settling it releases the money.
    let page = body(app.get_as(Role::Auditor, &format!("{CAMPAIGNS}/{id}/beneficiaries?limit=10")).await).await;
    let failed = &page["items"][5];
    assert_eq!(failed["payment_status"], "failed");
    assert_eq!(failed["bank_message"], "account closed");
    assert_eq!(failed["id_number"], format!("4309**********{}", &id_number(5)[14..]));
    assert_eq!(failed["bank_account"], format!("************{}", &account(5)[12..]));
    let item = failed["item_id"].as_str().unwrap();
    let t = body(app.get_as(Role::Auditor, &format!("/api/v1/items/{item}/trace")).await).await;
    assert_eq!(t["stages"][1]["total"], "0.00", "paid then reversed");
    assert_eq!(t["stages"][1]["movements"].as_array().unwrap().len(), 2);
    assert_eq!(t["reconciles"], true, "{t}");
    let tag = etag_of(&app, &format!("/api/v1/items/{item}")).await;
    let r = app
        .post_with(Role::FinanceOfficer, &format!("/api/v1/items/{item}/settlement"), json!({}), &[("If-Match", &tag)])
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(body(r).await["item"]["released"], "400.00");
    assert_eq!(fund_of(&app, &fund).await["available"], "200400.00");

    // A paid worker's item reconciles against the batch entries; its trail is its own.
    let paid = page["items"][0]["item_id"].as_str().unwrap();
    let t = body(app.get_as(Role::Auditor, &format!("/api/v1/items/{paid}/trace")).await).await;
    assert_eq!(t["reconciles"], true, "{t}");
    let ev =
        body(app.get_as(Role::Auditor, &format!("/api/v1/audit/events?entity_type=item&entity_id={paid}")).await).await;
    let actions: Vec<&str> = ev["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["item.created", "item.allocated", "item.disbursed"]);
    assert_eq!(ev["items"][2]["amount"], "400.00");

    // A clerk sees its own organisation's workers only.
    let other = app.org("other").await;
    let id2 = campaign(&app, &fund, "100.00").await;
    let mixed = [rows(township, 3000..3001, "50.00"), rows(other, 3001..3002, "50.00")].concat();
    assert_eq!(post(&app, Role::RightsOfficer, &id2, "beneficiaries", json!({"rows": mixed})).await.status(), 201);
    let mine = body(app.get_as(Role::Clerk, &format!("{CAMPAIGNS}/{id2}/beneficiaries")).await).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    assert_eq!(mine["items"][0]["org_id"], township.to_string());

    // No whole ID number or account number anywhere in the database.
    let dump = dump(&app.db);
    for n in [0, 5, 1999] {
        assert!(!dump.contains(&id_number(n)) && !dump.contains(&account(n)), "row {n} in the dump");
    }
    app.finish().await;
}

#[tokio::test]
async fn campaigns_stay_within_their_fund_and_their_order() {
    let app = spawn_app().await;
    let fund = app.fund("1000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let id = campaign(&app, &fund, "600.00").await;
    let c = json!({"fund_id": fund, "name": "summer", "kind": "summer_cooling", "budget": "400.01"});
    problem(app.post_as(Role::RightsOfficer, CAMPAIGNS, c).await, 409, "over_budget").await;
    // Nothing to disburse before approval; nothing to approve without beneficiaries.
    problem(post(&app, Role::FinanceOfficer, &id, "disbursement", json!({})).await, 409, "invalid_transition").await;
    problem(post(&app, Role::Leader, &id, "approve", json!({})).await, 409, "invalid_transition").await;
    // Bad rows are all named.
    let mut bad = rows(township, 0..3, "100.00");
    let good = id_number(8);
    let wrong = if good.ends_with('1') { "2" } else { "1" };
    bad[0]["id_number"] = json!(format!("{}{wrong}", &good[..17]));
    bad[1]["amount"] = json!(100);
    bad[2]["org_id"] = json!(uuid::Uuid::nil());
    let p = problem(
        post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": bad})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["rows[0].id_number", "rows[1].amount"], "the form of every row at once");
    bad[1]["amount"] = json!("100.00");
    let p = problem(
        post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": bad})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["rows[0].id_number"], "the form of each row, then the data");
    bad[0]["id_number"] = json!(id_number(9));
    let p = problem(
        post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": bad})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["rows[2].org_id"]);
    // Once added and approved, no more beneficiaries.
    assert_eq!(
        post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": rows(township, 0..2, "100.00")}))
            .await
            .status(),
        201
    );
    assert_eq!(post(&app, Role::Leader, &id, "approve", json!({})).await.status(), 200);
    let r = post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": rows(township, 5..6, "1.00")})).await;
    problem(r, 409, "invalid_transition").await;
    // The fund must have the money when the batch is paid.
    let big = campaign(&app, &fund, "400.00").await;
    assert_eq!(
        post(&app, Role::RightsOfficer, &big, "beneficiaries", json!({"rows": rows(township, 10..14, "100.00")}))
            .await
            .status(),
        201
    );
    assert_eq!(post(&app, Role::Leader, &big, "approve", json!({})).await.status(), 200);
    let tag = etag_of(&app, &format!("/api/v1/funds/{fund}")).await;
    let r = app
        .patch_with(
            Role::FinanceOfficer,
            &format!("/api/v1/funds/{fund}"),
            json!({"budget": "500.00"}),
            &[("If-Match", &tag)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(post(&app, Role::FinanceOfficer, &id, "disbursement", json!({})).await.status(), 200);
    assert_eq!(fund_of(&app, &fund).await["available"], "300.00");
    problem(post(&app, Role::FinanceOfficer, &big, "disbursement", json!({})).await, 409, "over_allocation").await;
    assert_eq!(fund_of(&app, &fund).await["available"], "300.00", "nothing of the refused batch was written");
    app.finish().await;
}

#[tokio::test]
async fn who_may_not_approve_a_campaign_learns_nothing_of_it() {
    let app = spawn_app().await;
    let fund = app.fund("1000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let id = campaign(&app, &fund, "600.00").await;
    let r =
        post(&app, Role::RightsOfficer, &id, "beneficiaries", json!({"rows": rows(township, 0..2, "100.00")})).await;
    assert_eq!(r.status(), 201);
    let path = format!("{CAMPAIGNS}/{id}/approve");
    let nowhere = format!("{CAMPAIGNS}/{}/approve", uuid::Uuid::now_v7());
    // Issue 15: a caller who may not approve was told 428 / 412 (and so the campaign's version)
    // before it was told 403. Every role but the leader's is refused first, whatever it sends —
    // no If-Match, a stale one, a body that is not even valid, or a campaign that does not exist.
    for role in Role::ALL.into_iter().filter(|r| *r != Role::Leader) {
        problem(app.post_with(role, &path, json!({}), &[]).await, 403, "forbidden").await;
        problem(app.post_with(role, &path, json!({}), &[("If-Match", "\"7\"")]).await, 403, "forbidden").await;
        problem(app.post_with(role, &path, json!({"x": 1}), &[]).await, 403, "forbidden").await;
        problem(app.post_with(role, &nowhere, json!({}), &[]).await, 403, "forbidden").await;
    }
    // The leader is told what a leader needs to know.
    problem(app.post_with(Role::Leader, &path, json!({}), &[]).await, 428, "precondition_required").await;
    problem(app.post_with(Role::Leader, &path, json!({}), &[("If-Match", "\"7\"")]).await, 412, "precondition_failed")
        .await;
    problem(app.post_with(Role::Leader, &nowhere, json!({}), &[]).await, 404, "not_found").await;
    let c = body(app.get_as(Role::Auditor, &format!("{CAMPAIGNS}/{id}")).await).await;
    assert_eq!(c["status"], "draft");
    assert_eq!(post(&app, Role::Leader, &id, "approve", json!({})).await.status(), 200);
    app.finish().await;
}
