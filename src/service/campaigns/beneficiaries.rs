//! A campaign's beneficiaries: added by the thousand while it is a draft, listed masked.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{BeneficiaryView, CampaignView, NewBeneficiary, beneficiary_view, finish, lock, step, stream};
use crate::db::campaigns::BeneficiaryRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::FieldError;
use crate::domain::campaigns::{CampaignAction, check_grants};
use crate::domain::ids::CampaignId;
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::pii::{PiiKeys, mask, purpose};
use crate::service::{self, Listed, Page, stored_money as money};

/// A page of a campaign's beneficiaries, masked (a clerk: its own organisation's).
pub async fn beneficiaries(
    pool: &Pool,
    scope: Scope,
    id: CampaignId,
    page: Page,
) -> Result<Listed<BeneficiaryView>, Error> {
    let id = id.uuid();
    let after = page
        .cursor
        .as_deref()
        .map(str::parse::<i32>)
        .transpose()
        .map_err(|_| Error::invalid("cursor", "is not a cursor of this list"))?;
    let org = scope.org();
    service::read(pool, move |conn| {
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
    id: CampaignId,
    rows: Vec<NewBeneficiary>,
) -> Result<Stored, Error> {
    let id = id.uuid();
    service::write(pool, ctx, idem, move |tx| {
        let campaign = lock(tx, id, if_match.as_deref())?;
        step(&campaign, CampaignAction::AddBeneficiaries)?;
        // While hash keys change, these people's rows under an older key move to the current one
        // first, so that the look-up below finds them.
        service::personal_data::move_hashes(tx, &pii, rows.iter().map(|r| r.id_number.expose()))?;
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
        check_grants(total_before, added, campaign.budget)?;
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
