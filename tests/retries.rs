//! Retries that cannot post twice (a system client's key, the bureau's own references) and honest
//! corrections of union-fee months (issue 16): a unit with history, to the cent.

use reqwest::Method;
use serde_json::{Value, json};
use unionfund::domain::policy::Role;
use uuid::Uuid;

use crate::helpers::*;

const DECLARE: &str = "/api/v1/union-fees/declarations";
const PAY: &str = "/api/v1/union-fees/payments";
const REMIT: &str = "/api/v1/union-fees/remittances";
const REFUND: &str = "/api/v1/union-fees/remittance-refunds";

/// A system client of `role` (client_credentials) and its token.
async fn client_token(app: &TestApp, name: &str, role: Role) -> String {
    let org = if role == Role::FinanceBureau { app.org("bureau").await } else { app.federation_id };
    let admin = app.admin_token().await;
    let r = app
        .send(
            Method::POST,
            "/api/v1/clients",
            Some(&admin),
            Some(json!({"name": name, "role": role.as_str(), "org_id": org})),
            &[],
        )
        .await;
    assert_eq!(r.status(), 201, "creating client {name}");
    let c = body(r).await;
    let r = app
        .http
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": c["client_id"], "client_secret": c["client_secret"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    body(r).await["access_token"].as_str().unwrap().to_owned()
}

async fn fee_fund(app: &TestApp, year: i32) -> String {
    let body_ = json!({"name": format!("{year}年工会经费"), "kind": "union_fee", "year": year, "budget": "1500000.00"});
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/funds", body_).await;
    assert_eq!(r.status(), 201);
    body(r).await["id"].as_str().unwrap().to_owned()
}

async fn send(app: &TestApp, token: &str, path: &str, body_: Value, key: Option<&str>) -> reqwest::Response {
    let headers: Vec<(&str, &str)> = key.map(|k| ("Idempotency-Key", k)).into_iter().collect();
    app.send(Method::POST, path, Some(token), Some(body_), &headers).await
}

async fn statement(app: &TestApp, unit: Uuid) -> Value {
    body(app.get_as(Role::Auditor, &format!("/api/v1/union-fees/statement?org_id={unit}&year=2022")).await).await
}

fn month<'a>(s: &'a Value, period: &str) -> &'a Value {
    s["periods"].as_array().unwrap().iter().find(|p| p["period"] == period).unwrap()
}

/// The figures of a statement line that this test follows, as strings.
fn figures(line: &Value) -> [&str; 8] {
    ["fee_due", "remit_due", "paid", "remitted", "arrears", "credit", "remit_receivable", "payroll_total"]
        .map(|k| line[k].as_str().unwrap_or_else(|| panic!("{k} in {line}")))
}

async fn check(app: &TestApp, code: &str) -> Value {
    let c = body(app.get_as(Role::Auditor, "/api/v1/reports/checks?year=2022").await).await;
    c["items"].as_array().unwrap().iter().find(|i| i["code"] == code).unwrap().clone()
}

