//! Township union work grants: the formula, the approval machine shared with hardship, tranches,
//! use reports with vouchers, settlement with a return or a carry-over.

use reqwest::Method;
use serde_json::{Value, json};
use unionfund::domain::policy::Role;

use crate::helpers::*;

const GRANTS: &str = "/api/v1/township-grants";
const TOWNSHIPS: [&str; 10] = ["township", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10"];
const MEMBERS: [u32; 10] = [120, 80, 200, 45, 60, 300, 95, 110, 70, 150];

async fn grant_fund(app: &TestApp, year: i32, budget: &str) -> String {
    let body = json!({"name": format!("{year}年乡镇工会组织工作经费"), "kind": "township_grant", "year": year, "budget": budget});
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/funds", body).await;
    assert_eq!(r.status(), 201);
    body_id(r).await
}

async fn body_id(r: reqwest::Response) -> String {
    body(r).await["id"].as_str().unwrap().to_owned()
}

async fn fund_of(app: &TestApp, fund: &str) -> Value {
    body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{fund}")).await).await
}

async fn etag_of(app: &TestApp, path: &str) -> String {
    let r = app.get_as(Role::Auditor, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.headers()["etag"].to_str().unwrap().to_owned()
}

async fn stage(app: &TestApp, role: Role, item: &str, what: &str, b: Value) -> reqwest::Response {
    let tag = etag_of(app, &format!("/api/v1/items/{item}")).await;
    app.post_with(role, &format!("/api/v1/items/{item}/{what}"), b, &[("If-Match", &tag)]).await
}

async fn formula(app: &TestApp, fund: &str, total: &str) -> reqwest::Response {
    let mut townships = Vec::new();
    for (label, members) in TOWNSHIPS.iter().zip(MEMBERS) {
        townships.push(json!({"org_id": app.org(label).await, "members": members}));
    }
    let b = json!({"fund_id": fund, "total": total, "base_per_township": "10000.00", "townships": townships});
    app.post_with(Role::FinanceOfficer, &format!("{GRANTS}/formula"), b, &[("Idempotency-Key", total)]).await
}

#[tokio::test]
async fn a_years_formula_then_tranches_use_and_settlement_with_a_return_and_a_carry_over() {
    let app = spawn_app().await;
    let fund = grant_fund(&app, 2022, "280000.00").await;
    let next = grant_fund(&app, 2023, "300000.00").await;

    // The formula: 279,999.99 of 280,000.00, exact to the fen, in the order asked.
    let r = formula(&app, &fund, "279999.99").await;
    assert_eq!(r.status(), 201);
    let f = body(r).await;
    let amounts: Vec<&str> = f["grants"].as_array().unwrap().iter().map(|g| g["amount"].as_str().unwrap()).collect();
    assert_eq!(
        amounts,
        [
            "27560.97", "21707.32", "39268.29", "16585.36", "18780.49", "53902.44", "23902.44", "26097.56", "20243.90",
            "31951.22"
        ]
    );
    assert_eq!(f["total"], "279999.99");
    assert_eq!(f["grants"][0]["org_id"], app.org("township").await.to_string());
    // The same request again (same key) acts once.
    let again = body(formula(&app, &fund, "279999.99").await).await;
    assert_eq!(again["formula_id"], f["formula_id"]);
    assert_eq!(app.count("SELECT count(*) AS n FROM township_grants"), 10);
    let fig = fund_of(&app, &fund).await;
    assert_eq!((fig["allocated"].as_str(), fig["available"].as_str()), (Some("279999.99"), Some("0.01")));
    // Never above what the fund has.
    let p = problem(formula(&app, &fund, "100000.00").await, 409, "over_allocation").await;
    assert!(p["detail"].as_str().unwrap().contains("0.01"), "{p}");

    // The first township (the clerk's): two tranches, a use report with vouchers, settlement.
    let item = f["grants"][0]["item_id"].as_str().unwrap().to_owned();
    let pay = |a: &str| json!({"amount": a, "payee": "琼湖街道总工会", "method": "bank_transfer"});
    assert_eq!(stage(&app, Role::FinanceOfficer, &item, "disbursements", pay("20000.00")).await.status(), 201);
    assert_eq!(stage(&app, Role::FinanceOfficer, &item, "disbursements", pay("7000.00")).await.status(), 201);
    let report = json!({"amount": "25000.00", "description": "2022 work: training, activities", "voucher_no": "QH-2022-001",
        "lines": [
            {"description": "training of union officers", "amount": "15000.00", "voucher_no": "QH-2022-002"},
            {"description": "workers' sports day", "amount": "10000.00", "voucher_no": "QH-2022-003"}]});
    let r = stage(&app, Role::Clerk, &item, "uses", report).await;
    assert_eq!(r.status(), 201);
    let r = stage(&app, Role::FinanceOfficer, &item, "settlement", json!({})).await;
    assert_eq!(r.status(), 201);
    let s = body(r).await;
    assert_eq!(s["item"]["returned"], "2000.00");
    assert_eq!(s["item"]["released"], "560.97");
    let fig = fund_of(&app, &fund).await;
    assert_eq!(fig["returned"], "2000.00");
    assert_eq!(fig["used"], "25000.00");
    assert_eq!(fig["available"], "2560.98");

    // The second township: carried over to 2023 instead of returned.
    let item2 = f["grants"][1]["item_id"].as_str().unwrap().to_owned();
    assert_eq!(stage(&app, Role::FinanceOfficer, &item2, "disbursements", pay("21707.32")).await.status(), 201);
    let use2 = json!({"amount": "20000.00", "description": "activities", "voucher_no": "T2-001"});
    assert_eq!(stage(&app, Role::FinanceOfficer, &item2, "uses", use2).await.status(), 201);
    let wrong = stage(&app, Role::FinanceOfficer, &item2, "settlement", json!({"carry_over_to": fund})).await;
    assert_eq!(fields(&problem(wrong, 422, "validation_failed").await), ["carry_over_to"]);
    let r = stage(&app, Role::FinanceOfficer, &item2, "settlement", json!({"carry_over_to": next})).await;
    assert_eq!(r.status(), 201);
    let s = body(r).await;
    assert_eq!(s["item"]["carried"], "1707.32");
    assert_eq!(s["movements"][0]["kind"], "carry_over");
    assert_eq!(s["movements"][0]["carried_to"], next.as_str());
    let this_year = fund_of(&app, &fund).await;
    assert_eq!(this_year["carried_over"], "1707.32");
    assert_eq!(this_year["available"], "2560.98", "carried money does not come back to 2022");
    let next_year = fund_of(&app, &next).await;
    assert_eq!(next_year["carried_in"], "1707.32");
    assert_eq!(next_year["available"], "301707.32");
    let t = body(app.get_as(Role::Auditor, &format!("/api/v1/items/{item2}/trace")).await).await;
    assert_eq!(t["reconciles"], true, "{t}");

    // The trail shows each step of the first item, with amounts.
    let ev =
        body(app.get_as(Role::Auditor, &format!("/api/v1/audit/events?entity_type=item&entity_id={item}")).await).await;
    let steps: Vec<(&str, &str)> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["amount"].as_str().unwrap_or("-")))
        .collect();
    assert_eq!(
        steps,
        [
            ("item.created", "27560.97"),
            ("item.allocated", "27560.97"),
            ("item.disbursed", "20000.00"),
            ("item.disbursed", "7000.00"),
            ("item.used", "25000.00"),
            ("item.settled", "2560.97"),
        ]
    );
    // The carry-over is in both funds' trails.
    let carried = app.count(&format!(
        "SELECT count(*) AS n FROM postings p JOIN accounts a ON a.id = p.account_id \
         WHERE a.fund_id = '{next}' AND a.code = 'carried_in'"
    ));
    assert_eq!(carried, 1);
    app.finish().await;
}

