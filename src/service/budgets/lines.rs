//! Budget lines: the tree of a year's budget, each line with its figures from the ledger.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::stream;
use crate::db::Db;
use crate::db::budgets::LineRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::budgets::{LineFigures, LineFund, LineKind, LineNode, executed_by_fund, roll_up, two_places};
use crate::domain::funds::{Figures, FundKind};
use crate::domain::ids::LineId;
use crate::domain::money::Money;
use crate::error::Error;
use crate::service::funds::NewFund;
use crate::service::{self, Listed, Page, check_if_match, etag, stored_money as money};

/// A budget line with its execution.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    /// Id.
    pub id: Uuid,
    /// Year.
    pub year: i32,
    /// Code, unique within the year.
    #[schema(example = "basic_wages")]
    pub code: String,
    /// Name.
    #[schema(example = "工资福利支出")]
    pub name: String,
    /// Kind.
    pub kind: LineKind,
    /// The group line above it.
    pub parent_id: Option<Uuid>,
    /// The fund that holds a leaf's money.
    pub fund_id: Option<Uuid>,
    /// The budget as adopted.
    pub budget: Money,
    /// Appropriated by the finance bureau (a group: its children's).
    pub appropriated: Money,
    /// Executed, from the ledger (a group: its children's).
    pub executed: Money,
    /// Executed − budget (negative when under budget).
    #[schema(example = "1091830.00")]
    pub variance: String,
    /// Executed as a percentage of the budget, e.g. `"128.10"`; absent when the budget is zero.
    #[schema(example = "128.10")]
    pub execution_rate: Option<String>,
    /// Why execution differs from the budget (empty when nobody said).
    pub variance_explanation: String,
    /// Version (also the `ETag`).
    pub version: i32,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn line_view(row: &LineRow, f: &LineFigures) -> Result<LineView, Error> {
    Ok(LineView {
        id: row.id,
        year: row.year,
        code: row.code.clone(),
        name: row.name.clone(),
        kind: LineKind::parse(&row.kind).ok_or_else(|| Error::internal("bad line kind"))?,
        parent_id: row.parent_id,
        fund_id: row.fund_id,
        budget: money(row.budget)?,
        appropriated: money(f.appropriated)?,
        executed: money(f.executed)?,
        variance: two_places(f.variance()),
        execution_rate: f.rate().map(two_places),
        variance_explanation: row.variance_explanation.clone(),
        version: row.version,
        created_at: row.created_at,
    })
}

/// Every line of a year with its figures, in creation order (groups sum their subtrees).
pub fn year_lines(conn: &mut Db<'_>, year: i32) -> Result<Vec<(LineRow, LineFigures)>, Error> {
    let rows = db::budgets::lines(conn, year, None, i64::MAX)?;
    let fund_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.fund_id).collect();
    let balances = db::funds::balances_of(conn, &fund_ids)?;
    let received = db::budgets::fees_received(conn, &fund_ids)?;
    // A line's fund is of the line's year (create_line checks it): one query for their kinds.
    let kinds: HashMap<Uuid, String> =
        db::funds::list(conn, Some(year), None, None, i64::MAX)?.into_iter().map(|f| (f.id, f.kind)).collect();
    let appropriated = db::budgets::appropriated_by_line(conn, year)?;
    let empty = HashMap::new();
    let nodes: Vec<LineNode> = rows
        .iter()
        .map(|r| {
            let fund = r.fund_id.map(|id| (id, Figures::from_balances(balances.get(&id).unwrap_or(&empty))));
            let executed = match (&fund, r.fund_id.and_then(|id| kinds.get(&id))) {
                (Some((id, f)), Some(kind)) => executed_by_fund(FundKind::parse(kind), f, received.get(id).copied()),
                _ => Decimal::ZERO,
            };
            let own = LineFigures {
                budget: r.budget,
                appropriated: appropriated.get(&r.id).copied().unwrap_or_default(),
                executed,
                fund_budget: fund.map(|(_, f)| f.budget),
            };
            LineNode { id: r.id, parent: r.parent_id, own }
        })
        .collect();
    Ok(rows.into_iter().zip(roll_up(&nodes)).collect())
}

/// A new line, validated in form.
#[derive(Debug)]
pub struct NewLine {
    /// Code (`^[a-z][a-z0-9_]{0,39}$`).
    pub code: String,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: LineKind,
    /// The code of the group line above it.
    pub parent_code: Option<String>,
    /// Budget.
    pub budget: Money,
    /// A project line's fund.
    pub fund_id: Option<Uuid>,
}

/// The line's answer inside a write.
fn answer_line(tx: &mut Tx<'_>, row: &LineRow, status: u16) -> Result<Answer<LineView>, Error> {
    let f =
        year_lines(tx.db(), row.year)?.into_iter().find(|(r, _)| r.id == row.id).map(|(_, f)| f).unwrap_or_default();
    Ok(Answer { status, etag: Some(etag(row.version)), body: line_view(row, &f)? })
}

