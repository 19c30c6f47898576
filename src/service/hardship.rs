//! Hardship applications (DOMAIN.md, fund 2): filed as drafts, taken through the approval machine
//! (`domain::approval`), checked for duplicate beneficiaries, and — once approved — paid through
//! an item (`service::items`).
//!
//! Personal data never leaves this module whole except through [`reveal`], which writes an audit
//! event first: rows hold it sealed (`pii::PiiKeys`), answers and audit events hold it masked.

use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::cases::{CaseFields, CaseRow};
use super::{Listed, Page, check_if_match, etag, stored_money as money};
use crate::db::Db;
use crate::db::hardship::ApplicationRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::approval::{CaseAction, CaseKind, CaseStatus};
use crate::domain::audit::Stream;
use crate::domain::hardship::{Category, Level};
use crate::domain::ids::ResidentId;
use crate::domain::items::ItemStage;
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::pii::{PiiKeys, mask, purpose};

/// An application as answered: personal data masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplicationView {
    /// Id.
    pub id: Uuid,
    /// The hardship fund it asks money of.
    pub fund_id: Uuid,
    /// The worker's organisation (grassroots union).
    pub org_id: Uuid,
    /// The fund's year (duplicates are looked for within it).
    pub year: i32,
    /// The campaign it is part of, if any.
    pub campaign_id: Option<Uuid>,
    /// The worker's name.
    pub worker_name: String,
    /// Resident ID number, masked: `4309**********1234`.
    #[schema(example = "4309**********1234")]
    pub id_number: String,
    /// Phone, masked: `138****8000`.
    pub phone: Option<String>,
    /// Bank account, masked: `************5678`.
    pub bank_account: Option<String>,
    /// Why the worker is in difficulty.
    pub category: Category,
    /// How deep the difficulty is.
    pub level: Level,
    /// People in the household.
    pub household_members: Option<i32>,
    /// The household's monthly income.
    pub household_monthly_income: Option<Money>,
    /// Other facts about the household.
    pub household_notes: Option<String>,
    /// How much is asked for.
    pub requested_amount: Money,
    /// How much was approved (at most the requested amount).
    pub approved_amount: Option<Money>,
    /// Why aid is asked for.
    pub reason: String,
    /// Where the case is in the approval machine.
    pub status: CaseStatus,
    /// Once approved: the item through which the money is paid.
    pub item_id: Option<Uuid>,
    /// Once approved: the item's stage (`approved`, `allocated`, `disbursed`, `used`, `settled`).
    pub item_stage: Option<ItemStage>,
    /// Who filed it.
    pub created_by: Uuid,
    /// Who submitted it last.
    pub submitted_by: Option<Uuid>,
    /// Who reviewed it last.
    pub reviewed_by: Option<Uuid>,
    /// Who approved it.
    pub approved_by: Option<Uuid>,
    /// Set when a leader let it through despite the same person's active aid that year.
    pub duplicate_override: Option<DuplicateOverride>,
    /// Version (also the `ETag`).
    pub version: i32,
    /// Filed.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A leader's override of the duplicate check.
#[derive(Debug, Serialize, ToSchema)]
pub struct DuplicateOverride {
    /// The leader.
    pub by: Uuid,
    /// Why.
    pub reason: String,
}

/// The personal data of an application, whole (answer of a reveal).
#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedView {
    /// The application.
    pub id: Uuid,
    /// Resident ID number, whole.
    pub id_number: String,
    /// Phone, whole.
    pub phone: Option<String>,
    /// Bank account, whole.
    pub bank_account: Option<String>,
}

/// A new application, validated.
#[derive(Debug)]
pub struct NewApplication {
    /// The hardship fund.
    pub fund_id: Uuid,
    /// The worker's organisation.
    pub org_id: Uuid,
    /// The worker's name.
    pub worker_name: String,
    /// Resident ID number (check character verified).
    pub id_number: ResidentId,
    /// Phone, normalised.
    pub phone: Option<String>,
    /// Bank account, normalised.
    pub bank_account: Option<String>,
    /// Category.
    pub category: Category,
    /// Level.
    pub level: Level,
    /// People in the household.
    pub household_members: Option<i32>,
    /// Monthly household income.
    pub household_monthly_income: Option<Money>,
    /// Other household facts.
    pub household_notes: Option<String>,
    /// Amount asked for.
    pub requested_amount: Money,
    /// Why.
    pub reason: String,
    /// The campaign it is part of, if any (of the same fund).
    pub campaign_id: Option<Uuid>,
}

