//! Start-up data: the first admin from the environment, and the demo data of `serve --demo`.

use secrecy::SecretString;
use uuid::Uuid;

use super::funds::{NewFund, NewSource};
use super::orgs::NewOrg;
use super::users::{NewClient, NewUser};
use crate::db::write::WriteCtx;
use crate::db::{self, Pool};
use crate::domain::funds::{FundKind, SourceKind};
use crate::domain::ids::CreditCode;
use crate::domain::money::{Money, Ratio};
use crate::domain::orgs::{OrgKind, UnitKind};
use crate::domain::policy::{Caller, Role, Scope, SubjectKind};
use crate::error::Error;

/// The password of every demo user (README, "Demo users").
pub const DEMO_PASSWORD: &str = "unionfund-demo";
/// The demo finance-bureau client's id.
pub const DEMO_CLIENT_ID: Uuid = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0b0b);
/// The demo finance-bureau client's secret.
pub const DEMO_CLIENT_SECRET: &str = "demo-finance-bureau-secret";

fn system(request_id: &str) -> WriteCtx {
    WriteCtx { caller: None, request_id: request_id.into(), now: super::now() }
}

fn id_of(stored: &crate::db::write::Stored, field: &str) -> Result<Uuid, Error> {
    let v: serde_json::Value = serde_json::from_slice(&stored.body).map_err(Error::internal)?;
    v[field].as_str().and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| Error::internal("no id in answer"))
}

/// The federation organisation, created when there is none yet.
fn federation(pool: &Pool, ctx: &WriteCtx) -> Result<Uuid, Error> {
    let mut conn = pool.get()?;
    if let Some(org) = db::orgs::list(&mut conn, Scope::All, Some("federation"), None, 1)?.into_iter().next() {
        return Ok(org.id);
    }
    drop(conn);
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
        },
    )?;
    id_of(&stored, "id")
}

/// Creates the first admin from `UNIONFUND_ADMIN_USERNAME`/`_PASSWORD` when no admin exists.
pub fn ensure_first_admin(pool: &Pool, admin: Option<&(String, SecretString)>) -> Result<(), Error> {
    let Some((username, password)) = admin else { return Ok(()) };
    let mut conn = pool.get()?;
    if db::users::admin_exists(&mut conn)? {
        return Ok(());
    }
    drop(conn);
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

fn credit(first17: &str) -> Result<CreditCode, Error> {
    let check = CreditCode::check_char(first17).ok_or_else(|| Error::internal("bad demo credit code"))?;
    CreditCode::parse(&format!("{first17}{check}")).map_err(Error::internal)
}

/// Loads the demo data into an empty database; does nothing when any organisation exists.
pub fn load(pool: &Pool) -> Result<bool, Error> {
    let mut conn = pool.get()?;
    if db::orgs::any(&mut conn)? {
        tracing::info!("database not empty: demo data not loaded");
        return Ok(false);
    }
    drop(conn);
    let ctx = system("demo");
    let org = |name: &str, kind, parent, credit_code, unit_kind| -> Result<Uuid, Error> {
        let cmd = NewOrg { name: name.into(), kind, parent_id: parent, credit_code, unit_kind };
        id_of(&super::orgs::create_now(pool, &ctx, None, cmd)?, "id")
    };
    let federation = org("沅江市总工会", OrgKind::Federation, None, None, None)?;
    let township = org("琼湖街道总工会", OrgKind::TownshipUnion, Some(federation), None, None)?;
    let unit = org(
        "沅江市教育局",
        OrgKind::MemberUnit,
        Some(federation),
        Some(credit("11430981MB1234567")?),
        Some(UnitKind::Administrative),
    )?;
    let bureau = org("沅江市财政局", OrgKind::FinanceBureau, None, Some(credit("11430981MB7654321")?), None)?;
    let users = [
        ("admin", Role::Admin, federation),
        ("clerk", Role::Clerk, township),
        ("unit_clerk", Role::Clerk, unit),
        ("rights_officer", Role::RightsOfficer, federation),
        ("org_officer", Role::OrgOfficer, federation),
        ("finance_officer", Role::FinanceOfficer, federation),
        ("leader", Role::Leader, federation),
        ("auditor", Role::Auditor, federation),
        ("bureau", Role::FinanceBureau, bureau),
    ];
    let mut finance_officer = None;
    for (username, role, org_id) in users {
        let cmd = NewUser {
            username: username.into(),
            password: SecretString::from(DEMO_PASSWORD),
            role,
            org_id,
            display_name: username.into(),
        };
        let id = id_of(&super::users::create_now(pool, &ctx, None, cmd)?, "id")?;
        if role == Role::FinanceOfficer {
            finance_officer = Some(Caller { subject: id, kind: SubjectKind::User, role, org_id });
        }
    }
    let client = NewClient {
        id: Some(DEMO_CLIENT_ID),
        name: "沅江市财政局 system".into(),
        role: Role::FinanceBureau,
        org_id: bureau,
    };
    super::users::create_client_now(pool, &ctx, None, client, Some(DEMO_CLIENT_SECRET.to_owned()))?;
    // The three project funds of 2022 (DOMAIN.md), held by the federation, set up by finance.
    let officer = WriteCtx { caller: finance_officer, ..system("demo") };
    let money = |s: &str| Money::parse(s).map_err(Error::internal);
    for (name, kind, budget) in [
        ("2022年行政事业单位工会经费", FundKind::UnionFee, "1500000.00"),
        ("2022年帮扶基金", FundKind::Hardship, "60000.00"),
        ("2022年乡镇工会组织工作经费", FundKind::TownshipGrant, "280000.00"),
    ] {
        let stored = super::funds::create_now(
            pool,
            &officer,
            None,
            NewFund { name: name.into(), kind, year: 2022, budget: money(budget)? },
        )?;
        if kind == FundKind::Hardship {
            let fund = id_of(&stored, "id")?;
            let ratio = Ratio::parse("0.5").map_err(Error::internal)?;
            for (kind, amount, matching_ratio) in
                [(SourceKind::UpperAllocation, "40000.00", Some(ratio)), (SourceKind::LocalMatching, "20000.00", None)]
            {
                let cmd = NewSource { kind, amount: money(amount)?, matching_ratio, description: String::new() };
                super::funds::add_source_now(pool, &officer, None, None, fund, cmd)?;
            }
        }
    }
    tracing::info!("demo data loaded");
    Ok(true)
}
