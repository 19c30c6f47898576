//! One action of the approval machine for any kind of case — a hardship application, a township
//! grant. The rules are `domain::approval::decide`; this is the one place that applies its
//! answer: the lock and `If-Match`, the approved amount, who submitted, reviewed and approved
//! (the last ones on the case's row, every one of them in `case_actors`), the item an approval
//! creates, and the audit events. Each kind of case only says how its row is read, written and
//! answered (`CaseRow`).
//!
//! The order of the checks is part of the contract: scope (another organisation's case is 404),
//! then authorisation (403: role, leader threshold, separation of duties), then `If-Match`
//! (428/412), then the body (422) and the state (409) — so a caller who may not act learns
//! neither the case's version nor its state.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::{check_if_match, etag};
use crate::db::case_actors::CaseActorRow;
use crate::db::items::ItemRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::approval::{self, Actor, ApprovalPolicy, Case, CaseAction, CaseActor, CaseKind, CaseStatus, Duty};
use crate::domain::audit::Stream;
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

/// The columns every case has, borrowed from its row: read by the machine, written by it.
pub struct CaseFields<'a> {
    /// Id.
    pub id: Uuid,
    /// The fund it asks money of.
    pub fund_id: Uuid,
    /// The organisation it belongs to.
    pub org_id: Uuid,
    /// The amount asked for.
    pub requested_amount: Decimal,
    /// The state, as stored.
    pub status: &'a mut String,
    /// Who submitted it last.
    pub submitted_by: &'a mut Option<Uuid>,
    /// Who reviewed it last.
    pub reviewed_by: &'a mut Option<Uuid>,
    /// Who approved it.
    pub approved_by: &'a mut Option<Uuid>,
    /// The amount approved.
    pub approved_amount: &'a mut Option<Decimal>,
    /// The item approval created.
    pub item_id: &'a mut Option<Uuid>,
    /// The version (`ETag`).
    pub version: &'a mut i32,
    /// Last changed.
    pub updated_at: &'a mut DateTime<Utc>,
}

/// The `CaseFields` of a row whose columns carry the shared names (every case table does).
macro_rules! case_fields {
    ($row:expr) => {
        $crate::service::cases::CaseFields {
            id: $row.id,
            fund_id: $row.fund_id,
            org_id: $row.org_id,
            requested_amount: $row.requested_amount,
            status: &mut $row.status,
            submitted_by: &mut $row.submitted_by,
            reviewed_by: &mut $row.reviewed_by,
            approved_by: &mut $row.approved_by,
            approved_amount: &mut $row.approved_amount,
            item_id: &mut $row.item_id,
            version: &mut $row.version,
            updated_at: &mut $row.updated_at,
        }
    };
}
pub(crate) use case_fields;

/// How one kind of case is stored and answered.
pub trait CaseRow: Sized + Send + 'static {
    /// Which machine rules apply (who reviews).
    const KIND: CaseKind;
    /// The entity type in the audit trail, and the item's `origin_type`.
    const ENTITY: &'static str;
    /// The answer to an action.
    type View: serde::Serialize;
    /// The audit action of a transition, `<entity>.<past tense>`.
    fn event_action(action: CaseAction) -> &'static str;
    /// The row, locked.
    fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<Self, Error>;
    /// Writes the row back.
    fn save(&self, tx: &mut Tx<'_>) -> Result<(), Error>;
    /// The shared columns.
    fn fields(&mut self) -> CaseFields<'_>;
    /// What an audit event may say of the case (nothing secret).
    fn summary(&self) -> serde_json::Value;
    /// The answer after an action.
    fn view(&self) -> Result<Self::View, Error>;
    /// The kind's own checks before a submission (hardship: the duplicate check).
    fn before_submit(&self, _tx: &mut Tx<'_>) -> Result<(), Error> {
        Ok(())
    }
}

