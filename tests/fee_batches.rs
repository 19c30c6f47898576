//! Union fees at their real shape (issue 19): batches that correct months already paid and
//! remitted move exactly what single calls would; payments and remittances by the thousand, all
//! or nothing; every level's share; a summary of ten thousand units that pages with stable totals.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use unionfund::domain::policy::Role;
use uuid::Uuid;

use crate::helpers::*;

const DECLARE: &str = "/api/v1/union-fees/declarations";
const DECLARE_BATCH: &str = "/api/v1/union-fees/declarations/batch";
const PAY: &str = "/api/v1/union-fees/payments";
const PAY_BATCH: &str = "/api/v1/union-fees/payments/batch";
const REMIT: &str = "/api/v1/union-fees/remittances";
const REMIT_BATCH: &str = "/api/v1/union-fees/remittances/batch";
const UPPER: &str = "/api/v1/union-fees/upper-remittances";

async fn fee_fund(app: &TestApp) -> String {
    let b = json!({"name": "2022年工会经费", "kind": "union_fee", "year": 2022, "budget": "1500000.00"});
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/funds", b).await;
    assert_eq!(r.status(), 201);
    body(r).await["id"].as_str().unwrap().to_owned()
}

/// `n` member units made in SQL (administrative, with valid credit codes).
fn units(app: &TestApp, n: usize, first: usize) -> Vec<Uuid> {
    use unionfund::domain::ids::CreditCode;
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
    let values: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let first17 = format!("11430981MB{:07}", first + i);
            let code = format!("{first17}{}", CreditCode::check_char(&first17).unwrap());
            format!("('{id}', 'unit {}', 'member_unit', '{code}', 'administrative')", first + i)
        })
        .collect();
    for chunk in values.chunks(2000) {
        app.sql(&format!("INSERT INTO orgs (id, name, kind, credit_code, unit_kind) VALUES {}", chunk.join(",")));
    }
    ids
}

async fn statement(app: &TestApp, unit: Uuid) -> Value {
    body(app.get_as(Role::Auditor, &format!("/api/v1/union-fees/statement?org_id={unit}&year=2022")).await).await
}

/// A statement without its unit: what two units with the same history must share.
fn figures_of(s: &Value) -> Value {
    json!({"periods": s["periods"], "totals": s["totals"]})
}

/// Runs SQL as the database's owner, answering the database's refusal.
fn try_sql(app: &TestApp, sql: &str) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    app.db.conn().batch_execute(sql).map_err(|e| e.to_string())
}

/// A small deterministic generator (xorshift64*): random histories that a failure can replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One step of a unit's history, sent either as a batch (for one unit) or as single calls.
#[derive(Debug, Clone)]
enum Step {
    /// Declare these months at these payrolls (a correction where already declared).
    Declare(Vec<(u32, String)>),
    /// Pay these months these amounts.
    Pay(Vec<(u32, String)>),
    /// Remit these amounts for these months.
    Remit(Vec<(u32, String)>),
}

fn period(m: u32) -> String {
    format!("2022-{m:02}")
}

fn history(rng: &mut Rng) -> Vec<Step> {
    let mut steps = Vec::new();
    let months = |rng: &mut Rng, k: u64| -> Vec<u32> {
        let mut ms: Vec<u32> = (1..=12).filter(|_| rng.below(12) < k).collect();
        if ms.is_empty() {
            ms.push(1 + u32::try_from(rng.below(12)).unwrap());
        }
        // Rows in any order: the order of a batch is the order single calls follow.
        for i in (1..ms.len()).rev() {
            ms.swap(i, usize::try_from(rng.below(i as u64 + 1)).unwrap());
        }
        ms
    };
    let payroll = |rng: &mut Rng| format!("{}.{:02}", 10_000 + rng.below(90_000), rng.below(100));
    steps.push(Step::Declare(months(rng, 9).into_iter().map(|m| (m, payroll(rng))).collect()));
    for _ in 0..3 {
        match rng.below(3) {
            0 => steps.push(Step::Declare(months(rng, 5).into_iter().map(|m| (m, payroll(rng))).collect())),
            1 => steps.push(Step::Pay(
                months(rng, 6)
                    .into_iter()
                    .map(|m| (m, format!("{}.{:02}", 100 + rng.below(2_500), rng.below(100))))
                    .collect(),
            )),
            _ => steps.push(Step::Remit(
                months(rng, 4)
                    .into_iter()
                    .map(|m| (m, format!("{}.{:02}", 1 + rng.below(80), rng.below(100))))
                    .collect(),
            )),
        }
    }
    // Every history ends with payments and a correction after them.
    steps.push(Step::Pay(
        months(rng, 8).into_iter().map(|m| (m, format!("{}.{:02}", 200 + rng.below(2_000), rng.below(100)))).collect(),
    ));
    steps.push(Step::Declare(months(rng, 7).into_iter().map(|m| (m, payroll(rng))).collect()));
    steps
}

