//! The permission matrix: every operation of the OpenAPI document, called over HTTP as every role
//! and as a clerk of another organisation, checked against the README's "Who may do what" table.
//!
//! Where each expectation comes from, so that the README, the code and this test cannot drift:
//! - The README's table says, per row, which roles hold it and (last column) which
//!   `policy::Permission`s the row is. The test parses it, and checks it against
//!   `policy::allows` for every permission and every role.
//! - `OPERATIONS` below gives, per operationId, the permission it needs: one line per operation.
//!   The set of operationIds must equal the document's, so an operation added without its line
//!   fails this test (and one whose permission the README does not name, too).
//! - Each call then tells: a role without the permission is answered 403 `forbidden`; a role with
//!   it anything but 401, 403 or 5xx. Bodies are `{}` and no `If-Match` is sent: a 422 or a 428
//!   still proves the caller passed the permission check, because authorisation comes first
//!   (nothing here moves money). A clerk of another organisation asking for an object of the
//!   clerk's own organisation is answered 404, so existence never leaks.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use reqwest::Method;
use serde_json::json;
use unionfund::domain::policy::{Permission, Role, allows};

use crate::helpers::*;

/// Whose object an operation's path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Path {
    /// No object, or one every permitted role sees (a fund, a campaign, a budget line, a user).
    Shared,
    /// An object of one organisation (the home clerk's): another organisation's clerk gets 404.
    Owned,
    /// The caller's own user (`{id}` is the caller's `sub`): what every person may do to itself.
    Own,
}
use Path::{Own, Owned, Shared};

/// Needs no token (log in, health).
const PUBLIC: &str = "public";
/// Needs a token, whatever its role (on the caller's own user).
const ANY_CALLER: &str = "any caller";

