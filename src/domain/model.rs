//! What the tool observes and what it is asked to do: WorkSpaces, Code42
//! users and orgs, the targets of a run and the work-queue message.

use serde::{Deserialize, Serialize};

use super::ids::{DirectoryId, InvalidId, WorkspaceId};
use super::location::Location;

/// What DescribeWorkspaces tells about one WorkSpace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceInfo {
    pub workspace_id: String,
    pub directory_id: Option<String>,
    pub user_name: Option<String>,
    /// `OperatingSystemName`, e.g. `WINDOWS_SERVER_2022`; None when unknown.
    pub operating_system: Option<String>,
    pub state: Option<String>,
    /// `ComputerName`: the host name its Code42 agent reports (empty while new).
    pub computer_name: Option<String>,
    /// The account and region it was described in.
    pub location: Location,
    /// A standby WorkSpace (`CreateStandbyWorkspaces`): its agent registers
    /// only when it is used, after a failover.
    pub standby: bool,
}

impl WorkspaceInfo {
    /// Known and not Windows. Unknown counts as possibly Windows.
    pub fn known_not_windows(&self) -> bool {
        self.operating_system
            .as_deref()
            .is_some_and(|os| !os.to_ascii_uppercase().starts_with("WINDOWS"))
    }
}

/// A directory registered with WorkSpaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryInfo {
    pub location: Location,
    pub directory_id: String,
    pub name: Option<String>,
    /// `DirectoryType`, e.g. `SIMPLE_AD`, `AD_CONNECTOR`, `AWS_IAM_IDENTITY_CENTER`.
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code42User {
    pub user_id: String,
    pub username: String,
    pub org_guid: String,
    pub org_name: String,
    pub active: bool,
    pub blocked: bool,
}

/// An agent as `GET /v1/agents` lists it (only the fields this tool reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code42Agent {
    pub agent_id: String,
    pub name: Option<String>,
    pub os_hostname: Option<String>,
    pub app_version: Option<String>,
    pub product_version: Option<String>,
    pub last_connected: Option<String>,
    /// `agentHealthIssueTypes`: empty when healthy.
    pub health_issues: Vec<String>,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code42Org {
    pub org_guid: String,
    pub org_name: String,
    pub active: bool,
    pub parent_org_guid: Option<String>,
    /// Devices registered in the org (`computerCount`), when Code42 says.
    pub computer_count: Option<u64>,
}

/// Which WorkSpaces a fleet run covers. Empty means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetFilter {
    pub directory_ids: Vec<DirectoryId>,
    pub workspace_ids: Vec<WorkspaceId>,
    /// WorkSpaces user name, compared case-insensitively.
    pub user: Option<String>,
}

/// Which list of a filter held an invalid id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterField {
    DirectoryIds,
    WorkspaceIds,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct InvalidFilter {
    pub field: FilterField,
    pub error: InvalidId,
}

impl FleetFilter {
    /// The one place filters are validated (payloads and CLI flags alike).
    pub fn parse(
        directory_ids: &[String],
        workspace_ids: &[String],
        user: Option<&str>,
    ) -> Result<Self, InvalidFilter> {
        let invalid = |field| move |error| InvalidFilter { field, error };
        Ok(Self {
            directory_ids: directory_ids
                .iter()
                .map(|d| DirectoryId::parse(d))
                .collect::<Result<_, _>>()
                .map_err(invalid(FilterField::DirectoryIds))?,
            workspace_ids: workspace_ids
                .iter()
                .map(|w| WorkspaceId::parse(w))
                .collect::<Result<_, _>>()
                .map_err(invalid(FilterField::WorkspaceIds))?,
            user: user
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string),
        })
    }
}

/// Why a WorkSpace is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Creation,
    Login,
    Backfill,
    Reconcile,
    /// Rebuilt or restored: checked again once its agent has re-registered.
    Rebuild,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Creation => "creation",
            Origin::Login => "login",
            Origin::Backfill => "backfill",
            Origin::Reconcile => "reconcile",
            Origin::Rebuild => "rebuild",
        }
    }
}

/// One WorkSpace to check, with what the event said about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Where the event or message said it is; None: the home account and region.
    pub location: Option<Location>,
    pub workspace_id: WorkspaceId,
    pub directory_id: Option<DirectoryId>,
    pub user_name: Option<String>,
    pub origin: Origin,
    /// Already described (fleet runs list WorkSpaces first): no second lookup.
    /// Boxed: a fleet run holds a target per WorkSpace, most of it this.
    pub described: Option<Box<WorkspaceInfo>>,
    /// The computer names of the user's WorkSpaces in the same directory,
    /// from a fleet run's complete listing (None: looked up when needed).
    pub user_hosts: Option<std::sync::Arc<Vec<String>>>,
    /// How many times this WorkSpace was re-queued while its user was not in Code42 yet.
    pub attempt: u32,
    /// What asked for this check, for the ledger: the CloudTrail event's id,
    /// the queue message's id, the CLI caller's ARN (None: the run itself).
    /// Shared: every target of a CLI run has the same one.
    pub source: Option<std::sync::Arc<str>>,
}

