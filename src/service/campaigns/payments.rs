//! Paying a campaign: one bank batch (every item allocated and disbursed), the bank's payment
//! file, and its result file recorded back row by row.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use uuid::Uuid;

use super::{BankResult, CampaignView, finish, lock, step, stream};
use crate::db::campaigns::{BeneficiaryRow, BeneficiaryUpdate};
use crate::db::items::{ItemRow, MovementRow};
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::FieldError;
use crate::domain::campaigns::{CampaignAction, PaymentState, PaymentStatus};
use crate::domain::ids::CampaignId;
use crate::domain::items::{ItemFigures, MovementKind};
use crate::domain::ledger::codes;
use crate::domain::money::Money;
use crate::error::Error;
use crate::pii::{PiiKeys, purpose};
use crate::service::{self, stored_money as money};

/// Pays an approved campaign as one bank batch (finance officer): every item is allocated and
/// disbursed in full, each beneficiary's payment becomes `pending`, and the bank file can be
/// fetched. 409 `matching_not_in_place` or `over_allocation` when the fund cannot pay it all.
#[tracing::instrument(skip_all, fields(campaign.id = %id))]
pub async fn disburse(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: CampaignId,
) -> Result<Stored, Error> {
    let id = id.uuid();
    service::write(pool, ctx, idem, move |tx| {
        service::books::ensure_campaign_open(tx, id)?;
        let mut campaign = lock(tx, id, if_match.as_deref())?;
        let disbursed = step(&campaign, CampaignAction::Disburse)?;
        let people = db::campaigns::beneficiaries(tx.db(), id)?;
        let item_ids: Vec<Uuid> = people.iter().filter_map(|b| b.item_id).collect();
        let items = db::items::lock_many(tx, &item_ids)?;
        let figures = db::items::figures_of(tx.db(), &items.iter().collect::<Vec<_>>())?;
        let mut available = service::items::allocatable(tx.db(), campaign.fund_id)?;
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
                service::items::movement(tx, item.id, MovementKind::Allocation, amount.as_decimal()),
            ));
            let pay = MovementRow {
                payee: Some(b.worker_name.clone()),
                method: Some("bank_transfer".into()),
                ..service::items::movement(tx, item.id, MovementKind::Disbursement, amount.as_decimal())
            };
            disbursements.push((item.id, item.org_id, pay));
        }
        let allocation = service::items::batch_transfer(
            "allocation",
            "campaign allocated",
            fund,
            codes::AVAILABLE,
            codes::COMMITTED,
            total,
        )?;
        let allocation_id = service::items::post_batch(
            tx,
            ("hardship_campaign", id),
            fund,
            &allocation,
            allocations,
            "item.allocated",
            "allocation",
        )?;
        let payment = service::items::batch_transfer(
            "disbursement",
            "campaign paid as one bank batch",
            fund,
            codes::COMMITTED,
            codes::PAID_OUT,
            total,
        )?;
        let payment_id = service::items::post_batch(
            tx,
            ("hardship_campaign", id),
            fund,
            &payment,
            disbursements,
            "item.disbursed",
            "disbursement",
        )?;
        let now = tx.ctx().now;
        let pending: Vec<_> =
            people.iter().map(|b| BeneficiaryUpdate::of(b, b.item_id, Some(PaymentState::Pending.as_str()))).collect();
        db::campaigns::set_many(tx, &pending, now)?;
        tx.record(Event {
            fund_id: Some(fund),
            stage: Some("disbursement"),
            amount: Some(total),
            entry_id: Some(payment_id),
            before: Some(serde_json::json!({"status": campaign.status, "version": campaign.version})),
            after: Some(serde_json::json!({
                "status": disbursed.as_str(), "payments": people.len(), "total": total,
                "allocation_entry": allocation_id, "disbursement_entry": payment_id,
            })),
            ..Event::new(stream(fund), "hardship_campaign.disbursed", "hardship_campaign", id)
        });
        campaign.status = disbursed.as_str().into();
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
pub async fn bank_file(pool: &Pool, pii: Arc<PiiKeys>, ctx: WriteCtx, id: CampaignId) -> Result<String, Error> {
    let id = id.uuid();
    use service::csv_out::{Cell, CsvOut};
    let stored = service::write(pool, ctx, None, move |tx| {
        let campaign = db::campaigns::find(tx.db(), id)?;
        step(&campaign, CampaignAction::ExportBankFile)?;
        let mut csv = CsvOut::default();
        csv.header(&["row_no", "beneficiary_id", "worker_name", "bank_account", "amount"])?;
        let mut total = Decimal::ZERO;
        let mut n = 0_usize;
        for b in db::campaigns::beneficiaries(tx.db(), id)? {
            if b.payment_status.as_deref() != Some(PaymentState::Pending.as_str()) {
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
    id: CampaignId,
    results: Vec<BankResult>,
) -> Result<Stored, Error> {
    let id = id.uuid();
    service::write(pool, ctx, idem, move |tx| {
        service::books::ensure_campaign_open(tx, id)?;
        let campaign = lock(tx, id, if_match.as_deref())?;
        step(&campaign, CampaignAction::RecordBankResults)?;
        let people: HashMap<Uuid, BeneficiaryRow> =
            db::campaigns::beneficiaries(tx.db(), id)?.into_iter().map(|b| (b.id, b)).collect();
        let mut errors = Vec::new();
        let mut seen = HashSet::new();
        // Each row's payment state after it (the domain's table: pending → paid | failed,
        // paid → returned).
        let mut next: HashMap<Uuid, PaymentState> = HashMap::new();
        for (i, r) in results.iter().enumerate() {
            let field = format!("rows[{i}].beneficiary_id");
            match people.get(&r.beneficiary_id) {
                None => errors.push(FieldError::new(field, "not a beneficiary of this campaign")),
                Some(_) if !seen.insert(r.beneficiary_id) => errors.push(FieldError::new(field, "appears twice in the file")),
                Some(b) => {
                    let current = b
                        .payment_status
                        .as_deref()
                        .map(|s| PaymentState::parse(s).ok_or_else(|| Error::internal("bad payment status")))
                        .transpose()?;
                    match r.status.after(current) {
                        Ok(state) => {
                            next.insert(b.id, state);
                        }
                        Err(why) => errors.push(FieldError::new(format!("rows[{i}].status"), why)),
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(Error::Validation(errors));
        }
        let reversing: Vec<&BankResult> = results.iter().filter(|r| r.status.reverses()).collect();
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
                moves.push((it.id, it.org_id, service::items::movement(tx, it.id, MovementKind::Reversal, amount.as_decimal())));
            }
            let entry = service::items::batch_transfer("reversal", "bank payments failed or returned", campaign.fund_id, codes::PAID_OUT, codes::COMMITTED, reversed)?;
            service::items::post_batch(tx, ("hardship_campaign", id), campaign.fund_id, &entry, moves, "item.reversed", "disbursement")?;
        }
        let now = tx.ctx().now;
        let updates: Vec<_> = results
            .iter()
            .filter_map(|r| {
                let b = people.get(&r.beneficiary_id)?;
                Some(BeneficiaryUpdate {
                    bank_reference: r.bank_reference.clone(),
                    bank_message: r.message.clone(),
                    ..BeneficiaryUpdate::of(b, b.item_id, Some(next.get(&b.id)?.as_str()))
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
