//! Hardship applications through the approval machine, and items through their four stages.

use reqwest::{Method, Response};
use serde_json::{Value, json};
use unionfund::domain::ids::ResidentId;
use unionfund::domain::policy::Role;
use uuid::Uuid;

use crate::helpers::*;

const APPS: &str = "/api/v1/hardship/applications";

/// A valid resident ID number (GB 11643 check character), different for each `n` < 1000.
fn id_number(n: u32) -> String {
    let first17 = format!("43092119900101{n:03}");
    format!("{first17}{}", ResidentId::check_char(&first17).unwrap())
}

/// A hardship fund of 60,000.00 whose required local matching is in place.
async fn matched_fund(app: &TestApp) -> String {
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/funds/{fund}/sources");
    let upper =
        json!({"kind": "upper_allocation", "amount": "40000.00", "matching_ratio": "0.5", "reference": "UPPER-1"});
    assert_eq!(app.post_as(Role::FinanceOfficer, &path, upper).await.status(), 201);
    let local = json!({"kind": "local_matching", "amount": "20000.00", "reference": "LOCAL-1"});
    assert_eq!(app.post_as(Role::FinanceOfficer, &path, local).await.status(), 201);
    fund
}

fn application(fund: &str, org: Uuid, id_number: &str, amount: &str) -> Value {
    json!({
        "fund_id": fund, "org_id": org, "worker_name": "李春梅", "id_number": id_number,
        "phone": "138-0013-8000", "bank_account": "6222 0200 1234 5678",
        "category": "illness", "level": "deep", "household_members": 4,
        "household_monthly_income": "1800.00", "household_notes": "spouse unable to work",
        "requested_amount": amount, "reason": "serious illness, hospital costs",
    })
}

async fn file(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.send(Method::POST, APPS, Some(token), Some(body), &[]).await;
    assert_eq!(r.status(), 201, "filing an application");
    assert_eq!(r.headers()["etag"], "\"1\"");
    r.json().await.unwrap()
}

