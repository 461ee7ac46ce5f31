//! Whole-fleet runs: backfill, verify, and the scheduled reconciliation.
//!
//! Backfill plans first (a read-only pass), refuses to move more users than
//! `max_moves`, then applies only to the WorkSpaces the plan found drifted
//! (or failed), so an apply run costs one read pass plus the changes.

use std::collections::HashMap;

use tokio::time::Instant;

use crate::config::Mode;
use crate::domain::ids::WorkspaceId;
use crate::domain::report::{Action, InvocationReport, Status, Summary, WorkspaceReport};
use crate::error::InvocationError;
use crate::handler::{App, InvocationFailure, fail_if_any_failed};
use crate::input::{FleetAction, FleetRequest, Origin, Target, WorkMessage};
use crate::ports::{WorkQueue, Workspaces};
use crate::reconcile::Reconciler;

/// Progress callbacks for long runs (the CLI's progress bar).
pub trait FleetProgress: Sync {
    fn listed(&self, _total: usize) {}
    fn done(&self, _report: &WorkspaceReport) {}
}

pub struct NoProgress;
impl FleetProgress for NoProgress {}

fn failure(
    error: impl Into<InvocationError>,
    report: Option<InvocationReport>,
) -> InvocationFailure {
    InvocationFailure {
        error: error.into(),
        report: report.map(Box::new),
    }
}

impl App {
    pub async fn fleet(
        &self,
        request: &FleetRequest,
        deadline: Instant,
        progress: &dyn FleetProgress,
    ) -> Result<InvocationReport, InvocationFailure> {
        let kind = match (request.action, request.dry_run) {
            (FleetAction::Backfill, true) => "backfill (dry run)",
            (FleetAction::Backfill, false) => "backfill",
            (FleetAction::Verify, _) => "verify",
            (FleetAction::Reconcile, _) => "reconcile",
        };
        let mut report = self.empty_report(kind);
        let listed = self
            .workspaces
            .list_workspaces(&request.filter)
            .await
            .map_err(|e| failure(e, None))?;
        progress.listed(listed.len());
        let targets = listed
            .into_iter()
            .filter_map(|info| {
                let id = WorkspaceId::parse(&info.workspace_id)
                    .inspect_err(|e| tracing::error!(error = %e, "DescribeWorkspaces returned an invalid id; ignored"))
                    .ok()?;
                Some(Target {
                    workspace_id: id,
                    directory_id: None,
                    user_name: info.user_name.clone(),
                    origin: match request.action {
                        FleetAction::Reconcile => Origin::Reconcile,
                        _ => Origin::Backfill,
                    },
                    described: Some(info),
                })
            })
            .collect::<Vec<_>>();

        // The deployment's mode is a ceiling: nothing in a request lifts verify.
        let may_write = self.config.mode == Mode::Apply
            && !request.dry_run
            && request.action == FleetAction::Backfill;
        let enqueue = request.enqueue.unwrap_or(self.work_queue.is_some());
        if may_write && enqueue {
            let sent = self
                .enqueue(&targets, Origin::Backfill)
                .await
                .map_err(|e| failure(e, None))?;
            report.enqueued = Some(sent);
            report.note = Some(format!(
                "{sent} WorkSpace(s) queued; the function checks each from the work queue"
            ));
            return Ok(report);
        }

        let plan = self
            .pass(Mode::Verify, &targets, deadline, progress)
            .await
            .map_err(|e| failure(e, None))?;
        report.org = plan.org.clone();
        report.workspaces = plan.workspaces;
        if request.action == FleetAction::Reconcile {
            return self.reconcile_rest(report, &targets).await;
        }
        if !may_write {
            report.summary = Summary::of(&report.workspaces);
            return fail_if_any_failed(report);
        }

        let moves = report
            .workspaces
            .iter()
            .filter(|w| {
                w.actions
                    .iter()
                    .any(|a| matches!(a, Action::MoveUser { .. }))
            })
            .count();
        if moves > request.max_moves {
            report.summary = Summary::of(&report.workspaces);
            return Err(failure(
                InvocationError::TooManyMoves {
                    would_move: moves,
                    max_moves: request.max_moves,
                },
                Some(report),
            ));
        }
        let redo: Vec<Target> = targets
            .iter()
            .zip(&report.workspaces)
            .filter(|(_, w)| matches!(w.status, Status::Drift | Status::Failed))
            .map(|(t, _)| t.clone())
            .collect();
        let org_drifted = report
            .org
            .as_ref()
            .is_some_and(|o| o.status == Status::Drift);
        if !redo.is_empty() || org_drifted {
            let applied = self
                .pass(Mode::Apply, &redo, deadline, &NoProgress)
                .await
                .map_err(|e| failure(e, Some(report.clone())))?;
            let mut by_id: HashMap<String, WorkspaceReport> = applied
                .workspaces
                .into_iter()
                .filter_map(|w| Some((w.workspace_id.clone()?, w)))
                .collect();
            for w in report.workspaces.iter_mut() {
                if let Some(done) = w.workspace_id.as_ref().and_then(|id| by_id.remove(id)) {
                    *w = done;
                }
            }
            report.org = applied.org.or(report.org);
        }
        report.summary = Summary::of(&report.workspaces);
        fail_if_any_failed(report)
    }

