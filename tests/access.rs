//! Access can be taken back: users and clients changed, disabled, reset and rotated by the
//! admin, and the tokens they held refused on their next request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use unionfund::domain::policy::Role;
use uuid::Uuid;

use crate::helpers::*;

/// The admin's token.
async fn admin(app: &TestApp) -> String {
    app.token(Role::Admin).await
}

/// Creates a user through the admin API: its id, password and a token.
async fn new_user(app: &TestApp, username: &str, role: Role, org_id: Uuid) -> (Uuid, String, String) {
    let password = format!("password-of-{username}");
    let token = app.user_token(username, role, org_id).await;
    let sub = claims_of(&token)["sub"].as_str().unwrap().parse().unwrap();
    (sub, password, token)
}

/// The claims of a token.
fn claims_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// The service's `kid` for a key (as in src/service/auth.rs).
fn kid(key: &[u8]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

/// A GET with this token.
async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.send(Method::GET, path, Some(token), None, &[]).await
}

/// A POST by the admin.
async fn post(app: &TestApp, path: &str, body: Value, headers: &[(&str, &str)]) -> reqwest::Response {
    app.send(Method::POST, path, Some(&admin(app).await), Some(body), headers).await
}

/// A system client of the bureau: its id and secret.
async fn client(app: &TestApp, headers: &[(&str, &str)]) -> (String, String) {
    let bureau = app.org("bureau").await;
    let r =
        post(app, "/api/v1/clients", json!({"name": "Bureau", "role": "finance_bureau", "org_id": bureau}), headers)
            .await;
    assert_eq!(r.status(), 201);
    let b = body(r).await;
    (b["client_id"].as_str().unwrap().to_owned(), b["client_secret"].as_str().unwrap().to_owned())
}

/// The client_credentials grant, sent with `http`.
async fn client_login(app: &TestApp, http: &reqwest::Client, id: &str, secret: &str) -> reqwest::Response {
    http.post(app.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret}))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn ten_wrong_secrets_from_another_address_do_not_lock_the_bureau_out() {
    let app = spawn_app().await;
    let (id, secret) = client(&app, &[]).await;
    let attacker = reqwest::Client::builder().local_address(IpAddr::from([127, 0, 0, 2])).build().unwrap();
    let bureau = reqwest::Client::builder().local_address(IpAddr::from([127, 0, 0, 1])).build().unwrap();
    let mut statuses = Vec::new();
    for i in 0..10 {
        statuses.push(client_login(&app, &attacker, &id, &format!("wrong-secret-{i}")).await.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429, 429, 429]);
    let r = client_login(&app, &bureau, &id, &secret).await;
    assert_eq!(r.status(), 200, "the bureau, from its own address, still gets its token");
    let token = body(r).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get(&app, &token, "/api/v1/funds").await.status(), 200);
    // The attacker's address stays throttled for this client, right secret or not.
    problem(client_login(&app, &attacker, &id, &secret).await, 429, "too_many_requests").await;
    // And the bureau's successes are not failures: it logs in again and again.
    for _ in 0..6 {
        assert_eq!(client_login(&app, &bureau, &id, &secret).await.status(), 200);
    }
    app.finish().await;
}

