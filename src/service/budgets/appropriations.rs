//! Appropriations: money the finance bureau sends against a leaf line, a source of its fund.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{lock_leaf, stream};
use crate::db::budgets::AppropriationRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::funds::SourceKind;
use crate::domain::money::Money;
use crate::error::Error;
use crate::service::funds::NewSource;
use crate::service::{self, Listed, Page, stored_money as money};

/// An appropriation, validated in form.
#[derive(Debug)]
pub struct NewAppropriation {
    /// The leaf line it funds.
    pub line_id: Uuid,
    /// Amount.
    pub amount: Money,
    /// The bureau's document number, unique within the year.
    pub reference: String,
    /// When the money arrived.
    pub received_on: NaiveDate,
    /// `finance_appropriation` (the default) or `local_matching` (the city's matching money).
    pub source_kind: SourceKind,
    /// What it is.
    pub description: String,
}

/// An appropriation as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppropriationView {
    /// Id.
    pub id: Uuid,
    /// Year.
    pub year: i32,
    /// The line funded.
    pub line_id: Uuid,
    /// The fund that received it.
    pub fund_id: Uuid,
    /// The fund source it is.
    pub source_id: Uuid,
    /// Amount.
    pub amount: Money,
    /// The bureau's document number.
    #[schema(example = "沅财预〔2022〕17号")]
    pub reference: String,
    /// When the money arrived.
    pub received_on: NaiveDate,
    /// The journal entry.
    pub entry_id: Uuid,
    /// Recorded.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn appropriation_view(row: &AppropriationRow, fund_id: Uuid, entry_id: Uuid) -> Result<AppropriationView, Error> {
    Ok(AppropriationView {
        id: row.id,
        year: row.year,
        line_id: row.line_id,
        fund_id,
        source_id: row.source_id,
        amount: money(row.amount)?,
        reference: row.reference.clone(),
        received_on: row.received_on,
        entry_id,
        created_at: row.created_at,
    })
}

/// Records money the finance bureau appropriated against a leaf line: a source of the line's
/// fund. A reference already used in the year is 409 `duplicate_appropriation` (a true retry
/// carries the same `Idempotency-Key` and is answered from the store instead).
#[tracing::instrument(skip_all, fields(year))]
pub async fn appropriate(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    year: i32,
    cmd: NewAppropriation,
) -> Result<Stored, Error> {
    service::write(pool, ctx, idem, move |tx| {
        service::books::ensure_open(tx, year)?;
        let (line, mut fund) = lock_leaf(tx, year, cmd.line_id, "line_id")?;
        if let Some(existing) = db::budgets::appropriation_by_reference(tx.db(), year, &cmd.reference)? {
            return Err(DomainError::conflict(
                "duplicate_appropriation",
                format!("that reference was already recorded, as appropriation {}", existing.id),
            )
            .into());
        }
        let source = service::funds::post_source(
            tx,
            &mut fund,
            NewSource {
                kind: cmd.source_kind,
                amount: cmd.amount,
                matching_ratio: None,
                description: format!("{} {}", cmd.reference, cmd.description).trim().to_owned(),
                reference: cmd.reference.clone(),
            },
        )?;
        let row = AppropriationRow {
            id: Uuid::now_v7(),
            year,
            line_id: line.id,
            source_id: source.id,
            amount: cmd.amount.as_decimal(),
            reference: cmd.reference,
            received_on: cmd.received_on,
            created_at: tx.ctx().now,
            created_by: tx.ctx().actor(),
        };
        db::budgets::insert_appropriation(tx, &row)?;
        tx.record(Event {
            fund_id: Some(fund.id),
            amount: Some(row.amount),
            entry_id: Some(source.entry_id),
            after: Some(serde_json::json!({
                "line": line.code, "reference": row.reference, "received_on": row.received_on,
                "source_kind": source.kind,
            })),
            ..Event::new(stream(year), "budget.appropriation_received", "appropriation", row.id)
        });
        Ok(Answer { status: 201, etag: None, body: appropriation_view(&row, fund.id, source.entry_id)? })
    })
    .await
}

/// A page of a year's appropriations.
pub async fn list_appropriations(pool: &Pool, year: i32, page: Page) -> Result<Listed<AppropriationView>, Error> {
    let after = page.uuid_cursor()?;
    service::read(pool, move |conn| {
        let rows = db::budgets::appropriations(conn, year, after, page.fetch())?;
        let sources: Vec<Uuid> = rows.iter().map(|r| r.source_id).collect();
        let by_id: HashMap<Uuid, db::funds::SourceRow> =
            db::funds::sources_by_id(conn, &sources)?.into_iter().map(|s| (s.id, s)).collect();
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed
            .items
            .iter()
            .map(|r| {
                let s = by_id.get(&r.source_id).ok_or_else(|| Error::internal("appropriation without source"))?;
                appropriation_view(r, s.fund_id, s.entry_id)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}
