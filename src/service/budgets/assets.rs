//! Fixed assets of an organisation (vehicles, computers, …), counted in the annual report.

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::budgets::AssetRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::audit::Stream;
use crate::domain::budgets::AssetCategory;
use crate::domain::money::Money;
use crate::error::Error;
use crate::service::{self, Listed, Page, stored_money as money};

/// A fixed asset, validated in form.
#[derive(Debug)]
pub struct NewAsset {
    /// Category.
    pub category: AssetCategory,
    /// Name.
    pub name: String,
    /// How many.
    pub quantity: i32,
    /// Their value together.
    pub value: Money,
    /// When acquired.
    pub acquired_on: NaiveDate,
}

/// A fixed asset as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct AssetView {
    /// Id.
    pub id: Uuid,
    /// The organisation that holds it.
    pub org_id: Uuid,
    /// Category.
    pub category: AssetCategory,
    /// Name.
    pub name: String,
    /// How many.
    pub quantity: i32,
    /// Their value together.
    pub value: Money,
    /// When acquired.
    pub acquired_on: NaiveDate,
    /// Recorded.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn asset_view(r: &AssetRow) -> Result<AssetView, Error> {
    Ok(AssetView {
        id: r.id,
        org_id: r.org_id,
        category: AssetCategory::parse(&r.category).ok_or_else(|| Error::internal("bad asset category"))?,
        name: r.name.clone(),
        quantity: r.quantity,
        value: money(r.value)?,
        acquired_on: r.acquired_on,
        created_at: r.created_at,
    })
}

/// Records a fixed asset of the caller's organisation (finance officer).
pub async fn record_asset(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    cmd: NewAsset,
) -> Result<Stored, Error> {
    service::write(pool, ctx, idem, move |tx| {
        let org_id = tx.ctx().caller.as_ref().map(|c| c.org_id).ok_or_else(|| Error::internal("no caller"))?;
        let row = AssetRow {
            id: Uuid::now_v7(),
            org_id,
            category: cmd.category.as_str().into(),
            name: cmd.name,
            quantity: cmd.quantity,
            value: cmd.value.as_decimal(),
            acquired_on: cmd.acquired_on,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::budgets::insert_asset(tx, &row)?;
        tx.record(Event {
            org_id: Some(org_id),
            amount: Some(row.value),
            after: Some(serde_json::json!({
                "category": row.category, "name": row.name, "quantity": row.quantity, "acquired_on": row.acquired_on,
            })),
            ..Event::new(Stream::Org(org_id), "fixed_asset.recorded", "fixed_asset", row.id)
        });
        Ok(Answer { status: 201, etag: None, body: asset_view(&row)? })
    })
    .await
}

/// A page of fixed assets; `held_on` keeps those acquired by that day.
pub async fn list_assets(pool: &Pool, held_on: Option<NaiveDate>, page: Page) -> Result<Listed<AssetView>, Error> {
    let after = page.uuid_cursor()?;
    service::read(pool, move |conn| {
        let rows = db::budgets::assets(conn, held_on, after, page.fetch())?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed.items.iter().map(asset_view).collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}
