//! Union fees: the rate table, payroll declarations (and their corrections), payments and
//! credit, remittances and their refunds, statements and the year's summary. One file per
//! feature; the figures' arithmetic is `domain::fees`.

mod batch;
mod declarations;
mod payments;
mod position;
mod rates;
mod remittances;
mod settle;
mod statement;

pub use batch::{BATCH_ROWS_MAX, BatchLine, BatchRow, BatchView, declare_batch};
pub use declarations::{DeclarationView, Declare, declare, list_declarations};
pub use payments::{Payment, PaymentBatchRow, PaymentBatchView, PaymentView, record_payment, record_payments};
pub use rates::{FeeRateView, SharesView, create_rate, list_rates};
pub use remittances::{
    MonthAmount, Refund, RemitRefundView, RemittanceBatchRow, RemittanceBatchView, RemittanceView, UpperRemittance,
    UpperRemittanceView, record_remit_refund, record_remittance, record_remittances, record_upper_remittance,
};
pub use statement::{
    FeeFigures, StatementLine, StatementView, SummaryView, UnitYearView, statement, summary, year_totals,
};

use rust_decimal::Decimal;
use uuid::Uuid;

use super::stored_money as money;
use crate::db;
use crate::domain::DomainError;
use crate::domain::money::Rate;
use crate::domain::orgs::OrgKind;
use crate::error::Error;

fn rate(d: Decimal) -> Result<Rate, Error> {
    Rate::from_decimal(d).map_err(|e| Error::internal(format!("stored rate {d}: {e}")))
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

fn fee_account(fund: Uuid, code: &str) -> crate::domain::ledger::AccountRef {
    crate::domain::ledger::AccountRef::of_fund(fund, code)
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
