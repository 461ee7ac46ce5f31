//! Clean-up when WorkSpaces are terminated: deactivate the Code42 agents
//! that ran on each and never anything else. Off unless
//! `CODE42_DEACTIVATE_ON_TERMINATE=true`. The event only names WorkSpaces;
//! DescribeWorkspaces must show each `TERMINATING` or `TERMINATED` (a forged
//! or mistaken event naming a living WorkSpace deactivates nothing), and only
//! the user's agents whose reported host name (`osHostname`) is its computer
//! name are touched. On plans with backup the device's archive is the
//! terminated WorkSpace's only copy of `D:\Users\`: refused there unless
//! `CODE42_DEACTIVATE_WITH_BACKUP=true`. A device under legal hold is skipped.

use crate::domain::location::Location;
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::Mode;
use crate::domain::coverage::agents_reporting_host;
use crate::domain::ids::WorkspaceId;
use crate::domain::ledger::{DEACTIVATE_AGENT, EntryState};
use crate::domain::model::{Code42Agent, WorkspaceInfo};
use crate::domain::report::{Action, Ending, InvocationReport, Status, Summary, WorkspaceReport};
use crate::error::Code42Error;
use crate::input::{TERMINATE_WORKSPACES, TerminateWorkspacesCall};
use crate::ports::{Code42Agents, Code42Service, Code42Users, WorkQueue, Workspaces};

use super::context::App;
use super::ledger::{RunLedger, Subject};
use super::outcome::{InvocationFailure, fail_if_any_failed};

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    pub(crate) async fn terminate_workspaces(
        &self,
        call: TerminateWorkspacesCall,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        let mut report = self.report(TERMINATE_WORKSPACES);
        if let Some(error) = &call.call_error {
            report.note = Some(format!(
                "the TerminateWorkspaces call failed ({error}); nothing was terminated"
            ));
            return Ok(report);
        }
        if !self.config.terminate.deactivate_on_terminate {
            report.note = Some(format!(
                "{} WorkSpace(s) terminated; CODE42_DEACTIVATE_ON_TERMINATE is off, so no agent was deactivated",
                call.workspace_ids.len()
            ));
            return Ok(report);
        }
        if let Some(plan) = self
            .config
            .plan
            .filter(|p| p.manages_backup() && !self.config.terminate.deactivate_with_backup)
        {
            let why = backup_refusal(plan.as_str());
            report.note = Some(format!(
                "{} WorkSpace(s) terminated; no agent was deactivated: {why}",
                call.workspace_ids.len(),
            ));
            report.workspaces = call
                .workspace_ids
                .iter()
                .map(|id| {
                    let reason = why.clone();
                    WorkspaceReport::ended(Some(id.as_str()), Ending::Skipped { reason })
                })
                .collect();
            report.summary = Summary::of(&report.workspaces);
            return Ok(report);
        }
        let at = match &call.location {
            Some(at) => at.clone(),
            None => self
                .workspaces
                .home()
                .await
                .map_err(|e| InvocationFailure::new(e, Some(report.clone())))?,
        };
        let session = self.code42.session(deadline);
        let run_id = report.run_id.clone();
        let ledger = self.ledger.as_deref().map(|ledger| RunLedger {
            ledger,
            run_id: &run_id,
        });
        for id in &call.workspace_ids {
            let span = tracing::info_span!("workspace", id = %id);
            let mut w = WorkspaceReport::new(Some(id.as_str()), Status::Failed);
            w.locate(&at);
            let ending = match self
                .deactivate_agent_of(&at, id, &session, ledger, &mut w)
                .instrument(span)
                .await
            {
                Ok(ending) => ending,
                Err(e) if e.global() => return Err(InvocationFailure::new(e, Some(report))),
                Err(e) => Ending::failed(&e, e.retryable()),
            };
            w.end(ending);
            report.workspaces.push(w);
        }
        report.summary = Summary::of(&report.workspaces);
        fail_if_any_failed(report)
    }

    /// The agent(s) of one terminated WorkSpace deactivated (apply) or
    /// listed (verify); what was seen and done goes into `w`.
    async fn deactivate_agent_of(
        &self,
        at: &Location,
        id: &WorkspaceId,
        code42: &(impl Code42Users + Code42Agents),
        ledger: Option<RunLedger<'_>>,
        w: &mut WorkspaceReport,
    ) -> Result<Ending, Code42Error> {
        let (info, username) = match self.terminated_user(at, id, w).await {
            Ok(found) => found,
            Err(ending) => return Ok(ending),
        };
        let skip = |reason: String| Ok(Ending::Skipped { reason });
        let Some(user) = code42.find_user(&username).await? else {
            return skip(format!(
                "{username} is not in Code42: no agent to deactivate"
            ));
        };
        let computer_name = info.computer_name.as_deref().unwrap_or_default();
        let agents = code42.list_agents(&user.user_id).await?;
        let on_host = agents_reporting_host(computer_name, &agents);
        if on_host.is_empty() {
            let host = if computer_name.is_empty() {
                "(no computer name)"
            } else {
                computer_name
            };
            return skip(format!(
                "no active agent of {username} reports host name {host}: nothing to deactivate"
            ));
        }
        let applied = self.config.mode == Mode::Apply;
        let mut held = Vec::new();
        for agent in on_host {
            let subject = Subject {
                username: Some(&username),
                workspace_id: Some(id.as_str()),
                origin: "terminate",
            };
            let ledger = ledger.filter(|_| applied).map(|l| (l, subject));
            let deactivated = match applied {
                false => false,
                true => match deactivate_recorded(code42, agent, &mut held, ledger).await? {
                    Ok(deactivated) => deactivated,
                    Err(unrecorded) => return Ok(unrecorded),
                },
            };
            w.actions.push(Action::DeactivateAgent {
                agent_id: agent.agent_id.clone(),
                hostname: agent.os_hostname.clone(),
                applied: deactivated,
            });
        }
        let reason = (!held.is_empty()).then(|| {
            format!(
                "agent(s) {} under legal hold (ACTIVE_LEGAL_HOLD): not deactivated, never retried",
                held.join(", ")
            )
        });
        Ok(match (applied, held.len() == w.actions.len()) {
            (false, _) => Ending::Drift { reason },
            (true, true) => Ending::Skipped {
                reason: reason.unwrap_or_default(),
            },
            // Some deactivated (any held are named).
            (true, false) => Ending::Configured { reason },
        })
    }

    /// The terminated WorkSpace and its user's Code42 username, as
    /// DescribeWorkspaces shows them; else how the WorkSpace ends (a living
    /// WorkSpace, one already gone, no user: skipped).
    async fn terminated_user(
        &self,
        at: &Location,
        id: &WorkspaceId,
        w: &mut WorkspaceReport,
    ) -> Result<(WorkspaceInfo, String), Ending> {
        let skip = |reason: String| Err(Ending::Skipped { reason });
        let info = match self.workspaces.describe_workspace(at, id).await {
            Ok(Some(info)) => info,
            Ok(None) => {
                return skip("the WorkSpace is already gone from DescribeWorkspaces: its agent is left for a later audit".into());
            }
            Err(e) => return Err(Ending::failed(&e, e.retryable)),
        };
        w.directory_id = info.directory_id.clone();
        w.workspaces_user = info.user_name.clone();
        let state = info.state.as_deref().unwrap_or("in no known state");
        if !matches!(state, "TERMINATING" | "TERMINATED") {
            return skip(format!(
                "DescribeWorkspaces shows the WorkSpace {state}, not terminating: its agent is left alone"
            ));
        }
        let Some(user_name) = info.user_name.as_deref() else {
            return skip("DescribeWorkspaces gives no user name".into());
        };
        match self
            .code42_username(at, user_name, info.directory_id.as_deref())
            .await
        {
            Ok(username) => {
                w.code42_username = Some(username.clone());
                Ok((info, username))
            }
            Err(e) => skip(e.to_string()),
        }
    }
}

