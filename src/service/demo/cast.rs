//! The demo's cast: the federation's organisations (source document, 一、部门概况), its
//! townships and member units, a user of every role and the finance bureau's client.

use secrecy::SecretString;
use uuid::Uuid;

use super::{DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_PASSWORD, id_of, money, system};
use crate::db::write::WriteCtx;
use crate::db::{self, Pool};
use crate::domain::ids::CreditCode;
use crate::domain::money::Money;
use crate::domain::orgs::{OrgKind, UnitKind};
use crate::domain::policy::{Caller, Role, SubjectKind};
use crate::error::Error;
use crate::service::orgs::NewOrg;
use crate::service::users::{NewClient, NewUser};

fn credit(first17: &str) -> Result<CreditCode, Error> {
    let check = CreditCode::check_char(first17).ok_or_else(|| Error::internal("bad demo credit code"))?;
    CreditCode::parse(&format!("{first17}{check}")).map_err(Error::internal)
}

/// Who does what in the demo, and the organisations the 2022 activity needs.
pub(super) struct Cast {
    pub(super) officer: WriteCtx,
    pub(super) rights: WriteCtx,
    pub(super) leader: Caller,
    pub(super) bureau: WriteCtx,
    pub(super) townships: Vec<(Uuid, u32)>,
    pub(super) units: Vec<(Uuid, Money)>,
}

/// The federation's departments and affiliated institutions (source document, 一、部门概况).
const DEPARTMENTS: [&str; 6] = [
    "办公室",
    "组织部",
    "宣传教育和网络信息部（市女职工部）",
    "劳动和经济服务部",
    "权益保障部",
    "财务资产部（经费审查委员会办公室）",
];
const AFFILIATED: [&str; 3] = ["沅江市职工技术协会办公室", "沅江市职工业余学校", "沅江市困难职工帮扶中心"];

/// The township and street unions of the demo, with their members (illustrative: the source
/// document counts unions but does not list them).
const TOWNSHIPS: [(&str, u32); 13] = [
    ("琼湖街道总工会", 3200),
    ("胭脂湖街道总工会", 1800),
    ("庆云山街道总工会", 1500),
    ("南大膳镇总工会", 2600),
    ("黄茅洲镇总工会", 2100),
    ("草尾镇总工会", 2900),
    ("阳罗洲镇总工会", 1700),
    ("四季红镇总工会", 1900),
    ("泗湖山镇总工会", 1600),
    ("新湾镇总工会", 2200),
    ("茶盘洲镇总工会", 1400),
    ("南嘴镇总工会", 1300),
    ("共华镇总工会", 2000),
];

/// Member units paying union fees, with their monthly payroll: 2% of the five together is
/// 125,000.00 a month, 1,500,000.00 a year — the project's budget.
const UNITS: [(&str, &str, UnitKind, &str); 5] = [
    ("沅江市教育局", "11430981MB1234567", UnitKind::Administrative, "2500000.00"),
    ("沅江市卫生健康局", "11430981MB2234561", UnitKind::Administrative, "1250000.00"),
    ("沅江市人民医院", "12430981MB3234562", UnitKind::PublicInstitution, "1000000.00"),
    ("沅江市第一中学", "12430981MB4234563", UnitKind::PublicInstitution, "1000000.00"),
    ("沅江市人力资源和社会保障局", "11430981MB5234564", UnitKind::Administrative, "500000.00"),
];