/// The current `ETag` of a resource.
async fn etag_of(app: &TestApp, path: &str) -> String {
    let r = app.get_as(Role::Auditor, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.headers()["etag"].to_str().unwrap().to_owned()
}

/// Posts an action with the resource's current `ETag`.
async fn act(app: &TestApp, token: &str, id: &str, action: &str, body: Value) -> Response {
    let tag = etag_of(app, &format!("{APPS}/{id}")).await;
    app.send(Method::POST, &format!("{APPS}/{id}/{action}"), Some(token), Some(body), &[("If-Match", &tag)]).await
}

/// Posts an item stage with the item's current `ETag`.
async fn stage(app: &TestApp, token: &str, item: &str, what: &str, body: Value) -> Response {
    let tag = etag_of(app, &format!("/api/v1/items/{item}")).await;
    app.send(Method::POST, &format!("/api/v1/items/{item}/{what}"), Some(token), Some(body), &[("If-Match", &tag)])
        .await
}

async fn events(app: &TestApp, entity_type: &str, id: &str) -> Vec<Value> {
    let path = format!("/api/v1/audit/events?entity_type={entity_type}&entity_id={id}&limit=500");
    body(app.get_as(Role::Auditor, &path).await).await["items"].as_array().unwrap().clone()
}

async fn fund_of(app: &TestApp, fund: &str) -> Value {
    body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{fund}")).await).await
}

/// An application taken to approval by clerk → rights officer → leader; returns it.
async fn approved(app: &TestApp, fund: &str, id_no: &str, amount: &str) -> Value {
    let clerk = app.token(Role::Clerk).await;
    let officer = app.token(Role::RightsOfficer).await;
    let leader = app.token(Role::Leader).await;
    let a = file(app, &clerk, application(fund, app.org("township").await, id_no, amount)).await;
    let id = a["id"].as_str().unwrap();
    assert_eq!(act(app, &clerk, id, "submit", json!({})).await.status(), 200);
    assert_eq!(act(app, &officer, id, "review", json!({})).await.status(), 200);
    let r = act(app, &leader, id, "approve", json!({})).await;
    assert_eq!(r.status(), 200);
    body(r).await
}

#[tokio::test]
async fn an_application_goes_from_draft_to_settled_through_four_people() {
    capture_logs();
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let (clerk, officer, leader, finance) = (
        app.token(Role::Clerk).await,
        app.token(Role::RightsOfficer).await,
        app.token(Role::Leader).await,
        app.token(Role::FinanceOfficer).await,
    );
    let id_no = id_number(1);
    let township = app.org("township").await;

    // Draft, filed by the clerk of the worker's union: personal data answered masked.
    let a = file(&app, &clerk, application(&fund, township, &id_no, "2000.00")).await;
    let id = a["id"].as_str().unwrap().to_owned();
    assert_eq!(a["status"], "draft");
    assert_eq!(a["id_number"], format!("4309**********{}", &id_no[14..]));
    assert_eq!(a["phone"], "138****8000");
    assert_eq!(a["bank_account"], "************5678");
    assert_eq!(a["requested_amount"], "2000.00");
    assert_eq!(a["year"], 2022);
    assert!(a["item_id"].is_null());

    // submit → review → approve (for less than asked), each by another person.
    let r = act(&app, &clerk, &id, "submit", json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let a = body(r).await;
    assert_eq!(a["status"], "submitted");
    let a = body(act(&app, &officer, &id, "review", json!({"reason": "household visited"})).await).await;
    assert_eq!(a["status"], "reviewed");
    let r =
        act(&app, &leader, &id, "approve", json!({"approved_amount": "1800.00", "reason": "per the standard"})).await;
    assert_eq!(r.status(), 200);
    let a = body(r).await;
    assert_eq!(a["status"], "approved");
    assert_eq!(a["approved_amount"], "1800.00");
    assert_eq!(a["item_stage"], "approved");
    let item = a["item_id"].as_str().unwrap().to_owned();
    let (submitter, reviewer, approver) =
        (a["submitted_by"].as_str().unwrap(), a["reviewed_by"].as_str().unwrap(), a["approved_by"].as_str().unwrap());
    assert!(submitter != reviewer && reviewer != approver && submitter != approver);

    let it = body(app.get_as(Role::FinanceOfficer, &format!("/api/v1/items/{item}")).await).await;
    assert_eq!(it["origin_type"], "hardship_application");
    assert_eq!(it["origin_id"], id.as_str());
    assert_eq!(it["approved_amount"], "1800.00");
    assert_eq!(it["stage"], "approved");

    // Stage 1: allocation.
    let r = stage(&app, &finance, &item, "allocations", json!({"amount": "1800.00"})).await;
    assert_eq!(r.status(), 201);
    let m = body(r).await;
    assert_eq!(m["item"]["stage"], "allocated");
    assert_eq!(m["item"]["allocated"], "1800.00");
    assert_eq!(m["movements"][0]["kind"], "allocation");
    let f = fund_of(&app, &fund).await;
    assert_eq!((f["allocated"].as_str(), f["available"].as_str()), (Some("1800.00"), Some("58200.00")));

    // Stage 2: two tranches.
    for amount in ["1000.00", "800.00"] {
        let body_ = json!({"amount": amount, "payee": "李春梅", "method": "bank_transfer"});
        assert_eq!(stage(&app, &finance, &item, "disbursements", body_).await.status(), 201);
    }
    let f = fund_of(&app, &fund).await;
    assert_eq!((f["disbursed"].as_str(), f["allocated"].as_str()), (Some("1800.00"), Some("1800.00")));

    // Stage 3: the clerk reports the use, with receipts that add up.
    let use_ = json!({"amount": "1500.00", "description": "hospital bills", "lines": [
        {"description": "inpatient", "amount": "1000.00", "voucher_no": "R-001"},
        {"description": "medicine", "amount": "500.00", "voucher_no": "R-002"},
    ]});
    let r = stage(&app, &clerk, &item, "uses", use_).await;
    assert_eq!(r.status(), 201);
    let m = body(r).await;
    assert_eq!(m["item"]["used"], "1500.00");
    assert_eq!(m["item"]["unused"], "300.00");
    assert_eq!(m["movements"][0]["lines"][1]["amount"], "500.00");

    // Stage 4: settlement returns the 300.00 not used.
    let r = stage(&app, &finance, &item, "settlement", json!({})).await;
    assert_eq!(r.status(), 201);
    let m = body(r).await;
    assert_eq!(m["item"]["stage"], "settled");
    assert_eq!(m["item"]["returned"], "300.00");
    assert_eq!(m["item"]["released"], "0.00");
    assert_eq!(m["movements"].as_array().unwrap().len(), 1);
    let f = fund_of(&app, &fund).await;
    assert_eq!(f["budget"], "60000.00");
    assert_eq!(f["allocated"], "1800.00");
    assert_eq!(f["disbursed"], "1800.00");
    assert_eq!(f["used"], "1500.00");
    assert_eq!(f["returned"], "300.00");
    assert_eq!(f["available"], "58500.00");

    // The trace: four stages, their totals, and every check passing.
    let t = body(app.get_as(Role::Auditor, &format!("/api/v1/items/{item}/trace")).await).await;
    let totals: Vec<&str> = t["stages"].as_array().unwrap().iter().map(|s| s["total"].as_str().unwrap()).collect();
    assert_eq!(totals, ["1800.00", "1800.00", "1500.00", "300.00"]);
    assert_eq!(t["stages"][1]["movements"].as_array().unwrap().len(), 2);
    assert_eq!(t["reconciles"], true);
    assert!(t["checks"].as_array().unwrap().iter().all(|c| c["passed"] == true), "{t}");

    let a = body(app.get_as(Role::Clerk, &format!("{APPS}/{id}")).await).await;
    assert_eq!(a["item_stage"], "settled");

    // The trail: who did each step, with the reason, and each stage's amount.
    let ev = events(&app, "hardship_application", &id).await;
    let actions: Vec<&str> = ev.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        [
            "hardship_application.created",
            "hardship_application.submitted",
            "hardship_application.reviewed",
            "hardship_application.approved"
        ]
    );
    assert_eq!(ev[1]["actor"], format!("user:{submitter}"));
    assert_eq!(ev[1]["actor_role"], "clerk");
    assert_eq!(ev[2]["actor"], format!("user:{reviewer}"));
    assert_eq!(ev[2]["actor_role"], "rights_officer");
    assert_eq!(ev[3]["actor"], format!("user:{approver}"));
    assert_eq!(ev[3]["actor_role"], "leader");
    assert_eq!(ev[3]["amount"], "1800.00");
    let after: Value = serde_json::from_str(ev[3]["after"].as_str().unwrap()).unwrap();
    assert_eq!(after["reason"], "per the standard");
    assert_eq!(after["status"], "approved");
    let ev = events(&app, "item", &item).await;
    let stages: Vec<(&str, Option<&str>, Option<&str>)> =
        ev.iter().map(|e| (e["action"].as_str().unwrap(), e["stage"].as_str(), e["amount"].as_str())).collect();
    assert_eq!(
        stages,
        [
            ("item.created", None, Some("1800.00")),
            ("item.allocated", Some("allocation"), Some("1800.00")),
            ("item.disbursed", Some("disbursement"), Some("1000.00")),
            ("item.disbursed", Some("disbursement"), Some("800.00")),
            ("item.used", Some("use"), Some("1500.00")),
            ("item.settled", Some("settlement"), Some("300.00")),
        ]
    );
    assert!(ev[1..].iter().all(|e| e["entry_id"].is_string()), "each stage names its journal entry");
    assert_eq!(ev[4]["actor_role"], "clerk");

    // The ID number, phone and account are in no column of the database and no log line.
    let dump = dump(&app.db);
    for secret in [id_no.as_str(), "13800138000", "6222020012345678"] {
        assert!(!dump.contains(secret), "the database dump holds {secret}");
    }
    assert!(dump.contains(&format!("4309**********{}", &id_no[14..])), "the masked form is stored");
    let logs = logs();
    assert!(logs.contains(&id), "the capture works: the application's id is logged");
    assert!(!logs.contains(&id_no), "a log line holds the ID number");
    app.finish().await;
}

#[tokio::test]
async fn bad_applications_are_refused_field_by_field() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let clerk = app.token(Role::Clerk).await;
    let township = app.org("township").await;
    let good = id_number(2);
    let mut bad_check = good.clone();
    let last = if good.ends_with('0') { "1" } else { "0" };
    bad_check.replace_range(17.., last);
    let mut b = application(&fund, township, &bad_check, "0.00");
    b["phone"] = json!("12");
    b["bank_account"] = json!("62-22");
    let r = app.send(Method::POST, APPS, Some(&clerk), Some(b), &[]).await;
    let p = problem(r, 422, "validation_failed").await;
    let mut f = fields(&p);
    f.sort();
    assert_eq!(f, ["bank_account", "id_number", "phone", "requested_amount"]);
    assert!(!p.to_string().contains(&bad_check), "the answer does not repeat the number");
    assert!(p.to_string().contains("check character"), "{p}");

    // A fund of another kind, a clerk filing for another organisation.
    let fee_fund = json!({"name": "fees", "kind": "union_fee", "year": 2022, "budget": "1.00"});
    let fee_fund = body(app.post_as(Role::FinanceOfficer, "/api/v1/funds", fee_fund).await).await;
    let r = app
        .send(
            Method::POST,
            APPS,
            Some(&clerk),
            Some(application(fee_fund["id"].as_str().unwrap(), township, &good, "1.00")),
            &[],
        )
        .await;
    assert_eq!(fields(&problem(r, 422, "validation_failed").await), ["fund_id"]);
    let other = app.org("other").await;
    let r = app.send(Method::POST, APPS, Some(&clerk), Some(application(&fund, other, &good, "1.00")), &[]).await;
    problem(r, 404, "not_found").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM hardship_applications"), 0);
    app.finish().await;
}

