//! The report gathered from the books, in one read-only snapshot.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::conclusion::{check_title, conclusion};
use super::report::{
    AssetLine, Assets, BudgetSection, CampaignOutputView, CarryOver, FailedCheck, FeeOutput, GrantOutputView, Outputs,
    Overview, PerformanceReport, ProjectView, ReportLine,
};
use crate::db;
use crate::db::Db;
use crate::domain::funds::Figures;
use crate::domain::hardship::CampaignKind;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::service::budgets::{AssetCategory, LineKind, two_places, year_lines};
use crate::service::reports::run_checks;
use crate::service::stored_money as money;

fn org_names(conn: &mut Db<'_>, kind: &str) -> Result<Vec<String>, Error> {
    Ok(db::orgs::list(conn, Scope::All, Some(kind), None, i64::MAX)?.into_iter().map(|o| o.name).collect())
}

pub(super) fn gather(conn: &mut Db<'_>, year: i32) -> Result<PerformanceReport, Error> {
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
    let mut totals = crate::service::budgets::LineFigures::default();
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
    let (units, figures) = crate::service::fees::year_totals(conn, year)?;
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
        generated_at: crate::service::now(),
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
