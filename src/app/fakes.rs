//! In-memory fakes of the ports, shared by the application's unit tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Config;
use crate::domain::backup::OrgObject;
use crate::domain::ids::{DirectoryId, WorkspaceId};
use crate::domain::location::Location;
use crate::domain::metrics::RequestStats;
use crate::domain::model::{
    Code42Agent, Code42Org, Code42User, DirectoryInfo, Origin, Page, Target, WorkMessage,
    WorkspaceInfo,
};
use crate::domain::orgs::LegacyOrg;
use crate::domain::watch_paths::SettingSnapshot;
use crate::error::{AwsError, Code42Error};
use crate::ports::{
    Code42Agents, Code42OrgPolicies, Code42Orgs, Code42Service, Code42Users, WorkQueue, Workspaces,
};

pub const WS_ORG: &str = "guid-ws";
/// The WorkSpaces org's numeric id in the console list of `code42()`.
pub const WS_LEGACY_ID: i64 = 1003;

/// The fakes' home account and region.
pub fn home() -> Location {
    Location::new("123456789012", "us-east-1")
}

#[derive(Default)]
pub struct FakeWorkspaces {
    pub workspaces: HashMap<String, WorkspaceInfo>,
    pub directories: HashMap<String, String>,
    pub describe_calls: Mutex<u32>,
    /// Locations whose role cannot be assumed: every call there fails.
    pub unreachable: Vec<Location>,
    /// The organization's active accounts; None: not in an organization.
    pub organization: Option<Vec<String>>,
}

impl FakeWorkspaces {
    fn reach(&self, at: &Location) -> Result<(), AwsError> {
        if self.unreachable.contains(at) {
            return Err(AwsError {
                service: "STS",
                operation: "AssumeRole",
                detail: format!("AccessDenied: cannot assume the member role in {at}"),
                retryable: false,
            });
        }
        Ok(())
    }
}

impl Workspaces for FakeWorkspaces {
    async fn home(&self) -> Result<Location, AwsError> {
        Ok(home())
    }
    async fn organization_accounts(&self) -> Result<Vec<String>, AwsError> {
        self.organization.clone().ok_or_else(|| AwsError {
            service: "Organizations",
            operation: "ListAccounts",
            detail: "AWSOrganizationsNotInUseException: not in an organization".into(),
            retryable: false,
        })
    }
    async fn list_workspaces(
        &self,
        at: &Location,
        filter: &crate::domain::model::FleetFilter,
    ) -> Result<Vec<WorkspaceInfo>, AwsError> {
        self.reach(at)?;
        let mut all: Vec<WorkspaceInfo> = self
            .workspaces
            .values()
            .filter(|w| &w.location == at)
            .filter(|w| {
                filter.workspace_ids.is_empty()
                    || filter
                        .workspace_ids
                        .iter()
                        .any(|id| id.as_str() == w.workspace_id)
            })
            .filter(|w| {
                filter.user.as_ref().is_none_or(|u| {
                    w.user_name
                        .as_deref()
                        .is_some_and(|n| n.eq_ignore_ascii_case(u))
                })
            })
            .cloned()
            .collect();
        all.sort_by(|a, b| a.workspace_id.cmp(&b.workspace_id));
        Ok(all)
    }
    async fn describe_workspace(
        &self,
        at: &Location,
        id: &WorkspaceId,
    ) -> Result<Option<WorkspaceInfo>, AwsError> {
        *self.describe_calls.lock().unwrap() += 1;
        self.reach(at)?;
        Ok(self
            .workspaces
            .get(id.as_str())
            .filter(|w| &w.location == at)
            .cloned())
    }
    async fn list_directories(&self, at: &Location) -> Result<Vec<DirectoryInfo>, AwsError> {
        self.reach(at)?;
        Ok(self
            .directories
            .iter()
            .map(|(id, name)| DirectoryInfo {
                location: at.clone(),
                directory_id: id.clone(),
                name: Some(name.clone()),
                kind: Some("SIMPLE_AD".into()),
            })
            .collect())
    }
    async fn directory_name(
        &self,
        at: &Location,
        id: &DirectoryId,
    ) -> Result<Option<String>, AwsError> {
        self.reach(at)?;
        match self.directories.get(id.as_str()) {
            Some(name) => Ok(Some(name.clone())),
            None => Err(AwsError::directory_not_registered(id.as_str())),
        }
    }
}

