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
//! - **approve**: a leader, or — when neither the amount asked nor the amount granted is above
//!   the leader threshold — the reviewing department (403 `forbidden` otherwise: granting less
//!   than asked does not move a large request out of the leader's hands);
//! - **maker-checker**: submitting, reviewing and approving are three duties, and whoever took
//!   one of them in a case, at any point of its history (before a return included), takes no
//!   other in it: 403 `separation_of_duties`. Taking the same duty again (a clerk resubmitting
//!   after a return) is no second duty.
//!
//! Authorisation is decided before anything else (`authorize`): a caller who may not act learns
//! nothing of the case's state. Then a wrong state is 409 `invalid_transition`, a missing reason
//! a 422.

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

/// The three duties of the maker-checker chain. Whoever took one in a case takes no other in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Duty {
    /// Submitted the case (draft → submitted).
    Submit,
    /// Reviewed it (submitted → reviewed).
    Review,
    /// Approved it (reviewed → approved).
    Approve,
}

text_enum!(Duty {
    Submit => "submit",
    Review => "review",
    Approve => "approve",
});

impl Duty {
    fn past(self) -> &'static str {
        match self {
            Duty::Submit => "submitted",
            Duty::Review => "reviewed",
            Duty::Approve => "approved",
        }
    }
}

impl CaseAction {
    /// The duty of the maker-checker chain this action takes, if it is one of the three.
    pub fn duty(self) -> Option<Duty> {
        match self {
            CaseAction::Submit => Some(Duty::Submit),
            CaseAction::Review => Some(Duty::Review),
            CaseAction::Approve => Some(Duty::Approve),
            CaseAction::Reject | CaseAction::Return | CaseAction::Withdraw => None,
        }
    }
}

/// Someone who took a duty in a case, at some point of its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaseActor {
    /// Which duty.
    pub duty: Duty,
    /// Who (a user's id).
    pub actor: Uuid,
}

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
pub struct Case<'a> {
    /// Its kind.
    pub kind: CaseKind,
    /// Its state.
    pub status: CaseStatus,
    /// The organisation it belongs to.
    pub org_id: Uuid,
    /// The amount asked for.
    pub requested: Decimal,
    /// The amount that would be granted (the requested amount unless an approval says less).
    pub granted: Decimal,
    /// Everyone who submitted, reviewed or approved it, at any point of its history — not only
    /// the last submitter and reviewer, which a return and a new round would hide.
    pub history: &'a [CaseActor],
}

impl Case<'_> {
    /// What an approval puts at stake: the larger of the amount asked and the amount granted.
    /// A request of 50,000.00 granted 3,000.00 is still a 50,000.00 decision.
    pub fn at_stake(&self) -> Decimal {
        self.requested.max(self.granted)
    }
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

/// Decides whether `actor` may take `action` on `case` at all — its role, the leader threshold,
/// separation of duties — whatever the case's state. Asked first, before `If-Match`, the state
/// or the body are looked at, so that a caller without the right learns none of them.
pub fn authorize(
    case: &Case<'_>,
    action: CaseAction,
    actor: &Actor,
    policy: &ApprovalPolicy,
) -> Result<(), DomainError> {
    use CaseAction as A;
    let reviewer = case.kind.reviewer();
    let own_side = (actor.role == Role::Clerk && actor.org_id == case.org_id) || actor.role == reviewer;
    let reviewing = actor.role == reviewer || actor.role == Role::Leader;
    match action {
        A::Submit | A::Withdraw if !own_side => {
            return Err(forbidden(format!("only the case's own organisation or the {reviewer} may {action} it")));
        }
        A::Review | A::Reject | A::Return | A::Approve if !reviewing => {
            return Err(forbidden(format!("only a {reviewer} or a leader may {action} a case")));
        }
        A::Approve if actor.role != Role::Leader && case.at_stake() > policy.leader_threshold => {
            return Err(forbidden(format!(
                "the amount at stake is above {}: only a leader may approve it",
                policy.leader_threshold
            )));
        }
        _ => {}
    }
    if let Some(duty) = action.duty()
        && let Some(earlier) = case.history.iter().find(|h| h.actor == actor.id && h.duty != duty)
    {
        return Err(separation(format!(
            "you {} this case: whoever submits, reviews or approves a case takes no other of those duties in it, \
             even after a return",
            earlier.duty.past()
        )));
    }
    Ok(())
}

