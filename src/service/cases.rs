//! One transition of the approval machine for any kind of case — a hardship application, a
//! township grant. The rules are `domain::approval::decide`; this is the one place that applies
//! its answer: the approved amount, who submitted, reviewed and approved, the item an approval
//! creates, and the audit events. Each kind of case only says how its row is read and written.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::db;
use crate::db::items::ItemRow;
use crate::db::write::{Event, Tx};
use crate::domain::approval::{self, Actor, ApprovalPolicy, Case, CaseAction, CaseKind, CaseStatus};
use crate::domain::money::Money;
use crate::domain::policy::Caller;
use crate::error::Error;

/// A transition asked for.
#[derive(Debug)]
pub struct Act {
    /// Which.
    pub action: CaseAction,
    /// Why (required to reject, return or withdraw).
    pub reason: Option<String>,
    /// When approving: less than requested, if so decided.
    pub approved_amount: Option<Money>,
}

/// What the machine reads and writes of a case's row.
pub trait CaseRow {
    /// Which machine rules apply (who reviews).
    const KIND: CaseKind;
    /// The entity type in the audit trail, and the item's `origin_type`.
    const ENTITY: &'static str;
    /// The audit action of a transition, `<entity>.<past tense>`.
    fn event_action(action: CaseAction) -> &'static str;
    /// Id, fund and organisation.
    fn ids(&self) -> (Uuid, Uuid, Uuid);
    /// The state as stored.
    fn status(&self) -> &str;
    /// The amount asked for.
    fn requested(&self) -> Decimal;
    /// Who submitted and who reviewed it last.
    fn people(&self) -> (Option<Uuid>, Option<Uuid>);
    /// Applies a transition's outcome to the row (and bumps its version).
    fn apply(&mut self, outcome: &Outcome);
    /// What an audit event may say of the case (nothing secret).
    fn summary(&self) -> serde_json::Value;
}

/// What a transition changes on the row.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The new state.
    pub status: CaseStatus,
    /// The new submitter, reviewer (`Some(None)` clears it) and approver.
    pub submitted_by: Option<Uuid>,
    /// The reviewer after the transition.
    pub reviewed_by: Option<Option<Uuid>>,
    /// The approver.
    pub approved_by: Option<Uuid>,
    /// The amount approved.
    pub approved_amount: Option<Decimal>,
    /// The item created by approval.
    pub item_id: Option<Uuid>,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Checks and applies one transition to a locked row whose `If-Match` has been checked.
/// `on_submit` runs the kind's own checks before a submission (the duplicate check of hardship).
pub fn transition<R: CaseRow>(
    tx: &mut Tx<'_>,
    row: &mut R,
    caller: &Caller,
    policy: &ApprovalPolicy,
    act: &Act,
    on_submit: impl FnOnce(&mut Tx<'_>, &R) -> Result<(), Error>,
) -> Result<(), Error> {
    let (id, fund_id, org_id) = row.ids();
    let before = row.summary();
    let from = CaseStatus::parse(row.status()).ok_or_else(|| Error::internal(format!("case {id}: bad status")))?;
    if act.approved_amount.is_some() && act.action != CaseAction::Approve {
        return Err(Error::invalid("approved_amount", "is only given when approving"));
    }
    let amount = act.approved_amount.map_or(row.requested(), |m| m.as_decimal());
    if amount > row.requested() {
        return Err(Error::invalid("approved_amount", "may not exceed the requested amount"));
    }
    let (submitted_by, reviewed_by) = row.people();
    let case = Case { kind: R::KIND, status: from, org_id, submitted_by, reviewed_by, amount };
    let actor = Actor { id: caller.subject, role: caller.role, org_id: caller.org_id };
    let reason = act.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let t = approval::decide(&case, act.action, &actor, reason, policy)?;
    let now = tx.ctx().now;
    let mut outcome = Outcome {
        status: t.to,
        submitted_by: None,
        reviewed_by: None,
        approved_by: None,
        approved_amount: None,
        item_id: None,
        at: now,
    };
    let stream = format!("fund:{fund_id}");
    match act.action {
        CaseAction::Submit => {
            on_submit(tx, row)?;
            outcome.submitted_by = Some(caller.subject);
        }
        CaseAction::Review => outcome.reviewed_by = Some(Some(caller.subject)),
        CaseAction::Return => outcome.reviewed_by = Some(None),
        CaseAction::Approve => {
            let item = ItemRow {
                id: Uuid::now_v7(),
                fund_id,
                org_id,
                origin_type: R::ENTITY.into(),
                origin_id: id,
                approved_amount: amount,
                settled_at: None,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            db::items::insert(tx.conn(), std::slice::from_ref(&item))?;
            tx.record(Event {
                org_id: Some(org_id),
                fund_id: Some(fund_id),
                amount: Some(amount),
                after: Some(serde_json::json!({
                    "origin_type": item.origin_type, "origin_id": id, "approved_amount": amount,
                })),
                ..Event::new(stream.clone(), "item.created", "item", item.id)
            });
            outcome.item_id = Some(item.id);
            outcome.approved_by = Some(caller.subject);
            outcome.approved_amount = Some(amount);
        }
        CaseAction::Reject | CaseAction::Withdraw => {}
    }
    row.apply(&outcome);
    let mut after = row.summary();
    if let (Some(r), serde_json::Value::Object(map)) = (reason, &mut after) {
        map.insert("reason".into(), r.into());
    }
    tx.record(Event {
        org_id: Some(org_id),
        fund_id: Some(fund_id),
        amount: (act.action == CaseAction::Approve).then_some(amount),
        before: Some(before),
        after: Some(after),
        ..Event::new(stream, R::event_action(act.action), R::ENTITY, id)
    });
    Ok(())
}
