//! Whole-fleet runs: backfill, verify, and the scheduled reconciliation.
//!
//! Every run plans first with a read-only pass. Moving a user moves all of
//! their devices, so the cap on moves is checked against that plan before
//! anything is moved or queued, and only the plan's rows are acted on: a
//! WorkSpace whose planning failed is never applied in the same run, and a
//! queue receives at most the cap of WorkSpaces that can lead to a move.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use std::time::Duration;

use futures::{StreamExt, stream};
use tokio::time::Instant;

use crate::config::Mode;
use crate::domain::ids::WorkspaceId;
use crate::domain::ledger::budget_hour;
use crate::domain::location::Location;
use crate::domain::model::{
    FleetAction, FleetFilter, FleetRequest, Origin, Target, WorkMessage, WorkspaceInfo,
};
use crate::domain::report::{
    Action, InvocationReport, OrgReport, Status, Summary, Unreachable, WorkspaceReport, coverage_of,
};
use crate::error::InvocationError;
use crate::ports::{Code42Service, WorkQueue, Workspaces};

use super::context::App;
use super::ledger::unix_secs;
use super::outcome::{InvocationFailure, fail_if_a_policy_failed, fail_if_any_failed};
use super::reconcile::{Pass, RunOutcome};

/// Account × region listings read at once. WorkSpaces throttles each
/// account and region on its own, so locations may be read side by side; each
/// reads its directories at most 4 at a time (adapters::aws).
const LOCATIONS_AT_ONCE: usize = 16;

/// Where a user's WorkSpaces are: location, directory, user (lower case),
/// borrowed from the listing.
type UserKey<'a> = (&'a Location, Option<&'a str>, Option<Cow<'a, str>>);

fn user_key(info: &WorkspaceInfo) -> UserKey<'_> {
    let user = info.user_name.as_deref().map(|u| {
        if u.chars().any(char::is_uppercase) {
            Cow::Owned(u.to_lowercase())
        } else {
            Cow::Borrowed(u)
        }
    });
    (&info.location, info.directory_id.as_deref(), user)
}

/// For each listed WorkSpace, the computer names of its user's WorkSpaces
/// in a complete listing: what a move would otherwise look up with one
/// DescribeWorkspaces per user. A user with one WorkSpace shares one empty
/// list (the check adds the WorkSpace's own name): most users of a
/// 100,000-WorkSpace fleet then cost nothing here.
fn hosts_by_user(listed: &[WorkspaceInfo]) -> Vec<Arc<Vec<String>>> {
    // Each user's WorkSpaces (with a computer name), by position in the listing.
    let mut by_user: HashMap<UserKey<'_>, Vec<usize>> = HashMap::new();
    for (i, info) in listed.iter().enumerate() {
        if info.computer_name.is_some() {
            by_user.entry(user_key(info)).or_default().push(i);
        }
    }
    // Shared on purpose: one empty list for every user with one WorkSpace.
    let only_their_own = Arc::new(Vec::new());
    let mut hosts = vec![only_their_own; listed.len()];
    for theirs in by_user.values().filter(|theirs| theirs.len() > 1) {
        let names: Arc<Vec<String>> = Arc::new(
            theirs
                .iter()
                .filter_map(|&i| listed[i].computer_name.clone())
                .collect(),
        );
        for &i in theirs {
            hosts[i] = names.clone();
        }
    }
    hosts
}

