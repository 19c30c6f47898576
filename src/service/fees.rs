//! Union fees: the rate table, payroll declarations (and their corrections), statements.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Listed, Page};
use crate::db::Db;
use crate::db::fees::{DeclarationRow, FeeRateRow};
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::audit::Stream;
use crate::domain::fees::{self, FeeRate, Split};
use crate::domain::ids::Period;
use crate::domain::money::{Money, Rate};
use crate::domain::orgs::{OrgKind, UnitKind};
use crate::domain::policy::Scope;
use crate::error::Error;

/// A rate as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeRateView {
    /// Id.
    pub id: Uuid,
    /// Which units it applies to.
    pub unit_kind: UnitKind,
    /// Share of payroll due as the fee.
    pub fee_rate: Rate,
    /// Share of the fee remitted to the city federation.
    pub remit_rate: Rate,
    /// First day in force.
    pub effective_from: NaiveDate,
}

/// A declaration as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeclarationView {
    /// Id.
    pub id: Uuid,
    /// The member unit.
    pub org_id: Uuid,
    /// The month, `YYYY-MM`.
    pub period: Period,
    /// 1 for the first declaration of the period, then one more per correction.
    pub version: i32,
    /// The declaration this one corrects, if any (it stays on record).
    pub supersedes: Option<Uuid>,
    /// Total payroll (工资总额).
    pub payroll_total: Money,
    /// The fee rate applied (from the rate table).
    pub fee_rate: Rate,
    /// The remit rate applied.
    pub remit_rate: Rate,
    /// Fee due: payroll × fee rate, half-up to the fen.
    pub fee_due: Money,
    /// To remit to the federation: fee × remit rate, half-up to the fen.
    pub remit_due: Money,
    /// Kept by the unit's union: fee − remit.
    pub retained: Money,
    /// The union-fee fund of the period's year.
    pub fund_id: Uuid,
    /// The journal entry that posted it (the difference, for a correction); none when nothing changed.
    pub entry_id: Option<Uuid>,
    /// Declared at.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Declared by.
    pub created_by: String,
    /// True when the declaration answered repeats the current one (same payroll, same rates):
    /// nothing was written, and this is the current version.
    pub unchanged: bool,
}

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

use super::stored_money as money;

fn rate(d: Decimal) -> Result<Rate, Error> {
    Rate::from_decimal(d).map_err(|e| Error::internal(format!("stored rate {d}: {e}")))
}

fn rate_view(r: FeeRateRow) -> Result<FeeRateView, Error> {
    Ok(FeeRateView {
        id: r.id,
        unit_kind: UnitKind::parse(&r.unit_kind).ok_or_else(|| Error::internal("bad unit kind"))?,
        fee_rate: rate(r.fee_rate)?,
        remit_rate: rate(r.remit_rate)?,
        effective_from: r.effective_from,
    })
}

fn declaration_view(r: DeclarationRow, supersedes: Option<Uuid>) -> Result<DeclarationView, Error> {
    declaration_view_of(r, supersedes, false)
}

fn declaration_view_of(r: DeclarationRow, supersedes: Option<Uuid>, unchanged: bool) -> Result<DeclarationView, Error> {
    Ok(DeclarationView {
        id: r.id,
        org_id: r.org_id,
        period: Period::parse(&r.period).map_err(Error::internal)?,
        version: r.version,
        supersedes,
        payroll_total: money(r.payroll_total)?,
        fee_rate: rate(r.fee_rate)?,
        remit_rate: rate(r.remit_rate)?,
        fee_due: money(r.fee_due)?,
        remit_due: money(r.remit_due)?,
        retained: money(r.retained)?,
        fund_id: r.fund_id,
        entry_id: r.entry_id,
        created_at: r.created_at,
        created_by: r.created_by,
        unchanged,
    })
}

/// The current declaration's payroll and rates, to tell a repeat from a correction.
fn terms_of(r: &DeclarationRow) -> Result<(Money, Rate, Rate), Error> {
    Ok((money(r.payroll_total)?, rate(r.fee_rate)?, rate(r.remit_rate)?))
}

/// Why a correction is made: the body's `reason`, else the finance officer's `Adjusting-Reason`
/// (an adjusting entry in a closed year states its reason once, in the header).
fn reason_of(tx: &crate::db::write::Tx<'_>, given: Option<&str>) -> Option<String> {
    given.map(str::to_owned).or_else(|| tx.ctx().adjusting.as_ref().map(|a| a.reason().to_owned()))
}

/// The role of whoever writes, for the rules that depend on it (`None`: the service itself).
fn role_of(tx: &crate::db::write::Tx<'_>) -> Option<crate::domain::policy::Role> {
    tx.ctx().caller.as_ref().map(|c| c.role)
}

fn split_of(r: &DeclarationRow) -> Result<Split, Error> {
    Ok(Split { fee_due: money(r.fee_due)?, remit_due: money(r.remit_due)?, retained: money(r.retained)? })
}

/// A page of the rate table.
pub async fn list_rates(pool: &Pool, page: Page) -> Result<Listed<FeeRateView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::fees::list_rates(conn, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.into_iter().map(rate_view).collect::<Result<_, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// Adds a rate (admin): from `effective_from` on, periods of that kind of unit use it.
#[tracing::instrument(skip_all)]
pub async fn create_rate(pool: &Pool, ctx: WriteCtx, idem: Option<Idempotency>, new: FeeRate) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        let row = FeeRateRow {
            id: Uuid::now_v7(),
            unit_kind: new.unit_kind.as_str().into(),
            fee_rate: new.fee_rate.as_decimal(),
            remit_rate: new.remit_rate.as_decimal(),
            effective_from: new.effective_from,
            created_at: tx.ctx().now,
        };
        db::fees::insert_rate(tx, &row)?;
        tx.record(Event {
            after: Some(serde_json::json!({"unit_kind": row.unit_kind, "fee_rate": new.fee_rate.to_string(),
                "remit_rate": new.remit_rate.to_string(), "effective_from": row.effective_from})),
            ..Event::new(Stream::FeeRates, "fee_rate.created", "fee_rate", row.id)
        });
        Ok(Answer { status: 201, etag: None, body: rate_view(row)? })
    })
    .await
}

