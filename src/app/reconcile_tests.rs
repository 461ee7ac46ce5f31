//! The flow against in-memory fakes of the ports.

use std::time::Duration;

use super::*;
use crate::app::cache::OrgCache;
use crate::app::fakes::*;
use crate::config::Config;
use crate::domain::orgs::OrgIdProblem;
use crate::domain::plan::NOT_FOUND_REASON;
use crate::domain::report::{Action, Status};
use crate::ports::TokioClock;

async fn run(
    cfg: &Config,
    ws: &FakeWorkspaces,
    c42: &FakeCode42,
    cache: &OrgCache,
    targets: &[Target],
) -> Result<RunOutcome, InvocationError> {
    Reconciler {
        config: cfg,
        mode: cfg.mode,
        on_done: None,
        workspaces: ws,
        code42: c42,
        cache,
        clock: &TokioClock,
        pass: Pass::Event,
        deadline: tokio::time::Instant::now() + Duration::from_secs(600),
        requeue_deferred: false,
        ledger: None,
    }
    .run(targets.iter().collect())
    .await
}

/// Default configuration, a fresh org cache.
async fn run_default(
    ws: &FakeWorkspaces,
    c42: &FakeCode42,
    targets: &[Target],
) -> Result<RunOutcome, InvocationError> {
    run(&config(&[]), ws, c42, &OrgCache::default(), targets).await
}

/// The error a run with a fresh org cache fails with.
async fn error_of(
    cfg: &Config,
    ws: &FakeWorkspaces,
    c42: &FakeCode42,
    targets: &[Target],
) -> InvocationError {
    run(cfg, ws, c42, &OrgCache::default(), targets)
        .await
        .err()
        .expect("the run fails")
}

fn statuses(outcome: &RunOutcome) -> Vec<Status> {
    outcome.workspaces.iter().map(|w| w.status).collect()
}

const COMPLIANT: &str = "[':main', 'D:']";

#[tokio::test]
async fn compliant_fleet_makes_no_writes() {
    let c42 = code42(
        vec![user("1", "asmith@corp.example.com", WS_ORG)],
        Some(COMPLIANT),
    );
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let out = run_default(&ws, &c42, &[target("ws-a", Some("asmith"))])
        .await
        .unwrap();
    assert_eq!(statuses(&out), [Status::Compliant]);
    assert_eq!(out.org.unwrap().status, Status::Compliant);
    let s = c42.0.lock().unwrap();
    assert_eq!((s.moves, s.puts), (0, 0));
}

#[tokio::test]
async fn moves_the_user_and_records_where_from() {
    let c42 = code42(
        vec![user("1", "asmith@corp.example.com", "guid-default")],
        None,
    );
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let out = run_default(&ws, &c42, &[target("ws-a", Some("asmith"))])
        .await
        .unwrap();
    assert_eq!(statuses(&out), [Status::Configured]);
    let Action::MoveUser {
        from_org_guid,
        applied,
        ..
    } = &out.workspaces[0].actions[0]
    else {
        panic!("expected a move")
    };
    assert_eq!((from_org_guid.as_str(), *applied), ("guid-default", true));
    let org = out.org.unwrap();
    assert_eq!(org.status, Status::Configured);
    assert_eq!(org.after.unwrap().raw, COMPLIANT);
    let s = c42.0.lock().unwrap();
    assert_eq!((s.moves, s.puts), (1, 1));
}

#[tokio::test]
async fn verify_mode_reports_drift_and_never_writes() {
    let c42 = code42(
        vec![user("1", "asmith@corp.example.com", "guid-default")],
        Some("[':main']"),
    );
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let out = run(
        &config(&[("CODE42_MODE", "verify")]),
        &ws,
        &c42,
        &OrgCache::default(),
        &[target("ws-a", None)],
    )
    .await
    .unwrap();
    assert_eq!(statuses(&out), [Status::Drift]);
    let org = out.org.unwrap();
    assert_eq!(
        (org.status, org.finding.as_str()),
        (Status::Drift, "missing D:")
    );
    let s = c42.0.lock().unwrap();
    assert_eq!((s.moves, s.puts), (0, 0));
}

#[tokio::test]
async fn a_lost_move_response_is_resolved_by_re_reading_the_user() {
    let c42 = code42(
        vec![user("1", "asmith@corp.example.com", "guid-default")],
        Some(COMPLIANT),
    );
    c42.0.lock().unwrap().lost_move_responses = 1;
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let out = run_default(&ws, &c42, &[target("ws-a", None)])
        .await
        .unwrap();
    assert_eq!(statuses(&out), [Status::Configured]);
    assert_eq!(
        c42.0.lock().unwrap().moves,
        1,
        "the move was not sent twice"
    );
}

