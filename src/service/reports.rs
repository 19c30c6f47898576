//! The reconciliation checks of a year (`GET /api/v1/reports/checks?year=`): each rule the books
//! must keep, whether it holds, and the figures behind the answer — for the funds-review
//! committee, and for the conclusion of the annual report.

use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::budgets::two_places;
use crate::db::Db;
use crate::db::{self, Pool};
use crate::domain::funds::FundKind;
use crate::error::Error;

/// One check.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// Stable code, e.g. `item_stages_reconcile`.
    pub code: &'static str,
    /// What is checked, in words.
    pub description: &'static str,
    /// Whether it holds.
    pub passed: bool,
    /// The figures behind the answer (how many were checked, how many fail, some of them).
    #[schema(value_type = Object)]
    pub figures: serde_json::Value,
}

/// A year's checks (API.md: `{year, items: [{code, description, passed, figures}]}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ChecksView {
    /// The year.
    pub year: i32,
    /// Every check, in a fixed order.
    pub items: Vec<Check>,
    /// How many fail.
    pub failed: usize,
}

fn from_breaches(code: &'static str, description: &'static str, (checked, bad): (i64, db::reports::Breaches)) -> Check {
    Check {
        code,
        description,
        passed: bad.count == 0,
        figures: json!({"checked": checked, "failing": bad.count, "sample": bad.sample}),
    }
}

/// Runs every check for `year` in one read-only snapshot, after extending the trail's
/// verification to the log's head (a run over only the events logged since the last one).
pub async fn checks(pool: &Pool, year: i32) -> Result<ChecksView, Error> {
    extend_verification(pool).await?;
    super::read(pool, move |conn| {
        conn.snapshot(|conn| {
            let items = run_checks(conn, year)?;
            let failed = items.iter().filter(|c| !c.passed).count();
            Ok(ChecksView { year, items, failed })
        })
    })
    .await
}

/// Every check for `year`, on the caller's connection (inside its snapshot).
pub fn run_checks(conn: &mut Db<'_>, year: i32) -> Result<Vec<Check>, Error> {
    let mut items = vec![
        from_breaches(
            "journal_entries_balance",
            "every journal entry of the year's funds has debits equal to credits",
            db::reports::unbalanced_entries(conn, year)?,
        ),
        from_breaches(
            "balances_equal_postings",
            "every account balance of the year's funds equals the sum of its postings",
            db::reports::drifted_balances(conn, year)?,
        ),
    ];
    // Items: stages in order and sums reconciling; each entry moved what its movements say.
    let rows = db::reports::items_of_year(conn, year)?;
    // By the items' ids (a join to the year's funds plans worse: 0.5 s against 0.3 s at 100,000).
    let figures = db::items::figures_of(conn, &rows.iter().collect::<Vec<_>>())?;
    let mut bad_items: Vec<String> =
        figures.iter().filter(|(_, f)| !f.reconciles()).map(|(id, _)| id.to_string()).collect();
    bad_items.sort();
    items.push(Check {
                code: "item_stages_reconcile",
                description: "every item: used ≤ disbursed ≤ allocated ≤ approved, and once settled allocated = disbursed + released and disbursed = used + returned + carried over",
                passed: bad_items.is_empty(),
                figures: json!({"checked": rows.len(), "failing": bad_items.len(), "sample": bad_items.iter().take(10).collect::<Vec<_>>()}),
            });
    let entries = db::reports::entries_of_year_items(conn, year)?;
    let totals = db::items::entry_totals(conn, &entries)?;
    let mut bad_entries: Vec<String> =
        totals.iter().filter(|t| t.debits != t.moved).map(|t| t.entry_id.to_string()).collect();
    if totals.len() != entries.len() {
        bad_entries.push("a movement cites a missing journal entry".into());
    }
    items.push(Check {
                code: "entries_match_movements",
                description: "every journal entry of an item stage moved exactly what the movements citing it record",
                passed: bad_entries.is_empty(),
                figures: json!({"checked": entries.len(), "failing": bad_entries.len(), "sample": bad_entries.iter().take(10).collect::<Vec<_>>()}),
            });
    // Funds: spending within budget; matching in place.
    let funds = db::funds::list(conn, Some(year), None, None, i64::MAX)?;
    let mut over = Vec::new();
    let mut unmatched = Vec::new();
    let mut per_fund = Vec::new();
    let projects = funds.into_iter().filter(|f| f.kind != FundKind::Basic.as_str()).collect();
    for v in super::funds::views_of(conn, projects)? {
        let limit = v.budget.as_decimal() + v.carried_in.as_decimal();
        if v.allocated.as_decimal() > limit {
            over.push(json!({"fund_id": v.id, "name": v.name, "allocated": v.allocated, "budget": v.budget, "carried_in": v.carried_in}));
        }
        if !v.matching_ok {
            unmatched.push(json!({"fund_id": v.id, "name": v.name, "required": v.matching_required, "provided": v.matching_provided}));
        }
        per_fund.push(
            json!({"fund_id": v.id, "name": v.name, "kind": v.kind, "budget": v.budget, "allocated": v.allocated}),
        );
    }
    items.push(Check {
                code: "spending_within_budget",
                description: "no project fund of the year has allocated more than its budget (plus what was carried in); basic lines are held to their budget by budget_execution_explained",
                passed: over.is_empty(),
                figures: json!({"funds": per_fund, "over": over}),
            });
    items.push(Check {
        code: "matching_in_place",
        description: "every fund fed by an upper allocation that requires local matching has received it",
        passed: unmatched.is_empty(),
        figures: json!({"missing": unmatched}),
    });
    items.push(from_breaches(
        "fee_splits_add_up",
        "every union-fee declaration of the year: remitted + retained = fee due",
        db::reports::broken_fee_splits(conn, year)?,
    ));
    let over = db::reports::over_remitted(conn, year)?;
    items.push(Check {
        code: "remittances_within_due",
        description: "no unit's month has more remitted to the federation (net of refunds) than its current declaration makes due; an excess, left by a correction downwards, is owed back by the upper level until a remittance refund settles it",
        passed: over.failing == 0,
        figures: json!({"checked": over.checked, "failing": over.failing,
            "remit_receivable": two_places(over.excess), "sample": over.sample}),
    });
    items.push(trail_check(conn)?);
    items.extend(budget_checks(conn, year)?);
    Ok(items)
}

