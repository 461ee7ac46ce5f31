//! One WorkSpace: gather what is observed (the WorkSpace, its directory, its
//! Code42 user), let `domain::plan` decide, then carry the plan out (apply)
//! or report it (verify).

use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::config::{Config, Mode};
use crate::domain::coverage::{AgentReport, assess_agent};
use crate::domain::ledger::{EntryState, LedgerEntry};
use crate::domain::location::Location;
use crate::domain::model::{Code42Agent, Code42User, FleetFilter, Target, WorkspaceInfo};
use crate::domain::orgs::ResolvedOrg;
use crate::domain::plan::{self, Identity, Plan};
use crate::domain::report::coverage_of;
use crate::domain::report::{Action, Ending, Status, WorkspaceReport};
use crate::error::{AwsError, Code42Error};
use crate::ports::{Code42, Workspaces};

use super::ledger::{Budgeted, RunLedger, Subject};
use super::snapshot::ConsumedSnapshot;

const MOVE_ATTEMPTS: u32 = 3;

/// Why one WorkSpace failed.
struct Failure {
    message: String,
    retryable: bool,
    /// Set when the cause is not about this WorkSpace (credentials, permissions).
    global: Option<Code42Error>,
}

impl From<Code42Error> for Failure {
    fn from(e: Code42Error) -> Self {
        Failure {
            message: e.to_string(),
            retryable: e.retryable(),
            global: e.global().then(|| e.clone()),
        }
    }
}

impl From<AwsError> for Failure {
    fn from(e: AwsError) -> Self {
        Failure {
            message: e.to_string(),
            retryable: e.retryable,
            global: None,
        }
    }
}

impl Failure {
    fn permanent(message: impl Into<String>) -> Self {
        Failure {
            message: message.into(),
            retryable: false,
            global: None,
        }
    }
}

pub struct WorkspaceCheck<'a, W, C> {
    pub config: &'a Config,
    /// Never `Apply` when the configuration says `Verify` (the caller enforces the ceiling).
    pub mode: Mode,
    pub workspaces: &'a W,
    pub code42: &'a C,
    /// Users and agents read in bulk (planning passes of large fleets).
    pub snapshot: Option<&'a ConsumedSnapshot>,
    /// Read each moved user back; false when the pass confirms its moves
    /// together afterwards (`Reconciler::confirm_moves`).
    pub read_back_moves: bool,
    /// Deferred WorkSpaces are queued for another look (handler paths with a
    /// work queue, in apply mode) until their attempts run out: one not found
    /// in DescribeWorkspaces is `deferred` until then, then `skipped`; a user
    /// not in Code42 yet is then left to the schedule, and its reason says so.
    pub requeue_deferred: bool,
    /// Where moves are recorded before they are made, and budgeted.
    pub ledger: Option<RunLedger<'a>>,
    /// No wait for a WorkSpace to appear runs past `deadline - start_margin`.
    pub deadline: Instant,
}

/// One WorkSpace checked: what was observed and done (`facts`: ids, users,
/// agent, actions — a move Code42 accepted is in it whatever followed), how
/// it ended, and the global error that failed it, if any. The report is made
/// from it in one place (`into_report`), after the pass confirmed its moves.
pub struct Checked {
    pub facts: WorkspaceReport,
    pub ending: Ending,
    /// Boxed: rare, and a fleet run holds one `Checked` per WorkSpace.
    pub global: Option<Box<Code42Error>>,
}

impl Checked {
    /// The WorkSpace's report; coverage is for Windows WorkSpaces: those
    /// whose agent was looked at, and failures.
    pub fn into_report(self, org_compliant: bool) -> WorkspaceReport {
        let mut report = self.facts;
        report.end(self.ending);
        if report.agent.is_some() || report.status == Status::Failed {
            report.coverage = Some(coverage_of(&report, org_compliant));
        }
        report
    }

