//! The entry point shared by the Lambda and the CLI's `invoke`: recognise the
//! input, run the flow, build the result, decide success or failure.

use std::sync::Arc;

use std::collections::HashMap;
use std::sync::Mutex;

use aws_lambda_events::sqs::SqsBatchResponse;
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::time::Instant;

use crate::adapters::aws::{AwsSecrets, AwsWorkspaces};
use crate::adapters::code42::{Code42Client, SecretSource};
use crate::adapters::sqs::SqsWorkQueue;
use crate::config::Config;
use crate::domain::report::{InvocationReport, Status, Summary, WorkspaceReport};
use crate::error::{InvocationError, SecretError};
use crate::fleet::NoProgress;
use crate::input::{
    CREATE_WORKSPACES, CreateWorkspacesCall, Input, Origin, SqsItem, Target, parse_input,
};
use crate::reconcile::{OrgCache, Reconciler};

/// The invocation failed: the platform should retry it, then dead-letter it.
/// Carries the partial result when there is one.
#[derive(Debug)]
pub struct InvocationFailure {
    pub error: InvocationError,
    pub report: Option<Box<InvocationReport>>,
}

impl std::fmt::Display for InvocationFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl InvocationFailure {
    pub fn retryable(&self) -> bool {
        self.error.retryable()
    }

    /// `{"error": ..., "retryable": ..., "result": ...}` for logs and the CLI.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "error": self.error.to_string(),
            "retryable": self.retryable(),
            "result": self.report,
        })
    }
}

struct SecretsManagerSource {
    secrets: AwsSecrets,
    id: String,
}

impl SecretSource for SecretsManagerSource {
    fn fetch(&self) -> BoxFuture<'_, Result<String, SecretError>> {
        Box::pin(self.secrets.secret_string(&self.id))
    }
}

/// Everything a warm container keeps between invocations.
pub struct App {
    pub(crate) config: Config,
    pub(crate) workspaces: AwsWorkspaces,
    pub(crate) code42: Code42Client,
    pub(crate) org_cache: OrgCache,
    pub(crate) work_queue: Option<SqsWorkQueue>,
    /// WorkSpace id -> when it was last found compliant (for login re-checks).
    recently_compliant: Mutex<HashMap<String, Instant>>,
}

impl App {
    /// Configuration from the environment, AWS from the standard chain.
    pub async fn from_env() -> Result<Self, InvocationError> {
        Self::from_env_with(|_| {}).await
    }

    /// As `from_env`, with command-line overrides applied to the configuration.
    pub async fn from_env_with(adjust: impl FnOnce(&mut Config)) -> Result<Self, InvocationError> {
        let mut config = Config::from_env()?;
        adjust(&mut config);
        let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Ok(Self::new(config, &sdk))
    }

    pub fn new(config: Config, sdk: &aws_config::SdkConfig) -> Self {
        let source = Arc::new(SecretsManagerSource {
            secrets: AwsSecrets::new(sdk),
            id: config.secret_id.clone(),
        });
        let code42 = Code42Client::new(&config, source)
            .expect("the HTTP client builds with static settings");
        Self {
            workspaces: AwsWorkspaces::new(sdk),
            code42,
            org_cache: OrgCache::default(),
            work_queue: config
                .work_queue_url
                .clone()
                .map(|url| SqsWorkQueue::new(sdk, url)),
            recently_compliant: Mutex::new(HashMap::new()),
            config,
        }
    }

