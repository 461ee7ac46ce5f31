//! Is a WorkSpace protected? Its Code42 agent (matched by computer name, at
//! the plan's minimum version, without health issues) and its coverage: the
//! user in the WorkSpaces org, the org's policies compliant, the agent ok.

use serde::Serialize;

use super::model::Code42Agent;

/// The customer's Incydr plan (`CODE42_PLAN`): it sets the minimum agent
/// version and whether the backup file selection is managed. The seed names
/// Professional/Enterprise/Horizon (1.4.0) and Basic/Advanced (8.5.1, with
/// the backup step); Gov F2 and Gov F1 follow its audience groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code42Plan {
    Professional,
    Enterprise,
    Horizon,
    GovF2,
    Basic,
    Advanced,
    GovF1,
}

impl Code42Plan {
    pub const NAMES: [&'static str; 7] = [
        "professional",
        "enterprise",
        "horizon",
        "gov-f2",
        "basic",
        "advanced",
        "gov-f1",
    ];

    pub fn parse(value: &str) -> Option<Self> {
        Some(match value.trim().to_ascii_lowercase().as_str() {
            "professional" => Self::Professional,
            "enterprise" => Self::Enterprise,
            "horizon" => Self::Horizon,
            "gov-f2" => Self::GovF2,
            "basic" => Self::Basic,
            "advanced" => Self::Advanced,
            "gov-f1" => Self::GovF1,
            _ => return None,
        })
    }

    /// The name `CODE42_PLAN` takes.
    pub fn as_str(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The legacy Code42 app (with backup) on Basic/Advanced/Gov F1.
    pub fn manages_backup(self) -> bool {
        matches!(self, Self::Basic | Self::Advanced | Self::GovF1)
    }

    pub fn minimum_agent_version(self) -> &'static str {
        if self.manages_backup() {
            "8.5.1"
        } else {
            "1.4.0"
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Ok,
    /// The user has no active agent.
    Missing,
    /// Below the plan's minimum version.
    Outdated,
    /// The agent reports health issues.
    Unhealthy,
    /// The user has agents, none on this WorkSpace's host (or no computer name yet).
    Unmatched,
    /// The agents could not be listed (the check itself failed).
    Unknown,
}

impl AgentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Ok => "ok",
            AgentStatus::Missing => "missing",
            AgentStatus::Outdated => "outdated",
            AgentStatus::Unhealthy => "unhealthy",
            AgentStatus::Unmatched => "unmatched",
            AgentStatus::Unknown => "unknown",
        }
    }
}

/// The agent found on a WorkSpace, as reported per WorkSpace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentReport {
    pub status: AgentStatus,
    pub agent_id: Option<String>,
    pub hostname: Option<String>,
    pub app_version: Option<String>,
    pub product_version: Option<String>,
    pub last_connected: Option<String>,
    pub health_issues: Vec<String>,
    /// False when no plan is configured (`CODE42_PLAN`): any version counts.
    pub version_checked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_version: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Older active agents on the same host (a reinstall or rebuild left
    /// them): ids, most recently connected first. They decide nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stale_duplicates: Vec<String>,
}

impl AgentReport {
    fn bare(status: AgentStatus, plan: Option<Code42Plan>, detail: impl Into<String>) -> Self {
        Self {
            status,
            agent_id: None,
            hostname: None,
            app_version: None,
            product_version: None,
            last_connected: None,
            health_issues: Vec::new(),
            version_checked: plan.is_some(),
            minimum_version: plan.map(Code42Plan::minimum_agent_version),
            detail: Some(detail.into()),
            stale_duplicates: Vec::new(),
        }
    }

    /// For a WorkSpace whose user is not in Code42: there can be no agent.
    pub fn no_user(plan: Option<Code42Plan>) -> Self {
        Self::bare(AgentStatus::Missing, plan, "the user is not in Code42")
    }

    /// When the agents could not be listed.
    pub fn unknown(plan: Option<Code42Plan>, error: impl Into<String>) -> Self {
        Self::bare(AgentStatus::Unknown, plan, error)
    }
}

