//! Hostile and clumsy input: values of the wrong type, NUL characters, sums past what the books
//! hold, forged log lines, stalled connections, and the headers every answer carries. What a
//! caller sends never comes back in a problem body or reaches a log line verbatim.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use unionfund::domain::ids::ResidentId;
use unionfund::domain::policy::Role;

use crate::helpers::*;

/// A valid resident ID number that appears nowhere else in the suite.
fn secret_id_number() -> String {
    let first17 = "11010519491231002";
    format!("{first17}{}", ResidentId::check_char(first17).unwrap())
}

const SECRET_ACCOUNT: &str = "6222600099998888777";
const SECRET_PHONE: &str = "13912345678";
const SECRET_PASSWORD: u64 = 918_273_645_546_372;

fn application(fund: &str, org: uuid::Uuid) -> Value {
    json!({
        "fund_id": fund, "org_id": org, "worker_name": "李春梅", "id_number": secret_id_number(),
        "category": "illness", "level": "deep", "requested_amount": "2000.00", "reason": "hospital costs",
    })
}

/// Asserts that a problem body quotes none of `values`, and names `field`.
async fn refused_without_echo(r: reqwest::Response, field: &str, values: &[&str]) -> Value {
    let p = problem(r, 422, "validation_failed").await;
    let text = p.to_string();
    for v in values {
        assert!(!text.contains(v), "the 422 quotes what was sent ({v}): {text}");
    }
    assert!(fields(&p).iter().any(|f| f == field), "the 422 names {field}: {text}");
    p
}

