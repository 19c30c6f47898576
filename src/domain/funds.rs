//! A fund's figures, derived from its ledger balances, and the local-matching rule.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ledger::codes;
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
}
