//! End-to-end over the wire: the real AWS SDK against moto, the real Code42
//! client against the Code42 simulator. One test binary (faster to link).

mod architecture;
mod chaos;
mod cli;
mod coverage;
mod doctor;
mod fleet;
mod harness;
mod lambda_binary;
mod ledger;
mod lifecycle;
mod organization;
mod safety;
mod trust;

use harness::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn new_workspace_user_is_moved_and_watch_paths_written_in_the_seed_format() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        "880000000000000002"
    )])));
    let fleet = fleet(&[("asmith", WIN)]);
    let env = env(&secret_for(&sim, "moved"), &[]);
    let app = app(&env).await;

    let report = app
        .handle(&creation_event(&fleet), deadline(30))
        .await
        .expect("handler succeeds")
        .report;
    let report = serde_json::to_value(&report).unwrap();

    assert_eq!(statuses(&report), ["configured"]);
    let ws = &report["workspaces"][0];
    assert_eq!(ws["workspace_id"], fleet.workspaces[0].0.as_str());
    assert_eq!(ws["code42_username"], "asmith@corp.example.com");
    assert_eq!(ws["actions"][0]["from_org_name"], "Default");
    assert_eq!(ws["actions"][0]["from_org_guid"], "880000000000000002");
    assert_eq!(ws["actions"][0]["applied"], true);
    assert_eq!(sim.user_org("u-1").await, WORKSPACES_ORG_GUID);

    // The PUT carries the seed's quoted items, keeps the inherited :main, and locks.
    let writes = sim.writes().await;
    let put = writes.iter().find(|w| w["method"] == "PUT").expect("a PUT");
    assert_eq!(
        put["body"],
        json!({"packets": [{"key": WATCH_KEY, "value": ["':main'", "'D:'"], "locked": true}]})
    );
    assert!(
        put["path"]
            .as_str()
            .unwrap()
            .starts_with("/api/v1/OrgSettings/1003")
    );
    // Stored and read back as the seed's GET shows it.
    let stored = sim.setting(1003).await;
    assert_eq!(stored["value"], "[':main', 'D:']");
    assert_eq!(stored["locked"], true);
    assert_eq!(report["org"]["status"], "configured");
    assert_eq!(report["org"]["after"]["raw"], "[':main', 'D:']");
    assert_eq!(report["org"]["before"]["scope"], "INHERITED");
    assert_eq!(report["summary"]["configured"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_event_again_in_a_fresh_process_makes_zero_writes() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        "880000000000000002"
    )])));
    let fleet = fleet(&[("asmith", WIN)]);
    let env = env(&secret_for(&sim, "twice"), &[]);
    let event = creation_event(&fleet);

    let (code, first) = invoke_cli(&env, &event);
    assert_eq!(code, 0, "{first}");
    assert_eq!(statuses(&first), ["configured"]);
    let writes_after_first = sim.counters().await["writes"].as_u64().unwrap();
    assert_eq!(writes_after_first, 2, "one move and one PUT");

    let (code, second) = invoke_cli(&env, &event);
    assert_eq!(code, 0, "{second}");
    assert_eq!(statuses(&second), ["compliant"]);
    assert_eq!(second["org"]["status"], "compliant");
    assert_eq!(
        sim.counters().await["writes"].as_u64().unwrap(),
        writes_after_first
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn existing_watch_path_entries_are_kept() {
    let mut seed = tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        WORKSPACES_ORG_GUID
    )]));
    seed["settings"]["1003"] =
        json!({WATCH_KEY: {"value": "['E:/Projects', ':main']", "locked": false, "scope": "ORG"}});
    let sim = Sim::start(&seed);
    let fleet = fleet(&[("asmith", WIN)]);
    let app = app(&env(&secret_for(&sim, "kept"), &[])).await;

    let report = app
        .handle(&creation_event(&fleet), deadline(30))
        .await
        .unwrap()
        .report;
    assert_eq!(
        statuses(&serde_json::to_value(&report).unwrap()),
        ["compliant"]
    );
    let stored = sim.setting(1003).await;
    assert_eq!(stored["value"], "['E:/Projects', ':main', 'D:']");
    assert_eq!(stored["locked"], true);
    assert_eq!(
        sim.counters().await["writes"],
        1,
        "only the setting was written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn user_not_in_code42_is_deferred_and_the_invocation_succeeds() {
    let (sim, fleet, app) = scenario(
        "deferred",
        json!([user(
            "u-9",
            "someone.else@corp.example.com",
            "880000000000000002"
        )]),
        &[("newhire", WIN)],
        &[],
    )
    .await;

    let report = report_of(&app, &creation_event(&fleet)).await;
    assert_eq!(statuses(&report), ["deferred"]);
    assert!(reason_of(&report, 0).contains("not in Code42 yet"));
    assert_eq!(
        sim.user_org("u-9").await,
        "880000000000000002",
        "nobody else was moved"
    );

    // The agent registers the user at first sign-in; the next check moves them.
    sim.add_user(user(
        "u-10",
        "newhire@corp.example.com",
        "880000000000000002",
    ))
    .await;
    let report = report_of(&app, &creation_event(&fleet)).await;
    assert_eq!(statuses(&report), ["configured"]);
    assert_eq!(sim.user_org("u-10").await, WORKSPACES_ORG_GUID);
}

