//! The Code42 API over HTTPS (reqwest): tokens, retries, and the few
//! resources this tool needs. Wire facts and their sources: reference
//! `code42-api.md`; uncertain ones are configurable (see `Config`).
//!
//! Retry policy (reference §7): 429 waits for `Retry-After` on every method,
//! but never past the invocation's deadline; 5xx and transport errors are
//! retried with backoff for GET/PUT and token requests only; a 401 gets one
//! fresh token (and, for a token kept in the secret, one re-read of the
//! secret) before it is an error. Moves are never blindly re-sent: the
//! caller re-reads the user first.

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, SystemTime};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio::time::Instant;
use url::Url;

use crate::config::{Config, SETTINGS_SPELLINGS, SettingsHost, SettingsRoute, SettingsToken};
use crate::domain::metrics::RequestStats;
use crate::domain::model::{Code42Agent, Code42Org, Code42User, Page};
use crate::domain::orgs::LegacyOrg;
use crate::domain::watch_paths::SettingSnapshot;
use crate::error::Code42Error;
use crate::ports::{Code42, Code42Service, SecretSource};
use crate::secret::{Code42Secret, Credentials, Redacted};

use super::traffic::{AdaptiveLimit, Signal, Traffic};

const MAX_ATTEMPTS: u32 = 3;
const MAX_RATE_LIMITED_ATTEMPTS: u32 = 4;
/// Full-jitter exponential backoff: a random wait up to BACKOFF × 2^(attempt-1), at most BACKOFF_CAP.
const BACKOFF: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// No Code42 answer this tool reads is near this size; a bigger one is refused.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Refresh tokens this long before Code42 says they expire.
const TOKEN_EARLY_REFRESH: Duration = Duration::from_secs(60);
/// Do not start a request with less time than this left.
const MIN_REQUEST_TIME: Duration = Duration::from_millis(250);
const PAGE_SIZE: usize = 100;
/// The incydr SDK's page size for `GET /v1/agents`.
const AGENT_PAGE_SIZE: usize = 500;
const MAX_PAGES: usize = 100;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TokenKind {
    Gateway,
    Console,
}

struct Token {
    value: Redacted,
    refresh_at: Instant,
}

/// Long-lived: one per process (a warm Lambda container keeps its tokens).
pub struct Code42Client {
    http: reqwest::Client,
    secret_id: String,
    allowed_hosts: Vec<String>,
    settings_host: SettingsHost,
    settings_token: SettingsToken,
    /// Spellings of the settings resource to try, in order.
    settings_paths: StdMutex<Vec<&'static str>>,
    request_timeout: Duration,
    /// One limit on requests per second for every task of the process.
    limiter: Option<DefaultDirectRateLimiter>,
    /// Requests in flight, adapted to the tenant's answers (AIMD).
    in_flight: AdaptiveLimit,
    traffic: Traffic,
    secrets: Arc<dyn SecretSource>,
    /// The parsed secret and when it was read (re-read after `secret_max_age`).
    secret: Mutex<Option<(Arc<Code42Secret>, Instant)>>,
    secret_max_age: Duration,
    gateway_token: Mutex<Option<Token>>,
    console_token: Mutex<Option<Token>>,
}

/// One invocation's view of the client: every call respects its deadline.
pub struct Code42Session<'a> {
    client: &'a Code42Client,
    deadline: Instant,
    /// The console resources' route, when not the configured one (`doctor`).
    route: Option<SettingsRoute>,
}

/// A response that is not a retried-away failure.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
}