#[derive(Default)]
pub struct FakeState {
    pub users: Vec<Code42User>,
    pub orgs: Vec<Code42Org>,
    /// The WorkSpaces org's (`WS_LEGACY_ID`) watch-path setting.
    pub setting: Option<SettingSnapshot>,
    /// Settings and org objects written to any other org id (key or "org
    /// object"): every other org starts empty and keeps what is written.
    pub elsewhere: Vec<(i64, String)>,
    /// Moves that apply but answer with a timeout (as if the response was lost).
    pub lost_move_responses: u32,
    /// Moves that answer success but do not happen.
    pub dropped_moves: u32,
    /// Users the bulk listing leaves out (created after the pages were read).
    pub unlisted: Vec<String>,
    pub user_reads: u32,
    pub ignore_puts: bool,
    /// Errors `find_user` answers with, one per call, before answering normally.
    pub find_errors: Vec<Code42Error>,
    /// Errors `get_user` answers with, one per call, before answering normally.
    pub get_errors: Vec<Code42Error>,
    /// The bulk user listing times out once a move was made (a bulk
    /// confirmation that cannot be read).
    pub listing_fails_after_a_move: bool,
    /// (user id, agent).
    pub agents: Vec<(String, Code42Agent)>,
    pub deactivations: Vec<String>,
    /// Agents whose deactivation Code42 refuses (`ACTIVE_LEGAL_HOLD`).
    pub legal_hold: Vec<String>,
    /// Pages read by the bulk reads.
    pub bulk_pages: u32,
    /// Orgs (guids) the console's org list leaves out.
    pub console_unlisted: Vec<String>,
    /// The WorkSpaces org's console org object (`{"data": {...}}`).
    pub org_object: serde_json::Value,
    /// Org object writes answer success but are not kept (a write that
    /// does not read back).
    pub ignore_org_puts: bool,
    pub org_reads: u32,
    pub org_puts: u32,
    pub moves: u32,
    pub puts: u32,
    pub setting_reads: u32,
    pub user_lookups: u32,
    /// The calls already reported by `take_stats`.
    pub calls_reported: u32,
}

impl FakeState {
    fn calls(&self) -> u32 {
        self.moves
            + self.puts
            + self.setting_reads
            + self.user_lookups
            + self.user_reads
            + self.org_reads
            + self.org_puts
            + self.bulk_pages
    }
}

#[derive(Default, Clone)]
pub struct FakeCode42(pub Arc<Mutex<FakeState>>);

pub fn timeout(path: &str) -> Code42Error {
    Code42Error::Unreachable {
        method: "POST".into(),
        path: path.into(),
        attempts: 1,
        detail: "timed out".into(),
    }
}

impl Code42Users for FakeCode42 {
    async fn find_user(&self, username: &str) -> Result<Option<Code42User>, Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.user_lookups += 1;
        if !s.find_errors.is_empty() {
            return Err(s.find_errors.remove(0));
        }
        Ok(s.users
            .iter()
            .find(|u| u.username.eq_ignore_ascii_case(username))
            .cloned())
    }
    async fn get_user(&self, user_id: &str) -> Result<Code42User, Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.user_reads += 1;
        if !s.get_errors.is_empty() {
            return Err(s.get_errors.remove(0));
        }
        Ok(s.users
            .iter()
            .find(|u| u.user_id == user_id)
            .cloned()
            .unwrap())
    }
    async fn move_user(&self, user_id: &str, org_guid: &str) -> Result<(), Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.moves += 1;
        if s.dropped_moves > 0 {
            s.dropped_moves -= 1;
            return Ok(());
        }
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
    async fn list_users_page(
        &self,
        page: usize,
        size: usize,
    ) -> Result<Page<Code42User>, Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.bulk_pages += 1;
        if s.listing_fails_after_a_move && s.moves > 0 {
            return Err(timeout("/v1/users"));
        }
        let listed: Vec<Code42User> = s
            .users
            .iter()
            .filter(|u| !s.unlisted.contains(&u.user_id))
            .cloned()
            .collect();
        Ok(Page {
            total: Some(listed.len()),
            items: listed
                .into_iter()
                .skip((page - 1) * size)
                .take(size)
                .collect(),
        })
    }
}

