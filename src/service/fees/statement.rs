//! A unit's statement for a year, and the year across units (the summary).

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use std::collections::{BTreeMap, HashMap};

use super::money;
use super::position::{Month, Position};
use crate::db::{self, Db, Pool};
use crate::domain::fees;
use crate::domain::ids::OrgId;
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
    /// Of `remit_due`, what the city federation keeps.
    pub city_due: Money,
    /// Of `remit_due`, what the city passes on to the provincial and national federations.
    pub upper_due: Money,
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
            city_due: col(|l| l.city_due)?,
            upper_due: col(|l| l.upper_due)?,
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

/// A month's figures: its current declaration's, where it stands (`domain::fees::month_position`)
/// and what the federation holds of it. The statement's lines and the summary's units are both
/// made of these.
fn month_figures(month: &Month, remitted_net: Decimal) -> Result<FeeFigures, Error> {
    let pos = month.position();
    let d = month.current.as_ref();
    let of =
        |f: fn(&db::fees::DeclarationRow) -> Decimal| d.map(|d| money(f(d))).transpose().map(Option::unwrap_or_default);
    let remit_due = of(|d| d.remit_due)?;
    let upper_due = of(|d| d.upper_due.unwrap_or_default())?;
    Ok(FeeFigures {
        payroll_total: of(|d| d.payroll_total)?,
        fee_due: pos.fee_due,
        remit_due,
        retained: of(|d| d.retained)?,
        // upper_due ≤ remit_due (split, and the table's CHECK).
        city_due: remit_due.checked_sub(upper_due).unwrap_or(Money::ZERO),
        upper_due,
        paid: money(pos.paid)?,
        remitted: money(remitted_net)?,
        arrears: money(pos.arrears)?,
        credit: money(pos.credit_in)?,
        remit_receivable: money(fees::remit_receivable(remitted_net, remit_due))?,
    })
}

