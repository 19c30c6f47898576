//! Items and their four stages (DOMAIN.md, "Earmarked money"): every stage locks the fund, then
//! the item, asks `domain::items` whether the movement is allowed, and writes the movement, its
//! journal entry and its audit event through the one write path. Concurrent stages of one item
//! (two disbursements at once) queue on those locks, and the second sees the first's money.

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Listed, Page, check_if_match, etag, stored_money as money};
use crate::db::Db;
use crate::db::items::{ItemRow, MovementRow};
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::audit::Stream;
use crate::domain::items::{ItemFigures, ItemStage, MoneyStage, MovementKind};
use crate::domain::ledger::{AccountRef, JournalEntry, codes};
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;

/// An item with its figures (summed from its movements).
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// Id.
    pub id: Uuid,
    /// The fund the money comes from.
    pub fund_id: Uuid,
    /// The organisation the case belongs to.
    pub org_id: Uuid,
    /// What the item pays for: `hardship_application`, `township_grant`, `campaign_beneficiary`.
    pub origin_type: String,
    /// The application, grant or beneficiary.
    pub origin_id: Uuid,
    /// How far the money has come.
    pub stage: ItemStage,
    /// The most that may be allocated.
    pub approved_amount: Money,
    /// Committed from the fund (gross).
    pub allocated: Money,
    /// Paid out.
    pub disbursed: Money,
    /// Reported as used.
    pub used: Money,
    /// Returned to the fund at settlement.
    pub returned: Money,
    /// Released to the fund at settlement.
    pub released: Money,
    /// Carried over to next year's fund at settlement.
    pub carried: Money,
    /// Allocated and not yet paid out.
    pub undisbursed: Money,
    /// Paid out and not yet reported as used.
    pub unused: Money,
    /// When it was settled.
    pub settled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Version (also the `ETag`).
    pub version: i32,
    /// Created (at approval).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// One line of a use report.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UseLine {
    /// What was bought or paid.
    pub description: String,
    /// How much.
    pub amount: Money,
    /// The voucher or receipt number.
    pub voucher_no: Option<String>,
}

/// One movement of an item's money, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct MovementView {
    /// Id.
    pub id: Uuid,
    /// `allocation`, `disbursement`, `use`, `return` or `release`.
    pub kind: MovementKind,
    /// Which of the four stages.
    pub stage: MoneyStage,
    /// How much.
    pub amount: Money,
    /// Disbursements: to whom.
    pub payee: Option<String>,
    /// Disbursements: `bank_transfer`, `cash` or `goods`.
    pub method: Option<String>,
    /// Uses: what the money was spent on.
    pub description: Option<String>,
    /// Uses: the voucher number.
    pub voucher_no: Option<String>,
    /// Carry-overs: next year's fund that received the money.
    pub carried_to: Option<Uuid>,
    /// Uses: the lines, adding up to the amount.
    #[schema(value_type = Option<Vec<UseLine>>)]
    pub lines: Option<serde_json::Value>,
    /// The journal entry that moved the money.
    pub entry_id: Uuid,
    /// Who.
    pub actor: String,
    /// The request that did it.
    pub request_id: String,
    /// When.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// What a stage's request answers: the movement and the item after it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MovementAnswer {
    /// The movements written (settlement may write a return and a release, or nothing).
    pub movements: Vec<MovementView>,
    /// The item after them.
    pub item: ItemView,
}

/// A disbursement, validated.
#[derive(Debug)]
pub struct Disburse {
    /// How much.
    pub amount: Money,
    /// To whom.
    pub payee: String,
    /// How.
    pub method: String,
}

/// A use report, validated.
#[derive(Debug)]
pub struct ReportUse {
    /// How much.
    pub amount: Money,
    /// On what.
    pub description: String,
    /// The voucher number.
    pub voucher_no: Option<String>,
    /// The lines (adding up to `amount`), if given.
    pub lines: Option<Vec<UseLine>>,
}

/// The fund's audit stream (items' money is the fund's money).
fn stream(fund_id: Uuid) -> Stream {
    Stream::Fund(fund_id)
}