impl Code42Orgs for FakeCode42 {
    async fn list_orgs(&self) -> Result<Vec<Code42Org>, Code42Error> {
        Ok(self.0.lock().unwrap().orgs.clone())
    }
    /// The orgs in their order, numbered from 1002 (the WorkSpaces org of
    /// `code42()` is `WS_LEGACY_ID`).
    async fn legacy_orgs(&self) -> Result<Vec<LegacyOrg>, Code42Error> {
        let s = self.0.lock().unwrap();
        Ok(s.orgs
            .iter()
            .zip(1002..)
            .filter(|(o, _)| !s.console_unlisted.contains(&o.org_guid))
            .map(|(o, org_id)| LegacyOrg {
                org_id,
                org_guid: Some(o.org_guid.clone()),
                org_uid: None,
                org_name: Some(o.org_name.clone()),
            })
            .collect())
    }
}

impl Code42Agents for FakeCode42 {
    async fn list_agents(&self, user_id: &str) -> Result<Vec<Code42Agent>, Code42Error> {
        let s = self.0.lock().unwrap();
        Ok(s.agents
            .iter()
            .filter(|(u, _)| u == user_id)
            .map(|(_, a)| a.clone())
            .collect())
    }
    async fn list_agents_page(
        &self,
        page: usize,
        size: usize,
    ) -> Result<Page<(String, Code42Agent)>, Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.bulk_pages += 1;
        Ok(Page {
            total: Some(s.agents.len()),
            items: s
                .agents
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .cloned()
                .collect(),
        })
    }
    async fn deactivate_agent(&self, agent_id: &str) -> Result<(), Code42Error> {
        let mut s = self.0.lock().unwrap();
        if s.legal_hold.iter().any(|a| a == agent_id) {
            return Err(Code42Error::Rejected {
                method: "POST".into(),
                path: "/v1/agents/deactivate".into(),
                status: 400,
                excerpt: r#"{"error":"ACTIVE_LEGAL_HOLD"}"#.into(),
            });
        }
        s.deactivations.push(agent_id.to_string());
        for (_, a) in s.agents.iter_mut().filter(|(_, a)| a.agent_id == agent_id) {
            a.active = false;
        }
        Ok(())
    }
}

impl Code42OrgPolicies for FakeCode42 {
    async fn get_setting(
        &self,
        id: i64,
        key: &str,
    ) -> Result<Option<SettingSnapshot>, Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.setting_reads += 1;
        // One stored setting: the WorkSpaces org's default watch-path key.
        if key != crate::config::DEFAULT_WATCH_PATHS_KEY || id != WS_LEGACY_ID {
            return Ok(None);
        }
        Ok(s.setting.clone())
    }
    async fn put_setting(
        &self,
        id: i64,
        key: &str,
        items: &[String],
        locked: bool,
    ) -> Result<(), Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.puts += 1;
        if id != WS_LEGACY_ID {
            s.elsewhere.push((id, key.to_string()));
            return Ok(());
        }
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
    async fn get_org_object(&self, id: i64) -> Result<OrgObject, Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.org_reads += 1;
        if id != WS_LEGACY_ID {
            return Ok(OrgObject::from_wire(
                serde_json::json!({ "data": { "orgId": id } }),
            ));
        }
        Ok(OrgObject::from_wire(s.org_object.clone()))
    }
    async fn put_org_object(&self, id: i64, org: &OrgObject) -> Result<(), Code42Error> {
        let mut s = self.0.lock().unwrap();
        s.org_puts += 1;
        if id != WS_LEGACY_ID {
            s.elsewhere.push((id, "org object".into()));
            return Ok(());
        }
        if !s.ignore_org_puts {
            s.org_object = serde_json::json!({ "data": org.as_json() });
        }
        Ok(())
    }
}

pub fn user(id: &str, name: &str, org: &str) -> Code42User {
    Code42User {
        user_id: id.into(),
        username: name.into(),
        org_guid: org.into(),
        org_name: org.trim_start_matches("guid-").into(),
        active: true,
        blocked: false,
    }
}

pub fn org(guid: &str, name: &str) -> Code42Org {
    Code42Org {
        org_guid: guid.into(),
        computer_count: None,
        org_name: name.into(),
        active: true,
        parent_org_guid: None,
    }
}

pub fn code42(users: Vec<Code42User>, setting: Option<&str>) -> FakeCode42 {
    FakeCode42(Arc::new(Mutex::new(FakeState {
        users,
        orgs: vec![
            org("guid-default", "Default"),
            org(WS_ORG, "WorkSpaces"),
            org("guid-exec", "Executives"),
        ],
        setting: setting.map(|raw| SettingSnapshot::from_raw(raw, true, Some("ORG".into()))),
        ..FakeState::default()
    })))
}

