//! A year's budget (DOMAIN.md, "Budgets and the annual report"): the kinds of budget line and
//! which fund each kind has, what a leaf's fund counts as executed, how lines roll up into the
//! groups above them, and the execution rate. The service reads the figures from the ledger;
//! what they mean is decided here.
//!
//! - A `group` line sums its children (合计, 基本支出, 项目支出): its appropriated and executed
//!   figures are its subtree's. Its budget is its own, as adopted; the reconciliation check
//!   `budget_lines_add_up` proves that it equals its children's.
//! - A `basic` line opens a fund of its own, of kind `basic`.
//! - A `project` line names the earmarked fund that carries it.

use std::collections::{HashMap, HashSet};

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::DomainError;
use super::funds::{Figures, FundKind};
use super::money::Money;
use super::orgs::text_enum;

/// What a budget line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Sums its children (合计, 基本支出, 项目支出).
    Group,
    /// Basic expenditure (工资福利支出, 一般商品和服务支出, 对个人和家庭的补助): a fund of its own.
    Basic,
    /// A project (项目支出): carried by an earmarked fund.
    Project,
}

text_enum!(LineKind { Group => "group", Basic => "basic", Project => "project" });

/// The fund a new line has, by its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFund {
    /// A group holds no money.
    None,
    /// A basic line opens its own fund, of kind `basic`, with the line.
    Opens,
    /// A project line names the earmarked fund that carries it (of the line's year, not a
    /// basic fund, not yet carried by another line: the service checks those against the data).
    Names(Uuid),
}

impl LineKind {
    /// Whether lines may sit under a line of this kind: only a group has children.
    pub fn holds_lines(self) -> bool {
        self == LineKind::Group
    }

    /// The fund a new line of this kind has, given the `fund_id` its request named: a project
    /// names one, a group and a basic line name none.
    pub fn fund(self, named: Option<Uuid>) -> Result<LineFund, DomainError> {
        match (self, named) {
            (LineKind::Group, None) => Ok(LineFund::None),
            (LineKind::Group | LineKind::Basic, Some(_)) => {
                Err(DomainError::invalid("fund_id", "only a project line names a fund (a basic line opens its own)"))
            }
            (LineKind::Project, None) => Err(DomainError::invalid("fund_id", "a project line names its fund")),
            (LineKind::Project, Some(id)) => Ok(LineFund::Names(id)),
            (LineKind::Basic, None) => Ok(LineFund::Opens),
        }
    }
}

impl LineKind {
    /// Whether basic expenditure may be recorded against a line of this kind: only a basic line
    /// is spent directly (409 `not_a_basic_line`); a project's money moves through its items.
    pub fn check_spent_directly(self) -> Result<(), DomainError> {
        if self == LineKind::Basic {
            return Ok(());
        }
        Err(DomainError::conflict(
            "not_a_basic_line",
            "only basic lines are spent directly; a project's money moves through its items",
        ))
    }
}

/// Basic expenditure spends only money the line's fund received and has not yet spent (409
/// `insufficient_funds`). Spending beyond the budget is possible when appropriations exceed it;
/// the checks then ask for the variance's explanation.
pub fn check_spend(amount: Money, fund: &Figures) -> Result<(), DomainError> {
    let unspent = fund.funded - fund.used;
    if amount.as_decimal() > unspent {
        return Err(DomainError::conflict(
            "insufficient_funds",
            format!("{} was received and not yet spent on this line", two_places(unspent)),
        ));
    }
    Ok(())
}

/// What a leaf line's fund executed, by the fund's kind: a basic fund's spending; a union-fee
/// fund's fees received; a hardship or grant fund's money paid out and not returned or carried
/// over (a kind the service cannot read counts as one of those).
pub fn executed_by_fund(kind: Option<FundKind>, f: &Figures, fees_received: Option<Decimal>) -> Decimal {
    match kind {
        Some(FundKind::Basic) => f.used,
        Some(FundKind::UnionFee) => fees_received.unwrap_or_default(),
        Some(FundKind::Hardship | FundKind::TownshipGrant) | None => f.disbursed - f.returned - f.carried_over,
    }
}

/// A line's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineFigures {
    /// The budget as adopted.
    pub budget: Decimal,
    /// Appropriated by the finance bureau.
    pub appropriated: Decimal,
    /// Executed (spent), from the ledger.
    pub executed: Decimal,
    /// A leaf's fund's budget, from the ledger (none for a group).
    pub fund_budget: Option<Decimal>,
}

