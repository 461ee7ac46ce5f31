//! WorkSpaces that change under the deployment, over the wire: a migration
//! places its target's user, a rebuild queues a delayed re-check, a pool is
//! skipped with its reason.

use serde_json::{Value, json};

use crate::harness::*;

const DEFAULT_ORG: &str = "880000000000000002";

fn lifecycle_event(name: &str, workspace_id: &str) -> Value {
    let mut event: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("events").join(name)).unwrap())
            .unwrap();
    let detail = &mut event["detail"];
    match detail["eventName"].as_str().unwrap() {
        "MigrateWorkspace" => detail["responseElements"]["targetWorkspaceId"] = json!(workspace_id),
        "RebuildWorkspaces" => {
            detail["requestParameters"]["rebuildWorkspaceRequests"] =
                json!([{ "workspaceId": workspace_id }])
        }
        _ => detail["requestParameters"]["workspaceId"] = json!(workspace_id),
    }
    event
}

#[tokio::test(flavor = "multi_thread")]
async fn a_migration_places_its_target_s_user() {
    let (sim, fleet, _) = scenario(
        "lifecycle-migrate",
        json!([user("u-mig", "migrated@corp.example.com", DEFAULT_ORG)]),
        &[("migrated", WIN)],
        &[],
    )
    .await;
    let env = env(&secret_for(&sim, "lifecycle-migrate-cli"), &[]);
    let (code, out) = invoke_cli(
        &env,
        &lifecycle_event("migrate-workspace.json", &fleet.workspaces[0].0),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["input"], "MigrateWorkspace", "{out}");
    assert_eq!(statuses(&out), ["configured"], "{out}");
    assert_eq!(
        out["workspaces"][0]["workspace_id"],
        fleet.workspaces[0].0.as_str()
    );
    assert_eq!(sim.user_org("u-mig").await, WORKSPACES_ORG_GUID);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_queues_a_delayed_re_check_or_checks_at_once_without_a_queue() {
    let (sim, fleet, _) = scenario(
        "lifecycle-rebuild",
        json!([user(
            "u-reb",
            "rebuilt@corp.example.com",
            WORKSPACES_ORG_GUID
        )]),
        &[("rebuilt", WIN)],
        &[],
    )
    .await;
    let id = fleet.workspaces[0].0.clone();
    let sqs = sqs().await;
    let queue = create_queue(&sqs, "lifecycle-rebuild").await;
    let secret = secret_for(&sim, "lifecycle-rebuild-cli");
    let with_queue = env(
        &secret,
        &[
            ("WORK_QUEUE_URL", &queue),
            ("CODE42_DEFERRED_DELAY_SECONDS", "600"),
        ],
    );
    for event in ["rebuild-workspaces.json", "restore-workspace.json"] {
        let (code, out) = invoke_cli(&with_queue, &lifecycle_event(event, &id));
        assert_eq!(code, 0, "{out}");
        assert_eq!(statuses(&out), ["deferred"], "{out}");
        assert!(
            reason_of(&out, 0).contains("checked again in 600 s"),
            "{out}"
        );
        assert_eq!(out["enqueued"], 1, "{out}");
    }
    // Both messages wait out their delay in the queue; nothing read Code42 yet.
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = attributes.attributes().unwrap()
        [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed]
        .clone();
    assert_eq!(delayed, "2");
    assert_eq!(sim.counters().await["total"], 0);
    // Without a queue the WorkSpace is checked at once.
    let (code, out) = invoke_cli(
        &env(&secret, &[]),
        &lifecycle_event("rebuild-workspaces.json", &id),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["input"], "RebuildWorkspaces", "{out}");
    assert_eq!(statuses(&out), ["compliant"], "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pool_workspace_is_skipped_with_its_reason() {
    let (sim, fleet, _) = scenario(
        "lifecycle-pool",
        json!([user("u-pool", "pooled@corp.example.com", DEFAULT_ORG)]),
        &[("pooled", WIN)],
        &[],
    )
    .await;
    let env = env(&secret_for(&sim, "lifecycle-pool-cli"), &[]);
    let event = creation_event(&Fleet {
        directory_id: fleet.directory_id.clone(),
        workspaces: vec![
            ("wspool-7h2k9d4m1".into(), "pooled".into()),
            fleet.workspaces[0].clone(),
        ],
    });
    let (code, out) = invoke_cli(&env, &event);
    assert_eq!(code, 0, "{out}");
    assert_eq!(statuses(&out), ["skipped", "configured"], "{out}");
    assert!(reason_of(&out, 0).contains("WorkSpaces Pool"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_names_the_duplicate_the_orphan_and_the_laptop_and_writes_nothing() {
    // A region no other test uses: only these WorkSpaces are live here.
    const REGION: &str = "ap-south-1";
    let fleet = fleet_in_region(
        REGION,
        "corp.example.com",
        &[("hyg1".to_string(), WIN), ("hyg2".to_string(), WIN)],
    );
    let (ws1, ws2) = (fleet.workspaces[0].0.clone(), fleet.workspaces[1].0.clone());
    let sim = Sim::start(&compliant_tenant("hyg", &["hyg1", "hyg2", "hyg3"]));
    let agent = |id: &str, user: &str, host: &str, connected: &str| {
        json!({"agentId": id, "userId": user, "name": host, "osHostname": host,
               "appVersion": "1.6.0", "active": true, "lastConnected": connected})
    };
    // The stale agent is listed first: the most recent connection decides.
    for a in [
        agent(
            "a-stale",
            "hyg-0",
            &computer_name(&ws1),
            "2026-10-01T08:00:00.000Z",
        ),
        agent(
            "a-current",
            "hyg-0",
            &computer_name(&ws1),
            "2026-12-01T08:00:00.000Z",
        ),
        agent(
            "a-laptop",
            "hyg-0",
            "LAPTOP-HYG1",
            "2026-12-02T08:00:00.000Z",
        ),
        agent(
            "a-gone",
            "hyg-1",
            "WSAMZN-G0NE00001",
            "2026-09-01T08:00:00.000Z",
        ),
        agent(
            "a-ws2",
            "hyg-1",
            &computer_name(&ws2),
            "2026-12-01T09:00:00.000Z",
        ),
    ] {
        sim.add_agent(a).await;
    }
    let env = env(&secret_in(REGION, &sim, "lifecycle-agents"), &[]);
    let (code, out, err) = cli_in(REGION, "warn", &env, &["agents", "--output", "json"]);
    assert_eq!(code, 2, "duplicates and orphans found: {out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let mut findings: Vec<(String, String, String)> = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["agent_id"].as_str().unwrap().to_string(),
                a["finding"].as_str().unwrap().to_string(),
                a["workspace_id"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    findings.sort();
    let row =
        |id: &str, finding: &str, ws: &str| (id.to_string(), finding.to_string(), ws.to_string());
    assert_eq!(
        findings,
        [
            row("a-current", "current", &ws1),
            row("a-gone", "orphan", "-"),
            row("a-laptop", "other_device", "-"),
            row("a-stale", "duplicate", &ws1),
            row("a-ws2", "current", &ws2),
        ],
        "{out}"
    );
    let current = report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["agent_id"] == "a-current")
        .unwrap();
    assert_eq!(
        (current["account"].as_str(), current["region"].as_str()),
        (Some("123456789012"), Some(REGION))
    );
    assert_eq!(current["username"], "hyg1@corp.example.com");
    assert_eq!(
        report["users_without_workspace"],
        json!(["hyg3@corp.example.com"]),
        "{out}"
    );
    assert_eq!(sim.writes().await.len(), 0, "read-only");
    // CSV and the table carry the same rows.
    let (code, csv, _) = cli_in(REGION, "warn", &env, &["agents", "--output", "csv"]);
    assert_eq!(code, 2);
    assert!(
        csv.starts_with(
            "agent_id,hostname,username,workspace_id,account,region,finding,last_connected,cleanup\n"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 6, "{csv}");
    let (_, table, _) = cli_in(REGION, "warn", &env, &["agents"]);
    assert!(table.starts_with("AGENT ID"), "{table}");
    assert!(
        table.contains("users in the org without a WorkSpace: hyg3@corp.example.com"),
        "{table}"
    );

    // Users left behind go back to CODE42_RETURN_ORG only when asked:
    // planned first, then moved (hyg3 only; the others have WorkSpaces).
    let returning = env
        .clone()
        .into_iter()
        .chain([("CODE42_RETURN_ORG".to_string(), "Default".to_string())])
        .collect();
    let (_, out, _) = cli_in(
        REGION,
        "warn",
        &returning,
        &["agents", "--return-users", "--dry-run", "--output", "json"],
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        report["users_returned"],
        json!([{"username": "hyg3@corp.example.com",
        "from_org_guid": WORKSPACES_ORG_GUID, "to_org_guid": "880000000000000002", "result": "would return"}]),
        "{out}"
    );
    assert_eq!(sim.writes().await.len(), 0);
    let (_, out, _) = cli_in(
        REGION,
        "warn",
        &returning,
        &["agents", "--return-users", "--output", "json"],
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["users_returned"][0]["result"], "returned", "{out}");
    assert_eq!(sim.user_org("hyg-2").await, "880000000000000002");
    assert_eq!(sim.user_org("hyg-0").await, WORKSPACES_ORG_GUID);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agent_clean_up_refuses_each_guarded_case_and_deactivates_the_rest() {
    const REGION: &str = "ap-northeast-2";
    let fleet = fleet_in_region(REGION, "corp.example.com", &[("cln1".to_string(), WIN)]);
    let sim = Sim::start(&compliant_tenant("cln", &["cln1", "cln2"]));
    let five_days_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(5 * 86_400);
    let recent = workspaces_code42::domain::ledger::rfc3339(
        five_days_ago
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    let agent = |id: &str, user: &str, host: &str, connected: &str, legal_hold: bool| {
        json!({"agentId": id, "userId": user, "name": host, "osHostname": host, "appVersion": "1.6.0",
               "active": true, "lastConnected": connected, "legalHold": legal_hold})
    };
    for a in [
        agent(
            "c-current",
            "cln-0",
            &computer_name(&fleet.workspaces[0].0),
            "2026-12-01T08:00:00.000Z",
            false,
        ),
        agent(
            "c-old",
            "cln-0",
            "WSAMZN-OLD00001",
            "2026-01-01T08:00:00.000Z",
            false,
        ),
        agent(
            "c-held",
            "cln-0",
            "WSAMZN-OLD00003",
            "2026-02-01T08:00:00.000Z",
            true,
        ),
        agent("c-recent", "cln-0", "WSAMZN-OLD00002", &recent, false),
        // cln2's only agent: its most recent, whatever it is.
        agent(
            "c-last",
            "cln-1",
            "WSAMZN-OLD00004",
            "2026-03-01T08:00:00.000Z",
            false,
        ),
    ] {
        sim.add_agent(a).await;
    }
    let secret = secret_in(REGION, &sim, "lifecycle-cleanup");
    let run = |extra: &[(&str, &str)], args: &[&str]| {
        let mut all = vec!["agents", "--output", "json", "--deactivate", "orphans"];
        all.extend(args);
        let (code, out, err) = cli_in(REGION, "warn", &env(&secret, extra), &all);
        let json: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
        (code, json)
    };
    let cleanup_of = |report: &Value, id: &str| -> String {
        let rows = report["agents"]
            .as_array()
            .or(report["result"]["agents"].as_array())
            .unwrap();
        let row = rows.iter().find(|r| r["agent_id"] == id).unwrap();
        row["cleanup"].as_str().unwrap_or("-").to_string()
    };
    // Refused: a verify deployment, a backup plan without the explicit setting.
    for (extra, why) in [
        (vec![("CODE42_MODE", "verify")], "CODE42_MODE=verify"),
        (
            vec![("CODE42_PLAN", "basic")],
            "CODE42_DEACTIVATE_WITH_BACKUP=true",
        ),
    ] {
        let (code, out) = run(&extra, &[]);
        assert_eq!(code, 1, "{out}");
        let error = out["error"].as_str().unwrap();
        assert!(
            error.contains("agent clean-up refused") && error.contains(why),
            "{error}"
        );
    }
    assert_eq!(sim.writes().await.len(), 0);
    // A dry run says what it would do and writes nothing.
    let (code, out) = run(&[], &["--dry-run"]);
    assert_eq!(code, 2, "{out}");
    assert_eq!(cleanup_of(&out, "c-old"), "would deactivate");
    assert_eq!(
        cleanup_of(&out, "c-recent"),
        "kept: connected within the last 30 days"
    );
    assert_eq!(
        cleanup_of(&out, "c-last"),
        "kept: the user's most recently connected agent"
    );
    assert_eq!(cleanup_of(&out, "c-current"), "-");
    assert_eq!(sim.writes().await.len(), 0);
    // Within its cap: the oldest first.
    let (_, out) = run(&[], &["--max-deactivations", "1"]);
    assert_eq!(cleanup_of(&out, "c-old"), "deactivated", "{out}");
    assert_eq!(
        cleanup_of(&out, "c-held"),
        "kept: above max_deactivations (1)"
    );
    // Then the rest: the legal hold is kept and said.
    let (_, out) = run(&[], &[]);
    assert_eq!(
        cleanup_of(&out, "c-held"),
        "kept: legal hold (ACTIVE_LEGAL_HOLD)",
        "{out}"
    );
    let state = sim.state().await;
    let active: Vec<&str> = state["agents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["active"] == true)
        .map(|a| a["agentId"].as_str().unwrap())
        .collect();
    assert!(!active.contains(&"c-old"), "{active:?}");
    for kept in ["c-current", "c-held", "c-recent", "c-last"] {
        assert!(active.contains(&kept), "{kept}: {active:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn time_to_covered_is_measured_for_a_workspace_covered_on_its_second_check() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let sim = Sim::start(&compliant_tenant("ttc", &["ttcuser"]));
    let fleet = fleet(&[("ttcuser", WIN)]);
    let id = fleet.workspaces[0].0.clone();
    let table = create_ledger_table("lifecycle-ttc").await;
    let app = app(&env(
        &secret_for(&sim, "lifecycle-ttc"),
        &[("CODE42_LEDGER_TABLE", table.as_str())],
    ))
    .await;
    let mut login: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/workspaces-access.json")).unwrap(),
    )
    .unwrap();
    login["detail"]["workspaceId"] = json!(id);
    login["detail"]["directoryId"] = json!(fleet.directory_id);
    // First sign-in: no agent yet.
    let (first, metrics) = app.handle_measured(&login, deadline(30)).await;
    let report = serde_json::to_value(first.unwrap().report).unwrap();
    assert_eq!(
        report["workspaces"][0]["coverage"]["covered"], false,
        "{report}"
    );
    assert!(
        metrics.emf("ns", 0)[0]
            .get("TimeToCoveredSeconds")
            .is_none()
    );
    // The ledger holds the first sign-in; as if it were five minutes ago.
    let dynamo = aws_sdk_dynamodb::Client::new(&moto_sdk("us-east-1").await);
    let five_minutes_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 300;
    dynamo
        .update_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("signin".into()))
        .key("sk", AttributeValue::S(id.clone()))
        .update_expression("SET first_at = :t")
        .condition_expression("attribute_exists(first_at)")
        .expression_attribute_values(":t", AttributeValue::N(five_minutes_ago.to_string()))
        .send()
        .await
        .unwrap();
    // The agent registers; the second check finds it covered and measures.
    let host = computer_name(&id);
    sim.add_agent(
        json!({"agentId": "a-ttc", "userId": "ttc-0", "name": host, "osHostname": host,
        "appVersion": "1.6.0", "active": true}),
    )
    .await;
    let (second, metrics) = app.handle_measured(&login, deadline(30)).await;
    let report = serde_json::to_value(second.unwrap().report).unwrap();
    assert_eq!(
        report["workspaces"][0]["coverage"]["covered"], true,
        "{report}"
    );
    let seconds = report["workspaces"][0]["time_to_covered_seconds"]
        .as_u64()
        .unwrap();
    assert!((300..=330).contains(&seconds), "{seconds}");
    let emf = &metrics.emf("ns", 0)[0];
    assert_eq!(emf["TimeToCoveredSeconds"], json!([seconds]));
    let units: Vec<&Value> = emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["Name"] == "TimeToCoveredSeconds")
        .collect();
    assert_eq!(units[0]["Unit"], "Seconds");
}
