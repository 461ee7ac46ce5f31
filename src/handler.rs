//! The entry point shared by the Lambda and the CLI's `invoke`: recognise the
//! input, run the flow, build the result, decide success or failure.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;
use tokio::time::Instant;

use crate::adapters::aws::{AwsSecrets, AwsWorkspaces};
use crate::adapters::code42::{Code42Client, SecretSource};
use crate::config::Config;
use crate::domain::report::{InvocationReport, Status, Summary, WorkspaceReport};
use crate::error::{InvocationError, SecretError};
use crate::input::{CreateWorkspacesCall, Input, parse_input};
use crate::reconcile::{OrgCache, Reconciler};

/// The invocation failed: the platform should retry it, then dead-letter it.
/// Carries the partial result when there is one.
#[derive(Debug)]
pub struct InvocationFailure {
    pub error: InvocationError,
    pub report: Option<InvocationReport>,
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
    config: Config,
    workspaces: AwsWorkspaces,
    code42: Code42Client,
    org_cache: OrgCache,
}

impl App {
    /// Configuration from the environment, AWS from the standard chain.
    pub async fn from_env() -> Result<Self, InvocationError> {
        let config = Config::from_env()?;
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
            config,
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Handle one payload; `deadline` bounds every wait and retry.
    pub async fn handle(
        &self,
        payload: &Value,
        deadline: Instant,
    ) -> Result<InvocationReport, InvocationFailure> {
        let input = parse_input(payload).map_err(|e| InvocationFailure {
            error: e.into(),
            report: None,
        })?;
        let outcome = match input {
            Input::CreateWorkspaces(call) => self.create_workspaces(call, deadline).await,
        };
        match &outcome {
            Ok(report) => {
                tracing::info!(result = %serde_json::to_string(report).unwrap_or_default(), "invocation succeeded")
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
        let mut report = InvocationReport {
            mode: self.config.mode.as_str(),
            input: Input::CreateWorkspaces(call.clone()).kind().to_string(),
            note: None,
            org: None,
            workspaces: Vec::new(),
            summary: Summary::default(),
        };
        if let Some(error) = &call.call_error {
            report.note = Some(format!(
                "the CreateWorkspaces call failed ({error}); no WorkSpace was created"
            ));
            return Ok(report);
        }
        let session = self.code42.session(deadline);
        let reconciler = Reconciler {
            config: &self.config,
            workspaces: &self.workspaces,
            code42: &session,
            cache: &self.org_cache,
        };
        let outcome = match reconciler.run(&call.targets).await {
            Ok(outcome) => outcome,
            Err(error) => {
                return Err(InvocationFailure {
                    error,
                    report: Some(report),
                });
            }
        };
        report.org = outcome.org;
        report.workspaces = outcome.workspaces;
        report.workspaces.extend(call.failed.iter().map(|f| {
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
        }));
        report.summary = Summary::of(&report.workspaces);
        if let Some(global) = outcome.global_error {
            return Err(InvocationFailure {
                error: global.into(),
                report: Some(report),
            });
        }
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
                report: Some(report),
            });
        }
        Ok(report)
    }
}