#[tokio::test]
async fn a_unit_with_history_corrected_down_after_remittance_owes_nothing_and_is_owed_back_to_the_cent() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    let bureau = client_token(&app, "Bureau", Role::FinanceBureau).await;
    let finance = app.token(Role::FinanceOfficer).await;
    // The bureau declares three months (2% of payroll; 40% of the fee to the federation).
    let rows = json!({"rows": [
        {"org_id": unit, "period": "2022-01", "payroll_total": "100000.00"},
        {"org_id": unit, "period": "2022-02", "payroll_total": "100000.00"},
        {"org_id": unit, "period": "2022-03", "payroll_total": "50000.00"},
    ]});
    let r = send(&app, &bureau, "/api/v1/union-fees/declarations/batch", rows, Some("decl-2022-q1")).await;
    assert_eq!(r.status(), 201);
    // Payments, each with the bureau's voucher: January in full, February over by 500 (credit,
    // which pays March in part).
    for (period, amount, reference, key) in
        [("2022-01", "2000.00", "沅财缴-001", "pay-001"), ("2022-02", "2500.00", "沅财缴-002", "pay-002")]
    {
        let b = json!({"org_id": unit, "period": period, "amount": amount, "reference": reference});
        assert_eq!(send(&app, &bureau, PAY, b, Some(key)).await.status(), 201);
    }
    // The federation's 40% of January and February is remitted.
    for period in ["2022-01", "2022-02"] {
        let b = json!({"org_id": unit, "period": period, "amount": "800.00"});
        assert_eq!(send(&app, &finance, REMIT, b, None).await.status(), 201);
    }
    let s = statement(&app, unit).await;
    assert_eq!(
        figures(month(&s, "2022-03")),
        ["1000.00", "400.00", "500.00", "0.00", "500.00", "0.00", "0.00", "50000.00"]
    );
    assert_eq!(check(&app, "remittances_within_due").await["passed"], true);

    // The unit's clerk tries to rewrite paid and remitted January: the finance office's business.
    let clerk = app.user_token("unit_clerk", Role::Clerk, unit).await;
    let down = |reason: Option<&str>| {
        let mut b = json!({"org_id": unit, "period": "2022-01", "payroll_total": "30000.00"});
        if let Some(r) = reason {
            b["reason"] = json!(r);
        }
        b
    };
    let before = app.count("SELECT count(*) AS n FROM fee_declarations");
    problem(send(&app, &clerk, DECLARE, down(Some("lower payroll")), None).await, 403, "reserved_to_finance_office")
        .await;
    problem(send(&app, &bureau, DECLARE, down(Some("x")), Some("bureau-fix")).await, 403, "reserved_to_finance_office")
        .await;
    let p = problem(send(&app, &finance, DECLARE, down(None), None).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["reason"]);
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations"), before, "refusals write nothing");
    // The finance officer corrects it, with the reason.
    let r = send(&app, &finance, DECLARE, down(Some("payroll re-audited: 30000.00")), None).await;
    assert_eq!(r.status(), 201);
    let corrected = body(r).await;
    assert_eq!((corrected["version"].as_i64(), corrected["fee_due"].as_str()), (Some(2), Some("600.00")));
    let events = body(
        app.get_as(Role::Auditor, &format!("/api/v1/audit/events?entity_id={}", corrected["id"].as_str().unwrap()))
            .await,
    )
    .await;
    let event = &events["items"][0];
    assert_eq!(event["action"], "fee.declaration_corrected");
    assert_eq!(event["actor_role"], "finance_officer");
    let after: Value = serde_json::from_str(event["after"].as_str().unwrap()).unwrap();
    assert_eq!(after["reason"], "payroll re-audited: 30000.00");
    // Sending it again is a repeat: 200, nothing written.
    let r = send(&app, &finance, DECLARE, down(Some("again")), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["unchanged"], true);
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations"), before + 1);

    // January: due 600, paid 600 (1,400 back to credit), remitted 800 of 240 due: 560 owed back.
    // March is now paid from that credit; 900 of credit is left.
    let s = statement(&app, unit).await;
    assert_eq!(
        figures(month(&s, "2022-01")),
        ["600.00", "240.00", "600.00", "800.00", "0.00", "1400.00", "560.00", "30000.00"]
    );
    assert_eq!(
        figures(month(&s, "2022-02")),
        ["2000.00", "800.00", "2000.00", "800.00", "0.00", "500.00", "0.00", "100000.00"]
    );
    assert_eq!(
        figures(month(&s, "2022-03")),
        ["1000.00", "400.00", "1000.00", "0.00", "0.00", "0.00", "0.00", "50000.00"]
    );
    assert_eq!(
        figures(&s["totals"]),
        ["3600.00", "1440.00", "3600.00", "1600.00", "0.00", "900.00", "560.00", "180000.00"]
    );
    let summary = body(app.get_as(Role::FinanceBureau, "/api/v1/union-fees/summary?year=2022").await).await;
    assert_eq!(
        (summary["totals"]["remit_receivable"].as_str(), summary["totals"]["credit"].as_str()),
        (Some("560.00"), Some("900.00"))
    );
    assert_eq!(summary["items"][0]["remit_receivable"], "560.00");
    assert_eq!(balance(&app, &fund, "fee_credit"), "-900.00");
    assert_eq!(balance(&app, &fund, "fee_receivable"), "0.00");
    assert_eq!(balance(&app, &fund, "fee_cash"), "2900.00");
    // The check sees it.
    let c = check(&app, "remittances_within_due").await;
    assert_eq!(c["passed"], false, "{c}");
    assert_eq!((c["figures"]["failing"].as_i64(), c["figures"]["checked"].as_i64()), (Some(1), Some(2)));
    assert_eq!(c["figures"]["remit_receivable"], "560.00");
    assert_eq!(c["figures"]["sample"][0], format!("{unit} 2022-01").as_str());

    // The refund settles it: the finance office's, at most what is owed back.
    let refund = |amount: &str| json!({"org_id": unit, "period": "2022-01", "amount": amount, "reason": "upper level refund 2022-17"});
    problem(send(&app, &bureau, REFUND, refund("560.00"), Some("refund-1")).await, 403, "reserved_to_finance_office")
        .await;
    problem(send(&app, &finance, REFUND, refund("560.01"), None).await, 409, "over_refund").await;
    let r = send(&app, &finance, REFUND, refund("500.00"), None).await;
    assert_eq!(r.status(), 201);
    assert_eq!(body(r).await["remit_receivable"], "60.00");
    assert_eq!(check(&app, "remittances_within_due").await["passed"], false, "60.00 still owed back");
    let r = send(&app, &finance, REFUND, refund("60.00"), None).await;
    assert_eq!(body(r).await["remit_receivable"], "0.00");
    let c = check(&app, "remittances_within_due").await;
    assert_eq!(c["passed"], true, "{c}");
    assert_eq!(c["figures"]["remit_receivable"], "0.00");
    let s = statement(&app, unit).await;
    assert_eq!(
        (month(&s, "2022-01")["remitted"].as_str(), month(&s, "2022-01")["remit_receivable"].as_str()),
        (Some("240.00"), Some("0.00"))
    );
    assert_eq!(s["totals"]["remit_receivable"], "0.00");
    assert_eq!(balance(&app, &fund, "fee_cash"), "3460.00");
    // Nothing more can be remitted for January than is due, and March's share still can be.
    let more = json!({"org_id": unit, "period": "2022-01", "amount": "0.01"});
    problem(send(&app, &finance, REMIT, more, None).await, 409, "over_remittance").await;
    let march = json!({"org_id": unit, "period": "2022-03", "amount": "400.00"});
    assert_eq!(send(&app, &finance, REMIT, march, None).await.status(), 201);
    let events = body(
        app.get_as(Role::Auditor, &format!("/api/v1/audit/events?org_id={unit}&entity_type=fee_remit_refund")).await,
    )
    .await;
    assert_eq!(events["items"].as_array().unwrap().len(), 2);
    assert_eq!(events["items"][0]["action"], "fee.remittance_refunded");
    app.finish().await;
}

