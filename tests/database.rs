//! The database as the service uses it (issue 16): requests run as a role that owns nothing and
//! may only add to the books; every table is classified for it; a write that waits too long on a
//! lock is a 503 whose retry acts once; ID-number hashes move to a new hash key.

use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use reqwest::Method;
use serde_json::{Value, json};
use unionfund::db::pool::{self, Access, RUNTIME_ROLE, TABLES};
use unionfund::domain::ids::ResidentId;
use unionfund::domain::policy::Role;
use unionfund::pii::PiiKeys;

use crate::helpers::*;

/// A connection to the test's database as the runtime role (the superuser switched with
/// `SET ROLE`, as the guards' tests do).
fn as_runtime_role(db: &TestDb) -> PgConnection {
    let mut conn = db.conn();
    conn.batch_execute(&format!("SET ROLE {RUNTIME_ROLE}")).unwrap();
    conn
}

/// The error a statement fails with, as text.
fn refused(conn: &mut PgConnection, sql: &str) -> String {
    match conn.batch_execute(sql) {
        Ok(()) => panic!("{sql}: allowed, but must be refused"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn every_table_is_classified_and_granted_exactly_what_its_class_allows() {
    let db = TestDb::new();
    pool::connect(&db.url, 1).unwrap();
    let mut conn = db.conn();
    let (unclassified, absent) = pool::unclassified(&mut conn).unwrap();
    assert_eq!(unclassified, Vec::<String>::new(), "tables of the schema missing from db::pool::TABLES");
    assert_eq!(absent, Vec::<String>::new(), "tables in db::pool::TABLES the schema does not have");
    #[derive(QueryableByName)]
    struct Privileges {
        #[diesel(sql_type = Bool)]
        s: bool,
        #[diesel(sql_type = Bool)]
        i: bool,
        #[diesel(sql_type = Bool)]
        u: bool,
        #[diesel(sql_type = Bool)]
        d: bool,
        #[diesel(sql_type = Bool)]
        t: bool,
    }
    for (table, access) in TABLES {
        let p: Privileges = diesel::sql_query(
            "SELECT has_table_privilege($1, $2, 'SELECT') AS s, has_table_privilege($1, $2, 'INSERT') AS i, \
                    has_table_privilege($1, $2, 'UPDATE') AS u, has_table_privilege($1, $2, 'DELETE') AS d, \
                    has_table_privilege($1, $2, 'TRUNCATE') AS t",
        )
        .bind::<Text, _>(RUNTIME_ROLE)
        .bind::<Text, _>(format!("public.\"{table}\""))
        .get_result(&mut conn)
        .unwrap();
        let expected = match access {
            Access::Append => (true, true, false, false),
            Access::Update => (true, true, true, false),
            Access::Drain => (true, true, false, true),
            Access::Expire => (true, true, true, true),
            Access::Move => (true, false, true, false),
            Access::Read => (true, false, false, false),
        };
        assert_eq!((p.s, p.i, p.u, p.d), expected, "{table} ({access:?})");
        assert!(!p.t, "{table}: no TRUNCATE for anyone but the owner");
    }
    // The ledger, the trail and the log take no UPDATE at all, not even the balances.
    for table in ["accounts", "journal_entries", "postings", "audit_events", "audit_checkpoints", "log_leaves"] {
        assert!(TABLES.contains(&(table, Access::Append)), "{table} is append-only for the service");
    }
}

#[tokio::test]
async fn a_table_nobody_classified_stops_the_start_up_and_is_named() {
    let db = TestDb::new();
    pool::connect(&db.url, 1).unwrap();
    db.conn().batch_execute("CREATE TABLE stray_notes (id int)").unwrap();
    let e = pool::connect(&db.url, 1).unwrap_err().to_string();
    assert!(e.contains("stray_notes") && e.contains("TABLES"), "{e}");
    db.conn().batch_execute("DROP TABLE stray_notes").unwrap();
    pool::connect(&db.url, 1).unwrap();
}

#[tokio::test]
async fn requests_run_as_a_role_that_can_add_to_the_books_but_not_rewrite_them() {
    let app = spawn_app().await;
    let fund = app.fund("1000.00").await;
    let id = fund["id"].as_str().unwrap();
    let r = app
        .post_as(
            Role::FinanceOfficer,
            &format!("/api/v1/funds/{id}/sources"),
            json!({"kind": "other", "amount": "250.00", "reference": "SRC-1"}),
        )
        .await;
    assert_eq!(r.status(), 201);
    // The service's own pool is that role.
    let pool = pool::connect(&app.db.url, 1).unwrap();
    #[derive(QueryableByName)]
    struct Who {
        #[diesel(sql_type = Text)]
        who: String,
    }
    let who: Who = diesel::sql_query("SELECT current_user::text AS who").get_result(&mut pool.get().unwrap()).unwrap();
    assert_eq!(who.who, RUNTIME_ROLE);

    let mut conn = as_runtime_role(&app.db);
    for (table, column) in [
        ("journal_entries", "memo"),
        ("postings", "amount"),
        ("audit_events", "amount"),
        ("accounts", "balance"),
        ("fund_sources", "amount"),
        ("audit_checkpoints", "hash"),
        ("log_leaves", "idx"),
    ] {
        for sql in [
            format!("UPDATE {table} SET {column} = {column}"),
            format!("DELETE FROM {table}"),
            format!("TRUNCATE {table}"),
        ] {
            let e = refused(&mut conn, &sql);
            assert!(e.contains("permission denied"), "{sql}: {e}");
        }
    }
    // Only the owner may switch a trigger off, and the runtime role owns nothing.
    for (table, trigger) in [
        ("postings", "postings_append_only"),
        ("audit_events", "audit_events_append_only"),
        ("postings", "postings_apply"),
    ] {
        let e = refused(&mut conn, &format!("ALTER TABLE {table} DISABLE TRIGGER {trigger}"));
        assert!(e.contains("must be owner"), "{table}: {e}");
    }
    let e = refused(&mut conn, "ALTER TABLE postings DISABLE TRIGGER ALL");
    assert!(e.contains("must be owner"), "{e}");
    let e = refused(&mut conn, "CREATE TABLE mine (id int)");
    assert!(e.contains("permission denied"), "{e}");
    // What it may do, it does: the books moved, through the trigger that alone may move them.
    assert_eq!(app.count("SELECT count(*) AS n FROM postings"), 4);
    assert_eq!(body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{id}")).await).await["funded"], "250.00");
    drop(conn);
    app.finish().await;
}

/// A login role of the cluster's, member of the runtime role, as an operator makes one on a
/// managed PostgreSQL (README, "Database roles"). Cluster-wide: made once, safe when tests race.
fn login_role() -> &'static str {
    const LOGIN: &str = "unionfund_test_login";
    let db = TestDb::new();
    pool::connect(&db.url, 1).unwrap();
    let mut conn = db.conn();
    let made = conn.batch_execute(&format!("CREATE ROLE {LOGIN} LOGIN NOINHERIT"));
    #[derive(QueryableByName)]
    struct Exists {
        #[diesel(sql_type = Bool)]
        exists: bool,
    }
    let exists: Exists = diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1) AS exists")
        .bind::<Text, _>(LOGIN)
        .get_result(&mut conn)
        .unwrap();
    assert!(made.is_ok() || exists.exists, "{made:?}");
    // Granting a membership twice is a notice, not an error.
    conn.batch_execute(&format!("GRANT {RUNTIME_ROLE} TO {LOGIN}")).unwrap();
    LOGIN
}

#[tokio::test]
async fn with_a_runtime_url_the_pool_logs_in_as_an_operators_role_and_is_still_the_runtime_role() {
    let login = login_role();
    let db = TestDb::new();
    let runtime_url = format!("{SERVER}/{}", db.name).replace("postgres@", &format!("{login}@"));
    let settings = pool::Settings { runtime_url: Some(&runtime_url), ..pool::Settings::new(&db.url, 2) };
    let pool = pool::open(&settings, |_| Ok(())).unwrap();
    let mut conn = pool.get().unwrap();
    #[derive(QueryableByName)]
    struct Who {
        #[diesel(sql_type = Text)]
        session: String,
        #[diesel(sql_type = Text)]
        current: String,
    }
    let who: Who = diesel::sql_query("SELECT session_user::text AS session, current_user::text AS current")
        .get_result(&mut conn)
        .unwrap();
    assert_eq!((who.session.as_str(), who.current.as_str()), (login, RUNTIME_ROLE));
    // It writes through the one write path, and cannot rewrite what it wrote, even as itself.
    let ctx = unionfund::db::write::WriteCtx {
        caller: None,
        request_id: "runtime-url".into(),
        now: unionfund::service::now(),
        adjusting: None,
    };
    unionfund::db::write::execute(&pool, &ctx, None, |tx| {
        tx.record(unionfund::db::write::Event::new(
            unionfund::domain::audit::Stream::System,
            "test.recorded",
            "test",
            uuid::Uuid::now_v7(),
        ));
        Ok(unionfund::db::write::Answer { status: 200, body: (), etag: None })
    })
    .unwrap();
    assert_eq!(db.count("SELECT count(*) AS n FROM audit_events WHERE request_id = 'runtime-url'"), 1);
    assert!(refused(&mut conn, "DELETE FROM audit_events").contains("permission denied"));
    assert!(refused(&mut conn, "RESET ROLE; DELETE FROM audit_events").contains("permission denied"));
    drop(conn);
    // A runtime URL with a role nobody made is refused at start, by name.
    let settings = pool::Settings { role: "unionfund_nobody", ..settings };
    let e = pool::open(&settings, |_| Ok(())).unwrap_err().to_string();
    assert!(e.contains("unionfund_nobody") && e.contains("does not exist"), "{e}");
    db.assert_sound();
}

#[tokio::test]
async fn a_role_that_could_act_as_the_owner_is_refused_as_runtime_role() {
    let db = TestDb::new();
    // The owner itself (a superuser here) is the worst choice of all.
    let settings = pool::Settings { role: "postgres", ..pool::Settings::new(&db.url, 1) };
    let e = pool::open(&settings, |_| Ok(())).unwrap_err().to_string();
    assert!(e.contains("postgres") && e.contains("superuser"), "{e}");
}

/// Posts a source of 100.00 to the fund under an idempotency key.
async fn post_source(app: &TestApp, fund: &str, key: &str) -> reqwest::Response {
    let token = app.token(Role::FinanceOfficer).await;
    app.send(
        Method::POST,
        &format!("/api/v1/funds/{fund}/sources"),
        Some(&token),
        Some(json!({"kind": "other", "amount": "100.00", "reference": key})),
        &[("Idempotency-Key", key)],
    )
    .await
}

/// Holds the fund's row lock, as a long writer would, until the returned connection rolls back.
fn lock_fund(app: &TestApp, fund: &str) -> PgConnection {
    let mut conn = app.db.conn();
    conn.batch_execute(&format!("BEGIN; SELECT 1 FROM funds WHERE id = '{fund}' FOR UPDATE")).unwrap();
    conn
}

async fn assert_busy_then_once(app: &TestApp, fund: &str, key: &str) {
    let mut locker = lock_fund(app, fund);
    let started = std::time::Instant::now();
    let r = post_source(app, fund, key).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "the database gave up in time");
    assert_eq!(r.headers()["retry-after"], "1");
    let p = problem(r, 503, "try_again").await;
    assert!(p["detail"].as_str().unwrap().contains("nothing was written"), "{p}");
    assert_eq!(app.count("SELECT count(*) AS n FROM fund_sources"), 0, "nothing written");
    assert_eq!(app.count("SELECT count(*) AS n FROM idempotency_keys WHERE key = 'busy'"), 0, "the key is free");
    locker.batch_execute("ROLLBACK").unwrap();
    // The retry with the same key acts, once; the one after replays.
    let r = post_source(app, fund, key).await;
    assert_eq!(r.status(), 201);
    assert!(!r.headers().contains_key("idempotent-replayed"));
    let r = post_source(app, fund, key).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let f = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{fund}")).await).await;
    assert_eq!(f["funded"], "100.00", "the money moved exactly once");
    assert_eq!(app.count("SELECT count(*) AS n FROM fund_sources"), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries WHERE kind = 'source'"), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'fund.source_added'"), 1);
}

