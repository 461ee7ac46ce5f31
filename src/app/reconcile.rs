//! One pass of the flow over a set of WorkSpaces: the org check first, then
//! each WorkSpace, a bounded number at a time, reports in input order.

use std::collections::HashMap;

use futures::StreamExt;
use tokio::time::Instant;

use crate::config::{Config, Mode};
use crate::domain::model::Target;
use crate::domain::orgs::ResolvedOrg;
use crate::domain::report::{Action, OrgReport, Status, WorkspaceReport};
use crate::error::{Code42Error, InvocationError};
use crate::ports::{Clock, Code42, Workspaces};

use super::cache::OrgCache;
use super::org::OrgCheck;
use super::snapshot::{Code42Snapshot, read_users};
use super::workspace::{WorkspaceCheck, move_not_made};

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
    /// Apply passes of at least `config.bulk_threshold` targets confirm their
    /// moves with one bulk re-read of the users after the pass, instead of
    /// one read per move.
    pub confirm_moves_in_bulk: bool,
    /// Queue a WorkSpace not found in DescribeWorkspaces for another look
    /// (decided once by the caller: a work queue, in apply mode).
    pub requeue_unseen: bool,
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
        let confirm_later = self.confirm_moves_in_bulk
            && self.mode == Mode::Apply
            && targets.len() >= self.config.bulk_threshold;
        let check = WorkspaceCheck {
            config: self.config,
            mode: self.mode,
            workspaces: self.workspaces,
            code42: self.code42,
            org_compliant: org_report.status != Status::Drift,
            snapshot: snapshot.as_ref(),
            read_back_moves: !confirm_later,
            requeue_unseen: self.requeue_unseen,
            deadline: self.deadline,
        };
        let mut results: Vec<(WorkspaceReport, Option<Code42Error>)> =
            futures::stream::iter(targets)
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
        if confirm_later {
            self.confirm_moves(&mut results, &org).await;
        }
        let global_error = results.iter().find_map(|(_, g)| g.clone());
        Ok(RunOutcome {
            org: Some(org_report),
            workspaces: results.into_iter().map(|(r, _)| r).collect(),
            global_error,
        })
    }

    /// Confirm every move of the pass: one bulk re-read of the users when the
    /// moves are at least `bulk_threshold` (that many reads cost more than
    /// the pages of a tenant of up to `bulk_threshold × page size` users),
    /// else one read each. A user not in the org after all is a retryable
    /// failure of that WorkSpace, as with an immediate read-back.
    async fn confirm_moves(
        &self,
        results: &mut [(WorkspaceReport, Option<Code42Error>)],
        org: &ResolvedOrg,
    ) {
        let moved: Vec<(usize, String, String)> = results
            .iter()
            .enumerate()
            .flat_map(|(i, (r, _))| {
                r.actions.iter().filter_map(move |a| match a {
                    Action::MoveUser {
                        applied: true,
                        user_id,
                        username,
                        ..
                    } => Some((i, user_id.clone(), username.clone())),
                    _ => None,
                })
            })
            .collect();
        if moved.is_empty() {
            return;
        }
        let in_bulk = if moved.len() >= self.config.bulk_threshold {
            match read_users(self.code42, self.config.users_page_size).await {
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
            .buffered(self.config.concurrency)
            .collect()
            .await;
        for (i, username, now) in nows {
            let (report, global) = &mut results[i];
            let problem = match now {
                Ok(guid) if guid == org.guid => continue,
                Ok(guid) => move_not_made(&username, &guid),
                Err(e) => {
                    if e.global() {
                        *global = Some(e.clone());
                    }
                    format!("the move of {username} could not be confirmed: {e}")
                }
            };
            report.status = Status::Failed;
            report.error = Some(problem);
            report.retryable = Some(true);
            for action in &mut report.actions {
                if let Action::MoveUser { applied, .. } = action {
                    *applied = false;
                }
            }
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
        }
        .run(self.reuse_recent_org_check && self.mode == Mode::Apply)
        .await
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
