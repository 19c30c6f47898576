//! The report as a document: one list of blocks (headings, paragraphs, tables, lists) written
//! once from the report, then rendered as Markdown or as one self-contained HTML page (styles
//! inline, no scripts, no external resources; prints on A4).

use super::{PerformanceReport, check_title, thousands};

/// A piece of the document.
enum Block {
    /// A heading (level 1–3).
    Heading(u8, String),
    /// A paragraph.
    Para(String),
    /// A table: header and rows; columns after the first are figures (right-aligned).
    Table(Vec<String>, Vec<Vec<String>>),
    /// A bulleted list.
    List(Vec<String>),
}

fn k(m: crate::domain::money::Money) -> String {
    thousands(m.as_decimal())
}

fn rate(r: &Option<String>) -> String {
    r.as_ref().map(|r| format!("{r}%")).unwrap_or_else(|| "—".into())
}

fn title(r: &PerformanceReport) -> String {
    format!("{}{}年度部门整体支出绩效自评报告", r.overview.name, r.year)
}

fn blocks(r: &PerformanceReport) -> Vec<Block> {
    use Block::*;
    let mut b = vec![Heading(1, title(r))];
    let o = &r.overview;
    b.push(Heading(2, "一、部门概况".into()));
    b.push(Para(format!(
        "内设股室{}个：{}。所属事业单位{}个：{}。",
        o.departments.len(),
        if o.departments.is_empty() { "无".into() } else { o.departments.join("、") },
        o.affiliated_institutions.len(),
        if o.affiliated_institutions.is_empty() { "无".into() } else { o.affiliated_institutions.join("、") },
    )));
    // Only what the books hold: a kind with no organisation registered is left out, rather than
    // stated as "0", which reads as a fact about the city instead of about the system.
    let counted: Vec<String> = [
        ("联系乡镇（街道）工会", o.township_unions),
        ("基层工会", o.grassroots_unions),
        ("缴纳工会经费的用人单位", o.member_units),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, n)| format!("{what}{n}个"))
    .collect();
    if !counted.is_empty() {
        b.push(Para(format!("系统登记{}。", counted.join("、"))));
    }

    let bs = &r.budget;
    b.push(Heading(2, "二、部门财政资金收支情况".into()));
    b.push(Heading(3, "（一）收入支出预算安排情况".into()));
    b.push(Para(format!("{}年支出预算{}千元。金额单位：千元。", r.year, k(bs.budget))));
    b.push(Table(
        ["预算科目", "预算数", "财政拨款", "执行数", "执行率", "差额", "差异说明"].map(String::from).to_vec(),
        bs.lines
            .iter()
            .map(|l| {
                vec![
                    format!("{}{}", "　".repeat(l.depth), l.name),
                    k(l.budget),
                    k(l.appropriated),
                    k(l.executed),
                    rate(&l.execution_rate),
                    l.variance.parse().map(thousands).unwrap_or_else(|_| l.variance.clone()),
                    if l.variance_explanation.is_empty() { "—".into() } else { l.variance_explanation.clone() },
                ]
            })
            .collect(),
    ));
    b.push(Heading(3, "（二）收入支出预算执行情况".into()));
    b.push(Para(format!(
        "财政拨款收入{}千元、支出{}千元，预算执行率{}。",
        k(bs.appropriated),
        k(bs.executed),
        rate(&bs.execution_rate)
    )));
    b.push(Heading(3, "（三）年末结转和结余情况".into()));
    b.push(Para(format!(
        "年末财政拨款结转结余{}千元；专项资金结算时结转下年{}千元。",
        r.carry_over.fiscal_balance.parse().map(thousands).unwrap_or_else(|_| r.carry_over.fiscal_balance.clone()),
        k(r.carry_over.carried_over),
    )));
    b.push(Heading(3, "（四）国有资产占用使用情况".into()));
    let parts: Vec<String> = r
        .assets
        .categories
        .iter()
        .filter(|c| c.quantity > 0 || c.category == crate::service::budgets::AssetCategory::Vehicle)
        .map(|c| format!("{}{}{}，价值{}千元", c.name, c.quantity, c.category.counter(), k(c.value)))
        .collect();
    b.push(Para(format!(
        "截止{}，{}；资产总价值{}千元。",
        r.assets.as_of.format("%Y年%m月%d日"),
        parts.join("；"),
        k(r.assets.total)
    )));
    b.push(Heading(2, "三、绩效评价情况".into()));
    b.push(Heading(3, "（一）预算绩效评价情况".into()));
    b.push(Para(format!("纳入绩效评价的项目{}个。", r.projects.len())));
    b.push(Table(
        ["项目", "预算数", "执行数", "执行率"].map(String::from).to_vec(),
        r.projects.iter().map(|p| vec![p.name.clone(), k(p.budget), k(p.executed), rate(&p.execution_rate)]).collect(),
    ));

    let out = &r.outputs;
    b.push(Heading(3, "（二）整体绩效".into()));
    b.push(Para("帮扶活动：".into()));
    b.push(Table(
        ["活动", "慰问职工（人）", "金额（千元）", "银行确认到账（笔）"].map(String::from).to_vec(),
        out.campaigns
            .iter()
            .map(|c| vec![c.name.clone(), c.workers.to_string(), k(c.amount), c.paid.to_string()])
            .collect(),
    ));
    b.push(Para(format!(
        "乡镇工会组织工作经费：{}个乡镇（街道）工会，核定{}千元。",
        out.grants.len(),
        k(out.grants_total)
    )));
    b.push(Table(
        ["乡镇（街道）工会", "核定（元）", "拨付（元）", "使用（元）", "结转（元）"].map(String::from).to_vec(),
        out.grants
            .iter()
            .map(|g| {
                let y = |m: crate::domain::money::Money| m.to_string();
                vec![g.township.clone(), y(g.approved), y(g.disbursed), y(g.used), y(g.carried_over)]
            })
            .collect(),
    ));
    let (units, f) = (out.union_fees.units, &out.union_fees.figures);
    b.push(Para(format!(
        // The shares are the rate table's (data, never code): the text names the levels, not
        // their percentages.
        "行政事业单位工会经费：{}个单位申报工资总额{}千元，应缴{}千元，已缴{}千元，欠缴{}千元；\
         基层工会留成{}千元，应上交{}千元（市总工会留用{}千元，应转上级工会{}千元），已上交{}千元。",
        units,
        k(f.payroll_total),
        k(f.fee_due),
        k(f.paid),
        k(f.arrears),
        k(f.retained),
        k(f.remit_due),
        k(f.city_due),
        k(f.upper_due),
        k(f.remitted)
    )));

    b.push(Heading(2, "四、评价结论及建议".into()));
    b.push(Heading(3, "（一）评价结论".into()));
    b.push(List(r.conclusion.clone()));
    b.push(Heading(3, "（二）未通过的核查".into()));
    if r.failed_checks.is_empty() {
        b.push(Para(format!("{}项核查全部通过。", r.checks_run)));
    } else {
        b.push(List(
            r.failed_checks.iter().map(|c| format!("{}：未通过（详见评价结论）", check_title(&c.code))).collect(),
        ));
    }
    b.push(Para(format!(
        "本报告由系统根据账簿数据生成于{}（北京时间）。",
        r.generated_at.with_timezone(&FEDERATION_TIME).format("%Y年%m月%d日 %H:%M")
    )));
    b
}

