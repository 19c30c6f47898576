//! Union fees (DOMAIN.md, fund 1; 《工会法》: the fee is 2% of a unit's total payroll). The rule's
//! arithmetic lives here; its numbers live in the `fee_rates` table, never in code.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::DomainError;
use super::ids::Period;
use super::ledger::{AccountRef, JournalEntry};
use super::money::{Money, Rate};
use super::orgs::UnitKind;
use super::policy::Role;
use uuid::Uuid;

/// What a unit pays for a month: the union fee (工会经费) once it has a union, or before that
/// the preparatory fee (工会筹备金), which goes up in full (the rate table's CHECK holds its
/// `remit_rate` at 1: the grassroots level keeps nothing, having no union to keep it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeeScheme {
    /// 工会经费: a unit with a union.
    UnionFee,
    /// 工会筹备金: a unit without one, or a month before it was founded.
    PreparatoryFee,
}

impl FeeScheme {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            FeeScheme::UnionFee => "union_fee",
            FeeScheme::PreparatoryFee => "preparatory_fee",
        }
    }

    /// The scheme a stored text names.
    pub fn parse(s: &str) -> Option<FeeScheme> {
        [FeeScheme::UnionFee, FeeScheme::PreparatoryFee].into_iter().find(|k| k.as_str() == s)
    }

    /// The scheme of a unit's month: the preparatory fee while the unit has no union — none at
    /// all, or a month that starts before the day it was founded.
    pub fn of_month(has_union: bool, founded_on: Option<NaiveDate>, period: Period) -> FeeScheme {
        match (has_union, founded_on) {
            (false, _) => FeeScheme::PreparatoryFee,
            (true, Some(day)) if period.first_day() < day => FeeScheme::PreparatoryFee,
            (true, _) => FeeScheme::UnionFee,
        }
    }
}

impl fmt::Display for FeeScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A row of the rate table: what a kind of unit pays from a date on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeRate {
    /// Which units it applies to.
    pub unit_kind: UnitKind,
    /// The union fee or the preparatory fee.
    pub scheme: FeeScheme,
    /// Share of payroll due as the fee (0.02).
    pub fee_rate: Rate,
    /// Share of the fee remitted upward, to the city federation (0.40): the city's share and
    /// the upper levels' together. The grassroots union keeps the rest.
    pub remit_rate: Rate,
    /// Of the fee, the share the city federation passes on to the provincial and national
    /// federations (at most `remit_rate`; 0 where the city keeps all it receives). The three
    /// levels' shares are [`FeeRate::shares`].
    pub upper_rate: Rate,
    /// The first day it is in force.
    pub effective_from: NaiveDate,
}

/// How the fee divides between the levels, as shares of the fee that add up to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shares {
    /// Kept by the unit's grassroots union: 1 − remit rate.
    pub retained: Rate,
    /// Kept by the city federation: remit rate − upper rate.
    pub city: Rate,
    /// Passed on by the city to the upper levels: the upper rate.
    pub upper: Rate,
}

impl FeeRate {
    /// The levels' shares of the fee.
    pub fn shares(&self) -> Shares {
        let (remit, upper) = (self.remit_rate.as_decimal(), self.upper_rate.as_decimal());
        // Rates are within [0, 1] and upper ≤ remit (checked where a rate is made and by the
        // table's CHECK): the differences are rates too.
        let of = |d: Decimal| Rate::from_decimal(d).unwrap_or(Rate::ZERO);
        Shares { retained: of(Decimal::ONE - remit), city: of(remit - upper), upper: self.upper_rate }
    }

    /// Whether the rate's parts fit together: the upper levels' share is within what is remitted,
    /// and the preparatory fee goes up in full.
    pub fn check(&self) -> Result<(), DomainError> {
        if self.scheme == FeeScheme::PreparatoryFee && self.remit_rate != Rate::ONE {
            return Err(DomainError::invalid("remit_rate", "the preparatory fee goes up in full: its remit_rate is 1"));
        }
        if self.upper_rate.as_decimal() > self.remit_rate.as_decimal() {
            return Err(DomainError::invalid(
                "upper_rate",
                "the upper levels' share is part of what is remitted: at most remit_rate",
            ));
        }
        Ok(())
    }
}

/// The rate a period uses: the one in force on the period's first day for the unit's kind and
/// scheme — the latest whose `effective_from` is on or before that day.
pub fn rate_for(rates: &[FeeRate], unit_kind: UnitKind, scheme: FeeScheme, period: Period) -> Option<FeeRate> {
    let day = period.first_day();
    rates
        .iter()
        .filter(|r| r.unit_kind == unit_kind && r.scheme == scheme && r.effective_from <= day)
        .max_by_key(|r| r.effective_from)
        .copied()
}

/// A period's fee and how it divides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    /// Fee due: payroll × fee rate, rounded half-up to the fen.
    pub fee_due: Money,
    /// Remitted to the federation: fee × remit rate, rounded half-up to the fen.
    pub remit_due: Money,
    /// Kept by the unit's grassroots union: the rest of the fee, so the parts add up exactly.
    pub retained: Money,
    /// Of `remit_due`, what the city passes on to the upper levels: fee × upper rate, rounded
    /// half-up to the fen (never above `remit_due`); the city keeps `remit_due − upper_due`.
    pub upper_due: Money,
    /// Of `remit_due`, what the city's own books took when it was declared: all of it, but for a
    /// declaration made before the levels (migration 000022), whose entry has no legs there.
    pub booked_by_city: Money,
}

