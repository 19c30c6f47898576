//! Payments received, and credit: an overpayment kept as credit, credit applied to months in arrears.

use std::collections::{BTreeSet, HashSet};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::batch::{UnitKeys, lock_funds, refuse};
use super::lock_unit_and_fund;
use super::settle::Settling;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::domain::ids::Period;
use crate::domain::money::Money;
use crate::error::Error;

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

/// Records a unit's payment for a month: applied to what the month owes, the rest kept as
/// credit, and credit applied to the unit's months in arrears, oldest first. A `reference`
/// already recorded for the unit in the year is 409 `duplicate_reference`: a retry under a new
/// key, not a second payment (a true retry reuses its key and is answered from the store). The
/// batch's path, with one row (`record_payments`).
#[tracing::instrument(skip_all, fields(org.id = %cmd.org_id, period = %cmd.period))]
pub async fn record_payment(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: Payment,
) -> Result<Stored, Error> {
    crate::service::write(pool, ctx, idem, move |tx| {
        crate::service::books::ensure_open(tx, cmd.period.year())?;
        let year = cmd.period.year();
        // The unit is locked: no other payment of it can take the reference before the insert.
        let fund_id = lock_unit_and_fund(tx, cmd.org_id, year)?;
        if db::fees::payment_by_reference(tx.db(), cmd.org_id, year, &cmd.reference)?.is_some() {
            return Err(Error::duplicate_reference());
        }
        let mut views = pay_all(tx, vec![(cmd, fund_id)])?;
        let body = views.pop().ok_or_else(|| Error::internal("a payment without its answer"))?;
        Ok(Answer { status: 201, etag: None, body })
    })
    .await
}

/// Payments, in order, each as a single payment would be recorded after the one before: applied,
/// kept as credit, credit spread; positions loaded set-based, and every entry, payment and
/// settlement written in a few statements.
fn pay_all(tx: &mut crate::db::write::Tx<'_>, payments: Vec<(Payment, Uuid)>) -> Result<Vec<PaymentView>, Error> {
    let units: Vec<Uuid> = payments.iter().map(|(p, _)| p.org_id).collect::<HashSet<_>>().into_iter().collect();
    let years: Vec<i32> = payments.iter().map(|(p, _)| p.period.year()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut settling = Settling::load(tx, &units, &years)?;
    let mut paid = Vec::with_capacity(payments.len());
    for (p, fund) in &payments {
        paid.push(settling.pay(p.org_id, *fund, p.period, p.amount)?);
        settling.rebalance(p.org_id, *fund, p.period.year(), None)?;
    }
    let posted = settling.post(tx)?;
    let (now, actor) = (tx.ctx().now, tx.ctx().actor());
    let mut rows = Vec::with_capacity(payments.len());
    let mut views = Vec::with_capacity(payments.len());
    for ((cmd, fund_id), paid) in payments.into_iter().zip(paid) {
        let entry_id = *posted.ids.get(paid.entry).ok_or_else(|| Error::internal("a payment without its entry"))?;
        let payment = db::fees::PaymentRow {
            id: Uuid::now_v7(),
            org_id: cmd.org_id,
            period: cmd.period,
            amount: cmd.amount.as_decimal(),
            reference: cmd.reference,
            fund_id,
            entry_id,
            created_at: now,
            created_by: actor.clone(),
        };
        tx.record(Event {
            org_id: Some(cmd.org_id),
            fund_id: Some(fund_id),
            amount: Some(payment.amount),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({"period": cmd.period, "applied": paid.applied, "to_credit": paid.to_credit,
                "payment_id": payment.id, "reference": payment.reference})),
            ..Event::new(Stream::Org(cmd.org_id), "fee.payment_received", "fee_settlement", entry_id)
        });
        views.push(PaymentView {
            id: payment.id,
            reference: payment.reference.clone(),
            entry_id,
            org_id: cmd.org_id,
            period: cmd.period,
            amount: cmd.amount,
            applied: paid.applied,
            to_credit: paid.to_credit,
        });
        rows.push(payment);
    }
    db::fees::insert_payments(tx, &rows)?;
    posted.finish(tx)?;
    Ok(views)
}

