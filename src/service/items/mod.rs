//! Items and their four stages (DOMAIN.md, "Earmarked money"): every stage locks the fund, then
//! the item, asks `domain::items` whether the movement is allowed, and writes the movement, its
//! journal entry and its audit event through the one write path. Concurrent stages of one item
//! (two disbursements at once) queue on those locks, and the second sees the first's money.

//!
//! Here the views and the reads; `stages` runs the four stages of one item, `batch` writes a
//! stage for many items at once (a campaign's bank batch, a formula allocation), `trace` follows
//! one item from allocation to settlement. A use report's rules are `domain::items`'.

mod batch;
mod stages;
mod trace;

pub(crate) use batch::{batch_transfer, movement, post_batch};
pub use stages::{allocatable, allocate, disburse, report_use, settle};
pub use trace::{TraceCheck, TraceStage, TraceView, trace};

pub use crate::domain::items::{ReportUse, UseLine};

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::Db;
use crate::db::items::{ItemRow, MovementRow};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::domain::ids::FundId;
use crate::domain::ids::ItemId;
use crate::domain::items::{ItemFigures, ItemStage, MoneyStage, MovementKind};
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::service::{self, Listed, Page, stored_money as money};

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
pub async fn ensure_visible(pool: &Pool, scope: Scope, id: ItemId) -> Result<(), Error> {
    let id = id.uuid();
    if scope == Scope::All {
        return Ok(());
    }
    service::read(pool, move |conn| visible(conn, scope, id).map(|_| ())).await
}

/// One item.
pub async fn get(pool: &Pool, scope: Scope, id: ItemId) -> Result<ItemView, Error> {
    let id = id.uuid();
    service::read(pool, move |conn| {
        let row = visible(conn, scope, id)?;
        let f = db::items::figures(conn, &row)?;
        view(&row, &f)
    })
    .await
}

/// A page of items (a clerk: its own organisation's).
pub async fn list(pool: &Pool, scope: Scope, fund_id: Option<FundId>, page: Page) -> Result<Listed<ItemView>, Error> {
    let fund_id = fund_id.map(FundId::uuid);
    let after = page.uuid_cursor()?;
    let org = scope.org();
    service::read(pool, move |conn| {
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