/// The first DNS label, lower-cased (`WSAMZN-AB12.corp.example.com` -> `wsamzn-ab12`):
/// how an agent's host name is matched to a WorkSpace's computer name.
pub fn host_label(name: &str) -> String {
    name.trim()
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// Dotted numeric versions: `a < b`? Missing parts count as 0; each part
/// counts by its leading digits (`8.5.1-beta` is 8.5.1).
pub fn version_below(version: &str, minimum: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> {
        v.trim()
            .split('.')
            .map(|p| {
                p.chars()
                    .take_while(char::is_ascii_digit)
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0)
            })
            .collect()
    };
    let (a, b) = (parts(version), parts(minimum));
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

/// The user's active agents whose reported host name (`osHostname`) is
/// `computer_name`: the ones that ran on that WorkSpace. The display `name`
/// is not enough (a laptop merely renamed to it is not the WorkSpace).
pub fn agents_reporting_host<'a>(
    computer_name: &str,
    agents: &'a [Code42Agent],
) -> Vec<&'a Code42Agent> {
    let host = host_label(computer_name);
    if host.is_empty() {
        return Vec::new();
    }
    agents
        .iter()
        .filter(|a| a.active)
        .filter(|a| {
            a.os_hostname
                .as_deref()
                .is_some_and(|h| host_label(h) == host)
        })
        .collect()
}

/// The agent on the WorkSpace `computer_name`, among the user's agents.
/// The agent's status against the plan's minimum version, then its health.
fn judge_agent(agent: &Code42Agent, minimum: Option<&str>) -> (AgentStatus, Option<String>) {
    let version = agent
        .app_version
        .as_deref()
        .or(agent.product_version.as_deref());
    match (minimum, version) {
        (Some(min), None) => (
            AgentStatus::Outdated,
            Some(format!("no version reported; the plan needs {min}")),
        ),
        (Some(min), Some(v)) if version_below(v, min) => (
            AgentStatus::Outdated,
            Some(format!("version {v} is below the plan's {min}")),
        ),
        _ if !agent.health_issues.is_empty() => (
            AgentStatus::Unhealthy,
            Some(format!("health issues: {}", agent.health_issues.join(", "))),
        ),
        _ => (AgentStatus::Ok, None),
    }
}

pub fn assess_agent(
    computer_name: Option<&str>,
    agents: &[Code42Agent],
    plan: Option<Code42Plan>,
) -> AgentReport {
    let active: Vec<&Code42Agent> = agents.iter().filter(|a| a.active).collect();
    if active.is_empty() {
        return AgentReport::bare(
            AgentStatus::Missing,
            plan,
            "the user has no active Code42 agent",
        );
    }
    let Some(host) = computer_name.map(host_label).filter(|h| !h.is_empty()) else {
        return AgentReport::bare(
            AgentStatus::Unmatched,
            plan,
            "the WorkSpace has no computer name yet",
        );
    };
    let mut on_host: Vec<&Code42Agent> = active
        .iter()
        .copied()
        .filter(|a| {
            [a.os_hostname.as_deref(), a.name.as_deref()]
                .into_iter()
                .flatten()
                .any(|n| host_label(n) == host)
        })
        .collect();
    // The most recently connected decides, whatever order the API used.
    on_host.sort_by(|a, b| newest_first(a, b));
    let stale_duplicates: Vec<String> =
        on_host.iter().skip(1).map(|a| a.agent_id.clone()).collect();
    let Some(agent) = on_host.first().copied() else {
        let hosts: Vec<&str> = active
            .iter()
            .filter_map(|a| a.os_hostname.as_deref().or(a.name.as_deref()))
            .collect();
        return AgentReport::bare(
            AgentStatus::Unmatched,
            plan,
            format!(
                "none of the user's agents ({}) is on {host}",
                hosts.join(", ")
            ),
        );
    };
    let minimum = plan.map(Code42Plan::minimum_agent_version);
    let (status, detail) = judge_agent(agent, minimum);
    AgentReport {
        status,
        agent_id: Some(agent.agent_id.clone()),
        hostname: agent.os_hostname.clone().or_else(|| agent.name.clone()),
        app_version: agent.app_version.clone(),
        product_version: agent.product_version.clone(),
        last_connected: agent.last_connected.clone(),
        health_issues: agent.health_issues.clone(),
        version_checked: plan.is_some(),
        minimum_version: minimum,
        detail,
        stale_duplicates,
    }
}

