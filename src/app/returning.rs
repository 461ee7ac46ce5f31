//! `agents --return-users`: the WorkSpaces org's users left without a live
//! WorkSpace, moved back to `CODE42_RETURN_ORG` — planned first, within its
//! own cap and the hourly move budget, each move recorded before it is made.

use crate::config::Mode;
use crate::domain::hygiene::{AgentHygiene, AgentsRequest, ReturnedUser};
use crate::domain::ledger::EntryState;
use crate::domain::orgs::ResolvedOrg;
use crate::domain::report::InvocationReport;
use crate::error::InvocationError;
use crate::ports::{Code42Orgs, Code42Service, Code42Users, WorkQueue, Workspaces};

use super::context::App;
use super::ledger::{Budgeted, RunLedger, Subject};
use super::snapshot::Code42Snapshot;

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    /// Move (or, in a dry run, plan) each user without a WorkSpace back;
    /// refused without a return org, in verify mode (but for a dry run),
    /// or when any location could not be listed. A summary line.
    pub(crate) async fn return_users(
        &self,
        request: &AgentsRequest,
        hygiene: &mut AgentHygiene,
        snapshot: &Code42Snapshot,
        org: &ResolvedOrg,
        code42: &(impl Code42Users + Code42Orgs),
        report: &InvocationReport,
    ) -> Result<String, InvocationError> {
        let refuse = |why: String| Err(InvocationError::ReturnRefused(why));
        if let Some(u) = report.unreachable.first() {
            return refuse(format!(
                "account {} region {} could not be listed, so its users would all look left without a WorkSpace",
                u.account, u.region
            ));
        }
        if self.config.mode == Mode::Verify && !request.dry_run {
            return refuse("CODE42_MODE=verify writes nothing (use --dry-run to preview)".into());
        }
        let Some(wanted) = &self.config.users.return_org else {
            return refuse("set CODE42_RETURN_ORG to the org they go back to".into());
        };
        let orgs = code42.list_orgs().await?;
        let Some(to) = orgs
            .iter()
            .find(|o| o.active && (&o.org_guid == wanted || &o.org_name == wanted))
        else {
            return refuse(format!(
                "CODE42_RETURN_ORG {wanted:?} is not an active org (orgs are never created)"
            ));
        };
        let max = request.max_moves.unwrap_or(self.config.users.max_moves);
        let ledger = self.ledger.as_deref().map(|ledger| RunLedger {
            ledger,
            run_id: &report.run_id,
        });
        let mut moved = 0;
        for (n, username) in hygiene.users_without_workspace.clone().iter().enumerate() {
            let mut row = ReturnedUser {
                username: username.clone(),
                from_org_guid: org.guid.clone(),
                to_org_guid: to.org_guid.clone(),
                result: String::new(),
            };
            row.result = match snapshot.user(username) {
                _ if n >= max => format!("kept: above max_moves ({max})"),
                None => "kept: no longer listed".into(),
                Some(_) if request.dry_run => "would return".into(),
                Some(user) => {
                    let result = self
                        .move_back_one(code42, ledger, &user.user_id, &row)
                        .await;
                    moved += usize::from(result == "returned");
                    result
                }
            };
            hygiene.users_returned.push(row);
        }
        Ok(format!(
            "{} user(s) without a WorkSpace; {} to {} (max_moves {max})",
            hygiene.users_without_workspace.len(),
            if request.dry_run {
                "would be returned".to_string()
            } else {
                format!("{moved} returned")
            },
            to.org_name
        ))
    }

    /// One move back, within the hour's budget and recorded first.
    async fn move_back_one(
        &self,
        code42: &impl Code42Users,
        ledger: Option<RunLedger<'_>>,
        user_id: &str,
        row: &ReturnedUser,
    ) -> String {
        let entry = match ledger {
            None => None,
            Some(ledger) => {
                let subject = Subject {
                    username: Some(&row.username),
                    workspace_id: None,
                    origin: "agents return-users",
                };
                let budget = self.config.users.max_moves_per_hour;
                match ledger
                    .budgeted_move(budget, subject, &row.from_org_guid, &row.to_org_guid)
                    .await
                {
                    Ok(Budgeted::Recorded(entry)) => Some((ledger, entry)),
                    Ok(Budgeted::Spent(reason)) => return format!("kept: {reason}"),
                    Err(e) => {
                        return format!("failed: the ledger could not be written ({e}); not moved");
                    }
                }
            }
        };
        let moved = code42.move_user(user_id, &row.to_org_guid).await;
        if let Some((ledger, entry)) = &entry {
            let state = if moved.is_ok() {
                EntryState::Done
            } else {
                EntryState::Failed
            };
            ledger.settle(entry, state, Some(&row.to_org_guid)).await;
        }
        match moved {
            Ok(()) => {
                tracing::warn!(username = %row.username, to_org_guid = %row.to_org_guid, "returned a user left without a WorkSpace (and all of their devices)");
                "returned".into()
            }
            Err(e) => format!("failed: {e}"),
        }
    }
}
