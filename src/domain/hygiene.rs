//! Agent hygiene: which of the WorkSpaces org's active agents are current,
//! which are stale duplicates left by a rebuild or reinstall, which ran on a
//! WorkSpace that no longer exists, and which are the users' other devices.
//! Pure: the caller reads Code42 and every served location's WorkSpaces.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::coverage::{host_label, newest_first};
use super::location::Location;
use super::model::{Code42Agent, Code42User};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Finding {
    /// The most recently connected agent on a live WorkSpace's host.
    Current,
    /// An older agent on the same WorkSpace host as a more recent one.
    Duplicate,
    /// On a host that looks like a WorkSpace, with no live WorkSpace of that name.
    Orphan,
    /// Anything else (a laptop, another desktop): never cleaned up.
    OtherDevice,
}

impl Finding {
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::Current => "current",
            Finding::Duplicate => "duplicate",
            Finding::Orphan => "orphan",
            Finding::OtherDevice => "other_device",
        }
    }

    /// What `agents` exits 2 for (as `verify` does for drift).
    pub fn needs_attention(self) -> bool {
        matches!(self, Finding::Duplicate | Finding::Orphan)
    }
}

/// A live WorkSpace, as a host an agent may run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveHost {
    pub workspace_id: String,
    pub location: Location,
}

/// One active agent and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRow {
    pub agent_id: String,
    pub hostname: Option<String>,
    pub username: String,
    pub user_id: String,
    /// The live WorkSpace on that host, in any served account and region.
    pub workspace_id: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    pub finding: Finding,
    pub last_connected: Option<String>,
    /// What a clean-up did or would do with it (`deactivated`, `would
    /// deactivate`, `kept: …`); absent in a plain report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
}

/// The hygiene report's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AgentHygiene {
    pub agents: Vec<AgentRow>,
    /// Users in the WorkSpaces org with no live WorkSpace.
    pub users_without_workspace: Vec<String>,
    /// `--return-users`: each of those users and what was done.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users_returned: Vec<ReturnedUser>,
}

impl AgentHygiene {
    pub fn needs_attention(&self) -> bool {
        self.agents.iter().any(|a| a.finding.needs_attention())
    }
}

/// Classify each active agent of `users` (the WorkSpaces org's):
/// `live` maps host labels (lower case) to live WorkSpaces; a host whose
/// label starts with one of `workspace_prefixes` looks like a WorkSpace;
/// `with_workspace` holds the usernames (lower case) that have one.
pub fn classify(
    users: &[Code42User],
    agents: &HashMap<String, Vec<Code42Agent>>,
    live: &HashMap<String, LiveHost>,
    workspace_prefixes: &[String],
    with_workspace: &HashSet<String>,
) -> AgentHygiene {
    let prefixes: Vec<String> = workspace_prefixes
        .iter()
        .map(|p| p.to_ascii_lowercase())
        .collect();
    let looks_like_workspace = |host: &str| prefixes.iter().any(|p| host.starts_with(p.as_str()));
    let mut rows = Vec::new();
    for user in users {
        // Host label -> that host's agents, newest first.
        let mut by_host: BTreeMap<String, Vec<&Code42Agent>> = BTreeMap::new();
        for agent in agents
            .get(&user.user_id)
            .into_iter()
            .flatten()
            .filter(|a| a.active)
        {
            let host = agent
                .os_hostname
                .as_deref()
                .or(agent.name.as_deref())
                .unwrap_or("");
            by_host.entry(host_label(host)).or_default().push(agent);
        }
        for (host, mut on_host) in by_host {
            on_host.sort_by(|a, b| newest_first(a, b));
            let workspace = live.get(&host);
            let workspace_host = workspace.is_some() || looks_like_workspace(&host);
            for (i, agent) in on_host.into_iter().enumerate() {
                let finding = match (workspace.is_some(), workspace_host, i) {
                    (true, _, 0) => Finding::Current,
                    (_, true, n) if n > 0 => Finding::Duplicate,
                    (false, true, _) => Finding::Orphan,
                    _ => Finding::OtherDevice,
                };
                rows.push(AgentRow {
                    agent_id: agent.agent_id.clone(),
                    hostname: agent.os_hostname.clone().or_else(|| agent.name.clone()),
                    username: user.username.clone(),
                    user_id: user.user_id.clone(),
                    workspace_id: workspace.map(|w| w.workspace_id.clone()),
                    account: workspace.map(|w| w.location.account.clone()),
                    region: workspace.map(|w| w.location.region.clone()),
                    finding,
                    last_connected: agent.last_connected.clone(),
                    cleanup: None,
                });
            }
        }
    }
    let users_without_workspace = users
        .iter()
        .filter(|u| !with_workspace.contains(&u.username.to_lowercase()))
        .map(|u| u.username.clone())
        .collect();
    AgentHygiene {
        agents: rows,
        users_without_workspace,
        users_returned: Vec::new(),
    }
}

