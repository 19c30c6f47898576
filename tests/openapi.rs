//! The checked-in OpenAPI document is the one the service serves.

use crate::helpers::*;

#[tokio::test]
async fn the_served_document_is_the_checked_in_one() {
    let app = spawn_app().await;
    let served: serde_json::Value = body(app.http.get(app.url("/api-docs/openapi.json")).send().await.unwrap()).await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let checked_in: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        served == checked_in,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json` and commit it"
    );
    // Swagger UI is served from the binary itself (vendored), so it works with no internet.
    let ui = app.http.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(ui.text().await.unwrap().contains("swagger"));
    app.finish().await;
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = spawn_app().await;
    let r = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["status"], "ok");
    let r = app.http.get(app.url("/readyz")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123", "a caller's request id is echoed");
    let r = app.http.get(app.url("/nowhere")).send().await.unwrap();
    problem(r, 404, "not_found").await;
    app.finish().await;
}

#[tokio::test]
async fn a_database_that_goes_away_is_a_503_and_the_service_recovers_by_itself() {
    let app = spawn_app().await;
    let token = app.token(unionfund::domain::policy::Role::Auditor).await;
    let name = app.db.name.clone();
    let admin = |sql: String| {
        use diesel::Connection;
        use diesel::connection::SimpleConnection;
        diesel::PgConnection::establish(&format!("{SERVER}/postgres")).unwrap().batch_execute(&sql).unwrap();
    };
    // The database refuses new sessions and drops the app's pooled ones.
    admin(format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"));
    admin(format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"));
    // The pool waits its connection timeout (5 s) for a session, then answers 503.
    let r = app.http.get(app.url("/api/v1/funds")).bearer_auth(&token).send().await.unwrap();
    let p = problem(r, 503, "service_unavailable").await;
    assert!(!p["detail"].as_str().unwrap().contains("FATAL"), "no database internals in the body");
    let r = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    admin(format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"));
    let r = app.http.get(app.url("/api/v1/funds")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 200, "back without a restart");
    app.finish().await;
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = spawn_app_with(|c| c.cors_origins = vec!["https://screens.example".into()]).await;
    let preflight = |origin: &'static str| {
        app.http
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/funds"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization, idempotency-key, if-match")
            .send()
    };
    let ok = preflight("https://screens.example").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://screens.example");
    let other = preflight("https://elsewhere.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    app.finish().await;
}

/// Every `$ref` in `value`, with where it was found.
fn refs<'a>(value: &'a serde_json::Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", serde_json::Value::String(r)) => out.push((at.clone(), r)),
                    _ => refs(v, format!("{at}/{k}"), out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().enumerate().for_each(|(i, v)| refs(v, format!("{at}/{i}"), out)),
        _ => {}
    }
}

#[test]
fn every_reference_of_the_document_resolves_and_errors_are_problems() {
    // A generator refuses a document with one dangling `$ref` (openapi-typescript did, on two).
    let doc: serde_json::Value = serde_json::from_str(&unionfund::http::openapi::json()).unwrap();
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(found.len() > 100, "the document references its schemas");
    let dangling: Vec<_> = found
        .iter()
        .filter(|(_, r)| r.strip_prefix('#').is_none_or(|pointer| doc.pointer(pointer).is_none()))
        .collect();
    assert!(dangling.is_empty(), "dangling references: {dangling:?}");
    // Errors are documented with the content type they are sent with.
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op.get("security").is_some(), "{method} {path} states no security requirement");
            for (status, response) in op["responses"].as_object().unwrap() {
                let Some(content) = response.get("content").and_then(|c| c.as_object()) else { continue };
                if status.starts_with('4') || status.starts_with('5') {
                    assert!(
                        content.keys().all(|ct| ct == "application/problem+json"),
                        "{method} {path} {status}: errors are application/problem+json, not {:?}",
                        content.keys().collect::<Vec<_>>()
                    );
                }
            }
        }
    }
}
