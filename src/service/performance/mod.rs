//! The annual budget-performance self-evaluation (`GET /api/v1/reports/performance?year=`),
//! built from the service's own books in one read-only snapshot: the overview, budget and
//! execution per line and project, outputs, year-end carry-over, assets, the checks that fail,
//! and a conclusion written from the checks — never empty. `render` writes it as Markdown or as
//! one self-contained HTML page, in the source document's headings and thousand-yuan figures.
//!
//! The report's shape is in `report`, how it is gathered from the books in `gather`, the
//! conclusion and the figures as the document writes them in `conclusion`.

mod conclusion;
mod gather;
pub mod render;
mod report;

pub use self::conclusion::{check_title, conclusion, thousands};
pub use self::report::{
    AssetLine, Assets, BudgetSection, CampaignOutputView, CarryOver, FailedCheck, FeeOutput, GrantOutputView, Outputs,
    Overview, PerformanceReport, ProjectView, ReportLine,
};
use crate::db::Pool;
use crate::error::Error;

/// Builds the report for `year` in one read-only snapshot.
pub async fn build(pool: &Pool, year: i32) -> Result<PerformanceReport, Error> {
    // The trail's check cites the latest verification: extend it first, over only what was
    // logged since (no full pass over the trail here).
    super::reports::extend_verification(pool).await?;
    super::read(pool, move |conn| conn.snapshot(|conn| gather::gather(conn, year))).await
}
