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

#[tokio::test]
async fn the_rate_table_ships_with_two_percent_and_forty_percent_for_every_kind() {
    let app = spawn_app().await;
    let rates = body(app.get_as(Role::Auditor, "/api/v1/fee-rates").await).await;
    let items = rates["items"].as_array().unwrap();
    // For every kind: the union fee, 60 / 40 / 0 by level; the preparatory fee, all of it upward.
    assert_eq!(items.len(), 6);
    for r in items {
        assert_eq!(r["fee_rate"], "0.02");
        match r["scheme"].as_str() {
            Some("union_fee") => {
                assert_eq!(r["remit_rate"], "0.4");
                assert_eq!(r["shares"], json!({"retained": "0.6", "city": "0.4", "upper": "0"}));
            }
            Some("preparatory_fee") => {
                assert_eq!(r["shares"], json!({"retained": "0", "city": "1", "upper": "0"}));
            }
            other => panic!("scheme {other:?}"),
        }
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

const BATCH: &str = "/api/v1/union-fees/declarations/batch";

/// `n` member units made straight in the database (setup only), with valid credit codes.
fn units(app: &TestApp, n: usize) -> Vec<(uuid::Uuid, String)> {
    use unionfund::domain::ids::CreditCode;
    let units: Vec<(uuid::Uuid, String)> = (0..n)
        .map(|i| {
            let first17 = format!("11430981MB{:07}", i);
            let code = format!("{first17}{}", CreditCode::check_char(&first17).unwrap());
            (uuid::Uuid::now_v7(), code)
        })
        .collect();
    let values: Vec<String> = units
        .iter()
        .enumerate()
        .map(|(i, (id, code))| format!("('{id}', 'Unit {i}', 'member_unit', '{code}', 'public_institution')"))
        .collect();
    app.sql(&format!("INSERT INTO orgs (id, name, kind, credit_code, unit_kind) VALUES {}", values.join(",")));
    units
}

fn rows(units: &[(uuid::Uuid, String)], months: u32) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, (id, code)) in units.iter().enumerate() {
        for m in 1..=months {
            // Half the rows name the unit by id, half by credit code, as the bureau may.
            let unit = if i % 2 == 0 { json!({"org_id": id}) } else { json!({"credit_code": code}) };
            let mut row = unit;
            row["period"] = json!(format!("2022-{m:02}"));
            row["payroll_total"] = json!(format!("{}.{:02}", 10_000 + i, m));
            out.push(row);
        }
    }
    out
}

#[tokio::test]
async fn a_batch_of_ten_thousand_rows_is_declared_at_once_and_once_per_key() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    let units = units(&app, 1000);
    let rows = rows(&units, 10);
    assert_eq!(rows.len(), 10_000);
    let key = [("Idempotency-Key", "bureau-batch-2022")];
    let r = app.post_with(Role::FinanceBureau, BATCH, json!({"rows": rows}), &key).await;
    assert_eq!(r.status(), 201);
    let b = body(r).await;
    assert_eq!(b["count"], 10_000);
    assert_eq!(b["declarations"][1]["period"], "2022-02", "answers follow the order of the rows");
    assert_eq!(b["declarations"][1]["fee_due"], "200.00");
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations"), 10_000);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'fee.declared'"), 10_000);
    // The ledger holds exactly the sum of the rows' fees.
    let fee_sum: String = {
        #[derive(diesel::QueryableByName)]
        struct S {
            #[diesel(sql_type = diesel::sql_types::Text)]
            s: String,
        }
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT sum(fee_due)::text AS s FROM fee_declarations")
            .get_result::<S>(&mut app.db.conn())
            .unwrap()
            .s
    };
    assert_eq!(balance(&app, &fund, "fee_receivable"), fee_sum);
    assert_eq!(b["fee_due"], fee_sum.as_str());
    // The bureau retries: the same key replays the answer and writes nothing more.
    let again = app.post_with(Role::FinanceBureau, BATCH, json!({"rows": rows}), &key).await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations"), 10_000);
    app.finish().await;
}

