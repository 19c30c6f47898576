//! The duplicate-beneficiary check (`domain::hardship::check_duplicates`) at submission, the
//! approval machine's hooks for applications, and a leader's override of the check.

use uuid::Uuid;

use super::{ApplicationView, status_of, stream, summary, view, view_with_stage};
use crate::db;
use crate::db::Pool;
use crate::db::hardship::ApplicationRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::domain::approval::{CaseAction, CaseKind};
use crate::domain::hardship::{check_duplicates as refuse_duplicates, check_override};
use crate::domain::ids::ApplicationId;
use crate::domain::items::ItemStage;
use crate::error::Error;
use crate::service::cases::{CaseFields, CaseRow};
use crate::service::{check_if_match, etag};

/// Refuses a submission while the same person has other active aid in the year, unless a leader
/// has overridden the check on this application. Serialised per person and year.
fn check_duplicates(tx: &mut Tx<'_>, row: &ApplicationRow) -> Result<(), Error> {
    db::hardship::lock_person(tx, &row.id_number_hash, row.year)?;
    let others = db::hardship::active_for_person(tx.db(), &row.id_number_hash, row.year, row.id)?;
    refuse_duplicates(others.len(), row.year, row.duplicate_override_by.is_some()).map_err(Error::from)
}

impl CaseRow for ApplicationRow {
    const KIND: CaseKind = CaseKind::Hardship;
    const ENTITY: &'static str = "hardship_application";
    type View = ApplicationView;

    fn event_action(action: CaseAction) -> &'static str {
        match action {
            CaseAction::Submit => "hardship_application.submitted",
            CaseAction::Review => "hardship_application.reviewed",
            CaseAction::Approve => "hardship_application.approved",
            CaseAction::Reject => "hardship_application.rejected",
            CaseAction::Return => "hardship_application.returned",
            CaseAction::Withdraw => "hardship_application.withdrawn",
        }
    }
    fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<Self, Error> {
        db::hardship::lock(tx, id)
    }
    fn save(&self, tx: &mut Tx<'_>) -> Result<(), Error> {
        db::hardship::update(tx, self)
    }
    fn fields(&mut self) -> CaseFields<'_> {
        crate::service::cases::case_fields!(self)
    }
    fn view(&self) -> Result<ApplicationView, Error> {
        view(self, self.item_id.map(|_| ItemStage::Approved))
    }
    fn before_submit(&self, tx: &mut Tx<'_>) -> Result<(), Error> {
        check_duplicates(tx, self)
    }
    fn summary(&self) -> serde_json::Value {
        summary(self)
    }
}

/// A leader lets an application through the duplicate check, with a reason (audited). Only
/// before approval: once approved there is nothing left to let through.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn override_duplicate(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: ApplicationId,
    reason: String,
) -> Result<Stored, Error> {
    let id = id.uuid();
    crate::service::write(pool, ctx, idem, move |tx| {
        let mut row = db::hardship::lock(tx, id)?;
        check_if_match(if_match.as_deref(), row.version)?;
        check_override(status_of(&row)?)?;
        let before = summary(&row);
        row.duplicate_override_by = tx.ctx().caller.as_ref().map(|c| c.subject);
        row.duplicate_override_reason = Some(reason.clone());
        row.version += 1;
        row.updated_at = tx.ctx().now;
        db::hardship::update(tx, &row)?;
        let mut after = summary(&row);
        if let serde_json::Value::Object(map) = &mut after {
            map.insert("reason".into(), reason.into());
        }
        tx.record(Event {
            org_id: Some(row.org_id),
            fund_id: Some(row.fund_id),
            before: Some(before),
            after: Some(after),
            ..Event::new(
                stream(row.fund_id),
                "hardship_application.duplicate_overridden",
                "hardship_application",
                row.id,
            )
        });
        Ok(Answer { status: 200, etag: Some(etag(row.version)), body: view_with_stage(tx.db(), &row)? })
    })
    .await
}
