//! The database as the last line (migration 000014): each guard beside a Rust check refuses its
//! violation written straight into the database, as the runtime role, with SQLSTATE 23514
//! (check_violation) and the constraint it names; and a write the Rust check could not see (one
//! that skipped the fund lock, committed while a request was between its check and its posting)
//! makes that request a clean 409, not a negative balance.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sql_types::{BigInt, Text};
use serde_json::{Value, json};
use unionfund::db::write::{self, Answer, Event, WriteCtx};
use unionfund::domain::ledger::{AccountRef, JournalEntry, codes};
use unionfund::domain::money::Money;
use unionfund::domain::policy::Role;
use uuid::Uuid;

use crate::helpers::*;

/// Runs the rest of the session as the service's runtime role, which the service created and
/// granted its privileges in this database when the test's app started: each violation below is
/// refused to the very role requests run as, not only to the owner.
fn as_runtime(conn: &mut PgConnection) {
    let granted = diesel::sql_query(
        "SELECT 1 AS n FROM pg_roles WHERE rolname = 'unionfund_app' \
         AND has_table_privilege('unionfund_app', 'public.postings', 'INSERT')",
    )
    .load::<One>(conn)
    .map(|r| !r.is_empty())
    .unwrap();
    assert!(granted, "the app's start-up granted unionfund_app its privileges here");
    conn.batch_execute("SET ROLE unionfund_app").unwrap();
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    #[allow(dead_code)]
    n: i32,
}

/// A connection to the test's database as the runtime role.
fn runtime(app: &TestApp) -> PgConnection {
    let mut conn = app.db.conn();
    as_runtime(&mut conn);
    conn
}

/// Asserts that `result` is a check violation (SQLSTATE 23514) naming `constraint`.
fn assert_refused<T: std::fmt::Debug>(result: Result<T, DieselError>, constraint: &str) {
    match result {
        Err(DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, info)) => {
            assert_eq!(info.constraint_name(), Some(constraint), "{}", info.message());
        }
        other => panic!("expected a check violation of {constraint}, got {other:?}"),
    }
}

/// Runs `sql` in a transaction that is rolled back, and asserts that it was accepted: the
/// figure just inside each guard is not refused (and nothing stays behind).
fn assert_accepted(conn: &mut PgConnection, sql: &str) {
    conn.batch_execute("BEGIN").unwrap();
    let r = diesel::sql_query(sql).execute(conn);
    conn.batch_execute("ROLLBACK").unwrap();
    assert!(matches!(r, Ok(n) if n > 0), "{sql}: {r:?}");
}

/// One statement, as the write path posts it (src/db/write.rs `Tx::post`): the accounts opened
/// on their first posting, the journal entry, and its two legs, `amount` from the fund's account
/// `from` to its account `to`.
fn posting(fund: &str, kind: &str, entity: (&str, &str), from: &str, to: &str, amount: &str) -> String {
    let entry = Uuid::new_v4();
    let (entity_type, entity_id) = entity;
    format!(
        "WITH legs AS (SELECT '{fund}'::uuid AS fund_id, * FROM (VALUES ('{to}', {amount}), ('{from}', -{amount})) l(code, amount)), \
              created AS (INSERT INTO accounts (fund_id, code) SELECT fund_id, code FROM legs \
                          ON CONFLICT ((coalesce(fund_id, '00000000-0000-0000-0000-000000000000'::uuid)), code) \
                          DO NOTHING RETURNING id, fund_id, code), \
              e AS (INSERT INTO journal_entries (id, kind, fund_id, entity_type, entity_id, request_id, actor, created_at) \
                    VALUES ('{entry}', '{kind}', '{fund}', '{entity_type}', '{entity_id}', 'sql', 'sql', now())) \
         INSERT INTO postings (entry_id, account_id, amount) \
         SELECT '{entry}', coalesce(c.id, a.id), l.amount FROM legs l \
         LEFT JOIN created c ON c.code = l.code \
         LEFT JOIN accounts a ON a.fund_id = l.fund_id AND a.code = l.code"
    )
}

