//! What an invocation returns: its report, or a failure the platform retries
//! (carrying the partial report), and the Lambda response built from them.

use aws_lambda_events::sqs::SqsBatchResponse;
use serde::Serialize;
use serde_json::Value;

use crate::domain::report::InvocationReport;
use crate::error::InvocationError;

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
    pub fn new(error: impl Into<InvocationError>, report: Option<InvocationReport>) -> Self {
        Self {
            error: error.into(),
            report: report.map(Box::new),
        }
    }

    pub fn retryable(&self) -> bool {
        self.error.retryable()
    }

    /// This failure's document, showing `result` (the report as it is, or
    /// filtered, or cut).
    pub fn document<'a>(&self, result: Option<&'a InvocationReport>) -> FailureDocument<'a> {
        FailureDocument {
            error: self.error.to_string(),
            retryable: self.retryable(),
            result,
        }
    }

    /// The document with the whole partial report, for logs and the CLI.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self.document(self.report.as_deref())).unwrap_or_default()
    }

    /// As `to_json`, with the result cut like a Lambda response.
    pub fn to_lambda_json(&self) -> Value {
        let cut = self.report.as_ref().map(|r| r.for_response());
        serde_json::to_value(self.document(cut.as_ref())).unwrap_or_default()
    }
}

/// A failed run as JSON, the one documented shape:
/// `{"error": ..., "retryable": ..., "result": ...}`.
#[derive(Debug, Serialize)]
pub struct FailureDocument<'a> {
    pub error: String,
    pub retryable: bool,
    pub result: Option<&'a InvocationReport>,
}

/// The invocation fails when an org policy failed (after every WorkSpace
/// was processed), carrying the report.
pub fn fail_if_a_policy_failed(
    report: InvocationReport,
) -> Result<InvocationReport, InvocationFailure> {
    let failed = report.org.as_ref().and_then(|o| o.failed_policies().next());
    if let Some(policy) = failed {
        let error = InvocationError::OrgPolicyFailed {
            policy: policy.policy.as_str().to_string(),
            error: policy.error.clone().unwrap_or_default(),
            retryable: policy.retryable.unwrap_or(false),
        };
        return Err(InvocationFailure::new(error, Some(report)));
    }
    Ok(report)
}

/// The invocation fails when an org policy or any WorkSpace failed,
/// carrying the report.
pub fn fail_if_any_failed(report: InvocationReport) -> Result<InvocationReport, InvocationFailure> {
    let report = fail_if_a_policy_failed(report)?;
    let unreachable: Vec<_> = report.unreachable.iter().filter(|u| !u.warning).collect();
    if let Some(first) = unreachable.first() {
        let error = InvocationError::LocationsUnreachable {
            count: unreachable.len(),
            first: format!("{} {}: {}", first.account, first.region, first.error),
        };
        return Err(InvocationFailure::new(error, Some(report)));
    }
    let failed = report.failed();
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
        return Err(InvocationFailure::new(error, Some(report)));
    }
    Ok(report)
}

/// The (partial) report of an invocation's outcome, if it has one.
pub fn report_of(outcome: &Result<Output, InvocationFailure>) -> Option<&InvocationReport> {
    match outcome {
        Ok(output) => Some(&output.report),
        Err(failure) => failure.report.as_deref(),
    }
}

/// What the handler returns.
#[derive(Debug)]
pub struct Output {
    pub report: InvocationReport,
    /// For SQS batches: the message ids to retry.
    pub batch_item_failures: Option<Vec<String>>,
}

impl Output {
    pub fn plain(report: InvocationReport) -> Self {
        Self {
            report,
            batch_item_failures: None,
        }
    }

    /// Exactly what the Lambda returns: the report, or for an SQS batch the
    /// partial-batch response `{"batchItemFailures": [{"itemIdentifier": ...}]}`
    /// (the report is logged). A large fleet's report is cut to stay far
    /// under Lambda's 6 MB response limit (see `InvocationReport::for_response`).
    pub fn lambda_response(&self) -> Value {
        match &self.batch_item_failures {
            None => serde_json::to_value(self.report.for_response()).unwrap_or(Value::Null),
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
