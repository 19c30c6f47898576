//! A fund's figures, derived from its ledger balances, and the local-matching rule.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::DomainError;
use super::ledger::{AccountRef, JournalEntry, codes};
use super::money::{Money, Ratio};
use super::orgs::text_enum;

/// What a fund is for (DOMAIN.md, "The three funds").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FundKind {
    /// 帮扶基金
    Hardship,
    /// 乡镇工会组织工作经费
    TownshipGrant,
    /// 行政事业单位工会经费
    UnionFee,
    /// 基本支出: the money of one basic-expenditure budget line (wages, goods and services,
    /// subsidies), opened with the line (`/api/v1/budgets/{year}/lines`).
    Basic,
}

text_enum!(FundKind { Hardship => "hardship", TownshipGrant => "township_grant", UnionFee => "union_fee", Basic => "basic" });

/// Where a fund's money comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A special allocation from the upper-level union (上级工会专项补助); may require matching.
    UpperAllocation,
    /// Local finance matching (地方财政配套).
    LocalMatching,
    /// An appropriation from the city finance bureau (财政拨款).
    FinanceAppropriation,
    /// Anything else.
    Other,
}

text_enum!(SourceKind {
    UpperAllocation => "upper_allocation",
    LocalMatching => "local_matching",
    FinanceAppropriation => "finance_appropriation",
    Other => "other",
});

/// A fund's money at a moment, each figure cumulative over the fund's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// The budget.
    pub budget: Decimal,
    /// Committed to items (net of what settlement released), disbursed or not.
    pub allocated: Decimal,
    /// Paid out to payees.
    pub disbursed: Decimal,
    /// Reported as used.
    pub used: Decimal,
    /// Unused money returned to the fund.
    pub returned: Decimal,
    /// Budget not committed (returned money included).
    pub available: Decimal,
    /// Received from the fund's sources.
    pub funded: Decimal,
    /// Unused money carried over to next year's fund at settlement.
    pub carried_over: Decimal,
    /// Money carried over into this fund from last year's (part of `available`).
    pub carried_in: Decimal,
}

impl Figures {
    /// Reads the figures from the balances of the fund's accounts (debit positive), following
    /// the account table in `ledger`: money sits in exactly one of available, committed,
    /// paid_out, spent at any time, and `returned` is a memo of what came back.
    pub fn from_balances(b: &HashMap<String, Decimal>) -> Self {
        let bal = |code: &str| b.get(code).copied().unwrap_or(Decimal::ZERO);
        let returned = bal(codes::RETURNED);
        let used = bal(codes::SPENT);
        let carried_over = bal(codes::CARRIED_OUT);
        let disbursed = bal(codes::PAID_OUT) + used + returned + carried_over;
        Self {
            budget: -bal(codes::BUDGET),
            allocated: bal(codes::COMMITTED) + disbursed,
            disbursed,
            used,
            returned,
            available: bal(codes::AVAILABLE),
            funded: bal(codes::FUNDING),
            carried_over,
            carried_in: -bal(codes::CARRIED_IN),
        }
    }
}

/// The matching rule's figures (DOMAIN.md, fund 2): local matching must reach, for each upper
/// allocation that requires it, `matching_ratio` × its amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matching {
    /// Local money required.
    pub required: Money,
    /// Local money provided.
    pub provided: Money,
}

impl Matching {
    /// Whether the rule holds (trivially, when nothing requires matching).
    pub fn ok(&self) -> bool {
        self.provided >= self.required
    }

    /// Sums the rule over a fund's sources: (kind, amount, matching ratio).
    /// Each requirement is rounded half-up to the fen before summing, so the figure the fund
    /// shows is the sum of the figures each allocation's documents state.
    pub fn of(sources: impl IntoIterator<Item = (SourceKind, Money, Option<Ratio>)>) -> Option<Self> {
        let mut required = Money::ZERO;
        let mut provided = Money::ZERO;
        for (kind, amount, ratio) in sources {
            match (kind, ratio) {
                (SourceKind::UpperAllocation, Some(r)) => {
                    required = required.checked_add(amount.checked_times_ratio(r)?)?
                }
                (SourceKind::LocalMatching, _) => provided = provided.checked_add(amount)?,
                _ => {}
            }
        }
        Some(Self { required, provided })
    }
}

/// How a budget changes from `current` to `new`: up or down by the difference, or not at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetMove {
    /// Raised by this much.
    Up(Money),
    /// Cut by this much: never below what the fund has already committed (the service checks
    /// against its balances).
    Down(Money),
}

/// The move that takes a budget from `current` to `new`; `None` when they are equal.
pub fn budget_move(current: Money, new: Money) -> Option<BudgetMove> {
    if let Some(up) = new.checked_sub(current).filter(|d| !d.is_zero()) {
        Some(BudgetMove::Up(up))
    } else {
        current.checked_sub(new).filter(|d| !d.is_zero()).map(BudgetMove::Down)
    }
}

/// The journal entry of a budget movement: setting or raising it moves `amount` from the
/// fund's budget account to its available account, a cut moves it back.
pub fn budget_entry(fund: Uuid, up: bool, amount: Money) -> Result<JournalEntry, DomainError> {
    let (budget, available) = (AccountRef::of_fund(fund, codes::BUDGET), AccountRef::of_fund(fund, codes::AVAILABLE));
    if up {
        JournalEntry::transfer("budget", "budget set", budget, available, amount)
    } else {
        JournalEntry::transfer("budget", "budget reduced", available, budget, amount)
    }
}

