//! The OpenAPI document (utoipa), served at `/api-docs/openapi.json` and checked in as
//! `openapi/openapi.json` (a test fails when they differ; `unionfund openapi > openapi/openapi.json`
//! regenerates it).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Server, Tag};
use utoipa::{Modify, OpenApi};

use super::{
    audit, auth, books, budgets, campaigns, fees, funds, grants, hardship, health, items, orgs, reports, users,
};

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.bearer_format = Some("JWT".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// What a client generator and a linter read beside the operations: where the service is (the
/// origin the document is served from), that an operation without a token needs none (an empty
/// requirement, rather than no statement at all), that errors are `application/problem+json` (as
/// sent, so a generated client parses them as problems), and what each tag holds.
struct Contract;

/// Each tag's description, in the order of the `tags(...)` list.
const TAGS: [(&str, &str); 13] = [
    ("health", "Liveness and readiness, for load balancers; no token."),
    ("auth", "Access tokens for people (password) and systems (client credentials)."),
    ("orgs", "The federation, its township unions and member units."),
    ("users", "People and system clients, their roles, passwords and secrets."),
    ("funds", "Earmarked funds and the sources that fund them."),
    ("union-fees", "Fee rates, monthly payroll declarations, payments, remittances, statements."),
    ("hardship", "Hardship-aid applications and campaigns, with their approvals and bank files."),
    ("township-grants", "Grants to township unions, by application or by formula."),
    ("items", "The money of an approved item: allocation, disbursement, use, settlement, trace."),
    ("budgets", "The year's budget lines, appropriations, expenditures and fixed assets."),
    ("books", "A year's books: closing them, and the adjusting entries posted after."),
    ("reports", "The year's checks and the budget-performance self-evaluation."),
    ("audit", "The hash-chained trail, its Merkle log, checkpoints and proofs."),
];

impl Modify for Contract {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        doc.servers = Some(vec![Server::new("/")]);
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for op in operations.into_iter().flatten() {
                op.security.get_or_insert_with(|| vec![SecurityRequirement::default()]);
                for (status, response) in &mut op.responses.responses {
                    let utoipa::openapi::RefOr::T(response) = response else { continue };
                    if !(status.starts_with('4') || status.starts_with('5')) {
                        continue;
                    }
                    if let Some(content) = response.content.shift_remove("application/json") {
                        response.content.insert("application/problem+json".to_owned(), content);
                    }
                }
            }
        }
        let tags = doc.tags.get_or_insert_with(Vec::new);
        for (name, description) in TAGS {
            match tags.iter_mut().find(|t| t.name == name) {
                Some(tag) => tag.description = Some(description.to_owned()),
                None => {
                    let mut tag = Tag::new(name);
                    tag.description = Some(description.to_owned());
                    tags.push(tag);
                }
            }
        }
    }
}

/// Adds `extract::MONEY_POST_NOTE` to the description of every money-moving `POST`, from the one
/// list that also enforces it (`extract::MONEY_POSTS`).
struct MoneyPosts;

impl Modify for MoneyPosts {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for path in super::extract::MONEY_POSTS {
            if let Some(op) = doc.paths.paths.get_mut(*path).and_then(|item| item.post.as_mut()) {
                let description = op.description.take().unwrap_or_default();
                let sep = if description.is_empty() { "" } else { "\n\n" };
                op.description = Some(format!("{description}{sep}{}", super::extract::MONEY_POST_NOTE));
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "unionfund", description = "Earmarked money of a city trade-union federation: funds, approvals, a double-entry ledger and a hash-chained audit trail. Money is a string with two decimals; errors are RFC 9457 problem+json with a stable `code`; lists take `limit` and `cursor`; writes take `Idempotency-Key`; state changes take `If-Match`."),
    paths(
        health::healthz, health::readyz, auth::create_token,
        orgs::create_org, orgs::list_orgs, orgs::get_org, orgs::update_org,
        users::create_user, users::list_users, users::get_user, users::update_user, users::set_password,
        users::create_client, users::list_clients, users::get_client, users::update_client, users::rotate_client_secret,
        funds::create_fund, funds::list_funds, funds::get_fund, funds::update_fund, funds::create_source, funds::list_sources,
        fees::list_fee_rates, fees::create_fee_rate, fees::create_declaration, fees::create_declaration_batch, fees::list_declarations, fees::get_statement, fees::get_fee_summary, fees::create_fee_payment, fees::create_fee_remittance, fees::create_remit_refund, fees::create_fee_payment_batch, fees::create_fee_remittance_batch, fees::create_upper_remittance,
        campaigns::create_campaign, campaigns::list_campaigns, campaigns::get_campaign, campaigns::add_beneficiaries,
        campaigns::list_beneficiaries, campaigns::approve_campaign, campaigns::disburse_campaign, campaigns::bank_file,
        campaigns::record_bank_results,
        hardship::create_application, hardship::list_applications, hardship::get_application, hardship::update_application,
        hardship::submit_application, hardship::review_application, hardship::approve_application,
        hardship::reject_application, hardship::return_application, hardship::withdraw_application,
        hardship::override_duplicate, hardship::reveal_application,
        grants::create_grant, grants::list_grants, grants::get_grant, grants::submit_grant, grants::review_grant,
        grants::approve_grant, grants::reject_grant, grants::return_grant, grants::withdraw_grant,
        grants::allocate_by_formula,
        items::list_items, items::get_item, items::create_allocation, items::create_disbursement, items::create_use,
        items::create_settlement, items::get_trace,
        budgets::create_line, budgets::list_lines, budgets::get_line, budgets::update_line,
        budgets::create_appropriation, budgets::list_appropriations, budgets::create_expenditure,
        budgets::list_expenditures, budgets::create_asset, budgets::list_assets,
        books::list_books, books::get_book_year, books::request_year_close, books::approve_year_close,
        books::reject_year_close, books::list_adjustments,
        reports::get_checks, reports::get_performance,
        audit::list_audit_events, audit::verify_audit, audit::export_audit, audit::create_checkpoint, audit::list_checkpoints,
        audit::latest_checkpoint, audit::get_log, audit::get_log_key, audit::get_inclusion_proof, audit::get_consistency_proof,
    ),
    components(schemas(crate::error::Problem, crate::domain::FieldError, super::reports::ReportFormat, crate::service::audit::ExportFormat)),
    modifiers(&Security, &Contract, &MoneyPosts),
    tags(
        (name = "health"), (name = "auth"), (name = "orgs"), (name = "users"), (name = "funds"), (name = "union-fees"), (name = "hardship"), (name = "township-grants"), (name = "items"), (name = "budgets"), (name = "books"), (name = "reports"), (name = "audit"),
    )
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as the pretty JSON that is checked in.
pub fn json() -> String {
    document().to_pretty_json().unwrap_or_default() + "\n"
}