#[tokio::test]
async fn one_bad_row_among_ten_thousand_writes_nothing_and_is_named() {
    let app = spawn_app().await;
    fee_fund(&app, 2022).await;
    let units = units(&app, 1000);
    let mut rows = rows(&units, 10);
    // A row the JSON layer refuses, and one only the database can refuse (no such unit).
    rows[7777]["period"] = json!("2022-13");
    let p =
        problem(app.post_as(Role::FinanceBureau, BATCH, json!({"rows": rows.clone()})).await, 422, "validation_failed")
            .await;
    assert_eq!(fields(&p), ["rows[7777].period"]);
    rows[7777]["period"] = json!("2022-12");
    let unknown = {
        use unionfund::domain::ids::CreditCode;
        let first17 = "91430981MA0000000";
        format!("{first17}{}", CreditCode::check_char(first17).unwrap())
    };
    rows[4242] = json!({"credit_code": unknown, "period": "2022-01", "payroll_total": "1.00"});
    rows[9999]["org_id"] = json!(units[0].0);
    rows[9999].as_object_mut().unwrap().remove("credit_code");
    rows[9999]["period"] = json!("2022-01");
    let p =
        problem(app.post_as(Role::FinanceBureau, BATCH, json!({"rows": rows})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["rows[4242].credit_code", "rows[9999]"], "{p}");
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries WHERE kind = 'fee_declaration'"), 0);
    app.finish().await;
}

#[tokio::test]
async fn an_oversized_batch_is_a_413_and_roles_are_checked() {
    let app = spawn_app().await;
    let filler = "x".repeat(5 * 1024 * 1024);
    let t = app.token(Role::FinanceBureau).await;
    let r = app
        .http
        .post(app.url(BATCH))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(format!("{{\"rows\": [], \"pad\": \"{filler}\"}}"))
        .send()
        .await
        .expect("a clear answer, not a dropped connection");
    problem(r, 413, "payload_too_large").await;
    problem(app.post_as(Role::FinanceBureau, BATCH, json!({"rows": []})).await, 422, "validation_failed").await;
    problem(app.post_as(Role::Clerk, BATCH, json!({"rows": []})).await, 403, "forbidden").await;
    app.finish().await;
}

const PAY: &str = "/api/v1/union-fees/payments";

async fn pay(app: &TestApp, unit: uuid::Uuid, period: &str, amount: &str) -> Value {
    let reference = uuid::Uuid::now_v7().to_string();
    let payment = json!({"org_id": unit, "period": period, "amount": amount, "reference": reference});
    let r = app.post_as(Role::FinanceBureau, PAY, payment).await;
    assert_eq!(r.status(), 201);
    body(r).await
}

async fn statement(app: &TestApp, unit: uuid::Uuid) -> Value {
    body(app.get_as(Role::Auditor, &format!("/api/v1/union-fees/statement?org_id={unit}&year=2022")).await).await
}

fn month<'a>(s: &'a Value, period: &str) -> &'a Value {
    s["periods"].as_array().unwrap().iter().find(|p| p["period"] == period).unwrap()
}

#[tokio::test]
async fn an_overpayment_becomes_credit_and_pays_the_next_month_in_arrears() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    declare(&app, Role::FinanceOfficer, unit, "2022-01", "100000.00").await;
    declare(&app, Role::FinanceOfficer, unit, "2022-02", "100000.00").await;
    let p = pay(&app, unit, "2022-01", "2500.00").await;
    assert_eq!((p["applied"].as_str(), p["to_credit"].as_str()), (Some("2000.00"), Some("500.00")));
    let s = statement(&app, unit).await;
    let (jan, feb) = (month(&s, "2022-01"), month(&s, "2022-02"));
    assert_eq!(
        (jan["paid"].as_str(), jan["arrears"].as_str(), jan["credit"].as_str()),
        (Some("2000.00"), Some("0.00"), Some("500.00"))
    );
    assert_eq!((feb["paid"].as_str(), feb["arrears"].as_str()), (Some("500.00"), Some("1500.00")));
    assert_eq!(
        (s["totals"]["paid"].as_str(), s["totals"]["arrears"].as_str(), s["totals"]["credit"].as_str()),
        (Some("2500.00"), Some("1500.00"), Some("0.00"))
    );
    assert_eq!(balance(&app, &fund, "fee_receivable"), "1500.00");
    assert_eq!(balance(&app, &fund, "fee_cash"), "2500.00");
    assert_eq!(balance(&app, &fund, "fee_credit"), "0.00");
    let events = body(
        app.get_as(Role::Auditor, &format!("/api/v1/audit/events?org_id={unit}&entity_type=fee_settlement")).await,
    )
    .await;
    let actions: Vec<&str> =
        events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["fee.payment_received", "fee.credit_applied"]);
    app.finish().await;
}

