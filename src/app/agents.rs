//! `agents`: the hygiene report of the WorkSpaces org's active agents
//! (read-only): current, duplicate, orphan or another device, and the
//! org's users left without a WorkSpace.

use std::collections::{HashMap, HashSet};

use tokio::time::Instant;

use crate::domain::coverage::host_label;
use crate::domain::hygiene::{LiveHost, classify};
use crate::domain::model::{FleetFilter, WorkspaceInfo};
use crate::domain::report::InvocationReport;
use crate::error::InvocationError;
use crate::ports::{Code42Service, WorkQueue, Workspaces};

use super::context::App;
use super::outcome::InvocationFailure;
use super::snapshot::Code42Snapshot;

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    /// Every live WorkSpace of every served location against every active
    /// agent of the org's users. A location that cannot be listed fails the
    /// report (exit 1): its WorkSpaces' agents would all look orphaned.
    pub async fn agents(&self, deadline: Instant) -> Result<InvocationReport, InvocationFailure> {
        let mut report = self.report("agents");
        let fail = |e: InvocationError, report: &InvocationReport| {
            InvocationFailure::new(e, Some(report.clone()))
        };
        let (listed, unreachable) = self
            .list_fleet(&FleetFilter::default())
            .await
            .map_err(|e| fail(e, &report))?;
        report.unreachable = unreachable;
        let session = self.code42.session(deadline);
        let org = self
            .read_only_org_check(&session)
            .resolve()
            .await
            .map_err(|e| fail(e, &report))?;
        let code42 = &self.config.code42;
        let snapshot =
            Code42Snapshot::read(&session, code42.users_page_size, code42.agents_page_size)
                .await
                .map_err(|e| fail(e.into(), &report))?;
        let users = snapshot.users_in_org(&org.guid);
        let with_workspace = self.usernames_with_a_workspace(&listed).await;
        let hygiene = classify(
            &users,
            snapshot.all_agents(),
            &live_hosts(&listed),
            &self.config.terminate.workspace_host_prefixes,
            &with_workspace,
        );
        let attention = hygiene
            .agents
            .iter()
            .filter(|a| a.finding.needs_attention())
            .count();
        report.note = Some(format!(
            "{} active agent(s) of {} user(s) in {}: {attention} duplicate or orphan; {} user(s) without a WorkSpace",
            hygiene.agents.len(),
            users.len(),
            org.name,
            hygiene.users_without_workspace.len()
        ));
        report.agents = Some(hygiene);
        super::outcome::fail_if_any_failed(report)
    }

    /// The Code42 usernames of the live WorkSpaces' users (lower case).
    async fn usernames_with_a_workspace(&self, listed: &[WorkspaceInfo]) -> HashSet<String> {
        let mut names = HashSet::new();
        for w in listed {
            let Some(user) = w.user_name.as_deref() else {
                continue;
            };
            if let Ok(name) = self
                .code42_username(&w.location, user, w.directory_id.as_deref())
                .await
            {
                names.insert(name.to_lowercase());
            }
        }
        names
    }
}

/// Host label -> the live WorkSpace there.
fn live_hosts(listed: &[WorkspaceInfo]) -> HashMap<String, LiveHost> {
    listed
        .iter()
        .filter(|w| !matches!(w.state.as_deref(), Some("TERMINATING" | "TERMINATED")))
        .filter_map(|w| {
            let host = host_label(w.computer_name.as_deref()?);
            Some((
                host,
                LiveHost {
                    workspace_id: w.workspace_id.clone(),
                    location: w.location.clone(),
                },
            ))
        })
        .collect()
}
