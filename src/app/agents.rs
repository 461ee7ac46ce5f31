//! `agents`: the hygiene report of the WorkSpaces org's active agents
//! (read-only): current, duplicate, orphan or another device, and the
//! org's users left without a WorkSpace.

use std::collections::{HashMap, HashSet};

use tokio::time::Instant;

use crate::config::Mode;
use crate::domain::coverage::host_label;
use crate::domain::hygiene::{
    AgentHygiene, AgentsRequest, Cleanup, CleanupRules, LiveHost, classify, plan_cleanup,
};
use crate::domain::ledger::rfc3339;
use crate::domain::model::{FleetFilter, WorkspaceInfo};
use crate::domain::report::InvocationReport;
use crate::error::InvocationError;
use crate::ports::{Code42Agents, Code42Service, WorkQueue, Workspaces};

use super::context::App;
use super::ledger::{RunLedger, Subject, unix_secs};
use super::outcome::InvocationFailure;
use super::snapshot::Code42Snapshot;
use super::terminate::{backup_refusal, deactivate_recorded};

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    /// Every live WorkSpace of every served location against every active
    /// agent of the org's users. A location that cannot be listed fails the
    /// report (exit 1): its WorkSpaces' agents would all look orphaned.
    pub async fn agents(
        &self,
        request: &AgentsRequest,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        let mut report = self.report("agents");
        let fail = |e: InvocationError, report: &InvocationReport| {
            InvocationFailure::new(e, Some(report.clone()))
        };
        let (listed, unreachable) = self
            .list_fleet(&FleetFilter::default(), &super::fleet::NoProgress)
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
        let mut hygiene = classify(
            &users,
            snapshot.all_agents(),
            &live_hosts(&listed),
            &self.config.terminate.workspace_host_prefixes,
            &with_workspace,
        );
        if request.return_users {
            let returned = self
                .return_users(request, &mut hygiene, &snapshot, &org, &session, &report)
                .await
                .map_err(|e| fail(e, &report))?;
            report.note = Some(returned);
            report.agents = Some(hygiene);
            return Ok(report);
        }
        if let Some(what) = request.deactivate {
            let cleaned = self
                .clean_up(what, request, &mut hygiene, &snapshot, &session, &report)
                .await
                .map_err(|e| fail(e, &report))?;
            report.note = Some(cleaned);
            report.agents = Some(hygiene);
            return Ok(report);
        }
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

    /// Deactivate what `what` names within the guards, in `hygiene`'s rows
    /// (each says what was done or why it was kept); a summary line.
    async fn clean_up(
        &self,
        what: Cleanup,
        request: &AgentsRequest,
        hygiene: &mut AgentHygiene,
        snapshot: &Code42Snapshot,
        code42: &impl Code42Agents,
        report: &InvocationReport,
    ) -> Result<String, InvocationError> {
        self.cleanup_allowed(request, report)?;
        let rules = CleanupRules {
            what,
            max: request.max_deactivations,
            idle_before: rfc3339(unix_secs().saturating_sub(request.min_idle_days * 86_400)),
            min_idle_days: request.min_idle_days,
        };
        let order = plan_cleanup(&mut hygiene.agents, &rules);
        let ledger = self.ledger.as_deref().map(|ledger| RunLedger {
            ledger,
            run_id: &report.run_id,
        });
        let (mut done, mut held) = (0, Vec::new());
        for i in &order {
            let row = &mut hygiene.agents[*i];
            if request.dry_run {
                row.cleanup = Some("would deactivate".into());
                continue;
            }
            let Some(agent) = snapshot.agent(&row.user_id, &row.agent_id) else {
                row.cleanup = Some("kept: no longer listed as active".into());
                continue;
            };
            let subject = Subject {
                username: Some(&row.username),
                workspace_id: row.workspace_id.as_deref(),
                origin: "agents clean-up",
            };
            let outcome =
                deactivate_recorded(code42, &agent, &mut held, ledger.map(|l| (l, subject))).await;
            row.cleanup = Some(match outcome {
                Ok(Ok(true)) => {
                    done += 1;
                    "deactivated".into()
                }
                Ok(Ok(false)) => "kept: legal hold (ACTIVE_LEGAL_HOLD)".into(),
                Ok(Err(ending)) => format!("failed: {}", ending.status().as_str()),
                Err(e) if e.global() => return Err(e.into()),
                Err(e) => format!("failed: {e}"),
            });
        }
        Ok(if request.dry_run {
            format!(
                "dry run: {} {} agent(s) would be deactivated (max {}, idle {} days or more); nothing was written",
                order.len(),
                what.as_str(),
                rules.max,
                rules.min_idle_days
            )
        } else {
            format!(
                "{done} {} agent(s) deactivated, {} kept under legal hold (max {}, idle {} days or more)",
                what.as_str(),
                held.len(),
                rules.max,
                rules.min_idle_days
            )
        })
    }

    /// A clean-up needs every location listed (else every agent there would
    /// look orphaned), apply mode (or a dry run), and on backup plans the
    /// explicit CODE42_DEACTIVATE_WITH_BACKUP.
    fn cleanup_allowed(
        &self,
        request: &AgentsRequest,
        report: &InvocationReport,
    ) -> Result<(), InvocationError> {
        let refuse = |why: String| Err(InvocationError::CleanupRefused(why));
        if let Some(u) = report.unreachable.first() {
            return refuse(format!(
                "account {} region {} could not be listed ({}), so its agents would all look orphaned",
                u.account, u.region, u.error
            ));
        }
        if self.config.mode == Mode::Verify && !request.dry_run {
            return refuse("CODE42_MODE=verify writes nothing (use --dry-run to preview)".into());
        }
        if let Some(plan) = self
            .config
            .plan
            .filter(|p| p.manages_backup() && !self.config.terminate.deactivate_with_backup)
        {
            return refuse(backup_refusal(plan.as_str()));
        }
        Ok(())
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
