//! The finance bureau's batch of declarations: all or nothing, set-based.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::declarations::{split_of, terms_of};
use super::settle::Settling;
use super::{rate, reason_of, role_of};
use crate::db::fees::DeclarationRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::audit::Stream;
use crate::domain::fees::{self, FeeRate, FeeScheme, Split};
use crate::domain::ids::Period;
use crate::domain::money::Money;
use crate::domain::orgs::{OrgKind, UnitKind};
use crate::error::Error;

/// One row of the finance bureau's batch: the unit by `org_id` or by `credit_code`.
#[derive(Debug, Clone, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRow {
    /// The member unit, by id …
    pub org_id: Option<Uuid>,
    /// … or by its unified social credit code.
    #[schema(value_type = Option<String>, example = "11430981MB1234567X")]
    pub credit_code: Option<String>,
    /// The month.
    pub period: Period,
    /// Total payroll.
    pub payroll_total: Money,
}

/// The answer to a batch: every declaration made, in the order of the rows.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// Rows in the batch.
    pub count: usize,
    /// Of them, rows that repeated the current declaration and wrote nothing.
    pub unchanged: usize,
    /// Fee due over the batch.
    pub fee_due: Money,
    /// The declarations, one per row, in order (the full record: `GET …/declarations`).
    pub declarations: Vec<BatchLine>,
}

/// One row's declaration, as a batch answers it, in the order of the rows: what the bureau needs
/// to reconcile them (the whole record is at `GET /api/v1/union-fees/declarations`).
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchLine {
    /// The declaration's id.
    pub id: Uuid,
    /// The member unit.
    pub org_id: Uuid,
    /// The month.
    pub period: Period,
    /// 1, or more for a correction.
    pub version: i32,
    /// Fee due.
    pub fee_due: Money,
    /// To remit.
    pub remit_due: Money,
    /// Retained.
    pub retained: Money,
    /// Of `remit_due`, what the city federation keeps.
    pub city_due: Money,
    /// Of `remit_due`, what the city passes on to the upper levels.
    pub upper_due: Money,
    /// True when the row repeated the current declaration (same payroll, same rates): nothing
    /// was written for it, and `id` and `version` are the current declaration's.
    pub unchanged: bool,
}

/// At most this many rows in one batch.
pub const BATCH_ROWS_MAX: usize = 10_000;

