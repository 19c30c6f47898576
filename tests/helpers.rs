//! The test harness: every test gets the real app, on a real port, against its own PostgreSQL
//! database cloned from a template that is migrated once per run (per migration set). All of
//! the database-per-test mechanics live in this file, so a switch to schema-per-test touches
//! only it. Teardown asserts the invariants every test must leave true: each journal entry
//! balances, account balances equal their postings, each entry has its audit event, every
//! successful write left an event carrying its X-Request-Id, and the trail verifies.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::Mutex;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use unionfund::config::{Config, JwtConfig};
use unionfund::domain::policy::Role;
use uuid::Uuid;

/// The server every test talks to.
pub const SERVER: &str = "postgres://postgres@127.0.0.1:5432";
/// The JWT secret the test apps share (so that tests can forge tokens with other keys).
pub const JWT_SECRET: &str = "test-secret-test-secret-test-secret!";
/// The first admin of every test app.
pub const ADMIN: (&str, &str) = ("admin", "admin-password-1");

fn maintenance() -> PgConnection {
    PgConnection::establish(&format!("{SERVER}/postgres")).expect("PostgreSQL must run on 127.0.0.1:5432")
}

/// The template's name: it changes whenever a migration changes, so a stale template is never used.
fn template_name() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<_> = walk(&dir);
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        h.update(f.to_string_lossy().as_bytes());
        h.update(std::fs::read(&f).unwrap());
    }
    format!("unionfund_tpl_{}", &hex::encode(h.finalize())[..16])
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { out.extend(walk(&path)) } else { out.push(path) }
    }
    out
}

#[derive(QueryableByName)]
struct Exists {
    #[diesel(sql_type = diesel::sql_types::Bool)]
    exists: bool,
}

/// Builds the template once: under an advisory lock (tests run in parallel, in threads or in
/// processes), migrate a scratch database, then rename it into place and forbid connections to
/// it (PostgreSQL refuses to clone a database that has a session open).
fn ensure_template() -> String {
    static DONE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let name = template_name();
        let mut conn = maintenance();
        conn.batch_execute("SELECT pg_advisory_lock(7262001)").unwrap();
        let exists: Exists =
            diesel::sql_query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1) AS exists")
                .bind::<Text, _>(&name)
                .get_result(&mut conn)
                .unwrap();
        if !exists.exists {
            let building = format!("{name}_building");
            // One statement per call: a multi-statement string runs as one transaction, which
            // CREATE/DROP/ALTER DATABASE refuse.
            conn.batch_execute(&format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)")).unwrap();
            conn.batch_execute(&format!("CREATE DATABASE {building}")).unwrap();
            {
                let mut t = PgConnection::establish(&format!("{SERVER}/{building}")).unwrap();
                unionfund::db::pool::migrate(&mut t).unwrap();
            }
            conn.batch_execute(&format!("ALTER DATABASE {building} RENAME TO {name}")).unwrap();
            conn.batch_execute(&format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true"))
                .unwrap();
            // Templates of older migration sets are of no more use: drop them, so that runs over
            // a changing schema do not pile databases up. Each template notes when it was built,
            // and one built in the last day is kept: another checkout (a branch with other
            // migrations) may be running its tests from it right now.
            let built = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            conn.batch_execute(&format!("COMMENT ON DATABASE {name} IS 'built {built}'")).unwrap();
            #[derive(QueryableByName)]
            struct Name {
                #[diesel(sql_type = Text)]
                datname: String,
            }
            let stale: Vec<Name> = diesel::sql_query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'unionfund\\_tpl\\_%' AND datname <> $1 \
                 AND coalesce(substring(shobj_description(oid, 'pg_database') FROM '^built ([0-9]+)$')::bigint, 0) \
                     < extract(epoch FROM now())::bigint - 86400",
            )
            .bind::<Text, _>(&name)
            .load(&mut conn)
            .unwrap();
            for old in stale {
                let old = old.datname;
                let _ = conn.batch_execute(&format!("ALTER DATABASE {old} WITH IS_TEMPLATE false"));
                let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)"));
            }
        }
        conn.batch_execute("SELECT pg_advisory_unlock(7262001)").unwrap();
        name
    })
    .clone()
}