impl Code42Client {
    pub fn new(config: &Config, secrets: Arc<dyn SecretSource>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            // A redirect is never followed: a 302 on POST .../move must not become a GET elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("workspaces-code42/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let settings_paths = match config.settings_path.as_deref() {
            Some("OrgSetting") => vec!["OrgSetting"],
            Some(_) => vec!["OrgSettings"],
            // The seed's spelling first, py42's as the fallback (reference §5a).
            None => SETTINGS_SPELLINGS.to_vec(),
        };
        Ok(Self {
            http,
            secret_id: config.secret_id.clone(),
            allowed_hosts: config.allowed_hosts.clone(),
            settings_host: config.settings_host,
            settings_token: config.settings_token,
            settings_paths: StdMutex::new(settings_paths),
            request_timeout: config.request_timeout,
            limiter: NonZeroU32::new(config.max_rps)
                .map(|rps| RateLimiter::direct(Quota::per_second(rps))),
            in_flight: AdaptiveLimit::new(config.concurrency),
            traffic: Traffic::default(),
            secrets,
            secret: Mutex::new(None),
            secret_max_age: config.secret_max_age,
            gateway_token: Mutex::new(None),
            console_token: Mutex::new(None),
        })
    }

    pub fn session(&self, deadline: Instant) -> Code42Session<'_> {
        Code42Session {
            client: self,
            deadline,
            route: None,
        }
    }

    /// The secret, re-read when asked (after a 401), and in any case once it
    /// is older than `secret_max_age`, so a rotation never needs a redeploy.
    async fn secret(&self, reload: bool) -> Result<Arc<Code42Secret>, Code42Error> {
        let mut cached = self.secret.lock().await;
        if let Some((secret, read_at)) = cached.as_ref()
            && !reload
            && read_at.elapsed() < self.secret_max_age
        {
            return Ok(secret.clone());
        }
        let raw = self.secrets.fetch().await?;
        let secret = Arc::new(Code42Secret::parse(
            &self.secret_id,
            &raw,
            &self.allowed_hosts,
        )?);
        if let Some((old, _)) = cached.as_ref()
            && old.credentials != secret.credentials
        {
            tracing::info!("the Code42 credentials in the secret changed; dropping cached tokens");
            *self.gateway_token.lock().await = None;
            *self.console_token.lock().await = None;
        }
        *cached = Some((secret.clone(), Instant::now()));
        Ok(secret)
    }

    fn token_slot(&self, kind: TokenKind) -> &Mutex<Option<Token>> {
        match kind {
            TokenKind::Gateway => &self.gateway_token,
            TokenKind::Console => &self.console_token,
        }
    }
}

