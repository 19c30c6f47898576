//! Closed years (issue 16; the rules are `domain::books`): asking to close a year, closing it or
//! turning the request down, reading where each year stands — and `ensure_open`, the one check
//! every write dated in a year calls first.
//!
//! Serialisation with the close. Every write dated in a year takes the year's lock shared, first
//! of its business locks (lock order, `db::write` step 2: the year before organisations and
//! funds, years in ascending order), and holds it to commit; the close takes it exclusive. So a
//! close waits for the writes under way in its year, and the writes after it wait for the close
//! and then see the year closed. The trigger on journal_entries takes the same lock again (a
//! no-op for a write that holds it already) and refuses an entry of a closed year that is not
//! marked adjusting, whatever wrote it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Listed, Page, check_if_match, etag, stored_money as money};
use crate::db::Db;
use crate::db::books::{AdjustingEntryRow, AdjustingTotals, BookYearRow};
use crate::db::case_actors::CaseActorRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::approval::{CaseActor, Duty};
use crate::domain::audit::Stream;
use crate::domain::books::{self, Admission, BookAction, BookState, YearCase};
use crate::domain::money::Money;
use crate::error::Error;

/// The case type under which a year's close keeps its duties in `case_actors`.
const CASE_TYPE: &str = "book_year";

/// Checks that a write dated in `year` may go ahead: the year is open (or closing), or the write
/// is an adjusting entry a finance officer sent with its reason (`Adjusting-Reason`) and the year
/// is closed — then the write's journal entries are marked adjusting and its audit events say
/// so. 409 `period_closed` or `period_open` otherwise, 403 for an adjusting entry from anyone
/// but a finance officer. Call it first in the write, before any other business lock.
pub fn ensure_open(tx: &mut Tx<'_>, year: i32) -> Result<(), Error> {
    ensure_years_open(tx, [year])
}

/// `ensure_open` for a write dated in several years (a batch): all open, or — an adjusting
/// entry — all closed.
pub fn ensure_years_open(tx: &mut Tx<'_>, years: impl IntoIterator<Item = i32>) -> Result<(), Error> {
    let mut years: Vec<i32> = years.into_iter().collect();
    years.sort_unstable();
    years.dedup();
    let adjusting = tx.ctx().adjusting.clone();
    if adjusting.is_some() {
        let role =
            tx.ctx().caller.as_ref().map(|c| c.role).ok_or_else(|| Error::internal("adjusting without caller"))?;
        books::may_adjust(role)?;
    }
    let states = db::books::lock_shared(tx, &years)?
        .into_iter()
        .map(|(y, s)| Ok((y, BookState::parse(&s).ok_or_else(|| Error::internal(format!("{y}: bad book state")))?)))
        .collect::<Result<Vec<_>, Error>>()?;
    match (books::admit(&states, adjusting.as_ref())?, adjusting) {
        (Admission::Adjusting, Some(a)) => {
            db::books::mark_adjusting(tx, a.reason())?;
            tx.mark_adjusting(a.reason());
            Ok(())
        }
        (Admission::Adjusting, None) => Err(Error::internal("admitted as adjusting without a reason")),
        (Admission::Ordinary, _) => Ok(()),
    }
}

/// `ensure_open` for a write on a fund: dated in the fund's year. A fund that does not exist
/// passes: the write answers its own 404 or 422.
pub fn ensure_fund_open(tx: &mut Tx<'_>, fund_id: Uuid) -> Result<(), Error> {
    match db::books::fund_year(tx.db(), fund_id)? {
        Some(year) => ensure_open(tx, year),
        None => Ok(()),
    }
}

/// `ensure_open` for a write on a campaign: dated in its fund's year.
pub fn ensure_campaign_open(tx: &mut Tx<'_>, campaign_id: Uuid) -> Result<(), Error> {
    match db::books::campaign_year(tx.db(), campaign_id)? {
        Some(year) => ensure_open(tx, year),
        None => Ok(()),
    }
}

/// A year's adjusting entries in figures.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
pub struct AdjustingFigures {
    /// How many adjusting entries were posted in the year after it closed.
    pub entries: i64,
    /// What they moved: the sum of their debits.
    pub total: Money,
}

