//! The I/O the domain needs, as small traits: AWS WorkSpaces and Code42.
//! Real adapters live in `adapters`; unit tests use in-memory fakes.

use std::future::Future;

use crate::domain::ids::{DirectoryId, WorkspaceId};
use crate::domain::watch_paths::SettingSnapshot;
use crate::error::{AwsError, Code42Error};
use crate::input::WorkMessage;

/// What DescribeWorkspaces tells about one WorkSpace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceInfo {
    pub workspace_id: String,
    pub directory_id: Option<String>,
    pub user_name: Option<String>,
    /// `OperatingSystemName`, e.g. `WINDOWS_SERVER_2022`; None when unknown.
    pub operating_system: Option<String>,
    pub state: Option<String>,
}

impl WorkspaceInfo {
    /// Known and not Windows. Unknown counts as possibly Windows.
    pub fn known_not_windows(&self) -> bool {
        self.operating_system
            .as_deref()
            .is_some_and(|os| !os.to_ascii_uppercase().starts_with("WINDOWS"))
    }
}

/// Which WorkSpaces a fleet run covers. Empty means all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetFilter {
    pub directory_ids: Vec<DirectoryId>,
    pub workspace_ids: Vec<WorkspaceId>,
    /// WorkSpaces user name, compared case-insensitively.
    pub user: Option<String>,
}

pub trait Workspaces: Send + Sync {
    /// Every WorkSpace matching `filter`, across all result pages.
    fn list_workspaces(
        &self,
        filter: &FleetFilter,
    ) -> impl Future<Output = Result<Vec<WorkspaceInfo>, AwsError>> + Send;

    /// None while the WorkSpace is not visible (yet).
    fn describe_workspace(
        &self,
        id: &WorkspaceId,
    ) -> impl Future<Output = Result<Option<WorkspaceInfo>, AwsError>> + Send;

    /// The directory's DNS name (`DirectoryName`), None if it is not registered.
    fn directory_name(
        &self,
        id: &DirectoryId,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code42Org {
    pub org_guid: String,
    pub org_name: String,
    pub active: bool,
}

pub trait Code42: Send + Sync {
    /// Exact, case-insensitive username match; None if not in Code42.
    fn find_user(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<Code42User>, Code42Error>> + Send;

    fn get_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Code42User, Code42Error>> + Send;

    fn list_orgs(&self) -> impl Future<Output = Result<Vec<Code42Org>, Code42Error>> + Send;

    fn move_user(
        &self,
        user_id: &str,
        org_guid: &str,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send;

    /// The console's numeric org id for a gateway orgGuid.
    fn legacy_org_id(
        &self,
        org_guid: &str,
    ) -> impl Future<Output = Result<Option<i64>, Code42Error>> + Send;

    /// None when the org has no value for `key`.
    fn get_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
    ) -> impl Future<Output = Result<Option<SettingSnapshot>, Code42Error>> + Send;

    /// `items` are sent as they are (already in the seed's quoted form).
    fn put_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
        items: &[String],
        locked: bool,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send;
}

/// Where fleet work is fanned out to (the function's SQS work queue).
pub trait WorkQueue: Send + Sync {
    /// Send every message; returns how many were sent.
    fn enqueue(
        &self,
        messages: &[WorkMessage],
    ) -> impl Future<Output = Result<usize, AwsError>> + Send;
}
