//! Where a unit's year stands: per month the fee due (its current declaration) and what settled
//! it, and the unit's credit. The arithmetic is `domain::fees` (`Settled`, `month_position`,
//! `credit_held`); this only gathers the rows. Payments, credit, the statement and the summary
//! all read a year through it.

use std::collections::{BTreeMap, HashMap};

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
    /// A unit's year from its current declarations and its settlements.
    pub(super) fn load(conn: &mut Db<'_>, org_id: Uuid, year: i32) -> Result<Position, Error> {
        Ok(Position::load_many(conn, Some(&[org_id]), year)?.remove(&org_id).unwrap_or_default())
    }

    /// The years of these units (`None`: every unit's), in two grouped queries whatever their
    /// history: the current declarations, and the settlements summed per month and kind (which
    /// `domain::fees::Settled` proves comes to the same as taking them one by one). A unit with
    /// neither is absent.
    pub(super) fn load_many(
        conn: &mut Db<'_>,
        units: Option<&[Uuid]>,
        year: i32,
    ) -> Result<HashMap<Uuid, Position>, Error> {
        let mut out: HashMap<Uuid, Position> = HashMap::new();
        for d in db::fees::current_of_year(conn, year, units)? {
            out.entry(d.org_id).or_default().declare(d)?;
        }
        for s in db::fees::settlement_sums(conn, year, units)? {
            out.entry(s.org_id).or_default().settle(s.period, &s.kind, s.amount)?;
        }
        Ok(out)
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
        self.settle_kind(period, kind, amount);
        Ok(())
    }

    /// Takes a settlement being written.
    pub(super) fn settle_kind(&mut self, period: Period, kind: SettlementKind, amount: Decimal) {
        let month = self.months.entry(period).or_default();
        month.settled = month.settled.add(kind, amount);
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
