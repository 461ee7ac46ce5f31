//! WorkSpaces and Secrets Manager through the AWS SDK for Rust. Endpoints,
//! region and credentials come from the standard AWS configuration
//! (`AWS_ENDPOINT_URL`, `AWS_REGION`, profiles, the Lambda role).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_workspaces::error::{ProvideErrorMetadata, SdkError};

use crate::domain::ids::{DirectoryId, WorkspaceId};
use crate::error::{AwsError, SecretError};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt, stream};

use crate::domain::location::{Location, member_role_arn, partition};
use crate::domain::model::{DirectoryInfo, FleetFilter, WorkspaceInfo};
use crate::ports::{SecretSource, Workspaces};

/// DescribeWorkspaces takes at most 25 ids per call.
const MAX_IDS_PER_CALL: usize = 25;
/// DescribeWorkspaces sequences (one per directory) read at once.
const DIRECTORIES_AT_ONCE: usize = 4;
/// How long the organization's account list is trusted: accounts join
/// rarely, and a warm container should not ask on every event.
const ORGANIZATION_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);

fn info(w: &aws_sdk_workspaces::types::Workspace, at: &Location) -> Option<WorkspaceInfo> {
    Some(WorkspaceInfo {
        workspace_id: w.workspace_id()?.to_string(),
        directory_id: w.directory_id().map(str::to_string),
        user_name: w.user_name().map(str::to_string),
        operating_system: w
            .workspace_properties()
            .and_then(|p| p.operating_system_name())
            .map(|os| os.as_str().to_string()),
        state: w.state().map(|s| s.as_str().to_string()),
        computer_name: w
            .computer_name()
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        location: at.clone(),
        // A standby WorkSpace lists its primary among its related WorkSpaces
        // (the type is the related one's; the API reference does not say more).
        standby: w.related_workspaces().iter().any(|r| {
            r.r#type()
                == Some(&aws_sdk_workspaces::types::StandbyWorkspaceRelationshipType::Primary)
        }),
    })
}

/// WorkSpaces in every served account and region: the home account with
/// the process's own credentials, each member account through its role
/// (`CODE42_MEMBER_ROLE`), one client per location built on first use.
pub struct AwsWorkspaces {
    home_sdk: aws_config::SdkConfig,
    member_role: String,
    home: tokio::sync::OnceCell<Location>,
    clients: Mutex<HashMap<Location, Arc<LocationClient>>>,
    /// The organization's active accounts and when they were listed.
    organization: tokio::sync::Mutex<Option<(std::time::Instant, Vec<String>)>>,
}

/// One location's client and what it remembers.
struct LocationClient {
    at: Location,
    client: aws_sdk_workspaces::Client,
    /// Directory DNS names do not change: cache for the container's life
    /// (filled by every directory listing; held across a look-up, so the
    /// WorkSpaces checked side by side ask once, not once each).
    directory_names: tokio::sync::Mutex<HashMap<String, Option<String>>>,
}

impl AwsWorkspaces {
    pub fn new(sdk: &aws_config::SdkConfig, member_role: impl Into<String>) -> Self {
        Self {
            home_sdk: sdk.clone(),
            member_role: member_role.into(),
            home: tokio::sync::OnceCell::new(),
            clients: Mutex::new(HashMap::new()),
            organization: tokio::sync::Mutex::new(None),
        }
    }

    /// Set the home account when it is known without asking STS (the
    /// Lambda's own ARN names it).
    pub fn with_home_account(self, account: &str) -> Self {
        if let Some(region) = self.home_sdk.region() {
            let _ = self.home.set(Location::new(account, region.as_ref()));
        }
        self
    }

    async fn client(&self, at: &Location) -> Result<Arc<LocationClient>, AwsError> {
        if let Some(client) = self.clients.lock().unwrap().get(at) {
            return Ok(client.clone());
        }
        let home = self.home().await?;
        let mut sdk = self
            .home_sdk
            .to_builder()
            .region(aws_config::Region::new(at.region.clone()));
        if at.account != home.account {
            sdk.set_credentials_provider(Some(self.member_credentials(at).await?));
        }
        let client = Arc::new(LocationClient {
            at: at.clone(),
            client: aws_sdk_workspaces::Client::new(&sdk.build()),
            directory_names: tokio::sync::Mutex::new(HashMap::new()),
        });
        self.clients
            .lock()
            .unwrap()
            .insert(at.clone(), client.clone());
        Ok(client)
    }

