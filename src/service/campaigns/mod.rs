//! Hardship campaigns (DOMAIN.md, fund 2: winter warmth for 1,600+ workers, summer cooling,
//! school aid, epidemic care): a budget inside a hardship fund; beneficiaries added by the
//! thousand; approved together by a leader (one item per beneficiary); paid as one bank batch by
//! the finance office (each item allocated and disbursed); the bank's payment file and its result
//! file recorded back row by row, a failed or returned payment reversing that item's
//! disbursement.
//!
//! Every batch is one transaction through the one write path, set-based: one journal entry per
//! stage for the whole batch (its movements cite it, and the item trace checks that the entry
//! moved exactly their sum), COPY for the rows, and an audit event per item and stage so that
//! each worker's money can be followed on its own.
//!
//! The campaign's steps, who approves it, its budgets and its payments' states are
//! `domain::campaigns`'; this module loads, locks and writes: creating and reading campaigns
//! here, `beneficiaries` (adding and listing them), `approval` (one item per beneficiary) and
//! `payments` (the bank batch, its file and its results).

mod approval;
mod beneficiaries;
mod payments;

pub use approval::approve;
pub use beneficiaries::{AddedView, add_beneficiaries, beneficiaries};
pub use payments::{ResultsView, bank_file, disburse, record_results};

pub use crate::domain::campaigns::PaymentStatus;

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Listed, Page, check_if_match, etag, stored_money as money};
use crate::db::Db;
use crate::db::campaigns::{BeneficiaryRow, CampaignRow};
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::domain::campaigns::{CampaignAction, CampaignStatus, check_campaign_budget};
use crate::domain::funds::FundKind;
use crate::domain::hardship::CampaignKind;
use crate::domain::ids::CampaignId;
use crate::domain::ids::FundId;
use crate::domain::ids::ResidentId;
use crate::domain::ledger::codes;
use crate::domain::money::Money;
use crate::error::Error;
/// Most beneficiaries one request may add.
pub const MAX_BENEFICIARIES_PER_REQUEST: usize = 5_000;

/// A campaign as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct CampaignView {
    /// Id.
    pub id: Uuid,
    /// The hardship fund it spends.
    pub fund_id: Uuid,
    /// Its name, e.g. "2022年冬季送温暖".
    pub name: String,
    /// What kind of campaign.
    pub kind: CampaignKind,
    /// The most its beneficiaries may be granted in all.
    pub budget: Money,
    /// `draft` (beneficiaries being added), `approved` (items created), `disbursed` (paid as a
    /// bank batch).
    pub status: String,
    /// How many beneficiaries.
    pub beneficiaries: i64,
    /// What they are granted in all.
    pub total_amount: Money,
    /// Beneficiaries by payment status (`pending`, `paid`, `failed`, `returned`).
    pub payments: BTreeMap<String, i64>,
    /// Who created it.
    pub created_by: Uuid,
    /// Who approved it.
    pub approved_by: Option<Uuid>,
    /// Version (also the `ETag`).
    pub version: i32,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A beneficiary as answered: personal data masked.
#[derive(Debug, Serialize, ToSchema)]
pub struct BeneficiaryView {
    /// Id.
    pub id: Uuid,
    /// Its row in the campaign (1, 2, …), in the order added; the bank file's row numbers.
    pub row_no: i32,
    /// The worker's organisation.
    pub org_id: Uuid,
    /// The worker's name.
    pub worker_name: String,
    /// Resident ID number, masked.
    pub id_number: String,
    /// Bank account, masked.
    pub bank_account: String,
    /// The grant.
    pub amount: Money,
    /// Once approved: the item that pays it.
    pub item_id: Option<Uuid>,
    /// Once in a bank batch: `pending`, `paid`, `failed` or `returned`.
    pub payment_status: Option<String>,
    /// The bank's reference for the payment.
    pub bank_reference: Option<String>,
    /// The bank's message (why it failed).
    pub bank_message: Option<String>,
}

/// A new campaign.
#[derive(Debug)]
pub struct NewCampaign {
    /// The hardship fund.
    pub fund_id: Uuid,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: CampaignKind,
    /// Budget.
    pub budget: Money,
}

/// One beneficiary to add, validated in form (the service checks it against the data).
#[derive(Debug)]
pub struct NewBeneficiary {
    /// The worker's organisation.
    pub org_id: Uuid,
    /// Name.
    pub worker_name: String,
    /// ID number.
    pub id_number: ResidentId,
    /// Bank account (digits).
    pub bank_account: String,
    /// Grant.
    pub amount: Money,
}

/// One row of the bank's result file.
#[derive(Debug, Clone)]
pub struct BankResult {
    /// The beneficiary (the payment file's `beneficiary_id`).
    pub beneficiary_id: Uuid,
    /// `paid`, `failed` or `returned`.
    pub status: PaymentStatus,
    /// The bank's reference.
    pub bank_reference: Option<String>,
    /// The bank's message.
    pub message: Option<String>,
}

fn stream(fund_id: Uuid) -> Stream {
    Stream::Fund(fund_id)
}

