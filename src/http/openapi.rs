//! The OpenAPI document (utoipa), served at `/api-docs/openapi.json` and checked in as
//! `openapi/openapi.json` (a test fails when they differ; `unionfund openapi > openapi/openapi.json`
//! regenerates it).

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
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

#[derive(OpenApi)]
#[openapi(
    info(title = "unionfund", description = "Earmarked money of a city trade-union federation: funds, approvals, a double-entry ledger and a hash-chained audit trail. Money is a string with two decimals; errors are RFC 9457 problem+json with a stable `code`; lists take `limit` and `cursor`; writes take `Idempotency-Key`; state changes take `If-Match`."),
    paths(
        health::healthz, health::readyz, auth::create_token,
        orgs::create_org, orgs::list_orgs, orgs::get_org, orgs::update_org,
        users::create_user, users::list_users, users::get_user, users::update_user, users::set_password,
        users::create_client, users::list_clients, users::get_client, users::update_client, users::rotate_client_secret,
        funds::create_fund, funds::list_funds, funds::get_fund, funds::update_fund, funds::create_source, funds::list_sources,
        fees::list_fee_rates, fees::create_fee_rate, fees::create_declaration, fees::create_declaration_batch, fees::list_declarations, fees::get_statement, fees::get_fee_summary, fees::create_fee_payment, fees::create_fee_remittance,
        campaigns::create_campaign, campaigns::list_campaigns, campaigns::get_campaign, campaigns::add_beneficiaries,
        campaigns::list_beneficiaries, campaigns::approve_campaign, campaigns::disburse_campaign, campaigns::bank_file,
        campaigns::record_bank_results,
        hardship::create_application, hardship::list_applications, hardship::get_application,
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
    components(schemas(crate::error::Problem, crate::domain::FieldError)),
    modifiers(&Security),
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
