//! Fee rates and payroll declarations.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Date;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::Db;
use super::funds::FundRow;
use super::schema::{fee_declarations, fee_rates, funds};
use super::write::Tx;
use crate::domain::ids::Period;
use crate::error::Error;

// A period is stored as its month's first day (a `date`, migration 000017): written as
// `Period::first_day`, read back with `Period::from_first_day`, which refuses any other day. The
// impls are what diesel's derives would write, by hand: the domain type knows nothing of diesel.

impl ToSql<Date, Pg> for Period {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <NaiveDate as ToSql<Date, Pg>>::to_sql(&self.first_day(), &mut out.reborrow())
    }
}

impl FromSql<Date, Pg> for Period {
    fn from_sql(bytes: PgValue<'_>) -> deserialize::Result<Self> {
        Ok(Period::from_first_day(<NaiveDate as FromSql<Date, Pg>>::from_sql(bytes)?)?)
    }
}

impl Queryable<Date, Pg> for Period {
    type Row = Period;

    fn build(row: Period) -> deserialize::Result<Self> {
        Ok(row)
    }
}

impl AsExpression<Date> for Period {
    type Expression = <NaiveDate as AsExpression<Date>>::Expression;

    fn as_expression(self) -> Self::Expression {
        <NaiveDate as AsExpression<Date>>::as_expression(self.first_day())
    }
}

impl AsExpression<Date> for &Period {
    type Expression = <NaiveDate as AsExpression<Date>>::Expression;

    fn as_expression(self) -> Self::Expression {
        <NaiveDate as AsExpression<Date>>::as_expression(self.first_day())
    }
}

diesel::define_sql_function! {
    /// PostgreSQL's `make_date(year, month, day)`.
    fn make_date(year: diesel::sql_types::Int4, month: diesel::sql_types::Int4, day: diesel::sql_types::Int4) -> Date;
}

/// `column` within `year`: from its first day to the next year's, a range the (org_id, period)
/// indexes serve (a `LIKE '2022-%'` on text served none).
macro_rules! in_year {
    ($column:expr, $year:expr) => {
        $column.ge(make_date($year, 1, 1)).and($column.lt(make_date($year + 1, 1, 1)))
    };
}

/// The same range in SQL text, over `period`, with the year bound as `$n`.
fn in_year_sql(n: u8) -> String {
    format!("period >= make_date(${n}, 1, 1) AND period < make_date(${n} + 1, 1, 1)")
}

/// A rate as stored.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = fee_rates)]
#[allow(missing_docs)]
pub struct FeeRateRow {
    pub id: Uuid,
    pub unit_kind: String,
    pub fee_rate: Decimal,
    pub remit_rate: Decimal,
    pub effective_from: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub upper_rate: Decimal,
    pub scheme: String,
}

/// A declaration as stored (every version is kept).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = fee_declarations, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct DeclarationRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub period: Period,
    pub version: i32,
    pub payroll_total: Decimal,
    pub fee_rate: Decimal,
    pub remit_rate: Decimal,
    pub fee_due: Decimal,
    pub remit_due: Decimal,
    pub retained: Decimal,
    pub fund_id: Uuid,
    pub entry_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// `None` on a declaration made before the levels (migration 000022).
    pub upper_rate: Option<Decimal>,
    /// `None` on a declaration made before the levels.
    pub upper_due: Option<Decimal>,
    /// `union_fee` or `preparatory_fee`.
    pub scheme: String,
}

/// Every rate of one kind of unit (the table is small: a row per change of the law).
pub fn rates_of(conn: &mut Db<'_>, unit_kind: &str) -> Result<Vec<FeeRateRow>, Error> {
    Ok(fee_rates::table.select(FeeRateRow::as_select()).filter(fee_rates::unit_kind.eq(unit_kind)).load(conn.pg())?)
}

/// A page of rates.
pub fn list_rates(conn: &mut Db<'_>, after: Option<Uuid>, limit: i64) -> Result<Vec<FeeRateRow>, Error> {
    let mut q = fee_rates::table.select(FeeRateRow::as_select()).into_boxed();
    if let Some(after) = after {
        q = q.filter(fee_rates::id.gt(after));
    }
    Ok(q.order(fee_rates::id.asc()).limit(limit).load(conn.pg())?)
}

