//! A hardship campaign's steps (DOMAIN.md, fund 2, "Campaigns"): the campaign's states and the
//! steps allowed in each, who approves it, the budgets its grants stay within, and the states
//! of each beneficiary's bank payment.
//!
//! ```text
//!          approve (a leader, never the creator)         disburse
//!   draft ─────────────────────────────────────▶ approved ────────▶ disbursed
//!   (add beneficiaries)                                              (export the bank file,
//!                                                                     record the bank's results)
//! ```
//!
//! A payment, once its campaign is disbursed: `pending → paid | failed`, `paid → returned`; a
//! failed or returned payment reverses its item's disbursement.

use rust_decimal::Decimal;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::DomainError;
use super::orgs::text_enum;
use super::policy::{Caller, Permission, allows};

/// The states of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignStatus {
    /// Beneficiaries being added.
    Draft,
    /// Approved: one item per beneficiary.
    Approved,
    /// Paid as a bank batch.
    Disbursed,
}

text_enum!(CampaignStatus { Draft => "draft", Approved => "approved", Disbursed => "disbursed" });

/// What can be done to a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CampaignAction {
    /// draft → draft
    AddBeneficiaries,
    /// draft → approved
    Approve,
    /// approved → disbursed
    Disburse,
    /// disbursed → disbursed
    ExportBankFile,
    /// disbursed → disbursed
    RecordBankResults,
}

impl CampaignAction {
    /// Every action, for tests.
    pub const ALL: [CampaignAction; 5] = [
        CampaignAction::AddBeneficiaries,
        CampaignAction::Approve,
        CampaignAction::Disburse,
        CampaignAction::ExportBankFile,
        CampaignAction::RecordBankResults,
    ];

    /// The action as the refusal names it: "cannot {this} a campaign that is …".
    fn words(self) -> &'static str {
        match self {
            CampaignAction::AddBeneficiaries => "add beneficiaries to",
            CampaignAction::Approve => "approve",
            CampaignAction::Disburse => "disburse",
            CampaignAction::ExportBankFile => "export the bank file of",
            CampaignAction::RecordBankResults => "record bank results of",
        }
    }
}

impl CampaignStatus {
    /// Every state, for tests.
    pub const ALL: [CampaignStatus; 3] = [CampaignStatus::Draft, CampaignStatus::Approved, CampaignStatus::Disbursed];

    /// The state `action` leads to from this one: the one table of legal steps (409
    /// `invalid_transition` for any other).
    pub fn next(self, action: CampaignAction) -> Result<CampaignStatus, DomainError> {
        use {CampaignAction as A, CampaignStatus as S};
        match (self, action) {
            (S::Draft, A::AddBeneficiaries) => Ok(S::Draft),
            (S::Draft, A::Approve) => Ok(S::Approved),
            (S::Approved, A::Disburse) => Ok(S::Disbursed),
            (S::Disbursed, A::ExportBankFile | A::RecordBankResults) => Ok(S::Disbursed),
            (from, action) => Err(DomainError::conflict(
                "invalid_transition",
                format!("cannot {} a campaign that is {from}", action.words()),
            )),
        }
    }
}

/// Whether `caller` may approve campaigns at all (the policy table's `ApproveCampaigns`: a
/// leader). Asked before the campaign is read, so that a caller who may not approve learns
/// nothing of it (issue 15).
pub fn authorize_approval(caller: &Caller) -> Result<(), DomainError> {
    if allows(caller.role, Permission::ApproveCampaigns) {
        Ok(())
    } else {
        Err(DomainError::Forbidden { code: "forbidden", detail: "only a leader approves a campaign".into() })
    }
}

/// Maker-checker: whoever created a campaign may not approve it (403 `separation_of_duties`).
/// Asked once the campaign is locked, before `If-Match` and its state.
pub fn check_approver(created_by: Uuid, approver: Uuid) -> Result<(), DomainError> {
    if created_by == approver {
        return Err(DomainError::Forbidden {
            code: "separation_of_duties",
            detail: "the person who created a campaign may not approve it".into(),
        });
    }
    Ok(())
}