/// Organisations, users and the bureau's client, on the calling thread.
pub(super) fn setup(pool: &Pool) -> Result<Option<Cast>, Error> {
    if pool.read(db::orgs::any)? {
        tracing::info!("database not empty: demo data not loaded");
        return Ok(None);
    }
    let ctx = system("demo");
    let org = |name: &str, kind, parent, credit_code, unit_kind| -> Result<Uuid, Error> {
        let cmd = NewOrg { name: name.into(), kind, parent_id: parent, credit_code, unit_kind, union: None };
        id_of(&crate::service::orgs::create_now(pool, &ctx, None, cmd)?, "id")
    };
    let federation = org("沅江市总工会", OrgKind::Federation, None, None, None)?;
    for name in DEPARTMENTS {
        org(name, OrgKind::Department, Some(federation), None, None)?;
    }
    for name in AFFILIATED {
        org(name, OrgKind::AffiliatedInstitution, Some(federation), None, None)?;
    }
    let mut townships = Vec::new();
    for (name, members) in TOWNSHIPS {
        townships.push((org(name, OrgKind::TownshipUnion, Some(federation), None, None)?, members));
    }
    let mut units = Vec::new();
    for (name, code, kind, payroll) in UNITS {
        let id = org(name, OrgKind::MemberUnit, Some(federation), Some(credit(&code[..17])?), Some(kind))?;
        units.push((id, money(payroll)?));
    }
    org("益阳市总工会", OrgKind::UpperUnion, None, None, None)?;
    let bureau = org("沅江市财政局", OrgKind::FinanceBureau, None, Some(credit("11430981MB7654321")?), None)?;
    let users = [
        ("admin", Role::Admin, federation),
        ("clerk", Role::Clerk, townships[0].0),
        ("unit_clerk", Role::Clerk, units[0].0),
        ("rights_officer", Role::RightsOfficer, federation),
        ("org_officer", Role::OrgOfficer, federation),
        ("finance_officer", Role::FinanceOfficer, federation),
        ("leader", Role::Leader, federation),
        ("auditor", Role::Auditor, federation),
        ("bureau", Role::FinanceBureau, bureau),
    ];
    let mut callers = std::collections::HashMap::new();
    for (username, role, org_id) in users {
        let cmd = NewUser {
            username: username.into(),
            password: SecretString::from(DEMO_PASSWORD),
            role,
            org_id,
            display_name: username.into(),
        };
        let id = id_of(&crate::service::users::create_now(pool, &ctx, None, cmd)?, "id")?;
        callers.insert(role, Caller { subject: id, kind: SubjectKind::User, role, org_id });
    }
    let client = NewClient {
        id: Some(DEMO_CLIENT_ID),
        name: "沅江市财政局 system".into(),
        role: Role::FinanceBureau,
        org_id: bureau,
    };
    crate::service::users::create_client_now(pool, &ctx, None, client, Some(DEMO_CLIENT_SECRET.to_owned()))?;
    let as_role = |role: Role| -> Result<WriteCtx, Error> {
        let caller = callers.get(&role).cloned().ok_or_else(|| Error::internal("demo user missing"))?;
        Ok(WriteCtx { caller: Some(caller), ..system("demo") })
    };
    let bureau_client =
        Caller { subject: DEMO_CLIENT_ID, kind: SubjectKind::Client, role: Role::FinanceBureau, org_id: bureau };
    Ok(Some(Cast {
        officer: as_role(Role::FinanceOfficer)?,
        rights: as_role(Role::RightsOfficer)?,
        leader: callers.get(&Role::Leader).cloned().ok_or_else(|| Error::internal("demo leader missing"))?,
        bureau: WriteCtx { caller: Some(bureau_client), ..system("demo") },
        townships,
        units,
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::domain::money::Rate;

    #[test]
    fn two_percent_of_the_units_payroll_is_the_union_fee_projects_budget() {
        let two = Rate::parse("0.02").unwrap();
        let monthly = Money::checked_sum(UNITS.iter().map(|u| money(u.3).unwrap().times(two))).unwrap();
        assert_eq!(monthly, money("125000.00").unwrap());
        assert_eq!(Money::checked_sum(std::iter::repeat_n(monthly, 12)).unwrap(), money("1500000.00").unwrap());
    }

    #[test]
    fn every_demo_credit_code_gets_its_check_character() {
        for (_, code, _, _) in UNITS {
            let made = credit(&code[..17]).unwrap();
            assert!(made.to_string().starts_with(&code[..17]), "{made}");
        }
        assert!(credit("11430981MB7654321").is_ok());
    }
}