/// A fresh, migrated database of its own; dropped when the guard drops.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> Self {
        let template = ensure_template();
        let name = format!("t_{}", Uuid::new_v4().simple());
        maintenance().batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")).unwrap();
        Self { url: format!("{SERVER}/{name}"), name }
    }

    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).unwrap()
    }
}

impl TestDb {
    /// A count from SQL.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        diesel::sql_query(sql).get_result::<N>(&mut self.conn()).unwrap().n
    }

    pub fn assert_ledger_sound(&self) {
        self.assert_balances_sound();
        self.assert_entries_have_events();
    }

    pub fn assert_balances_sound(&self) {
        assert_eq!(
            self.count(
                "SELECT count(*) AS n FROM (SELECT entry_id FROM postings GROUP BY entry_id HAVING sum(amount) <> 0) x"
            ),
            0,
            "every journal entry balances"
        );
        assert_eq!(
            self.count(
                "SELECT count(*) AS n FROM accounts a LEFT JOIN (SELECT account_id, sum(amount) AS s FROM postings GROUP BY 1) p \
                 ON p.account_id = a.id WHERE a.balance <> coalesce(p.s, 0)"
            ),
            0,
            "every account balance equals the sum of its postings"
        );
    }

    pub fn assert_entries_have_events(&self) {
        assert_eq!(
            self.count(
                "SELECT count(*) AS n FROM journal_entries j WHERE NOT EXISTS (SELECT 1 FROM audit_events e WHERE e.entry_id = j.id)"
            ),
            0,
            "every journal entry has its audit event"
        );
        assert_eq!(
            self.count(
                "SELECT count(*) AS n FROM audit_events e WHERE e.entry_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM journal_entries j WHERE j.id = e.entry_id)"
            ),
            0,
            "every money event has its journal entry"
        );
    }

    /// The ledger is sound and the whole trail verifies.
    pub fn assert_sound(&self) {
        self.assert_ledger_sound();
        let v = unionfund::db::chain::verify(&mut unionfund::db::Db::new(&mut self.conn()), None, None, None).unwrap();
        assert_eq!(v.first_broken, None, "the audit trail must verify");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        // FORCE ends the app's pooled sessions; nothing of the test is left behind.
        let _ = maintenance().batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

/// A write made through the helpers, remembered for the teardown's request-id check.
struct Write {
    what: String,
    request_id: String,
}

/// The app under test.
pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub db: TestDb,
    pub federation_id: Uuid,
    tokens: tokio::sync::Mutex<HashMap<Role, String>>,
    orgs: tokio::sync::Mutex<HashMap<&'static str, Uuid>>,
    writes: Mutex<Vec<Write>>,
    server: actix_web::dev::ServerHandle,
    /// Loaded with the demo data: tokens are the demo users'.
    demo: bool,
}

/// Test configuration: one worker, a small pool, a fixed key, no periodic checkpoints.
pub fn test_config(db: &TestDb) -> Config {
    let mut c = Config::defaults(&db.url);
    c.bind = "127.0.0.1:0".into();
    c.workers = 1;
    c.pool_size = 4;
    c.jwt = JwtConfig::from_secret(JWT_SECRET).unwrap();
    c.first_admin = Some((ADMIN.0.into(), ADMIN.1.to_owned().into()));
    c.checkpoint_every_secs = 0;
    c.login_burst_per_address = 10_000;
    c
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn(tweak, false).await
}

/// The app with the 2022 demo data of `serve --demo` (tokens are the demo users').
pub async fn spawn_demo_app() -> TestApp {
    spawn(|_| {}, true).await
}