/// Inserts a rate; a second rate for the same kind and date is a 409.
pub fn insert_rate(tx: &mut Tx<'_>, row: &FeeRateRow) -> Result<(), Error> {
    diesel::insert_into(fee_rates::table).values(row).execute(tx.pg()).map_err(|e| match e {
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
            Error::Conflict {
                code: "duplicate_fee_rate",
                detail: "a rate for this unit kind already takes effect on that date".into(),
            }
        }
        other => other.into(),
    })?;
    Ok(())
}

/// The year's union-fee fund, locked (its accounts take the fee postings).
pub fn lock_fee_fund(tx: &mut Tx<'_>, year: i32) -> Result<Option<FundRow>, Error> {
    Ok(funds::table
        .select(FundRow::as_select())
        .filter(funds::kind.eq("union_fee").and(funds::year.eq(year)))
        .order(funds::id.asc())
        .for_update()
        .first(tx.pg())
        .optional()?)
}

/// The current (highest) version of a unit's declaration for a period.
pub fn current(conn: &mut Db<'_>, org_id: Uuid, period: Period) -> Result<Option<DeclarationRow>, Error> {
    Ok(fee_declarations::table
        .select(DeclarationRow::as_select())
        .filter(fee_declarations::org_id.eq(org_id).and(fee_declarations::period.eq(period)))
        .order(fee_declarations::version.desc())
        .first(conn.pg())
        .optional()?)
}

