//! A year's township grants by formula (`domain::grants::formula`): one approved grant and one
//! allocated item per township, in one transaction and one journal entry.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{grant_fund, stream};
use crate::db::grants::GrantRow;
use crate::db::items::ItemRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::approval::CaseStatus;
use crate::domain::grants::{Share, check_townships, formula, refuse_empty_shares};
use crate::domain::items::MovementKind;
use crate::domain::ledger::codes;
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::service::stored_money as money;

/// A year's allocation by formula.
#[derive(Debug)]
pub struct Formula {
    /// The township-grant fund.
    pub fund_id: Uuid,
    /// What to split.
    pub total: Money,
    /// What each township gets first.
    pub base_per_township: Money,
    /// The townships and their members, in the order the answer keeps.
    pub townships: Vec<(Uuid, u32)>,
}

/// One grant of a formula allocation.
#[derive(Debug, Serialize, ToSchema)]
pub struct FormulaGrant {
    /// The grant.
    pub id: Uuid,
    /// The township union.
    pub org_id: Uuid,
    /// Its share: base plus its part of the rest.
    pub amount: Money,
    /// The item, already allocated.
    pub item_id: Uuid,
}

/// What a formula allocation answers (API.md): the grants in the order of the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct FormulaView {
    /// The run's id (the journal entry and audit events name it).
    pub formula_id: Uuid,
    /// The grants.
    pub grants: Vec<FormulaGrant>,
    /// Their sum: exactly the total asked.
    pub total: Money,
}

/// A year's allocation by formula (finance office), in one transaction: a base per township plus
/// a share of the rest by members, exact to the fen; one approved grant and one allocated item
/// per township; never above what the fund has available (409 `over_allocation`).
pub async fn allocate_by_formula(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: Formula,
) -> Result<Stored, Error> {
    crate::service::write(pool, ctx, idem, move |tx| {
        crate::service::books::ensure_fund_open(tx, cmd.fund_id)?;
        let fund = grant_fund(tx, cmd.fund_id)?;
        let ids: Vec<Uuid> = cmd.townships.iter().map(|t| t.0).collect();
        let orgs: HashMap<Uuid, String> = ids
            .iter()
            .collect::<HashSet<_>>()
            .into_iter()
            .filter_map(|id| db::orgs::find(tx.db(), Scope::All, *id).ok().map(|o| (o.id, o.kind)))
            .collect();
        let kinds: Vec<(Uuid, Option<&str>)> =
            cmd.townships.iter().map(|(org, _)| (*org, orgs.get(org).map(String::as_str))).collect();
        check_townships(&kinds)?;
        let shares: Vec<Share> = cmd.townships.iter().map(|t| Share { members: t.1 }).collect();
        let parts = formula(cmd.total, cmd.base_per_township, &shares)?;
        refuse_empty_shares(&parts)?;
        let available = crate::service::items::allocatable(tx.db(), fund.id)?;
        if cmd.total.as_decimal() > available {
            return Err(DomainError::conflict(
                "over_allocation",
                format!("{} is more than the fund has available ({available})", cmd.total),
            )
            .into());
        }
        let now = tx.ctx().now;
        let caller = tx.ctx().subject();
        let run = Uuid::now_v7();
        let mut grants = Vec::new();
        let mut items = Vec::new();
        for ((org, members), amount) in cmd.townships.iter().zip(&parts) {
            let grant = GrantRow {
                id: Uuid::now_v7(),
                fund_id: fund.id,
                org_id: *org,
                year: fund.year,
                basis: "formula".into(),
                purpose: format!("{} township union work grant (formula)", fund.year),
                work_plan: None,
                members: Some(i32::try_from(*members).map_err(Error::internal)?),
                requested_amount: amount.as_decimal(),
                approved_amount: Some(amount.as_decimal()),
                status: CaseStatus::Approved.as_str().into(),
                created_by: caller,
                submitted_by: None,
                reviewed_by: None,
                approved_by: Some(caller),
                item_id: None,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            let item = ItemRow {
                id: Uuid::now_v7(),
                fund_id: fund.id,
                org_id: *org,
                origin_type: "township_grant".into(),
                origin_id: grant.id,
                approved_amount: amount.as_decimal(),
                settled_at: None,
                version: 1,
                created_at: now,
                updated_at: now,
            };
            grants.push(GrantRow { item_id: Some(item.id), ..grant });
            items.push(item);
        }
        db::items::insert(tx, &items)?;
        db::grants::insert(tx, &grants)?;
        let mut moves = Vec::new();
        for (g, it) in grants.iter().zip(&items) {
            tx.record(Event {
                org_id: Some(g.org_id),
                fund_id: Some(fund.id),
                amount: g.approved_amount,
                after: Some(serde_json::json!({"formula_id": run, "members": g.members, "amount": g.approved_amount, "item_id": it.id})),
                ..Event::new(stream(fund.id), "township_grant.allocated_by_formula", "township_grant", g.id)
            });
            tx.record(Event {
                org_id: Some(it.org_id),
                fund_id: Some(fund.id),
                amount: Some(it.approved_amount),
                after: Some(serde_json::json!({"origin_type": it.origin_type, "origin_id": it.origin_id, "approved_amount": it.approved_amount})),
                ..Event::new(stream(fund.id), "item.created", "item", it.id)
            });
            moves.push((it.id, it.org_id, crate::service::items::movement(tx, it.id, MovementKind::Allocation, it.approved_amount)));
        }
        let entry = crate::service::items::batch_transfer(
            "allocation",
            "township grants allocated by formula",
            fund.id,
            codes::AVAILABLE,
            codes::COMMITTED,
            cmd.total.as_decimal(),
        )?;
        let entry_id =
            crate::service::items::post_batch(tx, ("township_grant_formula", run), fund.id, &entry, moves, "item.allocated", "allocation")?;
        tx.record(Event {
            fund_id: Some(fund.id),
            stage: Some("allocation"),
            amount: Some(cmd.total.as_decimal()),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({
                "total": cmd.total, "base_per_township": cmd.base_per_township,
                "townships": cmd.townships.iter().zip(&parts).map(|((o, m), a)| serde_json::json!({"org_id": o, "members": m, "amount": a})).collect::<Vec<_>>(),
            })),
            ..Event::new(stream(fund.id), "township_grant.formula_allocated", "township_grant_formula", run)
        });
        let answer = FormulaView {
            formula_id: run,
            grants: grants
                .iter()
                .zip(&items)
                .map(|(g, it)| Ok(FormulaGrant { id: g.id, org_id: g.org_id, amount: money(it.approved_amount)?, item_id: it.id }))
                .collect::<Result<_, Error>>()?,
            total: cmd.total,
        };
        Ok(Answer { status: 201, etag: None, body: answer })
    })
    .await
}
