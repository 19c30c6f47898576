//! The four stages of one item: allocation, disbursement, use, settlement.

use rust_decimal::Decimal;
use uuid::Uuid;

use super::{Disburse, MovementAnswer, ReportUse, movement, movement_view, stream, view, visible};
use crate::db::Db;
use crate::db::items::{ItemRow, MovementRow};
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::ids::FundId;
use crate::domain::ids::ItemId;
use crate::domain::items::{ItemFigures, MovementKind};
use crate::domain::ledger::{JournalEntry, codes};
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::service::{self, check_if_match, etag};

/// What one stage does once fund and item are locked and checked: the entry to post and the
/// movements to write (their `entry_id` is filled in here).
struct StagePlan {
    entry: Option<JournalEntry>,
    movements: Vec<MovementRow>,
    action: &'static str,
    stage: &'static str,
    settles: bool,
    /// Voucher numbers the (single) movement uses: unique within the fund.
    vouchers: Vec<String>,
}

/// Runs one stage: lock the fund, then the item; check scope and `If-Match`; plan; write.
fn run_stage(
    tx: &mut Tx<'_>,
    scope: Scope,
    if_match: Option<&str>,
    id: Uuid,
    plan: impl FnOnce(&mut Tx<'_>, &ItemRow, &ItemFigures) -> Result<StagePlan, Error>,
) -> Result<Answer<MovementAnswer>, Error> {
    // The fund's id is needed to lock it first; read it unlocked (it never changes).
    let fund_id = visible(tx.db(), scope, id)?.fund_id;
    service::books::ensure_fund_open(tx, fund_id)?;
    let fund = db::funds::lock(tx, fund_id)?;
    let mut row = db::items::lock(tx, id)?;
    check_if_match(if_match, row.version)?;
    let before = db::items::figures(tx.db(), &row)?;
    let mut plan = plan(tx, &row, &before)?;
    let entry_id = match &plan.entry {
        Some(entry) => Some(tx.post(entry, Some(fund.id), "item", row.id)?),
        None => None,
    };
    let mut after = before;
    for m in &mut plan.movements {
        m.entry_id = entry_id.ok_or_else(|| Error::internal("a movement without its entry"))?;
        let kind = MovementKind::parse(&m.kind).ok_or_else(|| Error::internal("bad movement kind"))?;
        after.add(kind, m.amount);
    }
    db::items::insert_movements(tx, &plan.movements)?;
    if let Some(m) = plan.movements.first().filter(|_| !plan.vouchers.is_empty()) {
        db::items::insert_vouchers(tx, fund.id, m.id, &plan.vouchers)?;
    }
    row.version += 1;
    row.updated_at = tx.ctx().now;
    if plan.settles {
        row.settled_at = Some(tx.ctx().now);
        after.settled = true;
    }
    if !after.reconciles() {
        return Err(Error::internal(format!("item {id} would not reconcile after {}", plan.action)));
    }
    db::items::update(tx, &row)?;
    let amount: Decimal = plan.movements.iter().map(|m| m.amount).sum();
    tx.record(Event {
        org_id: Some(row.org_id),
        fund_id: Some(fund.id),
        stage: Some(plan.stage),
        amount: (!amount.is_zero()).then_some(amount),
        entry_id,
        before: Some(serde_json::json!({"stage": before.stage(), "version": row.version - 1})),
        after: Some(serde_json::json!({
            "stage": after.stage(),
            "movements": plan.movements.iter().map(|m| serde_json::json!({"id": m.id, "kind": m.kind, "amount": m.amount})).collect::<Vec<_>>(),
        })),
        ..Event::new(stream(fund.id), plan.action, "item", row.id)
    });
    let item = view(&row, &after)?;
    let movements = plan.movements.into_iter().map(movement_view).collect::<Result<Vec<_>, _>>()?;
    Ok(Answer { status: 201, etag: Some(etag(row.version)), body: MovementAnswer { movements, item } })
}

/// What the fund has available to allocate, once its required local matching is in place (409
/// `matching_not_in_place` until it is). Read under the fund's lock.
pub fn allocatable(conn: &mut Db<'_>, fund_id: Uuid) -> Result<Decimal, Error> {
    let matching = service::funds::matching(conn, fund_id)?;
    if !matching.ok() {
        return Err(DomainError::conflict(
            "matching_not_in_place",
            format!(
                "the fund's required local matching is not in place ({} provided of {} required)",
                matching.provided, matching.required
            ),
        )
        .into());
    }
    let balances = db::funds::balances(conn, fund_id)?;
    Ok(balances.get(codes::AVAILABLE).copied().unwrap_or_default())
}

/// Stage 1: commits money from the fund to the item (never more than approved, never more than
/// the fund has available, never while the fund's required local matching is missing).
#[tracing::instrument(skip_all, fields(item.id = %id))]
pub async fn allocate(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: ItemId,
    amount: Money,
) -> Result<Stored, Error> {
    let id = id.uuid();
    service::write(pool, ctx, idem, move |tx| {
        run_stage(tx, Scope::All, if_match.as_deref(), id, |tx, row, f| {
            let available = allocatable(tx.db(), row.fund_id)?;
            let entry = f.allocate(row.fund_id, amount, available)?;
            Ok(StagePlan {
                entry: Some(entry),
                movements: vec![movement(tx, row.id, MovementKind::Allocation, amount.as_decimal())],
                action: "item.allocated",
                stage: "allocation",
                settles: false,
                vouchers: Vec::new(),
            })
        })
    })
    .await
}

/// Stage 2: pays one tranche out of the allocation.
#[tracing::instrument(skip_all, fields(item.id = %id))]
pub async fn disburse(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: ItemId,
    cmd: Disburse,
) -> Result<Stored, Error> {
    let id = id.uuid();
    service::write(pool, ctx, idem, move |tx| {
        run_stage(tx, Scope::All, if_match.as_deref(), id, |tx, row, f| {
            let entry = f.disburse(row.fund_id, cmd.amount)?;
            let m = MovementRow {
                payee: Some(cmd.payee),
                method: Some(cmd.method),
                ..movement(tx, row.id, MovementKind::Disbursement, cmd.amount.as_decimal())
            };
            Ok(StagePlan {
                entry: Some(entry),
                movements: vec![m],
                action: "item.disbursed",
                stage: "disbursement",
                settles: false,
                vouchers: Vec::new(),
            })
        })
    })
    .await
}

/// Stage 3: records what the money was used for (a clerk: for its own organisation's items).
#[tracing::instrument(skip_all, fields(item.id = %id))]
pub async fn report_use(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    scope: Scope,
    if_match: Option<String>,
    id: ItemId,
    cmd: ReportUse,
) -> Result<Stored, Error> {
    let id = id.uuid();
    let lines_json = cmd.lines.as_ref().map(serde_json::to_string).transpose().map_err(Error::internal)?;
    service::write(pool, ctx, idem, move |tx| {
        run_stage(tx, scope, if_match.as_deref(), id, |tx, row, f| {
            let entry = f.record_use(row.fund_id, cmd.amount)?;
            let vouchers = cmd.vouchers();
            let taken = db::items::vouchers_taken(tx.db(), row.fund_id, &vouchers)?;
            if !taken.is_empty() {
                return Err(DomainError::conflict(
                    "duplicate_voucher",
                    format!("{} of the voucher numbers already back a use report of this fund", taken.len()),
                )
                .into());
            }
            let m = MovementRow {
                description: Some(cmd.description),
                voucher_no: cmd.voucher_no,
                lines_json,
                ..movement(tx, row.id, MovementKind::Use, cmd.amount.as_decimal())
            };
            Ok(StagePlan {
                entry: Some(entry),
                movements: vec![m],
                action: "item.used",
                stage: "use",
                settles: false,
                vouchers,
            })
        })
    })
    .await
}

/// Stage 4: returns the unused money (or, with `carry_over_to`, carries it over to next year's
/// fund of the same kind), releases the undisbursed, and closes the item for good.
#[tracing::instrument(skip_all, fields(item.id = %id))]
pub async fn settle(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: ItemId,
    carry_over_to: Option<FundId>,
) -> Result<Stored, Error> {
    let carry_over_to = carry_over_to.map(FundId::uuid);
    let id = id.uuid();
    service::write(pool, ctx, idem, move |tx| {
        run_stage(tx, Scope::All, if_match.as_deref(), id, |tx, row, f| {
            let mut movements = Vec::new();
            let entry = match carry_over_to {
                None => {
                    let (returned, released, entry) = f.settle(row.fund_id)?;
                    if returned > Decimal::ZERO {
                        movements.push(movement(tx, row.id, MovementKind::Return, returned));
                    }
                    if released > Decimal::ZERO {
                        movements.push(movement(tx, row.id, MovementKind::Release, released));
                    }
                    entry
                }
                Some(next) => {
                    let this = db::funds::find(tx.db(), row.fund_id)?;
                    let next = match db::funds::lock(tx, next) {
                        Err(Error::NotFound) => return Err(Error::invalid("carry_over_to", "no such fund")),
                        other => other?,
                    };
                    if next.kind != this.kind || next.year != this.year + 1 {
                        return Err(Error::invalid(
                            "carry_over_to",
                            format!("must be a {} fund of {}", this.kind, this.year + 1),
                        ));
                    }
                    let (carried, released, entry) = f.settle_carrying(row.fund_id, next.id)?;
                    if carried > Decimal::ZERO {
                        movements.push(MovementRow {
                            carried_to: Some(next.id),
                            ..movement(tx, row.id, MovementKind::CarryOver, carried)
                        });
                    }
                    if released > Decimal::ZERO {
                        movements.push(movement(tx, row.id, MovementKind::Release, released));
                    }
                    entry
                }
            };
            Ok(StagePlan {
                entry,
                movements,
                action: "item.settled",
                stage: "settlement",
                settles: true,
                vouchers: Vec::new(),
            })
        })
    })
    .await
}
