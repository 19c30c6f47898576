//! Organisations: creation and validation, a clerk's scope, optimistic concurrency, pagination,
//! the audit event of a creation, and idempotent creation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use reqwest::{Method, Response};
use serde_json::{Value, json};
use unionfund::domain::ids::CreditCode;
use unionfund::domain::policy::Role;
use uuid::Uuid;

use crate::helpers::*;

const ORGS: &str = "/api/v1/orgs";
/// A valid unified social credit code (GB 32100).
const CODE: &str = "91350100M000100Y43";

/// A valid credit code built from 17 characters and their check character.
fn credit_code(first17: &str) -> String {
    format!("{first17}{}", CreditCode::check_char(first17).unwrap())
}

fn etag(r: &Response) -> String {
    r.headers()["etag"].to_str().unwrap().to_owned()
}

/// Posts raw text as JSON to `path` as the admin.
async fn post_raw(app: &TestApp, path: &str, raw: &str) -> Response {
    let t = app.token(Role::Admin).await;
    app.http
        .post(app.url(path))
        .bearer_auth(t)
        .header("content-type", "application/json")
        .body(raw.to_owned())
        .send()
        .await
        .unwrap()
}

async fn create(app: &TestApp, body: Value) -> Response {
    app.post_as(Role::Admin, ORGS, body).await
}

#[tokio::test]
async fn the_admin_creates_a_township_and_a_member_unit_and_reads_them_back_with_their_etag() {
    let app = spawn_app().await;
    let r =
        create(&app, json!({"name": "  琼湖街道总工会 ", "kind": "township_union", "parent_id": app.federation_id}))
            .await;
    assert_eq!(r.status(), 201);
    assert_eq!(etag(&r), "\"1\"");
    assert_eq!(r.headers()["content-type"], "application/json");
    let township = body(r).await;
    let township_id: Uuid = township["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(township["name"], "琼湖街道总工会", "the name is trimmed");
    assert_eq!(township["kind"], "township_union");
    assert_eq!(township["parent_id"], app.federation_id.to_string());
    assert_eq!(township["version"], 1);
    assert!(township["credit_code"].is_null());
    assert!(township["unit_kind"].is_null());

    let r = create(
        &app,
        json!({"name": "沅江市第一中学", "kind": "member_unit", "parent_id": township_id,
               "credit_code": CODE.to_lowercase(), "unit_kind": "public_institution"}),
    )
    .await;
    assert_eq!(r.status(), 201);
    assert_eq!(etag(&r), "\"1\"");
    let unit = body(r).await;
    let unit_id = unit["id"].as_str().unwrap();
    assert_eq!(unit["kind"], "member_unit");
    assert_eq!(unit["parent_id"], township_id.to_string());
    assert_eq!(unit["credit_code"], CODE, "stored upper-case");
    assert_eq!(unit["unit_kind"], "public_institution");
    assert_eq!(unit["version"], 1);

    let r = app.get_as(Role::Admin, &format!("{ORGS}/{unit_id}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(etag(&r), "\"1\"");
    let read = body(r).await;
    assert_eq!(read, unit, "GET answers what POST answered");
    let r = app.get_as(Role::Auditor, &format!("{ORGS}/{township_id}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(body(r).await["name"], "琼湖街道总工会");
    app.finish().await;
}

#[tokio::test]
async fn a_bad_credit_code_is_a_422_naming_credit_code_and_a_taken_one_is_a_409() {
    let app = spawn_app().await;
    let unit = |code: &str| {
        json!({"name": "Unit", "kind": "member_unit", "parent_id": app.federation_id, "credit_code": code,
               "unit_kind": "enterprise"})
    };
    let wrong_check = format!("{}4", &CODE[..17]);
    for bad in [wrong_check.as_str(), &CODE[..17], "91350100M000100Y430", "91350100M000100O43", ""] {
        let p = problem(create(&app, unit(bad)).await, 422, "validation_failed").await;
        assert_eq!(fields(&p), ["credit_code"], "for {bad:?}");
    }
    let p = problem(create(&app, unit(&wrong_check)).await, 422, "validation_failed").await;
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("check character"), "{p}");
    let p = problem(create(&app, unit(&CODE[..17])).await, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["message"], "must be 18 characters");
    assert_eq!(app.count("SELECT count(*) AS n FROM orgs"), 1, "only the federation");

    let other = credit_code("91430981MA4L00001");
    assert_eq!(create(&app, unit(&other)).await.status(), 201);
    let r = create(&app, unit(CODE)).await;
    assert_eq!(r.status(), 201);
    let p = problem(create(&app, unit(CODE)).await, 409, "duplicate_credit_code").await;
    assert!(p["detail"].as_str().unwrap().contains("credit code"));
    let p = problem(create(&app, unit(&CODE.to_lowercase())).await, 409, "duplicate_credit_code").await;
    assert_eq!(p["status"], 409, "the same code in lower case is the same code");
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM orgs WHERE credit_code = '{CODE}'")), 1);
    app.finish().await;
}

#[tokio::test]
async fn unit_kind_is_required_for_member_units_and_refused_for_others() {
    let app = spawn_app().await;
    let r = create(&app, json!({"name": "Unit", "kind": "member_unit", "parent_id": app.federation_id})).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["unit_kind"]);
    let r = create(
        &app,
        json!({"name": "Township", "kind": "township_union", "parent_id": app.federation_id, "unit_kind": "enterprise"}),
    )
    .await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["unit_kind"]);
    // Every bad field at once.
    let r = create(&app, json!({"name": " ", "kind": "member_unit", "credit_code": "123"})).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["name", "credit_code", "unit_kind"]);
    let r = create(&app, json!({"name": "Unit", "kind": "member_unit", "unit_kind": "charity"})).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["unit_kind"], "an unknown unit kind");
    assert_eq!(app.count("SELECT count(*) AS n FROM orgs"), 1, "nothing was created");
    app.finish().await;
}