async fn spawn(tweak: impl FnOnce(&mut Config), demo: bool) -> TestApp {
    let db = TestDb::new();
    let mut config = test_config(&db);
    tweak(&mut config);
    let pool = unionfund::db::pool::open(&config.database(), |_| Ok(())).unwrap();
    if demo {
        assert!(unionfund::service::demo::load(&pool, config.pii.clone()).await.unwrap());
    }
    unionfund::service::demo::ensure_first_admin(&pool, config.first_admin.as_ref()).unwrap();
    let running = unionfund::start(&config, pool).unwrap();
    let server = running.server.handle();
    tokio::spawn(running.server);
    let federation_id = {
        let mut conn = db.conn();
        unionfund::db::orgs::list(
            &mut unionfund::db::Db::new(&mut conn),
            unionfund::domain::policy::Scope::All,
            Some("federation"),
            None,
            1,
        )
        .unwrap()[0]
            .id
    };
    TestApp {
        base: format!("http://{}", running.addr),
        // Idle connections are dropped well before the server's keep-alive (5 s) closes them, so that a
        // request sent after a pause never races the server's close (hyper's IncompleteMessage).
        http: reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(2)).build().unwrap(),
        db,
        federation_id,
        tokens: Default::default(),
        orgs: Default::default(),
        writes: Mutex::new(Vec::new()),
        server,
        demo,
    }
}

