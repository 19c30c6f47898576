//! Closed years: a finance officer asks, a leader (never the one who asked) closes; then every
//! kind of write dated in the year is 409 `period_closed`, except a finance officer's adjusting
//! entry, which the ledger, the trail and the books show as such; the database refuses too.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use reqwest::{Method, Response};
use serde_json::{Value, json};
use unionfund::domain::policy::Role;

use crate::helpers::*;

const DECLARE: &str = "/api/v1/union-fees/declarations";
const BATCH: &str = "/api/v1/union-fees/declarations/batch";
const PAY: &str = "/api/v1/union-fees/payments";
const REMIT: &str = "/api/v1/union-fees/remittances";
const ADJUST: &str = "Adjusting-Reason";

async fn id_of(r: Response) -> String {
    assert!(r.status().is_success(), "{}", r.status());
    body(r).await["id"].as_str().unwrap().to_owned()
}

async fn fund(app: &TestApp, kind: &str, year: i32, budget: &str) -> String {
    let b = json!({"name": format!("{year} {kind}"), "kind": kind, "year": year, "budget": budget});
    id_of(app.post_as(Role::FinanceOfficer, "/api/v1/funds", b).await).await
}

async fn etag_of(app: &TestApp, path: &str) -> String {
    let r = app.get_as(Role::Auditor, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.headers()["etag"].to_str().unwrap().to_owned()
}

async fn stage(app: &TestApp, item: &str, what: &str, b: Value, headers: &[(&str, &str)]) -> Response {
    let tag = etag_of(app, &format!("/api/v1/items/{item}")).await;
    let mut all = vec![("If-Match", tag.as_str())];
    all.extend_from_slice(headers);
    app.post_with(Role::FinanceOfficer, &format!("/api/v1/items/{item}/{what}"), b, &all).await
}

/// Takes a year's books one step as `token`, naming the current ETag.
async fn book_action(app: &TestApp, token: &str, year: i32, action: &str, b: Value) -> Response {
    let tag = etag_of(app, &format!("/api/v1/books/{year}")).await;
    app.send(Method::POST, &format!("/api/v1/books/{year}/{action}"), Some(token), Some(b), &[("If-Match", &tag)]).await
}

async fn books_of(app: &TestApp, year: i32) -> Value {
    body(app.get_as(Role::Clerk, &format!("/api/v1/books/{year}")).await).await
}

fn subject_of(token: &str) -> String {
    use base64::Engine;
    let claims = token.split('.').nth(1).unwrap();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap();
    serde_json::from_slice::<Value>(&claims).unwrap()["sub"].as_str().unwrap().to_owned()
}

/// A year with history: fee funds for 2022 and 2023, a unit that declared, paid and remitted in
/// 2022, township grants allocated by formula (one item disbursed and used), and a basic line
/// funded and spent.
struct History {
    unit: uuid::Uuid,
    hardship: String,
    grant_fund: String,
    used_item: String,
    allocated_item: String,
    basic_line: String,
    basic_fund: String,
}

async fn history(app: &TestApp) -> History {
    fund(app, "union_fee", 2022, "1500000.00").await;
    fund(app, "union_fee", 2023, "1500000.00").await;
    let hardship = fund(app, "hardship", 2022, "60000.00").await;
    let grant_fund = fund(app, "township_grant", 2022, "280000.00").await;
    let unit = app.org("unit").await;
    let declare = json!({"org_id": unit, "period": "2022-01", "payroll_total": "100000.00"});
    assert_eq!(app.post_as(Role::FinanceOfficer, DECLARE, declare).await.status(), 201);
    let pay = json!({"org_id": unit, "period": "2022-01", "amount": "2000.00", "reference": "PAY-2022-01"});
    assert_eq!(app.post_as(Role::FinanceBureau, PAY, pay).await.status(), 201);
    let remit = json!({"org_id": unit, "period": "2022-01", "amount": "800.00"});
    assert_eq!(app.post_as(Role::FinanceOfficer, REMIT, remit).await.status(), 201);

    let townships =
        json!([{"org_id": app.org("township").await, "members": 100}, {"org_id": app.org("t2").await, "members": 100}]);
    let formula =
        json!({"fund_id": grant_fund, "total": "30000.00", "base_per_township": "10000.00", "townships": townships});
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/township-grants/formula", formula).await;
    assert_eq!(r.status(), 201);
    let grants = body(r).await;
    let used_item = grants["grants"][0]["item_id"].as_str().unwrap().to_owned();
    let allocated_item = grants["grants"][1]["item_id"].as_str().unwrap().to_owned();
    let pay_out = json!({"amount": "10000.00", "payee": "琼湖街道总工会", "method": "bank_transfer"});
    assert_eq!(stage(app, &used_item, "disbursements", pay_out, &[]).await.status(), 201);
    let used = json!({"amount": "9000.00", "description": "training", "voucher_no": "QH-2022-001"});
    assert_eq!(stage(app, &used_item, "uses", used, &[]).await.status(), 201);

    let line = json!({"code": "basic_goods", "name": "一般商品和服务支出", "kind": "basic", "budget": "50000.00"});
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/budgets/2022/lines", line).await;
    assert_eq!(r.status(), 201);
    let line = body(r).await;
    let (basic_line, basic_fund) =
        (line["id"].as_str().unwrap().to_owned(), line["fund_id"].as_str().unwrap().to_owned());
    let appropriation = json!({"line_id": basic_line, "amount": "50000.00", "reference": "沅财预〔2022〕1号", "received_on": "2022-03-01"});
    assert_eq!(
        app.post_as(Role::FinanceBureau, "/api/v1/budgets/2022/appropriations", appropriation).await.status(),
        201
    );
    let spend = json!({"amount": "1200.00", "description": "office supplies", "spent_on": "2022-04-01"});
    let r = app
        .post_as(Role::FinanceOfficer, &format!("/api/v1/budgets/2022/lines/{basic_line}/expenditures"), spend)
        .await;
    assert_eq!(r.status(), 201);
    History { unit, hardship, grant_fund, used_item, allocated_item, basic_line, basic_fund }
}

/// Journal entries of a year's funds.
fn entries_of(app: &TestApp, year: i32) -> i64 {
    app.count(&format!(
        "SELECT count(*) AS n FROM journal_entries j JOIN funds f ON f.id = j.fund_id WHERE f.year = {year}"
    ))
}

async fn close_2022(app: &TestApp) {
    let finance = app.token(Role::FinanceOfficer).await;
    let leader = app.token(Role::Leader).await;
    let r = book_action(app, &finance, 2022, "close", json!({"reason": "2022年度决算完成"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(book_action(app, &leader, 2022, "approve", json!({})).await).await["state"], "closed");
}

#[tokio::test]
async fn a_year_closes_in_order_by_a_finance_request_and_a_leaders_approval_never_the_same_person() {
    let app = spawn_app().await;
    history(&app).await;
    let finance = app.token(Role::FinanceOfficer).await;
    let leader = app.token(Role::Leader).await;

    // Never asked: open, version 0.
    let y = books_of(&app, 2022).await;
    assert_eq!((y["state"].as_str(), y["version"].as_i64()), (Some("open"), Some(0)));
    assert_eq!((y["adjusting"]["entries"].as_i64(), y["adjusting"]["total"].as_str()), (Some(0), Some("0.00")));
    assert_eq!(etag_of(&app, "/api/v1/books/2022").await, "\"0\"");

    // Roles, If-Match, a reason, and order come first.
    let reason = json!({"reason": "year end"});
    for role in [Role::Clerk, Role::Leader, Role::FinanceBureau, Role::Auditor] {
        problem(
            app.post_with(role, "/api/v1/books/2022/close", reason.clone(), &[("If-Match", "\"0\"")]).await,
            403,
            "forbidden",
        )
        .await;
    }
    problem(
        app.post_as(Role::FinanceOfficer, "/api/v1/books/2022/close", reason.clone()).await,
        428,
        "precondition_required",
    )
    .await;
    problem(
        app.post_with(Role::FinanceOfficer, "/api/v1/books/2022/close", reason.clone(), &[("If-Match", "\"3\"")]).await,
        412,
        "precondition_failed",
    )
    .await;
    let p =
        problem(book_action(&app, &finance, 2022, "close", json!({"reason": "  "})).await, 422, "validation_failed")
            .await;
    assert_eq!(fields(&p), ["reason"]);
    let p = problem(book_action(&app, &finance, 2023, "close", reason.clone()).await, 409, "previous_year_open").await;
    assert!(p["detail"].as_str().unwrap().contains("2022"), "{p}");
    problem(book_action(&app, &leader, 2022, "approve", json!({})).await, 409, "invalid_transition").await;

    // Asked, then turned down: open again, with the leader's reason. Writes went on meanwhile.
    let r = book_action(&app, &finance, 2022, "close", json!({"reason": "2022年度决算完成"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"1\"");
    let y = body(r).await;
    assert_eq!((y["state"].as_str(), y["reason"].as_str()), (Some("closing"), Some("2022年度决算完成")));
    assert_eq!(y["requested_by"], subject_of(&finance));
    let unit = app.org("unit").await;
    let declare = json!({"org_id": unit, "period": "2022-02", "payroll_total": "50000.00"});
    assert_eq!(app.post_as(Role::FinanceOfficer, DECLARE, declare).await.status(), 201, "closing refuses nothing");
    problem(book_action(&app, &finance, 2022, "reject", json!({"reason": "no"})).await, 403, "forbidden").await;
    problem(book_action(&app, &leader, 2022, "reject", json!({})).await, 422, "validation_failed").await;
    let y = body(book_action(&app, &leader, 2022, "reject", json!({"reason": "待经审会审核"})).await).await;
    assert_eq!((y["state"].as_str(), y["rejection_reason"].as_str()), (Some("open"), Some("待经审会审核")));
    assert_eq!(y["rejected_by"], subject_of(&leader));

    // Asked again by another finance officer, who is then made a leader: it still may not close
    // the year it asked to close.
    let federation = app.federation_id;
    let other = app.user_token("finance_two", Role::FinanceOfficer, federation).await;
    let other_id = subject_of(&other);
    assert_eq!(book_action(&app, &other, 2022, "close", json!({"reason": "决算完成"})).await.status(), 200);
    let admin = app.admin_token().await;
    let user_tag = {
        let r = app.send(Method::GET, &format!("/api/v1/users/{other_id}"), Some(&admin), None, &[]).await;
        r.headers()["etag"].to_str().unwrap().to_owned()
    };
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/users/{other_id}"),
            Some(&admin),
            Some(json!({"role": "leader"})),
            &[("If-Match", &user_tag)],
        )
        .await;
    assert_eq!(r.status(), 200);
    let promoted = body(app.login("finance_two", "password-of-finance_two").await).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    problem(book_action(&app, &promoted, 2022, "approve", json!({})).await, 403, "separation_of_duties").await;

    // The leader closes it; a replay with the same key answers the same and acts once.
    let tag = etag_of(&app, "/api/v1/books/2022").await;
    let headers = [("If-Match", tag.as_str()), ("Idempotency-Key", "close-2022")];
    let r = app.send(Method::POST, "/api/v1/books/2022/approve", Some(&leader), Some(json!({})), &headers).await;
    assert_eq!(r.status(), 200);
    let closed = body(r).await;
    let r = app.send(Method::POST, "/api/v1/books/2022/approve", Some(&leader), Some(json!({})), &headers).await;
    assert_eq!((r.status().as_u16(), r.headers().contains_key("idempotent-replayed")), (200, true));
    assert_eq!(body(r).await, closed);
    assert_eq!((closed["state"].as_str(), closed["version"].as_i64()), (Some("closed"), Some(4)));
    assert_eq!(closed["closed_by"], subject_of(&leader));
    assert_eq!(closed["requested_by"], other_id.as_str());
    assert!(closed["closed_at"].is_string());
    // Closed for good.
    let again = json!({"reason": "again"});
    problem(book_action(&app, &finance, 2022, "close", again.clone()).await, 409, "invalid_transition").await;
    problem(book_action(&app, &leader, 2022, "approve", again.clone()).await, 409, "invalid_transition").await;
    problem(book_action(&app, &leader, 2022, "reject", again).await, 409, "invalid_transition").await;
    // Now 2023 may be asked to close.
    assert_eq!(book_action(&app, &finance, 2023, "close", json!({"reason": "2023年度决算"})).await.status(), 200);

    // The list: every year with books, paginated.
    let page = body(app.get_as(Role::Clerk, "/api/v1/books?limit=1").await).await;
    assert_eq!((page["items"][0]["year"].as_i64(), page["items"][0]["state"].as_str()), (Some(2022), Some("closed")));
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let page = body(app.get_as(Role::Clerk, &format!("/api/v1/books?limit=1&cursor={cursor}")).await).await;
    assert_eq!((page["items"][0]["year"].as_i64(), page["items"][0]["state"].as_str()), (Some(2023), Some("closing")));
    assert!(page["next_cursor"].is_null());

    // The trail: every step, on the year's stream, with who and why.
    let events = body(app.get_as(Role::Auditor, "/api/v1/audit/events?entity_type=book_year").await).await;
    let steps: Vec<(String, String, String)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["stream"] == "books:2022")
        .map(|e| {
            let after: Value =
                serde_json::from_str(e["after"].as_str().unwrap_or("null")).unwrap_or_else(|_| e["after"].clone());
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor_role"].as_str().unwrap().to_owned(),
                after["reason"].as_str().unwrap_or("-").to_owned(),
            )
        })
        .collect();
    let step = |a: &str, r: &str, why: &str| (a.to_owned(), r.to_owned(), why.to_owned());
    assert_eq!(
        steps,
        [
            step("book_year.close_requested", "finance_officer", "2022年度决算完成"),
            step("book_year.close_rejected", "leader", "待经审会审核"),
            step("book_year.close_requested", "finance_officer", "决算完成"),
            step("book_year.closed", "leader", "-"),
        ]
    );
    // Two requests and one approval: three duties (a rejection takes none).
    let duties = "SELECT count(*) AS n FROM case_actors WHERE case_type = 'book_year' \
                  AND case_id = (SELECT id FROM book_years WHERE year = 2022)";
    assert_eq!(app.count(duties), 3);
    app.finish().await;
}

#[tokio::test]
async fn a_closed_year_refuses_every_kind_of_write_dated_in_it_and_the_next_year_goes_on() {
    let app = spawn_app().await;
    let h = history(&app).await;
    close_2022(&app).await;
    // Every caller logged in first: a login of its own would write to the trail.
    let clerk_unit = app.org("township").await;
    app.token(Role::Clerk).await;
    let before = entries_of(&app, 2022);
    let events_before = app.count("SELECT count(*) AS n FROM audit_events");
    let unit = h.unit;

    let closed = |r: Response| problem(r, 409, "period_closed");
    let declare = json!({"org_id": unit, "period": "2022-02", "payroll_total": "50000.00"});
    let p = closed(app.post_as(Role::FinanceOfficer, DECLARE, declare.clone()).await).await;
    assert!(p["detail"].as_str().unwrap().contains("2022"), "{p}");
    // A clerk too, for its own unit's month.
    let own = json!({"org_id": clerk_unit, "period": "2022-02", "payroll_total": "1.00"});
    closed(app.post_as(Role::Clerk, DECLARE, own).await).await;
    // A batch with one row in the closed year is refused whole.
    let rows = json!({"rows": [
        {"org_id": unit, "period": "2023-01", "payroll_total": "10000.00"},
        {"org_id": unit, "period": "2022-12", "payroll_total": "10000.00"}]});
    closed(app.post_as(Role::FinanceBureau, BATCH, rows).await).await;
    closed(
        app.post_as(
            Role::FinanceBureau,
            PAY,
            json!({"org_id": unit, "period": "2022-01", "amount": "1.00", "reference": "PAY-2022-01-b"}),
        )
        .await,
    )
    .await;
    closed(
        app.post_as(Role::FinanceOfficer, REMIT, json!({"org_id": unit, "period": "2022-01", "amount": "1.00"})).await,
    )
    .await;
    // Item stages of a 2022 fund.
    let pay_out = json!({"amount": "100.00", "payee": "x", "method": "cash"});
    closed(stage(&app, &h.allocated_item, "disbursements", pay_out, &[]).await).await;
    closed(stage(&app, &h.used_item, "uses", json!({"amount": "100.00", "description": "more"}), &[]).await).await;
    closed(stage(&app, &h.used_item, "settlement", json!({}), &[]).await).await;
    // Basic expenditure, appropriations, sources, budgets, new funds and lines of 2022.
    let spend = json!({"amount": "1.00", "description": "late invoice", "spent_on": "2022-12-30"});
    closed(
        app.post_as(Role::FinanceOfficer, &format!("/api/v1/budgets/2022/lines/{}/expenditures", h.basic_line), spend)
            .await,
    )
    .await;
    let appropriation =
        json!({"line_id": h.basic_line, "amount": "1.00", "reference": "late", "received_on": "2022-12-31"});
    closed(app.post_as(Role::FinanceBureau, "/api/v1/budgets/2022/appropriations", appropriation).await).await;
    let source = json!({"kind": "upper_allocation", "amount": "1.00", "reference": "UPPER-2022-b"});
    closed(app.post_as(Role::FinanceBureau, &format!("/api/v1/funds/{}/sources", h.hardship), source).await).await;
    let tag = etag_of(&app, &format!("/api/v1/funds/{}", h.grant_fund)).await;
    closed(
        app.patch_with(
            Role::FinanceOfficer,
            &format!("/api/v1/funds/{}", h.grant_fund),
            json!({"budget": "1.00"}),
            &[("If-Match", &tag)],
        )
        .await,
    )
    .await;
    closed(
        app.post_as(
            Role::FinanceOfficer,
            "/api/v1/funds",
            json!({"name": "late", "kind": "hardship", "year": 2022, "budget": "1.00"}),
        )
        .await,
    )
    .await;
    let line = json!({"code": "late", "name": "late", "kind": "basic", "budget": "1.00"});
    closed(app.post_as(Role::FinanceOfficer, "/api/v1/budgets/2022/lines", line).await).await;
    // Nothing of it was written.
    assert_eq!(entries_of(&app, 2022), before);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events"), events_before);
    assert_eq!(
        app.count("SELECT count(*) AS n FROM fee_declarations WHERE period >= '2022-01-01' AND period < '2023-01-01'"),
        1
    );

    // 2023 goes on.
    let next = json!({"org_id": unit, "period": "2023-01", "payroll_total": "100000.00"});
    assert_eq!(app.post_as(Role::FinanceOfficer, DECLARE, next).await.status(), 201);
    let rows = json!({"rows": [{"org_id": unit, "period": "2023-02", "payroll_total": "10000.00"}]});
    assert_eq!(app.post_as(Role::FinanceBureau, BATCH, rows).await.status(), 201);
    assert_eq!(
        app.post_as(
            Role::FinanceBureau,
            PAY,
            json!({"org_id": unit, "period": "2023-01", "amount": "2000.00", "reference": "PAY-2023-01"})
        )
        .await
        .status(),
        201
    );
    assert_eq!(
        app.post_as(Role::FinanceOfficer, REMIT, json!({"org_id": unit, "period": "2023-01", "amount": "800.00"}))
            .await
            .status(),
        201
    );
    let hardship_2023 = fund(&app, "hardship", 2023, "60000.00").await;
    let source = json!({"kind": "upper_allocation", "amount": "100.00", "reference": "UPPER-2023"});
    assert_eq!(
        app.post_as(Role::FinanceBureau, &format!("/api/v1/funds/{hardship_2023}/sources"), source).await.status(),
        201
    );
    assert_eq!(entries_of(&app, 2022), before);
    app.finish().await;
}

#[tokio::test]
async fn a_finance_officers_adjusting_entry_is_accepted_marked_and_shown_and_no_one_elses() {
    let app = spawn_app().await;
    let h = history(&app).await;
    close_2022(&app).await;
    let unit = h.unit;
    let reason = "补记年末发票";
    let encoded: String = reason.bytes().map(|b| format!("%{b:02X}")).collect();

    // A correction of January by the finance office, adjusting: the fee goes from 2,000 to 2,400.
    let correction = json!({"org_id": unit, "period": "2022-01", "payroll_total": "120000.00"});
    let r = app.post_with(Role::FinanceOfficer, DECLARE, correction.clone(), &[(ADJUST, &encoded)]).await;
    assert_eq!(r.status(), 201);
    let d = body(r).await;
    assert_eq!((d["version"].as_i64(), d["fee_due"].as_str()), (Some(2), Some("2400.00")));
    let entry = d["entry_id"].as_str().unwrap().to_owned();
    // The entry is marked with the reason.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) AS n FROM journal_entries WHERE id = '{entry}' AND adjusting_reason = '{reason}'"
        )),
        1
    );
    // The trail says so.
    let events = body(
        app.get_as(
            Role::Auditor,
            &format!("/api/v1/audit/events?entity_type=fee_declaration&entity_id={}", d["id"].as_str().unwrap()),
        )
        .await,
    )
    .await;
    let e = &events["items"][0];
    assert_eq!(e["action"], "fee.declaration_corrected");
    let after: Value = match &e["after"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        other => other.clone(),
    };
    assert_eq!((after["adjusting"].as_bool(), after["adjusting_reason"].as_str()), (Some(true), Some(reason)));
    // The books count it, and list it with its reason and size: its debits, 400.00 in the unit's
    // fee accounts and 160.00 — the 40% remitted upward — in the city's (migration 000022).
    let y = books_of(&app, 2022).await;
    assert_eq!((y["adjusting"]["entries"].as_i64(), y["adjusting"]["total"].as_str()), (Some(1), Some("560.00")));
    let list = body(app.get_as(Role::Auditor, "/api/v1/books/2022/adjustments").await).await;
    let a = &list["items"][0];
    assert_eq!(
        (
            a["entry_id"].as_str(),
            a["adjusting"].as_bool(),
            a["reason"].as_str(),
            a["amount"].as_str(),
            a["entity_id"].as_str()
        ),
        (Some(entry.as_str()), Some(true), Some(reason), Some("560.00"), d["id"].as_str())
    );
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    problem(app.get_as(Role::Clerk, "/api/v1/books/2022/adjustments").await, 403, "forbidden").await;

    // An adjusting item stage and expenditure (raw UTF-8 in the header is read too).
    let pay_out = json!({"amount": "100.00", "payee": "x", "method": "cash"});
    assert_eq!(
        stage(&app, &h.allocated_item, "disbursements", pay_out, &[(ADJUST, "late tranche")]).await.status(),
        201
    );
    let spend = json!({"amount": "10.00", "description": "late invoice", "spent_on": "2022-12-30"});
    let r = app
        .post_with(
            Role::FinanceOfficer,
            &format!("/api/v1/budgets/2022/lines/{}/expenditures", h.basic_line),
            spend,
            &[(ADJUST, "late invoice")],
        )
        .await;
    assert_eq!(r.status(), 201);
    let y = books_of(&app, 2022).await;
    assert_eq!((y["adjusting"]["entries"].as_i64(), y["adjusting"]["total"].as_str()), (Some(3), Some("670.00")));
    let list = body(app.get_as(Role::Auditor, "/api/v1/books/2022/adjustments?limit=2").await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert!(list["next_cursor"].is_string());

    // Anyone else sending the header: 403, before anything is looked at.
    for role in [Role::Clerk, Role::FinanceBureau, Role::Leader] {
        let own = json!({"org_id": app.org("township").await, "period": "2022-01", "payroll_total": "1.00"});
        problem(app.post_with(role, DECLARE, own, &[(ADJUST, "mine")]).await, 403, "forbidden").await;
    }
    // Only in closed years, and with a reason.
    let open = json!({"org_id": unit, "period": "2023-01", "payroll_total": "1.00"});
    problem(app.post_with(Role::FinanceOfficer, DECLARE, open, &[(ADJUST, "x")]).await, 409, "period_open").await;
    let mixed = json!({"rows": [
        {"org_id": unit, "period": "2022-03", "payroll_total": "1.00"},
        {"org_id": unit, "period": "2023-03", "payroll_total": "1.00"}]});
    let p =
        problem(app.post_with(Role::FinanceOfficer, BATCH, mixed, &[(ADJUST, "x")]).await, 409, "period_open").await;
    assert!(p["detail"].as_str().unwrap().contains("2023"), "{p}");
    let p = problem(
        app.post_with(Role::FinanceOfficer, DECLARE, correction, &[(ADJUST, "%0A")]).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), [ADJUST]);
    // Nothing else was marked.
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries WHERE adjusting_reason IS NOT NULL"), 3);
    app.finish().await;
}

