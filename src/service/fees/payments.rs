//! Payments received, and credit: an overpayment kept as credit, credit applied to months in arrears.

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::position::Position;
use super::{fee_account, lock_unit_and_fund, money};
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::domain::fees::{self, SettlementKind};
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
/// key, not a second payment (a true retry reuses its key and is answered from the store).
#[tracing::instrument(skip_all, fields(org.id = %cmd.org_id, period = %cmd.period))]
pub async fn record_payment(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: Payment,
) -> Result<Stored, Error> {
    crate::service::write(pool, ctx, idem, move |tx| {
        use fees::accounts as a;
        crate::service::books::ensure_open(tx, cmd.period.year())?;
        let year = cmd.period.year();
        // The unit is locked: no other payment of it can take the reference before the insert.
        let fund_id = lock_unit_and_fund(tx, cmd.org_id, year)?;
        if db::fees::payment_by_reference(tx.db(), cmd.org_id, year, &cmd.reference)?.is_some() {
            return Err(Error::duplicate_reference());
        }
        let period = cmd.period;
        let pos = Position::load(tx.db(), cmd.org_id, year)?;
        let (applied, to_credit) = fees::apply_payment(pos.owed(period), cmd.amount);
        let entry = crate::domain::ledger::JournalEntry::builder("fee_payment", "union fee received")
            .debit(fee_account(fund_id, a::CASH), cmd.amount)
            .credit(fee_account(fund_id, a::RECEIVABLE), applied)
            .credit(fee_account(fund_id, a::CREDIT), to_credit)
            .build()?;
        let entry_id = tx.post(&entry, Some(fund_id), "fee_settlement", cmd.org_id)?;
        let mut rows = Vec::new();
        if !applied.is_zero() {
            rows.push(settlement(tx, cmd.org_id, period, SettlementKind::Payment, applied, fund_id, entry_id));
        }
        if !to_credit.is_zero() {
            rows.push(settlement(tx, cmd.org_id, period, SettlementKind::Overpayment, to_credit, fund_id, entry_id));
        }
        let payment = db::fees::PaymentRow {
            id: Uuid::now_v7(),
            org_id: cmd.org_id,
            period,
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

fn settlement(
    tx: &crate::db::write::Tx<'_>,
    org_id: Uuid,
    period: Period,
    kind: SettlementKind,
    amount: Money,
    fund_id: Uuid,
    entry_id: Uuid,
) -> db::fees::SettlementRow {
    db::fees::SettlementRow {
        id: Uuid::now_v7(),
        org_id,
        period,
        kind: kind.as_str().to_owned(),
        amount: amount.as_decimal(),
        fund_id,
        entry_id,
        created_at: tx.ctx().now,
        created_by: tx.ctx().actor(),
    }
}

/// After a correction: a month now paid beyond its fee gives the excess back as credit; then
/// credit pays the unit's months in arrears, oldest first. Both posted and recorded.
pub(super) fn rebalance(
    tx: &mut crate::db::write::Tx<'_>,
    org_id: Uuid,
    fund_id: Uuid,
    year: i32,
    corrected: Option<Period>,
) -> Result<(), Error> {
    use crate::domain::ledger::JournalEntry;
    use fees::accounts as a;
    if let Some(period) = corrected
        && let overpaid = Position::load(tx.db(), org_id, year)?.month(period).overpaid
        && overpaid > Decimal::ZERO
    {
        let excess = money(overpaid)?;
        let entry = JournalEntry::transfer(
            "fee_correction_refund",
            "overpaid after a correction: to credit",
            fee_account(fund_id, a::CREDIT),
            fee_account(fund_id, a::RECEIVABLE),
            excess,
        )?;
        let entry_id = tx.post(&entry, Some(fund_id), "fee_settlement", org_id)?;
        let row = settlement(tx, org_id, period, SettlementKind::CorrectionRefund, excess, fund_id, entry_id);
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
    let pos = Position::load(tx.db(), org_id, year)?;
    let credit = money(pos.credit())?;
    let arrears: Vec<(Period, Money)> = pos.months.keys().map(|p| (*p, pos.owed(*p))).collect();
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
        let row = settlement(tx, org_id, period, SettlementKind::CreditApplied, used, fund_id, entry_id);
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
