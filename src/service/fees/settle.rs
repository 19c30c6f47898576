//! What a write does to the positions of the units it touches, set-based. The positions are
//! loaded in a few grouped queries whatever the units' history (`Position::load_many`), changed
//! in memory in the order of the write's rows — a declaration, a payment, and the rebalancing
//! each calls for, exactly as a sequence of single calls would change them one after the other —
//! and what those changes settle is written at the end: every journal entry in one statement
//! (`Tx::post_many`), every settlement in one `COPY` or multi-row `INSERT`. A single declaration
//! or payment goes through here as a batch of one, so the two paths cannot tell different
//! stories (`tests/fee_batches.rs` holds them to it on random histories).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::fee_account;
use super::position::Position;
use crate::db::fees::{DeclarationRow, SettlementRow};
use crate::db::write::{Event, ToPost, Tx};
use crate::db::{self, Db};
use crate::domain::audit::Stream;
use crate::domain::fees::{self, SettlementKind, accounts as a};
use crate::domain::ids::Period;
use crate::domain::ledger::JournalEntry;
use crate::domain::money::Money;
use crate::error::Error;

/// A settlement waiting for its entry's id, and the event that records it (none for the parts
/// of a payment: the payment's own event tells them).
struct Pending {
    entry: usize,
    row: SettlementRow,
    event: Option<(&'static str, serde_json::Value)>,
}

/// How a payment against a month divided, and which of the write's entries records it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Paid {
    /// Applied to what the month owed.
    pub(super) applied: Money,
    /// Beyond it: kept as credit.
    pub(super) to_credit: Money,
    /// The payment's entry, as [`Settling::post`] numbers them.
    pub(super) entry: usize,
}

/// The positions a write touches and what it settles (module docs).
pub(super) struct Settling {
    positions: HashMap<(Uuid, i32), Position>,
    entries: Vec<(JournalEntry, Uuid, Uuid)>,
    pending: Vec<Pending>,
    now: DateTime<Utc>,
    actor: String,
}

/// The entries a write posted, in the order they were made; the settlements still to write.
pub(super) struct Posted {
    /// The entries' ids.
    pub(super) ids: Vec<Uuid>,
    pending: Vec<Pending>,
}

impl Settling {
    /// The positions of these units in these years, loaded set-based.
    pub(super) fn load(tx: &mut Tx<'_>, units: &[Uuid], years: &[i32]) -> Result<Settling, Error> {
        let (now, actor) = (tx.ctx().now, tx.ctx().actor());
        Ok(Settling { positions: load(tx.db(), units, years)?, entries: Vec::new(), pending: Vec::new(), now, actor })
    }

    fn position(&mut self, unit: Uuid, year: i32) -> &mut Position {
        self.positions.entry((unit, year)).or_default()
    }

    /// Where a unit's year stands now, with what this write did to it so far.
    pub(super) fn owed(&mut self, unit: Uuid, period: Period) -> Money {
        self.position(unit, period.year()).owed(period)
    }

    /// Takes a month's new current declaration.
    pub(super) fn declare(&mut self, d: DeclarationRow) -> Result<(), Error> {
        self.position(d.org_id, d.period.year()).declare(d)
    }

    fn settlement(
        &mut self,
        entry: usize,
        unit: Uuid,
        period: Period,
        kind: SettlementKind,
        amount: Money,
        fund: Uuid,
    ) {
        let row = SettlementRow {
            id: Uuid::now_v7(),
            org_id: unit,
            period,
            kind: kind.as_str().to_owned(),
            amount: amount.as_decimal(),
            fund_id: fund,
            entry_id: Uuid::nil(),
            created_at: self.now,
            created_by: self.actor.clone(),
        };
        let event = match kind {
            SettlementKind::Payment | SettlementKind::Overpayment => None,
            SettlementKind::CorrectionRefund => {
                Some(("fee.credited_after_correction", serde_json::json!({"period": period, "to_credit": amount})))
            }
            SettlementKind::CreditApplied => {
                Some(("fee.credit_applied", serde_json::json!({"period": period, "credit_applied": amount})))
            }
        };
        self.position(unit, period.year()).settle_kind(period, kind, amount.as_decimal());
        self.pending.push(Pending { entry, row, event });
    }

    fn entry(&mut self, entry: JournalEntry, fund: Uuid, unit: Uuid) -> usize {
        self.entries.push((entry, fund, unit));
        self.entries.len() - 1
    }