/// An item's view from its row and figures.
pub fn view(row: &ItemRow, f: &ItemFigures) -> Result<ItemView, Error> {
    Ok(ItemView {
        id: row.id,
        fund_id: row.fund_id,
        org_id: row.org_id,
        origin_type: row.origin_type.clone(),
        origin_id: row.origin_id,
        stage: f.stage(),
        approved_amount: money(row.approved_amount)?,
        allocated: money(f.allocated)?,
        disbursed: money(f.disbursed)?,
        used: money(f.used)?,
        returned: money(f.returned)?,
        released: money(f.released)?,
        carried: money(f.carried)?,
        undisbursed: money(f.allocated - f.disbursed - f.released)?,
        unused: money(f.disbursed - f.used - f.returned - f.carried)?,
        settled_at: row.settled_at,
        version: row.version,
        created_at: row.created_at,
    })
}

fn movement_view(r: MovementRow) -> Result<MovementView, Error> {
    let kind = MovementKind::parse(&r.kind).ok_or_else(|| Error::internal("bad movement kind"))?;
    let lines = r.lines_json.as_deref().map(serde_json::from_str).transpose().map_err(Error::internal)?;
    Ok(MovementView {
        id: r.id,
        kind,
        stage: kind.stage(),
        amount: money(r.amount)?,
        payee: r.payee,
        method: r.method,
        description: r.description,
        voucher_no: r.voucher_no,
        carried_to: r.carried_to,
        lines,
        entry_id: r.entry_id,
        actor: r.actor,
        request_id: r.request_id,
        created_at: r.created_at,
    })
}

/// Reads an item the caller may see (another organisation's is "not found").
fn visible(conn: &mut Db<'_>, scope: Scope, id: Uuid) -> Result<ItemRow, Error> {
    let row = db::items::find(conn, id)?;
    if scope.sees(row.org_id) { Ok(row) } else { Err(Error::NotFound) }
}

/// The stage of each of these items (two queries, whatever their number).
pub fn stages_of(conn: &mut Db<'_>, ids: &[Uuid]) -> Result<std::collections::HashMap<Uuid, ItemStage>, Error> {
    let rows = db::items::find_many(conn, ids)?;
    let figures = db::items::figures_of(conn, &rows.iter().collect::<Vec<_>>())?;
    Ok(figures.into_iter().map(|(id, f)| (id, f.stage())).collect())
}

/// 404 unless the caller's scope sees the item. For handlers that must answer it before they
/// read the body; the write checks it again under its lock.
pub async fn ensure_visible(pool: &Pool, scope: Scope, id: Uuid) -> Result<(), Error> {
    if scope == Scope::All {
        return Ok(());
    }
    super::read(pool, move |conn| visible(conn, scope, id).map(|_| ())).await
}

/// One item.
pub async fn get(pool: &Pool, scope: Scope, id: Uuid) -> Result<ItemView, Error> {
    super::read(pool, move |conn| {
        let row = visible(conn, scope, id)?;
        let f = db::items::figures(conn, &row)?;
        view(&row, &f)
    })
    .await
}