#[tokio::test]
async fn a_clerk_sees_only_its_own_organisations_applications() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let officer = app.token(Role::RightsOfficer).await;
    let clerk = app.token(Role::Clerk).await;
    let theirs = file(&app, &officer, application(&fund, app.org("other").await, &id_number(3), "500.00")).await;
    let mine = file(&app, &clerk, application(&fund, app.org("township").await, &id_number(4), "500.00")).await;
    let theirs_id = theirs["id"].as_str().unwrap();
    problem(app.get_as(Role::Clerk, &format!("{APPS}/{theirs_id}")).await, 404, "not_found").await;
    let tag = etag_of(&app, &format!("{APPS}/{theirs_id}")).await;
    let r = app
        .send(Method::POST, &format!("{APPS}/{theirs_id}/submit"), Some(&clerk), Some(json!({})), &[("If-Match", &tag)])
        .await;
    problem(r, 404, "not_found").await;
    let list = body(app.get_as(Role::Clerk, APPS).await).await;
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [mine["id"].as_str().unwrap()]);
    let all = body(app.get_as(Role::Auditor, &format!("{APPS}?limit=1")).await).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    let next = all["next_cursor"].as_str().unwrap();
    let rest = body(app.get_as(Role::Auditor, &format!("{APPS}?limit=1&cursor={next}")).await).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    // Every answer masks: no whole ID number in either list.
    for l in [list, all, rest] {
        assert!(!l.to_string().contains(&id_number(3)) && !l.to_string().contains(&id_number(4)));
    }
    // A role that does not handle hardship cases reads none.
    problem(app.get_as(Role::FinanceBureau, APPS).await, 403, "forbidden").await;
    app.finish().await;
}