impl Target {
    /// Where the WorkSpace is: as described, else as the event or message said.
    pub fn at(&self) -> Option<&Location> {
        self.described
            .as_ref()
            .map(|d| &d.location)
            .or(self.location.as_ref())
    }

    /// The ledger's `origin` of a write made for this target.
    pub fn ledger_origin(&self) -> String {
        match &self.source {
            Some(source) => format!("{} ({source})", self.origin.as_str()),
            None => self.origin.as_str().to_string(),
        }
    }
}

/// The work queue's message: one WorkSpace to check. A small, stable format
/// that backfill and reconciliation enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkMessage {
    /// Where the WorkSpace is; absent (older messages): the function's own
    /// account and region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub workspace_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    pub reason: Origin,
    /// Re-queues so far of a WorkSpace whose user was not in Code42 yet.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempt: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl WorkMessage {
    pub fn for_target(target: &Target, reason: Origin) -> Self {
        let location = target.at();
        Self {
            account: location.map(|l| l.account.clone()),
            region: location.map(|l| l.region.clone()),
            workspace_id: target.workspace_id.to_string(),
            directory_id: target
                .described
                .as_ref()
                .and_then(|d| d.directory_id.clone())
                .or_else(|| target.directory_id.as_ref().map(ToString::to_string)),
            user_name: target.user_name.clone(),
            reason,
            attempt: target.attempt,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetAction {
    /// Apply the flow to every WorkSpace (or enqueue them).
    Backfill,
    /// Read-only audit.
    Verify,
    /// Verify everything, enqueue what is not compliant for the apply path.
    Reconcile,
}

impl FleetAction {
    pub fn as_str(self) -> &'static str {
        match self {
            FleetAction::Backfill => "backfill",
            FleetAction::Verify => "verify",
            FleetAction::Reconcile => "reconcile",
        }
    }
}

/// What a fleet run should cover and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetRequest {
    pub action: FleetAction,
    pub filter: FleetFilter,
    /// Report what would change; write nothing.
    pub dry_run: bool,
    /// The cap on moves; None: the deployment's (`CODE42_MAX_MOVES`).
    pub max_moves: Option<usize>,
    /// Fan out through the work queue. None: when a queue is configured.
    pub enqueue: Option<bool>,
}

impl FleetRequest {
    /// The run's name in reports (`input`).
    pub fn run_name(&self) -> &'static str {
        match (self.action, self.dry_run) {
            (FleetAction::Backfill, true) => "backfill (dry run)",
            (action, _) => action.as_str(),
        }
    }
}

impl FleetRequest {
    pub fn new(action: FleetAction) -> Self {
        Self {
            action,
            filter: FleetFilter::default(),
            dry_run: false,
            max_moves: None,
            enqueue: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_parse_names_the_list_with_the_bad_id() {
        let err = FleetFilter::parse(&[], &["ws-X".into()], None).unwrap_err();
        assert_eq!(err.field, FilterField::WorkspaceIds);
        let err = FleetFilter::parse(&["nope".into()], &[], None).unwrap_err();
        assert_eq!(err.field, FilterField::DirectoryIds);
        let ok = FleetFilter::parse(&[], &["ws-abc123".into()], Some("  ")).unwrap();
        assert_eq!((ok.workspace_ids.len(), ok.user), (1, None));
    }

    #[test]
    fn a_first_attempt_is_not_written_into_a_work_message() {
        let mut message = WorkMessage {
            account: None,
            region: None,
            workspace_id: "ws-abc123".into(),
            directory_id: None,
            user_name: None,
            reason: Origin::Backfill,
            attempt: 0,
        };
        let json = serde_json::to_value(&message).unwrap();
        assert!(json.get("attempt").is_none(), "{json}");
        message.attempt = 2;
        assert_eq!(serde_json::to_value(&message).unwrap()["attempt"], 2);
    }

    #[test]
    fn fleet_runs_are_named_in_reports() {
        let named = |action, dry_run| {
            FleetRequest {
                dry_run,
                ..FleetRequest::new(action)
            }
            .run_name()
        };
        assert_eq!(named(FleetAction::Verify, false), "verify");
        assert_eq!(named(FleetAction::Reconcile, false), "reconcile");
        assert_eq!(named(FleetAction::Backfill, false), "backfill");
        assert_eq!(named(FleetAction::Backfill, true), "backfill (dry run)");
    }
}

/// One page of a listing, and the listing's total when the server says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: Option<usize>,
}