/// A payroll declaration, validated.
#[derive(Debug, Clone)]
pub struct Declare {
    /// The member unit.
    pub org_id: Uuid,
    /// The month.
    pub period: Period,
    /// Total payroll.
    pub payroll_total: Money,
    /// Why a month already paid or remitted is corrected (required then; kept in the trail).
    pub reason: Option<String>,
}

/// Declares a unit's payroll for a month, or corrects its declaration: the new version is
/// stored beside the old, and the ledger takes the difference. A declaration that repeats the
/// current one writes nothing and answers 200 with the current version (`unchanged`). A month
/// money has moved for is corrected by the finance office only, with a reason
/// (`fees::may_correct`).
#[tracing::instrument(skip_all, fields(org.id = %cmd.org_id, period = %cmd.period))]
pub async fn declare(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    scope: Scope,
    cmd: Declare,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        super::books::ensure_open(tx, cmd.period.year())?;
        if !scope.sees(cmd.org_id) {
            return Err(Error::NotFound);
        }
        // Lock order: the unit first (serialises its corrections), then the fund.
        let org = db::orgs::lock(tx, cmd.org_id)?;
        let unit_kind = match (OrgKind::parse(&org.kind), org.unit_kind.as_deref().and_then(UnitKind::parse)) {
            (Some(OrgKind::MemberUnit), Some(k)) => k,
            _ => return Err(Error::invalid("org_id", "union fees are declared for member units only")),
        };
        let rates = db::fees::rates_of(tx.db(), unit_kind.as_str())?
            .into_iter()
            .map(|r| Ok(FeeRate { unit_kind, fee_rate: rate(r.fee_rate)?, remit_rate: rate(r.remit_rate)?, effective_from: r.effective_from }))
            .collect::<Result<Vec<_>, Error>>()?;
        let fee_rate = fees::rate_for(&rates, unit_kind, cmd.period).ok_or_else(|| {
            DomainError::conflict("no_fee_rate", format!("no fee rate for {unit_kind} units is in force on that period's first day"))
        })?;
        let fund = db::fees::lock_fee_fund(tx, cmd.period.year())?.ok_or_else(|| {
            DomainError::conflict("no_union_fee_fund", format!("there is no union_fee fund for {}", cmd.period.year()))
        })?;
        let period = cmd.period.to_string();
        let old = db::fees::current(tx.db(), cmd.org_id, &period)?;
        if let Some(current) = &old {
            if fees::repeats(terms_of(current)?, cmd.payroll_total, &fee_rate) {
                let before = match current.version {
                    1 => None,
                    v => db::fees::version_id(tx.db(), cmd.org_id, &period, v - 1)?,
                };
                return Ok(Answer { status: 200, etag: None, body: declaration_view_of(current.clone(), before, true)? });
            }
            let moved = !db::fees::months_with_money(tx.db(), &[cmd.org_id], std::slice::from_ref(&period))?.is_empty();
            fees::may_correct(role_of(tx), moved, reason_of(tx, cmd.reason.as_deref()).as_deref())?;
        }
        let new = fees::split(cmd.payroll_total, &fee_rate);
        let old_split = old.as_ref().map(split_of).transpose()?;
        let entry = fees::declaration_entry(fund.id, new, old_split)?;
        let id = Uuid::now_v7();
        let entry_id = entry.map(|e| tx.post(&e, Some(fund.id), "fee_declaration", id)).transpose()?;
        let row = DeclarationRow {
            id,
            org_id: cmd.org_id,
            period,
            version: old.as_ref().map_or(1, |o| o.version + 1),
            payroll_total: cmd.payroll_total.as_decimal(),
            fee_rate: fee_rate.fee_rate.as_decimal(),
            remit_rate: fee_rate.remit_rate.as_decimal(),
            fee_due: new.fee_due.as_decimal(),
            remit_due: new.remit_due.as_decimal(),
            retained: new.retained.as_decimal(),
            fund_id: fund.id,
            entry_id,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::fees::insert(tx, &row)?;
        let corrected = row.period.clone();
        let figures = |s: &Split, payroll: String| {
            serde_json::json!({"payroll_total": payroll, "fee_due": s.fee_due, "remit_due": s.remit_due, "retained": s.retained})
        };
        let mut after = figures(&new, cmd.payroll_total.to_string());
        if let (Some(reason), Some(_)) = (reason_of(tx, cmd.reason.as_deref()), &old) {
            after["reason"] = serde_json::json!(reason);
        }
        tx.record(Event {
            org_id: Some(cmd.org_id),
            fund_id: Some(fund.id),
            amount: Some(row.fee_due),
            entry_id,
            before: old.as_ref().zip(old_split.as_ref()).map(|(o, s)| figures(s, o.payroll_total.to_string())),
            after: Some(after),
            ..Event::new(
                Stream::Org(cmd.org_id),
                if old.is_some() { "fee.declaration_corrected" } else { "fee.declared" },
                "fee_declaration",
                id,
            )
        });
        let view = declaration_view(row, old.map(|o| o.id))?;
        // A correction below what was paid gives the excess back as credit; credit pays arrears.
        rebalance(tx, cmd.org_id, fund.id, cmd.period.year(), Some(&corrected))?;
        Ok(Answer { status: 201, etag: None, body: view })
    })
    .await
}