/// Which findings a clean-up deactivates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cleanup {
    Orphans,
    Duplicates,
}

impl Cleanup {
    pub fn as_str(self) -> &'static str {
        match self {
            Cleanup::Orphans => "orphan",
            Cleanup::Duplicates => "duplicate",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "orphans" => Some(Cleanup::Orphans),
            "duplicates" => Some(Cleanup::Duplicates),
            _ => None,
        }
    }

    fn takes(self, finding: Finding) -> bool {
        matches!(
            (self, finding),
            (Cleanup::Orphans, Finding::Orphan) | (Cleanup::Duplicates, Finding::Duplicate)
        )
    }
}

/// What `agents` is asked: the report, and optionally a clean-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentsRequest {
    pub deactivate: Option<Cleanup>,
    pub max_deactivations: usize,
    pub min_idle_days: u64,
    /// Move the users left without a WorkSpace back to `CODE42_RETURN_ORG`.
    pub return_users: bool,
    /// The cap on those moves; None: `CODE42_MAX_MOVES`.
    pub max_moves: Option<usize>,
    pub dry_run: bool,
}

impl Default for AgentsRequest {
    fn default() -> Self {
        Self {
            deactivate: None,
            max_deactivations: 10,
            min_idle_days: 30,
            return_users: false,
            max_moves: None,
            dry_run: false,
        }
    }
}

/// A user left without a WorkSpace, and what `--return-users` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReturnedUser {
    pub username: String,
    pub from_org_guid: String,
    pub to_org_guid: String,
    /// `returned`, `would return`, `kept: …`, `failed: …`.
    pub result: String,
}

/// The guards of a clean-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupRules {
    pub what: Cleanup,
    /// At most this many deactivations (its own cap, not the move budget).
    pub max: usize,
    /// Only agents last connected before this time (RFC 3339): idle long enough.
    pub idle_before: String,
    pub min_idle_days: u64,
}

/// The rows to deactivate, in the order to do it (one user's agents spaced
/// apart: round-robin over users, each user's oldest first); every other
/// candidate row gets its `cleanup` reason for being kept. Never a user's
/// most recently connected agent.
pub fn plan_cleanup(rows: &mut [AgentRow], rules: &CleanupRules) -> Vec<usize> {
    // Each user's most recently connected agent, over all their agents.
    let mut newest: HashMap<&str, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        let best = newest.entry(row.user_id.as_str()).or_insert(i);
        if connected_later(row, &rows[*best]) {
            *best = i;
        }
    }
    let newest: HashSet<usize> = newest.into_values().collect();
    let mut by_user: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter_mut().enumerate() {
        if !rules.what.takes(row.finding) {
            continue;
        }
        let kept = if newest.contains(&i) {
            Some("kept: the user's most recently connected agent".to_string())
        } else if row
            .last_connected
            .as_deref()
            .is_some_and(|c| c >= rules.idle_before.as_str())
        {
            Some(format!(
                "kept: connected within the last {} days",
                rules.min_idle_days
            ))
        } else {
            None
        };
        match kept {
            Some(reason) => row.cleanup = Some(reason),
            None => by_user.entry(row.user_id.clone()).or_default().push(i),
        }
    }
    for list in by_user.values_mut() {
        list.sort_by(|a, b| rows[*a].last_connected.cmp(&rows[*b].last_connected));
    }
    let mut order = Vec::new();
    let mut round = 0;
    while by_user.values().any(|l| l.len() > round) {
        order.extend(by_user.values().filter_map(|l| l.get(round).copied()));
        round += 1;
    }
    for &i in order.iter().skip(rules.max) {
        rows[i].cleanup = Some(format!("kept: above max_deactivations ({})", rules.max));
    }
    order.truncate(rules.max);
    order
}

