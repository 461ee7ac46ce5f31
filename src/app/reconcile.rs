//! One pass of the flow over a set of WorkSpaces: the org check first, then
//! each WorkSpace, a bounded number at a time, reports in input order.

use std::borrow::Borrow;
use std::collections::HashMap;

use futures::StreamExt;
use tokio::time::Instant;

use crate::config::{Config, Mode};
use crate::domain::model::{Code42User, Target};
use crate::domain::orgs::ResolvedOrg;
use crate::domain::report::{Ending, OrgReport, Status, WorkspaceReport};
use crate::error::{Code42Error, InvocationError};
use crate::ports::{Clock, Code42, Workspaces};

use super::cache::OrgCache;
use super::ledger::RunLedger;
use super::org::OrgCheck;
use super::snapshot::{Code42Snapshot, ConsumedSnapshot, read_users};
use super::workspace::{Checked, WorkspaceCheck, move_not_made};

pub struct Reconciler<'a, W, C> {
    pub config: &'a Config,
    /// Never `Apply` when the configuration says `Verify` (the caller enforces the ceiling).
    pub mode: Mode,
    pub workspaces: &'a W,
    pub code42: &'a C,
    pub cache: &'a OrgCache,
    pub clock: &'a dyn Clock,
    pub pass: Pass,
    /// Called as each WorkSpace is done (progress bars).
    pub on_done: Option<&'a (dyn Fn() + Sync)>,
    /// A WorkSpace is not begun after `deadline - config.runs.start_margin`.
    pub deadline: Instant,
    /// Where moves are recorded before they are made, and budgeted.
    pub ledger: Option<RunLedger<'a>>,
    /// Queue a WorkSpace not found in DescribeWorkspaces for another look
    /// (decided once by the caller: an event pass with a work queue, in apply mode).
    pub requeue_deferred: bool,
}

/// The kinds of pass, each with its own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Creation, sign-in and queue inputs, in the deployment's mode: a recent
    /// compliant org check may stand in for reading the settings (apply only,
    /// never for an audit); nothing is checked without targets.
    Event,
    /// A fleet run's read-only plan: the org is always checked; users and
    /// agents are read in bulk from `config.runs.bulk_threshold` targets on.
    Plan,
    /// A fleet run's apply pass over what its plan found drifted: the org is
    /// repaired even with no WorkSpace to apply; from `config.runs.bulk_threshold`
    /// targets on, moves are confirmed with one bulk re-read of the users
    /// after the pass instead of one read per move.
    Apply,
}

impl Pass {
    /// The mode asked for (the deployment's mode still caps it).
    pub fn mode(self, configured: Mode) -> Mode {
        match self {
            Pass::Event => configured,
            Pass::Plan => Mode::Verify,
            Pass::Apply => Mode::Apply,
        }
    }

    /// Whether the org is checked when there is no WorkSpace to check.
    pub fn checks_org_without_targets(self) -> bool {
        self != Pass::Event
    }
}

/// The org record and one report per target, plus the first global error.
pub struct RunOutcome {
    pub org: Option<OrgReport>,
    pub workspaces: Vec<WorkspaceReport>,
    pub global_error: Option<Code42Error>,
}