/// The username and password the helpers give the user of each role.
pub fn credentials(role: Role) -> (String, String) {
    (format!("{}_user", role.as_str()), format!("password-of-{}", role.as_str()))
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in with a password and returns the raw answer.
    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.http
            .post(self.url("/api/v1/auth/token"))
            .json(&json!({"grant_type": "password", "username": username, "password": password}))
            .send()
            .await
            .unwrap()
    }

    pub async fn admin_token(&self) -> String {
        if let Some(t) = self.tokens.lock().await.get(&Role::Admin) {
            return t.clone();
        }
        let t = self.token_from(self.login(ADMIN.0, ADMIN.1).await).await;
        self.tokens.lock().await.insert(Role::Admin, t.clone());
        t
    }

    /// An organisation made once per test for a purpose ("township", "bureau", "unit", …).
    pub async fn org(&self, label: &'static str) -> Uuid {
        if let Some(id) = self.orgs.lock().await.get(label) {
            return *id;
        }
        let kind = match label {
            "bureau" => "finance_bureau",
            "unit" | "unit2" => "member_unit",
            "upper" => "upper_union",
            _ => "township_union",
        };
        let mut body = json!({"name": format!("Test {label}"), "kind": kind, "parent_id": self.federation_id});
        if kind == "member_unit" {
            body["unit_kind"] = json!("administrative");
        }
        let admin = self.admin_token().await;
        let r = self.send(Method::POST, "/api/v1/orgs", Some(&admin), Some(body), &[]).await;
        assert_eq!(r.status(), 201, "creating org {label}");
        let id: Uuid = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().parse().unwrap();
        self.orgs.lock().await.insert(label, id);
        id
    }

    /// A token for a user of `role` (created on first use; clerks belong to the "township" org,
    /// the finance bureau to "bureau", everyone else to the federation).
    pub fn token(&self, role: Role) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + Send + '_>> {
        Box::pin(self.token_inner(role))
    }

    async fn token_inner(&self, role: Role) -> String {
        if let Some(t) = self.tokens.lock().await.get(&role) {
            return t.clone();
        }
        let token = if self.demo {
            let username = if role == Role::FinanceBureau { "bureau" } else { role.as_str() };
            self.token_from(self.login(username, unionfund::service::demo::DEMO_PASSWORD).await).await
        } else if role == Role::Admin {
            return self.admin_token().await;
        } else {
            let org_id = match role {
                Role::Clerk => self.org("township").await,
                Role::FinanceBureau => self.org("bureau").await,
                _ => self.federation_id,
            };
            let (username, password) = credentials(role);
            self.create_user(&username, &password, role, org_id).await;
            self.token_from(self.login(&username, &password).await).await
        };
        self.tokens.lock().await.insert(role, token.clone());
        token
    }

    /// Creates a user through the admin API and logs in as it.
    pub async fn user_token(&self, username: &str, role: Role, org_id: Uuid) -> String {
        let password = format!("password-of-{username}");
        self.create_user(username, &password, role, org_id).await;
        self.token_from(self.login(username, &password).await).await
    }

    async fn create_user(&self, username: &str, password: &str, role: Role, org_id: Uuid) {
        let admin = self.admin_token().await;
        let body = json!({"username": username, "password": password, "role": role.as_str(), "org_id": org_id});
        let r = self.send(Method::POST, "/api/v1/users", Some(&admin), Some(body), &[]).await;
        assert_eq!(r.status(), 201, "creating user {username}");
    }

    async fn token_from(&self, r: Response) -> String {
        assert_eq!(r.status(), 200, "login failed");
        r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    }

    /// Sends a request. Successful writes are remembered for the teardown's trail check.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Response {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let r = req.send().await.unwrap();
        let replayed = r.headers().contains_key("idempotent-replayed");
        // A declaration answered 200 repeated the current one and, by contract, wrote nothing.
        let repeat = path.starts_with("/api/v1/union-fees/declarations") && r.status() == StatusCode::OK;
        if method != Method::GET
            && r.status().is_success()
            && !replayed
            && !repeat
            && !path.starts_with("/api/v1/audit/checkpoints")
        {
            let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
            self.writes.lock().unwrap().push(Write { what: format!("{method} {path}"), request_id });
        }
        r
    }

    pub async fn get_as(&self, role: Role, path: &str) -> Response {
        let t = self.token(role).await;
        self.send(Method::GET, path, Some(&t), None, &[]).await
    }

    pub async fn post_as(&self, role: Role, path: &str, body: Value) -> Response {
        let t = self.token(role).await;
        self.send(Method::POST, path, Some(&t), Some(body), &[]).await
    }

    pub async fn post_with(&self, role: Role, path: &str, body: Value, headers: &[(&str, &str)]) -> Response {
        let t = self.token(role).await;
        self.send(Method::POST, path, Some(&t), Some(body), headers).await
    }

    pub async fn patch_with(&self, role: Role, path: &str, body: Value, headers: &[(&str, &str)]) -> Response {
        let t = self.token(role).await;
        self.send(Method::PATCH, path, Some(&t), Some(body), headers).await
    }

    /// Creates a fund as the finance officer and returns its JSON.
    pub async fn fund(&self, budget: &str) -> Value {
        let body = json!({"name": "Test fund", "kind": "hardship", "year": 2022, "budget": budget});
        let r = self.post_as(Role::FinanceOfficer, "/api/v1/funds", body).await;
        assert_eq!(r.status(), 201);
        r.json().await.unwrap()
    }

    /// Runs SQL against the test's database (superuser: triggers can be disabled).
    pub fn sql(&self, sql: &str) {
        self.db.conn().batch_execute(sql).unwrap();
    }

    /// A count from SQL.
    pub fn count(&self, sql: &str) -> i64 {
        self.db.count(sql)
    }

    /// The invariants every test leaves true (see the module docs), then the database goes.
    pub async fn finish(self) {
        self.assert_ledger_sound();
        let mut conn = self.db.conn();
        let v = unionfund::db::chain::verify(&mut unionfund::db::Db::new(&mut conn), None, None, None).unwrap();
        assert_eq!(v.first_broken, None, "the audit trail must verify");
        let writes = std::mem::take(&mut *self.writes.lock().unwrap());
        for w in writes {
            let n = self.count(&format!(
                "SELECT count(*) AS n FROM audit_events WHERE request_id = '{}'",
                w.request_id.replace('\'', "''")
            ));
            assert!(n > 0, "{} (request {}) left no audit event", w.what, w.request_id);
        }
        self.stop().await;
    }

    /// Teardown for tests that tamper with the trail on purpose: the trail's own checks would
    /// fail by design, so only the ledger's arithmetic is checked.
    pub async fn finish_tampered(self) {
        self.assert_balances_sound();
        self.stop().await;
    }

    async fn stop(self) {
        self.server.stop(false).await;
    }

    pub fn assert_ledger_sound(&self) {
        self.db.assert_ledger_sound();
    }

    fn assert_balances_sound(&self) {
        self.db.assert_balances_sound();
    }
}

