//! Where a unit's year stands: per month the fee due (its current declaration) and what settled
//! it, and the unit's credit. The arithmetic is `domain::fees` (`Settled`, `month_position`,
//! `credit_held`); this only gathers the rows. Payments, credit, the statement and the summary
//! all read a year through it.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use uuid::Uuid;

use super::money;
use crate::db::fees::DeclarationRow;
use crate::db::{self, Db};
use crate::domain::fees::{self, MonthPosition, Settled, SettlementKind};
use crate::domain::ids::Period;
use crate::domain::money::Money;
use crate::error::Error;

/// One month of a unit's year: declared, settled, or both (a month may be paid before it is
/// declared).
#[derive(Debug, Default)]
pub(super) struct Month {
    /// The current declaration, if the month is declared.
    pub(super) current: Option<DeclarationRow>,
    /// Its fee due; zero while undeclared.
    fee_due: Money,
    /// What its settlements come to.
    settled: Settled,
}

impl Month {
    /// Where the month stands.
    pub(super) fn position(&self) -> MonthPosition {
        fees::month_position(self.fee_due, self.settled)
    }
}

/// A unit's year: its declared or settled months, in order.
#[derive(Debug, Default)]
pub(super) struct Position {
    /// The months.
    pub(super) months: BTreeMap<Period, Month>,
}

impl Position {
    /// A unit's year from its current declarations and its settlements, one by one.
    pub(super) fn load(conn: &mut Db<'_>, org_id: Uuid, year: i32) -> Result<Position, Error> {
        let mut pos = Position::default();
        for d in db::fees::current_of_year(conn, year, Some(org_id))? {
            pos.declare(d)?;
        }
        for s in db::fees::settlements_of(conn, org_id, year)? {
            pos.settle(s.period, &s.kind, s.amount)?;
        }
        Ok(pos)
    }

    /// Takes a month's current declaration.
    pub(super) fn declare(&mut self, d: DeclarationRow) -> Result<(), Error> {
        let month = self.months.entry(d.period).or_default();
        month.fee_due = money(d.fee_due)?;
        month.current = Some(d);
        Ok(())
    }

    /// Takes a settlement of a month — or the sum of a kind's settlements of it, which comes to
    /// the same (`domain::fees::Settled::add`). A stored kind that is none of ours is a 500.
    pub(super) fn settle(&mut self, period: Period, kind: &str, amount: Decimal) -> Result<(), Error> {
        let kind = SettlementKind::parse(kind).map_err(Error::internal)?;
        let month = self.months.entry(period).or_default();
        month.settled = month.settled.add(kind, amount);
        Ok(())
    }

    /// Where a month stands (nothing due and nothing paid, if neither declared nor settled).
    pub(super) fn month(&self, period: Period) -> MonthPosition {
        self.months.get(&period).map_or_else(|| Month::default().position(), Month::position)
    }

    /// What a month still owes.
    pub(super) fn owed(&self, period: Period) -> Money {
        // Arrears are at most the fee due, which is Money: the fallback is never taken.
        Money::from_decimal(self.month(period).arrears).unwrap_or(Money::ZERO)
    }

    /// The credit the unit holds.
    pub(super) fn credit(&self) -> Decimal {
        fees::credit_held(self.months.values().map(|m| m.position().credit_movement))
    }
}
