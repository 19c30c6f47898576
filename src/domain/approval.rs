//! The approval state machine of applications (DOMAIN.md, "Approval states"; API.md, actions on an
//! application or grant). One machine serves every kind of case — a hardship application, a
//! township grant — which differ only in who reviews them (`CaseKind::reviewer`).
//!
//! ```text
//!            submit            review             approve
//!   draft ───────────▶ submitted ───────▶ reviewed ───────▶ approved ──▶ (the item's stages)
//!     ▲                  │    │              │   │
//!     └──── return ──────┘    └── reject ──▶ rejected ◀── reject
//!     ▲                                       │
//!     └──────────────── return ───────────────┘
//!   draft, submitted, reviewed ── withdraw ──▶ withdrawn
//! ```
//!
//! Who may act:
//! - **submit, withdraw**: the case's own side — a clerk of the case's organisation, or the
//!   reviewing department (which files applications for walk-in workers);
//! - **review, reject, return**: the reviewing department (`rights_officer` for hardship,
//!   `org_officer` for township grants), or a leader;
//! - **approve**: a leader, or — below the leader threshold — the reviewing department;
//!   never the person who submitted or reviewed the case (maker-checker): 403
//!   `separation_of_duties`. A reviewer must not be the submitter either.
//!
//! Anything else is 409 `invalid_transition` (wrong state) or 403 `forbidden` (wrong role).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::error::DomainError;
use super::orgs::text_enum;
use super::policy::Role;

/// The states of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Being written (again, after a return for revision).
    Draft,
    /// Sent for review.
    Submitted,
    /// Reviewed at the first level; waiting for approval.
    Reviewed,
    /// Approved: an item exists, and the money moves through its four stages.
    Approved,
    /// Refused (final).
    Rejected,
    /// Withdrawn by its own side (final).
    Withdrawn,
}

text_enum!(CaseStatus {
    Draft => "draft",
    Submitted => "submitted",
    Reviewed => "reviewed",
    Approved => "approved",
    Rejected => "rejected",
    Withdrawn => "withdrawn",
});

/// What can be done to a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseAction {
    /// draft → submitted
    Submit,
    /// submitted → reviewed
    Review,
    /// reviewed → approved
    Approve,
    /// submitted | reviewed → rejected (reason required)
    Reject,
    /// submitted | reviewed → draft, for revision (reason required)
    Return,
    /// draft | submitted | reviewed → withdrawn (reason required)
    Withdraw,
}

text_enum!(CaseAction {
    Submit => "submit",
    Review => "review",
    Approve => "approve",
    Reject => "reject",
    Return => "return",
    Withdraw => "withdraw",
});

/// The kinds of case that go through the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseKind {
    /// A worker's hardship application (帮扶申请).
    Hardship,
    /// A township union's grant application (乡镇工会经费申请).
    TownshipGrant,
}

impl CaseKind {
    /// The department that reviews this kind of case.
    pub fn reviewer(self) -> Role {
        match self {
            CaseKind::Hardship => Role::RightsOfficer,
            CaseKind::TownshipGrant => Role::OrgOfficer,
        }
    }
}

/// What the machine needs to know about a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    /// Its kind.
    pub kind: CaseKind,
    /// Its state.
    pub status: CaseStatus,
    /// The organisation it belongs to.
    pub org_id: Uuid,
    /// Who submitted it last, if anyone.
    pub submitted_by: Option<Uuid>,
    /// Who reviewed it last, if anyone.
    pub reviewed_by: Option<Uuid>,
    /// The amount that would be approved.
    pub amount: Decimal,
}

/// The person acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The user (or client) id.
    pub id: Uuid,
    /// Its role.
    pub role: Role,
    /// Its organisation.
    pub org_id: Uuid,
}

/// Above this amount only a leader approves (DOMAIN.md: "Amounts above a configurable threshold
/// need the leader's approval").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovalPolicy {
    /// The largest amount the reviewing department may approve itself.
    pub leader_threshold: Decimal,
}

/// A transition the machine allowed: the new state, and whether the reason was required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// The state before.
    pub from: CaseStatus,
    /// The state after.
    pub to: CaseStatus,
}

fn forbidden(detail: impl Into<String>) -> DomainError {
    DomainError::Forbidden { code: "forbidden", detail: detail.into() }
}

fn separation(detail: impl Into<String>) -> DomainError {
    DomainError::Forbidden { code: "separation_of_duties", detail: detail.into() }
}