/// A campaign is approved with its beneficiaries, never without any (409 `invalid_transition`).
pub fn check_has_beneficiaries(count: usize) -> Result<(), DomainError> {
    if count == 0 {
        return Err(DomainError::conflict("invalid_transition", "a campaign without beneficiaries cannot be approved"));
    }
    Ok(())
}

/// A new campaign's budget, with the fund's other campaigns' (`others`), stays within the fund's
/// budget (409 `over_budget`).
pub fn check_campaign_budget(others: Decimal, budget: Decimal, fund_budget: Decimal) -> Result<(), DomainError> {
    if others + budget > fund_budget {
        return Err(DomainError::conflict(
            "over_budget",
            format!("the fund's campaigns would budget {} of its {fund_budget}", others + budget),
        ));
    }
    Ok(())
}

/// The grants being added, with those already in the campaign, stay within its budget (409
/// `over_budget`).
pub fn check_grants(granted: Decimal, added: Decimal, budget: Decimal) -> Result<(), DomainError> {
    if granted + added > budget {
        return Err(DomainError::conflict(
            "over_budget",
            format!("the beneficiaries would be granted {} of the campaign's {budget}", granted + added),
        ));
    }
    Ok(())
}

/// What the bank says of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Credited to the worker's account.
    Paid,
    /// Not made (closed account, wrong name…): the money never left.
    Failed,
    /// Made, then sent back by the receiving bank.
    Returned,
}

text_enum!(PaymentStatus { Paid => "paid", Failed => "failed", Returned => "returned" });

/// Where a beneficiary's payment stands, once its campaign is in a bank batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentState {
    /// In the bank file, no result yet.
    Pending,
    /// Credited.
    Paid,
    /// Never made.
    Failed,
    /// Made, then sent back.
    Returned,
}

text_enum!(PaymentState { Pending => "pending", Paid => "paid", Failed => "failed", Returned => "returned" });

impl PaymentStatus {
    /// Whether this result undoes the payment: the item's disbursement is reversed and the money
    /// committed to it again.
    pub fn reverses(self) -> bool {
        self != PaymentStatus::Paid
    }