#[tokio::test]
async fn use_reports_and_settlement_refuse_what_they_must() {
    let app = spawn_app().await;
    let fund = grant_fund(&app, 2022, "280000.00").await;
    let f = body(formula(&app, &fund, "200000.00").await).await;
    let (a, b) = (
        f["grants"][0]["item_id"].as_str().unwrap().to_owned(),
        f["grants"][1]["item_id"].as_str().unwrap().to_owned(),
    );
    for item in [&a, &b] {
        let pay = json!({"amount": "5000.00", "payee": "x", "method": "cash"});
        assert_eq!(stage(&app, Role::FinanceOfficer, item, "disbursements", pay).await.status(), 201);
    }
    // Lines that do not add up; a voucher twice in one report.
    let bad = json!({"amount": "100.00", "description": "x", "lines": [{"description": "a", "amount": "60.00"}, {"description": "b", "amount": "30.00"}]});
    assert_eq!(
        fields(&problem(stage(&app, Role::FinanceOfficer, &a, "uses", bad).await, 422, "validation_failed").await),
        ["lines"]
    );
    let twice = json!({"amount": "100.00", "description": "x", "lines": [
        {"description": "a", "amount": "50.00", "voucher_no": "V-1"}, {"description": "b", "amount": "50.00", "voucher_no": "V-1"}]});
    let p = problem(stage(&app, Role::FinanceOfficer, &a, "uses", twice).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["lines[1].voucher_no"]);
    // A voucher used by another item of the same fund.
    let first = json!({"amount": "100.00", "description": "x", "voucher_no": "V-9"});
    assert_eq!(stage(&app, Role::FinanceOfficer, &a, "uses", first).await.status(), 201);
    let reuse = json!({"amount": "100.00", "description": "y", "lines": [{"description": "c", "amount": "100.00", "voucher_no": "V-9"}]});
    let p = problem(stage(&app, Role::FinanceOfficer, &b, "uses", reuse).await, 409, "duplicate_voucher").await;
    // It says how many were taken, never which numbers the caller sent.
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.starts_with("1 of the voucher numbers") && !detail.contains("V-9"), "{p}");
    // More than was paid out.
    let over = json!({"amount": "4900.01", "description": "x"});
    problem(stage(&app, Role::FinanceOfficer, &a, "uses", over).await, 409, "over_use").await;
    // After settlement, nothing changes.
    assert_eq!(stage(&app, Role::FinanceOfficer, &a, "settlement", json!({})).await.status(), 201);
    let more = json!({"amount": "1.00", "description": "x"});
    problem(stage(&app, Role::FinanceOfficer, &a, "uses", more).await, 409, "invalid_transition").await;
    problem(stage(&app, Role::FinanceOfficer, &a, "settlement", json!({})).await, 409, "invalid_transition").await;
    // Another township's grant and item are not found by the clerk.
    let theirs = f["grants"][1]["id"].as_str().unwrap();
    problem(app.get_as(Role::Clerk, &format!("{GRANTS}/{theirs}")).await, 404, "not_found").await;
    problem(app.get_as(Role::Clerk, &format!("/api/v1/items/{b}")).await, 404, "not_found").await;
    let mine = body(app.get_as(Role::Clerk, GRANTS).await).await;
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
    let use_b = json!({"amount": "1.00", "description": "x"});
    problem(stage(&app, Role::Clerk, &b, "uses", use_b).await, 404, "not_found").await;
    // The formula refuses a base beyond the total.
    let b2 = json!({"fund_id": fund, "total": "100.00", "base_per_township": "60.00",
                    "townships": [{"org_id": app.org("township").await, "members": 1}, {"org_id": app.org("t2").await, "members": 1}]});
    let p =
        problem(app.post_as(Role::FinanceOfficer, &format!("{GRANTS}/formula"), b2).await, 422, "validation_failed")
            .await;
    assert_eq!(fields(&p), ["base_per_township"]);
    app.finish().await;
}

