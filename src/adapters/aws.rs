//! WorkSpaces and Secrets Manager through the AWS SDK for Rust. Endpoints,
//! region and credentials come from the standard AWS configuration
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, profiles, the Lambda role).

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_workspaces::error::{ProvideErrorMetadata, SdkError};

use crate::domain::ids::{DirectoryId, WorkspaceId};
use crate::error::{AwsError, SecretError};
use crate::ports::{WorkspaceInfo, Workspaces};

pub struct AwsWorkspaces {
    client: aws_sdk_workspaces::Client,
    /// Directory DNS names do not change: cache for the container's life.
    directory_names: Mutex<HashMap<String, Option<String>>>,
}

impl AwsWorkspaces {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_workspaces::Client::new(sdk),
            directory_names: Mutex::new(HashMap::new()),
        }
    }
}

fn aws_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            let code = e.err().code().unwrap_or("");
            code.contains("Throttl")
                || code.contains("ServiceUnavailable")
                || code.contains("Internal")
        }
        _ => false,
    };
    let detail = match err.as_service_error() {
        Some(e) => format!(
            "{}: {}",
            e.code().unwrap_or("unknown error"),
            e.message().unwrap_or("")
        ),
        None => aws_sdk_workspaces::error::DisplayErrorContext(&err).to_string(),
    };
    AwsError {
        operation,
        detail,
        retryable,
    }
}

impl Workspaces for AwsWorkspaces {
    async fn describe_workspace(
        &self,
        id: &WorkspaceId,
    ) -> Result<Option<WorkspaceInfo>, AwsError> {
        let out = self
            .client
            .describe_workspaces()
            .workspace_ids(id.as_str())
            .send()
            .await
            .map_err(|e| aws_error("DescribeWorkspaces", e))?;
        Ok(out
            .workspaces()
            .iter()
            .find(|w| w.workspace_id() == Some(id.as_str()))
            .map(|w| WorkspaceInfo {
                workspace_id: id.to_string(),
                directory_id: w.directory_id().map(str::to_string),
                user_name: w.user_name().map(str::to_string),
                operating_system: w
                    .workspace_properties()
                    .and_then(|p| p.operating_system_name())
                    .map(|os| os.as_str().to_string()),
                state: w.state().map(|s| s.as_str().to_string()),
            }))
    }

    async fn directory_name(&self, id: &DirectoryId) -> Result<Option<String>, AwsError> {
        if let Some(name) = self.directory_names.lock().unwrap().get(id.as_str()) {
            return Ok(name.clone());
        }
        let out = self
            .client
            .describe_workspace_directories()
            .directory_ids(id.as_str())
            .send()
            .await
            .map_err(|e| aws_error("DescribeWorkspaceDirectories", e))?;
        let name = out
            .directories()
            .iter()
            .find(|d| d.directory_id() == Some(id.as_str()))
            .and_then(|d| d.directory_name())
            .map(str::to_string);
        self.directory_names
            .lock()
            .unwrap()
            .insert(id.to_string(), name.clone());
        Ok(name)
    }
}

/// Reads the Code42 secret's string.
#[derive(Clone)]
pub struct AwsSecrets {
    client: aws_sdk_secretsmanager::Client,
}

impl AwsSecrets {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
        }
    }

    pub async fn secret_string(&self, id: &str) -> Result<String, SecretError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| secret_error(id, e))?;
        out.secret_string()
            .map(str::to_string)
            .ok_or_else(|| SecretError::NotString { id: id.to_string() })
    }
}

fn secret_error<R: std::fmt::Debug>(
    id: &str,
    err: SdkError<GetSecretValueError, R>,
) -> SecretError {
    let id = id.to_string();
    match err.as_service_error() {
        Some(GetSecretValueError::ResourceNotFoundException(_)) => SecretError::NotFound { id },
        Some(e) if e.code() == Some("AccessDeniedException") => SecretError::AccessDenied { id },
        Some(e) => SecretError::Unavailable {
            id,
            detail: format!(
                "{}: {}",
                e.code().unwrap_or("error"),
                e.message().unwrap_or("")
            ),
            retryable: matches!(e, GetSecretValueError::InternalServiceError(_))
                || e.code().is_some_and(|c| c.contains("Throttl")),
        },
        None => SecretError::Unavailable {
            id,
            detail: aws_sdk_secretsmanager::error::DisplayErrorContext(&err).to_string(),
            retryable: true,
        },
    }
}
