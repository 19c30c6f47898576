//! Start-up data: the first admin from the environment, and the demo data of `serve --demo`.

use secrecy::SecretString;
use uuid::Uuid;

use chrono::NaiveDate;

use super::budgets::{self, AssetCategory, LineKind, NewAppropriation, NewAsset, NewExpenditure, NewLine};
use super::campaigns::{self, BankResult, NewBeneficiary, NewCampaign, PaymentStatus};
use super::fees::{self, BatchRow, MonthAmount};
use super::funds::{NewFund, NewSource};
use super::grants::{self, Formula};
use super::items::{self, Disburse, ReportUse};
use super::orgs::NewOrg;
use super::users::{NewClient, NewUser};
use super::{Page, etag};
use crate::db::write::WriteCtx;
use crate::db::{self, Pool};
use crate::domain::funds::{FundKind, SourceKind};
use crate::domain::hardship::CampaignKind;
use crate::domain::ids::{CreditCode, Period, ResidentId};
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

fn credit(first17: &str) -> Result<CreditCode, Error> {
    let check = CreditCode::check_char(first17).ok_or_else(|| Error::internal("bad demo credit code"))?;
    CreditCode::parse(&format!("{first17}{check}")).map_err(Error::internal)
}

/// Who does what in the demo, and the organisations the 2022 activity needs.
struct Cast {
    officer: WriteCtx,
    rights: WriteCtx,
    leader: Caller,
    bureau: WriteCtx,
    townships: Vec<(Uuid, u32)>,
    units: Vec<(Uuid, Money)>,
}