/// Declares many units' payroll at once, all or nothing: every row is checked first and a bad
/// batch is refused naming every bad row; a good one is written set-based in one transaction —
/// a few statements whatever the number of rows, never a round trip per row. A row that repeats
/// its unit's current declaration writes nothing and is answered `unchanged` (a batch of nothing
/// but such rows is a 200). A row correcting a month that money has moved for needs the finance
/// office and `reason`, as a single declaration does.
#[tracing::instrument(skip_all, fields(rows = rows.len()))]
pub async fn declare_batch(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    rows: Vec<BatchRow>,
    reason: Option<String>,
) -> Result<Stored, Error> {
    use crate::domain::FieldError;
    use std::collections::{BTreeMap, HashMap, HashSet};

    let mut errors: Vec<FieldError> = Vec::new();
    let keys = UnitKeys::of(&rows, &mut errors);
    crate::service::write(pool, ctx, idem, move |tx| {
        crate::service::books::ensure_years_open(tx, rows.iter().map(|r| r.period.year()))?;
        let units = keys.resolve(tx, &rows, &mut errors)?;
        let rates: Vec<FeeRate> =
            db::fees::all_rates(tx.db())?.into_iter().map(rate_row).collect::<Result<_, Error>>()?;
        // Each row resolved: (unit, period, rate).
        let mut resolved: Vec<Option<(Uuid, Period, FeeRate)>> = Vec::with_capacity(rows.len());
        let mut seen: HashSet<(Uuid, Period)> = HashSet::new();
        for (i, (r, unit)) in rows.iter().zip(&units).enumerate() {
            let Some(u) = unit else {
                resolved.push(None);
                continue;
            };
            let unit = &u.id;
            if !seen.insert((*unit, r.period)) {
                errors
                    .push(FieldError::new(format!("rows[{i}]"), "the same unit and period appear twice in the batch"));
            }
            match fees::rate_for(&rates, u.kind, u.scheme(r.period), r.period) {
                Some(rate) => resolved.push(Some((*unit, r.period, rate))),
                None => {
                    errors.push(FieldError::new(
                        format!("rows[{i}].period"),
                        "no fee rate is in force for this unit then",
                    ));
                    resolved.push(None);
                }
            }
        }
        let fund_of_year = lock_funds(tx, rows.iter().map(|r| r.period.year()), &mut errors)?;
        refuse(errors)?;
        // Each unit once: a batch names a unit for every month it declares.
        let unit_ids: Vec<Uuid> =
            resolved.iter().flatten().map(|(u, _, _)| *u).collect::<HashSet<_>>().into_iter().collect();
        let periods: Vec<Period> =
            resolved.iter().flatten().map(|(_, p, _)| *p).collect::<HashSet<_>>().into_iter().collect();
        let current: HashMap<(Uuid, Period), DeclarationRow> = db::fees::current_of(tx.db(), &unit_ids, &periods)?
            .into_iter()
            .map(|d| ((d.org_id, d.period), d))
            .collect();
        // Sum each fund's new and superseded splits: one journal entry per fund posts the net.
        let mut totals: BTreeMap<Uuid, (Split, Split)> = BTreeMap::new();
        let add = |a: Split, b: Split| {
            a.checked_add(b).ok_or_else(|| Error::invalid("rows", "the batch's total is too large"))
        };
        let mut planned = Vec::with_capacity(rows.len());
        for (r, res) in rows.iter().zip(&resolved) {
            let Some((unit, period, rate)) = res else { return Err(Error::internal("unresolved row")) };
            let fund = *fund_of_year.get(&period.year()).ok_or_else(|| Error::internal("fund not locked"))?;
            let old = current.get(&(*unit, *period));
            let unchanged = old.map(terms_of).transpose()?.is_some_and(|t| fees::repeats(t, r.payroll_total, rate));
            let new = fees::split(r.payroll_total, rate);
            let old_split = old.map(split_of).transpose()?;
            if !unchanged {
                let t = totals.entry(fund).or_insert((Split::ZERO, Split::ZERO));
                *t = (add(t.0, new)?, add(t.1, old_split.unwrap_or(Split::ZERO))?);
            }
            planned.push((*unit, *period, *rate, fund, new, old, old_split, r.payroll_total, unchanged));
        }
        // Corrections of months money has moved for: the finance office's, with a reason.
        let corrected: Vec<(usize, Uuid, Period)> =
            planned.iter().enumerate().filter(|(_, p)| p.5.is_some() && !p.8).map(|(i, p)| (i, p.0, p.1)).collect();
        if !corrected.is_empty() {
            let (units, periods): (Vec<Uuid>, Vec<Period>) = corrected.iter().map(|(_, u, p)| (*u, *p)).unzip();
            let moved = db::fees::months_with_money(tx.db(), &units, &periods)?;
            let paid: Vec<usize> =
                corrected.iter().filter(|(_, u, p)| moved.contains(&(*u, *p))).map(|(i, _, _)| *i).collect();
            if let Some(first) = paid.first() {
                fees::may_correct(role_of(tx), true, reason_of(tx, reason.as_deref()).as_deref()).map_err(
                    |e| match e {
                        // Name the rows (by index: never a value sent) that correct a paid month.
                        DomainError::Forbidden { code, detail } => {
                            let rows: Vec<String> = paid.iter().take(10).map(|i| format!("rows[{i}]")).collect();
                            Error::Forbidden { code, detail: format!("{detail}: {}", rows.join(", ")) }
                        }
                        DomainError::Invalid(_) => Error::invalid(
                            "reason",
                            format!("required: rows[{first}] corrects a month that has been paid or remitted"),
                        ),
                        other => other.into(),
                    },
                )?;
            }
        }
        let mut entry_of_fund: HashMap<Uuid, Option<Uuid>> = HashMap::new();
        let batch_id = Uuid::now_v7();
        for (fund, (new, old)) in &totals {
            let entry = fees::declaration_entry(*fund, *new, Some(*old))?;
            let id = entry.map(|e| tx.post(&e, Some(*fund), "fee_declaration_batch", batch_id)).transpose()?;
            entry_of_fund.insert(*fund, id);
        }
        let now = tx.ctx().now;
        let actor = tx.ctx().actor();
        let mut stored_rows = Vec::with_capacity(planned.len());
        let mut views = Vec::with_capacity(planned.len());
        let mut fee_total = Money::ZERO;
        let mut repeated = 0;
        for (unit, period, rate, fund, new, old, old_split, payroll, unchanged) in planned {
            fee_total = fee_total
                .checked_add(new.fee_due)
                .ok_or_else(|| Error::invalid("rows", "the batch's total is too large"))?;
            if let (true, Some(current)) = (unchanged, old) {
                repeated += 1;
                views.push(BatchLine::of(current.id, unit, period, current.version, &new, true));
                continue;
            }
            let entry_id = entry_of_fund.get(&fund).copied().flatten();
            let row = declaration_row(
                unit,
                period,
                old.map_or(1, |o| o.version + 1),
                payroll,
                &rate,
                &new,
                fund,
                entry_id,
                now,
                &actor,
            );
            let mut after = serde_json::json!({"payroll_total": payroll, "batch_id": batch_id,
                "fee_due": new.fee_due, "remit_due": new.remit_due, "retained": new.retained});
            if let (Some(reason), Some(_)) = (reason_of(tx, reason.as_deref()), old) {
                after["reason"] = serde_json::json!(reason);
            }
            tx.record(Event {
                org_id: Some(unit),
                fund_id: Some(fund),
                amount: Some(row.fee_due),
                entry_id,
                before: old_split.as_ref().map(figures),
                after: Some(after),
                ..Event::new(
                    Stream::Org(unit),
                    if old.is_some() { "fee.declaration_corrected" } else { "fee.declared" },
                    "fee_declaration",
                    row.id,
                )
            });
            views.push(BatchLine::of(row.id, unit, period, row.version, &new, false));
            stored_rows.push(row);
        }
        // What the new declarations do to their units' positions, row after row as single
        // declarations would: a month now paid beyond its fee gives the excess back as credit,
        // credit pays arrears. The positions are loaded before the rows are written (a row sees
        // only the rows before it, as a single call would) in a few grouped queries, and
        // written in a few statements, whatever the units' history.
        let years: Vec<i32> = fund_of_year.keys().copied().collect();
        let touched: Vec<Uuid> = stored_rows.iter().map(|r| r.org_id).collect::<HashSet<_>>().into_iter().collect();
        let mut settling = Settling::load(tx, &touched, &years)?;
        if !stored_rows.is_empty() {
            db::fees::insert_many(tx, &stored_rows)?;
        }
        for row in stored_rows {
            let (unit, fund, period) = (row.org_id, row.fund_id, row.period);
            settling.declare(row)?;
            settling.rebalance(unit, fund, period.year(), Some(period))?;
        }
        settling.post(tx)?.finish(tx)?;
        let written = views.len() - repeated;
        Ok(Answer {
            // Nothing written (every row a repeat) is not a creation.
            status: if written == 0 { 200 } else { 201 },
            etag: None,
            body: BatchView { count: views.len(), unchanged: repeated, fee_due: fee_total, declarations: views },
        })
    })
    .await
}

