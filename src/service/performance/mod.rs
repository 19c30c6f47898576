//! The annual budget-performance self-evaluation (`GET /api/v1/reports/performance?year=`),
//! built from the service's own books in one read-only snapshot: the overview, budget and
//! execution per line and project, outputs, year-end carry-over, assets, the checks that fail,
//! and a conclusion written from the checks — never empty. `render` writes it as Markdown or as
//! one self-contained HTML page, in the source document's headings and thousand-yuan figures.

pub mod render;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::budgets::{AssetCategory, LineKind, two_places, year_lines};
use super::reports::{Check, run_checks};
use crate::db::Db;
use crate::db::{self, Pool};
use crate::domain::funds::Figures;
use crate::domain::hardship::CampaignKind;
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;

use super::stored_money as money;

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
    pub figures: super::fees::FeeFigures,
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

/// A check's title in the report.
pub fn check_title(code: &str) -> &'static str {
    match code {
        "journal_entries_balance" => "会计分录借贷平衡",
        "balances_equal_postings" => "账户余额与记账明细相符",
        "item_stages_reconcile" => "专项资金计划安排、拨付、使用、结算各环节顺序与金额相符",
        "entries_match_movements" => "会计分录与资金流动记录相符",
        "spending_within_budget" => "项目支出未超预算",
        "matching_in_place" => "地方财政配套资金到位",
        "fee_splits_add_up" => "工会经费上交与留存之和等于应缴",
        "remittances_within_due" => "工会经费上交未超过应上交额",
        "audit_chain_verifies" => "审计日志哈希链完整",
        "budget_lines_add_up" => "预算科目合计相符",
        "budget_execution_explained" => "预算与执行差异均有说明",
        _ => "其他核查",
    }
}

/// An amount in thousand yuan as the source document writes it: `3886.2`, `210`, `4978.03`.
pub fn thousands(d: Decimal) -> String {
    (d / Decimal::ONE_THOUSAND).normalize().to_string()
}