impl Split {
    /// Nothing due.
    pub const ZERO: Split = Split {
        fee_due: Money::ZERO,
        remit_due: Money::ZERO,
        retained: Money::ZERO,
        upper_due: Money::ZERO,
        booked_by_city: Money::ZERO,
    };

    /// What the city federation keeps of `remit_due`.
    pub fn city_due(&self) -> Money {
        // upper_due ≤ remit_due (split, and the table's CHECK).
        self.remit_due.checked_sub(self.upper_due).unwrap_or(Money::ZERO)
    }

    /// Two splits added part by part (a batch's total per fund), or `None` past [`Money::MAX`].
    pub fn checked_add(self, other: Split) -> Option<Split> {
        Some(Split {
            fee_due: self.fee_due.checked_add(other.fee_due)?,
            remit_due: self.remit_due.checked_add(other.remit_due)?,
            retained: self.retained.checked_add(other.retained)?,
            upper_due: self.upper_due.checked_add(other.upper_due)?,
            booked_by_city: self.booked_by_city.checked_add(other.booked_by_city)?,
        })
    }
}

/// Fee on a period's payroll, the part of it remitted upward, and of that the part the city
/// passes on. `retained` is the remainder, so `remit_due + retained == fee_due` exactly, and the
/// city's part is `remit_due − upper_due`, whatever the rounding (half-up, 四舍五入, the
/// accounting convention; each rounded part is a rounding of the fee times its rate, and half-up
/// rounding keeps their order, so upper ≤ remit ≤ fee).
pub fn split(payroll: Money, rate: &FeeRate) -> Split {
    let fee_due = payroll.times(rate.fee_rate);
    let remit_due = fee_due.times(rate.remit_rate);
    // remit_rate ≤ 1, so remit_due ≤ fee_due and the subtraction cannot go below zero.
    let retained = fee_due.checked_sub(remit_due).unwrap_or(Money::ZERO);
    let upper_due = fee_due.times(rate.upper_rate).min(remit_due);
    Split { fee_due, remit_due, retained, upper_due, booked_by_city: remit_due }
}

/// Account codes of fee accounting, in the year's union-fee fund.
pub mod accounts {
    /// Fees declared and not yet paid: due from the units (debit).
    pub const RECEIVABLE: &str = "fee_receivable";
    /// The federation's share, to be remitted (credit).
    pub const REMIT_PAYABLE: &str = "fee_remit_payable";
    /// The units' unions' share (credit).
    pub const RETAINED: &str = "fee_retained";
    /// Money received from units and not yet passed on (debit).
    pub const CASH: &str = "fee_cash";
    /// Units' overpayments, owed back to them or to their later months (credit).
    pub const CREDIT: &str = "fee_credit";
    /// The city federation's books. What the units owe it of their fees, the share remitted
    /// upward (应收下级经费; debit).
    pub const CITY_RECEIVABLE: &str = "fee_city_receivable";
    /// What the city keeps of it (拨缴经费收入; credit).
    pub const CITY_INCOME: &str = "fee_city_income";
    /// What it owes onward to the provincial and national federations (应付上级经费; credit).
    pub const UPPER_PAYABLE: &str = "fee_upper_payable";
    /// What it has received of the units' remittances and not passed on (debit).
    pub const CITY_CASH: &str = "fee_city_cash";
}

