//! The real binary, in its own processes: killed mid-stream, and two of them on one database.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

/// A `unionfund serve` process on the test's database.
struct Service {
    child: Child,
    base: String,
}

impl Service {
    async fn start(db: &TestDb) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_unionfund"))
            .arg("serve")
            .env("DATABASE_URL", &db.url)
            .env("UNIONFUND_BIND", format!("127.0.0.1:{port}"))
            .env("UNIONFUND_JWT_SECRET", JWT_SECRET)
            .env("UNIONFUND_ADMIN_USERNAME", ADMIN.0)
            .env("UNIONFUND_ADMIN_PASSWORD", ADMIN.1)
            .env("UNIONFUND_WORKERS", "2")
            .env("UNIONFUND_DB_POOL_SIZE", "4")
            .env("UNIONFUND_CHECKPOINT_SECS", "0")
            .env("UNIONFUND_LOG_SEQUENCE_MS", "50")
            .env("UNIONFUND_LOGIN_BURST_PER_ADDRESS", "10000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "the service did not become ready");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, base }
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
    let v = unionfund::db::chain::verify(&mut db.conn(), None, None, None).unwrap();
    assert_eq!(v.first_broken, None, "the stored tree is the tree of the events");
}