fn money(s: &str) -> Result<Money, Error> {
    Money::parse(s).map_err(Error::internal)
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
fn setup(pool: &Pool) -> Result<Option<Cast>, Error> {
    if pool.read(db::orgs::any)? {
        tracing::info!("database not empty: demo data not loaded");
        return Ok(None);
    }
    let ctx = system("demo");
    let org = |name: &str, kind, parent, credit_code, unit_kind| -> Result<Uuid, Error> {
        let cmd = NewOrg { name: name.into(), kind, parent_id: parent, credit_code, unit_kind };
        id_of(&super::orgs::create_now(pool, &ctx, None, cmd)?, "id")
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
        let id = id_of(&super::users::create_now(pool, &ctx, None, cmd)?, "id")?;
        callers.insert(role, Caller { subject: id, kind: SubjectKind::User, role, org_id });
    }
    let client = NewClient {
        id: Some(DEMO_CLIENT_ID),
        name: "沅江市财政局 system".into(),
        role: Role::FinanceBureau,
        org_id: bureau,
    };
    super::users::create_client_now(pool, &ctx, None, client, Some(DEMO_CLIENT_SECRET.to_owned()))?;
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

/// Loads the demo data into an empty database (does nothing when any organisation exists):
/// the organisations of the source document, demo users of every role, and the books of 2022
/// — budget lines, appropriations, basic expenditure, the three projects with their campaigns,
/// grants and union fees, and the fixed assets — all through the service's write path, so that
/// the trail verifies and the annual report reproduces the document's figures. A 2023 hardship
/// fund is left open for a first session.
pub async fn load(pool: &Pool, pii: std::sync::Arc<crate::pii::PiiKeys>) -> Result<bool, Error> {
    let setup_pool = pool.clone();
    let Some(cast) = super::blocking(move || setup(&setup_pool)).await? else { return Ok(false) };
    year_2022(pool, &pii, &cast).await?;
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

async fn fund(pool: &Pool, ctx: &WriteCtx, name: &str, kind: FundKind, budget: &str) -> Result<Uuid, Error> {
    let (pool, ctx, cmd) =
        (pool.clone(), ctx.clone(), NewFund { name: name.into(), kind, year: 2022, budget: money(budget)? });
    super::blocking(move || id_of(&super::funds::create_now(&pool, &ctx, None, cmd)?, "id")).await
}

/// A line of 2022: code, name, kind, parent's code, budget, fund.
type LineSpec<'a> = (&'a str, &'a str, LineKind, Option<&'a str>, &'a str, Option<Uuid>);

async fn line(
    pool: &Pool,
    cast: &Cast,
    (code, name, kind, parent, budget, fund_id): LineSpec<'_>,
) -> Result<Uuid, Error> {
    let cmd = NewLine {
        code: code.into(),
        name: name.into(),
        kind,
        parent_code: parent.map(str::to_owned),
        budget: money(budget)?,
        fund_id,
    };
    id_of(&budgets::create_line(pool, cast.officer.clone(), None, 2022, cmd).await?, "id")
}

/// The books of 2022 (DOMAIN.md, "The 2022 figures").
async fn year_2022(pool: &Pool, pii: &std::sync::Arc<crate::pii::PiiKeys>, cast: &Cast) -> Result<(), Error> {
    use LineKind::{Basic, Group, Project};
    let officer = &cast.officer;
    // The project funds, and the upper union's special allocation for the campaigns.
    let union_fees = fund(pool, officer, "2022年行政事业单位工会经费", FundKind::UnionFee, "1500000.00").await?;
    let hardship = fund(pool, officer, "2022年帮扶基金", FundKind::Hardship, "60000.00").await?;
    let grants = fund(pool, officer, "2022年乡镇工会组织工作经费", FundKind::TownshipGrant, "280000.00").await?;
    let upper = fund(pool, officer, "2022年上级工会帮扶专项资金", FundKind::Hardship, "819988.00").await?;
    {
        let (p, o) = (pool.clone(), officer.clone());
        let cmd = NewSource {
            kind: SourceKind::UpperAllocation,
            amount: money("819988.00")?,
            matching_ratio: None,
            description: "益阳市总工会送温暖、金秋助学、夏送清凉专项".into(),
            reference: "DEMO-2022-UPPER".into(),
        };
        super::blocking(move || super::funds::add_source_now(&p, &o, None, None, upper, cmd)).await?;
    }
    // The budget as adopted.
    line(pool, cast, ("total", "支出预算合计", Group, None, "3886200.00", None)).await?;
    line(pool, cast, ("basic", "基本支出", Group, Some("total"), "2046200.00", None)).await?;
    let wages = line(pool, cast, ("basic_wages", "工资福利支出", Basic, Some("basic"), "1803100.00", None)).await?;
    let goods =
        line(pool, cast, ("basic_goods_services", "一般商品和服务支出", Basic, Some("basic"), "210000.00", None))
            .await?;
    let subsidies =
        line(pool, cast, ("basic_household_subsidies", "对个人和家庭的补助", Basic, Some("basic"), "33100.00", None))
            .await?;
    let in_year =
        line(pool, cast, ("basic_in_year", "年中追加支出（未列入年初预算）", Basic, Some("basic"), "0.00", None))
            .await?;
    line(pool, cast, ("project", "项目支出", Group, Some("total"), "1840000.00", None)).await?;
    let fee = ("project_union_fees", "行政事业单位工会经费", Project, Some("project"), "1500000.00", Some(union_fees));
    let fee_line = line(pool, cast, fee).await?;
    let hardship_line =
        line(pool, cast, ("project_hardship", "帮扶基金", Project, Some("project"), "60000.00", Some(hardship)))
            .await?;
    let grant =
        ("project_township_grants", "乡镇工会组织工作经费", Project, Some("project"), "280000.00", Some(grants));
    let grant_line = line(pool, cast, grant).await?;
    // Appropriations from the finance bureau's system: 4,978.03 thousand in all. The in-year
    // 1,091.83 thousand is what the source document spends beyond its budget without saying why.
    let appropriations = [
        (wages, "1803100.00", "沅财预〔2022〕1号", SourceKind::FinanceAppropriation, (1, 10)),
        (goods, "210000.00", "沅财预〔2022〕2号", SourceKind::FinanceAppropriation, (1, 10)),
        (subsidies, "33100.00", "沅财预〔2022〕3号", SourceKind::FinanceAppropriation, (1, 10)),
        (fee_line, "1500000.00", "沅财预〔2022〕4号", SourceKind::FinanceAppropriation, (1, 10)),
        (hardship_line, "60000.00", "沅财预〔2022〕5号", SourceKind::LocalMatching, (1, 10)),
        (grant_line, "280000.00", "沅财预〔2022〕6号", SourceKind::FinanceAppropriation, (1, 10)),
        (in_year, "1091830.00", "沅财追〔2022〕8号", SourceKind::FinanceAppropriation, (8, 15)),
    ];
    for (i, (line_id, amount, reference, source_kind, (m, d))) in appropriations.into_iter().enumerate() {
        let cmd = NewAppropriation {
            line_id,
            amount: money(amount)?,
            reference: reference.into(),
            received_on: day(2022, m, d)?,
            source_kind,
            description: String::new(),
        };
        let key = bureau_key(&format!("appropriation-{i}"));
        budgets::appropriate(pool, cast.bureau.clone(), Some(key), 2022, cmd).await?;
    }
    // Basic expenditure.
    let mut spending: Vec<(Uuid, String, &str, NaiveDate)> = Vec::new();
    for month in 1..=12 {
        let amount = if month == 12 { "150258.37" } else { "150258.33" };
        spending.push((wages, format!("{month}月工资福利"), amount, day(2022, month, 25)?));
    }
    for (what, amount, m) in
        [("办公费", "80000.00", 3), ("印刷费", "30000.00", 5), ("差旅费", "50000.00", 9), ("水电费", "50000.00", 12)]
    {
        spending.push((goods, what.into(), amount, day(2022, m, 20)?));
    }
    spending.push((subsidies, "离退休人员生活补助".into(), "33100.00", day(2022, 6, 30)?));
    spending.push((in_year, "年中追加拨款支出（用途文件未说明）".into(), "1091830.00", day(2022, 11, 30)?));
    for (i, (line_id, description, amount, spent_on)) in spending.into_iter().enumerate() {
        let cmd = NewExpenditure {
            amount: money(amount)?,
            description,
            voucher_no: Some(format!("2022-JB-{:03}", i + 1)),
            spent_on,
        };
        budgets::spend(pool, officer.clone(), None, 2022, line_id, cmd).await?;
    }
    campaigns_2022(pool, pii, cast, hardship, upper).await?;
    grants_2022(pool, cast, grants).await?;
    fees_2022(pool, cast).await?;
    for (category, name, quantity, value, acquired) in [
        (AssetCategory::Computer, "台式电脑", 8, "36680.00", day(2020, 6, 1)?),
        (AssetCategory::Copier, "复印机", 1, "22180.00", day(2019, 3, 1)?),
        (AssetCategory::Printer, "打印机", 2, "2960.00", day(2021, 9, 1)?),
    ] {
        let cmd = NewAsset { category, name: name.into(), quantity, value: money(value)?, acquired_on: acquired };
        budgets::record_asset(pool, officer.clone(), None, cmd).await?;
    }
    Ok(())
}

/// A valid resident ID number for the demo's n-th worker (born in Yuanjiang, 1960–1999).
fn demo_id(n: u32) -> Result<ResidentId, Error> {
    let born = day(1960, 1, 1)? + chrono::Days::new(u64::from(n % 14_600));
    let first17 = format!("430981{}{:03}", born.format("%Y%m%d"), n % 1000);
    let check = ResidentId::check_char(&first17).ok_or_else(|| Error::internal("bad demo id"))?;
    ResidentId::parse(&format!("{first17}{check}")).map_err(Error::internal)
}

const SURNAMES: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴"];
const GIVEN: [&str; 10] = ["建国", "秀英", "志强", "桂兰", "春梅", "国华", "丽娟", "海燕", "伟", "军"];

/// The four campaigns of 2022: epidemic care on the fiscal hardship fund (60 k, 300 people);
/// winter warmth (1,600 workers, 640 k), summer cooling (2,300 workers, about 160 k) and autumn
/// school aid (10 children) on the upper union's allocation. Each is created by the rights
/// officer, approved by the leader, paid by the finance office as one bank batch, and every
/// payment confirmed by the bank.
async fn campaigns_2022(
    pool: &Pool,
    pii: &std::sync::Arc<crate::pii::PiiKeys>,
    cast: &Cast,
    hardship: Uuid,
    upper: Uuid,
) -> Result<(), Error> {
    let plan = [
        (hardship, "2022年抗疫关爱", CampaignKind::EpidemicCare, 300, "200.00"),
        (upper, "2022年冬送温暖", CampaignKind::WinterWarmth, 1600, "400.00"),
        (upper, "2022年夏送清凉", CampaignKind::SummerCooling, 2300, "69.56"),
        (upper, "2022年金秋助学", CampaignKind::SchoolAid, 10, "2000.00"),
    ];
    let mut person = 0_u32;
    for (fund_id, name, kind, workers, each) in plan {
        let each = money(each)?;
        let budget = Money::from_fen(i64::try_from(each.fen()).map_err(Error::internal)? * i64::from(workers))
            .map_err(Error::internal)?;
        let cmd = NewCampaign { fund_id, name: name.into(), kind, budget };
        let id = id_of(&campaigns::create(pool, cast.rights.clone(), None, cmd).await?, "id")?;
        let mut rows = Vec::new();
        for _ in 0..workers {
            person += 1;
            let p = usize::try_from(person).map_err(Error::internal)?;
            rows.push(NewBeneficiary {
                org_id: cast.townships[p % cast.townships.len()].0,
                worker_name: format!("{}{}", SURNAMES[p % 10], GIVEN[(p / 10) % 10]),
                id_number: demo_id(person)?,
                bank_account: format!("621799{:013}", 4_300_000 + u64::from(person)),
                amount: each,
            });
        }
        let version = |v: i32| Some(etag(v));
        campaigns::add_beneficiaries(pool, pii.clone(), cast.rights.clone(), None, version(1), id, rows).await?;
        let v = campaigns::get(pool, id).await?.version;
        let leader = WriteCtx { caller: Some(cast.leader.clone()), ..system("demo") };
        campaigns::approve(pool, leader, None, cast.leader.clone(), version(v), id).await?;
        let v = campaigns::get(pool, id).await?.version;
        campaigns::disburse(pool, cast.officer.clone(), None, version(v), id).await?;
        let mut results = Vec::new();
        let mut page = Page { limit: 500, cursor: None };
        loop {
            let listed = campaigns::beneficiaries(pool, Scope::All, id, page.clone()).await?;
            for b in &listed.items {
                results.push(BankResult {
                    beneficiary_id: b.id,
                    status: PaymentStatus::Paid,
                    bank_reference: Some(format!("BANK-{}-{:05}", kind.as_str(), b.row_no)),
                    message: None,
                });
            }
            match listed.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => break,
            }
        }
        let v = campaigns::get(pool, id).await?.version;
        campaigns::record_results(pool, cast.officer.clone(), None, version(v), id, results).await?;
    }
    Ok(())
}

/// The township grants of 2022: 280,000.00 by formula (10,000.00 each, the rest by members),
/// each paid in full, its use reported against a voucher, and settled with nothing left.
async fn grants_2022(pool: &Pool, cast: &Cast, fund_id: Uuid) -> Result<(), Error> {
    let cmd = Formula {
        fund_id,
        total: money("280000.00")?,
        base_per_township: money("10000.00")?,
        townships: cast.townships.clone(),
    };
    let stored = grants::allocate_by_formula(pool, cast.officer.clone(), None, cmd).await?;
    let body: serde_json::Value = serde_json::from_slice(&stored.body).map_err(Error::internal)?;
    let parts: Vec<(Uuid, Money)> = body["grants"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|g| {
                    let item = g["item_id"].as_str().and_then(|s| Uuid::parse_str(s).ok())?;
                    let amount = g["amount"].as_str().and_then(|s| Money::parse(s).ok())?;
                    Some((item, amount))
                })
                .collect()
        })
        .unwrap_or_default();
    for (n, (item, amount)) in parts.into_iter().enumerate() {
        let version = |v: i32| Some(etag(v));
        let v = items::get(pool, Scope::All, item).await?.version;
        let pay = Disburse { amount, payee: "乡镇工会经费账户".into(), method: "bank_transfer".into() };
        items::disburse(pool, cast.officer.clone(), None, version(v), item, pay).await?;
        let v = items::get(pool, Scope::All, item).await?.version;
        let report = ReportUse {
            amount,
            description: "工会组织建设、职工之家建设和职工活动".into(),
            voucher_no: Some(format!("2022-XZ-{:03}", n + 1)),
            lines: None,
        };
        items::report_use(pool, cast.officer.clone(), None, Scope::All, version(v), item, report).await?;
        let v = items::get(pool, Scope::All, item).await?.version;
        items::settle(pool, cast.officer.clone(), None, version(v), item, None).await?;
    }
    Ok(())
}

