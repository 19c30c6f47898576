//! Union fees: rates, declarations and corrections, statements.

use serde_json::{Value, json};
use unionfund::domain::policy::Role;

use crate::helpers::*;

const DECLARE: &str = "/api/v1/union-fees/declarations";

async fn fee_fund(app: &TestApp, year: i32) -> String {
    let body = json!({"name": format!("{year}年行政事业单位工会经费"), "kind": "union_fee", "year": year, "budget": "1500000.00"});
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/funds", body).await;
    assert_eq!(r.status(), 201);
    body_of(r).await["id"].as_str().unwrap().to_owned()
}

async fn body_of(r: reqwest::Response) -> Value {
    body(r).await
}

async fn declare(app: &TestApp, role: Role, unit: uuid::Uuid, period: &str, payroll: &str) -> reqwest::Response {
    app.post_as(role, DECLARE, json!({"org_id": unit, "period": period, "payroll_total": payroll})).await
}

fn balance(app: &TestApp, fund: &str, code: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct B {
        #[diesel(sql_type = diesel::sql_types::Text)]
        b: String,
    }
    use diesel::RunQueryDsl;
    diesel::sql_query(format!(
        "SELECT coalesce((SELECT balance::text FROM accounts WHERE fund_id = '{fund}' AND code = '{code}'), '0.00') AS b"
    ))
    .get_result::<B>(&mut app.db.conn())
    .unwrap()
    .b
}

#[tokio::test]
async fn the_rate_table_ships_with_two_percent_and_forty_percent_for_every_kind() {
    let app = spawn_app().await;
    let rates = body(app.get_as(Role::Auditor, "/api/v1/fee-rates").await).await;
    let items = rates["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for r in items {
        assert_eq!(r["fee_rate"], "0.02");
        assert_eq!(r["remit_rate"], "0.4");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_declaration_splits_the_fee_exactly_and_posts_it() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    let r = declare(&app, Role::FinanceOfficer, unit, "2022-01", "123456.78").await;
    assert_eq!(r.status(), 201);
    let d = body(r).await;
    assert_eq!(
        (d["fee_due"].as_str(), d["remit_due"].as_str(), d["retained"].as_str()),
        (Some("2469.14"), Some("987.66"), Some("1481.48"))
    );
    assert_eq!(d["version"], 1);
    assert_eq!(d["fund_id"], fund.as_str());
    assert_eq!(balance(&app, &fund, "fee_receivable"), "2469.14");
    assert_eq!(balance(&app, &fund, "fee_remit_payable"), "-987.66");
    assert_eq!(balance(&app, &fund, "fee_retained"), "-1481.48");
    // Awkward amounts: half-up to the fen, and the parts always add up.
    for (payroll, fee, remit, retained) in [
        ("0.01", "0.00", "0.00", "0.00"),
        ("0.25", "0.01", "0.00", "0.01"),
        ("0.24", "0.00", "0.00", "0.00"),
        ("99999999999.99", "2000000000.00", "800000000.00", "1200000000.00"),
    ] {
        let d = body(declare(&app, Role::FinanceOfficer, unit, "2022-02", payroll).await).await;
        assert_eq!(
            (d["fee_due"].as_str(), d["remit_due"].as_str(), d["retained"].as_str()),
            (Some(fee), Some(remit), Some(retained)),
            "payroll {payroll}"
        );
    }
    app.finish().await;
}

#[tokio::test]
async fn a_correction_keeps_the_old_declaration_and_posts_the_difference() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    let first = body(declare(&app, Role::FinanceOfficer, unit, "2022-03", "100000.00").await).await;
    let second = body(declare(&app, Role::FinanceOfficer, unit, "2022-03", "90000.00").await).await;
    assert_eq!(second["version"], 2);
    assert_eq!(second["supersedes"], first["id"]);
    assert_eq!(second["fee_due"], "1800.00");
    assert_eq!(balance(&app, &fund, "fee_receivable"), "1800.00", "the ledger holds the corrected figure");
    // Both stay on record for auditors.
    let list = body(app.get_as(Role::Auditor, &format!("{DECLARE}?org_id={unit}")).await).await;
    let fees: Vec<&str> = list["items"].as_array().unwrap().iter().map(|d| d["fee_due"].as_str().unwrap()).collect();
    assert_eq!(fees, ["2000.00", "1800.00"]);
    let events = body(
        app.get_as(Role::Auditor, &format!("/api/v1/audit/events?org_id={unit}&entity_type=fee_declaration")).await,
    )
    .await;
    let actions: Vec<&str> =
        events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["fee.declared", "fee.declaration_corrected"]);
    assert!(events["items"][1]["before"].as_str().unwrap().contains("\"fee_due\":\"2000.00\""));
    // The statement shows the new figures.
    let s =
        body(app.get_as(Role::Auditor, &format!("/api/v1/union-fees/statement?org_id={unit}&year=2022")).await).await;
    assert_eq!(s["periods"].as_array().unwrap().len(), 1);
    assert_eq!(s["periods"][0]["payroll_total"], "90000.00");
    assert_eq!(s["periods"][0]["arrears"], "1800.00");
    assert_eq!(s["totals"]["fee_due"], "1800.00");
    assert_eq!(s["totals"]["remit_due"], "720.00");
    assert_eq!(s["totals"]["retained"], "1080.00");
    app.finish().await;
}

