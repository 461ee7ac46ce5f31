//! The ledger over the wire: DynamoDB in moto (its conditional writes made
//! atomic, as DynamoDB's are), the Code42 simulator, the real CLI.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::harness::*;

/// Six processes race for a budget of three: exactly three users move, each
/// recorded (`done`, with its orgs) before the move; the others are deferred
/// naming the budget; `history` lists exactly the moves made.
#[tokio::test(flavor = "multi_thread")]
async fn racing_processes_share_one_hourly_budget_and_history_lists_the_moves() {
    let names: Vec<String> = (0..6).map(|i| format!("budget{i}")).collect();
    let users: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            user(
                &format!("bg-{i}"),
                &format!("{n}@corp.example.com"),
                "880000000000000002",
            )
        })
        .collect();
    let mut seed = tenant(json!(users));
    compliant_org(&mut seed);
    let sim = Sim::start(&seed);
    let fleet = fleet(&names.iter().map(|n| (n.as_str(), WIN)).collect::<Vec<_>>());
    let table = create_ledger_table("ledger-budget").await;
    let env = env(
        &secret_for(&sim, "ledger-budget"),
        &[
            ("CODE42_LEDGER_TABLE", table.as_str()),
            ("CODE42_MAX_MOVES_PER_HOUR", "3"),
        ],
    );

    let runs: Vec<(i32, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> = fleet
            .workspaces
            .iter()
            .map(|(id, _)| {
                let env = &env;
                scope.spawn(move || {
                    cli(env, &["backfill", "--output", "json", "--workspace-id", id])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    for (code, out) in &runs {
        assert_eq!(*code, 0, "{out}");
        let report: Value = serde_json::from_str(out).unwrap();
        let status = statuses(&report)[0].clone();
        if status == "deferred" {
            let reason = report["workspaces"][0]["reason"].as_str().unwrap();
            assert!(
                reason.starts_with("the move budget (3 per hour"),
                "{reason}"
            );
        }
        *by_status.entry(status).or_default() += 1;
    }

    let (code, out) = cli(
        &env,
        &["history", "--output", "json", "--kind", "move_user"],
    );
    assert_eq!(code, 0, "{out}");
    let entries = serde_json::from_str::<Value>(&out).unwrap()["entries"]
        .as_array()
        .unwrap()
        .clone();
    // One budget per hour: the race, unless it straddled an hour, makes exactly 3.
    let mut per_hour: BTreeMap<String, usize> = BTreeMap::new();
    for e in &entries {
        *per_hour
            .entry(e["at"].as_str().unwrap()[..13].to_string())
            .or_default() += 1;
    }
    assert!(per_hour.values().all(|n| *n <= 3), "{per_hour:?}");
    if per_hour.len() == 1 {
        assert_eq!(entries.len(), 3, "{entries:?}");
        assert_eq!(
            by_status,
            BTreeMap::from([("configured".into(), 3), ("deferred".into(), 3)])
        );
    }
    let mut moved = Vec::new();
    for e in &entries {
        assert_eq!(e["state"], "done", "{e}");
        assert_eq!(e["before"], "880000000000000002");
        assert_eq!(e["after"], WORKSPACES_ORG_GUID);
        // The CLI's caller, from STS (moto's static keys: its default user).
        let origin = e["origin"].as_str().unwrap();
        assert!(
            origin.starts_with("backfill (cli arn:aws:") && origin.contains(":123456789012:"),
            "{origin}"
        );
        let username = e["username"].as_str().unwrap();
        let id = username
            .trim_end_matches("@corp.example.com")
            .replace("budget", "bg-");
        assert_eq!(sim.user_org(&id).await, WORKSPACES_ORG_GUID, "{username}");
        moved.push(id);
    }
    // Nobody else moved.
    for i in 0..6 {
        let id = format!("bg-{i}");
        if !moved.contains(&id) {
            assert_eq!(sim.user_org(&id).await, "880000000000000002", "{id}");
        }
    }
    // The table form and the CSV header.
    let (code, out) = cli(
        &env,
        &[
            "history",
            "--output",
            "csv",
            "--user",
            "nobody@corp.example.com",
        ],
    );
    assert_eq!(
        (code, out.trim()),
        (
            0,
            "at,kind,username,workspace_id,before,after,state,run_id,origin"
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn history_without_a_table_fails_with_the_fix() {
    let sim = Sim::start(&tenant(json!([])));
    let env = env(&secret_for(&sim, "ledger-none"), &[]);
    let (code, out) = cli(&env, &["history", "--output", "json"]);
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .contains("CODE42_LEDGER_TABLE"),
        "{doc}"
    );
}

/// A run that crashed between its intent and the move (or before settling)
/// leaves an `intent`; the next run reads the real state and records it.
#[tokio::test(flavor = "multi_thread")]
async fn an_intent_left_by_a_crashed_run_is_settled_by_the_next_run() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut seed = tenant(json!([
        user("cr-1", "crashmoved@corp.example.com", WORKSPACES_ORG_GUID),
        user("cr-2", "crashnot@corp.example.com", "880000000000000002"),
        user("cr-3", "crashnext@corp.example.com", "880000000000000002"),
    ]));
    compliant_org(&mut seed);
    let sim = Sim::start(&seed);
    // Two deactivations a crash left as intents: one agent is gone (the
    // deactivation happened), one is still active (it did not).
    for (id, active) in [("ag-crash-gone", false), ("ag-crash-kept", true)] {
        sim.add_agent(
            json!({"agentId": id, "userId": "cr-1", "name": "WSAMZN-CRASH",
            "osHostname": "WSAMZN-CRASH", "appVersion": "1.6.0", "active": active}),
        )
        .await;
    }
    let fleet = fleet(&[("crashnext", WIN)]);
    let table = create_ledger_table("ledger-crash").await;
    let dynamo = aws_sdk_dynamodb::Client::new(&moto_sdk("us-east-1").await);
    // Two intents an hour old, as a crashed process leaves them: one whose
    // move happened (the user is in the WorkSpaces org), one whose did not.
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let at = rfc3339_of(an_hour_ago);
    let intents = [
        (
            "crashmoved",
            "move_user",
            "880000000000000002",
            WORKSPACES_ORG_GUID,
        ),
        (
            "crashnot",
            "move_user",
            "880000000000000002",
            WORKSPACES_ORG_GUID,
        ),
        (
            "crashmoved",
            "deactivate_agent",
            "agent ag-crash-gone active",
            "deactivated",
        ),
        (
            "crashmoved",
            "deactivate_agent",
            "agent ag-crash-kept active",
            "deactivated",
        ),
        // An org policy write (no user): the org's setting is compliant now.
        ("", "watch_paths", "[':main']", "':main', 'D:'"),
    ];
    for (n, (username, kind, before, after)) in intents.iter().enumerate() {
        let s = |v: &str| AttributeValue::S(v.to_string());
        let mut put = dynamo.put_item();
        if !username.is_empty() {
            put = put.item("username", s(&format!("{username}@corp.example.com")));
        }
        put.table_name(&table)
            .item("pk", s("entry"))
            .item("sk", s(&format!("{at}#crash{n}")))
            .item("kind", s(kind))
            .item("before", s(before))
            .item("after", s(after))
            .item("state", s("intent"))
            .item("run_id", s("run-crashed"))
            .item("at", s(&at))
            .item("origin", s("creation"))
            .send()
            .await
            .unwrap();
    }
    let env = env(
        &secret_for(&sim, "ledger-crash"),
        &[("CODE42_LEDGER_TABLE", table.as_str())],
    );
    let (code, out) = cli(
        &env,
        &[
            "backfill",
            "--output",
            "json",
            "--workspace-id",
            &fleet.workspaces[0].0,
        ],
    );
    assert_eq!(code, 0, "{out}");

    let (_, out) = cli(
        &env,
        &["history", "--output", "json", "--run", "run-crashed"],
    );
    let entries = serde_json::from_str::<Value>(&out).unwrap()["entries"]
        .as_array()
        .unwrap()
        .clone();
    let state_of = |user: &str| {
        let e = entries
            .iter()
            .find(|e| e["username"] == user && e["kind"] == "move_user")
            .unwrap();
        (e["state"].as_str().unwrap().to_string(), e["after"].clone())
    };
    let deactivation = |agent: &str| {
        let e = entries
            .iter()
            .find(|e| e["before"] == format!("agent {agent} active"))
            .unwrap();
        (e["state"].as_str().unwrap().to_string(), e["after"].clone())
    };
    let policy = entries
        .iter()
        .find(|e| e["kind"] == "watch_paths")
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert_eq!(
        (&policy["state"], &policy["after"]),
        (&json!("done"), &json!("[':main', 'D:']")),
        "the write took: the org shows it"
    );
    assert_eq!(
        deactivation("ag-crash-gone"),
        ("done".to_string(), json!("deactivated"))
    );
    assert_eq!(
        deactivation("ag-crash-kept"),
        ("failed".to_string(), json!("agent ag-crash-kept active"))
    );
    assert_eq!(
        state_of("crashmoved@corp.example.com"),
        ("done".to_string(), json!(WORKSPACES_ORG_GUID))
    );
    assert_eq!(
        state_of("crashnot@corp.example.com"),
        ("failed".to_string(), json!("880000000000000002"))
    );
    // The run's own move is recorded and settled as well.
    let (_, out) = cli(
        &env,
        &[
            "history",
            "--output",
            "json",
            "--user",
            "crashnext@corp.example.com",
        ],
    );
    let own = &serde_json::from_str::<Value>(&out).unwrap()["entries"][0];
    assert_eq!(
        (own["state"].as_str(), own["kind"].as_str()),
        (Some("done"), Some("move_user"))
    );
}

/// RFC 3339 (UTC, seconds) of a time, as the ledger writes it.
fn rfc3339_of(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    workspaces_code42::domain::ledger::rfc3339(secs)
}

/// `undo` moves a backfill's users back (planned first), holds them so the
/// next run does not move them again, and a second undo does nothing.
#[tokio::test(flavor = "multi_thread")]
async fn undo_restores_a_runs_moves_holds_them_and_is_idempotent() {
    let mut seed = tenant(json!([
        user("un-1", "undoa@corp.example.com", "880000000000000002"),
        user("un-2", "undob@corp.example.com", "880000000000000002"),
    ]));
    compliant_org(&mut seed);
    let sim = Sim::start(&seed);
    let fleet = fleet(&[("undoa", WIN), ("undob", WIN)]);
    let table = create_ledger_table("ledger-undo").await;
    let env = env(
        &secret_for(&sim, "ledger-undo"),
        &[("CODE42_LEDGER_TABLE", table.as_str())],
    );
    let mut backfill = vec!["backfill", "--output", "json"];
    for (id, _) in &fleet.workspaces {
        backfill.extend(["--workspace-id", id.as_str()]);
    }
    let (code, out) = cli(&env, &backfill);
    assert_eq!(code, 0, "{out}");
    let run = serde_json::from_str::<Value>(&out).unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    for id in ["un-1", "un-2"] {
        assert_eq!(sim.user_org(id).await, WORKSPACES_ORG_GUID);
    }

    // The plan: both, nobody moved.
    let (code, out) = cli(
        &env,
        &["undo", "--run", &run, "--dry-run", "--output", "json"],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        statuses(&serde_json::from_str(&out).unwrap()),
        ["drift", "drift"]
    );
    assert_eq!(sim.user_org("un-1").await, WORKSPACES_ORG_GUID);

    // Verify mode refuses to move anybody back.
    let mut verify = env.clone();
    verify.insert("CODE42_MODE".into(), "verify".into());
    let (code, _) = cli(&verify, &["undo", "--run", &run]);
    assert_eq!(code, 1);
    assert_eq!(sim.user_org("un-1").await, WORKSPACES_ORG_GUID);

    let (code, out) = cli(&env, &["undo", "--run", &run, "--output", "json"]);
    assert_eq!(code, 0, "{out}");
    let undone: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(statuses(&undone), ["configured", "configured"]);
    let back = &undone["workspaces"][0]["actions"][0];
    assert_eq!(
        (
            &back["from_org_name"],
            &back["to_org_name"],
            &back["applied"]
        ),
        (&json!("WorkSpaces"), &json!("Default"), &json!(true)),
        "{back}"
    );
    for id in ["un-1", "un-2"] {
        assert_eq!(
            sim.user_org(id).await,
            "880000000000000002",
            "{id} moved back"
        );
    }
    let writes = sim.counters().await["writes"].clone();

    // The next backfill leaves them (held), and a second undo does nothing.
    let (code, out) = cli(&env, &backfill);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(statuses(&report), ["skipped", "skipped"]);
    let reason = report["workspaces"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("held by undo of run {run}")),
        "{reason}"
    );
    let (code, out) = cli(&env, &["undo", "--run", &run, "--output", "json"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        statuses(&serde_json::from_str(&out).unwrap()),
        ["skipped", "skipped"],
        "{out}"
    );
    assert_eq!(sim.counters().await["writes"], writes, "nothing written");

    // Released: a later run may move them again.
    let (code, out) = cli(&env, &["undo", "--release", &run, "--output", "json"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("2 user(s) held by the undo"), "{out}");
    let (_, out) = cli(
        &env,
        &["history", "--output", "json", "--kind", "move_user"],
    );
    let entries = serde_json::from_str::<Value>(&out).unwrap()["entries"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(entries, 4, "two moves and two moves back");
}

/// A scheduled run retried (Lambda's asynchronous retry delivers the same
/// event again) queues nothing twice: the ledger claims each WorkSpace once
/// an hour.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_schedule_run_queues_nothing_twice() {
    let mut seed = tenant(json!([
        user("rq-1", "requeuea@corp.example.com", "880000000000000002"),
        user("rq-2", "requeueb@corp.example.com", "880000000000000002"),
    ]));
    compliant_org(&mut seed);
    let sim = Sim::start(&seed);
    const REGION: &str = "ap-southeast-2";
    let fleet = fleet_in_region(
        REGION,
        "requeue.example.com",
        &[("requeuea".into(), WIN), ("requeueb".into(), WIN)],
    );
    let sqs = sqs_in(REGION).await;
    let queue = create_queue(&sqs, "retried-schedule").await;
    let table = create_ledger_table_in(REGION, "ledger-requeue").await;
    let app = app_in(
        REGION,
        &env(
            &secret_in(REGION, &sim, "ledger-requeue"),
            &[("WORK_QUEUE_URL", &queue), ("CODE42_LEDGER_TABLE", &table)],
        ),
    )
    .await;
    let schedule = json!({"version": "0", "id": "s-retried", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "123456789012", "time": "2025-11-03T00:00:00Z",
        "region": REGION, "resources": [], "detail": {}});
    let first = app.handle(&schedule, deadline(60)).await.unwrap().report;
    let again = app.handle(&schedule, deadline(60)).await.unwrap().report;
    assert_eq!((first.enqueued, again.enqueued), (Some(2), Some(0)));
    let received = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let mut ids: Vec<String> = received
        .messages()
        .iter()
        .map(|m| {
            serde_json::from_str::<Value>(m.body().unwrap()).unwrap()["workspace_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    let mut expected: Vec<String> = fleet.workspaces.iter().map(|(id, _)| id.clone()).collect();
    expected.sort();
    assert_eq!(ids, expected, "each WorkSpace queued once");
}
