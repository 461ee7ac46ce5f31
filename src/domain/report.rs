//! The handler's JSON result: one record for the org check, one per WorkSpace.

use serde::Serialize;

use std::collections::BTreeMap;

pub use super::check::{Check, CheckResult};
use super::coverage::{AgentReport, AgentStatus};
use super::hygiene::AgentHygiene;
use super::ledger::LedgerEntry;
use super::location::Location;
use super::orgs::ResolvedOrg;
use super::policy::PolicyId;
use super::watch_paths::SettingSnapshot;

/// Exactly one per WorkSpace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Something was changed.
    Configured,
    /// Nothing to do.
    Compliant,
    /// Verify mode found something it would change.
    Drift,
    /// Out of scope (not Windows, creation failed, protected org, inactive user).
    Skipped,
    /// The user is not in Code42 yet; a later check will pick them up.
    Deferred,
    /// Something went wrong; the invocation fails so the platform retries it.
    Failed,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Configured,
        Status::Compliant,
        Status::Drift,
        Status::Skipped,
        Status::Deferred,
        Status::Failed,
    ];

    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// The name used in JSON and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Configured => "configured",
            Status::Compliant => "compliant",
            Status::Drift => "drift",
            Status::Skipped => "skipped",
            Status::Deferred => "deferred",
            Status::Failed => "failed",
        }
    }
}

/// How one WorkSpace ended: its status, with exactly what that status needs.
/// A report's status, reason, error and retryable are set from it only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Configured {
        reason: Option<String>,
    },
    Compliant {
        reason: Option<String>,
    },
    Drift {
        reason: Option<String>,
    },
    Skipped {
        reason: String,
    },
    Deferred {
        reason: String,
    },
    Failed {
        error: String,
        /// Whether a retry can help.
        retryable: bool,
    },
}

impl Ending {
    pub fn status(&self) -> Status {
        match self {
            Ending::Configured { .. } => Status::Configured,
            Ending::Compliant { .. } => Status::Compliant,
            Ending::Drift { .. } => Status::Drift,
            Ending::Skipped { .. } => Status::Skipped,
            Ending::Deferred { .. } => Status::Deferred,
            Ending::Failed { .. } => Status::Failed,
        }
    }

    pub fn failed(error: impl ToString, retryable: bool) -> Self {
        Ending::Failed {
            error: error.to_string(),
            retryable,
        }
    }
}