#[tokio::test]
async fn a_rate_change_on_the_first_of_july_applies_to_july_and_not_to_june() {
    let app = spawn_app().await;
    fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    let body_rate = json!({"unit_kind": "administrative", "fee_rate": "0.025", "remit_rate": "0.40", "effective_from": "2022-07-01"});
    assert_eq!(app.post_as(Role::Admin, "/api/v1/fee-rates", body_rate.clone()).await.status(), 201);
    problem(app.post_as(Role::Admin, "/api/v1/fee-rates", body_rate).await, 409, "duplicate_fee_rate").await;
    let june = body(declare(&app, Role::FinanceOfficer, unit, "2022-06", "10000.00").await).await;
    let july = body(declare(&app, Role::FinanceOfficer, unit, "2022-07", "10000.00").await).await;
    assert_eq!((june["fee_rate"].as_str(), june["fee_due"].as_str()), (Some("0.02"), Some("200.00")));
    assert_eq!((july["fee_rate"].as_str(), july["fee_due"].as_str()), (Some("0.025"), Some("250.00")));
    problem(app.post_as(Role::FinanceOfficer, "/api/v1/fee-rates", json!({})).await, 403, "forbidden").await;
    app.finish().await;
}

#[tokio::test]
async fn a_clerk_declares_only_for_its_own_unit() {
    let app = spawn_app().await;
    fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    let other = app.org("unit2").await;
    let clerk = app.user_token("unit_clerk", Role::Clerk, unit).await;
    let send = |org: uuid::Uuid| {
        app.send(
            reqwest::Method::POST,
            DECLARE,
            Some(&clerk),
            Some(json!({"org_id": org, "period": "2022-01", "payroll_total": "5000.00"})),
            &[],
        )
    };
    assert_eq!(send(unit).await.status(), 201);
    problem(send(other).await, 404, "not_found").await;
    let r = app
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/union-fees/statement?org_id={other}&year=2022"),
            Some(&clerk),
            None,
            &[],
        )
        .await;
    problem(r, 404, "not_found").await;
    let r = app.send(reqwest::Method::GET, DECLARE, Some(&clerk), None, &[]).await;
    let list = body(r).await;
    assert!(list["items"].as_array().unwrap().iter().all(|d| d["org_id"] == unit.to_string().as_str()));
    problem(
        app.post_as(Role::Auditor, DECLARE, json!({"org_id": unit, "period": "2022-01", "payroll_total": "1.00"}))
            .await,
        403,
        "forbidden",
    )
    .await;
    app.finish().await;
}

#[tokio::test]
async fn bad_declarations_are_refused_with_the_reason() {
    let app = spawn_app().await;
    let unit = app.org("unit").await;
    problem(declare(&app, Role::FinanceOfficer, unit, "2022-01", "1.00").await, 409, "no_union_fee_fund").await;
    fee_fund(&app, 2022).await;
    let township = app.org("township").await;
    let p =
        problem(declare(&app, Role::FinanceOfficer, township, "2022-01", "1.00").await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["org_id"]);
    for (period, payroll, field) in [
        ("2022-13", "1.00", "period"),
        ("22-01", "1.00", "period"),
        ("2022-01", "-1.00", "payroll_total"),
        ("2022-01", "1.001", "payroll_total"),
    ] {
        let p =
            problem(declare(&app, Role::FinanceOfficer, unit, period, payroll).await, 422, "validation_failed").await;
        assert_eq!(fields(&p), [field], "{period} {payroll}");
    }
    problem(declare(&app, Role::FinanceOfficer, uuid::Uuid::new_v4(), "2022-01", "1.00").await, 404, "not_found").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations"), 0);
    app.finish().await;
}

#[tokio::test]
async fn a_declaration_retried_with_its_key_is_made_once() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    let b = json!({"org_id": unit, "period": "2022-04", "payroll_total": "50000.00"});
    let key = [("Idempotency-Key", "bureau-2022-04-unit")];
    let a = app.post_with(Role::FinanceBureau, DECLARE, b.clone(), &key).await;
    let again = app.post_with(Role::FinanceBureau, DECLARE, b, &key).await;
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(a).await, body(again).await);
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations"), 1);
    assert_eq!(balance(&app, &fund, "fee_receivable"), "1000.00");
    app.finish().await;
}