/// A declaration's figures, as its audit events show them.
pub(super) fn figures(s: &Split) -> serde_json::Value {
    serde_json::json!({"fee_due": s.fee_due, "remit_due": s.remit_due, "retained": s.retained,
        "city_due": s.city_due(), "upper_due": s.upper_due})
}

/// A rate as stored, read.
pub(super) fn rate_row(r: db::fees::FeeRateRow) -> Result<FeeRate, Error> {
    Ok(FeeRate {
        unit_kind: UnitKind::parse(&r.unit_kind).ok_or_else(|| Error::internal("bad unit kind"))?,
        scheme: FeeScheme::parse(&r.scheme).ok_or_else(|| Error::internal("bad fee scheme"))?,
        fee_rate: rate(r.fee_rate)?,
        remit_rate: rate(r.remit_rate)?,
        upper_rate: rate(r.upper_rate)?,
        effective_from: r.effective_from,
    })
}

/// A new declaration's row.
#[allow(clippy::too_many_arguments)]
pub(super) fn declaration_row(
    unit: Uuid,
    period: Period,
    version: i32,
    payroll: Money,
    rate: &FeeRate,
    new: &Split,
    fund: Uuid,
    entry_id: Option<Uuid>,
    now: chrono::DateTime<chrono::Utc>,
    actor: &str,
) -> DeclarationRow {
    DeclarationRow {
        id: Uuid::now_v7(),
        org_id: unit,
        period,
        version,
        payroll_total: payroll.as_decimal(),
        fee_rate: rate.fee_rate.as_decimal(),
        remit_rate: rate.remit_rate.as_decimal(),
        fee_due: new.fee_due.as_decimal(),
        remit_due: new.remit_due.as_decimal(),
        retained: new.retained.as_decimal(),
        fund_id: fund,
        entry_id,
        created_at: now,
        created_by: actor.to_owned(),
        upper_rate: Some(rate.upper_rate.as_decimal()),
        upper_due: Some(new.upper_due.as_decimal()),
        scheme: rate.scheme.as_str().to_owned(),
    }
}