/// operationId → the `policy::Permission` it needs (as named in the README's table, or `PUBLIC`)
/// and whose object its path names. **A new operation needs one line here.**
const OPERATIONS: &[(&str, &str, Path)] = &[
    ("healthz", PUBLIC, Shared),
    ("readyz", PUBLIC, Shared),
    ("create_token", PUBLIC, Shared),
    // organisations, people, clients
    ("list_orgs", "ReadOrgs", Shared),
    ("create_org", "ManageOrgs", Shared),
    ("get_org", "ReadOrgs", Owned),
    ("update_org", "ManageOrgs", Owned),
    ("list_users", "ManageUsers", Shared),
    ("create_user", "ManageUsers", Shared),
    ("get_user", "ManageUsers", Shared),
    ("list_clients", "ManageUsers", Shared),
    ("create_client", "ManageUsers", Shared),
    ("update_user", "ManageUsers", Shared),
    ("set_password", ANY_CALLER, Own),
    ("get_client", "ManageUsers", Shared),
    ("update_client", "ManageUsers", Shared),
    ("rotate_client_secret", "ManageUsers", Shared),
    // funds
    ("list_funds", "ReadFunds", Shared),
    ("create_fund", "ManageFunds", Shared),
    ("get_fund", "ReadFunds", Shared),
    ("update_fund", "ManageFunds", Shared),
    ("list_sources", "ReadFunds", Shared),
    ("create_source", "PostFundSources", Shared),
    // union fees
    ("list_fee_rates", "ReadFees", Shared),
    ("create_fee_rate", "ManageFeeRates", Shared),
    ("list_declarations", "ReadFees", Shared),
    ("create_declaration", "DeclareFees", Shared),
    ("create_declaration_batch", "DeclareFeeBatches", Shared),
    ("create_fee_payment", "RecordFeePayments", Shared),
    ("create_fee_remittance", "RecordFeePayments", Shared),
    // The finance officer alone, among the holders, records it (the service's 403
    // reserved_to_finance_office comes after the body is read: an empty one is a 422 for all).
    ("create_remit_refund", "RecordFeePayments", Shared),
    ("create_fee_payment_batch", "RecordFeePayments", Shared),
    ("create_fee_remittance_batch", "RecordFeePayments", Shared),
    ("create_upper_remittance", "RecordFeePayments", Shared),
    ("get_statement", "ReadFees", Shared),
    ("get_fee_summary", "ReadFees", Shared),
    // hardship applications
    ("list_applications", "ReadHardship", Shared),
    ("create_application", "FileHardship", Shared),
    ("get_application", "ReadHardship", Owned),
    ("update_application", "FileHardship", Owned),
    ("submit_application", "FileHardship", Owned),
    ("withdraw_application", "FileHardship", Owned),
    ("review_application", "ReviewHardship", Owned),
    ("approve_application", "ReviewHardship", Owned),
    ("reject_application", "ReviewHardship", Owned),
    ("return_application", "ReviewHardship", Owned),
    ("override_duplicate", "OverrideDuplicates", Owned),
    ("reveal_application", "RevealPii", Owned),
    // campaigns
    ("list_campaigns", "ReadHardship", Shared),
    ("create_campaign", "ManageCampaigns", Shared),
    ("get_campaign", "ReadHardship", Shared),
    ("list_beneficiaries", "ReadHardship", Shared),
    ("add_beneficiaries", "ManageCampaigns", Shared),
    ("approve_campaign", "ApproveCampaigns", Shared),
    ("disburse_campaign", "MoveItemMoney", Shared),
    ("bank_file", "MoveItemMoney", Shared),
    ("record_bank_results", "MoveItemMoney", Shared),
    // township grants
    ("list_grants", "ReadGrants", Shared),
    ("create_grant", "FileGrants", Shared),
    ("allocate_by_formula", "MoveItemMoney", Shared),
    ("get_grant", "ReadGrants", Owned),
    ("submit_grant", "SubmitGrants", Owned),
    ("withdraw_grant", "SubmitGrants", Owned),
    ("review_grant", "ReviewGrants", Owned),
    ("approve_grant", "ReviewGrants", Owned),
    ("reject_grant", "ReviewGrants", Owned),
    ("return_grant", "ReviewGrants", Owned),
    // items
    ("list_items", "ReadItems", Shared),
    ("get_item", "ReadItems", Owned),
    ("get_trace", "ReadItems", Owned),
    ("create_allocation", "MoveItemMoney", Owned),
    ("create_disbursement", "MoveItemMoney", Owned),
    ("create_use", "RecordItemUse", Owned),
    ("create_settlement", "MoveItemMoney", Owned),
    // budgets, assets, reports
    ("list_lines", "ReadReports", Shared),
    ("create_line", "ManageBudget", Shared),
    ("get_line", "ReadReports", Shared),
    ("update_line", "ManageBudget", Shared),
    ("list_appropriations", "ReadReports", Shared),
    ("create_appropriation", "PostFundSources", Shared),
    ("list_expenditures", "ReadReports", Shared),
    ("create_expenditure", "ManageBudget", Shared),
    ("list_assets", "ReadReports", Shared),
    ("create_asset", "ManageBudget", Shared),
    ("get_checks", "ReadReports", Shared),
    ("get_performance", "ReadReports", Shared),
    // closed years
    ("list_books", "ReadBooks", Shared),
    ("get_book_year", "ReadBooks", Shared),
    ("request_year_close", "RequestYearClose", Shared),
    ("approve_year_close", "ApproveYearClose", Shared),
    ("reject_year_close", "ApproveYearClose", Shared),
    ("list_adjustments", "ReadReports", Shared),
    // the audit trail
    ("list_audit_events", "ReadAudit", Shared),
    ("verify_audit", "ReadAudit", Shared),
    ("export_audit", "ReadAudit", Shared),
    ("list_checkpoints", "ReadAudit", Shared),
    ("latest_checkpoint", "ReadAudit", Shared),
    ("create_checkpoint", "TakeCheckpoint", Shared),
    ("get_log", "ReadAudit", Shared),
    ("get_log_key", "ReadAudit", Shared),
    ("get_inclusion_proof", "ReadAudit", Shared),
    ("get_consistency_proof", "ReadAudit", Shared),
];

/// Operations known to answer 5xx on the demo data whoever calls them, with why. The test fails
/// when one of them stops doing so, so that its line goes with the fix.
const KNOWN_5XX: &[(&str, &str)] = &[];

/// The README's "Who may do what": permission name → the roles holding it.
fn readme_table() -> BTreeMap<String, HashSet<Role>> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme.split_once("### Who may do what").expect("the README has a \"Who may do what\" section").1;
    let rows: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and its rule
        .collect();
    assert!(rows.len() > 10, "the README's permission table was not found");
    let mut table: BTreeMap<String, HashSet<Role>> = BTreeMap::new();
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 3, "a row of the README's permission table has three cells: {row}");
        let names: Vec<&str> = cells[2].split('`').skip(1).step_by(2).collect();
        if names.is_empty() {
            continue; // a row about no permission (log in, health)
        }
        let roles = roles_of(cells[1]).unwrap_or_else(|e| panic!("README row {row}: {e}"));
        for name in names {
            if let Some(before) = table.insert(name.to_owned(), roles.clone()) {
                assert_eq!(before, roles, "README: `{name}` is in two rows that name different roles");
            }
        }
    }
    table
}

