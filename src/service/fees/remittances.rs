//! The federation's share passed on, and what the upper level gives back of an over-remittance.

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::batch::{UnitKeys, lock_funds, refuse};
use super::{fee_account, lock_unit_and_fund, money, role_of};
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::audit::Stream;
use crate::domain::fees;
use crate::domain::ids::Period;
use crate::domain::money::Money;
use crate::error::Error;

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

/// Records the federation's share of a unit's month passed on. It may not exceed the month's
/// `remit_due` less what was already remitted (409 `over_remittance`). The batch's path, with
/// one row.
#[tracing::instrument(skip_all, fields(org.id = %cmd.org_id, period = %cmd.period))]
pub async fn record_remittance(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: MonthAmount,
) -> Result<Stored, Error> {
    crate::service::write(pool, ctx, idem, move |tx| {
        crate::service::books::ensure_open(tx, cmd.period.year())?;
        let fund_id = lock_unit_and_fund(tx, cmd.org_id, cmd.period.year())?;
        let planned = plan(tx, vec![(cmd, fund_id)])?;
        let planned = planned.into_iter().map(|(r, p)| p.map(|p| (r, p))).collect::<Result<Vec<_>, _>>()?;
        let mut views = remit_all(tx, planned)?;
        let body = views.pop().ok_or_else(|| Error::internal("a remittance without its answer"))?;
        Ok(Answer { status: 201, etag: None, body })
    })
    .await
}

/// What a month's remittance needs to be written: whether the month's declaration put the
/// city's share in the city's books (made after the levels), so that the money received is
/// taken there too.
#[derive(Debug, Clone, Copy)]
struct Planned {
    city_books: bool,
}

/// A remittance (with its fund), and whether it may be made.
type Checked = ((MonthAmount, Uuid), Result<Planned, DomainError>);

/// Checks each remittance, in order, against its month's `remit_due` and what was remitted
/// before it — on record and earlier in the same batch (`fees::may_remit`).
fn plan(tx: &mut crate::db::write::Tx<'_>, rows: Vec<(MonthAmount, Uuid)>) -> Result<Vec<Checked>, Error> {
    use std::collections::{HashMap, HashSet};
    let units: Vec<Uuid> = rows.iter().map(|(r, _)| r.org_id).collect::<HashSet<_>>().into_iter().collect();
    let periods: Vec<Period> = rows.iter().map(|(r, _)| r.period).collect::<HashSet<_>>().into_iter().collect();
    let current: HashMap<(Uuid, Period), db::fees::DeclarationRow> =
        db::fees::current_of(tx.db(), &units, &periods)?.into_iter().map(|d| ((d.org_id, d.period), d)).collect();
    let mut remitted = db::fees::remitted_net_of(tx.db(), &units, &periods)?;
    let mut out = Vec::with_capacity(rows.len());
    for (r, fund) in rows {
        let key = (r.org_id, r.period);
        let declared = current.get(&key);
        let due = declared.map_or(Decimal::ZERO, |d| d.remit_due);
        let net = remitted.entry(key).or_default();
        let verdict = fees::may_remit(r.period, due, *net, r.amount).map(|()| {
            *net += r.amount.as_decimal();
            Planned { city_books: declared.is_some_and(|d| d.upper_due.is_some()) }
        });
        out.push(((r, fund), verdict));
    }
    Ok(out)
}

/// Writes checked remittances: an entry each (the unit's cash to the federation and, where the
/// month's share is in the city's books, the city's receivable to its cash), all in one
/// statement, the rows in one, an event each.
fn remit_all(
    tx: &mut crate::db::write::Tx<'_>,
    rows: Vec<((MonthAmount, Uuid), Planned)>,
) -> Result<Vec<RemittanceView>, Error> {
    use crate::db::write::ToPost;
    use crate::domain::ledger::JournalEntry;
    use fees::accounts as a;
    let mut entries = Vec::with_capacity(rows.len());
    let ids: Vec<Uuid> = rows.iter().map(|_| Uuid::now_v7()).collect();
    for ((cmd, fund), planned) in &rows {
        let mut b = JournalEntry::builder("fee_remittance", "federation's share remitted")
            .debit(fee_account(*fund, a::REMIT_PAYABLE), cmd.amount)
            .credit(fee_account(*fund, a::CASH), cmd.amount);
        if planned.city_books {
            b = b
                .debit(fee_account(*fund, a::CITY_CASH), cmd.amount)
                .credit(fee_account(*fund, a::CITY_RECEIVABLE), cmd.amount);
        }
        entries.push(b.build()?);
    }
    let to_post: Vec<ToPost<'_>> = entries
        .iter()
        .zip(&rows)
        .zip(&ids)
        .map(|((entry, ((_, fund), _)), id)| ToPost {
            entry,
            fund_id: Some(*fund),
            entity_type: "fee_remittance",
            entity_id: *id,
        })
        .collect();
    let entry_ids = tx.post_many(&to_post)?;
    let (now, actor) = (tx.ctx().now, tx.ctx().actor());
    let mut stored = Vec::with_capacity(rows.len());
    let mut views = Vec::with_capacity(rows.len());
    for ((((cmd, fund_id), _), id), entry_id) in rows.into_iter().zip(ids).zip(entry_ids) {
        let row = db::fees::RemittanceRow {
            id,
            org_id: cmd.org_id,
            period: cmd.period,
            amount: cmd.amount.as_decimal(),
            fund_id,
            entry_id,
            created_at: now,
            created_by: actor.clone(),
        };
        tx.record(Event {
            org_id: Some(cmd.org_id),
            fund_id: Some(fund_id),
            amount: Some(row.amount),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({"period": cmd.period})),
            ..Event::new(Stream::Org(cmd.org_id), "fee.remitted", "fee_remittance", id)
        });
        views.push(RemittanceView { id, org_id: cmd.org_id, period: cmd.period, amount: cmd.amount, entry_id });
        stored.push(row);
    }
    db::fees::insert_remittances(tx, &stored)?;
    Ok(views)
}