/// A page of declarations, every version (auditors see the superseded ones too).
pub async fn list_declarations(
    pool: &Pool,
    scope: Scope,
    org_id: Option<Uuid>,
    page: Page,
) -> Result<Listed<DeclarationView>, Error> {
    let after = page.uuid_cursor()?;
    let org_id = match (scope, org_id) {
        (Scope::All, o) => o,
        (Scope::Org(own), None) => Some(own),
        (Scope::Org(own), Some(o)) if o == own => Some(o),
        (Scope::Org(_), Some(_)) => return Ok(Listed { items: Vec::new(), next_cursor: None }),
    };
    super::read(pool, move |conn| {
        let rows = db::fees::list(conn, org_id, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.into_iter().map(|r| declaration_view(r, None)).collect::<Result<_, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// A unit's year: per month the current declaration's figures, what paid it (payments and
/// credit), what was remitted, arrears, and credit received that month; the totals' `credit` is
/// the credit still held.
pub async fn statement(pool: &Pool, scope: Scope, org_id: Uuid, year: i32) -> Result<StatementView, Error> {
    super::read(pool, move |conn| {
        db::orgs::find(conn, scope, org_id)?;
        let pos = position(conn, org_id, year)?;
        let (current, credit_in) = (&pos.current, &pos.credit_in);
        let mut remitted: std::collections::HashMap<String, Decimal> = std::collections::HashMap::new();
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
                period: Some(period.clone()),
                figures: FeeFigures {
                    payroll_total: d.map(|d| money(d.payroll_total)).transpose()?.unwrap_or(Money::ZERO),
                    fee_due: *due,
                    remit_due,
                    retained: d.map(|d| money(d.retained)).transpose()?.unwrap_or(Money::ZERO),
                    paid: money(*settled)?,
                    remitted: money(remitted_net)?,
                    arrears: pos.owed(period),
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

/// One row of the finance bureau's batch: the unit by `org_id` or by `credit_code`.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRow {
    /// The member unit, by id …
    pub org_id: Option<Uuid>,
    /// … or by its unified social credit code.
    #[schema(value_type = Option<String>, example = "11430981MB1234567X")]
    pub credit_code: Option<String>,
    /// The month.
    pub period: Period,
    /// Total payroll.
    pub payroll_total: Money,
}

/// The answer to a batch: every declaration made, in the order of the rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// Rows in the batch.
    pub count: usize,
    /// Of them, rows that repeated the current declaration and wrote nothing.
    pub unchanged: usize,
    /// Fee due over the batch.
    pub fee_due: Money,
    /// The declarations, one per row, in order (the full record: `GET …/declarations`).
    pub declarations: Vec<BatchLine>,
}

/// One row's declaration, as a batch answers it, in the order of the rows: what the bureau needs
/// to reconcile them (the whole record is at `GET /api/v1/union-fees/declarations`).
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchLine {
    /// The declaration's id.
    pub id: Uuid,
    /// The member unit.
    pub org_id: Uuid,
    /// The month.
    pub period: Period,
    /// 1, or more for a correction.
    pub version: i32,
    /// Fee due.
    pub fee_due: Money,
    /// To remit.
    pub remit_due: Money,
    /// Retained.
    pub retained: Money,
    /// True when the row repeated the current declaration (same payroll, same rates): nothing
    /// was written for it, and `id` and `version` are the current declaration's.
    pub unchanged: bool,
}

/// At most this many rows in one batch.
pub const BATCH_ROWS_MAX: usize = 10_000;

/// Declares many units' payroll at once, all or nothing: every row is checked first and a bad
/// batch is refused naming every bad row; a good one is written set-based in one transaction —
/// a few statements whatever the number of rows, never a round trip per row. A row that repeats
/// its unit's current declaration writes nothing and is answered `unchanged` (a batch of nothing
/// but such rows is a 200). A row correcting a month that money has moved for needs the finance
/// office and `reason`, as a single declaration does.
#[tracing::instrument(skip_all, fields(rows = rows.len()))]
pub async fn declare_batch(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    rows: Vec<BatchRow>,
    reason: Option<String>,
) -> Result<Stored, Error> {
    use crate::domain::FieldError;
    use crate::domain::ids::CreditCode;
    use std::collections::{BTreeMap, HashMap, HashSet};

    let mut errors: Vec<FieldError> = Vec::new();
    let mut codes: Vec<String> = Vec::new();
    let mut ids: Vec<Uuid> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        match (&r.org_id, &r.credit_code) {
            (Some(id), None) => ids.push(*id),
            (None, Some(code)) => match CreditCode::parse(code) {
                Ok(c) => codes.push(c.as_str().to_owned()),
                Err(e) => errors.push(FieldError::new(format!("rows[{i}].credit_code"), e.to_string())),
            },
            _ => errors
                .push(FieldError::new(format!("rows[{i}]"), "name the unit by org_id or by credit_code, not both")),
        }
    }
    ids.sort_unstable();
    ids.dedup();
    codes.sort_unstable();
    codes.dedup();
    super::write(pool, ctx, idem, move |tx| {
        super::books::ensure_years_open(tx, rows.iter().map(|r| r.period.year()))?;
        let units = db::fees::lock_units(tx, &ids, &codes)?;
        let by_id: HashMap<Uuid, &db::orgs::OrgRow> = units.iter().map(|o| (o.id, o)).collect();
        let by_code: HashMap<&str, &db::orgs::OrgRow> =
            units.iter().filter_map(|o| o.credit_code.as_deref().map(|c| (c, o))).collect();
        let rates: Vec<FeeRate> = db::fees::all_rates(tx.db())?
            .into_iter()
            .map(|r| {
                Ok(FeeRate {
                    unit_kind: UnitKind::parse(&r.unit_kind).ok_or_else(|| Error::internal("bad unit kind"))?,
                    fee_rate: rate(r.fee_rate)?,
                    remit_rate: rate(r.remit_rate)?,
                    effective_from: r.effective_from,
                })
            })
            .collect::<Result<_, Error>>()?;
        // Each row resolved: (unit, period, rate).
        let mut resolved: Vec<Option<(Uuid, Period, FeeRate)>> = Vec::with_capacity(rows.len());
        let mut seen: HashSet<(Uuid, Period)> = HashSet::new();
        for (i, r) in rows.iter().enumerate() {
            let (field, org) = match (&r.org_id, &r.credit_code) {
                (Some(id), None) => ("org_id", by_id.get(id).copied()),
                (None, Some(code)) => ("credit_code", by_code.get(code.to_ascii_uppercase().as_str()).copied()),
                _ => {
                    resolved.push(None);
                    continue;
                }
            };
            let unit =
                org.and_then(|o| match (OrgKind::parse(&o.kind), o.unit_kind.as_deref().and_then(UnitKind::parse)) {
                    (Some(OrgKind::MemberUnit), Some(k)) => Some((o.id, k)),
                    _ => None,
                });
            let Some((unit, kind)) = unit else {
                errors.push(FieldError::new(format!("rows[{i}].{field}"), "no such member unit"));
                resolved.push(None);
                continue;
            };
            if !seen.insert((unit, r.period)) {
                errors
                    .push(FieldError::new(format!("rows[{i}]"), "the same unit and period appear twice in the batch"));
            }
            match fees::rate_for(&rates, kind, r.period) {
                Some(rate) => resolved.push(Some((unit, r.period, rate))),
                None => {
                    errors.push(FieldError::new(
                        format!("rows[{i}].period"),
                        "no fee rate is in force for this unit then",
                    ));
                    resolved.push(None);
                }
            }
        }
        let years: BTreeMap<i32, ()> = rows.iter().map(|r| (r.period.year(), ())).collect();
        let mut fund_of_year: HashMap<i32, Uuid> = HashMap::new();
        for year in years.keys() {
            match db::fees::lock_fee_fund(tx, *year)? {
                Some(f) => {
                    fund_of_year.insert(*year, f.id);
                }
                None => errors.push(FieldError::new("rows", format!("there is no union_fee fund for {year}"))),
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| row_index(&e.field));
            return Err(Error::Validation(errors));
        }
        // Each unit once: a batch names a unit for every month it declares.
        let unit_ids: Vec<Uuid> =
            resolved.iter().flatten().map(|(u, _, _)| *u).collect::<HashSet<_>>().into_iter().collect();
        let periods: Vec<String> =
            resolved.iter().flatten().map(|(_, p, _)| p.to_string()).collect::<HashSet<_>>().into_iter().collect();
        let current: HashMap<(Uuid, String), DeclarationRow> = db::fees::current_of(tx.db(), &unit_ids, &periods)?
            .into_iter()
            .map(|d| ((d.org_id, d.period.clone()), d))
            .collect();
        // Sum each fund's new and superseded splits: one journal entry per fund posts the net.
        let zero = Split { fee_due: Money::ZERO, remit_due: Money::ZERO, retained: Money::ZERO };
        let mut totals: BTreeMap<Uuid, (Split, Split)> = BTreeMap::new();
        let add = |a: Split, b: Split| -> Result<Split, Error> {
            let sum = |x: Money, y: Money| {
                x.checked_add(y).ok_or_else(|| Error::invalid("rows", "the batch's total is too large"))
            };
            Ok(Split {
                fee_due: sum(a.fee_due, b.fee_due)?,
                remit_due: sum(a.remit_due, b.remit_due)?,
                retained: sum(a.retained, b.retained)?,
            })
        };
        let mut planned = Vec::with_capacity(rows.len());
        for (r, res) in rows.iter().zip(&resolved) {
            let Some((unit, period, rate)) = res else { return Err(Error::internal("unresolved row")) };
            let fund = *fund_of_year.get(&period.year()).ok_or_else(|| Error::internal("fund not locked"))?;
            let old = current.get(&(*unit, period.to_string()));
            let unchanged = old.map(terms_of).transpose()?.is_some_and(|t| fees::repeats(t, r.payroll_total, rate));
            let new = fees::split(r.payroll_total, rate);
            let old_split = old.map(split_of).transpose()?;
            if !unchanged {
                let t = totals.entry(fund).or_insert((zero, zero));
                *t = (add(t.0, new)?, add(t.1, old_split.unwrap_or(zero))?);
            }
            planned.push((*unit, *period, *rate, fund, new, old, old_split, r.payroll_total, unchanged));
        }
        // Corrections of months money has moved for: the finance office's, with a reason.
        let corrected: Vec<(usize, Uuid, String)> = planned
            .iter()
            .enumerate()
            .filter(|(_, p)| p.5.is_some() && !p.8)
            .map(|(i, p)| (i, p.0, p.1.to_string()))
            .collect();
        if !corrected.is_empty() {
            let (units, periods): (Vec<Uuid>, Vec<String>) = corrected.iter().map(|(_, u, p)| (*u, p.clone())).unzip();
            let moved = db::fees::months_with_money(tx.db(), &units, &periods)?;
            let paid: Vec<usize> =
                corrected.iter().filter(|(_, u, p)| moved.contains(&(*u, p.clone()))).map(|(i, _, _)| *i).collect();
            if let Some(first) = paid.first() {
                fees::may_correct(role_of(tx), true, reason_of(tx, reason.as_deref()).as_deref()).map_err(
                    |e| match e {
                        // Name the rows (by index: never a value sent) that correct a paid month.
                        DomainError::Forbidden { code, detail } => {
                            let rows: Vec<String> = paid.iter().take(10).map(|i| format!("rows[{i}]")).collect();
                            Error::Forbidden { code, detail: format!("{detail}: {}", rows.join(", ")) }
                        }
                        DomainError::Invalid(_) => Error::invalid(
                            "reason",
                            format!("required: rows[{first}] corrects a month that has been paid or remitted"),
                        ),
                        other => other.into(),
                    },
                )?;
            }
        }
        let mut entry_of_fund: HashMap<Uuid, Option<Uuid>> = HashMap::new();
        let batch_id = Uuid::now_v7();
        for (fund, (new, old)) in &totals {
            let entry = fees::declaration_entry(*fund, *new, Some(*old))?;
            let id = entry.map(|e| tx.post(&e, Some(*fund), "fee_declaration_batch", batch_id)).transpose()?;
            entry_of_fund.insert(*fund, id);
        }
        let now = tx.ctx().now;
        let actor = tx.ctx().actor();
        let mut stored_rows = Vec::with_capacity(planned.len());
        let mut views = Vec::with_capacity(planned.len());
        let mut fee_total = Money::ZERO;
        let mut repeated = 0;
        for (unit, period, rate, fund, new, old, old_split, payroll, unchanged) in planned {
            fee_total = fee_total
                .checked_add(new.fee_due)
                .ok_or_else(|| Error::invalid("rows", "the batch's total is too large"))?;
            if let (true, Some(current)) = (unchanged, old) {
                repeated += 1;
                views.push(BatchLine {
                    id: current.id,
                    org_id: unit,
                    period,
                    version: current.version,
                    fee_due: new.fee_due,
                    remit_due: new.remit_due,
                    retained: new.retained,
                    unchanged: true,
                });
                continue;
            }
            let entry_id = entry_of_fund.get(&fund).copied().flatten();
            let row = DeclarationRow {
                id: Uuid::now_v7(),
                org_id: unit,
                period: period.to_string(),
                version: old.map_or(1, |o| o.version + 1),
                payroll_total: payroll.as_decimal(),
                fee_rate: rate.fee_rate.as_decimal(),
                remit_rate: rate.remit_rate.as_decimal(),
                fee_due: new.fee_due.as_decimal(),
                remit_due: new.remit_due.as_decimal(),
                retained: new.retained.as_decimal(),
                fund_id: fund,
                entry_id,
                created_at: now,
                created_by: actor.clone(),
            };
            let figures =
                |s: &Split| serde_json::json!({"fee_due": s.fee_due, "remit_due": s.remit_due, "retained": s.retained});
            let mut after = serde_json::json!({"payroll_total": payroll, "batch_id": batch_id,
                "fee_due": new.fee_due, "remit_due": new.remit_due, "retained": new.retained});
            if let (Some(reason), Some(_)) = (reason_of(tx, reason.as_deref()), old) {
                after["reason"] = serde_json::json!(reason);
            }
            tx.record(Event {
                org_id: Some(unit),
                fund_id: Some(fund),
                amount: Some(row.fee_due),
                entry_id,
                before: old_split.as_ref().map(figures),
                after: Some(after),
                ..Event::new(
                    Stream::Org(unit),
                    if old.is_some() { "fee.declaration_corrected" } else { "fee.declared" },
                    "fee_declaration",
                    row.id,
                )
            });
            views.push(BatchLine {
                id: row.id,
                org_id: unit,
                period,
                version: row.version,
                fee_due: new.fee_due,
                remit_due: new.remit_due,
                retained: new.retained,
                unchanged: false,
            });
            stored_rows.push(row);
        }
        if !stored_rows.is_empty() {
            db::fees::insert_many(tx, &stored_rows)?;
        }
        // Units with payments on record in these years may now be overpaid or have credit to
        // apply; most batches have none, and pay nothing for this.
        let touched: Vec<(Uuid, i32, String)> = stored_rows
            .iter()
            .map(|r| (r.org_id, r.period.get(..4).and_then(|y| y.parse().ok()).unwrap_or(0), r.period.clone()))
            .collect();
        let with_money = db::fees::units_with_settlements(tx.db(), &unit_ids)?;
        for (unit, year, period) in touched.into_iter().filter(|(u, _, _)| with_money.contains(u)) {
            let fund = *fund_of_year.get(&year).ok_or_else(|| Error::internal("fund not locked"))?;
            rebalance(tx, unit, fund, year, Some(&period))?;
        }
        Ok(Answer {
            // Nothing written (every row a repeat) is not a creation.
            status: if stored_rows.is_empty() { 200 } else { 201 },
            etag: None,
            body: BatchView { count: views.len(), unchanged: repeated, fee_due: fee_total, declarations: views },
        })
    })
    .await
}

/// The row index in a field path like `rows[12].period`, for ordering errors by row.
fn row_index(field: &str) -> usize {
    field
        .strip_prefix("rows[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}

/// Where a unit's year stands: per month the fee due (current declaration) and what settled it,
/// and the unit's credit.
struct Position {
    months: std::collections::BTreeMap<String, (Money, Decimal)>,
    credit: Decimal,
    /// The current declaration of each declared month.
    current: std::collections::HashMap<String, DeclarationRow>,
    /// Credit received per month (overpayments and corrections refunded).
    credit_in: std::collections::HashMap<String, Decimal>,
}

impl Position {
    fn owed(&self, period: &str) -> Money {
        let (due, settled) = self.months.get(period).copied().unwrap_or((Money::ZERO, Decimal::ZERO));
        Money::from_decimal((due.as_decimal() - settled).max(Decimal::ZERO)).unwrap_or(Money::ZERO)
    }
}

fn position(conn: &mut Db<'_>, org_id: Uuid, year: i32) -> Result<Position, Error> {
    let mut months = std::collections::BTreeMap::new();
    let mut current = std::collections::HashMap::new();
    for d in db::fees::current_of_year(conn, org_id, year)? {
        months.insert(d.period.clone(), (money(d.fee_due)?, Decimal::ZERO));
        current.insert(d.period.clone(), d);
    }
    let mut credit = Decimal::ZERO;
    let mut credit_in: std::collections::HashMap<String, Decimal> = std::collections::HashMap::new();
    for s in db::fees::settlements_of(conn, org_id, year)? {
        let month = months.entry(s.period.clone()).or_insert((Money::ZERO, Decimal::ZERO));
        if matches!(s.kind.as_str(), "overpayment" | "correction_refund") {
            *credit_in.entry(s.period.clone()).or_default() += s.amount;
        }
        match s.kind.as_str() {
            "payment" => month.1 += s.amount,
            "overpayment" => credit += s.amount,
            "credit_applied" => {
                month.1 += s.amount;
                credit -= s.amount;
            }
            "correction_refund" => {
                month.1 -= s.amount;
                credit += s.amount;
            }
            other => return Err(Error::internal(format!("unknown settlement kind {other}"))),
        }
    }
    Ok(Position { months, credit, current, credit_in })
}

fn settlement(
    tx: &crate::db::write::Tx<'_>,
    org_id: Uuid,
    period: &str,
    kind: &str,
    amount: Money,
    fund_id: Uuid,
    entry_id: Uuid,
) -> db::fees::SettlementRow {
    db::fees::SettlementRow {
        id: Uuid::now_v7(),
        org_id,
        period: period.to_owned(),
        kind: kind.to_owned(),
        amount: amount.as_decimal(),
        fund_id,
        entry_id,
        created_at: tx.ctx().now,
        created_by: tx.ctx().actor(),
    }
}

fn fee_account(fund: Uuid, code: &str) -> crate::domain::ledger::AccountRef {
    crate::domain::ledger::AccountRef::of_fund(fund, code)
}

/// After a correction: a month now paid beyond its fee gives the excess back as credit; then
/// credit pays the unit's months in arrears, oldest first. Both posted and recorded.
fn rebalance(
    tx: &mut crate::db::write::Tx<'_>,
    org_id: Uuid,
    fund_id: Uuid,
    year: i32,
    corrected: Option<&str>,
) -> Result<(), Error> {
    use crate::domain::ledger::JournalEntry;
    use fees::accounts as a;
    let pos = position(tx.db(), org_id, year)?;
    if let Some(period) = corrected
        && let Some((due, settled)) = pos.months.get(period).copied()
        && settled > due.as_decimal()
    {
        let excess = money(settled - due.as_decimal())?;
        let entry = JournalEntry::transfer(
            "fee_correction_refund",
            "overpaid after a correction: to credit",
            fee_account(fund_id, a::CREDIT),
            fee_account(fund_id, a::RECEIVABLE),
            excess,
        )?;
        let entry_id = tx.post(&entry, Some(fund_id), "fee_settlement", org_id)?;
        let row = settlement(tx, org_id, period, "correction_refund", excess, fund_id, entry_id);
        tx.record(Event {
            org_id: Some(org_id),
            fund_id: Some(fund_id),
            amount: Some(row.amount),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({"period": period, "to_credit": excess})),
            ..Event::new(Stream::Org(org_id), "fee.credited_after_correction", "fee_settlement", row.id)
        });
        db::fees::insert_settlements(tx, &[row])?;
    }
    let pos = position(tx.db(), org_id, year)?;
    let credit = money(pos.credit.max(Decimal::ZERO))?;
    let arrears: Vec<(Period, Money)> =
        pos.months.keys().filter_map(|p| Period::parse(p).ok().map(|period| (period, pos.owed(p)))).collect();
    let spread = fees::spread_credit(credit, &arrears);
    if spread.is_empty() {
        return Ok(());
    }
    let total = Money::checked_sum(spread.iter().map(|(_, m)| *m)).ok_or_else(Error::out_of_range)?;
    let entry = JournalEntry::transfer(
        "fee_credit_applied",
        "credit applied to months in arrears",
        fee_account(fund_id, a::RECEIVABLE),
        fee_account(fund_id, a::CREDIT),
        total,
    )?;
    let entry_id = tx.post(&entry, Some(fund_id), "fee_settlement", org_id)?;
    let mut rows = Vec::new();
    for (period, used) in spread {
        let row = settlement(tx, org_id, &period.to_string(), "credit_applied", used, fund_id, entry_id);
        tx.record(Event {
            org_id: Some(org_id),
            fund_id: Some(fund_id),
            amount: Some(row.amount),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({"period": period, "credit_applied": used})),
            ..Event::new(Stream::Org(org_id), "fee.credit_applied", "fee_settlement", row.id)
        });
        rows.push(row);
    }
    db::fees::insert_settlements(tx, &rows)
}

/// A payment or remittance for a unit's month, validated.
#[derive(Debug, Clone)]
pub struct MonthAmount {
    /// The member unit.
    pub org_id: Uuid,
    /// The month.
    pub period: Period,
    /// The amount (more than zero).
    pub amount: Money,
}

/// A payment received, validated.
#[derive(Debug, Clone)]
pub struct Payment {
    /// The member unit.
    pub org_id: Uuid,
    /// The month.
    pub period: Period,
    /// The amount (more than zero).
    pub amount: Money,
    /// The sender's document reference, unique per unit and year.
    pub reference: String,
}

/// A refund of an over-remittance by the upper level, validated.
#[derive(Debug, Clone)]
pub struct Refund {
    /// The member unit whose month was over-remitted.
    pub org_id: Uuid,
    /// The month.
    pub period: Period,
    /// The amount given back (more than zero, at most the month's `remit_receivable`).
    pub amount: Money,
    /// Why (the upper level's document, the correction it follows), for the trail.
    pub reason: String,
}

/// A payment as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// Id.
    pub id: Uuid,
    /// The sender's document reference.
    #[schema(example = "沅财缴〔2022〕0113号")]
    pub reference: String,
    /// The journal entry that recorded it.
    pub entry_id: Uuid,
    /// The member unit.
    pub org_id: Uuid,
    /// The month paid for.
    pub period: Period,
    /// Received.
    pub amount: Money,
    /// Applied to the month.
    pub applied: Money,
    /// Beyond what the month owed: kept as credit and applied to months in arrears.
    pub to_credit: Money,
}

/// A remittance as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemittanceView {
    /// Id.
    pub id: Uuid,
    /// The member unit.
    pub org_id: Uuid,
    /// The month.
    pub period: Period,
    /// Passed on to the federation.
    pub amount: Money,
    /// The journal entry.
    pub entry_id: Uuid,
}

/// Locks the unit (a member unit) and the year's union-fee fund.
fn lock_unit_and_fund(tx: &mut crate::db::write::Tx<'_>, org_id: Uuid, year: i32) -> Result<Uuid, Error> {
    let org = db::orgs::lock(tx, org_id)?;
    if OrgKind::parse(&org.kind) != Some(OrgKind::MemberUnit) {
        return Err(Error::invalid("org_id", "union fees are paid by member units only"));
    }
    let fund = db::fees::lock_fee_fund(tx, year)?
        .ok_or_else(|| DomainError::conflict("no_union_fee_fund", format!("there is no union_fee fund for {year}")))?;
    Ok(fund.id)
}

/// Records a unit's payment for a month: applied to what the month owes, the rest kept as
/// credit, and credit applied to the unit's months in arrears, oldest first. A `reference`
/// already recorded for the unit in the year is 409 `duplicate_reference`: a retry under a new
/// key, not a second payment (a true retry reuses its key and is answered from the store).
#[tracing::instrument(skip_all, fields(org.id = %cmd.org_id, period = %cmd.period))]
pub async fn record_payment(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: Payment,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        use fees::accounts as a;
        super::books::ensure_open(tx, cmd.period.year())?;
        let year = cmd.period.year();
        // The unit is locked: no other payment of it can take the reference before the insert.
        let fund_id = lock_unit_and_fund(tx, cmd.org_id, year)?;
        if db::fees::payment_by_reference(tx.db(), cmd.org_id, year, &cmd.reference)?.is_some() {
            return Err(Error::duplicate_reference());
        }
        let period = cmd.period.to_string();
        let pos = position(tx.db(), cmd.org_id, year)?;
        let (applied, to_credit) = fees::apply_payment(pos.owed(&period), cmd.amount);
        let entry = crate::domain::ledger::JournalEntry::builder("fee_payment", "union fee received")
            .debit(fee_account(fund_id, a::CASH), cmd.amount)
            .credit(fee_account(fund_id, a::RECEIVABLE), applied)
            .credit(fee_account(fund_id, a::CREDIT), to_credit)
            .build()?;
        let entry_id = tx.post(&entry, Some(fund_id), "fee_settlement", cmd.org_id)?;
        let mut rows = Vec::new();
        if !applied.is_zero() {
            rows.push(settlement(tx, cmd.org_id, &period, "payment", applied, fund_id, entry_id));
        }
        if !to_credit.is_zero() {
            rows.push(settlement(tx, cmd.org_id, &period, "overpayment", to_credit, fund_id, entry_id));
        }
        let payment = db::fees::PaymentRow {
            id: Uuid::now_v7(),
            org_id: cmd.org_id,
            period: period.clone(),
            amount: cmd.amount.as_decimal(),
            reference: cmd.reference,
            fund_id,
            entry_id,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::fees::insert_payment(tx, &payment)?;
        tx.record(Event {
            org_id: Some(cmd.org_id),
            fund_id: Some(fund_id),
            amount: Some(cmd.amount.as_decimal()),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({"period": period, "applied": applied, "to_credit": to_credit,
                "payment_id": payment.id, "reference": payment.reference})),
            ..Event::new(Stream::Org(cmd.org_id), "fee.payment_received", "fee_settlement", entry_id)
        });
        db::fees::insert_settlements(tx, &rows)?;
        rebalance(tx, cmd.org_id, fund_id, year, None)?;
        let body = PaymentView {
            id: payment.id,
            reference: payment.reference,
            entry_id,
            org_id: cmd.org_id,
            period: cmd.period,
            amount: cmd.amount,
            applied,
            to_credit,
        };
        Ok(Answer { status: 201, etag: None, body })
    })
    .await
}

/// Records the federation's share of a unit's month passed on. It may not exceed the month's
/// `remit_due` less what was already remitted (409 `over_remittance`).
#[tracing::instrument(skip_all, fields(org.id = %cmd.org_id, period = %cmd.period))]
pub async fn record_remittance(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: MonthAmount,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        use fees::accounts as a;
        super::books::ensure_open(tx, cmd.period.year())?;
        let year = cmd.period.year();
        let fund_id = lock_unit_and_fund(tx, cmd.org_id, year)?;
        let period = cmd.period.to_string();
        let due = db::fees::current(tx.db(), cmd.org_id, &period)?.map_or(Decimal::ZERO, |d| d.remit_due);
        // What the federation holds of the month: a refund of an over-remittance makes room again.
        let done = db::fees::remitted_net(tx.db(), cmd.org_id, &period)?;
        if done + cmd.amount.as_decimal() > due {
            return Err(DomainError::conflict(
                "over_remittance",
                format!("{period}: {due} is due to the federation and {done} was already remitted"),
            )
            .into());
        }
        let entry = crate::domain::ledger::JournalEntry::transfer(
            "fee_remittance",
            "federation's share remitted",
            fee_account(fund_id, a::CASH),
            fee_account(fund_id, a::REMIT_PAYABLE),
            cmd.amount,
        )?;
        let id = Uuid::now_v7();
        let entry_id = tx.post(&entry, Some(fund_id), "fee_remittance", id)?;
        let row = db::fees::RemittanceRow {
            id,
            org_id: cmd.org_id,
            period: period.clone(),
            amount: cmd.amount.as_decimal(),
            fund_id,
            entry_id,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::fees::insert_remittance(tx, &row)?;
        tx.record(Event {
            org_id: Some(cmd.org_id),
            fund_id: Some(fund_id),
            amount: Some(row.amount),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({"period": period})),
            ..Event::new(Stream::Org(cmd.org_id), "fee.remitted", "fee_remittance", id)
        });
        Ok(Answer {
            status: 201,
            etag: None,
            body: RemittanceView { id, org_id: cmd.org_id, period: cmd.period, amount: cmd.amount, entry_id },
        })
    })
    .await
}

