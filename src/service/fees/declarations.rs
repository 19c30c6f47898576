//! A unit's payroll declaration for a month, and its corrections (each a new version).

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::batch::{Unit, declaration_row, figures, rate_row};
use super::settle::Settling;
use super::{money, rate, reason_of, role_of};
use crate::db::fees::DeclarationRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::audit::Stream;
use crate::domain::fees::{self, FeeScheme, Split};
use crate::domain::ids::OrgId;
use crate::domain::ids::Period;
use crate::domain::money::{Money, Rate};
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::service::{Listed, Page};

/// A declaration as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeclarationView {
    /// Id.
    pub id: Uuid,
    /// The member unit.
    pub org_id: Uuid,
    /// The month, `YYYY-MM`.
    pub period: Period,
    /// `union_fee`, or `preparatory_fee` for a month the unit had no union (all of it goes up).
    pub scheme: FeeScheme,
    /// 1 for the first declaration of the period, then one more per correction.
    pub version: i32,
    /// The declaration this one corrects, if any (it stays on record).
    pub supersedes: Option<Uuid>,
    /// Total payroll (工资总额).
    pub payroll_total: Money,
    /// The fee rate applied (from the rate table).
    pub fee_rate: Rate,
    /// The remit rate applied (the city's and the upper levels' shares together).
    pub remit_rate: Rate,
    /// Of the fee, the upper levels' share applied (0 for a declaration made before the levels).
    pub upper_rate: Rate,
    /// Fee due: payroll × fee rate, half-up to the fen.
    pub fee_due: Money,
    /// To remit to the federation: fee × remit rate, half-up to the fen.
    pub remit_due: Money,
    /// Kept by the unit's union: fee − remit.
    pub retained: Money,
    /// Of `remit_due`, what the city federation keeps: remit − upper.
    pub city_due: Money,
    /// Of `remit_due`, what the city passes on to the provincial and national federations:
    /// fee × upper rate, half-up to the fen.
    pub upper_due: Money,
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

fn declaration_view(r: DeclarationRow, supersedes: Option<Uuid>) -> Result<DeclarationView, Error> {
    declaration_view_of(r, supersedes, false)
}