    /// A move of this WorkSpace that Code42 accepted: (user id, username).
    pub fn accepted_move(&self) -> Option<(&str, &str)> {
        self.facts.actions.iter().find_map(|a| match a {
            Action::MoveUser {
                applied: true,
                user_id,
                username,
                ..
            } => Some((user_id.as_str(), username.as_str())),
            _ => None,
        })
    }
}

impl<W: Workspaces, C: Code42> WorkspaceCheck<'_, W, C> {
    /// Check one WorkSpace. Its log lines carry the WorkSpace id, whatever
    /// else runs concurrently.
    pub async fn run(&self, target: &Target, org: &ResolvedOrg) -> Checked {
        let span = tracing::info_span!("workspace", id = %target.workspace_id);
        self.run_in_span(target, org).instrument(span).await
    }

    async fn run_in_span(&self, target: &Target, org: &ResolvedOrg) -> Checked {
        // Filled in from DescribeWorkspaces: an event's user is never reported as fact.
        let mut facts = WorkspaceReport::new(Some(target.workspace_id.as_str()), Status::Failed);
        if let Some(at) = target.at() {
            facts.locate(at);
        }
        let (ending, global) = match self.check(target, org, &mut facts).await {
            Ok(ending) => (ending, None),
            Err(failure) => {
                tracing::error!(error = %failure.message, retryable = failure.retryable, "WorkSpace failed");
                (
                    Ending::failed(failure.message, failure.retryable),
                    failure.global.map(Box::new),
                )
            }
        };
        Checked {
            facts,
            ending,
            global,
        }
    }

    async fn check(
        &self,
        target: &Target,
        org: &ResolvedOrg,
        report: &mut WorkspaceReport,
    ) -> Result<Ending, Failure> {
        if target.workspace_id.is_pool() {
            return Ok(Ending::Skipped {
                reason: "a WorkSpaces Pool: its sessions have no assigned user, so there is nobody to place; not acted on".into(),
            });
        }
        // Observe the WorkSpace, decide who it belongs to: only what
        // DescribeWorkspaces says counts, never the event's or message's user.
        let (info, identity) = match self.identify(target).await? {
            Ok(found) => found,
            Err(ending) => return Ok(ending),
        };
        report.workspaces_user = Some(identity.user.clone());
        report.standby = info.standby;
        report.directory_id = identity.directory_id.as_ref().map(ToString::to_string);
        report.locate(&info.location);
        // Observe the Code42 user and their agents.
        let username = self.code42_username(&identity, &info.location).await?;
        report.code42_username = Some(username.clone());
        // From the snapshot when it has the user; a user it misses (created
        // mid-run) is still looked up directly.
        let (user, read_agents) = match self.snapshot.and_then(|s| s.take(&username)) {
            Some((user, agents)) => (Some(user), Some(agents)),
            None => (self.code42.find_user(&username).await?, None),
        };
        let agents = match (&user, read_agents) {
            (Some(_), Some(listed)) => Some(Ok(listed)),
            (Some(u), None) => Some(self.code42.list_agents(&u.user_id).await),
            (None, _) => None,
        };
        report.agent = Some(Box::new(self.agent(agents.as_ref(), &info)?));
        let other_devices = match (&user, &agents) {
            (Some(u), Some(listed)) if u.org_guid != org.guid => {
                self.other_devices(target, &identity, &info, listed).await?
            }
            _ => Vec::new(),
        };
        // Decide, then carry out.
        match plan::plan_user(&username, user.as_ref(), org, &other_devices) {
            Plan::Done {
                ending: Ending::Deferred { reason },
                ..
            } if self.requeue_deferred && target.attempt >= self.config.runs.deferred_attempts => {
                let reason = format!(
                    "{reason} (checked {} times; the scheduled reconciliation checks it next)",
                    target.attempt + 1
                );
                Ok(Ending::Deferred { reason })
            }
            Plan::Done {
                ending,
                outside_org,
            } => {
                report.outside_org = outside_org;
                Ok(ending)
            }
            Plan::Move { action, reason } => {
                report.outside_org = true;
                if self.mode == Mode::Verify {
                    report.actions.push(action);
                    return Ok(Ending::Drift {
                        reason: Some(reason),
                    });
                }
                let user = user.expect("a move is planned only for a known user");
                self.apply_move(&user, org, target, action, report).await
            }
        }
    }

    /// The move, within the hour's budget and recorded in the ledger first
    /// when there is one.
    async fn apply_move(
        &self,
        user: &Code42User,
        org: &ResolvedOrg,
        target: &Target,
        action: Action,
        report: &mut WorkspaceReport,
    ) -> Result<Ending, Failure> {
        let entry = match self.ledger {
            None => None,
            Some(ledger) => match self.write_ahead(ledger, user, org, target).await? {
                Budgeted::Recorded(entry) => Some((ledger, entry)),
                Budgeted::Spent(reason) => {
                    report.actions.push(action);
                    return Ok(Ending::Deferred { reason });
                }
            },
        };
        let moved = self.move_user(user, org, action, report).await;
        if let Some((ledger, entry)) = entry {
            settle_move(ledger, &entry, moved.is_ok(), report).await;
        }
        moved?;
        report.outside_org = false;
        Ok(Ending::Configured { reason: None })
    }

    /// The WorkSpace as DescribeWorkspaces shows it and whose it is; else how
    /// it ends (not found, not Windows, no user).
    async fn identify(
        &self,
        target: &Target,
    ) -> Result<Result<(WorkspaceInfo, Identity), Ending>, Failure> {
        let (info, lookups) = self.describe(target).await?;
        let Some(info) = info else {
            let will_look_again =
                self.requeue_deferred && target.attempt < self.config.runs.deferred_attempts;
            tracing::warn!(
                lookups,
                will_look_again,
                "WorkSpace not found in DescribeWorkspaces; nothing is done on the event's word"
            );
            return Ok(Err(plan::not_found(lookups, will_look_again)));
        };
        if let (Some(d), Some(e)) = (&info.user_name, &target.user_name)
            && d != e
        {
            tracing::warn!(described = %d, event = %e, "event and DescribeWorkspaces disagree on the user; using DescribeWorkspaces");
        }
        match plan::identify(&info) {
            Ok(identity) => Ok(Ok((info, identity))),
            Err(Ending::Failed { error, retryable }) => Err(Failure {
                message: error,
                retryable,
                global: None,
            }),
            Err(ending) => Ok(Err(ending)),
        }
    }

    /// The Code42 username a listed WorkSpace maps to, if it maps (what a
    /// bulk read keeps); the check itself says why one does not.
    pub async fn expected_username(&self, target: &Target) -> Option<String> {
        let info = target.described.as_ref()?;
        let identity = plan::identify(info).ok()?;
        self.code42_username(&identity, &info.location).await.ok()
    }

    /// The WorkSpaces user's Code42 username (the directory's DNS name read
    /// when the template needs it).
    async fn code42_username(&self, identity: &Identity, at: &Location) -> Result<String, Failure> {
        let mapping = &self.config.users.username;
        let directory_name = match (
            &identity.directory_id,
            mapping.needs_directory_name(&identity.user),
        ) {
            (Some(d), true) => self.workspaces.directory_name(at, d).await?,
            _ => None,
        };
        let directory_id = identity.directory_id.as_ref().map(|d| d.as_str());
        mapping
            .map(
                &identity.user,
                directory_id.unwrap_or(""),
                directory_name.as_deref(),
            )
            .map_err(|e| Failure::permanent(e.to_string()))
    }

    /// The agent on this WorkSpace. Never a reason to fail the WorkSpace (an
    /// agent appears minutes after its WorkSpace): a listing that failed
    /// leaves the agent `unknown`, unless the cause is global.
    fn agent(
        &self,
        agents: Option<&Result<Vec<Code42Agent>, Code42Error>>,
        info: &WorkspaceInfo,
    ) -> Result<AgentReport, Failure> {
        let plan = self.config.plan;
        let Some(agents) = agents else {
            return Ok(AgentReport::no_user(plan));
        };
        match agents {
            Ok(agents) => {
                let computer_name = info.computer_name.as_deref();
                let report = assess_agent(computer_name, agents, plan);
                // The WorkSpace's outcome line carries the agent's status: the details at debug.
                tracing::debug!(
                    agent = report.status.as_str(),
                    computer_name,
                    app_version = report.app_version.as_deref(),
                    product_version = report.product_version.as_deref(),
                    "Code42 agent checked"
                );
                Ok(report)
            }
            Err(e) if e.global() => Err(e.clone().into()),
            Err(e) => {
                tracing::warn!(error = %e, "could not list the user's Code42 agents");
                Ok(AgentReport::unknown(plan, e.to_string()))
            }
        }
    }

    /// The user's agents on none of their WorkSpaces: they would move too.
    async fn other_devices(
        &self,
        target: &Target,
        identity: &Identity,
        info: &WorkspaceInfo,
        agents: &Result<Vec<Code42Agent>, Code42Error>,
    ) -> Result<Vec<String>, Failure> {
        let agents = match agents {
            Ok(agents) if agents.is_empty() => return Ok(Vec::new()),
            Ok(agents) => agents,
            Err(e) if self.config.users.skip_with_other_devices => {
                return Err(Failure {
                    message: format!(
                        "cannot tell which of the user's devices would move with them ({e}); not moved"
                    ),
                    retryable: true,
                    global: None,
                });
            }
            Err(_) => return Ok(Vec::new()),
        };
        let mut hosts: Vec<String> = info.computer_name.clone().into_iter().collect();
        if let Some(listed) = &target.user_hosts {
            // A fleet run's listing already holds the user's WorkSpaces.
            hosts.extend(listed.iter().cloned());
        } else if let Some(directory) = &identity.directory_id {
            let filter = FleetFilter {
                directory_ids: vec![directory.clone()],
                workspace_ids: Vec::new(),
                user: Some(identity.user.clone()),
            };
            let theirs = self
                .workspaces
                .list_workspaces(&info.location, &filter)
                .await?;
            hosts.extend(theirs.into_iter().filter_map(|w| w.computer_name));
        }
        Ok(plan::other_devices(agents, &hosts))
    }

    /// DescribeWorkspaces with bounded retries (a new WorkSpace can take a
    /// moment to become visible), never waiting past the deadline's margin;
    /// the WorkSpace (None: not found) and the number of lookups made.
    async fn describe(&self, target: &Target) -> Result<(Option<WorkspaceInfo>, u32), Failure> {
        if let Some(known) = &target.described {
            return Ok((Some(WorkspaceInfo::clone(known)), 0));
        }
        let at = match &target.location {
            Some(at) => at.clone(),
            None => self.workspaces.home().await?,
        };
        let attempts = self.config.runs.describe_attempts;
        for attempt in 1..=attempts {
            match self
                .workspaces
                .describe_workspace(&at, &target.workspace_id)
                .await
            {
                Ok(Some(info)) => return Ok((Some(info), attempt)),
                Ok(None) => {}
                Err(e) if e.retryable && attempt < attempts => {
                    tracing::warn!(error = %e, "DescribeWorkspaces failed; retrying");
                }
                Err(e) => return Err(e.into()),
            }
            let wait = self.config.runs.describe_backoff * 2u32.pow(attempt - 1);
            if attempt == attempts
                || Instant::now() + wait + self.config.runs.start_margin >= self.deadline
            {
                return Ok((None, attempt));
            }
            tokio::time::sleep(wait).await;
        }
        Ok((None, attempts))
    }

    /// Move, re-reading the user after any failure before trying again,
    /// then confirm by reading the user back. Once Code42 accepted the move
    /// (or a re-read shows it made), it is in the report and the log,
    /// whatever the read-back says.
    async fn move_user(
        &self,
        user: &Code42User,
        org: &ResolvedOrg,
        mut action: Action,
        report: &mut WorkspaceReport,
    ) -> Result<(), Failure> {
        let mut record = |how: &str| {
            tracing::warn!(
                user_id = %user.user_id, username = %user.username,
                from_org_guid = %user.org_guid, from_org_name = %user.org_name,
                to_org_guid = %org.guid, how, "moved Code42 user (and all of their devices)"
            );
            if let Action::MoveUser { applied, .. } = &mut action {
                *applied = true;
            }
            report.actions.push(action.clone());
        };
        for attempt in 1..=MOVE_ATTEMPTS {
            match self.code42.move_user(&user.user_id, &org.guid).await {
                Ok(()) => {
                    record("accepted");
                    break;
                }
                // A refused move is this user's (their org may be out of the API
                // client's reach), not the tenant's: it fails this WorkSpace only.
                Err(e @ Code42Error::Forbidden { .. }) => {
                    return Err(Failure::permanent(format!(
                        "{e}; only this user's move was refused, other WorkSpaces go on"
                    )));
                }
                Err(e) if e.retryable() && attempt < MOVE_ATTEMPTS => {
                    tracing::warn!(error = %e, "move failed; re-reading the user before trying again");
                    if self.code42.get_user(&user.user_id).await?.org_guid == org.guid {
                        record("found made by a re-read after a failed answer");
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if !self.read_back_moves {
            return Ok(());
        }
        let now = self.code42.get_user(&user.user_id).await?;
        if now.org_guid != org.guid {
            return Err(Failure {
                message: move_not_made(&user.username, &now.org_guid),
                retryable: true,
                global: None,
            });
        }
        Ok(())
    }
}

impl<W: Workspaces, C: Code42> WorkspaceCheck<'_, W, C> {
    /// Before a move: one move from the hour's budget (atomic across every
    /// process), then the intent with the source org. Nothing is moved
    /// when either cannot be written.
    async fn write_ahead(
        &self,
        ledger: RunLedger<'_>,
        user: &Code42User,
        org: &ResolvedOrg,
        target: &Target,
    ) -> Result<Budgeted, Failure> {
        let unrecorded = |e: AwsError| Failure {
            message: format!("the ledger could not be written ({e}); not moved"),
            retryable: e.retryable,
            global: None,
        };
        let origin = target.ledger_origin();
        let subject = Subject {
            username: Some(&user.username),
            workspace_id: Some(target.workspace_id.as_str()),
            origin: &origin,
        };
        let budget = self.config.users.max_moves_per_hour;
        ledger
            .budgeted_move(budget, subject, &user.org_guid, &org.guid)
            .await
            .map_err(unrecorded)
    }
}

/// After a move: `done`, `unconfirmed` (Code42 accepted it, the read-back
/// did not show it) or `failed` (with the org the user is still in).
async fn settle_move(
    ledger: RunLedger<'_>,
    entry: &LedgerEntry,
    moved: bool,
    report: &WorkspaceReport,
) {
    let accepted = report
        .actions
        .iter()
        .any(|a| matches!(a, Action::MoveUser { applied: true, .. }));
    let (state, after) = match (moved, accepted) {
        (true, _) => (EntryState::Done, entry.after.as_deref()),
        (false, true) => (EntryState::Unconfirmed, entry.after.as_deref()),
        (false, false) => (EntryState::Failed, entry.before.as_deref()),
    };
    ledger.settle(entry, state, after).await;
}

/// A move Code42 accepted that a read-back found not made.
pub(crate) fn move_not_made(username: &str, org_guid: &str) -> String {
    format!("Code42 accepted the move of {username} but the user is still in org {org_guid}")
}
