//! An earmarked item and its four stages (DOMAIN.md, "Earmarked money: four stages"):
//! allocation → disbursement (tranches) → use → settlement. One item per approved case — a
//! hardship application, a township grant, a campaign beneficiary — and the same rules for all.
//!
//! Each stage is a movement of the item, and a journal entry between the fund's accounts
//! (`ledger`'s table):
//!
//! | movement      | debit       | credit      | limit                                        |
//! |---------------|-------------|-------------|----------------------------------------------|
//! | allocation    | `committed` | `available` | ≤ approved − allocated, ≤ the fund's available |
//! | disbursement  | `paid_out`  | `committed` | ≤ allocated − disbursed                        |
//! | use           | `spent`     | `paid_out`  | ≤ disbursed − used                             |
//! | return        | `available` (+ memo `returned`) | `paid_out` (+ `returned_offset`) | = disbursed − used, at settlement |
//! | release       | `available` | `committed` | = allocated − disbursed, at settlement         |
//!
//! Order: allocations only before the first disbursement; disbursements after an allocation;
//! uses after a disbursement (tranches and uses may interleave); nothing after settlement.

use std::collections::HashSet;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::{DomainError, FieldError};
use super::hardship::text;
use super::ledger::{AccountRef, JournalEntry, codes};
use super::money::Money;
use super::orgs::text_enum;

/// How far an item has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ItemStage {
    /// Approved, no money committed yet.
    Approved,
    /// Money committed from the fund.
    Allocated,
    /// Money (some or all) paid out.
    Disbursed,
    /// Use (some or all) reported.
    Used,
    /// Closed; immutable.
    Settled,
}

text_enum!(ItemStage {
    Approved => "approved",
    Allocated => "allocated",
    Disbursed => "disbursed",
    Used => "used",
    Settled => "settled",
});

/// The four stages money goes through (DOMAIN.md): each movement belongs to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MoneyStage {
    /// Committed from the fund.
    Allocation,
    /// Paid to the payee (or, reversed, back).
    Disbursement,
    /// Reported as used.
    Use,
    /// Unused money returned, released or carried over.
    Settlement,
}

text_enum!(MoneyStage {
    Allocation => "allocation",
    Disbursement => "disbursement",
    Use => "use",
    Settlement => "settlement",
});

impl MoneyStage {
    /// The stages in order.
    pub const ALL: [MoneyStage; 4] =
        [MoneyStage::Allocation, MoneyStage::Disbursement, MoneyStage::Use, MoneyStage::Settlement];
}

/// One movement of an item's money.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementKind {
    /// Stage 1: committed from the fund.
    Allocation,
    /// Stage 2: paid to the payee.
    Disbursement,
    /// Stage 2, undone: a payment the bank failed or sent back; the money is committed again.
    Reversal,
    /// Stage 3: reported as used.
    Use,
    /// Stage 4: unused money paid back to the fund.
    Return,
    /// Stage 4: committed money never paid out, released back to the fund.
    Release,
    /// Stage 4: unused money carried over to next year's fund of the same kind.
    CarryOver,
}

text_enum!(MovementKind {
    Allocation => "allocation",
    Disbursement => "disbursement",
    Reversal => "reversal",
    Use => "use",
    Return => "return",
    Release => "release",
    CarryOver => "carry_over",
});

impl MovementKind {
    /// The stage (of the four) this movement belongs to.
    pub fn stage(self) -> MoneyStage {
        match self {
            MovementKind::Allocation => MoneyStage::Allocation,
            MovementKind::Disbursement | MovementKind::Reversal => MoneyStage::Disbursement,
            MovementKind::Use => MoneyStage::Use,
            MovementKind::Return | MovementKind::Release | MovementKind::CarryOver => MoneyStage::Settlement,
        }
    }
}

/// An item's money, summed from its movements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ItemFigures {
    /// The amount approved: the most that may be allocated.
    pub approved: Decimal,
    /// Committed from the fund (gross; releases are counted apart).
    pub allocated: Decimal,
    /// Paid out (net of reversals).
    pub disbursed: Decimal,
    /// Reported as used.
    pub used: Decimal,
    /// Returned to the fund at settlement (disbursed but unused).
    pub returned: Decimal,
    /// Released to the fund at settlement (allocated but never disbursed).
    pub released: Decimal,
    /// Carried over to next year's fund at settlement (disbursed but unused).
    pub carried: Decimal,
    /// Whether the item is settled.
    pub settled: bool,
}