/// The roles of a README cell: `clerk (own unit only), finance_officer — then …`, `everyone`,
/// `everyone but admin (…)`. Notes in parentheses and after a dash are the README's comments.
fn roles_of(cell: &str) -> Result<HashSet<Role>, String> {
    let mut text = String::new();
    let mut depth = 0;
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            c if depth == 0 => text.push(c),
            _ => {}
        }
    }
    let text = text.split(" — ").next().unwrap_or_default().trim();
    let (all, listed) = match text.strip_prefix("everyone") {
        Some(rest) => (true, rest.trim().strip_prefix("but").unwrap_or(rest)),
        None => (false, text),
    };
    let mut named = HashSet::new();
    for name in listed.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        named.insert(Role::parse(name).ok_or_else(|| format!("`{name}` is not a role"))?);
    }
    Ok(if all { Role::ALL.into_iter().filter(|r| !named.contains(r)).collect() } else { named })
}

fn permission(name: &str) -> Option<Permission> {
    Permission::ALL.into_iter().find(|p| format!("{p:?}") == name)
}

#[test]
fn the_readme_table_is_the_policy_table() {
    let table = readme_table();
    for p in Permission::ALL {
        let name = format!("{p:?}");
        let roles = table.get(&name).unwrap_or_else(|| panic!("README: no row of \"Who may do what\" names `{name}`"));
        for role in Role::ALL {
            assert_eq!(allows(role, p), roles.contains(&role), "`{name}` for {role}: README and policy.rs differ");
        }
    }
    for name in table.keys() {
        assert!(permission(name).is_some(), "README names `{name}`, which is no policy::Permission (nor in ALL)");
    }
}

/// Every operation of the document: (method, path template, operationId).
fn operations() -> Vec<(Method, String, String)> {
    let doc = serde_json::to_value(unionfund::http::openapi::document()).unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Ok(m) = Method::from_bytes(method.to_uppercase().as_bytes()) else { continue };
            if let Some(id) = op["operationId"].as_str() {
                out.push((m, path.clone(), id.to_owned()));
            }
        }
    }
    out
}

#[test]
fn every_operation_has_a_line_in_the_matrix() {
    let documented: BTreeSet<String> = operations().into_iter().map(|(_, _, id)| id).collect();
    let listed: BTreeSet<String> = OPERATIONS.iter().map(|(id, _, _)| (*id).to_owned()).collect();
    assert_eq!(OPERATIONS.len(), listed.len(), "an operationId is listed twice in OPERATIONS");
    let missing: Vec<_> = documented.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&documented).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "tests/permissions.rs OPERATIONS differs from the OpenAPI document: add a line \
         (\"operation_id\", \"Permission\", Shared | Owned) for {missing:?}; remove {stale:?}"
    );
    let table = readme_table();
    for (id, perm, _) in OPERATIONS {
        assert!(
            matches!(*perm, PUBLIC | ANY_CALLER) || table.contains_key(*perm),
            "{id} needs `{perm}`, which the README's table does not name"
        );
    }
}