#[tokio::test]
async fn a_system_client_pays_only_with_a_key_and_a_reference_pays_once() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    fee_fund(&app, 2023).await;
    let (unit, unit2) = (app.org("unit").await, app.org("unit2").await);
    let bureau = client_token(&app, "Bureau", Role::FinanceBureau).await;
    let payment = |org: Uuid, period: &str, reference: &str| json!({"org_id": org, "period": period, "amount": "1000.00", "reference": reference});
    // Without a key a system client's retry would post again: refused before anything is read.
    problem(send(&app, &bureau, PAY, payment(unit, "2022-01", "V-1"), None).await, 428, "idempotency_key_required")
        .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries WHERE kind = 'fee_payment'"), 0);
    let first = send(&app, &bureau, PAY, payment(unit, "2022-01", "V-1"), Some("k-1")).await;
    assert_eq!(first.status(), 201);
    let first = body(first).await;
    assert_eq!((first["reference"].as_str(), first["to_credit"].as_str()), (Some("V-1"), Some("1000.00")));
    // The same body with the same key, re-serialised (other key order, white space, an escape):
    // the same request, answered from the store.
    let raw =
        format!(r#" {{ "reference" : "V-\u0031", "amount": "1000.00", "period": "2022-01", "org_id": "{unit}" }} "#);
    let again = app
        .http
        .post(app.url(PAY))
        .bearer_auth(&bureau)
        .header("Idempotency-Key", "k-1")
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).await, first);
    // The same voucher under a new key is the same payment sent twice: 409, nothing moves.
    problem(send(&app, &bureau, PAY, payment(unit, "2022-01", "V-1"), Some("k-2")).await, 409, "duplicate_reference")
        .await;
    problem(send(&app, &bureau, PAY, payment(unit, "2022-06", " V-1 "), Some("k-3")).await, 409, "duplicate_reference")
        .await;
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries WHERE kind = 'fee_payment'"), 1);
    assert_eq!(balance(&app, &fund, "fee_cash"), "1000.00", "the money moved once");
    // Unique per unit and year: another unit, or another year, may use it.
    assert_eq!(send(&app, &bureau, PAY, payment(unit2, "2022-01", "V-1"), Some("k-4")).await.status(), 201);
    assert_eq!(send(&app, &bureau, PAY, payment(unit, "2023-01", "V-1"), Some("k-5")).await.status(), 201);
    // A bad reference is named, never quoted.
    for bad in ["", "   ", "a\u{7}b", &"x".repeat(65)] {
        let p = problem(
            send(&app, &bureau, PAY, payment(unit, "2022-02", bad), Some("k-bad")).await,
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(fields(&p), ["reference"]);
    }
    // A person in a browser may leave the key out.
    let officer = app.token(Role::FinanceOfficer).await;
    assert_eq!(send(&app, &officer, PAY, payment(unit, "2022-02", "V-2"), None).await.status(), 201);
    // The database refuses a second use too, whatever the service checks.
    let mut conn = app.db.conn();
    use diesel::connection::SimpleConnection;
    let dup = conn.batch_execute(&format!(
        "INSERT INTO fee_payments (id, org_id, period, amount, reference, fund_id, entry_id, created_at, created_by) \
         SELECT gen_random_uuid(), org_id, '2022-12-01', amount, reference, fund_id, (SELECT id FROM journal_entries WHERE kind = 'budget' LIMIT 1), now(), 'sql' \
         FROM fee_payments WHERE org_id = '{unit}' AND reference = 'V-1' AND period = '2022-01-01'"
    ));
    assert!(format!("{:?}", dup.unwrap_err()).contains("fee_payments_unit_year_reference_key"));
    app.finish().await;
}

