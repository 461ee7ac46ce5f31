//! The Code42 API over HTTPS (reqwest), by concern: `credentials` (the
//! secret and tokens), `transport` (limits, the retry policy, bounded
//! bodies), `api` (authenticated calls), `wire` (the JSON shapes), and one module per resource: `users`,
//! `orgs`, `agents`, `settings`, `device_defaults`. Wire facts and their
//! sources: reference `code42-api.md`; uncertain ones are configurable (see
//! `Config`).

use std::num::NonZeroU32;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::{
    Code42Settings, SETTINGS_SPELLINGS, SettingsHost, SettingsRoute, SettingsToken,
};
use crate::domain::metrics::RequestStats;
use crate::ports::{Code42Service, SecretSource};
use crate::secret::Code42Secret;

use super::traffic::{AdaptiveLimit, Traffic};

mod agents;
mod api;
mod credentials;
mod device_defaults;
mod orgs;
mod settings;
mod transport;
mod users;
mod wire;

use credentials::Token;

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
    users_page_size: usize,
    agents_page_size: usize,
}

/// One invocation's view of the client: every call respects its deadline.
pub struct Code42Session<'a> {
    client: &'a Code42Client,
    deadline: Instant,
    /// The console resources' route, when not the configured one (`doctor`).
    route: Option<SettingsRoute>,
}

impl Code42Client {
    pub fn new(
        config: &Code42Settings,
        secrets: Arc<dyn SecretSource>,
    ) -> Result<Self, reqwest::Error> {
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
            users_page_size: config.users_page_size,
            agents_page_size: config.agents_page_size,
        })
    }

    pub fn session(&self, deadline: Instant) -> Code42Session<'_> {
        Code42Session {
            client: self,
            deadline,
            route: None,
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