/// Takes a case through one transition: lock, scope (another organisation's is "not found"),
/// authorisation, `If-Match`, the machine's decision, the row, the item on approval, the duty
/// taken, and the audit events.
#[allow(clippy::too_many_arguments)]
#[tracing::instrument(skip_all, fields(case.kind = R::ENTITY, case.id = %id, action = %act.action))]
pub async fn act<R: CaseRow>(
    pool: &Pool,
    policy: ApprovalPolicy,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    caller: Caller,
    if_match: Option<String>,
    id: Uuid,
    act: Act,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        let mut row = R::lock(tx, id)?;
        if !caller.scope().sees(row.fields().org_id) {
            return Err(Error::NotFound);
        }
        transition(tx, &mut row, &caller, &policy, if_match.as_deref(), &act)?;
        row.save(tx)?;
        let version = *row.fields().version;
        Ok(Answer { status: 200, etag: Some(etag(version)), body: row.view()? })
    })
    .await
}

/// Checks and applies one transition to a locked row, in the order of the module's docs.
fn transition<R: CaseRow>(
    tx: &mut Tx<'_>,
    row: &mut R,
    caller: &Caller,
    policy: &ApprovalPolicy,
    if_match: Option<&str>,
    act: &Act,
) -> Result<(), Error> {
    let before = row.summary();
    let f = row.fields();
    let (id, fund_id, org_id, requested, version) = (f.id, f.fund_id, f.org_id, f.requested_amount, *f.version);
    let from = CaseStatus::parse(f.status).ok_or_else(|| Error::internal(format!("case {id}: bad status")))?;
    let history = db::case_actors::of_case(tx.db(), id)?
        .into_iter()
        .map(|r| {
            let duty = Duty::parse(&r.duty).ok_or_else(|| Error::internal(format!("case {id}: bad duty")))?;
            Ok(CaseActor { duty, actor: r.actor_id })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    // What would be granted: the threshold weighs it with what was asked, even before the body's
    // amount is checked against the request below.
    let amount = act.approved_amount.map_or(requested, |m| m.as_decimal());
    let case = Case { kind: R::KIND, status: from, org_id, requested, granted: amount, history: &history };
    let actor = Actor { id: caller.subject, role: caller.role, org_id: caller.org_id };
    approval::authorize(&case, act.action, &actor, policy)?;
    check_if_match(if_match, version)?;
    if act.approved_amount.is_some() && act.action != CaseAction::Approve {
        return Err(Error::invalid("approved_amount", "is only given when approving"));
    }
    if amount > requested {
        return Err(Error::invalid("approved_amount", "may not exceed the requested amount"));
    }
    let reason = act.reason.as_deref().map(str::trim).filter(|r| !r.is_empty());
    let t = approval::decide(&case, act.action, &actor, reason, policy)?;
    if let Some(duty) = act.action.duty() {
        let now = tx.ctx().now;
        let taken = CaseActorRow {
            case_id: id,
            case_type: R::ENTITY.into(),
            actor_id: caller.subject,
            duty: duty.as_str().into(),
            first_at: now,
        };
        db::case_actors::record(tx, &taken)?;
    }
    let now = tx.ctx().now;
    let stream = Stream::Fund(fund_id);
    let mut item_id = None;
    match act.action {
        CaseAction::Submit => row.before_submit(tx)?,
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
            db::items::insert(tx, std::slice::from_ref(&item))?;
            tx.record(Event {
                org_id: Some(org_id),
                fund_id: Some(fund_id),
                amount: Some(amount),
                after: Some(serde_json::json!({"origin_type": R::ENTITY, "origin_id": id, "approved_amount": amount})),
                ..Event::new(stream, "item.created", "item", item.id)
            });
            item_id = Some(item.id);
        }
        CaseAction::Review | CaseAction::Return | CaseAction::Reject | CaseAction::Withdraw => {}
    }
    let f = row.fields();
    match act.action {
        CaseAction::Submit => *f.submitted_by = Some(caller.subject),
        CaseAction::Review => *f.reviewed_by = Some(caller.subject),
        CaseAction::Return => *f.reviewed_by = None,
        CaseAction::Approve => {
            *f.item_id = item_id;
            *f.approved_by = Some(caller.subject);
            *f.approved_amount = Some(amount);
        }
        CaseAction::Reject | CaseAction::Withdraw => {}
    }
    *f.status = t.to.as_str().into();
    *f.version += 1;
    *f.updated_at = now;
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