/// Runs the same story through either kind of case and answers what each step said: hardship
/// applications and township grants go through one implementation of the machine.
async fn machine_story(app: &TestApp, path: &str, file: Value, reviewer: Role) -> Vec<(u16, String)> {
    let clerk = app.token(Role::Clerk).await;
    let r = app.send(Method::POST, path, Some(&clerk), Some(file), &[]).await;
    assert_eq!(r.status(), 201);
    let id = body_id(r).await;
    let mut out = Vec::new();
    let steps: [(Role, &str, Value); 7] = [
        (Role::Leader, "approve", json!({})),
        (Role::Clerk, "submit", json!({})),
        (Role::Clerk, "review", json!({})),
        (reviewer, "return", json!({})),
        (reviewer, "review", json!({})),
        (Role::Leader, "approve", json!({"approved_amount": "900.00"})),
        (Role::Clerk, "withdraw", json!({"reason": "late"})),
    ];
    for (role, action, b) in steps {
        let tag = etag_of(app, &format!("{path}/{id}")).await;
        let r = app.post_with(role, &format!("{path}/{id}/{action}"), b, &[("If-Match", &tag)]).await;
        let status = r.status().as_u16();
        let v = body(r).await;
        let what = if status == 200 {
            v["status"].as_str().unwrap().to_owned()
        } else {
            v["code"].as_str().unwrap().to_owned()
        };
        out.push((status, what));
    }
    let ev = body(app.get_as(Role::Auditor, &format!("/api/v1/audit/events?entity_id={id}")).await).await;
    let actions: Vec<String> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().split_once('.').unwrap().1.to_owned())
        .collect();
    out.push((0, actions.join(",")));
    out
}