    /// Credentials of the member role in `at`'s account, refreshed by the
    /// client before they expire. Asked for once here, so that a role that
    /// cannot be assumed is said plainly, with its fix.
    async fn member_credentials(
        &self,
        at: &Location,
    ) -> Result<aws_sdk_workspaces::config::SharedCredentialsProvider, AwsError> {
        use aws_sdk_workspaces::config::ProvideCredentials;
        let role = member_role_arn(partition(&at.region), &at.account, &self.member_role);
        let provider = aws_config::sts::AssumeRoleProvider::builder(role.clone())
            .session_name("workspaces-code42")
            .configure(&self.home_sdk)
            .build()
            .await;
        if let Err(e) = provider.provide_credentials().await {
            return Err(AwsError {
                service: "STS",
                operation: "AssumeRole",
                detail: format!(
                    "cannot assume {role} ({}): deploy infra/member.yaml in account {} (the StackSet), or remove the account from CODE42_ACCOUNTS",
                    crate::error::chain(&e),
                    at.account
                ),
                retryable: false,
            });
        }
        Ok(aws_sdk_workspaces::config::SharedCredentialsProvider::new(
            provider,
        ))
    }

    /// Every active account, from `organizations:ListAccounts` (all pages).
    async fn list_organization_accounts(&self) -> Result<Vec<String>, AwsError> {
        use aws_sdk_organizations::types::AccountStatus;
        let client = aws_sdk_organizations::Client::new(&self.home_sdk);
        let mut pages = client.list_accounts().into_paginator().send();
        let mut accounts = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                let mut error = sdk_error("Organizations", "ListAccounts", e);
                if !error.retryable {
                    error.detail = format!(
                        "{}: CODE42_ACCOUNTS=organization lists the accounts with organizations:ListAccounts, which only the organization's management account or a delegated administrator may call; run there, or list the account ids",
                        error.detail
                    );
                }
                error
            })?;
            accounts.extend(
                page.accounts()
                    .iter()
                    .filter(|a| a.status() == Some(&AccountStatus::Active))
                    .filter_map(|a| a.id().map(str::to_string)),
            );
        }
        accounts.sort();
        Ok(accounts)
    }

    /// The home account, from STS `GetCallerIdentity` (asked once).
    async fn caller_account(&self) -> Result<String, AwsError> {
        let out = aws_sdk_sts::Client::new(&self.home_sdk)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| sdk_error("STS", "GetCallerIdentity", e))?;
        out.account().map(str::to_string).ok_or_else(|| AwsError {
            service: "STS",
            operation: "GetCallerIdentity",
            detail: "the answer names no account".into(),
            retryable: false,
        })
    }
}

fn aws_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    sdk_error("WorkSpaces", operation, err)
}

/// An SDK error as an `AwsError`: throttling, service and transport
/// failures are retryable; the service's code and message, never Debug text.
pub(crate) fn sdk_error<E, R>(
    service: &'static str,
    operation: &'static str,
    err: SdkError<E, R>,
) -> AwsError
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
        None => crate::error::chain(&err),
    };
    AwsError {
        service,
        operation,
        detail,
        retryable,
    }
}

impl LocationClient {
    /// The registered directories' ids, to list their WorkSpaces side by side;
    /// empty when they cannot be listed (the caller then lists without a filter).
    async fn directory_ids(&self) -> Vec<String> {
        match self.list_directories().await {
            Ok(dirs) => dirs.into_iter().map(|d| d.directory_id).collect(),
            Err(e) => {
                tracing::debug!(error = %e, "cannot list directories; listing WorkSpaces in one sequence");
                Vec::new()
            }
        }
    }