    /// Handle one payload; `deadline` bounds every wait and retry.
    pub async fn handle(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> Result<Output, InvocationFailure> {
        let input = parse_input(payload).map_err(|e| InvocationFailure {
            error: e.into(),
            report: None,
        })?;
        let kind = input.kind();
        let outcome = match input {
            Input::CreateWorkspaces(call) => self
                .create_workspaces(call, deadline)
                .await
                .map(Output::plain),
            Input::Access(target) => self
                .checked(kind, vec![target], Vec::new(), deadline)
                .await
                .map(Output::plain),
            Input::SqsBatch(items) => self.sqs_batch(items, deadline).await,
            Input::Fleet(request) => self
                .fleet(&request, deadline, &NoProgress)
                .await
                .map(Output::plain),
        };
        match &outcome {
            Ok(output) => {
                tracing::info!(result = %serde_json::to_string(&output.report).unwrap_or_default(), "invocation succeeded")
            }
            Err(failure) => {
                tracing::error!(error = %failure.error, retryable = failure.retryable(),
                result = %serde_json::to_string(&failure.report).unwrap_or_default(), "invocation failed")
            }
        }
        outcome
    }

    async fn create_workspaces(
        &self,
        call: CreateWorkspacesCall,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        if let Some(error) = &call.call_error {
            let mut report = self.empty_report(CREATE_WORKSPACES);
            report.note = Some(format!(
                "the CreateWorkspaces call failed ({error}); no WorkSpace was created"
            ));
            return Ok(report);
        }
        let skipped = call
            .failed
            .iter()
            .map(|f| {
                let mut r = WorkspaceReport::new(None, Status::Skipped).with_reason(format!(
                    "WorkSpaces could not create it: {}{}",
                    f.error_code,
                    f.error_message
                        .as_deref()
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                ));
                r.directory_id = f.directory_id.clone();
                r.workspaces_user = f.user_name.clone();
                r
            })
            .collect();
        self.checked(CREATE_WORKSPACES, call.targets, skipped, deadline)
            .await
    }

    /// Check every target; fail the invocation if any WorkSpace failed.
    async fn checked(
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
                    targets.extend(work.iter().cloned());
                }
                Err(e) => {
                    tracing::error!(message_id = %item.message_id, error = %e, "cannot handle this message; it will be retried, then dead-lettered");
                    failed_messages.push(index);
                }
            }
        }
        let report = self.run("SqsBatch", &targets, Vec::new(), deadline).await?;
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

    pub(crate) fn empty_report(&self, kind: &str) -> InvocationReport {
        InvocationReport {
            mode: self.config.mode.as_str(),
            input: kind.to_string(),
            note: None,
            enqueued: None,
            org: None,
            workspaces: Vec::new(),
            summary: Summary::default(),
        }
    }

    /// Run the flow over `targets` (reports in the same order), then `skipped`.
    /// Login re-checks of a WorkSpace found compliant recently in this
    /// container are answered from memory.
    async fn run(
        &self,
        kind: &str,
        targets: &[Target],
        skipped: Vec<WorkspaceReport>,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        let mut report = self.empty_report(kind);
        let ttl = self.config.org_check_ttl;
        let remembered: Vec<Option<WorkspaceReport>> = {
            let recent = self.recently_compliant.lock().unwrap();
            targets
                .iter()
                .map(|t| {
                    let at = recent
                        .get(t.workspace_id.as_str())
                        .filter(|at| at.elapsed() < ttl)?;
                    (t.origin == Origin::Login).then(|| {
                        let mut r =
                            WorkspaceReport::new(Some(t.workspace_id.as_str()), Status::Compliant)
                                .with_reason(format!(
                                    "compliant when checked {} s ago in this container",
                                    at.elapsed().as_secs()
                                ));
                        r.directory_id = t.directory_id.as_ref().map(ToString::to_string);
                        r
                    })
                })
                .collect()
        };
        let to_check: Vec<Target> = targets
            .iter()
            .zip(&remembered)
            .filter(|(_, r)| r.is_none())
            .map(|(t, _)| t.clone())
            .collect();
        let session = self.code42.session(deadline);
        let reconciler = Reconciler {
            config: &self.config,
            mode: self.config.mode,
            on_done: None,
            workspaces: &self.workspaces,
            code42: &session,
            cache: &self.org_cache,
        };
        let outcome = match reconciler.run(&to_check).await {
            Ok(outcome) => outcome,
            Err(error) => {
                return Err(InvocationFailure {
                    error,
                    report: Some(Box::new(report)),
                });
            }
        };
        {
            let mut recent = self.recently_compliant.lock().unwrap();
            for w in outcome
                .workspaces
                .iter()
                .filter(|w| w.status == Status::Compliant)
            {
                if let Some(id) = &w.workspace_id {
                    recent.insert(id.clone(), Instant::now());
                }
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
            return Err(InvocationFailure {
                error: global.into(),
                report: Some(Box::new(report)),
            });
        }
        Ok(report)
    }
}

/// The invocation fails when any WorkSpace failed, carrying the report.
pub(crate) fn fail_if_any_failed(
    report: InvocationReport,
) -> Result<InvocationReport, InvocationFailure> {
    let failed: Vec<_> = report
        .workspaces
        .iter()
        .filter(|w| w.status == Status::Failed)
        .collect();
    if let Some(first) = failed.first() {
        let error = InvocationError::WorkspacesFailed {
            failed: failed.len(),
            total: report.workspaces.len(),
            retryable: failed.iter().filter(|w| w.retryable == Some(true)).count(),
            first: format!(
                "{}: {}",
                first.workspace_id.as_deref().unwrap_or("-"),
                first.error.as_deref().unwrap_or("unknown error")
            ),
        };
        return Err(InvocationFailure {
            error,
            report: Some(Box::new(report)),
        });
    }
    Ok(report)
}

/// What the handler returns.
#[derive(Debug)]
pub struct Output {
    pub report: InvocationReport,
    /// For SQS batches: the message ids to retry.
    pub batch_item_failures: Option<Vec<String>>,
}

impl Output {
    fn plain(report: InvocationReport) -> Self {
        Self {
            report,
            batch_item_failures: None,
        }
    }

    /// Exactly what the Lambda returns: the report, or for an SQS batch the
    /// partial-batch response `{"batchItemFailures": [{"itemIdentifier": ...}]}`
    /// (the report is logged).
    pub fn lambda_response(&self) -> Value {
        match &self.batch_item_failures {
            None => serde_json::to_value(&self.report).unwrap_or(Value::Null),
            Some(ids) => {
                let mut response = SqsBatchResponse::default();
                for id in ids {
                    response.add_failure(id.clone());
                }
                serde_json::to_value(response).unwrap_or(Value::Null)
            }
        }
    }
}
