//! Set-based queries behind the reconciliation checks: each answers how many rows break a rule
//! and a few of them, so that a check's figures point at what to look at.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Int4, Text};
use uuid::Uuid;

use super::Db;
use crate::error::Error;

/// How many rows break a rule, and up to ten of their ids.
#[derive(Debug, QueryableByName)]
pub struct Breaches {
    /// How many.
    #[diesel(sql_type = BigInt)]
    pub count: i64,
    /// Up to ten of them, as text.
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    pub sample: Vec<String>,
}

fn breaches(conn: &mut PgConnection, sql: &str, year: i32) -> Result<Breaches, Error> {
    Ok(diesel::sql_query(format!(
        "WITH bad AS ({sql}) SELECT count(*) AS count, \
                coalesce((SELECT array_agg(id) FROM (SELECT id::text AS id FROM bad ORDER BY 1 LIMIT 10) s), '{{}}') AS sample \
         FROM bad"
    ))
    .bind::<Int4, _>(year)
    .get_result(conn)?)
}

/// Journal entries of the year's funds whose postings do not sum to zero.
pub fn unbalanced_entries(conn: &mut Db<'_>, year: i32) -> Result<(i64, Breaches), Error> {
    let total: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM journal_entries e JOIN funds f ON f.id = e.fund_id WHERE f.year = $1",
    )
    .bind::<Int4, _>(year)
    .get_result::<Count>(conn.pg())?
    .n;
    let bad = breaches(
        conn.pg(),
        "SELECT e.id FROM journal_entries e JOIN funds f ON f.id = e.fund_id JOIN postings p ON p.entry_id = e.id \
         WHERE f.year = $1 GROUP BY e.id HAVING sum(p.amount) <> 0",
        year,
    )?;
    Ok((total, bad))
}

/// Accounts of the year's funds whose kept balance differs from the sum of their postings.
pub fn drifted_balances(conn: &mut Db<'_>, year: i32) -> Result<(i64, Breaches), Error> {
    let total: i64 =
        diesel::sql_query("SELECT count(*) AS n FROM accounts a JOIN funds f ON f.id = a.fund_id WHERE f.year = $1")
            .bind::<Int4, _>(year)
            .get_result::<Count>(conn.pg())?
            .n;
    let bad = breaches(
        conn.pg(),
        "SELECT a.id FROM accounts a JOIN funds f ON f.id = a.fund_id \
         WHERE f.year = $1 AND a.balance <> coalesce((SELECT sum(p.amount) FROM postings p WHERE p.account_id = a.id), 0)",
        year,
    )?;
    Ok((total, bad))
}

/// Union-fee declarations of the year whose remitted and retained shares do not add up to the fee.
pub fn broken_fee_splits(conn: &mut Db<'_>, year: i32) -> Result<(i64, Breaches), Error> {
    let total: i64 = diesel::sql_query(
        "SELECT count(*) AS n FROM fee_declarations d JOIN funds f ON f.id = d.fund_id WHERE f.year = $1",
    )
    .bind::<Int4, _>(year)
    .get_result::<Count>(conn.pg())?
    .n;
    let bad = breaches(
        conn.pg(),
        "SELECT d.id FROM fee_declarations d JOIN funds f ON f.id = d.fund_id \
         WHERE f.year = $1 AND d.fee_due <> d.remit_due + d.retained",
        year,
    )?;
    Ok((total, bad))
}

/// Unit-months of a year remitted beyond what is now due to the federation, and by how much.
#[derive(Debug, QueryableByName)]
pub struct OverRemitted {
    /// Unit-months with remittances.
    #[diesel(sql_type = BigInt)]
    pub checked: i64,
    /// Of them, remitted (net of refunds) beyond the current `remit_due`.
    #[diesel(sql_type = BigInt)]
    pub failing: i64,
    /// What the upper level owes back over them.
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub excess: rust_decimal::Decimal,
    /// Up to ten of them, as `org_id period`.
    #[diesel(sql_type = diesel::sql_types::Array<Text>)]
    pub sample: Vec<String>,
}