fn conflict(code: &'static str, detail: String) -> DomainError {
    DomainError::conflict(code, detail)
}

fn settled_error() -> DomainError {
    conflict("invalid_transition", "the item is settled: a settled item cannot change".into())
}

impl ItemFigures {
    /// Adds one movement to the sums.
    pub fn add(&mut self, kind: MovementKind, amount: Decimal) {
        match kind {
            MovementKind::Allocation => self.allocated += amount,
            MovementKind::Disbursement => self.disbursed += amount,
            MovementKind::Reversal => self.disbursed -= amount,
            MovementKind::Use => self.used += amount,
            MovementKind::Return => self.returned += amount,
            MovementKind::Release => self.released += amount,
            MovementKind::CarryOver => self.carried += amount,
        }
    }

    /// How far the item has come.
    pub fn stage(&self) -> ItemStage {
        if self.settled {
            ItemStage::Settled
        } else if self.used > Decimal::ZERO {
            ItemStage::Used
        } else if self.disbursed > Decimal::ZERO {
            ItemStage::Disbursed
        } else if self.allocated > Decimal::ZERO {
            ItemStage::Allocated
        } else {
            ItemStage::Approved
        }
    }

    /// Whether the sums hold together: used ≤ disbursed ≤ allocated ≤ approved, and, once settled,
    /// allocated = disbursed + released and disbursed = used + returned.
    pub fn reconciles(&self) -> bool {
        let ordered =
            self.used <= self.disbursed && self.disbursed <= self.allocated && self.allocated <= self.approved;
        let closed = !self.settled
            || (self.allocated == self.disbursed + self.released
                && self.disbursed == self.used + self.returned + self.carried);
        ordered && closed
    }

    /// Stage 1: commits `amount` from the fund, whose `available` balance is given.
    pub fn allocate(&self, fund: Uuid, amount: Money, fund_available: Decimal) -> Result<JournalEntry, DomainError> {
        if self.settled {
            return Err(settled_error());
        }
        if self.disbursed > Decimal::ZERO {
            return Err(conflict(
                "invalid_transition",
                "money has already been disbursed: allocations come before disbursements".into(),
            ));
        }
        let a = amount.as_decimal();
        if self.allocated + a > self.approved {
            return Err(conflict(
                "over_allocation",
                format!(
                    "{amount} would allocate more than the {} approved ({} already)",
                    self.approved, self.allocated
                ),
            ));
        }
        if a > fund_available {
            return Err(conflict(
                "over_allocation",
                format!("{amount} is more than the fund has available ({fund_available})"),
            ));
        }
        JournalEntry::transfer(
            "allocation",
            "allocated to an item",
            AccountRef::of_fund(fund, codes::AVAILABLE),
            AccountRef::of_fund(fund, codes::COMMITTED),
            amount,
        )
    }

    /// Stage 2: pays `amount` (one tranche) out of the allocation.
    pub fn disburse(&self, fund: Uuid, amount: Money) -> Result<JournalEntry, DomainError> {
        if self.settled {
            return Err(settled_error());
        }
        if self.allocated == Decimal::ZERO {
            return Err(conflict("invalid_transition", "nothing has been allocated to the item yet".into()));
        }
        let left = self.allocated - self.disbursed;
        if amount.as_decimal() > left {
            return Err(conflict(
                "over_disbursement",
                format!("{amount} is more than the allocation has left to pay ({left})"),
            ));
        }
        JournalEntry::transfer(
            "disbursement",
            "paid out",
            AccountRef::of_fund(fund, codes::COMMITTED),
            AccountRef::of_fund(fund, codes::PAID_OUT),
            amount,
        )
    }

    /// Stage 2, undone: `amount` paid out never reached the payee (the bank failed the payment or
    /// sent it back). Only money paid and not yet reported as used can come back.
    pub fn reverse(&self, fund: Uuid, amount: Money) -> Result<JournalEntry, DomainError> {
        if self.settled {
            return Err(settled_error());
        }
        let left = self.disbursed - self.used;
        if amount.as_decimal() > left {
            return Err(conflict(
                "over_reversal",
                format!("{amount} is more than was paid out and not yet used ({left})"),
            ));
        }
        JournalEntry::transfer(
            "reversal",
            "payment failed or returned by the bank",
            AccountRef::of_fund(fund, codes::PAID_OUT),
            AccountRef::of_fund(fund, codes::COMMITTED),
            amount,
        )
    }