#[tokio::test]
async fn credit_waits_for_a_later_declaration_and_a_correction_below_what_was_paid_returns_credit() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    // Paid before declaring: all of it is credit, kept.
    let p = pay(&app, unit, "2022-03", "300.00").await;
    assert_eq!(p["to_credit"], "300.00");
    assert_eq!(statement(&app, unit).await["totals"]["credit"], "300.00");
    // The declaration arrives: the credit pays it.
    declare(&app, Role::FinanceOfficer, unit, "2022-03", "10000.00").await;
    let s = statement(&app, unit).await;
    assert_eq!(
        (month(&s, "2022-03")["paid"].as_str(), month(&s, "2022-03")["arrears"].as_str()),
        (Some("200.00"), Some("0.00"))
    );
    assert_eq!(s["totals"]["credit"], "100.00");
    // A correction halves the fee: the month is now overpaid by 100, which returns to credit.
    // The month was paid, so the finance office corrects it, with a reason.
    let corrected = app
        .post_as(
            Role::FinanceOfficer,
            DECLARE,
            json!({"org_id": unit, "period": "2022-03", "payroll_total": "5000.00", "reason": "payroll re-audited"}),
        )
        .await;
    assert_eq!(corrected.status(), 201);
    let s = statement(&app, unit).await;
    assert_eq!(
        (month(&s, "2022-03")["fee_due"].as_str(), month(&s, "2022-03")["paid"].as_str()),
        (Some("100.00"), Some("100.00"))
    );
    assert_eq!(s["totals"]["credit"], "200.00");
    assert_eq!(balance(&app, &fund, "fee_credit"), "-200.00");
    assert_eq!(balance(&app, &fund, "fee_receivable"), "0.00");
    app.finish().await;
}

