//! Where a unit's year stands: per month the fee due and what settled it, and the unit's credit.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::money;
use crate::db::fees::DeclarationRow;
use crate::db::{self, Db};
use crate::domain::ids::Period;
use crate::domain::money::Money;
use crate::error::Error;

/// Where a unit's year stands: per month the fee due (current declaration) and what settled it,
/// and the unit's credit.
pub(super) struct Position {
    pub(super) months: std::collections::BTreeMap<Period, (Money, Decimal)>,
    pub(super) credit: Decimal,
    /// The current declaration of each declared month.
    pub(super) current: std::collections::HashMap<Period, DeclarationRow>,
    /// Credit received per month (overpayments and corrections refunded).
    pub(super) credit_in: std::collections::HashMap<Period, Decimal>,
}

impl Position {
    pub(super) fn owed(&self, period: Period) -> Money {
        let (due, settled) = self.months.get(&period).copied().unwrap_or((Money::ZERO, Decimal::ZERO));
        Money::from_decimal((due.as_decimal() - settled).max(Decimal::ZERO)).unwrap_or(Money::ZERO)
    }
}

pub(super) fn position(conn: &mut Db<'_>, org_id: Uuid, year: i32) -> Result<Position, Error> {
    let mut months = std::collections::BTreeMap::new();
    let mut current = std::collections::HashMap::new();
    for d in db::fees::current_of_year(conn, org_id, year)? {
        months.insert(d.period, (money(d.fee_due)?, Decimal::ZERO));
        current.insert(d.period, d);
    }
    let mut credit = Decimal::ZERO;
    let mut credit_in: std::collections::HashMap<Period, Decimal> = std::collections::HashMap::new();
    for s in db::fees::settlements_of(conn, org_id, year)? {
        let month = months.entry(s.period).or_insert((Money::ZERO, Decimal::ZERO));
        if matches!(s.kind.as_str(), "overpayment" | "correction_refund") {
            *credit_in.entry(s.period).or_default() += s.amount;
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