fn view(conn: &mut Db<'_>, row: &CampaignRow) -> Result<CampaignView, Error> {
    let (n, total, _) = db::campaigns::totals(conn, row.id)?;
    let payments = db::campaigns::payment_counts(conn, row.id)?
        .into_iter()
        .filter_map(|(status, n)| status.map(|s| (s, n)))
        .collect();
    Ok(CampaignView {
        id: row.id,
        fund_id: row.fund_id,
        name: row.name.clone(),
        kind: CampaignKind::parse(&row.kind).ok_or_else(|| Error::internal("bad campaign kind"))?,
        budget: money(row.budget)?,
        status: row.status.clone(),
        beneficiaries: n,
        total_amount: money(total)?,
        payments,
        created_by: row.created_by,
        approved_by: row.approved_by,
        version: row.version,
        created_at: row.created_at,
    })
}

fn beneficiary_view(r: BeneficiaryRow) -> Result<BeneficiaryView, Error> {
    Ok(BeneficiaryView {
        id: r.id,
        row_no: r.row_no,
        org_id: r.org_id,
        worker_name: r.worker_name,
        id_number: r.id_number_masked,
        bank_account: r.bank_account_masked,
        amount: money(r.amount)?,
        item_id: r.item_id,
        payment_status: r.payment_status,
        bank_reference: r.bank_reference,
        bank_message: r.bank_message,
    })
}

/// The state `action` takes the campaign to, or 409 `invalid_transition` (`domain::campaigns`).
fn step(row: &CampaignRow, action: CampaignAction) -> Result<CampaignStatus, Error> {
    let status = CampaignStatus::parse(&row.status).ok_or_else(|| Error::internal("bad campaign status"))?;
    Ok(status.next(action)?)
}

/// Locks the fund, then the campaign, and checks `If-Match`.
fn lock(tx: &mut Tx<'_>, id: Uuid, if_match: Option<&str>) -> Result<CampaignRow, Error> {
    let row = lock_rows(tx, id)?;
    check_if_match(if_match, row.version)?;
    Ok(row)
}

/// Locks the fund, then the campaign (`If-Match` is the caller's to check, after authorising).
fn lock_rows(tx: &mut Tx<'_>, id: Uuid) -> Result<CampaignRow, Error> {
    let fund_id = db::campaigns::find(tx.db(), id)?.fund_id;
    db::funds::lock(tx, fund_id)?;
    db::campaigns::lock(tx, id)
}

/// Bumps the campaign's version and answers its view.
fn finish(tx: &mut Tx<'_>, mut row: CampaignRow, status: u16) -> Result<Answer<CampaignView>, Error> {
    row.version += 1;
    row.updated_at = tx.ctx().now;
    db::campaigns::update(tx, &row)?;
    Ok(Answer { status, etag: Some(etag(row.version)), body: view(tx.db(), &row)? })
}

/// Creates a campaign (rights-protection officer). Its budget, with the other campaigns' of the
/// fund, stays within the fund's budget (409 `over_budget`).
pub async fn create(pool: &Pool, ctx: WriteCtx, idem: Option<Idempotency>, cmd: NewCampaign) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        let fund = match db::funds::lock(tx, cmd.fund_id) {
            Err(Error::NotFound) => return Err(Error::invalid("fund_id", "no such fund")),
            other => other?,
        };
        if fund.kind != FundKind::Hardship.as_str() {
            return Err(Error::invalid("fund_id", "is not a hardship fund"));
        }
        let budget = -db::funds::balances(tx.db(), fund.id)?.get(codes::BUDGET).copied().unwrap_or_default();
        let others: Decimal =
            db::campaigns::list(tx.db(), Some(fund.id), None, i64::MAX)?.iter().map(|c| c.budget).sum();
        check_campaign_budget(others, cmd.budget.as_decimal(), budget)?;
        let now = tx.ctx().now;
        let row = CampaignRow {
            id: Uuid::now_v7(),
            fund_id: fund.id,
            name: cmd.name,
            kind: cmd.kind.as_str().into(),
            budget: cmd.budget.as_decimal(),
            status: CampaignStatus::Draft.as_str().into(),
            created_by: tx.ctx().subject(),
            approved_by: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        db::campaigns::insert(tx, &row)?;
        tx.record(Event {
            fund_id: Some(row.fund_id),
            amount: Some(row.budget),
            after: Some(
                serde_json::json!({"name": row.name, "kind": row.kind, "budget": row.budget, "status": row.status}),
            ),
            ..Event::new(stream(row.fund_id), "hardship_campaign.created", "hardship_campaign", row.id)
        });
        Ok(Answer { status: 201, etag: Some(etag(row.version)), body: view(tx.db(), &row)? })
    })
    .await
}

/// One campaign.
pub async fn get(pool: &Pool, id: CampaignId) -> Result<CampaignView, Error> {
    let id = id.uuid();
    super::read(pool, move |conn| {
        let row = db::campaigns::find(conn, id)?;
        view(conn, &row)
    })
    .await
}

/// A page of campaigns.
pub async fn list(pool: &Pool, fund_id: Option<FundId>, page: Page) -> Result<Listed<CampaignView>, Error> {
    let fund_id = fund_id.map(FundId::uuid);
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::campaigns::list(conn, fund_id, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.iter().map(|r| view(conn, r)).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}
