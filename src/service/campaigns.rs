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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Listed, Page, check_if_match, etag, stored_money as money};
use crate::db::Db;
use crate::db::campaigns::{BeneficiaryRow, BeneficiaryUpdate, CampaignRow};
use crate::db::items::{ItemRow, MovementRow};
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::domain::hardship::CampaignKind;
use crate::domain::ids::ResidentId;
use crate::domain::items::{ItemFigures, MovementKind};
use crate::domain::ledger::codes;
use crate::domain::money::Money;
use crate::domain::policy::{Caller, Role, Scope};
use crate::domain::{DomainError, FieldError};
use crate::error::Error;
use crate::pii::{PiiKeys, mask, purpose};

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

/// What the bank says of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Credited to the worker's account.
    Paid,
    /// Not made (closed account, wrong name…): the money never left.
    Failed,
    /// Made, then sent back by the receiving bank.
    Returned,
}

impl PaymentStatus {
    fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Paid => "paid",
            PaymentStatus::Failed => "failed",
            PaymentStatus::Returned => "returned",
        }
    }
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

fn wrong_status(row: &CampaignRow, action: &str) -> Error {
    DomainError::conflict("invalid_transition", format!("cannot {action} a campaign that is {}", row.status)).into()
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
        if fund.kind != "hardship" {
            return Err(Error::invalid("fund_id", "is not a hardship fund"));
        }
        let budget = -db::funds::balances(tx.db(), fund.id)?.get(codes::BUDGET).copied().unwrap_or_default();
        let others: Decimal =
            db::campaigns::list(tx.db(), Some(fund.id), None, i64::MAX)?.iter().map(|c| c.budget).sum();
        if others + cmd.budget.as_decimal() > budget {
            return Err(DomainError::conflict(
                "over_budget",
                format!("the fund's campaigns would budget {} of its {budget}", others + cmd.budget.as_decimal()),
            )
            .into());
        }
        let now = tx.ctx().now;
        let row = CampaignRow {
            id: Uuid::now_v7(),
            fund_id: fund.id,
            name: cmd.name,
            kind: cmd.kind.as_str().into(),
            budget: cmd.budget.as_decimal(),
            status: "draft".into(),
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
pub async fn get(pool: &Pool, id: Uuid) -> Result<CampaignView, Error> {
    super::read(pool, move |conn| {
        let row = db::campaigns::find(conn, id)?;
        view(conn, &row)
    })
    .await
}

/// A page of campaigns.
pub async fn list(pool: &Pool, fund_id: Option<Uuid>, page: Page) -> Result<Listed<CampaignView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::campaigns::list(conn, fund_id, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.iter().map(|r| view(conn, r)).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// A page of a campaign's beneficiaries, masked (a clerk: its own organisation's).
pub async fn beneficiaries(pool: &Pool, scope: Scope, id: Uuid, page: Page) -> Result<Listed<BeneficiaryView>, Error> {
    let after = page
        .cursor
        .as_deref()
        .map(str::parse::<i32>)
        .transpose()
        .map_err(|_| Error::invalid("cursor", "is not a cursor of this list"))?;
    let org = scope.org();
    super::read(pool, move |conn| {
        db::campaigns::find(conn, id)?;
        let rows = db::campaigns::beneficiary_page(conn, id, org, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.row_no.to_string(), |r| r);
        let items = listed.items.into_iter().map(beneficiary_view).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// What adding beneficiaries answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct AddedView {
    /// How many were added by this request.
    pub added: usize,
    /// Their grants, summed.
    pub added_amount: Money,
    /// The campaign after.
    pub campaign: CampaignView,
}

/// Adds beneficiaries to a draft campaign, all or none: every row is checked (its organisation
/// exists; the same ID number is not already in the campaign nor twice in the request) and a 422
/// names each bad row; the campaign's total stays within its budget (409 `over_budget`).
#[tracing::instrument(skip_all, fields(campaign.id = %id, rows = rows.len()))]
pub async fn add_beneficiaries(
    pool: &Pool,
    pii: Arc<PiiKeys>,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: Uuid,
    rows: Vec<NewBeneficiary>,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        let campaign = lock(tx, id, if_match.as_deref())?;
        if campaign.status != "draft" {
            return Err(wrong_status(&campaign, "add beneficiaries to"));
        }
        // While hash keys change, these people's rows under an older key move to the current one
        // first, so that the look-up below finds them.
        super::personal_data::move_hashes(tx, &pii, rows.iter().map(|r| r.id_number.expose()))?;
        let hashes: Vec<String> =
            rows.iter().map(|r| pii.lookup_hash(purpose::ID_NUMBER, r.id_number.expose())).collect();
        let already: HashSet<String> = db::campaigns::existing_hashes(tx.db(), id, &hashes)?.into_iter().collect();
        let org_ids: Vec<Uuid> = rows.iter().map(|r| r.org_id).collect::<HashSet<_>>().into_iter().collect();
        let known: HashSet<Uuid> = db::orgs::existing(tx.db(), &org_ids)?.into_iter().collect();
        let mut errors = Vec::new();
        for (i, (r, hash)) in rows.iter().zip(&hashes).enumerate() {
            if !known.contains(&r.org_id) {
                errors.push(FieldError::new(format!("rows[{i}].org_id"), "no such organisation"));
            }
            if already.contains(hash) {
                errors.push(FieldError::new(
                    format!("rows[{i}].id_number"),
                    "duplicate_beneficiary: this worker is already a beneficiary of the campaign",
                ));
            }
        }
        // Each repeated ID number names the row it repeats.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, hash) in hashes.iter().enumerate() {
            if let Some(first) = seen.get(hash.as_str()) {
                errors.push(FieldError::new(
                    format!("rows[{i}].id_number"),
                    format!("duplicate_beneficiary: the same ID number as rows[{first}]"),
                ));
            } else {
                seen.insert(hash, i);
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let (_, total_before, last_row) = db::campaigns::totals(tx.db(), id)?;
        let added: Decimal = rows.iter().map(|r| r.amount.as_decimal()).sum();
        if total_before + added > campaign.budget {
            return Err(DomainError::conflict(
                "over_budget",
                format!("the beneficiaries would be granted {} of the campaign's {}", total_before + added, campaign.budget),
            )
            .into());
        }
        let now = tx.ctx().now;
        let stored = rows
            .iter()
            .zip(hashes)
            .enumerate()
            .map(|(i, (r, hash))| {
                Ok(BeneficiaryRow {
                    id: Uuid::now_v7(),
                    campaign_id: id,
                    row_no: last_row + i32::try_from(i).map_err(Error::internal)? + 1,
                    org_id: r.org_id,
                    worker_name: r.worker_name.clone(),
                    id_number_sealed: pii.seal(purpose::ID_NUMBER, r.id_number.expose())?,
                    id_number_hash: hash,
                    id_number_masked: r.id_number.masked(),
                    bank_account_sealed: pii.seal(purpose::BANK_ACCOUNT, &r.bank_account)?,
                    bank_account_masked: mask(&r.bank_account, 0, 4),
                    amount: r.amount.as_decimal(),
                    item_id: None,
                    payment_status: None,
                    bank_reference: None,
                    bank_message: None,
                    version: 1,
                    created_at: now,
                    updated_at: now,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        db::campaigns::insert_beneficiaries(tx, &stored)?;
        tx.record(Event {
            fund_id: Some(campaign.fund_id),
            amount: Some(added),
            after: Some(serde_json::json!({
                "added": stored.len(),
                "added_amount": added,
                "rows": [stored.first().map(|b| b.row_no), stored.last().map(|b| b.row_no)],
                "beneficiaries": stored.iter().map(|b| serde_json::json!({
                    "id": b.id, "row_no": b.row_no, "org_id": b.org_id, "id_number": b.id_number_masked, "amount": b.amount,
                })).collect::<Vec<_>>(),
            })),
            ..Event::new(stream(campaign.fund_id), "hardship_campaign.beneficiaries_added", "hardship_campaign", id)
        });
        let count = stored.len();
        let answer = finish(tx, campaign, 201)?;
        Ok(Answer {
            status: answer.status,
            etag: answer.etag,
            body: AddedView { added: count, added_amount: money(added)?, campaign: answer.body },
        })
    })
    .await
}

/// Approves a draft campaign (a leader, never its creator): one item per beneficiary. Who may
/// approve is decided first — the role before the campaign is read, its creator before
/// `If-Match` and the state — so that a caller who may not approve learns nothing of the
/// campaign (issue 15: it used to learn its version from a 428/412).
#[tracing::instrument(skip_all, fields(campaign.id = %id))]
pub async fn approve(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    caller: Caller,
    if_match: Option<String>,
    id: Uuid,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        if caller.role != Role::Leader {
            return Err(DomainError::Forbidden { code: "forbidden", detail: "only a leader approves a campaign".into() }.into());
        }
        let mut campaign = lock_rows(tx, id)?;
        if campaign.created_by == caller.subject {
            return Err(DomainError::Forbidden {
                code: "separation_of_duties",
                detail: "the person who created a campaign may not approve it".into(),
            }
            .into());
        }
        check_if_match(if_match.as_deref(), campaign.version)?;
        if campaign.status != "draft" {
            return Err(wrong_status(&campaign, "approve"));
        }
        let people = db::campaigns::beneficiaries(tx.db(), id)?;
        if people.is_empty() {
            return Err(DomainError::conflict("invalid_transition", "a campaign without beneficiaries cannot be approved").into());
        }
        let now = tx.ctx().now;
        let items: Vec<ItemRow> = people
            .iter()
            .map(|b| ItemRow {
                id: Uuid::now_v7(),
                fund_id: campaign.fund_id,
                org_id: b.org_id,
                origin_type: "campaign_beneficiary".into(),
                origin_id: b.id,
                approved_amount: b.amount,
                settled_at: None,
                version: 1,
                created_at: now,
                updated_at: now,
            })
            .collect();
        db::items::insert(tx, &items)?;
        let links: Vec<_> = people.iter().zip(&items).map(|(b, it)| BeneficiaryUpdate::of(b, Some(it.id), None)).collect();
        db::campaigns::set_many(tx, &links, now)?;
        for it in &items {
            tx.record(Event {
                org_id: Some(it.org_id),
                fund_id: Some(it.fund_id),
                amount: Some(it.approved_amount),
                after: Some(serde_json::json!({
                    "origin_type": it.origin_type, "origin_id": it.origin_id, "approved_amount": it.approved_amount, "campaign_id": id,
                })),
                ..Event::new(stream(it.fund_id), "item.created", "item", it.id)
            });
        }
        let total: Decimal = items.iter().map(|i| i.approved_amount).sum();
        tx.record(Event {
            fund_id: Some(campaign.fund_id),
            amount: Some(total),
            before: Some(serde_json::json!({"status": campaign.status, "version": campaign.version})),
            after: Some(serde_json::json!({"status": "approved", "items": items.len(), "total": total})),
            ..Event::new(stream(campaign.fund_id), "hardship_campaign.approved", "hardship_campaign", id)
        });
        campaign.status = "approved".into();
        campaign.approved_by = Some(caller.subject);
        finish(tx, campaign, 200)
    })
    .await
}

/// Pays an approved campaign as one bank batch (finance officer): every item is allocated and
/// disbursed in full, each beneficiary's payment becomes `pending`, and the bank file can be
/// fetched. 409 `matching_not_in_place` or `over_allocation` when the fund cannot pay it all.
#[tracing::instrument(skip_all, fields(campaign.id = %id))]
pub async fn disburse(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: Uuid,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        super::books::ensure_campaign_open(tx, id)?;
        let mut campaign = lock(tx, id, if_match.as_deref())?;
        if campaign.status != "approved" {
            return Err(wrong_status(&campaign, "disburse"));
        }
        let people = db::campaigns::beneficiaries(tx.db(), id)?;
        let item_ids: Vec<Uuid> = people.iter().filter_map(|b| b.item_id).collect();
        let items = db::items::lock_many(tx, &item_ids)?;
        let figures = db::items::figures_of(tx.db(), &items.iter().collect::<Vec<_>>())?;
        let mut available = super::items::allocatable(tx.db(), campaign.fund_id)?;
        let fund = campaign.fund_id;
        let (mut allocations, mut disbursements) = (Vec::new(), Vec::new());
        let mut total = Decimal::ZERO;
        let by_id: HashMap<Uuid, &ItemRow> = items.iter().map(|i| (i.id, i)).collect();
        for b in &people {
            let item =
                b.item_id.and_then(|i| by_id.get(&i)).ok_or_else(|| Error::internal("beneficiary without item"))?;
            let mut f: ItemFigures = figures.get(&item.id).copied().ok_or_else(|| Error::internal("item figures"))?;
            let amount = money(item.approved_amount)?;
            // The same rules as one item's stages 1 and 2, item by item.
            f.allocate(fund, amount, available)?;
            f.add(MovementKind::Allocation, amount.as_decimal());
            f.disburse(fund, amount)?;
            available -= amount.as_decimal();
            total += amount.as_decimal();
            allocations.push((
                item.id,
                item.org_id,
                super::items::movement(tx, item.id, MovementKind::Allocation, amount.as_decimal()),
            ));
            let pay = MovementRow {
                payee: Some(b.worker_name.clone()),
                method: Some("bank_transfer".into()),
                ..super::items::movement(tx, item.id, MovementKind::Disbursement, amount.as_decimal())
            };
            disbursements.push((item.id, item.org_id, pay));
        }
        let allocation = super::items::batch_transfer(
            "allocation",
            "campaign allocated",
            fund,
            codes::AVAILABLE,
            codes::COMMITTED,
            total,
        )?;
        let allocation_id = super::items::post_batch(
            tx,
            ("hardship_campaign", id),
            fund,
            &allocation,
            allocations,
            "item.allocated",
            "allocation",
        )?;
        let payment = super::items::batch_transfer(
            "disbursement",
            "campaign paid as one bank batch",
            fund,
            codes::COMMITTED,
            codes::PAID_OUT,
            total,
        )?;
        let payment_id = super::items::post_batch(
            tx,
            ("hardship_campaign", id),
            fund,
            &payment,
            disbursements,
            "item.disbursed",
            "disbursement",
        )?;
        let now = tx.ctx().now;
        let pending: Vec<_> = people.iter().map(|b| BeneficiaryUpdate::of(b, b.item_id, Some("pending"))).collect();
        db::campaigns::set_many(tx, &pending, now)?;
        tx.record(Event {
            fund_id: Some(fund),
            stage: Some("disbursement"),
            amount: Some(total),
            entry_id: Some(payment_id),
            before: Some(serde_json::json!({"status": campaign.status, "version": campaign.version})),
            after: Some(serde_json::json!({
                "status": "disbursed", "payments": people.len(), "total": total,
                "allocation_entry": allocation_id, "disbursement_entry": payment_id,
            })),
            ..Event::new(stream(fund), "hardship_campaign.disbursed", "hardship_campaign", id)
        });
        campaign.status = "disbursed".into();
        finish(tx, campaign, 200)
    })
    .await
}

/// The bank payment file of a disbursed campaign: CSV (RFC 4180, UTF-8, written by
/// `csv_out`), a header, then one row per payment still `pending`:
/// `row_no,beneficiary_id,worker_name,bank_account,amount`. `worker_name` and `bank_account` are
/// text cells, neutralised against formula injection (a name beginning with `=`, `+`, `-`, `@`,
/// a tab or a carriage return gets a `'` before it); `row_no` and `amount` are numbers, written
/// as they are. It holds whole account numbers, so producing it is audited
/// (`hardship_campaign.bank_file_exported`, with the SHA-256 of the very bytes answered, row
/// count and total) and it is never cached.
pub async fn bank_file(pool: &Pool, pii: Arc<PiiKeys>, ctx: WriteCtx, id: Uuid) -> Result<String, Error> {
    use super::csv_out::{Cell, CsvOut};
    let stored = super::write(pool, ctx, None, move |tx| {
        let campaign = db::campaigns::find(tx.db(), id)?;
        if campaign.status != "disbursed" {
            return Err(wrong_status(&campaign, "export the bank file of"));
        }
        let mut csv = CsvOut::default();
        csv.header(&["row_no", "beneficiary_id", "worker_name", "bank_account", "amount"])?;
        let mut total = Decimal::ZERO;
        let mut n = 0_usize;
        for b in db::campaigns::beneficiaries(tx.db(), id)? {
            if b.payment_status.as_deref() != Some("pending") {
                continue;
            }
            let account = pii.open(purpose::BANK_ACCOUNT, &b.bank_account_sealed)?;
            csv.row(&[
                Cell::Number(&b.row_no.to_string()),
                Cell::Text(&b.id.to_string()),
                Cell::Text(&b.worker_name),
                Cell::Text(&account),
                Cell::Number(&b.amount.to_string()),
            ])?;
            total += b.amount;
            n += 1;
        }
        let csv = String::from_utf8(csv.into_bytes()?).map_err(Error::internal)?;
        let digest = hex::encode(Sha256::digest(csv.as_bytes()));
        tx.record(Event {
            fund_id: Some(campaign.fund_id),
            amount: Some(total),
            after: Some(serde_json::json!({"rows": n, "total": total, "sha256": digest})),
            ..Event::new(stream(campaign.fund_id), "hardship_campaign.bank_file_exported", "hardship_campaign", id)
        });
        Ok(Answer { status: 200, etag: None, body: csv })
    })
    .await?;
    serde_json::from_slice(&stored.body).map_err(Error::internal)
}

/// What recording a result file answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultsView {
    /// Rows marked paid.
    pub paid: usize,
    /// Rows marked failed (their disbursement reversed).
    pub failed: usize,
    /// Rows marked returned (their disbursement reversed).
    pub returned: usize,
    /// The money reversed to the items' allocations.
    pub reversed_amount: Money,
    /// The campaign after.
    pub campaign: CampaignView,
}

/// Records the bank's result file, all rows or none: `pending → paid | failed`, `paid →
/// returned`; anything else, or a beneficiary not of this campaign, is named in a 422. A failed
/// or returned payment reverses that item's disbursement (one journal entry for the file), so
/// the money is committed to the item again, to be paid again or released at settlement.
#[tracing::instrument(skip_all, fields(campaign.id = %id, rows = results.len()))]
pub async fn record_results(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: Uuid,
    results: Vec<BankResult>,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        super::books::ensure_campaign_open(tx, id)?;
        let campaign = lock(tx, id, if_match.as_deref())?;
        if campaign.status != "disbursed" {
            return Err(wrong_status(&campaign, "record bank results of"));
        }
        let people: HashMap<Uuid, BeneficiaryRow> =
            db::campaigns::beneficiaries(tx.db(), id)?.into_iter().map(|b| (b.id, b)).collect();
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        for (i, r) in results.iter().enumerate() {
            let field = format!("rows[{i}].beneficiary_id");
            match people.get(&r.beneficiary_id) {
                None => errors.push(FieldError::new(field, "not a beneficiary of this campaign")),
                Some(_) if !seen.insert(r.beneficiary_id) => errors.push(FieldError::new(field, "appears twice in the file")),
                Some(b) => {
                    let ok = matches!(
                        (b.payment_status.as_deref(), r.status),
                        (Some("pending"), PaymentStatus::Paid | PaymentStatus::Failed) | (Some("paid"), PaymentStatus::Returned)
                    );
                    if !ok {
                        errors.push(FieldError::new(
                            format!("rows[{i}].status"),
                            format!(
                                "invalid_transition: a payment that is {} cannot become {}",
                                b.payment_status.as_deref().unwrap_or("unpaid"),
                                r.status.as_str()
                            ),
                        ));
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let reversing: Vec<&BankResult> = results.iter().filter(|r| r.status != PaymentStatus::Paid).collect();
        let mut reversed = Decimal::ZERO;
        if !reversing.is_empty() {
            let item_ids: Vec<Uuid> = reversing.iter().filter_map(|r| people.get(&r.beneficiary_id)?.item_id).collect();
            let items = db::items::lock_many(tx, &item_ids)?;
            let figures = db::items::figures_of(tx.db(), &items.iter().collect::<Vec<_>>())?;
            let mut moves = Vec::new();
            for it in &items {
                let f = figures.get(&it.id).copied().ok_or_else(|| Error::internal("item figures"))?;
                let amount = money(f.disbursed - f.used)?;
                f.reverse(campaign.fund_id, amount)?;
                reversed += amount.as_decimal();
                moves.push((it.id, it.org_id, super::items::movement(tx, it.id, MovementKind::Reversal, amount.as_decimal())));
            }
            let entry = super::items::batch_transfer("reversal", "bank payments failed or returned", campaign.fund_id, codes::PAID_OUT, codes::COMMITTED, reversed)?;
            super::items::post_batch(tx, ("hardship_campaign", id), campaign.fund_id, &entry, moves, "item.reversed", "disbursement")?;
        }
        let now = tx.ctx().now;
        let updates: Vec<_> = results
            .iter()
            .filter_map(|r| {
                let b = people.get(&r.beneficiary_id)?;
                Some(BeneficiaryUpdate {
                    bank_reference: r.bank_reference.clone(),
                    bank_message: r.message.clone(),
                    ..BeneficiaryUpdate::of(b, b.item_id, Some(r.status.as_str()))
                })
            })
            .collect();
        db::campaigns::set_many(tx, &updates, now)?;
        let count = |s: PaymentStatus| results.iter().filter(|r| r.status == s).count();
        let (paid, failed, returned) = (count(PaymentStatus::Paid), count(PaymentStatus::Failed), count(PaymentStatus::Returned));
        for r in &results {
            let b = people.get(&r.beneficiary_id).ok_or_else(|| Error::internal("beneficiary vanished"))?;
            tx.record(Event {
                org_id: Some(b.org_id),
                fund_id: Some(campaign.fund_id),
                stage: Some("disbursement"),
                before: Some(serde_json::json!({"payment_status": b.payment_status})),
                after: Some(serde_json::json!({"payment_status": r.status.as_str(), "bank_reference": r.bank_reference, "item_id": b.item_id})),
                ..Event::new(stream(campaign.fund_id), "campaign_beneficiary.payment_recorded", "campaign_beneficiary", b.id)
            });
        }
        tx.record(Event {
            fund_id: Some(campaign.fund_id),
            amount: (!reversed.is_zero()).then_some(reversed),
            after: Some(serde_json::json!({"paid": paid, "failed": failed, "returned": returned, "reversed": reversed})),
            ..Event::new(stream(campaign.fund_id), "hardship_campaign.bank_results_recorded", "hardship_campaign", id)
        });
        let answer = finish(tx, campaign, 200)?;
        Ok(Answer {
            status: 200,
            etag: answer.etag,
            body: ResultsView { paid, failed, returned, reversed_amount: money(reversed)?, campaign: answer.body },
        })
    })
    .await
}