/// The same posting without opening accounts: straight into `postings`, so that a statement
/// waiting on a row another transaction moved waits inside the posting trigger itself.
fn posting_to_existing(fund: &str, from: &str, to: &str, amount: &str) -> String {
    let entry = Uuid::new_v4();
    format!(
        "WITH e AS (INSERT INTO journal_entries (id, kind, fund_id, entity_type, entity_id, request_id, actor, created_at) \
                    VALUES ('{entry}', 'budget', '{fund}', 'fund', '{fund}', 'sql', 'sql', now())) \
         INSERT INTO postings (entry_id, account_id, amount) \
         SELECT '{entry}', a.id, CASE a.code WHEN '{to}' THEN {amount} ELSE -{amount} END \
         FROM accounts a WHERE a.fund_id = '{fund}' AND a.code IN ('{from}', '{to}')"
    )
}

fn run(conn: &mut PgConnection, sql: &str) -> Result<usize, DieselError> {
    diesel::sql_query(sql).execute(conn)
}

async fn id_of(r: reqwest::Response) -> String {
    let status = r.status();
    let b = body(r).await;
    assert_eq!(status, 201, "{b}");
    b["id"].as_str().unwrap().to_owned()
}

async fn get(app: &TestApp, path: &str) -> Value {
    body(app.get_as(Role::Auditor, path).await).await
}