/// Progress callbacks for long runs (the CLI's progress bar): each pass
/// (planning, then applying) announces its size, then each WorkSpace done.
pub trait FleetProgress: Sync {
    fn stage(&self, _name: &'static str, _total: usize) {}
    fn done(&self) {}
    /// A location listed: its WorkSpaces, or None when it could not be.
    fn listed(&self, _at: &Location, _workspaces: Option<usize>) {}
}

pub struct NoProgress;
impl FleetProgress for NoProgress {}

/// Coverage depends on the org's final state: after an apply pass repaired
/// it, the rows planned against the drifted org are judged again.
fn refresh_coverage(report: &mut InvocationReport) {
    let org_compliant = report.org.as_ref().is_none_or(OrgReport::compliant);
    for w in report
        .workspaces
        .iter_mut()
        .filter(|w| w.coverage.is_some())
    {
        w.coverage = Some(coverage_of(w, org_compliant));
    }
}

/// Not compliant, and a check by the apply path could move its user.
fn may_move(w: &WorkspaceReport) -> bool {
    matches!(w.status, Status::Drift | Status::Deferred | Status::Failed)
}

fn is_move(w: &WorkspaceReport) -> bool {
    w.actions
        .iter()
        .any(|a| matches!(a, Action::MoveUser { .. }))
}

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    pub async fn fleet(
        &self,
        request: &FleetRequest,
        deadline: Instant,
        progress: &dyn FleetProgress,
    ) -> Result<InvocationReport, InvocationFailure> {
        let mut report = self.report(request.run_name());
        let (mut targets, unreachable) = self
            .list_targets(request, progress)
            .await
            .map_err(|e| InvocationFailure::new(e, None))?;
        report.unreachable = unreachable;
        progress.stage("planning", targets.len());

        // The deployment's mode is a ceiling: nothing in a request lifts verify.
        let may_write = self.config.mode == Mode::Apply
            && !request.dry_run
            && request.action == FleetAction::Backfill;
        let enqueue = request.enqueue.unwrap_or(self.work_queue.is_some());
        if may_write && enqueue && self.work_queue.is_none() {
            return Err(InvocationFailure::new(InvocationError::NoWorkQueue, None));
        }

        // Plan: a read-only pass that always reads the org setting afresh.
        let keep = may_write || request.action == FleetAction::Reconcile;
        let plan = self
            .plan(&mut targets, keep, deadline, &report.run_id, progress)
            .await
            .map_err(|e| InvocationFailure::new(e, None))?;
        report.org = plan.org;
        report.workspaces = plan.workspaces;
        report.summary = Summary::of(&report.workspaces);
        let with_other_devices = report
            .workspaces
            .iter()
            .flat_map(|w| &w.actions)
            .filter(|a| matches!(a, Action::MoveUser { other_devices, .. } if !other_devices.is_empty()))
            .count();
        if with_other_devices > 0 {
            report.moves_with_other_devices = Some(with_other_devices);
        }
        if request.action == FleetAction::Reconcile {
            return self.reconcile_rest(report, &targets, deadline).await;
        }
        if !may_write {
            if self.config.plan.is_none() {
                report.note = Some(format!(
                    "CODE42_PLAN is not set, so agent versions were not checked: set it to your Incydr plan ({})",
                    crate::domain::coverage::Code42Plan::NAMES.join(", ")
                ));
            }
            return fail_if_any_failed(report);
        }
        let moves = report.workspaces.iter().filter(|w| is_move(w)).count();
        let max_moves = request.max_moves.unwrap_or(self.config.users.max_moves);
        if moves > max_moves {
            return Err(InvocationFailure::new(
                InvocationError::TooManyMoves {
                    would_move: moves,
                    max_moves,
                },
                Some(report),
            ));
        }
        if enqueue {
            return self.enqueue_backfill(report, &targets, max_moves).await;
        }
        self.apply_drifted(&mut report, &targets, deadline, progress)
            .await?;
        report.summary = Summary::of(&report.workspaces);
        fail_if_any_failed(report)
    }

    /// The read-only plan pass. Only what writes or queues afterwards
    /// (`keep`) needs the targets again: a verify hands them over, to be
    /// freed as each is checked.
    async fn plan(
        &self,
        targets: &mut Vec<Target>,
        keep: bool,
        deadline: Instant,
        run_id: &str,
        progress: &dyn FleetProgress,
    ) -> Result<RunOutcome, InvocationError> {
        let on_done = || progress.done();
        let outcome = if keep {
            let borrowed: Vec<&Target> = targets.iter().collect();
            self.pass(Pass::Plan, borrowed, deadline, run_id, Some(&on_done))
                .await
        } else {
            let owned = std::mem::take(targets);
            self.pass(Pass::Plan, owned, deadline, run_id, Some(&on_done))
                .await
        };
        outcome.and_then(RunOutcome::into_result)
    }

    /// Apply only what the plan found drifted (failed rows wait for the next
    /// run), and repair the org; the report then shows what was applied.
    async fn apply_drifted(
        &self,
        report: &mut InvocationReport,
        targets: &[Target],
        deadline: Instant,
        progress: &dyn FleetProgress,
    ) -> Result<(), InvocationFailure> {
        let drifted: Vec<Target> = targets
            .iter()
            .zip(&report.workspaces)
            .filter(|(_, w)| w.status == Status::Drift)
            .map(|(t, _)| t.clone())
            .collect();
        let org_to_repair = report.org.as_ref().is_some_and(|o| !o.compliant());
        if drifted.is_empty() && !org_to_repair {
            return Ok(());
        }
        progress.stage("applying", drifted.len());
        let on_done = || progress.done();
        // An org check that fails applies nothing: the plan is the record.
        let applied = self
            .pass(
                Pass::Apply,
                drifted,
                deadline,
                &report.run_id,
                Some(&on_done),
            )
            .await
            .map_err(|e| InvocationFailure::new(e, Some(report.clone())))?;
        // A pass that fails midway returns what it applied, not the plan.
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
        report.org = applied.org.or(report.org.take());
        refresh_coverage(report);
        match applied.global_error {
            Some(global) => {
                report.summary = Summary::of(&report.workspaces);
                Err(InvocationFailure::new(global, Some(report.clone())))
            }
            None => Ok(()),
        }
    }

