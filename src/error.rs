//! Typed errors of the library. Every message says what failed and what to do;
//! none ever carries a secret or token.

/// An event or payload that cannot be handled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("malformed input: {0}")]
    Malformed(String),
    #[error(
        "unsupported input: {0}; this function handles EventBridge events with source \"aws.workspaces\", detail-type \"AWS API Call via CloudTrail\" and detail.eventName \"CreateWorkspaces\" (or MigrateWorkspace, CreateStandbyWorkspaces, RebuildWorkspaces, RestoreWorkspace, TerminateWorkspaces), \"WorkSpaces Access\" sign-ins, work-queue batches and manual payloads"
    )]
    Unsupported(String),
    #[error(
        "refused: the event or message comes from account {account} in region {region}, which this deployment does not serve (it serves {served}); nothing was looked up or changed"
    )]
    AccountNotServed {
        account: String,
        region: String,
        served: String,
    },
}

/// A configuration problem found at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var} is not set: {hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    #[error("{var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
}

/// Reading or understanding the Code42 secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error(
        "secret {id:?} was not found in Secrets Manager: check CODE42_SECRET_ID and the region"
    )]
    NotFound { id: String },
    #[error(
        "access to secret {id:?} was denied: the role needs secretsmanager:GetSecretValue on it (and kms:Decrypt on its key, if it has its own)"
    )]
    AccessDenied { id: String },
    #[error("secret {id:?} has no SecretString: store the JSON document as a string")]
    NotString { id: String },
    #[error(
        "secret {id:?} is not a JSON object ({detail}); expected {{\"api_url\": \"https://api.us.code42.com\", \"api_client_id\": \"...\", \"api_client_secret\": \"...\"}}"
    )]
    NotJson { id: String, detail: String },
    #[error("secret {id:?}: field \"{field}\" {problem}")]
    Field {
        id: String,
        field: &'static str,
        problem: String,
    },
    #[error("could not read secret {id:?} from Secrets Manager: {detail}")]
    Unavailable {
        id: String,
        detail: String,
        retryable: bool,
    },
}

impl SecretError {
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            SecretError::Unavailable {
                retryable: true,
                ..
            }
        )
    }
}

use crate::domain::orgs::OrgIdProblem;

/// A failed call to the Code42 API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Code42Error {
    #[error(
        "Code42 rejected the credentials from secret {secret_id:?} ({what}, HTTP 401) even after a fresh token: check the API client id and secret (or token) and that the client is enabled"
    )]
    Unauthorized { secret_id: String, what: String },
    #[error(
        "Code42 refused {method} {path} (HTTP 403): the API client lacks permission for it; Code42's WorkSpaces guide requires the Customer Cloud Admin role"
    )]
    Forbidden { method: String, path: String },
    #[error(
        "Code42 {method} {path} was rate limited (HTTP 429; Retry-After {retry_after:?} s) and the invocation has no time left to wait; retry later"
    )]
    RateLimited {
        method: String,
        path: String,
        retry_after: Option<u64>,
    },
    #[error(
        "Code42 {method} {path} failed with HTTP {status} after {attempts} attempt(s): {excerpt}"
    )]
    Server {
        method: String,
        path: String,
        status: u16,
        attempts: u32,
        excerpt: String,
    },
    #[error("Code42 {method} {path} did not answer after {attempts} attempt(s): {detail}")]
    Unreachable {
        method: String,
        path: String,
        attempts: u32,
        detail: String,
    },
    #[error(
        "Code42 {method} {path} answered with a redirect (HTTP {status}), which is never followed: check api_url / console_url in the secret"
    )]
    Redirected {
        method: String,
        path: String,
        status: u16,
    },
    #[error("Code42 {method} {path} answered HTTP {status}: {excerpt}")]
    Rejected {
        method: String,
        path: String,
        status: u16,
        excerpt: String,
    },
    #[error("Code42 {method} {path} returned unexpected JSON: {detail}")]
    Protocol {
        method: String,
        path: String,
        detail: String,
    },
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl Code42Error {
    /// Code42 refused to deactivate a device under legal hold (reference §7:
    /// `ACTIVE_LEGAL_HOLD`, HTTP 400): final, never retried.
    pub fn legal_hold(&self) -> bool {
        matches!(self, Code42Error::Rejected { excerpt, .. } if excerpt.contains("ACTIVE_LEGAL_HOLD"))
    }

    /// Whether trying again later can help.
    pub fn retryable(&self) -> bool {
        match self {
            Code42Error::RateLimited { .. }
            | Code42Error::Server { .. }
            | Code42Error::Unreachable { .. } => true,
            Code42Error::Secret(e) => e.retryable(),
            _ => false,
        }
    }

    /// Problems that are not about one WorkSpace: they fail the invocation at once.
    pub fn global(&self) -> bool {
        matches!(
            self,
            Code42Error::Unauthorized { .. }
                | Code42Error::Forbidden { .. }
                | Code42Error::Secret(_)
        )
    }
}

/// A failed AWS call (WorkSpaces, SQS, Lambda).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service} {operation} failed: {detail}")]
pub struct AwsError {
    pub service: &'static str,
    pub operation: &'static str,
    pub detail: String,
    pub retryable: bool,
}