async fn etag_of(app: &TestApp, path: &str) -> String {
    let r = app.get_as(Role::Auditor, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.headers()["etag"].to_str().unwrap().to_owned()
}

const TOWNSHIPS: [&str; 3] = ["township", "t2", "t3"];

/// A township-grant fund of 100,000.00 whose formula allocated all of it to three items in one
/// batch entry; answers the fund and the items.
async fn granted_fund(app: &TestApp) -> (String, Vec<String>) {
    let b =
        json!({"name": "2022年乡镇工会组织工作经费", "kind": "township_grant", "year": 2022, "budget": "100000.00"});
    let fund = id_of(app.post_as(Role::FinanceOfficer, "/api/v1/funds", b).await).await;
    let mut townships = Vec::new();
    for label in TOWNSHIPS {
        townships.push(json!({"org_id": app.org(label).await, "members": 100}));
    }
    let b = json!({"fund_id": fund, "total": "90000.00", "base_per_township": "10000.00", "townships": townships});
    let r =
        app.post_with(Role::FinanceOfficer, "/api/v1/township-grants/formula", b, &[("Idempotency-Key", "f")]).await;
    assert_eq!(r.status(), 201);
    let f = body(r).await;
    assert_eq!(f["grants"][0]["amount"], "30000.00");
    let items = f["grants"].as_array().unwrap().iter().map(|g| g["item_id"].as_str().unwrap().to_owned()).collect();
    (fund, items)
}

async fn stage(app: &TestApp, item: &str, what: &str, b: Value) -> reqwest::Response {
    let tag = etag_of(app, &format!("/api/v1/items/{item}")).await;
    app.post_with(Role::FinanceOfficer, &format!("/api/v1/items/{item}/{what}"), b, &[("If-Match", &tag)]).await
}

fn pay(amount: &str) -> Value {
    json!({"amount": amount, "payee": "琼湖街道总工会", "method": "bank_transfer"})
}

// ------------------------------------------------------------------------------------------------
// Postings

#[tokio::test]
async fn a_posting_that_takes_an_earmarked_funds_available_below_zero_is_refused() {
    let app = spawn_app().await;
    let fund = app.fund("100.00").await["id"].as_str().unwrap().to_owned();
    let mut conn = runtime(&app);
    // A budget cut past what is available (the Rust check: 409 over_allocation).
    let cut = |amount| posting(&fund, "budget", ("fund", &fund), codes::AVAILABLE, codes::BUDGET, amount);
    assert_refused(run(&mut conn, &cut("100.01")), "available_not_negative");
    assert_accepted(&mut conn, &cut("100.00"));
    // An allocation past what is available, in a batch entry as the formula posts it.
    let batch = Uuid::new_v4().to_string();
    let alloc = posting(&fund, "allocation", ("township_grant_formula", &batch), "available", "committed", "100.01");
    assert_refused(run(&mut conn, &alloc), "available_not_negative");
    drop(conn);
    let f = get(&app, &format!("/api/v1/funds/{fund}")).await;
    assert_eq!((f["budget"].as_str(), f["available"].as_str()), (Some("100.00"), Some("100.00")));
    app.finish().await;
}

#[tokio::test]
async fn a_basic_line_may_still_spend_received_money_beyond_its_budget() {
    let app = spawn_app().await;
    // Basic expenditure is bounded by money received, not by the budget (the demo's 年中追加支出:
    // a line with no budget, appropriated and spent): its available goes negative, legitimately.
    let b = json!({"code": "basic_in_year", "name": "年中追加支出", "kind": "basic", "budget": "0.00"});
    let r = app.post_as(Role::FinanceOfficer, "/api/v1/budgets/2022/lines", b).await;
    let status = r.status();
    let line = body(r).await;
    assert_eq!(status, 201, "{line}");
    let fund = line["fund_id"].as_str().unwrap().to_owned();
    let mut conn = runtime(&app);
    let spend = posting(&fund, "basic_expenditure", ("line_expenditure", &fund), "available", "spent", "5.00");
    assert_accepted(&mut conn, &spend);
    // The guard leaves basic funds to the Rust checks altogether (it refuses no more than they
    // do): a budget cut there is refused by the service, not by the trigger.
    let cut = posting(&fund, "budget", ("fund", &fund), "available", "budget", "0.01");
    assert_accepted(&mut conn, &cut);
    drop(conn);
    app.finish().await;
}

#[tokio::test]
async fn a_posting_that_takes_an_items_committed_paid_out_or_unused_money_below_zero_is_refused() {
    let app = spawn_app().await;
    let (fund, items) = granted_fund(&app).await;
    let item = items[0].clone();
    // The item: 30,000.00 allocated (in the formula's batch entry), 20,000.00 paid out by itself;
    // another item 5,000.00, so that the fund holds more paid out than the item.
    assert_eq!(stage(&app, &item, "disbursements", pay("20000.00")).await.status(), 201);
    assert_eq!(stage(&app, &items[1], "disbursements", pay("5000.00")).await.status(), 201);
    let mut conn = runtime(&app);
    let own = ("item", item.as_str());
    // The fund holds 65,000.00 committed and 25,000.00 paid out: only the item's own figures,
    // its movements plus what is being posted for it, can refuse these.
    let disburse = |a| posting(&fund, "disbursement", own, "committed", "paid_out", a);
    assert_refused(run(&mut conn, &disburse("10000.01")), "committed_not_negative");
    assert_accepted(&mut conn, &disburse("10000.00"));
    let used = |a| posting(&fund, "use", own, "paid_out", "spent", a);
    assert_refused(run(&mut conn, &used("20000.01")), "paid_out_not_negative");
    assert_accepted(&mut conn, &used("20000.00"));
    let reversed = |a| posting(&fund, "reversal", own, "paid_out", "committed", a);
    assert_refused(run(&mut conn, &reversed("20000.01")), "reversal_within_paid_out");
    assert_accepted(&mut conn, &reversed("20000.00"));
    // A batch entry (no item of its own) is judged by the fund's figures.
    let batch = Uuid::new_v4().to_string();
    let bank = posting(&fund, "use", ("hardship_campaign", &batch), "paid_out", "spent", "25000.01");
    assert_refused(run(&mut conn, &bank), "paid_out_not_negative");
    let bank = posting(&fund, "disbursement", ("hardship_campaign", &batch), "committed", "paid_out", "65000.01");
    assert_refused(run(&mut conn, &bank), "committed_not_negative");
    drop(conn);
    let i = get(&app, &format!("/api/v1/items/{item}")).await;
    assert_eq!((i["undisbursed"].as_str(), i["unused"].as_str()), (Some("10000.00"), Some("20000.00")));
    let f = get(&app, &format!("/api/v1/funds/{fund}")).await;
    assert_eq!((f["allocated"].as_str(), f["disbursed"].as_str()), (Some("90000.00"), Some("25000.00")));
    // Through the API, each Rust check still answers first, with the same code.
    problem(stage(&app, &item, "disbursements", pay("10000.01")).await, 409, "over_disbursement").await;
    let u = json!({"amount": "20000.01", "description": "activities", "voucher_no": "G-1"});
    problem(stage(&app, &item, "uses", u).await, 409, "over_use").await;
    app.finish().await;
}

// ------------------------------------------------------------------------------------------------
// Fee rows

#[tokio::test]
async fn a_fee_row_whose_fee_or_remittance_is_not_its_rates_rounding_is_refused() {
    let app = spawn_app().await;
    let unit = app.org("unit").await;
    let b = json!({"name": "2022年工会经费", "kind": "union_fee", "year": 2022, "budget": "0.00"});
    let fund = id_of(app.post_as(Role::FinanceOfficer, "/api/v1/funds", b).await).await;
    let row = |payroll: &str, fee: &str, remit: &str, retained: &str| {
        format!(
            "INSERT INTO fee_declarations (id, org_id, period, version, payroll_total, fee_rate, remit_rate, \
               fee_due, remit_due, retained, fund_id, entry_id, created_at, created_by) \
             VALUES ('{}', '{unit}', '2022-03-01', 1, {payroll}, 0.02, 0.40, {fee}, {remit}, {retained}, '{fund}', NULL, now(), 'sql')",
            Uuid::new_v4()
        )
    };
    let mut conn = runtime(&app);
    // 123,456.78 × 2% = 2,469.1356 → 2,469.14; × 40% = 987.656 → 987.66 (fees.rs's own example).
    assert_accepted(&mut conn, &row("123456.78", "2469.14", "987.66", "1481.48"));
    assert_refused(
        run(&mut conn, &row("123456.78", "2469.13", "987.65", "1481.48")),
        "fee_declarations_fee_due_rounded",
    );
    assert_refused(
        run(&mut conn, &row("123456.78", "2469.14", "987.65", "1481.49")),
        "fee_declarations_remit_due_rounded",
    );
    // Half a fen rounds up, as Money does (banker's rounding would give 0.00): 0.25 × 2% = 0.005.
    assert_accepted(&mut conn, &row("0.25", "0.01", "0.00", "0.01"));
    assert_refused(run(&mut conn, &row("0.25", "0.00", "0.00", "0.00")), "fee_declarations_fee_due_rounded");
    // 0.01 × 40% = 0.004 rounds down; a zero payroll owes nothing.
    assert_accepted(&mut conn, &row("0.50", "0.01", "0.00", "0.01"));
    assert_refused(run(&mut conn, &row("0.50", "0.01", "0.01", "0.00")), "fee_declarations_remit_due_rounded");
    assert_accepted(&mut conn, &row("0.00", "0.00", "0.00", "0.00"));
    drop(conn);
    // What the service writes passes them: a declaration through the API.
    let r = app
        .post_as(
            Role::FinanceOfficer,
            "/api/v1/union-fees/declarations",
            json!({"org_id": unit, "period": "2022-03", "payroll_total": "123456.78"}),
        )
        .await;
    let status = r.status();
    let d = body(r).await;
    assert_eq!(status, 201, "{d}");
    assert_eq!((d["fee_due"].as_str(), d["remit_due"].as_str()), (Some("2469.14"), Some("987.66")));
    app.finish().await;
}

#[tokio::test]
async fn the_demo_books_load_under_every_guard() {
    // Every row the demo writes (a year of declarations, payments, grants, the overspent basic
    // line) passes the guards: the load would fail otherwise.
    let app = spawn_demo_app().await;
    assert_eq!(app.count("SELECT count(*) AS n FROM fee_declarations"), 60);
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM accounts a JOIN funds f ON f.id = a.fund_id \
             WHERE a.code = 'available' AND a.balance < 0 AND f.kind = 'basic'"
        ),
        1,
        "the document's gap stays visible"
    );
    assert_eq!(
        app.count(
            "SELECT count(*) AS n FROM accounts a JOIN funds f ON f.id = a.fund_id \
             WHERE a.balance < 0 AND ((a.code = 'available' AND f.kind <> 'basic') OR a.code IN ('committed', 'paid_out'))"
        ),
        0
    );
    app.finish().await;
}

