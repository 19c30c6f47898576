//! A unit's statement for a year, and the year across units (the summary).

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::money;
use super::position::position;
use crate::db::Db;
use crate::db::{self, Pool};
use crate::domain::fees;
use crate::domain::ids::Period;
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::service::{Listed, Page};

/// A month's, a year's or a unit's union-fee figures (API.md: the statement's columns).
#[derive(Debug, Default, Clone, Copy, Serialize, ToSchema)]
pub struct FeeFigures {
    /// Payroll declared (the current declarations).
    pub payroll_total: Money,
    /// Fee due.
    pub fee_due: Money,
    /// Of it, to remit to the federation.
    pub remit_due: Money,
    /// Of it, kept by the unit's union.
    pub retained: Money,
    /// Paid (payments and credit applied, less corrections refunded).
    pub paid: Money,
    /// Remitted to the federation, net of what the upper level refunded.
    pub remitted: Money,
    /// Due and not paid (欠缴).
    pub arrears: Money,
    /// Credit: received in the month, or still held (totals).
    pub credit: Money,
    /// Remitted beyond `remit_due` (after a correction downwards): money the upper level owes
    /// back, until a remittance refund settles it; the check `remittances_within_due` fails
    /// while any month has some.
    pub remit_receivable: Money,
}

impl FeeFigures {
    /// The column-wise sum of many lines; `credit` is left to the caller (a balance, not a sum).
    fn sum<'a>(lines: impl Iterator<Item = &'a FeeFigures> + Clone) -> Result<FeeFigures, Error> {
        let col =
            |f: fn(&FeeFigures) -> Money| Money::checked_sum(lines.clone().map(f)).ok_or_else(Error::out_of_range);
        Ok(FeeFigures {
            payroll_total: col(|l| l.payroll_total)?,
            fee_due: col(|l| l.fee_due)?,
            remit_due: col(|l| l.remit_due)?,
            retained: col(|l| l.retained)?,
            paid: col(|l| l.paid)?,
            remitted: col(|l| l.remitted)?,
            arrears: col(|l| l.arrears)?,
            credit: Money::ZERO,
            remit_receivable: col(|l| l.remit_receivable)?,
        })
    }
}

/// One period of a statement.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StatementLine {
    /// `YYYY-MM`; absent on the totals line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    /// The figures.
    #[serde(flatten)]
    pub figures: FeeFigures,
}

/// A unit's statement for a year (API.md).
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementView {
    /// The member unit.
    pub org_id: Uuid,
    /// The year.
    pub year: i32,
    /// Each declared period, in order.
    pub periods: Vec<StatementLine>,
    /// The year's totals.
    pub totals: StatementLine,
}

/// A unit's year: per month the current declaration's figures, what paid it (payments and
/// credit), what was remitted, arrears, and credit received that month; the totals' `credit` is
/// the credit still held.
pub async fn statement(pool: &Pool, scope: Scope, org_id: Uuid, year: i32) -> Result<StatementView, Error> {
    crate::service::read(pool, move |conn| {
        db::orgs::find(conn, scope, org_id)?;
        let pos = position(conn, org_id, year)?;
        let (current, credit_in) = (&pos.current, &pos.credit_in);
        let mut remitted: std::collections::HashMap<Period, Decimal> = std::collections::HashMap::new();
        for r in db::fees::remittances_of(conn, org_id, year)? {
            *remitted.entry(r.period).or_default() += r.amount;
        }
        for r in db::fees::refunds_of(conn, org_id, year)? {
            *remitted.entry(r.period).or_default() -= r.amount;
        }
        let mut periods: Vec<StatementLine> = Vec::new();
        for (period, (due, settled)) in &pos.months {
            let d = current.get(period);
            let remit_due = d.map(|d| money(d.remit_due)).transpose()?.unwrap_or(Money::ZERO);
            let remitted_net = remitted.get(period).copied().unwrap_or_default();
            periods.push(StatementLine {
                period: Some(period.to_string()),
                figures: FeeFigures {
                    payroll_total: d.map(|d| money(d.payroll_total)).transpose()?.unwrap_or(Money::ZERO),
                    fee_due: *due,
                    remit_due,
                    retained: d.map(|d| money(d.retained)).transpose()?.unwrap_or(Money::ZERO),
                    paid: money(*settled)?,
                    remitted: money(remitted_net)?,
                    arrears: pos.owed(*period),
                    credit: money(credit_in.get(period).copied().unwrap_or_default())?,
                    remit_receivable: money(fees::remit_receivable(remitted_net, remit_due))?,
                },
            });
        }
        // The totals' credit is the credit still held, after what was applied to months in arrears.
        let figures = FeeFigures {
            credit: money(pos.credit.max(Decimal::ZERO))?,
            ..FeeFigures::sum(periods.iter().map(|l| &l.figures))?
        };
        let totals = StatementLine { period: None, figures };
        Ok(StatementView { org_id, year, periods, totals })
    })
    .await
}

/// One unit's year in a summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnitYearView {
    /// The member unit (absent on the totals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub org_id: Option<Uuid>,
    /// The figures.
    #[serde(flatten)]
    pub figures: FeeFigures,
}

/// A year's union fees across units: a page of units and the totals over all of them.
#[derive(Debug, Serialize, ToSchema)]
pub struct SummaryView {
    /// The year.
    pub year: i32,
    /// Over every unit (a clerk: its own).
    pub totals: UnitYearView,
    /// A page of units, by id.
    pub items: Vec<UnitYearView>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

fn unit_year_view(u: db::fees::UnitYear, with_org: bool) -> Result<UnitYearView, Error> {
    Ok(UnitYearView {
        org_id: with_org.then_some(u.org_id),
        figures: FeeFigures {
            payroll_total: money(u.payroll_total)?,
            fee_due: money(u.fee_due)?,
            remit_due: money(u.remit_due)?,
            retained: money(u.retained)?,
            paid: money(u.paid)?,
            remitted: money(u.remitted)?,
            arrears: money(u.arrears)?,
            credit: money(u.credit)?,
            remit_receivable: money(u.remit_receivable)?,
        },
    })
}

/// The year's totals over every unit, and how many units declared (the annual report's figures).
pub fn year_totals(conn: &mut Db<'_>, year: i32) -> Result<(usize, FeeFigures), Error> {
    let units = db::fees::year_by_unit(conn, year, None, None, i64::MAX, false)?.len();
    let totals = match db::fees::year_by_unit(conn, year, None, None, 1, true)?.into_iter().next() {
        Some(t) => unit_year_view(t, false)?.figures,
        None => FeeFigures::default(),
    };
    Ok((units, totals))
}

/// The year across units (finance bureau, auditors, finance officers; a clerk sees its own unit).
pub async fn summary(pool: &Pool, scope: Scope, year: i32, page: Page) -> Result<SummaryView, Error> {
    let after = page.uuid_cursor()?;
    let only = scope.org();
    crate::service::read(pool, move |conn| {
        let rows = db::fees::year_by_unit(conn, year, only, after, page.fetch(), false)?;
        let listed = Listed::from_rows(rows, &page, |r| r.org_id.to_string(), |r| r);
        let items = listed.items.into_iter().map(|u| unit_year_view(u, true)).collect::<Result<_, _>>()?;
        let totals = db::fees::year_by_unit(conn, year, only, None, 1, true)?.into_iter().next();
        let totals = match totals {
            Some(t) => unit_year_view(t, false)?,
            None => UnitYearView { org_id: None, figures: FeeFigures::default() },
        };
        Ok(SummaryView { year, totals, items, next_cursor: listed.next_cursor })
    })
    .await
}