#[tokio::test]
async fn the_approval_machine_refuses_what_it_must() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let officer = app.token(Role::RightsOfficer).await;
    let officer2 = app.user_token("officer2", Role::RightsOfficer, app.federation_id).await;
    let leader = app.token(Role::Leader).await;
    let clerk = app.token(Role::Clerk).await;
    let a = file(&app, &officer, application(&fund, app.org("township").await, &id_number(5), "1000.00")).await;
    let id = a["id"].as_str().unwrap();
    let path = format!("{APPS}/{id}/submit");

    // If-Match: missing is 428, stale is 412.
    problem(app.send(Method::POST, &path, Some(&officer), Some(json!({})), &[]).await, 428, "precondition_required")
        .await;
    let stale = [("If-Match", "\"9\"")];
    problem(app.send(Method::POST, &path, Some(&officer), Some(json!({})), &stale).await, 412, "precondition_failed")
        .await;

    // Approving a draft is not a transition.
    problem(act(&app, &leader, id, "approve", json!({})).await, 409, "invalid_transition").await;
    // The officer files for a walk-in worker and submits; it may not review its own submission.
    assert_eq!(act(&app, &officer, id, "submit", json!({})).await.status(), 200);
    problem(act(&app, &officer, id, "review", json!({})).await, 403, "separation_of_duties").await;
    // A clerk does not review.
    problem(act(&app, &clerk, id, "review", json!({})).await, 403, "forbidden").await;
    // Rejecting or returning needs a reason.
    let p = problem(act(&app, &officer2, id, "return", json!({"reason": "  "})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["reason"]);
    assert_eq!(act(&app, &officer2, id, "review", json!({})).await.status(), 200);
    // Neither the submitter nor the reviewer approves.
    problem(act(&app, &officer, id, "approve", json!({})).await, 403, "separation_of_duties").await;
    problem(act(&app, &officer2, id, "approve", json!({})).await, 403, "separation_of_duties").await;
    // More than asked is never approved.
    let p = problem(
        act(&app, &leader, id, "approve", json!({"approved_amount": "1000.01"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["approved_amount"]);
    // Return for revision: back to draft, with the reason in the trail; resubmitted; reviewed.
    let a = body(act(&app, &leader, id, "return", json!({"reason": "attach the hospital bill"})).await).await;
    assert_eq!(a["status"], "draft");
    assert!(a["reviewed_by"].is_null());
    assert_eq!(act(&app, &officer, id, "submit", json!({})).await.status(), 200);
    assert_eq!(act(&app, &officer2, id, "review", json!({})).await.status(), 200);
    let a = body(act(&app, &leader, id, "approve", json!({})).await).await;
    assert_eq!(a["status"], "approved");
    assert_eq!(a["approved_amount"], "1000.00");
    // Approved is final for the machine: no reject, no withdraw.
    problem(act(&app, &leader, id, "reject", json!({"reason": "late"})).await, 409, "invalid_transition").await;
    problem(act(&app, &officer, id, "withdraw", json!({"reason": "x"})).await, 409, "invalid_transition").await;
    let draft = file(&app, &clerk, application(&fund, app.org("township").await, &id_number(13), "10.00")).await;
    let p = problem(
        act(&app, &clerk, draft["id"].as_str().unwrap(), "withdraw", json!({})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["reason"], "withdrawing needs a reason too");
    let ev = events(&app, "hardship_application", id).await;
    let returned = ev.iter().find(|e| e["action"] == "hardship_application.returned").unwrap();
    let after: Value = serde_json::from_str(returned["after"].as_str().unwrap()).unwrap();
    assert_eq!(after["reason"], "attach the hospital bill");
    assert_eq!(returned["actor_role"], "leader");

    // Above the threshold (3000.00) only a leader approves.
    let big = file(&app, &clerk, application(&fund, app.org("township").await, &id_number(6), "3000.01")).await;
    let big = big["id"].as_str().unwrap();
    assert_eq!(act(&app, &clerk, big, "submit", json!({})).await.status(), 200);
    assert_eq!(act(&app, &officer, big, "review", json!({})).await.status(), 200);
    problem(act(&app, &officer2, big, "approve", json!({})).await, 403, "forbidden").await;
    // … even for less: what is asked decides whose decision it is (issue 15).
    problem(act(&app, &officer2, big, "approve", json!({"approved_amount": "3000.00"})).await, 403, "forbidden").await;
    let a = body(act(&app, &leader, big, "approve", json!({"approved_amount": "3000.00"})).await).await;
    assert_eq!(a["status"], "approved");
    app.finish().await;
}

#[tokio::test]
async fn a_large_request_granted_in_part_is_still_approved_by_a_leader_only() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let (clerk, officer, leader) =
        (app.token(Role::Clerk).await, app.token(Role::RightsOfficer).await, app.token(Role::Leader).await);
    let officer2 = app.user_token("officer2", Role::RightsOfficer, app.federation_id).await;
    let a = file(&app, &clerk, application(&fund, app.org("township").await, &id_number(20), "50000.00")).await;
    let id = a["id"].as_str().unwrap();
    assert_eq!(act(&app, &clerk, id, "submit", json!({})).await.status(), 200);
    assert_eq!(act(&app, &officer, id, "review", json!({})).await.status(), 200);
    // The rights officer grants 3,000.00 of 50,000.00 asked: within the threshold granted, far
    // above it asked. Refused, and nothing was written.
    let p = problem(act(&app, &officer2, id, "approve", json!({"approved_amount": "3000.00"})).await, 403, "forbidden")
        .await;
    // It names the threshold, never the amount the caller sent.
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("above 3000.00") && !detail.contains("50000.00"), "{p}");
    let a = body(app.get_as(Role::Auditor, &format!("{APPS}/{id}")).await).await;
    assert_eq!((a["status"].as_str(), a["version"].as_i64()), (Some("reviewed"), Some(3)));
    assert_eq!(app.count("SELECT count(*) AS n FROM items"), 0);
    // The leader's decision, for what the leader grants.
    let a = body(act(&app, &leader, id, "approve", json!({"approved_amount": "3000.00"})).await).await;
    assert_eq!(a["status"], "approved");
    assert_eq!(a["approved_amount"], "3000.00");
    let ev = events(&app, "hardship_application", id).await;
    let approved = ev.iter().find(|e| e["action"] == "hardship_application.approved").unwrap();
    assert_eq!((approved["actor_role"].as_str(), approved["amount"].as_str()), (Some("leader"), Some("3000.00")));
    app.finish().await;
}

#[tokio::test]
async fn no_one_takes_two_duties_in_one_case_even_across_a_return() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let (clerk, a_officer, leader) =
        (app.token(Role::Clerk).await, app.token(Role::RightsOfficer).await, app.token(Role::Leader).await);
    let b_officer = app.user_token("officer_b", Role::RightsOfficer, app.federation_id).await;
    let township = app.org("township").await;

    // Submitted by the clerk, reviewed by officer A, returned; resubmitted, reviewed by officer B.
    let first = file(&app, &clerk, application(&fund, township, &id_number(30), "1000.00")).await;
    let id = first["id"].as_str().unwrap();
    assert_eq!(act(&app, &clerk, id, "submit", json!({})).await.status(), 200);
    let reviewed = body(act(&app, &a_officer, id, "review", json!({})).await).await;
    let a_id = reviewed["reviewed_by"].as_str().unwrap().to_owned();
    assert_eq!(act(&app, &leader, id, "return", json!({"reason": "income proof missing"})).await.status(), 200);
    assert_eq!(act(&app, &clerk, id, "submit", json!({})).await.status(), 200, "the same duty again is no second one");
    let r = body(act(&app, &b_officer, id, "review", json!({})).await).await;
    assert_ne!(r["reviewed_by"].as_str(), Some(a_id.as_str()), "the row only remembers the last reviewer");
    // Officer A reviewed it before the return: A may not approve it now.
    let p = problem(act(&app, &a_officer, id, "approve", json!({})).await, 403, "separation_of_duties").await;
    assert!(p["detail"].as_str().unwrap().contains("reviewed"), "{p}");
    let now = body(app.get_as(Role::Auditor, &format!("{APPS}/{id}")).await).await;
    assert_eq!(now["status"], "reviewed");
    assert!(now["approved_by"].is_null());
    assert_eq!(act(&app, &leader, id, "approve", json!({})).await.status(), 200);

    // Nor may a former reviewer submit the case it sent back.
    let second = file(&app, &a_officer, application(&fund, township, &id_number(31), "500.00")).await;
    let id2 = second["id"].as_str().unwrap();
    assert_eq!(act(&app, &clerk, id2, "submit", json!({})).await.status(), 200);
    assert_eq!(act(&app, &a_officer, id2, "review", json!({})).await.status(), 200);
    assert_eq!(act(&app, &b_officer, id2, "return", json!({"reason": "wrong category"})).await.status(), 200);
    problem(act(&app, &a_officer, id2, "submit", json!({})).await, 403, "separation_of_duties").await;

    // The database refuses it too, whatever writes the row; and the history is append-only.
    let mut conn = app.db.conn();
    use diesel::connection::SimpleConnection;
    let sql = format!("INSERT INTO case_actors VALUES ('{id}', 'hardship_application', '{a_id}', 'approve', now())");
    let e = conn.batch_execute(&sql).unwrap_err().to_string();
    assert!(e.contains("separation of duties"), "{e}");
    let e = conn.batch_execute(&format!("DELETE FROM case_actors WHERE case_id = '{id}'")).unwrap_err().to_string();
    assert!(e.contains("append-only"), "{e}");
    assert_eq!(
        app.count(&format!("SELECT count(*) AS n FROM case_actors WHERE case_id = '{id}'")),
        4,
        "clerk submit, A review, B review, leader approve"
    );
    app.finish().await;
}

#[tokio::test]
async fn who_may_not_act_on_an_application_is_refused_before_if_match_and_the_state() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let (clerk, officer) = (app.token(Role::Clerk).await, app.token(Role::RightsOfficer).await);
    let org_officer = app.token(Role::OrgOfficer).await;
    let officer2 = app.user_token("officer2", Role::RightsOfficer, app.federation_id).await;
    let township = app.org("township").await;
    let big = file(&app, &clerk, application(&fund, township, &id_number(40), "5000.00")).await;
    let id = big["id"].as_str().unwrap();
    let post = |token: &str, action: &str, body: Value, headers: &'static [(&'static str, &'static str)]| {
        let path = format!("{APPS}/{id}/{action}");
        let token = token.to_owned();
        let app = &app;
        async move { app.send(Method::POST, &path, Some(&token), Some(body), headers).await }
    };
    const NONE: &[(&str, &str)] = &[];
    const STALE: &[(&str, &str)] = &[("If-Match", "\"42\"")];
    // Roles without the action: 403, not 428 (no If-Match), 412 (stale), 409 (a draft) or 422.
    problem(post(&clerk, "review", json!({}), NONE).await, 403, "forbidden").await;
    problem(post(&org_officer, "approve", json!({}), STALE).await, 403, "forbidden").await;
    problem(post(&clerk, "approve", json!({"approved_amount": "1.234"}), NONE).await, 403, "forbidden").await;
    assert_eq!(act(&app, &officer, id, "submit", json!({})).await.status(), 200);
    // The submitter reviewing, an officer approving above the threshold: refused for who they
    // are, before the precondition.
    problem(post(&officer, "review", json!({}), NONE).await, 403, "separation_of_duties").await;
    problem(post(&officer, "review", json!({}), STALE).await, 403, "separation_of_duties").await;
    assert_eq!(act(&app, &officer2, id, "review", json!({})).await.status(), 200);
    let b_officer = app.user_token("officer_b", Role::RightsOfficer, app.federation_id).await;
    problem(post(&b_officer, "approve", json!({}), NONE).await, 403, "forbidden").await;
    // Someone who may act still gets the precondition's answers.
    let leader = app.token(Role::Leader).await;
    problem(post(&leader, "approve", json!({}), NONE).await, 428, "precondition_required").await;
    problem(post(&leader, "approve", json!({}), STALE).await, 412, "precondition_failed").await;
    // Another organisation's clerk still learns nothing: 404.
    let unit_clerk = app.user_token("unit_clerk", Role::Clerk, app.org("unit").await).await;
    problem(post(&unit_clerk, "withdraw", json!({}), NONE).await, 404, "not_found").await;
    app.finish().await;
}

