//! Organisations: the federation, township unions, grassroots unions, member units, …

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Listed, Page, check_if_match, etag};
use crate::db::orgs::OrgRow;
use crate::db::write::{self, Answer, Event, Idempotency, Stored, WriteCtx};
use crate::db::{self, Pool};
use crate::domain::DomainError;
use crate::domain::audit::Stream;
use crate::domain::ids::CreditCode;
use crate::domain::ids::OrgId;
use crate::domain::orgs::{OrgKind, UnitKind};
use crate::domain::policy::Scope;
use crate::error::Error;

/// An organisation as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrgView {
    /// Id.
    pub id: Uuid,
    /// Name.
    #[schema(example = "沅江市总工会")]
    pub name: String,
    /// Kind.
    pub kind: OrgKind,
    /// The organisation above it.
    pub parent_id: Option<Uuid>,
    /// Unified social credit code.
    #[schema(value_type = Option<String>, example = "91350100M000100Y43")]
    pub credit_code: Option<String>,
    /// For member units: what kind of employer.
    pub unit_kind: Option<UnitKind>,
    /// For member units: whether it has a union (without one it pays the preparatory fee,
    /// 工会筹备金, which goes up in full).
    pub has_union: Option<bool>,
    /// For member units: the day its union was founded, if within the books (months that start
    /// before it are preparatory).
    pub union_founded_on: Option<chrono::NaiveDate>,
    /// Version (also the `ETag`).
    pub version: i32,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl OrgView {
    fn of(r: OrgRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            kind: OrgKind::parse(&r.kind).unwrap_or(OrgKind::GrassrootsUnion),
            parent_id: r.parent_id,
            credit_code: r.credit_code,
            unit_kind: r.unit_kind.as_deref().and_then(UnitKind::parse),
            has_union: r.unit_kind.is_some().then_some(r.has_union),
            union_founded_on: r.union_founded_on,
            version: r.version,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new organisation, validated.
#[derive(Debug)]
pub struct NewOrg {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: OrgKind,
    /// Parent.
    pub parent_id: Option<Uuid>,
    /// Credit code.
    pub credit_code: Option<CreditCode>,
    /// Unit kind (member units only, and required for them).
    pub unit_kind: Option<UnitKind>,
    /// Its union: whether it has one and since when (member units only; default: it has one,
    /// throughout the books).
    pub union: Option<UnionStatus>,
}

/// Whether a member unit has a union, and since when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnionStatus {
    /// It has a union.
    pub has_union: bool,
    /// Founded on (within the books), if it has one.
    pub founded_on: Option<chrono::NaiveDate>,
}

/// Checks a union status: a founding day only for a unit with a union, and only for member units.
pub fn check_union(kind: OrgKind, union: Option<UnionStatus>) -> Result<(), DomainError> {
    match union {
        Some(_) if kind != OrgKind::MemberUnit => {
            Err(DomainError::invalid("has_union", "only member units pay union fees"))
        }
        Some(UnionStatus { has_union: false, founded_on: Some(_) }) => {
            Err(DomainError::invalid("union_founded_on", "a unit without a union has no founding day"))
        }
        _ => Ok(()),
    }
}

/// Changes to an organisation, validated; absent fields stay as they are.
#[derive(Debug, Default)]
pub struct OrgChanges {
    /// New name.
    pub name: Option<String>,
    /// New credit code.
    pub credit_code: Option<CreditCode>,
    /// New unit kind.
    pub unit_kind: Option<UnitKind>,
    /// New union status.
    pub union: Option<UnionStatus>,
}

/// Checks the rule that ties `unit_kind` to member units.
pub fn check_unit_kind(kind: OrgKind, unit_kind: Option<UnitKind>) -> Result<(), DomainError> {
    match (kind, unit_kind) {
        (OrgKind::MemberUnit, None) => Err(DomainError::invalid("unit_kind", "a member unit needs its unit_kind")),
        (k, Some(_)) if k != OrgKind::MemberUnit => {
            Err(DomainError::invalid("unit_kind", "only member units have a unit_kind"))
        }
        _ => Ok(()),
    }
}

fn stream(id: Uuid) -> Stream {
    Stream::Org(id)
}

fn json(row: &OrgRow) -> serde_json::Value {
    serde_json::json!({"name": row.name, "kind": row.kind, "parent_id": row.parent_id,
        "credit_code": row.credit_code, "unit_kind": row.unit_kind, "has_union": row.has_union,
        "union_founded_on": row.union_founded_on, "version": row.version})
}

/// Creates an organisation.
#[tracing::instrument(skip_all)]
pub async fn create(pool: &Pool, ctx: WriteCtx, idem: Option<Idempotency>, cmd: NewOrg) -> Result<Stored, Error> {
    let pool = pool.clone();
    super::blocking(move || create_now(&pool, &ctx, idem.as_ref(), cmd)).await
}

/// Creates an organisation on the calling thread (start-up and demo data use it directly).
pub fn create_now(pool: &Pool, ctx: &WriteCtx, idem: Option<&Idempotency>, cmd: NewOrg) -> Result<Stored, Error> {
    check_unit_kind(cmd.kind, cmd.unit_kind)?;
    check_union(cmd.kind, cmd.union)?;
    let union = cmd.union.unwrap_or(UnionStatus { has_union: true, founded_on: None });
    write::execute(pool, ctx, idem, |tx| {
        if let Some(parent) = cmd.parent_id {
            db::orgs::find(tx.db(), Scope::All, parent)
                .map_err(|_| Error::invalid("parent_id", "no such organisation"))?;
        }
        let row = OrgRow {
            id: Uuid::now_v7(),
            name: cmd.name,
            kind: cmd.kind.as_str().into(),
            parent_id: cmd.parent_id,
            credit_code: cmd.credit_code.map(|c| c.as_str().to_owned()),
            unit_kind: cmd.unit_kind.map(|u| u.as_str().to_owned()),
            version: 1,
            created_at: tx.ctx().now,
            updated_at: tx.ctx().now,
            has_union: union.has_union,
            union_founded_on: union.founded_on,
        };
        db::orgs::insert(tx, &row)?;
        tx.record(Event {
            org_id: Some(row.id),
            after: Some(json(&row)),
            ..Event::new(stream(row.id), "org.created", "org", row.id)
        });
        Ok(Answer { status: 201, etag: Some(etag(row.version)), body: OrgView::of(row) })
    })
}

/// Changes an organisation (If-Match required).
#[tracing::instrument(skip_all, fields(org.id = %id))]
pub async fn update(
    pool: &Pool,
    ctx: WriteCtx,
    idem: Option<Idempotency>,
    if_match: Option<String>,
    id: OrgId,
    changes: OrgChanges,
) -> Result<Stored, Error> {
    let id = id.uuid();
    super::write(pool, ctx, idem, move |tx| {
        let before = db::orgs::lock(tx, id)?;
        check_if_match(if_match.as_deref(), before.version)?;
        let mut row = before.clone();
        if let Some(name) = changes.name {
            row.name = name;
        }
        if let Some(code) = changes.credit_code {
            row.credit_code = Some(code.as_str().to_owned());
        }
        if let Some(unit_kind) = changes.unit_kind {
            let kind = OrgKind::parse(&row.kind).ok_or_else(|| Error::internal("bad org kind"))?;
            check_unit_kind(kind, Some(unit_kind))?;
            row.unit_kind = Some(unit_kind.as_str().to_owned());
        }
        if let Some(union) = changes.union {
            let kind = OrgKind::parse(&row.kind).ok_or_else(|| Error::internal("bad org kind"))?;
            check_union(kind, Some(union))?;
            (row.has_union, row.union_founded_on) = (union.has_union, union.founded_on);
        }
        row.version += 1;
        row.updated_at = tx.ctx().now;
        db::orgs::update(tx, &row)?;
        tx.record(Event {
            org_id: Some(id),
            before: Some(json(&before)),
            after: Some(json(&row)),
            ..Event::new(stream(id), "org.updated", "org", id)
        });
        Ok(Answer { status: 200, etag: Some(etag(row.version)), body: OrgView::of(row) })
    })
    .await
}

/// One organisation, if the caller's scope sees it (else 404).
pub async fn get(pool: &Pool, scope: Scope, id: OrgId) -> Result<(OrgView, String), Error> {
    let id = id.uuid();
    super::read(pool, move |conn| {
        let row = db::orgs::find(conn, scope, id)?;
        let tag = etag(row.version);
        Ok((OrgView::of(row), tag))
    })
    .await
}

/// A page of organisations the caller's scope sees.
pub async fn list(pool: &Pool, scope: Scope, kind: Option<OrgKind>, page: Page) -> Result<Listed<OrgView>, Error> {
    let after = page.uuid_cursor()?;
    super::read(pool, move |conn| {
        let rows = db::orgs::list(conn, scope, kind.map(OrgKind::as_str), after, page.fetch())?;
        Ok(Listed::from_rows(rows, &page, |r| r.id.to_string(), OrgView::of))
    })
    .await
}
