//! The route table.

use actix_web::web::ServiceConfig;
use actix_web::{HttpResponse, web};
use utoipa_swagger_ui::SwaggerUi;

use super::extract::BodyLimit;
use super::{
    audit, auth, books, budgets, campaigns, fees, funds, grants, hardship, health, items, openapi, orgs, reports, users,
};
use crate::error::Error;

/// Registers every route.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(health::healthz)
        .service(health::readyz)
        .service(auth::create_token)
        .service(orgs::create_org)
        .service(orgs::list_orgs)
        .service(orgs::get_org)
        .service(orgs::update_org)
        .service(users::create_user)
        .service(users::list_users)
        .service(users::get_user)
        .service(users::update_user)
        .service(users::set_password)
        .service(users::create_client)
        .service(users::list_clients)
        .service(users::get_client)
        .service(users::update_client)
        .service(users::rotate_client_secret)
        .service(funds::create_fund)
        .service(funds::list_funds)
        .service(funds::get_fund)
        .service(funds::update_fund)
        .service(funds::create_source)
        .service(funds::list_sources)
        .service(fees::list_fee_rates)
        .service(fees::create_fee_rate)
        // Registered before the single declaration's path, with its own body limit.
        .service(
            web::resource("/api/v1/union-fees/declarations/batch")
                .app_data(BodyLimit(fees::BATCH_BODY_LIMIT_BYTES))
                .route(web::post().to(fees::create_declaration_batch)),
        )
        .service(fees::create_declaration)
        .service(fees::list_declarations)
        .service(fees::get_statement)
        .service(fees::get_fee_summary)
        // Before the single payment's and remittance's paths, with the batch body limit.
        .service(
            web::resource("/api/v1/union-fees/payments/batch")
                .app_data(BodyLimit(fees::BATCH_BODY_LIMIT_BYTES))
                .route(web::post().to(fees::create_fee_payment_batch)),
        )
        .service(
            web::resource("/api/v1/union-fees/remittances/batch")
                .app_data(BodyLimit(fees::BATCH_BODY_LIMIT_BYTES))
                .route(web::post().to(fees::create_fee_remittance_batch)),
        )
        .service(fees::create_fee_payment)
        .service(fees::create_fee_remittance)
        .service(fees::create_remit_refund)
        .service(fees::create_upper_remittance)
        .service(campaigns::create_campaign)
        .service(campaigns::list_campaigns)
        .service(campaigns::get_campaign)
        .service(
            web::resource("/api/v1/hardship/campaigns/{id}/beneficiaries")
                .app_data(BodyLimit(campaigns::CAMPAIGN_BODY_LIMIT_BYTES))
                .route(web::post().to(campaigns::add_beneficiaries))
                .route(web::get().to(campaigns::list_beneficiaries)),
        )
        .service(campaigns::approve_campaign)
        .service(campaigns::disburse_campaign)
        .service(campaigns::bank_file)
        .service(
            web::resource("/api/v1/hardship/campaigns/{id}/bank-results")
                .app_data(BodyLimit(campaigns::CAMPAIGN_BODY_LIMIT_BYTES))
                .route(web::post().to(campaigns::record_bank_results)),
        )
        .service(hardship::create_application)
        .service(hardship::list_applications)
        .service(hardship::get_application)
        .service(hardship::update_application)
        .service(hardship::submit_application)
        .service(hardship::review_application)
        .service(hardship::approve_application)
        .service(hardship::reject_application)
        .service(hardship::return_application)
        .service(hardship::withdraw_application)
        .service(hardship::override_duplicate)
        .service(hardship::reveal_application)
        // The formula's path before `{id}`'s.
        .service(grants::allocate_by_formula)
        .service(grants::create_grant)
        .service(grants::list_grants)
        .service(grants::get_grant)
        .service(grants::submit_grant)
        .service(grants::review_grant)
        .service(grants::approve_grant)
        .service(grants::reject_grant)
        .service(grants::return_grant)
        .service(grants::withdraw_grant)
        .service(items::list_items)
        .service(items::get_item)
        .service(items::create_allocation)
        .service(items::create_disbursement)
        .service(items::create_use)
        .service(items::create_settlement)
        .service(items::get_trace)
        .service(budgets::create_line)
        .service(budgets::list_lines)
        .service(budgets::get_line)
        .service(budgets::update_line)
        .service(budgets::create_appropriation)
        .service(budgets::list_appropriations)
        .service(budgets::create_expenditure)
        .service(budgets::list_expenditures)
        .service(budgets::create_asset)
        .service(budgets::list_assets)
        .service(books::list_books)
        .service(books::get_book_year)
        .service(books::request_year_close)
        .service(books::approve_year_close)
        .service(books::reject_year_close)
        .service(books::list_adjustments)
        .service(reports::get_checks)
        .service(reports::get_performance)
        .service(audit::list_audit_events)
        .service(audit::verify_audit)
        .service(audit::export_audit)
        .service(audit::latest_checkpoint)
        .service(audit::create_checkpoint)
        .service(audit::get_log)
        .service(audit::get_log_key)
        .service(audit::get_inclusion_proof)
        .service(audit::get_consistency_proof)
        .service(audit::list_checkpoints)
        .service(SwaggerUi::new("/docs/{_:.*}").url("/api-docs/openapi.json", openapi::document()))
        .route(
            "/docs",
            web::get()
                .to(|| async { HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish() }),
        )
        .default_service(web::to(|| async { Err::<HttpResponse, Error>(Error::NotFound) }));
}