/// A remittance refund as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemitRefundView {
    /// Id.
    pub id: Uuid,
    /// The member unit.
    pub org_id: Uuid,
    /// The month.
    pub period: Period,
    /// Given back by the upper level.
    pub amount: Money,
    /// Why.
    pub reason: String,
    /// What the upper level still owes back for the month after this refund.
    pub remit_receivable: Money,
    /// The journal entry.
    pub entry_id: Uuid,
}

/// Records money the upper level gave back for a unit's month remitted beyond what is now due
/// (after a correction downwards): the finance office only (403 `reserved_to_finance_office`),
/// at most the month's `remit_receivable` (409 `over_refund`). It settles the receivable, and
/// the check `remittances_within_due` passes again once none is left.
#[tracing::instrument(skip_all, fields(org.id = %cmd.org_id, period = %cmd.period))]
pub async fn record_remit_refund(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: Refund,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        use fees::accounts as a;
        if role_of(tx).is_some_and(|r| r != crate::domain::policy::Role::FinanceOfficer) {
            return Err(DomainError::Forbidden {
                code: fees::RESERVED_TO_FINANCE_OFFICE,
                detail: "a remittance refund is recorded by the finance office only".into(),
            }
            .into());
        }
        super::books::ensure_open(tx, cmd.period.year())?;
        let year = cmd.period.year();
        let fund_id = lock_unit_and_fund(tx, cmd.org_id, year)?;
        let period = cmd.period.to_string();
        let due = db::fees::current(tx.db(), cmd.org_id, &period)?.map_or(Ok(Money::ZERO), |d| money(d.remit_due))?;
        let receivable = fees::remit_receivable(db::fees::remitted_net(tx.db(), cmd.org_id, &period)?, due);
        if cmd.amount.as_decimal() > receivable {
            return Err(DomainError::conflict(
                "over_refund",
                format!("the month was remitted {receivable} beyond what is due to the federation"),
            )
            .into());
        }
        let entry = crate::domain::ledger::JournalEntry::transfer(
            "fee_remit_refund",
            "over-remittance given back by the upper level",
            fee_account(fund_id, a::REMIT_PAYABLE),
            fee_account(fund_id, a::CASH),
            cmd.amount,
        )?;
        let id = Uuid::now_v7();
        let entry_id = tx.post(&entry, Some(fund_id), "fee_remit_refund", id)?;
        let row = db::fees::RefundRow {
            id,
            org_id: cmd.org_id,
            period: period.clone(),
            amount: cmd.amount.as_decimal(),
            reason: cmd.reason,
            fund_id,
            entry_id,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::fees::insert_refund(tx, &row)?;
        tx.record(Event {
            org_id: Some(cmd.org_id),
            fund_id: Some(fund_id),
            amount: Some(row.amount),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({"period": period, "reason": row.reason})),
            ..Event::new(Stream::Org(cmd.org_id), "fee.remittance_refunded", "fee_remit_refund", id)
        });
        let left = money(receivable - row.amount)?;
        Ok(Answer {
            status: 201,
            etag: None,
            body: RemitRefundView {
                id,
                org_id: cmd.org_id,
                period: cmd.period,
                amount: cmd.amount,
                reason: row.reason,
                remit_receivable: left,
                entry_id,
            },
        })
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
    super::read(pool, move |conn| {
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
