//! The spine's benchmark, run by hand: `cargo bench --bench spine`.
//!
//! Starts the service (release build, in this process) on a scratch database, drives
//! money-moving writes over HTTP — `POST /api/v1/funds/{id}/sources`, each with a fresh
//! Idempotency-Key, spread over many funds: one journal entry, one audit event and one stored
//! idempotent answer per request, in one transaction — at 8, 32 and 64 concurrent connections;
//! runs `pgbench` tpcb-like at the same concurrency on the same machine in the same run; and
//! prints both side by side. Then measures audit verification over 100,000 events.
//!
//! Also times a finance bureau's year of fee batches (`batches`) on 1,000 member units × 12
//! months of the 2022 union-fee fund: fresh declarations, the year's payments (every 3rd month
//! paid 10% over, every 5th 20% under, so that credit arises and is applied), corrections of the
//! paid months (finance officer, with a reason), remittances (30% of each corrected fee, within
//! its `remit_due`), and a second round of corrections — each step 12,000 rows sent as two
//! requests of 6,000 (months 01–06, 07–12), each timed end to end over HTTP. Each request is
//! followed by its floor: every row the batch wrote (found by its transaction's xmin, in every
//! table of the schema), written again by raw `COPY` in one transaction into scratch tables of
//! the same shape (`floor_<table>`: defaults, checks and indexes, no triggers, no foreign keys);
//! the ratio is floor seconds / batch seconds (1.0 = as fast as raw COPY; target ≥ 0.5 for
//! every batch, in month twelve as in month one). Then a hardship campaign of 2,000
//! beneficiaries (added, approved, paid as one bank batch, bank file fetched); and the Merkle
//! log (`log`): the trail is topped up to `BENCH_LOG_EVENTS` events (default 1,000,000), then
//! sequencing throughput, inclusion- and consistency-proof latency over HTTP at that size, and
//! offline verification of the whole export against a signed checkpoint; then a verification
//! run over what is not yet verified, 100,000 more events and a run over only those, and the
//! year's checks and the annual report over HTTP at that size (they cite the verification).
//!
//! At the size of real books (`BENCH_PARTS=log BENCH_LOG_EVENTS=10000000 BENCH_LOG_BULK=1
//! BENCH_LOG_ITEMS=100000`): `BENCH_LOG_BULK=1` brings the trail to its size by a bulk load
//! (`bulk_load`: events hashed and chained as the write path does it, then `COPY`) instead of
//! the write path; `BENCH_LOG_ITEMS` first makes that many items as campaigns of 2,000 over
//! HTTP, so that the checks and the report walk real items. The offline verifier is also run
//! as the auditor's binary, and its peak memory printed.
//!
//! Environment: `BENCH_SECS` (per step, default 10), `BENCH_FUNDS` (default 1000),
//! `BENCH_POOL` (service connections, default 16), `BENCH_SERVER` (default the local PostgreSQL),
//! `BENCH_PARTS` (default `writes,batches,campaign,verify,log`: run only some, e.g. `log`).
//! Everything runs on one machine: the load generator, the service and PostgreSQL share its
//! cores, as pgbench and PostgreSQL do. Compare the ratio, not the absolute numbers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::float_arithmetic)]

use std::process::Command;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use serde_json::json;
use unionfund::config::{Config, JwtConfig};
use unionfund::db::write::{self, Answer, Event, WriteCtx};
use unionfund::domain::funds::FundKind;
use unionfund::domain::money::Money;
use unionfund::domain::policy::{Caller, Role, SubjectKind};
use unionfund::service::auth::TokenKeys;
use uuid::Uuid;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn recreate(server: &str, name: &str) {
    let mut c = PgConnection::establish(&format!("{server}/postgres")).unwrap();
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).unwrap();
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