/// Changed in this release (it failed the whole pass with the error): the
/// policy is `failed` with the read-back in its error, the WorkSpaces are
/// still checked, and the caller fails the run (`fail_if_a_policy_failed`).
#[tokio::test]
async fn a_setting_that_does_not_stick_is_a_failed_policy_with_the_read_back() {
    let c42 = code42(vec![], Some("[:main]"));
    c42.0.lock().unwrap().ignore_puts = true;
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let out = run_default(&ws, &c42, &[target("ws-a", None)])
        .await
        .unwrap();
    assert_eq!(statuses(&out), [Status::Deferred], "still checked");
    let org = out.org.unwrap();
    assert_eq!(org.status, Status::Failed);
    let policy = org.failed_policies().next().unwrap();
    let msg = policy.error.as_deref().unwrap();
    assert!(
        msg.contains("did not verify")
            && msg.contains("\"[:main]\"")
            && msg.contains("missing :main, D:"),
        "{msg}"
    );
    assert_eq!(policy.retryable, Some(false));
}

#[tokio::test(start_paused = true)]
async fn compliant_org_check_is_cached_for_the_ttl_only() {
    let c42 = code42(
        vec![user("1", "asmith@corp.example.com", WS_ORG)],
        Some(COMPLIANT),
    );
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let cfg = config(&[("CODE42_ORG_CHECK_TTL_SECONDS", "300")]);
    let cache = OrgCache::default();
    let t = [target("ws-a", None)];
    run(&cfg, &ws, &c42, &cache, &t).await.unwrap();
    let out = run(&cfg, &ws, &c42, &cache, &t).await.unwrap();
    assert!(out.org.unwrap().cached);
    assert_eq!(c42.0.lock().unwrap().setting_reads, 1);
    tokio::time::advance(Duration::from_secs(301)).await;
    let out = run(&cfg, &ws, &c42, &cache, &t).await.unwrap();
    assert!(!out.org.unwrap().cached);
    assert_eq!(c42.0.lock().unwrap().setting_reads, 2);
}

