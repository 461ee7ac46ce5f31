//! Trust over the wire (moto + the Code42 simulator): a payload only says
//! where to look — forged events and messages move nobody — and org settings
//! are written only into the org that was resolved.

use serde_json::{Value, json};

use crate::harness::*;

const DEFAULT_ORG: &str = "880000000000000002";
/// A well-formed id DescribeWorkspaces has never heard of.
const GHOST: &str = "ws-f0r9ed0000";

/// The users the simulator saw moved.
async fn moved(sim: &Sim) -> Vec<String> {
    sim.writes()
        .await
        .iter()
        .filter(|w| w["path"].as_str().unwrap_or_default().ends_with("/move"))
        .map(|w| w["user"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_events_and_queue_messages_move_nobody() {
    let sim = Sim::start(&tenant(json!([
        user("v-1", "victim@corp.example.com", DEFAULT_ORG),
        user("r-1", "real@corp.example.com", DEFAULT_ORG),
    ])));
    let fleet = fleet(&[("real", WIN)]);
    let queue = create_queue(&sqs().await, "trust-forged").await;
    let secret = secret_for(&sim, "trust-forged");
    let with_queue = env(
        &secret,
        &[
            ("WORKSPACES_DESCRIBE_ATTEMPTS", "2"),
            ("WORK_QUEUE_URL", &queue),
        ],
    );
    let without_queue = env(&secret, &[("WORKSPACES_DESCRIBE_ATTEMPTS", "2")]);

    // A creation event naming a WorkSpace that does not exist, with the
    // victim's user name, beside a real one: the real one is handled, the
    // forged one is looked for again later (deferred), nobody else moves.
    let forged_creation = creation_event(&Fleet {
        directory_id: fleet.directory_id.clone(),
        workspaces: vec![(GHOST.into(), "victim".into()), fleet.workspaces[0].clone()],
    });
    let (code, out) = invoke_cli(&with_queue, &forged_creation);
    assert_eq!(code, 0, "{out}");
    assert_eq!(statuses(&out), ["deferred", "configured"], "{out}");
    assert!(
        reason_of(&out, 0).contains("not found in DescribeWorkspaces"),
        "{out}"
    );
    assert_eq!(
        out["workspaces"][0]["workspaces_user"],
        Value::Null,
        "{out}"
    );
    assert_eq!(out["requeued"], 1, "{out}");

    // Without a queue the same forged WorkSpace is skipped at once.
    let only_forged = creation_event(&Fleet {
        directory_id: fleet.directory_id.clone(),
        workspaces: vec![(GHOST.into(), "victim".into())],
    });
    let (code, out) = invoke_cli(&without_queue, &only_forged);
    assert_eq!(code, 0, "{out}");
    assert_eq!(statuses(&out), ["skipped"], "{out}");
    assert_eq!(
        reason_of(&out, 0),
        "not found in DescribeWorkspaces; not acted on"
    );

    // Forged queue messages: one with attempts left (deferred again), one
    // whose attempts are spent (skipped) — neither dead-lettered.
    let message = |attempt: u32| {
        json!({"workspace_id": GHOST, "directory_id": fleet.directory_id,
               "user_name": "victim", "reason": "backfill", "attempt": attempt})
    };
    let batch = json!({"Records": [
        sqs_record("m-fresh", &message(1).to_string()),
        sqs_record("m-spent", &message(8).to_string()),
    ]});
    let (code, out) = invoke_cli(&with_queue, &batch);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, json!({"batchItemFailures": []}));

    // A sign-in to a WorkSpace that does not exist.
    let mut login: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/workspaces-access.json")).unwrap(),
    )
    .unwrap();
    login["detail"]["workspaceId"] = json!(GHOST);
    login["detail"]["directoryId"] = json!(fleet.directory_id);
    let (code, out) = invoke_cli(&without_queue, &login);
    assert_eq!(code, 0, "{out}");
    assert_eq!(statuses(&out), ["skipped"], "{out}");

    // Exactly one move over the whole test: the real WorkSpace's user.
    assert_eq!(moved(&sim).await, ["r-1"]);
    assert_eq!(sim.user_org("v-1").await, DEFAULT_ORG);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_org_id_that_belongs_to_another_org_is_refused_before_any_write() {
    let sim = Sim::start(&tenant(json!([user(
        "o-1",
        "orgid@corp.example.com",
        DEFAULT_ORG
    )])));
    let fleet = fleet(&[("orgid", WIN)]);
    let secret = secret_for(&sim, "trust-org-id");
    // 1002 is "Default" (copied from the wrong console page); the WorkSpaces org is 1003.
    let wrong = env(&secret, &[("CODE42_ORG_ID", "1002")]);
    let before = sim.setting(1002).await;

    let (code, out) = invoke_cli(&wrong, &creation_event(&fleet));
    assert_eq!(code, 1, "{out}");
    let error = out["error"].as_str().unwrap_or_default();
    for part in [
        "CODE42_ORG_ID=1002",
        "\"Default\" (880000000000000002)",
        "\"WorkSpaces\" (880000000000000003)",
        "set CODE42_ORG_ID=1003",
    ] {
        assert!(error.contains(part), "{part} missing: {out}");
    }
    assert_eq!(sim.counters().await["writes"], 0);
    assert_eq!(sim.setting(1002).await, before);
    assert_eq!(sim.user_org("o-1").await, DEFAULT_ORG);

    // A backfill is refused the same way.
    let (code, _) = cli(&wrong, &["backfill", "--max-moves", "5"]);
    assert_eq!(code, 1);
    assert_eq!(sim.counters().await["writes"], 0);

    // doctor: FAIL naming the configured id and its org, the fix with the right id.
    let (code, out) = cli(&wrong, &["doctor", "--output", "json"]);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let target = report["doctor"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "target org")
        .unwrap()
        .clone();
    assert_eq!(target["result"], "fail", "{target}");
    assert!(
        target["found"]
            .as_str()
            .unwrap()
            .contains("CODE42_ORG_ID=1002 is org \"Default\""),
        "{target}"
    );
    assert_eq!(
        target["fix"],
        "set CODE42_ORG_ID=1003 (template parameter Code42OrgId), or unset it"
    );

    // The right id works.
    let (code, out) = invoke_cli(
        &env(&secret, &[("CODE42_ORG_ID", "1003")]),
        &creation_event(&fleet),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(sim.user_org("o-1").await, WORKSPACES_ORG_GUID);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_org_protects_its_child_orgs_and_a_missing_one_stops_the_run() {
    // "Default" is a child of "Acme" in the simulator's tenant (parentOrgGuid).
    let sim = Sim::start(&tenant(json!([user(
        "p-1",
        "child@corp.example.com",
        DEFAULT_ORG
    )])));
    let fleet = fleet(&[("child", WIN)]);
    let secret = secret_for(&sim, "trust-protected");

    let (code, out) = invoke_cli(
        &env(&secret, &[("CODE42_PROTECTED_ORGS", "Acme")]),
        &creation_event(&fleet),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(statuses(&out), ["skipped"], "{out}");
    assert!(
        reason_of(&out, 0).contains("protected org \"Default\""),
        "{out}"
    );
    assert_eq!(sim.user_org("p-1").await, DEFAULT_ORG);

    // A protected org Code42 does not list: the run stops before anything is written.
    let (code, out) = invoke_cli(
        &env(&secret, &[("CODE42_PROTECTED_ORGS", "Acme,Executivs")]),
        &creation_event(&fleet),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out["error"]
            .as_str()
            .unwrap_or_default()
            .contains("\"Executivs\""),
        "{out}"
    );
    assert!(moved(&sim).await.is_empty());
    // The first run wrote the org's watch paths; the second wrote nothing.
    let writes = sim.counters().await["writes"].clone();
    let (code, _) = invoke_cli(
        &env(&secret, &[("CODE42_PROTECTED_ORGS", "Executivs")]),
        &creation_event(&fleet),
    );
    assert_eq!(code, 1);
    assert_eq!(sim.counters().await["writes"], writes);
}

/// The simulator's username filter is a substring match (Code42's may be):
/// users whose names contain one another, the longer one listed first, on
/// the direct lookup (an event) and the bulk listing (a verify over the
/// snapshot). A client taking the first user returned would move `joann`.
#[tokio::test(flavor = "multi_thread")]
async fn usernames_containing_one_another_are_told_apart_on_every_path() {
    let sim = Sim::start(&compliant_tenant("nest", &[]));
    for (id, name, org) in [
        ("n-joann", "joann@corp.example.com", WORKSPACES_ORG_GUID),
        ("n-ann2", "ann@corp.example.com.au", WORKSPACES_ORG_GUID),
        ("n-ann", "ann@corp.example.com", DEFAULT_ORG),
    ] {
        sim.add_user(user(id, name, org)).await;
    }
    let fleet = fleet(&[("ann", WIN)]);
    let secret = secret_for(&sim, "trust-nested");
    // Bulk reads from the first WorkSpace on.
    let bulk = env(&secret, &[("CODE42_BULK_THRESHOLD", "1")]);
    let ws = fleet.workspaces[0].0.as_str();
    let (code, out) = cli(&bulk, &["verify", "--workspace-id", ws, "--output", "json"]);
    assert_eq!(code, 2, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(statuses(&report), ["drift"], "{out}");
    assert_eq!(
        report["workspaces"][0]["actions"][0]["user_id"], "n-ann",
        "{out}"
    );
    assert!(
        sim.counters().await["by_route"]["GET /v1/users"]
            .as_u64()
            .unwrap()
            >= 1,
        "the listing was read"
    );

    let (code, out) = invoke_cli(&env(&secret, &[]), &creation_event(&fleet));
    assert_eq!(code, 0, "{out}");
    assert_eq!(statuses(&out), ["configured"], "{out}");
    assert_eq!(moved(&sim).await, ["n-ann"]);
    assert_eq!(sim.user_org("n-joann").await, WORKSPACES_ORG_GUID);
}

/// A server that serves fewer users a page than asked: the bulk listing is
/// read on to its totalCount (it used to stop at the first short page and
/// plan from a partial snapshot).
#[tokio::test(flavor = "multi_thread")]
async fn a_listing_is_read_to_its_total_when_the_server_caps_the_page_size() {
    let names: Vec<String> = (0..30).map(|i| format!("cap{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let sim = Sim::start(&compliant_tenant("cap", &refs));
    sim.configure(json!({"max_page_size": 7})).await;
    let fleet = fleet(&refs.iter().map(|n| (*n, WIN)).collect::<Vec<_>>());
    let bulk = env(
        &secret_for(&sim, "trust-page-cap"),
        &[
            ("CODE42_BULK_THRESHOLD", "1"),
            ("CODE42_USERS_PAGE_SIZE", "10"),
        ],
    );
    let (_, out) = cli(&bulk, &fleet.verify_args("json"));
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["summary"]["compliant"], 30, "{out}");
    // 30 users in pages of 7 (10 asked): 5 pages, and no user looked up one by one.
    let requests = sim.arrivals("GET", "/v1/users").await.len();
    assert_eq!(requests, 5, "pages only, no direct lookups");
}
