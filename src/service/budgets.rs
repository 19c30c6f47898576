//! A year's budget (`/api/v1/budgets/{year}/…`): budget lines as a tree, the finance bureau's
//! appropriations against them, basic expenditure, and each line's execution — read from the
//! ledger, never kept beside it.
//!
//! - A `group` line sums its children; the check `budget_lines_add_up` proves that it does.
//! - A `basic` line (wages, goods and services, subsidies) gets a fund of kind `basic`, opened
//!   with the line: appropriations are the fund's sources, expenditure moves available → spent.
//! - A `project` line names the earmarked fund that carries it (union fees, hardship, grants).
//!
//! Execution of a leaf: a basic line's spending; a union-fee line's fees received; a hardship or
//! grant line's money paid out and not returned or carried over. A group executes its children.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::funds::{NewFund, NewSource};
use super::{Listed, Page, check_if_match, etag};
use crate::db::Db;
use crate::db::budgets::{AppropriationRow, AssetRow, ExpenditureRow, LineRow};
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::audit::Stream;
use crate::domain::funds::{Figures, FundKind, SourceKind};
use crate::domain::ledger::{AccountRef, JournalEntry, codes};
use crate::domain::money::Money;
use crate::domain::orgs::text_enum;
use crate::error::Error;

use super::stored_money as money;

/// What a budget line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Sums its children (合计, 基本支出, 项目支出).
    Group,
    /// Basic expenditure (工资福利支出, 一般商品和服务支出, 对个人和家庭的补助): a fund of its own.
    Basic,
    /// A project (项目支出): carried by an earmarked fund.
    Project,
}

text_enum!(LineKind { Group => "group", Basic => "basic", Project => "project" });

/// A line's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineFigures {
    /// The budget as adopted.
    pub budget: Decimal,
    /// Appropriated by the finance bureau.
    pub appropriated: Decimal,
    /// Executed (spent), from the ledger.
    pub executed: Decimal,
    /// A leaf's fund's budget, from the ledger (none for a group).
    pub fund_budget: Option<Decimal>,
}

impl LineFigures {
    fn add(&mut self, other: &LineFigures) {
        self.appropriated += other.appropriated;
        self.executed += other.executed;
    }

    /// Executed − budget.
    pub fn variance(&self) -> Decimal {
        self.executed - self.budget
    }

    /// Executed as a percentage of the budget, to two decimals (half away from zero); none
    /// when the budget is zero.
    pub fn rate(&self) -> Option<Decimal> {
        (!self.budget.is_zero()).then(|| {
            (self.executed * Decimal::ONE_HUNDRED / self.budget)
                .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        })
    }
}

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