/// Sends a history for one unit as batches (`batch`) or as single calls, in the same order, by
/// the finance office (with a reason: some rows correct paid months). Remittances beyond what
/// is due are refused on both paths alike; the test records which.
async fn replay(app: &TestApp, token: &str, unit: Uuid, steps: &[Step], batch: bool, refs: &mut u32) -> Vec<u16> {
    let mut statuses = Vec::new();
    let post = |path: &'static str, b: Value| {
        let token = token.to_owned();
        async move {
            app.send(
                reqwest::Method::POST,
                path,
                Some(&token),
                Some(b),
                &[("Idempotency-Key", &Uuid::new_v4().to_string())],
            )
            .await
        }
    };
    for step in steps {
        let (single, many, rows): (&str, &str, Vec<Value>) = match step {
            Step::Declare(rows) => (
                DECLARE,
                DECLARE_BATCH,
                rows.iter().map(|(m, p)| json!({"org_id": unit, "period": period(*m), "payroll_total": p})).collect(),
            ),
            Step::Pay(rows) => (
                PAY,
                PAY_BATCH,
                rows.iter()
                    .map(|(m, a)| {
                        *refs += 1;
                        json!({"org_id": unit, "period": period(*m), "amount": a, "reference": format!("ref-{refs}")})
                    })
                    .collect(),
            ),
            Step::Remit(rows) => (
                REMIT,
                REMIT_BATCH,
                rows.iter().map(|(m, a)| json!({"org_id": unit, "period": period(*m), "amount": a})).collect(),
            ),
        };
        let reasoned = |mut b: Value| {
            if matches!(step, Step::Declare(_)) {
                b["reason"] = json!("payroll corrected by the unit");
            }
            b
        };
        if batch {
            // A remittance batch with a row over what is due is refused whole: send it row by
            // row then, as the single path is, so both histories stay the same.
            if matches!(step, Step::Remit(_)) {
                for row in rows {
                    statuses.push(post(many, json!({"rows": [row]})).await.status().as_u16());
                }
                continue;
            }
            let r = post(many, reasoned(json!({"rows": rows}))).await;
            let status = r.status().as_u16();
            assert!(status == 201 || status == 200, "batch refused: {}", r.text().await.unwrap());
        } else {
            for row in rows {
                let r = post(single, reasoned(row)).await;
                let status = r.status().as_u16();
                if matches!(step, Step::Remit(_)) {
                    statuses.push(if status == 409 { 422 } else { status });
                } else {
                    assert!(status == 201 || status == 200, "refused: {}", r.text().await.unwrap());
                }
            }
        }
    }
    statuses
}

