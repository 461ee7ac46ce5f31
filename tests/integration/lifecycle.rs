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
