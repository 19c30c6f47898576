//! The money of 2022 paid out: the four hardship campaigns to workers, and the township
//! grants by formula, each through its stages to settlement.

use uuid::Uuid;

use super::cast::Cast;
use super::{day, id_of, money, system};
use crate::db::Pool;
use crate::db::write::WriteCtx;
use crate::domain::hardship::CampaignKind;
use crate::domain::ids::ResidentId;
use crate::domain::money::Money;
use crate::domain::policy::Scope;
use crate::error::Error;
use crate::service::campaigns::{self, BankResult, NewBeneficiary, NewCampaign, PaymentStatus};
use crate::service::grants::{self, Formula};
use crate::service::items::{self, Disburse, ReportUse};
use crate::service::{Page, etag};

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
pub(super) async fn campaigns_2022(
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
        campaigns::add_beneficiaries(pool, pii.clone(), cast.rights.clone(), None, version(1), id.into(), rows).await?;
        let v = campaigns::get(pool, id.into()).await?.version;
        let leader = WriteCtx { caller: Some(cast.leader.clone()), ..system("demo") };
        campaigns::approve(pool, leader, None, cast.leader.clone(), version(v), id.into()).await?;
        let v = campaigns::get(pool, id.into()).await?.version;
        campaigns::disburse(pool, cast.officer.clone(), None, version(v), id.into()).await?;
        let mut results = Vec::new();
        let mut page = Page { limit: 500, cursor: None };
        loop {
            let listed = campaigns::beneficiaries(pool, Scope::All, id.into(), page.clone()).await?;
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
        let v = campaigns::get(pool, id.into()).await?.version;
        campaigns::record_results(pool, cast.officer.clone(), None, version(v), id.into(), results).await?;
    }
    Ok(())
}

/// The township grants of 2022: 280,000.00 by formula (10,000.00 each, the rest by members),
/// each paid in full, its use reported against a voucher, and settled with nothing left.
pub(super) async fn grants_2022(pool: &Pool, cast: &Cast, fund_id: Uuid) -> Result<(), Error> {
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
        let v = items::get(pool, Scope::All, item.into()).await?.version;
        let pay = Disburse { amount, payee: "乡镇工会经费账户".into(), method: "bank_transfer".into() };
        items::disburse(pool, cast.officer.clone(), None, version(v), item.into(), pay).await?;
        let v = items::get(pool, Scope::All, item.into()).await?.version;
        let report = ReportUse {
            amount,
            description: "工会组织建设、职工之家建设和职工活动".into(),
            voucher_no: Some(format!("2022-XZ-{:03}", n + 1)),
            lines: None,
        };
        items::report_use(pool, cast.officer.clone(), None, Scope::All, version(v), item.into(), report).await?;
        let v = items::get(pool, Scope::All, item.into()).await?.version;
        items::settle(pool, cast.officer.clone(), None, version(v), item.into(), None).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_demo_worker_has_a_valid_id_number_of_their_own() {
        // 300 + 1,600 + 2,300 + 10 workers in the campaigns of 2022.
        let ids: std::collections::HashSet<String> =
            (1..=4210).map(|n| demo_id(n).unwrap().expose().to_owned()).collect();
        assert_eq!(ids.len(), 4210);
        assert!(ids.iter().all(|id| id.starts_with("430981")), "born in Yuanjiang");
    }
}
