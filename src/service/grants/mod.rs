//! Township union work grants (DOMAIN.md, fund 3: 乡镇工会组织工作经费, 280,000.00 in 2022).
//! Grants come two ways: a township union's clerk applies (the approval machine of
//! `service::cases`, reviewed by the organisation department, approved by a leader), or the
//! finance office allocates a year's total by formula (`domain::grants`). Either way the money
//! then moves through the item's four stages (`service::items`), like every earmarked sum.
//!
//! Applications, their reads and the approval machine's hooks are here; the formula allocation
//! is in `formula`.

mod formula;

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

pub use self::formula::{Formula, FormulaGrant, FormulaView, allocate_by_formula};
use super::cases::{CaseFields, CaseRow};
use super::{Listed, Page, etag, stored_money as money};
use crate::db::Db;
use crate::db::grants::GrantRow;
use crate::db::write::{Answer, Event, Idempotency, Stored, Tx, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::approval::{CaseAction, CaseKind, CaseStatus};
use crate::domain::audit::Stream;
use crate::domain::ids::FundId;
use crate::domain::ids::GrantId;
use crate::domain::items::ItemStage;
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;

/// A grant as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantView {
    /// Id.
    pub id: Uuid,
    /// The township-grant fund.
    pub fund_id: Uuid,
    /// The township union.
    pub org_id: Uuid,
    /// The fund's year.
    pub year: i32,
    /// `application` (filed by the township) or `formula` (the year's allocation).
    pub basis: String,
    /// What the money is for.
    pub purpose: String,
    /// The work plan.
    pub work_plan: Option<String>,
    /// Members counted by the formula.
    pub members: Option<i32>,
    /// Asked for (for a formula grant: its share).
    pub requested_amount: Money,
    /// Approved.
    pub approved_amount: Option<Money>,
    /// Where the case is in the approval machine.
    pub status: CaseStatus,
    /// Once approved: the item that pays it.
    pub item_id: Option<Uuid>,
    /// Once approved: the item's stage.
    pub item_stage: Option<ItemStage>,
    /// Who filed it.
    pub created_by: Uuid,
    /// Who submitted it last.
    pub submitted_by: Option<Uuid>,
    /// Who reviewed it last.
    pub reviewed_by: Option<Uuid>,
    /// Who approved it.
    pub approved_by: Option<Uuid>,
    /// Version (also the `ETag`).
    pub version: i32,
    /// Filed.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A new application for a grant.
#[derive(Debug)]
pub struct NewGrant {
    /// The township-grant fund.
    pub fund_id: Uuid,
    /// The township union.
    pub org_id: Uuid,
    /// What for.
    pub purpose: String,
    /// The work plan.
    pub work_plan: Option<String>,
    /// How much.
    pub requested_amount: Money,
}

fn stream(fund_id: Uuid) -> Stream {
    Stream::Fund(fund_id)
}

fn view(row: &GrantRow, item_stage: Option<ItemStage>) -> Result<GrantView, Error> {
    Ok(GrantView {
        id: row.id,
        fund_id: row.fund_id,
        org_id: row.org_id,
        year: row.year,
        basis: row.basis.clone(),
        purpose: row.purpose.clone(),
        work_plan: row.work_plan.clone(),
        members: row.members,
        requested_amount: money(row.requested_amount)?,
        approved_amount: row.approved_amount.map(money).transpose()?,
        status: CaseStatus::parse(&row.status).ok_or_else(|| Error::internal("bad grant status"))?,
        item_id: row.item_id,
        item_stage,
        created_by: row.created_by,
        submitted_by: row.submitted_by,
        reviewed_by: row.reviewed_by,
        approved_by: row.approved_by,
        version: row.version,
        created_at: row.created_at,
    })
}

fn stages(conn: &mut Db<'_>, rows: &[GrantRow]) -> Result<HashMap<Uuid, ItemStage>, Error> {
    super::items::stages_of(conn, &rows.iter().filter_map(|r| r.item_id).collect::<Vec<_>>())
}

fn visible(conn: &mut Db<'_>, scope: Scope, id: Uuid) -> Result<GrantRow, Error> {
    let row = db::grants::find(conn, id)?;
    if scope.sees(row.org_id) { Ok(row) } else { Err(Error::NotFound) }
}

fn summary(row: &GrantRow) -> serde_json::Value {
    serde_json::json!({
        "status": row.status, "version": row.version, "basis": row.basis, "purpose": row.purpose,
        "requested_amount": row.requested_amount, "approved_amount": row.approved_amount, "item_id": row.item_id,
    })
}

impl CaseRow for GrantRow {
    const KIND: CaseKind = CaseKind::TownshipGrant;
    const ENTITY: &'static str = "township_grant";
    type View = GrantView;

    fn event_action(action: CaseAction) -> &'static str {
        match action {
            CaseAction::Submit => "township_grant.submitted",
            CaseAction::Review => "township_grant.reviewed",
            CaseAction::Approve => "township_grant.approved",
            CaseAction::Reject => "township_grant.rejected",
            CaseAction::Return => "township_grant.returned",
            CaseAction::Withdraw => "township_grant.withdrawn",
        }
    }
    fn lock(tx: &mut Tx<'_>, id: Uuid) -> Result<Self, Error> {
        db::grants::lock(tx, id)
    }
    fn save(&self, tx: &mut Tx<'_>) -> Result<(), Error> {
        db::grants::update(tx, self)
    }
    fn fields(&mut self) -> CaseFields<'_> {
        super::cases::case_fields!(self)
    }
    fn view(&self) -> Result<GrantView, Error> {
        view(self, self.item_id.map(|_| ItemStage::Approved))
    }
    fn summary(&self) -> serde_json::Value {
        summary(self)
    }
}

