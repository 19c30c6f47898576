//! The rate table: what share of payroll a kind of unit pays, and of it what is remitted, from a date on.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::fees::FeeRateRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::domain::fees::FeeRate;
use crate::domain::money::Rate;
use crate::domain::orgs::UnitKind;
use crate::error::Error;
use crate::service::{Listed, Page};

/// A rate as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeRateView {
    /// Id.
    pub id: Uuid,
    /// Which units it applies to.
    pub unit_kind: UnitKind,
    /// The union fee, or the preparatory fee of units without a union.
    pub scheme: crate::domain::fees::FeeScheme,
    /// Share of payroll due as the fee.
    pub fee_rate: Rate,
    /// Share of the fee remitted upward, to the city federation (its share and the upper
    /// levels' together).
    pub remit_rate: Rate,
    /// Of the fee, the share the city passes on to the provincial and national federations.
    pub upper_rate: Rate,
    /// The three levels' shares of the fee, adding up to one.
    pub shares: SharesView,
    /// First day in force.
    pub effective_from: NaiveDate,
}

/// How the fee divides between the levels, as shares of the fee.
#[derive(Debug, Serialize, ToSchema)]
pub struct SharesView {
    /// Kept by the unit's grassroots union (1 − remit_rate).
    pub retained: Rate,
    /// Kept by the city federation (remit_rate − upper_rate).
    pub city: Rate,
    /// Passed on by the city to the upper levels (upper_rate).
    pub upper: Rate,
}

fn rate_view(r: FeeRateRow) -> Result<FeeRateView, Error> {
    let id = r.id;
    let rate = super::batch::rate_row(r)?;
    let shares = rate.shares();
    Ok(FeeRateView {
        id,
        unit_kind: rate.unit_kind,
        scheme: rate.scheme,
        fee_rate: rate.fee_rate,
        remit_rate: rate.remit_rate,
        upper_rate: rate.upper_rate,
        shares: SharesView { retained: shares.retained, city: shares.city, upper: shares.upper },
        effective_from: rate.effective_from,
    })
}

/// A page of the rate table.
pub async fn list_rates(pool: &Pool, page: Page) -> Result<Listed<FeeRateView>, Error> {
    let after = page.uuid_cursor()?;
    crate::service::read(pool, move |conn| {
        let rows = db::fees::list_rates(conn, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.into_iter().map(rate_view).collect::<Result<_, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}

/// Adds a rate (admin): from `effective_from` on, periods of that kind of unit use it.
#[tracing::instrument(skip_all)]
pub async fn create_rate(pool: &Pool, ctx: WriteCtx, idem: Option<Idempotency>, new: FeeRate) -> Result<Stored, Error> {
    new.check()?;
    crate::service::write(pool, ctx, idem, move |tx| {
        let row = FeeRateRow {
            id: Uuid::now_v7(),
            unit_kind: new.unit_kind.as_str().into(),
            fee_rate: new.fee_rate.as_decimal(),
            remit_rate: new.remit_rate.as_decimal(),
            effective_from: new.effective_from,
            created_at: tx.ctx().now,
            upper_rate: new.upper_rate.as_decimal(),
            scheme: new.scheme.as_str().to_owned(),
        };
        db::fees::insert_rate(tx, &row)?;
        tx.record(Event {
            after: Some(serde_json::json!({"unit_kind": row.unit_kind, "fee_rate": new.fee_rate.to_string(),
                "remit_rate": new.remit_rate.to_string(), "upper_rate": new.upper_rate.to_string(), "scheme": new.scheme,
                "effective_from": row.effective_from})),
            ..Event::new(Stream::FeeRates, "fee_rate.created", "fee_rate", row.id)
        });
        Ok(Answer { status: 201, etag: None, body: rate_view(row)? })
    })
    .await
}