#[tokio::test]
async fn grants_and_hardship_applications_run_through_one_machine() {
    let app = spawn_app().await;
    let township = app.org("township").await;
    let gfund = grant_fund(&app, 2022, "280000.00").await;
    let hfund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let grant = json!({"fund_id": gfund, "org_id": township, "purpose": "workers' home", "work_plan": "…", "requested_amount": "1000.00"});
    let hardship = json!({"fund_id": hfund, "org_id": township, "worker_name": "王强", "id_number": "11010519491231002X",
        "category": "other", "level": "relative", "requested_amount": "1000.00", "reason": "x"});
    let g = machine_story(&app, GRANTS, grant, Role::OrgOfficer).await;
    let h = machine_story(&app, "/api/v1/hardship/applications", hardship, Role::RightsOfficer).await;
    assert_eq!(g, h, "the same steps give the same answers and the same trail");
    assert_eq!(
        g[..6],
        [
            (409, "invalid_transition".to_owned()),
            (200, "submitted".to_owned()),
            (403, "forbidden".to_owned()),
            (422, "validation_failed".to_owned()),
            (200, "reviewed".to_owned()),
            (200, "approved".to_owned()),
        ]
    );
    assert_eq!(g[7].1, "created,submitted,reviewed,approved");
    // Each kind keeps its own reviewer: the rights officer does not review grants.
    let again = json!({"fund_id": gfund, "org_id": township, "purpose": "p", "requested_amount": "10.00"});
    let clerk = app.token(Role::Clerk).await;
    let id = body_id(app.send(Method::POST, GRANTS, Some(&clerk), Some(again), &[]).await).await;
    let tag = etag_of(&app, &format!("{GRANTS}/{id}")).await;
    assert_eq!(
        app.post_with(Role::Clerk, &format!("{GRANTS}/{id}/submit"), json!({}), &[("If-Match", &tag)]).await.status(),
        200
    );
    let tag = etag_of(&app, &format!("{GRANTS}/{id}")).await;
    let r =
        app.post_with(Role::RightsOfficer, &format!("{GRANTS}/{id}/review"), json!({}), &[("If-Match", &tag)]).await;
    problem(r, 403, "forbidden").await;
    app.finish().await;
}

