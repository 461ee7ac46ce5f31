//! Safety over the wire: credential rotation, Retry-After dates, redirects and
//! the client-side rate limit, against the Code42 simulator and moto.

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use workspaces_code42::app::NoProgress;
use workspaces_code42::domain::ids::WorkspaceId;
use workspaces_code42::domain::model::{FleetAction, FleetRequest};

use crate::harness::*;

const DEFAULT_ORG: &str = "880000000000000002";

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_api_client_secret_is_re_read_when_the_token_endpoint_refuses() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        WORKSPACES_ORG_GUID
    )])));
    let name = secret_for(&sim, "rotate-client");
    let fleet = fleet(&[("asmith", WIN)]);
    let app = app(&env(&name, &[("CODE42_ORG_CHECK_TTL_SECONDS", "0")])).await;
    app.handle(&creation_event(&fleet), deadline(30))
        .await
        .expect("works with the first secret");

    // Rotate the client secret in Code42 and in Secrets Manager; old tokens die.
    sim.rotate_clients(json!([{"id": CLIENT_ID, "secret": "rotated-value-2"}]))
        .await;
    sim.revoke_tokens().await;
    let sdk = moto_sdk("us-east-1").await;
    aws_sdk_secretsmanager::Client::new(&sdk)
        .put_secret_value()
        .secret_id(&name)
        .secret_string(
            json!({"api_url": sim.url, "api_client_id": CLIENT_ID, "api_client_secret": "rotated-value-2"})
                .to_string(),
        )
        .send()
        .await
        .unwrap();

    let report = app
        .handle(&creation_event(&fleet), deadline(30))
        .await
        .expect("the warm container re-reads the rotated secret")
        .report;
    assert_eq!(
        statuses(&serde_json::to_value(report).unwrap()),
        ["compliant"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_as_an_http_date_is_waited_out() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        DEFAULT_ORG
    )])));
    let fleet = fleet(&[("asmith", WIN)]);
    let app = app(&env(&secret_for(&sim, "retry-date"), &[])).await;
    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3));
    sim.fault(
        json!({"method": "GET", "path": "/v1/users", "status": 429, "retry_after": at, "times": 1}),
    )
    .await;
    let report = app
        .handle(&creation_event(&fleet), deadline(30))
        .await
        .expect("succeeds after waiting")
        .report;
    // Measured where Code42 sees it. The date has whole seconds, so the wait
    // is between 2 and 3 s after the 429; 1 s of slack above.
    let at = sim.arrivals("GET", "/v1/users").await;
    assert_eq!(at.len(), 2, "{at:?}");
    let waited = at[1] - at[0];
    assert!(
        (2.0..4.0).contains(&waited),
        "waited {waited:.3} s for a date 3 s ahead"
    );
    assert_eq!(
        statuses(&serde_json::to_value(report).unwrap()),
        ["configured"]
    );
    assert_eq!(sim.counters().await["by_route"]["GET /v1/users"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redirect_on_move_is_an_error_and_never_followed() {
    let sim = Sim::start(&tenant(json!([user(
        "u-1",
        "asmith@corp.example.com",
        DEFAULT_ORG
    )])));
    sim.fault(
        json!({"method": "POST", "path": "/v1/users/u-1/move", "status": 302,
        "headers": {"Location": format!("{}/v1/orgs", sim.url)}, "times": -1}),
    )
    .await;
    let fleet = fleet(&[("asmith", WIN)]);
    let app = app(&env(&secret_for(&sim, "redirect"), &[])).await;
    let failure = app
        .handle(&creation_event(&fleet), deadline(30))
        .await
        .unwrap_err();
    let report = serde_json::to_value(failure.report.unwrap()).unwrap();
    let error = report["workspaces"][0]["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 302") && error.contains("never followed"),
        "{error}"
    );
    let counters = sim.counters().await;
    assert_eq!(
        counters["by_route"]["POST /v1/users/{id}/move"], 1,
        "not re-sent"
    );
    assert_eq!(
        counters["by_route"]["GET /v1/orgs"], 1,
        "the redirect was not followed"
    );
    assert_eq!(sim.user_org("u-1").await, DEFAULT_ORG);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_client_side_rate_limit_keeps_a_wide_backfill_free_of_429s() {
    let names: Vec<String> = (0..12).map(|i| format!("rl{i:02}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let sim = Sim::start(&compliant_tenant("u", &name_refs));
    sim.configure(json!({"rate_limit_per_second": 10})).await;
    let refs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), WIN)).collect();
    let fleet = fleet(&refs);
    let app = app(&env(
        &secret_for(&sim, "rate-limit"),
        &[("CODE42_MAX_RPS", "8"), ("CODE42_CONCURRENCY", "16")],
    ))
    .await;
    let mut request = FleetRequest::new(FleetAction::Verify);
    request.filter.workspace_ids = fleet
        .workspaces
        .iter()
        .map(|(id, _)| WorkspaceId::parse(id).unwrap())
        .collect();
    let report = app
        .fleet(&request, deadline(60), &NoProgress)
        .await
        .expect("verify succeeds");
    assert_eq!(report.summary.compliant, 12);
    let counters = sim.counters().await;
    assert_eq!(counters["rate_limited"], 0, "{counters}");
    assert!(counters["total"].as_u64().unwrap() >= 14, "{counters}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deferred_workspace_is_requeued_to_sqs_with_a_delay_and_its_attempt() {
    let sim = Sim::start(&tenant(json!([])));
    let fleet = fleet(&[("notyet", WIN)]);
    let sqs = sqs().await;
    let queue = create_queue(&sqs, "deferred").await;
    let app = app(&env(
        &secret_for(&sim, "deferred-requeue"),
        &[
            ("WORK_QUEUE_URL", &queue),
            ("CODE42_DEFERRED_DELAY_SECONDS", "3"),
        ],
    ))
    .await;
    let report = app
        .handle(&creation_event(&fleet), deadline(30))
        .await
        .expect("deferred is a success")
        .report;
    assert_eq!(report.requeued, Some(1));
    let immediately = sqs
        .receive_message()
        .queue_url(&queue)
        .send()
        .await
        .unwrap();
    assert!(
        immediately.messages().is_empty(),
        "delivered before its delay"
    );
    let later = sqs
        .receive_message()
        .queue_url(&queue)
        .wait_time_seconds(10)
        .send()
        .await
        .unwrap();
    let body: Value = serde_json::from_str(later.messages()[0].body().unwrap()).unwrap();
    assert_eq!(body["workspace_id"], fleet.workspaces[0].0.as_str());
    assert_eq!(
        (body["reason"].as_str(), body["attempt"].as_u64()),
        (Some("creation"), Some(1))
    );
}

/// The adaptive bound under real 429s from the simulator: requests in flight
/// (counted where Code42 answers them) never exceed the highest bound the
/// client reports, nor CODE42_CONCURRENCY, and a burst of 429s halves it.
#[tokio::test(flavor = "multi_thread")]
async fn the_adaptive_bound_halves_on_429s_and_bounds_the_requests_in_flight() {
    let names: Vec<String> = (0..48).map(|i| format!("bound{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let sim = Sim::start(&compliant_tenant("bd", &refs));
    sim.configure(json!({"latency_ms": 30})).await;
    // Two 429s for a user looked up late in the pass, once the bound has grown.
    sim.fault(
        json!({"method": "GET", "path": "/v1/users", "query_contains": "bound40",
        "status": 429, "retry_after": 0, "times": 2}),
    )
    .await;
    let fleet = fleet(&refs.iter().map(|n| (*n, WIN)).collect::<Vec<_>>());
    let env = env(
        &secret_for(&sim, "adaptive-bound"),
        &[("CODE42_CONCURRENCY", "16"), ("CODE42_MAX_RPS", "0")],
    );
    let args = fleet.verify_args("json");
    let (code, out, err) = cli_in("us-east-1", "warn,workspaces_code42=debug", &env, &args);
    assert_eq!(code, 2, "agents are missing in this tenant: {out}");
    // "bound adapted before=N after=M", in order.
    let changes: Vec<(u64, u64)> = err
        .lines()
        .filter(|l| l.contains("bound adapted"))
        .filter_map(|l| {
            let number = |key: &str| -> Option<u64> {
                let rest = &l[l.find(key)? + key.len()..];
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()
            };
            Some((number("before=")?, number("after=")?))
        })
        .collect();
    let halvings: Vec<&(u64, u64)> = changes
        .iter()
        .filter(|(b, a)| *a == (*b / 2).max(1) && a < b)
        .collect();
    assert!(
        !halvings.is_empty(),
        "no halving after the 429s: {changes:?}"
    );
    let highest = changes.iter().map(|(b, a)| *b.max(a)).max().unwrap_or(4);
    assert!(highest <= 16, "{changes:?}");
    let in_flight = sim.counters().await["max_in_flight"].as_u64().unwrap();
    assert!(
        in_flight <= highest,
        "{in_flight} requests in flight at once, above the highest bound {highest}"
    );
    assert!(in_flight > 1, "the pass ran requests side by side");
}