#[tokio::test]
async fn a_body_or_path_that_cannot_be_read_is_a_400_and_content_that_does_not_fit_is_a_422() {
    let app = spawn_app().await;
    let p = problem(post_raw(&app, ORGS, r#"{"name": "x", "kind": "#).await, 400, "malformed_request").await;
    assert_eq!(fields(&p), ["body"]);
    let p = problem(post_raw(&app, ORGS, "not json at all").await, 400, "malformed_request").await;
    assert_eq!(fields(&p), ["body"]);

    let p = problem(create(&app, json!({"name": "x", "kind": 5})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["kind"]);
    let p = problem(create(&app, json!({"name": "x", "kind": "castle"})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["kind"]);
    let p = problem(
        create(&app, json!({"name": "x", "kind": "township_union", "parent_id": "nope"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["parent_id"]);
    let r = create(&app, json!({"name": "x", "kind": "township_union", "colour": "red"})).await;
    let p = problem(r, 422, "validation_failed").await;
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("colour"), "the unknown field is named: {p}");
    let p = problem(create(&app, json!({"kind": "township_union"})).await, 422, "validation_failed").await;
    assert!(p["errors"][0]["message"].as_str().unwrap().contains("name"), "the missing field is named: {p}");
    let r = create(&app, json!({"name": "x", "kind": "township_union", "parent_id": Uuid::new_v4()})).await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["parent_id"], "a parent that does not exist");

    let p = problem(app.get_as(Role::Admin, &format!("{ORGS}/not-a-uuid")).await, 400, "malformed_request").await;
    assert_eq!(fields(&p), ["path"]);
    let admin = app.token(Role::Admin).await;
    let r = app
        .send(
            Method::PATCH,
            &format!("{ORGS}/not-a-uuid"),
            Some(&admin),
            Some(json!({"name": "y"})),
            &[("if-match", "\"1\"")],
        )
        .await;
    problem(r, 400, "malformed_request").await;
    let p = problem(app.get_as(Role::Admin, &format!("{ORGS}/{}", Uuid::new_v4())).await, 404, "not_found").await;
    assert_eq!(p["type"], "urn:unionfund:problem:not_found");
    assert_eq!(app.count("SELECT count(*) AS n FROM orgs"), 1, "nothing was created");
    app.finish().await;
}

#[tokio::test]
async fn a_clerk_sees_only_its_own_organisation_and_gets_404_for_any_other() {
    let app = spawn_app().await;
    let own = app.org("township").await;
    let other = app.org("township2").await;
    let unit = app.org("unit").await;

    let r = app.get_as(Role::Clerk, ORGS).await;
    assert_eq!(r.status(), 200);
    let list = body(r).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "exactly its own: {list}");
    assert_eq!(items[0]["id"], own.to_string());
    assert!(list["next_cursor"].is_null());
    let r = app.get_as(Role::Clerk, &format!("{ORGS}?kind=township_union")).await;
    assert_eq!(body(r).await["items"].as_array().unwrap().len(), 1);
    let r = app.get_as(Role::Clerk, &format!("{ORGS}?kind=federation")).await;
    assert_eq!(body(r).await["items"].as_array().unwrap().len(), 0);

    let r = app.get_as(Role::Clerk, &format!("{ORGS}/{own}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(etag(&r), "\"1\"");
    assert_eq!(body(r).await["id"], own.to_string());
    for (what, id) in [("the federation", app.federation_id), ("another township", other), ("a unit", unit)] {
        let p = problem(app.get_as(Role::Clerk, &format!("{ORGS}/{id}")).await, 404, "not_found").await;
        assert_eq!(p["detail"], "not found", "{what}");
    }
    // A missing org answers exactly like one that exists but is not the clerk's.
    let missing = app.get_as(Role::Clerk, &format!("{ORGS}/{}", Uuid::new_v4())).await;
    let missing = problem(missing, 404, "not_found").await;
    let hidden = problem(app.get_as(Role::Clerk, &format!("{ORGS}/{other}")).await, 404, "not_found").await;
    assert_eq!(missing, hidden);
    // The admin sees all four.
    let all = body(app.get_as(Role::Admin, ORGS).await).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    app.finish().await;
}

#[tokio::test]
async fn patching_an_org_needs_the_current_etag_in_if_match() {
    let app = spawn_app().await;
    let id = app.org("township").await;
    let path = format!("{ORGS}/{id}");

    let r = app.patch_with(Role::Admin, &path, json!({"name": "Renamed"}), &[]).await;
    problem(r, 428, "precondition_required").await;
    for stale in ["\"0\"", "\"9\"", "*not-an-etag*"] {
        let r = app.patch_with(Role::Admin, &path, json!({"name": "Renamed"}), &[("if-match", stale)]).await;
        assert_eq!(etag(&r), "\"1\"", "a 412 tells the current ETag");
        problem(r, 412, "precondition_failed").await;
    }
    let r = app.get_as(Role::Admin, &path).await;
    assert_eq!(body(r).await["name"], "Test township", "nothing changed yet");

    let r = app.patch_with(Role::Admin, &path, json!({"name": "Renamed"}), &[("if-match", "\"1\"")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(etag(&r), "\"2\"");
    let b = body(r).await;
    assert_eq!(b["name"], "Renamed");
    assert_eq!(b["version"], 2);
    assert_eq!(b["kind"], "township_union", "absent fields stay");

    let r = app.patch_with(Role::Admin, &path, json!({"name": "Again"}), &[("if-match", "\"1\"")]).await;
    assert_eq!(etag(&r), "\"2\"");
    problem(r, 412, "precondition_failed").await;
    let r = app.get_as(Role::Admin, &path).await;
    assert_eq!(etag(&r), "\"2\"");
    assert_eq!(body(r).await["name"], "Renamed");

    // A weak form of the current tag is accepted too.
    let r = app.patch_with(Role::Admin, &path, json!({"credit_code": CODE}), &[("if-match", "W/\"2\"")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(etag(&r), "\"3\"");
    assert_eq!(body(r).await["credit_code"], CODE);
    // A clerk may not patch, whatever its ETag.
    let r = app.patch_with(Role::Clerk, &path, json!({"name": "Mine"}), &[("if-match", "\"3\"")]).await;
    problem(r, 403, "forbidden").await;
    let events = body(app.get_as(Role::Auditor, &format!("/api/v1/audit/events?entity_id={id}")).await).await;
    let actions: Vec<&str> =
        events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["org.created", "org.updated", "org.updated"], "one event per successful change");
    app.finish().await;
}

#[tokio::test]
async fn the_list_pages_through_every_org_once_in_creation_order() {
    let app = spawn_app().await;
    let mut created = vec![app.federation_id.to_string()];
    for i in 0..5 {
        let r = create(
            &app,
            json!({"name": format!("Township {i}"), "kind": "township_union", "parent_id": app.federation_id}),
        )
        .await;
        assert_eq!(r.status(), 201);
        created.push(body(r).await["id"].as_str().unwrap().to_owned());
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("{ORGS}?limit=2&cursor={c}"),
            None => format!("{ORGS}?limit=2"),
        };
        let r = app.get_as(Role::Auditor, &path).await;
        assert_eq!(r.status(), 200);
        let page = body(r).await;
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2, "{page}");
        seen.extend(items.iter().map(|o| o["id"].as_str().unwrap().to_owned()));
        pages += 1;
        assert!(pages <= 10, "the cursors must end");
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), 2, "a page with a next page is full");
                cursor = Some(c.to_owned());
            }
            None => {
                assert!(page["next_cursor"].is_null(), "{page}");
                break;
            }
        }
    }
    assert_eq!(seen, created, "every org exactly once, oldest first");
    assert_eq!(pages, 3);

    let first = body(app.get_as(Role::Auditor, &format!("{ORGS}?limit=2")).await).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert!(first["next_cursor"].is_string());
    let whole = body(app.get_as(Role::Auditor, &format!("{ORGS}?limit=6")).await).await;
    assert_eq!(whole["items"].as_array().unwrap().len(), 6);
    assert!(whole["next_cursor"].is_null(), "exactly a page's worth leaves no next page");
    let kind = body(app.get_as(Role::Auditor, &format!("{ORGS}?kind=township_union&limit=500")).await).await;
    assert_eq!(kind["items"].as_array().unwrap().len(), 5);

    for limit in ["0", "501", "-1"] {
        let p =
            problem(app.get_as(Role::Auditor, &format!("{ORGS}?limit={limit}")).await, 422, "validation_failed").await;
        assert_eq!(fields(&p), ["limit"], "limit={limit}");
    }
    let p = problem(app.get_as(Role::Auditor, &format!("{ORGS}?cursor=garbage")).await, 400, "malformed_request").await;
    assert_eq!(fields(&p), ["cursor"]);
    let p = problem(app.get_as(Role::Auditor, &format!("{ORGS}?limit=ten")).await, 400, "malformed_request").await;
    assert_eq!(fields(&p), ["query"]);
    app.finish().await;
}

#[tokio::test]
async fn creating_an_org_leaves_an_audit_event_with_the_request_id() {
    let app = spawn_app().await;
    let r = create(&app, json!({"name": "Audited", "kind": "township_union", "parent_id": app.federation_id})).await;
    assert_eq!(r.status(), 201);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!request_id.is_empty());
    let id = body(r).await["id"].as_str().unwrap().to_owned();

    // A request id the caller chose is echoed and carried into the trail too.
    let admin = app.token(Role::Admin).await;
    let body2 = json!({"name": "Audited 2", "kind": "township_union", "parent_id": app.federation_id});
    let r = app.send(Method::POST, ORGS, Some(&admin), Some(body2), &[("x-request-id", "my-request-42")]).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], "my-request-42");
    let id2 = body(r).await["id"].as_str().unwrap().to_owned();

    let r = app.get_as(Role::Auditor, &format!("/api/v1/audit/events?entity_id={id}")).await;
    assert_eq!(r.status(), 200);
    let events = body(r).await;
    let items = events["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{events}");
    let e = &items[0];
    assert_eq!(e["action"], "org.created");
    assert_eq!(e["request_id"], request_id);
    assert_eq!(e["entity_type"], "org");
    assert_eq!(e["entity_id"], id);
    assert_eq!(e["actor_role"], "admin");
    assert!(e["actor"].as_str().unwrap().starts_with("user:"));
    let after: Value = serde_json::from_str(e["after"].as_str().unwrap()).unwrap();
    assert_eq!(after["name"], "Audited");

    let events = body(app.get_as(Role::Auditor, &format!("/api/v1/audit/events?entity_id={id2}")).await).await;
    assert_eq!(events["items"][0]["action"], "org.created");
    assert_eq!(events["items"][0]["request_id"], "my-request-42");
    // A clerk may not read the trail.
    problem(app.get_as(Role::Clerk, &format!("/api/v1/audit/events?entity_id={id}")).await, 403, "forbidden").await;
    app.finish().await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_same_org_and_refuses_a_different_body() {
    let app = spawn_app().await;
    let key = [("idempotency-key", "create-township-1")];
    let body1 = json!({"name": "Once", "kind": "township_union", "parent_id": app.federation_id});

    let first = app.post_with(Role::Admin, ORGS, body1.clone(), &key).await;
    assert_eq!(first.status(), 201);
    assert!(!first.headers().contains_key("idempotent-replayed"));
    assert_eq!(etag(&first), "\"1\"");
    let first = body(first).await;

    let second = app.post_with(Role::Admin, ORGS, body1.clone(), &key).await;
    assert_eq!(second.status(), 201);
    assert_eq!(second.headers()["idempotent-replayed"], "true");
    assert_eq!(etag(&second), "\"1\"");
    let second = body(second).await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second, first, "the original answer, byte for byte");
    assert_eq!(app.count("SELECT count(*) AS n FROM orgs WHERE name = 'Once'"), 1, "acted once");

    let different = json!({"name": "Twice", "kind": "township_union", "parent_id": app.federation_id});
    let p = problem(app.post_with(Role::Admin, ORGS, different, &key).await, 422, "idempotency_key_reused").await;
    assert_eq!(p["status"], 422);
    assert_eq!(app.count("SELECT count(*) AS n FROM orgs WHERE name = 'Twice'"), 0);

    // The key belongs to that request: reused on another path it is refused too.
    let bureau = json!({"name": "Bureau", "role": "finance_bureau", "org_id": app.federation_id});
    let r = app.post_with(Role::Admin, "/api/v1/clients", bureau, &key).await;
    problem(r, 422, "idempotency_key_reused").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM api_clients"), 0);

    // Another key with the same body acts again.
    let r = app.post_with(Role::Admin, ORGS, body1, &[("idempotency-key", "create-township-2")]).await;
    assert_eq!(r.status(), 201);
    assert_ne!(body(r).await["id"], first["id"]);
    assert_eq!(app.count("SELECT count(*) AS n FROM orgs WHERE name = 'Once'"), 2);
    app.finish().await;
}