/// Union fees of 2022: the bureau's batch of 60 monthly declarations (2% of payroll), each
/// month paid in full by its unit, and 40% of it remitted to the federation.
async fn fees_2022(pool: &Pool, cast: &Cast) -> Result<(), Error> {
    let mut rows = Vec::new();
    for month in 1..=12 {
        for (org_id, payroll) in &cast.units {
            let period = Period::new(2022, month).map_err(Error::internal)?;
            rows.push(BatchRow { org_id: Some(*org_id), credit_code: None, period, payroll_total: *payroll });
        }
    }
    fees::declare_batch(pool, cast.bureau.clone(), Some(bureau_key("declarations")), rows, None).await?;
    let two = crate::domain::money::Rate::parse("0.02").map_err(Error::internal)?;
    let forty = crate::domain::money::Rate::parse("0.40").map_err(Error::internal)?;
    for month in 1..=12 {
        for (org_id, payroll) in &cast.units {
            let period = Period::new(2022, month).map_err(Error::internal)?;
            let fee = payroll.times(two);
            let cmd = fees::Payment { org_id: *org_id, period, amount: fee, reference: format!("DEMO-{period}") };
            fees::record_payment(pool, cast.officer.clone(), None, cmd).await?;
            let cmd = MonthAmount { org_id: *org_id, period, amount: fee.times(forty) };
            fees::record_remittance(pool, cast.officer.clone(), None, cmd).await?;
        }
    }
    Ok(())
}