/// `a` connected more recently than `b` (never connected is oldest; ties by id).
fn connected_later(a: &AgentRow, b: &AgentRow) -> bool {
    (a.last_connected.as_deref(), &b.agent_id) > (b.last_connected.as_deref(), &a.agent_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, host: &str, connected: Option<&str>) -> Code42Agent {
        Code42Agent {
            agent_id: id.into(),
            name: Some(host.into()),
            os_hostname: Some(host.into()),
            app_version: Some("1.6.0".into()),
            product_version: None,
            last_connected: connected.map(str::to_string),
            health_issues: Vec::new(),
            active: true,
        }
    }

    fn user(id: &str, name: &str) -> Code42User {
        Code42User {
            user_id: id.into(),
            username: name.into(),
            org_guid: "ws".into(),
            org_name: "WorkSpaces".into(),
            active: true,
            blocked: false,
        }
    }

    #[test]
    fn each_agent_is_current_duplicate_orphan_or_another_device_whatever_the_listing_order() {
        let at = Location::new("111111111111", "us-east-1");
        let live = HashMap::from([(
            "wsamzn-live1".to_string(),
            LiveHost {
                workspace_id: "ws-live1".into(),
                location: at.clone(),
            },
        )]);
        let listed = vec![
            agent(
                "a-old",
                "WSAMZN-LIVE1.corp.example.com",
                Some("2026-11-01T00:00:00Z"),
            ),
            agent("a-new", "WSAMZN-LIVE1", Some("2026-11-30T00:00:00.5Z")),
            agent("a-gone", "WSAMZN-GONE9", Some("2026-10-01T00:00:00Z")),
            agent("a-laptop", "LAPTOP-7", Some("2026-11-29T00:00:00Z")),
            agent("a-laptop-old", "LAPTOP-7", Some("2026-01-01T00:00:00Z")),
        ];
        let users = [
            user("u1", "asmith@corp.example.com"),
            user("u2", "left@corp.example.com"),
        ];
        let with_workspace = HashSet::from(["asmith@corp.example.com".to_string()]);
        let prefixes = ["WSAMZN-".to_string()];
        let mut order = listed.clone();
        for _ in 0..2 {
            for rotation in 0..order.len() {
                let mut agents = order.clone();
                agents.rotate_left(rotation);
                let all = HashMap::from([("u1".to_string(), agents.clone())]);
                let report = classify(&users, &all, &live, &prefixes, &with_workspace);
                let findings: BTreeMap<&str, (Finding, Option<&str>)> = report
                    .agents
                    .iter()
                    .map(|a| (a.agent_id.as_str(), (a.finding, a.workspace_id.as_deref())))
                    .collect();
                assert_eq!(
                    findings,
                    BTreeMap::from([
                        ("a-new", (Finding::Current, Some("ws-live1"))),
                        ("a-old", (Finding::Duplicate, Some("ws-live1"))),
                        ("a-gone", (Finding::Orphan, None)),
                        ("a-laptop", (Finding::OtherDevice, None)),
                        ("a-laptop-old", (Finding::OtherDevice, None)),
                    ]),
                    "listing {agents:?}"
                );
                assert!(report.needs_attention());
                assert_eq!(report.users_without_workspace, ["left@corp.example.com"]);
                let new = report
                    .agents
                    .iter()
                    .find(|a| a.agent_id == "a-new")
                    .unwrap();
                assert_eq!(
                    (new.account.as_deref(), new.region.as_deref()),
                    (Some("111111111111"), Some("us-east-1"))
                );
            }
            order.reverse();
        }
    }

    #[test]
    fn a_clean_org_needs_no_attention_and_inactive_agents_are_left_out() {
        let live = HashMap::from([(
            "wsamzn-a".to_string(),
            LiveHost {
                workspace_id: "ws-a".into(),
                location: Location::new("1", "r"),
            },
        )]);
        let mut inactive = agent("a-off", "WSAMZN-A", Some("2026-12-01T00:00:00Z"));
        inactive.active = false;
        let all = HashMap::from([(
            "u1".to_string(),
            vec![
                agent("a-on", "WSAMZN-A", Some("2026-11-01T00:00:00Z")),
                inactive,
            ],
        )]);
        let users = [user("u1", "a@x")];
        let report = classify(
            &users,
            &all,
            &live,
            &["wsamzn-".into()],
            &HashSet::from(["a@x".to_string()]),
        );
        assert_eq!(report.agents.len(), 1);
        assert_eq!(report.agents[0].finding, Finding::Current);
        assert!(!report.needs_attention());
        assert!(report.users_without_workspace.is_empty());
    }

    fn row(id: &str, user: &str, finding: Finding, connected: &str) -> AgentRow {
        AgentRow {
            agent_id: id.into(),
            hostname: None,
            username: format!("{user}@x"),
            user_id: user.into(),
            workspace_id: None,
            account: None,
            region: None,
            finding,
            last_connected: Some(connected.into()),
            cleanup: None,
        }
    }

    #[test]
    fn a_cleanup_keeps_the_newest_the_recent_and_what_is_above_the_cap_and_spaces_users() {
        // The newest agent is listed first for ua: never the last row decides.
        let mut rows = vec![
            row("a-current", "ua", Finding::Current, "2026-12-01T00:00:00Z"),
            row("a-old", "ua", Finding::Orphan, "2026-01-01T00:00:00Z"),
            row("a-recent", "ua", Finding::Orphan, "2026-11-20T00:00:00Z"),
            row("b-only", "ub", Finding::Orphan, "2026-02-01T00:00:00Z"),
            row("c-1", "uc", Finding::Orphan, "2026-03-01T00:00:00Z"),
            row("c-2", "uc", Finding::Orphan, "2026-01-15T00:00:00Z"),
            row("c-3", "uc", Finding::Orphan, "2026-02-15T00:00:00Z"),
            row(
                "c-laptop",
                "uc",
                Finding::OtherDevice,
                "2026-12-02T00:00:00Z",
            ),
        ];
        let rules = CleanupRules {
            what: Cleanup::Orphans,
            max: 3,
            idle_before: "2026-11-01T00:00:00Z".into(),
            min_idle_days: 30,
        };
        let order: Vec<&str> = plan_cleanup(&mut rows, &rules)
            .into_iter()
            .map(|i| rows[i].agent_id.as_str())
            .collect();
        // Round-robin over users, each user's oldest first; at most 3.
        assert_eq!(order, ["a-old", "c-2", "c-3"]);
        let kept = |id: &str| {
            rows.iter()
                .find(|r| r.agent_id == id)
                .unwrap()
                .cleanup
                .clone()
        };
        assert_eq!(
            kept("a-recent").as_deref(),
            Some("kept: connected within the last 30 days")
        );
        assert_eq!(
            kept("b-only").as_deref(),
            Some("kept: the user's most recently connected agent")
        );
        assert_eq!(
            kept("c-1").as_deref(),
            Some("kept: above max_deactivations (3)")
        );
        assert_eq!(kept("a-current"), None, "not a candidate");
        assert_eq!(kept("c-laptop"), None, "other devices are never candidates");
        // Duplicates only: none here.
        let rules = CleanupRules {
            what: Cleanup::Duplicates,
            ..rules
        };
        let mut fresh: Vec<AgentRow> = rows
            .iter()
            .map(|r| AgentRow {
                cleanup: None,
                ..r.clone()
            })
            .collect();
        assert!(plan_cleanup(&mut fresh, &rules).is_empty());
        assert_eq!(Cleanup::parse("orphans"), Some(Cleanup::Orphans));
        assert_eq!(Cleanup::parse("duplicates"), Some(Cleanup::Duplicates));
        assert_eq!(Cleanup::parse("everything"), None);
        assert_eq!(
            (Cleanup::Orphans.as_str(), Cleanup::Duplicates.as_str()),
            ("orphan", "duplicate")
        );
    }

    #[test]
    fn findings_are_named_as_in_the_json() {
        for finding in [
            Finding::Current,
            Finding::Duplicate,
            Finding::Orphan,
            Finding::OtherDevice,
        ] {
            assert_eq!(serde_json::to_value(finding).unwrap(), finding.as_str());
        }
        assert_eq!(Finding::OtherDevice.as_str(), "other_device");
    }
}