    /// Every served WorkSpace the filter admits, listed in every served
    /// account and region at once (within a bound), and the locations that
    /// could not be listed. With one location, its failure is the run's.
    pub(crate) async fn list_fleet(
        &self,
        filter: &FleetFilter,
        progress: &dyn FleetProgress,
    ) -> Result<(Vec<WorkspaceInfo>, Vec<Unreachable>), InvocationError> {
        let home = self.workspaces.home().await?;
        let locations = self.scope().await?.locations(&home);
        progress.stage("listing", locations.len());
        let listings: Vec<_> = stream::iter(&locations)
            .map(|at| async move {
                let listing = self.workspaces.list_workspaces(at, filter).await;
                let count = listing.as_ref().ok().map(Vec::len);
                if let Some(n) = count {
                    tracing::info!(account = %at.account, region = %at.region, workspaces = n, "listed");
                }
                progress.listed(at, count);
                (at, listing)
            })
            .buffered(LOCATIONS_AT_ONCE)
            .collect()
            .await;
        let single = listings.len() == 1;
        let mut found = Vec::new();
        let mut unreachable = Vec::new();
        for (at, listing) in listings {
            match listing {
                Ok(listed) => found.extend(listed),
                Err(e) if single => return Err(e.into()),
                Err(e) => {
                    // With `organization` an account without the member role
                    // (the management account, which service-managed StackSets
                    // skip) is a warning; a listed account without it is an error.
                    let warning = self.config.aws.organization && e.is_role_not_assumable();
                    if warning {
                        tracing::warn!(account = %at.account, region = %at.region, error = %e, "an organization account without the member role; its WorkSpaces are not served");
                    } else {
                        tracing::error!(account = %at.account, region = %at.region, error = %e, "cannot list this location's WorkSpaces");
                    }
                    unreachable.push(Unreachable {
                        account: at.account.clone(),
                        region: at.region.clone(),
                        error: e.to_string(),
                        warning,
                    });
                }
            }
        }
        Ok((found, unreachable))
    }

    async fn list_targets(
        &self,
        request: &FleetRequest,
        progress: &dyn FleetProgress,
    ) -> Result<(Vec<Target>, Vec<Unreachable>), InvocationError> {
        let (listed, unreachable) = self.list_fleet(&request.filter, progress).await?;
        let complete = request.filter.workspace_ids.is_empty() && request.filter.user.is_none();
        let mut hosts = complete.then(|| hosts_by_user(&listed).into_iter());
        let origin = match request.action {
            FleetAction::Reconcile => Origin::Reconcile,
            _ => Origin::Backfill,
        };
        // One source for every target: the CLI's caller.
        let source: Option<Arc<str>> = self.caller.get().map(|arn| format!("cli {arn}").into());
        // Sized to the listing (a 100,000-WorkSpace run does not grow it by doubling).
        let mut targets = Vec::with_capacity(listed.len());
        targets.extend(listed.into_iter().filter_map(|info| {
                // One entry per listed WorkSpace, taken in step.
                let user_hosts = hosts.as_mut().and_then(Iterator::next);
                let id = WorkspaceId::parse(&info.workspace_id)
                    .inspect_err(|e| tracing::error!(error = %e, "DescribeWorkspaces returned an invalid id; ignored"))
                    .ok()?;
                Some(Target {
                    // Where it is comes with it (`described`).
                    location: None,
                    workspace_id: id,
                    directory_id: None,
                    user_name: info.user_name.clone(),
                    origin,
                    described: Some(Box::new(info)),
                    user_hosts,
                    attempt: 0,
                    source: source.clone(),
                })
            }));
        targets.shrink_to_fit();
        Ok((targets, unreachable))
    }

    /// A queued backfill: the function applies each queued WorkSpace (and
    /// repairs the org with the first). Nothing is written here.
    async fn enqueue_backfill(
        &self,
        mut report: InvocationReport,
        targets: &[Target],
        max_moves: usize,
    ) -> Result<InvocationReport, InvocationFailure> {
        let (sent, held) = self
            .queue_within_cap(&report, targets, max_moves, Origin::Backfill)
            .await
            .map_err(|e| InvocationFailure::new(e, Some(report.clone())))?;
        report.enqueued = Some(sent);
        let mut note = format!(
            "{sent} WorkSpace(s) queued (planned moves, then users not yet in Code42 and failed checks, at most max_moves={max_moves}); the function applies each from the work queue"
        );
        if held > 0 {
            note.push_str(&format!("; {held} not queued (above max_moves)"));
        }
        if sent == 0
            && report
                .org
                .as_ref()
                .is_some_and(|o| o.status == Status::Drift)
        {
            note.push_str("; the org setting drifted: run backfill without --enqueue to repair it");
        }
        report.note = Some(note);
        Ok(report)
    }