struct Step {
    conns: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

async fn drive(base: &str, token: &str, funds: &[Uuid], conns: usize, secs: u64) -> Step {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..conns)
        .map(|w| {
            let http = reqwest::Client::new();
            let (base, token, funds) = (base.to_owned(), token.to_owned(), funds.to_vec());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                let mut errors = 0u64;
                let mut i = w;
                while Instant::now() < deadline {
                    let fund = funds[i % funds.len()];
                    i += conns;
                    let t = Instant::now();
                    let r = http
                        .post(format!("{base}/api/v1/funds/{fund}/sources"))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", Uuid::new_v4().to_string())
                        .json(&json!({"kind": "finance_appropriation", "amount": "1.00", "reference": Uuid::now_v7().to_string()}))
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status() == 201 => lat.push(t.elapsed()),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let started = Instant::now();
    let mut lat = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        lat.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    lat.sort();
    Step {
        conns,
        rps: lat.len() as f64 / elapsed,
        p50_ms: percentile(&lat, 0.5),
        p99_ms: percentile(&lat, 0.99),
        errors,
    }
}

fn pgbench(server: &str, conns: usize, secs: u64) -> f64 {
    let db = format!("{server}/unionfund_bench_pgbench");
    let out = Command::new("pgbench")
        .args(["-c", &conns.to_string(), "-j", "2", "-T", &secs.to_string(), "-n", &db])
        .output()
        .expect("pgbench must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// One timed batch request and its floor.
struct BatchLine {
    what: String,
    rows_in: usize,
    /// Rows carrying the batch transaction's xmin, per table, as found right after it.
    written: Vec<(String, i64)>,
    secs: f64,
    floor_secs: f64,
    /// The same floor with the tables' foreign keys.
    floor_fk_secs: f64,
}

/// Runs `sql` through psql on `url` and answers its output (unaligned, tuples only).
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .expect("psql must be installed");
    assert!(out.status.success(), "psql failed on {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// The floor of a batch: the rows it wrote (every row with its transaction's xmin, in every
/// table of the schema), copied out, then written again with one raw `COPY` per table into
/// scratch tables of the same shape, in one transaction, twice: into `floor_<table>` (columns,
/// defaults, checks and indexes; no triggers, no foreign keys), and into `floorfk_<table>`, the
/// same with the table's own foreign keys (to the real parent tables, whose rows exist). Answers
/// the rows found per table and the seconds of each transaction (psql's `\timing` of BEGIN, each
/// COPY and COMMIT): (without foreign keys, with them).
fn floor(url: &str, sequencer: bool, table: &str, id: &str) -> (Vec<(String, i64)>, f64, f64) {
    let xmin = psql(url, &format!("SELECT xmin::text FROM {table} WHERE id = '{id}'")).trim().to_owned();
    assert!(!xmin.is_empty(), "{table} {id} not found");
    let tables: Vec<String> = psql(
        url,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname = 'public' AND c.relname NOT LIKE 'floor%' ORDER BY 1",
    )
    .lines()
    .map(str::to_owned)
    .collect();
    let counts = tables
        .iter()
        .map(|t| format!("SELECT '{t}', count(*) FROM {t} WHERE xmin::text = '{xmin}'"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let written: Vec<(String, i64)> = psql(url, &counts)
        .lines()
        .filter_map(|l| l.split_once('|'))
        .map(|(t, n)| (t.to_owned(), n.parse().unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect();
    let data: Vec<(String, String)> = written
        .iter()
        .map(|(t, _)| {
            (t.clone(), psql(url, &format!("COPY (SELECT * FROM {t} WHERE xmin::text = '{xmin}') TO STDOUT")))
        })
        .collect();
    let existing: Vec<String> =
        psql(url, "SELECT relname FROM pg_class WHERE relname LIKE 'floor%'").lines().map(str::to_owned).collect();
    let mut prepare = String::new();
    for (t, _) in &written {
        for prefix in ["floor_", "floorfk_"] {
            if !existing.contains(&format!("{prefix}{t}")) {
                prepare.push_str(&format!("CREATE TABLE {prefix}{t} (LIKE {t} INCLUDING ALL);"));
            }
        }
        if !existing.contains(&format!("floorfk_{t}")) {
            let fks = psql(
                url,
                &format!(
                    "SELECT 'ALTER TABLE floorfk_{t} ADD ' || pg_get_constraintdef(oid) || ';' FROM pg_constraint \
                     WHERE conrelid = '{t}'::regclass AND contype = 'f'"
                ),
            );
            prepare.push_str(&fks.replace('\n', " "));
        }
    }
    let names: Vec<String> = written.iter().flat_map(|(t, _)| [format!("floor_{t}"), format!("floorfk_{t}")]).collect();
    psql(url, &format!("{prepare} TRUNCATE {}", names.join(", ")));
    // Let the sequencer drain the batch's queue first, so that it does not compete with the floor.
    for _ in 0..if sequencer { 100 } else { 0 } {
        if psql(url, "SELECT count(*) FROM log_queue").trim() == "0" {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let timed = |prefix: &str| -> f64 {
        let mut script = String::from("\\timing on\nBEGIN;\n");
        for (t, rows) in &data {
            script.push_str(&format!("COPY {prefix}{t} FROM STDIN;\n{rows}\\.\n"));
        }
        script.push_str("COMMIT;\n");
        let path = std::env::temp_dir().join("unionfund-bench-floor.sql");
        std::fs::write(&path, script).unwrap();
        let out = Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"])
            .arg(&path)
            .output()
            .expect("psql must be installed");
        assert!(out.status.success(), "the floor's COPY failed: {}", String::from_utf8_lossy(&out.stderr));
        let _ = std::fs::remove_file(&path);
        let ms: f64 = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("Time: "))
            .filter_map(|l| l.split_whitespace().next())
            .map(|v| v.parse::<f64>().unwrap())
            .sum();
        ms / 1000.0
    };
    let bare = timed("floor_");
    let with_keys = timed("floorfk_");
    (written, bare, with_keys)
}

/// A money string ("1234.56") in fen.
fn fen(v: &serde_json::Value) -> i64 {
    let s = v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string());
    let (yuan, frac) = s.split_once('.').unwrap_or((&s, ""));
    let frac = format!("{frac:0<2}");
    yuan.parse::<i64>().unwrap() * 100 + frac[..2].parse::<i64>().unwrap()
}

/// Fen as a money string.
fn yuan(fen: i64) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// The shape of a finance bureau's year on 1,000 member units of the 2022 union-fee fund: a
/// year of fresh declarations (12,000 rows), the year's payments (some months over, some under,
/// so that credit arises and is applied), corrections of the paid months, remittances, and a
/// second round of corrections. Each step is sent as two requests of 6,000 rows, months 01–06
/// then 07–12; each request is timed end to end over HTTP and followed by its floor.
async fn batch_step(
    pool: &unionfund::db::Pool,
    ctx: &WriteCtx,
    (base, token): (&str, &str),
    url: &str,
    sequencer: bool,
) -> Vec<BatchLine> {
    use unionfund::domain::ids::CreditCode;
    let fund = unionfund::service::funds::NewFund {
        name: "bench union fees 2022".into(),
        kind: FundKind::UnionFee,
        year: 2022,
        budget: Money::parse("1500000.00").unwrap(),
    };
    unionfund::service::funds::create_now(pool, ctx, None, fund).unwrap();
    let units: Vec<(Uuid, String)> = (0..1000)
        .map(|i| {
            let first17 = format!("11430981MB{i:07}");
            (Uuid::now_v7(), format!("{first17}{}", CreditCode::check_char(&first17).unwrap()))
        })
        .collect();
    let values: Vec<String> = units
        .iter()
        .map(|(id, code)| format!("('{id}', 'bench unit', 'member_unit', '{code}', 'public_institution')"))
        .collect();
    pool.get()
        .unwrap()
        .batch_execute(&format!(
            "INSERT INTO orgs (id, name, kind, credit_code, unit_kind) VALUES {}",
            values.join(",")
        ))
        .unwrap();
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    // Payroll per unit in fen, and the fee due per (unit, month) as the service last answered it.
    let mut payroll: Vec<i64> = (0..1000).map(|i| (40_000 + i) * 100).collect();
    let mut fee: std::collections::HashMap<(Uuid, String), i64> = std::collections::HashMap::new();
    let key = |i: usize, m: u32| {
        let (id, code) = &units[i];
        if m.is_multiple_of(2) { json!({"org_id": id}) } else { json!({"credit_code": code}) }
    };
    let halves = [(1..=6, "1/2"), (7..=12, "2/2")];
    let steps = [
        ("fresh declarations", "declarations", None),
        ("payments", "payments", None),
        ("corrections after payments", "declarations", Some((105, 93))),
        ("remittances", "remittances", None),
        ("corrections after payments, round 2", "declarations", Some((97, 104))),
    ];
    for (what, path, change) in steps {
        if let Some((even, odd)) = change {
            for (i, p) in payroll.iter_mut().enumerate() {
                *p = *p * if i % 2 == 0 { even } else { odd } / 100;
            }
        }
        for (months, half) in halves.clone() {
            let rows: Vec<serde_json::Value> = (0..units.len())
                .flat_map(|i| months.clone().map(move |m| (i, m)))
                .map(|(i, m)| {
                    let period = format!("2022-{m:02}");
                    let mut r = key(i, m);
                    r["period"] = json!(period);
                    match path {
                        "declarations" => r["payroll_total"] = json!(yuan(payroll[i])),
                        "payments" => {
                            let due = fee[&(units[i].0, period)];
                            let paid = if m.is_multiple_of(3) {
                                due * 110 / 100
                            } else if m.is_multiple_of(5) {
                                due * 80 / 100
                            } else {
                                due
                            };
                            r["amount"] = json!(yuan(paid));
                            r["reference"] = json!(format!("BENCH-{i:04}-2022{m:02}"));
                        }
                        _ => r["amount"] = json!(yuan(fee[&(units[i].0, period)] * 30 / 100)),
                    }
                    r
                })
                .collect();
            let mut body = json!({"rows": rows});
            if change.is_some() {
                body["reason"] = json!("bench correction");
            }
            let started = Instant::now();
            let r = http
                .post(format!("{base}/api/v1/union-fees/{path}/batch"))
                .bearer_auth(token)
                .header("Idempotency-Key", Uuid::new_v4().to_string())
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let bytes = r.bytes().await.unwrap();
            let secs = started.elapsed().as_secs_f64();
            assert_eq!(status, 201, "{what} {half} refused: {}", String::from_utf8_lossy(&bytes));
            let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let (table, list) = match path {
                "declarations" => ("fee_declarations", "declarations"),
                "payments" => ("fee_payments", "payments"),
                _ => ("fee_remittances", "remittances"),
            };
            let lines = answer[list].as_array().unwrap();
            assert_eq!(lines.len(), rows.len(), "{what} {half}: one line per row");
            if path == "declarations" {
                for l in lines {
                    let org: Uuid = l["org_id"].as_str().unwrap().parse().unwrap();
                    fee.insert((org, l["period"].as_str().unwrap().to_owned()), fen(&l["fee_due"]));
                }
            }
            let (written, floor_secs, floor_fk_secs) = floor(url, sequencer, table, lines[0]["id"].as_str().unwrap());
            out.push(BatchLine {
                what: format!("{what} {half}"),
                rows_in: rows.len(),
                written,
                secs,
                floor_secs,
                floor_fk_secs,
            });
        }
    }
    let scratch = psql(
        url,
        "SELECT string_agg(c.relname, ', ') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname = 'public' AND c.relname LIKE 'floor%'",
    );
    if !scratch.trim().is_empty() {
        psql(url, &format!("DROP TABLE {}", scratch.trim()));
    }
    out
}

/// A winter-warmth campaign of 2,000 beneficiaries over HTTP, by the people who would do it:
/// created and filled by a rights-protection officer, approved by a leader, paid as one bank
/// batch by a finance officer, and the bank file fetched. Times each step and the whole.
async fn campaign_step(base: &str, tokens: [&str; 3], fund: Uuid, org: Uuid, first: u32) -> Vec<(&'static str, f64)> {
    let [officer, leader, finance] = tokens;
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    let rows: Vec<serde_json::Value> = (first..first + 2000)
        .map(|n| {
            json!({"org_id": org, "worker_name": format!("工人{n}"), "id_number": resident_id(n),
                   "bank_account": format!("62220200{n:08}"), "amount": "400.00"})
        })
        .collect();
    let all = Instant::now();
    let step = |t: Instant| t.elapsed().as_secs_f64();
    let t = Instant::now();
    let body = json!({"fund_id": fund, "name": "bench winter warmth", "kind": "winter_warmth", "budget": "800000.00"});
    let r =
        http.post(format!("{base}/api/v1/hardship/campaigns")).bearer_auth(officer).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201, "campaign refused: {}", r.text().await.unwrap_or_default());
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    out.push(("create the campaign", step(t)));
    let mut etag = etag;
    for (what, token, path, body) in [
        ("add 2,000 beneficiaries", officer, "beneficiaries", json!({"rows": rows})),
        ("approve (2,000 items)", leader, "approve", json!({})),
        ("pay as one bank batch", finance, "disbursement", json!({})),
    ] {
        let t = Instant::now();
        let r = http
            .post(format!("{base}/api/v1/hardship/campaigns/{id}/{path}"))
            .bearer_auth(token)
            .header("If-Match", &etag)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{what} refused: {}", r.text().await.unwrap_or_default());
        etag = r.headers()["etag"].to_str().unwrap().to_owned();
        r.bytes().await.unwrap();
        out.push((what, step(t)));
    }
    let t = Instant::now();
    let r = http
        .post(format!("{base}/api/v1/hardship/campaigns/{id}/bank-file"))
        .bearer_auth(finance)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let lines = r.text().await.unwrap().lines().count();
    assert_eq!(lines, 2001);
    out.push(("fetch the bank file", step(t)));
    out.push(("the whole campaign", step(all)));
    out
}

/// The `n`th of 3,360,000 distinct, valid resident identity numbers (born 1990–1999).
fn resident_id(n: u32) -> String {
    let first17 = format!(
        "43092119{:02}{:02}{:02}{:03}",
        90 + (n / 336_000) % 10,
        1 + (n / 28_000) % 12,
        1 + (n / 1000) % 28,
        n % 1000
    );
    let check = unionfund::domain::ids::ResidentId::check_char(&first17).unwrap();
    format!("{first17}{check}")
}

/// Items at the size of real books: campaigns of 2,000 beneficiaries over HTTP, each on a fund
/// of its own with the money to pay them, until `items` items exist.
async fn items_step(base: &str, tokens: [&str; 3], funds: &[Uuid], org: Uuid, items: u32) -> f64 {
    let http = reqwest::Client::new();
    let started = Instant::now();
    for c in 0..items.div_ceil(2000) {
        let fund = funds[1 + c as usize % (funds.len() - 1)];
        let body = json!({"kind": "other", "amount": "800000.00", "reference": Uuid::now_v7().to_string()});
        let r = http
            .post(format!("{base}/api/v1/funds/{fund}/sources"))
            .bearer_auth(tokens[2])
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "source refused: {}", r.text().await.unwrap_or_default());
        campaign_step(base, tokens, fund, org, 2000 + c * 2000).await;
        if c % 10 == 9 {
            eprintln!("  {} items…", (c + 1) * 2000);
        }
    }
    started.elapsed().as_secs_f64()
}

/// Brings the trail to `target` events by a bulk load the verifiers accept: events built and
/// hashed exactly as the write path builds them (`AuditRecord::compute_hash`, chained per
/// stream over 100 streams of their own), written with `COPY` in chunks of 500,000. The
/// trail's triggers run as for any insert: the stream heads move, every event is queued for the
/// sequencer. What it skips is the write path's per-request work (locks, idempotency, ledger),
/// which is measured elsewhere; what it produces is indistinguishable from written events to
/// every verification. Needs the bench's PostgreSQL to read the file it writes (same machine).
fn bulk_load(url: &str, target: i64) {
    use diesel::RunQueryDsl;
    use diesel::sql_types::BigInt;
    use unionfund::domain::audit::{AuditRecord, GENESIS_HASH, format_time};
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    let have =
        diesel::sql_query("SELECT coalesce(max(seq), 0) AS n FROM audit_events").get_result::<N>(&mut conn).unwrap().n;
    if have >= target {
        return;
    }
    let streams: Vec<String> = (0..100_u128).map(|i| format!("org:{}", Uuid::from_u128(0xb01c_0000 + i))).collect();
    for s in &streams {
        diesel::sql_query(format!(
            "INSERT INTO audit_heads (stream, stream_seq, hash) VALUES ('{s}', 0, '{GENESIS_HASH}') ON CONFLICT DO NOTHING"
        ))
        .execute(&mut conn)
        .unwrap();
    }
    let heads: Vec<(String, i64, String)> = {
        use diesel::{ExpressionMethods, QueryDsl};
        use unionfund::db::schema::audit_heads as h;
        h::table.filter(h::stream.eq_any(&streams)).select((h::stream, h::stream_seq, h::hash)).load(&mut conn).unwrap()
    };
    let mut heads: std::collections::HashMap<String, (i64, String)> =
        heads.into_iter().map(|(stream, n, hash)| (stream, (n, hash))).collect();
    let path = std::env::temp_dir().join("unionfund-bench-bulk.csv");
    let now = unionfund::service::now();
    let mut left = target - have;
    while left > 0 {
        let n = left.min(500_000);
        // Reserve n numbers of the trail's sequence (nothing else writes during the load).
        let last = diesel::sql_query(format!("SELECT setval('audit_seq', nextval('audit_seq') + {}) AS n", n - 1))
            .get_result::<N>(&mut conn)
            .unwrap()
            .n;
        let mut out = csv::Writer::from_path(&path).unwrap();
        for seq in last - n + 1..=last {
            let stream = &streams[(seq % 100) as usize];
            let (stream_seq, prev_hash) = heads.get_mut(stream).unwrap();
            *stream_seq += 1;
            let record = AuditRecord {
                seq,
                stream: stream.clone(),
                stream_seq: *stream_seq,
                occurred_at: now,
                actor: "system".into(),
                actor_role: "system".into(),
                org_id: None,
                request_id: "bench-bulk".into(),
                action: "bench.loaded".into(),
                entity_type: "bench".into(),
                entity_id: Uuid::from_u128(seq as u128),
                fund_id: None,
                stage: None,
                amount: None,
                entry_id: None,
                before: None,
                after: Some(format!("{{\"i\":{seq}}}")),
                prev_hash: prev_hash.clone(),
            };
            let hash = record.compute_hash();
            out.write_record([
                seq.to_string().as_str(),
                stream,
                &record.stream_seq.to_string(),
                &format_time(&now),
                "system",
                "system",
                "",
                "bench-bulk",
                "bench.loaded",
                "bench",
                &record.entity_id.to_string(),
                "",
                "",
                "",
                "",
                "",
                record.after.as_deref().unwrap_or_default(),
                &record.prev_hash,
                &hash,
            ])
            .unwrap();
            *prev_hash = hash;
        }
        out.flush().unwrap();
        drop(out);
        diesel::sql_query(format!(
            "COPY audit_events (seq, stream, stream_seq, occurred_at, actor, actor_role, org_id, request_id, action, \
             entity_type, entity_id, fund_id, stage, amount, entry_id, before_json, after_json, prev_hash, hash) \
             FROM '{}' WITH (FORMAT csv)",
            path.display()
        ))
        .execute(&mut conn)
        .unwrap();
        left -= n;
        eprintln!("  {} events…", target - left);
    }
    let _ = std::fs::remove_file(&path);
}

fn main() {
    let server = std::env::var("BENCH_SERVER").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let secs = env_num("BENCH_SECS", 10);
    let n_funds = env_num("BENCH_FUNDS", 1000) as usize;
    let pool_size = env_num("BENCH_POOL", 16) as u32;
    let parts = std::env::var("BENCH_PARTS").unwrap_or_else(|_| "writes,batches,campaign,verify,log".into());
    let part = |p: &str| parts.split(',').any(|x| x.trim() == p);

    eprintln!("preparing pgbench (scale 10)…");
    recreate(&server, "unionfund_bench_pgbench");
    let init = Command::new("pgbench")
        .args(["-i", "-s", "10", "-q", &format!("{server}/unionfund_bench_pgbench")])
        .output()
        .expect("pgbench must be installed");
    assert!(init.status.success(), "pgbench -i failed: {}", String::from_utf8_lossy(&init.stderr));

    eprintln!("preparing the service and {n_funds} funds…");
    recreate(&server, "unionfund_bench");
    let url = format!("{server}/unionfund_bench");
    let pool = unionfund::db::pool::connect(&url, pool_size).unwrap();
    let sys =
        WriteCtx { caller: None, request_id: "bench-setup".into(), now: unionfund::service::now(), adjusting: None };
    let org = unionfund::service::orgs::NewOrg {
        name: "bench federation".into(),
        kind: unionfund::domain::orgs::OrgKind::Federation,
        parent_id: None,
        credit_code: None,
        unit_kind: None,
        union: None,
    };
    let org: serde_json::Value =
        serde_json::from_slice(&unionfund::service::orgs::create_now(&pool, &sys, None, org).unwrap().body).unwrap();
    let org_id: Uuid = org["id"].as_str().unwrap().parse().unwrap();
    // Tokens are checked against their subject on every request: the bench's callers are real users.
    let user = |role: Role| -> Caller {
        let cmd = unionfund::service::users::NewUser {
            username: format!("bench_{}_{}", role.as_str(), Uuid::now_v7().simple()),
            password: "bench-password-bench".to_owned().into(),
            role,
            org_id,
            display_name: String::new(),
        };
        let stored = unionfund::service::users::create_now(&pool, &sys, None, cmd).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&stored.body).unwrap();
        Caller { subject: v["id"].as_str().unwrap().parse().unwrap(), kind: SubjectKind::User, role, org_id }
    };
    let officer = user(Role::FinanceOfficer);
    let ctx = WriteCtx { caller: Some(officer.clone()), ..sys.clone() };
    let funds: Vec<Uuid> = (0..n_funds)
        .map(|i| {
            let cmd = unionfund::service::funds::NewFund {
                name: format!("bench fund {i}"),
                kind: FundKind::Hardship,
                year: 2022,
                budget: Money::parse("1000000.00").unwrap(),
            };
            let stored = unionfund::service::funds::create_now(&pool, &ctx, None, cmd).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&stored.body).unwrap();
            v["id"].as_str().unwrap().parse().unwrap()
        })
        .collect();

    let secret = "bench-secret-bench-secret-bench-secret";
    let mut config = Config::defaults(&url);
    config.bind = "127.0.0.1:0".into();
    config.jwt = JwtConfig::from_secret(secret).unwrap();
    config.checkpoint_every_secs = 0;
    // The log part times the sequencer itself, so then nothing sequences in the background;
    // otherwise the sequencer runs every second, as in production, beside the writes it logs.
    config.log_sequence_ms = if part("log") { 0 } else { 1000 };
    config.pool_size = pool_size;
    // A new user's token version is 1.
    let token = TokenKeys::new(&config.jwt, 3600).issue(&officer, 1, chrono::Utc::now().timestamp()).unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let mut rows = Vec::new();
    let mut batch_rates = Vec::new();
    let mut campaign = Vec::new();
    let person = |role| {
        let caller = user(role);
        TokenKeys::new(&config.jwt, 3600).issue(&caller, 1, chrono::Utc::now().timestamp()).unwrap()
    };
    let (rights, leader) = (person(Role::RightsOfficer), person(Role::Leader));
    let base = rt.block_on(async {
        let running = unionfund::start(&config, pool.clone()).unwrap();
        let base = format!("http://{}", running.addr);
        tokio::spawn(running.server);
        base
    });
    rt.block_on(async {
        // Warm up connections and caches.
        drive(&base, &token, &funds, 8, 2).await;
        if part("writes") {
            for conns in [8, 32, 64] {
                eprintln!("{conns} connections: service…");
                let step = drive(&base, &token, &funds, conns, secs).await;
                eprintln!("{conns} connections: pgbench…");
                let tps = pgbench(&server, conns, secs);
                rows.push((step, tps));
            }
        }
        if part("batches") {
            eprintln!("fee batches…");
            batch_rates = batch_step(&pool, &ctx, (&base, &token), &url, config.log_sequence_ms > 0).await;
        }
        if part("campaign") {
            eprintln!("a campaign of 2,000…");
            campaign = campaign_step(&base, [&rights, &leader, &token], funds[0], org_id, 0).await;
        }
        if part("log") {
            let items = env_num("BENCH_LOG_ITEMS", 0) as u32;
            if items > 0 {
                eprintln!("{items} items, as campaigns of 2,000…");
                let secs = items_step(&base, [&rights, &leader, &token], &funds, org_id, items).await;
                eprintln!("  ({secs:.0} s)");
            }
        }
    });

    if !rows.is_empty() {
        println!();
        println!(
            "money-moving HTTP writes (POST /funds/{{id}}/sources: entry + event + idempotency) vs pgbench tpcb-like"
        );
        println!("{} s per step, {} funds, service pool {}", secs, n_funds, pool_size);
        println!("| conns | writes/s | p50 ms | p99 ms | errors | pgbench TPS | ratio |");
        println!("|------:|---------:|-------:|-------:|-------:|------------:|------:|");
        for (s, tps) in &rows {
            println!(
                "| {} | {:.0} | {:.1} | {:.1} | {} | {:.0} | {:.0}% |",
                s.conns,
                s.rps,
                s.p50_ms,
                s.p99_ms,
                s.errors,
                tps,
                if *tps > 0.0 { s.rps / tps * 100.0 } else { 0.0 }
            );
        }
    }

    if !batch_rates.is_empty() {
        println!();
        println!(
            "a finance bureau's year over HTTP (1,000 units × 12 months, requests of 6,000 rows) vs its floor: \
             the rows each batch wrote, by raw COPY into tables of the same shape, without and with their \
             foreign keys (target ratio ≥ 0.5)"
        );
        println!(
            "| batch | rows in request | rows written | seconds | rows written/s | floor s (no FKs) | ratio | floor s (FKs) | ratio |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for b in &batch_rates {
            let n: i64 = b.written.iter().map(|(_, n)| n).sum();
            println!(
                "| {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
                b.what,
                b.rows_in,
                n,
                b.secs,
                n as f64 / b.secs,
                b.floor_secs,
                b.floor_secs / b.secs,
                b.floor_fk_secs,
                b.floor_fk_secs / b.secs
            );
        }
        println!("rows written per table (log_queue: as found, the sequencer drains it concurrently):");
        for b in &batch_rates {
            let tables: Vec<String> = b.written.iter().map(|(t, n)| format!("{t} {n}")).collect();
            println!("  {}: {}", b.what, tables.join(", "));
        }
    }

    if !campaign.is_empty() {
        println!();
        println!("a hardship campaign of 2,000 beneficiaries over HTTP (target: the whole under 2 s):");
        for (what, secs) in &campaign {
            println!("  {what}: {secs:.2} s");
        }
    }

    if part("verify") {
        verify_step(&pool, &officer);
    }
    if part("log") {
        log_step(&pool, &url, &officer, &rt, &base, &token, env_num("BENCH_LOG_EVENTS", 1_000_000) as i64);
    }
}

/// Adds events through the write path, in transactions of 1,000 spread over 100 streams, until
/// the trail holds `target`.
fn top_up(pool: &unionfund::db::Pool, officer: &Caller, target: i64) {
    let have = pool.read(unionfund::db::chain::max_seq).unwrap();
    let mut made = have;
    while made < target {
        let ctx = WriteCtx {
            caller: Some(officer.clone()),
            request_id: "bench-verify".into(),
            now: unionfund::service::now(),
            adjusting: None,
        };
        write::execute(pool, &ctx, None, |tx| {
            for i in 0..1000 {
                tx.record(Event {
                    after: Some(json!({"i": i})),
                    ..Event::new(
                        unionfund::domain::audit::Stream::Org(Uuid::from_u128(i % 100)),
                        "bench.recorded",
                        "bench",
                        Uuid::now_v7(),
                    )
                });
            }
            Ok(Answer { status: 200, body: (), etag: None })
        })
        .unwrap();
        made += 1000;
    }
}

/// Verify speed over at least 100,000 events.
fn verify_step(pool: &unionfund::db::Pool, officer: &Caller) {
    top_up(pool, officer, 100_000);
    let mut pooled = pool.get().unwrap();
    let started = Instant::now();
    let v = unionfund::db::chain::verify(&mut unionfund::db::Db::new(&mut pooled), None, None, None).unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert!(v.first_broken.is_none(), "the bench's own trail must verify");
    println!();
    println!("audit verify: {} events in {:.2} s = {:.0} events/s", v.checked, elapsed, v.checked as f64 / elapsed);
}

/// The Merkle log at `events` events: sequencing, proofs over HTTP, offline verification.
fn log_step(
    pool: &unionfund::db::Pool,
    url: &str,
    officer: &Caller,
    rt: &tokio::runtime::Runtime,
    base: &str,
    token: &str,
    events: i64,
) {
    eprintln!("topping the trail up to {events} events…");
    // A second run on the same database measures proofs only (nothing left to sequence).
    let started = Instant::now();
    if std::env::var("BENCH_LOG_BULK").is_ok_and(|v| v == "1") {
        bulk_load(url, events);
    }
    top_up(pool, officer, events);
    eprintln!("  ({:.0} s)", started.elapsed().as_secs_f64());
    let mut pooled = pool.get().unwrap();
    let conn = &mut unionfund::db::Db::new(&mut pooled);
    let queued: i64 = unionfund::db::log::pending(conn).unwrap();
    let started = Instant::now();
    let sequenced = unionfund::db::log::sequence_all(conn, unionfund::service::now(), true).unwrap();
    let seq_secs = started.elapsed().as_secs_f64();
    let head = unionfund::db::log::head(conn).unwrap();
    let signer = unionfund::domain::note::LogSigner::new("bench.local/log", [3; 32]);
    let cp = unionfund::db::chain::take_checkpoint(conn, unionfund::service::now(), &signer).unwrap();
    drop(pooled);
    println!();
    println!("Merkle log at {} events ({} were waiting for the sequencer):", head.size, queued);
    println!(
        "  sequencing: {} events in {:.2} s = {:.0} events/s",
        sequenced,
        seq_secs,
        sequenced as f64 / seq_secs.max(1e-9)
    );
    // Proof latency over HTTP, one request at a time, random events, against the whole tree.
    let size = head.size;
    let (incl, cons) = rt.block_on(async {
        let http = reqwest::Client::new();
        let mut incl = Vec::new();
        let mut cons = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let seq = 1 + (x % size as u64) as i64;
            let t = Instant::now();
            let r = http
                .get(format!("{base}/api/v1/audit/events/{seq}/proof?tree_size={size}"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "proof of {seq}");
            r.bytes().await.unwrap();
            incl.push(t.elapsed());
            if i % 4 == 0 {
                let from = 1 + (x >> 20) as i64 % size;
                let t = Instant::now();
                let r = http
                    .get(format!("{base}/api/v1/audit/consistency?from={from}&to={size}"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                r.bytes().await.unwrap();
                cons.push(t.elapsed());
            }
        }
        incl.sort();
        cons.sort();
        (incl, cons)
    });
    println!(
        "  inclusion proof over HTTP: p50 {:.2} ms, p99 {:.2} ms ({} requests; target p99 < 20 ms)",
        percentile(&incl, 0.5),
        percentile(&incl, 0.99),
        incl.len()
    );
    println!(
        "  consistency proof over HTTP: p50 {:.2} ms, p99 {:.2} ms ({} requests)",
        percentile(&cons, 0.5),
        percentile(&cons, 0.99),
        cons.len()
    );
    // Offline verification: the whole export against the signed checkpoint.
    let path = std::env::temp_dir().join("unionfund-bench-trail.ndjson");
    let export_secs = rt.block_on(async {
        let t = Instant::now();
        let mut r = reqwest::Client::new()
            .get(format!("{base}/api/v1/audit/export?format=ndjson"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        while let Some(chunk) = r.chunk().await.unwrap() {
            std::io::Write::write_all(&mut out, &chunk).unwrap();
        }
        t.elapsed().as_secs_f64()
    });
    let key = unionfund::domain::note::VerifierKey::parse(&signer.verifier_key()).unwrap();
    let note = cp.note.unwrap();
    let started = Instant::now();
    let file = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let v = unionfund::service::audit::verify_export(std::io::BufRead::lines(file), Some((&note, &key))).unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(
        v.checkpoint.as_ref().is_some_and(|c| c.root_matches && c.signature_valid),
        "the export must match its checkpoint"
    );
    println!("  export of {} events over HTTP: {:.1} s", v.checked, export_secs);
    println!(
        "  offline verify-export against the checkpoint: {} events in {:.2} s = {:.0} events/s (target ≥ 100,000)",
        v.checked,
        secs,
        v.checked as f64 / secs
    );
    // The same, by the binary an auditor runs, with its peak memory (GNU time's maximum RSS).
    let note_path = std::env::temp_dir().join("unionfund-bench-note");
    std::fs::write(&note_path, &note).unwrap();
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_unionfund"))
        .args(["audit", "verify-export"])
        .arg(&path)
        .arg("--checkpoint")
        .arg(&note_path)
        .args(["--key", &signer.verifier_key()])
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let peak_kb: u64 = String::from_utf8_lossy(&out.stderr).trim().lines().last().unwrap_or("0").parse().unwrap_or(0);
    println!(
        "  unionfund audit verify-export (the binary): {:.2} s = {:.0} events/s, peak memory {:.1} MiB",
        secs,
        v.checked as f64 / secs,
        peak_kb as f64 / 1024.0
    );
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&note_path);
    // Incremental verification: a first run over what no run has verified yet (on a fresh bench
    // database, the whole trail), then 100,000 new events and a run over only those.
    let run = |what: &str| {
        let started = Instant::now();
        let v = pool.read(|conn| unionfund::db::verification::extend(conn, unionfund::service::now())).unwrap();
        assert!(v.ok, "the bench's own trail must verify");
        println!(
            "  verification run ({what}): {} events in {:.2} s, tree {} verified",
            v.run_events,
            started.elapsed().as_secs_f64(),
            v.tree_size
        );
    };
    run("everything not yet verified");
    top_up(pool, officer, events + 100_000);
    pool.read(|conn| unionfund::db::log::sequence_all(conn, unionfund::service::now(), true)).unwrap();
    run("the 100,000 events since");
    // The year's checks and the report cite that verification: neither re-reads the trail.
    for (what, path) in [
        ("the year's checks", "/api/v1/reports/checks?year=2022"),
        ("the annual report (JSON)", "/api/v1/reports/performance?year=2022&format=json"),
    ] {
        let (status, secs) = rt.block_on(async {
            let t = Instant::now();
            let r = reqwest::Client::new().get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
            let status = r.status();
            r.bytes().await.unwrap();
            (status, t.elapsed().as_secs_f64())
        });
        println!("  {what} over HTTP at {} events: {status} in {:.2} s (target < 2 s)", events + 100_000, secs);
    }
}
