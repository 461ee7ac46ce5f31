//! The flow against in-memory fakes of the ports.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::domain::ids::WorkspaceId;
use crate::error::AwsError;
use crate::ports::Code42Org;

const WS_ORG: &str = "guid-ws";

#[derive(Default)]
struct FakeWorkspaces {
    workspaces: HashMap<String, WorkspaceInfo>,
    directories: HashMap<String, String>,
    describe_calls: Mutex<u32>,
}

impl Workspaces for FakeWorkspaces {
    async fn list_workspaces(
        &self,
        _: &crate::ports::FleetFilter,
    ) -> Result<Vec<WorkspaceInfo>, AwsError> {
        Ok(self.workspaces.values().cloned().collect())
    }
    async fn describe_workspace(
        &self,
        id: &WorkspaceId,
    ) -> Result<Option<WorkspaceInfo>, AwsError> {
        *self.describe_calls.lock().unwrap() += 1;
        Ok(self.workspaces.get(id.as_str()).cloned())
    }
    async fn directory_name(&self, id: &DirectoryId) -> Result<Option<String>, AwsError> {
        Ok(self.directories.get(id.as_str()).cloned())
    }
}

#[derive(Default)]
struct FakeState {
    users: Vec<Code42User>,
    orgs: Vec<Code42Org>,
    setting: Option<SettingSnapshot>,
    /// Moves that apply but answer with a timeout (as if the response was lost).
    lost_move_responses: u32,
    ignore_puts: bool,
    moves: u32,
    puts: u32,
    setting_reads: u32,
}

#[derive(Default)]
struct FakeCode42(Mutex<FakeState>);

fn timeout(path: &str) -> Code42Error {
    Code42Error::Unreachable {
        method: "POST".into(),
        path: path.into(),
        attempts: 1,
        detail: "timed out".into(),
    }
}

impl Code42 for FakeCode42 {
    async fn find_user(&self, username: &str) -> Result<Option<Code42User>, Code42Error> {
        let s = self.0.lock().unwrap();
        Ok(s.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
            .cloned())
    }
    async fn get_user(&self, user_id: &str) -> Result<Code42User, Code42Error> {
        let s = self.0.lock().unwrap();
        Ok(s.users
            .iter()
            .find(|u| u.user_id == user_id)
            .cloned()
            .unwrap())
    }
    async fn list_orgs(&self) -> Result<Vec<Code42Org>, Code42Error> {
        Ok(self.0.lock().unwrap().orgs.clone())
    }
    async fn move_user(&self, user_id: &str, org_guid: &str) -> Result<(), Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.moves += 1;
        let org_name = s
            .orgs
            .iter()
            .find(|o| o.org_guid == org_guid)
            .unwrap()
            .org_name
            .clone();
        let user = s.users.iter_mut().find(|u| u.user_id == user_id).unwrap();
        user.org_guid = org_guid.to_string();
        user.org_name = org_name;
        if s.lost_move_responses > 0 {
            s.lost_move_responses -= 1;
            return Err(timeout("/v1/users/x/move"));
        }
        Ok(())
    }
    async fn legacy_org_id(&self, org_guid: &str) -> Result<Option<i64>, Code42Error> {
        Ok((org_guid == WS_ORG).then_some(1003))
    }
    async fn get_setting(&self, _: i64, _: &str) -> Result<Option<SettingSnapshot>, Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.setting_reads += 1;
        Ok(s.setting.clone())
    }
    async fn put_setting(
        &self,
        _: i64,
        _: &str,
        items: &[String],
        locked: bool,
    ) -> Result<(), Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.puts += 1;
        if !s.ignore_puts {
            // Stored the way the server does: the list's toString().
            s.setting = Some(SettingSnapshot::from_raw(
                &format!("[{}]", items.join(", ")),
                locked,
                Some("ORG".into()),
            ));
        }
        Ok(())
    }
}

fn user(id: &str, name: &str, org: &str) -> Code42User {
    Code42User {
        user_id: id.into(),
        username: name.into(),
        org_guid: org.into(),
        org_name: org.trim_start_matches("guid-").into(),
        active: true,
        blocked: false,
    }
}

fn org(guid: &str, name: &str) -> Code42Org {
    Code42Org {
        org_guid: guid.into(),
        org_name: name.into(),
        active: true,
    }
}

fn code42(users: Vec<Code42User>, setting: Option<&str>) -> FakeCode42 {
    FakeCode42(Mutex::new(FakeState {
        users,
        orgs: vec![
            org("guid-default", "Default"),
            org(WS_ORG, "WorkSpaces"),
            org("guid-exec", "Executives"),
        ],
        setting: setting.map(|raw| SettingSnapshot::from_raw(raw, true, Some("ORG".into()))),
        ..FakeState::default()
    }))
}