fn declaration_view_of(r: DeclarationRow, supersedes: Option<Uuid>, unchanged: bool) -> Result<DeclarationView, Error> {
    let split = split_of(&r)?;
    Ok(DeclarationView {
        scheme: FeeScheme::parse(&r.scheme).ok_or_else(|| Error::internal("bad fee scheme"))?,
        upper_rate: rate(r.upper_rate.unwrap_or_default())?,
        city_due: split.city_due(),
        upper_due: split.upper_due,
        id: r.id,
        org_id: r.org_id,
        period: r.period,
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

/// The current declaration's payroll and rates, to tell a repeat from a correction. A
/// declaration made before the levels was made under an upper rate of 0.
pub(super) fn terms_of(r: &DeclarationRow) -> Result<(Money, Rate, Rate, Rate), Error> {
    Ok((money(r.payroll_total)?, rate(r.fee_rate)?, rate(r.remit_rate)?, rate(r.upper_rate.unwrap_or_default())?))
}

/// A stored declaration's split. One made before the levels passes nothing on and had no legs
/// in the city's books.
pub(super) fn split_of(r: &DeclarationRow) -> Result<Split, Error> {
    let remit_due = money(r.remit_due)?;
    Ok(Split {
        fee_due: money(r.fee_due)?,
        remit_due,
        retained: money(r.retained)?,
        upper_due: r.upper_due.map(money).transpose()?.unwrap_or(Money::ZERO),
        booked_by_city: if r.upper_due.is_some() { remit_due } else { Money::ZERO },
    })
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
    crate::service::write(pool, ctx, idem, move |tx| {
        crate::service::books::ensure_open(tx, cmd.period.year())?;
        if !scope.sees(cmd.org_id) {
            return Err(Error::NotFound);
        }
        // Lock order: the unit first (serialises its corrections), then the fund.
        let org = db::orgs::lock(tx, cmd.org_id)?;
        let Some(unit) = Unit::of(&org) else {
            return Err(Error::invalid("org_id", "union fees are declared for member units only"));
        };
        let (unit_kind, scheme) = (unit.kind, unit.scheme(cmd.period));
        let rates = db::fees::rates_of(tx.db(), unit_kind.as_str())?
            .into_iter()
            .map(rate_row)
            .collect::<Result<Vec<_>, Error>>()?;
        let fee_rate = fees::rate_for(&rates, unit_kind, scheme, cmd.period).ok_or_else(|| {
            DomainError::conflict(
                "no_fee_rate",
                format!("no {scheme} rate for {unit_kind} units is in force on that period's first day"),
            )
        })?;
        let fund = db::fees::lock_fee_fund(tx, cmd.period.year())?.ok_or_else(|| {
            DomainError::conflict("no_union_fee_fund", format!("there is no union_fee fund for {}", cmd.period.year()))
        })?;
        let period = cmd.period;
        let old = db::fees::current(tx.db(), cmd.org_id, period)?;
        if let Some(current) = &old {
            if fees::repeats(terms_of(current)?, cmd.payroll_total, &fee_rate) {
                let before = match current.version {
                    1 => None,
                    v => db::fees::version_id(tx.db(), cmd.org_id, period, v - 1)?,
                };
                return Ok(Answer {
                    status: 200,
                    etag: None,
                    body: declaration_view_of(current.clone(), before, true)?,
                });
            }
            let moved = !db::fees::months_with_money(tx.db(), &[cmd.org_id], &[period])?.is_empty();
            fees::may_correct(role_of(tx), moved, reason_of(tx, cmd.reason.as_deref()).as_deref())?;
        }
        let new = fees::split(cmd.payroll_total, &fee_rate);
        let old_split = old.as_ref().map(split_of).transpose()?;
        let entry = fees::declaration_entry(fund.id, new, old_split)?;
        let id = Uuid::now_v7();
        let entry_id = entry.map(|e| tx.post(&e, Some(fund.id), "fee_declaration", id)).transpose()?;
        let version = old.as_ref().map_or(1, |o| o.version + 1);
        let row = DeclarationRow {
            id,
            ..declaration_row(
                cmd.org_id,
                period,
                version,
                cmd.payroll_total,
                &fee_rate,
                &new,
                fund.id,
                entry_id,
                tx.ctx().now,
                &tx.ctx().actor(),
            )
        };
        db::fees::insert(tx, &row)?;
        let with_payroll = |s: &Split, payroll: String| {
            let mut f = figures(s);
            f["payroll_total"] = serde_json::json!(payroll);
            f
        };
        let mut after = with_payroll(&new, cmd.payroll_total.to_string());
        if let (Some(reason), Some(_)) = (reason_of(tx, cmd.reason.as_deref()), &old) {
            after["reason"] = serde_json::json!(reason);
        }
        tx.record(Event {
            org_id: Some(cmd.org_id),
            fund_id: Some(fund.id),
            amount: Some(row.fee_due),
            entry_id,
            before: old.as_ref().zip(old_split.as_ref()).map(|(o, s)| with_payroll(s, o.payroll_total.to_string())),
            after: Some(after),
            ..Event::new(
                Stream::Org(cmd.org_id),
                if old.is_some() { "fee.declaration_corrected" } else { "fee.declared" },
                "fee_declaration",
                id,
            )
        });
        // A correction below what was paid gives the excess back as credit; credit pays arrears:
        // the batch's path, with one row.
        let mut settling = Settling::load(tx, &[cmd.org_id], &[period.year()])?;
        settling.declare(row.clone())?;
        settling.rebalance(cmd.org_id, fund.id, period.year(), Some(period))?;
        settling.post(tx)?.finish(tx)?;
        let view = declaration_view(row, old.map(|o| o.id))?;
        Ok(Answer { status: 201, etag: None, body: view })
    })
    .await
}

/// A page of declarations, every version (auditors see the superseded ones too).
pub async fn list_declarations(
    pool: &Pool,
    scope: Scope,
    org_id: Option<OrgId>,
    page: Page,
) -> Result<Listed<DeclarationView>, Error> {
    let org_id = org_id.map(OrgId::uuid);
    let after = page.uuid_cursor()?;
    let org_id = match (scope, org_id) {
        (Scope::All, o) => o,
        (Scope::Org(own), None) => Some(own),
        (Scope::Org(own), Some(o)) if o == own => Some(o),
        (Scope::Org(_), Some(_)) => return Ok(Listed { items: Vec::new(), next_cursor: None }),
    };
    crate::service::read(pool, move |conn| {
        let rows = db::fees::list(conn, org_id, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.into_iter().map(|r| declaration_view(r, None)).collect::<Result<_, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}