#[tokio::test]
async fn values_of_the_wrong_type_are_refused_without_being_echoed_into_the_answer_or_the_log() {
    capture_logs();
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let clerk = app.token(Role::Clerk).await;
    let apps = "/api/v1/hardship/applications";
    let id = secret_id_number();
    let id_digits: u64 = id[..17].parse::<u64>().unwrap() * 10;

    // An ID number that a spreadsheet export turned into a number.
    let mut a = application(&fund, township);
    a["id_number"] = json!(id_digits);
    let r = app.send(Method::POST, apps, Some(&clerk), Some(a), &[]).await;
    let p = refused_without_echo(r, "id_number", &[&id_digits.to_string()]).await;
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("expected"), "says what was expected: {p}");

    // An ID number pasted into a field of another type, a phone number as a number.
    let mut a = application(&fund, township);
    a["household_members"] = json!(id);
    let r = app.send(Method::POST, apps, Some(&clerk), Some(a), &[]).await;
    refused_without_echo(r, "household_members", &[&id]).await;
    let mut a = application(&fund, township);
    a["phone"] = json!(SECRET_PHONE.parse::<u64>().unwrap());
    let r = app.send(Method::POST, apps, Some(&clerk), Some(a), &[]).await;
    refused_without_echo(r, "phone", &[SECRET_PHONE]).await;
    // An unknown key that is itself an ID number is not quoted either.
    let mut a = application(&fund, township);
    a[id.as_str()] = json!("x");
    let r = app.send(Method::POST, apps, Some(&clerk), Some(a), &[]).await;
    let p = problem(r, 422, "validation_failed").await;
    assert!(!p.to_string().contains(&id), "{p}");

    // A campaign row whose bank account became a number.
    let c = json!({"fund_id": fund, "name": "冬季送温暖", "kind": "winter_warmth", "budget": "1000.00"});
    let campaign = body(app.post_as(Role::RightsOfficer, "/api/v1/hardship/campaigns", c).await).await;
    let path = format!("/api/v1/hardship/campaigns/{}/beneficiaries", campaign["id"].as_str().unwrap());
    let row = json!({"org_id": township, "worker_name": "王", "id_number": id,
                     "bank_account": SECRET_ACCOUNT.parse::<u64>().unwrap(), "amount": "100.00"});
    let r = app.post_with(Role::RightsOfficer, &path, json!({"rows": [row]}), &[("If-Match", "\"1\"")]).await;
    refused_without_echo(r, "rows[0].bank_account", &[SECRET_ACCOUNT]).await;

    // A numeric password.
    let r = app
        .http
        .post(app.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "username": "admin", "password": SECRET_PASSWORD}))
        .send()
        .await
        .unwrap();
    refused_without_echo(r, "password", &[&SECRET_PASSWORD.to_string()]).await;

    // An unknown value of an enumeration, in a body and in a query.
    let mut a = application(&fund, township);
    a["category"] = json!(id);
    let r = app.send(Method::POST, apps, Some(&clerk), Some(a), &[]).await;
    let p = refused_without_echo(r, "category", &[&id]).await;
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("illness"), "lists the values allowed: {p}");
    let r = app.get_as(Role::Auditor, &format!("/api/v1/funds?kind={id}")).await;
    let p = problem(r, 400, "malformed_request").await;
    assert!(!p.to_string().contains(&id), "{p}");

    let logs = logs();
    for secret in [id.as_str(), &id_digits.to_string(), SECRET_ACCOUNT, SECRET_PHONE, &SECRET_PASSWORD.to_string()] {
        assert!(!logs.contains(secret), "the log holds a submitted value ({secret})");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_bad_id_number_beside_a_bad_amount_is_named_with_it_and_neither_is_echoed() {
    capture_logs();
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let clerk = app.token(Role::Clerk).await;
    // An ID number with a wrong check character, and an amount a spreadsheet sent as a number.
    let first17 = "32010619811111001";
    let right = ResidentId::check_char(first17).unwrap();
    let bad_id = format!("{first17}{}", if right == '7' { '8' } else { '7' });
    let mut a = application(&fund, township);
    a["id_number"] = json!(bad_id);
    a["requested_amount"] = json!(86_420.135);
    let r = app.send(Method::POST, "/api/v1/hardship/applications", Some(&clerk), Some(a), &[]).await;
    let p = refused_without_echo(r, "id_number", &[&bad_id, "86420.135", "86420"]).await;
    assert_eq!(fields(&p), ["id_number", "requested_amount"], "{p}");
    // The same in a row of a batch, its account a number too.
    let c = json!({"fund_id": fund, "name": "冬季送温暖", "kind": "winter_warmth", "budget": "1000.00"});
    let campaign = body(app.post_as(Role::RightsOfficer, "/api/v1/hardship/campaigns", c).await).await;
    let path = format!("/api/v1/hardship/campaigns/{}/beneficiaries", campaign["id"].as_str().unwrap());
    let row = json!({"org_id": township, "worker_name": "王", "id_number": bad_id, "amount": 86_420.135,
                     "bank_account": SECRET_ACCOUNT.parse::<u64>().unwrap()});
    let r = app.post_with(Role::RightsOfficer, &path, json!({"rows": [row]}), &[("If-Match", "\"1\"")]).await;
    let p = refused_without_echo(r, "rows[0].id_number", &[&bad_id, "86420", SECRET_ACCOUNT]).await;
    assert_eq!(fields(&p), ["rows[0].id_number", "rows[0].bank_account", "rows[0].amount"], "{p}");
    let logs = logs();
    for secret in [bad_id.as_str(), "86420.135", SECRET_ACCOUNT] {
        assert!(!logs.contains(secret), "the log holds a submitted value ({secret})");
    }
    app.finish().await;
}

#[tokio::test]
async fn a_nul_character_anywhere_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let clerk = app.token(Role::Clerk).await;

    let r = app.login("ad\u{0}min", "x").await;
    refused_without_echo(r, "username", &[]).await;
    let r = app.login("admin", "pass\u{0}word").await;
    refused_without_echo(r, "password", &[]).await;
    let mut a = application(&fund, township);
    a["reason"] = json!("hospital\u{0} costs");
    let r = app.send(Method::POST, "/api/v1/hardship/applications", Some(&clerk), Some(a), &[]).await;
    refused_without_echo(r, "reason", &[]).await;
    let r = app.post_as(Role::Admin, "/api/v1/orgs", json!({"name": "工会\u{0}", "kind": "township_union"})).await;
    refused_without_echo(r, "name", &[]).await;
    // In a text filter of a query.
    let r = app.get_as(Role::Auditor, "/api/v1/audit/events?request_id=a%00b").await;
    refused_without_echo(r, "request_id", &[]).await;
    app.finish().await;
}

#[tokio::test]
async fn sums_past_what_the_books_hold_are_a_409_not_a_500() {
    let app = spawn_app().await;
    let fund = app.fund("9999999999999999.99").await["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/funds/{fund}/sources");
    let max = |reference: &str| json!({"kind": "finance_appropriation", "amount": "9999999999999999.99", "reference": reference});
    assert_eq!(app.post_as(Role::FinanceOfficer, &path, max("MAX-0")).await.status(), 201);
    for i in 1..=2 {
        let p = problem(
            app.post_as(Role::FinanceOfficer, &path, max(&format!("MAX-{i}"))).await,
            409,
            "amount_out_of_range",
        )
        .await;
        assert!(p["detail"].as_str().unwrap().contains("9999999999999999.99"));
    }
    // Nothing was half-written: one source, and the fund still reads.
    let f = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{fund}")).await).await;
    assert_eq!(f["funded"], "9999999999999999.99");
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries"), 2);
    app.finish().await;
}