fn workspaces(entries: &[(&str, &str, &str)]) -> FakeWorkspaces {
    FakeWorkspaces {
        workspaces: entries
            .iter()
            .map(|(id, user, os)| {
                (
                    id.to_string(),
                    WorkspaceInfo {
                        workspace_id: id.to_string(),
                        directory_id: Some("d-1".into()),
                        user_name: Some(user.to_string()),
                        operating_system: (!os.is_empty()).then(|| os.to_string()),
                        state: Some("AVAILABLE".into()),
                    },
                )
            })
            .collect(),
        directories: HashMap::from([("d-1".to_string(), "corp.example.com".to_string())]),
        describe_calls: Mutex::new(0),
    }
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<&str, &str> = HashMap::from([
        ("CODE42_SECRET_ID", "s"),
        ("CODE42_ORG", "WorkSpaces"),
        ("WORKSPACES_DESCRIBE_BACKOFF_MS", "100"),
    ]);
    env.extend(extra.iter().copied());
    Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap()
}

fn target(id: &str, user: Option<&str>) -> Target {
    Target {
        workspace_id: WorkspaceId::parse(id).unwrap(),
        directory_id: Some(DirectoryId::parse("d-1").unwrap()),
        user_name: user.map(str::to_string),
        origin: crate::input::Origin::Creation,
        described: None,
    }
}

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
    }
    .run(targets)
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
    } = &out.workspaces[0].actions[0];
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

#[tokio::test]
async fn a_setting_that_does_not_stick_fails_loudly_with_the_read_back() {
    let c42 = code42(vec![], Some("[:main]"));
    c42.0.lock().unwrap().ignore_puts = true;
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let err = run_default(&ws, &c42, &[target("ws-a", None)])
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        matches!(err, InvocationError::SettingNotVerified { .. }),
        "{msg}"
    );
    assert!(
        msg.contains("\"[:main]\"") && msg.contains("missing :main, D:"),
        "{msg}"
    );
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

#[tokio::test(start_paused = true)]
async fn invisible_workspace_falls_back_to_the_event_after_bounded_retries() {
    let c42 = code42(
        vec![user("1", "asmith@corp.example.com", WS_ORG)],
        Some(COMPLIANT),
    );
    let ws = workspaces(&[]);
    let cfg = config(&[("WORKSPACES_DESCRIBE_ATTEMPTS", "3")]);
    let out = run(
        &cfg,
        &ws,
        &c42,
        &OrgCache::default(),
        &[target("ws-a", Some("asmith"))],
    )
    .await
    .unwrap();
    assert_eq!(statuses(&out), [Status::Compliant]);
    assert_eq!(*ws.describe_calls.lock().unwrap(), 3);
    // Without a user name in the event there is nothing to go on: retryable failure.
    let out = run(
        &cfg,
        &ws,
        &c42,
        &OrgCache::default(),
        &[target("ws-a", None)],
    )
    .await
    .unwrap();
    assert_eq!(statuses(&out), [Status::Failed]);
    assert_eq!(out.workspaces[0].retryable, Some(true));
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
            .contains("no DNS name")
    );
}

#[tokio::test]
async fn org_resolution_errors_are_specific() {
    let ws = workspaces(&[("ws-a", "asmith", "WINDOWS_10")]);
    let t = [target("ws-a", None)];
    let c42 = code42(vec![], Some(COMPLIANT));
    let err = run(
        &config(&[("CODE42_ORG", "Nope")]),
        &ws,
        &c42,
        &OrgCache::default(),
        &t,
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(err, InvocationError::OrgNotFound { .. }), "{err}");

    c42.0
        .lock()
        .unwrap()
        .orgs
        .push(org("guid-ws2", "WorkSpaces"));
    let err = run(&config(&[]), &ws, &c42, &OrgCache::default(), &t)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("matches 2 orgs"), "{err}");
    // By guid it is unambiguous.
    let out = run(
        &config(&[("CODE42_ORG", WS_ORG)]),
        &ws,
        &c42,
        &OrgCache::default(),
        &t,
    )
    .await;
    assert!(out.is_ok());

    let err = run(
        &config(&[("CODE42_ORG", "guid-ws2")]),
        &ws,
        &c42,
        &OrgCache::default(),
        &t,
    )
    .await
    .err()
    .unwrap();
    assert!(
        matches!(err, InvocationError::LegacyOrgIdNotFound { .. }),
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