#[tokio::test(flavor = "multi_thread")]
async fn non_windows_workspace_is_skipped_without_a_code42_user_lookup() {
    let (sim, fleet, app) = scenario(
        "linux",
        json!([user("u-1", "linus@corp.example.com", "880000000000000002")]),
        &[("linus", "UBUNTU_22_04")],
        &[],
    )
    .await;

    let report = report_of(&app, &creation_event(&fleet)).await;
    assert_eq!(statuses(&report), ["skipped"]);
    assert!(reason_of(&report, 0).contains("UBUNTU_22_04"));
    assert!(
        sim.counters().await["by_route"]
            .get("GET /v1/users")
            .is_none()
    );
    assert_eq!(sim.user_org("u-1").await, "880000000000000002");
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_event_with_a_failed_request_reports_every_entry() {
    let sim = Sim::start(&tenant(json!([
        user("u-1", "asmith@corp.example.com", "880000000000000002"),
        user("u-2", "CWong@corp.example.com", WORKSPACES_ORG_GUID),
    ])));
    let fleet = fleet(&[
        ("asmith", WIN),
        ("cwong", "WINDOWS_11"),
        ("dlinux", "AMAZON_LINUX_2"),
    ]);
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/create-workspaces-batch.json")).unwrap(),
    )
    .unwrap();
    event["detail"]["responseElements"]["pendingRequests"] =
        creation_event(&fleet)["detail"]["responseElements"]["pendingRequests"].clone();
    let app = app(&env(&secret_for(&sim, "batch"), &[])).await;

    let report = report_of(&app, &event).await;
    assert_eq!(
        statuses(&report),
        ["configured", "compliant", "skipped", "skipped"]
    );
    let failed = &report["workspaces"][3];
    assert_eq!(failed["workspace_id"], Value::Null);
    assert_eq!(failed["workspaces_user"], "bjones");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("ResourceNotFound.Bundle")
    );
    assert_eq!(report["summary"]["total"], 4);
    assert_eq!(report["summary"]["skipped"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_token_is_refreshed_once() {
    let (sim, fleet, app) = scenario(
        "expiry",
        json!([user("u-1", "asmith@corp.example.com", WORKSPACES_ORG_GUID)]),
        &[("asmith", WIN)],
        &[("CODE42_ORG_CHECK_TTL_SECONDS", "0")],
    )
    .await;
    let event = creation_event(&fleet);

    app.handle(&event, deadline(30)).await.expect("first run");
    let tokens_before = sim.counters().await["token_requests"].as_u64().unwrap();
    assert_eq!(tokens_before, 2, "one gateway and one console token");

    sim.expire_tokens().await;
    let report = app
        .handle(&event, deadline(30))
        .await
        .expect("second run after expiry")
        .report;
    assert_eq!(
        statuses(&serde_json::to_value(report).unwrap()),
        ["compliant"]
    );
    let counters = sim.counters().await;
    assert_eq!(
        counters["token_requests"].as_u64().unwrap(),
        tokens_before + 2,
        "{counters}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_with_retry_after_is_waited_out() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        "880000000000000002"
    )])));
    sim.fault(
        json!({"method": "GET", "path": "/v1/users", "status": 429, "retry_after": 1, "times": 1}),
    )
    .await;
    let fleet = fleet(&[("asmith", WIN)]);
    let app = app(&env(&secret_for(&sim, "ratelimit"), &[])).await;

    let (outcome, metrics) = app
        .handle_measured(&creation_event(&fleet), deadline(30))
        .await;
    let report = outcome.expect("succeeds after waiting").report;
    // Measured where Code42 sees it: the retry arrives Retry-After (1 s)
    // after the 429'd request, and not more than 1 s of slack later.
    let at = sim.arrivals("GET", "/v1/users").await;
    assert_eq!(at.len(), 2, "{at:?}");
    let waited = at[1] - at[0];
    assert!(
        (1.0..2.0).contains(&waited),
        "waited {waited:.3} s for Retry-After: 1"
    );
    assert_eq!(
        statuses(&serde_json::to_value(report).unwrap()),
        ["configured"]
    );
    let counters = sim.counters().await;
    assert_eq!(counters["by_route"]["GET /v1/users"], 2);
    // The invocation's metrics count the same traffic the tenant saw.
    let emf = &metrics.emf("WorkspacesCode42", 0)[0];
    assert_eq!(emf["Code42Requests"], counters["total"]);
    assert_eq!(emf["Code42RateLimited"], 1);
    assert_eq!(emf["Code42Retries"], 1);
    assert_eq!(emf["UsersMoved"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limit_longer_than_the_deadline_fails_retryable_without_waiting() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        "880000000000000002"
    )])));
    sim.fault(json!({"method": "GET", "path": "/v1/users", "status": 429, "retry_after": 120, "times": -1})).await;
    let fleet = fleet(&[("asmith", WIN)]);
    let app = app(&env(&secret_for(&sim, "ratelimit-long"), &[])).await;

    let failure = app
        .handle(&creation_event(&fleet), deadline(10))
        .await
        .unwrap_err();
    let returned = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    // Without waiting: one request, and the answer back well within a second of it.
    let at = sim.arrivals("GET", "/v1/users").await;
    assert_eq!(at.len(), 1, "{at:?}");
    assert!(
        returned - at[0] < 1.0,
        "returned {:.3} s after the 429",
        returned - at[0]
    );
    assert!(failure.retryable());
    assert!(
        failure
            .to_string()
            .contains("1 of 1 WorkSpace(s) failed (1 retryable)"),
        "{failure}"
    );
    let report = failure.report.unwrap();
    assert!(
        report.workspaces[0]
            .error
            .as_deref()
            .unwrap()
            .contains("HTTP 429")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn persistent_5xx_is_a_retryable_failure_with_a_clear_message() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        "880000000000000002"
    )])));
    sim.fault(json!({"method": "GET", "path": "/v1/users", "status": 503, "times": -1, "body": {"error": "maintenance"}})).await;
    let fleet = fleet(&[("asmith", WIN)]);
    let env = env(&secret_for(&sim, "outage"), &[]);

    let (code, out) = invoke_cli(&env, &creation_event(&fleet));
    assert_eq!(code, 1);
    assert_eq!(out["retryable"], true);
    let error = out["result"]["workspaces"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("GET /v1/users failed with HTTP 503 after 3 attempt(s)"),
        "{error}"
    );
    assert!(error.contains("maintenance"), "{error}");
    assert_eq!(sim.counters().await["by_route"]["GET /v1/users"], 3);
    assert_eq!(sim.user_org("u-1").await, "880000000000000002");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_secret_fails_with_a_clear_error() {
    let fleet = fleet(&[("asmith", WIN)]);
    let env = env("code42/does-not-exist", &[]);
    let (code, out) = invoke_cli(&env, &creation_event(&fleet));
    assert_eq!(code, 1);
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains("secret \"code42/does-not-exist\" was not found"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_secret_fails_naming_the_field_not_the_value() {
    let fleet = fleet(&[("asmith", WIN)]);
    let name = format!("malformed-{}", std::process::id());
    seed_aws(
        json!({"secrets": [{"name": name, "value": {"api_url": "https://api.us.code42.com", "api_client_id": "id", "api_client_sercet": CLIENT_SECRET}}]}),
    );
    let (code, out) = invoke_cli(&env(&name, &[]), &creation_event(&fleet));
    assert_eq!(code, 1);
    assert_eq!(out["retryable"], false);
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains("field \"api_client_secret\" is missing"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_mode_reports_drift_and_writes_nothing() {
    let (sim, fleet, app) = scenario(
        "verify",
        json!([user("u-1", "asmith@corp.example.com", "880000000000000002")]),
        &[("asmith", WIN)],
        &[("CODE42_MODE", "verify")],
    )
    .await;

    let report = report_of(&app, &creation_event(&fleet)).await;
    assert_eq!(report["mode"], "verify");
    assert_eq!(statuses(&report), ["drift"]);
    assert_eq!(report["workspaces"][0]["actions"][0]["applied"], false);
    assert_eq!(report["org"]["status"], "drift");
    assert!(
        report["org"]["finding"]
            .as_str()
            .unwrap()
            .contains("missing D:")
    );
    let counters = sim.counters().await;
    assert_eq!(counters["writes"], 0, "{counters}");
    assert!(sim.writes().await.is_empty());
    assert_eq!(sim.user_org("u-1").await, "880000000000000002");
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_org_is_never_left() {
    let (sim, fleet, app) = scenario(
        "protected",
        json!([user("u-1", "ceo@corp.example.com", "880000000000000004")]),
        &[("ceo", WIN)],
        &[("CODE42_PROTECTED_ORGS", "Executives")],
    )
    .await;

    let report = report_of(&app, &creation_event(&fleet)).await;
    assert_eq!(statuses(&report), ["skipped"]);
    assert!(reason_of(&report, 0).contains("protected org \"Executives\""));
    assert_eq!(sim.user_org("u-1").await, "880000000000000004");
}

#[tokio::test(flavor = "multi_thread")]
async fn forbidden_fails_the_invocation_and_moves_nobody() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        "880000000000000002"
    )])));
    sim.fault(json!({"method": "PUT", "path": "/api/v1/OrgSettings", "status": 403, "times": -1}))
        .await;
    let fleet = fleet(&[("asmith", WIN)]);
    let app = app(&env(&secret_for(&sim, "forbidden"), &[])).await;

    let failure = app
        .handle(&creation_event(&fleet), deadline(30))
        .await
        .unwrap_err();
    assert!(!failure.retryable());
    assert!(failure.to_string().contains("HTTP 403"), "{failure}");
    assert!(
        failure.to_string().contains("Customer Cloud Admin"),
        "{failure}"
    );
    assert_eq!(
        sim.user_org("u-1").await,
        "880000000000000002",
        "no user moved before the org is ready"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_create_call_is_a_no_op_and_other_events_are_refused() {
    let env = env("code42/unused", &[]);
    let failed_call: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/create-workspaces-failed-call.json")).unwrap(),
    )
    .unwrap();
    let (code, out) = invoke_cli(&env, &failed_call);
    assert_eq!(code, 0, "{out}");
    assert!(out["note"].as_str().unwrap().contains("AccessDenied"));
    assert_eq!(out["summary"]["total"], 0);

    let mut other: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/terminate-workspaces.json")).unwrap(),
    )
    .unwrap();
    other["detail"]["eventName"] = json!("RebootWorkspaces");
    let (code, out) = invoke_cli(&env, &other);
    assert_eq!(code, 1);
    assert!(
        out["error"].as_str().unwrap().contains("unsupported input"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simulator_answers_the_seed_requests_like_the_seed_article_shows() {
    // The seed's PUT (quoted items), then its GET: the body must match the
    // article's golden example except for the timestamp and id.
    let sim = Sim::start(&tenant(json!([])));
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!(
            "{}/api/v3/oauth/token?grant_type=client_credentials",
            sim.url
        ))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["data"]["access_token"].as_str().unwrap();
    let put = http
        .put(format!("{}/api/v1/OrgSettings/1003", sim.url))
        .bearer_auth(token)
        .json(
            &json!({"packets": [{"key": WATCH_KEY, "value": ["':main'", "'D:'"], "locked": true}]}),
        )
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success());
    let mut got: Value = http
        .get(format!(
            "{}/api/v1/OrgSettings/1003?keys={WATCH_KEY}",
            sim.url
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut golden: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("tests/fixtures/seed-orgsettings-get.json")).unwrap(),
    )
    .unwrap();
    for doc in [&mut got, &mut golden] {
        doc["metadata"]["timestamp"] = Value::Null;
        doc["data"][WATCH_KEY]["id"] = Value::Null;
    }
    assert_eq!(got, golden);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_token_in_the_secret_is_re_read_on_401() {
    let mut seed = tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        WORKSPACES_ORG_GUID
    )]));
    seed["static_tokens"] = json!(["token-v1"]);
    compliant_org(&mut seed);
    let sim = Sim::start(&seed);
    let name = format!("rotating-{}", std::process::id());
    seed_aws(
        json!({"secrets": [{"name": name, "value": {"api_url": sim.url, "token": "token-v1"}}]}),
    );
    let fleet = fleet(&[("asmith", WIN)]);
    let app = app(&env(&name, &[("CODE42_ORG_CHECK_TTL_SECONDS", "0")])).await;
    app.handle(&creation_event(&fleet), deadline(30))
        .await
        .expect("works with v1");

    // Rotate: the secret gets v2 and Code42 stops accepting v1.
    let sdk = moto_sdk("us-east-1").await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id(&name)
        .secret_string(json!({"api_url": sim.url, "token": "token-v2"}).to_string())
        .send()
        .await
        .unwrap();
    sim.configure(json!({"static_tokens": ["token-v2"]})).await;

    let report = app
        .handle(&creation_event(&fleet), deadline(30))
        .await
        .expect("re-read the secret")
        .report;
    assert_eq!(
        statuses(&serde_json::to_value(report).unwrap()),
        ["compliant"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqs_batch_reports_only_the_failed_messages() {
    let sim = Sim::start(&tenant(json!([
        user("u-1", "asmith@corp.example.com", "880000000000000002"),
        user("u-2", "bfails@corp.example.com", "880000000000000002"),
        user("u-3", "cwong@corp.example.com", "880000000000000002"),
    ])));
    sim.fault(json!({"method": "GET", "path": "/v1/users", "query_contains": "bfails", "status": 500, "times": -1})).await;
    let fleet = fleet(&[("asmith", WIN), ("bfails", WIN), ("cwong", WIN)]);
    let (ws_a, ws_b) = (&fleet.workspaces[0].0, &fleet.workspaces[1].0);
    let creation_of_c = creation_event(&Fleet {
        directory_id: fleet.directory_id.clone(),
        workspaces: vec![fleet.workspaces[2].clone()],
    });
    let batch = json!({"Records": [
        sqs_record("m-a", &json!({"workspace_id": ws_a, "reason": "backfill"}).to_string()),
        sqs_record("m-b", &json!({"workspace_id": ws_b, "directory_id": fleet.directory_id, "reason": "reconcile"}).to_string()),
        sqs_record("m-c", &creation_of_c.to_string()),
        sqs_record("m-bad", "{\"workspace_id\": 42}"),
    ]});
    let env = env(&secret_for(&sim, "sqs"), &[]);

    let (code, out) = invoke_cli(&env, &batch);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "m-b"}, {"itemIdentifier": "m-bad"}]})
    );
    assert_eq!(sim.user_org("u-1").await, WORKSPACES_ORG_GUID);
    assert_eq!(sim.user_org("u-3").await, WORKSPACES_ORG_GUID);
    assert_eq!(sim.user_org("u-2").await, "880000000000000002");
}

