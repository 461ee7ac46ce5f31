//! Fleet runs over the wire: backfill, verify, max-moves, SQS fan-out and the
//! scheduled reconciliation.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::harness::*;

const DEFAULT_ORG: &str = "880000000000000002";

fn users(domain: &str, names: &[&str], org: &str) -> Vec<Value> {
    names
        .iter()
        .enumerate()
        .map(|(i, n)| user(&format!("{domain}-{i}"), &format!("{n}@{domain}"), org))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_moves_exactly_who_needs_it_and_a_second_run_writes_nothing() {
    let domain = "fleet1.example.com";
    let mut people = users(domain, &["amy", "bob", "cat"], DEFAULT_ORG);
    people.extend(users(
        "fleet1b.example.com",
        &["dan@fleet1.example.com"],
        WORKSPACES_ORG_GUID,
    ));
    people[3]["username"] = json!("dan@fleet1.example.com");
    let sim = Sim::start(&tenant(json!(people)));
    let fleet = fleet_in_new_directory(
        domain,
        &[
            ("amy".into(), "WINDOWS_10"),
            ("bob".into(), "WINDOWS_11"),
            ("cat".into(), "WINDOWS_SERVER_2022"),
            ("dan".into(), "WINDOWS_10"),
            ("eve".into(), "WINDOWS_10"),
            ("tux".into(), "UBUNTU_22_04"),
        ],
    );
    let env = env(&secret_for(&sim, "backfill"), &[]);
    let dir = fleet.directory_id.as_str();

    let (code, out) = cli(
        &env,
        &["backfill", "--directory-id", dir, "--output", "json"],
    );
    assert_eq!(code, 0, "{out}");
    let mut report: Value = serde_json::from_str(&out).unwrap();
    // No agents in this tenant: the five Windows WorkSpaces are not covered yet.
    let coverage = report["summary"]
        .as_object_mut()
        .unwrap()
        .remove("coverage")
        .unwrap();
    assert_eq!(
        report["summary"],
        json!({"total": 6, "configured": 3, "compliant": 1, "drift": 0, "skipped": 1, "deferred": 1, "failed": 0})
    );
    assert_eq!(
        coverage,
        json!({"covered": 0, "not_covered": 5, "by_reason": {"agent_missing": 4, "user_not_in_code42": 1}})
    );
    let moved: HashSet<String> = sim
        .writes()
        .await
        .iter()
        .filter(|w| w["method"] == "POST")
        .map(|w| w["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(moved.len(), 3, "{moved:?}");
    for i in 0..3 {
        assert_eq!(
            sim.user_org(&format!("{domain}-{i}")).await,
            WORKSPACES_ORG_GUID
        );
    }
    let writes = sim.counters().await["writes"].as_u64().unwrap();
    assert_eq!(writes, 4, "three moves and the setting");

    let (code, out) = cli(
        &env,
        &["backfill", "--directory-id", dir, "--output", "json"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        sim.counters().await["writes"].as_u64().unwrap(),
        writes,
        "second run wrote"
    );

    // eve is not in Code42 yet: verify flags it (exit 2), as a pipeline gate should.
    let (code, table) = cli(&env, &["verify", "--directory-id", dir]);
    assert_eq!(code, 2, "{table}");
    assert!(table.contains("deferred"), "{table}");
    assert!(
        table.contains(
            "6 WorkSpace(s): 0 configured, 4 compliant, 0 drift, 1 skipped, 1 deferred, 0 failed"
        ),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_drift_with_exit_2_and_writes_nothing() {
    let domain = "fleet2.example.com";
    let sim = Sim::start(&tenant(json!(users(domain, &["amy", "bob"], DEFAULT_ORG))));
    let fleet = fleet_in_new_directory(
        domain,
        &[("amy".into(), "WINDOWS_10"), ("bob".into(), "WINDOWS_10")],
    );
    let env = env(&secret_for(&sim, "verify-fleet"), &[]);

    let (code, out) = cli(
        &env,
        &[
            "verify",
            "--directory-id",
            &fleet.directory_id,
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 2, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["summary"]["drift"], 2);
    assert_eq!(report["org"]["status"], "drift");
    assert_eq!(sim.counters().await["writes"], 0);

    // --dry-run backfill is the same read-only plan.
    let (code, out) = cli(
        &env,
        &[
            "backfill",
            "--dry-run",
            "--directory-id",
            &fleet.directory_id,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 configured, 0 compliant, 2 drift"), "{out}");
    assert_eq!(sim.counters().await["writes"], 0);

    // --enqueue hands every WorkSpace to the deployed function's queue instead.
    let queue = create_queue(&sqs().await, "cli-enqueue").await;
    let (code, out) = cli(
        &env,
        &[
            "backfill",
            "--enqueue",
            "--queue-url",
            &queue,
            "--directory-id",
            &fleet.directory_id,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("2 WorkSpace(s) sent to the work queue"),
        "{out}"
    );
    let received = sqs()
        .await
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let reasons: Vec<String> = received
        .messages()
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["reason"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(reasons, ["backfill", "backfill"]);
    assert_eq!(sim.counters().await["writes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_stops_before_the_first_move_above_max_moves() {
    let domain = "fleet3.example.com";
    let sim = Sim::start(&tenant(json!(users(
        domain,
        &["a1", "a2", "a3"],
        DEFAULT_ORG
    ))));
    let fleet = fleet_in_new_directory(
        domain,
        &[
            ("a1".into(), "WINDOWS_10"),
            ("a2".into(), "WINDOWS_10"),
            ("a3".into(), "WINDOWS_10"),
        ],
    );
    let env = env(&secret_for(&sim, "max-moves"), &[]);

    let (code, out) = cli(
        &env,
        &[
            "backfill",
            "--directory-id",
            &fleet.directory_id,
            "--max-moves",
            "2",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 1, "{out}");
    let out: Value = serde_json::from_str(&out).unwrap();
    assert!(
        out["error"]
            .as_str()
            .unwrap()
            .contains("would move 3 user(s)"),
        "{out}"
    );
    assert_eq!(
        sim.counters().await["writes"],
        0,
        "nothing moved, nothing written"
    );

    let (code, _) = cli(
        &env,
        &[
            "backfill",
            "--directory-id",
            &fleet.directory_id,
            "--max-moves",
            "3",
        ],
    );
    assert_eq!(code, 0);
    assert_eq!(sim.counters().await["writes"], 4);
}

/// Receive everything from `queue` as Lambda would, run the SQS handler on
/// each batch, delete what succeeded; returns (succeeded, failed) WorkSpace ids.
async fn drain(
    app: &workspaces_code42::adapters::AwsApp,
    queue: &str,
) -> (Vec<String>, Vec<String>) {
    let sqs = sqs().await;
    let (mut ok, mut failed) = (Vec::new(), Vec::new());
    for _ in 0..1000 {
        let received = sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = received.messages();
        if messages.is_empty() {
            break;
        }
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                json!({"messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(),
                       "attributes": {}, "messageAttributes": {}, "eventSource": "aws:sqs",
                       "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work", "awsRegion": "us-east-1"})
            })
            .collect();
        let output = app
            .handle(&json!({"Records": records}), deadline(60))
            .await
            .expect("batch handled");
        let response = output.lambda_response();
        let failed_ids: HashSet<&str> = response["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap())
            .collect();
        let mut delete = Vec::new();
        for m in messages {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let ws = body["workspace_id"].as_str().unwrap().to_string();
            if failed_ids.contains(m.message_id().unwrap()) {
                failed.push(ws);
            } else {
                ok.push(ws);
                delete.push(
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(delete.len().to_string())
                        .receipt_handle(m.receipt_handle().unwrap())
                        .build()
                        .unwrap(),
                );
            }
        }
        if !delete.is_empty() {
            sqs.delete_message_batch()
                .queue_url(queue)
                .set_entries(Some(delete))
                .send()
                .await
                .unwrap();
        }
    }
    (ok, failed)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_workspaces_fan_out_through_sqs_and_every_one_is_accounted_for() {
    let domain = "fleet4.example.com";
    let names: Vec<String> = (0..1000)
        .map(|i| {
            if i % 150 == 7 {
                format!("fail{i:04}")
            } else {
                format!("u{i:04}")
            }
        })
        .collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut seed = tenant(json!(users(domain, &name_refs, DEFAULT_ORG)));
    compliant_org(&mut seed);
    let sim = Sim::start(&seed);
    sim.fault(json!({"method": "GET", "path": "/v1/users", "query_contains": "fail", "status": 500, "times": -1})).await;
    let fleet = fleet_in_new_directory(
        domain,
        &names
            .iter()
            .map(|n| (n.clone(), "WINDOWS_10"))
            .collect::<Vec<_>>(),
    );
    assert_eq!(fleet.workspaces.len(), 1000);
    let queue = sqs()
        .await
        .create_queue()
        .queue_name(format!("work-{}", std::process::id()))
        // Failed messages must not come back while the test drains the queue.
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "600",
        )
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let app = app(&env(
        &secret_for(&sim, "fanout"),
        &[
            ("WORK_QUEUE_URL", &queue),
            ("CODE42_CONCURRENCY", "8"),
            ("CODE42_MAX_RPS", "0"),
        ],
    ))
    .await;

    // The manual Lambda payload: with a queue configured, backfill plans, then
    // fans out (the cap covers every WorkSpace that can lead to a move).
    let payload =
        json!({"action": "backfill", "directory_ids": [fleet.directory_id], "max_moves": 1000});
    let report = app
        .handle(&payload, deadline(60))
        .await
        .expect("enqueued")
        .report;
    assert_eq!(report.enqueued, Some(1000));
    assert_eq!(
        sim.counters().await["writes"],
        0,
        "enqueueing calls no Code42 write"
    );

    let (ok, failed) = drain(&app, &queue).await;
    assert_eq!(
        ok.len() + failed.len(),
        1000,
        "every WorkSpace accounted for"
    );
    let expected_failed: HashSet<&String> = fleet
        .workspaces
        .iter()
        .filter(|(_, user)| user.starts_with("fail"))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(failed.iter().collect::<HashSet<_>>(), expected_failed);
    assert_eq!(
        sim.counters().await["writes"].as_u64().unwrap(),
        1000 - expected_failed.len() as u64
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schedule_verifies_everything_and_queues_only_what_is_not_compliant() {
    let domain = "fleet5.example.com";
    let mut people = users(domain, &["in1", "in2"], WORKSPACES_ORG_GUID);
    people.extend(users("fleet5b.example.com", &["out"], DEFAULT_ORG));
    people[2]["username"] = json!("out@fleet5.example.com");
    let mut seed = tenant(json!(people));
    compliant_org(&mut seed);
    let sim = Sim::start(&seed);
    const REGION: &str = "eu-west-1";
    let fleet = fleet_in_region(
        REGION,
        domain,
        &[
            ("in1".into(), "WINDOWS_10"),
            ("in2".into(), "WINDOWS_10"),
            ("out".into(), "WINDOWS_10"),
            ("new".into(), "WINDOWS_10"),
        ],
    );
    // A second directory in the region: the listing reads both (side by side).
    let linux = fleet_in_region(
        REGION,
        "fleet5-linux.example.com",
        &[("tux5".into(), "UBUNTU_22_04")],
    );
    let queue = sqs_in(REGION)
        .await
        .create_queue()
        .queue_name("reconcile")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let app = app_in(
        REGION,
        &env(
            &secret_in(REGION, &sim, "schedule"),
            &[("WORK_QUEUE_URL", &queue)],
        ),
    )
    .await;
    let schedule = json!({"version": "0", "id": "s-1", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2025-11-03T00:00:00Z", "region": REGION,
        "resources": ["arn:aws:events:eu-west-1:123456789012:rule/reconcile"], "detail": {}});

    let report = app
        .handle(&schedule, deadline(60))
        .await
        .expect("reconciled")
        .report;
    let ids: HashSet<&str> = report
        .workspaces
        .iter()
        .filter_map(|w| w.workspace_id.as_deref())
        .collect();
    assert_eq!(
        ids,
        fleet
            .workspaces
            .iter()
            .chain(&linux.workspaces)
            .map(|(id, _)| id.as_str())
            .collect()
    );
    assert_eq!(
        (
            report.summary.compliant,
            report.summary.drift,
            report.summary.deferred,
            report.summary.skipped
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(report.enqueued, Some(2));
    assert_eq!(
        sim.counters().await["writes"],
        0,
        "reconciliation's pass is read-only"
    );
    let received = sqs_in(REGION)
        .await
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let queued: HashSet<(String, String)> = received
        .messages()
        .iter()
        .map(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap())
        .map(|b| {
            (
                b["user_name"].as_str().unwrap().to_string(),
                b["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        queued,
        HashSet::from([
            ("out".into(), "reconcile".into()),
            ("new".into(), "reconcile".into())
        ])
    );
}
