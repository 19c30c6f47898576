//! The trace of one item: every movement by stage, the item's net effect on the fund's
//! accounts, and whether it all reconciles.

use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{ItemView, MovementView, movement_view, view, visible};
use crate::db::{self, Pool};
use crate::domain::ids::ItemId;
use crate::domain::items::{ItemFigures, MoneyStage, MovementKind};
use crate::domain::ledger::codes;
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::service::{self, stored_money as money};

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
pub async fn trace(pool: &Pool, scope: Scope, id: ItemId) -> Result<TraceView, Error> {
    let id = id.uuid();
    service::read(pool, move |conn| {
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
