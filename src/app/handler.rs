//! The entry point shared by the Lambda and the CLI's `invoke`: recognise the
//! input, run the flow, build the result, decide success or failure.

use serde_json::Value;
use tokio::time::Instant;

use crate::config::Mode;
use crate::domain::metrics::InvocationMetrics;
use crate::domain::model::{Origin, Target, WorkMessage};
use crate::domain::report::{Ending, InvocationReport, Status, Summary, WorkspaceReport};
use crate::input::{CreateWorkspacesCall, Input, SqsItem, parse_input_served};
use crate::ports::{Code42Service, WorkQueue, Workspaces};

use super::context::App;
use super::fleet::NoProgress;
use super::outcome::{
    InvocationFailure, Output, fail_if_a_policy_failed, fail_if_any_failed, report_of,
};
use super::reconcile::Pass;

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    /// `handle`, and the invocation's numbers (for the Lambda's EMF records).
    pub async fn handle_measured(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> (Result<Output, InvocationFailure>, InvocationMetrics) {
        self.code42.take_stats(); // counts from before this invocation are not its own
        let (kind, outcome, refused) = self.dispatch(payload, deadline).await;
        let mut metrics = InvocationMetrics::of(
            kind,
            report_of(&outcome),
            outcome.is_err(),
            self.code42.take_stats(),
        );
        metrics.inputs_refused = refused;
        (outcome, metrics)
    }

    /// Handle one payload; `deadline` bounds every wait and retry.
    pub async fn handle(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> Result<Output, InvocationFailure> {
        self.dispatch(payload, deadline).await.1
    }

    /// Recognise the input, run it, log its outcome; the input's kind beside
    /// the outcome (`unrecognised` when the payload is not an input), and how
    /// many inputs were refused (the payload, or an SQS batch's messages).
    async fn dispatch(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> (&'static str, Result<Output, InvocationFailure>, usize) {
        let served = match self.served().await {
            Ok(served) => served,
            Err(e) => {
                tracing::error!(error = %e, "cannot tell which accounts are served");
                return ("unrecognised", Err(InvocationFailure::new(e, None)), 0);
            }
        };
        let input = match parse_input_served(payload, served.as_ref()) {
            Ok(input) => input,
            Err(e) => {
                tracing::error!(error = %e, "input refused");
                return ("unrecognised", Err(InvocationFailure::new(e, None)), 1);
            }
        };
        let kind = input.kind();
        let refused = match &input {
            Input::SqsBatch(items) => items.iter().filter(|i| i.work.is_err()).count(),
            _ => 0,
        };
        let outcome = match input {
            Input::CreateWorkspaces(call) => self
                .create_workspaces(call, deadline)
                .await
                .map(Output::plain),
            Input::TerminateWorkspaces(call) => self
                .terminate_workspaces(call, deadline)
                .await
                .map(Output::plain),
            Input::Recheck(call) => self.recheck(call, deadline).await.map(Output::plain),
            Input::Access(target) => self
                .checked(kind, vec![*target], Vec::new(), deadline)
                .await
                .map(Output::plain),
            Input::SqsBatch(items) => self.sqs_batch(items, deadline).await,
            Input::Doctor => Ok(Output::plain(self.doctor(deadline).await)),
            Input::Agents(request) => self.agents(&request, deadline).await.map(Output::plain),
            Input::History(filter) => self.history(&filter).await.map(Output::plain),
            Input::Fleet(request) => self
                .fleet(&request, deadline, &NoProgress)
                .await
                .map(Output::plain),
        };
        // One log line per WorkSpace, then the summary on its own: no single
        // log event holds a whole fleet's report (Logs Insights queries them).
        let report = report_of(&outcome);
        if let Some(report) = report {
            for w in &report.workspaces {
                tracing::info!(
                    workspace_id = w.workspace_id.as_deref().unwrap_or("-"),
                    status = w.status.as_str(),
                    coverage = w.coverage.as_ref().map(|c| c.reason.unwrap_or("covered")),
                    outcome = %serde_json::to_string(w).unwrap_or_default(),
                    "WorkSpace outcome"
                );
            }
        }
        let summary = report.map(|r| serde_json::to_string(&r.summary).unwrap_or_default());
        let org = report
            .and_then(|r| r.org.as_ref())
            .map(|o| format!("{} ({})", o.status.as_str(), o.finding));
        match &outcome {
            Ok(_) => tracing::info!(input = kind, summary, org, "invocation succeeded"),
            Err(failure) => {
                tracing::error!(input = kind, error = %failure.error, retryable = failure.retryable(), summary, org, "invocation failed")
            }
        }
        (kind, outcome, refused)
    }

    async fn create_workspaces(
        &self,
        call: CreateWorkspacesCall,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        if let Some(error) = &call.call_error {
            let mut report = self.report(call.event_name);
            report.note = Some(format!(
                "the {} call failed ({error}); no WorkSpace was created",
                call.event_name
            ));
            return Ok(report);
        }
        let skipped = call
            .failed
            .iter()
            .map(|f| {
                let reason = format!(
                    "WorkSpaces could not create it: {}{}",
                    f.error_code,
                    f.error_message
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                );
                let mut r = WorkspaceReport::ended(None, Ending::Skipped { reason });
                r.directory_id = f.directory_id.clone();
                r.workspaces_user = f.user_name.clone();
                r
            })
            .collect();
        self.checked(call.event_name, call.targets, skipped, deadline)
            .await
    }

    /// Check every target; fail the invocation if any WorkSpace failed.
    pub(crate) async fn checked(
        &self,
        kind: &str,
        targets: Vec<Target>,
        skipped: Vec<WorkspaceReport>,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        let report = self.run(kind, &targets, skipped, deadline).await?;
        fail_if_any_failed(report)
    }

    /// Each message succeeds or fails on its own (`batchItemFailures`); a
    /// global problem fails the whole batch so every message is retried.
    async fn sqs_batch(
        &self,
        items: Vec<SqsItem>,
        deadline: Instant,
    ) -> Result<Output, InvocationFailure> {
        let mut owners = Vec::new();
        let mut targets = Vec::new();
        let mut failed_messages = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match &item.work {
                Ok(work) => {
                    owners.extend(std::iter::repeat_n(index, work.len()));
                    targets.extend(work.iter().map(|t| {
                        let mut t = t.clone();
                        // An event relayed by the queue keeps the event's id.
                        t.source.get_or_insert_with(|| {
                            format!("queue message {}", item.message_id).into()
                        });
                        t
                    }));
                }
                Err(e) => {
                    tracing::error!(message_id = %item.message_id, error = %e, "cannot handle this message; it will be retried, then dead-lettered");
                    failed_messages.push(index);
                }
            }
        }
        let report = self.run("SqsBatch", &targets, Vec::new(), deadline).await?;
        // A failed org policy fails the batch: every message comes back (a
        // WorkSpace already placed is then compliant, nothing is rewritten).
        let report = fail_if_a_policy_failed(report)?;
        for (owner, w) in owners.iter().zip(&report.workspaces) {
            if w.status == Status::Failed && !failed_messages.contains(owner) {
                failed_messages.push(*owner);
            }
        }
        failed_messages.sort_unstable();
        Ok(Output {
            report,
            batch_item_failures: Some(
                failed_messages
                    .iter()
                    .map(|i| items[*i].message_id.clone())
                    .collect(),
            ),
        })
    }

    /// Run the flow over `targets` (reports in the same order), then `skipped`.
    /// Sign-in re-checks of a WorkSpace found compliant recently in this
    /// container are answered from memory.
    async fn run(
        &self,
        kind: &str,
        targets: &[Target],
        skipped: Vec<WorkspaceReport>,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        let mut report = self.report(kind);
        let ttl = self.config.org.check_ttl;
        let now = self.clock.now();
        let remembered: Vec<Option<WorkspaceReport>> = targets
            .iter()
            .map(|t| {
                if t.origin != Origin::Login {
                    return None;
                }
                let (_, age) =
                    self.recently_compliant
                        .get(&t.workspace_id.to_string(), ttl, now)?;
                let reason = format!(
                    "compliant when checked {} s ago in this container",
                    age.as_secs()
                );
                let mut r = WorkspaceReport::ended(
                    Some(t.workspace_id.as_str()),
                    Ending::Compliant {
                        reason: Some(reason),
                    },
                );
                r.directory_id = t.directory_id.as_ref().map(ToString::to_string);
                Some(r)
            })
            .collect();
        let to_check: Vec<Target> = targets
            .iter()
            .zip(&remembered)
            .filter(|(_, r)| r.is_none())
            .map(|(t, _)| t.clone())
            .collect();
        let outcome = self
            .pass(Pass::Event, to_check, deadline, &report.run_id, None)
            .await
            .map_err(|error| InvocationFailure::new(error, Some(report.clone())))?;
        let now = self.clock.now();
        // Remembered only when nothing is left to see: compliant and covered
        // (a sign-in re-check of a WorkSpace without its agent looks again).
        for w in outcome.workspaces.iter().filter(|w| {
            w.status == Status::Compliant && w.coverage.as_ref().is_none_or(|c| c.covered)
        }) {
            if let Some(id) = &w.workspace_id {
                self.recently_compliant.put(id.clone(), (), now);
            }
        }
        let mut checked = outcome.workspaces.into_iter();
        report.org = outcome.org;
        report.workspaces = remembered
            .into_iter()
            .map(|r| {
                r.or_else(|| checked.next())
                    .expect("one report per checked target")
            })
            .chain(skipped)
            .collect();
        report.summary = Summary::of(&report.workspaces);
        if let Some(global) = outcome.global_error {
            return Err(InvocationFailure::new(global, Some(report)));
        }
        self.requeue_deferred(&mut report, targets).await?;
        self.time_to_covered(&mut report, targets).await;
        Ok(report)
    }

    /// At creation the Code42 agent has usually not registered the user yet:
    /// check again after `deferred_delay`, up to `deferred_attempts` times,
    /// then leave it to the schedule. A failed send fails the invocation (the
    /// platform retries it; the rest of it makes no second write).
    async fn requeue_deferred(
        &self,
        report: &mut InvocationReport,
        targets: &[Target],
    ) -> Result<(), InvocationFailure> {
        let Some(queue) = self
            .work_queue
            .as_ref()
            .filter(|_| self.config.mode == Mode::Apply)
        else {
            return Ok(());
        };
        let mut messages = Vec::new();
        for w in report
            .workspaces
            .iter()
            .filter(|w| w.status == Status::Deferred)
        {
            let Some(target) = targets
                .iter()
                .find(|t| Some(t.workspace_id.as_str()) == w.workspace_id.as_deref())
            else {
                continue;
            };
            if target.attempt >= self.config.runs.deferred_attempts {
                continue; // left to the schedule (its reason says so)
            }
            let mut message = WorkMessage::for_target(target, target.origin);
            message.attempt = target.attempt + 1;
            messages.push(message);
        }
        if messages.is_empty() {
            return Ok(());
        }
        let sent = queue
            .enqueue(&messages, self.config.runs.deferred_delay)
            .await
            .map_err(|e| InvocationFailure::new(e, Some(report.clone())))?;
        tracing::info!(
            requeued = sent,
            delay_s = self.config.runs.deferred_delay.as_secs(),
            "users not in Code42 yet: WorkSpaces queued for another check"
        );
        report.requeued = Some(sent);
        Ok(())
    }
}
