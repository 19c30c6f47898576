//! Authentication and authorisation: the two grants, the tokens that must be refused, the login
//! throttle, roles, and the token endpoint's answers to bodies it cannot read.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use unionfund::domain::policy::Role;
use uuid::Uuid;

use crate::helpers::*;

const TOKEN: &str = "/api/v1/auth/token";

/// The service's `kid`: the first 8 bytes of SHA-256 of the key, hex (see `kid()` in src/service/auth/tokens.rs).
fn kid(key: &[u8]) -> String {
    hex::encode(&Sha256::digest(key)[..8])
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The claims of a token, as the service wrote them.
fn claims_of(token: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

/// Claims the service would issue to the auditor of the test app (valid for 15 minutes from
/// now): a real subject, since a token for a subject the database does not know is refused.
async fn claims(app: &TestApp) -> Value {
    let real = claims_of(&app.token(Role::Auditor).await);
    let now = now();
    json!({
        "sub": real["sub"],
        "role": "auditor",
        "org_id": app.federation_id,
        "sub_kind": "user",
        "iss": "unionfund",
        "aud": "unionfund-api",
        "exp": now + 900,
        "nbf": now,
        "iat": now,
        "jti": Uuid::new_v4().to_string(),
        "ver": real["ver"],
    })
}

/// An HS256 token signed with `key`, whose header names `kid`.
fn forge(claims: &Value, key: &[u8], kid: &str) -> String {
    let header = Header { alg: Algorithm::HS256, kid: Some(kid.to_owned()), ..Default::default() };
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key)).unwrap()
}

/// `GET /api/v1/funds` with this bearer token (or none).
async fn funds_with(app: &TestApp, token: Option<&str>) -> reqwest::Response {
    app.send(Method::GET, "/api/v1/funds", token, None, &[]).await
}

/// Posts raw bytes to the token endpoint with this Content-Type (or none).
async fn post_raw(app: &TestApp, content_type: Option<&str>, raw: &str) -> reqwest::Response {
    let mut req = app.http.post(app.url(TOKEN)).body(raw.to_owned());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn the_password_grant_gives_the_admin_a_bearer_jwt_for_fifteen_minutes() {
    let app = spawn_app().await;
    let r = app.login(ADMIN.0, ADMIN.1).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store", "a token answer is never cached");
    let b = body(r).await;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    let token = b["access_token"].as_str().unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT is header.claims.signature: {token}");
    assert!(parts.iter().all(|p| !p.is_empty()));
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["kid"], kid(JWT_SECRET.as_bytes()));
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["role"], "admin");
    assert_eq!(claims["org_id"], app.federation_id.to_string());
    assert_eq!(claims["iss"], "unionfund");
    assert_eq!(claims["aud"], "unionfund-api");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    assert_eq!(claims["ver"], 1, "a new user's token version");
    let r = funds_with(&app, Some(token)).await;
    assert_eq!(r.status(), 200, "the token works");
    app.finish().await;
}

