//! Budget lines, the finance bureau's appropriations, basic expenditure, fixed assets, and the
//! two checks that read them.

use serde_json::{Value, json};
use unionfund::domain::policy::Role;

use crate::helpers::*;

async fn create_line(app: &TestApp, body: Value) -> Value {
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/budgets/2022/lines", body).await;
    assert_eq!(r.status(), 201);
    r.json().await.unwrap()
}

fn check<'a>(checks: &'a Value, code: &str) -> &'a Value {
    checks["items"].as_array().unwrap().iter().find(|c| c["code"] == code).unwrap()
}

#[tokio::test]
async fn lines_appropriations_and_basic_expenditure_move_through_the_ledger_and_the_checks() {
    let app = spawn_app().await;
    let hardship = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let total =
        create_line(&app, json!({"code": "total", "name": "支出预算合计", "kind": "group", "budget": "160000.00"}))
            .await;
    assert_eq!(total["executed"], "0.00");
    let basic = create_line(
        &app,
        json!({"code": "basic_wages", "name": "工资福利支出", "kind": "basic", "parent_code": "total", "budget": "100000.00"}),
    )
    .await;
    // A basic line opens its fund, with the line's budget.
    let basic_fund = basic["fund_id"].as_str().unwrap().to_owned();
    let f = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{basic_fund}")).await).await;
    assert_eq!(
        (f["kind"].as_str(), f["budget"].as_str(), f["year"].as_i64()),
        (Some("basic"), Some("100000.00"), Some(2022))
    );
    let project = create_line(
        &app,
        json!({"code": "project_hardship", "name": "帮扶基金", "kind": "project", "parent_code": "total", "budget": "60000.00", "fund_id": hardship}),
    )
    .await;

    // Refusals when setting lines up.
    let path = "/api/v1/budgets/2022/lines";
    let again = json!({"code": "total", "name": "x", "kind": "group", "budget": "1.00"});
    problem(app.post_as(Role::FinanceOfficer, path, again).await, 409, "duplicate_line").await;
    let second = json!({"code": "other", "name": "x", "kind": "project", "budget": "1.00", "fund_id": hardship});
    problem(app.post_as(Role::FinanceOfficer, path, second).await, 409, "fund_already_budgeted").await;
    let p = problem(
        app.post_as(
            Role::FinanceOfficer,
            path,
            json!({"code": "Bad-Code", "name": " ", "kind": "project", "budget": "1.00"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["code", "name"]);
    let p = problem(
        app.post_as(
            Role::FinanceOfficer,
            path,
            json!({"code": "p2", "name": "x", "kind": "project", "budget": "1.00"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["fund_id"]);
    let p = problem(
        app.post_as(
            Role::FinanceOfficer,
            path,
            json!({"code": "b2", "name": "x", "kind": "basic", "parent_code": "basic_wages", "budget": "1.00"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["parent_code"]);
    let later = body(
        app.post_as(
            Role::FinanceOfficer,
            "/api/v1/funds",
            json!({"name": "2023", "kind": "hardship", "year": 2023, "budget": "1.00"}),
        )
        .await,
    )
    .await;
    let p = problem(
        app.post_as(
            Role::FinanceOfficer,
            path,
            json!({"code": "p3", "name": "x", "kind": "project", "budget": "1.00", "fund_id": later["id"]}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["fund_id"]);
    let p = problem(
        app.post_as(
            Role::FinanceOfficer,
            "/api/v1/funds",
            json!({"name": "x", "kind": "basic", "year": 2022, "budget": "1.00"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["kind"]);
    problem(
        app.post_as(Role::Clerk, path, json!({"code": "c", "name": "x", "kind": "group", "budget": "1.00"})).await,
        403,
        "forbidden",
    )
    .await;

    // Appropriations by the bureau: idempotent by key, unique by reference, leaves only.
    let approp = "/api/v1/budgets/2022/appropriations";
    let money = json!({"line_id": basic["id"], "amount": "100000.00", "reference": "沅财预〔2022〕1号", "received_on": "2022-01-10"});
    let key = [("Idempotency-Key", "bureau-2022-1")];
    let first = app.post_with(Role::FinanceBureau, approp, money.clone(), &key).await;
    assert_eq!(first.status(), 201);
    let first = body(first).await;
    assert_eq!(first["fund_id"], basic_fund.as_str());
    let replay = app.post_with(Role::FinanceBureau, approp, money.clone(), &key).await;
    assert_eq!(replay.status(), 201);
    assert_eq!(replay.headers()["idempotent-replayed"], "true");
    assert_eq!(body(replay).await["id"], first["id"]);
    let p = problem(app.post_as(Role::FinanceBureau, approp, money).await, 409, "duplicate_appropriation").await;
    assert!(p["detail"].as_str().unwrap().contains(first["id"].as_str().unwrap()));
    let to_group = json!({"line_id": total["id"], "amount": "1.00", "reference": "g", "received_on": "2022-01-10"});
    let p = problem(app.post_as(Role::FinanceBureau, approp, to_group).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["line_id"]);
    let matching = json!({"line_id": project["id"], "amount": "60000.00", "reference": "沅财预〔2022〕5号",
        "received_on": "2022-01-10", "source_kind": "local_matching"});
    assert_eq!(app.post_as(Role::FinanceBureau, approp, matching).await.status(), 201);
    let f = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{hardship}")).await).await;
    assert_eq!(f["funded"], "60000.00");
    assert_eq!(f["matching_provided"], "60000.00");
    let listed = body(app.get_as(Role::Auditor, &format!("{approp}?limit=1")).await).await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    assert!(listed["next_cursor"].is_string());

    // Basic expenditure: only on basic lines, only money received, vouchers once.
    let spend = format!("/api/v1/budgets/2022/lines/{}/expenditures", basic["id"].as_str().unwrap());
    let wages =
        json!({"amount": "60000.00", "description": "1–6月工资", "voucher_no": "JB-1", "spent_on": "2022-06-30"});
    assert_eq!(app.post_as(Role::FinanceOfficer, &spend, wages).await.status(), 201);
    let again = json!({"amount": "1.00", "description": "x", "voucher_no": "JB-1", "spent_on": "2022-06-30"});
    problem(app.post_as(Role::FinanceOfficer, &spend, again).await, 409, "duplicate_voucher").await;
    let too_much = json!({"amount": "40000.01", "description": "7–12月工资", "spent_on": "2022-12-30"});
    let p = problem(app.post_as(Role::FinanceOfficer, &spend, too_much).await, 409, "insufficient_funds").await;
    assert!(p["detail"].as_str().unwrap().contains("40000.00"));
    let on_project = format!("/api/v1/budgets/2022/lines/{}/expenditures", project["id"].as_str().unwrap());
    let x = json!({"amount": "1.00", "description": "x", "spent_on": "2022-06-30"});
    problem(app.post_as(Role::FinanceOfficer, &on_project, x.clone()).await, 409, "not_a_basic_line").await;
    problem(app.post_as(Role::Auditor, &spend, x).await, 403, "forbidden").await;

    // Execution is read from the ledger; groups sum their children.
    let line = body(
        app.get_as(Role::FinanceBureau, &format!("/api/v1/budgets/2022/lines/{}", basic["id"].as_str().unwrap())).await,
    )
    .await;
    assert_eq!((line["appropriated"].as_str(), line["executed"].as_str()), (Some("100000.00"), Some("60000.00")));
    assert_eq!(line["execution_rate"], "60.00");
    assert_eq!(line["variance"], "-40000.00");
    let all = body(app.get_as(Role::Auditor, "/api/v1/budgets/2022/lines").await).await;
    let top = &all["items"][0];
    assert_eq!(
        (top["code"].as_str(), top["appropriated"].as_str(), top["executed"].as_str()),
        (Some("total"), Some("160000.00"), Some("60000.00"))
    );
    let f = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{basic_fund}")).await).await;
    assert_eq!((f["used"].as_str(), f["available"].as_str()), (Some("60000.00"), Some("40000.00")));
    let events = app.count("SELECT count(*) AS n FROM audit_events WHERE action IN ('budget_line.created', 'budget.appropriation_received', 'budget.expenditure_recorded')");
    assert_eq!(events, 3 + 2 + 1);

    // The checks: lines add up; execution differs from budget without a word, then with one.
    let checks = body(app.get_as(Role::Auditor, "/api/v1/reports/checks?year=2022").await).await;
    assert_eq!(check(&checks, "budget_lines_add_up")["passed"], true);
    let explained = check(&checks, "budget_execution_explained");
    assert_eq!(explained["passed"], false);
    assert_eq!(explained["figures"]["failing"], 3);
    let lines = body(app.get_as(Role::Auditor, "/api/v1/budgets/2022/lines").await).await;
    for l in lines["items"].as_array().unwrap() {
        let path = format!("/api/v1/budgets/2022/lines/{}", l["id"].as_str().unwrap());
        let tag = format!("\"{}\"", l["version"]);
        let r = app
            .patch_with(Role::FinanceOfficer, &path, json!({"variance_explanation": "年中执行"}), &[("If-Match", &tag)])
            .await;
        assert_eq!(r.status(), 200);
        problem(
            app.patch_with(Role::FinanceOfficer, &path, json!({"name": "x"}), &[("If-Match", &tag)]).await,
            412,
            "precondition_failed",
        )
        .await;
    }
    let checks = body(app.get_as(Role::Auditor, "/api/v1/reports/checks?year=2022").await).await;
    assert_eq!(check(&checks, "budget_execution_explained")["passed"], true);
    // A group whose children do not add up is named.
    create_line(
        &app,
        json!({"code": "extra", "name": "其他", "kind": "group", "parent_code": "total", "budget": "5.00"}),
    )
    .await;
    let checks = body(app.get_as(Role::Auditor, "/api/v1/reports/checks?year=2022").await).await;
    let add_up = check(&checks, "budget_lines_add_up");
    assert_eq!(add_up["passed"], false);
    let codes: Vec<&str> =
        add_up["figures"]["sample"].as_array().unwrap().iter().map(|s| s["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["total", "extra"]);
    assert_eq!(add_up["figures"]["sample"][0]["children"], "160005.00");
    app.finish().await;
}

#[tokio::test]
async fn fixed_assets_are_recorded_and_listed_as_held_on_a_day() {
    let app = spawn_app().await;
    let path = "/api/v1/assets";
    for (category, name, quantity, value, acquired) in
        [("computer", "台式电脑", 8, "36680.00", "2020-06-01"), ("copier", "复印机", 1, "22180.00", "2023-03-01")]
    {
        let r = app.post_as(Role::FinanceOfficer, path, json!({"category": category, "name": name, "quantity": quantity, "value": value, "acquired_on": acquired})).await;
        assert_eq!(r.status(), 201);
    }
    let p = problem(
        app.post_as(
            Role::FinanceOfficer,
            path,
            json!({"category": "printer", "name": "", "quantity": 0, "value": "1.00", "acquired_on": "2020-01-01"}),
        )
        .await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["name", "quantity"]);
    problem(
        app.post_as(
            Role::Clerk,
            path,
            json!({"category": "printer", "name": "x", "quantity": 1, "value": "1.00", "acquired_on": "2020-01-01"}),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let held = body(app.get_as(Role::Auditor, "/api/v1/assets?held_on=2022-12-31").await).await;
    let items = held["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!((items[0]["quantity"].as_i64(), items[0]["value"].as_str()), (Some(8), Some("36680.00")));
    assert_eq!(body(app.get_as(Role::Auditor, path).await).await["items"].as_array().unwrap().len(), 2);
    app.finish().await;
}

#[tokio::test]
async fn a_fund_spent_beyond_its_budget_lists_with_a_negative_available_instead_of_a_500() {
    let app = spawn_demo_app().await;
    // Every page of every role's first call: the demo's 2022 books hold the document's gap.
    let mut funds = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/funds?limit=5&cursor={c}"),
            None => "/api/v1/funds?limit=5".to_owned(),
        };
        let r = app.get_as(Role::Auditor, &path).await;
        assert_eq!(r.status(), 200, "{path}");
        let page = body(r).await;
        funds.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let over: Vec<&serde_json::Value> =
        funds.iter().filter(|f| f["available"].as_str().unwrap().starts_with('-')).collect();
    assert_eq!(over.len(), 1, "one fund is over budget: {over:?}");
    assert_eq!(over[0]["budget"], "0.00");
    assert_eq!(over[0]["available"], "-1091830.00");
    let id = over[0]["id"].as_str().unwrap();
    let one = body(app.get_as(Role::FinanceOfficer, &format!("/api/v1/funds/{id}")).await).await;
    assert_eq!(one["available"], "-1091830.00");
    app.finish().await;
}