    /// Stage 3: records `amount` as used.
    pub fn record_use(&self, fund: Uuid, amount: Money) -> Result<JournalEntry, DomainError> {
        if self.settled {
            return Err(settled_error());
        }
        if self.disbursed == Decimal::ZERO {
            return Err(conflict(
                "invalid_transition",
                "nothing has been disbursed: use comes after disbursement".into(),
            ));
        }
        let left = self.disbursed - self.used;
        if amount.as_decimal() > left {
            return Err(conflict("over_use", format!("{amount} is more than was paid out and not yet used ({left})")));
        }
        JournalEntry::transfer(
            "use",
            "reported as used",
            AccountRef::of_fund(fund, codes::PAID_OUT),
            AccountRef::of_fund(fund, codes::SPENT),
            amount,
        )
    }

    /// Stage 4: what settlement moves — `(returned, released)` — and its entry (none when both
    /// are zero: the item closes without moving money).
    pub fn settle(&self, fund: Uuid) -> Result<(Decimal, Decimal, Option<JournalEntry>), DomainError> {
        if self.settled {
            return Err(settled_error());
        }
        let returned = self.disbursed - self.used;
        let released = self.allocated - self.disbursed;
        let available = AccountRef::of_fund(fund, codes::AVAILABLE);
        let mut b = JournalEntry::builder("settlement", "settled: unused returned, undisbursed released");
        let mut moved = false;
        if let Some(r) = Money::from_decimal(returned).ok().filter(|m| !m.is_zero()) {
            b = b
                .debit(available.clone(), r)
                .credit(AccountRef::of_fund(fund, codes::PAID_OUT), r)
                .debit(AccountRef::of_fund(fund, codes::RETURNED), r)
                .credit(AccountRef::of_fund(fund, codes::RETURNED_OFFSET), r);
            moved = true;
        }
        if let Some(r) = Money::from_decimal(released).ok().filter(|m| !m.is_zero()) {
            b = b.debit(available, r).credit(AccountRef::of_fund(fund, codes::COMMITTED), r);
            moved = true;
        }
        let entry = if moved { Some(b.build()?) } else { None };
        Ok((returned, released, entry))
    }
}

impl ItemFigures {
    /// Stage 4, carrying over: the unused money goes to `next` (next year's fund of the same
    /// kind) instead of back to this fund — out of this fund's `paid_out` into its `carried_out`,
    /// and into `next`'s `available` from its `carried_in` — and the undisbursed is released as
    /// in [`ItemFigures::settle`]. Answers `(carried, released, entry)`.
    pub fn settle_carrying(
        &self,
        fund: Uuid,
        next: Uuid,
    ) -> Result<(Decimal, Decimal, Option<JournalEntry>), DomainError> {
        if self.settled {
            return Err(settled_error());
        }
        let carried = self.disbursed - self.used;
        let released = self.allocated - self.disbursed;
        let mut b = JournalEntry::builder(
            "settlement",
            "settled: unused carried over to next year's fund, undisbursed released",
        );
        let mut moved = false;
        if let Some(c) = Money::from_decimal(carried).ok().filter(|m| !m.is_zero()) {
            b = b
                .debit(AccountRef::of_fund(fund, codes::CARRIED_OUT), c)
                .credit(AccountRef::of_fund(fund, codes::PAID_OUT), c)
                .debit(AccountRef::of_fund(next, codes::AVAILABLE), c)
                .credit(AccountRef::of_fund(next, codes::CARRIED_IN), c);
            moved = true;
        }
        if let Some(r) = Money::from_decimal(released).ok().filter(|m| !m.is_zero()) {
            b = b
                .debit(AccountRef::of_fund(fund, codes::AVAILABLE), r)
                .credit(AccountRef::of_fund(fund, codes::COMMITTED), r);
            moved = true;
        }
        let entry = if moved { Some(b.build()?) } else { None };
        Ok((carried, released, entry))
    }
}