#[tokio::test]
async fn batches_move_exactly_what_single_calls_would_on_random_histories() {
    let app = spawn_app().await;
    let fund = fee_fund(&app).await;
    let finance = app.token(Role::FinanceOfficer).await;
    let mut refs = 0;
    for seed in 1..=12u64 {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed);
        let steps = history(&mut rng);
        let pair = units(&app, 2, usize::try_from(seed).unwrap() * 2);
        let by_batch = replay(&app, &finance, pair[0], &steps, true, &mut refs).await;
        let by_single = replay(&app, &finance, pair[1], &steps, false, &mut refs).await;
        // Remittances refused on one path are refused on the other (409 single, 422 batch).
        assert_eq!(by_batch, by_single, "seed {seed}: {steps:?}");
        let (a, b) = (statement(&app, pair[0]).await, statement(&app, pair[1]).await);
        assert_eq!(figures_of(&a), figures_of(&b), "seed {seed}: {steps:?}");
        // And the settlements behind them, kind by kind.
        let sums = |unit: Uuid| {
            app.count(&format!(
                "SELECT coalesce(sum(amount * CASE kind WHEN 'payment' THEN 1 WHEN 'overpayment' THEN 10 \
                   WHEN 'credit_applied' THEN 100 ELSE 1000 END * 100), 0)::bigint AS n \
                 FROM fee_settlements WHERE org_id = '{unit}'"
            ))
        };
        assert_eq!(sums(pair[0]), sums(pair[1]), "seed {seed}");
    }
    // Some histories did correct paid months below what was paid, and apply credit.
    assert!(app.count("SELECT count(*) AS n FROM fee_settlements WHERE kind = 'correction_refund'") > 0);
    assert!(app.count("SELECT count(*) AS n FROM fee_settlements WHERE kind = 'credit_applied'") > 0);
    assert_eq!(balance(&app, &fund, "fee_upper_payable"), "0.00");
    app.finish().await;
}

