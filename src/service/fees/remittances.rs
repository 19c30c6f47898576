//! The federation's share passed on, and what the upper level gives back of an over-remittance.

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

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
/// `remit_due` less what was already remitted (409 `over_remittance`).
#[tracing::instrument(skip_all, fields(org.id = %cmd.org_id, period = %cmd.period))]
pub async fn record_remittance(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: MonthAmount,
) -> Result<Stored, Error> {
    crate::service::write(pool, ctx, idem, move |tx| {
        use fees::accounts as a;
        crate::service::books::ensure_open(tx, cmd.period.year())?;
        let year = cmd.period.year();
        let fund_id = lock_unit_and_fund(tx, cmd.org_id, year)?;
        let period = cmd.period;
        let due = db::fees::current(tx.db(), cmd.org_id, period)?.map_or(Decimal::ZERO, |d| d.remit_due);
        fees::may_remit(period, due, db::fees::remitted_net(tx.db(), cmd.org_id, period)?, cmd.amount)?;
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
            period,
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
        let due = db::fees::current(tx.db(), cmd.org_id, period)?.map_or(Ok(Money::ZERO), |d| money(d.remit_due))?;
        let left = fees::may_refund(db::fees::remitted_net(tx.db(), cmd.org_id, period)?, due, cmd.amount)?;
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