    async fn paginate(
        &self,
        request: aws_sdk_workspaces::operation::describe_workspaces::builders::DescribeWorkspacesFluentBuilder,
        found: &mut Vec<WorkspaceInfo>,
    ) -> Result<(), AwsError> {
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeWorkspaces", e))?;
            found.extend(page.workspaces().iter().filter_map(|w| info(w, &self.at)));
        }
        Ok(())
    }
}

impl LocationClient {
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
            .filter(|w| w.workspace_id() == Some(id.as_str()))
            .find_map(|w| info(w, &self.at)))
    }

    async fn list_workspaces(&self, filter: &FleetFilter) -> Result<Vec<WorkspaceInfo>, AwsError> {
        let mut found = Vec::new();
        // The API's filters are exclusive: ids alone, or a directory (+ user).
        if !filter.workspace_ids.is_empty() {
            for chunk in filter.workspace_ids.chunks(MAX_IDS_PER_CALL) {
                let ids = chunk.iter().map(|id| id.to_string()).collect();
                self.paginate(
                    self.client
                        .describe_workspaces()
                        .set_workspace_ids(Some(ids)),
                    &mut found,
                )
                .await?;
            }
        } else {
            let directories = match filter.directory_ids.as_slice() {
                [] => self.directory_ids().await,
                named => named.iter().map(|d| d.to_string()).collect(),
            };
            if directories.len() < 2 && filter.directory_ids.is_empty() {
                self.paginate(self.client.describe_workspaces(), &mut found)
                    .await?;
            } else {
                // Directories' pages are read concurrently, their results kept in order.
                let per_directory: Vec<Vec<WorkspaceInfo>> = stream::iter(directories)
                    .map(|directory| async move {
                        let mut listed = Vec::new();
                        let request = self
                            .client
                            .describe_workspaces()
                            .directory_id(directory)
                            .set_user_name(filter.user.clone());
                        self.paginate(request, &mut listed).await.map(|()| listed)
                    })
                    .buffered(DIRECTORIES_AT_ONCE)
                    .try_collect()
                    .await?;
                found = per_directory.concat();
            }
        }
        if let Some(user) = &filter.user {
            found.retain(|w| {
                w.user_name
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(user))
            });
        }
        Ok(found)
    }

    async fn list_directories(&self) -> Result<Vec<DirectoryInfo>, AwsError> {
        let mut found = Vec::new();
        let mut pages = self
            .client
            .describe_workspace_directories()
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeWorkspaceDirectories", e))?;
            found.extend(page.directories().iter().filter_map(|d| {
                Some(DirectoryInfo {
                    location: self.at.clone(),
                    directory_id: d.directory_id()?.to_string(),
                    name: d.directory_name().map(str::to_string),
                    kind: d.directory_type().map(|t| t.as_str().to_string()),
                })
            }));
        }
        let mut names = self.directory_names.lock().await;
        for d in &found {
            names.insert(d.directory_id.clone(), d.name.clone());
        }
        Ok(found)
    }

    async fn directory_name(&self, id: &DirectoryId) -> Result<Option<String>, AwsError> {
        let mut names = self.directory_names.lock().await;
        if let Some(name) = names.get(id.as_str()) {
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
            .ok_or_else(|| AwsError::directory_not_registered(id.as_str()))?
            .directory_name()
            .map(str::to_string);
        names.insert(id.to_string(), name.clone());
        Ok(name)
    }
}

impl Workspaces for AwsWorkspaces {
    async fn home(&self) -> Result<Location, AwsError> {
        self.home
            .get_or_try_init(|| async {
                let region = self.home_sdk.region().ok_or_else(|| AwsError {
                    service: "WorkSpaces",
                    operation: "configuration",
                    detail: "no AWS region is configured: set AWS_REGION or pass --region".into(),
                    retryable: false,
                })?;
                Ok(Location::new(self.caller_account().await?, region.as_ref()))
            })
            .await
            .cloned()
    }