/// Deactivate one agent, its intent recorded first when there is a ledger
/// (and settled after); Err(ending) when the ledger cannot be written
/// (then nothing is deactivated).
pub(crate) async fn deactivate_recorded(
    code42: &impl Code42Agents,
    agent: &Code42Agent,
    held: &mut Vec<String>,
    ledger: Option<(RunLedger<'_>, Subject<'_>)>,
) -> Result<Result<bool, Ending>, Code42Error> {
    let Some((ledger, subject)) = ledger else {
        return deactivate(code42, agent, held).await.map(Ok);
    };
    let before = Some(format!("agent {} active", agent.agent_id));
    let after = Some("deactivated".to_string());
    let entry = match ledger
        .intent(DEACTIVATE_AGENT, subject, before, after)
        .await
    {
        Ok(entry) => entry,
        Err(e) => {
            let error = format!("the ledger could not be written ({e}); not deactivated");
            return Ok(Err(Ending::failed(error, e.retryable)));
        }
    };
    let result = deactivate(code42, agent, held).await;
    let state = match result {
        Ok(true) => EntryState::Done,
        _ => EntryState::Failed,
    };
    let after = entry.after.as_deref().filter(|_| state == EntryState::Done);
    ledger.settle(&entry, state, after).await;
    result.map(Ok)
}

/// Deactivate one agent: true when done, false when Code42 refused it for a
/// legal hold (added to `held`, never retried).
async fn deactivate(
    code42: &impl Code42Agents,
    agent: &Code42Agent,
    held: &mut Vec<String>,
) -> Result<bool, Code42Error> {
    match code42.deactivate_agent(&agent.agent_id).await {
        Ok(()) => {
            tracing::warn!(
                agent_id = agent.agent_id,
                hostname = agent.os_hostname,
                "deactivated the agent of a terminated WorkSpace"
            );
            Ok(true)
        }
        Err(e) if e.legal_hold() => {
            tracing::warn!(
                agent_id = agent.agent_id,
                "device under legal hold: not deactivated"
            );
            held.push(agent.agent_id.clone());
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Why terminate clean-up is refused on a plan with backup.
pub(crate) fn backup_refusal(plan: &str) -> String {
    format!(
        "plan {plan} backs up D:\\Users\\: deactivating a device sends its archive, the terminated WorkSpace's only copy of those files, to cold storage for eventual deletion; set CODE42_DEACTIVATE_WITH_BACKUP=true to deactivate anyway"
    )
}
