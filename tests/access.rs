//! Access can be taken back: users and clients changed, disabled, reset and rotated by the
//! admin, and the tokens they held refused on their next request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use reqwest::Method;
use serde_json::{Value, json};
use unionfund::domain::policy::Role;

use crate::helpers::*;

/// The admin's token.
async fn admin(app: &TestApp) -> String {
    app.token(Role::Admin).await
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