/// A WorkSpace left for a retry because time ran out.
fn not_begun(target: &Target) -> Checked {
    let mut facts = WorkspaceReport::new(Some(target.workspace_id.as_str()), Status::Failed);
    facts.directory_id = target.directory_id.as_ref().map(ToString::to_string);
    facts.workspaces_user = target.user_name.clone();
    Checked {
        facts,
        ending: Ending::failed(
            "not begun: the invocation was near its time limit (CODE42_START_MARGIN_SECONDS); a retry checks it",
            true,
        ),
        global: None,
    }
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
    /// No targets, no Code42 calls. Owned targets are dropped as each is
    /// checked (a 100,000-WorkSpace verify does not hold its listing beside
    /// its results); borrowed ones (`&Target`) stay the caller's.
    pub async fn run<T: Borrow<Target> + Send + Sync>(
        &self,
        targets: Vec<T>,
    ) -> Result<RunOutcome, InvocationError> {
        if targets.is_empty() {
            return Ok(RunOutcome {
                org: None,
                workspaces: Vec::new(),
                global_error: None,
            });
        }
        if let Some(ledger) = self.ledger.filter(|_| self.mode == Mode::Apply) {
            ledger.resolve_dangling(self.code42).await;
        }
        let (org, org_report) = self.checked_org().await?;
        let confirm_later = self.pass == Pass::Apply
            && self.mode == Mode::Apply
            && targets.len() >= self.config.runs.bulk_threshold;
        let org_compliant = org_report.compliant();
        let check = WorkspaceCheck {
            config: self.config,
            mode: self.mode,
            workspaces: self.workspaces,
            code42: self.code42,
            snapshot: None,
            read_back_moves: !confirm_later,
            requeue_deferred: self.requeue_deferred,
            ledger: self.ledger,
            deadline: self.deadline,
        };
        let snapshot = if self.pass == Pass::Plan
            && self.mode == Mode::Verify
            && targets.len() >= self.config.runs.bulk_threshold
        {
            self.snapshot_for(&check, &targets).await?
        } else {
            None
        };
        let check = WorkspaceCheck {
            snapshot: snapshot.as_ref(),
            ..check
        };
        let mut results = self.check_each(&check, targets, &org).await;
        tracing::info!(pass = ?self.pass, workspaces = results.len(), "checked");
        // The bulk read has served its purpose: freed before the reports are made.
        drop(snapshot);
        if confirm_later {
            self.confirm_moves(&mut results, &org).await;
        }
        let global_error = results.iter().find_map(|c| c.global.as_deref().cloned());
        Ok(RunOutcome {
            org: Some(org_report),
            workspaces: results
                .into_iter()
                .map(|c| c.into_report(org_compliant))
                .collect(),
            global_error,
        })
    }

    /// Every target checked, `concurrency` at once, results in order.
    async fn check_each<T: Borrow<Target> + Send + Sync>(
        &self,
        check: &WorkspaceCheck<'_, W, C>,
        targets: Vec<T>,
        org: &ResolvedOrg,
    ) -> Vec<Checked> {
        // Sized once: a 100,000-WorkSpace run does not grow it by doubling.
        let mut results: Vec<Checked> = Vec::with_capacity(targets.len());
        futures::stream::iter(targets)
            .map(|t| async move {
                let t = t.borrow();
                let done = if Instant::now() + self.config.runs.start_margin >= self.deadline {
                    not_begun(t)
                } else {
                    check.run(t, org).await
                };
                if let Some(on_done) = self.on_done {
                    on_done();
                }
                done
            })
            .buffered(self.config.code42.concurrency)
            .for_each(|checked| {
                results.push(checked);
                std::future::ready(())
            })
            .await;
        results
    }

    /// The Code42 users the targets map to and their agents, read in bulk;
    /// None (users then looked up one by one) when the reads fail.
    async fn snapshot_for(
        &self,
        check: &WorkspaceCheck<'_, W, C>,
        targets: &[impl Borrow<Target>],
    ) -> Result<Option<ConsumedSnapshot>, InvocationError> {
        // Each username the targets map to, and how many map to it.
        let mut wanted: HashMap<String, usize> = HashMap::new();
        for target in targets {
            if let Some(username) = check.expected_username(target.borrow()).await {
                *wanted.entry(username.to_lowercase()).or_default() += 1;
            }
        }
        let code42 = &self.config.code42;
        let keep = |user: &Code42User| wanted.contains_key(&user.username.to_lowercase());
        match Code42Snapshot::read_kept(
            self.code42,
            code42.users_page_size,
            code42.agents_page_size,
            keep,
        )
        .await
        {
            Ok(snapshot) => Ok(Some(ConsumedSnapshot::new(snapshot, wanted))),
            Err(e) if e.global() => Err(e.into()),
            Err(e) => {
                tracing::warn!(error = %e, "bulk reads failed; looking users up one by one");
                Ok(None)
            }
        }
    }

    /// Confirm every move of the pass: one bulk re-read of the users when the
    /// moves are at least `bulk_threshold` (that many reads cost more than
    /// the pages of a tenant of up to `bulk_threshold × page size` users),
    /// else one read each. A user not in the org after all is a retryable
    /// failure of that WorkSpace, as with an immediate read-back; the move
    /// Code42 accepted stays in its record.
    async fn confirm_moves(&self, results: &mut [Checked], org: &ResolvedOrg) {
        let moved: Vec<(usize, String, String)> = results
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let (user_id, username) = c.accepted_move()?;
                Some((i, user_id.to_string(), username.to_string()))
            })
            .collect();
        if moved.is_empty() {
            return;
        }
        let in_bulk = if moved.len() >= self.config.runs.bulk_threshold {
            match read_users(self.code42, self.config.code42.users_page_size).await {
                Ok(users) => Some(
                    users
                        .into_iter()
                        .map(|u| (u.user_id, u.org_guid))
                        .collect::<HashMap<_, _>>(),
                ),
                Err(e) => {
                    tracing::warn!(error = %e, "bulk re-read of moved users failed; reading them one by one");
                    None
                }
            }
        } else {
            None
        };
        tracing::info!(
            moves = moved.len(),
            bulk = in_bulk.is_some(),
            "confirming the pass's moves"
        );
        // Each move's org now: from the bulk re-read, else read (as many at
        // once as the pass ran WorkSpaces).
        let nows: Vec<(usize, String, Result<String, Code42Error>)> = futures::stream::iter(moved)
            .map(|(i, user_id, username)| {
                let known = in_bulk
                    .as_ref()
                    .and_then(|orgs| orgs.get(&user_id))
                    .cloned();
                async move {
                    let now = match known {
                        Some(guid) => Ok(guid),
                        None => self.code42.get_user(&user_id).await.map(|u| u.org_guid),
                    };
                    (i, username, now)
                }
            })
            .buffered(self.config.code42.concurrency)
            .collect()
            .await;
        for (i, username, now) in nows {
            let checked = &mut results[i];
            let problem = match now {
                Ok(guid) if guid == org.guid => continue,
                Ok(guid) => move_not_made(&username, &guid),
                Err(e) => {
                    if e.global() {
                        checked.global = Some(Box::new(e.clone()));
                    }
                    format!("the move of {username} could not be confirmed: {e}")
                }
            };
            checked.ending = Ending::failed(problem, true);
        }
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
            ledger: self.ledger,
        }
        .run(self.pass == Pass::Event && self.mode == Mode::Apply)
        .await
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