#[tokio::test(flavor = "multi_thread")]
async fn login_of_a_deferred_user_now_in_code42_moves_them_once() {
    let (sim, fleet, app) = scenario("login", json!([]), &[("latecomer", WIN)], &[]).await;
    let report = app
        .handle(&creation_event(&fleet), deadline(30))
        .await
        .unwrap()
        .report;
    assert_eq!(
        statuses(&serde_json::to_value(report).unwrap()),
        ["deferred"]
    );

    // First sign-in: the agent registers the user, then the login event arrives.
    sim.add_user(user(
        "u-7",
        "latecomer@corp.example.com",
        "880000000000000002",
    ))
    .await;
    let mut login: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/workspaces-access.json")).unwrap(),
    )
    .unwrap();
    login["detail"]["workspaceId"] = json!(fleet.workspaces[0].0);
    login["detail"]["directoryId"] = json!(fleet.directory_id);
    let report = app.handle(&login, deadline(30)).await.unwrap().report;
    let report = serde_json::to_value(report).unwrap();
    assert_eq!(statuses(&report), ["configured"]);
    assert_eq!(report["input"], "WorkSpaces Access");
    assert_eq!(sim.user_org("u-7").await, WORKSPACES_ORG_GUID);

    // Logins happen all day: a WorkSpace just found compliant and covered
    // (its agent registered) is not looked up again.
    let host = computer_name(&fleet.workspaces[0].0);
    sim.add_agent(
        json!({"agentId": "a-late", "userId": "u-7", "name": host, "osHostname": host,
        "appVersion": "1.6.0", "active": true}),
    )
    .await;
    let report = app.handle(&login, deadline(30)).await.unwrap().report;
    assert_eq!(
        statuses(&serde_json::to_value(report).unwrap()),
        ["compliant"]
    );
    let lookups = sim.counters().await["by_route"]["GET /v1/users"]
        .as_u64()
        .unwrap();
    let report = app.handle(&login, deadline(30)).await.unwrap().report;
    assert!(
        report.workspaces[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("checked")
    );
    assert_eq!(
        sim.counters().await["by_route"]["GET /v1/users"]
            .as_u64()
            .unwrap(),
        lookups
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn token_endpoint_errors_never_echo_their_body() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        "880000000000000002"
    )])));
    sim.fault(
        json!({"method": "POST", "path": "/v1/oauth", "status": 500, "times": -1,
                     "body": {"debug": format!("client_secret={CLIENT_SECRET}")}}),
    )
    .await;
    let fleet = fleet(&[("asmith", WIN)]);
    // invoke_cli also asserts that the secret appears nowhere in stdout or stderr.
    let (code, out) = invoke_cli(
        &env(&secret_for(&sim, "token-500"), &[]),
        &creation_event(&fleet),
    );
    assert_eq!(code, 1);
    assert_eq!(out["retryable"], true);
    let error = out["error"].as_str().unwrap();
    assert!(
        error.contains("POST /v1/oauth failed with HTTP 500 after 3 attempt(s): (body withheld)"),
        "{error}"
    );
}

/// Trust: a 403 on one user's move fails that WorkSpace's message only; the
/// rest of the SQS batch is handled (it used to fail the whole batch).
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_move_fails_only_its_own_message() {
    let sim = Sim::start(&tenant(json!([
        user("f-1", "moveok@corp.example.com", "880000000000000002"),
        user("f-2", "movedenied@corp.example.com", "880000000000000002"),
    ])));
    sim.fault(json!({"method": "POST", "path": "/v1/users/f-2/move", "status": 403, "times": -1}))
        .await;
    let fleet = fleet(&[("moveok", WIN), ("movedenied", WIN)]);
    let message =
        |i: usize| json!({"workspace_id": fleet.workspaces[i].0, "reason": "backfill"}).to_string();
    let batch =
        json!({"Records": [sqs_record("m-ok", &message(0)), sqs_record("m-denied", &message(1))]});
    let (code, out) = invoke_cli(&env(&secret_for(&sim, "move-403"), &[]), &batch);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        json!({"batchItemFailures": [{"itemIdentifier": "m-denied"}]})
    );
    assert_eq!(sim.user_org("f-1").await, WORKSPACES_ORG_GUID);
    assert_eq!(sim.user_org("f-2").await, "880000000000000002");
}
