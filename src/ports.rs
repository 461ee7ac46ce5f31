//! The I/O the application needs, as small traits: AWS WorkSpaces, Code42,
//! the work queue, the secret and the clock. Real adapters live in
//! `adapters`; unit tests use in-memory fakes.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::config::SettingsRoute;
use crate::domain::ids::{DirectoryId, WorkspaceId};
use crate::domain::metrics::RequestStats;
use crate::domain::model::{
    Code42Agent, Code42Org, Code42User, DirectoryInfo, FleetFilter, Page, WorkMessage,
    WorkspaceInfo,
};
use crate::domain::orgs::LegacyOrg;
use crate::domain::watch_paths::SettingSnapshot;
use crate::error::{AwsError, Code42Error, SecretError};

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

    /// Every directory registered with WorkSpaces.
    fn list_directories(&self)
    -> impl Future<Output = Result<Vec<DirectoryInfo>, AwsError>> + Send;

    /// The directory's DNS name (`DirectoryName`), None when it has none; an
    /// error when the directory is not registered (wrong region, another account).
    fn directory_name(
        &self,
        id: &DirectoryId,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
}

/// The Code42 API as one invocation sees it (every call within its deadline).
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

    /// The console's org list (`GET /api/v1/Org`, every page): numeric ids
    /// with the guids they map to.
    fn legacy_orgs(&self) -> impl Future<Output = Result<Vec<LegacyOrg>, Code42Error>> + Send;

    /// One page of all users (bulk reads for fleet runs).
    fn list_users_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> impl Future<Output = Result<Page<Code42User>, Code42Error>> + Send;

    /// One page of all active agents, each with its user id.
    fn list_agents_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> impl Future<Output = Result<Page<(String, Code42Agent)>, Code42Error>> + Send;

    /// The user's active agents, across all pages.
    fn list_agents(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Code42Agent>, Code42Error>> + Send;

    /// The console's whole org object (device defaults and inheritance included).
    fn get_org_object(
        &self,
        legacy_org_id: i64,
    ) -> impl Future<Output = Result<serde_json::Value, Code42Error>> + Send;

    /// Write the whole org object back (as the console API requires).
    fn put_org_object(
        &self,
        legacy_org_id: i64,
        org: &serde_json::Value,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send;

    /// Deactivate one agent (idempotent).
    fn deactivate_agent(
        &self,
        agent_id: &str,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send;

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

/// A long-lived Code42 connection (tokens, secret) handing out per-invocation
/// sessions bounded by a deadline.
pub trait Code42Service: Send + Sync {
    type Session<'a>: Code42
    where
        Self: 'a;
    fn session(&self, deadline: Instant) -> Self::Session<'_>;
    /// A session whose console resources go by `route` instead of the
    /// configured one (`doctor` tries every route; nothing else needs this).
    fn session_on_route(&self, deadline: Instant, _route: SettingsRoute) -> Self::Session<'_> {
        self.session(deadline)
    }
    /// The Code42 traffic since the last call (for the invocation's metrics).
    fn take_stats(&self) -> RequestStats {
        RequestStats::default()
    }
}

/// Where fleet work is fanned out to (the function's SQS work queue).
pub trait WorkQueue: Send + Sync {
    /// Send every message, each delivered after `delay` (at most 15 minutes);
    /// returns how many were sent.
    fn enqueue(
        &self,
        messages: &[WorkMessage],
        delay: Duration,
    ) -> impl Future<Output = Result<usize, AwsError>> + Send;
}

/// Where the Code42 secret's JSON comes from (Secrets Manager in production).
pub trait SecretSource: Send + Sync {
    fn fetch(&self) -> BoxFuture<'_, Result<String, SecretError>>;
}

/// The time caches are measured by (tokio's clock, so tests can pause it).
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
}

pub struct TokioClock;

impl Clock for TokioClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A Code42 port reached through a reference (fakes hand out `&self` as their session).
impl<T: Code42> Code42 for &T {
    fn find_user(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<Code42User>, Code42Error>> + Send {
        (**self).find_user(username)
    }
    fn get_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Code42User, Code42Error>> + Send {
        (**self).get_user(user_id)
    }
    fn list_orgs(&self) -> impl Future<Output = Result<Vec<Code42Org>, Code42Error>> + Send {
        (**self).list_orgs()
    }
    fn move_user(
        &self,
        user_id: &str,
        org_guid: &str,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send {
        (**self).move_user(user_id, org_guid)
    }
    fn legacy_orgs(&self) -> impl Future<Output = Result<Vec<LegacyOrg>, Code42Error>> + Send {
        (**self).legacy_orgs()
    }
    fn get_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
    ) -> impl Future<Output = Result<Option<SettingSnapshot>, Code42Error>> + Send {
        (**self).get_setting(legacy_org_id, key)
    }
    fn list_agents(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Code42Agent>, Code42Error>> + Send {
        (**self).list_agents(user_id)
    }
    fn list_users_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> impl Future<Output = Result<Page<Code42User>, Code42Error>> + Send {
        (**self).list_users_page(page, page_size)
    }
    fn list_agents_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> impl Future<Output = Result<Page<(String, Code42Agent)>, Code42Error>> + Send {
        (**self).list_agents_page(page, page_size)
    }
    fn deactivate_agent(
        &self,
        agent_id: &str,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send {
        (**self).deactivate_agent(agent_id)
    }
    fn get_org_object(
        &self,
        legacy_org_id: i64,
    ) -> impl Future<Output = Result<serde_json::Value, Code42Error>> + Send {
        (**self).get_org_object(legacy_org_id)
    }
    fn put_org_object(
        &self,
        legacy_org_id: i64,
        org: &serde_json::Value,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send {
        (**self).put_org_object(legacy_org_id, org)
    }
    fn put_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
        items: &[String],
        locked: bool,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send {
        (**self).put_setting(legacy_org_id, key, items, locked)
    }
}