impl BatchLine {
    fn of(id: Uuid, org_id: Uuid, period: Period, version: i32, s: &Split, unchanged: bool) -> BatchLine {
        BatchLine {
            id,
            org_id,
            period,
            version,
            fee_due: s.fee_due,
            remit_due: s.remit_due,
            retained: s.retained,
            city_due: s.city_due(),
            upper_due: s.upper_due,
            unchanged,
        }
    }
}

/// A batch row that names its unit, by id or by unified social credit code.
pub(super) trait NamesUnit {
    /// The unit's id, if the row names it so.
    fn org_id(&self) -> Option<Uuid>;
    /// The unit's credit code, if the row names it so.
    fn credit_code(&self) -> Option<&str>;
}

/// `NamesUnit` for batch rows with `org_id` and `credit_code` fields.
macro_rules! names_unit {
    ($($row:ty),+) => {$(
        impl $crate::service::fees::batch::NamesUnit for $row {
            fn org_id(&self) -> Option<Uuid> {
                self.org_id
            }
            fn credit_code(&self) -> Option<&str> {
                self.credit_code.as_deref()
            }
        }
    )+};
}
names_unit!(BatchRow, super::payments::PaymentBatchRow, super::remittances::RemittanceBatchRow);

/// The units a batch names, read before its transaction: ids, and credit codes checked.
pub(super) struct UnitKeys {
    ids: Vec<Uuid>,
    codes: Vec<String>,
}

impl UnitKeys {
    /// The keys of every row; a row naming its unit both ways, or neither, or by a malformed
    /// code, is an error of that row.
    pub(super) fn of<R: NamesUnit>(rows: &[R], errors: &mut Vec<crate::domain::FieldError>) -> UnitKeys {
        use crate::domain::FieldError;
        use crate::domain::ids::CreditCode;
        let (mut ids, mut codes) = (Vec::new(), Vec::new());
        for (i, r) in rows.iter().enumerate() {
            match (r.org_id(), r.credit_code()) {
                (Some(id), None) => ids.push(id),
                (None, Some(code)) => match CreditCode::parse(code) {
                    Ok(c) => codes.push(c.as_str().to_owned()),
                    Err(e) => errors.push(FieldError::new(format!("rows[{i}].credit_code"), e.to_string())),
                },
                _ => errors
                    .push(FieldError::new(format!("rows[{i}]"), "name the unit by org_id or by credit_code, not both")),
            }
        }
        ids.sort_unstable();
        ids.dedup();
        codes.sort_unstable();
        codes.dedup();
        UnitKeys { ids, codes }
    }