/// Decides whether `actor` may apply `action` to `case` with `reason`, and to which state it
/// leads: `authorize` first, then the state (409), then the reason (422). Pure: the caller
/// loads the case under a lock, asks, and writes the answer.
pub fn decide(
    case: &Case<'_>,
    action: CaseAction,
    actor: &Actor,
    reason: Option<&str>,
    policy: &ApprovalPolicy,
) -> Result<Transition, DomainError> {
    use CaseAction as A;
    use CaseStatus as S;
    authorize(case, action, actor, policy)?;
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

    /// The clerk (1) submitted, the rights officer (2) reviewed.
    const HISTORY: [CaseActor; 2] = [
        CaseActor { duty: Duty::Submit, actor: Uuid::from_u128(101) },
        CaseActor { duty: Duty::Review, actor: Uuid::from_u128(102) },
    ];

    fn case(status: CaseStatus) -> Case<'static> {
        Case {
            kind: CaseKind::Hardship,
            status,
            org_id: ORG,
            requested: dec("800.00"),
            granted: dec("800.00"),
            history: &HISTORY,
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
        let mut history = Vec::new();
        let mut status = CaseStatus::Draft;
        for (who, action) in [(clerk, CaseAction::Submit), (officer, CaseAction::Review)] {
            let c = Case { status, history: &history, ..case(status) };
            status = decide(&c, action, &who, None, &policy()).map(|t| t.to).unwrap_or(status);
            history.extend(action.duty().map(|duty| CaseActor { duty, actor: who.id }));
        }
        assert_eq!(status, CaseStatus::Reviewed);
        let c = Case { history: &history, ..case(status) };
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
        // A rights officer with no part in the case may take every action, so only the state
        // can refuse it.
        let officer = person(4, Role::RightsOfficer);
        for action in [A::Submit, A::Review, A::Approve, A::Reject, A::Return, A::Withdraw] {
            for status in [S::Draft, S::Submitted, S::Reviewed, S::Approved, S::Rejected, S::Withdrawn] {
                let c = case(status);
                let r = decide(&c, action, &officer, Some("why"), &policy());
                if legal.contains(&(action, status)) {
                    assert!(r.is_ok(), "{action} from {status}: {r:?}");
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
    fn no_one_takes_two_duties_in_one_case_and_the_same_duty_twice_is_one() {
        use CaseStatus as S;
        let officer = person(4, Role::RightsOfficer);
        let leader = Actor { role: Role::Leader, ..officer };
        let duties = [Duty::Submit, Duty::Review, Duty::Approve];
        for earlier in duties {
            let history = [CaseActor { duty: earlier, actor: officer.id }];
            for (action, status, who) in [
                (CaseAction::Submit, S::Draft, officer),
                (CaseAction::Review, S::Submitted, leader),
                (CaseAction::Approve, S::Reviewed, leader),
            ] {
                let c = Case { history: &history, ..case(status) };
                let r = decide(&c, action, &who, None, &policy()).map_err(code);
                if action.duty() == Some(earlier) {
                    assert!(r.is_ok(), "{earlier:?} then {action}: {r:?}");
                } else {
                    assert_eq!(r, Err("separation_of_duties"), "{earlier:?} then {action}");
                }
            }
        }
    }

    #[test]
    fn a_first_reviewer_replaced_after_a_return_still_may_not_approve() {
        // The clerk submitted, officer A reviewed, the case came back, the clerk resubmitted and
        // officer B reviewed: the last reviewer is B, but A reviewed it too.
        let (clerk, a, b) = (person(1, Role::Clerk), person(5, Role::RightsOfficer), person(6, Role::RightsOfficer));
        let history = [
            CaseActor { duty: Duty::Submit, actor: clerk.id },
            CaseActor { duty: Duty::Review, actor: a.id },
            CaseActor { duty: Duty::Submit, actor: clerk.id },
            CaseActor { duty: Duty::Review, actor: b.id },
        ];
        let c = Case { history: &history, ..case(CaseStatus::Reviewed) };
        assert_eq!(decide(&c, CaseAction::Approve, &a, None, &policy()).map_err(code), Err("separation_of_duties"));
        let a_as_leader = Actor { role: Role::Leader, ..a };
        assert_eq!(
            decide(&c, CaseAction::Approve, &a_as_leader, None, &policy()).map_err(code),
            Err("separation_of_duties")
        );
        assert!(decide(&c, CaseAction::Approve, &person(7, Role::RightsOfficer), None, &policy()).is_ok());
        // Returning, rejecting and withdrawing take no duty of the chain.
        let submitted = Case { history: &history, ..case(CaseStatus::Submitted) };
        assert!(decide(&submitted, CaseAction::Return, &a, Some("again"), &policy()).is_ok());
    }

    #[test]
    fn above_the_threshold_only_a_leader_approves() {
        let other_officer = person(4, Role::RightsOfficer);
        let small = case(CaseStatus::Reviewed);
        assert!(decide(&small, CaseAction::Approve, &other_officer, None, &policy()).is_ok());
        let at = Case { requested: dec("1000.00"), granted: dec("1000.00"), ..small };
        assert!(decide(&at, CaseAction::Approve, &other_officer, None, &policy()).is_ok());
        let above = Case { requested: dec("1000.01"), granted: dec("1000.01"), ..small };
        assert_eq!(
            decide(&above, CaseAction::Approve, &other_officer, None, &policy()).map_err(code),
            Err("forbidden")
        );
        assert!(decide(&above, CaseAction::Approve, &person(3, Role::Leader), None, &policy()).is_ok());
    }

    #[test]
    fn the_threshold_applies_to_the_amount_asked_not_only_the_amount_granted() {
        // Issue 15: 50,000.00 asked, "3000.00" granted by a rights officer.
        let policy = ApprovalPolicy { leader_threshold: dec("3000.00") };
        let officer = person(4, Role::RightsOfficer);
        let big = Case { requested: dec("50000.00"), granted: dec("3000.00"), ..case(CaseStatus::Reviewed) };
        assert_eq!(big.at_stake(), dec("50000.00"));
        assert_eq!(decide(&big, CaseAction::Approve, &officer, None, &policy).map_err(code), Err("forbidden"));
        assert!(decide(&big, CaseAction::Approve, &person(3, Role::Leader), None, &policy).is_ok());
        let grant = Case { kind: CaseKind::TownshipGrant, ..big };
        let org_officer = person(8, Role::OrgOfficer);
        assert_eq!(decide(&grant, CaseAction::Approve, &org_officer, None, &policy).map_err(code), Err("forbidden"));
        // Within the threshold, asked and granted, the reviewing department approves.
        let small = Case { requested: dec("3000.00"), granted: dec("2000.00"), ..big };
        assert!(decide(&small, CaseAction::Approve, &officer, None, &policy).is_ok());
    }

    #[test]
    fn authorisation_is_decided_before_the_state() {
        // A clerk reviewing a draft, a foreign clerk submitting an approved case, the submitter
        // approving a draft: each is refused for who it is, not for the state it found.
        let draft = case(CaseStatus::Draft);
        assert_eq!(
            decide(&draft, CaseAction::Review, &person(1, Role::Clerk), None, &policy()).map_err(code),
            Err("forbidden")
        );
        let foreign_clerk = Actor { org_id: OTHER_ORG, ..person(5, Role::Clerk) };
        let approved = case(CaseStatus::Approved);
        assert_eq!(
            decide(&approved, CaseAction::Submit, &foreign_clerk, None, &policy()).map_err(code),
            Err("forbidden")
        );
        let submitter_as_leader = Actor { role: Role::Leader, ..person(1, Role::Clerk) };
        assert_eq!(
            decide(&draft, CaseAction::Approve, &submitter_as_leader, None, &policy()).map_err(code),
            Err("separation_of_duties")
        );
        assert_eq!(authorize(&draft, CaseAction::Approve, &person(3, Role::Leader), &policy()), Ok(()));
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
        let grant = Case { kind: CaseKind::TownshipGrant, history: &[], ..submitted };
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
