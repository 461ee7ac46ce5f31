//! One pass of the flow over a set of WorkSpaces: the org check first, then
//! each WorkSpace, a bounded number at a time, reports in input order.

use futures::StreamExt;
use tokio::time::Instant;

use crate::config::{Config, Mode};
use crate::domain::model::{ResolvedOrg, Target};
use crate::domain::report::{OrgReport, Status, WorkspaceReport};
use crate::error::{Code42Error, InvocationError};
use crate::ports::{Clock, Code42, Workspaces};

use super::cache::OrgCache;
use super::org::OrgCheck;
use super::snapshot::Code42Snapshot;
use super::workspace::WorkspaceCheck;

pub struct Reconciler<'a, W, C> {
    pub config: &'a Config,
    /// Never `Apply` when the configuration says `Verify` (the caller enforces the ceiling).
    pub mode: Mode,
    pub workspaces: &'a W,
    pub code42: &'a C,
    pub cache: &'a OrgCache,
    pub clock: &'a dyn Clock,
    /// Whether a recent compliant org check may stand in for reading the
    /// setting: only on the creation/sign-in apply path, never for an audit.
    pub reuse_recent_org_check: bool,
    /// Called as each WorkSpace is done (progress bars).
    pub on_done: Option<&'a (dyn Fn(&WorkspaceReport) + Sync)>,
    /// A WorkSpace is not begun after `deadline - config.start_margin`.
    pub deadline: Instant,
    /// Read users and agents in bulk when there are at least
    /// `config.bulk_threshold` targets (read-only planning passes only).
    pub bulk_reads: bool,
}

/// The org record and one report per target, plus the first global error.
pub struct RunOutcome {
    pub org: Option<OrgReport>,
    pub workspaces: Vec<WorkspaceReport>,
    pub global_error: Option<Code42Error>,
}

/// The report of a WorkSpace left for a retry because time ran out.
fn not_begun(target: &Target) -> WorkspaceReport {
    let mut report = WorkspaceReport::new(Some(target.workspace_id.as_str()), Status::Failed);
    report.directory_id = target.directory_id.as_ref().map(ToString::to_string);
    report.workspaces_user = target.user_name.clone();
    report.error = Some(
        "not begun: the invocation was near its time limit (CODE42_START_MARGIN_SECONDS); a retry checks it".into(),
    );
    report.retryable = Some(true);
    report
}

impl RunOutcome {
    /// A global error (credentials, permissions) fails the whole pass.
    pub fn into_result(mut self) -> Result<Self, InvocationError> {
        match self.global_error.take() {
            Some(global) => Err(global.into()),
            None => Ok(self),
        }
    }
}

impl<W: Workspaces, C: Code42> Reconciler<'_, W, C> {
    /// No targets, no Code42 calls.
    pub async fn run(&self, targets: &[Target]) -> Result<RunOutcome, InvocationError> {
        if targets.is_empty() {
            return Ok(RunOutcome {
                org: None,
                workspaces: Vec::new(),
                global_error: None,
            });
        }
        let (org, org_report) = self.checked_org().await?;
        let snapshot = if self.bulk_reads
            && self.mode == Mode::Verify
            && targets.len() >= self.config.bulk_threshold
        {
            match Code42Snapshot::read(
                self.code42,
                self.config.users_page_size,
                self.config.agents_page_size,
            )
            .await
            {
                Ok(snapshot) => Some(snapshot),
                Err(e) if e.global() => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "bulk reads failed; looking users up one by one");
                    None
                }
            }
        } else {
            None
        };
        let check = WorkspaceCheck {
            config: self.config,
            mode: self.mode,
            workspaces: self.workspaces,
            code42: self.code42,
            org_compliant: org_report.status != Status::Drift,
            snapshot: snapshot.as_ref(),
        };
        let results: Vec<(WorkspaceReport, Option<Code42Error>)> = futures::stream::iter(targets)
            .map(|t| {
                let (check, org) = (&check, &org);
                async move {
                    let done = if Instant::now() + self.config.start_margin >= self.deadline {
                        (not_begun(t), None)
                    } else {
                        check.run(t, org).await
                    };
                    if let Some(on_done) = self.on_done {
                        on_done(&done.0);
                    }
                    done
                }
            })
            .buffered(self.config.concurrency)
            .collect()
            .await;
        let global_error = results.iter().find_map(|(_, g)| g.clone());
        Ok(RunOutcome {
            org: Some(org_report),
            workspaces: results.into_iter().map(|(r, _)| r).collect(),
            global_error,
        })
    }

    /// Resolve the org and bring its policies to the desired state (or, in
    /// verify mode, report drift).
    pub async fn checked_org(&self) -> Result<(ResolvedOrg, OrgReport), InvocationError> {
        OrgCheck {
            config: self.config,
            mode: self.mode,
            code42: self.code42,
            cache: self.cache,
            clock: self.clock,
        }
        .run(self.reuse_recent_org_check && self.mode == Mode::Apply)
        .await
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