/// One row of a payments batch: the unit by `org_id` or by `credit_code`.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentBatchRow {
    /// The member unit, by id …
    pub org_id: Option<Uuid>,
    /// … or by its unified social credit code.
    #[schema(value_type = Option<String>, example = "11430981MB1234567X")]
    pub credit_code: Option<String>,
    /// The month paid for.
    pub period: Period,
    /// More than zero.
    pub amount: Money,
    /// The sender's document reference: 1–64 characters, unique per unit and year.
    #[schema(example = "沅财缴〔2022〕0113号")]
    pub reference: String,
}

/// The answer to a payments batch: every payment, in the order of the rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentBatchView {
    /// Rows in the batch.
    pub count: usize,
    /// Received over the batch.
    pub amount: Money,
    /// Of it, applied to the months paid for.
    pub applied: Money,
    /// Of it, kept as credit.
    pub to_credit: Money,
    /// The payments, one per row, in order.
    pub payments: Vec<PaymentView>,
}

/// Records the bank's or the tax office's file of payments, up to 10,000 rows, all or nothing:
/// each row exactly as a single payment would be recorded after the rows before it (the same
/// credit rule), a bad batch refused naming every bad row — a unit that is not a member unit, a
/// year without its union-fee fund, a reference used twice in the batch or already recorded for
/// the unit in the year — and nothing written.
#[tracing::instrument(skip_all, fields(rows = rows.len()))]
pub async fn record_payments(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    rows: Vec<PaymentBatchRow>,
) -> Result<Stored, Error> {
    use crate::domain::FieldError;
    let mut errors: Vec<FieldError> = Vec::new();
    let keys = UnitKeys::of(&rows, &mut errors);
    crate::service::write(pool, ctx, idem, move |tx| {
        crate::service::books::ensure_years_open(tx, rows.iter().map(|r| r.period.year()))?;
        let units = keys.resolve(tx, &rows, &mut errors)?;
        let funds = lock_funds(tx, rows.iter().map(|r| r.period.year()), &mut errors)?;
        // References: once per unit and year, in the batch and on record.
        let mut seen: HashSet<(Uuid, i32, &str)> = HashSet::new();
        let (mut ref_units, mut ref_years, mut refs) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (r, unit)) in rows.iter().zip(&units).enumerate() {
            let Some(unit) = unit.as_ref().map(|u| &u.id) else { continue };
            if !seen.insert((*unit, r.period.year(), r.reference.as_str())) {
                errors.push(FieldError::new(
                    format!("rows[{i}].reference"),
                    "the same reference appears twice for the unit and year in the batch",
                ));
            }
            ref_units.push(*unit);
            ref_years.push(r.period.year());
            refs.push(r.reference.clone());
        }
        let taken = db::fees::payment_references_taken(tx.db(), &ref_units, &ref_years, &refs)?;
        for (i, (r, unit)) in rows.iter().zip(&units).enumerate() {
            if let Some(unit) = unit.as_ref().map(|u| &u.id)
                && taken.contains(&(*unit, r.period.year(), r.reference.clone()))
            {
                errors.push(FieldError::new(
                    format!("rows[{i}].reference"),
                    "duplicate_reference: a payment with this reference is already recorded for the unit in the year",
                ));
            }
        }
        refuse(errors)?;
        let mut payments = Vec::with_capacity(rows.len());
        for (r, unit) in rows.into_iter().zip(units) {
            let (Some(org_id), Some(fund)) = (unit.map(|u| u.id), funds.get(&r.period.year())) else {
                return Err(Error::internal("unresolved row"));
            };
            payments.push((Payment { org_id, period: r.period, amount: r.amount, reference: r.reference }, *fund));
        }
        let views = pay_all(tx, payments)?;
        let sum =
            |f: fn(&PaymentView) -> Money| Money::checked_sum(views.iter().map(f)).ok_or_else(Error::out_of_range);
        let body = PaymentBatchView {
            count: views.len(),
            amount: sum(|v| v.amount)?,
            applied: sum(|v| v.applied)?,
            to_credit: sum(|v| v.to_credit)?,
            payments: views,
        };
        Ok(Answer { status: 201, etag: None, body })
    })
    .await
}