/// The ledger entry of a declaration, net of the declaration it supersedes: the old one's legs
/// reversed and the new one's posted, merged per account — so a correction posts the difference
/// and never rewrites the past. `None` when the correction changes no amount.
///
/// Besides the unit's legs, the city's books: the share remitted upward is due to the city
/// (`CITY_RECEIVABLE`), which keeps its part (`CITY_INCOME`) and owes the upper levels theirs
/// (`UPPER_PAYABLE`). A superseded declaration made before the levels had no such legs, and none
/// are reversed for it (`booked_by_city` is zero).
pub fn declaration_entry(fund: Uuid, new: Split, old: Option<Split>) -> Result<Option<JournalEntry>, DomainError> {
    let acc = |code: &str| AccountRef::of_fund(fund, code);
    let city = |s: &Split| s.booked_by_city.checked_sub(s.upper_due).unwrap_or(Money::ZERO);
    let mut b = JournalEntry::builder("fee_declaration", "union fee declared")
        .debit(acc(accounts::RECEIVABLE), new.fee_due)
        .credit(acc(accounts::REMIT_PAYABLE), new.remit_due)
        .credit(acc(accounts::RETAINED), new.retained)
        .debit(acc(accounts::CITY_RECEIVABLE), new.booked_by_city)
        .credit(acc(accounts::CITY_INCOME), city(&new))
        .credit(acc(accounts::UPPER_PAYABLE), new.upper_due);
    if let Some(old) = old {
        b = b
            .credit(acc(accounts::RECEIVABLE), old.fee_due)
            .debit(acc(accounts::REMIT_PAYABLE), old.remit_due)
            .debit(acc(accounts::RETAINED), old.retained)
            .credit(acc(accounts::CITY_RECEIVABLE), old.booked_by_city)
            .debit(acc(accounts::CITY_INCOME), city(&old))
            .debit(acc(accounts::UPPER_PAYABLE), old.upper_due);
    }
    match b.build() {
        Ok(e) => Ok(Some(e)),
        // Nothing left after merging (same amounts, or a zero payroll): nothing to post.
        Err(DomainError::Unbalanced) if new.fee_due == old.map_or(Money::ZERO, |o| o.fee_due) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The stable code of a refusal to change a month's books after money moved for it.
pub const RESERVED_TO_FINANCE_OFFICE: &str = "reserved_to_finance_office";

/// Whether a declaration may replace a month's current one. A month that money has moved for
/// (paid, credited or remitted) is settled business: correcting it rewrites what the unit owes,
/// what it has in credit and what the federation holds, so it is for the finance office alone,
/// with a reason for the trail — not for a unit's clerk, nor for the bureau's system, whose batch
/// once turned a paid and remitted 50,000 into 0 without any check noticing (issue 16). A month
/// no money has moved for is corrected by whoever may declare it. `by` is `None` for the service
/// itself (start-up, demo data).
pub fn may_correct(by: Option<Role>, money_moved: bool, reason: Option<&str>) -> Result<(), DomainError> {
    if !money_moved {
        return Ok(());
    }
    match by {
        None => Ok(()),
        Some(Role::FinanceOfficer) if reason.is_some_and(|r| !r.trim().is_empty()) => Ok(()),
        Some(Role::FinanceOfficer) => Err(DomainError::invalid(
            "reason",
            "required to correct a month that has been paid or remitted (it is kept in the audit trail)",
        )),
        Some(_) => Err(DomainError::Forbidden {
            code: RESERVED_TO_FINANCE_OFFICE,
            detail: "a month that has been paid or remitted is corrected by the finance office only, with a reason"
                .into(),
        }),
    }
}

/// Whether a declaration repeats the current one: the same payroll under the same rates. Such a
/// declaration changes nothing and writes nothing (a re-sent batch under a new key wrote 40,000
/// versions and events that moved no money).
pub fn repeats(current: (Money, Rate, Rate, Rate), payroll: Money, rate: &FeeRate) -> bool {
    current == (payroll, rate.fee_rate, rate.remit_rate, rate.upper_rate)
}

/// What the upper level owes back for a month: what was remitted (net of refunds) beyond what is
/// now due to it — after a correction downwards. Zero when within what is due.
pub fn remit_receivable(remitted_net: Decimal, remit_due: Money) -> Decimal {
    (remitted_net - remit_due.as_decimal()).max(Decimal::ZERO)
}

/// Whether `amount` more may be remitted for a month: what the federation already holds of it
/// (remitted net of refunds — a refund of an over-remittance makes room again) plus the amount
/// may not pass the current `remit_due` (409 `over_remittance`).
pub fn may_remit(period: Period, remit_due: Decimal, remitted_net: Decimal, amount: Money) -> Result<(), DomainError> {
    if remitted_net + amount.as_decimal() > remit_due {
        return Err(DomainError::conflict(
            "over_remittance",
            format!("{period}: {remit_due} is due to the federation and {remitted_net} was already remitted"),
        ));
    }
    Ok(())
}

/// Whether the upper level may give `amount` back for a month: at most what it owes back, the
/// month's [`remit_receivable`] (409 `over_refund`). Answers what it still owes after.
pub fn may_refund(remitted_net: Decimal, remit_due: Money, amount: Money) -> Result<Decimal, DomainError> {
    let receivable = remit_receivable(remitted_net, remit_due);
    if amount.as_decimal() > receivable {
        return Err(DomainError::conflict(
            "over_refund",
            format!("the month was remitted {receivable} beyond what is due to the federation"),
        ));
    }
    Ok(receivable - amount.as_decimal())
}

/// What settles a unit's fee for a month: the `kind` of a `fee_settlements` row (migration
/// 000004), stored as its [`as_str`](SettlementKind::as_str) text. What each kind does to the
/// month and to the unit's credit is [`Settled::add`], and only there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SettlementKind {
    /// Money received and applied to the month.
    Payment,
    /// Money received beyond what the month owed, kept as the unit's credit.
    Overpayment,
    /// The unit's credit used for the month.
    CreditApplied,
    /// A correction lowered the month's fee below what had paid it: the excess back to credit.
    CorrectionRefund,
}

/// A stored settlement kind that is none of [`SettlementKind`]'s: a bug or a tampered row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown settlement kind {0:?}")]
pub struct UnknownSettlementKind(pub String);

impl SettlementKind {
    /// Every kind, in the order of the migration's list.
    pub const ALL: [SettlementKind; 4] = [
        SettlementKind::Payment,
        SettlementKind::Overpayment,
        SettlementKind::CreditApplied,
        SettlementKind::CorrectionRefund,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            SettlementKind::Payment => "payment",
            SettlementKind::Overpayment => "overpayment",
            SettlementKind::CreditApplied => "credit_applied",
            SettlementKind::CorrectionRefund => "correction_refund",
        }
    }

    /// The kind a stored text names; any other text is an error, never a kind by default.
    pub fn parse(s: &str) -> Result<SettlementKind, UnknownSettlementKind> {
        SettlementKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| UnknownSettlementKind(s.to_owned()))
    }
}

impl fmt::Display for SettlementKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SettlementKind {
    type Err = UnknownSettlementKind;