#[tokio::test]
async fn a_row_lock_held_past_the_lock_timeout_is_a_503_and_its_retry_acts_once() {
    let app = spawn_app_with(|c| c.db_limits.lock_timeout_ms = 200).await;
    let fund = app.fund("1000.00").await["id"].as_str().unwrap().to_owned();
    assert_busy_then_once(&app, &fund, "busy").await;
    app.finish().await;
}

#[tokio::test]
async fn a_write_statement_past_its_time_limit_is_a_503_too() {
    // The lock wait outlasts the statement's own limit: the statement timeout cancels it.
    let app = spawn_app_with(|c| {
        c.db_limits.lock_timeout_ms = 10_000;
        c.db_limits.statement_timeout_ms = 300;
    })
    .await;
    let fund = app.fund("1000.00").await["id"].as_str().unwrap().to_owned();
    assert_busy_then_once(&app, &fund, "busy").await;
    app.finish().await;
}

#[tokio::test]
async fn every_write_states_read_committed_and_its_time_limits() {
    let app = spawn_app_with(|c| {
        c.db_limits.lock_timeout_ms = 1234;
        c.db_limits.statement_timeout_ms = 5678;
        c.db_limits.read_timeout_ms = 43_210;
    })
    .await;
    #[derive(QueryableByName, Debug, PartialEq)]
    struct Seen {
        #[diesel(sql_type = Text)]
        isolation: String,
        #[diesel(sql_type = Text)]
        lock: String,
        #[diesel(sql_type = Text)]
        statement: String,
    }
    const SHOW: &str = "SELECT current_setting('transaction_isolation') AS isolation, \
                        current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement";
    let config = test_config(&app.db);
    let settings = pool::Settings {
        limits: pool::Limits { lock_timeout_ms: 1234, statement_timeout_ms: 5678, read_timeout_ms: 43_210 },
        ..config.database()
    };
    let pool = pool::open(&settings, |_| Ok(())).unwrap();
    // A server whose default isolation is another still gets READ COMMITTED from the write path.
    app.sql(&format!("ALTER DATABASE {} SET default_transaction_isolation = 'serializable'", app.db.name));
    let ctx = unionfund::db::write::WriteCtx {
        caller: None,
        request_id: "show".into(),
        now: unionfund::service::now(),
        adjusting: None,
    };
    let seen = unionfund::db::write::execute(&pool, &ctx, None, |tx| {
        let seen: Seen = diesel::sql_query(SHOW).get_result(tx.unchecked_connection())?;
        Ok(unionfund::db::write::Answer { status: 200, body: format!("{seen:?}"), etag: None })
    })
    .unwrap();
    let seen: String = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(seen, r#"Seen { isolation: "read committed", lock: "1234ms", statement: "5678ms" }"#);
    // Outside a write, a statement has the read limit, and no lock limit of the write's.
    let read: Seen = diesel::sql_query(SHOW).get_result(&mut pool.get().unwrap()).unwrap();
    assert_eq!((read.lock.as_str(), read.statement.as_str()), ("0", "43210ms"));
    app.sql(&format!("ALTER DATABASE {} RESET default_transaction_isolation", app.db.name));
    app.finish().await;
}

// ------------------------------------------------------------------------------------------------
// Moving ID-number hashes to a new hash key.

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The test's data key with these hash keys (first current).
fn keys(hash_keys: &[u8]) -> PiiKeys {
    let hashes: Vec<String> = hash_keys.iter().map(|k| b64(&[*k; 32])).collect();
    PiiKeys::parse(&format!("k1:{}", b64(&[1; 32])), &hashes.join(",")).unwrap()
}

fn id_number(n: u32) -> String {
    let first17 = format!("43092119850101{n:03}");
    format!("{first17}{}", ResidentId::check_char(&first17).unwrap())
}

/// Another server of the service on the test's database, with other personal-data keys: a
/// process restarted with a changed configuration.
struct Beside {
    base: String,
    server: actix_web::dev::ServerHandle,
}

impl Beside {
    async fn start(app: &TestApp, pii: PiiKeys) -> Self {
        let mut config = test_config(&app.db);
        config.pii = Arc::new(pii);
        config.log_sequence_ms = 0;
        let pool = pool::open(&config.database(), |_| Ok(())).unwrap();
        let running = unionfund::start(&config, pool).unwrap();
        let server = running.server.handle();
        tokio::spawn(running.server);
        Self { base: format!("http://{}", running.addr), server }
    }

    async fn send(
        &self,
        app: &TestApp,
        role: Role,
        method: Method,
        path: &str,
        body: Value,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = app.token(role).await;
        let mut req = app.http.request(method, format!("{}{path}", self.base)).bearer_auth(token).json(&body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// Files an application for `person` and submits it; returns the submission's answer.
    async fn file_and_submit(&self, app: &TestApp, fund: &str, person: &str) -> reqwest::Response {
        let body = application(fund, app.org("township").await, person);
        let r = self.send(app, Role::Clerk, Method::POST, APPS, body, &[]).await;
        let status = r.status();
        let filed: Value = r.json().await.unwrap();
        assert_eq!(status, 201, "filing: {filed}");
        let id = filed["id"].as_str().unwrap().to_owned();
        self.submit(app, &id).await
    }

    async fn submit(&self, app: &TestApp, id: &str) -> reqwest::Response {
        let tag =
            app.get_as(Role::Auditor, &format!("{APPS}/{id}")).await.headers()["etag"].to_str().unwrap().to_owned();
        self.send(app, Role::Clerk, Method::POST, &format!("{APPS}/{id}/submit"), json!({}), &[("If-Match", &tag)])
            .await
    }

    async fn stop(self) {
        self.server.stop(false).await;
    }
}

const APPS: &str = "/api/v1/hardship/applications";

fn application(fund: &str, org: uuid::Uuid, person: &str) -> Value {
    json!({
        "fund_id": fund, "org_id": org, "worker_name": "王建国", "id_number": person,
        "phone": "138-0013-8000", "bank_account": "6222 0200 1234 5678",
        "category": "illness", "level": "deep", "household_members": 3,
        "household_monthly_income": "1500.00", "household_notes": "two children at school",
        "requested_amount": "300.00", "reason": "hospital costs",
    })
}

/// How many stored ID-number hashes equal `hash`.
fn stored(app: &TestApp, hash: &str) -> i64 {
    app.count(&format!("SELECT count(*) AS n FROM hardship_applications WHERE id_number_hash = '{hash}'"))
}

#[tokio::test]
async fn hashes_move_to_a_new_hash_key_and_the_duplicate_check_finds_the_applicant_throughout() {
    let app = spawn_app_with(|c| c.pii = Arc::new(keys(&[0x41]))).await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/funds/{fund}/sources");
    let upper =
        json!({"kind": "upper_allocation", "amount": "40000.00", "matching_ratio": "0.5", "reference": "UPPER-1"});
    assert_eq!(app.post_as(Role::FinanceOfficer, &path, upper).await.status(), 201);
    let local = json!({"kind": "local_matching", "amount": "20000.00", "reference": "LOCAL-1"});
    assert_eq!(app.post_as(Role::FinanceOfficer, &path, local).await.status(), 201);
    let (old, moving, new) = (keys(&[0x41]), keys(&[0x42, 0x41]), keys(&[0x42]));
    let (p, q) = (id_number(1), id_number(2));

    // Under the old key: P applies and is submitted, Q's application waits as a draft.
    let before = Beside::start(&app, keys(&[0x41])).await;
    assert_eq!(before.file_and_submit(&app, &fund, &p).await.status(), 200);
    let r = before
        .send(&app, Role::Clerk, Method::POST, APPS, application(&fund, app.org("township").await, &q), &[])
        .await;
    let q_draft = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    before.stop().await;
    assert_eq!(stored(&app, &old.lookup_hash("id_number", &p)), 1);

    // The new hash key first, the old one after it: P applies again, and is found.
    let during = Beside::start(&app, keys(&[0x42, 0x41])).await;
    problem(during.file_and_submit(&app, &fund, &p).await, 409, "duplicate_beneficiary").await;
    assert_eq!(stored(&app, &moving.lookup_hash("id_number", &p)), 2, "P's first application moved when P came back");
    assert_eq!(stored(&app, &old.lookup_hash("id_number", &q)), 1, "Q, not seen again, waits for the reseal");

    // The reseal moves the rest, and says so.
    let pool = pool::connect(&app.db.url, 1).unwrap();
    let report = unionfund::service::personal_data::reseal(&pool, &moving).unwrap();
    let moved: Vec<(&str, usize)> =
        report.columns.iter().map(|(c, n)| (c.as_str(), *n)).filter(|(_, n)| *n > 0).collect();
    assert_eq!(moved, [("hardship_applications.id_number_hash", 1)]);
    assert_eq!(stored(&app, &new.lookup_hash("id_number", &q)), 1);
    assert_eq!(stored(&app, &old.lookup_hash("id_number", &p)) + stored(&app, &old.lookup_hash("id_number", &q)), 0);
    during.stop().await;

    // The old key dropped: Q's draft is submitted, and Q applying again is found by the new key alone.
    let after = Beside::start(&app, new).await;
    assert_eq!(after.submit(&app, &q_draft).await.status(), 200);
    problem(after.file_and_submit(&app, &fund, &q).await, 409, "duplicate_beneficiary").await;
    after.stop().await;
    // A second pass has nothing left to move.
    let again = unionfund::service::personal_data::reseal(&pool, &keys(&[0x42])).unwrap();
    assert!(again.columns.iter().all(|(_, n)| *n == 0), "{:?}", again.columns);
    assert_eq!(app.count("SELECT count(*) AS n FROM audit_events WHERE action = 'personal_data.resealed'"), 2);
    app.finish().await;
}