    /// The payment's state after the bank says this of it — `pending → paid | failed`, `paid →
    /// returned` — from `current` (none: the payment is in no bank batch). Anything else is
    /// refused with the words a 422 gives for the row.
    pub fn after(self, current: Option<PaymentState>) -> Result<PaymentState, String> {
        use {PaymentState as S, PaymentStatus as R};
        match (current, self) {
            (Some(S::Pending), R::Paid) => Ok(S::Paid),
            (Some(S::Pending), R::Failed) => Ok(S::Failed),
            (Some(S::Paid), R::Returned) => Ok(S::Returned),
            (current, result) => Err(format!(
                "invalid_transition: a payment that is {} cannot become {result}",
                current.map_or("unpaid", PaymentState::as_str)
            )),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::policy::{Role, SubjectKind};

    fn code(e: DomainError) -> &'static str {
        match e {
            DomainError::Conflict { code, .. } | DomainError::Forbidden { code, .. } => code,
            DomainError::Invalid(_) => "invalid",
            DomainError::Unbalanced => "unbalanced",
        }
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn the_steps_run_draft_approved_disbursed_and_nothing_else_is_legal() {
        use {CampaignAction as A, CampaignStatus as S};
        let legal = [
            (S::Draft, A::AddBeneficiaries, S::Draft),
            (S::Draft, A::Approve, S::Approved),
            (S::Approved, A::Disburse, S::Disbursed),
            (S::Disbursed, A::ExportBankFile, S::Disbursed),
            (S::Disbursed, A::RecordBankResults, S::Disbursed),
        ];
        for from in S::ALL {
            for action in A::ALL {
                let expected = legal.iter().find(|(f, a, _)| *f == from && *a == action).map(|(_, _, to)| *to);
                match (from.next(action), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{from} {action:?}"),
                    (Err(e), None) => assert_eq!(code(e), "invalid_transition", "{from} {action:?}"),
                    (got, want) => panic!("{from} {action:?}: {got:?}, expected {want:?}"),
                }
            }
        }
    }

    #[test]
    fn a_refused_step_names_the_action_and_the_state() {
        let e = CampaignStatus::Approved.next(CampaignAction::AddBeneficiaries).err().unwrap();
        assert_eq!(e.to_string(), "cannot add beneficiaries to a campaign that is approved");
        let e = CampaignStatus::Draft.next(CampaignAction::ExportBankFile).err().unwrap();
        assert_eq!(e.to_string(), "cannot export the bank file of a campaign that is draft");
        for s in CampaignStatus::ALL {
            assert_eq!(CampaignStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn only_the_roles_the_policy_table_names_approve_and_never_the_creator() {
        let leader =
            Caller { subject: Uuid::from_u128(1), kind: SubjectKind::User, role: Role::Leader, org_id: Uuid::nil() };
        for role in Role::ALL {
            let caller = Caller { role, ..leader.clone() };
            let r = authorize_approval(&caller).map_err(code);
            assert_eq!(r.is_ok(), allows(role, Permission::ApproveCampaigns), "{role}");
            assert_eq!(r.is_ok(), role == Role::Leader, "{role}");
            if role != Role::Leader {
                assert_eq!(r, Err("forbidden"));
            }
        }
        assert_eq!(check_approver(leader.subject, leader.subject).map_err(code), Err("separation_of_duties"));
        assert_eq!(check_approver(Uuid::from_u128(2), leader.subject), Ok(()));
        assert_eq!(check_has_beneficiaries(0).map_err(code), Err("invalid_transition"));
        assert_eq!(check_has_beneficiaries(1), Ok(()));
    }

    #[test]
    fn budgets_hold_up_to_the_fen() {
        assert_eq!(check_campaign_budget(d("600.00"), d("400.00"), d("1000.00")), Ok(()));
        let e = check_campaign_budget(d("600.00"), d("400.01"), d("1000.00")).err().unwrap();
        assert_eq!(e.to_string(), "the fund's campaigns would budget 1000.01 of its 1000.00");
        assert_eq!(code(e), "over_budget");
        assert_eq!(check_grants(d("0"), d("500.00"), d("500.00")), Ok(()));
        let e = check_grants(d("499.99"), d("0.02"), d("500.00")).err().unwrap();
        assert_eq!(e.to_string(), "the beneficiaries would be granted 500.01 of the campaign's 500.00");
    }

    #[test]
    fn payments_go_pending_to_paid_or_failed_and_paid_to_returned() {
        use {PaymentState as S, PaymentStatus as R};
        assert_eq!(R::Paid.after(Some(S::Pending)), Ok(S::Paid));
        assert_eq!(R::Failed.after(Some(S::Pending)), Ok(S::Failed));
        assert_eq!(R::Returned.after(Some(S::Paid)), Ok(S::Returned));
        for (current, result) in [
            (Some(S::Pending), R::Returned),
            (Some(S::Paid), R::Paid),
            (Some(S::Paid), R::Failed),
            (Some(S::Failed), R::Paid),
            (Some(S::Returned), R::Returned),
            (None, R::Paid),
        ] {
            assert!(result.after(current).is_err(), "{current:?} → {result}");
        }
        assert_eq!(R::Paid.after(None), Err("invalid_transition: a payment that is unpaid cannot become paid".into()));
        assert_eq!(
            R::Paid.after(Some(S::Failed)),
            Err("invalid_transition: a payment that is failed cannot become paid".into())
        );
        assert!(!R::Paid.reverses() && R::Failed.reverses() && R::Returned.reverses());
        for s in [S::Pending, S::Paid, S::Failed, S::Returned] {
            assert_eq!(S::parse(s.as_str()), Some(s));
        }
    }
}