#[tokio::test]
async fn a_forged_x_forwarded_for_does_not_move_an_attempt_to_another_address() {
    let app = spawn_app().await;
    for i in 0..5 {
        let r = app
            .http
            .post(app.url("/api/v1/auth/token"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .header("forwarded", format!("for=203.0.113.{i}"))
            .json(&json!({"grant_type": "password", "username": ADMIN.0, "password": "wrong-password"}))
            .send()
            .await
            .unwrap();
        problem(r, 401, "unauthorized").await;
    }
    let r = app
        .http
        .post(app.url("/api/v1/auth/token"))
        .header("x-forwarded-for", "198.51.100.7")
        .json(&json!({"grant_type": "password", "username": ADMIN.0, "password": ADMIN.1}))
        .send()
        .await
        .unwrap();
    problem(r, 429, "too_many_requests").await;
    app.finish().await;
}

#[tokio::test]
async fn the_idempotency_table_never_holds_a_client_secret_and_a_replay_answers_without_it() {
    let app = spawn_app().await;
    let (id, secret) = client(&app, &[("idempotency-key", "bureau-client-1")]).await;
    let holding = |needle: &str| {
        app.count(&format!(
            "SELECT count(*) AS n FROM idempotency_keys \
             WHERE position('{needle}' IN convert_from(response_body, 'UTF8')) > 0 OR position('{needle}' IN request_hash) > 0"
        ))
    };
    assert_eq!(app.count("SELECT count(*) AS n FROM idempotency_keys WHERE key = 'bureau-client-1'"), 1);
    assert_eq!(holding(&secret), 0, "the secret is not in the stored answer");
    assert_eq!(holding(&id), 1, "the stored answer is there, without the secret");

    // The replay: the same status and client, no secret, and nothing created twice.
    let bureau = app.org("bureau").await;
    let again = json!({"name": "Bureau", "role": "finance_bureau", "org_id": bureau});
    let r = post(&app, "/api/v1/clients", again, &[("idempotency-key", "bureau-client-1")]).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let replay = body(r).await;
    assert_eq!(replay["client_id"], id);
    assert!(replay.get("client_secret").is_none(), "no secret in the replay: {replay}");
    assert_eq!(app.count("SELECT count(*) AS n FROM api_clients"), 1);

    let dumped = dump(&app.db);
    assert!(!dumped.contains(&secret), "no secret anywhere in a pg_dump");
    app.finish().await;
}

#[tokio::test]
async fn a_user_creation_s_fingerprint_is_keyed_so_no_password_can_be_checked_against_it() {
    let app = spawn_app().await;
    let body_sent = json!({"username": "keyed", "password": "guessable-password", "role": "auditor",
        "org_id": app.federation_id});
    let r = post(&app, "/api/v1/users", body_sent.clone(), &[("idempotency-key", "user-1")]).await;
    assert_eq!(r.status(), 201);
    // The plain SHA-256 of method, path and canonical body, as the extractor computes it.
    let mut h = Sha256::new();
    h.update(b"POST /api/v1/users\n");
    h.update(body_sent.to_string().as_bytes());
    let plain = hex::encode(h.finalize());
    assert_eq!(app.count("SELECT count(*) AS n FROM idempotency_keys WHERE key = 'user-1'"), 1);
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM idempotency_keys WHERE request_hash = '{plain}'")), 0);
    // It still replays.
    let r = post(&app, "/api/v1/users", body_sent, &[("idempotency-key", "user-1")]).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    app.finish().await;
}

#[tokio::test]
async fn a_token_for_a_subject_this_database_does_not_know_is_a_401_not_a_500() {
    let app = spawn_app().await;
    let key = JWT_SECRET.as_bytes();
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "sub": Uuid::new_v4().to_string(), "role": "finance_officer", "org_id": app.federation_id,
        "sub_kind": "user", "iss": "unionfund", "aud": "unionfund-api", "exp": now + 900, "nbf": now,
        "iat": now, "jti": Uuid::new_v4().to_string(), "ver": 1,
    });
    let header = Header { alg: Algorithm::HS256, kid: Some(kid(key)), ..Default::default() };
    let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key)).unwrap();
    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    let fund = json!({"name": "x", "kind": "hardship", "year": 2022, "budget": "1.00"});
    let r = app.send(Method::POST, "/api/v1/funds", Some(&token), Some(fund), &[]).await;
    problem(r, 401, "unauthorized").await;
    // The same subject as a client: also unknown.
    let mut as_client = claims.clone();
    as_client["sub_kind"] = json!("client");
    let token = jsonwebtoken::encode(&header, &as_client, &EncodingKey::from_secret(key)).unwrap();
    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM funds"), 0);
    app.finish().await;
}

#[tokio::test]
async fn a_change_made_by_another_process_is_seen_within_the_cache_time() {
    let app = spawn_app_with(|c| c.auth_cache_ms = 1000).await;
    let (id, _, token) = new_user(&app, "elsewhere", Role::Auditor, app.federation_id).await;
    let cached = Instant::now();
    assert_eq!(get(&app, &token, "/api/v1/funds").await.status(), 200);
    // Another process (here: SQL) revokes the token; this process has not been told.
    app.sql(&format!("UPDATE users SET token_version = token_version + 1 WHERE id = '{id}'"));
    let r = get(&app, &token, "/api/v1/funds").await;
    if cached.elapsed() < Duration::from_millis(500) {
        assert_eq!(r.status(), 200, "within the cache time the cached row still answers");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    app.finish().await;
}

/// Sequential latency of a simple authenticated GET (and of `/healthz`, which has no token to
/// check), printed; run by hand: `cargo test --test main access::get_latency -- --ignored
/// --nocapture`, with `ACCESS_CACHE_MS=0` to read the subject from the database every time.
#[tokio::test]
#[ignore = "a measurement, run by hand"]
async fn get_latency() {
    let cache_ms = std::env::var("ACCESS_CACHE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    eprintln!("subject cache: {cache_ms} ms");
    let app = spawn_app_with(|c| c.auth_cache_ms = cache_ms).await;
    let token = app.token(Role::Auditor).await;
    let path = format!("/api/v1/orgs/{}", app.federation_id);
    for (what, path, token) in [("healthz", "/healthz", None), ("GET org", path.as_str(), Some(token.as_str()))] {
        for _ in 0..100 {
            assert_eq!(app.send(Method::GET, path, token, None, &[]).await.status(), 200);
        }
        let mut lat: Vec<Duration> = Vec::new();
        for _ in 0..2000 {
            let t = Instant::now();
            let r = app.send(Method::GET, path, token, None, &[]).await;
            assert_eq!(r.status(), 200);
            r.bytes().await.unwrap();
            lat.push(t.elapsed());
        }
        lat.sort();
        let total: Duration = lat.iter().sum();
        eprintln!(
            "{what}: n={} mean {:?} p50 {:?} p90 {:?} p99 {:?}",
            lat.len(),
            total / u32::try_from(lat.len()).unwrap(),
            lat[lat.len() / 2],
            lat[lat.len() * 9 / 10],
            lat[lat.len() * 99 / 100]
        );
    }
    app.finish().await;
}
