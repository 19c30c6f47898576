//! The conclusion, written from the execution figures and the checks, and the figures as the
//! source document writes them.

use rust_decimal::Decimal;

use super::BudgetSection;
use crate::service::reports::Check;

/// A check's title in the report.
pub fn check_title(code: &str) -> &'static str {
    match code {
        "journal_entries_balance" => "会计分录借贷平衡",
        "balances_equal_postings" => "账户余额与记账明细相符",
        "item_stages_reconcile" => "专项资金计划安排、拨付、使用、结算各环节顺序与金额相符",
        "entries_match_movements" => "会计分录与资金流动记录相符",
        "spending_within_budget" => "项目支出未超预算",
        "matching_in_place" => "地方财政配套资金到位",
        "fee_splits_add_up" => "工会经费上交与留存之和等于应缴",
        "remittances_within_due" => "工会经费上交未超过应上交额",
        "audit_chain_verifies" => "审计日志哈希链完整",
        "budget_lines_add_up" => "预算科目合计相符",
        "budget_execution_explained" => "预算与执行差异均有说明",
        _ => "其他核查",
    }
}

/// An amount in thousand yuan as the source document writes it: `3886.2`, `210`, `4978.03`.
pub fn thousands(d: Decimal) -> String {
    (d / Decimal::ONE_THOUSAND).normalize().to_string()
}

/// The sentences of the conclusion, from the execution figures and the checks.
pub fn conclusion(budget: &BudgetSection, checks: &[Check]) -> Vec<String> {
    let mut out = Vec::new();
    let rate = budget.execution_rate.as_deref().map(|r| format!("，执行率{r}%")).unwrap_or_default();
    out.push(format!(
        "本年度支出预算{}千元，财政拨款收入{}千元，支出{}千元{rate}。",
        thousands(budget.budget.as_decimal()),
        thousands(budget.appropriated.as_decimal()),
        thousands(budget.executed.as_decimal()),
    ));
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.passed).collect();
    if failed.is_empty() {
        out.push(format!(
            "{}项核查全部通过：账户余额与记账明细相符，专项资金按计划安排—拨付—使用—结算的程序运行，审计日志完整可验证。",
            checks.len()
        ));
        return out;
    }
    out.push(format!("{}项核查中{}项未通过，须在报送前说明或纠正：", checks.len(), failed.len()));
    for c in failed {
        let detail = match c.code {
            "budget_execution_explained" => c.figures["sample"]
                .as_array()
                .map(|lines| {
                    lines
                        .iter()
                        .map(|l| {
                            let get = |k: &str| {
                                l[k].as_str().and_then(|s| s.parse::<Decimal>().ok()).map(thousands).unwrap_or_default()
                            };
                            format!(
                                "{}预算{}千元、执行{}千元、差额{}千元",
                                l["name"].as_str().unwrap_or_default(),
                                get("budget"),
                                get("executed"),
                                get("difference")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("；")
                })
                .map(|s| format!("{s}，均无差异说明"))
                .unwrap_or_default(),
            _ => format!("{}处不符", c.figures["failing"].as_i64().unwrap_or(0)),
        };
        out.push(format!("{}：{}。", check_title(c.code), detail));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_written_as_the_source_document_writes_them() {
        let t = |s: &str| thousands(s.parse().unwrap());
        assert_eq!(t("3886200.00"), "3886.2");
        assert_eq!(t("210000.00"), "210");
        assert_eq!(t("4978030.00"), "4978.03");
        assert_eq!(t("61820.00"), "61.82");
        assert_eq!(t("159988.00"), "159.988");
        assert_eq!(t("0.00"), "0");
        assert_eq!(t("0.01"), "0.00001");
    }

    fn budget(rate: Option<&str>) -> BudgetSection {
        let m = |s: &str| crate::domain::money::Money::parse(s).unwrap();
        BudgetSection {
            budget: m("3886200.00"),
            appropriated: m("4978030.00"),
            executed: m("4978030.00"),
            execution_rate: rate.map(str::to_owned),
            lines: Vec::new(),
        }
    }

    fn check(code: &'static str, passed: bool, figures: serde_json::Value) -> Check {
        Check { code, description: "", passed, figures }
    }

    #[test]
    fn a_clean_year_concludes_in_two_sentences() {
        let checks: Vec<Check> =
            (0..3).map(|_| check("journal_entries_balance", true, serde_json::json!({}))).collect();
        let c = conclusion(&budget(Some("128.10")), &checks);
        assert_eq!(
            c,
            [
                "本年度支出预算3886.2千元，财政拨款收入4978.03千元，支出4978.03千元，执行率128.10%。",
                "3项核查全部通过：账户余额与记账明细相符，专项资金按计划安排—拨付—使用—结算的程序运行，审计日志完整可验证。",
            ]
        );
        assert!(!conclusion(&budget(None), &checks)[0].contains("执行率"), "no rate without a budget");
    }

    #[test]
    fn each_failing_check_gets_a_sentence_of_its_own() {
        let sample = serde_json::json!({"sample": [
            {"name": "年中追加支出", "budget": "0.00", "executed": "1091830.00", "difference": "1091830.00"},
        ]});
        let checks = [
            check("journal_entries_balance", true, serde_json::json!({})),
            check("spending_within_budget", false, serde_json::json!({"failing": 2})),
            check("budget_execution_explained", false, sample),
        ];
        let c = conclusion(&budget(Some("128.10")), &checks);
        assert_eq!(
            c[1..],
            [
                "3项核查中2项未通过，须在报送前说明或纠正：",
                "项目支出未超预算：2处不符。",
                "预算与执行差异均有说明：年中追加支出预算0千元、执行1091.83千元、差额1091.83千元，均无差异说明。",
            ]
        );
    }

    #[test]
    fn an_unknown_check_still_has_a_title() {
        assert_eq!(check_title("audit_chain_verifies"), "审计日志哈希链完整");
        assert_eq!(check_title("something_new"), "其他核查");
    }
}