#[tokio::test]
async fn a_patch_is_validated_like_a_creation() {
    let app = spawn_app().await;
    let township = app.org("township").await;
    let unit = app.org("unit").await;
    let r = app
        .patch_with(Role::Admin, &format!("{ORGS}/{unit}"), json!({"credit_code": CODE}), &[("if-match", "\"1\"")])
        .await;
    assert_eq!(r.status(), 200);
    let path = format!("{ORGS}/{township}");
    let cases = [
        (json!({"credit_code": CODE}), 409, "duplicate_credit_code", vec![]),
        (json!({"credit_code": &CODE[..17]}), 422, "validation_failed", vec!["credit_code"]),
        (json!({"unit_kind": "enterprise"}), 422, "validation_failed", vec!["unit_kind"]),
        (json!({"name": " "}), 422, "validation_failed", vec!["name"]),
        (json!({"kind": "member_unit"}), 422, "validation_failed", vec!["kind"]),
    ];
    for (change, status, code, named) in cases {
        let r = app.patch_with(Role::Admin, &path, change.clone(), &[("if-match", "\"1\"")]).await;
        let p = problem(r, status, code).await;
        assert_eq!(fields(&p), named, "for {change}");
    }
    let r = app.get_as(Role::Admin, &path).await;
    assert_eq!(etag(&r), "\"1\"", "no refused change moved the version");
    assert!(body(r).await["credit_code"].is_null());
    let r = app
        .patch_with(Role::Admin, &format!("{ORGS}/{}", Uuid::new_v4()), json!({"name": "x"}), &[("if-match", "\"1\"")])
        .await;
    problem(r, 404, "not_found").await;
    app.finish().await;
}

#[tokio::test]
async fn a_missing_field_is_a_422_that_names_the_field() {
    let app = spawn_app().await;
    let p = problem(create(&app, json!({"kind": "township_union"})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["name"]);
    let p = problem(create(&app, json!({"name": "No kind"})).await, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["kind"]);
    app.finish().await;
}
