//! Hardship applications (DOMAIN.md, fund 2): filed as drafts, taken through the approval machine
//! (`domain::approval`), checked for duplicate beneficiaries, and — once approved — paid through
//! an item (`service::items`).
//!
//! Personal data never leaves this module whole except through [`reveal`], which writes an audit
//! event first: rows hold it sealed (`pii::PiiKeys`), answers and audit events hold it masked.
//!
//! What an application answers is in `views`; filing one in `filing`; the duplicate check, the
//! approval machine's hooks and the leader's override in `duplicates`. Reading and revealing
//! are here.

mod duplicates;
mod filing;
mod views;

use std::sync::Arc;

use uuid::Uuid;

pub use self::duplicates::override_duplicate;
pub use self::filing::{ApplicationChanges, NewApplication, create, update};
pub use self::views::{ApplicationView, DuplicateOverride, RevealedView, view};
use super::{Listed, Page};
use crate::db::Db;
use crate::db::hardship::ApplicationRow;
use crate::db::write::{Answer, Event, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::approval::CaseStatus;
use crate::domain::audit::Stream;
use crate::domain::ids::ApplicationId;
use crate::domain::ids::OrgId;
use crate::domain::items::ItemStage;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::pii::{PiiKeys, purpose};

fn stream(fund_id: Uuid) -> Stream {
    Stream::Fund(fund_id)
}

fn status_of(row: &ApplicationRow) -> Result<CaseStatus, Error> {
    CaseStatus::parse(&row.status).ok_or_else(|| Error::internal(format!("application {}: bad status", row.id)))
}

/// The item stage of each approved row in `rows`.
fn item_stages(
    conn: &mut Db<'_>,
    rows: &[ApplicationRow],
) -> Result<std::collections::HashMap<Uuid, ItemStage>, Error> {
    super::items::stages_of(conn, &rows.iter().filter_map(|r| r.item_id).collect::<Vec<_>>())
}

fn view_with_stage(conn: &mut Db<'_>, row: &ApplicationRow) -> Result<ApplicationView, Error> {
    let stages = item_stages(conn, std::slice::from_ref(row))?;
    view(row, row.item_id.and_then(|i| stages.get(&i).copied()))
}

/// Reads an application the caller may see (another organisation's is "not found").
fn visible(conn: &mut Db<'_>, scope: Scope, id: Uuid) -> Result<ApplicationRow, Error> {
    let row = db::hardship::find(conn, id)?;
    if scope.sees(row.org_id) { Ok(row) } else { Err(Error::NotFound) }
}

/// What an audit event may say of an application: never a whole ID number, phone or account.
fn summary(row: &ApplicationRow) -> serde_json::Value {
    serde_json::json!({
        "status": row.status,
        "version": row.version,
        "worker_name": row.worker_name,
        "id_number": row.id_number_masked,
        "requested_amount": row.requested_amount,
        "approved_amount": row.approved_amount,
        "item_id": row.item_id,
    })
}

/// One application (masked).
pub async fn get(pool: &Pool, scope: Scope, id: ApplicationId) -> Result<ApplicationView, Error> {
    let id = id.uuid();
    super::read(pool, move |conn| {
        let row = visible(conn, scope, id)?;
        view_with_stage(conn, &row)
    })
    .await
}

/// A page of applications (a clerk: its own organisation's).
pub async fn list(
    pool: &Pool,
    scope: Scope,
    org_id: Option<OrgId>,
    status: Option<CaseStatus>,
    page: Page,
) -> Result<Listed<ApplicationView>, Error> {
    let org_id = org_id.map(OrgId::uuid);
    let after = page.uuid_cursor()?;
    let Some(org) = scope.list_filter(org_id) else { return Ok(Listed { items: Vec::new(), next_cursor: None }) };
    super::read(pool, move |conn| {
        let rows = db::hardship::list(conn, org, status.map(CaseStatus::as_str), after, page.fetch())?;
        let stages = item_stages(conn, &rows)?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed
            .items
            .iter()
            .map(|r| view(r, r.item_id.and_then(|i| stages.get(&i).copied())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// Opens an application's personal data for one caller, writing the audit event
/// `hardship_application.pii_revealed` (who, when, why) in the same transaction: no event, no
/// data. Never idempotent-cached, so that the whole values are stored nowhere.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn reveal(
    pool: &Pool,
    pii: Arc<PiiKeys>,
    ctx: WriteCtx,
    scope: Scope,
    id: ApplicationId,
    reason: String,
) -> Result<Stored, Error> {
    let id = id.uuid();
    super::write(pool, ctx, None, move |tx| {
        let row = visible(tx.db(), scope, id)?;
        let open = |purpose: &str, sealed: &str| pii.open(purpose, sealed);
        let revealed = RevealedView {
            id: row.id,
            id_number: open(purpose::ID_NUMBER, &row.id_number_sealed)?,
            phone: row.phone_sealed.as_deref().map(|s| open(purpose::PHONE, s)).transpose()?,
            bank_account: row.bank_account_sealed.as_deref().map(|s| open(purpose::BANK_ACCOUNT, s)).transpose()?,
        };
        tx.record(Event {
            org_id: Some(row.org_id),
            fund_id: Some(row.fund_id),
            after: Some(serde_json::json!({
                "reason": reason,
                "fields": ["id_number", "phone", "bank_account"],
                "id_number": row.id_number_masked,
            })),
            ..Event::new(stream(row.fund_id), "hardship_application.pii_revealed", "hardship_application", row.id)
        });
        Ok(Answer { status: 200, etag: None, body: revealed })
    })
    .await
}