/// Reads a JSON body.
pub async fn body(r: Response) -> Value {
    r.json().await.unwrap()
}

/// Asserts a problem+json answer with this status and code; returns the body.
pub async fn problem(r: Response, status: u16, code: &str) -> Value {
    assert_eq!(r.status(), StatusCode::from_u16(status).unwrap(), "status");
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/problem+json");
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["code"], code, "problem code in {b}");
    assert_eq!(b["status"], status);
    b
}

/// The field names of a problem's `errors`.
pub fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| a.iter().map(|e| e["field"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Every line the service logs from the moment `capture_logs` is first called, in the JSON
/// format of production, at `debug` (more than production logs). One buffer for the process.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Starts capturing the service's log lines (idempotent).
pub fn capture_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::new("debug");
        unionfund::telemetry::install(true, filter, || Capture, false).expect("no other subscriber");
    });
}

/// What has been logged so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}

/// The whole database as `pg_dump` writes it (schema and data).
pub fn dump(db: &TestDb) -> String {
    let out = std::process::Command::new("pg_dump").arg("--no-owner").arg(&db.url).output().expect("pg_dump runs");
    assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A fund's account balance, as text (`"0.00"` for an account not opened yet).
pub fn balance(app: &TestApp, fund: &str, code: &str) -> String {
    #[derive(QueryableByName)]
    struct B {
        #[diesel(sql_type = Text)]
        b: String,
    }
    diesel::sql_query(format!(
        "SELECT coalesce((SELECT balance::text FROM accounts WHERE fund_id = '{fund}' AND code = '{code}'), '0.00') AS b"
    ))
    .get_result::<B>(&mut app.db.conn())
    .unwrap()
    .b
}

/// One source per amount on `fund`, each under its own reference: consecutive events on the
/// fund's stream.
/// A fund, its budget and a source per amount: events on one fund stream.
pub async fn some_events(app: &TestApp, amounts: &[&str]) {
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    post_sources(app, &fund, amounts).await;
}

/// A checkpoint taken now by an auditor (201), as answered.
pub async fn checkpoint(app: &TestApp) -> Value {
    let r = app.post_as(Role::Auditor, "/api/v1/audit/checkpoints", json!({})).await;
    assert_eq!(r.status(), 201);
    body(r).await
}

pub async fn post_sources(app: &TestApp, fund: &str, amounts: &[&str]) {
    for a in amounts {
        let r = app
            .post_as(
                Role::FinanceOfficer,
                &format!("/api/v1/funds/{fund}/sources"),
                json!({"kind": "other", "amount": a, "reference": Uuid::now_v7().to_string()}),
            )
            .await;
        assert_eq!(r.status(), 201);
    }
}

/// Adds `n` events through the write path (1,000 per transaction, over 50 streams), so that the
/// trail still verifies at teardown.
pub async fn fill_trail(app: &TestApp, n: usize) {
    let url = app.db.url.clone();
    tokio::task::spawn_blocking(move || {
        let pool = unionfund::db::pool::connect(&url, 1).unwrap();
        for _ in 0..n.div_ceil(1000) {
            let ctx = unionfund::db::write::WriteCtx {
                caller: None,
                request_id: "fill-trail".into(),
                now: unionfund::service::now(),
                adjusting: None,
            };
            unionfund::db::write::execute(&pool, &ctx, None, |tx| {
                for i in 0..1000 {
                    tx.record(unionfund::db::write::Event {
                        after: Some(json!({"i": i, "note": "padding so that the export outgrows the socket buffers"})),
                        ..unionfund::db::write::Event::new(
                            unionfund::domain::audit::Stream::Org(Uuid::from_u128(i % 50)),
                            "test.recorded",
                            "test",
                            Uuid::now_v7(),
                        )
                    });
                }
                Ok(unionfund::db::write::Answer { status: 200, body: (), etag: None })
            })
            .unwrap();
        }
    })
    .await
    .unwrap();
}
