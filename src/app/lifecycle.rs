//! Rebuilt and restored WorkSpaces: a new system volume, so the Code42 agent
//! registers again a while later and the old registration stays behind.
//! Each is checked again after that while, through the work queue.

use tokio::time::Instant;

use crate::config::Mode;
use crate::domain::model::{Origin, Target, WorkMessage};
use crate::domain::report::{Ending, InvocationReport, Status, Summary, WorkspaceReport};

use super::ledger::unix_secs;
use crate::input::RecheckCall;
use crate::ports::{Code42Service, WorkQueue, Workspaces};

use super::context::App;
use super::outcome::InvocationFailure;

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    /// Queue a delayed check of each WorkSpace (`CODE42_DEFERRED_DELAY_SECONDS`);
    /// without a work queue, or in verify mode, check them now.
    pub(crate) async fn recheck(
        &self,
        call: RecheckCall,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        let name = call.event_name;
        if let Some(error) = &call.call_error {
            let mut report = self.report(name);
            report.note = Some(format!("the {name} call failed ({error}); nothing changed"));
            return Ok(report);
        }
        let targets: Vec<Target> = call
            .workspace_ids
            .iter()
            .map(|id| Target {
                location: call.location.clone(),
                workspace_id: id.clone(),
                directory_id: None,
                user_name: None,
                origin: Origin::Rebuild,
                described: None,
                user_hosts: None,
                attempt: 0,
                source: None,
            })
            .collect();
        let queue = self
            .work_queue
            .as_ref()
            .filter(|_| self.config.mode == Mode::Apply);
        let Some(queue) = queue else {
            return self.checked(name, targets, Vec::new(), deadline).await;
        };
        let mut report = self.report(name);
        let delay = self.config.runs.deferred_delay;
        let messages: Vec<WorkMessage> = targets
            .iter()
            .map(|t| WorkMessage::for_target(t, Origin::Rebuild))
            .collect();
        let sent = queue
            .enqueue(&messages, delay)
            .await
            .map_err(|e| InvocationFailure::new(e, Some(report.clone())))?;
        report.enqueued = Some(sent);
        report.workspaces = targets
            .iter()
            .map(|t| {
                let reason = format!(
                    "{name}: its Code42 agent registers again once the new system volume starts; checked again in {} s from the work queue",
                    delay.as_secs()
                );
                let mut w = WorkspaceReport::ended(Some(t.workspace_id.as_str()), Ending::Deferred { reason });
                if let Some(at) = t.at() {
                    w.locate(at);
                }
                w
            })
            .collect();
        report.summary = Summary::of(&report.workspaces);
        Ok(report)
    }

    /// The time from a WorkSpace's first sign-in to the first check that
    /// finds it covered (the ledger remembers both): a sign-in is recorded,
    /// a covered WorkSpace measured once, and a sign-in not covered yet is
    /// checked again after `CODE42_DEFERRED_DELAY_SECONDS` (its agent
    /// registers at first sign-in). Best effort: a ledger error is logged.
    pub(crate) async fn time_to_covered(&self, report: &mut InvocationReport, targets: &[Target]) {
        let Some(ledger) = self.ledger.as_deref() else {
            return;
        };
        let now = unix_secs();
        let mut recheck = Vec::new();
        for w in report.workspaces.iter_mut() {
            let (Some(id), Some(coverage)) = (w.workspace_id.clone(), w.coverage.clone()) else {
                continue;
            };
            let sign_in = targets
                .iter()
                .find(|t| t.workspace_id.as_str() == id && t.origin == Origin::Login);
            let first = match sign_in {
                Some(_) => match ledger.first_sign_in(&id, now).await {
                    Ok(first) => Some(first),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not record the sign-in in the ledger");
                        None
                    }
                },
                None => None,
            };
            if coverage.covered {
                match ledger.first_covered(&id, now).await {
                    Ok(Some(first)) => {
                        let seconds = now.saturating_sub(first);
                        tracing::info!(
                            seconds,
                            "covered for the first time since the first sign-in"
                        );
                        w.time_to_covered_seconds = Some(seconds);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "could not record coverage in the ledger"),
                }
            } else if let (Some(first), Some(target)) = (first, sign_in) {
                w.not_covered_since_sign_in_seconds = Some(now.saturating_sub(first));
                // A deferred WorkSpace is queued again already.
                if w.status != Status::Deferred {
                    recheck.push(target.clone());
                }
            }
        }
        self.recheck_sign_ins(report, recheck).await;
    }

    /// Signed-in WorkSpaces not covered yet: checked again after the
    /// deferred delay, within the deferred attempts (apply mode, a queue).
    async fn recheck_sign_ins(&self, report: &mut InvocationReport, targets: Vec<Target>) {
        let Some(queue) = self
            .work_queue
            .as_ref()
            .filter(|_| self.config.mode == Mode::Apply)
        else {
            return;
        };
        let messages: Vec<WorkMessage> = targets
            .iter()
            .filter(|t| t.attempt < self.config.runs.deferred_attempts)
            .map(|t| WorkMessage {
                attempt: t.attempt + 1,
                ..WorkMessage::for_target(t, Origin::Login)
            })
            .collect();
        if messages.is_empty() {
            return;
        }
        match queue
            .enqueue(&messages, self.config.runs.deferred_delay)
            .await
        {
            Ok(sent) => report.requeued = Some(report.requeued.unwrap_or(0) + sent),
            Err(e) => {
                tracing::warn!(error = %e, "could not queue the re-check of signed-in WorkSpaces")
            }
        }
    }
}