#[tokio::test]
async fn a_payments_batch_with_one_bad_row_writes_nothing_and_names_every_bad_row() {
    let app = spawn_app().await;
    let fund = fee_fund(&app).await;
    let us = units(&app, 3, 100);
    let rows: Vec<Value> =
        us.iter().map(|u| json!({"org_id": u, "period": "2022-01", "payroll_total": "100000.00"})).collect();
    assert_eq!(app.post_as(Role::FinanceOfficer, DECLARE_BATCH, json!({"rows": rows})).await.status(), 201);
    let before = |app: &TestApp| {
        [
            app.count("SELECT count(*) AS n FROM fee_payments"),
            app.count("SELECT count(*) AS n FROM fee_settlements"),
            app.count("SELECT count(*) AS n FROM journal_entries"),
            app.count("SELECT count(*) AS n FROM audit_events"),
        ]
    };
    let counts = before(&app);
    let good = |u: &Uuid, r: &str| json!({"org_id": u, "period": "2022-01", "amount": "2000.00", "reference": r});
    let bad = json!({"rows": [
        good(&us[0], "B-1"),
        {"org_id": Uuid::now_v7(), "period": "2022-01", "amount": "10.00", "reference": "B-2"},
        good(&us[1], "B-3"),
        {"org_id": us[2], "period": "2022-01", "amount": "0.00", "reference": "B-4"},
        good(&us[1], "B-3"),
        {"org_id": us[2], "period": "2022-01", "amount": "5.00", "reference": " "},
    ]});
    let p = problem(app.post_as(Role::FinanceOfficer, PAY_BATCH, bad).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["rows[3].amount", "rows[5].reference"], "{p}");
    // Rows that read well but name no unit, or repeat a reference, are named in the second pass.
    let bad = json!({"rows": [good(&us[0], "B-1"), {"org_id": Uuid::now_v7(), "period": "2022-01",
        "amount": "10.00", "reference": "B-2"}, good(&us[1], "B-3"), good(&us[1], "B-3")]});
    let p = problem(app.post_as(Role::FinanceOfficer, PAY_BATCH, bad).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["rows[1].org_id", "rows[3].reference"], "{p}");
    assert_eq!(before(&app), counts, "a refused batch writes nothing");
    // A clerk may not send one.
    problem(app.post_as(Role::Clerk, PAY_BATCH, json!({"rows": [good(&us[0], "C-1")]})).await, 403, "forbidden").await;

    // The good batch: applied, overpaid into credit, under; by id and by credit code.
    let code: String = {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct C {
            #[diesel(sql_type = diesel::sql_types::Text)]
            credit_code: String,
        }
        diesel::sql_query(format!("SELECT credit_code FROM orgs WHERE id = '{}'", us[2]))
            .get_result::<C>(&mut app.db.conn())
            .unwrap()
            .credit_code
    };
    let ok = json!({"rows": [
        good(&us[0], "B-1"),
        {"org_id": us[1], "period": "2022-01", "amount": "2500.00", "reference": "B-3"},
        {"credit_code": code.to_lowercase(), "period": "2022-01", "amount": "1500.00", "reference": "B-5"},
    ]});
    let key = Uuid::new_v4().to_string();
    let r = app.post_with(Role::FinanceOfficer, PAY_BATCH, ok.clone(), &[("Idempotency-Key", &key)]).await;
    assert_eq!(r.status(), 201);
    let b = body(r).await;
    assert_eq!(
        (b["count"].as_i64(), b["amount"].as_str(), b["applied"].as_str(), b["to_credit"].as_str()),
        (Some(3), Some("6000.00"), Some("5500.00"), Some("500.00"))
    );
    let applied: Vec<(&str, &str)> = b["payments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["applied"].as_str().unwrap(), p["to_credit"].as_str().unwrap()))
        .collect();
    assert_eq!(applied, [("2000.00", "0.00"), ("2000.00", "500.00"), ("1500.00", "0.00")]);
    // Each payment its own entry and event, as a single payment.
    assert_eq!(app.count("SELECT count(DISTINCT entry_id) AS n FROM fee_payments"), 3);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'fee.payment_received'"), 3);
    // The same file again under its key: answered from the store, nothing written.
    let counts = before(&app);
    let again = app.post_with(Role::FinanceOfficer, PAY_BATCH, ok.clone(), &[("Idempotency-Key", &key)]).await;
    assert_eq!(again.status(), 201);
    assert_eq!(before(&app), counts);
    // Under a new key: every row's reference is taken.
    let p = problem(app.post_as(Role::FinanceOfficer, PAY_BATCH, ok).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["rows[0].reference", "rows[1].reference", "rows[2].reference"]);
    assert!(p.to_string().contains("duplicate_reference"));
    let s = statement(&app, us[2]).await;
    assert_eq!((s["totals"]["paid"].as_str(), s["totals"]["arrears"].as_str()), (Some("1500.00"), Some("500.00")));
    assert_eq!(balance(&app, &fund, "fee_cash"), "6000.00");
    assert_eq!(balance(&app, &fund, "fee_credit"), "-500.00");
    app.finish().await;
}

#[tokio::test]
async fn a_remittances_batch_beyond_what_is_due_is_refused_whole_naming_the_row() {
    let app = spawn_app().await;
    let fund = fee_fund(&app).await;
    let us = units(&app, 2, 200);
    let rows: Vec<Value> =
        us.iter().map(|u| json!({"org_id": u, "period": "2022-03", "payroll_total": "50000.00"})).collect();
    assert_eq!(app.post_as(Role::FinanceOfficer, DECLARE_BATCH, json!({"rows": rows})).await.status(), 201);
    // 1,000.00 fee, 400.00 due upward per unit; two rows for the same month add up.
    let over = json!({"rows": [
        {"org_id": us[0], "period": "2022-03", "amount": "300.00"},
        {"org_id": us[1], "period": "2022-03", "amount": "400.00"},
        {"org_id": us[0], "period": "2022-03", "amount": "100.01"},
    ]});
    let p = problem(app.post_as(Role::FinanceOfficer, REMIT_BATCH, over).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["rows[2].amount"]);
    assert!(p.to_string().contains("over_remittance"), "{p}");
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_remittances"), 0);
    let ok = json!({"rows": [
        {"org_id": us[0], "period": "2022-03", "amount": "300.00"},
        {"org_id": us[1], "period": "2022-03", "amount": "400.00"},
        {"org_id": us[0], "period": "2022-03", "amount": "100.00"},
    ]});
    let r = app.post_as(Role::FinanceOfficer, REMIT_BATCH, ok).await;
    assert_eq!(r.status(), 201);
    let b = body(r).await;
    assert_eq!((b["count"].as_i64(), b["amount"].as_str()), (Some(3), Some("800.00")));
    assert_eq!(statement(&app, us[0]).await["totals"]["remitted"], "400.00");
    // The city took the money in: its receivable from the units is settled.
    assert_eq!(balance(&app, &fund, "fee_city_cash"), "800.00");
    assert_eq!(balance(&app, &fund, "fee_city_receivable"), "0.00");
    app.finish().await;
}

#[tokio::test]
async fn every_levels_share_adds_up_and_a_rate_change_mid_year_applies_from_its_date() {
    let app = spawn_app().await;
    let fund = fee_fund(&app).await;
    let unit = app.org("unit").await;
    // From July the province takes 10% of the fee through the city: 60 / 30 / 10.
    let rate = json!({"unit_kind": "administrative", "fee_rate": "0.02", "remit_rate": "0.40",
        "upper_rate": "0.10", "effective_from": "2022-07-01"});
    let r = app.post_as(Role::Admin, "/api/v1/fee-rates", rate).await;
    assert_eq!(r.status(), 201);
    let v = body(r).await;
    assert_eq!(v["shares"], json!({"retained": "0.6", "city": "0.3", "upper": "0.1"}));
    // An upper share beyond what is remitted is refused, in Rust and by the table.
    let wrong = json!({"unit_kind": "enterprise", "fee_rate": "0.02", "remit_rate": "0.40",
        "upper_rate": "0.50", "effective_from": "2022-07-01"});
    let p = problem(app.post_as(Role::Admin, "/api/v1/fee-rates", wrong).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["upper_rate"]);
    let refused = try_sql(
        &app,
        "INSERT INTO fee_rates (id, unit_kind, fee_rate, remit_rate, upper_rate, effective_from) \
         VALUES (gen_random_uuid(), 'enterprise', 0.02, 0.40, 0.5, '2023-01-01')",
    );
    assert!(refused.unwrap_err().contains("fee_rates_upper_within_remit"));

    let june = json!({"org_id": unit, "period": "2022-06", "payroll_total": "123456.78"});
    let d = body(app.post_as(Role::FinanceOfficer, DECLARE, june).await).await;
    assert_eq!(
        [&d["fee_due"], &d["remit_due"], &d["retained"], &d["city_due"], &d["upper_due"]],
        ["2469.14", "987.66", "1481.48", "987.66", "0.00"]
    );
    let july = json!({"org_id": unit, "period": "2022-07", "payroll_total": "123456.78"});
    let d = body(app.post_as(Role::FinanceOfficer, DECLARE, july).await).await;
    // 2,469.14 × 10% = 246.914 → 246.91; the city keeps 987.66 − 246.91.
    assert_eq!(
        [&d["fee_due"], &d["remit_due"], &d["retained"], &d["city_due"], &d["upper_due"], &d["upper_rate"]],
        ["2469.14", "987.66", "1481.48", "740.75", "246.91", "0.1"]
    );
    // The database holds the rounding too: an upper share not the fee's times its rate is refused.
    let tampered = try_sql(
        &app,
        &format!(
            "INSERT INTO fee_declarations (id, org_id, period, version, payroll_total, fee_rate, remit_rate, fee_due, \
           remit_due, retained, fund_id, created_at, created_by, upper_rate, upper_due) \
         VALUES (gen_random_uuid(), '{unit}', '2022-08-01', 1, 100000, 0.02, 0.4, 2000, 800, 1200, '{fund}', now(), \
           'x', 0.1, 250)"
        ),
    );
    assert!(tampered.unwrap_err().contains("fee_declarations_upper_adds_up"));

    let s = statement(&app, unit).await;
    assert_eq!(
        (s["totals"]["city_due"].as_str(), s["totals"]["upper_due"].as_str()),
        (Some("1728.41"), Some("246.91"))
    );
    // The city's books: it keeps its share and owes the upper levels theirs.
    assert_eq!(balance(&app, &fund, "fee_city_receivable"), "1975.32");
    assert_eq!(balance(&app, &fund, "fee_city_income"), "-1728.41");
    assert_eq!(balance(&app, &fund, "fee_upper_payable"), "-246.91");
    let summary = body(app.get_as(Role::Auditor, "/api/v1/union-fees/summary?year=2022").await).await;
    assert_eq!(
        summary["city"],
        json!({"city_due": "1728.41", "upper_due": "246.91", "upper_passed_on": "0.00", "upper_payable": "246.91"})
    );
    // The unit remits July's 987.66; the city passes on the upper levels' share, no more.
    let r = app
        .post_as(Role::FinanceOfficer, REMIT, json!({"org_id": unit, "period": "2022-07", "amount": "987.66"}))
        .await;
    assert_eq!(r.status(), 201);
    let too_much = json!({"year": 2022, "amount": "246.92", "reference": "沅工缴〔2022〕12号"});
    problem(app.post_as(Role::FinanceOfficer, UPPER, too_much).await, 409, "over_remittance").await;
    let by_bureau = json!({"year": 2022, "amount": "100.00", "reference": "X-1"});
    problem(app.post_as(Role::FinanceBureau, UPPER, by_bureau).await, 403, "reserved_to_finance_office").await;
    let part = json!({"year": 2022, "amount": "200.00", "reference": "沅工缴〔2022〕12号"});
    let r = app.post_as(Role::FinanceOfficer, UPPER, part.clone()).await;
    assert_eq!(r.status(), 201);
    assert_eq!(body(r).await["upper_payable"], "46.91");
    problem(app.post_as(Role::FinanceOfficer, UPPER, part).await, 409, "duplicate_reference").await;
    assert_eq!(balance(&app, &fund, "fee_upper_payable"), "-46.91");
    assert_eq!(balance(&app, &fund, "fee_city_cash"), "787.66");
    let summary = body(app.get_as(Role::Auditor, "/api/v1/union-fees/summary?year=2022").await).await;
    assert_eq!(
        (summary["city"]["upper_passed_on"].as_str(), summary["city"]["upper_payable"].as_str()),
        (Some("200.00"), Some("46.91"))
    );
    // A clerk's summary is its own unit's, without the city's books.
    let clerk = body(app.get_as(Role::Clerk, "/api/v1/union-fees/summary?year=2022").await).await;
    assert!(clerk.get("city").is_none(), "{clerk}");
    app.finish().await;
}

#[tokio::test]
async fn the_summary_of_ten_thousand_units_pages_with_stable_totals() {
    let app = spawn_app().await;
    fee_fund(&app).await;
    let us = units(&app, 10_000, 1_000);
    let rows: Vec<Value> = us
        .iter()
        .enumerate()
        .map(|(i, u)| json!({"org_id": u, "period": "2022-01", "payroll_total": format!("{}.{:02}", 10_000 + i, i % 100)}))
        .collect();
    let r = app.post_as(Role::FinanceOfficer, DECLARE_BATCH, json!({"rows": rows})).await;
    assert_eq!(r.status(), 201);
    // Some pay, some over (credit), some under (arrears).
    let pays: Vec<Value> = us
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 3 != 0)
        .map(|(i, u)| json!({"org_id": u, "period": "2022-01", "amount": format!("{}.00", 150 + i % 150), "reference": format!("P{i}")}))
        .collect();
    let r = app.post_as(Role::FinanceOfficer, PAY_BATCH, json!({"rows": pays})).await;
    assert_eq!(r.status(), 201);
    let columns = [
        "payroll_total",
        "fee_due",
        "remit_due",
        "retained",
        "city_due",
        "upper_due",
        "paid",
        "remitted",
        "arrears",
        "credit",
        "remit_receivable",
    ];
    let cents = |v: &Value| -> i64 { v.as_str().unwrap().replace('.', "").parse().unwrap() };
    let mut seen: BTreeMap<String, ()> = BTreeMap::new();
    let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
    let mut totals: Option<Value> = None;
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/union-fees/summary?year=2022&limit=500&cursor={c}"),
            None => "/api/v1/union-fees/summary?year=2022&limit=500".to_owned(),
        };
        let page = body(app.get_as(Role::Auditor, &path).await).await;
        pages += 1;
        match &totals {
            None => totals = Some(page["totals"].clone()),
            Some(t) => assert_eq!(&page["totals"], t, "the totals are the same on every page"),
        }
        for item in page["items"].as_array().unwrap() {
            assert!(seen.insert(item["org_id"].as_str().unwrap().to_owned(), ()).is_none(), "a unit on two pages");
            for c in columns {
                *sums.entry(c).or_default() += cents(&item[c]);
            }
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!((seen.len(), pages), (10_000, 20));
    // The totals the database sums are the sums of the units' own figures, column by column.
    let totals = totals.unwrap();
    for c in columns {
        assert_eq!(sums[c], cents(&totals[c]), "{c}");
    }
    assert!(cents(&totals["credit"]) > 0 && cents(&totals["arrears"]) > 0, "{totals}");
    // And of each unit's statement (three units, to the cent).
    for u in [us[0], us[1], us[9_999]] {
        let s = statement(&app, u).await;
        let page = body(
            app.get_as(Role::Auditor, &format!("/api/v1/union-fees/summary?year=2022&limit=1&cursor={}", prev(&us, u)))
                .await,
        )
        .await;
        let item = &page["items"][0];
        assert_eq!(item["org_id"], u.to_string());
        for c in columns {
            assert_eq!(item[c], s["totals"][c], "{c} of {u}");
        }
    }
    app.finish().await;
}

