//! The real binary, in its own processes: killed mid-stream, and two of them on one database.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::helpers::*;

/// Keys that are none of the public development ones: outside `--demo` the service refuses to
/// start without them.
fn real_keys() -> Vec<(&'static str, String)> {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    vec![
        ("UNIONFUND_JWT_SECRET", JWT_SECRET.to_owned()),
        ("UNIONFUND_PII_KEYS", format!("p1:{}", b64(&[0x11; 32]))),
        ("UNIONFUND_PII_HASH_KEYS", b64(&[0x22; 32])),
        ("UNIONFUND_LOG_KEY", b64(&[0x33; 32])),
    ]
}

/// The binary, told to serve on `port` of a database, with the given keys and nothing else from
/// this process's environment that could stand in for them.
fn command(url: &str, port: u16, args: &[&str], keys: &[(&'static str, String)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_unionfund"));
    c.args(args)
        .env("DATABASE_URL", url)
        .env("UNIONFUND_BIND", format!("127.0.0.1:{port}"))
        .env("UNIONFUND_ADMIN_USERNAME", ADMIN.0)
        .env("UNIONFUND_ADMIN_PASSWORD", ADMIN.1)
        .env("UNIONFUND_WORKERS", "2")
        .env("UNIONFUND_DB_POOL_SIZE", "4")
        .env("UNIONFUND_CHECKPOINT_SECS", "0")
        .env("UNIONFUND_LOG_SEQUENCE_MS", "50")
        .env("UNIONFUND_LOGIN_BURST_PER_ADDRESS", "10000")
        .env("RUST_LOG", "warn");
    for name in [
        "UNIONFUND_JWT_SECRET",
        "UNIONFUND_JWT_SECRET_FILE",
        "UNIONFUND_PII_KEYS",
        "UNIONFUND_PII_HASH_KEYS",
        "UNIONFUND_PII_HASH_KEY",
        "UNIONFUND_LOG_KEY",
        "UNIONFUND_RUNTIME_DATABASE_URL",
    ] {
        c.env_remove(name);
    }
    for (name, value) in keys {
        c.env(name, value);
    }
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `unionfund serve` process on a database.
struct Service {
    child: Child,
    base: String,
}

impl Service {
    async fn start(db: &TestDb) -> Self {
        let service = Self::spawn(&db.url, &["serve"], &real_keys());
        service.ready(Duration::from_secs(30)).await;
        service
    }

    /// Starts the process without waiting for it.
    fn spawn(url: &str, args: &[&str], keys: &[(&'static str, String)]) -> Self {
        let port = free_port();
        let child = command(url, port, args, keys).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        Self { child, base: format!("http://127.0.0.1:{port}") }
    }

    /// Waits until `/readyz` answers 200.
    async fn ready(&self, within: Duration) {
        let deadline = Instant::now() + within;
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "the service did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn kill9(&mut self) {
        // Child::kill is SIGKILL on Unix: no shutdown hook, no drained requests.
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn login(http: &reqwest::Client, base: &str, username: &str, password: &str) -> String {
    let r = http
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "username": username, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
}

/// Logs in as admin, creates a finance officer, and returns its token.
async fn finance_officer(http: &reqwest::Client, base: &str) -> String {
    let admin = login(http, base, ADMIN.0, ADMIN.1).await;
    let orgs: Value = http
        .get(format!("{base}/api/v1/orgs?kind=federation"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let org_id = orgs["items"][0]["id"].as_str().unwrap();
    let r = http
        .post(format!("{base}/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"username": "officer", "password": "officer-password", "role": "finance_officer", "org_id": org_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    login(http, base, "officer", "officer-password").await
}

async fn create_fund(http: &reqwest::Client, base: &str, token: &str, key: &str) -> reqwest::Response {
    http.post(format!("{base}/api/v1/funds"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"name": "f", "kind": "hardship", "year": 2022, "budget": "1000.00"}))
        .send()
        .await
        .unwrap()
}

async fn add_source(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    fund: &str,
    key: &str,
) -> Result<reqwest::Response, reqwest::Error> {
    http.post(format!("{base}/api/v1/funds/{fund}/sources"))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({"kind": "other", "amount": "1.00", "reference": key}))
        .send()
        .await
}

#[tokio::test]
async fn killing_the_service_mid_stream_leaves_no_half_written_change() {
    let db = TestDb::new();
    let mut service = Service::start(&db).await;
    let http = reqwest::Client::new();
    let token = finance_officer(&http, &service.base).await;
    let fund: Value = create_fund(&http, &service.base, &token, "fund").await.json().await.unwrap();
    let fund = fund["id"].as_str().unwrap().to_owned();
    // Four writers stream sources until the process dies under them.
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (http, base, token, fund) = (http.clone(), service.base.clone(), token.clone(), fund.clone());
            tokio::spawn(async move {
                let mut ok = 0;
                for i in 0..10_000 {
                    match add_source(&http, &base, &token, &fund, &format!("w{w}-{i}")).await {
                        Ok(r) if r.status() == 201 => ok += 1,
                        _ => break,
                    }
                }
                ok
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    service.kill9();
    let mut acknowledged = 0;
    for w in writers {
        acknowledged += w.await.unwrap();
    }
    assert!(acknowledged > 0, "some writes went through before the kill");
    // Every change is whole: each source has its entry, each entry its event, and back.
    db.assert_sound();
    let sources = db.count("SELECT count(*) AS n FROM fund_sources");
    assert!(sources >= acknowledged, "every acknowledged write is durable");
    assert_eq!(db.count("SELECT count(*) AS n FROM journal_entries WHERE kind = 'source'"), sources);
    assert_eq!(db.count("SELECT count(*) AS n FROM audit_events WHERE action = 'fund.source_added'"), sources);
    assert_eq!(
        db.count(
            "SELECT count(*) AS n FROM fund_sources s WHERE NOT EXISTS (SELECT 1 FROM journal_entries j WHERE j.id = s.entry_id)"
        ),
        0
    );
    // The service comes back on the same database, and a retried key replays rather than repeats.
    let service = Service::start(&db).await;
    let r = add_source(&http, &service.base, &token, &fund, "w0-0").await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(db.count("SELECT count(*) AS n FROM fund_sources"), sources);
    db.assert_sound();
}

#[tokio::test]
async fn two_processes_on_one_database_keep_idempotency_and_the_chain() {
    let db = TestDb::new();
    let a = Service::start(&db).await;
    let b = Service::start(&db).await;
    let http = reqwest::Client::new();
    // One key, sent to both processes at once, ten times: one fund.
    let token = finance_officer(&http, &a.base).await;
    let answers = futures_util::future::join_all(
        (0..10).map(|i| create_fund(&http, if i % 2 == 0 { &a.base } else { &b.base }, &token, "one-fund")),
    )
    .await;
    let mut ids = std::collections::HashSet::new();
    for r in answers {
        assert_eq!(r.status(), 201);
        ids.insert(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1);
    assert_eq!(db.count("SELECT count(*) AS n FROM funds"), 1);
    // Many writes to one fund's stream from both processes: the chain stays one unbroken line.
    let fund = ids.into_iter().next().unwrap();
    let writes = futures_util::future::join_all((0..60).map(|i| {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let (http, token, fund) = (&http, &token, &fund);
        async move { add_source(http, base, token, fund, &format!("s-{i}")).await }
    }))
    .await;
    assert!(writes.into_iter().all(|r| r.unwrap().status() == 201));
    let f: Value = http
        .get(format!("{}/api/v1/funds/{fund}", b.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(f["funded"], "60.00");
    assert_eq!(f["version"], 61);
    db.assert_sound();
    // Both processes run a sequencer; one at a time works, and the log is one: every event at
    // exactly one position, positions 0..n without a gap, and the tree the events make.
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = db.count("SELECT count(*) AS n FROM audit_events");
    while db.count("SELECT size AS n FROM log_head") < events {
        assert!(Instant::now() < deadline, "the sequencers did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(db.count("SELECT count(*) AS n FROM log_queue"), 0);
    assert_eq!(db.count("SELECT count(*) AS n FROM log_leaves"), events);
    assert_eq!(db.count("SELECT max(idx) + 1 AS n FROM log_leaves"), events);
    assert_eq!(db.count("SELECT count(DISTINCT event_seq) AS n FROM log_leaves"), events);
    let v = unionfund::db::chain::verify(&mut unionfund::db::Db::new(&mut db.conn()), None, None, None).unwrap();
    assert_eq!(v.first_broken, None, "the stored tree is the tree of the events");
}

/// A database name nobody has made yet, dropped (with whatever is connected to it) when this goes.
struct MissingDb {
    name: String,
    url: String,
}

impl MissingDb {
    fn new() -> Self {
        let name = format!("t_missing_{}", uuid::Uuid::new_v4().simple());
        Self { url: format!("{SERVER}/{name}"), name }
    }

    fn exists(&self) -> bool {
        PgConnection::establish(&self.url).is_ok()
    }
}

impl Drop for MissingDb {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&format!("{SERVER}/postgres")) {
            let _ = conn.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

#[tokio::test]
async fn two_processes_started_at_once_on_a_missing_database_serve_one_demo() {
    let db = MissingDb::new();
    assert!(!db.exists());
    // No keys at all: the demo runs on the public development keys.
    let (a, b) =
        (Service::spawn(&db.url, &["serve", "--demo"], &[]), Service::spawn(&db.url, &["serve", "--demo"], &[]));
    a.ready(Duration::from_secs(180)).await;
    b.ready(Duration::from_secs(180)).await;
    let http = reqwest::Client::new();
    for service in [&a, &b] {
        let token = login(&http, &service.base, "admin", unionfund::service::demo::DEMO_PASSWORD).await;
        let orgs: Value = http
            .get(format!("{}/api/v1/orgs?limit=500", service.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let orgs = orgs["items"].as_array().unwrap();
        assert_eq!(orgs.len(), 30, "one demo's organisations, through {}", service.base);
        assert_eq!(orgs.iter().filter(|o| o["kind"] == "federation").count(), 1, "one federation");
    }
    let mut conn = PgConnection::establish(&db.url).unwrap();
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let count = |conn: &mut PgConnection, sql: &str| diesel::sql_query(sql).get_result::<N>(conn).unwrap().n;
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM orgs"), 30);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users WHERE username = 'admin'"), 1);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users"), 9, "the demo's users, once");
    drop(conn);
    drop((a, b));
}

/// Runs the binary to its end (it must end: within 30 s) and returns its exit status and stderr.
async fn run_to_end(url: &str, args: &[&str], keys: &[(&'static str, String)]) -> (std::process::ExitStatus, String) {
    let mut c = tokio::process::Command::from(command(url, free_port(), args, keys));
    let out = tokio::time::timeout(Duration::from_secs(30), c.output()).await.expect("the process ends").unwrap();
    (out.status, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn without_a_real_key_the_service_refuses_to_start_and_names_the_variable() {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    // A database that does not exist and must not come to exist: the refusal comes first.
    let db = MissingDb::new();
    let with = |name: &'static str, value: Option<String>| -> Vec<(&'static str, String)> {
        let mut keys: Vec<_> = real_keys().into_iter().filter(|(n, _)| *n != name).collect();
        if let Some(v) = value {
            keys.push((name, v));
        }
        keys
    };
    let cases = [
        ("UNIONFUND_JWT_SECRET", with("UNIONFUND_JWT_SECRET", None)),
        ("UNIONFUND_PII_KEYS", with("UNIONFUND_PII_KEYS", None)),
        ("UNIONFUND_PII_HASH_KEYS", with("UNIONFUND_PII_HASH_KEYS", None)),
        ("UNIONFUND_LOG_KEY", with("UNIONFUND_LOG_KEY", None)),
        // The public ones, given explicitly, are refused as well.
        ("UNIONFUND_JWT_SECRET", with("UNIONFUND_JWT_SECRET", Some("change-me-change-me-change-me-change-me".into()))),
        ("UNIONFUND_LOG_KEY", with("UNIONFUND_LOG_KEY", Some(b64(&unionfund::config::DEVELOPMENT_LOG_SEED)))),
        ("UNIONFUND_PII_HASH_KEYS", with("UNIONFUND_PII_HASH_KEYS", Some(b64(b"unionfund-development-hash-key-0")))),
        (
            "UNIONFUND_PII_KEYS",
            with("UNIONFUND_PII_KEYS", Some(format!("dev:{}", b64(b"unionfund-development-pii-key-01")))),
        ),
    ];
    for (name, keys) in cases {
        let (status, stderr) = run_to_end(&db.url, &["serve"], &keys).await;
        assert!(!status.success(), "{name}: started anyway");
        assert!(stderr.contains(name), "{name} not named in: {stderr}");
        assert!(!db.exists(), "{name}: the database was touched before the refusal");
    }
    // None missing: the same process gets past the keys (and creates the database).
    let service = Service::spawn(&db.url, &["serve"], &real_keys());
    service.ready(Duration::from_secs(60)).await;
    drop(service);
    // Resealing onto the development keys is refused too.
    let keys: Vec<_> = real_keys().into_iter().filter(|(n, _)| !n.starts_with("UNIONFUND_PII_")).collect();
    let (status, stderr) = run_to_end(&db.url, &["pii", "reseal"], &keys).await;
    assert!(!status.success() && stderr.contains("UNIONFUND_PII_KEYS"), "{stderr}");
}
