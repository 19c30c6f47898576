//! The double-entry ledger's rules: accounts, postings, and journal entries that balance by
//! construction. Every money movement of the service is one `JournalEntry`.
//!
//! Sign convention: a debit is a positive amount, a credit a negative one, so an entry balances
//! exactly when its postings sum to zero (the database checks the same at commit).
//!
//! A fund's accounts (DOMAIN.md, "Earmarked money: four stages"):
//!
//! | code          | normal side | holds                                                     |
//! |---------------|-------------|-----------------------------------------------------------|
//! | `budget`      | credit      | the fund's budget authority (the other side of `available`)|
//! | `available`   | debit       | budget not yet committed to any item                       |
//! | `committed`   | debit       | allocated to items, not yet paid out                       |
//! | `paid_out`    | debit       | paid to payees, not yet reported as used                   |
//! | `spent`       | debit       | reported as used (final)                                   |
//! | `returned`    | debit       | memo: unused money returned to the fund, cumulative        |
//! | `returned_offset` | credit  | memo: the other side of `returned`                         |
//! | `funding`     | debit       | money received from the fund's sources                     |
//! | `source:<kind>` | credit    | each kind of source (upper allocation, local matching, …)  |

use rust_decimal::Decimal;
use uuid::Uuid;

use super::error::DomainError;
use super::money::Money;

/// Account codes of a fund.
pub mod codes {
    /// Budget authority (credit side of the budget).
    pub const BUDGET: &str = "budget";
    /// Budget not yet committed.
    pub const AVAILABLE: &str = "available";
    /// Allocated, not yet disbursed.
    pub const COMMITTED: &str = "committed";
    /// Disbursed, not yet used.
    pub const PAID_OUT: &str = "paid_out";
    /// Used.
    pub const SPENT: &str = "spent";
    /// Memo: returned to the fund.
    pub const RETURNED: &str = "returned";
    /// Memo: the credit side of `returned`.
    pub const RETURNED_OFFSET: &str = "returned_offset";
    /// Money received from the fund's sources.
    pub const FUNDING: &str = "funding";
    /// Unused money carried over to next year's fund (this year's side).
    pub const CARRIED_OUT: &str = "carried_out";
    /// Money carried over from last year's fund (next year's side, the credit of its `available`).
    pub const CARRIED_IN: &str = "carried_in";

    /// The credit-side account of one kind of source.
    pub fn source(kind: &str) -> String {
        format!("source:{kind}")
    }
}

/// An account: a code, within a fund or (for accounts of the federation itself) outside one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountRef {
    /// The fund the account belongs to.
    pub fund_id: Option<Uuid>,
    /// The account's code within the fund (see the table above).
    pub code: String,
}

impl AccountRef {
    /// An account of a fund.
    pub fn of_fund(fund_id: Uuid, code: impl Into<String>) -> Self {
        Self { fund_id: Some(fund_id), code: code.into() }
    }
}

/// One leg of an entry: a signed amount on an account (debit positive, credit negative).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// The account moved.
    pub account: AccountRef,
    /// Debit positive, credit negative; never zero.
    pub amount: Decimal,
}

/// A balanced set of postings: the only way money moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    kind: String,
    memo: String,
    postings: Vec<Posting>,
}

impl JournalEntry {
    /// Money moves `amount` from one account to another: credit `from`, debit `to`.
    /// Zero is refused: an entry that moves nothing is a mistake somewhere upstream.
    pub fn transfer(
        kind: &str,
        memo: impl Into<String>,
        from: AccountRef,
        to: AccountRef,
        amount: Money,
    ) -> Result<Self, DomainError> {
        Self::builder(kind, memo).debit(to, amount).credit(from, amount).build()
    }

    /// Starts an entry with several legs.
    pub fn builder(kind: &str, memo: impl Into<String>) -> EntryBuilder {
        EntryBuilder { kind: kind.to_owned(), memo: memo.into(), postings: Vec::new() }
    }

    /// What kind of movement this is (`budget`, `source`, `allocation`, …).
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Why the money moved, in words.
    pub fn memo(&self) -> &str {
        &self.memo
    }

    /// The legs, sorted by account so that every writer touches accounts in one order.
    pub fn postings(&self) -> &[Posting] {
        &self.postings
    }