/// A township-grant fund, for a grant (422 on `field` otherwise).
fn grant_fund(tx: &mut Tx<'_>, id: Uuid) -> Result<db::funds::FundRow, Error> {
    let fund = match db::funds::lock(tx, id) {
        Err(Error::NotFound) => return Err(Error::invalid("fund_id", "no such fund")),
        other => other?,
    };
    if fund.kind != "township_grant" {
        return Err(Error::invalid("fund_id", "is not a township_grant fund"));
    }
    Ok(fund)
}

/// Files a draft application for a grant (a township union's clerk, for its own union).
pub async fn create(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    scope: Scope,
    cmd: NewGrant,
) -> Result<Stored, Error> {
    super::write(pool, ctx, idem, move |tx| {
        if !scope.sees(cmd.org_id) {
            return Err(Error::NotFound);
        }
        let fund = grant_fund(tx, cmd.fund_id)?;
        let org = match db::orgs::find(tx.db(), Scope::All, cmd.org_id) {
            Err(Error::NotFound) => return Err(Error::invalid("org_id", "no such organisation")),
            other => other?,
        };
        if org.kind != "township_union" {
            return Err(Error::invalid("org_id", "grants go to township unions"));
        }
        let now = tx.ctx().now;
        let row = GrantRow {
            id: Uuid::now_v7(),
            fund_id: fund.id,
            org_id: org.id,
            year: fund.year,
            basis: "application".into(),
            purpose: cmd.purpose,
            work_plan: cmd.work_plan,
            members: None,
            requested_amount: cmd.requested_amount.as_decimal(),
            approved_amount: None,
            status: CaseStatus::Draft.as_str().into(),
            created_by: tx.ctx().subject(),
            submitted_by: None,
            reviewed_by: None,
            approved_by: None,
            item_id: None,
            version: 1,
            created_at: now,
            updated_at: now,
        };
        db::grants::insert(tx, std::slice::from_ref(&row))?;
        tx.record(Event {
            org_id: Some(row.org_id),
            fund_id: Some(row.fund_id),
            after: Some(summary(&row)),
            ..Event::new(stream(row.fund_id), "township_grant.created", "township_grant", row.id)
        });
        Ok(Answer { status: 201, etag: Some(etag(row.version)), body: view(&row, None)? })
    })
    .await
}

/// One grant (a clerk: its own union's; another's is 404).
pub async fn get(pool: &Pool, scope: Scope, id: GrantId) -> Result<GrantView, Error> {
    let id = id.uuid();
    super::read(pool, move |conn| {
        let row = visible(conn, scope, id)?;
        let s = stages(conn, std::slice::from_ref(&row))?;
        view(&row, row.item_id.and_then(|i| s.get(&i).copied()))
    })
    .await
}

/// A page of grants (a clerk: its own union's).
pub async fn list(pool: &Pool, scope: Scope, fund_id: Option<FundId>, page: Page) -> Result<Listed<GrantView>, Error> {
    let fund_id = fund_id.map(FundId::uuid);
    let after = page.uuid_cursor()?;
    let org = scope.org();
    super::read(pool, move |conn| {
        let rows = db::grants::list(conn, org, fund_id, after, page.fetch())?;
        let s = stages(conn, &rows)?;
        let listed = Listed::from_rows(rows, &page, |r| r.id.to_string(), |r| r);
        let items = listed
            .items
            .iter()
            .map(|r| view(r, r.item_id.and_then(|i| s.get(&i).copied())))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Listed { items, next_cursor: listed.next_cursor })
    })
    .await
}
