//! Heavy reads cannot take the service down (issue 15): exports that stop reading hold no
//! connection and are cut off; verify, export, checks and the report are limited per caller and
//! per process, answering 429 with `Retry-After`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use unionfund::domain::policy::Role;
use uuid::Uuid;

use crate::helpers::*;

/// Starts an export on a raw connection with a small receive buffer and reads only the start of
/// the answer: its status. The connection is returned unread, as a stalled client leaves it.
async fn start_export_and_stall(app: &TestApp, token: &str, request_id: &str) -> (u16, tokio::net::TcpStream) {
    let addr: SocketAddr = app.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut s = socket.connect(addr).await.unwrap();
    let req = format!(
        "GET /api/v1/audit/export?format=ndjson HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         X-Request-Id: {request_id}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = [0_u8; 12];
    s.read_exact(&mut head).await.unwrap();
    let status = std::str::from_utf8(&head[9..12]).unwrap().parse().unwrap();
    (status, s)
}

fn log_lines_with<'a>(logs: &'a str, message: &str, request_prefix: &str) -> Vec<&'a str> {
    logs.lines().filter(|l| l.contains(message) && l.contains(request_prefix)).collect()
}

#[tokio::test]
async fn twelve_stalled_exports_hold_no_connection_and_are_cut_off_after_the_send_timeout() {
    capture_logs();
    let app = spawn_app_with(|c| {
        c.pool_size = 6;
        c.exports_max = 4;
        c.heavy_queries_max = 1;
        c.heavy_per_caller_max = 12; // this test is about the process's export cap, not the caller's share
        c.export_send_timeout_secs = 3;
        c.export_batch_events = 500;
        c.heavy_retry_after_secs = 3;
    })
    .await;
    fill_trail(&app, 20_000).await;
    let auditor = app.token(Role::Auditor).await;
    let clerk = app.token(Role::Clerk).await;
    let run = Uuid::now_v7().simple().to_string();

    // Twelve clients start an export and stop reading.
    let mut stalled = Vec::new();
    let mut refused = 0;
    for i in 0..12 {
        let (status, stream) = start_export_and_stall(&app, &auditor, &format!("stall-{run}-{i}")).await;
        match status {
            200 => stalled.push(stream),
            429 => refused += 1,
            other => panic!("export {i} answered {other}"),
        }
    }
    // Meanwhile everyone else is served at once: the stalled exports hold no connection.
    for _ in 0..3 {
        let started = Instant::now();
        let r = app
            .http
            .get(app.url("/api/v1/orgs"))
            .bearer_auth(&clerk)
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .expect("GET /orgs answers within 1 s while four exports stall");
        assert_eq!(r.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Four were served; the other eight were refused at once.
    assert_eq!((stalled.len(), refused), (4, 8), "at most UNIONFUND_EXPORTS_MAX exports run at once");
    let r = app.send(Method::GET, "/api/v1/audit/export", Some(&auditor), None, &[]).await;
    assert_eq!(r.headers()["retry-after"], "3");
    problem(r, 429, "too_many_requests").await;

    // After the send timeout, each stalled export is cut off, and says so in the log.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let logs = logs();
        let cut = log_lines_with(&logs, "audit export cut off", &format!("stall-{run}-"));
        if cut.len() == 4 {
            assert!(cut.iter().all(|l| l.contains("\"export.send_timeout_secs\":3")));
            break;
        }
        assert!(Instant::now() < deadline, "only {} of 4 stalled exports were cut off", cut.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A stalled client that reads again gets a broken transfer, never what looks like a whole file.
    let mut resumed = stalled.pop().unwrap();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), resumed.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert!(!rest.ends_with(b"\r\n0\r\n\r\n"), "the chunked body has no last chunk");
    let events = app.count("SELECT count(*) AS n FROM audit_events") as usize;
    assert!(rest.iter().filter(|b| **b == b'\n').count() < events, "the cut-off export is incomplete");

    // Their slots are free again: a client that reads gets the whole trail.
    let r = app.send(Method::GET, "/api/v1/audit/export?format=ndjson", Some(&auditor), None, &[]).await;
    assert_eq!(r.status(), 200);
    let lines = r.text().await.unwrap().lines().count();
    assert_eq!(lines, events);
    drop(stalled);
    app.finish().await;
}

/// How many of this test's database sessions wait on a lock.
fn waiting_on_locks(app: &TestApp) -> i64 {
    app.count(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    )
}

async fn until_waiting(app: &TestApp, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while waiting_on_locks(app) < n {
        assert!(Instant::now() < deadline, "{n} verifications should be running");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A GET that must be answered at once (a refusal never waits for the running reads).
async fn at_once(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path} was not answered at once: {e}"))
}

#[tokio::test]
async fn a_third_verify_by_one_caller_is_429_while_another_caller_is_served() {
    let app = spawn_app_with(|c| {
        c.pool_size = 6;
        c.heavy_per_caller_max = 2;
        c.heavy_queries_max = 3;
        c.exports_max = 1;
        c.heavy_retry_after_secs = 7;
        c.log_sequence_ms = 0; // the sequencer reads the trail too: keep it out of the lock
    })
    .await;
    let (a, b, c) =
        (app.token(Role::Auditor).await, app.token(Role::Leader).await, app.token(Role::FinanceOfficer).await);
    let clerk = app.token(Role::Clerk).await;
    let verify = |token: &str, timeout: Option<Duration>| {
        let mut req = app.http.get(app.url("/api/v1/audit/verify")).bearer_auth(token);
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        tokio::spawn(req.send())
    };

    // Verifications that take long: the trail is locked, so each waits in the database.
    let mut lock = app.db.conn();
    lock.batch_execute("BEGIN; LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE").unwrap();
    let a1 = verify(&a, Some(Duration::from_millis(1500))); // this client will give up
    let a2 = verify(&a, None);
    until_waiting(&app, 2).await;

    // The same caller's third heavy read, of any kind, is refused at once.
    let r = at_once(&app, &a, "/api/v1/audit/verify").await;
    assert_eq!(r.headers()["retry-after"], "7");
    problem(r, 429, "too_many_requests").await;
    for path in ["/api/v1/audit/export", "/api/v1/reports/checks?year=2022", "/api/v1/reports/performance?year=2022"] {
        problem(at_once(&app, &a, path).await, 429, "too_many_requests").await;
    }

    // Another caller is still served.
    let b1 = verify(&b, None);
    until_waiting(&app, 3).await;
    // The process runs at most three heavy queries: a fourth caller waits its turn, and ordinary
    // requests still find a connection (three of six are left).
    problem(at_once(&app, &c, "/api/v1/audit/verify").await, 429, "too_many_requests").await;
    let started = Instant::now();
    assert_eq!(at_once(&app, &clerk, "/api/v1/orgs").await.status(), 200);
    assert!(started.elapsed() < Duration::from_secs(1));

    // A client that hangs up does not give its slot back while its query still runs.
    assert!(a1.await.unwrap().is_err(), "the first client gave up waiting");
    problem(at_once(&app, &a, "/api/v1/audit/verify").await, 429, "too_many_requests").await;

    // Once they finish, the caller is served again.
    lock.batch_execute("COMMIT").unwrap();
    for r in [a2.await.unwrap().unwrap(), b1.await.unwrap().unwrap()] {
        assert_eq!(r.status(), 200);
        assert_eq!(body(r).await["ok"], true);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = app.send(Method::GET, "/api/v1/audit/verify", Some(&a), None, &[]).await;
        match r.status().as_u16() {
            200 => {
                assert_eq!(body(r).await["ok"], true);
                break;
            }
            // The abandoned verification may still be finishing.
            429 => assert!(Instant::now() < deadline, "the caller's slots never came back"),
            other => panic!("verify answered {other}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get_as(Role::Auditor, "/api/v1/reports/checks?year=2022").await.status(), 200);
    app.finish().await;
}