/// Inserts a declaration.
pub fn insert(tx: &mut Tx<'_>, row: &DeclarationRow) -> Result<(), Error> {
    diesel::insert_into(fee_declarations::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// A page of declarations (all versions), oldest first, optionally for one unit.
pub fn list(
    conn: &mut Db<'_>,
    org_id: Option<Uuid>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<DeclarationRow>, Error> {
    let mut q = fee_declarations::table.select(DeclarationRow::as_select()).into_boxed();
    if let Some(org_id) = org_id {
        q = q.filter(fee_declarations::org_id.eq(org_id));
    }
    if let Some(after) = after {
        q = q.filter(fee_declarations::id.gt(after));
    }
    Ok(q.order(fee_declarations::id.asc()).limit(limit).load(conn.pg())?)
}

/// Organisations named by id or credit code, locked in id order (a batch locks every unit it
/// declares for, as a single declaration does).
pub fn lock_units(tx: &mut Tx<'_>, ids: &[Uuid], codes: &[String]) -> Result<Vec<super::orgs::OrgRow>, Error> {
    use super::schema::orgs;
    Ok(orgs::table
        .select(super::orgs::OrgRow::as_select())
        .filter(orgs::id.eq_any(ids).or(orgs::credit_code.eq_any(codes)))
        .order(orgs::id.asc())
        .for_update()
        .load(tx.pg())?)
}

/// Every rate.
pub fn all_rates(conn: &mut Db<'_>) -> Result<Vec<FeeRateRow>, Error> {
    Ok(fee_rates::table.select(FeeRateRow::as_select()).load(conn.pg())?)
}

/// The current declaration of each (unit, period) among these units and periods.
pub fn current_of(conn: &mut Db<'_>, org_ids: &[Uuid], periods: &[Period]) -> Result<Vec<DeclarationRow>, Error> {
    Ok(fee_declarations::table
        .select(DeclarationRow::as_select())
        .filter(fee_declarations::org_id.eq_any(org_ids).and(fee_declarations::period.eq_any(periods)))
        .distinct_on((fee_declarations::org_id, fee_declarations::period))
        .order((fee_declarations::org_id, fee_declarations::period, fee_declarations::version.desc()))
        .load(conn.pg())?)
}

/// Inserts many declarations, set-based: COPY for a batch, one multi-row INSERT for a few.
pub fn insert_many(tx: &mut Tx<'_>, rows: &[DeclarationRow]) -> Result<(), Error> {
    super::write::insert_rows!(tx, fee_declarations::table, rows)
}

/// A settlement row (see the migration for the kinds).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::fee_settlements, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct SettlementRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub period: Period,
    pub kind: String,
    pub amount: Decimal,
    pub fund_id: Uuid,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A remittance row.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::fee_remittances, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct RemittanceRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub period: Period,
    pub amount: Decimal,
    pub fund_id: Uuid,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// A payment as received (how it settled is in its settlements, under the same entry).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::fee_payments, treat_none_as_default_value = false)]
#[allow(missing_docs)]
pub struct PaymentRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub period: Period,
    pub amount: Decimal,
    pub reference: String,
    pub fund_id: Uuid,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// The unit's payment of `year` with this reference, if any.
pub fn payment_by_reference(
    conn: &mut Db<'_>,
    org_id: Uuid,
    year: i32,
    reference: &str,
) -> Result<Option<PaymentRow>, Error> {
    use super::schema::fee_payments as p;
    Ok(p::table
        .select(PaymentRow::as_select())
        .filter(p::org_id.eq(org_id).and(in_year!(p::period, year)).and(p::reference.eq(reference)))
        .first(conn.pg())
        .optional()?)
}

/// Inserts a payment.
pub fn insert_payment(tx: &mut Tx<'_>, row: &PaymentRow) -> Result<(), Error> {
    diesel::insert_into(super::schema::fee_payments::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// Money the upper level gave back for a unit's month (a remittance beyond what is now due).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::fee_remit_refunds)]
#[allow(missing_docs)]
pub struct RefundRow {
    pub id: Uuid,
    pub org_id: Uuid,
    pub period: Period,
    pub amount: Decimal,
    pub reason: String,
    pub fund_id: Uuid,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// Inserts a remittance refund.
pub fn insert_refund(tx: &mut Tx<'_>, row: &RefundRow) -> Result<(), Error> {
    diesel::insert_into(super::schema::fee_remit_refunds::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// Which of these (unit, period) pairs money has moved for: paid, credited or remitted.
/// One query for a whole batch.
pub fn months_with_money(
    conn: &mut Db<'_>,
    org_ids: &[Uuid],
    periods: &[Period],
) -> Result<std::collections::HashSet<(Uuid, Period)>, Error> {
    #[derive(QueryableByName)]
    struct Month {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        org_id: Uuid,
        #[diesel(sql_type = Date)]
        period: Period,
    }
    let rows: Vec<Month> = diesel::sql_query(
        "SELECT org_id, period FROM fee_settlements WHERE org_id = ANY($1) AND period = ANY($2) \
         UNION SELECT org_id, period FROM fee_remittances WHERE org_id = ANY($1) AND period = ANY($2)",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(org_ids)
    .bind::<diesel::sql_types::Array<Date>, _>(periods)
    .load(conn.pg())?;
    Ok(rows.into_iter().map(|m| (m.org_id, m.period)).collect())
}

/// The id of one version of a unit's declaration for a period.
pub fn version_id(conn: &mut Db<'_>, org_id: Uuid, period: Period, version: i32) -> Result<Option<Uuid>, Error> {
    Ok(fee_declarations::table
        .select(fee_declarations::id)
        .filter(
            fee_declarations::org_id
                .eq(org_id)
                .and(fee_declarations::period.eq(period))
                .and(fee_declarations::version.eq(version)),
        )
        .first(conn.pg())
        .optional()?)
}

/// Inserts settlements, set-based: COPY for many, one multi-row INSERT for a few.
pub fn insert_settlements(tx: &mut Tx<'_>, rows: &[SettlementRow]) -> Result<(), Error> {
    super::write::insert_rows!(tx, super::schema::fee_settlements::table, rows)
}

/// Inserts a remittance.
pub fn insert_remittance(tx: &mut Tx<'_>, row: &RemittanceRow) -> Result<(), Error> {
    diesel::insert_into(super::schema::fee_remittances::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// The current declaration of each month of `year`: these units' (`only`), or every unit's, in
/// unit and period order.
pub fn current_of_year(conn: &mut Db<'_>, year: i32, only: Option<&[Uuid]>) -> Result<Vec<DeclarationRow>, Error> {
    use fee_declarations as d;
    let q = d::table
        .select(DeclarationRow::as_select())
        .filter(in_year!(d::period, year))
        .distinct_on((d::org_id, d::period))
        .order((d::org_id, d::period, d::version.desc()));
    Ok(match only {
        Some(org_ids) => q.filter(d::org_id.eq_any(org_ids)).load(conn.pg())?,
        None => q.load(conn.pg())?,
    })
}

/// The sum of one kind of settlement of a unit's month.
#[derive(Debug, Clone, QueryableByName)]
#[allow(missing_docs)]
pub struct KindSum {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Date)]
    pub period: Period,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub amount: Decimal,
}

/// The settlements of `year` summed per unit, month and kind (these units', with `only`). Only
/// sums: what each kind does to a month is `domain::fees::Settled`, not SQL.
pub fn settlement_sums(conn: &mut Db<'_>, year: i32, only: Option<&[Uuid]>) -> Result<Vec<KindSum>, Error> {
    Ok(diesel::sql_query(format!(
        "SELECT org_id, period, kind, sum(amount) AS amount FROM fee_settlements \
         WHERE {} AND ($2::uuid[] IS NULL OR org_id = ANY($2)) GROUP BY org_id, period, kind",
        in_year_sql(1)
    ))
    .bind::<diesel::sql_types::Int4, _>(year)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Uuid>>, _>(only)
    .load(conn.pg())?)
}

/// A sum over a unit's month.
#[derive(Debug, Clone, QueryableByName)]
#[allow(missing_docs)]
pub struct MonthSum {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub org_id: Uuid,
    #[diesel(sql_type = Date)]
    pub period: Period,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub amount: Decimal,
}

/// What the federation holds of each unit's month of `year` (these units', with `only`):
/// remitted less refunded.
pub fn remitted_by_month(conn: &mut Db<'_>, year: i32, only: Option<&[Uuid]>) -> Result<Vec<MonthSum>, Error> {
    let year_sql = in_year_sql(1);
    Ok(diesel::sql_query(format!(
        "SELECT org_id, period, sum(amount) AS amount FROM \
           (SELECT org_id, period, amount FROM fee_remittances \
             WHERE {year_sql} AND ($2::uuid[] IS NULL OR org_id = ANY($2)) \
            UNION ALL SELECT org_id, period, -amount FROM fee_remit_refunds \
             WHERE {year_sql} AND ($2::uuid[] IS NULL OR org_id = ANY($2))) x \
         GROUP BY org_id, period"
    ))
    .bind::<diesel::sql_types::Int4, _>(year)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Array<diesel::sql_types::Uuid>>, _>(only)
    .load(conn.pg())?)
}

/// The units with union-fee figures in `year` (a declaration, a settlement or a remittance),
/// in id order after `after`, at most `limit`: a summary's page, found before anything is
/// summed. Each table is read in its (org_id, period) index order and stops at `limit`.
pub fn units_of_year(conn: &mut Db<'_>, year: i32, after: Option<Uuid>, limit: i64) -> Result<Vec<Uuid>, Error> {
    #[derive(QueryableByName)]
    struct Unit {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        org_id: Uuid,
    }
    let year_sql = in_year_sql(1);
    let part = |table: &str| {
        format!(
            "(SELECT DISTINCT org_id FROM {table} WHERE {year_sql} \
               AND ($2::uuid IS NULL OR org_id > $2) ORDER BY org_id LIMIT $3)"
        )
    };
    let rows: Vec<Unit> = diesel::sql_query(format!(
        "SELECT org_id FROM ({} UNION {} UNION {}) u ORDER BY org_id LIMIT $3",
        part("fee_declarations"),
        part("fee_settlements"),
        part("fee_remittances")
    ))
    .bind::<diesel::sql_types::Int4, _>(year)
    .bind::<diesel::sql_types::Nullable<diesel::sql_types::Uuid>, _>(after)
    .bind::<diesel::sql_types::BigInt, _>(limit)
    .load(conn.pg())?;
    Ok(rows.into_iter().map(|u| u.org_id).collect())
}

/// The year's figures over every unit, summed in the database: the summary's and the annual
/// report's totals, without a row per unit leaving it. What each settlement kind does to a
/// month comes from `domain::fees::Settled::add` (the SQL's coefficients are generated from it,
/// never written here), and a month's arrears and overpayment, a unit's credit held and a
/// month's over-remittance are `month_position`'s, `credit_held`'s and `remit_receivable`'s
/// rules: `tests/fee_batches.rs` holds these totals to the sum of every unit's statement.
#[derive(Debug, Clone, QueryableByName)]
#[allow(missing_docs)]
pub struct YearSums {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub units: i64,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub payroll_total: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub fee_due: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub remit_due: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub retained: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub upper_due: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub paid: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub remitted: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub arrears: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub credit: Decimal,
    #[diesel(sql_type = diesel::sql_types::Numeric)]
    pub remit_receivable: Decimal,
}

/// `sum(CASE kind WHEN … THEN amount * c …)` for one of `Settled`'s parts, `c` being what one
/// unit of each kind adds to it.
fn settled_sum(part: fn(&crate::domain::fees::Settled) -> Decimal) -> String {
    use crate::domain::fees::{Settled, SettlementKind};
    let arms: Vec<String> = SettlementKind::ALL
        .iter()
        .map(|k| format!("WHEN '{}' THEN amount * ({})", k.as_str(), part(&Settled::default().add(*k, Decimal::ONE))))
        .collect();
    format!("sum(CASE kind {} ELSE 0 END)", arms.join(" "))
}

/// The year's totals over every unit (see [`YearSums`]).
pub fn year_sums(conn: &mut Db<'_>, year: i32) -> Result<YearSums, Error> {
    let y = in_year_sql(1);
    let paid = settled_sum(|s| s.paid);
    let credit = settled_sum(|s| s.credit_in - s.credit_used);
    Ok(diesel::sql_query(format!(
        "WITH d AS (SELECT DISTINCT ON (org_id, period) org_id, period, payroll_total, fee_due, remit_due, \
                      retained, coalesce(upper_due, 0) AS upper_due \
                    FROM fee_declarations WHERE {y} ORDER BY org_id, period, version DESC), \
              s AS (SELECT org_id, period, {paid} AS paid, {credit} AS credit \
                    FROM fee_settlements WHERE {y} GROUP BY org_id, period), \
              r AS (SELECT org_id, period, sum(amount) AS remitted FROM \
                      (SELECT org_id, period, amount FROM fee_remittances WHERE {y} \
                       UNION ALL SELECT org_id, period, -amount FROM fee_remit_refunds WHERE {y}) x \
                    GROUP BY org_id, period), \
              m AS (SELECT coalesce(d.org_id, s.org_id, r.org_id) AS org_id, \
                           coalesce(d.payroll_total, 0) AS payroll_total, coalesce(d.fee_due, 0) AS fee_due, \
                           coalesce(d.remit_due, 0) AS remit_due, coalesce(d.retained, 0) AS retained, \
                           coalesce(d.upper_due, 0) AS upper_due, coalesce(s.paid, 0) AS paid, \
                           coalesce(s.credit, 0) AS credit, coalesce(r.remitted, 0) AS remitted \
                    FROM d FULL JOIN s ON s.org_id = d.org_id AND s.period = d.period \
                           FULL JOIN r ON r.org_id = coalesce(d.org_id, s.org_id) \
                                      AND r.period = coalesce(d.period, s.period)), \
              u AS (SELECT org_id, sum(payroll_total) AS payroll_total, sum(fee_due) AS fee_due, \
                           sum(remit_due) AS remit_due, sum(retained) AS retained, sum(upper_due) AS upper_due, \
                           sum(paid) AS paid, sum(remitted) AS remitted, \
                           sum(greatest(fee_due - paid, 0)) AS arrears, greatest(sum(credit), 0) AS credit, \
                           sum(greatest(remitted - remit_due, 0)) AS remit_receivable \
                    FROM m GROUP BY org_id) \
         SELECT count(*) AS units, coalesce(sum(payroll_total), 0) AS payroll_total, \
                coalesce(sum(fee_due), 0) AS fee_due, coalesce(sum(remit_due), 0) AS remit_due, \
                coalesce(sum(retained), 0) AS retained, coalesce(sum(upper_due), 0) AS upper_due, \
                coalesce(sum(paid), 0) AS paid, coalesce(sum(remitted), 0) AS remitted, \
                coalesce(sum(arrears), 0) AS arrears, coalesce(sum(credit), 0) AS credit, \
                coalesce(sum(remit_receivable), 0) AS remit_receivable FROM u"
    ))
    .bind::<diesel::sql_types::Int4, _>(year)
    .get_result(conn.pg())?)
}

/// What the city passed on to the upper levels of a year's fees.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = super::schema::fee_upper_remittances)]
#[allow(missing_docs)]
pub struct UpperRemittanceRow {
    pub id: Uuid,
    pub year: i32,
    pub amount: Decimal,
    pub reference: String,
    pub fund_id: Uuid,
    pub entry_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// Inserts what the city passed on; a reference used before in the year is a 409.
pub fn insert_upper_remittance(tx: &mut Tx<'_>, row: &UpperRemittanceRow) -> Result<(), Error> {
    diesel::insert_into(super::schema::fee_upper_remittances::table).values(row).execute(tx.pg())?;
    Ok(())
}

/// Whether the city already passed something on under this reference in the year.
pub fn upper_reference_taken(conn: &mut Db<'_>, year: i32, reference: &str) -> Result<bool, Error> {
    use super::schema::fee_upper_remittances as u;
    Ok(diesel::select(diesel::dsl::exists(u::table.filter(u::year.eq(year).and(u::reference.eq(reference)))))
        .get_result(conn.pg())?)
}

/// What the city passed on to the upper levels of a year's fees, in all.
pub fn upper_remitted(conn: &mut Db<'_>, year: i32) -> Result<Decimal, Error> {
    use super::schema::fee_upper_remittances as u;
    Ok(u::table
        .select(diesel::dsl::sum(u::amount))
        .filter(u::year.eq(year))
        .first::<Option<Decimal>>(conn.pg())?
        .unwrap_or_default())
}

/// The upper levels' share of a year's current declarations, in all (made before the levels:
/// none).
pub fn upper_due_of_year(conn: &mut Db<'_>, year: i32) -> Result<Decimal, Error> {
    #[derive(QueryableByName)]
    struct Due {
        #[diesel(sql_type = diesel::sql_types::Numeric)]
        due: Decimal,
    }
    Ok(diesel::sql_query(format!(
        "SELECT coalesce(sum(upper_due), 0) AS due FROM (SELECT DISTINCT ON (org_id, period) upper_due \
           FROM fee_declarations WHERE {} ORDER BY org_id, period, version DESC) d",
        in_year_sql(1)
    ))
    .bind::<diesel::sql_types::Int4, _>(year)
    .get_result::<Due>(conn.pg())?
    .due)
}

/// Which of these (unit, year, reference) triples a payment already carries: a batch's
/// references checked in one query.
pub fn payment_references_taken(
    conn: &mut Db<'_>,
    org_ids: &[Uuid],
    years: &[i32],
    references: &[String],
) -> Result<std::collections::HashSet<(Uuid, i32, String)>, Error> {
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        org_id: Uuid,
        #[diesel(sql_type = diesel::sql_types::Int4)]
        year: i32,
        #[diesel(sql_type = diesel::sql_types::Text)]
        reference: String,
    }
    let rows: Vec<Taken> = diesel::sql_query(
        "SELECT p.org_id, extract(year FROM p.period)::int AS year, p.reference FROM fee_payments p \
         JOIN unnest($1::uuid[], $2::int[], $3::text[]) AS w(org_id, year, reference) \
           ON p.org_id = w.org_id AND extract(year FROM p.period) = w.year AND p.reference = w.reference",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(org_ids)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Int4>, _>(years)
    .bind::<diesel::sql_types::Array<diesel::sql_types::Text>, _>(references)
    .load(conn.pg())?;
    Ok(rows.into_iter().map(|t| (t.org_id, t.year, t.reference)).collect())
}

/// What the federation holds of each of these (unit, period) months: remitted less refunded.
pub fn remitted_net_of(
    conn: &mut Db<'_>,
    org_ids: &[Uuid],
    periods: &[Period],
) -> Result<std::collections::HashMap<(Uuid, Period), Decimal>, Error> {
    let rows: Vec<MonthSum> = diesel::sql_query(
        "SELECT org_id, period, sum(amount) AS amount FROM \
           (SELECT org_id, period, amount FROM fee_remittances WHERE org_id = ANY($1) AND period = ANY($2) \
            UNION ALL SELECT org_id, period, -amount FROM fee_remit_refunds \
             WHERE org_id = ANY($1) AND period = ANY($2)) x GROUP BY org_id, period",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(org_ids)
    .bind::<diesel::sql_types::Array<Date>, _>(periods)
    .load(conn.pg())?;
    Ok(rows.into_iter().map(|r| ((r.org_id, r.period), r.amount)).collect())
}

/// Inserts many payments, set-based.
pub fn insert_payments(tx: &mut Tx<'_>, rows: &[PaymentRow]) -> Result<(), Error> {
    super::write::insert_rows!(tx, super::schema::fee_payments::table, rows)
}

/// Inserts many remittances, set-based.
pub fn insert_remittances(tx: &mut Tx<'_>, rows: &[RemittanceRow]) -> Result<(), Error> {
    super::write::insert_rows!(tx, super::schema::fee_remittances::table, rows)
}
