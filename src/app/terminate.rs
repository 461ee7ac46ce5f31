//! Clean-up when WorkSpaces are terminated: deactivate the Code42 agent that
//! ran on each (matched by the WorkSpace's computer name, which
//! DescribeWorkspaces still returns for a terminating WorkSpace) and never any
//! other agent of the user. Off unless `CODE42_DEACTIVATE_ON_TERMINATE=true`.

use tokio::time::Instant;
use tracing::Instrument;

use crate::config::Mode;
use crate::domain::coverage::assess_agent;
use crate::domain::ids::WorkspaceId;
use crate::domain::report::{Action, InvocationReport, Status, Summary, WorkspaceReport};
use crate::error::Code42Error;
use crate::input::{TERMINATE_WORKSPACES, TerminateWorkspacesCall};
use crate::ports::{Code42, Code42Service, WorkQueue, Workspaces};

use super::context::App;
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
        if !self.config.deactivate_on_terminate {
            report.note = Some(format!(
                "{} WorkSpace(s) terminated; CODE42_DEACTIVATE_ON_TERMINATE is off, so no agent was deactivated",
                call.workspace_ids.len()
            ));
            return Ok(report);
        }
        let session = self.code42.session(deadline);
        for id in &call.workspace_ids {
            let span = tracing::info_span!("workspace", id = %id);
            let mut w = WorkspaceReport::new(Some(id.as_str()), Status::Failed);
            let outcome = self
                .deactivate_agent_of(id, &session, &mut w)
                .instrument(span)
                .await;
            if let Err(e) = outcome {
                if e.global() {
                    return Err(InvocationFailure::new(e, Some(report)));
                }
                w.status = Status::Failed;
                w.retryable = Some(e.retryable());
                w.error = Some(e.to_string());
            }
            report.workspaces.push(w);
        }
        report.summary = Summary::of(&report.workspaces);
        fail_if_any_failed(report)
    }

    async fn deactivate_agent_of(
        &self,
        id: &WorkspaceId,
        code42: &impl Code42,
        w: &mut WorkspaceReport,
    ) -> Result<(), Code42Error> {
        let skip = |w: &mut WorkspaceReport, reason: String| {
            w.status = Status::Skipped;
            w.reason = Some(reason);
            Ok(())
        };
        let info = match self.workspaces.describe_workspace(id).await {
            Ok(Some(info)) => info,
            Ok(None) => {
                return skip(w, "the WorkSpace is already gone from DescribeWorkspaces: its agent is left for a later audit".into());
            }
            Err(e) => {
                w.status = Status::Failed;
                w.retryable = Some(e.retryable);
                w.error = Some(e.to_string());
                return Ok(());
            }
        };
        w.directory_id = info.directory_id.clone();
        w.workspaces_user = info.user_name.clone();
        let Some(user_name) = info.user_name.as_deref() else {
            return skip(w, "DescribeWorkspaces gives no user name".into());
        };
        let username = match self
            .code42_username(user_name, info.directory_id.as_deref())
            .await
        {
            Ok(u) => u,
            Err(e) => return skip(w, e.to_string()),
        };
        w.code42_username = Some(username.clone());
        let Some(user) = code42.find_user(&username).await? else {
            return skip(
                w,
                format!("{username} is not in Code42: no agent to deactivate"),
            );
        };
        let agents = code42.list_agents(&user.user_id).await?;
        let found = assess_agent(info.computer_name.as_deref(), &agents, None);
        let Some(agent_id) = found.agent_id.clone() else {
            return skip(
                w,
                format!(
                    "no active agent of {username} on {}: nothing to deactivate",
                    info.computer_name
                        .as_deref()
                        .unwrap_or("(no computer name)")
                ),
            );
        };
        let applied = self.config.mode == Mode::Apply;
        if applied {
            code42.deactivate_agent(&agent_id).await?;
            tracing::warn!(
                agent_id,
                hostname = found.hostname.as_deref(),
                "deactivated the agent of a terminated WorkSpace"
            );
        }
        w.status = if applied {
            Status::Configured
        } else {
            Status::Drift
        };
        w.actions.push(Action::DeactivateAgent {
            agent_id,
            hostname: found.hostname,
            applied,
        });
        Ok(())
    }
}
