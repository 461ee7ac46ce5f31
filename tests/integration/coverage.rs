//! Coverage over the wire: agents listed from the simulator as the incydr SDK
//! queries them, matched to moto WorkSpaces by computer name.

use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn verify_shows_each_agent_status_and_coverage_and_exits_by_coverage() {
    let names = [
        "cov-ok",
        "cov-missing",
        "cov-old",
        "cov-sick",
        "cov-elsewhere",
    ];
    let sim = Sim::start(&compliant_tenant("cu", &names));
    let fleet = fleet(&names.map(|n| (n, WIN)));
    let id = |i: usize| fleet.workspaces[i].0.clone();
    let agent = |i: usize, host: String, version: &str, issues: Value| {
        json!({"agentId": format!("ag-{i}"), "userId": format!("cu-{i}"), "name": host.clone(),
               "osHostname": format!("{host}.corp.example.com"), "appVersion": version,
               "productVersion": "2.0", "active": true, "agentHealthIssueTypes": issues,
               "lastConnected": "2026-11-27T10:00:00.000Z", "agentType": "COMBINED"})
    };
    sim.add_agent(agent(0, computer_name(&id(0)), "1.4.2", json!([])))
        .await;
    sim.add_agent(agent(2, computer_name(&id(2)), "1.3.0", json!([])))
        .await;
    sim.add_agent(agent(
        3,
        computer_name(&id(3)),
        "1.5.0",
        json!(["NOT_CONNECTING"]),
    ))
    .await;
    sim.add_agent(agent(4, "LAPTOP-7".into(), "1.5.0", json!([])))
        .await;
    // An inactive agent on the "missing" WorkSpace does not count.
    let mut retired = agent(1, computer_name(&id(1)), "1.5.0", json!([]));
    retired["active"] = json!(false);
    sim.add_agent(retired).await;

    let env = env(
        &secret_for(&sim, "coverage"),
        &[("CODE42_PLAN", "enterprise")],
    );
    let ids: Vec<String> = (0..5).map(id).collect();
    let mut args = vec!["verify", "--output", "json"];
    for w in &ids {
        args.extend(["--workspace-id", w.as_str()]);
    }
    let (code, out) = cli(&env, &args);
    assert_eq!(code, 2, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let by_id = |w: &str| {
        report["workspaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["workspace_id"] == w)
            .unwrap()
            .clone()
    };
    let expected = [
        ("ok", Value::Null),
        ("missing", json!("agent_missing")),
        ("outdated", json!("agent_outdated")),
        ("unhealthy", json!("agent_unhealthy")),
        ("unmatched", json!("agent_unmatched")),
    ];
    for (i, (status, reason)) in expected.iter().enumerate() {
        let w = by_id(&ids[i]);
        assert_eq!(w["agent"]["status"], *status, "{w}");
        assert_eq!(w["coverage"]["reason"], *reason, "{w}");
        assert_eq!(w["agent"]["version_checked"], true);
    }
    let ok = by_id(&ids[0]);
    assert_eq!(ok["agent"]["agent_id"], "ag-0");
    assert_eq!(ok["agent"]["app_version"], "1.4.2");
    assert_eq!(ok["agent"]["minimum_version"], "1.4.0");
    assert_eq!(
        by_id(&ids[3])["agent"]["health_issues"],
        json!(["NOT_CONNECTING"])
    );
    assert_eq!(
        report["summary"]["coverage"],
        json!({"covered": 1, "not_covered": 4, "by_reason": {"agent_missing": 1, "agent_outdated": 1,
               "agent_unhealthy": 1, "agent_unmatched": 1}})
    );
    let sent = sim.counters().await["by_route"]["GET /v1/agents"]
        .as_u64()
        .unwrap();
    assert_eq!(sent, 5, "one agent listing per WorkSpace");

    // The table names the reason; a covered WorkSpace alone exits 0.
    let (code, table) = cli(&env, &["verify", "--workspace-id", &ids[2]]);
    assert_eq!(code, 2);
    assert!(
        table.contains("agent_outdated") && table.contains("coverage: 0 of 1"),
        "{table}"
    );
    let (code, out) = cli(&env, &["verify", "--workspace-id", &ids[0]]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_move_names_the_other_devices_that_go_along_or_is_skipped_for_them() {
    let sim = Sim::start(&tenant(json!([
        user("bl-1", "blast@corp.example.com", "880000000000000002"),
        user("bl-2", "blast2@corp.example.com", "880000000000000002"),
    ])));
    let fleet = fleet(&[("blast", WIN), ("blast2", WIN)]);
    for (i, user_id) in ["bl-1", "bl-2"].iter().enumerate() {
        let ws = &fleet.workspaces[i].0;
        for (n, host) in [computer_name(ws), format!("LAPTOP-{i}")]
            .into_iter()
            .enumerate()
        {
            sim.add_agent(
                json!({"agentId": format!("ag-{user_id}-{n}"), "userId": user_id,
                "name": host, "osHostname": host, "appVersion": "1.5.0", "active": true}),
            )
            .await;
        }
    }
    let args = |dry: bool| {
        let mut a = vec![
            "backfill",
            "--output",
            "json",
            "--workspace-id",
            fleet.workspaces[0].0.as_str(),
        ];
        if dry {
            a.push("--dry-run");
        }
        a
    };
    let env_move = env(&secret_for(&sim, "blast-move"), &[]);
    let (code, out) = cli(&env_move, &args(true));
    assert_eq!(code, 0, "{out}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["moves_with_other_devices"], 1);
    assert_eq!(
        plan["workspaces"][0]["actions"][0]["other_devices"],
        json!(["LAPTOP-0"])
    );
    let (code, _) = cli(&env_move, &args(false));
    assert_eq!(code, 0);
    assert_eq!(sim.user_org("bl-1").await, WORKSPACES_ORG_GUID);

    let env_skip = env(
        &secret_for(&sim, "blast-skip"),
        &[("CODE42_MOVE_WITH_OTHER_DEVICES", "skip")],
    );
    let (code, out) = cli(
        &env_skip,
        &[
            "backfill",
            "--output",
            "json",
            "--workspace-id",
            &fleet.workspaces[1].0,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["workspaces"][0]["status"], "skipped");
    assert!(
        report["workspaces"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("LAPTOP-1")
    );
    assert_eq!(sim.user_org("bl-2").await, "880000000000000002");
}

/// Trust: a terminate event naming a WorkSpace that DescribeWorkspaces shows
/// AVAILABLE deactivates nothing (it used to deactivate its agent: this test
/// asserted that). moto deletes a really terminated WorkSpace at once, so the
/// deactivating path is tested with the in-memory fakes
/// (`a_terminated_workspaces_agent_is_deactivated_only_when_enabled_and_only_that_one`).
#[tokio::test(flavor = "multi_thread")]
async fn a_terminate_event_naming_a_living_workspace_deactivates_nothing() {
    let sim = Sim::start(&tenant(json!([user(
        "tm-1",
        "leaver@corp.example.com",
        WORKSPACES_ORG_GUID
    )])));
    let fleet = fleet(&[("leaver", WIN)]);
    let ws = fleet.workspaces[0].0.clone();
    for (id, host) in [
        ("ag-ws", computer_name(&ws)),
        ("ag-laptop", "LAPTOP-LEAVER".to_string()),
    ] {
        sim.add_agent(
            json!({"agentId": id, "userId": "tm-1", "name": host, "osHostname": host,
            "appVersion": "1.5.0", "active": true}),
        )
        .await;
    }
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/terminate-workspaces.json")).unwrap(),
    )
    .unwrap();
    event["detail"]["requestParameters"]["terminateWorkspaceRequests"] =
        json!([{"workspaceId": ws}]);
    let name = secret_for(&sim, "terminate");

    let (code, out) = invoke_cli(&env(&name, &[]), &event);
    assert_eq!(code, 0, "{out}");
    assert!(out["note"].as_str().unwrap().contains("is off"), "{out}");
    assert_eq!(sim.counters().await["writes"], 0);

    let (code, out) = invoke_cli(
        &env(&name, &[("CODE42_DEACTIVATE_ON_TERMINATE", "true")]),
        &event,
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out["workspaces"][0]["status"], "skipped", "{out}");
    assert!(
        reason_of(&out, 0).contains("AVAILABLE, not terminating"),
        "{out}"
    );
    assert!(out["workspaces"][0].get("actions").is_none(), "{out}");
    let deactivations = sim
        .writes()
        .await
        .into_iter()
        .filter(|w| w["path"] == "/v1/agents/deactivate")
        .count();
    assert_eq!(deactivations, 0);
    assert_eq!(sim.counters().await["writes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_basic_plan_backfill_adds_d_users_to_the_backup_selection_once() {
    let mut seed = tenant(json!([user(
        "bk-1",
        "backup@corp.example.com",
        WORKSPACES_ORG_GUID
    )]));
    compliant_org(&mut seed);
    seed["orgs"][2]["deviceDefaults"] = json!({"serviceBackupConfig": {"backupConfig": {"backupSets": {
    "@locked": "true",
    "backupSet": [
        {"@id": "1", "name": "Default", "destinations": [{"@id": "9"}],
         "backupPaths": {"pathset": [{"@os": "Linux", "path": {"@include": ":user/"}}]}},
        {"@id": "2", "name": "Legal hold", "destinations": {"@locked": "true", "destination": []},
         "backupPaths": {"pathset": [{"@os": "Linux", "path": []}]}},
        {"@id": "3", "name": "Locked", "destinations": [{"@id": "9"}],
         "backupPaths": {"pathset": {"@locked": "true", "paths": {"@os": "Linux", "path": []}}}}
    ]}}}});
    let sim = Sim::start(&seed);
    let fleet = fleet(&[("backup", WIN)]);
    let env = env(&secret_for(&sim, "backup"), &[("CODE42_PLAN", "basic")]);
    // The org has a device: with CODE42_BACKUP_PUBLISH off, doctor says a
    // changed selection must be pushed to it (the guide's step 8).
    sim.add_agent(
        json!({"agentId": "ag-bk", "userId": "bk-1", "name": "LAPTOP-1",
        "osHostname": "LAPTOP-1", "appVersion": "9.0.0", "active": true}),
    )
    .await;
    let (_, out) = cli(&env, &["doctor", "--output", "json"]);
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let defaults = report["doctor"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "device defaults")
        .unwrap()
        .clone();
    assert_eq!(defaults["result"], "warn", "{defaults}");
    assert!(
        defaults["found"]
            .as_str()
            .unwrap()
            .contains("the org has 1 device(s)")
            && defaults["fix"]
                .as_str()
                .unwrap()
                .contains("Push setting to devices"),
        "{defaults}"
    );
    let args = [
        "backfill",
        "--output",
        "json",
        "--workspace-id",
        fleet.workspaces[0].0.as_str(),
    ];

    let (code, out) = cli(
        &env,
        &[
            "backfill",
            "--dry-run",
            "--output",
            "json",
            "--workspace-id",
            &fleet.workspaces[0].0,
        ],
    );
    assert_eq!(code, 0, "{out}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    let policy = |report: &Value| {
        report["org"]["policies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["policy"] == "backup_file_selection")
            .unwrap()
            .clone()
    };
    assert_eq!(policy(&plan)["status"], "drift");
    // The locked set is edited too (this release; it was left as it was).
    assert_eq!(
        policy(&plan)["would_write"],
        json!([":user/", "D:/Users/", "D:/Users/"])
    );
    assert_eq!(sim.counters().await["writes"], 0);

    let (code, out) = cli(&env, &args);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        policy(&serde_json::from_str(&out).unwrap())["status"],
        "configured"
    );
    let state = sim.state().await;
    let sets =
        &state["orgs"][2]["deviceDefaults"]["serviceBackupConfig"]["backupConfig"]["backupSets"];
    assert_eq!(sets["@locked"], "true");
    assert_eq!(
        sets["backupSet"][0]["backupPaths"]["pathset"][0]["path"],
        json!([{"@include": ":user/"}, {"@include": "D:/Users/"}])
    );
    assert_eq!(
        sets["backupSet"][1]["backupPaths"]["pathset"][0]["path"],
        json!([]),
        "legal hold untouched"
    );
    assert_eq!(
        sets["backupSet"][2]["backupPaths"]["pathset"],
        json!({"@locked": "true", "paths": {"@os": "Linux", "path": [{"@include": "D:/Users/"}]}}),
        "a locked selection gets the path and stays locked"
    );
    let writes = sim.counters().await["writes"].as_u64().unwrap();
    assert_eq!(writes, 1);

    let (code, out) = cli(&env, &args);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        policy(&serde_json::from_str(&out).unwrap())["status"],
        "compliant"
    );
    assert_eq!(
        sim.counters().await["writes"].as_u64().unwrap(),
        writes,
        "a second run writes nothing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_large_verify_reads_users_and_agents_in_pages_not_one_by_one() {
    let names = ["bulk-a", "bulk-b", "bulk-c"];
    let sim = Sim::start(&compliant_tenant("bu", &names));
    let fleet = fleet(&names.map(|n| (n, WIN)));
    for (i, (ws, _)) in fleet.workspaces.iter().enumerate() {
        sim.add_agent(json!({"agentId": format!("ba-{i}"), "userId": format!("bu-{i}"),
            "name": computer_name(ws), "osHostname": computer_name(ws), "appVersion": "1.5.0", "active": true}))
            .await;
    }
    // Pages of exactly the tenant's size: the first page's totalCount says
    // there is no second one (without it, an empty second page would be read).
    let env = env(
        &secret_for(&sim, "bulk"),
        &[
            ("CODE42_BULK_THRESHOLD", "3"),
            ("CODE42_USERS_PAGE_SIZE", "3"),
            ("CODE42_AGENTS_PAGE_SIZE", "3"),
        ],
    );
    let args = fleet.verify_args("json");
    let (code, out) = cli(&env, &args);
    assert_eq!(code, 0, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["summary"]["coverage"]["covered"], 3);
    let by_route = sim.counters().await["by_route"].clone();
    assert_eq!(
        by_route["GET /v1/users"], 1,
        "one page of users: {by_route}"
    );
    assert_eq!(
        by_route["GET /v1/agents"], 1,
        "one page of agents: {by_route}"
    );
}

/// The bulk plan and the per-user plan agree on the same fleet: including a
/// Code42 username that differs from the mapped name only in case, and a user
/// created after the bulk pages were read (found by the direct lookup).
#[tokio::test(flavor = "multi_thread")]
async fn the_bulk_plan_and_the_per_user_plan_agree() {
    let names = [
        "eq-ok",
        "eq-move",
        "eq-case",
        "eq-late",
        "eq-absent",
        "eq-noagent",
    ];
    let mut users = vec![
        user("eq-0", "eq-ok@corp.example.com", WORKSPACES_ORG_GUID),
        user("eq-1", "eq-move@corp.example.com", "880000000000000002"),
        user("eq-2", "EQ-Case@Corp.Example.com", "880000000000000002"),
        user("eq-3", "eq-late@corp.example.com", "880000000000000002"),
        user("eq-5", "eq-noagent@corp.example.com", WORKSPACES_ORG_GUID),
    ];
    users[3]["unlisted"] = json!(true);
    let mut seed = tenant(json!(users));
    compliant_org(&mut seed);
    let sim = Sim::start(&seed);
    let fleet = fleet(&names.map(|n| (n, WIN)));
    for i in 0..4 {
        let ws = &fleet.workspaces[i].0;
        sim.add_agent(json!({"agentId": format!("eqa-{i}"), "userId": format!("eq-{i}"),
            "name": computer_name(ws), "osHostname": computer_name(ws), "appVersion": "1.5.0", "active": true}))
            .await;
    }
    let secret = secret_for(&sim, "equal-plans");
    let args = fleet.verify_args("json");
    let run = |threshold: &str| {
        let (code, out) = cli(
            &env(&secret, &[("CODE42_BULK_THRESHOLD", threshold)]),
            &args,
        );
        assert_eq!(code, 2, "drift and a deferred user: {out}");
        let report: Value = serde_json::from_str(&out).unwrap();
        report
    };
    let per_user = run("1000");
    let lookups_per_user = sim.counters().await["by_route"]["GET /v1/users"].clone();
    let bulk = run("1");
    let lookups_total = sim.counters().await["by_route"]["GET /v1/users"].clone();
    assert_eq!(per_user["workspaces"], bulk["workspaces"]);
    assert_eq!(per_user["summary"], bulk["summary"]);
    let statuses: Vec<&str> = bulk["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "compliant",
            "drift",
            "drift",
            "drift",
            "deferred",
            "compliant"
        ]
    );
    // Per user: one lookup each; in bulk: one page, then a direct lookup
    // only for the two the snapshot could not place (late, absent).
    assert_eq!(lookups_per_user, 6);
    assert_eq!(lookups_total.as_u64().unwrap() - 6, 1 + 2);
}
