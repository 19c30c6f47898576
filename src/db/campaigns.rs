//! Hardship campaigns and their beneficiaries as stored (personal data sealed, as for
//! applications). Batches are written set-based: COPY or one multi-row statement, never a row at
//! a time.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Nullable, Text};
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Db;
use super::schema::{campaign_beneficiaries as cb, hardship_campaigns as hc};
use super::write::Tx;
use crate::error::Error;

/// A campaign as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = hc, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct CampaignRow {
    pub id: Uuid,
    pub fund_id: Uuid,
    pub name: String,
    pub kind: String,
    pub budget: Decimal,
    pub status: String,
    pub created_by: Uuid,
    pub approved_by: Option<Uuid>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A beneficiary as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cb, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct BeneficiaryRow {
    pub id: Uuid,
    pub campaign_id: Uuid,
    pub row_no: i32,
    pub org_id: Uuid,
    pub worker_name: String,
    pub id_number_sealed: String,
    pub id_number_hash: String,
    pub id_number_masked: String,
    pub bank_account_sealed: String,
    pub bank_account_masked: String,
    pub amount: Decimal,
    pub item_id: Option<Uuid>,
    pub payment_status: Option<String>,
    pub bank_reference: Option<String>,
    pub bank_message: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Inserts a campaign.
pub fn insert(tx: &mut Tx<'_>, row: &CampaignRow) -> Result<(), Error> {
    diesel::insert_into(hc::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// One campaign.
pub fn find(conn: &mut Db<'_>, id: Uuid) -> Result<CampaignRow, Error> {
    Ok(hc::table.select(CampaignRow::as_select()).filter(hc::id.eq(id)).first(conn.pg())?)
}

/// One campaign, locked (after its fund).
pub fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<CampaignRow, Error> {
    Ok(hc::table.select(CampaignRow::as_select()).filter(hc::id.eq(id)).for_update().first(tx.pg())?)
}

/// Writes a campaign's status, approver and version.
pub fn update(tx: &mut Tx<'_>, row: &CampaignRow) -> Result<(), Error> {
    diesel::update(hc::table.filter(hc::id.eq(row.id)))
        .set((
            hc::status.eq(&row.status),
            hc::approved_by.eq(row.approved_by),
            hc::version.eq(row.version),
            hc::updated_at.eq(row.updated_at),
        ))
        .execute(tx.pg())?;
    Ok(())
}

/// A page of campaigns in creation order.
pub fn list(conn: &mut Db<'_>, fund: Option<Uuid>, after: Option<Uuid>, limit: i64) -> Result<Vec<CampaignRow>, Error> {
    let mut q = hc::table.select(CampaignRow::as_select()).into_boxed();
    if let Some(fund) = fund {
        q = q.filter(hc::fund_id.eq(fund));
    }
    if let Some(after) = after {
        q = q.filter(hc::id.gt(after));
    }
    Ok(q.order(hc::id.asc()).limit(limit).load(conn.pg())?)
}

/// How many beneficiaries a campaign has, what they are granted in all, and the last row number.
pub fn totals(conn: &mut Db<'_>, campaign: Uuid) -> Result<(i64, Decimal, i32), Error> {
    let (n, sum, last): (i64, Option<Decimal>, Option<i32>) = cb::table
        .filter(cb::campaign_id.eq(campaign))
        .select((diesel::dsl::count_star(), diesel::dsl::sum(cb::amount), diesel::dsl::max(cb::row_no)))
        .first(conn.pg())?;
    Ok((n, sum.unwrap_or_default(), last.unwrap_or(0)))
}

/// Counts of beneficiaries by payment status (`None`: not yet in a bank batch).
pub fn payment_counts(conn: &mut Db<'_>, campaign: Uuid) -> Result<Vec<(Option<String>, i64)>, Error> {
    Ok(cb::table
        .filter(cb::campaign_id.eq(campaign))
        .group_by(cb::payment_status)
        .select((cb::payment_status, diesel::dsl::count_star()))
        .load(conn.pg())?)
}

/// Which of these keyed hashes are already beneficiaries of the campaign.
pub fn existing_hashes(conn: &mut Db<'_>, campaign: Uuid, hashes: &[String]) -> Result<Vec<String>, Error> {
    Ok(cb::table
        .filter(cb::campaign_id.eq(campaign))
        .filter(cb::id_number_hash.eq_any(hashes))
        .select(cb::id_number_hash)
        .load(conn.pg())?)
}

/// Inserts beneficiaries: COPY for a batch, one multi-row INSERT for a few.
pub fn insert_beneficiaries(tx: &mut Tx<'_>, rows: &[BeneficiaryRow]) -> Result<(), Error> {
    super::write::insert_rows!(tx, cb::table, rows)
}

/// Every beneficiary of a campaign, in row order.
pub fn beneficiaries(conn: &mut Db<'_>, campaign: Uuid) -> Result<Vec<BeneficiaryRow>, Error> {
    Ok(cb::table
        .select(BeneficiaryRow::as_select())
        .filter(cb::campaign_id.eq(campaign))
        .order(cb::row_no.asc())
        .load(conn.pg())?)
}

/// A page of a campaign's beneficiaries in row order (a clerk: its own organisation's).
pub fn beneficiary_page(
    conn: &mut Db<'_>,
    campaign: Uuid,
    org: Option<Uuid>,
    after_row: Option<i32>,
    limit: i64,
) -> Result<Vec<BeneficiaryRow>, Error> {
    let mut q = cb::table.select(BeneficiaryRow::as_select()).filter(cb::campaign_id.eq(campaign)).into_boxed();
    if let Some(org) = org {
        q = q.filter(cb::org_id.eq(org));
    }
    if let Some(after) = after_row {
        q = q.filter(cb::row_no.gt(after));
    }
    Ok(q.order(cb::row_no.asc()).limit(limit).load(conn.pg())?)
}

/// What a batch sets on one beneficiary.
#[derive(Debug, Clone)]
pub struct BeneficiaryUpdate {
    /// The beneficiary.
    pub id: Uuid,
    /// Its item.
    pub item_id: Option<Uuid>,
    /// Its payment status.
    pub payment_status: Option<String>,
    /// The bank's reference.
    pub bank_reference: Option<String>,
    /// The bank's message.
    pub bank_message: Option<String>,
}

impl BeneficiaryUpdate {
    /// The beneficiary as it is, with another item and payment status.
    pub fn of(row: &BeneficiaryRow, item_id: Option<Uuid>, payment_status: Option<&str>) -> Self {
        Self {
            id: row.id,
            item_id,
            payment_status: payment_status.map(str::to_owned),
            bank_reference: row.bank_reference.clone(),
            bank_message: row.bank_message.clone(),
        }
    }
}

/// Sets many beneficiaries' item, payment status and bank fields at once, and bumps their
/// versions.
pub fn set_many(tx: &mut Tx<'_>, rows: &[BeneficiaryUpdate], now: DateTime<Utc>) -> Result<(), Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let items: Vec<Option<Uuid>> = rows.iter().map(|r| r.item_id).collect();
    let statuses: Vec<Option<String>> = rows.iter().map(|r| r.payment_status.clone()).collect();
    let references: Vec<Option<String>> = rows.iter().map(|r| r.bank_reference.clone()).collect();
    let messages: Vec<Option<String>> = rows.iter().map(|r| r.bank_message.clone()).collect();
    diesel::sql_query(
        "UPDATE campaign_beneficiaries b \
         SET item_id = v.item, payment_status = v.status, bank_reference = v.reference, \
             bank_message = v.message, version = b.version + 1, updated_at = $6 \
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[]) \
              AS v(id, item, status, reference, message) \
         WHERE b.id = v.id",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(&ids)
    .bind::<Array<Nullable<diesel::sql_types::Uuid>>, _>(&items)
    .bind::<Array<Nullable<Text>>, _>(&statuses)
    .bind::<Array<Nullable<Text>>, _>(&references)
    .bind::<Array<Nullable<Text>>, _>(&messages)
    .bind::<diesel::sql_types::Timestamptz, _>(now)
    .execute(tx.pg())?;
    Ok(())
}