#[tokio::test]
async fn a_line_break_sent_in_a_request_never_starts_a_log_line() {
    capture_logs();
    let app = spawn_app().await;
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let forged = format!("1%0AERROR%20request%7Bforged{marker}%7D%0D%0A");
    for path in [
        format!("/api/v1/audit/events?limit={forged}"),
        format!("/api/v1/funds?kind={forged}"),
        format!("/api/v1/funds/{forged}"),
        format!("/api/v1/nowhere/{forged}"),
    ] {
        let r = app.get_as(Role::Auditor, &path).await;
        assert!(r.status().is_client_error(), "{path}: {}", r.status());
        assert!(!body(r).await.to_string().contains(&format!("forged{marker}")), "{path}: echoed");
    }
    // The text may reach a debug line only in its escaped (percent-encoded) form: decoded, it
    // would read `ERROR request{forged…}` after a line break.
    for line in logs().lines() {
        assert!(!line.contains(&format!("ERROR request{{forged{marker}")), "decoded request text in the log: {line}");
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not one JSON event per line ({e}): {line}"));
    }
    app.finish().await;
}

/// The bytes the server sends before it closes the connection, and when it closed it.
async fn until_closed(mut stream: tokio::net::TcpStream, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within.saturating_sub(start.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&got).into_owned(), start.elapsed()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server kept the connection open past {within:?}"),
        }
    }
}

#[tokio::test]
async fn idle_and_trickling_connections_are_closed_within_the_documented_timeouts() {
    let app = spawn_app_with(|c| {
        c.http.header_timeout_ms = 1_000;
        c.http.body_timeout_ms = 2_000;
    })
    .await;
    let addr = app.base.trim_start_matches("http://").to_owned();

    // Sends nothing at all.
    let idle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let (answer, after) = until_closed(idle, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(after < Duration::from_secs(3), "closed after {after:?}");

    // Headers, then a body one byte at a time, slower than the body timeout allows.
    let mut trickle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    trickle
        .write_all(b"POST /api/v1/auth/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 64\r\n\r\n{")
        .await
        .unwrap();
    let writer = tokio::spawn(async move {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if trickle.write_all(b" ").await.is_err() {
                break;
            }
        }
        trickle
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let trickle = writer.await.unwrap();
    let (answer, _) = until_closed(trickle, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "the trickling body is answered 408: {answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
    app.finish().await;
}

#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let app = spawn_app().await;
    let check = |r: &reqwest::Response, authenticated: bool| {
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(h["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
        if authenticated {
            assert_eq!(h["cache-control"], "no-store", "{}", r.url());
        }
    };
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    check(&r, false);
    let r = app.login(ADMIN.0, ADMIN.1).await;
    check(&r, true);
    let r = app.get_as(Role::Auditor, "/api/v1/funds").await;
    check(&r, true);
    let r = app.get_as(Role::Auditor, "/api/v1/nowhere").await;
    check(&r, true);
    let r = app.get_as(Role::Auditor, "/api/v1/reports/performance?year=2022&format=html").await;
    assert_eq!(r.status(), 200);
    check(&r, true);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'none'"));
    let r = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    check(&r, false);
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    app.finish().await;
}

#[tokio::test]
async fn a_dump_of_the_database_holds_no_submitted_id_number_phone_or_account() {
    let app = spawn_app().await;
    let fund = app.fund("60000.00").await["id"].as_str().unwrap().to_owned();
    let township = app.org("township").await;
    let mut a = application(&fund, township);
    a["phone"] = json!(SECRET_PHONE);
    a["bank_account"] = json!(SECRET_ACCOUNT);
    let r = app.post_with(Role::Clerk, "/api/v1/hardship/applications", a, &[("Idempotency-Key", "dump-1")]).await;
    assert_eq!(r.status(), 201);
    let dump = dump(&app.db);
    for secret in [secret_id_number().as_str(), SECRET_PHONE, SECRET_ACCOUNT] {
        assert!(!dump.contains(secret), "pg_dump holds {secret}");
    }
    app.finish().await;
}

#[tokio::test]
async fn the_role_is_refused_before_the_body_is_read_even_when_the_subject_check_goes_to_the_database() {
    // No subject cache: every request's token is checked against the database, an await that
    // a body's 422 could answer before (extractors are polled together).
    let app = spawn_app_with(|c| c.auth_cache_ms = 0).await;
    let fund = app.fund("1000.00").await["id"].as_str().unwrap().to_owned();
    let leader = app.token(Role::Leader).await;
    for _ in 0..20 {
        let r =
            app.send(Method::POST, &format!("/api/v1/funds/{fund}/sources"), Some(&leader), Some(json!({})), &[]).await;
        problem(r, 403, "forbidden").await;
    }
    let r =
        app.send(Method::POST, &format!("/api/v1/funds/{fund}/sources"), Some("forged"), Some(json!({})), &[]).await;
    problem(r, 401, "unauthorized").await;
    app.finish().await;
}