/// Trust: a WorkSpace DescribeWorkspaces does not show is never acted on,
/// whatever user the event names (it used to fall back to the event's user).
#[tokio::test(start_paused = true)]
async fn invisible_workspace_is_never_acted_on_after_bounded_retries() {
    let c42 = code42(
        vec![user("1", "asmith@corp.example.com", "guid-default")],
        Some(COMPLIANT),
    );
    let ws = workspaces(&[]);
    let cfg = config(&[("WORKSPACES_DESCRIBE_ATTEMPTS", "3")]);
    let run_with = |requeue_deferred: bool, attempt: u32, deadline: Duration| {
        let mut forged = target("ws-a", Some("asmith"));
        forged.attempt = attempt;
        let (cfg, ws, c42) = (&cfg, &ws, &c42);
        async move {
            let reconciler = Reconciler {
                config: cfg,
                mode: cfg.mode,
                on_done: None,
                workspaces: ws,
                code42: c42,
                cache: &OrgCache::default(),
                clock: &TokioClock,
                pass: Pass::Event,
                deadline: tokio::time::Instant::now() + deadline,
                requeue_deferred,
                ledger: None,
            };
            reconciler.run(vec![forged]).await.unwrap()
        }
    };
    // No queue: skipped after the lookups, nobody moved, the event's user not reported as fact.
    let out = run_with(false, 0, Duration::from_secs(600)).await;
    assert_eq!(statuses(&out), [Status::Skipped]);
    let w = &out.workspaces[0];
    assert_eq!(w.reason.as_deref(), Some(NOT_FOUND_REASON));
    assert_eq!(
        (w.workspaces_user.as_deref(), w.code42_username.as_deref()),
        (None, None)
    );
    assert_eq!(*ws.describe_calls.lock().unwrap(), 3);
    // A queue and attempts left: deferred for another look.
    let out = run_with(true, 0, Duration::from_secs(600)).await;
    assert_eq!(statuses(&out), [Status::Deferred]);
    assert!(
        out.workspaces[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("after 3 lookup(s)")
    );
    // Attempts spent: skipped.
    let last = cfg.runs.deferred_attempts;
    let out = run_with(true, last, Duration::from_secs(600)).await;
    assert_eq!(statuses(&out), [Status::Skipped]);
    let reads_and_moves = {
        let s = c42.0.lock().unwrap();
        (s.moves, s.user_lookups)
    };
    assert_eq!(
        reads_and_moves,
        (0, 0),
        "nothing read or moved on the event's word"
    );
    // The waits between lookups stop at the deadline's margin: one lookup only.
    *ws.describe_calls.lock().unwrap() = 0;
    let margin = cfg.runs.start_margin + cfg.runs.describe_backoff / 2;
    let out = run_with(false, 0, margin).await;
    assert_eq!(statuses(&out), [Status::Skipped]);
    assert_eq!(*ws.describe_calls.lock().unwrap(), 1);
}

#[tokio::test]
async fn describe_wins_over_the_event_user() {
    let c42 = code42(
        vec![user("1", "real@corp.example.com", WS_ORG)],
        Some(COMPLIANT),
    );
    let ws = workspaces(&[("ws-a", "real", "")]);
    let out = run_default(&ws, &c42, &[target("ws-a", Some("stale"))])
        .await
        .unwrap();
    assert_eq!(statuses(&out), [Status::Compliant]);
    assert_eq!(
        out.workspaces[0].code42_username.as_deref(),
        Some("real@corp.example.com")
    );
}

#[tokio::test]
async fn guard_rails_skip_with_reasons() {
    let mut blocked = user("3", "blocked@corp.example.com", "guid-default");
    blocked.blocked = true;
    let c42 = code42(
        vec![
            user("1", "ceo@corp.example.com", "guid-exec"),
            user("2", "dev@corp.example.com", "guid-default"),
            blocked,
        ],
        Some(COMPLIANT),
    );
    let ws = workspaces(&[
        ("ws-a", "ceo", "WINDOWS_10"),
        ("ws-b", "dev", "WINDOWS_10"),
        ("ws-c", "blocked", "WINDOWS_10"),
        ("ws-d", "penguin", "UBUNTU_22_04"),
    ]);
    let cfg = config(&[
        ("CODE42_PROTECTED_ORGS", "guid-exec"),
        ("CODE42_MOVE_FROM_ORGS", "Staging"),
    ]);
    let targets = ["ws-a", "ws-b", "ws-c", "ws-d"].map(|id| target(id, None));
    let out = run(&cfg, &ws, &c42, &OrgCache::default(), &targets)
        .await
        .unwrap();
    assert_eq!(statuses(&out), [Status::Skipped; 4]);
    let reasons: Vec<_> = out
        .workspaces
        .iter()
        .map(|w| w.reason.clone().unwrap())
        .collect();
    assert!(reasons[0].contains("protected org"), "{reasons:?}");
    assert!(
        reasons[1].contains("not in CODE42_MOVE_FROM_ORGS"),
        "{reasons:?}"
    );
    assert!(reasons[2].contains("blocked"), "{reasons:?}");
    assert!(reasons[3].contains("not Windows"), "{reasons:?}");
    assert_eq!(c42.0.lock().unwrap().moves, 0);
}

#[tokio::test]
async fn unregistered_directory_fails_that_workspace_only() {
    let c42 = code42(
        vec![user("1", "asmith@corp.example.com", WS_ORG)],
        Some(COMPLIANT),
    );
    let mut ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    ws.directories.clear();
    let out = run_default(&ws, &c42, &[target("ws-a", None)])
        .await
        .unwrap();
    assert_eq!(statuses(&out), [Status::Failed]);
    assert_eq!(out.workspaces[0].retryable, Some(false));
    assert!(
        out.workspaces[0]
            .error
            .as_deref()
            .unwrap()
            .contains("directory d-12345678 is not registered with WorkSpaces in this region")
    );
}

#[tokio::test]
async fn org_resolution_errors_are_specific() {
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let t = [target("ws-a", None)];
    let c42 = code42(vec![], Some(COMPLIANT));
    let err = error_of(&config(&[("CODE42_ORG", "Nope")]), &ws, &c42, &t).await;
    assert!(matches!(err, InvocationError::OrgNotFound { .. }), "{err}");

    c42.0
        .lock()
        .unwrap()
        .orgs
        .push(org("guid-ws2", "WorkSpaces"));
    let err = error_of(&config(&[]), &ws, &c42, &t).await;
    assert!(err.to_string().contains("matches 2 orgs"), "{err}");
    // By guid it is unambiguous.
    let out = run(
        &config(&[("CODE42_ORG", WS_ORG)]),
        &ws,
        &c42,
        &OrgCache::default(),
        &t,
    )
    .await
    .unwrap();
    assert_eq!(out.org.unwrap().org_guid, WS_ORG);

    c42.0
        .lock()
        .unwrap()
        .console_unlisted
        .push("guid-ws2".into());
    let err = error_of(&config(&[("CODE42_ORG", "guid-ws2")]), &ws, &c42, &t).await;
    assert!(
        matches!(err, InvocationError::OrgId(OrgIdProblem::NotListed { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn no_targets_means_no_code42_calls() {
    let c42 = code42(vec![], None);
    let out = run(
        &config(&[]),
        &workspaces(&[]),
        &c42,
        &OrgCache::default(),
        &[],
    )
    .await
    .unwrap();
    assert!(out.org.is_none() && out.workspaces.is_empty());
    assert_eq!(c42.0.lock().unwrap().setting_reads, 0);
}

/// Trust: a CODE42_ORG_ID that belongs to another org is refused before any
/// write (it used to write the locked watch paths into that org).
#[tokio::test]
async fn an_org_id_of_another_org_is_refused_before_any_write() {
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let t = [target("ws-a", None)];
    for (id, writes) in [("1002", false), ("4242", false), ("1003", true)] {
        // The setting is missing, so a run that gets past the check writes it.
        let c42 = code42(
            vec![user("1", "asmith@corp.example.com", "guid-default")],
            None,
        );
        let out = run(
            &config(&[("CODE42_ORG_ID", id)]),
            &ws,
            &c42,
            &OrgCache::default(),
            &t,
        )
        .await;
        let s = c42.0.lock().unwrap();
        assert_eq!(
            (s.puts > 0, s.moves > 0),
            (writes, writes),
            "CODE42_ORG_ID={id}"
        );
        match out {
            Ok(_) => assert!(writes, "{id}"),
            Err(InvocationError::OrgId(problem)) => {
                assert!(!writes, "{id}");
                let text = problem.to_string();
                assert!(text.contains(&format!("CODE42_ORG_ID={id}")), "{text}");
                assert!(text.contains(WS_ORG), "{text}");
                assert_eq!(
                    problem.fix(),
                    "set CODE42_ORG_ID=1003 (template parameter Code42OrgId), or unset it"
                );
                if id == "1002" {
                    assert!(text.contains("\"Default\" (guid-default)"), "{text}");
                }
            }
            Err(e) => panic!("{id}: {e}"),
        }
    }
}

/// Trust: protected orgs fail closed — child orgs are protected too, a user
/// whose org Code42 does not give or list is never moved, and a protected org
/// that does not exist stops the run before anything is read or written.
#[tokio::test]
async fn protected_orgs_fail_closed() {
    let ws = workspaces(&[
        ("ws-a", "child", "WINDOWS_10"),
        ("ws-b", "orphan", "WINDOWS_10"),
        ("ws-c", "ghost", "WINDOWS_10"),
        ("ws-d", "plain", "WINDOWS_10"),
    ]);
    let c42 = code42(
        vec![
            user("1", "child@corp.example.com", "guid-board"),
            user("2", "orphan@corp.example.com", ""),
            user("3", "ghost@corp.example.com", "guid-deleted"),
            user("4", "plain@corp.example.com", "guid-default"),
        ],
        Some(COMPLIANT),
    );
    let mut board = org("guid-board", "Board");
    board.parent_org_guid = Some("guid-exec".into());
    c42.0.lock().unwrap().orgs.push(board);
    let t = ["ws-a", "ws-b", "ws-c", "ws-d"].map(|w| target(w, None));
    let protect = |names: &str| config(&[("CODE42_PROTECTED_ORGS", names)]);
    let out = run(&protect("Executives"), &ws, &c42, &OrgCache::default(), &t)
        .await
        .unwrap();
    assert_eq!(
        statuses(&out),
        [
            Status::Skipped,
            Status::Skipped,
            Status::Skipped,
            Status::Configured
        ]
    );
    let reasons: Vec<&str> = out.workspaces[..3]
        .iter()
        .map(|w| w.reason.as_deref().unwrap())
        .collect();
    assert!(
        reasons[0].contains("protected org \"board\" (guid-board)"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("gives no org"), "{reasons:?}");
    assert!(
        reasons[2].contains("not among the orgs Code42 lists"),
        "{reasons:?}"
    );
    assert_eq!(c42.0.lock().unwrap().moves, 1);
    // A typo in the protected list: nothing runs.
    let c42_typo = code42(
        vec![user("4", "plain@corp.example.com", "guid-default")],
        None,
    );
    let err = error_of(&protect("Executives,Executves"), &ws, &c42_typo, &t).await;
    assert!(
        matches!(&err, InvocationError::ProtectedOrgsUnknown { names } if names == "\"Executves\""),
        "{err}"
    );
    let s = c42_typo.0.lock().unwrap();
    assert_eq!((s.moves, s.puts, s.setting_reads), (0, 0, 0));
}