    /// One pass of the flow over `targets` in `mode` (capped by the configuration).
    async fn pass(
        &self,
        mode: Mode,
        targets: &[Target],
        deadline: Instant,
        progress: &dyn FleetProgress,
    ) -> Result<crate::reconcile::RunOutcome, InvocationError> {
        let mode = if self.config.mode == Mode::Verify {
            Mode::Verify
        } else {
            mode
        };
        let session = self.code42.session(deadline);
        let on_done = |r: &WorkspaceReport| progress.done(r);
        let reconciler = Reconciler {
            config: &self.config,
            mode,
            on_done: Some(&on_done),
            workspaces: &self.workspaces,
            code42: &session,
            cache: &self.org_cache,
        };
        let outcome = if targets.is_empty() {
            // Nothing per WorkSpace, but the org setting is still checked.
            let (_, org) = reconciler.checked_org().await?;
            crate::reconcile::RunOutcome {
                org: Some(org),
                workspaces: Vec::new(),
                global_error: None,
            }
        } else {
            reconciler.run(targets).await?
        };
        if let Some(global) = outcome.global_error {
            return Err(global.into());
        }
        Ok(outcome)
    }

    /// After the read-only pass of a reconciliation: queue what is not
    /// compliant for the apply path (in an apply deployment with a queue).
    async fn reconcile_rest(
        &self,
        mut report: InvocationReport,
        targets: &[Target],
    ) -> Result<InvocationReport, InvocationFailure> {
        let pending: Vec<Target> = targets
            .iter()
            .zip(&report.workspaces)
            .filter(|(_, w)| matches!(w.status, Status::Drift | Status::Deferred | Status::Failed))
            .map(|(t, _)| t.clone())
            .collect();
        report.summary = Summary::of(&report.workspaces);
        if self.config.mode == Mode::Verify {
            report.note = Some(format!(
                "verify deployment: {} WorkSpace(s) not compliant, none queued",
                pending.len()
            ));
            return Ok(report);
        }
        if self.work_queue.is_none() {
            return Err(failure(InvocationError::NoWorkQueue, Some(report)));
        }
        let sent = self
            .enqueue(&pending, Origin::Reconcile)
            .await
            .map_err(|e| failure(e, Some(report.clone())))?;
        report.enqueued = Some(sent);
        Ok(report)
    }

    async fn enqueue(&self, targets: &[Target], reason: Origin) -> Result<usize, InvocationError> {
        let queue = self
            .work_queue
            .as_ref()
            .ok_or(InvocationError::NoWorkQueue)?;
        let messages: Vec<WorkMessage> = targets
            .iter()
            .map(|t| WorkMessage {
                workspace_id: t.workspace_id.to_string(),
                directory_id: t
                    .described
                    .as_ref()
                    .and_then(|d| d.directory_id.clone())
                    .or_else(|| t.directory_id.as_ref().map(ToString::to_string)),
                user_name: t.user_name.clone(),
                reason,
            })
            .collect();
        Ok(queue.enqueue(&messages).await?)
    }
}