/// The unit-months of `year` whose net remittances exceed the current declaration's `remit_due`
/// (a correction downwards after remitting): money due back from the upper level.
pub fn over_remitted(conn: &mut Db<'_>, year: i32) -> Result<OverRemitted, Error> {
    Ok(diesel::sql_query(
        "WITH d AS (SELECT DISTINCT ON (org_id, period) org_id, period, remit_due FROM fee_declarations \
                    WHERE period >= make_date($1, 1, 1) AND period < make_date($1 + 1, 1, 1) \
                    ORDER BY org_id, period, version DESC), \
              r AS (SELECT org_id, period, sum(amount) AS remitted FROM \
                      (SELECT org_id, period, amount FROM fee_remittances \
                       WHERE period >= make_date($1, 1, 1) AND period < make_date($1 + 1, 1, 1) \
                       UNION ALL SELECT org_id, period, -amount FROM fee_remit_refunds \
                       WHERE period >= make_date($1, 1, 1) AND period < make_date($1 + 1, 1, 1)) x \
                    GROUP BY org_id, period), \
              m AS (SELECT r.org_id, r.period, r.remitted - coalesce(d.remit_due, 0) AS excess \
                    FROM r LEFT JOIN d ON d.org_id = r.org_id AND d.period = r.period) \
         SELECT count(*) AS checked, count(*) FILTER (WHERE excess > 0) AS failing, \
                coalesce(sum(excess) FILTER (WHERE excess > 0), 0) AS excess, \
                coalesce((SELECT array_agg(k) FROM (SELECT org_id::text || ' ' || to_char(period, 'YYYY-MM') AS k FROM m \
                          WHERE excess > 0 ORDER BY 1 LIMIT 10) s), '{}') AS sample \
         FROM m",
    )
    .bind::<Int4, _>(year)
    .get_result(conn.pg())?)
}

/// The items of the year's funds.
pub fn items_of_year(conn: &mut Db<'_>, year: i32) -> Result<Vec<super::items::ItemRow>, Error> {
    use super::schema::{funds, items};
    Ok(items::table
        .inner_join(funds::table)
        .filter(funds::year.eq(year))
        .select(super::items::ItemRow::as_select())
        .order(items::id.asc())
        .load(conn.pg())?)
}

/// The journal entries cited by the movements of the items of `year`'s funds.
pub fn entries_of_year_items(conn: &mut Db<'_>, year: i32) -> Result<Vec<Uuid>, Error> {
    use super::schema::{funds, item_movements as m, items};
    Ok(m::table
        .inner_join(items::table.inner_join(funds::table))
        .filter(funds::year.eq(year))
        .select(m::entry_id)
        .distinct()
        .load(conn.pg())?)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One campaign of a year's funds, with its beneficiaries and what they were granted.
#[derive(Debug, QueryableByName)]
pub struct CampaignOutput {
    /// The campaign.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    /// Name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// Kind (`winter_warmth`, …).
    #[diesel(sql_type = Text)]
    pub kind: String,
    /// Status.
    #[diesel(sql_type = Text)]
    pub status: String,
    /// Beneficiaries.
    #[diesel(sql_type = BigInt)]
    pub beneficiaries: i64,
    /// What they were granted together.
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub amount: rust_decimal::Decimal,
    /// Payments the bank confirmed.
    #[diesel(sql_type = BigInt)]
    pub paid: i64,
}

/// The campaigns of the year's funds, oldest first.
pub fn campaign_outputs(conn: &mut Db<'_>, year: i32) -> Result<Vec<CampaignOutput>, Error> {
    Ok(diesel::sql_query(
        "SELECT c.id, c.name, c.kind, c.status, count(b.id) AS beneficiaries, coalesce(sum(b.amount), 0) AS amount, \
                count(b.id) FILTER (WHERE b.payment_status = 'paid') AS paid \
         FROM hardship_campaigns c JOIN funds f ON f.id = c.fund_id \
         LEFT JOIN campaign_beneficiaries b ON b.campaign_id = c.id \
         WHERE f.year = $1 GROUP BY c.id ORDER BY c.id",
    )
    .bind::<Int4, _>(year)
    .load(conn.pg())?)
}

/// One township grant of a year's funds, with its township's name and item.
#[derive(Debug, QueryableByName)]
pub struct GrantOutput {
    /// The township union.
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub org_id: Uuid,
    /// Its name.
    #[diesel(sql_type = Text)]
    pub township: String,
    /// The approved amount.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Numeric>)]
    pub approved: Option<rust_decimal::Decimal>,
    /// Its item, once approved.
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub item_id: Option<Uuid>,
}

/// The approved township grants of the year's funds, oldest first.
pub fn grant_outputs(conn: &mut Db<'_>, year: i32) -> Result<Vec<GrantOutput>, Error> {
    Ok(diesel::sql_query(
        "SELECT g.org_id, o.name AS township, g.approved_amount AS approved, g.item_id \
         FROM township_grants g JOIN funds f ON f.id = g.fund_id JOIN orgs o ON o.id = g.org_id \
         WHERE f.year = $1 AND g.status = 'approved' ORDER BY g.id",
    )
    .bind::<Int4, _>(year)
    .load(conn.pg())?)
}