#[tokio::test]
async fn a_source_takes_its_reference_once_per_fund_and_a_client_needs_a_key() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let other = app.fund("100.00").await["id"].as_str().unwrap().to_owned();
    let bureau = client_token(&app, "Bureau", Role::FinanceBureau).await;
    let path = |f: &str| format!("/api/v1/funds/{f}/sources");
    let source = json!({"kind": "finance_appropriation", "amount": "5000.00", "reference": "沅财预〔2022〕17号"});
    problem(send(&app, &bureau, &path(&fund), source.clone(), None).await, 428, "idempotency_key_required").await;
    let first = send(&app, &bureau, &path(&fund), source.clone(), Some("s-1")).await;
    assert_eq!(first.status(), 201);
    let first = body(first).await;
    assert_eq!(first["reference"], "沅财预〔2022〕17号");
    let replay = send(&app, &bureau, &path(&fund), source.clone(), Some("s-1")).await;
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(body(replay).await, first);
    problem(send(&app, &bureau, &path(&fund), source.clone(), Some("s-2")).await, 409, "duplicate_reference").await;
    let f = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{fund}")).await).await;
    assert_eq!(f["funded"], "5000.00", "the money moved once");
    assert_eq!(send(&app, &bureau, &path(&other), source.clone(), Some("s-3")).await.status(), 201, "another fund");
    let p = problem(
        send(&app, &bureau, &path(&fund), json!({"kind": "other", "amount": "1.00"}), Some("s-4")).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["reference"]);
    // An appropriation's source carries the appropriation's reference: one document, counted once.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM fund_sources WHERE fund_id = '{fund}' AND reference = '沅财预〔2022〕17号'"
        )),
        1
    );
    let mut conn = app.db.conn();
    use diesel::connection::SimpleConnection;
    let dup = conn.batch_execute(&format!(
        "INSERT INTO fund_sources (id, fund_id, kind, amount, description, entry_id, reference) \
         SELECT gen_random_uuid(), fund_id, kind, amount, '', entry_id, reference FROM fund_sources WHERE fund_id = '{fund}'"
    ));
    assert!(format!("{:?}", dup.unwrap_err()).contains("fund_sources_fund_reference_key"));
    app.finish().await;
}