    /// A payment received for a unit's month: applied to what the month owes, the rest kept as
    /// credit (`fees::apply_payment`).
    pub(super) fn pay(&mut self, unit: Uuid, fund: Uuid, period: Period, amount: Money) -> Result<Paid, Error> {
        let (applied, to_credit) = fees::apply_payment(self.owed(unit, period), amount);
        let entry = JournalEntry::builder("fee_payment", "union fee received")
            .debit(fee_account(fund, a::CASH), amount)
            .credit(fee_account(fund, a::RECEIVABLE), applied)
            .credit(fee_account(fund, a::CREDIT), to_credit)
            .build()?;
        let entry = self.entry(entry, fund, unit);
        if !applied.is_zero() {
            self.settlement(entry, unit, period, SettlementKind::Payment, applied, fund);
        }
        if !to_credit.is_zero() {
            self.settlement(entry, unit, period, SettlementKind::Overpayment, to_credit, fund);
        }
        Ok(Paid { applied, to_credit, entry })
    }

    /// After a declaration or a payment: a `corrected` month now paid beyond its fee gives the
    /// excess back as credit; then credit pays the unit's months in arrears, oldest first.
    pub(super) fn rebalance(
        &mut self,
        unit: Uuid,
        fund: Uuid,
        year: i32,
        corrected: Option<Period>,
    ) -> Result<(), Error> {
        if let Some(period) = corrected {
            let overpaid = self.position(unit, year).month(period).overpaid;
            if overpaid > Decimal::ZERO {
                let excess = super::money(overpaid)?;
                let entry = JournalEntry::transfer(
                    "fee_correction_refund",
                    "overpaid after a correction: to credit",
                    fee_account(fund, a::CREDIT),
                    fee_account(fund, a::RECEIVABLE),
                    excess,
                )?;
                let entry = self.entry(entry, fund, unit);
                self.settlement(entry, unit, period, SettlementKind::CorrectionRefund, excess, fund);
            }
        }
        let pos = self.position(unit, year);
        let credit = super::money(pos.credit())?;
        if credit.is_zero() {
            return Ok(());
        }
        let arrears: Vec<(Period, Money)> = pos.months.keys().map(|p| (*p, pos.owed(*p))).collect();
        let spread = fees::spread_credit(credit, &arrears);
        if spread.is_empty() {
            return Ok(());
        }
        let total = Money::checked_sum(spread.iter().map(|(_, m)| *m)).ok_or_else(Error::out_of_range)?;
        let entry = JournalEntry::transfer(
            "fee_credit_applied",
            "credit applied to months in arrears",
            fee_account(fund, a::RECEIVABLE),
            fee_account(fund, a::CREDIT),
            total,
        )?;
        let entry = self.entry(entry, fund, unit);
        for (period, used) in spread {
            self.settlement(entry, unit, period, SettlementKind::CreditApplied, used, fund);
        }
        Ok(())
    }

    /// Posts every entry the write made, in one statement, in the order they were made.
    pub(super) fn post(self, tx: &mut Tx<'_>) -> Result<Posted, Error> {
        let to_post: Vec<ToPost<'_>> = self
            .entries
            .iter()
            .map(|(entry, fund, unit)| ToPost {
                entry,
                fund_id: Some(*fund),
                entity_type: "fee_settlement",
                entity_id: *unit,
            })
            .collect();
        let ids = tx.post_many(&to_post)?;
        Ok(Posted { ids, pending: self.pending })
    }
}

impl Posted {
    /// Writes the settlements under their entries and records their events.
    pub(super) fn finish(self, tx: &mut Tx<'_>) -> Result<(), Error> {
        let mut rows = Vec::with_capacity(self.pending.len());
        for Pending { entry, mut row, event } in self.pending {
            row.entry_id = *self.ids.get(entry).ok_or_else(|| Error::internal("a settlement without its entry"))?;
            if let Some((action, after)) = event {
                tx.record(Event {
                    org_id: Some(row.org_id),
                    fund_id: Some(row.fund_id),
                    amount: Some(row.amount),
                    entry_id: Some(row.entry_id),
                    after: Some(after),
                    ..Event::new(Stream::Org(row.org_id), action, "fee_settlement", row.id)
                });
            }
            rows.push(row);
        }
        db::fees::insert_settlements(tx, &rows)
    }
}

fn load(conn: &mut Db<'_>, units: &[Uuid], years: &[i32]) -> Result<HashMap<(Uuid, i32), Position>, Error> {
    let mut out = HashMap::new();
    for year in years {
        for (unit, pos) in Position::load_many(conn, Some(units), *year)? {
            out.insert((unit, *year), pos);
        }
    }
    Ok(out)
}