/// The cursor that makes `u` the first of a page: the id just before it among `us` (sorted).
fn prev(us: &[Uuid], u: Uuid) -> String {
    let mut sorted = us.to_vec();
    sorted.sort();
    let i = sorted.iter().position(|x| *x == u).unwrap();
    if i == 0 { Uuid::nil().to_string() } else { sorted[i - 1].to_string() }
}

#[tokio::test]
async fn a_unit_without_a_union_pays_the_preparatory_fee_all_of_it_upward() {
    let app = spawn_app().await;
    let fund = fee_fund(&app).await;
    let admin = app.admin_token().await;
    let create = |b: Value| {
        let admin = admin.clone();
        let app = &app;
        async move { app.send(reqwest::Method::POST, "/api/v1/orgs", Some(&admin), Some(b), &[]).await }
    };
    let base = json!({"kind": "member_unit", "unit_kind": "enterprise", "parent_id": app.federation_id});
    let with = |extra: Value| {
        let mut b = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    // Without a union: no founding day; and only member units say so.
    let p = problem(
        create(with(json!({"name": "x", "has_union": false, "union_founded_on": "2022-07-15"}))).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["union_founded_on"]);
    let township = json!({"name": "t", "kind": "township_union", "parent_id": app.federation_id, "has_union": true});
    let p = problem(create(township).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["has_union"]);
    let r = create(with(json!({"name": "无工会企业", "has_union": false}))).await;
    assert_eq!(r.status(), 201);
    let without = body(r).await;
    assert_eq!((without["has_union"].as_bool(), &without["union_founded_on"]), (Some(false), &Value::Null));
    let r = create(with(json!({"name": "年中建会企业", "union_founded_on": "2022-07-15"}))).await;
    assert_eq!(r.status(), 201);
    let founded = body(r).await;

    let d = body(
        app.post_as(
            Role::FinanceOfficer,
            DECLARE,
            json!({"org_id": without["id"], "period": "2022-03", "payroll_total": "100000.00"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        [&d["scheme"], &d["fee_due"], &d["remit_due"], &d["retained"], &d["city_due"]],
        ["preparatory_fee", "2000.00", "2000.00", "0.00", "2000.00"]
    );
    // July began before the union was founded: preparatory; August: the union fee.
    let rows = json!({"rows": [
        {"org_id": founded["id"], "period": "2022-07", "payroll_total": "100000.00"},
        {"org_id": founded["id"], "period": "2022-08", "payroll_total": "100000.00"},
    ]});
    let b = body(app.post_as(Role::FinanceOfficer, DECLARE_BATCH, rows).await).await;
    let lines: Vec<(&str, &str)> = b["declarations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["remit_due"].as_str().unwrap(), l["retained"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [("2000.00", "0.00"), ("800.00", "1200.00")]);
    assert_eq!(balance(&app, &fund, "fee_retained"), "-1200.00");
    // The table refuses a preparatory rate that keeps anything below, and a preparatory
    // declaration that does.
    let keeps = try_sql(
        &app,
        "INSERT INTO fee_rates (id, unit_kind, fee_rate, remit_rate, scheme, effective_from) \
         VALUES (gen_random_uuid(), 'enterprise', 0.02, 0.4, 'preparatory_fee', '2023-01-01')",
    );
    assert!(keeps.unwrap_err().contains("fee_rates_preparatory_goes_up_in_full"));
    let r = app
        .post_as(
            Role::Admin,
            "/api/v1/fee-rates",
            json!({"unit_kind": "enterprise", "scheme": "preparatory_fee", "fee_rate": "0.02", "remit_rate": "0.4", "effective_from": "2023-01-01"}),
        )
        .await;
    assert_eq!(fields(&problem(r, 422, "validation_failed").await), ["remit_rate"]);
    app.finish().await;
}