impl AwsError {
    /// A member account's role could not be assumed (not deployed there).
    pub fn is_role_not_assumable(&self) -> bool {
        self.service == "STS" && self.operation == "AssumeRole"
    }

    /// A directory id (from an event or a WorkSpace) that DescribeWorkspaceDirectories does not know.
    pub fn directory_not_registered(id: &str) -> Self {
        AwsError {
            service: "WorkSpaces",
            operation: "DescribeWorkspaceDirectories",
            detail: format!(
                "directory {id} is not registered with WorkSpaces in this region, or not visible to this role: check the region (AWS_REGION / --region) and the event's source"
            ),
            retryable: false,
        }
    }
}

/// Why an invocation failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationError {
    #[error(transparent)]
    Input(#[from] InputError),
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Code42(#[from] Code42Error),
    #[error(
        "target org {org:?} was not found among Code42's active orgs: create the WorkSpaces child org first (Code42's WorkSpaces guide) and set CODE42_ORG to its orgGuid or exact name"
    )]
    OrgNotFound { org: String },
    #[error(
        "CODE42_ORG={org:?} matches {count} orgs by name ({guids}): set it to the orgGuid instead"
    )]
    OrgAmbiguous {
        org: String,
        count: usize,
        guids: String,
    },
    /// The numeric id of the WorkSpaces org is unknown, or the configured one
    /// belongs to another org: nothing is written.
    #[error("{0}")]
    OrgId(#[from] OrgIdProblem),
    #[error(
        "CODE42_PROTECTED_ORGS names {names} that Code42 does not list: a typo would leave its users unprotected, so nothing runs until it is fixed (run doctor)"
    )]
    ProtectedOrgsUnknown { names: String },
    #[error(
        "setting {key} on org {org_id} did not verify after writing: Code42 read back {readback} ({finding}); check CODE42_WATCH_PATHS_KEY and CODE42_SETTINGS_* for this tenant"
    )]
    SettingNotVerified {
        key: String,
        org_id: i64,
        readback: String,
        finding: String,
    },
    #[error(
        "the org's settings drifted and cannot be repaired automatically: {finding}; fix them by hand, then run verify"
    )]
    OrgNotRepaired { finding: String },
    #[error(
        "history needs the ledger: set CODE42_LEDGER_TABLE to the stack's LedgerTable output (or use --function-name)"
    )]
    NoLedger,
    #[error(
        "undo moves users and this deployment is in verify mode (CODE42_MODE=verify): nothing was moved; use --dry-run to see the plan"
    )]
    UndoInVerify,
    #[error("the ledger could not be read: {0}")]
    LedgerUnreadable(AwsError),
    #[error(
        "org policy {policy} failed: {error}; every WorkSpace was still processed (see the report), the other policies too"
    )]
    OrgPolicyFailed {
        policy: String,
        error: String,
        retryable: bool,
    },
    #[error("{0}")]
    Aws(#[from] AwsError),
    #[error(
        "this would move {would_move} user(s) (and all their devices), more than max_moves={max_moves}: nothing was moved; review the dry run and raise the limit deliberately"
    )]
    TooManyMoves { would_move: usize, max_moves: usize },
    #[error(
        "no work queue configured: set WORK_QUEUE_URL (the SAM template does), or run without enqueueing"
    )]
    NoWorkQueue,
    #[error("agent clean-up refused: {0}; nothing was deactivated")]
    CleanupRefused(String),
    #[error("returning users refused: {0}; nobody was moved")]
    ReturnRefused(String),
    #[error(
        "{count} account/region location(s) could not be listed, so their WorkSpaces were not checked; first: {first}"
    )]
    LocationsUnreachable { count: usize, first: String },
    #[error("{failed} of {total} WorkSpace(s) failed ({retryable} retryable); first: {first}")]
    WorkspacesFailed {
        failed: usize,
        total: usize,
        retryable: usize,
        first: String,
    },
}

impl InvocationError {
    pub fn retryable(&self) -> bool {
        match self {
            InvocationError::Code42(e) => e.retryable(),
            InvocationError::Aws(e) => e.retryable,
            InvocationError::WorkspacesFailed { retryable, .. } => *retryable > 0,
            InvocationError::OrgPolicyFailed { retryable, .. } => *retryable,
            InvocationError::LedgerUnreadable(e) => e.retryable,
            _ => false,
        }
    }
}

/// An error and its causes on one line, each cause once ("dispatch failure:
/// io error: connection refused"). The SDKs' `DisplayErrorContext` adds the
/// Rust debug form, which is no message for a person.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !more.is_empty() && !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    fn layers(texts: &[&'static str]) -> Layer {
        texts
            .iter()
            .rev()
            .fold(None, |source, text| {
                Some(Layer {
                    text,
                    source: source.map(Box::new),
                })
            })
            .unwrap()
    }

    #[test]
    fn a_chain_names_each_cause_once_and_no_debug_form() {
        let e = layers(&["dispatch failure", "io error", "connection refused"]);
        assert_eq!(chain(&e), "dispatch failure: io error: connection refused");
        // A cause its parent already quotes is not repeated.
        let e = layers(&["error sending request: timed out", "timed out", ""]);
        assert_eq!(chain(&e), "error sending request: timed out");
    }
}