/// Most recently connected first; never connected last; ties by agent id
/// (the same answer whatever order the API listed them in).
pub fn newest_first(a: &Code42Agent, b: &Code42Agent) -> std::cmp::Ordering {
    fn key(a: &Code42Agent) -> Option<(&str, String)> {
        a.last_connected.as_deref().map(connected_key)
    }
    key(b)
        .cmp(&key(a))
        .then_with(|| a.agent_id.cmp(&b.agent_id))
}

/// An ISO 8601 UTC time ("2026-11-27T10:00:00.5Z", with or without a
/// fraction) as comparable parts: the seconds, then the fraction's digits
/// padded to nanoseconds.
fn connected_key(iso: &str) -> (&str, String) {
    let seconds = iso.get(..19).unwrap_or(iso);
    let fraction: String = iso
        .get(19..)
        .and_then(|rest| rest.strip_prefix('.'))
        .map(|f| f.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    (seconds, format!("{fraction:0<9}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An active agent named `host` (FQDN in `osHostname`) at `version`.
    pub(crate) fn agent(host: &str, version: &str, issues: &[&str]) -> Code42Agent {
        Code42Agent {
            agent_id: format!("a-{host}"),
            name: Some(host.to_string()),
            os_hostname: Some(format!("{host}.corp.example.com")),
            app_version: Some(version.to_string()),
            product_version: Some("2.0".into()),
            last_connected: Some("2026-11-27T10:00:00Z".into()),
            health_issues: issues.iter().map(|s| s.to_string()).collect(),
            active: true,
        }
    }

    #[test]
    fn the_most_recently_connected_agent_on_a_host_decides_in_any_order() {
        let on = |id: &str, version: &str, connected: Option<&str>| Code42Agent {
            agent_id: id.into(),
            last_connected: connected.map(str::to_string),
            ..agent("WSAMZN-A", version, &[])
        };
        let agents = [
            on("old", "1.0.0", Some("2026-11-01T10:00:00Z")),
            on("new", "1.5.0", Some("2026-11-27T10:00:00.5Z")),
            on("same-second", "1.0.0", Some("2026-11-27T10:00:00Z")),
            on("never", "1.0.0", None),
        ];
        // Every order the API might list them in gives the same answer.
        let mut order = agents.to_vec();
        for _ in 0..order.len() {
            order.rotate_left(1);
            let mut reversed = order.clone();
            reversed.reverse();
            for listed in [&order, &reversed] {
                let report = assess_agent(Some("WSAMZN-A"), listed, Some(Code42Plan::Enterprise));
                assert_eq!(report.agent_id.as_deref(), Some("new"));
                assert_eq!(report.status, AgentStatus::Ok);
                assert_eq!(report.stale_duplicates, ["same-second", "old", "never"]);
            }
        }
        // One agent: no duplicates.
        let single = assess_agent(Some("WSAMZN-A"), &agents[..1], None);
        assert!(single.stale_duplicates.is_empty());
    }

    #[test]
    fn plan_names_round_trip() {
        for name in Code42Plan::NAMES {
            assert_eq!(Code42Plan::parse(name).map(Code42Plan::as_str), Some(name));
        }
    }

    #[test]
    fn versions_compare_numerically_part_by_part() {
        for (v, min, below) in [
            ("1.4.0", "1.4.0", false),
            ("1.10.0", "1.4.0", false),
            ("1.3.9", "1.4.0", true),
            ("8.5", "8.5.1", true),
            ("8.5.1.12", "8.5.1", false),
            ("11.0.0", "8.5.1", false),
            ("8.5.1-beta", "8.5.1", false),
            ("", "1.4.0", true),
        ] {
            assert_eq!(version_below(v, min), below, "{v} vs {min}");
        }
    }

    #[test]
    fn agent_table() {
        let pro = Some(Code42Plan::Professional);
        let basic = Some(Code42Plan::Basic);
        let mut inactive = agent("wsamzn-aa", "2.0", &[]);
        inactive.active = false;
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Vec<Code42Agent>,
            Option<Code42Plan>,
            AgentStatus,
        );
        let cases: Vec<Case> = vec![
            (
                "no agents",
                Some("WSAMZN-AA"),
                vec![],
                pro,
                AgentStatus::Missing,
            ),
            (
                "only inactive",
                Some("WSAMZN-AA"),
                vec![inactive],
                pro,
                AgentStatus::Missing,
            ),
            (
                "no computer name",
                None,
                vec![agent("wsamzn-aa", "2.0", &[])],
                pro,
                AgentStatus::Unmatched,
            ),
            (
                "other host",
                Some("WSAMZN-BB"),
                vec![agent("laptop-1", "2.0", &[])],
                pro,
                AgentStatus::Unmatched,
            ),
            (
                "fqdn matches",
                Some("WSAMZN-AA"),
                vec![agent("wsamzn-aa", "1.4.0", &[])],
                pro,
                AgentStatus::Ok,
            ),
            (
                "outdated",
                Some("wsamzn-aa"),
                vec![agent("wsamzn-aa", "1.3.2", &[])],
                pro,
                AgentStatus::Outdated,
            ),
            (
                "basic needs 8.5.1",
                Some("wsamzn-aa"),
                vec![agent("wsamzn-aa", "2.0", &[])],
                basic,
                AgentStatus::Outdated,
            ),
            (
                "unhealthy",
                Some("wsamzn-aa"),
                vec![agent("wsamzn-aa", "1.5", &["NOT_CONNECTING"])],
                pro,
                AgentStatus::Unhealthy,
            ),
            (
                "no plan: any version",
                Some("wsamzn-aa"),
                vec![agent("wsamzn-aa", "0.1", &[])],
                None,
                AgentStatus::Ok,
            ),
        ];
        for (name, host, agents, plan, expected) in cases {
            let report = assess_agent(host, &agents, plan);
            assert_eq!(report.status, expected, "{name}: {report:?}");
            assert_eq!(report.version_checked, plan.is_some(), "{name}");
        }
        let report = assess_agent(
            Some("WSAMZN-AA"),
            &[agent("wsamzn-aa", "1.5", &["NOT_CONNECTING"])],
            pro,
        );
        assert_eq!(report.health_issues, ["NOT_CONNECTING"]);
        assert_eq!(
            report.hostname.as_deref(),
            Some("wsamzn-aa.corp.example.com")
        );
    }

    #[test]
    fn plans_parse_and_set_minimums() {
        for name in Code42Plan::NAMES {
            assert!(Code42Plan::parse(name).is_some(), "{name}");
        }
        assert_eq!(
            Code42Plan::parse("GOV-F1").unwrap().minimum_agent_version(),
            "8.5.1"
        );
        assert_eq!(
            Code42Plan::parse("horizon")
                .unwrap()
                .minimum_agent_version(),
            "1.4.0"
        );
        assert!(Code42Plan::parse("gold").is_none());
    }

    #[test]
    fn an_agent_that_reports_no_version_is_outdated_under_a_plan() {
        let mut silent = agent("WSAMZN-A", "", &[]);
        silent.app_version = None;
        silent.product_version = None;
        let report = assess_agent(Some("WSAMZN-A"), &[silent.clone()], Some(Code42Plan::Basic));
        assert_eq!(report.status, AgentStatus::Outdated);
        // Without a plan any version (or none) counts.
        let report = assess_agent(Some("WSAMZN-A"), &[silent], None);
        assert_eq!(report.status, AgentStatus::Ok);
    }
}