/// The objects the paths name, made or found in the demo data.
struct Objects(BTreeMap<&'static str, String>);

impl Objects {
    /// The path with every `{parameter}` replaced by an object of the kind the segment before it
    /// names. **A path parameter of a new kind needs a line in `kind`.**
    fn fill(&self, template: &str) -> Result<String, String> {
        let mut out = Vec::new();
        let segments: Vec<&str> = template.split('/').collect();
        for (i, seg) in segments.iter().enumerate() {
            if !seg.starts_with('{') {
                out.push((*seg).to_owned());
                continue;
            }
            let kind = match (*seg, i.checked_sub(1).map(|j| segments[j])) {
                ("{year}", _) => "year",
                ("{seq}", _) => "seq",
                (_, Some("orgs")) => "org",
                (_, Some("users")) => "user",
                (_, Some("clients")) => "client",
                (_, Some("funds")) => "fund",
                (_, Some("applications")) => "application",
                (_, Some("campaigns")) => "campaign",
                (_, Some("township-grants")) => "grant",
                (_, Some("items")) => "item",
                (_, Some("lines")) => "line",
                (_, prev) => return Err(format!("no object for {seg} after {prev:?} in {template}: add one")),
            };
            out.push(self.0[kind].clone());
        }
        Ok(out.join("/"))
    }
}

/// What a call must answer.
#[derive(Debug)]
enum Expect {
    /// 403 `forbidden`: the role lacks the permission.
    Forbidden,
    /// 404 `not_found`: another organisation's object.
    NotFound,
    /// Anything but 401, 403 or 5xx: past the permission check, refused (if at all) for its body,
    /// its missing `If-Match` or the object's state.
    Passes,
}

/// The subject (`sub`) a token names.
fn subject_of(token: &str) -> String {
    use base64::Engine;
    let claims = token.split('.').nth(1).unwrap();
    let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(claims).unwrap();
    serde_json::from_slice::<serde_json::Value>(&claims).unwrap()["sub"].as_str().unwrap().to_owned()
}

async fn first_id(app: &TestApp, role: Role, path: &str, field: &str) -> String {
    let list = body(app.get_as(role, path).await).await;
    list["items"][0][field].as_str().unwrap_or_else(|| panic!("no object at {path} for {role}: {list}")).to_owned()
}

#[tokio::test]
async fn every_operation_answers_every_role_as_the_readme_says() {
    let app = spawn_demo_app().await;
    let table = readme_table();

    // One object of each kind: the home clerk's own where it has an organisation.
    let clerk = app.token(Role::Clerk).await;
    let org = first_id(&app, Role::Clerk, "/api/v1/orgs", "id").await;
    let fund = first_id(&app, Role::Clerk, "/api/v1/funds?kind=hardship&year=2023", "id").await;
    let application = json!({"fund_id": fund, "org_id": org, "worker_name": "李春梅", "id_number": "11010519491231002X",
        "category": "illness", "level": "deep", "requested_amount": "2000.00", "reason": "hospital costs"});
    let r = app.send(Method::POST, "/api/v1/hardship/applications", Some(&clerk), Some(application), &[]).await;
    assert_eq!(r.status(), 201);
    let application = body(r).await["id"].as_str().unwrap().to_owned();
    // A grant of its own, below the leader threshold (the demo's formula grants are above it, and
    // an organisation officer approving one would be refused for the amount, not the role).
    let grant_fund = first_id(&app, Role::Clerk, "/api/v1/funds?kind=township_grant&year=2022", "id").await;
    let grant =
        json!({"fund_id": grant_fund, "org_id": org, "purpose": "workers' library", "requested_amount": "800.00"});
    let r = app.send(Method::POST, "/api/v1/township-grants", Some(&clerk), Some(grant), &[]).await;
    assert_eq!(r.status(), 201);
    let objects = Objects(BTreeMap::from([
        ("year", "2022".to_owned()),
        ("seq", "1".to_owned()),
        ("application", application),
        ("org", org.clone()),
        ("fund", fund),
        ("grant", body(r).await["id"].as_str().unwrap().to_owned()),
        ("item", first_id(&app, Role::Clerk, "/api/v1/items", "id").await),
        ("campaign", first_id(&app, Role::Leader, "/api/v1/hardship/campaigns", "id").await),
        ("line", first_id(&app, Role::FinanceOfficer, "/api/v1/budgets/2022/lines", "id").await),
        ("user", first_id(&app, Role::Admin, "/api/v1/users", "id").await),
        ("client", first_id(&app, Role::Admin, "/api/v1/clients", "client_id").await),
    ]));
    for kind in ["grant", "item"] {
        let path =
            objects.fill(&format!("/api/v1/{}/{{id}}", if kind == "grant" { "township-grants" } else { "items" }));
        let found = body(app.get_as(Role::Auditor, &path.unwrap()).await).await;
        assert_eq!(found["org_id"].as_str(), Some(org.as_str()), "the {kind} is the home clerk's");
    }

    // A token per role, and one for a clerk of another organisation (a member unit's).
    let mut callers: Vec<(String, Option<Role>, String)> = Vec::new();
    for role in Role::ALL {
        callers.push((role.as_str().to_owned(), Some(role), app.token(role).await));
    }
    let r = app.login("unit_clerk", unionfund::service::demo::DEMO_PASSWORD).await;
    assert_eq!(r.status(), 200);
    let other_clerk = body(r).await["access_token"].as_str().unwrap().to_owned();
    callers.push(("another organisation's clerk".into(), None, other_clerk));

    let mut failures = Vec::new();
    let mut calls = 0;
    for (method, template, id) in operations() {
        let Some((_, perm, owner)) = OPERATIONS.iter().find(|(op, _, _)| *op == id) else { continue };
        let path = match objects.fill(&template) {
            Ok(p) => p,
            Err(e) => {
                failures.push(e);
                continue;
            }
        };
        let holders: HashSet<Role> =
            if matches!(*perm, PUBLIC | ANY_CALLER) { Role::ALL.into() } else { table[*perm].clone() };
        let known_5xx = KNOWN_5XX.iter().any(|(op, _)| *op == id);
        for (who, role, token) in &callers {
            let body_of = matches!(method, Method::POST | Method::PUT | Method::PATCH).then(|| json!({}));
            let path = if *owner == Own { path.replace(&objects.0["user"], &subject_of(token)) } else { path.clone() };
            let r = app.send(method.clone(), &path, Some(token), body_of, &[]).await;
            calls += 1;
            let status = r.status().as_u16();
            let code =
                if matches!(status, 403 | 404) { body(r).await["code"].as_str().map(str::to_owned) } else { None };
            let permitted = holders.contains(&role.unwrap_or(Role::Clerk));
            let expected = match (permitted, role, owner) {
                (false, _, _) => Expect::Forbidden,
                (true, None, Owned) => Expect::NotFound,
                (true, _, _) => Expect::Passes,
            };
            let ok = match expected {
                Expect::Forbidden => status == 403 && code.as_deref() == Some("forbidden"),
                Expect::NotFound => status == 404 && code.as_deref() == Some("not_found"),
                Expect::Passes if known_5xx => status == 500,
                Expect::Passes => !matches!(status, 401 | 403 | 500..=599),
            };
            if !ok {
                let known = if known_5xx { " (listed in KNOWN_5XX: fixed? remove its line)" } else { "" };
                failures.push(format!(
                    "{id} ({method} {template}) as {who}: {status} {code:?}, expected {expected:?}{known}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {calls} calls differ from the README:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(calls >= OPERATIONS.len() * callers.len(), "every operation was called by every caller");
    app.finish().await;
}

/// docs/API.md's permission table: `| `Perm`, `Perm` | roles |`.
fn api_docs_table() -> BTreeMap<String, HashSet<Role>> {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
    let section = docs.split_once("### Permissions").expect("docs/API.md has a \"Permissions\" section").1;
    let rows: Vec<&str> =
        section.lines().skip_while(|l| !l.starts_with('|')).take_while(|l| l.starts_with('|')).skip(2).collect();
    assert!(rows.len() > 10, "docs/API.md's permission table was not found");
    let mut table = BTreeMap::new();
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 2, "a row of docs/API.md's permission table has two cells: {row}");
        let roles = roles_of(cells[1]).unwrap_or_else(|e| panic!("docs/API.md row {row}: {e}"));
        for name in cells[0].split('`').skip(1).step_by(2) {
            assert!(table.insert(name.to_owned(), roles.clone()).is_none(), "docs/API.md names `{name}` twice");
        }
    }
    table
}

#[test]
fn the_api_docs_permission_table_is_the_policy_table() {
    let table = api_docs_table();
    for p in Permission::ALL {
        let name = format!("{p:?}");
        let roles = table.get(&name).unwrap_or_else(|| panic!("docs/API.md: no row of \"Permissions\" names `{name}`"));
        for role in Role::ALL {
            assert_eq!(allows(role, p), roles.contains(&role), "`{name}` for {role}: docs/API.md and policy.rs differ");
        }
    }
    for name in table.keys() {
        assert!(permission(name).is_some(), "docs/API.md names `{name}`, which is no policy::Permission");
    }
}

/// Every operation of the document has a row in docs/API.md's endpoint tables, naming the
/// permission it needs (the same as `OPERATIONS`, which the matrix test calls).
#[test]
fn every_operation_is_in_the_api_docs_with_its_permission() {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/API.md")).unwrap();
    // `METHOD /path` → the permission cell of its row.
    let mut rows: BTreeMap<String, String> = BTreeMap::new();
    for line in docs.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 2 {
            continue;
        }
        for code in cells[0].split('`').skip(1).step_by(2) {
            if let Some((method, path)) = code.split_once(' ')
                && method.chars().all(|c| c.is_ascii_uppercase())
            {
                rows.insert(format!("{method} {}", path.split(['?', ' ']).next().unwrap()), cells[1].to_owned());
            }
        }
    }
    let needs: BTreeMap<&str, &str> = OPERATIONS.iter().map(|(id, perm, _)| (*id, *perm)).collect();
    let mut wrong = Vec::new();
    for (method, path, id) in operations() {
        let key = format!("{method} {path}");
        match (rows.get(&key), needs.get(id.as_str())) {
            (None, _) => wrong.push(format!("{key} ({id}): no row in docs/API.md")),
            (Some(cell), Some(&perm)) if perm != PUBLIC && perm != ANY_CALLER && !cell.contains(perm) => {
                wrong.push(format!("{key} ({id}): docs/API.md says `{cell}`, the code needs {perm}"))
            }
            _ => {}
        }
    }
    assert!(wrong.is_empty(), "docs/API.md's endpoint tables differ from the code:\n{}", wrong.join("\n"));
}