#[tokio::test]
async fn a_client_created_by_the_admin_exchanges_its_credentials_for_a_working_token() {
    let app = spawn_app().await;
    let bureau = app.org("bureau").await;
    let r = app
        .post_as(
            Role::Admin,
            "/api/v1/clients",
            json!({"name": "City finance bureau", "role": "finance_bureau", "org_id": bureau}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let client = body(r).await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    assert!(Uuid::parse_str(&client_id).is_ok());
    assert!(secret.len() >= 32, "a long random secret: {secret}");
    assert_eq!(client["role"], "finance_bureau");
    assert_eq!(client["org_id"], bureau.to_string());

    let r = app
        .http
        .post(app.url(TOKEN))
        .json(&json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b = body(r).await;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 900);
    let token = b["access_token"].as_str().unwrap();
    let claims = claims_of(token);
    assert_eq!(claims["sub"], client_id);
    assert_eq!(claims["sub_kind"], "client");
    assert_eq!(claims["role"], "finance_bureau");
    let r = funds_with(&app, Some(token)).await;
    assert_eq!(r.status(), 200);
    assert!(body(r).await["items"].is_array());

    // The list shows the client, never its secret.
    let r = app.get_as(Role::Admin, "/api/v1/clients").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains("client_secret"), "no client_secret field in {text}");
    assert!(!text.contains(&secret), "no secret value in {text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["client_id"], client_id);
    assert_eq!(items[0]["name"], "City finance bureau");
    assert!(items[0].get("client_secret").is_none());
    app.finish().await;
}

#[tokio::test]
async fn bad_credentials_are_a_401() {
    let app = spawn_app().await;
    let p = problem(app.login(ADMIN.0, "not-the-password").await, 401, "unauthorized").await;
    assert_eq!(p["detail"], "invalid credentials");
    let p = problem(app.login("nobody-at-all", "whatever-password").await, 401, "unauthorized").await;
    assert_eq!(p["detail"], "invalid credentials", "an unknown user looks like a wrong password");
    for client_id in [Uuid::new_v4().to_string(), "not-a-uuid".to_owned()] {
        let r = app
            .http
            .post(app.url(TOKEN))
            .json(
                &json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": "s3cret-s3cret"}),
            )
            .send()
            .await
            .unwrap();
        let p = problem(r, 401, "unauthorized").await;
        assert_eq!(p["detail"], "invalid credentials", "client {client_id}");
    }
    app.finish().await;
}

#[tokio::test]
async fn no_token_or_garbage_is_a_401_with_www_authenticate() {
    let app = spawn_app().await;
    let r = funds_with(&app, None).await;
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    problem(r, 401, "unauthorized").await;
    let r = funds_with(&app, Some("abc")).await;
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    problem(r, 401, "unauthorized").await;
    let r =
        app.http.get(app.url("/api/v1/funds")).header("authorization", "Basic YWRtaW46YWRtaW4=").send().await.unwrap();
    problem(r, 401, "unauthorized").await;
    app.finish().await;
}

#[tokio::test]
async fn a_forged_token_is_accepted_only_when_key_algorithm_time_audience_and_issuer_are_all_right() {
    let app = spawn_app().await;
    let key = JWT_SECRET.as_bytes();
    let our_kid = kid(key);
    let good = claims(&app).await;

    // The control: built the way the service builds its own, the token is accepted, so each
    // refusal below is due to the one thing changed.
    let r = funds_with(&app, Some(&forge(&good, key, &our_kid))).await;
    assert_eq!(r.status(), 200, "a correctly built token is accepted");

    let mut expired = good.clone();
    expired["iat"] = json!(now() - 7200);
    expired["nbf"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 3600);
    problem(funds_with(&app, Some(&forge(&expired, key, &our_kid))).await, 401, "unauthorized").await;

    let other_key = b"another-secret-another-secret-another!";
    let p = problem(funds_with(&app, Some(&forge(&good, other_key, &our_kid))).await, 401, "unauthorized").await;
    assert_eq!(p["detail"], "invalid or expired token", "signed with another key under our kid");
    let p = problem(funds_with(&app, Some(&forge(&good, other_key, &kid(other_key)))).await, 401, "unauthorized").await;
    assert_eq!(p["detail"], "invalid or expired token", "signed with another key under its own kid");

    let header = json!({"alg": "none", "typ": "JWT", "kid": our_kid});
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).unwrap()),
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&good).unwrap())
    );
    problem(funds_with(&app, Some(&unsigned)).await, 401, "unauthorized").await;

    let mut wrong_audience = good.clone();
    wrong_audience["aud"] = json!("someone-else");
    problem(funds_with(&app, Some(&forge(&wrong_audience, key, &our_kid))).await, 401, "unauthorized").await;

    let mut wrong_issuer = good.clone();
    wrong_issuer["iss"] = json!("evil");
    problem(funds_with(&app, Some(&forge(&wrong_issuer, key, &our_kid))).await, 401, "unauthorized").await;

    // The algorithm is pinned: HS384 with the right key and kid is refused, as is a token with no kid.
    let hs384 = Header { alg: Algorithm::HS384, kid: Some(our_kid.clone()), ..Default::default() };
    let t = jsonwebtoken::encode(&hs384, &good, &EncodingKey::from_secret(key)).unwrap();
    problem(funds_with(&app, Some(&t)).await, 401, "unauthorized").await;
    let no_kid = Header { alg: Algorithm::HS256, kid: None, ..Default::default() };
    let t = jsonwebtoken::encode(&no_kid, &good, &EncodingKey::from_secret(key)).unwrap();
    problem(funds_with(&app, Some(&t)).await, 401, "unauthorized").await;

    let mut not_yet = good.clone();
    not_yet["nbf"] = json!(now() + 3600);
    not_yet["exp"] = json!(now() + 7200);
    problem(funds_with(&app, Some(&forge(&not_yet, key, &our_kid))).await, 401, "unauthorized").await;

    // Signed with the right key, but for a subject this database does not know, or without the
    // token version: refused too.
    let mut stranger = good.clone();
    stranger["sub"] = json!(Uuid::new_v4().to_string());
    problem(funds_with(&app, Some(&forge(&stranger, key, &our_kid))).await, 401, "unauthorized").await;
    let mut no_version = good.clone();
    no_version.as_object_mut().unwrap().remove("ver");
    problem(funds_with(&app, Some(&forge(&no_version, key, &our_kid))).await, 401, "unauthorized").await;

    // And the control again, after all the refusals: nothing was poisoned.
    let r = funds_with(&app, Some(&forge(&good, key, &our_kid))).await;
    assert_eq!(r.status(), 200);
    app.finish().await;
}