#[tokio::test]
async fn the_database_refuses_an_entry_in_a_closed_year_whatever_writes_it() {
    let app = spawn_app().await;
    let h = history(&app).await;
    close_2022(&app).await;
    let forged = |fund: &str| {
        format!(
            "INSERT INTO journal_entries (id, kind, fund_id, entity_type, entity_id, request_id, actor, created_at) \
             VALUES ('{}', 'forged', '{fund}', 'fund', '{fund}', 'sql', 'sql', now())",
            uuid::Uuid::new_v4()
        )
    };
    // As the owner, straight into the table: refused, naming the rule.
    for fund in [&h.hardship, &h.grant_fund, &h.basic_fund] {
        let err = app.db.conn().batch_execute(&forged(fund)).unwrap_err().to_string();
        assert!(err.contains("closed"), "{err}");
    }
    // A fund of an open year is not refused by it (the balance check refuses this one later).
    let open = fund(&app, "hardship", 2023, "1.00").await;
    let err = app.db.conn().batch_execute(&format!("BEGIN; {}; COMMIT;", forged(&open))).unwrap_err().to_string();
    assert!(err.contains("does not balance"), "{err}");
    // A closed year stays closed, even for the owner.
    let err =
        app.db.conn().batch_execute("UPDATE book_years SET state = 'open' WHERE year = 2022").unwrap_err().to_string();
    assert!(err.contains("closed for good"), "{err}");
    let err = app.db.conn().batch_execute("DELETE FROM book_years WHERE year = 2022").unwrap_err().to_string();
    assert!(err.contains("closed for good"), "{err}");
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries WHERE kind = 'forged'"), 0);
    app.finish().await;
}

