//! The I/O the application needs, as small traits: AWS WorkSpaces, Code42,
//! the work queue, the secret and the clock. Real adapters live in
//! `adapters`; unit tests use in-memory fakes.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::time::Instant;

use crate::config::SettingsRoute;
use crate::domain::ids::{DirectoryId, WorkspaceId};
use crate::domain::ledger::{EntryState, HistoryFilter, LedgerEntry};
use crate::domain::location::Location;
use crate::domain::metrics::RequestStats;
use crate::domain::model::{DirectoryInfo, FleetFilter, WorkMessage, WorkspaceInfo};
use crate::error::{AwsError, SecretError};

mod code42;
pub mod paging;

pub use code42::{Code42, Code42Agents, Code42OrgPolicies, Code42Orgs, Code42Users};

/// Amazon WorkSpaces in every served account and region. Each call names
/// its location: the adapter reaches a member account through its role.
pub trait Workspaces: Send + Sync {
    /// The home account and region (the function's own, or the CLI's credentials').
    fn home(&self) -> impl Future<Output = Result<Location, AwsError>> + Send;

    /// Every active account of the AWS Organization the home account manages
    /// or administers (`CODE42_ACCOUNTS=organization`), sorted.
    fn organization_accounts(&self) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;

    /// Every WorkSpace at `at` matching `filter`, across all result pages
    /// (`filter.locations` is the caller's business).
    fn list_workspaces(
        &self,
        at: &Location,
        filter: &FleetFilter,
    ) -> impl Future<Output = Result<Vec<WorkspaceInfo>, AwsError>> + Send;

    /// None while the WorkSpace is not visible (yet).
    fn describe_workspace(
        &self,
        at: &Location,
        id: &WorkspaceId,
    ) -> impl Future<Output = Result<Option<WorkspaceInfo>, AwsError>> + Send;

    /// Every directory registered with WorkSpaces at `at`.
    fn list_directories(
        &self,
        at: &Location,
    ) -> impl Future<Output = Result<Vec<DirectoryInfo>, AwsError>> + Send;

    /// The directory's DNS name (`DirectoryName`), None when it has none; an
    /// error when the directory is not registered (wrong region, another account).
    fn directory_name(
        &self,
        at: &Location,
        id: &DirectoryId,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
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

/// The write-ahead ledger and the move budget every process shares
/// (DynamoDB in production). Object-safe: the application holds it as
/// `Arc<dyn Ledger>`, and runs without one when none is configured.
pub trait Ledger: Send + Sync {
    /// Take one move from `hour`'s budget of `budget`, atomically across
    /// every process and invocation; false when it is spent.
    fn take_move(&self, hour: u64, budget: u32) -> BoxFuture<'_, Result<bool, AwsError>>;
    /// Record an entry (an intent, before its write); never overwrites one.
    fn record<'a>(&'a self, entry: &'a LedgerEntry) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Settle a recorded entry after its write.
    fn settle<'a>(
        &'a self,
        id: &'a str,
        state: EntryState,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
    /// The entries `filter` admits, oldest first.
    fn entries<'a>(
        &'a self,
        filter: &'a HistoryFilter,
    ) -> BoxFuture<'a, Result<Vec<LedgerEntry>, AwsError>>;
    /// Hold a user an undo moved back (never moved again until released).
    fn hold<'a>(
        &'a self,
        username: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
    /// Release the users held by the undo of `run_id`; how many.
    fn release<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<usize, AwsError>>;
    /// Every held user (lower-cased username, the undone run).
    fn holds(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, AwsError>>;
    /// Claim a WorkSpace for the work queue in `window` (an hour): false
    /// when a run already queued it then (a retried or duplicated run).
    fn claim_queued<'a>(
        &'a self,
        window: u64,
        workspace_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, AwsError>>;
    /// Record a WorkSpace's first sign-in at `at` (unix seconds), keeping an
    /// earlier one; the first sign-in's time.
    fn first_sign_in<'a>(
        &'a self,
        workspace_id: &'a str,
        at: u64,
    ) -> BoxFuture<'a, Result<u64, AwsError>>;
    /// The first time a check finds a signed-in WorkSpace covered: mark it
    /// and return its first sign-in's time; None when it has no sign-in
    /// recorded or was marked before.
    fn first_covered<'a>(
        &'a self,
        workspace_id: &'a str,
        at: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, AwsError>>;
    /// Give a claim back (its message could not be sent): a retry may queue it.
    fn unclaim_queued<'a>(
        &'a self,
        window: u64,
        workspace_id: &'a str,
    ) -> BoxFuture<'a, Result<(), AwsError>>;
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