/// The sentences of the conclusion, from the execution figures and the checks.
pub fn conclusion(budget: &BudgetSection, checks: &[Check]) -> Vec<String> {
    let mut out = Vec::new();
    let rate = budget.execution_rate.as_deref().map(|r| format!("，执行率{r}%")).unwrap_or_default();
    out.push(format!(
        "本年度支出预算{}千元，财政拨款收入{}千元，支出{}千元{rate}。",
        thousands(budget.budget.as_decimal()),
        thousands(budget.appropriated.as_decimal()),
        thousands(budget.executed.as_decimal()),
    ));
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed).collect();
    if failed.is_empty() {
        out.push(format!(
            "{}项核查全部通过：账户余额与记账明细相符，专项资金按计划安排—拨付—使用—结算的程序运行，审计日志完整可验证。",
            checks.len()
        ));
        return out;
    }
    out.push(format!("{}项核查中{}项未通过，须在报送前说明或纠正：", checks.len(), failed.len()));
    for c in failed {
        let detail = match c.code {
            "budget_execution_explained" => c.figures["sample"]
                .as_array()
                .map(|lines| {
                    lines
                        .iter()
                        .map(|l| {
                            let get = |k: &str| {
                                l[k].as_str().and_then(|s| s.parse::<Decimal>().ok()).map(thousands).unwrap_or_default()
                            };
                            format!(
                                "{}预算{}千元、执行{}千元、差额{}千元",
                                l["name"].as_str().unwrap_or_default(),
                                get("budget"),
                                get("executed"),
                                get("difference")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("；")
                })
                .map(|s| format!("{s}，均无差异说明"))
                .unwrap_or_default(),
            _ => format!("{}处不符", c.figures["failing"].as_i64().unwrap_or(0)),
        };
        out.push(format!("{}：{}。", check_title(c.code), detail));
    }
    out
}

/// Builds the report for `year` in one read-only snapshot.
pub async fn build(pool: &Pool, year: i32) -> Result<PerformanceReport, Error> {
    super::read(pool, move |conn| conn.snapshot(|conn| gather(conn, year))).await
}

fn org_names(conn: &mut Db<'_>, kind: &str) -> Result<Vec<String>, Error> {
    Ok(db::orgs::list(conn, Scope::All, Some(kind), None, i64::MAX)?.into_iter().map(|o| o.name).collect())
}

fn gather(conn: &mut Db<'_>, year: i32) -> Result<PerformanceReport, Error> {
    let overview = Overview {
        name: org_names(conn, "federation")?.into_iter().next().unwrap_or_default(),
        departments: org_names(conn, "department")?,
        affiliated_institutions: org_names(conn, "affiliated_institution")?,
        township_unions: org_names(conn, "township_union")?.len(),
        grassroots_unions: org_names(conn, "grassroots_union")?.len(),
        member_units: org_names(conn, "member_unit")?.len(),
    };
    // Budget lines, with their depth.
    let lines = year_lines(conn, year)?;
    let depth_of = |mut parent: Option<Uuid>| {
        let mut depth = 0;
        while let Some(p) = parent {
            depth += 1;
            parent = lines.iter().find(|(l, _)| l.id == p).and_then(|(l, _)| l.parent_id);
        }
        depth
    };
    let mut report_lines = Vec::new();
    let mut projects = Vec::new();
    let mut totals = super::budgets::LineFigures::default();
    for (l, f) in &lines {
        let kind = LineKind::parse(&l.kind).ok_or_else(|| Error::internal("bad line kind"))?;
        if l.parent_id.is_none() {
            totals.budget += f.budget;
            totals.appropriated += f.appropriated;
            totals.executed += f.executed;
        }
        if kind == LineKind::Project {
            projects.push(ProjectView {
                code: l.code.clone(),
                name: l.name.clone(),
                fund_id: l.fund_id,
                budget: money(f.budget)?,
                executed: money(f.executed)?,
                execution_rate: f.rate().map(two_places),
            });
        }
        report_lines.push(ReportLine {
            code: l.code.clone(),
            name: l.name.clone(),
            kind,
            depth: depth_of(l.parent_id),
            budget: money(f.budget)?,
            appropriated: money(f.appropriated)?,
            executed: money(f.executed)?,
            variance: two_places(f.variance()),
            execution_rate: f.rate().map(two_places),
            variance_explanation: l.variance_explanation.clone(),
        });
    }
    let budget = BudgetSection {
        budget: money(totals.budget)?,
        appropriated: money(totals.appropriated)?,
        executed: money(totals.executed)?,
        execution_rate: totals.rate().map(two_places),
        lines: report_lines,
    };
    // Outputs.
    let campaigns = db::reports::campaign_outputs(conn, year)?
        .into_iter()
        .map(|c| {
            Ok(CampaignOutputView {
                id: c.id,
                kind: CampaignKind::parse(&c.kind).unwrap_or(CampaignKind::Other),
                name: c.name,
                status: c.status,
                workers: c.beneficiaries,
                amount: money(c.amount)?,
                paid: c.paid,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let grant_rows = db::reports::grant_outputs(conn, year)?;
    let item_ids: Vec<Uuid> = grant_rows.iter().filter_map(|g| g.item_id).collect();
    let items = db::items::find_many(conn, &item_ids)?;
    let figures = db::items::figures_of(conn, &items.iter().collect::<Vec<_>>())?;
    let mut grants = Vec::new();
    let mut grants_total = Decimal::ZERO;
    for g in grant_rows {
        let f = g.item_id.and_then(|id| figures.get(&id)).cloned().unwrap_or_default();
        let approved = g.approved.unwrap_or_default();
        grants_total += approved;
        grants.push(GrantOutputView {
            org_id: g.org_id,
            township: g.township,
            approved: money(approved)?,
            disbursed: money(f.disbursed)?,
            used: money(f.used)?,
            carried_over: money(f.carried)?,
        });
    }
    let (units, figures) = super::fees::year_totals(conn, year)?;
    let union_fees = FeeOutput { units, figures };
    // Carry-over.
    let funds = db::funds::list(conn, Some(year), None, None, i64::MAX)?;
    let ids: Vec<Uuid> = funds.iter().map(|f| f.id).collect();
    let balances = db::funds::balances_of(conn, &ids)?;
    let carried: Decimal = balances.values().map(|b| Figures::from_balances(b).carried_over).sum();
    let carry_over =
        CarryOver { fiscal_balance: two_places(totals.appropriated - totals.executed), carried_over: money(carried)? };
    // Assets held on 31 December.
    let as_of = NaiveDate::from_ymd_opt(year, 12, 31).ok_or_else(|| Error::internal("bad year"))?;
    let held = db::budgets::assets(conn, Some(as_of), None, i64::MAX)?;
    let mut categories = Vec::new();
    let mut total = Decimal::ZERO;
    for c in AssetCategory::ALL {
        let of: Vec<_> = held.iter().filter(|a| a.category == c.as_str()).collect();
        let value: Decimal = of.iter().map(|a| a.value).sum();
        total += value;
        categories.push(AssetLine {
            category: c,
            name: c.name_zh().into(),
            quantity: of.iter().map(|a| i64::from(a.quantity)).sum(),
            value: money(value)?,
        });
    }
    let assets = Assets { as_of, categories, total: money(total)? };
    // Checks and the conclusion.
    let checks = run_checks(conn, year)?;
    let conclusion = conclusion(&budget, &checks);
    let failed_checks = checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| FailedCheck {
            code: c.code.into(),
            title: check_title(c.code).into(),
            description: c.description.into(),
            figures: c.figures.clone(),
        })
        .collect();
    Ok(PerformanceReport {
        year,
        generated_at: super::now(),
        overview,
        budget,
        projects,
        outputs: Outputs { campaigns, grants, grants_total: money(grants_total)?, union_fees },
        carry_over,
        assets,
        checks_run: checks.len(),
        failed_checks,
        conclusion,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_written_as_the_source_document_writes_them() {
        let t = |s: &str| thousands(s.parse().unwrap());
        assert_eq!(t("3886200.00"), "3886.2");
        assert_eq!(t("210000.00"), "210");
        assert_eq!(t("4978030.00"), "4978.03");
        assert_eq!(t("61820.00"), "61.82");
        assert_eq!(t("159988.00"), "159.988");
        assert_eq!(t("0.00"), "0");
        assert_eq!(t("0.01"), "0.00001");
    }
}