#[tokio::test]
async fn a_close_waits_for_the_writes_under_way_and_the_writes_after_it_see_the_year_closed() {
    let app = spawn_app().await;
    let h = history(&app).await;
    let finance = app.token(Role::FinanceOfficer).await;
    let leader = app.token(Role::Leader).await;
    assert_eq!(book_action(&app, &finance, 2022, "close", json!({"reason": "year end"})).await.status(), 200);
    let tag = etag_of(&app, "/api/v1/books/2022").await;

    // A write dated in 2022 under way: it holds the year's lock shared until it commits.
    let mut writer = app.db.conn();
    writer.batch_execute("BEGIN; SELECT book_year_state(2022);").unwrap();
    let if_match = [("If-Match", tag.as_str())];
    let approve = app.send(Method::POST, "/api/v1/books/2022/approve", Some(&leader), Some(json!({})), &if_match);
    let declare = async {
        // Asked after the close, so queued behind it.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let b = json!({"org_id": h.unit, "period": "2022-05", "payroll_total": "1000.00"});
        app.post_as(Role::FinanceOfficer, DECLARE, b).await
    };
    let release = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        // Neither got through while the write was under way.
        assert_eq!(app.count("SELECT count(*) AS n FROM book_years WHERE state = 'closed'"), 0);
        assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations WHERE period = '2022-05-01'"), 0);
        writer.batch_execute("COMMIT").unwrap();
    };
    let (approved, declared, ()) = tokio::join!(approve, declare, release);
    assert_eq!(approved.status(), 200);
    assert_eq!(body(approved).await["state"], "closed");
    problem(declared, 409, "period_closed").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations WHERE period = '2022-05-01'"), 0);
    app.finish().await;
}
