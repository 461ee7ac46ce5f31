//! The Code42 connection's section: the secret, the hosts it may name, the
//! console resources' route, and the client's limits.

use std::time::Duration;

use crate::error::ConfigError;

use super::vars::Vars;

/// Which host serves the console (legacy `/api/v1/...`) resources.
/// Uncertain (reference §10): the console host per py42 and the support
/// articles; newer articles point at the API gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsHost {
    Console,
    Api,
}

impl SettingsHost {
    /// The `CODE42_SETTINGS_HOST` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingsHost::Console => "console",
            SettingsHost::Api => "api",
        }
    }
}

impl SettingsToken {
    /// The `CODE42_SETTINGS_TOKEN` value.
    pub fn as_str(self) -> &'static str {
        match self {
            SettingsToken::Console => "console",
            SettingsToken::Gateway => "gateway",
        }
    }
}

/// Which token the console resources accept (reference §8, §10: uncertain).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsToken {
    /// `POST {console}/api/v3/oauth/token?grant_type=client_credentials` (py42).
    Console,
    /// The gateway's `POST /v1/oauth` token.
    Gateway,
}

/// The spellings of the settings resource (reference §5a): the seed's, then py42's.
pub const SETTINGS_SPELLINGS: [&str; 2] = ["OrgSettings", "OrgSetting"];

/// One way to reach the console resources: host, token and spelling.
/// `doctor` tries each; the configuration names one (or leaves the spelling open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsRoute {
    pub host: SettingsHost,
    pub token: SettingsToken,
    pub spelling: &'static str,
}

impl SettingsRoute {
    /// The environment that selects this route.
    pub fn as_env(&self) -> String {
        format!(
            "CODE42_SETTINGS_HOST={} CODE42_SETTINGS_TOKEN={} CODE42_SETTINGS_PATH={}",
            self.host.as_str(),
            self.token.as_str(),
            self.spelling
        )
    }

    /// Whether the configuration would use this route (an unset spelling tries both).
    pub fn is_configured(&self, config: &Code42Settings) -> bool {
        self.host == config.settings_host
            && self.token == config.settings_token
            && config
                .settings_path
                .as_deref()
                .is_none_or(|p| p == self.spelling)
    }

    /// Every route, the configured ones first.
    pub fn candidates(config: &Code42Settings) -> Vec<SettingsRoute> {
        let mut all = Vec::new();
        for host in [SettingsHost::Console, SettingsHost::Api] {
            for token in [SettingsToken::Console, SettingsToken::Gateway] {
                for spelling in SETTINGS_SPELLINGS {
                    all.push(SettingsRoute {
                        host,
                        token,
                        spelling,
                    });
                }
            }
        }
        all.sort_by_key(|r| !r.is_configured(config));
        all
    }
}

/// How the Code42 client connects and how hard it may push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code42Settings {
    pub secret_id: String,
    /// Extra hosts allowed for Code42 URLs besides *.code42.com and loopback.
    pub allowed_hosts: Vec<String>,
    pub settings_host: SettingsHost,
    pub settings_token: SettingsToken,
    /// `OrgSettings` (seed) or `OrgSetting` (py42); None = try both.
    pub settings_path: Option<String>,
    pub request_timeout: Duration,
    /// Code42 requests per second for the whole process (0: no client-side limit).
    pub max_rps: u32,
    /// WorkSpaces handled at once within one invocation, and the most Code42
    /// requests in flight (that bound adapts between 1 and this: AIMD).
    pub concurrency: usize,
    /// The secret is re-read at least this often (credential rotation).
    pub secret_max_age: Duration,
    /// The incydr SDK's own page sizes; no larger maximum is documented.
    pub users_page_size: usize,
    pub agents_page_size: usize,
}

impl Code42Settings {
    pub(super) fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let settings_host = vars
            .choice(
                "CODE42_SETTINGS_HOST",
                &[
                    ("console", SettingsHost::Console),
                    ("api", SettingsHost::Api),
                ],
            )?
            .unwrap_or(SettingsHost::Console);
        let settings_token = vars
            .choice(
                "CODE42_SETTINGS_TOKEN",
                &[
                    ("console", SettingsToken::Console),
                    ("gateway", SettingsToken::Gateway),
                ],
            )?
            .unwrap_or(SettingsToken::Console);
        // Unset tries both spellings; set, the canonical spelling is used.
        let settings_path = vars
            .choice(
                "CODE42_SETTINGS_PATH",
                &[("OrgSettings", "OrgSettings"), ("OrgSetting", "OrgSetting")],
            )?
            .map(str::to_string);
        Ok(Self {
            secret_id: vars.required(
                "CODE42_SECRET_ID",
                "set it to the name or ARN of the Secrets Manager secret holding the Code42 API client",
            )?,
            allowed_hosts: vars
                .list("CODE42_ALLOWED_HOSTS")
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            settings_host,
            settings_token,
            settings_path,
            request_timeout: vars.seconds("CODE42_REQUEST_TIMEOUT_SECONDS", 1)?,
            max_rps: vars.number("CODE42_MAX_RPS", 0)?.min(u32::MAX as u64) as u32,
            concurrency: vars.number("CODE42_CONCURRENCY", 1)? as usize,
            secret_max_age: vars.seconds("CODE42_SECRET_REFRESH_SECONDS", 1)?,
            users_page_size: vars.number("CODE42_USERS_PAGE_SIZE", 1)? as usize,
            agents_page_size: vars.number("CODE42_AGENTS_PAGE_SIZE", 1)? as usize,
        })
    }
}