/// One line of a use report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseLine {
    /// What was bought or paid.
    pub description: String,
    /// How much.
    pub amount: Money,
    /// The voucher or receipt number.
    pub voucher_no: Option<String>,
}

/// A use report, validated.
#[derive(Debug)]
pub struct ReportUse {
    /// How much.
    pub amount: Money,
    /// On what.
    pub description: String,
    /// The voucher number.
    pub voucher_no: Option<String>,
    /// The lines (adding up to `amount`), if given.
    pub lines: Option<Vec<UseLine>>,
}

impl ReportUse {
    /// The voucher numbers the report uses, its own and its lines': each may back only one use
    /// report of a fund (409 `duplicate_voucher`, asked of the data by the service).
    pub fn vouchers(&self) -> Vec<String> {
        let lines = self.lines.iter().flatten().filter_map(|l| l.voucher_no.clone());
        self.voucher_no.clone().into_iter().chain(lines).collect()
    }
}

/// A use report as the client sent it, before its rules are checked.
#[derive(Debug, Clone)]
pub struct UseReport {
    /// How much of what was paid out was used.
    pub amount: Money,
    /// On what, or the worker's confirmation of receipt.
    pub description: String,
    /// The receipt or voucher number.
    pub voucher_no: Option<String>,
    /// The receipts, when there are several.
    pub lines: Option<Vec<UseLine>>,
}

/// Most lines one use report may carry.
pub const MAX_USE_LINES: usize = 500;

