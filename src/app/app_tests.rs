//! The handler's paths and the fleet runs against in-memory fakes.

use serde_json::{Value, json};

use crate::app::fakes::*;
use crate::domain::model::{FleetAction, FleetRequest, Origin};
use crate::domain::policy::PolicyId;
use crate::domain::report::Status;
use crate::error::{Code42Error, InvocationError};

use super::NoProgress;

const COMPLIANT: &str = "[':main', 'D:']";

fn event(name: &str) -> Value {
    let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn server_error() -> Code42Error {
    Code42Error::Server {
        method: "GET".into(),
        path: "/v1/users".into(),
        status: 503,
        attempts: 3,
        excerpt: "busy".into(),
    }
}

fn statuses(report: &crate::domain::report::InvocationReport) -> Vec<Status> {
    report.workspaces.iter().map(|w| w.status).collect()
}

/// One Windows WorkSpace (ws-4xk2p9q7m) whose user asmith is in the default org;
/// `setting`: the WorkSpaces org's watch-path value.
fn asmith_to_move(config: crate::config::Config, setting: Option<&str>) -> FakeApp {
    app(
        config,
        workspaces(&[("ws-4xk2p9q7m", "asmith", "WINDOWS_10")]),
        code42(
            vec![user("1", "asmith@corp.example.com", "guid-default")],
            setting,
        ),
    )
}

/// asmith's Windows WorkSpace `id`, asmith already in the WorkSpaces org, the org compliant.
fn asmith_in_the_org(id: &str) -> FakeApp {
    app(
        config(&[]),
        workspaces(&[(id, "asmith", "WINDOWS_10")]),
        code42(
            vec![user("1", "asmith@corp.example.com", WS_ORG)],
            Some(COMPLIANT),
        ),
    )
}

#[tokio::test]
async fn creation_event_moves_the_new_workspaces_user() {
    let app = asmith_to_move(config(&[]), None);
    let out = app
        .handle(&event("create-workspaces.json"), deadline())
        .await
        .unwrap();
    assert_eq!(statuses(&out.report), [Status::Configured]);
    assert_eq!(out.report.org.unwrap().status, Status::Configured);
    assert_eq!(out.batch_item_failures, None);
    let s = app.code42.0.lock().unwrap();
    assert_eq!((s.moves, s.puts), (1, 1));
}

#[tokio::test]
async fn sqs_batch_fails_only_the_messages_that_failed() {
    let app = asmith_in_the_org("ws-good1");
    app.code42.0.lock().unwrap().find_errors = vec![server_error()];
    let body = |id: &str| json!({"workspace_id": id, "reason": "backfill"}).to_string();
    let batch = json!({"Records": [
        {"messageId": "good", "body": body("ws-good1")},
        {"messageId": "bad", "body": "{\"workspace_id\": 7}"},
    ]});
    let out = app.handle(&batch, deadline()).await.unwrap();
    // The 503 failed ws-good1's message; the malformed one fails by itself.
    assert_eq!(out.batch_item_failures.unwrap(), ["good", "bad"]);
    // Retried, the good message now succeeds and the malformed one still fails.
    let out = app.handle(&batch, deadline()).await.unwrap();
    assert_eq!(out.batch_item_failures.unwrap(), ["bad"]);
    assert_eq!(statuses(&out.report), [Status::Compliant]);
}

#[tokio::test]
async fn a_global_error_fails_the_whole_batch() {
    let app = app(
        config(&[]),
        workspaces(&[("ws-good1", "asmith", "WINDOWS_10")]),
        code42(vec![], Some(COMPLIANT)),
    );
    app.code42.0.lock().unwrap().find_errors = vec![Code42Error::Forbidden {
        method: "GET".into(),
        path: "/v1/users".into(),
    }];
    let batch = json!({"Records": [{"messageId": "m", "body": json!({"workspace_id": "ws-good1", "reason": "login"}).to_string()}]});
    let (outcome, metrics) = app.handle_measured(&batch, deadline()).await;
    let failure = outcome.unwrap_err();
    assert!(
        failure.error.to_string().contains("HTTP 403"),
        "{}",
        failure.error
    );
    assert!(failure.report.is_some());
    // The failed invocation counts as failed in its metrics.
    let main = &metrics.emf("NS", 0)[0];
    assert_eq!(main["Input"], "SqsBatch");
    assert_eq!(main["InvocationsFailed"], 1);
}

#[tokio::test]
async fn a_sign_in_is_answered_from_memory_after_a_compliant_check() {
    let app = asmith_in_the_org("ws-4xk2p9q7m");
    // Covered (its agent is there): nothing is left to see for a while.
    app.code42
        .0
        .lock()
        .unwrap()
        .agents
        .push(("1".into(), agent_on("ws-4xk2p9q7m", "1.6.0")));
    let login = event("workspaces-access.json");
    let first = app.handle(&login, deadline()).await.unwrap();
    assert_eq!(statuses(&first.report), [Status::Compliant]);
    let second = app.handle(&login, deadline()).await.unwrap();
    assert_eq!(statuses(&second.report), [Status::Compliant]);
    assert!(
        second.report.workspaces[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("in this container")
    );
    assert_eq!(app.code42.0.lock().unwrap().user_lookups, 1);
}

#[tokio::test]
async fn a_verify_deployment_never_writes_whatever_the_payload_asks() {
    let app = app(
        config(&[("CODE42_MODE", "verify")]),
        workspaces(&[("ws-a", "asmith", "WINDOWS_10")]),
        code42(
            vec![user("1", "asmith@corp.example.com", "guid-default")],
            Some("[':main']"),
        ),
    );
    let out = app
        .handle(&json!({"action": "backfill", "max_moves": 100}), deadline())
        .await
        .unwrap();
    assert_eq!(statuses(&out.report), [Status::Drift]);
    let org = out.report.org.unwrap();
    assert_eq!(org.status, Status::Drift);
    // The dry run shows the exact value apply would write.
    assert_eq!(
        org.policies[0].would_write.as_deref(),
        Some(&["':main'".to_string(), "'D:'".to_string()][..])
    );
    let s = app.code42.0.lock().unwrap();
    assert_eq!((s.moves, s.puts), (0, 0));
}

fn three_to_move() -> FakeApp {
    three_to_move_with(&[])
}

/// Three users to move and one already in the WorkSpaces org.
fn three_to_move_with(settings: &[(&str, &str)]) -> FakeApp {
    app(
        config(settings),
        workspaces(&[
            ("ws-a", "a", "WINDOWS_10"),
            ("ws-b", "b", "WINDOWS_10"),
            ("ws-c", "c", "WINDOWS_10"),
            ("ws-d", "d", "WINDOWS_10"),
        ]),
        code42(
            vec![
                user("1", "a@corp.example.com", "guid-default"),
                user("2", "b@corp.example.com", "guid-default"),
                user("3", "c@corp.example.com", "guid-default"),
                user("4", "d@corp.example.com", WS_ORG),
            ],
            Some(COMPLIANT),
        ),
    )
}

fn backfill(max_moves: usize, enqueue: bool) -> FleetRequest {
    FleetRequest {
        max_moves: Some(max_moves),
        enqueue: Some(enqueue),
        ..FleetRequest::new(FleetAction::Backfill)
    }
}

#[tokio::test]
async fn backfill_above_the_cap_moves_nothing() {
    let app = three_to_move();
    let failure = app
        .fleet(&backfill(2, false), deadline(), &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(
        failure.error,
        InvocationError::TooManyMoves {
            would_move: 3,
            max_moves: 2
        }
    ));
    assert_eq!(app.code42.0.lock().unwrap().moves, 0);
}

#[tokio::test]
async fn backfill_moves_exactly_the_planned_users() {
    let app = three_moved(three_to_move()).await;
    assert_eq!(app.code42.0.lock().unwrap().moves, 3);
    // A second run makes no write.
    let report = app
        .fleet(&backfill(3, false), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(statuses(&report), [Status::Compliant; 4]);
    let s = app.code42.0.lock().unwrap();
    assert_eq!((s.moves, s.puts), (3, 0));
}

#[tokio::test]
async fn a_failed_plan_row_is_never_applied_in_the_same_run() {
    let app = three_to_move();
    // Planning ws-a fails (a 503); the cap of 2 covers the two planned moves only.
    app.code42.0.lock().unwrap().find_errors = vec![server_error()];
    let failure = app
        .fleet(&backfill(2, false), deadline(), &NoProgress)
        .await
        .unwrap_err();
    let report = failure.report.unwrap();
    assert_eq!(report.summary.failed, 1);
    assert_eq!(
        app.code42.0.lock().unwrap().moves,
        2,
        "the failed row was not moved"
    );
}

#[tokio::test]
async fn a_queued_backfill_plans_and_refuses_above_the_cap_before_queueing() {
    let app = three_to_move();
    let failure = app
        .fleet(&backfill(2, true), deadline(), &NoProgress)
        .await
        .unwrap_err();
    assert!(matches!(
        failure.error,
        InvocationError::TooManyMoves { .. }
    ));
    assert!(
        app.work_queue
            .as_ref()
            .unwrap()
            .0
            .lock()
            .unwrap()
            .is_empty()
    );
    // Within the cap: only the planned moves are queued, nothing moved here.
    let report = app
        .fleet(&backfill(3, true), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.enqueued, Some(3));
    let queued: Vec<String> = app
        .work_queue
        .as_ref()
        .unwrap()
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(m, _)| m.workspace_id.clone())
        .collect();
    assert_eq!(queued, ["ws-a", "ws-b", "ws-c"]);
    assert_eq!(app.code42.0.lock().unwrap().moves, 0);
}

#[tokio::test]
async fn the_schedule_queues_at_most_the_cap_and_repairs_org_drift() {
    let mut cfg = config(&[("CODE42_MAX_MOVES", "2")]);
    cfg.org.check_ttl = std::time::Duration::ZERO;
    let app = app(
        cfg,
        workspaces(&[
            ("ws-a", "a", "WINDOWS_10"),
            ("ws-b", "b", "WINDOWS_10"),
            ("ws-c", "c", "WINDOWS_10"),
            ("ws-e", "nobody", "WINDOWS_10"),
        ]),
        code42(
            vec![
                user("1", "a@corp.example.com", "guid-default"),
                user("2", "b@corp.example.com", "guid-default"),
                user("3", "c@corp.example.com", "guid-default"),
            ],
            Some("[':main']"),
        ),
    );
    let schedule = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "1", "time": "2025-11-03T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
    let out = app.handle(&schedule, deadline()).await.unwrap();
    assert_eq!(out.report.enqueued, Some(2));
    assert!(
        out.report
            .note
            .unwrap()
            .contains("2 WorkSpace(s) not queued")
    );
    let queued = app.work_queue.as_ref().unwrap().0.lock().unwrap().clone();
    assert_eq!(queued.len(), 2);
    assert!(
        queued
            .iter()
            .all(|(m, delay)| m.reason == Origin::Reconcile && delay.is_zero())
    );
    let s = app.code42.0.lock().unwrap();
    assert_eq!(
        (s.moves, s.puts),
        (0, 1),
        "org drift repaired, nobody moved by the schedule"
    );
    assert_eq!(out.report.org.unwrap().status, Status::Configured);
}

#[tokio::test]
async fn verify_payload_reads_the_setting_even_after_a_recent_compliant_check() {
    let app = asmith_in_the_org("ws-4xk2p9q7m");
    app.handle(&event("create-workspaces.json"), deadline())
        .await
        .unwrap();
    assert_eq!(app.code42.0.lock().unwrap().setting_reads, 1);
    // Someone unlocks the setting; the audit must see it at once.
    app.code42
        .0
        .lock()
        .unwrap()
        .setting
        .as_mut()
        .unwrap()
        .locked = false;
    let out = app
        .handle(&json!({"action": "verify"}), deadline())
        .await
        .unwrap();
    assert_eq!(out.report.org.unwrap().status, Status::Drift);
    assert_eq!(app.code42.0.lock().unwrap().setting_reads, 2);
}

#[tokio::test]
async fn an_identity_center_workspace_is_mapped_by_its_upn_and_moved() {
    let mut ws = workspaces(&[("ws-idc12345", "jane@corp.example.com", "WINDOWS_10")]);
    ws.workspaces.get_mut("ws-idc12345").unwrap().directory_id = Some("wsd-abcz12345".into());
    let app = app(
        config(&[]),
        ws,
        code42(
            vec![user("9", "jane@corp.example.com", "guid-default")],
            Some(COMPLIANT),
        ),
    );
    let report = app
        .fleet(&backfill(1, false), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(statuses(&report), [Status::Configured]);
    assert_eq!(
        report.workspaces[0].code42_username.as_deref(),
        Some("jane@corp.example.com")
    );
    assert_eq!(
        report.workspaces[0].directory_id.as_deref(),
        Some("wsd-abcz12345")
    );
}

#[tokio::test]
async fn an_unparsable_setting_is_reported_as_drift_and_never_rewritten_while_users_still_move() {
    let app = asmith_to_move(config(&[]), Some("[:main, 'D:]"));
    let out = app
        .handle(&event("create-workspaces.json"), deadline())
        .await
        .unwrap();
    let org = out.report.org.as_ref().unwrap();
    assert_eq!(org.status, Status::Drift);
    assert!(org.finding.contains("[:main, 'D:]"), "{}", org.finding);
    assert_eq!(statuses(&out.report), [Status::Configured]);
    let s = app.code42.0.lock().unwrap();
    assert_eq!((s.puts, s.moves), (0, 1));
}

#[tokio::test]
async fn an_apostrophe_in_a_customer_path_is_kept_and_a_second_run_writes_nothing() {
    let app = app(
        config(&[]),
        workspaces(&[("ws-4xk2p9q7m", "asmith", "WINDOWS_10")]),
        code42(
            vec![user("1", "asmith@corp.example.com", WS_ORG)],
            Some("['C:/Users/O'Brien/']"),
        ),
    );
    app.handle(&event("create-workspaces.json"), deadline())
        .await
        .unwrap();
    let stored = app.code42.0.lock().unwrap().setting.clone().unwrap();
    assert_eq!(stored.raw, "['C:/Users/O'Brien/', ':main', 'D:']");
    // A fresh container (no cache) reads it back as compliant: no second write.
    let fresh = super::App::new(
        config(&[]),
        workspaces(&[("ws-4xk2p9q7m", "asmith", "WINDOWS_10")]),
        code42(vec![user("1", "asmith@corp.example.com", WS_ORG)], None),
        Some(FakeQueue::default()),
    );
    fresh.code42.0.lock().unwrap().setting = Some(stored);
    fresh
        .handle(&event("create-workspaces.json"), deadline())
        .await
        .unwrap();
    assert_eq!(fresh.code42.0.lock().unwrap().puts, 0);
}

#[tokio::test]
async fn the_schedule_fails_when_org_drift_cannot_be_repaired() {
    let app = app(
        config(&[]),
        workspaces(&[("ws-a", "a", "WINDOWS_10")]),
        code42(
            vec![user("1", "a@corp.example.com", WS_ORG)],
            Some("[:main, 'D:]"),
        ),
    );
    let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let failure = app.handle(&schedule, deadline()).await.unwrap_err();
    assert!(
        matches!(failure.error, InvocationError::OrgNotRepaired { .. }),
        "{}",
        failure.error
    );
    assert_eq!(app.code42.0.lock().unwrap().puts, 0);
}

#[tokio::test]
async fn a_deferred_workspace_is_requeued_with_a_delay_until_its_attempts_run_out() {
    let app = app(
        config(&[("CODE42_DEFERRED_ATTEMPTS", "8")]),
        workspaces(&[("ws-4xk2p9q7m", "asmith", "WINDOWS_10")]),
        code42(vec![], Some(COMPLIANT)),
    );
    let out = app
        .handle(&event("create-workspaces.json"), deadline())
        .await
        .unwrap();
    assert_eq!(statuses(&out.report), [Status::Deferred]);
    assert_eq!(out.report.requeued, Some(1));
    let (message, delay) = app.work_queue.as_ref().unwrap().0.lock().unwrap()[0].clone();
    assert_eq!((message.attempt, message.reason), (1, Origin::Creation));
    assert_eq!(delay, std::time::Duration::from_secs(900));
    // The eighth re-check is the last: then the schedule takes over.
    let body = json!({"workspace_id": "ws-4xk2p9q7m", "reason": "creation", "attempt": 8});
    let batch = json!({"Records": [{"messageId": "m", "body": body.to_string()}]});
    let out = app.handle(&batch, deadline()).await.unwrap();
    assert_eq!(out.report.requeued, None);
    assert!(
        out.report.workspaces[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("scheduled reconciliation")
    );
    assert_eq!(app.work_queue.as_ref().unwrap().0.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn work_is_not_begun_near_the_deadline_and_is_reported_retryable() {
    let app = asmith_to_move(
        config(&[("CODE42_START_MARGIN_SECONDS", "5")]),
        Some(COMPLIANT),
    );
    let soon = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    let failure = app
        .handle(&event("create-workspaces.json"), soon)
        .await
        .unwrap_err();
    assert!(failure.retryable());
    let report = failure.report.unwrap();
    assert!(
        report.workspaces[0]
            .error
            .as_deref()
            .unwrap()
            .contains("not begun")
    );
    let s = app.code42.0.lock().unwrap();
    assert_eq!((s.user_lookups, s.moves), (0, 0));
}

#[tokio::test]
async fn the_schedule_queues_unfinished_work_once_and_succeeds() {
    let app = app(
        config(&[("CODE42_START_MARGIN_SECONDS", "5")]),
        workspaces(&[("ws-a", "a", "WINDOWS_10"), ("ws-b", "b", "WINDOWS_10")]),
        code42(
            vec![user("1", "a@corp.example.com", WS_ORG)],
            Some(COMPLIANT),
        ),
    );
    let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let soon = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    let out = app
        .handle(&schedule, soon)
        .await
        .expect("the schedule succeeds: no platform retry re-queues");
    assert_eq!(out.report.enqueued, Some(2));
    assert_eq!(out.report.summary.failed, 2);
}

/// One user per WorkSpace id (`ws-NAME` → `uI`, `NAME@corp.example.com`), in the WorkSpaces org.
fn users_in_the_org(ids: &[&str]) -> Vec<crate::domain::model::Code42User> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| {
            user(
                &format!("u{i}"),
                &format!("{}@corp.example.com", &id[3..]),
                WS_ORG,
            )
        })
        .collect()
}

#[tokio::test]
async fn verify_reports_each_agent_status_and_coverage() {
    let ids = ["ws-ok", "ws-missing", "ws-old", "ws-sick", "ws-elsewhere"];
    let c42 = code42(users_in_the_org(&ids), Some(COMPLIANT));
    {
        let mut s = c42.0.lock().unwrap();
        s.agents.push(("u0".into(), agent_on("ws-ok", "1.4.0")));
        s.agents.push(("u2".into(), agent_on("ws-old", "1.3.9")));
        let mut sick = agent_on("ws-sick", "2.0.0");
        sick.health_issues = vec!["NOT_CONNECTING".into()];
        s.agents.push(("u3".into(), sick));
        s.agents.push(("u4".into(), agent_on("ws-laptop", "2.0.0")));
    }
    let app = app(
        config(&[("CODE42_PLAN", "enterprise")]),
        workspaces(&ids.map(|id| (id, &id[3..], "WINDOWS_10"))),
        c42,
    );
    let out = app
        .handle(&json!({"action": "verify"}), deadline())
        .await
        .unwrap();
    let by_id: std::collections::HashMap<&str, (&str, Option<&str>)> = out
        .report
        .workspaces
        .iter()
        .map(|w| {
            (
                w.workspace_id.as_deref().unwrap(),
                (
                    w.agent.as_ref().unwrap().status.as_str(),
                    w.coverage.as_ref().unwrap().reason,
                ),
            )
        })
        .collect();
    assert_eq!(by_id["ws-ok"], ("ok", None));
    assert_eq!(by_id["ws-missing"], ("missing", Some("agent_missing")));
    assert_eq!(by_id["ws-old"], ("outdated", Some("agent_outdated")));
    assert_eq!(by_id["ws-sick"], ("unhealthy", Some("agent_unhealthy")));
    assert_eq!(
        by_id["ws-elsewhere"],
        ("unmatched", Some("agent_unmatched"))
    );
    let coverage = &out.report.summary.coverage;
    assert_eq!((coverage.covered, coverage.not_covered), (1, 4));
    assert!(out.report.needs_attention(), "verify exits 2");
    // Agent findings are findings: the WorkSpaces themselves are compliant.
    assert_eq!(out.report.summary.compliant, 5);
}

#[tokio::test]
async fn a_creation_event_succeeds_while_the_agent_is_not_there_yet() {
    let app = asmith_to_move(config(&[]), Some(COMPLIANT));
    let out = app
        .handle(&event("create-workspaces.json"), deadline())
        .await
        .unwrap();
    let w = &out.report.workspaces[0];
    assert_eq!(w.status, Status::Configured);
    assert_eq!(w.agent.as_ref().unwrap().status.as_str(), "missing");
    assert!(
        !w.agent.as_ref().unwrap().version_checked,
        "no plan: versions not checked"
    );
    assert_eq!(w.coverage.as_ref().unwrap().reason, Some("agent_missing"));
}

#[tokio::test]
async fn a_users_other_workspace_in_the_listing_is_not_one_of_their_other_devices() {
    let c42 = code42(
        vec![user("1", "a@corp.example.com", "guid-default")],
        Some(COMPLIANT),
    );
    {
        let mut s = c42.0.lock().unwrap();
        for host in ["ws-a", "ws-b", "ws-laptop"] {
            s.agents.push(("1".into(), agent_on(host, "2.0")));
        }
    }
    let app = app(
        config(&[]),
        workspaces(&[("ws-a", "a", "WINDOWS_10"), ("ws-b", "A", "WINDOWS_10")]),
        c42,
    );
    let dry = FleetRequest {
        dry_run: true,
        ..backfill(5, false)
    };
    let report = app.fleet(&dry, deadline(), &NoProgress).await.unwrap();
    assert_eq!(report.workspaces.len(), 2);
    for w in &report.workspaces {
        let crate::domain::report::Action::MoveUser { other_devices, .. } = &w.actions[0] else {
            panic!("expected a move: {w:?}")
        };
        // Only the laptop: the user's other WorkSpace (its name in another case) is theirs too.
        assert_eq!(
            other_devices,
            &["WSAMZN-LAPTOP.corp.example.com".to_string()],
            "{:?}",
            w.workspace_id
        );
    }
}

#[tokio::test]
async fn a_move_reports_the_users_other_devices_or_skips_them_when_asked() {
    let setup = |extra: &[(&str, &str)]| {
        let c42 = code42(
            vec![user("1", "a@corp.example.com", "guid-default")],
            Some(COMPLIANT),
        );
        {
            let mut s = c42.0.lock().unwrap();
            s.agents.push(("1".into(), agent_on("ws-a", "2.0")));
            s.agents.push(("1".into(), agent_on("ws-laptop", "2.0")));
        }
        app(
            config(extra),
            workspaces(&[("ws-a", "a", "WINDOWS_10")]),
            c42,
        )
    };
    let dry = FleetRequest {
        dry_run: true,
        ..backfill(5, false)
    };
    let app = setup(&[]);
    let report = app.fleet(&dry, deadline(), &NoProgress).await.unwrap();
    assert_eq!(report.moves_with_other_devices, Some(1));
    let crate::domain::report::Action::MoveUser { other_devices, .. } =
        &report.workspaces[0].actions[0]
    else {
        panic!("expected a move")
    };
    assert_eq!(
        other_devices,
        &["WSAMZN-LAPTOP.corp.example.com".to_string()]
    );
    let report = app
        .fleet(&backfill(5, false), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(statuses(&report), [Status::Configured]);

    let app = setup(&[("CODE42_MOVE_WITH_OTHER_DEVICES", "skip")]);
    let report = app
        .fleet(&backfill(5, false), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(statuses(&report), [Status::Skipped]);
    assert!(
        report.workspaces[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("WSAMZN-LAPTOP")
    );
    assert_eq!(app.code42.0.lock().unwrap().moves, 0);
}

/// Trust: only a WorkSpace DescribeWorkspaces shows terminating, only the
/// agents reporting its host name, never a device under legal hold, never on
/// a backup plan unless asked. (Before, an AVAILABLE WorkSpace named in a
/// terminate event had its agent deactivated: the `on` case now needs the
/// WorkSpace TERMINATING.)
#[tokio::test]
async fn a_terminated_workspaces_agent_is_deactivated_only_when_enabled_and_only_that_one() {
    let ws_id = "ws-4xk2p9q7m";
    let setup = |extra: &[(&str, &str)], state: &str| {
        let c42 = code42(
            vec![user("1", "asmith@corp.example.com", WS_ORG)],
            Some(COMPLIANT),
        );
        {
            let mut s = c42.0.lock().unwrap();
            s.agents.push(("1".into(), agent_on(ws_id, "2.0")));
            s.agents.push(("1".into(), agent_on("ws-laptop", "2.0")));
            // A laptop merely renamed to the WorkSpace's name: not its agent.
            let mut renamed = agent_on("ws-renamed", "2.0");
            renamed.name = Some(computer_name(ws_id));
            s.agents.push(("1".into(), renamed));
        }
        let mut ws = workspaces(&[(ws_id, "asmith", "WINDOWS_10")]);
        ws.workspaces.get_mut(ws_id).unwrap().state = Some(state.into());
        app(config(extra), ws, c42)
    };
    let terminate = event("terminate-workspaces.json");
    let on = [("CODE42_DEACTIVATE_ON_TERMINATE", "true")];
    // Off by default: a clear no-op, no Code42 call.
    let off = setup(&[], "TERMINATING");
    let out = off.handle(&terminate, deadline()).await.unwrap();
    assert!(
        out.report
            .note
            .unwrap()
            .contains("CODE42_DEACTIVATE_ON_TERMINATE is off")
    );
    assert_eq!(off.code42.0.lock().unwrap().user_lookups, 0);
    // A living WorkSpace (a forged or mistaken event): skipped, nothing read or deactivated.
    for state in ["AVAILABLE", "STOPPED", "PENDING", "REBUILDING"] {
        let alive = setup(&on, state);
        let out = alive.handle(&terminate, deadline()).await.unwrap();
        assert_eq!(statuses(&out.report), [Status::Skipped], "{state}");
        assert!(
            out.report.workspaces[0]
                .reason
                .as_deref()
                .unwrap()
                .contains(state)
        );
        let s = alive.code42.0.lock().unwrap();
        assert_eq!((s.deactivations.len(), s.user_lookups), (0, 0), "{state}");
    }
    // Verify mode reports what it would deactivate.
    let verify = setup(&[on[0], ("CODE42_MODE", "verify")], "TERMINATING");
    let out = verify.handle(&terminate, deadline()).await.unwrap();
    assert_eq!(statuses(&out.report), [Status::Drift]);
    assert!(verify.code42.0.lock().unwrap().deactivations.is_empty());
    // On: exactly the WorkSpace's agent, never the laptop or the renamed one; again: a no-op.
    let on_app = setup(&on, "TERMINATED");
    let out = on_app.handle(&terminate, deadline()).await.unwrap();
    assert_eq!(statuses(&out.report), [Status::Configured]);
    assert_eq!(
        on_app.code42.0.lock().unwrap().deactivations,
        ["agent-ws-4xk2p9q7m"]
    );
    let out = on_app.handle(&terminate, deadline()).await.unwrap();
    assert_eq!(statuses(&out.report), [Status::Skipped]);
    assert_eq!(on_app.code42.0.lock().unwrap().deactivations.len(), 1);
    // Two agents on the host (a reinstall): both go; one under legal hold stays, reported.
    let held = setup(&on, "TERMINATING");
    {
        let mut s = held.code42.0.lock().unwrap();
        let mut reinstall = agent_on(ws_id, "2.1");
        reinstall.agent_id = "agent-reinstall".into();
        s.agents.push(("1".into(), reinstall));
        s.legal_hold.push("agent-ws-4xk2p9q7m".into());
    }
    let out = held.handle(&terminate, deadline()).await.unwrap();
    let w = &out.report.workspaces[0];
    assert_eq!(w.status, Status::Configured);
    assert!(w.reason.as_deref().unwrap().contains("legal hold"), "{w:?}");
    assert_eq!(
        held.code42.0.lock().unwrap().deactivations,
        ["agent-reinstall"]
    );
    // A backup plan: refused unless CODE42_DEACTIVATE_WITH_BACKUP=true.
    let basic = setup(&[on[0], ("CODE42_PLAN", "basic")], "TERMINATING");
    let out = basic.handle(&terminate, deadline()).await.unwrap();
    assert_eq!(statuses(&out.report), [Status::Skipped]);
    assert!(
        out.report
            .note
            .unwrap()
            .contains("CODE42_DEACTIVATE_WITH_BACKUP=true")
    );
    assert_eq!(basic.code42.0.lock().unwrap().user_lookups, 0);
    let basic = setup(
        &[
            on[0],
            ("CODE42_PLAN", "basic"),
            ("CODE42_DEACTIVATE_WITH_BACKUP", "true"),
        ],
        "TERMINATING",
    );
    let out = basic.handle(&terminate, deadline()).await.unwrap();
    assert_eq!(statuses(&out.report), [Status::Configured]);
    assert_eq!(basic.code42.0.lock().unwrap().deactivations.len(), 1);
}

fn org_with_backup_sets(provider: i64) -> serde_json::Value {
    json!({"data": {"orgId": 1003, "orgName": "WorkSpaces", "orgInheritDto": {"orgIdProvidingDeviceDefaults": provider},
    "deviceDefaults": {"serviceBackupConfig": {"backupConfig": {"backupSets": [
        {"@id": "1", "name": "Default", "destinations": [{"@id": "9"}],
         "backupPaths": {"pathset": [{"@os": "Linux", "path": [{"@include": ":user/"}, {"@exclude": ":user/AppData/"}]}]}}
    ]}}}}})
}

#[tokio::test]
async fn a_basic_plan_backfill_adds_d_users_once_and_a_second_run_writes_nothing() {
    let c42 = code42(
        vec![user("1", "a@corp.example.com", WS_ORG)],
        Some(COMPLIANT),
    );
    c42.0.lock().unwrap().org_object = org_with_backup_sets(1003);
    let app = app(
        config(&[("CODE42_PLAN", "basic")]),
        workspaces(&[("ws-a", "a", "WINDOWS_10")]),
        c42,
    );
    let report = app
        .fleet(&backfill(5, false), deadline(), &NoProgress)
        .await
        .unwrap();
    let backup = report
        .org
        .as_ref()
        .unwrap()
        .policies
        .iter()
        .find(|p| p.policy == PolicyId::BackupFileSelection)
        .unwrap();
    assert_eq!(backup.status, Status::Configured, "{}", backup.finding);
    assert_eq!(app.code42.0.lock().unwrap().org_puts, 1);
    let stored = app.code42.0.lock().unwrap().org_object.clone();
    assert_eq!(
        stored.pointer("/data/deviceDefaults/serviceBackupConfig/backupConfig/backupSets/0/backupPaths/pathset/0/path").unwrap(),
        &json!([{"@include": ":user/"}, {"@include": "D:/Users/"}, {"@exclude": ":user/AppData/"}])
    );
    let report = app
        .fleet(&backfill(5, false), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(report.org.as_ref().unwrap().status, Status::Compliant);
    assert_eq!(
        app.code42.0.lock().unwrap().org_puts,
        1,
        "a second run writes nothing"
    );
}

#[tokio::test]
async fn inherited_backup_defaults_are_reported_not_written_and_block_nothing_else() {
    let c42 = code42(
        vec![user("1", "a@corp.example.com", "guid-default")],
        Some(COMPLIANT),
    );
    c42.0.lock().unwrap().org_object = org_with_backup_sets(1001);
    let app = app(
        config(&[("CODE42_PLAN", "advanced")]),
        workspaces(&[("ws-a", "a", "WINDOWS_10")]),
        c42,
    );
    let report = app
        .fleet(&backfill(5, false), deadline(), &NoProgress)
        .await
        .unwrap();
    let org = report.org.as_ref().unwrap();
    let backup = org
        .policies
        .iter()
        .find(|p| p.policy == PolicyId::BackupFileSelection)
        .unwrap();
    assert_eq!(backup.status, Status::Drift);
    assert!(
        backup.finding.contains("inherited from org 1001"),
        "{}",
        backup.finding
    );
    assert_eq!(
        statuses(&report),
        [Status::Configured],
        "the user still moved"
    );
    assert_eq!(
        report.workspaces[0].coverage.as_ref().unwrap().reason,
        Some("org_settings_drift")
    );
    assert_eq!(app.code42.0.lock().unwrap().org_puts, 0);
    // The schedule does not fail for it (the operator decides), it reports it.
    let schedule = json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
    let out = app.handle(&schedule, deadline()).await.unwrap();
    assert_eq!(out.report.org.unwrap().status, Status::Drift);
}

fn doctor_results(
    report: &crate::domain::report::InvocationReport,
) -> Vec<(&'static str, crate::domain::report::CheckResult)> {
    report
        .doctor
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| (c.name, c.result))
        .collect()
}

#[tokio::test]
async fn doctor_passes_a_healthy_set_up_and_writes_nothing() {
    use crate::domain::report::CheckResult::*;
    let app = app(
        config(&[
            ("CODE42_PLAN", "enterprise"),
            ("CODE42_PROTECTED_ORGS", "Executives"),
        ]),
        workspaces(&[("ws-a", "asmith", "WINDOWS_10")]),
        code42(
            vec![user("1", "asmith@corp.example.com", WS_ORG)],
            Some(COMPLIANT),
        ),
    );
    let out = app
        .handle(&json!({"action": "doctor"}), deadline())
        .await
        .unwrap();
    let results = doctor_results(&out.report);
    assert!(results.iter().all(|(_, r)| *r == Pass), "{results:?}");
    for name in [
        "workspaces directories",
        "code42 secret",
        "gateway token",
        "target org",
        "org settings resource",
        "watch-path setting",
        "user names",
        "protected orgs",
        "plan",
    ] {
        assert!(
            results.iter().any(|(n, _)| *n == name),
            "{name} missing: {results:?}"
        );
    }
    let s = app.code42.0.lock().unwrap();
    assert_eq!((s.moves, s.puts), (0, 0));
}

#[tokio::test]
async fn doctor_fails_a_wrong_template_and_a_typo_in_protected_orgs_and_warns_what_apply_changes() {
    use crate::domain::report::CheckResult::*;
    let app = app(
        config(&[
            ("CODE42_USERNAME_DOMAIN", "wrong.example"),
            ("CODE42_PROTECTED_ORGS", "Execs"),
        ]),
        workspaces(&[
            ("ws-a", "asmith", "WINDOWS_10"),
            ("ws-b", "bjones", "WINDOWS_10"),
        ]),
        code42(
            vec![
                user("1", "asmith@corp.example.com", WS_ORG),
                user("2", "bjones@corp.example.com", WS_ORG),
            ],
            Some("[':main']"),
        ),
    );
    let report = app.doctor(deadline()).await;
    let results = doctor_results(&report);
    let result_of = |name: &str| results.iter().find(|(n, _)| *n == name).map(|(_, r)| *r);
    assert_eq!(result_of("user names"), Some(Fail));
    assert_eq!(result_of("protected orgs"), Some(Fail));
    assert_eq!(result_of("watch-path setting"), Some(Warn));
    assert_eq!(result_of("plan"), Some(Warn));
    let checks = report.doctor.as_ref().unwrap();
    let names = checks.iter().find(|c| c.name == "user names").unwrap();
    assert!(
        names.found.contains("0 of 2") && names.fix.as_deref().unwrap().contains("CODE42_USERNAME"),
        "{names:?}"
    );
    assert_eq!(app.code42.0.lock().unwrap().puts, 0);
}

#[tokio::test]
async fn a_large_plan_reads_users_and_agents_in_bulk_and_still_finds_users_created_since() {
    let app = app(
        config(&[
            ("CODE42_BULK_THRESHOLD", "3"),
            ("CODE42_USERS_PAGE_SIZE", "2"),
        ]),
        workspaces(&[
            ("ws-a", "a", "WINDOWS_10"),
            ("ws-b", "b", "WINDOWS_10"),
            ("ws-c", "c", "WINDOWS_10"),
            ("ws-d", "d", "WINDOWS_10"),
        ]),
        code42(
            vec![
                user("1", "a@corp.example.com", WS_ORG),
                user("2", "b@corp.example.com", WS_ORG),
                user("3", "c@corp.example.com", "guid-default"),
            ],
            Some(COMPLIANT),
        ),
    );
    app.code42
        .0
        .lock()
        .unwrap()
        .agents
        .push(("1".into(), agent_on("ws-a", "2.0")));
    let verify = FleetRequest::new(FleetAction::Verify);
    let report = app.fleet(&verify, deadline(), &NoProgress).await.unwrap();
    assert_eq!(
        statuses(&report),
        [
            Status::Compliant,
            Status::Compliant,
            Status::Drift,
            Status::Deferred
        ]
    );
    assert_eq!(
        report.workspaces[0].agent.as_ref().unwrap().status.as_str(),
        "ok"
    );
    {
        let s = app.code42.0.lock().unwrap();
        // Users in 2 pages of 2 and one (short) page of agents; only "d",
        // absent from the snapshot, is looked up by name.
        assert_eq!((s.bulk_pages, s.user_lookups), (3, 1));
    }
    // Below the threshold: per-user lookups as before.
    let small = FleetRequest {
        filter: crate::domain::model::FleetFilter {
            workspace_ids: vec![crate::domain::ids::WorkspaceId::parse("ws-a").unwrap()],
            ..Default::default()
        },
        ..FleetRequest::new(FleetAction::Verify)
    };
    app.fleet(&small, deadline(), &NoProgress).await.unwrap();
    let s = app.code42.0.lock().unwrap();
    assert_eq!((s.bulk_pages, s.user_lookups), (3, 2));
}

/// The Lambda prints these records; CloudWatch turns them into the metrics
/// the template's alarms read.
#[tokio::test]
async fn each_invocation_yields_emf_records_of_what_it_did() {
    let app = asmith_to_move(config(&[]), None);
    let (outcome, metrics) = app
        .handle_measured(&event("create-workspaces.json"), deadline())
        .await;
    assert_eq!(statuses(&outcome.unwrap().report), [Status::Configured]);
    let records = metrics.emf("WorkspacesCode42", 1_764_000_000_000);
    // Printed one per line, as JSON: parse them back as CloudWatch would.
    let lines: Vec<Value> = records
        .iter()
        .map(|r| serde_json::from_str(&r.to_string()).unwrap())
        .collect();
    let main = &lines[0];
    let directive = &main["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "WorkspacesCode42");
    assert_eq!(main["Input"], "CreateWorkspaces");
    assert_eq!(main["WorkspacesConfigured"], 1);
    assert_eq!(main["WorkspacesFailed"], 0);
    assert_eq!(main["UsersMoved"], 1);
    assert_eq!(main["OrgPolicyWrites"], 1);
    assert_eq!(main["InvocationsFailed"], 0);
    let s = app.code42.0.lock().unwrap();
    assert_eq!(
        main["Code42Requests"],
        s.moves
            + s.puts
            + s.setting_reads
            + s.user_lookups
            + s.user_reads
            + s.org_reads
            + s.org_puts,
        "the requests of this invocation"
    );
    assert!(main["Code42Requests"].as_u64().unwrap() > 0);
}

/// At a bulk threshold of 3, the three moves are confirmed by one re-read
/// of the users (two pages of 2), not three reads.
fn three_to_move_at_threshold(threshold: &str) -> FakeApp {
    three_to_move_with(&[
        ("CODE42_BULK_THRESHOLD", threshold),
        ("CODE42_USERS_PAGE_SIZE", "2"),
    ])
}

/// A backfill of the three-to-move fleet: three moved, one already compliant.
async fn three_moved(app: FakeApp) -> FakeApp {
    let report = app
        .fleet(&backfill(3, false), deadline(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        statuses(&report),
        [
            Status::Configured,
            Status::Configured,
            Status::Configured,
            Status::Compliant
        ]
    );
    app
}

#[tokio::test]
async fn a_large_apply_pass_confirms_its_moves_with_one_bulk_re_read() {
    let app = three_moved(three_to_move_at_threshold("3")).await;
    let s = app.code42.0.lock().unwrap();
    assert_eq!(s.moves, 3);
    assert_eq!(s.user_reads, 0, "no read per move");
    // Plan: users in 2 pages + 1 page of agents; confirmation: users in 2 pages.
    assert_eq!(s.bulk_pages, 5);
}

#[tokio::test]
async fn a_small_apply_pass_reads_each_moved_user_back() {
    let app = three_moved(three_to_move_at_threshold("100")).await;
    let s = app.code42.0.lock().unwrap();
    assert_eq!((s.moves, s.user_reads, s.bulk_pages), (3, 3, 0));
}

#[tokio::test]
async fn a_move_the_bulk_re_read_does_not_confirm_fails_that_workspace_only() {
    let app = three_to_move_at_threshold("3");
    app.code42.0.lock().unwrap().dropped_moves = 1;
    let report = failed_backfill_of_three(&app).await;
    assert_eq!(
        statuses(&report),
        [
            Status::Failed,
            Status::Configured,
            Status::Configured,
            Status::Compliant
        ]
    );
    let failed = &report.workspaces[0];
    assert_eq!(failed.retryable, Some(true));
    assert!(
        failed.error.as_deref().unwrap().contains(
            "accepted the move of a@corp.example.com but the user is still in org guid-default"
        ),
        "{failed:?}"
    );
    assert!(
        matches!(
            failed.actions.as_slice(),
            [crate::domain::report::Action::MoveUser { applied: true, .. }]
        ),
        // Changed in this release (was `applied: false`): a move Code42
        // accepted stays in the record; the error says it is not confirmed.
        "a move Code42 accepted is never lost from the record: {:?}",
        failed.actions
    );
}

#[tokio::test]
async fn doctor_says_why_terminate_clean_up_is_refused_on_a_backup_plan() {
    use crate::domain::report::CheckResult::*;
    let doctor = |extra: &[(&str, &str)]| {
        let app = app(
            config(extra),
            workspaces(&[("ws-a", "asmith", "WINDOWS_10")]),
            code42(
                vec![user("1", "asmith@corp.example.com", WS_ORG)],
                Some(COMPLIANT),
            ),
        );
        async move {
            let out = app
                .handle(&json!({"action": "doctor"}), deadline())
                .await
                .unwrap();
            out.report
                .doctor
                .unwrap()
                .into_iter()
                .find(|c| c.name == "terminate clean-up")
        }
    };
    let on = ("CODE42_DEACTIVATE_ON_TERMINATE", "true");
    let refused = doctor(&[on, ("CODE42_PLAN", "advanced")]).await.unwrap();
    assert_eq!(refused.result, Warn);
    assert!(refused.found.contains("only copy"), "{}", refused.found);
    let allowed = doctor(&[
        on,
        ("CODE42_PLAN", "advanced"),
        ("CODE42_DEACTIVATE_WITH_BACKUP", "true"),
    ])
    .await
    .unwrap();
    assert!(allowed.found.contains("cold storage"), "{}", allowed.found);
    // Plans without backup, or clean-up off: nothing to say.
    assert!(doctor(&[on, ("CODE42_PLAN", "enterprise")]).await.is_none());
    assert!(doctor(&[("CODE42_PLAN", "basic")]).await.is_none());
}

/// A backfill of the three-to-move fleet that fails: its report.
async fn failed_backfill_of_three(app: &FakeApp) -> crate::domain::report::InvocationReport {
    let failure = app
        .fleet(&backfill(3, false), deadline(), &NoProgress)
        .await
        .unwrap_err();
    *failure.report.unwrap()
}

/// The move of a WorkSpace whose move Code42 accepted: in the record.
fn accepted_move(w: &crate::domain::report::WorkspaceReport) -> bool {
    matches!(
        w.actions.as_slice(),
        [crate::domain::report::Action::MoveUser { applied: true, from_org_guid, .. }] if from_org_guid == "guid-default"
    )
}

#[tokio::test]
async fn a_move_whose_read_back_fails_stays_in_the_record_and_the_metric() {
    let app = asmith_to_move(config(&[]), Some(COMPLIANT));
    app.code42.0.lock().unwrap().get_errors = vec![timeout("/v1/users/1")];
    let (outcome, metrics) = app
        .handle_measured(&event("create-workspaces.json"), deadline())
        .await;
    let report = *outcome.unwrap_err().report.unwrap();
    let w = &report.workspaces[0];
    assert_eq!((w.status, w.retryable), (Status::Failed, Some(true)));
    assert!(accepted_move(w), "{:?}", w.actions);
    assert_eq!(app.code42.0.lock().unwrap().moves, 1);
    let main = &metrics.emf("ns", 0)[0];
    assert_eq!(
        (
            main["UsersMoved"].as_u64(),
            main["InvocationsFailed"].as_u64()
        ),
        (Some(1), Some(1))
    );
}

#[tokio::test]
async fn moves_a_bulk_confirmation_cannot_read_stay_in_the_record() {
    let app = three_to_move_at_threshold("3");
    {
        let mut s = app.code42.0.lock().unwrap();
        s.listing_fails_after_a_move = true;
        // The one-by-one reads after the failed bulk read time out too.
        s.get_errors = vec![timeout("/v1/users/x"); 3];
    }
    let report = failed_backfill_of_three(&app).await;
    assert_eq!(
        statuses(&report),
        [
            Status::Failed,
            Status::Failed,
            Status::Failed,
            Status::Compliant
        ]
    );
    for w in &report.workspaces[..3] {
        assert!(accepted_move(w), "{:?}", w.actions);
        assert!(
            w.error
                .as_deref()
                .unwrap()
                .contains("could not be confirmed"),
            "{w:?}"
        );
    }
    assert_eq!(app.code42.0.lock().unwrap().moves, 3);
}

#[tokio::test]
async fn an_apply_pass_that_fails_midway_returns_what_it_applied_not_the_plan() {
    // The first WorkSpace's user moves, then the credentials are refused (a
    // global error) as the move is read back: the run fails, and its report
    // is the apply pass's (the move applied), not the plan's (not applied).
    let app = three_to_move_with(&[("CODE42_CONCURRENCY", "1")]);
    app.code42.0.lock().unwrap().get_errors = vec![Code42Error::Unauthorized {
        secret_id: "s".into(),
        what: "GET /v1/users/2".into(),
    }];
    let failure = app
        .fleet(&backfill(3, false), deadline(), &NoProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(
            failure.error,
            InvocationError::Code42(Code42Error::Unauthorized { .. })
        ),
        "{}",
        failure.error
    );
    let report = failure.report.unwrap();
    assert!(
        accepted_move(&report.workspaces[0]),
        "{:?}",
        report.workspaces[0]
    );
    assert_eq!(report.workspaces[0].status, Status::Failed);
}

/// A payload without `max_moves` gets the deployment's cap, not a built-in 25.
#[tokio::test]
async fn a_backfill_payload_without_max_moves_is_held_to_code42_max_moves() {
    let app = three_to_move_with(&[("CODE42_MAX_MOVES", "2")]);
    let failure = app
        .handle(&json!({"action": "backfill", "enqueue": false}), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            failure.error,
            InvocationError::TooManyMoves {
                would_move: 3,
                max_moves: 2
            }
        ),
        "{}",
        failure.error
    );
    assert_eq!(app.code42.0.lock().unwrap().moves, 0);
}

/// One policy failing (the backup defaults' write does not read back) blocks
/// neither the other policy nor the WorkSpaces: they are placed, the policy
/// is `failed` with its error, the run fails and the metric counts it.
#[tokio::test]
async fn a_failing_org_policy_blocks_neither_the_other_policies_nor_the_workspaces() {
    let app = asmith_to_move(config(&[("CODE42_PLAN", "basic")]), None);
    {
        let mut s = app.code42.0.lock().unwrap();
        s.org_object = org_with_backup_sets(1003);
        s.ignore_org_puts = true;
    }
    let (outcome, metrics) = app
        .handle_measured(&event("create-workspaces.json"), deadline())
        .await;
    let failure = outcome.unwrap_err();
    assert!(
        matches!(&failure.error, InvocationError::OrgPolicyFailed { policy, .. } if policy == "backup_file_selection"),
        "{}",
        failure.error
    );
    let report = failure.report.unwrap();
    assert_eq!(
        statuses(&report),
        [Status::Configured],
        "the user was placed"
    );
    let org = report.org.as_ref().unwrap();
    let status_of = |id| org.policies.iter().find(|p| p.policy == id).unwrap();
    assert_eq!(status_of(PolicyId::WatchPaths).status, Status::Configured);
    let backup = status_of(PolicyId::BackupFileSelection);
    assert_eq!(backup.status, Status::Failed);
    assert!(
        backup.error.as_deref().unwrap().contains("did not verify"),
        "{backup:?}"
    );
    assert_eq!(org.status, Status::Failed);
    assert!(!report.workspaces[0].coverage.as_ref().unwrap().covered);
    let main = &metrics.emf("ns", 0)[0];
    assert_eq!(main["OrgPolicyFailures"], 1);
    assert_eq!(main["UsersMoved"], 1);
    let s = app.code42.0.lock().unwrap();
    assert_eq!((s.moves, s.puts, s.org_puts), (1, 1, 1));
}

/// With the ledger, a move takes from the hour's shared budget and is
/// recorded before it is made: a backfill of three with a budget of two
/// moves two (recorded `done` with their orgs) and defers the third.
#[tokio::test]
async fn the_ledger_records_each_move_and_holds_moves_over_the_hourly_budget() {
    let ledger = std::sync::Arc::new(FakeLedger::default());
    let app = three_to_move_with(&[("CODE42_MAX_MOVES_PER_HOUR", "2")]).with_ledger(ledger.clone());
    let (outcome, metrics) = app
        .handle_measured(&json!({"action": "backfill", "enqueue": false}), deadline())
        .await;
    let report = outcome.unwrap().report;
    let mut statuses = statuses(&report);
    statuses.sort();
    assert_eq!(
        statuses,
        [
            Status::Configured,
            Status::Configured,
            Status::Compliant,
            Status::Deferred
        ]
    );
    let held = report
        .workspaces
        .iter()
        .find(|w| w.status == Status::Deferred)
        .unwrap();
    assert!(
        held.reason
            .as_deref()
            .unwrap()
            .starts_with(crate::domain::ledger::OVER_BUDGET),
        "{held:?}"
    );
    assert_eq!(app.code42.0.lock().unwrap().moves, 2);
    let entries = ledger.entries.lock().unwrap().clone();
    assert_eq!(entries.len(), 2);
    for e in &entries {
        assert_eq!(e.state, crate::domain::ledger::EntryState::Done);
        assert_eq!(
            (e.kind.as_str(), e.before.as_deref(), e.after.as_deref()),
            ("move_user", Some("guid-default"), Some(WS_ORG))
        );
        assert_eq!(e.run_id, report.run_id);
        assert_eq!(e.origin, "backfill");
    }
    let main = &metrics.emf("ns", 0)[0];
    assert_eq!(
        (
            main["UsersMoved"].as_u64(),
            main["MovesHeldByBudget"].as_u64()
        ),
        (Some(2), Some(1))
    );
    // history: the same two, as a payload.
    let out = app
        .handle(
            &json!({"action": "history", "kind": "move_user"}),
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(out.report.entries.as_ref().map(Vec::len), Some(2));
    // A read-only run makes no ledger call.
    let before = ledger.entries.lock().unwrap().len();
    app.handle(&json!({"action": "verify"}), deadline())
        .await
        .ok();
    assert_eq!(ledger.entries.lock().unwrap().len(), before);
    assert_eq!(ledger.taken.lock().unwrap().values().sum::<u32>(), 2);
}

#[tokio::test]
async fn history_without_a_ledger_says_how_to_get_one() {
    let app = three_to_move();
    let failure = app
        .handle(&json!({"action": "history"}), deadline())
        .await
        .unwrap_err();
    assert!(
        failure.error.to_string().contains("CODE42_LEDGER_TABLE"),
        "{}",
        failure.error
    );
}

/// Policy writes and agent deactivations are recorded before they are made
/// and settled after, like moves.
#[tokio::test]
async fn policy_writes_and_deactivations_are_recorded_in_the_ledger() {
    use crate::domain::ledger::EntryState;
    let ledger = std::sync::Arc::new(FakeLedger::default());
    let created = asmith_to_move(config(&[]), None).with_ledger(ledger.clone());
    created
        .handle(&event("create-workspaces.json"), deadline())
        .await
        .unwrap();
    let kinds = |ledger: &FakeLedger| -> Vec<(String, EntryState)> {
        let entries = ledger.entries.lock().unwrap();
        entries.iter().map(|e| (e.kind.clone(), e.state)).collect()
    };
    assert_eq!(
        kinds(&ledger),
        [
            ("watch_paths".to_string(), EntryState::Done),
            ("move_user".to_string(), EntryState::Done)
        ]
    );
    let written = ledger.entries.lock().unwrap()[0].clone();
    assert_eq!(written.before, None, "not set before");
    assert_eq!(written.after.as_deref(), Some("':main', 'D:'"));

    let ws_id = "ws-4xk2p9q7m";
    let c42 = code42(
        vec![user("1", "asmith@corp.example.com", WS_ORG)],
        Some(COMPLIANT),
    );
    c42.0
        .lock()
        .unwrap()
        .agents
        .push(("1".into(), agent_on(ws_id, "2.0")));
    let mut ws = workspaces(&[(ws_id, "asmith", "WINDOWS_10")]);
    ws.workspaces.get_mut(ws_id).unwrap().state = Some("TERMINATED".into());
    let ledger = std::sync::Arc::new(FakeLedger::default());
    let terminated = app(
        config(&[("CODE42_DEACTIVATE_ON_TERMINATE", "true")]),
        ws,
        c42,
    )
    .with_ledger(ledger.clone());
    terminated
        .handle(&event("terminate-workspaces.json"), deadline())
        .await
        .unwrap();
    assert_eq!(
        kinds(&ledger),
        [("deactivate_agent".to_string(), EntryState::Done)]
    );
    let e = ledger.entries.lock().unwrap()[0].clone();
    assert_eq!(
        (
            e.workspace_id.as_deref(),
            e.username.as_deref(),
            e.origin.as_str()
        ),
        (Some(ws_id), Some("asmith@corp.example.com"), "terminate")
    );
}

#[tokio::test]
async fn a_fleet_run_lists_every_served_location_and_names_those_it_cannot_reach() {
    use crate::domain::location::Location;
    let (east, west) = (
        Location::new("111111111111", "us-east-1"),
        Location::new("111111111111", "us-west-2"),
    );
    let refused = Location::new("222222222222", "us-east-1");
    let ids = ["ws-east", "ws-west", "ws-refused", "ws-home"];
    let c42 = code42(users_in_the_org(&ids), Some(COMPLIANT));
    let mut ws = workspaces(&ids.map(|id| (id, &id[3..], "WINDOWS_10")));
    for (id, at) in [
        ("ws-east", &east),
        ("ws-west", &west),
        ("ws-refused", &refused),
    ] {
        ws.workspaces.get_mut(id).unwrap().location = at.clone();
    }
    ws.unreachable = vec![refused.clone()];
    let app = app(
        config(&[
            ("CODE42_ACCOUNTS", "111111111111,222222222222"),
            ("CODE42_REGIONS", "us-east-1,us-west-2"),
        ]),
        ws,
        c42,
    );
    let failure = app
        .handle(&json!({"action": "verify"}), deadline())
        .await
        .unwrap_err();
    assert!(
        matches!(
            failure.error,
            InvocationError::LocationsUnreachable { count: 1, .. }
        ),
        "{}",
        failure.error
    );
    let report = failure.report.unwrap();
    // The reachable locations' WorkSpaces, each where it is; the home
    // account (not served) is not listed.
    let mut seen: Vec<(&str, &str, &str)> = report
        .workspaces
        .iter()
        .map(|w| {
            (
                w.workspace_id.as_deref().unwrap(),
                w.account.as_deref().unwrap(),
                w.region.as_deref().unwrap(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("ws-east", "111111111111", "us-east-1"),
            ("ws-west", "111111111111", "us-west-2")
        ]
    );
    assert!(
        report
            .workspaces
            .iter()
            .all(|w| w.status == Status::Compliant)
    );
    let unreachable: Vec<(&str, &str)> = report
        .unreachable
        .iter()
        .map(|u| (u.account.as_str(), u.region.as_str()))
        .collect();
    assert_eq!(unreachable, [("222222222222", "us-east-1")]);
    assert!(report.unreachable[0].error.contains("AssumeRole"));
}

#[tokio::test]
async fn with_the_organization_every_active_account_is_served_and_one_without_the_role_is_a_warning()
 {
    use crate::domain::location::Location;
    let member = Location::new("111111111111", "us-east-1");
    let management = Location::new("999999999999", "us-east-1");
    let ids = ["ws-home", "ws-member"];
    let c42 = code42(users_in_the_org(&ids), Some(COMPLIANT));
    let mut ws = workspaces(&ids.map(|id| (id, &id[3..], "WINDOWS_10")));
    ws.workspaces.get_mut("ws-member").unwrap().location = member.clone();
    ws.unreachable = vec![management.clone()];
    ws.organization = Some(vec![
        "111111111111".into(),
        home().account,
        "999999999999".into(),
    ]);
    let app = app(config(&[("CODE42_ACCOUNTS", "organization")]), ws, c42);
    // The management account (no member role) does not fail the run.
    let report = app
        .handle(&json!({"action": "verify"}), deadline())
        .await
        .unwrap()
        .report;
    let mut seen: Vec<(&str, &str)> = report
        .workspaces
        .iter()
        .map(|w| {
            (
                w.workspace_id.as_deref().unwrap(),
                w.account.as_deref().unwrap(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [("ws-home", "123456789012"), ("ws-member", "111111111111")]
    );
    let warned: Vec<(&str, bool)> = report
        .unreachable
        .iter()
        .map(|u| (u.account.as_str(), u.warning))
        .collect();
    assert_eq!(warned, [("999999999999", true)]);
    // An event from an account outside the organization is refused.
    app.serve_home(&home().account, &home().region);
    let mut foreign = event("create-workspaces.json");
    foreign["account"] = json!("333333333333");
    let failure = app.handle(&foreign, deadline()).await.unwrap_err();
    assert!(
        failure.error.to_string().contains("333333333333"),
        "{}",
        failure.error
    );
}

#[tokio::test]
async fn the_organization_that_cannot_be_listed_fails_the_run_with_the_fix() {
    let ids = ["ws-home"];
    let c42 = code42(users_in_the_org(&ids), Some(COMPLIANT));
    let ws = workspaces(&[("ws-home", "home", "WINDOWS_10")]);
    let app = app(config(&[("CODE42_ACCOUNTS", "organization")]), ws, c42);
    let failure = app
        .handle(&json!({"action": "verify"}), deadline())
        .await
        .unwrap_err();
    let text = failure.error.to_string();
    assert!(text.contains("ListAccounts"), "{text}");
    assert_eq!(app.code42.0.lock().unwrap().user_reads, 0);
}

/// Records each location the fleet listing reports, in order of completion.
#[derive(Default)]
struct ListedLocations(std::sync::Mutex<Vec<(String, Option<usize>)>>);

impl super::FleetProgress for ListedLocations {
    fn listed(&self, at: &crate::domain::location::Location, workspaces: Option<usize>) {
        self.0
            .lock()
            .unwrap()
            .push((at.account.clone(), workspaces));
    }
}

#[tokio::test]
async fn a_fleet_run_reports_each_account_as_it_is_listed() {
    use crate::domain::location::Location;
    let ids = ["ws-one", "ws-two", "ws-three"];
    let c42 = code42(users_in_the_org(&ids), Some(COMPLIANT));
    let mut ws = workspaces(&ids.map(|id| (id, &id[3..], "WINDOWS_10")));
    for id in ["ws-two", "ws-three"] {
        ws.workspaces.get_mut(id).unwrap().location = Location::new("111111111111", "us-east-1");
    }
    ws.unreachable = vec![Location::new("222222222222", "us-east-1")];
    let app = app(
        config(&[("CODE42_ACCOUNTS", "123456789012,111111111111,222222222222")]),
        ws,
        c42,
    );
    let progress = ListedLocations::default();
    let failure = app
        .fleet(
            &FleetRequest::new(FleetAction::Verify),
            deadline(),
            &progress,
        )
        .await
        .unwrap_err();
    assert!(matches!(
        failure.error,
        InvocationError::LocationsUnreachable { .. }
    ));
    let mut listed = progress.0.into_inner().unwrap();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("111111111111".to_string(), Some(2)),
            ("123456789012".to_string(), Some(1)),
            ("222222222222".to_string(), None),
        ]
    );
}

#[tokio::test]
async fn the_ledger_names_the_event_or_the_queue_message_behind_each_move() {
    // A creation event: its CloudTrail event id.
    let ledger = std::sync::Arc::new(FakeLedger::default());
    let app = asmith_to_move(config(&[]), None).with_ledger(ledger.clone());
    let created = event("create-workspaces.json");
    app.handle(&created, deadline()).await.unwrap();
    let origins = |ledger: &FakeLedger| -> Vec<String> {
        let entries = ledger.entries.lock().unwrap();
        entries
            .iter()
            .filter(|e| e.kind == "move_user")
            .map(|e| e.origin.clone())
            .collect()
    };
    assert_eq!(
        origins(&ledger),
        [format!(
            "creation (event {})",
            created["id"].as_str().unwrap()
        )]
    );
    // A work message: its SQS message id.
    let ledger = std::sync::Arc::new(FakeLedger::default());
    let app = asmith_to_move(config(&[]), None).with_ledger(ledger.clone());
    let body = json!({"workspace_id": "ws-4xk2p9q7m", "reason": "backfill"}).to_string();
    app.handle(
        &json!({"Records": [{"messageId": "m-42", "body": body}]}),
        deadline(),
    )
    .await
    .unwrap();
    assert_eq!(origins(&ledger), ["backfill (queue message m-42)"]);
}

#[tokio::test]
async fn an_agent_clean_up_is_refused_when_a_location_could_not_be_listed() {
    use crate::domain::hygiene::{AgentsRequest, Cleanup};
    use crate::domain::location::Location;
    let refused = Location::new("222222222222", "us-east-1");
    let mut ws = workspaces(&[("ws-a", "a", "WINDOWS_10")]);
    ws.unreachable = vec![refused];
    let c42 = code42(users_in_the_org(&["ws-a"]), Some(COMPLIANT));
    c42.0
        .lock()
        .unwrap()
        .agents
        .push(("u0".into(), agent_on("ws-gone", "1.4.0")));
    let app = app(
        config(&[("CODE42_ACCOUNTS", "123456789012,222222222222")]),
        ws,
        c42,
    );
    let request = AgentsRequest {
        deactivate: Some(Cleanup::Orphans),
        min_idle_days: 0,
        ..AgentsRequest::default()
    };
    let failure = app.agents(&request, deadline()).await.unwrap_err();
    assert!(
        matches!(&failure.error, InvocationError::CleanupRefused(why) if why.contains("222222222222")),
        "{}",
        failure.error
    );
    assert!(app.code42.0.lock().unwrap().deactivations.is_empty());
}

#[tokio::test]
async fn the_time_from_first_sign_in_to_covered_is_measured_once() {
    let ledger = std::sync::Arc::new(FakeLedger::default());
    let app = asmith_in_the_org("ws-4xk2p9q7m").with_ledger(ledger.clone());
    let login = event("workspaces-access.json");
    // First sign-in: no agent yet, not covered; the sign-in is recorded.
    let (first, _) = app.handle_measured(&login, deadline()).await;
    let w = &first.unwrap().report.workspaces[0];
    assert_eq!(w.coverage.as_ref().map(|c| c.covered), Some(false));
    assert_eq!(w.not_covered_since_sign_in_seconds, Some(0));
    assert_eq!(w.time_to_covered_seconds, None);
    // As if that sign-in was two minutes ago.
    ledger
        .sign_ins
        .lock()
        .unwrap()
        .get_mut("ws-4xk2p9q7m")
        .unwrap()
        .0 -= 120;
    // The agent registers; the next check (not answered from memory) finds it covered.
    app.code42
        .0
        .lock()
        .unwrap()
        .agents
        .push(("1".into(), agent_on("ws-4xk2p9q7m", "1.6.0")));
    let (second, metrics) = app.handle_measured(&login, deadline()).await;
    let w = &second.unwrap().report.workspaces[0];
    assert_eq!(w.coverage.as_ref().map(|c| c.covered), Some(true));
    let seconds = w.time_to_covered_seconds.unwrap();
    assert!((120..=125).contains(&seconds), "{seconds}");
    let emf = &metrics.emf("ns", 0)[0];
    assert_eq!(emf["TimeToCoveredSeconds"], json!([seconds]));
    assert_eq!(emf["NotCoveredAfterSignIn"], 0);
    // Measured once: a later covered check adds nothing.
    let (third, metrics) = app.handle_measured(&login, deadline()).await;
    assert_eq!(
        third.unwrap().report.workspaces[0].time_to_covered_seconds,
        None
    );
    assert!(
        metrics.emf("ns", 0)[0]
            .get("TimeToCoveredSeconds")
            .is_none()
    );
}

#[test]
fn a_sign_in_an_hour_old_and_not_covered_is_counted_for_the_alarm() {
    use crate::domain::metrics::{InvocationMetrics, RequestStats, SIGN_IN_GRACE_SECONDS};
    use crate::domain::report::{InvocationReport, WorkspaceReport};
    let mut report = InvocationReport::new("apply", "SqsBatch");
    for since in [SIGN_IN_GRACE_SECONDS - 1, SIGN_IN_GRACE_SECONDS, 7200] {
        let mut w = WorkspaceReport::new(Some("ws-a"), Status::Compliant);
        w.not_covered_since_sign_in_seconds = Some(since);
        report.workspaces.push(w);
    }
    let m = InvocationMetrics::of("SqsBatch", Some(&report), false, RequestStats::default());
    assert_eq!(m.not_covered_after_sign_in, 2);
    assert_eq!(m.emf("ns", 0)[0]["NotCoveredAfterSignIn"], 2);
}

#[tokio::test]
async fn users_left_without_a_workspace_are_returned_only_when_asked_and_within_the_cap() {
    use crate::domain::hygiene::AgentsRequest;
    let with_users = |settings: &[(&str, &str)]| {
        app(
            config(settings),
            workspaces(&[("ws-a", "asmith", "WINDOWS_10")]),
            code42(
                vec![
                    user("1", "asmith@corp.example.com", WS_ORG),
                    user("2", "left@corp.example.com", WS_ORG),
                    user("3", "gone@corp.example.com", WS_ORG),
                ],
                Some(COMPLIANT),
            ),
        )
    };
    let ask = |dry_run: bool, max_moves: Option<usize>| AgentsRequest {
        return_users: true,
        max_moves,
        dry_run,
        ..AgentsRequest::default()
    };
    let returned = |report: &crate::domain::report::InvocationReport| -> Vec<(String, String)> {
        report
            .agents
            .as_ref()
            .unwrap()
            .users_returned
            .iter()
            .map(|r| (r.username.clone(), r.result.clone()))
            .collect()
    };
    // Without a return org: refused, nobody moved.
    let app = with_users(&[]);
    let failure = app.agents(&ask(false, None), deadline()).await.unwrap_err();
    assert!(
        failure.error.to_string().contains("CODE42_RETURN_ORG"),
        "{}",
        failure.error
    );
    assert_eq!(app.code42.0.lock().unwrap().moves, 0);
    // A dry run plans; the cap keeps the rest.
    let app = with_users(&[("CODE42_RETURN_ORG", "Default")]);
    let report = app.agents(&ask(true, Some(1)), deadline()).await.unwrap();
    assert_eq!(
        returned(&report),
        [
            (
                "gone@corp.example.com".to_string(),
                "would return".to_string()
            ),
            (
                "left@corp.example.com".to_string(),
                "kept: above max_moves (1)".to_string()
            )
        ]
    );
    assert_eq!(app.code42.0.lock().unwrap().moves, 0);
    // Then for real: both moved to Default; asmith (with a WorkSpace) stays.
    let report = app.agents(&ask(false, None), deadline()).await.unwrap();
    assert!(
        returned(&report).iter().all(|(_, r)| r == "returned"),
        "{:?}",
        returned(&report)
    );
    let s = app.code42.0.lock().unwrap();
    assert_eq!(s.moves, 2);
    let org_of = |id: &str| {
        s.users
            .iter()
            .find(|u| u.user_id == id)
            .unwrap()
            .org_guid
            .clone()
    };
    assert_eq!(
        (org_of("1"), org_of("2"), org_of("3")),
        (WS_ORG.into(), "guid-default".into(), "guid-default".into())
    );
}