/// A path of `MONEY_POSTS` with its parameters filled in.
fn concrete(pattern: &str) -> String {
    pattern.replace("{year}", "2022").replace("{id}", &Uuid::now_v7().to_string())
}

#[tokio::test]
async fn every_money_post_refuses_a_system_client_without_a_key_and_no_person() {
    let app = spawn_app().await;
    let roles =
        [Role::FinanceBureau, Role::FinanceOfficer, Role::Clerk, Role::RightsOfficer, Role::OrgOfficer, Role::Leader];
    let mut clients = Vec::new();
    for role in roles {
        clients.push((role, client_token(&app, &format!("client {}", role.as_str()), role).await));
    }
    let person = app.token(Role::FinanceOfficer).await;
    for pattern in unionfund::http::extract::MONEY_POSTS {
        let path = concrete(pattern);
        let mut refused = 0;
        for (role, token) in &clients {
            let r = send(&app, token, &path, json!({}), None).await;
            match r.status().as_u16() {
                428 => {
                    problem(r, 428, "idempotency_key_required").await;
                    refused += 1;
                }
                403 => {}
                other => panic!("{pattern} as a {} client: {other}", role.as_str()),
            }
        }
        assert!(refused > 0, "{pattern}: some client may post there, and must send a key");
        // A person's request goes on to be read (and refused for its body or path, here).
        let r = send(&app, &person, &path, json!({}), None).await;
        assert_ne!(r.status(), 428, "{pattern}: a person may leave the key out");
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries"), 0);
    app.finish().await;
}

#[tokio::test]
async fn the_write_path_refuses_a_clients_unkeyed_money_off_the_list_too() {
    let app = spawn_app().await;
    let fund = app.fund("100.00").await;
    let id = fund["id"].as_str().unwrap();
    let officer_client = client_token(&app, "Ledger system", Role::FinanceOfficer).await;
    let path = format!("/api/v1/funds/{id}");
    let patch = |key: Option<&'static str>| {
        let (app, token, path) = (&app, officer_client.clone(), path.clone());
        async move {
            let mut headers = vec![("If-Match", "\"1\"")];
            headers.extend(key.map(|k| ("Idempotency-Key", k)));
            app.send(Method::PATCH, &path, Some(&token), Some(json!({"budget": "150.00"})), &headers).await
        }
    };
    // A budget change posts an entry: a PATCH is not on the list, yet the work is refused
    // without a key, and nothing of it stays.
    problem(patch(None).await, 428, "idempotency_key_required").await;
    let f = body(app.get_as(Role::Auditor, &path).await).await;
    assert_eq!((f["budget"].as_str(), f["version"].as_i64()), (Some("100.00"), Some(1)));
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM journal_entries WHERE fund_id = '{id}'")), 1);
    // With a key it goes through.
    let r = patch(Some("budget-150")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["budget"], "150.00");
    app.finish().await;
}

#[test]
fn the_openapi_document_says_which_posts_need_a_key() {
    let doc = unionfund::http::openapi::document();
    for pattern in unionfund::http::extract::MONEY_POSTS {
        let op = doc.paths.paths.get(*pattern).and_then(|p| p.post.as_ref());
        let op = op.unwrap_or_else(|| panic!("{pattern} is a POST of the document"));
        let description = op.description.as_deref().unwrap_or_default();
        assert!(description.contains("428 `idempotency_key_required`"), "{pattern}: {description}");
    }
    // And no other operation claims it.
    let noted = doc
        .paths
        .paths
        .values()
        .flat_map(|p| [&p.get, &p.post, &p.put, &p.patch, &p.delete])
        .flatten()
        .filter(|op| op.description.as_deref().is_some_and(|d| d.contains("idempotency_key_required")))
        .count();
    assert_eq!(noted, unionfund::http::extract::MONEY_POSTS.len());
}

#[tokio::test]
async fn the_demo_books_keep_remittances_within_due() {
    let app = spawn_demo_app().await;
    let c = check(&app, "remittances_within_due").await;
    assert_eq!(c["passed"], true, "{c}");
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_payments WHERE reference LIKE 'DEMO-2022-%'"), 60);
    assert_eq!(app.count("SELECT count(*) AS n FROM fund_sources WHERE reference IS NULL"), 0);
    app.finish().await;
}