    /// The entry's size: the sum of its debits.
    pub fn total(&self) -> Decimal {
        self.postings.iter().map(|p| p.amount).filter(|a| a.is_sign_positive()).sum()
    }
}

/// Collects the legs of an entry; `build` refuses anything that does not balance.
#[derive(Debug)]
pub struct EntryBuilder {
    kind: String,
    memo: String,
    postings: Vec<Posting>,
}

impl EntryBuilder {
    /// Adds a debit leg.
    pub fn debit(mut self, account: AccountRef, amount: Money) -> Self {
        self.postings.push(Posting { account, amount: amount.as_decimal() });
        self
    }

    /// Adds a credit leg.
    pub fn credit(mut self, account: AccountRef, amount: Money) -> Self {
        self.postings.push(Posting { account, amount: -amount.as_decimal() });
        self
    }

    /// The entry, if it balances: at least two non-zero legs summing to exactly zero.
    /// Legs on the same account are merged, and the legs are sorted by account (lock order).
    pub fn build(self) -> Result<JournalEntry, DomainError> {
        let mut postings: Vec<Posting> = Vec::with_capacity(self.postings.len());
        let mut legs = self.postings;
        legs.sort_by(|a, b| a.account.cmp(&b.account));
        for leg in legs {
            match postings.last_mut() {
                Some(last) if last.account == leg.account => last.amount += leg.amount,
                _ => postings.push(leg),
            }
        }
        postings.retain(|p| !p.amount.is_zero());
        let sum: Decimal = postings.iter().map(|p| p.amount).sum();
        if postings.len() < 2 || !sum.is_zero() {
            return Err(DomainError::Unbalanced);
        }
        Ok(JournalEntry { kind: self.kind, memo: self.memo, postings })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn fund() -> Uuid {
        Uuid::from_u128(7)
    }

    #[test]
    fn a_transfer_balances_and_is_sorted_by_account() {
        let m = Money::parse("1500.00").unwrap();
        let e = JournalEntry::transfer(
            "allocation",
            "to item",
            AccountRef::of_fund(fund(), codes::AVAILABLE),
            AccountRef::of_fund(fund(), codes::COMMITTED),
            m,
        )
        .unwrap();
        assert_eq!(e.postings().len(), 2);
        assert_eq!(e.postings()[0].account.code, "available");
        assert_eq!(e.postings()[0].amount, Decimal::new(-150000, 2));
        assert_eq!(e.total(), Decimal::new(150000, 2));
    }

    #[test]
    fn an_entry_that_moves_nothing_is_refused() {
        let a = AccountRef::of_fund(fund(), codes::AVAILABLE);
        let e = JournalEntry::transfer("x", "", a.clone(), a, Money::parse("1.00").unwrap());
        assert_eq!(e, Err(DomainError::Unbalanced));
        assert_eq!(
            JournalEntry::transfer(
                "x",
                "",
                AccountRef::of_fund(fund(), "a"),
                AccountRef::of_fund(fund(), "b"),
                Money::ZERO
            ),
            Err(DomainError::Unbalanced)
        );
    }

    #[test]
    fn unequal_legs_are_refused() {
        let e = JournalEntry::builder("x", "")
            .debit(AccountRef::of_fund(fund(), "a"), Money::parse("1.00").unwrap())
            .credit(AccountRef::of_fund(fund(), "b"), Money::parse("0.99").unwrap())
            .build();
        assert_eq!(e, Err(DomainError::Unbalanced));
    }

    proptest! {
        #[test]
        fn built_entries_always_sum_to_zero(fen in proptest::collection::vec(1i64..1_000_000_000, 1..6)) {
            let mut b = JournalEntry::builder("x", "");
            for (i, f) in fen.iter().enumerate() {
                let m = Money::from_fen(*f).unwrap();
                b = b.debit(AccountRef::of_fund(fund(), format!("d{i}")), m).credit(AccountRef::of_fund(fund(), "c"), m);
            }
            let e = b.build().unwrap();
            let sum: Decimal = e.postings().iter().map(|p| p.amount).sum();
            prop_assert!(sum.is_zero());
        }
    }
}