/// A change made (or, in verify mode, planned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Moving a user moves all of their devices: enough is kept here to undo it by hand.
    MoveUser {
        user_id: String,
        username: String,
        from_org_guid: String,
        from_org_name: String,
        to_org_guid: String,
        to_org_name: String,
        /// False in verify mode, or when the move was not made.
        applied: bool,
        /// The user's other agents (a laptop, another VDI): they move too and
        /// take the WorkSpaces org's settings.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        other_devices: Vec<String>,
    },
    /// The agent of a terminated WorkSpace (`POST /v1/agents/deactivate`).
    DeactivateAgent {
        agent_id: String,
        hostname: Option<String>,
        /// False in verify mode.
        applied: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceReport {
    /// The AWS account and region of the WorkSpace (None when not known:
    /// an event's failed request without an account).
    pub account: Option<String>,
    pub region: Option<String>,
    /// None for a `failedRequests` entry: no WorkSpace was created.
    pub workspace_id: Option<String>,
    pub directory_id: Option<String>,
    pub workspaces_user: Option<String>,
    pub code42_username: Option<String>,
    pub status: Status,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For failures: whether a retry can help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
    /// The user is in Code42 but not in the WorkSpaces org (and was not moved).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub outside_org: bool,
    /// The Code42 agent on this WorkSpace (Windows WorkSpaces that were checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<Box<AgentReport>>,
    /// Whether this Windows WorkSpace is protected, and if not why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// The first check that found it covered after its first sign-in: how
    /// long after that sign-in (needs the ledger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_covered_seconds: Option<u64>,
    /// A standby WorkSpace: without its agent it is `standby`, not uncovered.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub standby: bool,
    /// Signed into and still not covered: how long since the first sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_covered_since_sign_in_seconds: Option<u64>,
}

impl WorkspaceReport {
    pub fn new(workspace_id: Option<&str>, status: Status) -> Self {
        Self {
            account: None,
            region: None,
            workspace_id: workspace_id.map(str::to_string),
            directory_id: None,
            workspaces_user: None,
            code42_username: None,
            status,
            actions: Vec::new(),
            reason: None,
            error: None,
            retryable: None,
            outside_org: false,
            agent: None,
            coverage: None,
            time_to_covered_seconds: None,
            standby: false,
            not_covered_since_sign_in_seconds: None,
        }
    }

    /// A report that ends as `ending` (facts are added by the caller).
    /// Where the WorkSpace is.
    pub fn locate(&mut self, at: &Location) {
        self.account = Some(at.account.clone());
        self.region = Some(at.region.clone());
    }

    pub fn ended(workspace_id: Option<&str>, ending: Ending) -> Self {
        let mut report = Self::new(workspace_id, Status::Failed);
        report.end(ending);
        report
    }

    /// Set the status and what it carries (and clear what it does not).
    pub fn end(&mut self, ending: Ending) {
        self.status = ending.status();
        (self.reason, self.error, self.retryable) = match ending {
            Ending::Configured { reason }
            | Ending::Compliant { reason }
            | Ending::Drift { reason } => (reason, None, None),
            Ending::Skipped { reason } | Ending::Deferred { reason } => (Some(reason), None, None),
            Ending::Failed { error, retryable } => (None, Some(error), Some(retryable)),
        };
    }

    #[cfg(test)]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// One policy's check on the org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyReport {
    pub policy: PolicyId,
    pub setting_key: String,
    /// Configured, compliant, drift or failed.
    pub status: Status,
    pub before: Option<SettingSnapshot>,
    pub after: Option<SettingSnapshot>,
    /// What was (or would be) wrong: "missing D:; not locked".
    pub finding: String,
    /// In verify mode or a dry run: exactly the value that apply would write (locked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_write: Option<Vec<String>>,
    /// Why the policy failed (`status: failed`): its read, write or read-back
    /// did not succeed. The other policies and the WorkSpaces went on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For failures: whether a retry can help.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retryable: Option<bool>,
}

impl PolicyReport {
    /// A policy whose cycle failed with `error`.
    pub fn failed(policy: PolicyId, location: &str, error: String, retryable: bool) -> Self {
        Self {
            policy,
            setting_key: location.to_string(),
            status: Status::Failed,
            before: None,
            after: None,
            finding: format!("failed: {error}"),
            would_write: None,
            error: Some(error),
            retryable: Some(retryable),
        }
    }
}

/// The org-level check. The top-level setting fields are the watch-path
/// policy's (as before there were several); `policies` has one entry per policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgReport {
    pub org_guid: String,
    pub org_name: String,
    pub legacy_org_id: i64,
    pub setting_key: String,
    /// Configured, compliant, drift or failed: the worst over the policies.
    pub status: Status,
    pub before: Option<SettingSnapshot>,
    pub after: Option<SettingSnapshot>,
    /// What was (or would be) wrong: "missing D:; not locked".
    pub finding: String,
    /// True when a recent compliant check in this container was reused.
    pub cached: bool,
    pub policies: Vec<PolicyReport>,
}

impl OrgReport {
    /// Built from the policies' reports (at least one: the watch paths).
    /// Every policy compliant or made so (a condition of coverage).
    pub fn compliant(&self) -> bool {
        matches!(self.status, Status::Compliant | Status::Configured)
    }

    /// The policies whose cycle failed.
    pub fn failed_policies(&self) -> impl Iterator<Item = &PolicyReport> {
        self.policies.iter().filter(|p| p.status == Status::Failed)
    }