/// A source's own rules, before any fund is read: it brings more than zero, and only an upper
/// allocation can require local matching.
pub fn check_source(kind: SourceKind, amount: Money, matching_ratio: Option<Ratio>) -> Result<(), DomainError> {
    if amount.is_zero() {
        return Err(DomainError::invalid("amount", "must be more than zero"));
    }
    if matching_ratio.is_some() && kind != SourceKind::UpperAllocation {
        return Err(DomainError::invalid("matching_ratio", "only an upper_allocation can require matching"));
    }
    Ok(())
}

/// The journal entry of money received from a source: the source's account to the fund's
/// funding account.
pub fn source_entry(fund: Uuid, kind: SourceKind, amount: Money) -> Result<JournalEntry, DomainError> {
    JournalEntry::transfer(
        "source",
        format!("{kind} received"),
        AccountRef::of_fund(fund, codes::source(kind.as_str())),
        AccountRef::of_fund(fund, codes::FUNDING),
        amount,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn m(s: &str) -> Money {
        Money::parse(s).unwrap()
    }

    #[test]
    fn figures_follow_the_money_through_the_stages() {
        // budget 100, allocated 60, disbursed 50, used 30, then settled: 10 released, 20 returned.
        let b: HashMap<String, Decimal> = [
            ("budget", Decimal::new(-10000, 2)),
            ("available", Decimal::new(5000, 2) + Decimal::new(2000, 2)),
            ("committed", Decimal::ZERO),
            ("paid_out", Decimal::ZERO),
            ("spent", Decimal::new(3000, 2)),
            ("returned", Decimal::new(2000, 2)),
            ("returned_offset", Decimal::new(-2000, 2)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let f = Figures::from_balances(&b);
        assert_eq!(f.budget, Decimal::new(10000, 2));
        assert_eq!(f.disbursed, Decimal::new(5000, 2));
        assert_eq!(f.allocated, Decimal::new(5000, 2));
        assert_eq!(f.used, Decimal::new(3000, 2));
        assert_eq!(f.returned, Decimal::new(2000, 2));
        assert_eq!(f.available, Decimal::new(7000, 2));
    }

    #[test]
    fn matching_is_required_only_where_a_ratio_is_set() {
        let none = Matching::of([(SourceKind::FinanceAppropriation, m("100.00"), None)]).unwrap();
        assert_eq!(none.required, Money::ZERO);
        assert!(none.ok());
        let r = Ratio::parse("0.5").unwrap();
        let short = Matching::of([
            (SourceKind::UpperAllocation, m("40000.00"), Some(r)),
            (SourceKind::LocalMatching, m("19999.99"), None),
        ])
        .unwrap();
        assert_eq!(short.required, m("20000.00"));
        assert!(!short.ok());
    }

    #[test]
    fn a_budget_moves_by_the_difference_either_way() {
        assert_eq!(budget_move(m("100.00"), m("150.50")), Some(BudgetMove::Up(m("50.50"))));
        assert_eq!(budget_move(m("100.00"), m("0.00")), Some(BudgetMove::Down(m("100.00"))));
        assert_eq!(budget_move(m("100.00"), m("100.00")), None);
    }

    /// Each posting of an entry as (account code, signed amount).
    fn legs(e: &JournalEntry) -> Vec<(String, Decimal)> {
        e.postings().iter().map(|p| (p.account.code.clone(), p.amount)).collect()
    }

    #[test]
    fn a_budget_entry_moves_budget_to_available_and_a_cut_moves_it_back() {
        let fund = Uuid::from_u128(5);
        let set = budget_entry(fund, true, m("60000.00")).unwrap();
        let cut = budget_entry(fund, false, m("60000.00")).unwrap();
        assert_eq!((set.kind(), set.memo(), cut.memo()), ("budget", "budget set", "budget reduced"));
        let (plus, minus) = (m("60000.00").as_decimal(), -m("60000.00").as_decimal());
        let mut set_legs = legs(&set);
        set_legs.sort();
        assert_eq!(set_legs, [("available".to_owned(), plus), ("budget".to_owned(), minus)]);
        let mut cut_legs = legs(&cut);
        cut_legs.sort();
        assert_eq!(cut_legs, [("available".to_owned(), minus), ("budget".to_owned(), plus)]);
        assert!(set.postings().iter().all(|p| p.account.fund_id == Some(fund)));
        assert!(budget_entry(fund, true, m("0.00")).is_err(), "an entry that moves nothing");
    }

    #[test]
    fn a_source_brings_money_and_only_an_upper_allocation_asks_for_matching() {
        let half = Some(Ratio::parse("0.5").unwrap());
        assert_eq!(check_source(SourceKind::UpperAllocation, m("1.00"), half), Ok(()));
        assert_eq!(check_source(SourceKind::LocalMatching, m("1.00"), None), Ok(()));
        assert_eq!(
            check_source(SourceKind::UpperAllocation, m("0.00"), half),
            Err(DomainError::invalid("amount", "must be more than zero"))
        );
        assert_eq!(
            check_source(SourceKind::FinanceAppropriation, m("1.00"), half),
            Err(DomainError::invalid("matching_ratio", "only an upper_allocation can require matching"))
        );
        let e = source_entry(Uuid::from_u128(5), SourceKind::LocalMatching, m("20000.00")).unwrap();
        assert_eq!((e.kind(), e.memo()), ("source", "local_matching received"));
        let mut got = legs(&e);
        got.sort();
        let amount = m("20000.00").as_decimal();
        assert_eq!(got, [("funding".to_owned(), amount), (codes::source("local_matching"), -amount)]);
    }
}