/// A year's books as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookYearView {
    /// The year.
    pub year: i32,
    /// `open` (also when never asked to close), `closing` (asked, not yet decided), `closed`.
    pub state: BookState,
    /// Why the close was asked for (the last request).
    pub reason: Option<String>,
    /// The finance officer who asked (the last request).
    pub requested_by: Option<Uuid>,
    /// When.
    pub requested_at: Option<DateTime<Utc>>,
    /// The leader who closed the year.
    pub closed_by: Option<Uuid>,
    /// When.
    pub closed_at: Option<DateTime<Utc>>,
    /// The leader who last turned a request down.
    pub rejected_by: Option<Uuid>,
    /// When.
    pub rejected_at: Option<DateTime<Utc>>,
    /// Why.
    pub rejection_reason: Option<String>,
    /// The adjusting entries posted in the year since it closed.
    pub adjusting: AdjustingFigures,
    /// The version `If-Match` names (0 for a year never asked to close).
    pub version: i32,
}

fn view(year: i32, row: Option<&BookYearRow>, totals: Option<&AdjustingTotals>) -> Result<BookYearView, Error> {
    let state = match row {
        Some(r) => BookState::parse(&r.state).ok_or_else(|| Error::internal(format!("{year}: bad book state")))?,
        None => BookState::Open,
    };
    let adjusting = match totals {
        Some(t) => AdjustingFigures { entries: t.entries, total: money(t.total)? },
        None => AdjustingFigures::default(),
    };
    Ok(BookYearView {
        year,
        state,
        reason: row.and_then(|r| r.reason.clone()),
        requested_by: row.and_then(|r| r.requested_by),
        requested_at: row.and_then(|r| r.requested_at),
        closed_by: row.and_then(|r| r.closed_by),
        closed_at: row.and_then(|r| r.closed_at),
        rejected_by: row.and_then(|r| r.rejected_by),
        rejected_at: row.and_then(|r| r.rejected_at),
        rejection_reason: row.and_then(|r| r.rejection_reason.clone()),
        adjusting,
        version: row.map_or(0, |r| r.version),
    })
}

fn load(conn: &mut Db<'_>, year: i32) -> Result<BookYearView, Error> {
    let row = db::books::find(conn, year)?;
    let totals = db::books::adjusting_totals(conn, &[year])?;
    view(year, row.as_ref(), totals.first())
}

/// Where a year's books stand, and the `ETag` an action on them names.
pub async fn get(pool: &Pool, year: i32) -> Result<(BookYearView, String), Error> {
    let v = super::read(pool, move |conn| load(conn, year)).await?;
    let tag = etag(v.version);
    Ok((v, tag))
}