impl Code42Service for Code42Client {
    type Session<'a> = Code42Session<'a>;
    fn session(&self, deadline: Instant) -> Code42Session<'_> {
        Code42Client::session(self, deadline)
    }
    fn session_on_route(&self, deadline: Instant, route: SettingsRoute) -> Code42Session<'_> {
        Code42Session {
            route: Some(route),
            ..Code42Client::session(self, deadline)
        }
    }
    fn take_stats(&self) -> RequestStats {
        self.traffic.take()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserDto {
    user_id: String,
    username: String,
    #[serde(default)]
    org_guid: Option<String>,
    #[serde(default)]
    org_name: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    blocked: Option<bool>,
}

impl From<UserDto> for Code42User {
    fn from(u: UserDto) -> Self {
        Code42User {
            user_id: u.user_id,
            username: u.username,
            org_guid: u.org_guid.unwrap_or_default(),
            org_name: u.org_name.unwrap_or_default(),
            active: u.active.unwrap_or(true),
            blocked: u.blocked.unwrap_or(false),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsersPage {
    #[serde(default)]
    users: Vec<UserDto>,
    #[serde(default)]
    total_count: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrgDto {
    org_guid: String,
    #[serde(default)]
    org_name: String,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    parent_org_guid: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentDto {
    agent_id: String,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    os_hostname: Option<String>,
    #[serde(default)]
    app_version: Option<String>,
    #[serde(default)]
    product_version: Option<String>,
    #[serde(default)]
    last_connected: Option<String>,
    #[serde(default)]
    agent_health_issue_types: Option<Vec<String>>,
    #[serde(default)]
    active: Option<bool>,
}

impl AgentDto {
    /// (user id, agent).
    fn into_agent(self) -> (String, Code42Agent) {
        (
            self.user_id.unwrap_or_default(),
            Code42Agent {
                agent_id: self.agent_id,
                name: self.name,
                os_hostname: self.os_hostname,
                app_version: self.app_version,
                product_version: self.product_version,
                last_connected: self.last_connected,
                health_issues: self.agent_health_issue_types.unwrap_or_default(),
                active: self.active.unwrap_or(true),
            },
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AgentsPage {
    #[serde(default)]
    agents: Vec<AgentDto>,
    #[serde(default)]
    total_count: Option<usize>,
}

#[derive(Deserialize)]
struct OrgsPage {
    #[serde(default)]
    orgs: Vec<OrgDto>,
}

impl Code42Session<'_> {
    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Sleep `wait` if that leaves time for another request.
    async fn wait_if_time_allows(&self, wait: Duration) -> bool {
        if wait + MIN_REQUEST_TIME >= self.remaining() {
            return false;
        }
        tokio::time::sleep(wait).await;
        true
    }

    /// Send with the 429 / 5xx / transport retry policy. Any other status is
    /// returned for the caller to interpret. `echo_body`: whether error
    /// messages may quote the response body (never for token requests).
    async fn send_retrying(
        &self,
        method: &Method,
        path: &str,
        retry_failures: bool,
        echo_body: bool,
        build: impl Fn(Duration) -> RequestBuilder,
    ) -> Result<Reply, Code42Error> {
        let mut attempt = 0;
        let mut rate_limited = 0;
        let mut sent = 0;
        let unreachable = |attempts: u32, detail: String| Code42Error::Unreachable {
            method: method.to_string(),
            path: path.to_string(),
            attempts,
            detail,
        };
        loop {
            attempt += 1;
            let remaining = self.remaining();
            if remaining < MIN_REQUEST_TIME {
                return Err(unreachable(
                    attempt - 1,
                    "the invocation ran out of time".to_string(),
                ));
            }
            if !self.rate_limit_permit().await {
                return Err(unreachable(
                    attempt - 1,
                    "the invocation ran out of time waiting for the client-side rate limit (CODE42_MAX_RPS)".to_string(),
                ));
            }
            if sent > 0 {
                // A re-send, after a failure or a rate-limit wait.
                self.client.traffic.retried();
            }
            sent += 1;
            let Ok(permit) = tokio::time::timeout_at(
                self.deadline
                    .checked_sub(MIN_REQUEST_TIME)
                    .unwrap_or(self.deadline),
                self.client.in_flight.acquire(),
            )
            .await
            else {
                return Err(unreachable(
                    attempt - 1,
                    "the invocation ran out of time waiting for a place among the requests in flight (CODE42_CONCURRENCY)".to_string(),
                ));
            };
            let timeout = self.remaining().min(self.client.request_timeout);
            let sent_at = Instant::now();
            let result = build(timeout).timeout(timeout).send().await;
            let backoff = full_jitter(attempt);
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    self.client.traffic.unanswered();
                    permit.report(Signal::Neutral);
                    drop(permit);
                    if retry_failures
                        && attempt < MAX_ATTEMPTS
                        && self.wait_if_time_allows(backoff).await
                    {
                        tracing::warn!(%method, path, attempt, error = transport_detail(e), "Code42 request failed; retrying");
                        continue;
                    }
                    return Err(unreachable(attempt, transport_detail(e)));
                }
            };
            let status = response.status();
            let latency = sent_at.elapsed();
            self.client.traffic.answered(status.as_u16(), latency);
            permit.report(
                if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                    Signal::Congested
                } else {
                    Signal::Answered(latency)
                },
            );
            if status == StatusCode::TOO_MANY_REQUESTS {
                drop(permit);
                rate_limited += 1;
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                let wait = rate_limit_wait(retry_after, sent);
                if rate_limited < MAX_RATE_LIMITED_ATTEMPTS && self.wait_if_time_allows(wait).await
                {
                    tracing::info!(%method, path, wait_ms = wait.as_millis() as u64, "Code42 rate limited; waiting as asked");
                    attempt -= 1; // a rate-limit wait is not a failed attempt
                    continue;
                }
                return Err(Code42Error::RateLimited {
                    method: method.to_string(),
                    path: path.to_string(),
                    retry_after: retry_after.map(|d| d.as_secs()),
                });
            }
            if status.is_redirection() {
                return Err(Code42Error::Redirected {
                    method: method.to_string(),
                    path: path.to_string(),
                    status: status.as_u16(),
                });
            }
            let body = read_bounded(response).await;
            drop(permit);
            let body = match body {
                Ok(b) => b,
                Err(BodyError::TooLarge) => {
                    return Err(protocol(
                        method,
                        path,
                        &format!("the response body is larger than {MAX_BODY_BYTES} bytes"),
                    ));
                }
                Err(BodyError::Transport(e)) => {
                    if retry_failures
                        && attempt < MAX_ATTEMPTS
                        && self.wait_if_time_allows(backoff).await
                    {
                        continue;
                    }
                    return Err(unreachable(attempt, transport_detail(e)));
                }
            };
            if status.is_server_error() {
                if retry_failures
                    && attempt < MAX_ATTEMPTS
                    && self.wait_if_time_allows(backoff).await
                {
                    tracing::warn!(%method, path, attempt, status = status.as_u16(), "Code42 server error; retrying");
                    continue;
                }
                return Err(Code42Error::Server {
                    method: method.to_string(),
                    path: path.to_string(),
                    status: status.as_u16(),
                    attempts: attempt,
                    excerpt: if echo_body {
                        excerpt(&body)
                    } else {
                        "(body withheld)".to_string()
                    },
                });
            }
            return Ok(Reply { status, body });
        }
    }

    /// The secret and a token of `kind`: cached until shortly before it
    /// expires. A token endpoint's 401 gets one re-read of the secret (the
    /// client secret may have been rotated) before it is an error.
    async fn token(&self, kind: TokenKind) -> Result<(Arc<Code42Secret>, Redacted), Code42Error> {
        let mut reloaded = false;
        loop {
            let secret = self.client.secret(reloaded).await?;
            let (client_id, client_secret) = match &secret.credentials {
                Credentials::Token(t) => return Ok((secret.clone(), t.clone())),
                Credentials::ApiClient { id, secret } => (id.clone(), secret.clone()),
            };
            let mut slot = self.client.token_slot(kind).lock().await;
            if let Some(token) = slot.as_ref().filter(|t| t.refresh_at > Instant::now()) {
                return Ok((secret, token.value.clone()));
            }
            match self
                .fetch_token(kind, &secret, &client_id, &client_secret)
                .await
            {
                Ok(token) => {
                    let value = token.value.clone();
                    *slot = Some(token);
                    return Ok((secret, value));
                }
                Err(Code42Error::Unauthorized { .. }) if !reloaded => {
                    tracing::info!(
                        ?kind,
                        "the token endpoint refused the credentials; re-reading the secret once"
                    );
                    *slot = None;
                    reloaded = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn fetch_token(
        &self,
        kind: TokenKind,
        secret: &Code42Secret,
        client_id: &str,
        client_secret: &Redacted,
    ) -> Result<Token, Code42Error> {
        let (url, path) = match kind {
            TokenKind::Gateway => (endpoint(&secret.api_url, &["v1", "oauth"]), "/v1/oauth"),
            TokenKind::Console => {
                let mut u = endpoint(&secret.console_url, &["api", "v3", "oauth", "token"]);
                u.query_pairs_mut()
                    .append_pair("grant_type", "client_credentials");
                (u, "/api/v3/oauth/token")
            }
        };
        let method = Method::POST;
        let reply = self
            .send_retrying(&method, path, true, false, |_| {
                self.client
                    .http
                    .post(url.clone())
                    .basic_auth(client_id, Some(client_secret.expose()))
                    .header("Accept", "application/json")
            })
            .await?;
        if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
            return Err(Code42Error::Unauthorized {
                secret_id: self.client.secret_id.clone(),
                what: format!("token request POST {path}"),
            });
        }
        if !reply.status.is_success() {
            // A token endpoint's body is never echoed: it may carry credentials.
            return Err(Code42Error::Rejected {
                method: method.to_string(),
                path: path.to_string(),
                status: reply.status.as_u16(),
                excerpt: "(body withheld)".to_string(),
            });
        }
        let value: Value = serde_json::from_slice(&reply.body)
            .map_err(|_| protocol(&method, path, "the token response is not JSON"))?;
        // py42 reads the console token from the root or under "data".
        let root = value
            .get("data")
            .filter(|d| d.is_object())
            .unwrap_or(&value);
        let access = root
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| protocol(&method, path, "no access_token in the token response"))?;
        // 15 minutes when Code42 does not say (reference §1c).
        let expires_in = Duration::from_secs(
            root.get("expires_in")
                .and_then(Value::as_u64)
                .unwrap_or(900),
        );
        let lifetime = expires_in
            .checked_sub(TOKEN_EARLY_REFRESH)
            .unwrap_or(expires_in / 2);
        tracing::debug!(
            ?kind,
            expires_in_s = expires_in.as_secs(),
            "fetched a Code42 token"
        );
        Ok(Token {
            value: Redacted::new(access),
            refresh_at: Instant::now() + lifetime,
        })
    }

    /// An authenticated API call. `settings`: a console resource (host and
    /// token per configuration) rather than a gateway one.
    async fn call(
        &self,
        method: Method,
        settings: bool,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, Code42Error> {
        let path = format!("/{}", segments.join("/"));
        let idempotent = method != Method::POST;
        let mut reauthenticated = false;
        loop {
            let (host, token_kind) = match self.route {
                Some(r) => (r.host, r.token),
                None => (self.client.settings_host, self.client.settings_token),
            };
            let kind = match (settings, token_kind) {
                (true, SettingsToken::Console) => TokenKind::Console,
                _ => TokenKind::Gateway,
            };
            let (secret, token) = self.token(kind).await?;
            let base = match (settings, host) {
                (true, SettingsHost::Console) => &secret.console_url,
                _ => &secret.api_url,
            };
            let url = endpoint(base, segments);
            let reply = self
                .send_retrying(&method, &path, idempotent, true, |_| {
                    let mut req = self
                        .client
                        .http
                        .request(method.clone(), url.clone())
                        .bearer_auth(token.expose())
                        .header("Accept", "application/json")
                        .query(query);
                    if let Some(body) = body {
                        req = req.json(body);
                    }
                    req
                })
                .await?;
            match reply.status {
                StatusCode::UNAUTHORIZED if !reauthenticated => {
                    reauthenticated = true;
                    *self.client.token_slot(kind).lock().await = None;
                    if matches!(secret.credentials, Credentials::Token(_)) {
                        // A token kept in the secret may have been rotated.
                        self.client.secret(true).await?;
                    }
                    tracing::debug!(%method, path, "Code42 answered 401; retrying once with a fresh token");
                }
                StatusCode::UNAUTHORIZED => {
                    return Err(Code42Error::Unauthorized {
                        secret_id: self.client.secret_id.clone(),
                        what: format!("{method} {path}"),
                    });
                }
                StatusCode::FORBIDDEN => {
                    return Err(Code42Error::Forbidden {
                        method: method.to_string(),
                        path,
                    });
                }
                s if s.is_success() => return Ok(reply),
                _ => return Err(rejected(&method, &path, &reply)),
            }
        }
    }

    async fn get_json(
        &self,
        settings: bool,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, Code42Error> {
        let reply = self
            .call(Method::GET, settings, segments, query, None)
            .await?;
        parse_json(
            &Method::GET,
            &format!("/{}", segments.join("/")),
            &reply.body,
        )
    }

    /// Try each configured spelling of the settings resource; remember the one that answers.
    async fn settings_call(
        &self,
        method: Method,
        org_id: i64,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, Code42Error> {
        let id = org_id.to_string();
        let spellings = match self.route {
            Some(route) => vec![route.spelling],
            None => self.client.settings_paths.lock().unwrap().clone(),
        };
        let mut last = None;
        for (i, spelling) in spellings.iter().enumerate() {
            match self
                .call(
                    method.clone(),
                    true,
                    &["api", "v1", spelling, &id],
                    query,
                    body,
                )
                .await
            {
                Err(Code42Error::Rejected { status: 404, .. }) if i + 1 < spellings.len() => {
                    tracing::info!(
                        spelling,
                        "settings resource not found under this spelling; trying the next"
                    );
                }
                Err(e) => {
                    last = Some(e);
                    break;
                }
                Ok(reply) => {
                    if i > 0 && self.route.is_none() {
                        *self.client.settings_paths.lock().unwrap() = vec![spelling];
                    }
                    return Ok(reply);
                }
            }
        }
        Err(last
            .unwrap_or_else(|| protocol(&method, "/api/v1/OrgSettings", "no spelling answered")))
    }
}

impl Code42 for Code42Session<'_> {
    async fn find_user(&self, username: &str) -> Result<Option<Code42User>, Code42Error> {
        // The server-side filter is not an exact match: page and compare ourselves.
        for page in 1..=MAX_PAGES {
            let value = self
                .get_json(
                    false,
                    &["v1", "users"],
                    &[
                        ("username", username.to_string()),
                        ("page", page.to_string()),
                        ("pageSize", PAGE_SIZE.to_string()),
                    ],
                )
                .await?;
            let users: UsersPage = from_value(&Method::GET, "/v1/users", value)?;
            let count = users.users.len();
            if let Some(user) = users
                .users
                .into_iter()
                .find(|u| u.username.eq_ignore_ascii_case(username))
            {
                return Ok(Some(user.into()));
            }
            if count < PAGE_SIZE {
                break;
            }
        }
        Ok(None)
    }

    async fn get_user(&self, user_id: &str) -> Result<Code42User, Code42Error> {
        let value = self.get_json(false, &["v1", "users", user_id], &[]).await?;
        let user: UserDto = from_value(&Method::GET, "/v1/users/{userId}", value)?;
        Ok(user.into())
    }

    async fn list_orgs(&self) -> Result<Vec<Code42Org>, Code42Error> {
        let value = self.get_json(false, &["v1", "orgs"], &[]).await?;
        let orgs: OrgsPage = from_value(&Method::GET, "/v1/orgs", value)?;
        Ok(orgs
            .orgs
            .into_iter()
            .map(|o| Code42Org {
                org_guid: o.org_guid,
                org_name: o.org_name,
                active: o.active.unwrap_or(true),
                parent_org_guid: o.parent_org_guid,
            })
            .collect())
    }

    async fn move_user(&self, user_id: &str, org_guid: &str) -> Result<(), Code42Error> {
        self.call(
            Method::POST,
            false,
            &["v1", "users", user_id, "move"],
            &[],
            Some(&json!({ "orgGuid": org_guid })),
        )
        .await
        .map(|_| ())
    }

    async fn list_agents(&self, user_id: &str) -> Result<Vec<Code42Agent>, Code42Error> {
        // As the incydr SDK queries them (reference §6).
        let mut agents = Vec::new();
        for page in 1..=MAX_PAGES {
            let value = self
                .get_json(
                    false,
                    &["v1", "agents"],
                    &[
                        ("userId", user_id.to_string()),
                        ("active", "true".to_string()),
                        ("srtKey", "NAME".to_string()),
                        ("srtDir", "ASC".to_string()),
                        ("pageSize", AGENT_PAGE_SIZE.to_string()),
                        ("page", page.to_string()),
                    ],
                )
                .await?;
            let found: AgentsPage = from_value(&Method::GET, "/v1/agents", value)?;
            let count = found.agents.len();
            agents.extend(found.agents.into_iter().map(|a| a.into_agent().1));
            if count < AGENT_PAGE_SIZE {
                break;
            }
        }
        Ok(agents)
    }

    async fn get_org_object(&self, legacy_org_id: i64) -> Result<Value, Code42Error> {
        // py42's query for the org's settings and device defaults (reference §5b).
        self.get_json(
            true,
            &["api", "v1", "Org", &legacy_org_id.to_string()],
            &[
                ("incSettings", "true".to_string()),
                ("incDeviceDefaults", "true".to_string()),
                ("incInheritedOrgInfo", "true".to_string()),
            ],
        )
        .await
    }

    async fn put_org_object(&self, legacy_org_id: i64, org: &Value) -> Result<(), Code42Error> {
        // As py42 sends it: the whole org, with deviceDefaults.settings carrying
        // the same serviceBackupConfig.
        let mut body = org.get("data").cloned().unwrap_or_else(|| org.clone());
        if let Some(backup) = body.pointer("/deviceDefaults/serviceBackupConfig").cloned()
            && let Some(defaults) = body
                .get_mut("deviceDefaults")
                .and_then(Value::as_object_mut)
        {
            defaults.insert("settings".into(), json!({ "serviceBackupConfig": backup }));
        }
        self.call(
            Method::PUT,
            true,
            &["api", "v1", "Org", &legacy_org_id.to_string()],
            &[],
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    async fn deactivate_agent(&self, agent_id: &str) -> Result<(), Code42Error> {
        self.call(
            Method::POST,
            false,
            &["v1", "agents", "deactivate"],
            &[],
            Some(&json!({ "agentIds": [agent_id] })),
        )
        .await
        .map(|_| ())
    }

    async fn list_users_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> Result<Page<Code42User>, Code42Error> {
        let value = self
            .get_json(
                false,
                &["v1", "users"],
                &[
                    ("page", page.to_string()),
                    ("pageSize", page_size.to_string()),
                ],
            )
            .await?;
        let users: UsersPage = from_value(&Method::GET, "/v1/users", value)?;
        Ok(Page {
            items: users.users.into_iter().map(Into::into).collect(),
            total: users.total_count,
        })
    }

    async fn list_agents_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> Result<Page<(String, Code42Agent)>, Code42Error> {
        let value = self
            .get_json(
                false,
                &["v1", "agents"],
                &[
                    ("active", "true".to_string()),
                    ("srtKey", "USER_ID".to_string()),
                    ("srtDir", "ASC".to_string()),
                    ("pageSize", page_size.to_string()),
                    ("page", page.to_string()),
                ],
            )
            .await?;
        let found: AgentsPage = from_value(&Method::GET, "/v1/agents", value)?;
        Ok(Page {
            items: found.agents.into_iter().map(AgentDto::into_agent).collect(),
            total: found.total_count,
        })
    }

    async fn legacy_orgs(&self) -> Result<Vec<LegacyOrg>, Code42Error> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let value = self
                .get_json(
                    true,
                    &["api", "v1", "Org"],
                    &[
                        ("pgNum", page.to_string()),
                        ("pgSize", PAGE_SIZE.to_string()),
                    ],
                )
                .await?;
            let data = value.get("data").unwrap_or(&value);
            let orgs = data
                .get("orgs")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let count = orgs.len();
            for org in orgs {
                let text = |k: &str| org.get(k).and_then(Value::as_str).map(str::to_string);
                // Seen both as a number and as a numeric string.
                let org_id = match org.get("orgId") {
                    Some(Value::Number(n)) => n.as_i64(),
                    Some(Value::String(s)) => s.parse().ok(),
                    _ => None,
                }
                .ok_or_else(|| protocol(&Method::GET, "/api/v1/Org", "org has no numeric orgId"))?;
                all.push(LegacyOrg {
                    org_id,
                    org_guid: text("orgGuid"),
                    org_uid: text("orgUid"),
                    org_name: text("orgName"),
                });
            }
            let total = data.get("totalCount").and_then(Value::as_u64);
            if count < PAGE_SIZE || total.is_some_and(|t| all.len() as u64 >= t) {
                break;
            }
        }
        Ok(all)
    }

    async fn get_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
    ) -> Result<Option<SettingSnapshot>, Code42Error> {
        let reply = self
            .settings_call(
                Method::GET,
                legacy_org_id,
                &[("keys", key.to_string())],
                None,
            )
            .await?;
        let path = "/api/v1/OrgSettings/{orgId}";
        let value = parse_json(&Method::GET, path, &reply.body)?;
        let data = value.get("data").unwrap_or(&value);
        let Some(setting) = data.get(key).filter(|s| !s.is_null()) else {
            return Ok(None);
        };
        let raw = match setting.get("value") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let locked = match setting.get("locked") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            _ => false,
        };
        let scope = setting
            .get("scope")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok(Some(SettingSnapshot::from_raw(&raw, locked, scope)))
    }

    async fn put_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
        items: &[String],
        locked: bool,
    ) -> Result<(), Code42Error> {
        let body = json!({ "packets": [{ "key": key, "value": items, "locked": locked }] });
        self.settings_call(Method::PUT, legacy_org_id, &[], Some(&body))
            .await
            .map(|_| ())
    }
}

impl Code42Session<'_> {
    /// Wait for the process-wide rate limit; false if that would pass the deadline.
    async fn rate_limit_permit(&self) -> bool {
        let Some(limiter) = &self.client.limiter else {
            return true;
        };
        let budget = self.remaining().saturating_sub(MIN_REQUEST_TIME);
        tokio::time::timeout(budget, limiter.until_ready())
            .await
            .is_ok()
    }
}

/// A transport error with its causes ("error sending request" alone does not
/// say whether the name, the connection or TLS failed), without the URL.
fn transport_detail(e: reqwest::Error) -> String {
    crate::error::chain(&e.without_url())
}

/// A random wait in [0, min(cap, base × 2^(attempt-1))] ("full jitter").
fn full_jitter(attempt: u32) -> Duration {
    let ceiling = BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(BACKOFF_CAP);
    ceiling.mul_f64(fastrand::f64())
}

/// How long to wait after a 429: as asked, else backed off by every send so
/// far, so a 429 storm waits longer each time (a rate-limit wait does not
/// count as a failed attempt: the attempt number alone would not grow).
fn rate_limit_wait(retry_after: Option<Duration>, sends: u32) -> Duration {
    retry_after.unwrap_or_else(|| full_jitter(sends))
}

/// `Retry-After` as delay-seconds or as an HTTP date (RFC 9110 §10.2.3). A
/// date already past says nothing useful (clock skew): None, so the caller
/// backs off instead of hammering at once.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    at.duration_since(now).ok().filter(|d| !d.is_zero())
}

enum BodyError {
    TooLarge,
    Transport(reqwest::Error),
}

/// The body, refused once it grows past MAX_BODY_BYTES.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `base` + path segments, each percent-encoded (ids cannot change the path).
fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    text.chars().take(300).collect()
}

fn rejected(method: &Method, path: &str, reply: &Reply) -> Code42Error {
    Code42Error::Rejected {
        method: method.to_string(),
        path: path.to_string(),
        status: reply.status.as_u16(),
        excerpt: excerpt(&reply.body),
    }
}

fn protocol(method: &Method, path: &str, detail: &str) -> Code42Error {
    Code42Error::Protocol {
        method: method.to_string(),
        path: path.to_string(),
        detail: detail.to_string(),
    }
}

fn parse_json(method: &Method, path: &str, body: &[u8]) -> Result<Value, Code42Error> {
    serde_json::from_slice(body).map_err(|e| protocol(method, path, &e.to_string()))
}

fn from_value<T: serde::de::DeserializeOwned>(
    method: &Method,
    path: &str,
    value: Value,
) -> Result<T, Code42Error> {
    serde_json::from_value(value).map_err(|e| protocol(method, path, &e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unreachable host says why ("connection refused"), not only
    /// "error sending request", and never its URL.
    #[tokio::test]
    async fn a_transport_error_names_its_cause() {
        // Bound and held but never listening: the port refuses connections
        // for as long as the test runs (no other process can take it).
        let reserved = tokio::net::TcpSocket::new_v4().unwrap();
        reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = reserved.local_addr().unwrap().port();
        let e = reqwest::get(format!("http://127.0.0.1:{port}/v1/oauth?secret=x"))
            .await
            .unwrap_err();
        let detail = transport_detail(e);
        assert!(
            detail.starts_with("error sending request")
                && detail.to_lowercase().contains("connection refused"),
            "{detail}"
        );
        assert!(
            !detail.contains("secret=x") && !detail.contains("127.0.0.1"),
            "{detail}"
        );
    }

    /// A loopback server answering every connection with `head` then `body_len`
    /// bytes of body (written in 64 KiB pieces; the client may stop reading).
    async fn serve_once(head: String, body_len: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(head.as_bytes()).await;
            let piece = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < body_len {
                let n = piece.len().min(body_len - sent);
                if stream.write_all(&piece[..n]).await.is_err() {
                    return;
                }
                sent += n;
            }
        });
        url
    }

    /// Bodies up to 4 MiB are read; a larger one is refused, whether its
    /// Content-Length says so up front or it just keeps coming.
    #[tokio::test]
    async fn response_bodies_are_bounded_at_4_mib() {
        let exact = serve_once(
            format!("HTTP/1.1 200 OK\r\ncontent-length: {MAX_BODY_BYTES}\r\n\r\n"),
            MAX_BODY_BYTES,
        )
        .await;
        let body = read_bounded(reqwest::get(exact).await.unwrap()).await;
        assert_eq!(body.ok().map(|b| b.len()), Some(MAX_BODY_BYTES));

        let declared = serve_once(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                MAX_BODY_BYTES + 1
            ),
            0,
        )
        .await;
        let body = read_bounded(reqwest::get(declared).await.unwrap()).await;
        assert!(matches!(body, Err(BodyError::TooLarge)));

        // No length given (read until close): refused once past the bound.
        let endless = serve_once(
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".into(),
            MAX_BODY_BYTES + 64 * 1024,
        )
        .await;
        let body = read_bounded(reqwest::get(endless).await.unwrap()).await;
        assert!(matches!(body, Err(BodyError::TooLarge)));
    }

    /// Counts reads; always answers the same secret.
    struct CountingSource(std::sync::atomic::AtomicU32);

    impl SecretSource for CountingSource {
        fn fetch(
            &self,
        ) -> futures::future::BoxFuture<'_, Result<String, crate::error::SecretError>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async { Ok(r#"{"api_url": "http://127.0.0.1:9", "token": "t"}"#.to_string()) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_secret_is_re_read_once_it_is_older_than_its_max_age() {
        let config = Config::from_lookup(|k| match k {
            "CODE42_SECRET_ID" => Some("s".into()),
            "CODE42_ORG" => Some("o".into()),
            "CODE42_SECRET_REFRESH_SECONDS" => Some("900".into()),
            _ => None,
        })
        .unwrap();
        let source = Arc::new(CountingSource(Default::default()));
        let client = Code42Client::new(&config, source.clone()).unwrap();
        let reads = || source.0.load(std::sync::atomic::Ordering::SeqCst);
        client.secret(false).await.unwrap();
        client.secret(false).await.unwrap();
        assert_eq!(reads(), 1, "cached while young");
        tokio::time::advance(Duration::from_secs(901)).await;
        client.secret(false).await.unwrap();
        assert_eq!(reads(), 2, "re-read after 15 minutes");
        client.secret(true).await.unwrap();
        assert_eq!(reads(), 3, "re-read on demand (a 401)");
    }

    #[test]
    fn endpoint_encodes_segments_and_keeps_base_path() {
        let base = Url::parse("https://api.us.code42.com").unwrap();
        assert_eq!(
            endpoint(&base, &["v1", "users", "a/b?c", "move"]).as_str(),
            "https://api.us.code42.com/v1/users/a%2Fb%3Fc/move"
        );
        let prefixed = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(
            endpoint(&prefixed, &["v1", "orgs"]).as_str(),
            "http://127.0.0.1:9/prefix/v1/orgs"
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date already past (or now): the backoff decides, not zero.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn a_429_storm_without_retry_after_waits_longer_each_time() {
        let max_of = |sends| {
            (0..300)
                .map(|_| rate_limit_wait(None, sends))
                .max()
                .unwrap()
        };
        assert!(max_of(1) <= BACKOFF);
        // The fourth 429 in a row may wait up to 1.6 s (it stayed under 200 ms).
        assert!(max_of(4) > 2 * BACKOFF, "{:?}", max_of(4));
        assert!(max_of(4) <= 8 * BACKOFF);
        let asked = Duration::from_secs(3);
        assert_eq!(rate_limit_wait(Some(asked), 4), asked);
    }

    #[test]
    fn backoff_grows_with_the_attempt_and_is_capped() {
        let max_of = |attempt| (0..200).map(|_| full_jitter(attempt)).max().unwrap();
        assert!(max_of(1) <= BACKOFF);
        assert!(max_of(4) > BACKOFF, "attempt 4 may wait up to 1.6 s");
        assert!(max_of(30) <= BACKOFF_CAP);
    }

    #[test]
    fn excerpt_is_bounded() {
        assert_eq!(excerpt(b"  "), "(empty body)");
        assert_eq!(excerpt(&[b'x'; 1000]).len(), 300);
    }
}
