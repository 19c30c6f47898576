//! Every read of the demo's real books, as every role: every page of every list, every object a list
//! names, the lists under it, and each member unit's statement. Real books hold figures the code's
//! authors did not expect (the 2022 basic fund spent beyond a budget of zero, a month corrected below
//! what was paid); a read that cannot show one answers 500 for the whole page. The paths come from
//! the OpenAPI document, so a list added later is walked too.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use unionfund::domain::policy::Role;

use crate::helpers::*;

/// Years the demo holds books for.
const YEARS: [i32; 2] = [2022, 2023];

/// Reads left out, with why: none of them lists or shows a figure of the books.
const NOT_WALKED: [&str; 4] = [
    // A proof and a consistency proof need positions of the log, and are tested in tests/log.rs.
    "/api/v1/audit/events/{seq}/proof",
    "/api/v1/audit/consistency",
    // The whole trail as a file, and its verification: tested in tests/spine.rs.
    "/api/v1/audit/export",
    "/api/v1/audit/verify",
];

/// A GET of the OpenAPI document: its required query parameters, and whether it pages.
struct Get {
    required: Vec<String>,
    paged: bool,
}

/// The GET paths of the OpenAPI document.
fn get_paths() -> BTreeMap<String, Get> {
    let doc: Value = serde_json::from_str(&unionfund::http::openapi::json()).unwrap();
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(get) = item.get("get") else { continue };
        if !path.starts_with("/api/v1/") || NOT_WALKED.contains(&path.as_str()) {
            continue;
        }
        let query: Vec<&Value> = get["parameters"]
            .as_array()
            .map(|ps| ps.iter().filter(|p| p["in"] == "query").collect())
            .unwrap_or_default();
        let required =
            query.iter().filter(|p| p["required"] == true).map(|p| p["name"].as_str().unwrap().to_owned()).collect();
        let paged = query.iter().any(|p| p["name"] == "cursor");
        out.insert(path.clone(), Get { required, paged });
    }
    out
}

/// What one role's walk saw.
#[derive(Default)]
struct Walk {
    /// Calls answered 200.
    ok: usize,
    /// Calls refused 403 (the role lacks the permission) or 404 (another organisation's object).
    refused: usize,
    /// Every object id a list answered, by the list's path template (years filled in).
    ids: BTreeMap<String, BTreeSet<String>>,
    /// Every signed figure below zero that was shown, as `path: field = value`.
    negatives: Vec<String>,
}

impl Walk {
    /// Gets `path` and every page after it, collecting the ids listed; panics on a 5xx.
    async fn pages(&mut self, app: &TestApp, role: Role, path: &str, list_key: &str, paged: bool) {
        let mut cursor: Option<String> = None;
        // Pages of 100: the whole of every list is read; where a page breaks does not matter.
        let limit = 100;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let url = match (&cursor, paged) {
                (_, false) => path.to_owned(),
                (Some(c), true) => format!("{path}{sep}limit={limit}&cursor={c}"),
                (None, true) => format!("{path}{sep}limit={limit}"),
            };
            let r = app.get_as(role, &url).await;
            let status = r.status().as_u16();
            assert!(status < 500, "{role} GET {url} answered {status}: {}", r.text().await.unwrap());
            if status != 200 {
                assert!(matches!(status, 403 | 404 | 409), "{role} GET {url} answered {status}");
                self.refused += 1;
                return;
            }
            self.ok += 1;
            let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            if !ctype.contains("json") {
                return;
            }
            let page: Value = r.json().await.unwrap();
            self.note_negatives(&url, &page);
            if let Some(items) = page["items"].as_array() {
                for item in items {
                    if let Some(id) = item["id"].as_str() {
                        self.ids.entry(list_key.to_owned()).or_default().insert(id.to_owned());
                    }
                }
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return,
            }
        }
    }

    /// Records every amount-looking string below zero in an answer.
    fn note_negatives(&mut self, url: &str, v: &Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    if let Value::String(s) = x
                        && s.starts_with('-')
                        && s[1..].parse::<rust_decimal::Decimal>().is_ok()
                    {
                        self.negatives.push(format!("{url}: {k} = {s}"));
                    }
                    self.note_negatives(url, x);
                }
            }
            Value::Array(a) => a.iter().for_each(|x| self.note_negatives(url, x)),
            _ => {}
        }
    }
}

