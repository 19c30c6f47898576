//! The books of 2022: the budget as adopted, the bureau's appropriations, basic expenditure,
//! the union fees of the member units, and the fixed assets.

use chrono::NaiveDate;
use uuid::Uuid;

use super::cast::Cast;
use super::payouts::{campaigns_2022, grants_2022};
use super::{bureau_key, day, id_of, money};
use crate::db::Pool;
use crate::db::write::WriteCtx;
use crate::domain::funds::{FundKind, SourceKind};
use crate::domain::ids::Period;
use crate::error::Error;
use crate::service::budgets::{self, AssetCategory, LineKind, NewAppropriation, NewAsset, NewExpenditure, NewLine};
use crate::service::fees::{self, BatchRow, MonthAmount};
use crate::service::funds::{NewFund, NewSource};

async fn fund(pool: &Pool, ctx: &WriteCtx, name: &str, kind: FundKind, budget: &str) -> Result<Uuid, Error> {
    let (pool, ctx, cmd) =
        (pool.clone(), ctx.clone(), NewFund { name: name.into(), kind, year: 2022, budget: money(budget)? });
    crate::service::blocking(move || id_of(&crate::service::funds::create_now(&pool, &ctx, None, cmd)?, "id")).await
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
pub(super) async fn year_2022(
    pool: &Pool,
    pii: &std::sync::Arc<crate::pii::PiiKeys>,
    cast: &Cast,
) -> Result<(), Error> {
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
        crate::service::blocking(move || crate::service::funds::add_source_now(&p, &o, None, None, upper, cmd)).await?;
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
        budgets::spend(pool, officer.clone(), None, 2022, line_id.into(), cmd).await?;
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
