//! Basic expenditure: a basic line's spending, available → spent in the line's fund.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::lock_leaf;
use crate::db::budgets::ExpenditureRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::audit::Stream;
use crate::domain::budgets::{LineKind, check_spend};
use crate::domain::funds::Figures;
use crate::domain::ids::LineId;
use crate::domain::ledger::{AccountRef, JournalEntry, codes};
use crate::domain::money::Money;
use crate::error::Error;
use crate::service::{self, Listed, Page, stored_money as money};

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
    line_id: LineId,
    cmd: NewExpenditure,
) -> Result<Stored, Error> {
    let line_id = line_id.uuid();
    service::write(pool, ctx, idem, move |tx| {
        service::books::ensure_open(tx, year)?;
        let (line, fund) = match lock_leaf(tx, year, line_id, "line_id") {
            Err(Error::Validation(_)) => return Err(Error::NotFound),
            other => other?,
        };
        LineKind::parse(&line.kind).ok_or_else(|| Error::internal("bad line kind"))?.check_spent_directly()?;
        check_spend(cmd.amount, &Figures::from_balances(&db::funds::balances(tx.db(), fund.id)?))?;
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
    line_id: LineId,
    page: Page,
) -> Result<Listed<ExpenditureView>, Error> {
    let line_id = line_id.uuid();
    let after = page.uuid_cursor()?;
    service::read(pool, move |conn| {
        db::budgets::find_line(conn, year, line_id)?;
        let rows = db::budgets::expenditures(conn, line_id, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.iter().map(expenditure_view).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}