/// Decides whether `actor` may apply `action` to `case` with `reason`, and to which state it
/// leads. Pure: the caller loads the case under a lock, asks, and writes the answer.
pub fn decide(
    case: &Case,
    action: CaseAction,
    actor: &Actor,
    reason: Option<&str>,
    policy: &ApprovalPolicy,
) -> Result<Transition, DomainError> {
    use CaseAction as A;
    use CaseStatus as S;
    let to = match (action, case.status) {
        (A::Submit, S::Draft) => S::Submitted,
        (A::Review, S::Submitted) => S::Reviewed,
        (A::Approve, S::Reviewed) => S::Approved,
        (A::Reject, S::Submitted | S::Reviewed) => S::Rejected,
        (A::Return, S::Submitted | S::Reviewed) => S::Draft,
        (A::Withdraw, S::Draft | S::Submitted | S::Reviewed) => S::Withdrawn,
        (action, status) => {
            return Err(DomainError::conflict(
                "invalid_transition",
                format!("cannot {action} a case that is {status}"),
            ));
        }
    };
    let reviewer = case.kind.reviewer();
    let own_side = (actor.role == Role::Clerk && actor.org_id == case.org_id) || actor.role == reviewer;
    let reviewing = actor.role == reviewer || actor.role == Role::Leader;
    match action {
        A::Submit | A::Withdraw if !own_side => {
            return Err(forbidden(format!("only the case's own organisation or the {reviewer} may {action} it")));
        }
        A::Review | A::Reject | A::Return if !reviewing => {
            return Err(forbidden(format!("only a {reviewer} or a leader may {action} a case")));
        }
        A::Approve if !reviewing => {
            return Err(forbidden(format!("only a {reviewer} or a leader may approve a case")));
        }
        A::Approve if actor.role != Role::Leader && case.amount > policy.leader_threshold => {
            return Err(forbidden(format!(
                "{} is above {}: only a leader may approve it",
                case.amount, policy.leader_threshold
            )));
        }
        _ => {}
    }
    match action {
        A::Review if case.submitted_by == Some(actor.id) => {
            return Err(separation("the person who submitted a case may not review it"));
        }
        A::Approve if case.submitted_by == Some(actor.id) => {
            return Err(separation("the person who submitted a case may not approve it"));
        }
        A::Approve if case.reviewed_by == Some(actor.id) => {
            return Err(separation("the person who reviewed a case may not approve it"));
        }
        _ => {}
    }
    if matches!(action, A::Reject | A::Return | A::Withdraw) && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(DomainError::invalid("reason", format!("a reason is required to {action} a case")));
    }
    Ok(Transition { from: case.status, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        s.parse().unwrap_or(Decimal::MIN)
    }

    const ORG: Uuid = Uuid::from_u128(1);
    const OTHER_ORG: Uuid = Uuid::from_u128(2);

    fn person(n: u128, role: Role) -> Actor {
        Actor { id: Uuid::from_u128(100 + n), role, org_id: if role == Role::Clerk { ORG } else { Uuid::from_u128(9) } }
    }

    fn case(status: CaseStatus) -> Case {
        Case {
            kind: CaseKind::Hardship,
            status,
            org_id: ORG,
            submitted_by: Some(person(1, Role::Clerk).id),
            reviewed_by: Some(person(2, Role::RightsOfficer).id),
            amount: dec("800.00"),
        }
    }

    fn policy() -> ApprovalPolicy {
        ApprovalPolicy { leader_threshold: dec("1000.00") }
    }

    fn code(e: DomainError) -> &'static str {
        match e {
            DomainError::Conflict { code, .. } | DomainError::Forbidden { code, .. } => code,
            DomainError::Invalid(_) => "invalid",
            DomainError::Unbalanced => "unbalanced",
        }
    }

    #[test]
    fn the_happy_path_runs_from_draft_to_approved() {
        let clerk = person(1, Role::Clerk);
        let officer = person(2, Role::RightsOfficer);
        let leader = person(3, Role::Leader);
        let mut c = Case { submitted_by: None, reviewed_by: None, ..case(CaseStatus::Draft) };
        c.status = decide(&c, CaseAction::Submit, &clerk, None, &policy()).map(|t| t.to).unwrap_or(c.status);
        c.submitted_by = Some(clerk.id);
        assert_eq!(c.status, CaseStatus::Submitted);
        c.status = decide(&c, CaseAction::Review, &officer, None, &policy()).map(|t| t.to).unwrap_or(c.status);
        c.reviewed_by = Some(officer.id);
        assert_eq!(c.status, CaseStatus::Reviewed);
        let t = decide(&c, CaseAction::Approve, &leader, None, &policy());
        assert_eq!(t, Ok(Transition { from: CaseStatus::Reviewed, to: CaseStatus::Approved }));
    }

    #[test]
    fn every_illegal_transition_is_invalid_transition() {
        use CaseAction as A;
        use CaseStatus as S;
        let legal = [
            (A::Submit, S::Draft),
            (A::Review, S::Submitted),
            (A::Approve, S::Reviewed),
            (A::Reject, S::Submitted),
            (A::Reject, S::Reviewed),
            (A::Return, S::Submitted),
            (A::Return, S::Reviewed),
            (A::Withdraw, S::Draft),
            (A::Withdraw, S::Submitted),
            (A::Withdraw, S::Reviewed),
        ];
        let leader = person(3, Role::Leader);
        for action in [A::Submit, A::Review, A::Approve, A::Reject, A::Return, A::Withdraw] {
            for status in [S::Draft, S::Submitted, S::Reviewed, S::Approved, S::Rejected, S::Withdrawn] {
                let c = case(status);
                let r = decide(&c, action, &leader, Some("why"), &policy());
                if legal.contains(&(action, status)) {
                    assert!(r.as_ref().map_or_else(|e| code(e.clone()) != "invalid_transition", |_| true));
                } else {
                    assert_eq!(r.map_err(code), Err("invalid_transition"), "{action} from {status}");
                }
            }
        }
    }

    #[test]
    fn the_submitter_or_reviewer_may_not_approve() {
        let c = case(CaseStatus::Reviewed);
        let submitter_as_leader = Actor { role: Role::Leader, ..person(1, Role::Clerk) };
        let reviewer_as_leader = Actor { role: Role::Leader, ..person(2, Role::RightsOfficer) };
        for who in [submitter_as_leader, reviewer_as_leader, person(2, Role::RightsOfficer)] {
            assert_eq!(
                decide(&c, CaseAction::Approve, &who, None, &policy()).map_err(code),
                Err("separation_of_duties")
            );
        }
        let submitter_as_officer = Actor { role: Role::RightsOfficer, ..person(1, Role::Clerk) };
        let submitted = case(CaseStatus::Submitted);
        assert_eq!(
            decide(&submitted, CaseAction::Review, &submitter_as_officer, None, &policy()).map_err(code),
            Err("separation_of_duties")
        );
    }

    #[test]
    fn above_the_threshold_only_a_leader_approves() {
        let other_officer = person(4, Role::RightsOfficer);
        let small = case(CaseStatus::Reviewed);
        assert!(decide(&small, CaseAction::Approve, &other_officer, None, &policy()).is_ok());
        let at = Case { amount: dec("1000.00"), ..small };
        assert!(decide(&at, CaseAction::Approve, &other_officer, None, &policy()).is_ok());
        let above = Case { amount: dec("1000.01"), ..small };
        assert_eq!(
            decide(&above, CaseAction::Approve, &other_officer, None, &policy()).map_err(code),
            Err("forbidden")
        );
        assert!(decide(&above, CaseAction::Approve, &person(3, Role::Leader), None, &policy()).is_ok());
    }

    #[test]
    fn roles_outside_the_case_are_forbidden() {
        let c = case(CaseStatus::Draft);
        let foreign_clerk = Actor { org_id: OTHER_ORG, ..person(5, Role::Clerk) };
        assert_eq!(decide(&c, CaseAction::Submit, &foreign_clerk, None, &policy()).map_err(code), Err("forbidden"));
        let finance = person(6, Role::FinanceOfficer);
        assert_eq!(decide(&c, CaseAction::Submit, &finance, None, &policy()).map_err(code), Err("forbidden"));
        let submitted = case(CaseStatus::Submitted);
        let clerk = person(1, Role::Clerk);
        assert_eq!(decide(&submitted, CaseAction::Review, &clerk, None, &policy()).map_err(code), Err("forbidden"));
        let grant = Case { kind: CaseKind::TownshipGrant, ..submitted };
        let rights = person(2, Role::RightsOfficer);
        assert_eq!(decide(&grant, CaseAction::Review, &rights, None, &policy()).map_err(code), Err("forbidden"));
        assert!(decide(&grant, CaseAction::Review, &person(7, Role::OrgOfficer), None, &policy()).is_ok());
    }

    #[test]
    fn reject_and_return_need_a_reason() {
        let c = case(CaseStatus::Submitted);
        let officer = person(4, Role::RightsOfficer);
        for action in [CaseAction::Reject, CaseAction::Return] {
            assert_eq!(decide(&c, action, &officer, None, &policy()).map_err(code), Err("invalid"));
            assert_eq!(decide(&c, action, &officer, Some("  "), &policy()).map_err(code), Err("invalid"));
            assert!(decide(&c, action, &officer, Some("income proof missing"), &policy()).is_ok());
        }
        let back = decide(&c, CaseAction::Return, &officer, Some("fix it"), &policy());
        assert_eq!(back.map(|t| t.to), Ok(CaseStatus::Draft));
    }
}
