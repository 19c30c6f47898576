//! Funds: the first resource on the money spine. A fund's budget and each of its sources are
//! journal entries with audit events; its balances are read from the ledger.
//!
//! What a fund answers, and its reads, are here; opening a fund and moving its budget in
//! `budget`; the money its sources bring in `sources`.

mod budget;
mod sources;

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub use self::budget::{FundChanges, NewFund, create, create_now, open, update};
pub use self::sources::{NewSource, add_source, add_source_now, post_source};
use super::stored_money as money;
use super::{Listed, Page};
use crate::db::Db;
use crate::db::funds::{FundRow, MatchingSource, SourceRow};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::domain::funds::{Figures, FundKind, Matching, SourceKind};
use crate::domain::ids::FundId;
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

fn source_of(r: &SourceRow) -> Result<(SourceKind, Money, Option<Ratio>), Error> {
    parts_of(&r.kind, r.amount, r.matching_ratio)
}

fn parts_of(kind: &str, amount: Decimal, ratio: Option<Decimal>) -> Result<(SourceKind, Money, Option<Ratio>), Error> {
    let kind = SourceKind::parse(kind).ok_or_else(|| Error::internal("bad source kind"))?;
    let ratio = ratio.map(Ratio::from_decimal).transpose().map_err(Error::internal)?;
    Ok((kind, money(amount)?, ratio))
}

fn matching_of<'a>(sources: impl IntoIterator<Item = &'a MatchingSource>) -> Result<Matching, Error> {
    let parts = sources.into_iter().map(|s| parts_of(&s.kind, s.amount, s.matching_ratio));
    Matching::of(parts.collect::<Result<Vec<_>, _>>()?).ok_or_else(Error::out_of_range)
}

fn view(row: FundRow, balances: &HashMap<String, Decimal>, matching: Matching) -> Result<FundView, Error> {
    let f = Figures::from_balances(balances);
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
    matching_of(&db::funds::matching_sources(conn, &[fund_id])?)
}

/// Funds with their balances and matching: three queries however many funds.
pub fn views_of(conn: &mut Db<'_>, rows: Vec<FundRow>) -> Result<Vec<FundView>, Error> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let balances = db::funds::balances_of(conn, &ids)?;
    let mut sources: HashMap<Uuid, Vec<MatchingSource>> = HashMap::new();
    for s in db::funds::matching_sources(conn, &ids)? {
        sources.entry(s.fund_id).or_default().push(s);
    }
    let empty = HashMap::new();
    rows.into_iter()
        .map(|r| {
            let matching = matching_of(sources.get(&r.id).into_iter().flatten())?;
            let b = balances.get(&r.id).unwrap_or(&empty);
            view(r, b, matching)
        })
        .collect()
}

/// The fund as it stands inside the open transaction.
pub fn load_view(conn: &mut Db<'_>, row: FundRow) -> Result<FundView, Error> {
    let balances = db::funds::balances(conn, row.id)?;
    let matching = matching(conn, row.id)?;
    view(row, &balances, matching)
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

/// One fund with its balances.
pub async fn get(pool: &Pool, id: FundId) -> Result<FundView, Error> {
    let id = id.uuid();
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
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        Ok(Listed { items: views_of(conn, listed.items)?, next_cursor: listed.next_cursor })
    })
    .await
}

/// A page of a fund's sources.
pub async fn list_sources(pool: &Pool, fund_id: FundId, page: Page) -> Result<Listed<SourceView>, Error> {
    let fund_id = fund_id.uuid();
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