    /// Same as [`SettlementKind::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SettlementKind::parse(s)
    }
}

/// What a month's settlements come to. A unit's statement folds its settlements in one by one;
/// the year's summary adds the per-kind sums the database makes: [`Settled::add`] is linear in
/// the amount, so the two agree (a property test holds it to that).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Towards the month's fee: payments and credit applied, less corrections refunded.
    pub paid: Decimal,
    /// Credit the month gave the unit: overpayments and corrections refunded.
    pub credit_in: Decimal,
    /// Credit the month took from the unit: credit applied.
    pub credit_used: Decimal,
}

impl Settled {
    /// With one more settlement of `kind`, or with the sum of all of a kind's. The one place
    /// that knows what each kind does:
    ///
    /// | kind              | to the month | to the unit's credit |
    /// |-------------------|--------------|----------------------|
    /// | payment           | +            |                      |
    /// | overpayment       |              | +                    |
    /// | credit_applied    | +            | −                    |
    /// | correction_refund | −            | +                    |
    pub fn add(self, kind: SettlementKind, amount: Decimal) -> Settled {
        let Settled { paid, credit_in, credit_used } = self;
        match kind {
            SettlementKind::Payment => Settled { paid: paid + amount, ..self },
            SettlementKind::Overpayment => Settled { credit_in: credit_in + amount, ..self },
            SettlementKind::CreditApplied => Settled { paid: paid + amount, credit_used: credit_used + amount, ..self },
            SettlementKind::CorrectionRefund => Settled { paid: paid - amount, credit_in: credit_in + amount, ..self },
        }
    }

    /// Settlements (or per-kind sums) folded in, in any order.
    pub fn of(settlements: impl IntoIterator<Item = (SettlementKind, Decimal)>) -> Settled {
        settlements.into_iter().fold(Settled::default(), |s, (kind, amount)| s.add(kind, amount))
    }
}

/// Where a month stands: its fee due against what settled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthPosition {
    /// Fee due: the current declaration's (zero for a month paid before it was declared).
    pub fee_due: Money,
    /// Paid towards it: payments and credit applied, less corrections refunded.
    pub paid: Decimal,
    /// Due and not paid (欠缴): never below zero.
    pub arrears: Decimal,
    /// Paid beyond the fee (a correction downwards after payment): what goes back to credit.
    /// Never below zero; never above zero together with `arrears`.
    pub overpaid: Decimal,
    /// Credit the month gave the unit (overpayments and corrections refunded).
    pub credit_in: Decimal,
    /// What the month did to the unit's credit: given less taken.
    pub credit_movement: Decimal,
}

/// The position of a month with `fee_due` and these settlements — the rule a unit's statement
/// and the year's summary both use, so they cannot tell different stories.
pub fn month_position(fee_due: Money, settled: Settled) -> MonthPosition {
    let short = fee_due.as_decimal() - settled.paid;
    MonthPosition {
        fee_due,
        paid: settled.paid,
        arrears: short.max(Decimal::ZERO),
        overpaid: (-short).max(Decimal::ZERO),
        credit_in: settled.credit_in,
        credit_movement: settled.credit_in - settled.credit_used,
    }
}

/// The credit a unit holds: what its months gave it less what they took, never below zero.
pub fn credit_held(movements: impl IntoIterator<Item = Decimal>) -> Decimal {
    movements.into_iter().fold(Decimal::ZERO, |held, m| held + m).max(Decimal::ZERO)
}

/// How a payment against a month divides: what the month still owed, and the rest, kept as
/// credit (overpayment is never lost).
pub fn apply_payment(owed: Money, amount: Money) -> (Money, Money) {
    let applied = amount.min(owed);
    // applied ≤ amount, so the subtraction cannot go below zero.
    (applied, amount.checked_sub(applied).unwrap_or(Money::ZERO))
}