fn stream(fund_id: Uuid) -> Stream {
    Stream::Fund(fund_id)
}

fn status_of(row: &ApplicationRow) -> Result<CaseStatus, Error> {
    CaseStatus::parse(&row.status).ok_or_else(|| Error::internal(format!("application {}: bad status", row.id)))
}

/// An application's view; `item_stage` when its item has been read.
pub fn view(row: &ApplicationRow, item_stage: Option<ItemStage>) -> Result<ApplicationView, Error> {
    let bad = |what: &str| Error::internal(format!("application {}: bad {what}", row.id));
    Ok(ApplicationView {
        id: row.id,
        fund_id: row.fund_id,
        org_id: row.org_id,
        year: row.year,
        campaign_id: row.campaign_id,
        worker_name: row.worker_name.clone(),
        id_number: row.id_number_masked.clone(),
        phone: row.phone_masked.clone(),
        bank_account: row.bank_account_masked.clone(),
        category: Category::parse(&row.category).ok_or_else(|| bad("category"))?,
        level: Level::parse(&row.level).ok_or_else(|| bad("level"))?,
        household_members: row.household_members,
        household_monthly_income: row.household_monthly_income.map(money).transpose()?,
        household_notes: row.household_notes.clone(),
        requested_amount: money(row.requested_amount)?,
        approved_amount: row.approved_amount.map(money).transpose()?,
        reason: row.reason.clone(),
        status: status_of(row)?,
        item_id: row.item_id,
        item_stage,
        created_by: row.created_by,
        submitted_by: row.submitted_by,
        reviewed_by: row.reviewed_by,
        approved_by: row.approved_by,
        duplicate_override: match (row.duplicate_override_by, &row.duplicate_override_reason) {
            (Some(by), Some(reason)) => Some(DuplicateOverride { by, reason: reason.clone() }),
            _ => None,
        },
        version: row.version,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
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

/// Files a draft application.
#[tracing::instrument(skip_all, fields(fund.id = %cmd.fund_id, org.id = %cmd.org_id))]
pub async fn create(
    pool: &Pool,
    pii: Arc<PiiKeys>,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    scope: Scope,
    cmd: NewApplication,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        if !scope.sees(cmd.org_id) {
            return Err(Error::NotFound);
        }
        let fund = match db::funds::find(tx.db(), cmd.fund_id) {
            Err(Error::NotFound) => return Err(Error::invalid("fund_id", "no such fund")),
            other => other?,
        };
        if fund.kind != "hardship" {
            return Err(Error::invalid("fund_id", "is not a hardship fund"));
        }
        if let Some(campaign) = cmd.campaign_id {
            match db::campaigns::find(tx.db(), campaign) {
                Ok(c) if c.fund_id == fund.id => {}
                Ok(_) => return Err(Error::invalid("campaign_id", "belongs to another fund")),
                Err(Error::NotFound) => return Err(Error::invalid("campaign_id", "no such campaign")),
                Err(e) => return Err(e),
            }
        }
        match db::orgs::find(tx.db(), Scope::All, cmd.org_id) {
            Err(Error::NotFound) => return Err(Error::invalid("org_id", "no such organisation")),
            other => other?,
        };
        let id_number = cmd.id_number.expose();
        // While hash keys change, this person's older applications move to the current key, so
        // that the duplicate check at submission finds them.
        super::personal_data::move_hashes(tx, &pii, [id_number])?;
        let now = tx.ctx().now;
        let row = ApplicationRow {
            id: Uuid::now_v7(),
            fund_id: fund.id,
            org_id: cmd.org_id,
            year: fund.year,
            worker_name: cmd.worker_name,
            id_number_sealed: pii.seal(purpose::ID_NUMBER, id_number)?,
            id_number_hash: pii.lookup_hash(purpose::ID_NUMBER, id_number),
            id_number_masked: cmd.id_number.masked(),
            phone_sealed: cmd.phone.as_deref().map(|p| pii.seal(purpose::PHONE, p)).transpose()?,
            phone_masked: cmd.phone.as_deref().map(|p| mask(p, 3, 4)),
            bank_account_sealed: cmd.bank_account.as_deref().map(|b| pii.seal(purpose::BANK_ACCOUNT, b)).transpose()?,
            bank_account_masked: cmd.bank_account.as_deref().map(|b| mask(b, 0, 4)),
            category: cmd.category.as_str().into(),
            level: cmd.level.as_str().into(),
            household_members: cmd.household_members,
            household_monthly_income: cmd.household_monthly_income.map(|m| m.as_decimal()),
            household_notes: cmd.household_notes,
            requested_amount: cmd.requested_amount.as_decimal(),
            approved_amount: None,
            reason: cmd.reason,
            status: CaseStatus::Draft.as_str().into(),
            created_by: tx.ctx().subject(),
            submitted_by: None,
            reviewed_by: None,
            approved_by: None,
            duplicate_override_by: None,
            duplicate_override_reason: None,
            item_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
            campaign_id: cmd.campaign_id,
        };
        db::hardship::insert(tx, &row)?;
        tx.record(Event {
            org_id: Some(row.org_id),
            fund_id: Some(row.fund_id),
            after: Some(summary(&row)),
            ..Event::new(stream(row.fund_id), "hardship_application.created", "hardship_application", row.id)
        });
        Ok(Answer { status: 201, etag: Some(etag(row.version)), body: view(&row, None)? })
    })
    .await
}

/// One application (masked).
pub async fn get(pool: &Pool, scope: Scope, id: Uuid) -> Result<ApplicationView, Error> {
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
    org_id: Option<Uuid>,
    status: Option<CaseStatus>,
    page: Page,
) -> Result<Listed<ApplicationView>, Error> {
    let after = page.uuid_cursor()?;
    let org = match (scope, org_id) {
        (Scope::Org(own), Some(asked)) if own != asked => return Ok(Listed { items: Vec::new(), next_cursor: None }),
        (Scope::Org(own), _) => Some(own),
        (Scope::All, asked) => asked,
    };
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

/// Refuses a submission while the same person has other active aid in the year, unless a leader
/// has overridden the check on this application. Serialised per person and year.
fn check_duplicates(tx: &mut Tx<'_>, row: &ApplicationRow) -> Result<(), Error> {
    db::hardship::lock_person(tx, &row.id_number_hash, row.year)?;
    let others = db::hardship::active_for_person(tx.db(), &row.id_number_hash, row.year, row.id)?;
    if !others.is_empty() && row.duplicate_override_by.is_none() {
        // No ids in the answer: the other application may belong to an organisation the caller
        // may not see.
        return Err(DomainError::conflict(
            "duplicate_beneficiary",
            format!(
                "this worker already has {} active hardship application(s) in {}; a leader may override with a reason",
                others.len(),
                row.year
            ),
        )
        .into());
    }
    Ok(())
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
        super::cases::case_fields!(self)
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
    id: Uuid,
    reason: String,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        let mut row = db::hardship::lock(tx, id)?;
        check_if_match(if_match.as_deref(), row.version)?;
        if !matches!(status_of(&row)?, CaseStatus::Draft | CaseStatus::Submitted | CaseStatus::Reviewed) {
            return Err(DomainError::conflict(
                "invalid_transition",
                format!("an application that is {} needs no duplicate override", row.status),
            )
            .into());
        }
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

/// Opens an application's personal data for one caller, writing the audit event
/// `hardship_application.pii_revealed` (who, when, why) in the same transaction: no event, no
/// data. Never idempotent-cached, so that the whole values are stored nowhere.
#[tracing::instrument(skip_all, fields(application.id = %id))]
pub async fn reveal(
    pool: &Pool,
    pii: Arc<PiiKeys>,
    ctx: WriteCtx,
    scope: Scope,
    id: Uuid,
    reason: String,
) -> Result<Stored, Error> {
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