    pub fn new(org: &ResolvedOrg, policies: Vec<PolicyReport>, cached: bool) -> Self {
        let first = policies
            .iter()
            .find(|p| p.policy == PolicyId::WatchPaths)
            .or(policies.first())
            .cloned();
        let status = policies
            .iter()
            .map(|p| p.status)
            .max_by_key(|s| match s {
                Status::Failed => 3,
                Status::Drift => 2,
                Status::Configured => 1,
                _ => 0,
            })
            .unwrap_or(Status::Compliant);
        Self {
            org_guid: org.guid.clone(),
            org_name: org.name.clone(),
            legacy_org_id: org.legacy_id,
            setting_key: first
                .as_ref()
                .map(|p| p.setting_key.clone())
                .unwrap_or_default(),
            status,
            before: first.as_ref().and_then(|p| p.before.clone()),
            after: first.as_ref().and_then(|p| p.after.clone()),
            finding: policies
                .iter()
                .map(|p| p.finding.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            cached,
            policies,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Per AWS account, when the run covered more than one.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub by_account: BTreeMap<String, Summary>,
    pub total: usize,
    pub configured: usize,
    pub compliant: usize,
    pub drift: usize,
    pub skipped: usize,
    pub deferred: usize,
    pub failed: usize,
    /// Windows WorkSpaces only.
    pub coverage: CoverageSummary,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CoverageSummary {
    pub covered: usize,
    pub not_covered: usize,
    /// Standby WorkSpaces without their agent (neither covered nor not).
    #[serde(skip_serializing_if = "none")]
    pub standby: usize,
    pub by_reason: BTreeMap<&'static str, usize>,
}

impl Summary {
    /// The counts, and per account when the WorkSpaces are in more than one.
    pub fn of(workspaces: &[WorkspaceReport]) -> Self {
        // Rows grouped by reference: a 100,000-WorkSpace report is not copied to be counted.
        let mut by_account: BTreeMap<&str, Vec<&WorkspaceReport>> = BTreeMap::new();
        for w in workspaces {
            if let Some(account) = &w.account {
                by_account.entry(account).or_default().push(w);
            }
        }
        let mut summary = Self::counts(workspaces);
        if by_account.len() > 1 {
            summary.by_account = by_account
                .into_iter()
                .map(|(account, rows)| (account.to_string(), Self::counts(rows)))
                .collect();
        }
        summary
    }

    fn counts<'a>(workspaces: impl IntoIterator<Item = &'a WorkspaceReport>) -> Self {
        let mut s = Summary::default();
        for w in workspaces {
            s.total += 1;
            *match w.status {
                Status::Configured => &mut s.configured,
                Status::Compliant => &mut s.compliant,
                Status::Drift => &mut s.drift,
                Status::Skipped => &mut s.skipped,
                Status::Deferred => &mut s.deferred,
                Status::Failed => &mut s.failed,
            } += 1;
            match &w.coverage {
                Some(c) if c.covered => s.coverage.covered += 1,
                Some(c) if c.reason == Some(STANDBY) => s.coverage.standby += 1,
                Some(c) => {
                    s.coverage.not_covered += 1;
                    *s.coverage
                        .by_reason
                        .entry(c.reason.unwrap_or("unknown"))
                        .or_default() += 1;
                }
                None => {}
            }
        }
        s
    }
}

/// At most this many WorkSpace records in a Lambda response.
pub const RESPONSE_WORKSPACES: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvocationReport {
    /// `apply` or `verify`.
    pub mode: &'static str,
    /// What kind of input was handled, e.g. `CreateWorkspaces`.
    pub input: String,
    /// Why nothing was done, for no-op inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// WorkSpaces sent to the work queue (fleet runs that fan out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enqueued: Option<usize>,
    /// WorkSpaces whose user is not in Code42 yet, queued again for a later check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requeued: Option<usize>,
    /// WorkSpaces left out of a cut Lambda response (the logs hold every one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub omitted: Option<usize>,
    /// `doctor`: the read-only checklist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub doctor: Option<Vec<Check>>,
    /// Planned (or made) moves whose user has other devices that move too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moves_with_other_devices: Option<usize>,
    /// This run's id in the ledger (`history --run`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    /// `history`: the ledger's entries, oldest first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<Vec<LedgerEntry>>,
    /// Accounts and regions that could not be listed (a member role that
    /// cannot be assumed): their WorkSpaces are unknown, not compliant.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<Unreachable>,
    /// `agents`: the hygiene report (`agents`, `users_without_workspace`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub agents: Option<AgentHygiene>,
    pub org: Option<OrgReport>,
    pub workspaces: Vec<WorkspaceReport>,
    pub summary: Summary,
}

/// A location whose WorkSpaces could not be listed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreachable {
    pub account: String,
    pub region: String,
    pub error: String,
    /// An organization account without the member role: reported, but it
    /// does not fail the run (it may have no WorkSpaces at all).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub warning: bool,
}

impl InvocationReport {
    pub fn new(mode: &'static str, input: impl Into<String>) -> Self {
        Self {
            mode,
            input: input.into(),
            note: None,
            enqueued: None,
            requeued: None,
            moves_with_other_devices: None,
            omitted: None,
            doctor: None,
            run_id: String::new(),
            entries: None,
            unreachable: Vec::new(),
            agents: None,
            org: None,
            workspaces: Vec::new(),
            summary: Summary::default(),
        }
    }

    /// For `verify` (exit 2): org drift, WorkSpaces in drift, users not yet
    /// in Code42, users outside the WorkSpaces org, or Windows WorkSpaces not covered.
    pub fn needs_attention(&self) -> bool {
        self.agents
            .as_ref()
            .is_some_and(AgentHygiene::needs_attention)
            || self.org.as_ref().is_some_and(|o| !o.compliant())
            || self
                .workspaces
                .iter()
                .any(|w| matches!(w.status, Status::Drift | Status::Deferred) || w.outside_org)
            || self.summary.coverage.not_covered > 0
    }

    /// The report as a Lambda returns it: whole up to `RESPONSE_WORKSPACES`
    /// WorkSpaces; beyond that the summary plus the WorkSpaces that need
    /// attention (neither compliant nor configured), at most that many, with
    /// the count of those left out. (A WorkSpace record is well under 2 kB,
    /// so this stays far below Lambda's 6 MB limit.)
    pub fn for_response(&self) -> InvocationReport {
        let mut cut = self.clone();
        if cut.workspaces.len() <= RESPONSE_WORKSPACES {
            return cut;
        }
        let total = cut.workspaces.len();
        cut.workspaces
            .retain(|w| !matches!(w.status, Status::Compliant | Status::Configured));
        cut.workspaces.truncate(RESPONSE_WORKSPACES);
        cut.omitted = Some(total - cut.workspaces.len());
        cut
    }

    /// The failed WorkSpaces, if any.
    pub fn failed(&self) -> Vec<&WorkspaceReport> {
        self.workspaces
            .iter()
            .filter(|w| w.status == Status::Failed)
            .collect()
    }
}

/// Whether a Windows WorkSpace is protected, and if not, the first reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub covered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

fn none(n: &usize) -> bool {
    *n == 0
}

/// The coverage reason of a standby WorkSpace without its agent: reported,
/// and counted apart (it does not make `verify` exit 2).
pub const STANDBY: &str = "standby";

/// Coverage of a checked Windows WorkSpace, given whether every org policy is compliant.
pub fn coverage_of(w: &WorkspaceReport, org_compliant: bool) -> Coverage {
    let reason = match w.status {
        Status::Failed => Some("check_failed"),
        Status::Deferred => Some("user_not_in_code42"),
        _ if w.outside_org => Some("user_not_in_workspaces_org"),
        Status::Skipped => Some("user_inactive"),
        _ if !org_compliant => Some("org_settings_drift"),
        _ => match w.agent.as_ref().map(|a| a.status) {
            Some(AgentStatus::Ok) => None,
            // Never signed into: its agent registers after a failover.
            Some(AgentStatus::Missing | AgentStatus::Unmatched) | None if w.standby => {
                Some(STANDBY)
            }
            Some(AgentStatus::Missing) | None => Some("agent_missing"),
            Some(AgentStatus::Outdated) => Some("agent_outdated"),
            Some(AgentStatus::Unhealthy) => Some("agent_unhealthy"),
            Some(AgentStatus::Unmatched) => Some("agent_unmatched"),
            Some(AgentStatus::Unknown) => Some("agent_unknown"),
        },
    };
    Coverage {
        covered: reason.is_none(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::coverage::tests::agent;
    use crate::domain::coverage::{Code42Plan, assess_agent};

    #[test]
    fn a_standby_workspace_without_its_agent_is_standby_not_uncovered() {
        let mut w = WorkspaceReport::new(Some("ws-stby"), Status::Compliant);
        w.standby = true;
        assert_eq!(coverage_of(&w, true).reason, Some(STANDBY));
        assert!(!coverage_of(&w, true).covered);
        // Its own problems still show: an outdated agent, the org's drift.
        assert_eq!(coverage_of(&w, false).reason, Some("org_settings_drift"));
        w.coverage = Some(coverage_of(&w, true));
        let mut primary = WorkspaceReport::new(Some("ws-prim"), Status::Compliant);
        primary.coverage = Some(coverage_of(&primary, true));
        let mut report = InvocationReport::new("verify", "verify");
        report.workspaces = vec![w.clone()];
        report.summary = Summary::of(&report.workspaces);
        assert_eq!(
            (
                report.summary.coverage.standby,
                report.summary.coverage.not_covered
            ),
            (1, 0)
        );
        assert!(
            !report.needs_attention(),
            "a standby does not make verify exit 2"
        );
        report.workspaces.push(primary);
        report.summary = Summary::of(&report.workspaces);
        assert_eq!(report.summary.coverage.not_covered, 1);
        assert!(report.needs_attention());
    }

    #[test]
    fn coverage_names_the_first_reason() {
        let mut w = WorkspaceReport::new(Some("ws-a"), Status::Compliant);
        assert_eq!(coverage_of(&w, true).reason, Some("agent_missing"));
        w.agent = Some(Box::new(assess_agent(
            Some("h"),
            &[agent("h", "9.0", &[])],
            Some(Code42Plan::Basic),
        )));
        assert_eq!(
            coverage_of(&w, true),
            Coverage {
                covered: true,
                reason: None
            }
        );
        assert_eq!(coverage_of(&w, false).reason, Some("org_settings_drift"));
        w.outside_org = true;
        w.status = Status::Drift;
        assert_eq!(
            coverage_of(&w, true).reason,
            Some("user_not_in_workspaces_org")
        );
        w.status = Status::Deferred;
        assert_eq!(coverage_of(&w, true).reason, Some("user_not_in_code42"));
    }

    #[test]
    fn a_large_fleet_response_keeps_the_summary_and_what_needs_attention() {
        let mut r = InvocationReport::new("verify", "verify");
        r.workspaces = (0..3000)
            .map(|i| {
                let status = if i % 1000 == 7 {
                    Status::Deferred
                } else {
                    Status::Compliant
                };
                WorkspaceReport::new(Some(&format!("ws-{i}")), status)
            })
            .collect();
        r.summary = Summary::of(&r.workspaces);
        let cut = r.for_response();
        assert_eq!(cut.workspaces.len(), 3);
        assert_eq!(cut.omitted, Some(2997));
        assert_eq!(cut.summary.total, 3000, "the summary stays whole");
        let small = InvocationReport::new("apply", "x");
        assert_eq!(small.for_response().omitted, None);
        assert!(serde_json::to_string(&cut).unwrap().len() < 6_000_000);
    }

    #[test]
    fn summary_counts_every_status_and_adds_up() {
        let reports: Vec<_> = Status::ALL
            .iter()
            .chain([Status::Failed, Status::Skipped].iter())
            .enumerate()
            .map(|(i, s)| WorkspaceReport::new(Some(&format!("ws-{i}")), *s))
            .collect();
        let s = Summary::of(&reports);
        assert_eq!(s.total, 8);
        assert_eq!(
            s.configured + s.compliant + s.drift + s.skipped + s.deferred + s.failed,
            8
        );
        assert_eq!((s.failed, s.skipped, s.drift), (2, 2, 1));
    }

    #[test]
    fn statuses_serialize_as_documented() {
        let names: Vec<String> = Status::ALL
            .iter()
            .map(|s| {
                serde_json::to_value(s)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names,
            [
                "configured",
                "compliant",
                "drift",
                "skipped",
                "deferred",
                "failed"
            ]
        );
    }

    fn org_in(status: Status) -> OrgReport {
        OrgReport {
            org_guid: "guid-ws".into(),
            org_name: "WorkSpaces".into(),
            legacy_org_id: 1003,
            setting_key: "key".into(),
            status,
            before: None,
            after: None,
            finding: String::new(),
            cached: false,
            policies: Vec::new(),
        }
    }

    /// Each cause of `verify`'s exit 2 alone is enough; none of them, no exit 2.
    #[test]
    fn each_cause_alone_needs_attention() {
        let calm = || {
            let mut r = InvocationReport::new("verify", "verify");
            r.org = Some(org_in(Status::Compliant));
            r.workspaces = vec![WorkspaceReport::new(Some("ws-a"), Status::Compliant)];
            r
        };
        assert!(!calm().needs_attention());
        let mut configured = calm();
        configured.org = Some(org_in(Status::Configured));
        assert!(!configured.needs_attention(), "a configured org is fine");
        let mut org_drift = calm();
        org_drift.org = Some(org_in(Status::Drift));
        assert!(org_drift.needs_attention());
        for status in [Status::Drift, Status::Deferred] {
            let mut r = calm();
            r.workspaces[0].status = status;
            assert!(r.needs_attention(), "{status:?}");
        }
        let mut outside = calm();
        outside.workspaces[0].outside_org = true;
        assert!(outside.needs_attention());
        let mut not_covered = calm();
        not_covered.summary.coverage.not_covered = 1;
        assert!(not_covered.needs_attention());
        let mut hygiene = calm();
        hygiene.agents = Some(AgentHygiene::default());
        assert!(!hygiene.needs_attention(), "a clean hygiene report");
    }

    #[test]
    fn statuses_parse_by_their_names_only() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
        }
        assert_eq!(Status::parse("Compliant"), None);
        assert_eq!(Status::parse("ok"), None);
    }

    #[test]
    fn the_summary_is_split_by_account_only_when_there_are_several() {
        let in_account = |id: &str, account: &str| {
            let mut w = WorkspaceReport::new(Some(id), Status::Compliant);
            w.account = Some(account.into());
            w
        };
        let one = Summary::of(&[
            in_account("ws-a", "111111111111"),
            in_account("ws-b", "111111111111"),
        ]);
        assert!(one.by_account.is_empty());
        let two = Summary::of(&[
            in_account("ws-a", "111111111111"),
            in_account("ws-b", "222222222222"),
        ]);
        assert_eq!(two.by_account.len(), 2);
        assert_eq!(two.by_account["222222222222"].total, 1);
    }

    #[test]
    fn the_standby_count_is_shown_only_when_there_are_some() {
        let mut coverage = CoverageSummary::default();
        let json = serde_json::to_value(&coverage).unwrap();
        assert!(json.get("standby").is_none(), "{json}");
        coverage.standby = 2;
        assert_eq!(serde_json::to_value(&coverage).unwrap()["standby"], 2);
    }

    #[test]
    fn failed_and_skipped_workspaces_say_why_they_are_not_covered() {
        let reason =
            |status: Status| coverage_of(&WorkspaceReport::new(Some("ws-a"), status), true).reason;
        assert_eq!(reason(Status::Failed), Some("check_failed"));
        assert_eq!(reason(Status::Skipped), Some("user_inactive"));
        assert_eq!(reason(Status::Deferred), Some("user_not_in_code42"));
    }
}