    /// Locks every unit named (in id order, as a single write locks its unit) and resolves each
    /// row to its member unit and the unit's kind; a row naming no member unit is an error of
    /// that row (`None`).
    pub(super) fn resolve<R: NamesUnit>(
        &self,
        tx: &mut crate::db::write::Tx<'_>,
        rows: &[R],
        errors: &mut Vec<crate::domain::FieldError>,
    ) -> Result<Vec<Option<Unit>>, Error> {
        use crate::domain::FieldError;
        use std::collections::HashMap;
        let units = db::fees::lock_units(tx, &self.ids, &self.codes)?;
        let by_id: HashMap<Uuid, &db::orgs::OrgRow> = units.iter().map(|o| (o.id, o)).collect();
        let by_code: HashMap<&str, &db::orgs::OrgRow> =
            units.iter().filter_map(|o| o.credit_code.as_deref().map(|c| (c, o))).collect();
        let mut out = Vec::with_capacity(rows.len());
        for (i, r) in rows.iter().enumerate() {
            let (field, org) = match (r.org_id(), r.credit_code()) {
                (Some(id), None) => ("org_id", by_id.get(&id).copied()),
                (None, Some(code)) => ("credit_code", by_code.get(code.to_ascii_uppercase().as_str()).copied()),
                _ => {
                    out.push(None);
                    continue;
                }
            };
            let unit = org.and_then(Unit::of);
            if unit.is_none() {
                errors.push(FieldError::new(format!("rows[{i}].{field}"), "no such member unit"));
            }
            out.push(unit);
        }
        Ok(out)
    }
}

/// A member unit a batch row names, as fees need it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Unit {
    /// Its id.
    pub(super) id: Uuid,
    /// Its kind.
    pub(super) kind: UnitKind,
    has_union: bool,
    founded_on: Option<chrono::NaiveDate>,
}

impl Unit {
    /// The unit, if the organisation is a member unit.
    pub(super) fn of(o: &db::orgs::OrgRow) -> Option<Unit> {
        match (OrgKind::parse(&o.kind), o.unit_kind.as_deref().and_then(UnitKind::parse)) {
            (Some(OrgKind::MemberUnit), Some(kind)) => {
                Some(Unit { id: o.id, kind, has_union: o.has_union, founded_on: o.union_founded_on })
            }
            _ => None,
        }
    }

    /// What it pays for a month: the union fee, or the preparatory fee before it has a union.
    pub(super) fn scheme(&self, period: Period) -> FeeScheme {
        FeeScheme::of_month(self.has_union, self.founded_on, period)
    }
}

/// Locks the union-fee fund of each year a batch touches; a year without one is an error.
pub(super) fn lock_funds(
    tx: &mut crate::db::write::Tx<'_>,
    years: impl Iterator<Item = i32>,
    errors: &mut Vec<crate::domain::FieldError>,
) -> Result<std::collections::BTreeMap<i32, Uuid>, Error> {
    let years: std::collections::BTreeSet<i32> = years.collect();
    let mut out = std::collections::BTreeMap::new();
    for year in years {
        match db::fees::lock_fee_fund(tx, year)? {
            Some(f) => {
                out.insert(year, f.id);
            }
            None => {
                errors.push(crate::domain::FieldError::new("rows", format!("there is no union_fee fund for {year}")))
            }
        }
    }
    Ok(out)
}

/// A batch's errors, in row order, as one 422; none, nothing.
pub(super) fn refuse(mut errors: Vec<crate::domain::FieldError>) -> Result<(), Error> {
    if errors.is_empty() {
        return Ok(());
    }
    errors.sort_by_key(|e| row_index(&e.field));
    Err(Error::Validation(errors))
}

/// The row index in a field path like `rows[12].period`, for ordering errors by row.
fn row_index(field: &str) -> usize {
    field
        .strip_prefix("rows[")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX)
}