/// A page of items (a clerk: its own organisation's).
pub async fn list(pool: &Pool, scope: Scope, fund_id: Option<Uuid>, page: Page) -> Result<Listed<ItemView>, Error> {
    let after = page.uuid_cursor()?;
    let org = scope.org();
    super::read(pool, move |conn| {
        let rows = db::items::list(conn, org, fund_id, after, page.fetch())?;
        let figures = db::items::figures_of(conn, &rows.iter().collect::<Vec<_>>())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| (figures.get(&r.id).copied(), r));
        let items = listed
            .items
            .into_iter()
            .map(|(f, r)| view(&r, &f.ok_or_else(|| Error::internal("item figures missing"))?))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

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
    super::books::ensure_fund_open(tx, fund_id)?;
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

pub(crate) fn movement(tx: &Tx<'_>, item: Uuid, kind: MovementKind, amount: Decimal) -> MovementRow {
    MovementRow {
        id: Uuid::now_v7(),
        item_id: item,
        kind: kind.as_str().into(),
        amount,
        payee: None,
        method: None,
        description: None,
        voucher_no: None,
        lines_json: None,
        entry_id: Uuid::nil(),
        actor: tx.ctx().actor(),
        request_id: tx.ctx().request_id.clone(),
        created_at: tx.ctx().now,
        carried_to: None,
    }
}

/// Writes one batch stage for many items: one journal entry for the total (cited by every
/// movement), the movements, the items' new versions, and an audit event per item.
pub(crate) fn post_batch(
    tx: &mut Tx<'_>,
    (entity_type, entity_id): (&'static str, Uuid),
    fund_id: Uuid,
    entry: &JournalEntry,
    moves: Vec<(Uuid, Uuid, MovementRow)>,
    action: &'static str,
    stage: &'static str,
) -> Result<Uuid, Error> {
    let entry_id = tx.post(entry, Some(fund_id), entity_type, entity_id)?;
    let mut rows = Vec::with_capacity(moves.len());
    for (item, org, mut m) in moves {
        m.entry_id = entry_id;
        tx.record(Event {
            org_id: Some(org),
            fund_id: Some(fund_id),
            stage: Some(stage),
            amount: Some(m.amount),
            entry_id: Some(entry_id),
            after: Some(
                serde_json::json!({"movement": m.id, "kind": m.kind, "batch": {"type": entity_type, "id": entity_id}}),
            ),
            ..Event::new(stream(fund_id), action, "item", item)
        });
        rows.push(m);
    }
    let ids: Vec<Uuid> = rows.iter().map(|m| m.item_id).collect();
    db::items::insert_movements(tx, &rows)?;
    let now = tx.ctx().now;
    db::items::touch_many(tx, &ids, now)?;
    Ok(entry_id)
}

/// A transfer of a batch's total between two accounts of one fund.
pub(crate) fn batch_transfer(
    kind: &str,
    memo: &str,
    fund: Uuid,
    from: &str,
    to: &str,
    amount: Decimal,
) -> Result<JournalEntry, Error> {
    let amount = Money::from_decimal(amount).map_err(|_| Error::internal(format!("batch total {amount}")))?;
    Ok(JournalEntry::transfer(kind, memo, AccountRef::of_fund(fund, from), AccountRef::of_fund(fund, to), amount)?)
}

/// What the fund has available to allocate, once its required local matching is in place (409
/// `matching_not_in_place` until it is). Read under the fund's lock.
pub fn allocatable(conn: &mut Db<'_>, fund_id: Uuid) -> Result<Decimal, Error> {
    let matching = super::funds::matching(conn, fund_id)?;
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
    id: Uuid,
    amount: Money,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
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
    id: Uuid,
    cmd: Disburse,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
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
    id: Uuid,
    cmd: ReportUse,
) -> Result<Stored, Error> {
    let lines_json = cmd.lines.as_ref().map(serde_json::to_string).transpose().map_err(Error::internal)?;
    super::write(pool, ctx, idem, move |tx| {
        run_stage(tx, scope, if_match.as_deref(), id, |tx, row, f| {
            let entry = f.record_use(row.fund_id, cmd.amount)?;
            let vouchers = vouchers_of(&cmd);
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

/// The voucher numbers of a use report: its own and its lines'.
fn vouchers_of(cmd: &ReportUse) -> Vec<String> {
    let lines = cmd.lines.iter().flatten().filter_map(|l| l.voucher_no.clone());
    cmd.voucher_no.clone().into_iter().chain(lines).collect()
}

/// Stage 4: returns the unused money (or, with `carry_over_to`, carries it over to next year's
/// fund of the same kind), releases the undisbursed, and closes the item for good.
#[tracing::instrument(skip_all, fields(item.id = %id))]
pub async fn settle(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: Uuid,
    carry_over_to: Option<Uuid>,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
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

/// One stage of the trace.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceStage {
    /// The stage.
    pub stage: MoneyStage,
    /// The stage's total (for settlement: returned + released).
    pub total: Money,
    /// Its movements, oldest first, with who, when and which entry.
    pub movements: Vec<MovementView>,
}

/// One reconciliation check of an item.
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceCheck {
    /// What is compared.
    pub description: &'static str,
    /// Whether it holds.
    pub passed: bool,
    /// The two sides.
    pub left: Money,
    /// The other side.
    pub right: Money,
}

/// An item from allocation to settlement, with its reconciliation (DOMAIN.md, "Audit trail":
/// "a trace of one item from allocation to settlement with its reconciliation").
#[derive(Debug, Serialize, ToSchema)]
pub struct TraceView {
    /// The item.
    pub item: ItemView,
    /// The four stages, in order.
    pub stages: Vec<TraceStage>,
    /// The net effect of the item's journal entries on each fund account (debit positive).
    /// Keyed by account code; each a signed amount string, e.g. `"-1200.00"`.
    #[schema(value_type = std::collections::BTreeMap<String, String>)]
    pub ledger: serde_json::Map<String, serde_json::Value>,
    /// The checks.
    pub checks: Vec<TraceCheck>,
    /// Whether every check passed.
    pub reconciles: bool,
}

fn check(description: &'static str, left: Decimal, right: Decimal) -> Result<TraceCheck, Error> {
    compare(description, left == right, left, right)
}

fn compare(description: &'static str, passed: bool, left: Decimal, right: Decimal) -> Result<TraceCheck, Error> {
    // A figure gone negative (a broken ledger) is shown by its size; `passed` says it failed.
    Ok(TraceCheck { description, passed, left: money(left.abs())?, right: money(right.abs())? })
}

/// The trace of one item.
pub async fn trace(pool: &Pool, scope: Scope, id: Uuid) -> Result<TraceView, Error> {
    super::read(pool, move |conn| {
        let row = visible(conn, scope, id)?;
        let f = db::items::figures(conn, &row)?;
        let ledger = db::items::ledger_by_account(conn, id, row.fund_id)?;
        let movements = db::items::movements(conn, id)?;
        let bal = |code: &str| ledger.iter().find(|(c, _)| c == code).map_or(Decimal::ZERO, |(_, v)| *v);
        let mut stages = Vec::new();
        for stage in MoneyStage::ALL {
            let mine: Vec<MovementView> = movements
                .iter()
                .filter(|m| MovementKind::parse(&m.kind).is_some_and(|k| k.stage() == stage))
                .cloned()
                .map(movement_view)
                .collect::<Result<_, _>>()?;
            // Reversals (payments the bank failed or sent back) count against the disbursements.
            let total: Decimal = mine
                .iter()
                .map(|m| if m.kind == MovementKind::Reversal { -m.amount.as_decimal() } else { m.amount.as_decimal() })
                .sum();
            stages.push(TraceStage { stage, total: money(total)?, movements: mine });
        }
        let mut entry_ids: Vec<Uuid> = movements.iter().map(|m| m.entry_id).collect();
        entry_ids.dedup();
        let entries = db::items::entry_totals(conn, &entry_ids)?;
        let debits: Decimal = entries.iter().map(|e| e.debits).sum();
        let moved: Decimal = entries.iter().map(|e| e.moved).sum();
        let mut checks = vec![
            compare("used ≤ disbursed", f.used <= f.disbursed, f.used, f.disbursed)?,
            compare("disbursed ≤ allocated", f.disbursed <= f.allocated, f.disbursed, f.allocated)?,
            compare("allocated ≤ approved", f.allocated <= f.approved, f.allocated, f.approved)?,
            compare(
                "ledger: each journal entry moved exactly what the movements citing it record",
                entries.len() == entry_ids.len() && entries.iter().all(|e| e.debits == e.moved),
                debits,
                moved,
            )?,
        ];
        // Entries of the item's own (not shared with a campaign batch) are also read account by
        // account.
        let own = entries.iter().all(|e| e.entity_id == id);
        if own {
            checks.extend(ledger_checks(&f, &bal)?);
        }
        if f.settled {
            checks.push(check("settled: allocated = disbursed + released", f.allocated, f.disbursed + f.released)?);
            checks.push(check(
                "settled: disbursed = used + returned + carried over",
                f.disbursed,
                f.used + f.returned + f.carried,
            )?);
        }
        let reconciles = checks.iter().all(|c| c.passed);
        let ledger = ledger.into_iter().map(|(c, v)| (c, serde_json::Value::String(v.to_string()))).collect();
        Ok(TraceView { item: view(&row, &f)?, stages, ledger, checks, reconciles })
    })
    .await
}

/// The item's figures against the fund accounts its own entries moved.
fn ledger_checks(f: &ItemFigures, bal: &dyn Fn(&str) -> Decimal) -> Result<Vec<TraceCheck>, Error> {
    Ok(vec![
        check("ledger: spent = used", bal(codes::SPENT), f.used)?,
        check(
            "ledger: paid out and unused = disbursed − used − returned",
            bal(codes::PAID_OUT),
            f.disbursed - f.used - f.returned,
        )?,
        check(
            "ledger: committed = allocated − disbursed − released",
            bal(codes::COMMITTED),
            f.allocated - f.disbursed - f.released,
        )?,
        check(
            "ledger: taken from available = allocated − returned − released",
            -bal(codes::AVAILABLE),
            f.allocated - f.returned - f.released,
        )?,
        check("ledger: returned memo = returned", bal(codes::RETURNED), f.returned)?,
    ])
}