/// A page of the years that have books or were asked to close, oldest first.
pub async fn list(pool: &Pool, page: Page) -> Result<Listed<BookYearView>, Error> {
    let after = page
        .cursor
        .as_deref()
        .map(|c| c.parse::<i32>().map_err(|_| Error::bad_request("cursor", "not a cursor from this list")))
        .transpose()?;
    super::read(pool, move |conn| {
        let years = db::books::years(conn, after, page.fetch())?;
        let listed = Listed::from_rows(years, &page, i32::to_string, |y| y);
        let rows = db::books::find_many(conn, &listed.items)?;
        let totals = db::books::adjusting_totals(conn, &listed.items)?;
        let items = listed
            .items
            .iter()
            .map(|y| view(*y, rows.iter().find(|r| r.year == *y), totals.iter().find(|t| t.year == *y)))
            .collect::<Result<_, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// An adjusting entry as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdjustingEntryView {
    /// The journal entry.
    pub entry_id: Uuid,
    /// Always true: the entry was posted in the year after it closed.
    pub adjusting: bool,
    /// The finance officer's reason.
    pub reason: String,
    /// What kind of movement (`fee_declaration`, `fee_payment`, `item_allocation`, …).
    pub kind: String,
    /// The entry's memo.
    pub memo: String,
    /// Its fund (of the year).
    pub fund_id: Uuid,
    /// What it moved money for.
    pub entity_type: String,
    /// Which one.
    pub entity_id: Uuid,
    /// What it moved: the sum of its debits.
    pub amount: Money,
    /// Who posted it.
    pub actor: String,
    /// Under which request (the same id is on its audit events).
    pub request_id: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

fn entry_view(r: AdjustingEntryRow) -> Result<AdjustingEntryView, Error> {
    Ok(AdjustingEntryView {
        entry_id: r.id,
        adjusting: true,
        reason: r.adjusting_reason,
        kind: r.kind,
        memo: r.memo,
        fund_id: r.fund_id,
        entity_type: r.entity_type,
        entity_id: r.entity_id,
        amount: money(r.amount)?,
        actor: r.actor,
        request_id: r.request_id,
        created_at: r.created_at,
    })
}

/// A page of a year's adjusting entries, oldest first.
pub async fn adjustments(pool: &Pool, year: i32, page: Page) -> Result<Listed<AdjustingEntryView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::books::adjusting_entries(conn, year, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.into_iter().map(entry_view).collect::<Result<_, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// Takes a year's books one step: asks to close them (a finance officer, with a reason), closes
/// them (a leader who did not ask), or turns the request down (a leader, with a reason). The
/// year's lock is taken exclusive first, so a close waits for the writes under way in the year.
#[tracing::instrument(skip_all, fields(year, action = %action))]
pub async fn act(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    year: i32,
    action: BookAction,
    reason: Option<String>,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        let caller = tx.ctx().caller.clone().ok_or_else(|| Error::internal("a year's close needs a caller"))?;
        db::books::lock_exclusive(tx, year)?;
        let existing = db::books::lock(tx, year)?;
        let history = match &existing {
            Some(r) => db::case_actors::of_case(tx.db(), r.id)?
                .into_iter()
                .map(|a| {
                    let duty = Duty::parse(&a.duty).ok_or_else(|| Error::internal(format!("{year}: bad duty")))?;
                    Ok(CaseActor { duty, actor: a.actor_id })
                })
                .collect::<Result<Vec<_>, Error>>()?,
            None => Vec::new(),
        };
        books::authorize(action, caller.subject, caller.role, &history)?;
        check_if_match(if_match.as_deref(), existing.as_ref().map_or(0, |r| r.version))?;
        let from = match &existing {
            Some(r) => BookState::parse(&r.state).ok_or_else(|| Error::internal(format!("{year}: bad book state")))?,
            None => BookState::Open,
        };
        let earlier_open = db::books::earlier_open(tx.db(), year)?;
        let case = YearCase { year, state: from, earlier_open: &earlier_open };
        let to = books::decide(&case, action, reason.as_deref())?;
        let reason = reason.map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        let now = tx.ctx().now;
        let is_new = existing.is_none();
        let mut row = existing.unwrap_or_else(|| BookYearRow {
            id: Uuid::now_v7(),
            year,
            state: BookState::Open.as_str().into(),
            reason: None,
            requested_by: None,
            requested_at: None,
            closed_by: None,
            closed_at: None,
            rejected_by: None,
            rejected_at: None,
            rejection_reason: None,
            version: 0,
            created_at: now,
            updated_at: now,
        });
        match action {
            BookAction::Close => {
                row.reason.clone_from(&reason);
                row.requested_by = Some(caller.subject);
                row.requested_at = Some(now);
            }
            BookAction::Approve => {
                row.closed_by = Some(caller.subject);
                row.closed_at = Some(now);
            }
            BookAction::Reject => {
                row.rejected_by = Some(caller.subject);
                row.rejected_at = Some(now);
                row.rejection_reason.clone_from(&reason);
            }
        }
        row.state = to.as_str().into();
        row.version += 1;
        row.updated_at = now;
        if is_new {
            db::books::insert(tx, &row)?;
        } else {
            db::books::update(tx, &row)?;
        }
        if let Some(duty) = action.duty() {
            let taken = CaseActorRow {
                case_id: row.id,
                case_type: CASE_TYPE.into(),
                actor_id: caller.subject,
                duty: duty.as_str().into(),
                first_at: now,
            };
            db::case_actors::record(tx, &taken)?;
        }
        let event_action = match action {
            BookAction::Close => "book_year.close_requested",
            BookAction::Approve => "book_year.closed",
            BookAction::Reject => "book_year.close_rejected",
        };
        let mut after = serde_json::json!({"year": year, "state": to.as_str(), "version": row.version});
        if let (Some(r), serde_json::Value::Object(map)) = (&reason, &mut after) {
            map.insert("reason".into(), r.clone().into());
        }
        tx.record(Event {
            before: Some(serde_json::json!({"state": from.as_str()})),
            after: Some(after),
            ..Event::new(Stream::Books(year), event_action, CASE_TYPE, row.id)
        });
        let body = load(tx.db(), year)?;
        Ok(Answer { status: 200, etag: Some(etag(row.version)), body })
    })
    .await
}
