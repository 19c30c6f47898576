//! The report's sections, in the source document's order.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::domain::hardship::CampaignKind;
use crate::domain::money::Money;
use crate::service::budgets::{AssetCategory, LineKind};

/// The organisation (一、部门概况).
#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    /// The federation's name.
    pub name: String,
    /// Its departments (内设股室).
    pub departments: Vec<String>,
    /// Its affiliated institutions (所属事业单位).
    pub affiliated_institutions: Vec<String>,
    /// Township unions.
    pub township_unions: usize,
    /// Grassroots unions.
    pub grassroots_unions: usize,
    /// Member units (paying union fees).
    pub member_units: usize,
}

/// One budget line in the report.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportLine {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: LineKind,
    /// Depth in the tree (0 for a top line).
    pub depth: usize,
    /// Budget.
    pub budget: Money,
    /// Appropriated.
    pub appropriated: Money,
    /// Executed.
    pub executed: Money,
    /// Executed − budget.
    pub variance: String,
    /// Executed as a percentage of the budget.
    pub execution_rate: Option<String>,
    /// The recorded explanation of the variance.
    pub variance_explanation: String,
}

/// The year's budget and its execution (二、部门财政资金收支情况).
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetSection {
    /// The total budget (the top lines together).
    pub budget: Money,
    /// Appropriations received (财政拨款收入).
    pub appropriated: Money,
    /// Executed (支出).
    pub executed: Money,
    /// Executed as a percentage of the budget.
    pub execution_rate: Option<String>,
    /// Every line, parents before their children.
    pub lines: Vec<ReportLine>,
}

/// A project line (预算绩效评价情况).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectView {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// The fund that carries it.
    pub fund_id: Option<Uuid>,
    /// Budget.
    pub budget: Money,
    /// Executed.
    pub executed: Money,
    /// Executed as a percentage of the budget.
    pub execution_rate: Option<String>,
}

/// A campaign's output.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignOutputView {
    /// The campaign.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: CampaignKind,
    /// Status.
    pub status: String,
    /// Workers helped.
    pub workers: i64,
    /// What they were granted.
    pub amount: Money,
    /// Payments the bank confirmed.
    pub paid: i64,
}

/// A township's grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantOutputView {
    /// The township union.
    pub org_id: Uuid,
    /// Its name.
    pub township: String,
    /// Approved.
    pub approved: Money,
    /// Paid out.
    pub disbursed: Money,
    /// Reported as used.
    pub used: Money,
    /// Carried over to next year.
    pub carried_over: Money,
}

/// The year's union fees.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeOutput {
    /// Units that declared.
    pub units: usize,
    /// Payroll, fees due (2%), due to the federation (40%), paid, remitted, arrears, credit.
    #[serde(flatten)]
    pub figures: crate::service::fees::FeeFigures,
}

/// What the money did (整体绩效).
#[derive(Debug, Serialize, ToSchema)]
pub struct Outputs {
    /// Hardship campaigns.
    pub campaigns: Vec<CampaignOutputView>,
    /// Township grants.
    pub grants: Vec<GrantOutputView>,
    /// Their total approved.
    pub grants_total: Money,
    /// Union fees.
    pub union_fees: FeeOutput,
}

/// Year-end carry-over and balance (年末结转和结余情况).
#[derive(Debug, Serialize, ToSchema)]
pub struct CarryOver {
    /// Appropriations received and not executed (negative: executed beyond appropriations).
    pub fiscal_balance: String,
    /// Earmarked money carried over to next year's funds at settlement.
    pub carried_over: Money,
}

/// One category of fixed assets.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetLine {
    /// Category.
    pub category: AssetCategory,
    /// Its name in the report.
    pub name: String,
    /// How many.
    pub quantity: i64,
    /// Their value.
    pub value: Money,
}

/// Fixed assets held at the year's end (国有资产占用使用情况).
#[derive(Debug, Serialize, ToSchema)]
pub struct Assets {
    /// The day they are counted on (31 December).
    pub as_of: NaiveDate,
    /// Per category, every category listed (vehicles included, at zero).
    pub categories: Vec<AssetLine>,
    /// Their value together.
    pub total: Money,
}

/// A failing check, as the report lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct FailedCheck {
    /// Code.
    pub code: String,
    /// In Chinese.
    pub title: String,
    /// In English.
    pub description: String,
    /// The figures behind it.
    #[schema(value_type = Object)]
    pub figures: serde_json::Value,
}

/// The report.
#[derive(Debug, Serialize, ToSchema)]
pub struct PerformanceReport {
    /// The year.
    pub year: i32,
    /// When it was made.
    pub generated_at: chrono::DateTime<chrono::Utc>,
    /// 一、部门概况
    pub overview: Overview,
    /// 二、部门财政资金收支情况
    pub budget: BudgetSection,
    /// The project lines.
    pub projects: Vec<ProjectView>,
    /// What the money did.
    pub outputs: Outputs,
    /// 年末结转和结余情况
    pub carry_over: CarryOver,
    /// 国有资产占用使用情况
    pub assets: Assets,
    /// How many checks ran.
    pub checks_run: usize,
    /// The checks that fail.
    pub failed_checks: Vec<FailedCheck>,
    /// 评价结论: written from the checks, never empty.
    pub conclusion: Vec<String>,
}
