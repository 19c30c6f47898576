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
//! Those rules, the rollup and the execution rate are `domain::budgets`'; this module loads,
//! locks and writes: `lines` (the tree and its figures), `appropriations`, `expenditures` and
//! `assets` (fixed assets, for the annual report).

mod appropriations;
mod assets;
mod expenditures;
mod lines;

pub use appropriations::{AppropriationView, NewAppropriation, appropriate, list_appropriations};
pub use assets::{AssetView, NewAsset, list_assets, record_asset};
pub use expenditures::{ExpenditureView, NewExpenditure, list_expenditures, spend};
pub use lines::{LineChanges, LineView, NewLine, create_line, get_line, list_lines, update_line, year_lines};

pub use crate::domain::budgets::{AssetCategory, LineFigures, LineKind, two_places};

use uuid::Uuid;

use crate::db;
use crate::db::budgets::LineRow;
use crate::db::write::Tx;
use crate::domain::audit::Stream;
use crate::error::Error;

/// A year's budget is one audit stream.
fn stream(year: i32) -> Stream {
    Stream::Budget(year)
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
