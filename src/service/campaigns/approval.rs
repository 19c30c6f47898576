//! Approving a campaign: a leader who did not create it turns each beneficiary into an item.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::{finish, lock_rows, step, stream};
use crate::db::campaigns::BeneficiaryUpdate;
use crate::db::items::ItemRow;
use crate::db::write::{Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::campaigns::{CampaignAction, authorize_approval, check_approver, check_has_beneficiaries};
use crate::domain::ids::CampaignId;
use crate::domain::policy::Caller;
use crate::error::Error;
use crate::service::{self, check_if_match};

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
    id: CampaignId,
) -> Result<Stored, Error> {
    let id = id.uuid();
    service::write(pool, ctx, idem, move |tx| {
        authorize_approval(&caller)?;
        let mut campaign = lock_rows(tx, id)?;
        check_approver(campaign.created_by, caller.subject)?;
        check_if_match(if_match.as_deref(), campaign.version)?;
        let approved = step(&campaign, CampaignAction::Approve)?;
        let people = db::campaigns::beneficiaries(tx.db(), id)?;
        check_has_beneficiaries(people.len())?;
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
            after: Some(serde_json::json!({"status": approved.as_str(), "items": items.len(), "total": total})),
            ..Event::new(stream(campaign.fund_id), "hardship_campaign.approved", "hardship_campaign", id)
        });
        campaign.status = approved.as_str().into();
        campaign.approved_by = Some(caller.subject);
        finish(tx, campaign, 200)
    })
    .await
}
