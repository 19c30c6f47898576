//! `/api/v1/reports/...`.

use actix_web::web::{Data, Query};
use actix_web::{HttpResponse, get};
use serde::Deserialize;
use utoipa::ToSchema;

use super::extract::{Authorized, perm};
use crate::AppState;
use crate::error::{Error, Problem};
use crate::service::limits::HeavyKind;
use crate::service::performance::{self, PerformanceReport, render};
use crate::service::reports::{self, ChecksView};

/// The year asked for.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct YearQuery {
    /// The year, e.g. 2022.
    pub year: i32,
}

/// The reconciliation checks of a year (auditor, finance officer, leader, finance bureau): each
/// with its code, description, pass or fail, and the figures behind it. A heavy read (see
/// `GET /api/v1/audit/verify`): past the caller's or the service's limit, 429 with `Retry-After`.
#[utoipa::path(get, path = "/api/v1/reports/checks", tag = "reports", params(YearQuery),
    responses((status = 200, body = ChecksView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/reports/checks")]
pub async fn get_checks(
    state: Data<AppState>,
    caller: Authorized<perm::ReadReports>,
    q: Query<YearQuery>,
) -> Result<HttpResponse, Error> {
    let year = super::extract::year(q.year)?;
    let permit = state.heavy.try_acquire(&caller, HeavyKind::Query)?;
    let pool = state.pool.clone();
    Ok(HttpResponse::Ok().json(permit.run(async move { reports::checks(&pool, year).await }).await?))
}

/// How the annual report is written.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReportFormat {
    /// JSON (the default).
    Json,
    /// Markdown.
    Md,
    /// One self-contained HTML page.
    Html,
}

/// The year and the format asked for.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PerformanceQuery {
    /// The year, e.g. 2022.
    pub year: i32,
    /// `json` (default), `md` or `html`.
    pub format: Option<ReportFormat>,
}

/// The annual budget-performance self-evaluation of a year (auditor, finance officer, leader,
/// finance bureau): overview, budget and execution per line and project, outputs, carry-over,
/// assets, the checks that fail and a conclusion written from them. `format=md` answers
/// `text/markdown`, `format=html` one self-contained `text/html` page; amounts there are in
/// thousand yuan, headings in Chinese as in the source document. A heavy read (see
/// `GET /api/v1/audit/verify`): past the caller's or the service's limit, 429 with `Retry-After`.
#[utoipa::path(get, path = "/api/v1/reports/performance", tag = "reports", params(PerformanceQuery),
    responses((status = 200, description = "The report, in the format asked for",
            content((PerformanceReport = "application/json"), (String = "text/markdown"), (String = "text/html"))),
        (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/reports/performance")]
pub async fn get_performance(
    state: Data<AppState>,
    caller: Authorized<perm::ReadReports>,
    q: Query<PerformanceQuery>,
) -> Result<HttpResponse, Error> {
    let year = super::extract::year(q.year)?;
    let permit = state.heavy.try_acquire(&caller, HeavyKind::Query)?;
    let pool = state.pool.clone();
    let report = permit.run(async move { performance::build(&pool, year).await }).await?;
    Ok(match q.format.unwrap_or(ReportFormat::Json) {
        ReportFormat::Json => HttpResponse::Ok().json(report),
        ReportFormat::Md => {
            HttpResponse::Ok().content_type("text/markdown; charset=utf-8").body(render::markdown(&report))
        }
        ReportFormat::Html => HttpResponse::Ok().content_type("text/html; charset=utf-8").body(render::html(&report)),
    })
}