    async fn organization_accounts(&self) -> Result<Vec<String>, AwsError> {
        let mut cached = self.organization.lock().await;
        if let Some((listed, accounts)) = cached.as_ref()
            && listed.elapsed() < ORGANIZATION_TTL
        {
            return Ok(accounts.clone());
        }
        let accounts = self.list_organization_accounts().await?;
        *cached = Some((std::time::Instant::now(), accounts.clone()));
        Ok(accounts)
    }

    async fn list_workspaces(
        &self,
        at: &Location,
        filter: &FleetFilter,
    ) -> Result<Vec<WorkspaceInfo>, AwsError> {
        self.client(at).await?.list_workspaces(filter).await
    }

    async fn describe_workspace(
        &self,
        at: &Location,
        id: &WorkspaceId,
    ) -> Result<Option<WorkspaceInfo>, AwsError> {
        self.client(at).await?.describe_workspace(id).await
    }

    async fn list_directories(&self, at: &Location) -> Result<Vec<DirectoryInfo>, AwsError> {
        self.client(at).await?.list_directories().await
    }

    async fn directory_name(
        &self,
        at: &Location,
        id: &DirectoryId,
    ) -> Result<Option<String>, AwsError> {
        self.client(at).await?.directory_name(id).await
    }
}

/// The Code42 secret, read from Secrets Manager.
pub struct SecretsManagerSource {
    client: aws_sdk_secretsmanager::Client,
    id: String,
}

impl SecretsManagerSource {
    pub fn new(sdk: &aws_config::SdkConfig, id: impl Into<String>) -> Self {
        Self {
            client: aws_sdk_secretsmanager::Client::new(sdk),
            id: id.into(),
        }
    }

    async fn secret_string(&self) -> Result<String, SecretError> {
        let id = &self.id;
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

impl SecretSource for SecretsManagerSource {
    fn fetch(&self) -> BoxFuture<'_, Result<String, SecretError>> {
        Box::pin(self.secret_string())
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
            detail: crate::error::chain(&err),
            retryable: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A tiny HTTP server answering DescribeWorkspaces in two pages (moto does
    /// not paginate). Returns its URL and the request bodies it saw.
    async fn two_page_server() -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let pages = [
            // One directory: its WorkSpaces are listed in one sequence.
            r#"{"Directories":[{"DirectoryId":"d-12345678","DirectoryName":"corp.example.com"}]}"#,
            r#"{"Workspaces":[{"WorkspaceId":"ws-page1","DirectoryId":"d-12345678","UserName":"a"}],"NextToken":"token-2"}"#,
            r#"{"Workspaces":[{"WorkspaceId":"ws-page2","DirectoryId":"d-12345678","UserName":"b"}]}"#,
        ];
        let server = tokio::spawn(async move {
            let mut bodies = Vec::new();
            let (mut socket, _) = listener.accept().await.unwrap();
            for page in pages {
                let mut buf = Vec::new();
                let body = loop {
                    let mut chunk = [0u8; 4096];
                    let n = socket.read(&mut chunk).await.unwrap();
                    assert!(n > 0, "client closed early");
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length: usize = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + length {
                            break text[end + 4..end + 4 + length].to_string();
                        }
                    }
                };
                bodies.push(body);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n{page}",
                    page.len()
                );
                socket.write_all(response.as_bytes()).await.unwrap();
            }
            bodies
        });
        (url, server)
    }

    #[tokio::test]
    async fn list_workspaces_follows_next_token_across_pages() {
        let (url, server) = two_page_server().await;
        let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .test_credentials()
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await;
        let at = Location::new("123456789012", "us-east-1");
        let found = AwsWorkspaces::new(&sdk, "Member")
            .with_home_account("123456789012")
            .list_workspaces(&at, &FleetFilter::default())
            .await
            .unwrap();
        let ids: Vec<_> = found.iter().map(|w| w.workspace_id.as_str()).collect();
        assert_eq!(ids, ["ws-page1", "ws-page2"]);
        let bodies = server.await.unwrap();
        assert!(!bodies[1].contains("NextToken"), "{}", bodies[1]);
        assert!(
            bodies[2].contains(r#""NextToken":"token-2""#),
            "{}",
            bodies[2]
        );
    }
}
