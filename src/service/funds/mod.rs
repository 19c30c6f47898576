//! Funds: the first resource on the money spine. A fund's budget and each of its sources are
//! journal entries with audit events; its balances are read from the ledger.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Listed, Page, check_if_match, etag};
use crate::db::Db;
use crate::db::funds::{FundRow, SourceRow};
use crate::db::write::{self, Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::audit::Stream;
use crate::domain::funds::{Figures, FundKind, Matching, SourceKind};
use crate::domain::ledger::{AccountRef, JournalEntry, codes};
use crate::domain::money::{Money, Ratio, SignedMoney};
use crate::error::Error;

/// A fund with its derived balances (API.md: the shape other teams rely on).
#[derive(Debug, Serialize, ToSchema)]
pub struct FundView {
    /// Id.
    pub id: Uuid,
    /// Name.
    #[schema(example = "2022年帮扶基金")]
    pub name: String,
    /// Kind.
    pub kind: FundKind,
    /// Budget year.
    pub year: i32,
    /// The organisation that holds the fund.
    pub org_id: Uuid,
    /// The budget.
    pub budget: Money,
    /// Committed to items (disbursed or not; net of releases at settlement).
    pub allocated: Money,
    /// Paid out.
    pub disbursed: Money,
    /// Reported as used.
    pub used: Money,
    /// Unused money returned to the fund.
    pub returned: Money,
    /// Budget not yet committed. Negative when more was spent than budgeted (a basic line that
    /// received and spent in-year money with no budget): the books say so, they do not hide it.
    pub available: SignedMoney,
    /// Received from the fund's sources.
    pub funded: Money,
    /// Unused money carried over to next year's fund of the same kind at settlement.
    pub carried_over: Money,
    /// Money carried over into this fund from last year's (already part of `available`).
    pub carried_in: Money,
    /// Local matching required by upper allocations.
    pub matching_required: Money,
    /// Local matching provided.
    pub matching_provided: Money,
    /// Whether the matching rule holds.
    pub matching_ok: bool,
    /// Version (also the `ETag`).
    pub version: i32,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A source as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct SourceView {
    /// Id.
    pub id: Uuid,
    /// The fund.
    pub fund_id: Uuid,
    /// Kind.
    pub kind: SourceKind,
    /// Amount received.
    pub amount: Money,
    /// For upper allocations: the local matching required per yuan.
    pub matching_ratio: Option<Ratio>,
    /// What it is.
    pub description: String,
    /// The sender's document reference (unique within the fund).
    #[schema(example = "沅财预〔2022〕17号")]
    pub reference: String,
    /// The journal entry that recorded it.
    pub entry_id: Uuid,
    /// Recorded.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A new fund, validated.
#[derive(Debug)]
pub struct NewFund {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: FundKind,
    /// Year.
    pub year: i32,
    /// Budget.
    pub budget: Money,
}

/// Changes to a fund.
#[derive(Debug, Default)]
pub struct FundChanges {
    /// New name.
    pub name: Option<String>,
    /// New budget: the difference is posted; it may not fall below what is already committed.
    pub budget: Option<Money>,
}

/// A new source, validated.
#[derive(Debug)]
pub struct NewSource {
    /// Kind.
    pub kind: SourceKind,
    /// Amount (positive).
    pub amount: Money,
    /// Matching ratio (upper allocations only).
    pub matching_ratio: Option<Ratio>,
    /// Description.
    pub description: String,
    /// The sender's document reference: a second source with it in the same fund is a 409
    /// `duplicate_reference` (a retry under a new key, not new money).
    pub reference: String,
}

use super::stored_money as money;

fn source_of(r: &SourceRow) -> Result<(SourceKind, Money, Option<Ratio>), Error> {
    let kind = SourceKind::parse(&r.kind).ok_or_else(|| Error::internal("bad source kind"))?;
    let ratio = r.matching_ratio.map(Ratio::from_decimal).transpose().map_err(Error::internal)?;
    Ok((kind, money(r.amount)?, ratio))
}

fn view(row: FundRow, balances: &HashMap<String, Decimal>, sources: &[&SourceRow]) -> Result<FundView, Error> {
    let f = Figures::from_balances(balances);
    let matching = Matching::of(sources.iter().map(|s| source_of(s)).collect::<Result<Vec<_>, _>>()?)
        .ok_or_else(Error::out_of_range)?;
    Ok(FundView {
        id: row.id,
        name: row.name,
        kind: FundKind::parse(&row.kind).ok_or_else(|| Error::internal("bad fund kind"))?,
        year: row.year,
        org_id: row.org_id,
        budget: money(f.budget)?,
        allocated: money(f.allocated)?,
        disbursed: money(f.disbursed)?,
        used: money(f.used)?,
        returned: money(f.returned)?,
        available: super::stored_signed(f.available)?,
        funded: money(f.funded)?,
        carried_over: money(f.carried_over)?,
        carried_in: money(f.carried_in)?,
        matching_required: matching.required,
        matching_provided: matching.provided,
        matching_ok: matching.ok(),
        version: row.version,
        created_at: row.created_at,
    })
}

/// The matching figures of one fund, inside the open transaction.
pub fn matching(conn: &mut Db<'_>, fund_id: Uuid) -> Result<Matching, Error> {
    let sources = db::funds::sources_of(conn, &[fund_id])?;
    Matching::of(sources.iter().map(source_of).collect::<Result<Vec<_>, _>>()?).ok_or_else(Error::out_of_range)
}

/// The fund as it stands inside the open transaction.
pub fn load_view(conn: &mut Db<'_>, row: FundRow) -> Result<FundView, Error> {
    let balances = db::funds::balances(conn, row.id)?;
    let sources = db::funds::sources_of(conn, &[row.id])?;
    view(row, &balances, &sources.iter().collect::<Vec<_>>())
}

pub fn source_view(r: SourceRow) -> Result<SourceView, Error> {
    let (kind, amount, matching_ratio) = source_of(&r)?;
    Ok(SourceView {
        id: r.id,
        fund_id: r.fund_id,
        kind,
        amount,
        matching_ratio,
        description: r.description,
        reference: r.reference,
        entry_id: r.entry_id,
        created_at: r.created_at,
    })
}

fn stream(id: Uuid) -> Stream {
    Stream::Fund(id)
}

fn budget_entry(fund: Uuid, delta_up: bool, amount: Money) -> Result<JournalEntry, DomainError> {
    let (budget, available) = (AccountRef::of_fund(fund, codes::BUDGET), AccountRef::of_fund(fund, codes::AVAILABLE));
    if delta_up {
        JournalEntry::transfer("budget", "budget set", budget, available, amount)
    } else {
        JournalEntry::transfer("budget", "budget reduced", available, budget, amount)
    }
}

/// Posts a budget movement and records it.
fn post_budget(tx: &mut Tx<'_>, row: &FundRow, up: bool, amount: Money, action: &'static str) -> Result<(), Error> {
    let entry = budget_entry(row.id, up, amount)?;
    let entry_id = tx.post(&entry, Some(row.id), "fund", row.id)?;
    tx.record(Event {
        org_id: Some(row.org_id),
        fund_id: Some(row.id),
        amount: Some(amount.as_decimal()),
        entry_id: Some(entry_id),
        after: Some(serde_json::json!({"direction": if up { "increase" } else { "decrease" }})),
        ..Event::new(stream(row.id), action, "fund", row.id)
    });
    Ok(())
}

/// Creates a fund with its budget.
#[tracing::instrument(skip_all)]
pub async fn create(pool: &Pool, ctx: WriteCtx, idem: Option<Idempotency>, cmd: NewFund) -> Result<Stored, Error> {
    let pool = pool.clone();
    super::blocking(move || create_now(&pool, &ctx, idem.as_ref(), cmd)).await
}

/// Creates a fund on the calling thread.
pub fn create_now(pool: &Pool, ctx: &WriteCtx, idem: Option<&Idempotency>, cmd: NewFund) -> Result<Stored, Error> {
    let org_id = ctx.caller.as_ref().map(|c| c.org_id).ok_or_else(|| Error::internal("a fund needs an owner"))?;
    write::execute(pool, ctx, idem, |tx| {
        super::books::ensure_open(tx, cmd.year)?;
        let row = open(tx, org_id, cmd)?;
        let view = load_view(tx.db(), row)?;
        Ok(Answer { status: 201, etag: Some(etag(view.version)), body: view })
    })
}

/// Opens a fund inside a write: its row, its event, and its budget entry.
pub fn open(tx: &mut Tx<'_>, org_id: Uuid, cmd: NewFund) -> Result<FundRow, Error> {
    let row = FundRow {
        id: Uuid::now_v7(),
        name: cmd.name,
        kind: cmd.kind.as_str().into(),
        year: cmd.year,
        org_id,
        version: 1,
        created_at: tx.ctx().now,
        updated_at: tx.ctx().now,
    };
    db::funds::insert(tx, &row)?;
    tx.record(Event {
        org_id: Some(row.org_id),
        fund_id: Some(row.id),
        after: Some(serde_json::json!({"name": row.name, "kind": row.kind, "year": row.year})),
        ..Event::new(stream(row.id), "fund.created", "fund", row.id)
    });
    if !cmd.budget.is_zero() {
        post_budget(tx, &row, true, cmd.budget, "fund.budget_set")?;
    }
    Ok(row)
}

/// Renames a fund or changes its budget (If-Match required).
#[tracing::instrument(skip_all, fields(fund.id = %id))]
pub async fn update(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: Uuid,
    changes: FundChanges,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        super::books::ensure_fund_open(tx, id)?;
        let mut row = db::funds::lock(tx, id)?;
        check_if_match(if_match.as_deref(), row.version)?;
        if let Some(name) = changes.name {
            row.name = name;
        }
        if let Some(budget) = changes.budget {
            let figures = Figures::from_balances(&db::funds::balances(tx.db(), id)?);
            let current = money(figures.budget)?;
            if let Some(up) = budget.checked_sub(current).filter(|d| !d.is_zero()) {
                post_budget(tx, &row, true, up, "fund.budget_increased")?;
            } else if let Some(down) = current.checked_sub(budget).filter(|d| !d.is_zero()) {
                if down.as_decimal() > figures.available {
                    return Err(DomainError::conflict(
                        "over_allocation",
                        format!(
                            "the budget cannot fall below what is already committed ({} available)",
                            super::stored_signed(figures.available)?
                        ),
                    )
                    .into());
                }
                post_budget(tx, &row, false, down, "fund.budget_decreased")?;
            }
        }
        row.version += 1;
        row.updated_at = tx.ctx().now;
        db::funds::update(tx, &row)?;
        let view = load_view(tx.db(), row)?;
        Ok(Answer { status: 200, etag: Some(etag(view.version)), body: view })
    })
    .await
}

/// Records money received from a source (a journal entry: funding ← source).
/// `If-Match` is optional here: sources are added by systems that retry with an idempotency
/// key; when given, it must be current. The source's `reference` is unique within the fund.
#[tracing::instrument(skip_all, fields(fund.id = %fund_id))]
pub async fn add_source(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    fund_id: Uuid,
    cmd: NewSource,
) -> Result<Stored, Error> {
    let pool = pool.clone();
    super::blocking(move || add_source_now(&pool, &ctx, idem.as_ref(), if_match.as_deref(), fund_id, cmd)).await
}

/// Records a source on the calling thread.
pub fn add_source_now(
    pool: &Pool,
    ctx: &WriteCtx,
    idem: Option<&Idempotency>,
    if_match: Option<&str>,
    fund_id: Uuid,
    cmd: NewSource,
) -> Result<Stored, Error> {
    if cmd.amount.is_zero() {
        return Err(Error::invalid("amount", "must be more than zero"));
    }
    if cmd.matching_ratio.is_some() && cmd.kind != SourceKind::UpperAllocation {
        return Err(Error::invalid("matching_ratio", "only an upper_allocation can require matching"));
    }
    write::execute(pool, ctx, idem, |tx| {
        super::books::ensure_fund_open(tx, fund_id)?;
        let mut fund = db::funds::lock(tx, fund_id)?;
        if if_match.is_some() {
            check_if_match(if_match, fund.version)?;
        }
        let row = post_source(tx, &mut fund, cmd)?;
        Ok(Answer { status: 201, etag: None, body: source_view(row)? })
    })
}

/// Records money received from a source inside a write, on a fund the caller has locked:
/// the journal entry (funding ← source), the source row, a new version of the fund, the event.
pub fn post_source(tx: &mut Tx<'_>, fund: &mut FundRow, cmd: NewSource) -> Result<SourceRow, Error> {
    let fund_id = fund.id;
    // The fund is locked, so no other writer can record this reference between here and the insert
    // (the UNIQUE constraint refuses it anyway).
    if db::funds::source_by_reference(tx.db(), fund_id, &cmd.reference)?.is_some() {
        return Err(Error::duplicate_reference());
    }
    let entry = JournalEntry::transfer(
        "source",
        format!("{} received", cmd.kind),
        AccountRef::of_fund(fund_id, codes::source(cmd.kind.as_str())),
        AccountRef::of_fund(fund_id, codes::FUNDING),
        cmd.amount,
    )?;
    let id = Uuid::now_v7();
    let entry_id = tx.post(&entry, Some(fund_id), "fund_source", id)?;
    let row = SourceRow {
        id,
        fund_id,
        kind: cmd.kind.as_str().into(),
        amount: cmd.amount.as_decimal(),
        matching_ratio: cmd.matching_ratio.map(|r| r.as_decimal()),
        description: cmd.description,
        entry_id,
        created_at: tx.ctx().now,
        reference: cmd.reference,
    };
    db::funds::insert_source(tx, &row)?;
    fund.version += 1;
    fund.updated_at = tx.ctx().now;
    db::funds::update(tx, fund)?;
    tx.record(Event {
        org_id: Some(fund.org_id),
        fund_id: Some(fund_id),
        amount: Some(row.amount),
        entry_id: Some(entry_id),
        after: Some(serde_json::json!({"kind": row.kind, "reference": row.reference,
            "matching_ratio": row.matching_ratio.map(|r| r.normalize().to_string())})),
        ..Event::new(stream(fund_id), "fund.source_added", "fund_source", id)
    });
    Ok(row)
}

/// One fund with its balances.
pub async fn get(pool: &Pool, id: Uuid) -> Result<FundView, Error> {
    super::read(pool, move |conn| {
        let row = db::funds::find(conn, id)?;
        load_view(conn, row)
    })
    .await
}

/// A page of funds with their balances (three queries per page, not per fund).
pub async fn list(
    pool: &Pool,
    year: Option<i32>,
    kind: Option<FundKind>,
    page: Page,
) -> Result<Listed<FundView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::funds::list(conn, year, kind.map(FundKind::as_str), after, page.fetch())?;
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        let balances = db::funds::balances_of(conn, &ids)?;
        let sources = db::funds::sources_of(conn, &ids)?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let empty = HashMap::new();
        let items = listed
            .items
            .into_iter()
            .map(|r| {
                let own: Vec<&SourceRow> = sources.iter().filter(|s| s.fund_id == r.id).collect();
                let b = balances.get(&r.id).unwrap_or(&empty);
                view(r, b, &own)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// A page of a fund's sources.
pub async fn list_sources(pool: &Pool, fund_id: Uuid, page: Page) -> Result<Listed<SourceView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        db::funds::find(conn, fund_id)?;
        let rows = db::funds::sources(conn, fund_id, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.into_iter().map(source_view).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}
