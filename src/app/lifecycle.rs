//! Rebuilt and restored WorkSpaces: a new system volume, so the Code42 agent
//! registers again a while later and the old registration stays behind.
//! Each is checked again after that while, through the work queue.

use tokio::time::Instant;

use crate::config::Mode;
use crate::domain::model::{Origin, Target, WorkMessage};
use crate::domain::report::{Ending, InvocationReport, Summary, WorkspaceReport};
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
                if let Some(at) = &t.location {
                    w.locate(at);
                }
                w
            })
            .collect();
        report.summary = Summary::of(&report.workspaces);
        Ok(report)
    }
}
