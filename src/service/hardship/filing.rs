//! Filing a draft application: its fund, campaign and organisation checked, its personal data
//! sealed, hashed for the duplicate check and masked.

use std::sync::Arc;

use uuid::Uuid;

use super::{stream, summary, view};
use crate::db::hardship::ApplicationRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::approval::CaseStatus;
use crate::domain::hardship::{Category, Level};
use crate::domain::ids::ResidentId;
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::pii::{PiiKeys, mask, purpose};
use crate::service::etag;

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
    crate::service::write(pool, ctx, idem, move |tx| {
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
        crate::service::personal_data::move_hashes(tx, &pii, [id_number])?;
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

/// Changes to a draft application, validated; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct ApplicationChanges {
    /// The worker's name.
    pub worker_name: Option<String>,
    /// Resident ID number.
    pub id_number: Option<ResidentId>,
    /// Phone, normalised.
    pub phone: Option<String>,
    /// Bank account, normalised.
    pub bank_account: Option<String>,
    /// Category.
    pub category: Option<Category>,
    /// Level.
    pub level: Option<Level>,
    /// People in the household.
    pub household_members: Option<i32>,
    /// Monthly household income.
    pub household_monthly_income: Option<Money>,
    /// Other household facts.
    pub household_notes: Option<String>,
    /// Amount asked for.
    pub requested_amount: Option<Money>,
    /// Why.
    pub reason: Option<String>,
}

/// Edits a draft application (`If-Match` required) — one being written, or returned for
/// revision, which is edited rather than filed again. Once submitted it is the reviewers' and
/// may not change (409 `not_a_draft`): what was reviewed and approved is what was asked.
#[tracing::instrument(skip_all, fields(application.id = %id))]
#[allow(clippy::too_many_arguments)]
pub async fn update(
    pool: &Pool,
    pii: Arc<PiiKeys>,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    scope: Scope,
    if_match: Option<String>,
    id: Uuid,
    changes: ApplicationChanges,
) -> Result<Stored, Error> {
    crate::service::write(pool, ctx, idem, move |tx| {
        let before = db::hardship::lock(tx, id)?;
        if !scope.sees(before.org_id) {
            return Err(Error::NotFound);
        }
        crate::service::check_if_match(if_match.as_deref(), before.version)?;
        if super::status_of(&before)? != CaseStatus::Draft {
            return Err(crate::domain::DomainError::conflict(
                "not_a_draft",
                format!("the application is {}: only a draft (or one returned for revision) is edited", before.status),
            )
            .into());
        }
        let mut row = before.clone();
        let c = changes;
        if let Some(v) = c.worker_name {
            row.worker_name = v;
        }
        if let Some(number) = &c.id_number {
            let exposed = number.expose();
            crate::service::personal_data::move_hashes(tx, &pii, [exposed])?;
            row.id_number_sealed = pii.seal(purpose::ID_NUMBER, exposed)?;
            row.id_number_hash = pii.lookup_hash(purpose::ID_NUMBER, exposed);
            row.id_number_masked = number.masked();
        }
        if let Some(p) = c.phone.as_deref() {
            row.phone_sealed = Some(pii.seal(purpose::PHONE, p)?);
            row.phone_masked = Some(mask(p, 3, 4));
        }
        if let Some(b) = c.bank_account.as_deref() {
            row.bank_account_sealed = Some(pii.seal(purpose::BANK_ACCOUNT, b)?);
            row.bank_account_masked = Some(mask(b, 0, 4));
        }
        if let Some(v) = c.category {
            row.category = v.as_str().into();
        }
        if let Some(v) = c.level {
            row.level = v.as_str().into();
        }
        if let Some(v) = c.household_members {
            row.household_members = Some(v);
        }
        if let Some(v) = c.household_monthly_income {
            row.household_monthly_income = Some(v.as_decimal());
        }
        if let Some(v) = c.household_notes {
            row.household_notes = Some(v);
        }
        if let Some(v) = c.requested_amount {
            row.requested_amount = v.as_decimal();
        }
        if let Some(v) = c.reason {
            row.reason = v;
        }
        row.version += 1;
        row.updated_at = tx.ctx().now;
        db::hardship::update(tx, &row)?;
        tx.record(Event {
            org_id: Some(row.org_id),
            fund_id: Some(row.fund_id),
            before: Some(summary(&before)),
            after: Some(summary(&row)),
            ..Event::new(stream(row.fund_id), "hardship_application.updated", "hardship_application", row.id)
        });
        Ok(Answer { status: 200, etag: Some(etag(row.version)), body: view(&row, None)? })
    })
    .await
}
