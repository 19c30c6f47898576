//! `/api/v1/reports/...`.

use actix_web::web::{Data, Query};
use actix_web::{HttpResponse, get};
use serde::Deserialize;

use super::extract::{Authorized, perm};
use crate::AppState;
use crate::error::{Error, Problem};
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
/// with its code, description, pass or fail, and the figures behind it.
#[utoipa::path(get, path = "/api/v1/reports/checks", tag = "reports", params(YearQuery),
    responses((status = 200, body = ChecksView), (status = "4XX", body = Problem)), security(("bearer" = [])))]
#[get("/api/v1/reports/checks")]
pub async fn get_checks(
    state: Data<AppState>,
    _caller: Authorized<perm::ReadReports>,
    q: Query<YearQuery>,
) -> Result<HttpResponse, Error> {
    if !(2000..=2100).contains(&q.year) {
        return Err(Error::invalid("year", "must be between 2000 and 2100"));
    }
    Ok(HttpResponse::Ok().json(reports::checks(&state.pool, q.year).await?))
}