// ------------------------------------------------------------------------------------------------
// Stream heads

#[derive(Insertable, Clone)]
#[diesel(table_name = unionfund::db::schema::audit_events, treat_none_as_default_value = false)]
struct ForgedEvent {
    seq: i64,
    stream: String,
    stream_seq: i64,
    occurred_at: DateTime<Utc>,
    actor: String,
    actor_role: String,
    request_id: String,
    action: String,
    entity_type: String,
    entity_id: Uuid,
    prev_hash: String,
    hash: String,
}

#[derive(QueryableByName)]
struct Head {
    #[diesel(sql_type = BigInt)]
    stream_seq: i64,
    #[diesel(sql_type = Text)]
    hash: String,
}

fn head(app: &TestApp, stream: &str) -> (i64, String) {
    let h: Head = diesel::sql_query("SELECT stream_seq, hash FROM audit_heads WHERE stream = $1")
        .bind::<Text, _>(stream)
        .get_result(&mut app.db.conn())
        .unwrap();
    (h.stream_seq, h.hash)
}

fn hash(n: u64) -> String {
    format!("{n:064x}")
}

/// Events continuing `stream` from its head, each linked to the one before.
fn chain(app: &TestApp, stream: &str, n: usize) -> Vec<ForgedEvent> {
    let (mut stream_seq, mut prev) = head(app, stream);
    let mut out = Vec::new();
    for i in 0..n {
        stream_seq += 1;
        let hash = hash(0xfeed_0000 + i as u64);
        out.push(ForgedEvent {
            seq: app.count("SELECT nextval('audit_seq') AS n"),
            stream: stream.to_owned(),
            stream_seq,
            occurred_at: unionfund::service::now(),
            actor: "sql".into(),
            actor_role: "system".into(),
            request_id: "sql".into(),
            action: "test.forged".into(),
            entity_type: "test".into(),
            entity_id: Uuid::new_v4(),
            prev_hash: prev,
            hash: hash.clone(),
        });
        prev = hash;
    }
    out
}