/// The path templates with `{year}` filled in by each demo year.
fn with_years(template: &str) -> Vec<String> {
    if template.contains("{year}") {
        YEARS.iter().map(|y| template.replace("{year}", &y.to_string())).collect()
    } else {
        vec![template.to_owned()]
    }
}

#[tokio::test]
async fn every_page_and_every_object_of_the_demo_books_reads_as_every_role_without_a_5xx() {
    let app = spawn_demo_app().await;
    let paths = get_paths();
    // Lists and single reads with no object in their path, then the objects the lists named.
    let (flat, nested): (Vec<_>, Vec<_>) = paths.iter().partition(|(p, _)| !p.replace("{year}", "").contains('{'));
    let mut negatives = BTreeSet::new();
    for role in Role::ALL {
        let mut walk = Walk::default();
        let member_units: Vec<String> = {
            let orgs = body(app.get_as(Role::Auditor, "/api/v1/orgs?kind=member_unit&limit=100").await).await;
            orgs["items"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
        };
        // The auditor, who may read everything, reads all of it; every other role reads every page
        // of every list it may (its first call), and the reports once each are enough: they
        // re-hash the trail (issue 18) and answer the same whoever asks.
        let whole = role == Role::Auditor;
        for (template, get) in &flat {
            let (required, paged) = (&get.required, get.paged);
            if !whole && template.starts_with("/api/v1/reports/") {
                continue;
            }
            for path in with_years(template) {
                match required.as_slice() {
                    [] => walk.pages(&app, role, &path, &path, paged).await,
                    [y] if y == "year" => {
                        for year in YEARS {
                            walk.pages(&app, role, &format!("{path}?year={year}"), &path, paged).await;
                        }
                    }
                    // The statement of each member unit, for each year.
                    _ if required.iter().all(|r| r == "year" || r == "org_id") => {
                        for org in &member_units {
                            for year in YEARS {
                                let path = format!("{path}?org_id={org}&year={year}");
                                walk.pages(&app, role, &path, &path, paged).await;
                            }
                        }
                    }
                    _ => panic!("{template} needs {required:?}: teach this walk how to fill them"),
                }
            }
        }
        // `/x/{id}` and `/x/{id}/y`: every id the list `/x` answered (nested lists, with years).
        let pending: Vec<(String, bool)> =
            nested.iter().flat_map(|(t, g)| with_years(t).into_iter().map(|p| (p, g.paged))).collect();
        for (template, paged) in pending.into_iter().filter(|_| whole) {
            let (parent, rest) = template.split_once("/{").unwrap();
            let rest = rest.split_once('}').map_or("", |(_, r)| r);
            let ids = walk.ids.get(parent).cloned().unwrap_or_default();
            assert!(!rest.contains('{'), "{template}: teach this walk objects nested two deep");
            for id in ids {
                let path = format!("{parent}/{id}{rest}");
                walk.pages(&app, role, &path, &template, paged).await;
            }
        }
        assert!(walk.ok > 0, "{role} read nothing");
        if matches!(role, Role::Auditor | Role::FinanceOfficer) {
            // Those who read the whole books read a great deal of them, and every page answered.
            assert!(walk.ok > 100, "{role} read only {} pages", walk.ok);
            let items = walk.ids.get("/api/v1/items").map_or(0, BTreeSet::len);
            assert!(items > 4000, "{role} saw {items} items of the demo's 4,000 and more");
        }
        negatives.extend(walk.negatives.into_iter().map(|n| {
            n.split_once(": ").map_or(n.clone(), |(u, f)| {
                // Keep the path without its cursor, so that roles agree on what they saw.
                format!("{}: {f}", u.split("limit=").next().unwrap_or(u).trim_end_matches(['?', '&']))
            })
        }));
    }
    // The overspent basic fund shows its figure signed, in the list and in its own read.
    assert!(
        negatives.iter().any(|n| n.starts_with("/api/v1/funds") && n.ends_with("available = -1091830.00")),
        "the overspent line's fund is not shown signed in the list: {negatives:?}"
    );
    assert!(
        negatives.iter().any(|n| n.starts_with("/api/v1/funds/") && n.ends_with("available = -1091830.00")),
        "the overspent line's fund is not shown signed in its own read: {negatives:?}"
    );
    app.finish().await;
}