#[tokio::test]
async fn a_second_application_for_the_same_worker_is_a_duplicate_unless_a_leader_overrides() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let clerk = app.token(Role::Clerk).await;
    let officer = app.token(Role::RightsOfficer).await;
    let leader = app.token(Role::Leader).await;
    let person = id_number(7);
    let first = file(&app, &clerk, application(&fund, app.org("township").await, &person, "800.00")).await;
    assert_eq!(act(&app, &clerk, first["id"].as_str().unwrap(), "submit", json!({})).await.status(), 200);
    // The same person through another union, with a lower-case x if the number has one.
    let second =
        file(&app, &officer, application(&fund, app.org("other").await, &person.to_lowercase(), "500.00")).await;
    let second = second["id"].as_str().unwrap();
    let p = problem(act(&app, &officer, second, "submit", json!({})).await, 409, "duplicate_beneficiary").await;
    assert!(!p.to_string().contains(first["id"].as_str().unwrap()), "no other organisation's ids");
    // Only a leader overrides, with a reason.
    let path = format!("{APPS}/{second}/override-duplicate");
    let tag = etag_of(&app, &format!("{APPS}/{second}")).await;
    let r = app.send(Method::POST, &path, Some(&officer), Some(json!({"reason": "x"})), &[("If-Match", &tag)]).await;
    problem(r, 403, "forbidden").await;
    let r = app.send(Method::POST, &path, Some(&leader), Some(json!({"reason": ""})), &[("If-Match", &tag)]).await;
    problem(r, 422, "validation_failed").await;
    let why = "house destroyed by the flood; the first grant covered medicine only";
    let r = app.send(Method::POST, &path, Some(&leader), Some(json!({"reason": why})), &[("If-Match", &tag)]).await;
    assert_eq!(r.status(), 200);
    let a = body(r).await;
    assert_eq!(a["duplicate_override"]["reason"], why);
    assert_eq!(act(&app, &officer, second, "submit", json!({})).await.status(), 200);
    let ev = events(&app, "hardship_application", second).await;
    let o = ev.iter().find(|e| e["action"] == "hardship_application.duplicate_overridden").unwrap();
    assert_eq!(o["actor_role"], "leader");
    assert!(o["after"].as_str().unwrap().contains(why));
    // A withdrawn application is no longer active aid: a third one goes through.
    let tag = etag_of(&app, &format!("{APPS}/{second}")).await;
    let r = app
        .send(
            Method::POST,
            &format!("{APPS}/{second}/withdraw"),
            Some(&officer),
            Some(json!({"reason": "filed twice"})),
            &[("If-Match", &tag)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let first_id = first["id"].as_str().unwrap();
    assert_eq!(act(&app, &clerk, first_id, "withdraw", json!({"reason": "moved away"})).await.status(), 200);
    let third = file(&app, &clerk, application(&fund, app.org("township").await, &person, "300.00")).await;
    assert_eq!(act(&app, &clerk, third["id"].as_str().unwrap(), "submit", json!({})).await.status(), 200);
    app.finish().await;
}

#[tokio::test]
async fn personal_data_is_revealed_only_to_those_who_need_it_and_each_reveal_is_audited() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let clerk = app.token(Role::Clerk).await;
    let person = id_number(8);
    let a = file(&app, &clerk, application(&fund, app.org("township").await, &person, "600.00")).await;
    let id = a["id"].as_str().unwrap();
    let path = format!("{APPS}/{id}/reveal");
    let why = json!({"reason": "bank rejected the transfer; checking the account"});
    problem(app.post_as(Role::Clerk, &path, why.clone()).await, 403, "forbidden").await;
    problem(app.post_as(Role::Auditor, &path, why.clone()).await, 403, "forbidden").await;
    problem(app.post_as(Role::FinanceOfficer, &path, json!({})).await, 422, "validation_failed").await;
    let r = app.post_with(Role::FinanceOfficer, &path, why.clone(), &[("Idempotency-Key", "reveal-1")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v = body(r).await;
    assert_eq!(v["id_number"], person);
    assert_eq!(v["phone"], "13800138000");
    assert_eq!(v["bank_account"], "6222020012345678");
    let ev = events(&app, "hardship_application", id).await;
    let revealed: Vec<&Value> = ev.iter().filter(|e| e["action"] == "hardship_application.pii_revealed").collect();
    assert_eq!(revealed.len(), 1);
    assert_eq!(revealed[0]["actor_role"], "finance_officer");
    assert!(revealed[0]["after"].as_str().unwrap().contains("checking the account"));
    // Nothing keeps the whole values: not the trail, not the idempotency store.
    let dump = dump(&app.db);
    assert!(!dump.contains(&person) && !dump.contains("6222020012345678"));
    app.finish().await;
}

#[tokio::test]
async fn an_items_stages_keep_their_order_and_their_sums() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let finance = app.token(Role::FinanceOfficer).await;
    let a = approved(&app, &fund, &id_number(9), "1000.00").await;
    let item = a["item_id"].as_str().unwrap().to_owned();
    let pay = |amount: &str| json!({"amount": amount, "payee": "王强", "method": "cash"});

    // Nothing is paid or used before it is allocated; a clerk moves no money.
    problem(stage(&app, &finance, &item, "disbursements", pay("1.00")).await, 409, "invalid_transition").await;
    let use_ = json!({"amount": "1.00", "description": "rice"});
    let p = problem(stage(&app, &finance, &item, "uses", use_).await, 409, "invalid_transition").await;
    assert!(p["detail"].as_str().unwrap().contains("use comes after disbursement"), "{p}");
    let clerk = app.token(Role::Clerk).await;
    problem(stage(&app, &clerk, &item, "allocations", json!({"amount": "1.00"})).await, 403, "forbidden").await;
    // Not more than approved; not zero; stages need If-Match.
    problem(stage(&app, &finance, &item, "allocations", json!({"amount": "1000.01"})).await, 409, "over_allocation")
        .await;
    problem(stage(&app, &finance, &item, "allocations", json!({"amount": "0.00"})).await, 422, "validation_failed")
        .await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/items/{item}/allocations"),
            Some(&finance),
            Some(json!({"amount": "1.00"})),
            &[],
        )
        .await;
    problem(r, 428, "precondition_required").await;
    assert_eq!(stage(&app, &finance, &item, "allocations", json!({"amount": "1000.00"})).await.status(), 201);

    // Used ≤ disbursed: a use beyond what was paid out is refused.
    assert_eq!(stage(&app, &finance, &item, "disbursements", pay("400.00")).await.status(), 201);
    let over = json!({"amount": "400.01", "description": "rice"});
    problem(stage(&app, &finance, &item, "uses", over).await, 409, "over_use").await;
    // Lines must add up to the amount.
    let lines =
        json!({"amount": "100.00", "description": "rice", "lines": [{"description": "rice", "amount": "99.99"}]});
    let p = problem(stage(&app, &finance, &item, "uses", lines).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["lines"]);

    // Two disbursements at once that together exceed the allocation: exactly one wins.
    let tag = etag_of(&app, &format!("/api/v1/items/{item}")).await;
    let path = format!("/api/v1/items/{item}/disbursements");
    let headers = [("If-Match", tag.as_str())];
    let (r1, r2) = tokio::join!(
        app.send(Method::POST, &path, Some(&finance), Some(pay("500.00")), &headers),
        app.send(Method::POST, &path, Some(&finance), Some(pay("500.00")), &headers),
    );
    let mut statuses = [r1.status().as_u16(), r2.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses[0], 201, "one wins");
    assert!(statuses[1] == 412 || statuses[1] == 409, "the other is refused: {statuses:?}");
    // … and, with a fresh ETag, the allocation's remainder is the limit.
    problem(stage(&app, &finance, &item, "disbursements", pay("100.01")).await, 409, "over_disbursement").await;
    let it = body(app.get_as(Role::Auditor, &format!("/api/v1/items/{item}")).await).await;
    assert_eq!(it["disbursed"], "900.00");
    assert_eq!(it["undisbursed"], "100.00");

    // Settlement: 100.00 undisbursed released, 900.00 paid and not used returned.
    let s = body(stage(&app, &finance, &item, "settlement", json!({})).await).await;
    assert_eq!(s["item"]["released"], "100.00");
    assert_eq!(s["item"]["returned"], "900.00");
    let f = fund_of(&app, &fund).await;
    assert_eq!(f["available"], "60000.00", "everything went back");
    // After settlement nothing changes: not over HTTP, not in the database.
    for (what, b) in [
        ("allocations", json!({"amount": "1.00"})),
        ("disbursements", pay("1.00")),
        ("uses", json!({"amount": "1.00", "description": "x"})),
        ("settlement", json!({})),
    ] {
        problem(stage(&app, &finance, &item, what, b).await, 409, "invalid_transition").await;
    }
    let refused = diesel::RunQueryDsl::execute(
        diesel::sql_query(format!("UPDATE items SET approved_amount = 1 WHERE id = '{item}'")),
        &mut app.db.conn(),
    );
    assert!(refused.is_err(), "the database refuses to change a settled item");
    app.finish().await;
}

