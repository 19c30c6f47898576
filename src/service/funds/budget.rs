//! Opening a fund with its budget, renaming it, and moving its budget (`domain::funds`'s
//! `budget_move` and `budget_entry`).

use uuid::Uuid;

use super::{load_view, money, stream};
use crate::db::funds::FundRow;
use crate::db::write::{self, Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::funds::{BudgetMove, Figures, FundKind, budget_entry, budget_move};
use crate::domain::ids::FundId;
use crate::domain::money::Money;
use crate::error::Error;
use crate::service::{check_if_match, etag};

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
    crate::service::blocking(move || create_now(&pool, &ctx, idem.as_ref(), cmd)).await
}

/// Creates a fund on the calling thread.
pub fn create_now(pool: &Pool, ctx: &WriteCtx, idem: Option<&Idempotency>, cmd: NewFund) -> Result<Stored, Error> {
    let org_id = ctx.caller.as_ref().map(|c| c.org_id).ok_or_else(|| Error::internal("a fund needs an owner"))?;
    write::execute(pool, ctx, idem, |tx| {
        crate::service::books::ensure_open(tx, cmd.year)?;
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
    id: FundId,
    changes: FundChanges,
) -> Result<Stored, Error> {
    let id = id.uuid();
    crate::service::write(pool, ctx, idem, move |tx| {
        crate::service::books::ensure_fund_open(tx, id)?;
        let mut row = db::funds::lock(tx, id)?;
        check_if_match(if_match.as_deref(), row.version)?;
        if let Some(name) = changes.name {
            row.name = name;
        }
        if let Some(budget) = changes.budget {
            let figures = Figures::from_balances(&db::funds::balances(tx.db(), id)?);
            let current = money(figures.budget)?;
            match budget_move(current, budget) {
                Some(BudgetMove::Up(up)) => post_budget(tx, &row, true, up, "fund.budget_increased")?,
                Some(BudgetMove::Down(down)) => {
                    if down.as_decimal() > figures.available {
                        return Err(DomainError::conflict(
                            "over_allocation",
                            format!(
                                "the budget cannot fall below what is already committed ({} available)",
                                crate::service::stored_signed(figures.available)?
                            ),
                        )
                        .into());
                    }
                    post_budget(tx, &row, false, down, "fund.budget_decreased")?;
                }
                None => {}
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