/// The federation's clock: Asia/Shanghai, which has kept UTC+8 without daylight saving since 1991,
/// so a fixed offset is exact for every date the books can hold.
const FEDERATION_TIME: chrono::FixedOffset = match chrono::FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    None => panic!("UTC+8 is a valid offset"),
};

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown.
pub fn markdown(r: &PerformanceReport) -> String {
    let mut out = String::new();
    for block in blocks(r) {
        match block {
            Block::Heading(level, text) => {
                out.push_str(&format!("{} {}\n\n", "#".repeat(usize::from(level)), text));
            }
            Block::Para(text) => out.push_str(&format!("{text}\n\n")),
            Block::Table(head, rows) => {
                out.push_str(&format!("| {} |\n", head.iter().map(|h| md_cell(h)).collect::<Vec<_>>().join(" | ")));
                let align: Vec<&str> = (0..head.len()).map(|i| if i == 0 { "---" } else { "---:" }).collect();
                out.push_str(&format!("|{}|\n", align.join("|")));
                for row in rows {
                    out.push_str(&format!("| {} |\n", row.iter().map(|c| md_cell(c)).collect::<Vec<_>>().join(" | ")));
                }
                out.push('\n');
            }
            Block::List(items) => {
                for i in items {
                    out.push_str(&format!("- {i}\n"));
                }
                out.push('\n');
            }
        }
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:'Noto Serif CJK SC','Source Han Serif SC','SimSun',serif;max-width:60em;\
margin:2em auto;padding:0 1em;line-height:1.7;color:#111}h1{text-align:center;font-size:1.6em}\
h2{font-size:1.3em;border-bottom:1px solid #999;margin-top:1.6em}h3{font-size:1.1em}\
table{border-collapse:collapse;width:100%;margin:.6em 0 1em}th,td{border:1px solid #777;padding:.25em .5em}\
th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\
@media print{body{margin:0;max-width:none}h2{page-break-after:avoid}table{page-break-inside:avoid}}\
@page{size:A4;margin:2cm}";

/// The report as one self-contained HTML page.
pub fn html(r: &PerformanceReport) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n\
         <style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title(r))
    );
    for block in blocks(r) {
        match block {
            Block::Heading(level, text) => out.push_str(&format!("<h{level}>{}</h{level}>\n", esc(&text))),
            Block::Para(text) => out.push_str(&format!("<p>{}</p>\n", esc(&text))),
            Block::Table(head, rows) => {
                out.push_str("<table>\n<thead><tr>");
                for h in &head {
                    out.push_str(&format!("<th>{}</th>", esc(h)));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in rows {
                    out.push_str("<tr>");
                    for (i, c) in row.iter().enumerate() {
                        let figure = i > 0 && c.chars().all(|ch| ch.is_ascii_digit() || ".-%—".contains(ch));
                        let class = if figure { " class=\"n\"" } else { "" };
                        out.push_str(&format!("<td{class}>{}</td>", esc(c)));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table>\n");
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    out.push_str(&format!("<li>{}</li>\n", esc(&i)));
                }
                out.push_str("</ul>\n");
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}