/// One row of a remittances batch: the unit by `org_id` or by `credit_code`.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RemittanceBatchRow {
    /// The member unit, by id …
    pub org_id: Option<Uuid>,
    /// … or by its unified social credit code.
    #[schema(value_type = Option<String>, example = "11430981MB1234567X")]
    pub credit_code: Option<String>,
    /// The month.
    pub period: Period,
    /// More than zero.
    pub amount: Money,
}

/// The answer to a remittances batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct RemittanceBatchView {
    /// Rows in the batch.
    pub count: usize,
    /// Remitted over the batch.
    pub amount: Money,
    /// The remittances, one per row, in order.
    pub remittances: Vec<RemittanceView>,
}

/// Records many remittances at once, up to 10,000 rows, all or nothing: each checked as a single
/// remittance would be after the rows before it; a batch with a bad row is a 422 naming every
/// bad row (`over_remittance` among them) and writes nothing.
#[tracing::instrument(skip_all, fields(rows = rows.len()))]
pub async fn record_remittances(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    rows: Vec<RemittanceBatchRow>,
) -> Result<Stored, Error> {
    use crate::domain::FieldError;
    let mut errors: Vec<FieldError> = Vec::new();
    let keys = UnitKeys::of(&rows, &mut errors);
    crate::service::write(pool, ctx, idem, move |tx| {
        crate::service::books::ensure_years_open(tx, rows.iter().map(|r| r.period.year()))?;
        let units = keys.resolve(tx, &rows, &mut errors)?;
        let funds = lock_funds(tx, rows.iter().map(|r| r.period.year()), &mut errors)?;
        let mut resolved = Vec::with_capacity(rows.len());
        let mut index = Vec::with_capacity(rows.len());
        for (i, (r, unit)) in rows.iter().zip(&units).enumerate() {
            if let (Some(org_id), Some(fund)) = (unit.as_ref().map(|u| &u.id), funds.get(&r.period.year())) {
                resolved.push((MonthAmount { org_id: *org_id, period: r.period, amount: r.amount }, *fund));
                index.push(i);
            }
        }
        let planned = plan(tx, resolved)?;
        let mut ok = Vec::with_capacity(planned.len());
        for (i, (row, verdict)) in index.into_iter().zip(planned) {
            match verdict {
                Ok(p) => ok.push((row, p)),
                Err(DomainError::Conflict { code, detail }) => {
                    errors.push(FieldError::new(format!("rows[{i}].amount"), format!("{code}: {detail}")));
                }
                Err(other) => return Err(other.into()),
            }
        }
        refuse(errors)?;
        let views = remit_all(tx, ok)?;
        let amount = Money::checked_sum(views.iter().map(|v| v.amount)).ok_or_else(Error::out_of_range)?;
        Ok(Answer {
            status: 201,
            etag: None,
            body: RemittanceBatchView { count: views.len(), amount, remittances: views },
        })
    })
    .await
}

/// What the city passes on to the upper levels of a year's fees, validated.
#[derive(Debug, Clone)]
pub struct UpperRemittance {
    /// The year's fees.
    pub year: i32,
    /// More than zero, at most what the city still owes upward for the year.
    pub amount: Money,
    /// The city's payment document, unique in the year.
    pub reference: String,
}

/// What the city passed on, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpperRemittanceView {
    /// Id.
    pub id: Uuid,
    /// The year's fees.
    pub year: i32,
    /// Passed on.
    pub amount: Money,
    /// The city's payment document.
    pub reference: String,
    /// What the city still owes upward for the year after this (应付上级经费).
    pub upper_payable: Money,
    /// The journal entry.
    pub entry_id: Uuid,
}

