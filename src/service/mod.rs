//! Use cases: one function each. They load and lock through `db`, ask `domain` whether the change
//! is allowed, and write through `db::write`. Database work runs on the blocking pool, never on
//! an HTTP worker thread.

pub mod audit;
pub mod auth;
pub mod books;
pub mod budgets;
pub mod campaigns;
pub mod cases;
pub mod csv_out;
pub mod demo;
pub mod fees;
pub mod funds;
pub mod grants;
pub mod hardship;
pub mod items;
pub mod limits;
pub mod log;
pub mod orgs;
pub mod performance;
pub mod personal_data;
pub mod reports;
pub mod users;
pub mod witness;
pub mod witnessing;

use crate::db::{Db, Pool};
use crate::error::Error;

/// Runs database work on the blocking pool with a pooled connection.
pub async fn read<T, F>(pool: &Pool, f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&mut Db<'_>) -> Result<T, Error> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || pool.read(f)).await.map_err(Error::internal)?
}

/// Runs blocking work (a write through `db::write`, password hashing) on the blocking pool.
pub async fn blocking<T, F>(f: F) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, Error> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(Error::internal)?
}

/// Runs a state change through the one write path (`db::write::execute`) on the blocking pool.
pub async fn write<T, F>(
    pool: &Pool,
    ctx: crate::db::write::WriteCtx,
    idem: Option<crate::db::write::Idempotency>,
    work: F,
) -> Result<crate::db::write::Stored, Error>
where
    T: serde::Serialize,
    F: FnOnce(&mut crate::db::write::Tx<'_>) -> Result<crate::db::write::Answer<T>, Error> + Send + 'static,
{
    let pool = pool.clone();
    blocking(move || crate::db::write::execute(&pool, &ctx, idem.as_ref(), work)).await
}

/// An amount read back from the database as `Money`. Columns are NUMERIC(18,2) and checked, so
/// a failure here is a bug or a tampered row, never the caller's fault: a 500.
pub fn stored_money(d: rust_decimal::Decimal) -> Result<crate::domain::money::Money, Error> {
    crate::domain::money::Money::from_decimal(d).map_err(|e| unreadable_amount(d, e))
}

/// A stored figure that may be below zero (over budget, over-remitted, in credit), as the
/// books hold it; only its size is bounded.
pub fn stored_signed(d: rust_decimal::Decimal) -> Result<crate::domain::money::SignedMoney, Error> {
    crate::domain::money::SignedMoney::from_decimal(d).map_err(|e| unreadable_amount(d, e))
}

/// Why a stored figure cannot be shown: a sum past NUMERIC(18,2) is a 409 (the books cannot
/// show it; not a bug), anything else a 500.
fn unreadable_amount(d: rust_decimal::Decimal, e: crate::domain::money::MoneyError) -> Error {
    match e {
        crate::domain::money::MoneyError::TooLarge => Error::out_of_range(),
        e => Error::internal(format!("stored amount {d}: {e}")),
    }
}

/// A resource version as an HTTP entity tag.
pub fn etag(version: i32) -> String {
    format!("\"{version}\"")
}

/// Checks `If-Match` against the resource's current version (API.md, "Concurrency"):
/// missing is 428, stale is 412.
pub fn check_if_match(if_match: Option<&str>, version: i32) -> Result<(), Error> {
    let current = etag(version);
    let given = if_match.ok_or(Error::PreconditionRequired)?;
    let matches =
        given.split(',').map(str::trim).any(|t| t == current || t.strip_prefix("W/") == Some(current.as_str()));
    if matches { Ok(()) } else { Err(Error::PreconditionFailed { current }) }
}

/// Limit and cursor of a list request, already validated.
#[derive(Debug, Clone)]
pub struct Page {
    /// How many items at most (1–500).
    pub limit: i64,
    /// The opaque cursor from the previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Page {
    /// The cursor read as a UUID (lists keyed by a v7 id, which grows with creation time).
    pub fn uuid_cursor(&self) -> Result<Option<uuid::Uuid>, Error> {
        self.cursor
            .as_deref()
            .map(|c| uuid::Uuid::parse_str(c).map_err(|_| Error::bad_request("cursor", "not a cursor from this list")))
            .transpose()
    }

    /// The cursor read as a sequence number.
    pub fn seq_cursor(&self) -> Result<Option<i64>, Error> {
        self.cursor
            .as_deref()
            .map(|c| c.parse().map_err(|_| Error::bad_request("cursor", "not a cursor from this list")))
            .transpose()
    }

    /// Fetch one more than asked, to know whether there is a next page.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

/// A page of a list (API.md, "Lists").
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Listed<T> {
    /// The items, oldest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Listed<T> {
    /// Cuts the extra row fetched by `Page::fetch` and makes the cursor from the last item kept.
    pub fn from_rows<R>(mut rows: Vec<R>, page: &Page, key: impl Fn(&R) -> String, view: impl Fn(R) -> T) -> Self {
        let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next_cursor = if more { rows.last().map(&key) } else { None };
        Self { items: rows.into_iter().map(view).collect(), next_cursor }
    }
}

/// The time of a write: now, truncated to microseconds, which is what PostgreSQL keeps and so
/// what the audit hash must cover.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}