#[tokio::test]
async fn remittances_are_recorded_per_month_and_never_above_the_federations_share() {
    let app = spawn_app().await;
    fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    declare(&app, Role::FinanceOfficer, unit, "2022-01", "100000.00").await;
    pay(&app, unit, "2022-01", "2000.00").await;
    let remit = |amount: &'static str| {
        app.post_as(
            Role::FinanceOfficer,
            "/api/v1/union-fees/remittances",
            json!({"org_id": unit, "period": "2022-01", "amount": amount}),
        )
    };
    assert_eq!(remit("500.00").await.status(), 201);
    assert_eq!(remit("300.00").await.status(), 201);
    problem(remit("0.01").await, 409, "over_remittance").await;
    let s = statement(&app, unit).await;
    assert_eq!(
        (month(&s, "2022-01")["remit_due"].as_str(), month(&s, "2022-01")["remitted"].as_str()),
        (Some("800.00"), Some("800.00"))
    );
    let p = problem(
        app.post_as(
            Role::FinanceOfficer,
            PAY,
            json!({"org_id": unit, "period": "2022-01", "amount": "0.00", "reference": "B-0"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["amount"]);
    problem(
        app.post_as(Role::Clerk, PAY, json!({"org_id": unit, "period": "2022-01", "amount": "1.00"})).await,
        403,
        "forbidden",
    )
    .await;
    app.finish().await;
}

#[tokio::test]
async fn the_year_summary_adds_up_across_units_and_a_clerk_sees_only_its_own() {
    let app = spawn_app().await;
    fee_fund(&app, 2022).await;
    let (a, b) = (app.org("unit").await, app.org("unit2").await);
    declare(&app, Role::FinanceOfficer, a, "2022-01", "100000.00").await;
    declare(&app, Role::FinanceOfficer, a, "2022-02", "50000.00").await;
    declare(&app, Role::FinanceOfficer, b, "2022-01", "123456.78").await;
    pay(&app, a, "2022-01", "2500.00").await;
    let s = body(app.get_as(Role::FinanceBureau, "/api/v1/union-fees/summary?year=2022").await).await;
    let t = &s["totals"];
    assert_eq!(t["fee_due"], "5469.14");
    assert_eq!(t["remit_due"], "2187.66");
    assert_eq!(t["retained"], "3281.48");
    assert_eq!(t["paid"], "2500.00");
    assert_eq!(t["arrears"], "2969.14");
    assert_eq!(t["credit"], "0.00");
    assert_eq!(s["items"].as_array().unwrap().len(), 2);
    let first = body(app.get_as(Role::Auditor, "/api/v1/union-fees/summary?year=2022&limit=1").await).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 1);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second =
        body(app.get_as(Role::Auditor, &format!("/api/v1/union-fees/summary?year=2022&limit=1&cursor={cursor}")).await)
            .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert!(second["next_cursor"].is_null());
    assert_ne!(first["items"][0]["org_id"], second["items"][0]["org_id"]);
    let clerk = app.user_token("b_clerk", Role::Clerk, b).await;
    let own =
        body(app.send(reqwest::Method::GET, "/api/v1/union-fees/summary?year=2022", Some(&clerk), None, &[]).await)
            .await;
    assert_eq!(own["items"].as_array().unwrap().len(), 1);
    assert_eq!(own["items"][0]["org_id"], b.to_string().as_str());
    assert_eq!(own["totals"]["fee_due"], "2469.14");
    app.finish().await;
}

#[tokio::test]
async fn a_year_whose_totals_pass_what_the_books_hold_reads_as_a_409_not_a_500() {
    let app = spawn_app().await;
    fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    for period in ["2022-01", "2022-02"] {
        let r = declare(&app, Role::FinanceOfficer, unit, period, "9999999999999999.99").await;
        assert_eq!(r.status(), 201, "each month fits NUMERIC(18,2)");
    }
    let r = app.get_as(Role::Auditor, &format!("/api/v1/union-fees/statement?org_id={unit}&year=2022")).await;
    problem(r, 409, "amount_out_of_range").await;
    let r = app.get_as(Role::Auditor, "/api/v1/union-fees/summary?year=2022").await;
    problem(r, 409, "amount_out_of_range").await;
    app.finish().await;
}

/// Rows and audit events, counted in SQL: what a repeat must not add to.
fn written(app: &TestApp) -> (i64, i64) {
    (app.count("SELECT count(*) AS n FROM fee_declarations"), app.count("SELECT count(*) AS n FROM audit_events"))
}

#[tokio::test]
async fn an_identical_batch_under_a_new_key_writes_nothing_and_says_so_per_row() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    let units = units(&app, 3);
    let rows = rows(&units, 1);
    let first = app.post_with(Role::FinanceBureau, BATCH, json!({"rows": rows}), &[("Idempotency-Key", "b-1")]).await;
    assert_eq!(first.status(), 201);
    let first = body(first).await;
    assert_eq!(first["unchanged"], 0);
    assert!(first["declarations"].as_array().unwrap().iter().all(|d| d["unchanged"] == false));
    let before = written(&app);
    assert_eq!(before.0, 3);
    let receivable = balance(&app, &fund, "fee_receivable");
    // The bureau re-sends the same batch under a new key: nothing is written, each row says so.
    let again = app.post_with(Role::FinanceBureau, BATCH, json!({"rows": rows}), &[("Idempotency-Key", "b-2")]).await;
    assert_eq!(again.status(), 200, "nothing was created");
    assert!(!again.headers().contains_key("idempotent-replayed"), "not a replay: a repeat");
    let again = body(again).await;
    assert_eq!((again["count"].as_u64(), again["unchanged"].as_u64()), (Some(3), Some(3)));
    for (a, b) in first["declarations"].as_array().unwrap().iter().zip(again["declarations"].as_array().unwrap()) {
        assert_eq!(b["unchanged"], true);
        assert_eq!((&b["id"], &b["version"], &b["fee_due"]), (&a["id"], &a["version"], &a["fee_due"]));
    }
    assert_eq!(written(&app), before, "no declaration version and no audit event");
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries WHERE kind = 'fee_declaration'"), 1);
    assert_eq!(balance(&app, &fund, "fee_receivable"), receivable);
    // One row changed among repeats: that row alone is a new version.
    let mut changed = rows.clone();
    changed[1]["payroll_total"] = json!("20000.00");
    let r = app.post_with(Role::FinanceBureau, BATCH, json!({"rows": changed}), &[("Idempotency-Key", "b-3")]).await;
    assert_eq!(r.status(), 201);
    let b = body(r).await;
    let flags: Vec<bool> =
        b["declarations"].as_array().unwrap().iter().map(|d| d["unchanged"].as_bool().unwrap()).collect();
    assert_eq!(flags, [true, false, true]);
    assert_eq!(b["declarations"][1]["version"], 2);
    assert_eq!(b["unchanged"], 2);
    assert_eq!(written(&app), (before.0 + 1, before.1 + 1));
    app.finish().await;
}