/// Sequences what is waiting for the Merkle log, then extends the latest verification of the
/// trail to the log's head: only the events logged since, and the checkpoints signed since.
pub async fn extend_verification(pool: &Pool) -> Result<db::verification::VerificationRow, Error> {
    super::read(pool, |conn| {
        let now = super::now();
        db::log::sequence_all(conn, now, true)?;
        db::verification::extend(conn, now)
    })
    .await
}

/// The trail's check cites the latest verification (its tree, when, what it found) instead of
/// re-hashing the trail: a full pass is the auditors' `GET /api/v1/audit/verify`.
fn trail_check(conn: &mut Db<'_>) -> Result<Check, Error> {
    let log = db::log::head(conn)?;
    let latest = db::verification::latest(conn)?;
    let passed = latest.as_ref().map_or(log.size == 0, |v| v.ok);
    Ok(Check {
        code: "audit_chain_verifies",
        description: "the audit trail verifies as far as the Merkle log holds it: every hash, every chain link, every leaf and every signed checkpoint's root, extended run by run",
        passed,
        figures: json!({
            "log_tree_size": log.size,
            "verified_tree_size": latest.as_ref().map_or(0, |v| v.tree_size),
            "verified_root": latest.as_ref().map(|v| hex::encode(&v.root)),
            "verified_at": latest.as_ref().map(|v| v.verified_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            "checked": latest.as_ref().map_or(0, |v| v.checked),
            "first_broken": latest.as_ref().and_then(|v| {
                v.first_broken_seq.map(|seq| json!({"seq": seq, "reason": v.reason}))
            }),
        }),
    })
}

/// The checks on a year's budget lines: groups add up to their children and leaves to their
/// funds' budgets; and every line whose execution differs from its budget says why.
fn budget_checks(conn: &mut Db<'_>, year: i32) -> Result<Vec<Check>, Error> {
    let lines = super::budgets::year_lines(conn, year)?;
    let mut broken = Vec::new();
    for (line, f) in &lines {
        let (against, what) = match f.fund_budget {
            None => {
                let sum: rust_decimal::Decimal =
                    lines.iter().filter(|(c, _)| c.parent_id == Some(line.id)).map(|(c, _)| c.budget).sum();
                (sum, "children")
            }
            Some(budget) => (budget, "fund"),
        };
        if against != line.budget {
            broken.push(json!({"code": line.code, "name": line.name, "budget": two_places(line.budget), what: two_places(against)}));
        }
    }
    let mut unexplained = Vec::new();
    for (line, f) in &lines {
        if f.executed != line.budget && line.variance_explanation.trim().is_empty() {
            unexplained.push(json!({
                "code": line.code, "name": line.name, "budget": two_places(line.budget),
                "executed": two_places(f.executed), "difference": two_places(f.variance()),
            }));
        }
    }
    Ok(vec![
        Check {
            code: "budget_lines_add_up",
            description: "every group line's budget equals the sum of the lines under it, and every leaf's budget equals its fund's",
            passed: broken.is_empty(),
            figures: json!({"checked": lines.len(), "failing": broken.len(), "sample": broken.iter().take(10).collect::<Vec<_>>()}),
        },
        Check {
            code: "budget_execution_explained",
            description: "every budget line executed differently from its budget has a recorded explanation of the difference",
            passed: unexplained.is_empty(),
            figures: json!({"checked": lines.len(), "failing": unexplained.len(), "sample": unexplained.iter().take(10).collect::<Vec<_>>()}),
        },
    ])
}