fn insert(conn: &mut PgConnection, rows: &[ForgedEvent]) -> Result<usize, DieselError> {
    diesel::insert_into(unionfund::db::schema::audit_events::table).values(rows).execute(conn)
}

fn copy(conn: &mut PgConnection, rows: &[ForgedEvent]) -> Result<usize, DieselError> {
    diesel::copy_from(unionfund::db::schema::audit_events::table).from_insertable(rows).execute(conn)
}

const CHAIN: &str = "audit_events_continue_chain";

#[tokio::test]
async fn an_event_that_does_not_continue_its_streams_head_is_refused() {
    let app = spawn_app().await;
    let fund = app.fund("100.00").await["id"].as_str().unwrap().to_owned();
    let stream = format!("fund:{fund}");
    let before = head(&app, &stream);
    assert_eq!(before.0, 2, "created, budget set");
    let mut conn = runtime(&app);

    let mut wrong_hash = chain(&app, &stream, 1);
    wrong_hash[0].prev_hash = hash(1);
    assert_refused(insert(&mut conn, &wrong_hash), CHAIN);

    let mut skipping = chain(&app, &stream, 1);
    skipping[0].stream_seq += 1;
    assert_refused(insert(&mut conn, &skipping), CHAIN);

    // An event for a stream whose head was never created (the write path always locks it first).
    let mut headless = chain(&app, &stream, 1);
    headless[0].stream = "fund:nowhere".into();
    headless[0].stream_seq = 1;
    headless[0].prev_hash = unionfund::domain::audit::GENESIS_HASH.into();
    assert_refused(insert(&mut conn, &headless), CHAIN);

    // The right link is accepted, and moves the head (inside a transaction rolled back).
    let good = chain(&app, &stream, 1);
    conn.batch_execute("BEGIN").unwrap();
    assert_eq!(insert(&mut conn, &good).unwrap(), 1);
    let moved: Head = diesel::sql_query("SELECT stream_seq, hash FROM audit_heads WHERE stream = $1")
        .bind::<Text, _>(&stream)
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((moved.stream_seq, moved.hash), (3, good[0].hash.clone()));
    conn.batch_execute("ROLLBACK").unwrap();
    drop(conn);
    assert_eq!(head(&app, &stream), before, "nothing refused moved the head");
    app.finish().await;
}

#[tokio::test]
async fn a_batch_with_a_broken_link_in_the_middle_is_refused_by_insert_and_by_copy() {
    let app = spawn_app().await;
    let fund = app.fund("100.00").await["id"].as_str().unwrap().to_owned();
    let other = app.fund("5.00").await["id"].as_str().unwrap().to_owned();
    let stream = format!("fund:{fund}");
    let before = head(&app, &stream);
    let mut conn = runtime(&app);

    // Five events of one stream: the fourth does not carry the third's hash.
    let mut broken_hash = chain(&app, &stream, 5);
    broken_hash[3].prev_hash = hash(2);
    assert_refused(insert(&mut conn, &broken_hash), CHAIN);
    assert_refused(copy(&mut conn, &broken_hash), CHAIN);

    // Positions 3, 4, 6, 7 (one skipped), hashes linked as if none were.
    let mut gap = chain(&app, &stream, 4);
    for e in &mut gap[2..] {
        e.stream_seq += 1;
    }
    assert_refused(insert(&mut conn, &gap), CHAIN);
    assert_refused(copy(&mut conn, &gap), CHAIN);

    // Two streams in one statement, one of them whole: the other still refuses the statement.
    let mut two = chain(&app, &format!("fund:{other}"), 2);
    two.extend(broken_hash.iter().cloned());
    assert_refused(insert(&mut conn, &two), CHAIN);

    // The whole batch goes in both ways (rolled back), in any row order.
    let mut whole = chain(&app, &stream, 5);
    whole.reverse();
    for way in [insert, copy] {
        conn.batch_execute("BEGIN").unwrap();
        assert_eq!(way(&mut conn, &whole).unwrap(), 5);
        conn.batch_execute("ROLLBACK").unwrap();
    }
    drop(conn);
    assert_eq!(head(&app, &stream), before);
    app.finish().await;
}