#[tokio::test]
async fn no_allocation_while_the_funds_local_matching_is_missing() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/funds/{fund}/sources");
    let upper =
        json!({"kind": "upper_allocation", "amount": "40000.00", "matching_ratio": "0.5", "reference": "UPPER-1"});
    assert_eq!(app.post_as(Role::FinanceOfficer, &path, upper).await.status(), 201);
    let a = approved(&app, &fund, &id_number(10), "500.00").await;
    let item = a["item_id"].as_str().unwrap().to_owned();
    let finance = app.token(Role::FinanceOfficer).await;
    let p = problem(
        stage(&app, &finance, &item, "allocations", json!({"amount": "500.00"})).await,
        409,
        "matching_not_in_place",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("20000.00"), "{p}");
    let local = json!({"kind": "local_matching", "amount": "20000.00", "reference": "LOCAL-1"});
    assert_eq!(app.post_as(Role::FinanceOfficer, &path, local).await.status(), 201);
    assert_eq!(stage(&app, &finance, &item, "allocations", json!({"amount": "500.00"})).await.status(), 201);
    // More than the fund has available is an over-allocation too.
    let small = app.fund("700.00").await["id"].as_str().unwrap().to_owned();
    let one = approved(&app, &small, &id_number(11), "500.00").await["item_id"].as_str().unwrap().to_owned();
    let two = approved(&app, &small, &id_number(12), "500.00").await["item_id"].as_str().unwrap().to_owned();
    assert_eq!(stage(&app, &finance, &one, "allocations", json!({"amount": "500.00"})).await.status(), 201);
    let p =
        problem(stage(&app, &finance, &two, "allocations", json!({"amount": "200.01"})).await, 409, "over_allocation")
            .await;
    assert!(p["detail"].as_str().unwrap().contains("200.00"), "{p}");
    assert_eq!(stage(&app, &finance, &two, "allocations", json!({"amount": "200.00"})).await.status(), 201);
    assert_eq!(fund_of(&app, &small).await["available"], "0.00");
    app.finish().await;
}