#[tokio::test]
async fn the_sixth_attempt_for_one_username_is_throttled_even_with_the_right_password() {
    let app = spawn_app().await;
    for i in 1..=5 {
        let p = problem(app.login(ADMIN.0, &format!("wrong-password-{i}")).await, 401, "unauthorized").await;
        assert_eq!(p["detail"], "invalid credentials", "attempt {i}");
    }
    let r = app.login(ADMIN.0, "wrong-password-6").await;
    let retry_after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry_after), "Retry-After {retry_after}");
    problem(r, 429, "too_many_requests").await;
    let r = app.login(ADMIN.0, ADMIN.1).await;
    assert!(r.headers().contains_key("retry-after"));
    problem(r, 429, "too_many_requests").await;
    // The throttle is per username: attempts for another name are still checked, not throttled.
    problem(app.login("someone-else", "wrong-password").await, 401, "unauthorized").await;
    app.finish().await;
}

#[tokio::test]
async fn roles_without_the_permission_get_403_forbidden() {
    let app = spawn_app().await;
    let r = app.post_as(Role::Clerk, "/api/v1/orgs", json!({"name": "Rogue", "kind": "township_union"})).await;
    problem(r, 403, "forbidden").await;
    let p = problem(app.get_as(Role::Clerk, "/api/v1/users").await, 403, "forbidden").await;
    assert_eq!(p["type"], "urn:unionfund:problem:forbidden");
    let r = app
        .post_as(
            Role::Auditor,
            "/api/v1/funds",
            json!({"name": "x", "kind": "hardship", "year": 2022, "budget": "1.00"}),
        )
        .await;
    problem(r, 403, "forbidden").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM funds"), 0, "nothing was created");
    assert_eq!(app.count("SELECT count(*) AS n FROM orgs WHERE name = 'Rogue'"), 0);
    // The same requests succeed for the roles that have the permission.
    assert_eq!(app.get_as(Role::Admin, "/api/v1/users").await.status(), 200);
    assert_eq!(app.get_as(Role::Clerk, "/api/v1/funds").await.status(), 200);
    app.finish().await;
}

#[tokio::test]
async fn a_token_request_that_cannot_be_read_is_a_400_415_or_422() {
    let app = spawn_app().await;
    let p = problem(
        post_raw(&app, Some("application/json"), r#"{"grant_type": "password", "#).await,
        400,
        "malformed_request",
    )
    .await;
    assert_eq!(fields(&p), ["body"]);
    let r = post_raw(&app, Some("application/json"), r#"{"grant_type": "magic", "username": "admin"}"#).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["grant_type"]);
    let r = post_raw(
        &app,
        Some("application/json"),
        r#"{"grant_type": "password", "username": "admin", "password": "admin-password-1", "extra": 1}"#,
    )
    .await;
    let p = problem(r, 422, "validation_failed").await;
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("extra"), "an unknown field is refused: {p}");
    let r = post_raw(&app, Some("application/json"), r#"{"username": "admin", "password": "admin-password-1"}"#).await;
    problem(r, 422, "validation_failed").await;
    let raw = r#"{"grant_type": "password", "username": "admin", "password": "admin-password-1"}"#;
    problem(post_raw(&app, None, raw).await, 415, "unsupported_media_type").await;
    problem(post_raw(&app, Some("text/plain"), raw).await, 415, "unsupported_media_type").await;
    let r = post_raw(&app, Some("application/x-www-form-urlencoded"), "grant_type=password&username=admin").await;
    problem(r, 415, "unsupported_media_type").await;
    // The same body with the right Content-Type is fine: the refusals were about the format.
    assert_eq!(post_raw(&app, Some("application/json"), raw).await.status(), 200);
    app.finish().await;
}

#[tokio::test]
async fn a_throttled_client_stays_throttled_whatever_the_spelling_of_its_client_id() {
    let app = spawn_app().await;
    let bureau = app.org("bureau").await;
    let r = app
        .post_as(Role::Admin, "/api/v1/clients", json!({"name": "Bureau", "role": "finance_bureau", "org_id": bureau}))
        .await;
    assert_eq!(r.status(), 201);
    let client = body(r).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let secret = client["client_secret"].as_str().unwrap().to_owned();
    let grant = |client_id: &str, secret: &str| json!({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret});
    for _ in 1..=5 {
        let r = app.http.post(app.url(TOKEN)).json(&grant(&id, "wrong-secret")).send().await.unwrap();
        problem(r, 401, "unauthorized").await;
    }
    let r = app.http.post(app.url(TOKEN)).json(&grant(&id, &secret)).send().await.unwrap();
    problem(r, 429, "too_many_requests").await;
    // The same client, spelt otherwise: still the same client, so still throttled.
    for spelling in [id.to_uppercase(), id.replace('-', ""), format!("{{{id}}}"), format!("urn:uuid:{id}")] {
        let r = app.http.post(app.url(TOKEN)).json(&grant(&spelling, &secret)).send().await.unwrap();
        problem(r, 429, "too_many_requests").await;
    }
    app.finish().await;
}