/// Adds a line to a year's budget (finance officer). A basic line opens its fund; a project
/// line names its fund (of the same year, not yet carried by another line).
#[tracing::instrument(skip_all, fields(year))]
pub async fn create_line(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    year: i32,
    cmd: NewLine,
) -> Result<Stored, Error> {
    service::write(pool, ctx, idem, move |tx| {
        service::books::ensure_open(tx, year)?;
        let org_id = tx.ctx().caller.as_ref().map(|c| c.org_id).ok_or_else(|| Error::internal("no caller"))?;
        // Lines of a year are serialised by a transaction-scoped lock on the year.
        db::budgets::lock_year(tx, year)?;
        if db::budgets::find_line_by_code(tx.db(), year, &cmd.code)?.is_some() {
            return Err(DomainError::conflict("duplicate_line", "the year already has a line with that code").into());
        }
        let parent_id = match &cmd.parent_code {
            None => None,
            Some(code) => match db::budgets::find_line_by_code(tx.db(), year, code)? {
                Some(p) if LineKind::parse(&p.kind).is_some_and(LineKind::holds_lines) => Some(p.id),
                Some(_) => return Err(Error::invalid("parent_code", "only a group line has lines under it")),
                None => return Err(Error::invalid("parent_code", format!("{year} has no line {code}"))),
            },
        };
        let fund_id = match cmd.kind.fund(cmd.fund_id)? {
            LineFund::None => None,
            LineFund::Names(id) => {
                let fund = match db::funds::lock(tx, id) {
                    Err(Error::NotFound) => return Err(Error::invalid("fund_id", "no such fund")),
                    other => other?,
                };
                if fund.year != year {
                    return Err(Error::invalid("fund_id", format!("the fund is of {}, not {year}", fund.year)));
                }
                if fund.kind == FundKind::Basic.as_str() {
                    return Err(Error::invalid("fund_id", "a basic fund belongs to its basic line"));
                }
                Some(fund.id)
            }
            LineFund::Opens => {
                let new = NewFund {
                    name: format!("{year}年基本支出·{}", cmd.name),
                    kind: FundKind::Basic,
                    year,
                    budget: cmd.budget,
                };
                Some(service::funds::open(tx, org_id, new)?.id)
            }
        };
        if let Some(id) = fund_id
            && db::budgets::fund_budgeted(tx.db(), id)?
        {
            return Err(DomainError::conflict("fund_already_budgeted", "another line already carries this fund").into());
        }
        let now = tx.ctx().now;
        let row = LineRow {
            id: Uuid::now_v7(),
            year,
            code: cmd.code,
            name: cmd.name,
            kind: cmd.kind.as_str().into(),
            parent_id,
            budget: cmd.budget.as_decimal(),
            fund_id,
            variance_explanation: String::new(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        db::budgets::insert_line(tx, &row)?;
        tx.record(Event {
            fund_id,
            amount: Some(row.budget),
            after: Some(serde_json::json!({
                "year": year, "code": row.code, "name": row.name, "kind": row.kind,
                "parent_id": row.parent_id, "fund_id": row.fund_id, "budget": row.budget,
            })),
            ..Event::new(stream(year), "budget_line.created", "budget_line", row.id)
        });
        answer_line(tx, &row, 201)
    })
    .await
}

/// Changes to a line: its name, and why its execution differs from its budget.
#[derive(Debug, Default)]
pub struct LineChanges {
    /// New name.
    pub name: Option<String>,
    /// The explanation of the variance (empty clears it).
    pub variance_explanation: Option<String>,
}

/// Renames a line or records why its execution differs from its budget (If-Match required).
#[tracing::instrument(skip_all, fields(year, line.id = %id))]
pub async fn update_line(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    year: i32,
    id: LineId,
    changes: LineChanges,
) -> Result<Stored, Error> {
    let id = id.uuid();
    service::write(pool, ctx, idem, move |tx| {
        let mut row = db::budgets::lock_line(tx, year, id)?;
        check_if_match(if_match.as_deref(), row.version)?;
        let before = serde_json::json!({"name": row.name, "variance_explanation": row.variance_explanation});
        if let Some(name) = changes.name {
            row.name = name;
        }
        if let Some(text) = changes.variance_explanation {
            row.variance_explanation = text;
        }
        row.version += 1;
        row.updated_at = tx.ctx().now;
        db::budgets::update_line(tx, &row)?;
        tx.record(Event {
            fund_id: row.fund_id,
            before: Some(before),
            after: Some(serde_json::json!({"name": row.name, "variance_explanation": row.variance_explanation})),
            ..Event::new(stream(year), "budget_line.updated", "budget_line", row.id)
        });
        answer_line(tx, &row, 200)
    })
    .await
}

/// One line of a year.
pub async fn get_line(pool: &Pool, year: i32, id: LineId) -> Result<LineView, Error> {
    let id = id.uuid();
    service::read(pool, move |conn| {
        let (row, f) = year_lines(conn, year)?.into_iter().find(|(r, _)| r.id == id).ok_or(Error::NotFound)?;
        line_view(&row, &f)
    })
    .await
}

/// A page of a year's lines with their execution, in creation order (parents first).
pub async fn list_lines(pool: &Pool, year: i32, page: Page) -> Result<Listed<LineView>, Error> {
    let after = page.uuid_cursor()?;
    service::read(pool, move |conn| {
        let all = year_lines(conn, year)?;
        let rows: Vec<(LineRow, LineFigures)> =
            all.into_iter().filter(|(r, _)| after.is_none_or(|a| r.id > a)).take(page.fetch() as usize).collect();
        let listed = Listed::from_rows(rows, &page, |(r, _)| r.id.to_string(), |x| x);
        let items = listed.items.iter().map(|(r, f)| line_view(r, f)).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}