    /// After the read-only pass of the scheduled reconciliation: repair org
    /// drift (apply deployments), and queue what is not compliant for the
    /// apply path, at most `CODE42_MAX_MOVES` of them.
    async fn reconcile_rest(
        &self,
        mut report: InvocationReport,
        targets: &[Target],
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        if self.config.mode == Mode::Verify {
            let pending = report.workspaces.iter().filter(|w| may_move(w)).count();
            report.note = Some(format!(
                "verify deployment: {pending} WorkSpace(s) not compliant, none queued"
            ));
            return fail_if_a_policy_failed(report);
        }
        if self.work_queue.is_none() {
            return Err(InvocationFailure::new(
                InvocationError::NoWorkQueue,
                Some(report),
            ));
        }
        if report.org.as_ref().is_some_and(|o| !o.compliant()) {
            let org = self
                .pass(
                    Pass::Apply,
                    Vec::<Target>::new(),
                    deadline,
                    &report.run_id,
                    None,
                )
                .await
                .map_err(|e| InvocationFailure::new(e, Some(report.clone())))?;
            report.org = org.org.or(report.org);
            refresh_coverage(&mut report);
            report.summary = Summary::of(&report.workspaces);
        }
        // Never report drift this run could repair and succeed: the failure
        // alarm must fire (for the policies whose drift fails a run).
        let unrepaired = report.org.as_ref().filter(|o| {
            o.policies
                .iter()
                .any(|p| p.status == Status::Drift && p.policy.drift_fails_the_run())
        });
        if let Some(org) = unrepaired {
            let finding = org.finding.clone();
            return Err(InvocationFailure::new(
                InvocationError::OrgNotRepaired { finding },
                Some(report),
            ));
        }
        let cap = self.config.users.max_moves;
        let (sent, held) = self
            .queue_within_cap(&report, targets, cap, Origin::Reconcile)
            .await
            .map_err(|e| InvocationFailure::new(e, Some(report.clone())))?;
        report.enqueued = Some(sent);
        if held > 0 {
            report.note = Some(format!(
                "{held} WorkSpace(s) not queued: more than max_moves={cap} could lead to a move; review with `verify` and run `backfill`"
            ));
        }
        fail_if_a_policy_failed(report)
    }

    /// Queue the plan's rows that can lead to a move (each message moves at
    /// most its own user): planned moves first, then users not yet in Code42,
    /// then failed checks; at most `cap`. Returns (sent, held back).
    async fn queue_within_cap(
        &self,
        report: &InvocationReport,
        targets: &[Target],
        cap: usize,
        reason: Origin,
    ) -> Result<(usize, usize), InvocationError> {
        let mut pending: Vec<(&Target, &WorkspaceReport)> = targets
            .iter()
            .zip(&report.workspaces)
            .filter(|(_, w)| may_move(w))
            .collect();
        pending.sort_by_key(|(_, w)| match w.status {
            Status::Drift => 0,
            Status::Deferred => 1,
            _ => 2,
        });
        let queued: Vec<Target> = pending
            .iter()
            .take(cap)
            .map(|(t, _)| (*t).clone())
            .collect();
        let sent = self.enqueue(&queued, reason).await?;
        Ok((sent, pending.len() - queued.len()))
    }

    async fn enqueue(&self, targets: &[Target], reason: Origin) -> Result<usize, InvocationError> {
        let queue = self
            .work_queue
            .as_ref()
            .ok_or(InvocationError::NoWorkQueue)?;
        // With the ledger, each WorkSpace is queued once an hour: a retried
        // or duplicated run (Lambda's async retry) does not queue it again.
        let window = budget_hour(unix_secs());
        let mut claimed = Vec::new();
        for t in targets {
            let fresh = match &self.ledger {
                Some(ledger) => ledger.claim_queued(window, t.workspace_id.as_str()).await?,
                None => true,
            };
            if fresh {
                claimed.push(t);
            } else {
                tracing::info!(workspace_id = %t.workspace_id, "already queued this hour by another run; not queued again");
            }
        }
        let messages: Vec<WorkMessage> = claimed
            .iter()
            .map(|t| WorkMessage::for_target(t, reason))
            .collect();
        match queue.enqueue(&messages, Duration::ZERO).await {
            Ok(sent) => Ok(sent),
            Err(e) => {
                // Not sent: give the claims back so a retry queues them.
                if let Some(ledger) = &self.ledger {
                    for t in &claimed {
                        let _ = ledger.unclaim_queued(window, t.workspace_id.as_str()).await;
                    }
                }
                Err(e.into())
            }
        }
    }
}
