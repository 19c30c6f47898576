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

/// A GET with this token.
async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.send(Method::GET, path, Some(token), None, &[]).await
}

/// The resource's current ETag, read by the admin.
async fn etag(app: &TestApp, path: &str) -> String {
    let r = get(app, &admin(app).await, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.headers()["etag"].to_str().unwrap().to_owned()
}

/// A PATCH by the admin with the current ETag.
async fn patch(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    let tag = etag(app, path).await;
    app.send(Method::PATCH, path, Some(&admin(app).await), Some(body), &[("if-match", &tag)]).await
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

/// A token for the client.
async fn client_token(app: &TestApp, id: &str, secret: &str) -> String {
    let r = client_login(app, &app.http, id, secret).await;
    assert_eq!(r.status(), 200);
    body(r).await["access_token"].as_str().unwrap().to_owned()
}

/// The audit events of one entity, oldest first, as the admin reads them.
async fn events(app: &TestApp, entity_id: &str) -> Vec<Value> {
    let r = get(app, &app.token(Role::Auditor).await, &format!("/api/v1/audit/events?entity_id={entity_id}")).await;
    assert_eq!(r.status(), 200);
    body(r).await["items"].as_array().unwrap().clone()
}

fn actions(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["action"].as_str().unwrap()).collect()
}

/// The service's `kid` for a key (as in src/service/auth/tokens.rs).
fn kid(key: &[u8]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

#[tokio::test]
async fn a_disabled_user_s_token_is_refused_at_once_and_stays_refused_after_re_enabling() {
    let app = spawn_app().await;
    let (id, password, token) = new_user(&app, "worker_a", Role::FinanceOfficer, app.federation_id).await;
    assert_eq!(get(&app, &token, "/api/v1/funds").await.status(), 200);

    let r = patch(&app, &format!("/api/v1/users/{id}"), json!({"disabled": true})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let u = body(r).await;
    assert_eq!(u["disabled"], true);
    assert_eq!(u["version"], 2);

    let p = problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    assert_eq!(p["detail"], "this token is no longer valid: log in again");
    // A write with it is refused before it reaches the handler: no fund, no 500.
    let r = app
        .send(
            Method::POST,
            "/api/v1/funds",
            Some(&token),
            Some(json!({"name": "x", "kind": "hardship", "year": 2022, "budget": "1.00"})),
            &[],
        )
        .await;
    problem(r, 401, "unauthorized").await;
    problem(app.login("worker_a", &password).await, 401, "unauthorized").await;

    // Enabled again: the old token stays dead (the version moved twice), a new login works.
    assert_eq!(patch(&app, &format!("/api/v1/users/{id}"), json!({"disabled": false})).await.status(), 200);
    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    let r = app.login("worker_a", &password).await;
    assert_eq!(r.status(), 200);
    let fresh = body(r).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&fresh)["ver"], 3);
    assert_eq!(get(&app, &fresh, "/api/v1/funds").await.status(), 200);
    assert_eq!(app.count("SELECT count(*) AS n FROM funds"), 0);

    let ev = events(&app, &id.to_string()).await;
    assert_eq!(actions(&ev), ["user.created", "user.updated", "user.updated"]);
    assert_eq!(ev[1]["before"], r#"{"disabled":false}"#);
    assert_eq!(ev[1]["after"], r#"{"disabled":true,"token_version":2,"version":2}"#);
    assert_eq!(ev[1]["actor_role"], "admin");
    app.finish().await;
}

#[tokio::test]
async fn a_user_whose_role_or_organisation_changed_holds_a_dead_token() {
    let app = spawn_app().await;
    let township = app.org("township").await;
    let (id, password, token) = new_user(&app, "officer_b", Role::FinanceOfficer, app.federation_id).await;
    let path = format!("/api/v1/users/{id}");

    // A new name only: the token still works.
    let r = patch(&app, &path, json!({"display_name": "B. Officer"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(get(&app, &token, "/api/v1/funds").await.status(), 200, "a new display name revokes nothing");

    let r = patch(&app, &path, json!({"role": "clerk", "org_id": township})).await;
    assert_eq!(r.status(), 200);
    let u = body(r).await;
    assert_eq!((u["role"].as_str(), u["org_id"].as_str()), (Some("clerk"), Some(township.to_string().as_str())));
    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;

    let r = app.login("officer_b", &password).await;
    let clerk = body(r).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&clerk)["role"], "clerk");
    assert_eq!(get(&app, &clerk, "/api/v1/funds").await.status(), 200);

    // The organisation alone changes: the clerk's token dies too.
    assert_eq!(patch(&app, &path, json!({"org_id": app.federation_id})).await.status(), 200);
    problem(get(&app, &clerk, "/api/v1/funds").await, 401, "unauthorized").await;

    // An organisation that does not exist is a 422, as at creation; nothing changes.
    let p = problem(patch(&app, &path, json!({"org_id": Uuid::new_v4()})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["org_id"]);
    let p = problem(patch(&app, &path, json!({})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["body"]);
    let p = problem(patch(&app, &path, json!({"role": "emperor"})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["role"]);

    let ev = events(&app, &id.to_string()).await;
    assert_eq!(actions(&ev), ["user.created", "user.updated", "user.updated", "user.updated"]);
    let change: Value = serde_json::from_str(ev[2]["after"].as_str().unwrap()).unwrap();
    assert_eq!(change["role"], "clerk");
    assert_eq!(change["org_id"], township.to_string());
    assert_eq!(ev[2]["before"], format!(r#"{{"org_id":"{}","role":"finance_officer"}}"#, app.federation_id));
    app.finish().await;
}

#[tokio::test]
async fn a_password_reset_by_the_admin_ends_the_user_s_tokens_and_its_old_password() {
    capture_logs();
    let app = spawn_app().await;
    let (id, old, token) = new_user(&app, "reset_me", Role::Auditor, app.federation_id).await;
    let new = "a-brand-new-passphrase-42";
    let r = post(&app, &format!("/api/v1/users/{id}/password"), json!({"new_password": new}), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let text = r.text().await.unwrap();
    assert!(!text.contains(new) && !text.contains("argon2"), "no password nor hash in {text}");

    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    problem(app.login("reset_me", &old).await, 401, "unauthorized").await;
    assert_eq!(app.login("reset_me", new).await.status(), 200);

    // The password rule of creation holds here too.
    let r = post(&app, &format!("/api/v1/users/{id}/password"), json!({"new_password": "short"}), &[]).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["new_password"]);
    // A stale If-Match, when sent, is a 412.
    let r = post(&app, &format!("/api/v1/users/{id}/password"), json!({"new_password": new}), &[("if-match", "\"1\"")])
        .await;
    problem(r, 412, "precondition_failed").await;

    let ev = events(&app, &id.to_string()).await;
    assert_eq!(actions(&ev), ["user.created", "user.password_changed"]);
    assert_eq!(ev[1]["after"], r#"{"by":"admin","token_version":2,"version":2}"#);
    let trail = serde_json::to_string(&ev).unwrap();
    assert!(!trail.contains(new) && !trail.contains("argon2"), "the event holds no password and no hash");
    let logged = logs();
    assert!(!logged.contains(new) && !logged.contains(&old), "no password in the logs");
    app.finish().await;
}

#[tokio::test]
async fn a_user_changes_its_own_password_with_the_old_one_and_no_one_else_s() {
    let app = spawn_app().await;
    let (id, old, token) = new_user(&app, "self_service", Role::Leader, app.federation_id).await;
    let (other, _, _) = new_user(&app, "someone_else", Role::Leader, app.federation_id).await;
    let path = format!("/api/v1/users/{id}/password");
    let send = |token: String, path: String, body: Value| {
        let app = &app;
        async move { app.send(Method::POST, &path, Some(&token), Some(body), &[]).await }
    };

    let new = "my-own-new-passphrase";
    let p =
        problem(send(token.clone(), path.clone(), json!({"new_password": new})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["old_password"], "the old password is required");
    let wrong = json!({"old_password": "not-my-password", "new_password": new});
    let p = problem(send(token.clone(), path.clone(), wrong).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["old_password"]);
    // Another's password, even with the right old one of one's own: 403.
    let theirs = format!("/api/v1/users/{other}/password");
    let r = send(token.clone(), theirs, json!({"old_password": old, "new_password": new})).await;
    problem(r, 403, "forbidden").await;

    let r = send(token.clone(), path.clone(), json!({"old_password": old, "new_password": new})).await;
    assert_eq!(r.status(), 200);
    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    problem(app.login("self_service", &old).await, 401, "unauthorized").await;
    let fresh = body(app.login("self_service", new).await).await["access_token"].as_str().unwrap().to_owned();

    // Guessing the old password is throttled like a login, in the same count: five failures
    // (the wrong old password and the login with the old one above, and three more), then 429.
    for _ in 0..3 {
        let guess = json!({"old_password": "guess-guess-guess", "new_password": "whatever-whatever"});
        problem(send(fresh.clone(), path.clone(), guess).await, 422, "validation_failed").await;
    }
    let r = send(fresh.clone(), path.clone(), json!({"old_password": new, "new_password": "whatever-whatever"})).await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "too_many_requests").await;

    let ev = events(&app, &id.to_string()).await;
    assert_eq!(actions(&ev), ["user.created", "user.password_changed"]);
    assert_eq!(ev[1]["actor"], format!("user:{id}"));
    assert_eq!(ev[1]["after"], r#"{"by":"self","token_version":2,"version":2}"#);
    app.finish().await;
}

#[tokio::test]
async fn a_rotated_or_disabled_client_s_tokens_are_refused_at_once() {
    let app = spawn_app().await;
    let (id, secret) = client(&app, &[]).await;
    let token = client_token(&app, &id, &secret).await;
    assert_eq!(get(&app, &token, "/api/v1/funds").await.status(), 200);

    let r = post(&app, &format!("/api/v1/clients/{id}/secret"), json!({}), &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["etag"], "\"2\"");
    let rotated = body(r).await;
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert!(new_secret.len() >= 32 && new_secret != secret);
    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    problem(client_login(&app, &app.http, &id, &secret).await, 401, "unauthorized").await;
    let token = client_token(&app, &id, &new_secret).await;
    assert_eq!(get(&app, &token, "/api/v1/funds").await.status(), 200);

    let r = patch(&app, &format!("/api/v1/clients/{id}"), json!({"disabled": true})).await;
    assert_eq!(r.status(), 200);
    let c = body(r).await;
    assert_eq!((c["disabled"].as_bool(), c["version"].as_i64()), (Some(true), Some(3)));
    assert!(c.get("client_secret").is_none());
    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    problem(client_login(&app, &app.http, &id, &new_secret).await, 401, "unauthorized").await;
    assert_eq!(patch(&app, &format!("/api/v1/clients/{id}"), json!({"disabled": false})).await.status(), 200);
    problem(get(&app, &token, "/api/v1/funds").await, 401, "unauthorized").await;
    assert_eq!(client_login(&app, &app.http, &id, &new_secret).await.status(), 200);

    let ev = events(&app, &id).await;
    assert_eq!(actions(&ev), ["client.created", "client.secret_rotated", "client.updated", "client.updated"]);
    assert_eq!(ev[1]["after"], r#"{"token_version":2,"version":2}"#);
    assert_eq!(ev[2]["after"], r#"{"disabled":true,"token_version":3,"version":3}"#);
    let trail = serde_json::to_string(&ev).unwrap();
    assert!(!trail.contains(&secret) && !trail.contains(&new_secret) && !trail.contains("argon2"));
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

    // A rotation with a key: the same.
    let path = format!("/api/v1/clients/{id}/secret");
    let r = post(&app, &path, json!({}), &[("idempotency-key", "rotate-1")]).await;
    let rotated = body(r).await["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(holding(&rotated), 0);
    let r = post(&app, &path, json!({}), &[("idempotency-key", "rotate-1")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert!(body(r).await.get("client_secret").is_none());
    assert_eq!(client_login(&app, &app.http, &id, &rotated).await.status(), 200, "the replay rotated nothing");

    let dumped = dump(&app.db);
    assert!(!dumped.contains(&secret) && !dumped.contains(&rotated), "no secret anywhere in a pg_dump");
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
async fn only_the_admin_manages_access() {
    let app = spawn_app().await;
    let (id, _, _) = new_user(&app, "target", Role::Auditor, app.federation_id).await;
    let (client_id, _) = client(&app, &[]).await;
    let user = format!("/api/v1/users/{id}");
    let password = format!("{user}/password");
    let client_path = format!("/api/v1/clients/{client_id}");
    let secret = format!("{client_path}/secret");
    for role in [Role::Clerk, Role::Auditor, Role::FinanceOfficer, Role::Leader, Role::FinanceBureau] {
        let t = app.token(role).await;
        let r = app.send(Method::PATCH, &user, Some(&t), Some(json!({"disabled": true})), &[("if-match", "\"1\"")]);
        problem(r.await, 403, "forbidden").await;
        let r = app.send(Method::POST, &password, Some(&t), Some(json!({"new_password": "x".repeat(12)})), &[]);
        problem(r.await, 403, "forbidden").await;
        let r =
            app.send(Method::PATCH, &client_path, Some(&t), Some(json!({"disabled": true})), &[("if-match", "\"1\"")]);
        problem(r.await, 403, "forbidden").await;
        let r = app.send(Method::POST, &secret, Some(&t), Some(json!({})), &[]);
        problem(r.await, 403, "forbidden").await;
        problem(get(&app, &t, &client_path).await, 403, "forbidden").await;
    }
    // Nothing changed.
    assert_eq!(app.count("SELECT count(*) AS n FROM users WHERE version > 1 OR token_version > 1"), 0);
    assert_eq!(app.count("SELECT count(*) AS n FROM api_clients WHERE version > 1"), 0);
    app.finish().await;
}

#[tokio::test]
async fn changes_need_the_current_etag_in_if_match() {
    let app = spawn_app().await;
    let (id, _, _) = new_user(&app, "etagged", Role::Auditor, app.federation_id).await;
    let (client_id, _) = client(&app, &[]).await;
    let a = admin(&app).await;
    for path in [format!("/api/v1/users/{id}"), format!("/api/v1/clients/{client_id}")] {
        assert_eq!(etag(&app, &path).await, "\"1\"");
        let r = app.send(Method::PATCH, &path, Some(&a), Some(json!({"disabled": true})), &[]).await;
        problem(r, 428, "precondition_required").await;
        let r =
            app.send(Method::PATCH, &path, Some(&a), Some(json!({"disabled": true})), &[("if-match", "\"7\"")]).await;
        let r412 = problem(r, 412, "precondition_failed").await;
        assert!(r412["detail"].as_str().unwrap().contains("\"1\""), "the 412 names the current ETag");
        let r =
            app.send(Method::PATCH, &path, Some(&a), Some(json!({"disabled": true})), &[("if-match", "\"1\"")]).await;
        assert_eq!(r.status(), 200);
        let r =
            app.send(Method::PATCH, &path, Some(&a), Some(json!({"disabled": false})), &[("if-match", "\"1\"")]).await;
        problem(r, 412, "precondition_failed").await;
    }
    assert_eq!(app.count("SELECT count(*) AS n FROM users WHERE disabled"), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM api_clients WHERE disabled"), 1);
    app.finish().await;
}

#[tokio::test]
async fn the_last_enabled_admin_can_be_neither_disabled_nor_demoted() {
    let app = spawn_app().await;
    let first = claims_of(&admin(&app).await)["sub"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/users/{first}");
    let p = problem(patch(&app, &path, json!({"disabled": true})).await, 409, "last_admin").await;
    assert!(p["detail"].as_str().unwrap().contains("last enabled admin"));
    problem(patch(&app, &path, json!({"role": "auditor"})).await, 409, "last_admin").await;
    assert_eq!(etag(&app, &path).await, "\"1\"", "nothing changed");

    // With a second admin, one may go; then the second is the last.
    let (second, _, second_token) = new_user(&app, "second_admin", Role::Admin, app.federation_id).await;
    let disabled_admin = json!({"disabled": true});
    let r = app.send(Method::PATCH, &path, Some(&second_token), Some(disabled_admin), &[("if-match", "\"1\"")]).await;
    assert_eq!(r.status(), 200);
    let own = format!("/api/v1/users/{second}");
    let r =
        app.send(Method::PATCH, &own, Some(&second_token), Some(json!({"role": "leader"})), &[("if-match", "\"1\"")]);
    problem(r.await, 409, "last_admin").await;

    // Two admins disabling each other at once: one wins, the other is refused.
    let r =
        app.send(Method::PATCH, &path, Some(&second_token), Some(json!({"disabled": false})), &[("if-match", "\"2\"")]);
    assert_eq!(r.await.status(), 200);
    let first_token = body(app.login(ADMIN.0, ADMIN.1).await).await["access_token"].as_str().unwrap().to_owned();
    let (a, b) = tokio::join!(
        app.send(Method::PATCH, &own, Some(&first_token), Some(json!({"disabled": true})), &[("if-match", "\"1\"")]),
        app.send(Method::PATCH, &path, Some(&second_token), Some(json!({"disabled": true})), &[("if-match", "\"3\"")]),
    );
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    assert_eq!(app.count("SELECT count(*) AS n FROM users WHERE role = 'admin' AND NOT disabled"), 1);
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