#[tokio::test]
async fn an_identical_declaration_answers_200_with_the_current_version_and_writes_nothing() {
    let app = spawn_app().await;
    fee_fund(&app, 2022).await;
    let unit = app.org("unit").await;
    let first = body(declare(&app, Role::FinanceOfficer, unit, "2022-05", "10000.00").await).await;
    let second = body(declare(&app, Role::FinanceOfficer, unit, "2022-05", "12000.00").await).await;
    let before = written(&app);
    let r = declare(&app, Role::FinanceOfficer, unit, "2022-05", "12000.00").await;
    assert_eq!(r.status(), 200);
    let same = body(r).await;
    assert_eq!(same["unchanged"], true);
    assert_eq!((&same["id"], &same["version"], &same["supersedes"]), (&second["id"], &second["version"], &first["id"]));
    assert_eq!(same["fee_due"], "240.00");
    assert_eq!(written(&app), before);
    // A clerk of the unit repeating it is no correction either (and no money moved anyway).
    let clerk = app.user_token("unit_clerk", Role::Clerk, unit).await;
    let before = written(&app);
    let body_ = json!({"org_id": unit, "period": "2022-05", "payroll_total": "12000.00"});
    let r = app.send(reqwest::Method::POST, DECLARE, Some(&clerk), Some(body_), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(written(&app), before);
    app.finish().await;
}

#[tokio::test]
async fn a_batch_correcting_a_paid_month_needs_the_finance_office_and_a_reason() {
    let app = spawn_app().await;
    fee_fund(&app, 2022).await;
    let units = units(&app, 3);
    let rows = rows(&units, 1);
    assert_eq!(app.post_as(Role::FinanceBureau, BATCH, json!({"rows": rows})).await.status(), 201);
    // Unit 2's January is paid; the others are not.
    pay(&app, units[2].0, "2022-01", "50.00").await;
    let mut changed = rows.clone();
    for row in &mut changed {
        row["payroll_total"] = json!("1.00");
    }
    let before = written(&app);
    let p = problem(
        app.post_as(Role::FinanceBureau, BATCH, json!({"rows": changed})).await,
        403,
        "reserved_to_finance_office",
    )
    .await;
    assert!(p["detail"].as_str().unwrap().ends_with("rows[2]"), "{p}");
    let p = problem(app.post_as(Role::FinanceOfficer, BATCH, json!({"rows": changed})).await, 422, "validation_failed")
        .await;
    assert_eq!(fields(&p), ["reason"]);
    assert_eq!(written(&app), before, "a refused batch writes nothing");
    let r = app
        .post_as(Role::FinanceOfficer, BATCH, json!({"rows": changed, "reason": "bureau payroll file re-issued"}))
        .await;
    assert_eq!(r.status(), 201);
    let events = body(
        app.get_as(Role::Auditor, &format!("/api/v1/audit/events?org_id={}&entity_type=fee_declaration", units[2].0))
            .await,
    )
    .await;
    let last = events["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "fee.declaration_corrected");
    assert!(last["after"].as_str().unwrap().contains("\"reason\":\"bureau payroll file re-issued\""), "{last}");
    app.finish().await;
}

async fn declared(app: &TestApp, unit: uuid::Uuid, period: &str, payroll: &str) {
    assert_eq!(declare(app, Role::FinanceOfficer, unit, period, payroll).await.status(), 201, "{unit} {period}");
}

const FIGURES: [&str; 9] =
    ["payroll_total", "fee_due", "remit_due", "retained", "paid", "remitted", "arrears", "credit", "remit_receivable"];

fn amount(v: &Value, key: &str) -> rust_decimal::Decimal {
    v[key].as_str().unwrap_or_else(|| panic!("{key} in {v}")).parse().unwrap()
}

#[tokio::test]
async fn each_units_statement_and_its_summary_row_agree_to_the_cent_and_the_total_is_their_sum() {
    let app = spawn_app().await;
    let fund = fee_fund(&app, 2022).await;
    let (a, b, c) = (app.org("unit").await, app.org("unit2").await, units(&app, 1)[0].0);
    // a: three months; January overpaid (credit pays February in part), remitted, then
    // corrected down below what was paid: the excess goes back to credit, which pays February.
    declared(&app, a, "2022-01", "100000.00").await;
    declared(&app, a, "2022-02", "100000.00").await;
    declared(&app, a, "2022-03", "50000.00").await;
    pay(&app, a, "2022-01", "2500.00").await;
    let remit = |unit: uuid::Uuid, period: &str, amount: &str| {
        app.post_as(
            Role::FinanceOfficer,
            "/api/v1/union-fees/remittances",
            json!({"org_id": unit, "period": period, "amount": amount}),
        )
    };
    assert_eq!(remit(a, "2022-01", "800.00").await.status(), 201);
    let down = json!({"org_id": a, "period": "2022-01", "payroll_total": "30000.00", "reason": "payroll re-audited"});
    assert_eq!(app.post_as(Role::FinanceOfficer, DECLARE, down).await.status(), 201);
    // b: pays March before declaring it (all credit), declares March and April (credit applied
    // to each), then overpays April: credit left at the end of the year.
    pay(&app, b, "2022-03", "300.00").await;
    declared(&app, b, "2022-03", "10000.00").await;
    declared(&app, b, "2022-04", "123456.78").await;
    pay(&app, b, "2022-04", "3000.00").await;
    // c: declared and part remitted, never paid.
    declared(&app, c, "2022-01", "50000.00").await;
    assert_eq!(remit(c, "2022-01", "100.00").await.status(), 201);

    // The statements, to the cent.
    let sa = statement(&app, a).await;
    let jan = month(&sa, "2022-01");
    assert_eq!(
        FIGURES.map(|k| jan[k].as_str().unwrap()),
        ["30000.00", "600.00", "240.00", "360.00", "600.00", "800.00", "0.00", "1900.00", "560.00"]
    );
    let feb = month(&sa, "2022-02");
    assert_eq!((feb["paid"].as_str(), feb["arrears"].as_str()), (Some("1900.00"), Some("100.00")));
    assert_eq!(
        FIGURES.map(|k| sa["totals"][k].as_str().unwrap()),
        ["180000.00", "3600.00", "1440.00", "2160.00", "2500.00", "800.00", "1100.00", "0.00", "560.00"]
    );
    let sb = statement(&app, b).await;
    assert_eq!(
        FIGURES.map(|k| sb["totals"][k].as_str().unwrap()),
        ["133456.78", "2669.14", "1067.66", "1601.48", "2669.14", "0.00", "0.00", "630.86", "0.00"]
    );
    let sc = statement(&app, c).await;
    assert_eq!(
        FIGURES.map(|k| sc["totals"][k].as_str().unwrap()),
        ["50000.00", "1000.00", "400.00", "600.00", "0.00", "100.00", "1000.00", "0.00", "0.00"]
    );
    // The ledger says the same: what is owed, and the credit held.
    assert_eq!(balance(&app, &fund, "fee_receivable"), "2100.00");
    assert_eq!(balance(&app, &fund, "fee_credit"), "-630.86");

    // The summary: each unit's row is its statement's totals, field by field.
    let s = body(app.get_as(Role::FinanceBureau, "/api/v1/union-fees/summary?year=2022").await).await;
    let items = s["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    for (unit, st) in [(a, &sa), (b, &sb), (c, &sc)] {
        let row = items.iter().find(|i| i["org_id"] == unit.to_string().as_str()).unwrap();
        for k in FIGURES {
            assert_eq!(row[k], st["totals"][k], "{k} of {unit}: summary {row} against statement {}", st["totals"]);
        }
    }
    // The whole year is the sum of the rows.
    for k in FIGURES {
        let sum: rust_decimal::Decimal = items.iter().map(|i| amount(i, k)).sum();
        assert_eq!(amount(&s["totals"], k), sum, "{k}");
    }
    assert_eq!(s["totals"]["paid"], "5169.14");
    assert_eq!(s["totals"]["credit"], "630.86");
    // The events still say the month as the API does.
    let events =
        body(app.get_as(Role::Auditor, &format!("/api/v1/audit/events?org_id={a}&entity_type=fee_settlement")).await)
            .await;
    let items = events["items"].as_array().unwrap();
    let actions: Vec<&str> = items.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["fee.payment_received", "fee.credit_applied", "fee.credited_after_correction", "fee.credit_applied"]
    );
    let after: Vec<Value> = items.iter().map(|e| serde_json::from_str(e["after"].as_str().unwrap()).unwrap()).collect();
    assert_eq!(
        after.iter().map(|a| a["period"].as_str().unwrap()).collect::<Vec<_>>(),
        ["2022-01", "2022-02", "2022-01", "2022-02"]
    );
    assert_eq!(after[2]["to_credit"], "1400.00");
    app.finish().await;
}

#[tokio::test]
async fn a_units_year_is_found_through_an_index_on_every_fee_table() {
    let app = spawn_app().await;
    let unit = app.org("unit").await;
    use diesel::RunQueryDsl;
    use diesel::connection::SimpleConnection;
    #[derive(diesel::QueryableByName)]
    struct Plan {
        #[diesel(sql_type = diesel::sql_types::Text)]
        plan: String,
    }
    let mut conn = app.db.conn();
    // With sequential scans priced out, the plan shows whether an index can serve the lookup.
    conn.batch_execute(
        "SET enable_seqscan = off; \
         CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$ \
         DECLARE line text; plan text := ''; \
         BEGIN FOR line IN EXECUTE 'EXPLAIN ' || q LOOP plan := plan || line || E'\\n'; END LOOP; RETURN plan; END $$",
    )
    .unwrap();
    for table in ["fee_declarations", "fee_settlements", "fee_remittances", "fee_remit_refunds", "fee_payments"] {
        let q = format!(
            "SELECT * FROM {table} WHERE org_id = '{unit}' \
             AND period >= make_date(2022, 1, 1) AND period < make_date(2022 + 1, 1, 1)"
        );
        let plan = diesel::sql_query("SELECT pg_temp.plan_of($1) AS plan")
            .bind::<diesel::sql_types::Text, _>(q)
            .get_result::<Plan>(&mut conn)
            .unwrap()
            .plan;
        assert!(!plan.contains("Seq Scan") && plan.contains("Index Cond"), "{table}:\n{plan}");
        assert!(
            plan.contains("period >= '2022-01-01'::date") && plan.contains("period < '2023-01-01'::date"),
            "{table}:\n{plan}"
        );
    }
    // A period is stored as a month's first day, and as nothing else.
    let fund = fee_fund(&app, 2022).await;
    let insert = |day: &str| {
        format!(
            "INSERT INTO fee_declarations (id, org_id, period, version, payroll_total, fee_rate, remit_rate, fee_due, \
               remit_due, retained, fund_id, entry_id, created_at, created_by) \
             VALUES (gen_random_uuid(), '{unit}', '{day}', 1, 0, 0.02, 0.40, 0, 0, 0, '{fund}', NULL, now(), 'sql')"
        )
    };
    for day in ["2022-03-02", "1999-12-01", "2101-01-01"] {
        let refused = conn.batch_execute(&insert(day)).unwrap_err().to_string();
        assert!(refused.contains("fee_declarations_period_check"), "{day}: {refused}");
    }
    conn.batch_execute(&insert("2022-03-01")).unwrap();
    drop(conn);
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations WHERE period = '2022-03-01'"), 1);
    app.finish().await;
}
