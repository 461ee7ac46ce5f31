//! The application: the configuration, the ports it was handed, and what a
//! warm container remembers. Generic over the ports, so the same code runs
//! against AWS + Code42 (built by the binaries) or in-memory fakes (tests).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::config::{Config, Mode};
use crate::domain::ids::DirectoryId;
use crate::domain::location::{Location, Scope, Served};
use crate::domain::model::Target;
use crate::domain::report::InvocationReport;
use crate::domain::username::MappingError;
use crate::error::{AwsError, InvocationError};
use crate::ports::{Clock, Code42Service, Ledger, TokioClock, WorkQueue, Workspaces};

use super::cache::{ComplianceCache, OrgCache};
use super::ledger::RunLedger;
use super::reconcile::{Pass, Reconciler, RunOutcome};

pub struct App<W, C, Q> {
    pub(crate) config: Config,
    pub(crate) workspaces: W,
    pub(crate) code42: C,
    pub(crate) work_queue: Option<Q>,
    pub(crate) clock: Box<dyn Clock>,
    pub(crate) org_cache: OrgCache,
    /// WorkSpaces found compliant recently (answers sign-in re-checks).
    pub(crate) recently_compliant: ComplianceCache,
    /// The function's own account and region (from its ARN): the home of
    /// the served scope. Unknown on the CLI.
    pub(crate) served_home: std::sync::OnceLock<Location>,
    /// The write-ahead ledger and shared move budget, when configured.
    pub(crate) ledger: Option<Arc<dyn Ledger>>,
    /// Who runs the CLI (their ARN, from STS): the ledger's origin of its writes.
    pub(crate) caller: std::sync::OnceLock<String>,
}

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    pub fn new(config: Config, workspaces: W, code42: C, work_queue: Option<Q>) -> Self {
        Self {
            config,
            workspaces,
            code42,
            work_queue,
            clock: Box::new(TokioClock),
            org_cache: OrgCache::default(),
            recently_compliant: ComplianceCache::default(),
            served_home: std::sync::OnceLock::new(),
            ledger: None,
            caller: std::sync::OnceLock::new(),
        }
    }

    /// Record every move in `ledger` before it is made, within its shared
    /// hourly budget.
    pub fn with_ledger(mut self, ledger: Arc<dyn Ledger>) -> Self {
        self.ledger = Some(ledger);
        self
    }

    /// The CLI's caller (their ARN), recorded as the origin of its writes.
    pub fn set_caller(&self, arn: &str) {
        let _ = self.caller.set(arn.to_string());
    }

    pub fn has_ledger(&self) -> bool {
        self.ledger.is_some()
    }

    /// The function's own account and region, from its ARN (the Lambda
    /// calls this; the first call decides): events are then accepted only
    /// from the served scope around it.
    pub fn serve_home(&self, account: &str, region: &str) {
        let at = Location::new(account, region);
        let home = self.served_home.get_or_init(|| at.clone());
        if *home != at {
            tracing::error!(%home, %at, "invoked under another ARN; still serving the first");
        }
    }

    /// What events are checked against: the Lambda's home and scope; on the
    /// CLI, the scope when one is configured (its home from STS), else nothing.
    pub(crate) async fn served(&self) -> Result<Option<Served>, AwsError> {
        let aws = &self.config.aws;
        let home = match self.served_home.get() {
            Some(home) => home.clone(),
            None if aws.scope == Scope::default() && !aws.organization => return Ok(None),
            None => self.workspaces.home().await?,
        };
        Ok(Some(Served {
            home,
            scope: self.scope().await?,
        }))
    }

    /// The served accounts and regions: as configured, or with
    /// `organization`, the organization's active accounts (listed when needed).
    pub(crate) async fn scope(&self) -> Result<Scope, AwsError> {
        let aws = &self.config.aws;
        if !aws.organization {
            return Ok(aws.scope.clone());
        }
        Ok(Scope {
            accounts: self.workspaces.organization_accounts().await?,
            regions: aws.scope.regions.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The deployment's mode is a ceiling: nothing asks past verify.
    pub(crate) fn capped(&self, requested: Mode) -> Mode {
        match self.config.mode {
            Mode::Verify => Mode::Verify,
            Mode::Apply => requested,
        }
    }

    /// The Code42 username of a WorkSpaces user, for the read-only side paths
    /// (terminate clean-up, doctor): a directory whose name cannot be read
    /// counts as having none, and the mapping says so.
    pub(crate) async fn code42_username(
        &self,
        at: &Location,
        user: &str,
        directory_id: Option<&str>,
    ) -> Result<String, MappingError> {
        let directory = directory_id.and_then(|d| DirectoryId::parse(d).ok());
        let directory_name = match (
            &directory,
            self.config.users.username.needs_directory_name(user),
        ) {
            (Some(d), true) => self.workspaces.directory_name(at, d).await.ok().flatten(),
            _ => None,
        };
        self.config
            .users
            .username
            .map(user, directory_id.unwrap_or(""), directory_name.as_deref())
    }

    /// A new run's report, with a run id of its own.
    pub(crate) fn report(&self, kind: &str) -> InvocationReport {
        let mut report = InvocationReport::new(self.config.mode.as_str(), kind);
        report.run_id = new_run_id();
        report
    }

    /// One pass of the flow over `targets` (its mode capped by the configuration).
    pub(crate) async fn pass<T: std::borrow::Borrow<Target> + Send + Sync>(
        &self,
        pass: Pass,
        targets: Vec<T>,
        deadline: Instant,
        run_id: &str,
        on_done: Option<&(dyn Fn() + Sync)>,
    ) -> Result<RunOutcome, InvocationError> {
        let session = self.code42.session(deadline);
        let mode = self.capped(pass.mode(self.config.mode));
        let reconciler = Reconciler {
            config: &self.config,
            mode,
            workspaces: &self.workspaces,
            code42: &session,
            cache: &self.org_cache,
            clock: self.clock.as_ref(),
            pass,
            on_done,
            deadline,
            ledger: self
                .ledger
                .as_deref()
                .map(|ledger| RunLedger { ledger, run_id }),
            // Only where deferred WorkSpaces are re-queued (handler::requeue_deferred).
            requeue_deferred: pass == Pass::Event
                && self.work_queue.is_some()
                && mode == Mode::Apply,
        };
        if targets.is_empty() && pass.checks_org_without_targets() {
            let (_, org) = reconciler.checked_org().await?;
            return Ok(RunOutcome {
                org: Some(org),
                workspaces: Vec::new(),
                global_error: None,
            });
        }
        reconciler.run(targets).await
    }
}

/// A run id: its start time (sortable) and a random suffix.
fn new_run_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let at = crate::domain::ledger::rfc3339(secs).replace([':', '-'], "");
    format!("run-{at}-{:06x}", fastrand::u32(..0x100_0000))
}