impl LineFigures {
    /// Adds a line below this one: its appropriated and executed money (never its budget).
    fn add(&mut self, other: &LineFigures) {
        self.appropriated += other.appropriated;
        self.executed += other.executed;
    }

    /// Executed − budget.
    pub fn variance(&self) -> Decimal {
        self.executed - self.budget
    }

    /// Executed as a percentage of the budget, to two decimals (half away from zero, 四舍五入,
    /// as every figure of the books); none when the budget is zero.
    pub fn rate(&self) -> Option<Decimal> {
        (!self.budget.is_zero()).then(|| {
            (self.executed * Decimal::ONE_HUNDRED / self.budget)
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        })
    }
}

/// Formats a decimal with two places (half away from zero).
pub fn two_places(d: Decimal) -> String {
    format!("{:.2}", d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
}

/// One line as the rollup sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineNode {
    /// The line.
    pub id: Uuid,
    /// The group line above it.
    pub parent: Option<Uuid>,
    /// Its own figures (a group's own appropriated and executed are zero: it holds no money).
    pub own: LineFigures,
}

/// Every line's figures with its subtree's rolled in: a line's appropriated and executed are its
/// own plus those of every line below it, whatever the tree and whatever the order of `lines`.
/// Budgets and fund budgets are not rolled up (see the module's head). The answer is in the
/// order of `lines`. A parent missing from `lines` ends the walk up; a cycle (which the data
/// cannot hold: a line's parent exists before it) is walked once round.
pub fn roll_up(lines: &[LineNode]) -> Vec<LineFigures> {
    let index: HashMap<Uuid, usize> = lines.iter().enumerate().map(|(i, l)| (l.id, i)).collect();
    let mut rolled: Vec<LineFigures> = lines.iter().map(|l| l.own).collect();
    for (i, line) in lines.iter().enumerate() {
        let mut seen = HashSet::from([i]);
        let mut parent = line.parent;
        while let Some(j) = parent.and_then(|p| index.get(&p).copied()) {
            if !seen.insert(j) {
                break;
            }
            if let Some(up) = rolled.get_mut(j) {
                up.add(&line.own);
            }
            parent = lines.get(j).and_then(|l| l.parent);
        }
    }
    rolled
}

/// What kind of fixed asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetCategory {
    /// 车辆
    Vehicle,
    /// 电脑
    Computer,
    /// 复印机
    Copier,
    /// 打印机
    Printer,
    /// 家具
    Furniture,
    /// 其他
    Other,
}

text_enum!(AssetCategory {
    Vehicle => "vehicle",
    Computer => "computer",
    Copier => "copier",
    Printer => "printer",
    Furniture => "furniture",
    Other => "other",
});