#[tokio::test]
async fn rotating_the_personal_data_key_reseals_every_value_and_keeps_it() {
    use base64::Engine as _;
    use std::sync::Arc;
    use unionfund::pii::PiiKeys;
    let b64 = |k: &[u8; 32]| base64::engine::general_purpose::STANDARD.encode(k);
    let (old, new, hash) = (
        b64(b"old-old-old-old-old-old-old-old!"),
        b64(b"new-new-new-new-new-new-new-new!"),
        b64(b"hash-hash-hash-hash-hash-hash-ha"),
    );
    let before = PiiKeys::parse(&format!("old:{old}"), &hash).unwrap();
    let app = spawn_app_with(|c| c.pii = Arc::new(before)).await;
    let fund = matched_fund(&app).await;
    let clerk = app.token(Role::Clerk).await;
    let person = id_number(14);
    file(&app, &clerk, application(&fund, app.org("township").await, &person, "100.00")).await;
    assert_eq!(app.count("SELECT count(*) AS n FROM hardship_applications WHERE id_number_sealed LIKE 'old:%'"), 1);

    let after = PiiKeys::parse(&format!("new:{new},old:{old}"), &hash).unwrap();
    let pool = unionfund::db::pool::connect(&app.db.url, 1).unwrap();
    let report = unionfund::service::personal_data::reseal(&pool, &after).unwrap();
    assert_eq!(report.current_kid, "new");
    let resealed: Vec<(&str, usize)> =
        report.columns.iter().map(|(c, n)| (c.as_str(), *n)).filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        resealed,
        [
            ("hardship_applications.id_number_sealed", 1),
            ("hardship_applications.phone_sealed", 1),
            ("hardship_applications.bank_account_sealed", 1)
        ]
    );
    let stale = "SELECT count(*) AS n FROM hardship_applications \
                 WHERE id_number_sealed LIKE 'old:%' OR phone_sealed LIKE 'old:%' OR bank_account_sealed LIKE 'old:%'";
    assert_eq!(app.count(stale), 0);
    // The new key alone opens every value; the duplicate hash is unchanged.
    let only_new = PiiKeys::parse(&format!("new:{new}"), &hash).unwrap();
    #[derive(diesel::QueryableByName)]
    struct V {
        #[diesel(sql_type = diesel::sql_types::Text)]
        v: String,
    }
    let sealed: V = diesel::RunQueryDsl::get_result(
        diesel::sql_query("SELECT id_number_sealed AS v FROM hardship_applications"),
        &mut app.db.conn(),
    )
    .unwrap();
    assert_eq!(only_new.open("id_number", &sealed.v).unwrap(), person);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'personal_data.resealed'"), 1);
    // A second pass has nothing to do.
    let again = unionfund::service::personal_data::reseal(&pool, &after).unwrap();
    assert!(again.columns.iter().all(|(_, n)| *n == 0));
    app.finish().await;
}