/// Records what the city federation passed on to the provincial and national federations of a
/// year's fees (the finance office only, 403 `reserved_to_finance_office`): at most what it owes
/// upward — the upper shares of the year's current declarations less what it passed on before
/// (409 `over_remittance`). A reference used before in the year is 409 `duplicate_reference`.
#[tracing::instrument(skip_all, fields(year = cmd.year))]
pub async fn record_upper_remittance(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: UpperRemittance,
) -> Result<Stored, Error> {
    crate::service::write(pool, ctx, idem, move |tx| {
        use crate::domain::ledger::JournalEntry;
        use fees::accounts as a;
        if role_of(tx).is_some_and(|r| r != crate::domain::policy::Role::FinanceOfficer) {
            return Err(DomainError::Forbidden {
                code: fees::RESERVED_TO_FINANCE_OFFICE,
                detail: "what the city passes on upward is recorded by the finance office only".into(),
            }
            .into());
        }
        crate::service::books::ensure_open(tx, cmd.year)?;
        // The fund's lock serialises every write of the year's fees, this one's check included.
        let fund = db::fees::lock_fee_fund(tx, cmd.year)?.ok_or_else(|| {
            DomainError::conflict("no_union_fee_fund", format!("there is no union_fee fund for {}", cmd.year))
        })?;
        if db::fees::upper_reference_taken(tx.db(), cmd.year, &cmd.reference)? {
            return Err(Error::duplicate_reference());
        }
        let owed = db::fees::upper_due_of_year(tx.db(), cmd.year)? - db::fees::upper_remitted(tx.db(), cmd.year)?;
        if cmd.amount.as_decimal() > owed {
            return Err(DomainError::conflict(
                "over_remittance",
                format!("the city owes the upper levels {owed} of {}'s fees", cmd.year),
            )
            .into());
        }
        let entry = JournalEntry::transfer(
            "fee_upper_remittance",
            "passed on to the upper levels",
            fee_account(fund.id, a::CITY_CASH),
            fee_account(fund.id, a::UPPER_PAYABLE),
            cmd.amount,
        )?;
        let id = Uuid::now_v7();
        let entry_id = tx.post(&entry, Some(fund.id), "fee_upper_remittance", id)?;
        let row = db::fees::UpperRemittanceRow {
            id,
            year: cmd.year,
            amount: cmd.amount.as_decimal(),
            reference: cmd.reference,
            fund_id: fund.id,
            entry_id,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::fees::insert_upper_remittance(tx, &row)?;
        tx.record(Event {
            fund_id: Some(fund.id),
            amount: Some(row.amount),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({"year": cmd.year, "reference": row.reference})),
            ..Event::new(Stream::Fund(fund.id), "fee.passed_upward", "fee_upper_remittance", id)
        });
        let left = money(owed - cmd.amount.as_decimal())?;
        Ok(Answer {
            status: 201,
            etag: None,
            body: UpperRemittanceView {
                id,
                year: cmd.year,
                amount: cmd.amount,
                reference: row.reference,
                upper_payable: left,
                entry_id,
            },
        })
    })
    .await
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
    crate::service::write(pool, ctx, idem, move |tx| {
        use fees::accounts as a;
        if role_of(tx).is_some_and(|r| r != crate::domain::policy::Role::FinanceOfficer) {
            return Err(DomainError::Forbidden {
                code: fees::RESERVED_TO_FINANCE_OFFICE,
                detail: "a remittance refund is recorded by the finance office only".into(),
            }
            .into());
        }
        crate::service::books::ensure_open(tx, cmd.period.year())?;
        let year = cmd.period.year();
        let fund_id = lock_unit_and_fund(tx, cmd.org_id, year)?;
        let period = cmd.period;
        let declared = db::fees::current(tx.db(), cmd.org_id, period)?;
        let due = declared.as_ref().map_or(Ok(Money::ZERO), |d| money(d.remit_due))?;
        let held = db::fees::remitted_net_of(tx.db(), &[cmd.org_id], &[period])?.remove(&(cmd.org_id, period));
        let left = fees::may_refund(held.unwrap_or_default(), due, cmd.amount)?;
        let mut entry = crate::domain::ledger::JournalEntry::builder(
            "fee_remit_refund",
            "over-remittance given back by the upper level",
        )
        .debit(fee_account(fund_id, a::CASH), cmd.amount)
        .credit(fee_account(fund_id, a::REMIT_PAYABLE), cmd.amount);
        // The city gives back from what it received, where the month is in its books.
        if declared.is_some_and(|d| d.upper_due.is_some()) {
            entry = entry
                .debit(fee_account(fund_id, a::CITY_RECEIVABLE), cmd.amount)
                .credit(fee_account(fund_id, a::CITY_CASH), cmd.amount);
        }
        let entry = entry.build()?;
        let id = Uuid::now_v7();
        let entry_id = tx.post(&entry, Some(fund_id), "fee_remit_refund", id)?;
        let row = db::fees::RefundRow {
            id,
            org_id: cmd.org_id,
            period,
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
        let left = money(left)?;
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