pub fn workspaces(entries: &[(&str, &str, &str)]) -> FakeWorkspaces {
    FakeWorkspaces {
        workspaces: entries
            .iter()
            .map(|(id, user, os)| {
                (
                    id.to_string(),
                    WorkspaceInfo {
                        workspace_id: id.to_string(),
                        directory_id: Some("d-12345678".into()),
                        user_name: Some(user.to_string()),
                        operating_system: (!os.is_empty()).then(|| os.to_string()),
                        state: Some("AVAILABLE".into()),
                        computer_name: Some(computer_name(id)),
                        location: home(),
                        standby: false,
                    },
                )
            })
            .collect(),
        directories: HashMap::from([("d-12345678".to_string(), "corp.example.com".to_string())]),
        describe_calls: Mutex::new(0),
        unreachable: Vec::new(),
        organization: None,
    }
}

/// The computer name the fakes (and the test moto) give a WorkSpace.
pub fn computer_name(workspace_id: &str) -> String {
    format!(
        "WSAMZN-{}",
        workspace_id.trim_start_matches("ws-").to_ascii_uppercase()
    )
}

/// A healthy agent on `workspace_id`'s host at `version`.
pub fn agent_on(workspace_id: &str, version: &str) -> Code42Agent {
    Code42Agent {
        agent_id: format!("agent-{workspace_id}"),
        name: Some(computer_name(workspace_id)),
        os_hostname: Some(format!("{}.corp.example.com", computer_name(workspace_id))),
        app_version: Some(version.into()),
        product_version: None,
        last_connected: None,
        health_issues: Vec::new(),
        active: true,
    }
}

pub fn config(extra: &[(&str, &str)]) -> Config {
    let mut env: HashMap<&str, &str> = HashMap::from([
        ("CODE42_SECRET_ID", "s"),
        ("CODE42_ORG", "WorkSpaces"),
        ("WORKSPACES_DESCRIBE_BACKOFF_MS", "100"),
    ]);
    env.extend(extra.iter().copied());
    Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap()
}

pub fn target(id: &str, user: Option<&str>) -> Target {
    Target {
        location: None,
        workspace_id: WorkspaceId::parse(id).unwrap(),
        directory_id: Some(DirectoryId::parse("d-12345678").unwrap()),
        user_name: user.map(str::to_string),
        origin: Origin::Creation,
        described: None,
        user_hosts: None,
        attempt: 0,
        source: None,
    }
}

impl Code42Service for FakeCode42 {
    /// A clone shares the state: every session sees the same tenant.
    type Session<'a> = FakeCode42;
    fn session(&self, _deadline: Instant) -> FakeCode42 {
        self.clone()
    }
    fn take_stats(&self) -> RequestStats {
        let mut s = self.0.lock().unwrap();
        let calls = s.calls();
        let since = calls - std::mem::replace(&mut s.calls_reported, calls);
        RequestStats {
            requests: u64::from(since),
            ..RequestStats::default()
        }
    }
}

/// A work queue that keeps what it was sent.
#[derive(Default)]
pub struct FakeQueue(pub Mutex<Vec<(WorkMessage, Duration)>>);

impl WorkQueue for FakeQueue {
    async fn enqueue(&self, messages: &[WorkMessage], delay: Duration) -> Result<usize, AwsError> {
        self.0
            .lock()
            .unwrap()
            .extend(messages.iter().map(|m| (m.clone(), delay)));
        Ok(messages.len())
    }
}

pub type FakeApp = crate::app::App<FakeWorkspaces, FakeCode42, FakeQueue>;

/// An application over the fakes, with a work queue.
pub fn app(cfg: Config, ws: FakeWorkspaces, c42: FakeCode42) -> FakeApp {
    crate::app::App::new(cfg, ws, c42, Some(FakeQueue::default()))
}

pub fn deadline() -> Instant {
    Instant::now() + std::time::Duration::from_secs(60)
}

/// An in-memory ledger: entries kept, one budget counter per hour.
#[derive(Default)]
pub struct FakeLedger {
    pub entries: Mutex<Vec<crate::domain::ledger::LedgerEntry>>,
    pub taken: Mutex<HashMap<u64, u32>>,
    /// (lower-cased username, run, held).
    pub holds: Mutex<Vec<(String, String, bool)>>,
    /// (window, workspace id) claimed for the work queue.
    pub queued: Mutex<std::collections::HashSet<(u64, String)>>,
    /// WorkSpace id -> (first sign-in, covered at).
    pub sign_ins: Mutex<HashMap<String, (u64, Option<u64>)>>,
}