#[tokio::test]
async fn a_draft_is_edited_in_place_a_returned_one_too_and_a_submitted_one_never() {
    let app = spawn_app().await;
    let fund = matched_fund(&app).await;
    let (clerk, officer) = (app.token(Role::Clerk).await, app.token(Role::RightsOfficer).await);
    let township = app.org("township").await;
    let a = file(&app, &clerk, application(&fund, township, &id_number(40), "1000.00")).await;
    let id = a["id"].as_str().unwrap();
    let path = format!("{APPS}/{id}");
    let patch = |token: &str, tag: Option<&str>, b: Value| {
        let tag = tag.map(str::to_owned);
        let (token, path) = (token.to_owned(), path.clone());
        let app = &app;
        async move {
            let headers: Vec<(&str, &str)> = tag.as_deref().map(|t| ("If-Match", t)).into_iter().collect();
            app.send(Method::PATCH, &path, Some(&token), Some(b), &headers).await
        }
    };
    // If-Match is required and must be current.
    problem(patch(&clerk, None, json!({"requested_amount": "1200.00"})).await, 428, "precondition_required").await;
    problem(patch(&clerk, Some("\"7\""), json!({"requested_amount": "1200.00"})).await, 412, "precondition_failed")
        .await;
    // Bad fields are named, and an ID number in error is never echoed.
    let p = problem(
        patch(&clerk, Some("\"1\""), json!({"requested_amount": "0.00", "id_number": "430921199001010401"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["id_number", "requested_amount"]);
    assert!(!p.to_string().contains("430921199001010401"));
    // A good edit: amount, account and ID number, each re-sealed and masked; version and event.
    let new_id = id_number(41);
    let r = patch(
        &clerk,
        Some("\"1\""),
        json!({"requested_amount": "1200.00", "bank_account": "6222 0200 9999 0001", "id_number": new_id}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let v = body(r).await;
    assert_eq!((v["requested_amount"].as_str(), v["status"].as_str()), (Some("1200.00"), Some("draft")));
    assert!(v.to_string().contains("0001") && !v.to_string().contains("6222020099990001"), "{v}");
    assert!(!v.to_string().contains(&new_id));
    let updated: Vec<Value> = events(&app, "hardship_application", id)
        .await
        .into_iter()
        .filter(|e| e["action"] == "hardship_application.updated")
        .collect();
    assert_eq!(updated.len(), 1);
    assert!(!updated[0].to_string().contains(&new_id), "the trail keeps the ID number masked");
    // Another organisation's clerk does not see it.
    let other = app.user_token("clerk_b", Role::Clerk, app.org("unit").await).await;
    problem(patch(&other, Some("\"2\""), json!({"reason": "x"})).await, 404, "not_found").await;

    // Submitted: it is the reviewers' now.
    assert_eq!(act(&app, &clerk, id, "submit", json!({})).await.status(), 200);
    let tag = etag_of(&app, &path).await;
    problem(patch(&clerk, Some(&tag), json!({"requested_amount": "5000.00"})).await, 409, "not_a_draft").await;
    // Reviewed, then returned for revision: edited, not filed again.
    assert_eq!(act(&app, &officer, id, "review", json!({})).await.status(), 200);
    let leader = app.token(Role::Leader).await;
    assert_eq!(act(&app, &leader, id, "return", json!({"reason": "income proof missing"})).await.status(), 200);
    let tag = etag_of(&app, &path).await;
    let r = patch(
        &clerk,
        Some(&tag),
        json!({"household_notes": "income proof attached", "household_monthly_income": "1500.00"}),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["household_monthly_income"], "1500.00");
    assert_eq!(app.count("SELECT count(*) AS n FROM hardship_applications"), 1, "no second filing");
    // The database refuses it too, whatever writes the row: a submitted application's amount, and
    // an approved one's approved amount.
    assert_eq!(act(&app, &clerk, id, "submit", json!({})).await.status(), 200);
    use diesel::connection::SimpleConnection;
    let e = app
        .db
        .conn()
        .batch_execute(&format!("UPDATE hardship_applications SET requested_amount = 9999 WHERE id = '{id}'"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no longer changes"), "{e}");
    assert_eq!(act(&app, &officer, id, "review", json!({})).await.status(), 200);
    assert_eq!(act(&app, &leader, id, "approve", json!({})).await.status(), 200);
    let e = app
        .db
        .conn()
        .batch_execute(&format!("UPDATE hardship_applications SET approved_amount = 1 WHERE id = '{id}'"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("approved amount no longer changes"), "{e}");
    app.finish().await;
}