// ------------------------------------------------------------------------------------------------
// The runtime role

#[tokio::test]
async fn the_runtime_role_cannot_disable_a_trigger() {
    let app = spawn_app().await;
    let mut conn = app.db.conn();
    as_runtime(&mut conn);
    for table in ["postings", "journal_entries", "accounts", "audit_events", "audit_heads", "fee_declarations"] {
        for sql in
            [format!("ALTER TABLE {table} DISABLE TRIGGER ALL"), format!("ALTER TABLE {table} DISABLE TRIGGER USER")]
        {
            let err = conn.batch_execute(&sql).unwrap_err().to_string();
            assert!(err.contains("must be owner"), "{sql}: {err}");
        }
    }
    drop(conn);
    app.finish().await;
}

// ------------------------------------------------------------------------------------------------
// Races the Rust check cannot see

/// A write that skips the fund lock (every service path takes it; this is the bug or the other
/// tool the guards are for): posts `entry` through the write path, says so, and holds its
/// transaction — and the account rows it moved — open until told to commit. Its entry is filed
/// under no fund: an entry naming its fund takes a key-share lock on the fund's row (the foreign
/// key), which already makes every service write (`FOR UPDATE` on the fund) wait for it and then
/// check the committed figures — the Rust check cannot be raced that way.
fn unlocked_posting(
    url: String,
    fund: Uuid,
    entry: JournalEntry,
    entity: (&'static str, Uuid),
) -> (std::thread::JoinHandle<()>, mpsc::Receiver<()>, mpsc::Sender<()>) {
    let (posted_tx, posted) = mpsc::channel();
    let (go, go_rx) = mpsc::channel::<()>();
    let handle = std::thread::spawn(move || {
        let pool = unionfund::db::pool::connect(&url, 1).unwrap();
        let ctx = WriteCtx {
            caller: None,
            request_id: "unlocked-writer".into(),
            now: unionfund::service::now(),
            adjusting: None,
        };
        write::execute(&pool, &ctx, None, |tx| {
            let entry_id = tx.post(&entry, None, entity.0, entity.1)?;
            tx.record(Event {
                fund_id: Some(fund),
                amount: Some(entry.total()),
                entry_id: Some(entry_id),
                ..Event::new(unionfund::domain::audit::Stream::Fund(fund), "test.unlocked_posting", entity.0, entity.1)
            });
            posted_tx.send(()).unwrap();
            go_rx.recv_timeout(Duration::from_secs(30)).unwrap();
            Ok(Answer { status: 200, body: json!({}), etag: None })
        })
        .unwrap();
    });
    (handle, posted, go)
}

/// Waits until the writer has posted (and holds its rows).
async fn wait_posted(posted: &mpsc::Receiver<()>) {
    let start = Instant::now();
    while posted.try_recv().is_err() {
        assert!(start.elapsed() < Duration::from_secs(20), "the unlocked writer never posted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits for a session of the test's database to wait on a row lock (the request, blocked at
/// its posting behind the unlocked writer), then lets the writer commit.
async fn release_when_blocked(app: &TestApp, go: mpsc::Sender<()>) {
    let start = Instant::now();
    let waiting =
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    while app.count(waiting) == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "the request never waited on the writer's rows");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    go.send(()).unwrap();
}

fn uuid(s: &str) -> Uuid {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_budget_cut_racing_a_write_that_skipped_the_fund_lock_is_a_409_not_a_negative_available() {
    let app = spawn_app().await;
    let fund = app.fund("1000.00").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/funds/{fund}");
    let tag = etag_of(&app, &path).await;
    let f = uuid(&fund);
    let m = Money::parse("800.00").unwrap();
    let entry = JournalEntry::transfer(
        "budget",
        "budget reduced, unchecked",
        AccountRef::of_fund(f, codes::AVAILABLE),
        AccountRef::of_fund(f, codes::BUDGET),
        m,
    )
    .unwrap();
    let (writer, writer_posted, go) = unlocked_posting(app.db.url.clone(), f, entry, ("fund", f));
    // The request reads 1,000.00 available, cuts 500.00, and waits at its posting for the writer,
    // which commits 800.00 out of the same available: its check passed on a figure now gone.
    wait_posted(&writer_posted).await;
    let headers = [("If-Match", tag.as_str())];
    let (r, ()) = tokio::join!(
        app.patch_with(Role::FinanceOfficer, &path, json!({"budget": "500.00"}), &headers),
        release_when_blocked(&app, go),
    );
    writer.join().unwrap();
    let p = problem(r, 409, "over_allocation").await;
    assert!(p["detail"].as_str().unwrap().contains("changed while the request was checked"), "{p}");
    let f = get(&app, &path).await;
    assert_eq!((f["budget"].as_str(), f["available"].as_str()), (Some("200.00"), Some("200.00")));
    app.finish().await;
}

#[tokio::test]
async fn a_disbursement_racing_a_write_that_skipped_the_fund_lock_is_a_409_not_a_negative_committed() {
    let app = spawn_app().await;
    let (fund, items) = granted_fund(&app).await;
    let item = &items[0];
    let f = uuid(&fund);
    // A bank batch, unchecked, pays 85,000.00 of the fund's 90,000.00 committed.
    let m = Money::parse("85000.00").unwrap();
    let entry = JournalEntry::transfer(
        "disbursement",
        "bank batch, unchecked",
        AccountRef::of_fund(f, codes::COMMITTED),
        AccountRef::of_fund(f, codes::PAID_OUT),
        m,
    )
    .unwrap();
    let tag = etag_of(&app, &format!("/api/v1/items/{item}")).await;
    let (writer, writer_posted, go) =
        unlocked_posting(app.db.url.clone(), f, entry, ("hardship_campaign", Uuid::new_v4()));
    wait_posted(&writer_posted).await;
    // The item's own figures allow 10,000.00 (30,000.00 committed to it); the fund has 5,000.00 left.
    let headers = [("If-Match", tag.as_str())];
    let disbursements = format!("/api/v1/items/{item}/disbursements");
    let (r, ()) = tokio::join!(
        app.post_with(Role::FinanceOfficer, &disbursements, pay("10000.00"), &headers),
        release_when_blocked(&app, go),
    );
    writer.join().unwrap();
    let p = problem(r, 409, "over_disbursement").await;
    assert!(p["detail"].as_str().unwrap().contains("changed while the request was checked"), "{p}");
    let f = get(&app, &format!("/api/v1/funds/{fund}")).await;
    assert_eq!(f["disbursed"], "85000.00");
    let i = get(&app, &format!("/api/v1/items/{item}")).await;
    assert_eq!(i["disbursed"], "0.00");
    app.finish().await;
}

#[tokio::test]
async fn a_posting_that_waited_on_a_concurrent_one_is_judged_on_the_balance_that_committed() {
    let app = spawn_app().await;
    let fund = app.fund("1000.00").await["id"].as_str().unwrap().to_owned();
    let f = uuid(&fund);
    let m = Money::parse("800.00").unwrap();
    let entry = JournalEntry::transfer(
        "budget",
        "budget reduced, unchecked",
        AccountRef::of_fund(f, codes::AVAILABLE),
        AccountRef::of_fund(f, codes::BUDGET),
        m,
    )
    .unwrap();
    let (writer, writer_posted, go) = unlocked_posting(app.db.url.clone(), f, entry, ("fund", f));
    wait_posted(&writer_posted).await;
    // 500.00 out of the 1,000.00 the statement sees when it starts; it waits in the trigger's
    // UPDATE for the writer's rows, and must judge the 200.00 the writer leaves, not the 1,000.00.
    let mut conn = runtime(&app);
    let sql = posting_to_existing(&fund, codes::AVAILABLE, codes::BUDGET, "500.00");
    let cut = std::thread::spawn(move || run(&mut conn, &sql));
    release_when_blocked(&app, go).await;
    writer.join().unwrap();
    assert_refused(cut.join().unwrap(), "available_not_negative");
    let f = get(&app, &format!("/api/v1/funds/{fund}")).await;
    assert_eq!(f["available"], "200.00");
    app.finish().await;
}