/// Spreads a unit's credit over its months in arrears, oldest first, until one runs out.
pub fn spread_credit(credit: Money, arrears: &[(Period, Money)]) -> Vec<(Period, Money)> {
    let mut left = credit;
    let mut months: Vec<&(Period, Money)> = arrears.iter().filter(|(_, owed)| !owed.is_zero()).collect();
    months.sort_by_key(|(p, _)| *p);
    let mut out = Vec::new();
    for (period, owed) in months {
        if left.is_zero() {
            break;
        }
        let used = left.min(*owed);
        left = left.checked_sub(used).unwrap_or(Money::ZERO);
        out.push((*period, used));
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    fn standard(from: &str) -> FeeRate {
        FeeRate {
            unit_kind: UnitKind::Administrative,
            scheme: FeeScheme::UnionFee,
            fee_rate: Rate::parse("0.02").unwrap(),
            remit_rate: Rate::parse("0.40").unwrap(),
            upper_rate: Rate::ZERO,
            effective_from: from.parse().unwrap(),
        }
    }

    #[test]
    fn awkward_payrolls_split_exactly() {
        let r = standard("2000-01-01");
        let s = split(m("123456.78"), &r);
        assert_eq!((s.fee_due, s.remit_due, s.retained), (m("2469.14"), m("987.66"), m("1481.48")));
        assert_eq!(split(m("0.01"), &r), Split::ZERO);
        // 0.25 × 2% = 0.005: half-up gives a fen (banker's rounding would give none).
        assert_eq!(split(m("0.25"), &r).fee_due, m("0.01"));
        assert_eq!(split(m("0.25"), &r).remit_due, m("0.00"));
        assert_eq!(split(m("0.25"), &r).retained, m("0.01"));
        assert_eq!(split(m("0.24"), &r).fee_due, m("0.00"));
        let big = split(m("99999999999.99"), &r);
        assert_eq!(
            (big.fee_due, big.remit_due, big.retained),
            (m("2000000000.00"), m("800000000.00"), m("1200000000.00"))
        );
    }

    #[test]
    fn a_rate_change_on_the_first_of_july_applies_from_july() {
        let mut july = standard("2022-07-01");
        july.fee_rate = Rate::parse("0.025").unwrap();
        let rates = [standard("2000-01-01"), july];
        let june =
            rate_for(&rates, UnitKind::Administrative, FeeScheme::UnionFee, Period::parse("2022-06").unwrap()).unwrap();
        assert_eq!(june.fee_rate, Rate::parse("0.02").unwrap());
        let jul =
            rate_for(&rates, UnitKind::Administrative, FeeScheme::UnionFee, Period::parse("2022-07").unwrap()).unwrap();
        assert_eq!(jul.fee_rate, Rate::parse("0.025").unwrap());
        assert_eq!(
            rate_for(&rates, UnitKind::Enterprise, FeeScheme::UnionFee, Period::parse("2022-07").unwrap()),
            None
        );
    }

    #[test]
    fn a_correction_posts_only_the_difference() {
        let fund = Uuid::from_u128(3);
        let r = standard("2000-01-01");
        let e = declaration_entry(fund, split(m("100000.00"), &r), Some(split(m("90000.00"), &r))).unwrap().unwrap();
        let receivable = e.postings().iter().find(|p| p.account.code == accounts::RECEIVABLE).unwrap();
        assert_eq!(receivable.amount, Decimal::new(20000, 2));
        assert_eq!(declaration_entry(fund, split(m("5.00"), &r), Some(split(m("5.00"), &r))).unwrap(), None);
        assert_eq!(declaration_entry(fund, split(m("0.00"), &r), None).unwrap(), None);
        // A correction downwards reverses the surplus.
        let down = declaration_entry(fund, split(m("50.00"), &r), Some(split(m("100.00"), &r))).unwrap().unwrap();
        let receivable = down.postings().iter().find(|p| p.account.code == accounts::RECEIVABLE).unwrap();
        assert_eq!(receivable.amount, Decimal::new(-100, 2));
    }

    #[test]
    fn overpayment_becomes_credit_and_credit_pays_the_oldest_arrears_first() {
        assert_eq!(apply_payment(m("100.00"), m("150.00")), (m("100.00"), m("50.00")));
        assert_eq!(apply_payment(m("100.00"), m("40.00")), (m("40.00"), m("0.00")));
        let p = |s: &str| Period::parse(s).unwrap();
        let spread = spread_credit(
            m("50.00"),
            &[(p("2022-03"), m("30.00")), (p("2022-02"), m("30.00")), (p("2022-04"), m("0.00"))],
        );
        assert_eq!(spread, [(p("2022-02"), m("30.00")), (p("2022-03"), m("20.00"))]);
        assert!(spread_credit(m("0.00"), &[(p("2022-02"), m("30.00"))]).is_empty());
    }

    #[test]
    fn a_paid_month_is_corrected_by_the_finance_office_with_a_reason() {
        let reason = Some("payroll re-audited");
        // No money moved: anyone who may declare corrects it.
        assert_eq!(may_correct(Some(Role::Clerk), false, None), Ok(()));
        assert_eq!(may_correct(Some(Role::FinanceBureau), false, None), Ok(()));
        for role in [Role::Clerk, Role::FinanceBureau] {
            match may_correct(Some(role), true, reason) {
                Err(DomainError::Forbidden { code, .. }) => assert_eq!(code, RESERVED_TO_FINANCE_OFFICE),
                other => panic!("{role:?}: {other:?}"),
            }
        }
        assert_eq!(may_correct(Some(Role::FinanceOfficer), true, reason), Ok(()));
        for missing in [None, Some(""), Some("   ")] {
            assert!(matches!(may_correct(Some(Role::FinanceOfficer), true, missing), Err(DomainError::Invalid(_))));
        }
        assert_eq!(may_correct(None, true, None), Ok(()));
    }

    #[test]
    fn a_declaration_repeats_only_with_the_same_payroll_and_rates() {
        let r = standard("2000-01-01");
        let current = (m("1000.00"), r.fee_rate, r.remit_rate, r.upper_rate);
        assert!(repeats(current, m("1000.00"), &r));
        assert!(!repeats(current, m("1000.01"), &r));
        let mut other = r;
        other.fee_rate = Rate::parse("0.025").unwrap();
        assert!(!repeats(current, m("1000.00"), &other));
        // A new share for the upper levels makes the same payroll a different declaration.
        let mut upper = r;
        upper.upper_rate = Rate::parse("0.1").unwrap();
        assert!(!repeats(current, m("1000.00"), &upper));
    }

    #[test]
    fn only_what_was_remitted_beyond_the_due_is_receivable() {
        assert_eq!(remit_receivable(Decimal::new(80000, 2), m("720.00")), Decimal::new(8000, 2));
        assert_eq!(remit_receivable(Decimal::new(70000, 2), m("720.00")), Decimal::ZERO);
    }

    #[test]
    fn a_remittance_may_fill_what_is_due_and_a_refund_makes_room_again() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let jan = Period::parse("2022-01").unwrap();
        assert_eq!(may_remit(jan, d("800.00"), d("500.00"), m("300.00")), Ok(()));
        match may_remit(jan, d("800.00"), d("800.00"), m("0.01")) {
            Err(DomainError::Conflict { code, detail }) => {
                assert_eq!(code, "over_remittance");
                assert_eq!(detail, "2022-01: 800.00 is due to the federation and 800.00 was already remitted");
            }
            other => panic!("{other:?}"),
        }
        // 800 remitted, 560 refunded after a correction to 240: nothing more fits.
        assert!(may_remit(jan, d("240.00"), d("240.00"), m("0.01")).is_err());
        // Nothing declared: nothing is due.
        assert!(may_remit(jan, Decimal::ZERO, Decimal::ZERO, m("0.01")).is_err());
    }

    #[test]
    fn the_upper_level_gives_back_at_most_what_was_remitted_beyond_the_due() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        // 800 remitted of a month now due 240: 560 owed back.
        assert_eq!(may_refund(d("800.00"), m("240.00"), m("500.00")), Ok(d("60.00")));
        assert_eq!(may_refund(d("300.00"), m("240.00"), m("60.00")), Ok(d("0.00")));
        match may_refund(d("800.00"), m("240.00"), m("560.01")) {
            Err(DomainError::Conflict { code, detail }) => {
                assert_eq!(code, "over_refund");
                assert_eq!(detail, "the month was remitted 560.00 beyond what is due to the federation");
            }
            other => panic!("{other:?}"),
        }
        assert!(may_refund(d("240.00"), m("240.00"), m("0.01")).is_err());
    }

    #[test]
    fn a_unit_pays_the_preparatory_fee_until_its_union_is_founded() {
        let p = |s: &str| Period::parse(s).unwrap();
        let founded = NaiveDate::from_ymd_opt(2022, 7, 15);
        assert_eq!(FeeScheme::of_month(false, None, p("2022-01")), FeeScheme::PreparatoryFee);
        assert_eq!(FeeScheme::of_month(true, None, p("2022-01")), FeeScheme::UnionFee);
        // July began before the 15th: still without a union; August with one.
        assert_eq!(FeeScheme::of_month(true, founded, p("2022-07")), FeeScheme::PreparatoryFee);
        assert_eq!(FeeScheme::of_month(true, founded, p("2022-08")), FeeScheme::UnionFee);
        let mut prep = standard("2000-01-01");
        prep.scheme = FeeScheme::PreparatoryFee;
        assert!(prep.check().is_err(), "a preparatory fee keeps nothing below");
        prep.remit_rate = Rate::ONE;
        assert!(prep.check().is_ok());
        let s = split(m("100000.00"), &prep);
        assert_eq!((s.fee_due, s.remit_due, s.retained), (m("2000.00"), m("2000.00"), m("0.00")));
        let rates = [standard("2000-01-01"), prep];
        let jan = p("2022-01");
        assert_eq!(rate_for(&rates, UnitKind::Administrative, FeeScheme::PreparatoryFee, jan), Some(prep));
        assert_eq!(rate_for(&rates, UnitKind::Administrative, FeeScheme::UnionFee, jan), Some(rates[0]));
    }

    #[test]
    fn the_city_books_its_share_and_owes_the_upper_levels_theirs() {
        let mut r = standard("2000-01-01");
        r.upper_rate = Rate::parse("0.10").unwrap();
        let s = split(m("100000.00"), &r);
        assert_eq!(
            (s.fee_due, s.remit_due, s.city_due(), s.upper_due),
            (m("2000.00"), m("800.00"), m("600.00"), m("200.00"))
        );
        let shares = r.shares();
        assert_eq!(
            (shares.retained, shares.city, shares.upper),
            (Rate::parse("0.6").unwrap(), Rate::parse("0.3").unwrap(), r.upper_rate)
        );
        let fund = Uuid::from_u128(3);
        let e = declaration_entry(fund, s, None).unwrap().unwrap();
        let leg = |code: &str| e.postings().iter().find(|p| p.account.code == code).map(|p| p.amount);
        assert_eq!(leg(accounts::CITY_RECEIVABLE), Some(Decimal::new(80000, 2)));
        assert_eq!(leg(accounts::CITY_INCOME), Some(Decimal::new(-60000, 2)));
        assert_eq!(leg(accounts::UPPER_PAYABLE), Some(Decimal::new(-20000, 2)));
        // Correcting a declaration made before the levels reverses no city legs it never had.
        let before_levels = Split {
            booked_by_city: Money::ZERO,
            upper_due: Money::ZERO,
            ..split(m("50000.00"), &standard("2000-01-01"))
        };
        let c = declaration_entry(fund, s, Some(before_levels)).unwrap().unwrap();
        let leg = |code: &str| c.postings().iter().find(|p| p.account.code == code).map(|p| p.amount);
        assert_eq!(leg(accounts::CITY_RECEIVABLE), Some(Decimal::new(80000, 2)));
        r.upper_rate = Rate::parse("0.5").unwrap();
        assert!(r.check().is_err());
    }

    #[test]
    fn a_batchs_splits_add_up_part_by_part() {
        let r = standard("2000-01-01");
        let (a, b) = (split(m("100000.00"), &r), split(m("123456.78"), &r));
        let sum = a.checked_add(b).unwrap();
        assert_eq!((sum.fee_due, sum.remit_due, sum.retained), (m("4469.14"), m("1787.66"), m("2681.48")));
        assert_eq!(Split::ZERO.checked_add(a), Some(a));
        let max = Split { fee_due: Money::MAX, retained: Money::MAX, ..Split::ZERO };
        assert_eq!(max.checked_add(split(m("50.00"), &r)), None);
    }

    #[test]
    fn settlement_kinds_read_back_what_they_store_and_nothing_else() {
        for kind in SettlementKind::ALL {
            assert_eq!(SettlementKind::parse(kind.as_str()), Ok(kind));
            assert_eq!(kind.to_string().parse::<SettlementKind>(), Ok(kind));
        }
        let names: Vec<&str> = SettlementKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names, ["payment", "overpayment", "credit_applied", "correction_refund"]);
        for bad in ["", "Payment", "refund", "payment "] {
            assert_eq!(SettlementKind::parse(bad), Err(UnknownSettlementKind(bad.to_owned())));
        }
    }

    #[test]
    fn an_overpayment_pays_its_month_and_gives_credit_that_the_next_month_takes() {
        use SettlementKind as K;
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        // January: 2,000 due, 2,500 received — 2,000 applied, 500 to credit.
        let jan =
            month_position(m("2000.00"), Settled::of([(K::Payment, d("2000.00")), (K::Overpayment, d("500.00"))]));
        assert_eq!((jan.paid, jan.arrears, jan.overpaid), (d("2000.00"), Decimal::ZERO, Decimal::ZERO));
        assert_eq!((jan.credit_in, jan.credit_movement), (d("500.00"), d("500.00")));
        // February: 2,000 due, the 500 of credit applied.
        let feb = month_position(m("2000.00"), Settled::of([(K::CreditApplied, d("500.00"))]));
        assert_eq!(
            (feb.paid, feb.arrears, feb.credit_in, feb.credit_movement),
            (d("500.00"), d("1500.00"), d("0"), d("-500.00"))
        );
        assert_eq!(credit_held([jan.credit_movement, feb.credit_movement]), Decimal::ZERO);
        // Paid before it was declared: no fee, all of it credit.
        let early = month_position(Money::ZERO, Settled::of([(K::Overpayment, d("300.00"))]));
        assert_eq!((early.arrears, early.credit_movement), (Decimal::ZERO, d("300.00")));
    }

    #[test]
    fn a_correction_below_what_was_paid_is_overpaid_until_refunded_to_credit() {
        use SettlementKind as K;
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        let paid = Settled::of([(K::Payment, d("200.00"))]);
        // The fee corrected from 200 to 100: 100 overpaid, nothing in arrears.
        let corrected = month_position(m("100.00"), paid);
        assert_eq!((corrected.arrears, corrected.overpaid), (Decimal::ZERO, d("100.00")));
        // The refund to credit settles it.
        let refunded = month_position(m("100.00"), paid.add(K::CorrectionRefund, corrected.overpaid));
        assert_eq!((refunded.paid, refunded.arrears, refunded.overpaid), (d("100.00"), Decimal::ZERO, Decimal::ZERO));
        assert_eq!((refunded.credit_in, refunded.credit_movement), (d("100.00"), d("100.00")));
        // Credit held is never below zero.
        assert_eq!(credit_held([d("-5.00")]), Decimal::ZERO);
        assert_eq!(credit_held([d("100.00"), d("-40.00")]), d("60.00"));
        assert_eq!(credit_held([]), Decimal::ZERO);
    }

    /// A month's settlement history: kinds with amounts in fen (each > 0, as the table checks).
    fn history() -> impl Strategy<Value = Vec<(SettlementKind, i64)>> {
        proptest::collection::vec((proptest::sample::select(SettlementKind::ALL.to_vec()), 1i64..100_000_000), 0..20)
    }

    /// The per-kind sums of a history, as `GROUP BY kind` makes them (kinds in no set order).
    fn per_kind(history: &[(SettlementKind, i64)]) -> Vec<(SettlementKind, Decimal)> {
        let mut sums: std::collections::HashMap<SettlementKind, i64> = std::collections::HashMap::new();
        for (kind, fen) in history {
            *sums.entry(*kind).or_default() += fen;
        }
        sums.into_iter().map(|(k, fen)| (k, Decimal::new(fen, 2))).collect()
    }

    fn one_by_one(history: &[(SettlementKind, i64)]) -> Settled {
        history.iter().fold(Settled::default(), |s, (kind, fen)| s.add(*kind, Decimal::new(*fen, 2)))
    }

    proptest! {
        #[test]
        fn remit_and_retained_always_add_up_to_the_fee(
            fen in 0i64..10_000_000_000_000,
            fee_bp in 0u32..=10_000,
            remit_bp in 0u32..=10_000,
        ) {
            let rate = FeeRate {
                unit_kind: UnitKind::Enterprise,
                scheme: FeeScheme::UnionFee,
                fee_rate: Rate::from_decimal(Decimal::new(i64::from(fee_bp), 4)).unwrap(),
                remit_rate: Rate::from_decimal(Decimal::new(i64::from(remit_bp), 4)).unwrap(),
                upper_rate: Rate::ZERO,
                effective_from: NaiveDate::MIN,
            };
            let payroll = Money::from_fen(fen).unwrap();
            let s = split(payroll, &rate);
            prop_assert_eq!(s.remit_due.checked_add(s.retained), Some(s.fee_due));
            prop_assert_eq!(s.upper_due, Money::ZERO);
            prop_assert_eq!(s.city_due(), s.remit_due);
            // Half-up in integers: fee in fen = floor((fen × bp + 5,000) / 10,000).
            let expected_fee = (i128::from(fen) * i128::from(fee_bp) + 5_000) / 10_000;
            prop_assert_eq!(s.fee_due.as_decimal(), Decimal::from_i128_with_scale(expected_fee, 2));
            let expected_remit = (expected_fee * i128::from(remit_bp) + 5_000) / 10_000;
            prop_assert_eq!(s.remit_due.as_decimal(), Decimal::from_i128_with_scale(expected_remit, 2));
        }

        #[test]
        fn every_levels_share_adds_up_exactly_for_any_payroll_and_shares(
            fen in 0i64..10_000_000_000_000,
            fee_ppm in 0u32..=1_000_000,
            remit_ppm in 0u32..=1_000_000,
            upper_of_remit in 0u32..=1_000_000,
        ) {
            // Shares to the millionth, as the rate table stores them (numeric(9, 6)).
            let upper_ppm = u32::try_from(u64::from(remit_ppm) * u64::from(upper_of_remit) / 1_000_000).unwrap();
            let r = |ppm: u32| Rate::from_decimal(Decimal::new(i64::from(ppm), 6)).unwrap();
            let rate = FeeRate {
                unit_kind: UnitKind::Enterprise,
                scheme: FeeScheme::UnionFee,
                fee_rate: r(fee_ppm),
                remit_rate: r(remit_ppm),
                upper_rate: r(upper_ppm),
                effective_from: NaiveDate::MIN,
            };
            prop_assert!(rate.check().is_ok());
            let shares = rate.shares();
            prop_assert_eq!(
                shares.retained.as_decimal() + shares.city.as_decimal() + shares.upper.as_decimal(),
                Decimal::ONE
            );
            let s = split(Money::from_fen(fen).unwrap(), &rate);
            // The three levels take the whole fee, to the fen, and none takes less than nothing.
            prop_assert_eq!(s.retained.checked_add(s.city_due()).and_then(|x| x.checked_add(s.upper_due)), Some(s.fee_due));
            prop_assert!(s.upper_due <= s.remit_due);
            // Each part the half-up rounding of the fee times its rate, in integers.
            let fee = s.fee_due.as_decimal().mantissa();
            let half_up = |ppm: u32| (fee * i128::from(ppm) + 500_000) / 1_000_000;
            prop_assert_eq!(s.upper_due.as_decimal(), Decimal::from_i128_with_scale(half_up(upper_ppm), 2));
            prop_assert_eq!(s.remit_due.as_decimal(), Decimal::from_i128_with_scale(half_up(remit_ppm), 2));
        }

        #[test]
        fn a_months_position_is_the_same_from_its_settlements_one_by_one_and_from_their_sums(
            fee_fen in 0i64..1_000_000_000,
            history in history(),
        ) {
            let fee_due = Money::from_fen(fee_fen).unwrap();
            let single = month_position(fee_due, one_by_one(&history));
            let summed = month_position(fee_due, Settled::of(per_kind(&history)));
            prop_assert_eq!(single, summed);
            // Arrears and overpaid are the shortfall's two sides, never below zero, never both.
            prop_assert!(single.arrears >= Decimal::ZERO && single.overpaid >= Decimal::ZERO);
            prop_assert!(single.arrears.is_zero() || single.overpaid.is_zero());
            prop_assert_eq!(single.arrears - single.overpaid, fee_due.as_decimal() - single.paid);
            // Every kind counted once, by its sign in the table of `Settled::add`.
            let sum = |k: SettlementKind| history.iter().filter(|(x, _)| *x == k).map(|(_, f)| Decimal::new(*f, 2)).sum::<Decimal>();
            use SettlementKind as K;
            prop_assert_eq!(single.paid, sum(K::Payment) + sum(K::CreditApplied) - sum(K::CorrectionRefund));
            prop_assert_eq!(single.credit_movement, sum(K::Overpayment) + sum(K::CorrectionRefund) - sum(K::CreditApplied));
        }

        #[test]
        fn a_units_credit_is_the_same_from_its_months_and_from_its_years_sums_per_kind(
            months in proptest::collection::vec(history(), 0..12),
        ) {
            // Per month, settlement by settlement (the statement) …
            let by_month = credit_held(months.iter().map(|h| month_position(Money::ZERO, one_by_one(h)).credit_movement));
            // … and from the year's sums per kind (a summary grouped by unit and kind).
            let all: Vec<(SettlementKind, i64)> = months.concat();
            let by_kind = credit_held([month_position(Money::ZERO, Settled::of(per_kind(&all))).credit_movement]);
            prop_assert_eq!(by_month, by_kind);
            prop_assert!(by_month >= Decimal::ZERO);
        }
    }
}