impl crate::ports::Ledger for FakeLedger {
    fn first_sign_in<'a>(
        &'a self,
        workspace_id: &'a str,
        at: u64,
    ) -> futures::future::BoxFuture<'a, Result<u64, AwsError>> {
        let mut sign_ins = self.sign_ins.lock().unwrap();
        let first = sign_ins
            .entry(workspace_id.to_string())
            .or_insert((at, None))
            .0;
        Box::pin(async move { Ok(first) })
    }
    fn first_covered<'a>(
        &'a self,
        workspace_id: &'a str,
        at: u64,
    ) -> futures::future::BoxFuture<'a, Result<Option<u64>, AwsError>> {
        let mut sign_ins = self.sign_ins.lock().unwrap();
        let first = match sign_ins.get_mut(workspace_id) {
            Some((first, covered @ None)) => {
                *covered = Some(at);
                Some(*first)
            }
            _ => None,
        };
        Box::pin(async move { Ok(first) })
    }
    fn claim_queued<'a>(
        &'a self,
        window: u64,
        workspace_id: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<bool, AwsError>> {
        let claimed = self
            .queued
            .lock()
            .unwrap()
            .insert((window, workspace_id.to_string()));
        Box::pin(async move { Ok(claimed) })
    }
    fn unclaim_queued<'a>(
        &'a self,
        window: u64,
        workspace_id: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<(), AwsError>> {
        self.queued
            .lock()
            .unwrap()
            .remove(&(window, workspace_id.to_string()));
        Box::pin(async { Ok(()) })
    }
    fn hold<'a>(
        &'a self,
        username: &'a str,
        run_id: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<(), AwsError>> {
        let mut holds = self.holds.lock().unwrap();
        holds.retain(|(u, _, _)| *u != username.to_lowercase());
        holds.push((username.to_lowercase(), run_id.to_string(), true));
        Box::pin(async { Ok(()) })
    }
    fn release<'a>(
        &'a self,
        run_id: &'a str,
    ) -> futures::future::BoxFuture<'a, Result<usize, AwsError>> {
        let mut n = 0;
        for hold in self.holds.lock().unwrap().iter_mut() {
            if hold.1 == run_id && hold.2 {
                hold.2 = false;
                n += 1;
            }
        }
        Box::pin(async move { Ok(n) })
    }
    fn holds(&self) -> futures::future::BoxFuture<'_, Result<Vec<(String, String)>, AwsError>> {
        let held = self
            .holds
            .lock()
            .unwrap()
            .iter()
            .filter(|h| h.2)
            .map(|(u, r, _)| (u.clone(), r.clone()))
            .collect();
        Box::pin(async { Ok(held) })
    }
    fn take_move(
        &self,
        hour: u64,
        budget: u32,
    ) -> futures::future::BoxFuture<'_, Result<bool, AwsError>> {
        let mut taken = self.taken.lock().unwrap();
        let used = taken.entry(hour).or_default();
        let ok = *used < budget;
        *used += u32::from(ok);
        Box::pin(async move { Ok(ok) })
    }
    fn record<'a>(
        &'a self,
        entry: &'a crate::domain::ledger::LedgerEntry,
    ) -> futures::future::BoxFuture<'a, Result<(), AwsError>> {
        self.entries.lock().unwrap().push(entry.clone());
        Box::pin(async { Ok(()) })
    }
    fn settle<'a>(
        &'a self,
        id: &'a str,
        state: crate::domain::ledger::EntryState,
        after: Option<&'a str>,
    ) -> futures::future::BoxFuture<'a, Result<(), AwsError>> {
        for e in self
            .entries
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|e| e.id == id)
        {
            e.state = state;
            e.after = after.map(str::to_string);
        }
        Box::pin(async { Ok(()) })
    }
    fn entries<'a>(
        &'a self,
        filter: &'a crate::domain::ledger::HistoryFilter,
    ) -> futures::future::BoxFuture<'a, Result<Vec<crate::domain::ledger::LedgerEntry>, AwsError>>
    {
        let found = self
            .entries
            .lock()
            .unwrap()
            .iter()
            .filter(|e| filter.admits(e))
            .cloned()
            .collect();
        Box::pin(async { Ok(found) })
    }
}
