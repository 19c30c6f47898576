//! What an application answers: its fields with personal data masked, and a reveal's whole
//! values.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::status_of;
use crate::db::hardship::ApplicationRow;
use crate::domain::approval::CaseStatus;
use crate::domain::hardship::{Category, Level};
use crate::domain::items::ItemStage;
use crate::domain::money::Money;
use crate::error::Error;
use crate::service::stored_money as money;

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