/// Posts an action on a grant, as `token`, with the grant's current `ETag`.
async fn grant_act(app: &TestApp, token: &str, id: &str, action: &str, b: Value) -> reqwest::Response {
    let tag = etag_of(app, &format!("{GRANTS}/{id}")).await;
    app.send(Method::POST, &format!("{GRANTS}/{id}/{action}"), Some(token), Some(b), &[("If-Match", &tag)]).await
}

#[tokio::test]
async fn a_grant_is_decided_by_what_is_asked_and_by_people_with_one_duty_each() {
    let app = spawn_app().await;
    let township = app.org("township").await;
    let fund = grant_fund(&app, 2022, "280000.00").await;
    let (clerk, org_a, leader) =
        (app.token(Role::Clerk).await, app.token(Role::OrgOfficer).await, app.token(Role::Leader).await);
    let org_b = app.user_token("org_officer_b", Role::OrgOfficer, app.federation_id).await;
    let file = json!({"fund_id": fund, "org_id": township, "purpose": "workers' home", "requested_amount": "50000.00"});
    let id = body_id(app.send(Method::POST, GRANTS, Some(&clerk), Some(file), &[]).await).await;
    assert_eq!(grant_act(&app, &clerk, &id, "submit", json!({})).await.status(), 200);
    assert_eq!(grant_act(&app, &org_a, &id, "review", json!({})).await.status(), 200);
    // 50,000.00 asked, 3,000.00 granted by the organisation department: a leader's decision.
    let r = grant_act(&app, &org_b, &id, "approve", json!({"approved_amount": "3000.00"})).await;
    problem(r, 403, "forbidden").await;
    // Returned, resubmitted, reviewed again by someone else.
    assert_eq!(grant_act(&app, &leader, &id, "return", json!({"reason": "budget"})).await.status(), 200);
    assert_eq!(grant_act(&app, &clerk, &id, "submit", json!({})).await.status(), 200);
    assert_eq!(grant_act(&app, &org_b, &id, "review", json!({})).await.status(), 200);
    // The leader returned it (no duty of the chain) and may approve it, for all that was asked.
    assert_eq!(grant_act(&app, &leader, &id, "approve", json!({})).await.status(), 200);
    let g = body(app.get_as(Role::Auditor, &format!("{GRANTS}/{id}")).await).await;
    assert_eq!((g["status"].as_str(), g["approved_amount"].as_str()), (Some("approved"), Some("50000.00")));

    // The first reviewer, once the second round is reviewed by another, is refused for who it
    // is — before If-Match, so it does not learn the grant's version either.
    let again = json!({"fund_id": fund, "org_id": township, "purpose": "library", "requested_amount": "800.00"});
    let id = body_id(app.send(Method::POST, GRANTS, Some(&clerk), Some(again), &[]).await).await;
    assert_eq!(grant_act(&app, &clerk, &id, "submit", json!({})).await.status(), 200);
    assert_eq!(grant_act(&app, &org_a, &id, "review", json!({})).await.status(), 200);
    assert_eq!(grant_act(&app, &leader, &id, "return", json!({"reason": "plan"})).await.status(), 200);
    assert_eq!(grant_act(&app, &clerk, &id, "submit", json!({})).await.status(), 200);
    assert_eq!(grant_act(&app, &org_b, &id, "review", json!({})).await.status(), 200);
    let path = format!("{GRANTS}/{id}/approve");
    let r = app.send(Method::POST, &path, Some(&org_a), Some(json!({})), &[]).await;
    problem(r, 403, "separation_of_duties").await;
    // A rights officer, a finance officer: not their case kind, refused before If-Match.
    for role in [Role::RightsOfficer, Role::FinanceOfficer, Role::Clerk] {
        let r = app.post_with(role, &path, json!({}), &[("If-Match", "\"1\"")]).await;
        problem(r, 403, "forbidden").await;
    }
    assert_eq!(grant_act(&app, &leader, &id, "approve", json!({})).await.status(), 200);
    app.finish().await;
}