impl AssetCategory {
    /// The category's name in the annual report.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Vehicle => "车辆",
            Self::Computer => "电脑",
            Self::Copier => "复印机",
            Self::Printer => "打印机",
            Self::Furniture => "家具",
            Self::Other => "其他",
        }
    }

    /// How the report counts them: 辆 for vehicles, 台 for the rest.
    pub fn counter(self) -> &'static str {
        if self == Self::Vehicle { "辆" } else { "台" }
    }

    /// Every category, in the report's order.
    pub const ALL: [AssetCategory; 6] =
        [Self::Vehicle, Self::Computer, Self::Copier, Self::Printer, Self::Furniture, Self::Other];
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn own(appropriated: &str, executed: &str) -> LineFigures {
        LineFigures { budget: d("1.00"), appropriated: d(appropriated), executed: d(executed), fund_budget: None }
    }

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn rate_rounds_half_away_from_zero_and_is_absent_without_a_budget() {
        let f =
            LineFigures { budget: d("3886200.00"), appropriated: d("0"), executed: d("4978030.00"), fund_budget: None };
        assert_eq!(f.rate().map(two_places).as_deref(), Some("128.10"));
        assert_eq!(two_places(f.variance()), "1091830.00");
        let f = LineFigures { budget: d("3.00"), appropriated: d("0"), executed: d("2.00"), fund_budget: None };
        assert_eq!(f.rate().map(two_places).as_deref(), Some("66.67"));
        // 1.00 of 800.00 is 0.125 %: the midpoint goes up (banker's rounding would give 0.12).
        let f = LineFigures { budget: d("800.00"), executed: d("1.00"), ..f };
        assert_eq!(f.rate(), Some(d("0.13")));
        let f = LineFigures { budget: d("3200.00"), ..f };
        assert_eq!(f.rate(), Some(d("0.03")), "0.03125 % is below the midpoint");
        assert_eq!(LineFigures { budget: Decimal::ZERO, ..f }.rate(), None);
        assert_eq!(two_places(d("0.005")), "0.01");
        assert_eq!(two_places(d("-0.005")), "-0.01");
        assert_eq!(two_places(d("7")), "7.00");
    }

    #[test]
    fn kinds_round_trip_through_their_text() {
        for k in [LineKind::Group, LineKind::Basic, LineKind::Project] {
            assert_eq!(LineKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(LineKind::parse("leaf"), None);
        for c in AssetCategory::ALL {
            assert_eq!(AssetCategory::parse(c.as_str()), Some(c));
        }
        assert_eq!(AssetCategory::Vehicle.counter(), "辆");
        assert_eq!(AssetCategory::Copier.counter(), "台");
    }

    #[test]
    fn only_a_project_names_a_fund_and_only_a_basic_line_opens_one() {
        let fund = id(5);
        assert_eq!(LineKind::Group.fund(None), Ok(LineFund::None));
        assert_eq!(LineKind::Basic.fund(None), Ok(LineFund::Opens));
        assert_eq!(LineKind::Project.fund(Some(fund)), Ok(LineFund::Names(fund)));
        for (kind, named) in [(LineKind::Group, Some(fund)), (LineKind::Basic, Some(fund)), (LineKind::Project, None)] {
            match kind.fund(named) {
                Err(DomainError::Invalid(errors)) => assert_eq!(errors[0].field, "fund_id", "{kind}"),
                other => panic!("{kind} with {named:?}: {other:?}"),
            }
        }
        assert!(LineKind::Group.holds_lines());
        assert!(!LineKind::Basic.holds_lines() && !LineKind::Project.holds_lines());
    }

    fn figures() -> Figures {
        Figures {
            budget: d("1000.00"),
            allocated: d("900.00"),
            disbursed: d("800.00"),
            used: d("500.00"),
            returned: d("100.00"),
            available: d("200.00"),
            funded: d("1000.00"),
            carried_over: d("50.00"),
            carried_in: Decimal::ZERO,
        }
    }

    #[test]
    fn only_a_basic_line_spends_and_only_what_it_received() {
        let conflict = |r: Result<(), DomainError>| match r {
            Err(DomainError::Conflict { code, detail }) => (code, detail),
            other => panic!("expected a conflict, got {other:?}"),
        };
        assert_eq!(LineKind::Basic.check_spent_directly(), Ok(()));
        for kind in [LineKind::Group, LineKind::Project] {
            assert_eq!(conflict(kind.check_spent_directly()).0, "not_a_basic_line");
        }
        // Received 1000.00, spent 500.00: 500.00 may still be spent, not a fen more.
        let f = figures();
        assert_eq!(check_spend("500.00".parse().unwrap(), &f), Ok(()));
        let (code, detail) = conflict(check_spend("500.01".parse().unwrap(), &f));
        assert_eq!(
            (code, detail.as_str()),
            ("insufficient_funds", "500.00 was received and not yet spent on this line")
        );
    }

    #[test]
    fn each_kind_of_fund_executes_its_own_figure() {
        let f = figures();
        assert_eq!(executed_by_fund(Some(FundKind::Basic), &f, Some(d("9.00"))), d("500.00"));
        assert_eq!(executed_by_fund(Some(FundKind::UnionFee), &f, Some(d("9.00"))), d("9.00"));
        assert_eq!(executed_by_fund(Some(FundKind::UnionFee), &f, None), Decimal::ZERO);
        for kind in [Some(FundKind::Hardship), Some(FundKind::TownshipGrant), None] {
            assert_eq!(executed_by_fund(kind, &f, None), d("650.00"), "{kind:?}");
        }
    }

    #[test]
    fn a_group_sums_its_subtree_but_keeps_its_own_budget() {
        // total ─┬─ basic ─┬─ wages (10 / 8)
        //        │         └─ goods (5 / 4)
        //        └─ project (20 / 15)
        let lines = [
            LineNode { id: id(1), parent: None, own: LineFigures { budget: d("99.00"), ..own("0", "0") } },
            LineNode { id: id(2), parent: Some(id(1)), own: own("0", "0") },
            LineNode { id: id(3), parent: Some(id(2)), own: own("10.00", "8.00") },
            LineNode { id: id(4), parent: Some(id(2)), own: own("5.00", "4.00") },
            LineNode { id: id(5), parent: Some(id(1)), own: own("20.00", "15.00") },
        ];
        let rolled = roll_up(&lines);
        assert_eq!((rolled[0].appropriated, rolled[0].executed), (d("35.00"), d("27.00")));
        assert_eq!(rolled[0].budget, d("99.00"), "a group's budget is its own, as adopted");
        assert_eq!((rolled[1].appropriated, rolled[1].executed), (d("15.00"), d("12.00")));
        assert_eq!(rolled[4], lines[4].own, "a leaf is its own");
        // The same lines in another order roll up the same, line for line.
        let mut reversed = lines;
        reversed.reverse();
        let mut again = roll_up(&reversed);
        again.reverse();
        assert_eq!(again, rolled);
    }

    #[test]
    fn a_missing_parent_or_a_cycle_ends_the_walk() {
        let orphan = [LineNode { id: id(1), parent: Some(id(9)), own: own("1.00", "1.00") }];
        assert_eq!(roll_up(&orphan), vec![orphan[0].own]);
        let cycle = [
            LineNode { id: id(1), parent: Some(id(2)), own: own("1.00", "0") },
            LineNode { id: id(2), parent: Some(id(1)), own: own("2.00", "0") },
        ];
        let rolled = roll_up(&cycle);
        assert_eq!((rolled[0].appropriated, rolled[1].appropriated), (d("3.00"), d("3.00")));
    }

    /// A tree of up to 40 lines: each line's parent is an earlier line or none (as the data holds
    /// them), with own figures in fen; then the lines are shuffled.
    fn trees() -> impl Strategy<Value = Vec<LineNode>> {
        proptest::collection::vec((any::<Option<prop::sample::Index>>(), 0_i64..10_000_000, 0_i64..10_000_000), 1..40)
            .prop_map(|raw| {
                raw.iter()
                    .enumerate()
                    .map(|(i, (parent, appropriated, executed))| LineNode {
                        id: id(i as u128 + 1),
                        parent: parent.filter(|_| i > 0).map(|p| id(p.index(i) as u128 + 1)),
                        own: LineFigures {
                            budget: Decimal::new(*appropriated, 2),
                            appropriated: Decimal::new(*appropriated, 2),
                            executed: Decimal::new(*executed, 2),
                            fund_budget: Some(Decimal::new(*executed, 2)),
                        },
                    })
                    .collect::<Vec<_>>()
            })
            .prop_shuffle()
    }

    proptest! {
        #[test]
        fn a_parents_figure_is_its_own_plus_the_sum_of_its_childrens(lines in trees()) {
            let rolled = roll_up(&lines);
            let by_id: HashMap<Uuid, LineFigures> = lines.iter().map(|l| l.id).zip(rolled.iter().copied()).collect();
            for (line, figures) in lines.iter().zip(&rolled) {
                let children: Vec<&LineFigures> =
                    lines.iter().filter(|c| c.parent == Some(line.id)).map(|c| &by_id[&c.id]).collect();
                let appropriated: Decimal = children.iter().map(|c| c.appropriated).sum();
                let executed: Decimal = children.iter().map(|c| c.executed).sum();
                prop_assert_eq!(figures.appropriated, line.own.appropriated + appropriated);
                prop_assert_eq!(figures.executed, line.own.executed + executed);
                prop_assert_eq!(figures.budget, line.own.budget);
                prop_assert_eq!(figures.fund_budget, line.own.fund_budget);
            }
            // The roots together hold every line's money exactly once.
            let roots = || lines.iter().zip(&rolled).filter(|(l, _)| l.parent.is_none()).map(|(_, f)| f);
            prop_assert_eq!(roots().map(|f| f.executed).sum::<Decimal>(), lines.iter().map(|l| l.own.executed).sum::<Decimal>());
            prop_assert_eq!(
                roots().map(|f| f.appropriated).sum::<Decimal>(),
                lines.iter().map(|l| l.own.appropriated).sum::<Decimal>()
            );
        }
    }
}