/// Formats a decimal with two places.
pub fn two_places(d: Decimal) -> String {
    format!("{:.2}", d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
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

/// What a leaf's fund executed, by the fund's kind (see the module's head).
fn executed_by_fund(kind: &str, f: &Figures, fees_received: Option<&Decimal>) -> Decimal {
    match FundKind::parse(kind) {
        Some(FundKind::Basic) => f.used,
        Some(FundKind::UnionFee) => fees_received.copied().unwrap_or_default(),
        Some(FundKind::Hardship | FundKind::TownshipGrant) | None => f.disbursed - f.returned - f.carried_over,
    }
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
    let mut figures: HashMap<Uuid, LineFigures> = rows
        .iter()
        .map(|r| {
            let fund = r.fund_id.map(|id| (id, Figures::from_balances(balances.get(&id).unwrap_or(&empty))));
            let executed = match (&fund, r.fund_id.and_then(|id| kinds.get(&id))) {
                (Some((id, f)), Some(kind)) => executed_by_fund(kind, f, received.get(id)),
                _ => Decimal::ZERO,
            };
            let own = LineFigures {
                budget: r.budget,
                appropriated: appropriated.get(&r.id).copied().unwrap_or_default(),
                executed,
                fund_budget: fund.map(|(_, f)| f.budget),
            };
            (r.id, own)
        })
        .collect();
    // Roll leaves up into their groups: children are created after their parents, so walking
    // the lines newest first adds every subtree before its parent is added to its own parent.
    for r in rows.iter().rev() {
        if let (Some(parent), Some(own)) = (r.parent_id, figures.get(&r.id).copied())
            && let Some(p) = figures.get_mut(&parent)
        {
            p.add(&own);
        }
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let f = figures.get(&r.id).copied().unwrap_or_default();
            (r, f)
        })
        .collect())
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

fn stream(year: i32) -> Stream {
    Stream::Budget(year)
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
    super::write(pool, ctx, idem, move |tx| {
        super::books::ensure_open(tx, year)?;
        let org_id = tx.ctx().caller.as_ref().map(|c| c.org_id).ok_or_else(|| Error::internal("no caller"))?;
        // Lines of a year are serialised by a transaction-scoped lock on the year.
        db::budgets::lock_year(tx, year)?;
        if db::budgets::find_line_by_code(tx.db(), year, &cmd.code)?.is_some() {
            return Err(DomainError::conflict("duplicate_line", "the year already has a line with that code").into());
        }
        let parent_id = match &cmd.parent_code {
            None => None,
            Some(code) => match db::budgets::find_line_by_code(tx.db(), year, code)? {
                Some(p) if p.kind == "group" => Some(p.id),
                Some(_) => return Err(Error::invalid("parent_code", "only a group line has lines under it")),
                None => return Err(Error::invalid("parent_code", format!("{year} has no line {code}"))),
            },
        };
        let fund_id = match (cmd.kind, cmd.fund_id) {
            (LineKind::Group, None) => None,
            (LineKind::Group | LineKind::Basic, Some(_)) => {
                return Err(Error::invalid("fund_id", "only a project line names a fund (a basic line opens its own)"));
            }
            (LineKind::Project, None) => return Err(Error::invalid("fund_id", "a project line names its fund")),
            (LineKind::Project, Some(id)) => {
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
            (LineKind::Basic, None) => {
                let new = NewFund {
                    name: format!("{year}年基本支出·{}", cmd.name),
                    kind: FundKind::Basic,
                    year,
                    budget: cmd.budget,
                };
                Some(super::funds::open(tx, org_id, new)?.id)
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
    id: Uuid,
    changes: LineChanges,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
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
pub async fn get_line(pool: &Pool, year: i32, id: Uuid) -> Result<LineView, Error> {
    super::read(pool, move |conn| {
        let (row, f) = year_lines(conn, year)?.into_iter().find(|(r, _)| r.id == id).ok_or(Error::NotFound)?;
        line_view(&row, &f)
    })
    .await
}

/// A page of a year's lines with their execution, in creation order (parents first).
pub async fn list_lines(pool: &Pool, year: i32, page: Page) -> Result<Listed<LineView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let all = year_lines(conn, year)?;
        let rows: Vec<(LineRow, LineFigures)> =
            all.into_iter().filter(|(r, _)| after.is_none_or(|a| r.id > a)).take(page.fetch() as usize).collect();
        let listed = Listed::from_rows(rows, &page, |(r, _)| r.id.to_string(), |x| x);
        let items = listed.items.iter().map(|(r, f)| line_view(r, f)).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// An appropriation, validated in form.
#[derive(Debug)]
pub struct NewAppropriation {
    /// The leaf line it funds.
    pub line_id: Uuid,
    /// Amount.
    pub amount: Money,
    /// The bureau's document number, unique within the year.
    pub reference: String,
    /// When the money arrived.
    pub received_on: NaiveDate,
    /// `finance_appropriation` (the default) or `local_matching` (the city's matching money).
    pub source_kind: SourceKind,
    /// What it is.
    pub description: String,
}

/// An appropriation as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppropriationView {
    /// Id.
    pub id: Uuid,
    /// Year.
    pub year: i32,
    /// The line funded.
    pub line_id: Uuid,
    /// The fund that received it.
    pub fund_id: Uuid,
    /// The fund source it is.
    pub source_id: Uuid,
    /// Amount.
    pub amount: Money,
    /// The bureau's document number.
    #[schema(example = "沅财预〔2022〕17号")]
    pub reference: String,
    /// When the money arrived.
    pub received_on: NaiveDate,
    /// The journal entry.
    pub entry_id: Uuid,
    /// Recorded.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn appropriation_view(row: &AppropriationRow, fund_id: Uuid, entry_id: Uuid) -> Result<AppropriationView, Error> {
    Ok(AppropriationView {
        id: row.id,
        year: row.year,
        line_id: row.line_id,
        fund_id,
        source_id: row.source_id,
        amount: money(row.amount)?,
        reference: row.reference.clone(),
        received_on: row.received_on,
        entry_id,
        created_at: row.created_at,
    })
}

/// The leaf line and its fund, locked in lock order (fund, then line).
fn lock_leaf(tx: &mut Tx<'_>, year: i32, line_id: Uuid, field: &str) -> Result<(LineRow, db::funds::FundRow), Error> {
    let line = match db::budgets::find_line(tx.db(), year, line_id) {
        Err(Error::NotFound) => return Err(Error::invalid(field, format!("{year} has no such line"))),
        other => other?,
    };
    let fund_id =
        line.fund_id.ok_or_else(|| Error::invalid(field, "a group line holds no money: name one of its leaves"))?;
    let fund = db::funds::lock(tx, fund_id)?;
    let line = db::budgets::lock_line(tx, year, line_id)?;
    Ok((line, fund))
}

/// Records money the finance bureau appropriated against a leaf line: a source of the line's
/// fund. A reference already used in the year is 409 `duplicate_appropriation` (a true retry
/// carries the same `Idempotency-Key` and is answered from the store instead).
#[tracing::instrument(skip_all, fields(year))]
pub async fn appropriate(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    year: i32,
    cmd: NewAppropriation,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        super::books::ensure_open(tx, year)?;
        let (line, mut fund) = lock_leaf(tx, year, cmd.line_id, "line_id")?;
        if let Some(existing) = db::budgets::appropriation_by_reference(tx.db(), year, &cmd.reference)? {
            return Err(DomainError::conflict(
                "duplicate_appropriation",
                format!("that reference was already recorded, as appropriation {}", existing.id),
            )
            .into());
        }
        let source = super::funds::post_source(
            tx,
            &mut fund,
            NewSource {
                kind: cmd.source_kind,
                amount: cmd.amount,
                matching_ratio: None,
                description: format!("{} {}", cmd.reference, cmd.description).trim().to_owned(),
                reference: cmd.reference.clone(),
            },
        )?;
        let row = AppropriationRow {
            id: Uuid::now_v7(),
            year,
            line_id: line.id,
            source_id: source.id,
            amount: cmd.amount.as_decimal(),
            reference: cmd.reference,
            received_on: cmd.received_on,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::budgets::insert_appropriation(tx, &row)?;
        tx.record(Event {
            fund_id: Some(fund.id),
            amount: Some(row.amount),
            entry_id: Some(source.entry_id),
            after: Some(serde_json::json!({
                "line": line.code, "reference": row.reference, "received_on": row.received_on,
                "source_kind": source.kind,
            })),
            ..Event::new(stream(year), "budget.appropriation_received", "appropriation", row.id)
        });
        Ok(Answer { status: 201, etag: None, body: appropriation_view(&row, fund.id, source.entry_id)? })
    })
    .await
}

/// A page of a year's appropriations.
pub async fn list_appropriations(pool: &Pool, year: i32, page: Page) -> Result<Listed<AppropriationView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::budgets::appropriations(conn, year, after, page.fetch())?;
        let sources: Vec<Uuid> = rows.iter().map(|r| r.source_id).collect();
        let by_id: HashMap<Uuid, db::funds::SourceRow> =
            db::funds::sources_by_id(conn, &sources)?.into_iter().map(|s| (s.id, s)).collect();
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed
            .items
            .iter()
            .map(|r| {
                let s = by_id.get(&r.source_id).ok_or_else(|| Error::internal("appropriation without source"))?;
                appropriation_view(r, s.fund_id, s.entry_id)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// A basic expenditure, validated in form.
#[derive(Debug)]
pub struct NewExpenditure {
    /// Amount.
    pub amount: Money,
    /// What was paid for.
    pub description: String,
    /// The voucher's number, unique within the line's fund.
    pub voucher_no: Option<String>,
    /// When it was paid.
    pub spent_on: NaiveDate,
}

/// An expenditure as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpenditureView {
    /// Id.
    pub id: Uuid,
    /// The basic line.
    pub line_id: Uuid,
    /// Its fund.
    pub fund_id: Uuid,
    /// Amount.
    pub amount: Money,
    /// What was paid for.
    pub description: String,
    /// Voucher number.
    pub voucher_no: Option<String>,
    /// When it was paid.
    pub spent_on: NaiveDate,
    /// The journal entry.
    pub entry_id: Uuid,
    /// Recorded.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn expenditure_view(r: &ExpenditureRow) -> Result<ExpenditureView, Error> {
    Ok(ExpenditureView {
        id: r.id,
        line_id: r.line_id,
        fund_id: r.fund_id,
        amount: money(r.amount)?,
        description: r.description.clone(),
        voucher_no: r.voucher_no.clone(),
        spent_on: r.spent_on,
        entry_id: r.entry_id,
        created_at: r.created_at,
    })
}

/// Records basic expenditure against a basic line (finance officer): available → spent in the
/// line's fund. Only money received may be spent (409 `insufficient_funds`); spending beyond
/// the budget is possible when appropriations exceed it, and the checks then ask for the
/// variance's explanation.
#[tracing::instrument(skip_all, fields(year, line.id = %line_id))]
pub async fn spend(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    year: i32,
    line_id: Uuid,
    cmd: NewExpenditure,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        super::books::ensure_open(tx, year)?;
        let (line, fund) = match lock_leaf(tx, year, line_id, "line_id") {
            Err(Error::Validation(_)) => return Err(Error::NotFound),
            other => other?,
        };
        if line.kind != LineKind::Basic.as_str() {
            return Err(DomainError::conflict(
                "not_a_basic_line",
                "only basic lines are spent directly; a project's money moves through its items",
            )
            .into());
        }
        let f = Figures::from_balances(&db::funds::balances(tx.db(), fund.id)?);
        let unspent = f.funded - f.used;
        if cmd.amount.as_decimal() > unspent {
            return Err(DomainError::conflict(
                "insufficient_funds",
                format!("{} was received and not yet spent on this line", two_places(unspent)),
            )
            .into());
        }
        if let Some(v) = &cmd.voucher_no
            && db::budgets::voucher_used(tx.db(), fund.id, v)?
        {
            return Err(DomainError::conflict("duplicate_voucher", "that voucher number was already recorded").into());
        }
        let id = Uuid::now_v7();
        let entry = JournalEntry::transfer(
            "basic_expenditure",
            cmd.description.clone(),
            AccountRef::of_fund(fund.id, codes::AVAILABLE),
            AccountRef::of_fund(fund.id, codes::SPENT),
            cmd.amount,
        )?;
        let entry_id = tx.post(&entry, Some(fund.id), "line_expenditure", id)?;
        let row = ExpenditureRow {
            id,
            line_id: line.id,
            fund_id: fund.id,
            amount: cmd.amount.as_decimal(),
            description: cmd.description,
            voucher_no: cmd.voucher_no,
            spent_on: cmd.spent_on,
            entry_id,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::budgets::insert_expenditure(tx, &row)?;
        tx.record(Event {
            fund_id: Some(fund.id),
            org_id: Some(fund.org_id),
            amount: Some(row.amount),
            entry_id: Some(entry_id),
            after: Some(serde_json::json!({
                "line": line.code, "description": row.description, "voucher_no": row.voucher_no,
                "spent_on": row.spent_on,
            })),
            ..Event::new(Stream::Fund(fund.id), "budget.expenditure_recorded", "line_expenditure", id)
        });
        Ok(Answer { status: 201, etag: None, body: expenditure_view(&row)? })
    })
    .await
}

/// A page of a line's expenditures.
pub async fn list_expenditures(
    pool: &Pool,
    year: i32,
    line_id: Uuid,
    page: Page,
) -> Result<Listed<ExpenditureView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        db::budgets::find_line(conn, year, line_id)?;
        let rows = db::budgets::expenditures(conn, line_id, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.iter().map(expenditure_view).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// What kind of fixed asset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssetCategory {
    /// 车辆
    Vehicle,
    /// 电脑
    Computer,
    /// 复印机
    Copier,
    /// 打印机
    Printer,
    /// 家具
    Furniture,
    /// 其他
    Other,
}

text_enum!(AssetCategory {
    Vehicle => "vehicle",
    Computer => "computer",
    Copier => "copier",
    Printer => "printer",
    Furniture => "furniture",
    Other => "other",
});

impl AssetCategory {
    /// The category's name in the annual report.
    pub fn name_zh(self) -> &'static str {
        match self {
            Self::Vehicle => "车辆",
            Self::Computer => "电脑",
            Self::Copier => "复印机",
            Self::Printer => "打印机",
            Self::Furniture => "家具",
            Self::Other => "其他",
        }
    }

    /// How the report counts them: 辆 for vehicles, 台 for the rest.
    pub fn counter(self) -> &'static str {
        if self == Self::Vehicle { "辆" } else { "台" }
    }

    /// Every category, in the report's order.
    pub const ALL: [AssetCategory; 6] =
        [Self::Vehicle, Self::Computer, Self::Copier, Self::Printer, Self::Furniture, Self::Other];
}

/// A fixed asset, validated in form.
#[derive(Debug)]
pub struct NewAsset {
    /// Category.
    pub category: AssetCategory,
    /// Name.
    pub name: String,
    /// How many.
    pub quantity: i32,
    /// Their value together.
    pub value: Money,
    /// When acquired.
    pub acquired_on: NaiveDate,
}

/// A fixed asset as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetView {
    /// Id.
    pub id: Uuid,
    /// The organisation that holds it.
    pub org_id: Uuid,
    /// Category.
    pub category: AssetCategory,
    /// Name.
    pub name: String,
    /// How many.
    pub quantity: i32,
    /// Their value together.
    pub value: Money,
    /// When acquired.
    pub acquired_on: NaiveDate,
    /// Recorded.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn asset_view(r: &AssetRow) -> Result<AssetView, Error> {
    Ok(AssetView {
        id: r.id,
        org_id: r.org_id,
        category: AssetCategory::parse(&r.category).ok_or_else(|| Error::internal("bad asset category"))?,
        name: r.name.clone(),
        quantity: r.quantity,
        value: money(r.value)?,
        acquired_on: r.acquired_on,
        created_at: r.created_at,
    })
}

/// Records a fixed asset of the caller's organisation (finance officer).
pub async fn record_asset(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: NewAsset,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        let org_id = tx.ctx().caller.as_ref().map(|c| c.org_id).ok_or_else(|| Error::internal("no caller"))?;
        let row = AssetRow {
            id: Uuid::now_v7(),
            org_id,
            category: cmd.category.as_str().into(),
            name: cmd.name,
            quantity: cmd.quantity,
            value: cmd.value.as_decimal(),
            acquired_on: cmd.acquired_on,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::budgets::insert_asset(tx, &row)?;
        tx.record(Event {
            org_id: Some(org_id),
            amount: Some(row.value),
            after: Some(serde_json::json!({
                "category": row.category, "name": row.name, "quantity": row.quantity, "acquired_on": row.acquired_on,
            })),
            ..Event::new(Stream::Org(org_id), "fixed_asset.recorded", "fixed_asset", row.id)
        });
        Ok(Answer { status: 201, etag: None, body: asset_view(&row)? })
    })
    .await
}

/// A page of fixed assets; `held_on` keeps those acquired by that day.
pub async fn list_assets(pool: &Pool, held_on: Option<NaiveDate>, page: Page) -> Result<Listed<AssetView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::budgets::assets(conn, held_on, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.iter().map(asset_view).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn rate_rounds_half_away_from_zero_and_is_absent_without_a_budget() {
        let f =
            LineFigures { budget: d("3886200.00"), appropriated: d("0"), executed: d("4978030.00"), fund_budget: None };
        assert_eq!(f.rate().map(two_places).as_deref(), Some("128.10"));
        assert_eq!(two_places(f.variance()), "1091830.00");
        let f = LineFigures { budget: d("3.00"), appropriated: d("0"), executed: d("2.00"), fund_budget: None };
        assert_eq!(f.rate().map(two_places).as_deref(), Some("66.67"));
        assert_eq!(LineFigures { budget: Decimal::ZERO, ..f }.rate(), None);
    }

    #[test]
    fn line_kinds_round_trip() {
        for k in [LineKind::Group, LineKind::Basic, LineKind::Project] {
            assert_eq!(LineKind::parse(k.as_str()), Some(k));
        }
        for c in AssetCategory::ALL {
            assert_eq!(AssetCategory::parse(c.as_str()), Some(c));
        }
    }
}
