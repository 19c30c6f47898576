//! The money spine: the ledger, the audit trail, idempotency, concurrency, funds.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use diesel::connection::SimpleConnection;
use reqwest::Method;
use serde_json::{Value, json};
use unionfund::domain::policy::Role;

use crate::helpers::*;

async fn create_fund(app: &TestApp, budget: &str) -> (String, String) {
    let r = app
        .post_as(
            Role::FinanceOfficer,
            "/api/v1/funds",
            json!({"name": "帮扶基金", "kind": "hardship", "year": 2022, "budget": budget}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    (body(r).await["id"].as_str().unwrap().to_owned(), etag)
}

/// Posts a source; one without a `reference` is given a fresh one (each source is another document).
async fn add_source(app: &TestApp, fund: &str, mut source: Value) -> reqwest::Response {
    if source.get("reference").is_none() {
        source["reference"] = json!(uuid::Uuid::now_v7().to_string());
    }
    app.post_as(Role::FinanceOfficer, &format!("/api/v1/funds/{fund}/sources"), source).await
}

#[tokio::test]
async fn a_fund_shows_its_budget_and_sources_from_the_ledger() {
    let app = spawn_app().await;
    let (id, etag) = create_fund(&app, "60000.00").await;
    assert_eq!(etag, "\"1\"");
    let r =
        add_source(&app, &id, json!({"kind": "upper_allocation", "amount": "40000.00", "matching_ratio": "0.5"})).await;
    assert_eq!(r.status(), 201);
    let r = add_source(&app, &id, json!({"kind": "local_matching", "amount": "19999.99"})).await;
    assert_eq!(r.status(), 201);
    let fund = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{id}")).await).await;
    assert_eq!(fund["budget"], "60000.00");
    assert_eq!(fund["available"], "60000.00");
    assert_eq!(fund["allocated"], "0.00");
    assert_eq!(fund["funded"], "59999.99");
    assert_eq!(fund["matching_required"], "20000.00");
    assert_eq!(fund["matching_provided"], "19999.99");
    assert_eq!(fund["matching_ok"], false);
    add_source(&app, &id, json!({"kind": "local_matching", "amount": "0.01"})).await;
    let fund = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{id}")).await).await;
    assert_eq!(fund["matching_ok"], true);
    assert_eq!(fund["version"], 4, "each source changes the fund's version");
    let sources = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{id}/sources?limit=2")).await).await;
    assert_eq!(sources["items"].as_array().unwrap().len(), 2);
    assert!(sources["next_cursor"].is_string());
    // The budget and each source are journal entries with audit events on the fund's stream.
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM journal_entries WHERE fund_id = '{id}'")), 4);
    let events = body(app.get_as(Role::Auditor, &format!("/api/v1/audit/events?fund_id={id}")).await).await;
    let actions: Vec<&str> =
        events["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(
        actions,
        ["fund.created", "fund.budget_set", "fund.source_added", "fund.source_added", "fund.source_added"]
    );
    assert_eq!(events["items"][1]["amount"], "60000.00");
    app.finish().await;
}

#[tokio::test]
async fn bad_money_is_a_422_that_names_the_field() {
    let app = spawn_app().await;
    for bad in [json!(1500), json!("1500.001"), json!("-1.00"), json!(""), json!("1e3"), json!(null)] {
        let r = app
            .post_as(
                Role::FinanceOfficer,
                "/api/v1/funds",
                json!({"name": "x", "kind": "hardship", "year": 2022, "budget": bad}),
            )
            .await;
        let p = problem(r, 422, "validation_failed").await;
        assert_eq!(fields(&p), ["budget"], "for {bad}");
    }
    let (id, _) = create_fund(&app, "100.00").await;
    let p = problem(
        add_source(&app, &id, json!({"kind": "local_matching", "amount": "0.00"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["amount"]);
    let p = problem(
        add_source(&app, &id, json!({"kind": "local_matching", "amount": "1.00", "matching_ratio": "1"})).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(fields(&p), ["matching_ratio"]);
    let r = app
        .post_as(
            Role::FinanceOfficer,
            "/api/v1/funds",
            json!({"name": "", "kind": "hardship", "year": 1999, "budget": "1.00"}),
        )
        .await;
    let p = problem(r, 422, "validation_failed").await;
    assert_eq!(fields(&p), ["name", "year"], "every bad field at once");
    app.finish().await;
}

#[tokio::test]
async fn twenty_concurrent_requests_with_one_key_create_exactly_one_fund() {
    let app = spawn_app().await;
    let token = app.token(Role::FinanceOfficer).await;
    let body_json = json!({"name": "once", "kind": "township_grant", "year": 2022, "budget": "280000.00"});
    let requests = (0..20).map(|_| {
        app.http
            .post(app.url("/api/v1/funds"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "fund-2022-township")
            .json(&body_json)
            .send()
    });
    let answers = futures_util::future::join_all(requests).await;
    let mut ids = std::collections::HashSet::new();
    for a in answers {
        let a = a.unwrap();
        assert_eq!(a.status(), 201);
        ids.insert(body(a).await["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 1, "all answers name the same fund");
    assert_eq!(app.count("SELECT count(*) AS n FROM funds"), 1);
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries"), 1, "the budget was posted once");
    app.finish().await;
}

#[tokio::test]
async fn a_replay_answers_the_stored_result_and_another_body_is_refused() {
    let app = spawn_app().await;
    let key = [("Idempotency-Key", "k-1")];
    let b = json!({"name": "f", "kind": "hardship", "year": 2022, "budget": "10.00"});
    let first = app.post_with(Role::FinanceOfficer, "/api/v1/funds", b.clone(), &key).await;
    assert_eq!(first.status(), 201);
    let first_body = body(first).await;
    // The same JSON with other spacing and key order is the same request.
    let t = app.token(Role::FinanceOfficer).await;
    let again = app
        .http
        .post(app.url("/api/v1/funds"))
        .bearer_auth(&t)
        .header("Idempotency-Key", "k-1")
        .header("content-type", "application/json")
        .body(r#"{ "budget": "10.00", "year": 2022, "kind": "hardship", "name": "f" }"#)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(body(again).await, first_body);
    let other = app
        .post_with(
            Role::FinanceOfficer,
            "/api/v1/funds",
            json!({"name": "g", "kind": "hardship", "year": 2022, "budget": "10.00"}),
            &key,
        )
        .await;
    problem(other, 422, "idempotency_key_reused").await;
    // Keys are per caller: another caller's identical key is its own.
    let other_caller = app.post_with(Role::FinanceBureau, "/api/v1/funds", b, &key).await;
    problem(other_caller, 403, "forbidden").await;
    assert_eq!(app.count("SELECT count(*) AS n FROM funds"), 1);
    app.finish().await;
}

#[tokio::test]
async fn if_match_is_required_and_must_be_current() {
    let app = spawn_app().await;
    let (id, etag) = create_fund(&app, "100.00").await;
    let path = format!("/api/v1/funds/{id}");
    problem(
        app.patch_with(Role::FinanceOfficer, &path, json!({"budget": "150.00"}), &[]).await,
        428,
        "precondition_required",
    )
    .await;
    problem(
        app.patch_with(Role::FinanceOfficer, &path, json!({"budget": "150.00"}), &[("If-Match", "\"7\"")]).await,
        412,
        "precondition_failed",
    )
    .await;
    let r = app.patch_with(Role::FinanceOfficer, &path, json!({"budget": "150.00"}), &[("If-Match", &etag)]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["etag"], "\"2\"");
    let fund = body(r).await;
    assert_eq!(fund["budget"], "150.00");
    assert_eq!(fund["available"], "150.00");
    // The first writer's ETag is now stale: a second officer working from it is stopped.
    problem(
        app.patch_with(Role::FinanceOfficer, &path, json!({"budget": "90.00"}), &[("If-Match", &etag)]).await,
        412,
        "precondition_failed",
    )
    .await;
    let r = app.patch_with(Role::FinanceOfficer, &path, json!({"budget": "90.00"}), &[("If-Match", "\"2\"")]).await;
    assert_eq!(body(r).await["budget"], "90.00");
    // Nothing was half-written by the refused requests: two budget movements after the first.
    assert_eq!(app.count(&format!("SELECT count(*) AS n FROM journal_entries WHERE fund_id = '{id}'")), 3);
    app.finish().await;
}

#[tokio::test]
async fn the_database_refuses_an_unbalanced_entry() {
    let app = spawn_app().await;
    let (id, _) = create_fund(&app, "100.00").await;
    let mut conn = app.db.conn();
    let entry = uuid::Uuid::new_v4();
    let sql = format!(
        "BEGIN; \
         INSERT INTO journal_entries (id, kind, fund_id, entity_type, entity_id, request_id, actor, created_at) \
           VALUES ('{entry}', 'forged', '{id}', 'fund', '{id}', 'sql', 'sql', now()); \
         INSERT INTO postings (entry_id, account_id, amount) \
           SELECT '{entry}', id, 100.00 FROM accounts WHERE fund_id = '{id}' AND code = 'available'; \
         INSERT INTO postings (entry_id, account_id, amount) \
           SELECT '{entry}', id, -99.99 FROM accounts WHERE fund_id = '{id}' AND code = 'budget'; \
         COMMIT;"
    );
    let err = conn.batch_execute(&sql).unwrap_err().to_string();
    assert!(err.contains("does not balance"), "{err}");
    drop(conn);
    // A single-legged entry is refused too, even when its one posting is "balanced" by nothing.
    let err = app
        .db
        .conn()
        .batch_execute(&format!(
            "INSERT INTO journal_entries (id, kind, entity_type, entity_id, request_id, actor, created_at) \
             VALUES ('{}', 'forged', 'fund', '{id}', 'sql', 'sql', now())",
            uuid::Uuid::new_v4()
        ))
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not balance"), "{err}");
    assert_eq!(app.count("SELECT count(*) AS n FROM journal_entries WHERE kind = 'forged'"), 0);
    app.finish().await;
}

#[tokio::test]
async fn the_ledger_and_the_trail_refuse_update_delete_and_truncate() {
    let app = spawn_app().await;
    create_fund(&app, "100.00").await;
    for sql in [
        "UPDATE audit_events SET amount = 1",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events CASCADE",
        "UPDATE postings SET amount = amount * 2",
        "DELETE FROM postings",
        "TRUNCATE postings",
        "UPDATE journal_entries SET memo = 'x'",
        "DELETE FROM journal_entries",
    ] {
        let err = app.db.conn().batch_execute(sql).unwrap_err().to_string();
        assert!(err.contains("append-only"), "{sql}: {err}");
    }
    app.finish().await;
}

/// Runs SQL with the append-only triggers off, as someone with direct database access could.
fn tamper(app: &TestApp, sql: &str) {
    app.sql(&format!(
        "BEGIN; ALTER TABLE audit_events DISABLE TRIGGER USER; {sql}; ALTER TABLE audit_events ENABLE TRIGGER USER; COMMIT;"
    ));
}

async fn verify(app: &TestApp, query: &str) -> Value {
    let r = app.get_as(Role::Auditor, &format!("/api/v1/audit/verify{query}")).await;
    assert_eq!(r.status(), 200);
    body(r).await
}

/// A fund with six events on its stream (created, budget, four sources); returns their seqs.
async fn busy_fund(app: &TestApp) -> Vec<i64> {
    let (id, _) = create_fund(app, "100.00").await;
    for amount in ["1.00", "2.00", "3.00", "4.00"] {
        assert_eq!(add_source(app, &id, json!({"kind": "other", "amount": amount})).await.status(), 201);
    }
    let events = body(app.get_as(Role::Auditor, &format!("/api/v1/audit/events?fund_id={id}")).await).await;
    events["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn verify_passes_on_an_intact_trail_and_over_a_range() {
    let app = spawn_app().await;
    let seqs = busy_fund(&app).await;
    let v = verify(&app, "").await;
    assert_eq!(v["ok"], true);
    assert!(v["checked"].as_u64().unwrap() >= 6);
    assert!(v.get("first_broken").is_none());
    let v = verify(&app, &format!("?from_seq={}&to_seq={}", seqs[2], seqs[4])).await;
    assert_eq!(v["ok"], true);
    assert_eq!(v["checked"], 3);
    app.finish().await;
}

/// A verification of the whole trail while writers commit on the streams it checks: every run
/// answers a sound trail (a write committed between reading the events and the heads used to be
/// reported as a `head_mismatch`), and the last one, after the writes, checks every event.
#[tokio::test]
async fn verify_while_writes_commit_never_reports_a_break_that_is_not_there() {
    let app = spawn_app().await;
    fill_trail(&app, 20_000).await;
    let funds = [app.fund("900000.00").await, app.fund("900000.00").await];
    let funds: Vec<String> = funds.iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
    let done = std::sync::atomic::AtomicBool::new(false);
    let writes = async {
        for round in 0..60 {
            post_sources(&app, &funds[round % 2], &["1.00"]).await;
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let verifies = async {
        let mut runs = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) || runs < 3 {
            let v = verify(&app, "").await;
            assert_eq!(v["ok"], true, "run {runs} under writes: {v}");
            runs += 1;
        }
        runs
    };
    let ((), runs) = tokio::join!(writes, verifies);
    assert!(runs >= 3);
    let v = verify(&app, "").await;
    assert_eq!(v["ok"], true);
    let events = app.count("SELECT count(*) AS n FROM audit_events");
    assert_eq!(v["checked"].as_i64(), Some(events));
    app.finish().await;
}

#[tokio::test]
async fn verify_names_an_altered_event() {
    let app = spawn_app().await;
    let seqs = busy_fund(&app).await;
    tamper(&app, &format!("UPDATE audit_events SET amount = 4000.00 WHERE seq = {}", seqs[3]));
    let v = verify(&app, "").await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_broken"]["seq"], seqs[3]);
    assert_eq!(v["first_broken"]["reason"], "hash_mismatch");
    // A range that starts after the altered event still verifies; one that covers it does not.
    assert_eq!(verify(&app, &format!("?from_seq={}", seqs[4])).await["ok"], true);
    assert_eq!(verify(&app, &format!("?from_seq={}&to_seq={}", seqs[2], seqs[3])).await["ok"], false);
    app.finish_tampered().await;
}

#[tokio::test]
async fn verify_names_the_event_after_a_deleted_one() {
    let app = spawn_app().await;
    let seqs = busy_fund(&app).await;
    tamper(&app, &format!("DELETE FROM audit_events WHERE seq = {}", seqs[2]));
    let v = verify(&app, "").await;
    assert_eq!(v["first_broken"]["seq"], seqs[3]);
    assert_eq!(v["first_broken"]["reason"], "chain_broken");
    app.finish_tampered().await;
}

#[tokio::test]
async fn verify_names_swapped_events() {
    let app = spawn_app().await;
    let seqs = busy_fund(&app).await;
    let (a, b) = (seqs[2], seqs[3]);
    tamper(
        &app,
        &format!(
            "UPDATE audit_events SET seq = -1 WHERE seq = {a}; UPDATE audit_events SET seq = {a} WHERE seq = {b}; \
             UPDATE audit_events SET seq = {b} WHERE seq = -1"
        ),
    );
    let v = verify(&app, "").await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_broken"]["seq"], a);
    app.finish_tampered().await;
}

#[tokio::test]
async fn a_trail_cut_back_before_a_kept_checkpoint_is_detected() {
    let app = spawn_app().await;
    let seqs = busy_fund(&app).await;
    let r = app.post_as(Role::Auditor, "/api/v1/audit/checkpoints", json!({})).await;
    assert_eq!(r.status(), 201);
    let cp = body(r).await;
    let (cp_id, cp_hash) = (cp["id"].as_i64().unwrap(), cp["hash"].as_str().unwrap().to_owned());
    let kept = format!("?checkpoint_id={cp_id}&checkpoint_hash={cp_hash}");
    assert_eq!(verify(&app, &kept).await["ok"], true);
    // Someone with database access removes the last two events of the stream, rewinds its head
    // to match, and removes the checkpoint that remembers it.
    let last = *seqs.last().unwrap();
    let keep = seqs[seqs.len() - 3];
    // (The Merkle log names every event; it goes too, or the events could not be deleted.)
    app.sql(
        "BEGIN; ALTER TABLE log_leaves DISABLE TRIGGER USER; ALTER TABLE log_nodes DISABLE TRIGGER USER; \
         DELETE FROM log_leaves; DELETE FROM log_nodes; DELETE FROM log_queue; \
         UPDATE log_head SET size = 0, root = sha256(''::bytea); \
         ALTER TABLE log_leaves ENABLE TRIGGER USER; ALTER TABLE log_nodes ENABLE TRIGGER USER; COMMIT;",
    );
    tamper(&app, &format!("DELETE FROM audit_events WHERE seq > {keep} AND seq <= {last}"));
    app.sql(&format!(
        "UPDATE audit_heads h SET stream_seq = e.stream_seq, hash = e.hash FROM audit_events e \
         WHERE e.seq = {keep} AND h.stream = e.stream"
    ));
    app.sql(
        "BEGIN; ALTER TABLE audit_checkpoints DISABLE TRIGGER USER; DELETE FROM audit_checkpoints; \
         ALTER TABLE audit_checkpoints ENABLE TRIGGER USER; COMMIT;",
    );
    // Every chain link left is intact, so only the checkpoint the auditor kept can tell.
    assert_eq!(verify(&app, "").await["ok"], true);
    let v = verify(&app, &kept).await;
    assert_eq!(v["ok"], false);
    assert_eq!(v["first_broken"]["reason"], "head_mismatch");
    app.finish_tampered().await;
}

#[tokio::test]
async fn an_export_verifies_offline_and_detects_an_edit() {
    let app = spawn_app().await;
    busy_fund(&app).await;
    let t = app.token(Role::Auditor).await;
    let r = app.send(Method::GET, "/api/v1/audit/export?format=ndjson", Some(&t), None, &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let total = app.count("SELECT count(*) AS n FROM audit_events");
    assert_eq!(lines.len() as i64, total);
    let v = unionfund::service::audit::verify_export(lines.clone().into_iter().map(Ok), None).unwrap();
    assert!(v.ok);
    assert_eq!(v.checked as i64, total);
    // Change one amount in the file: the offline check names that event.
    let mut edited = lines.clone();
    let i = edited.iter().position(|l| l.contains("\"amount\":\"3.00\"")).unwrap();
    edited[i] = edited[i].replace("\"amount\":\"3.00\"", "\"amount\":\"300.00\"");
    let seq: Value = serde_json::from_str(&edited[i]).unwrap();
    let v = unionfund::service::audit::verify_export(edited.into_iter().map(Ok), None).unwrap();
    assert!(!v.ok);
    assert_eq!(v.first_broken.unwrap().seq, seq["seq"].as_i64().unwrap());
    let csv = app.send(Method::GET, "/api/v1/audit/export?format=csv", Some(&t), None, &[]).await.text().await.unwrap();
    assert!(csv.starts_with("seq,stream,stream_seq,occurred_at,"));
    assert_eq!(csv.lines().count() as i64, total + 1);
    app.finish().await;
}

#[tokio::test]
async fn audit_filters_and_pagination() {
    let app = spawn_app().await;
    let (id, _) = create_fund(&app, "100.00").await;
    for amount in ["5.00", "50.00", "500.00"] {
        add_source(&app, &id, json!({"kind": "other", "amount": amount})).await;
    }
    let page = body(
        app.get_as(Role::Auditor, &format!("/api/v1/audit/events?fund_id={id}&amount_min=10.00&amount_max=100.00"))
            .await,
    )
    .await;
    let amounts: Vec<&str> = page["items"].as_array().unwrap().iter().map(|e| e["amount"].as_str().unwrap()).collect();
    assert_eq!(amounts, ["100.00", "50.00"]);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = cursor.as_ref().map_or(String::new(), |c| format!("&cursor={c}"));
        let p = body(app.get_as(Role::Auditor, &format!("/api/v1/audit/events?fund_id={id}&limit=2{q}")).await).await;
        seen.extend(p["items"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()));
        match p["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    problem(app.get_as(Role::Clerk, "/api/v1/audit/events").await, 403, "forbidden").await;
    app.finish().await;
}

/// The trail's filters and the item/entry correlation are index-backed on a trail of real
/// size, once the statistics know it (the plan a filtered page gets; a sequential scan of
/// every event per page is what these indexes remove).
#[tokio::test]
async fn the_trails_filters_and_movements_by_entry_are_index_backed() {
    let app = spawn_app().await;
    fill_trail(&app, 20_000).await;
    app.sql("ANALYZE audit_events; ANALYZE item_movements");
    // The demo-free test books hold no movements: for that table the question is only whether
    // an index serves the predicate at all (sequential scans off), not what 0 rows would choose.
    let plan = |sql: &str, no_seqscan: bool| -> String {
        #[derive(diesel::QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text)]
            #[diesel(column_name = "QUERY PLAN")]
            line: String,
        }
        use diesel::RunQueryDsl;
        let mut conn = app.db.conn();
        if no_seqscan {
            diesel::connection::SimpleConnection::batch_execute(&mut conn, "SET enable_seqscan = off").unwrap();
        }
        let lines: Vec<Line> = diesel::sql_query(format!("EXPLAIN {sql}")).load(&mut conn).unwrap();
        lines.into_iter().map(|l| l.line).collect::<Vec<_>>().join("\n")
    };
    for (sql, index, no_seqscan) in [
        (
            "SELECT * FROM audit_events WHERE request_id = 'r-1' ORDER BY seq LIMIT 51",
            "audit_events_request_idx",
            false,
        ),
        (
            "SELECT * FROM audit_events WHERE stage = 'disbursement' ORDER BY seq LIMIT 51",
            "audit_events_stage_idx",
            false,
        ),
        (
            "SELECT * FROM audit_events WHERE amount >= 1000000.00 ORDER BY seq LIMIT 51",
            "audit_events_amount_idx",
            false,
        ),
        (
            "SELECT * FROM item_movements WHERE entry_id = '00000000-0000-0000-0000-000000000001'",
            "item_movements_entry_idx",
            true,
        ),
        (
            "SELECT amount FROM fund_sources WHERE fund_id = '00000000-0000-0000-0000-000000000001' \
             AND kind = 'upper_allocation'",
            "fund_sources_kind_idx",
            true,
        ),
    ] {
        let p = plan(sql, no_seqscan);
        assert!(p.contains(index), "{sql}\n{p}");
    }
    app.finish().await;
}

/// A fund's matching figures come from its upper allocations (each requirement rounded as its
/// document states it) and its local matching summed, in the list and in the fund's own read,
/// whatever else the fund holds.
#[tokio::test]
async fn the_matching_figures_read_allocations_and_matching_among_many_other_sources() {
    let app = spawn_app().await;
    let fund = app.fund("900000.00").await["id"].as_str().unwrap().to_owned();
    let post = |body: Value| {
        let app = &app;
        let fund = fund.clone();
        async move {
            let r = app.post_as(Role::FinanceOfficer, &format!("/api/v1/funds/{fund}/sources"), body).await;
            assert_eq!(r.status(), 201);
        }
    };
    // 0.333 × 1000.01 = 333.00333 → 333.00; 0.5 × 0.01 = 0.005 → 0.01, twice (half-up, one by
    // one: rounded once over the sum it would be 333.01).
    post(json!({"kind": "upper_allocation", "amount": "1000.01", "matching_ratio": "0.333", "reference": "U-1"})).await;
    post(json!({"kind": "upper_allocation", "amount": "0.01", "matching_ratio": "0.5", "reference": "U-2"})).await;
    post(json!({"kind": "upper_allocation", "amount": "0.01", "matching_ratio": "0.5", "reference": "U-3"})).await;
    for (i, a) in ["100.00", "200.50", "32.52"].iter().enumerate() {
        post(json!({"kind": "local_matching", "amount": a, "reference": format!("L-{i}")})).await;
    }
    post_sources(&app, &fund, &["5.00", "6.00", "7.00", "8.00"]).await;
    let one = body(app.get_as(Role::Auditor, &format!("/api/v1/funds/{fund}")).await).await;
    let list = body(app.get_as(Role::Auditor, "/api/v1/funds?limit=100").await).await;
    let listed = list["items"].as_array().unwrap().iter().find(|f| f["id"] == fund.as_str()).unwrap().clone();
    for f in [&one, &listed] {
        assert_eq!(f["matching_required"], "333.02", "{f}");
        assert_eq!(f["matching_provided"], "333.02", "{f}");
        assert_eq!(f["matching_ok"], true, "{f}");
    }
    app.finish().await;
}
