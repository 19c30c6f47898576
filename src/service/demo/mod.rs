//! Start-up data: the first admin from the environment, and the demo data of `serve --demo`.
//!
//! The organisations and people of the demo are in `cast`, the books of 2022 (budget,
//! appropriations, spending, union fees, assets) in `books`, and the money paid out to workers
//! and townships (campaigns, grants) in `payouts`. What the source document does not say is
//! made up, and marked so where it is.

mod books;
mod cast;
mod payouts;

use chrono::NaiveDate;
use secrecy::SecretString;
use uuid::Uuid;

use super::funds::{NewFund, NewSource};
use super::orgs::NewOrg;
use super::users::NewUser;
use crate::db::write::WriteCtx;
use crate::db::{self, Pool};
use crate::domain::funds::{FundKind, SourceKind};
use crate::domain::money::{Money, Ratio};
use crate::domain::orgs::OrgKind;
use crate::domain::policy::{Role, Scope};
use crate::error::Error;

/// The password of every demo user (README, "Demo users").
pub const DEMO_PASSWORD: &str = "unionfund-demo";
/// The demo finance-bureau client's id.
pub const DEMO_CLIENT_ID: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0b0b);
/// The demo finance-bureau client's secret.
pub const DEMO_CLIENT_SECRET: &str = "demo-finance-bureau-secret";

fn system(request_id: &str) -> WriteCtx {
    WriteCtx { caller: None, request_id: request_id.into(), now: super::now(), adjusting: None }
}

fn id_of(stored: &crate::db::write::Stored, field: &str) -> Result<Uuid, Error> {
    let v: serde_json::Value = serde_json::from_slice(&stored.body).map_err(Error::internal)?;
    v[field].as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| Error::internal("no id in answer"))
}

/// The federation organisation, created when there is none yet.
fn federation(pool: &Pool, ctx: &WriteCtx) -> Result<Uuid, Error> {
    if let Some(org) =
        pool.read(|conn| db::orgs::list(conn, Scope::All, Some("federation"), None, 1))?.into_iter().next()
    {
        return Ok(org.id);
    }
    let stored = super::orgs::create_now(
        pool,
        ctx,
        None,
        NewOrg {
            name: "沅江市总工会".into(),
            kind: OrgKind::Federation,
            parent_id: None,
            credit_code: None,
            unit_kind: None,
            union: None,
        },
    )?;
    id_of(&stored, "id")
}

/// Creates the first admin from `UNIONFUND_ADMIN_USERNAME`/`_PASSWORD` when no admin exists.
pub fn ensure_first_admin(pool: &Pool, admin: Option<&(String, SecretString)>) -> Result<(), Error> {
    let Some((username, password)) = admin else { return Ok(()) };
    if pool.read(db::users::admin_exists)? {
        return Ok(());
    }
    let ctx = system("startup");
    let org_id = federation(pool, &ctx)?;
    super::users::create_now(
        pool,
        &ctx,
        None,
        NewUser {
            username: username.clone(),
            password: password.clone(),
            role: Role::Admin,
            org_id,
            display_name: "Administrator".into(),
        },
    )?;
    tracing::info!(username = %username, "created the first admin");
    Ok(())
}

fn money(s: &str) -> Result<Money, Error> {
    Money::parse(s).map_err(Error::internal)
}

/// Loads the demo data into an empty database (does nothing when any organisation exists):
/// the organisations of the source document, demo users of every role, and the books of 2022
/// — budget lines, appropriations, basic expenditure, the three projects with their campaigns,
/// grants and union fees, and the fixed assets — all through the service's write path, so that
/// the trail verifies and the annual report reproduces the document's figures. A 2023 hardship
/// fund is left open for a first session.
pub async fn load(pool: &Pool, pii: std::sync::Arc<crate::pii::PiiKeys>) -> Result<bool, Error> {
    let setup_pool = pool.clone();
    let Some(cast) = super::blocking(move || cast::setup(&setup_pool)).await? else { return Ok(false) };
    books::year_2022(pool, &pii, &cast).await?;
    // An open year for a first session (README): 2023's hardship fund, fed by an upper
    // allocation that requires 50% local matching, and that matching.
    let officer = cast.officer.clone();
    let fund_pool = pool.clone();
    super::blocking(move || {
        let stored = super::funds::create_now(
            &fund_pool,
            &officer,
            None,
            NewFund {
                name: "2023年帮扶基金".into(), kind: FundKind::Hardship, year: 2023, budget: money("60000.00")?
            },
        )?;
        let fund = id_of(&stored, "id")?;
        let ratio = Ratio::parse("0.5").map_err(Error::internal)?;
        for (kind, amount, matching_ratio, reference) in [
            (SourceKind::UpperAllocation, "40000.00", Some(ratio), "DEMO-2023-UPPER"),
            (SourceKind::LocalMatching, "20000.00", None, "DEMO-2023-MATCHING"),
        ] {
            let cmd = NewSource {
                kind,
                amount: money(amount)?,
                matching_ratio,
                description: String::new(),
                reference: reference.into(),
            };
            super::funds::add_source_now(&fund_pool, &officer, None, None, fund, cmd)?;
        }
        Ok(())
    })
    .await?;
    tracing::info!("demo data loaded");
    Ok(true)
}

/// The bureau is a system client: its money moves under an `Idempotency-Key`, as over HTTP
/// (the write path refuses a client's unkeyed posting).
fn bureau_key(what: &str) -> crate::db::write::Idempotency {
    crate::db::write::Idempotency { key: format!("demo-2022-{what}"), fingerprint: "demo".into() }
}

fn day(y: i32, m: u32, d: u32) -> Result<NaiveDate, Error> {
    NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| Error::internal("bad demo date"))
}