/// A unit's year: a line per month, and the totals — the column sums, but for `credit`, which
/// is the credit still held after what was applied to months in arrears.
fn year_of(pos: &Position, remitted: &HashMap<Period, Decimal>) -> Result<(Vec<StatementLine>, FeeFigures), Error> {
    let lines = pos
        .months
        .iter()
        .map(|(period, month)| {
            let remitted_net = remitted.get(period).copied().unwrap_or_default();
            Ok(StatementLine { period: Some(period.to_string()), figures: month_figures(month, remitted_net)? })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let totals = FeeFigures { credit: money(pos.credit())?, ..FeeFigures::sum(lines.iter().map(|l| &l.figures))? };
    Ok((lines, totals))
}

/// A unit's year: per month the current declaration's figures, what paid it (payments and
/// credit), what was remitted, arrears, and credit received that month; the totals' `credit` is
/// the credit still held.
pub async fn statement(pool: &Pool, scope: Scope, org_id: OrgId, year: i32) -> Result<StatementView, Error> {
    let org_id = org_id.uuid();
    crate::service::read(pool, move |conn| {
        db::orgs::find(conn, scope, org_id)?;
        let pos = Position::load(conn, org_id, year)?;
        let remitted: HashMap<Period, Decimal> = db::fees::remitted_by_month(conn, year, Some(&[org_id]))?
            .into_iter()
            .map(|r| (r.period, r.amount))
            .collect();
        let (periods, figures) = year_of(&pos, &remitted)?;
        Ok(StatementView { org_id, year, periods, totals: StatementLine { period: None, figures } })
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
    /// The city federation's part of the year: what it keeps, what it owes the upper levels
    /// and has passed on to them (absent for a clerk, who sees its own unit only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<CityView>,
    /// A page of units, by id.
    pub items: Vec<UnitYearView>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
}

/// The city federation's books of a year's fees.
#[derive(Debug, Serialize, ToSchema)]
pub struct CityView {
    /// The city's share of the year's fees (拨缴经费收入), as declared.
    pub city_due: Money,
    /// The upper levels' share, owed onward as declared.
    pub upper_due: Money,
    /// Passed on to the upper levels so far.
    pub upper_passed_on: Money,
    /// Still owed upward (应付上级经费): `upper_due − upper_passed_on`.
    pub upper_payable: Money,
}

/// These units' years (`None`: every unit's), by unit id: each unit's totals as its statement
/// makes them, from the same rule — the positions built from the settlements' per-kind sums
/// rather than one by one, which `domain::fees` proves comes to the same.
fn units_of_year(conn: &mut Db<'_>, year: i32, only: Option<&[Uuid]>) -> Result<BTreeMap<Uuid, FeeFigures>, Error> {
    let units = Position::load_many(conn, only, year)?;
    let mut remitted: HashMap<Uuid, HashMap<Period, Decimal>> = HashMap::new();
    for r in db::fees::remitted_by_month(conn, year, only)? {
        remitted.entry(r.org_id).or_default().insert(r.period, r.amount);
    }
    let none = HashMap::new();
    units.iter().map(|(id, pos)| Ok((*id, year_of(pos, remitted.get(id).unwrap_or(&none))?.1))).collect()
}

/// The year's totals over every unit, summed in the database (`db::fees::year_sums`), and how
/// many units have figures in it (the annual report's figures).
pub fn year_totals(conn: &mut Db<'_>, year: i32) -> Result<(usize, FeeFigures), Error> {
    let s = db::fees::year_sums(conn, year)?;
    let upper_due = money(s.upper_due)?;
    let remit_due = money(s.remit_due)?;
    let figures = FeeFigures {
        payroll_total: money(s.payroll_total)?,
        fee_due: money(s.fee_due)?,
        remit_due,
        retained: money(s.retained)?,
        city_due: remit_due.checked_sub(upper_due).unwrap_or(Money::ZERO),
        upper_due,
        paid: money(s.paid)?,
        remitted: money(s.remitted)?,
        arrears: money(s.arrears)?,
        credit: money(s.credit)?,
        remit_receivable: money(s.remit_receivable)?,
    };
    Ok((usize::try_from(s.units).map_err(Error::internal)?, figures))
}

/// The city's books of the year's fees.
fn city_of(conn: &mut Db<'_>, year: i32, totals: &FeeFigures) -> Result<CityView, Error> {
    let passed = money(db::fees::upper_remitted(conn, year)?)?;
    Ok(CityView {
        city_due: totals.city_due,
        upper_due: totals.upper_due,
        upper_passed_on: passed,
        upper_payable: money(totals.upper_due.as_decimal() - passed.as_decimal())?,
    })
}

/// The year across units (finance bureau, auditors, finance officers; a clerk sees its own
/// unit). The page's units are found first (`db::fees::units_of_year`, in index order) and only
/// they are summed; the totals are summed in the database, without a row per unit.
pub async fn summary(pool: &Pool, scope: Scope, year: i32, page: Page) -> Result<SummaryView, Error> {
    let after = page.uuid_cursor()?;
    let only = scope.org();
    crate::service::read(pool, move |conn| {
        let (ids, totals, city) = match only {
            Some(own) => {
                let units = units_of_year(conn, year, Some(&[own]))?;
                let totals = totals_of(&units)?;
                let ids = if after.is_some_and(|a| a >= own) || !units.contains_key(&own) { vec![] } else { vec![own] };
                (ids, totals, None)
            }
            None => {
                let ids = db::fees::units_of_year(conn, year, after, page.fetch())?;
                let totals = year_totals(conn, year)?.1;
                let city = city_of(conn, year, &totals)?;
                (ids, totals, Some(city))
            }
        };
        let page_units = units_of_year(conn, year, Some(&ids))?;
        let rows: Vec<(Uuid, FeeFigures)> =
            ids.iter().map(|id| (*id, page_units.get(id).copied().unwrap_or_default())).collect();
        let listed = Listed::from_rows(
            rows,
            &page,
            |(id, _)| id.to_string(),
            |(id, figures)| UnitYearView { org_id: Some(id), figures },
        );
        Ok(SummaryView {
            year,
            totals: UnitYearView { org_id: None, figures: totals },
            city,
            items: listed.items,
            next_cursor: listed.next_cursor,
        })
    })
    .await
}

/// The totals over units: the column sums, credit included (each unit's credit still held).
fn totals_of(units: &BTreeMap<Uuid, FeeFigures>) -> Result<FeeFigures, Error> {
    let credit = Money::checked_sum(units.values().map(|u| u.credit)).ok_or_else(Error::out_of_range)?;
    Ok(FeeFigures { credit, ..FeeFigures::sum(units.values())? })
}