impl UseReport {
    /// The rules of a use report's form (DOMAIN.md, stage 3: "with vouchers or line items adding
    /// up to the amount"), every bad field named at once: a description of 1 to 1,000
    /// characters and voucher numbers of 1 to 100, for the report and each line; amounts above
    /// zero; when lines are given, 1 to 500 of them, adding up to the amount exactly, and no
    /// voucher number twice in the report (its own included). Voucher numbers are kept trimmed.
    /// Whether a voucher already backs another report of the fund is the service's to ask.
    pub fn check(self) -> Result<ReportUse, DomainError> {
        let r = self;
        let mut errors: Vec<FieldError> = Vec::new();
        let note =
            |errors: &mut Vec<FieldError>, result: Result<String, FieldError>| result.map_err(|e| errors.push(e)).ok();
        let description = note(&mut errors, text("description", &r.description, 1000));
        let voucher_no = r.voucher_no.as_deref().map(|v| note(&mut errors, text("voucher_no", v, 100)));
        if let Some(lines) = &r.lines {
            for (i, line) in lines.iter().enumerate() {
                note(&mut errors, text(&format!("lines[{i}].description"), &line.description, 1000));
                if let Some(v) = &line.voucher_no {
                    note(&mut errors, text(&format!("lines[{i}].voucher_no"), v, 100));
                }
                if line.amount.is_zero() {
                    errors.push(FieldError::new(format!("lines[{i}].amount"), "must be more than 0.00"));
                }
            }
            if lines.is_empty() || lines.len() > MAX_USE_LINES {
                errors.push(FieldError::new("lines", "when given, 1 to 500 lines"));
            }
            let mut seen = HashSet::new();
            for (i, v) in lines.iter().enumerate().filter_map(|(i, l)| l.voucher_no.as_deref().map(|v| (i, v.trim()))) {
                if !seen.insert(v) || r.voucher_no.as_deref().is_some_and(|own| own.trim() == v) {
                    errors.push(FieldError::new(
                        format!("lines[{i}].voucher_no"),
                        "the same voucher number twice in one report",
                    ));
                }
            }
            match Money::checked_sum(lines.iter().map(|l| l.amount)) {
                Some(sum) if sum == r.amount => {}
                _ => errors.push(FieldError::new("lines", format!("must add up to amount {}", r.amount))),
            }
        }
        if r.amount.is_zero() {
            errors.push(FieldError::new("amount", "must be more than 0.00"));
        }
        match description {
            Some(description) if errors.is_empty() => Ok(ReportUse {
                amount: r.amount,
                description,
                voucher_no: voucher_no.flatten(),
                lines: r.lines.map(|lines| {
                    lines
                        .into_iter()
                        .map(|l| UseLine { voucher_no: l.voucher_no.map(|v| v.trim().to_owned()), ..l })
                        .collect()
                }),
            }),
            _ => Err(DomainError::Invalid(errors)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FUND: Uuid = Uuid::from_u128(7);

    fn m(s: &str) -> Money {
        s.parse().unwrap_or(Money::ZERO)
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or(Decimal::MIN)
    }

    fn code(e: DomainError) -> &'static str {
        match e {
            DomainError::Conflict { code, .. } | DomainError::Forbidden { code, .. } => code,
            _ => "other",
        }
    }

    fn approved(amount: &str) -> ItemFigures {
        ItemFigures { approved: d(amount), ..ItemFigures::default() }
    }

    #[test]
    fn carrying_over_moves_the_unused_part_to_next_years_fund() {
        const NEXT: Uuid = Uuid::from_u128(8);
        let mut f = approved("1000.00");
        f.add(MovementKind::Allocation, d("1000.00"));
        f.add(MovementKind::Disbursement, d("900.00"));
        f.add(MovementKind::Use, d("700.00"));
        let (carried, released, entry) = f.settle_carrying(FUND, NEXT).unwrap();
        assert_eq!((carried, released), (d("200.00"), d("100.00")));
        let legs = entry.unwrap().postings().to_vec();
        let next_available =
            legs.iter().find(|p| p.account.fund_id == Some(NEXT) && p.account.code == codes::AVAILABLE);
        assert_eq!(next_available.map(|p| p.amount), Some(d("200.00")), "next year's available grows");
        f.add(MovementKind::CarryOver, carried);
        f.add(MovementKind::Release, released);
        f.settled = true;
        assert!(f.reconciles());
    }

    #[test]
    fn a_reversed_payment_is_committed_again_and_released_at_settlement() {
        let mut f = approved("400.00");
        f.add(MovementKind::Allocation, d("400.00"));
        f.add(MovementKind::Disbursement, d("400.00"));
        assert_eq!(code(f.reverse(FUND, m("400.01")).err().unwrap()), "over_reversal");
        let e = f.reverse(FUND, m("400.00")).unwrap();
        assert_eq!(e.kind(), "reversal");
        f.add(MovementKind::Reversal, d("400.00"));
        assert_eq!(f.disbursed, Decimal::ZERO);
        assert!(f.disburse(FUND, m("400.00")).is_ok(), "it may be paid again");
        let (returned, released, entry) = f.settle(FUND).unwrap();
        assert_eq!((returned, released), (Decimal::ZERO, d("400.00")));
        assert!(entry.is_some());
        f.add(MovementKind::Release, released);
        f.settled = true;
        assert!(f.reconciles());
    }

    #[test]
    fn the_four_stages_in_order_reconcile() {
        let mut f = approved("1000.00");
        assert_eq!(f.stage(), ItemStage::Approved);
        assert!(f.allocate(FUND, m("1000.00"), d("5000.00")).is_ok());
        f.add(MovementKind::Allocation, d("1000.00"));
        assert_eq!(f.stage(), ItemStage::Allocated);
        assert!(f.disburse(FUND, m("600.00")).is_ok());
        f.add(MovementKind::Disbursement, d("600.00"));
        assert!(f.record_use(FUND, m("550.00")).is_ok());
        f.add(MovementKind::Use, d("550.00"));
        assert_eq!(f.stage(), ItemStage::Used);
        let (returned, released, entry) = f.settle(FUND).map_err(code).unwrap_or_default();
        assert_eq!((returned, released), (d("50.00"), d("400.00")));
        let entry = entry.map(|e| e.postings().to_vec()).unwrap_or_default();
        let available: Decimal = entry.iter().filter(|p| p.account.code == codes::AVAILABLE).map(|p| p.amount).sum();
        assert_eq!(available, d("450.00"), "the fund gets back what was returned and released");
        f.add(MovementKind::Return, returned);
        f.add(MovementKind::Release, released);
        f.settled = true;
        assert!(f.reconciles());
        assert_eq!(f.stage(), ItemStage::Settled);
    }

    #[test]
    fn limits_are_enforced_with_their_codes() {
        let f = approved("1000.00");
        assert_eq!(f.allocate(FUND, m("1000.01"), d("9999.00")).map_err(code).err(), Some("over_allocation"));
        assert_eq!(f.allocate(FUND, m("500.00"), d("499.99")).map_err(code).err(), Some("over_allocation"));
        assert_eq!(f.disburse(FUND, m("1.00")).map_err(code).err(), Some("invalid_transition"));
        assert_eq!(f.record_use(FUND, m("1.00")).map_err(code).err(), Some("invalid_transition"));
        let f = ItemFigures { allocated: d("800.00"), disbursed: d("300.00"), ..approved("1000.00") };
        assert_eq!(f.disburse(FUND, m("500.01")).map_err(code).err(), Some("over_disbursement"));
        assert!(f.disburse(FUND, m("500.00")).is_ok());
        assert_eq!(f.record_use(FUND, m("300.01")).map_err(code).err(), Some("over_use"));
        assert_eq!(f.allocate(FUND, m("1.00"), d("9999.00")).map_err(code).err(), Some("invalid_transition"));
    }

    #[test]
    fn nothing_changes_after_settlement() {
        let f = ItemFigures { allocated: d("10.00"), settled: true, ..approved("10.00") };
        assert_eq!(f.allocate(FUND, m("1.00"), d("99.00")).map_err(code).err(), Some("invalid_transition"));
        assert_eq!(f.disburse(FUND, m("1.00")).map_err(code).err(), Some("invalid_transition"));
        assert_eq!(f.record_use(FUND, m("1.00")).map_err(code).err(), Some("invalid_transition"));
        assert_eq!(f.settle(FUND).map_err(code).err(), Some("invalid_transition"));
    }

    #[test]
    fn settling_an_untouched_item_moves_nothing() {
        let (r, l, e) = approved("10.00").settle(FUND).map_err(code).unwrap_or((Decimal::ONE, Decimal::ONE, None));
        assert_eq!((r, l), (Decimal::ZERO, Decimal::ZERO));
        assert!(e.is_none());
    }

    fn line(description: &str, amount: &str, voucher_no: Option<&str>) -> UseLine {
        UseLine { description: description.into(), amount: m(amount), voucher_no: voucher_no.map(Into::into) }
    }

    fn report(amount: &str, lines: Option<Vec<UseLine>>) -> UseReport {
        UseReport { amount: m(amount), description: " rice and oil ".into(), voucher_no: Some(" V-1 ".into()), lines }
    }

    fn fields(r: Result<ReportUse, DomainError>) -> Vec<String> {
        match r {
            Err(DomainError::Invalid(errors)) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn a_use_report_is_trimmed_and_its_lines_add_up() {
        let lines = vec![line("rice", "300.00", Some(" R-7 ")), line("oil", "250.00", None)];
        let cmd = report("550.00", Some(lines)).check().unwrap();
        assert_eq!(cmd.amount, m("550.00"));
        assert_eq!(cmd.description, "rice and oil");
        assert_eq!(cmd.voucher_no.as_deref(), Some("V-1"));
        let lines = cmd.lines.clone().unwrap();
        assert_eq!(lines[0].voucher_no.as_deref(), Some("R-7"));
        assert_eq!(lines[1].amount, m("250.00"));
        assert_eq!(cmd.vouchers(), ["V-1", "R-7"]);
        let plain = report("1.00", None).check().unwrap();
        assert!(plain.lines.is_none());
        assert_eq!(plain.vouchers(), ["V-1"]);
    }

    #[test]
    fn every_bad_field_of_a_use_report_is_named_at_once() {
        let lines = vec![
            line(" ", "0.00", Some("V-1")),
            line("oil", "250.00", Some("R-7")),
            line("salt", "1.00", Some("R-7 ")),
        ];
        let r = UseReport { description: "".into(), ..report("0.00", Some(lines)) };
        assert_eq!(
            fields(r.check()),
            [
                "description",
                "lines[0].description",
                "lines[0].amount",
                "lines[0].voucher_no",
                "lines[2].voucher_no",
                "lines",
                "amount"
            ]
        );
        assert_eq!(fields(report("550.00", Some(vec![line("rice", "549.99", None)])).check()), ["lines"]);
        assert_eq!(fields(report("1.00", Some(Vec::new())).check()), ["lines", "lines"]);
        let too_many = vec![line("x", "0.01", None); MAX_USE_LINES + 1];
        assert_eq!(fields(report("5.01", Some(too_many)).check()), ["lines"]);
        let long = UseReport { voucher_no: Some("v".repeat(101)), ..report("1.00", None) };
        assert_eq!(fields(long.check()), ["voucher_no"]);
    }
}
