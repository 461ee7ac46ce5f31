//! Configuration, read once at start-up from the environment and validated.

use std::time::Duration;

use crate::domain::coverage::Code42Plan;
use crate::domain::metrics::DEFAULT_NAMESPACE;
use crate::domain::model::DEFAULT_MAX_MOVES;
use crate::domain::policy::{BackupFileSelection, OrgPolicy, WatchPaths};
use crate::domain::username::UsernameMapping;
use crate::error::ConfigError;

/// Code42 publishes no rate limits for these endpoints: a conservative
/// per-process default (a fleet run at concurrency 4 with 50 ms per call would
/// make about 80 requests per second).
pub const DEFAULT_MAX_RPS: u32 = 50;

/// WorkSpaces at once, and the ceiling of Code42 requests in flight: the
/// rate limiter and the adaptive bound (which starts at 4) protect the tenant.
pub const DEFAULT_CONCURRENCY: u64 = 16;

pub const DEFAULT_WATCH_PATHS_KEY: &str = "device_fileForensics_watchPaths_included";

/// `verify` reads everything and writes nothing. It is a ceiling: nothing in
/// an event or payload can lift a verify deployment to `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Apply,
    Verify,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Apply => "apply",
            Mode::Verify => "verify",
        }
    }
}

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

/// Every variable the configuration reads, with a line of help (the CLI's
/// `--help` lists them; the README's table says more).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "CODE42_SECRET_ID",
        "(required) Secrets Manager secret with the Code42 API client",
    ),
    (
        "CODE42_ORG",
        "(required) the WorkSpaces org: orgGuid or exact name",
    ),
    ("CODE42_ORG_ID", "its numeric id [default: looked up]"),
    ("CODE42_MODE", "apply | verify (a ceiling) [default: apply]"),
    (
        "CODE42_PLAN",
        "professional|enterprise|horizon|gov-f2|basic|advanced|gov-f1",
    ),
    (
        "CODE42_USERNAME_TEMPLATE",
        "[default: {user}@{directory_name}]",
    ),
    (
        "CODE42_USERNAME_DOMAIN",
        "fixed UPN suffix: {user}@{domain}",
    ),
    ("CODE42_WATCH_PATHS", "[default: :main,D:]"),
    (
        "CODE42_WATCH_PATHS_KEY",
        "[default: device_fileForensics_watchPaths_included]",
    ),
    ("CODE42_MOVE_FROM_ORGS", "move users only out of these orgs"),
    (
        "CODE42_PROTECTED_ORGS",
        "never move users out of these orgs",
    ),
    (
        "CODE42_MOVE_WITH_OTHER_DEVICES",
        "move | skip [default: move]",
    ),
    (
        "CODE42_DEACTIVATE_ON_TERMINATE",
        "true | false [default: false]",
    ),
    (
        "CODE42_DEACTIVATE_WITH_BACKUP",
        "true | false [default: false]; deactivate on backup plans too (sends the WorkSpace's only backup to cold storage)",
    ),
    ("CODE42_SETTINGS_HOST", "console | api [default: console]"),
    (
        "CODE42_SETTINGS_TOKEN",
        "console | gateway [default: console]",
    ),
    (
        "CODE42_SETTINGS_PATH",
        "OrgSettings | OrgSetting [default: both]",
    ),
    (
        "CODE42_ALLOWED_HOSTS",
        "extra hosts allowed in the secret's URLs",
    ),
    (
        "CODE42_BACKUP_PATHS",
        "Basic/Advanced/Gov F1 backup paths [default: D:/Users/]",
    ),
    ("CODE42_BACKUP_BREAK_INHERITANCE", "[default: false]"),
    ("CODE42_BACKUP_PUBLISH", "[default: false]"),
    ("CODE42_MAX_MOVES", "moves one run may make [default: 25]"),
    (
        "CODE42_MAX_RPS",
        "Code42 requests per second, 0 = no limit [default: 50]",
    ),
    (
        "CODE42_CONCURRENCY",
        "WorkSpaces at once; ceiling of requests in flight [default: 16]",
    ),
    (
        "CODE42_BULK_THRESHOLD",
        "bulk reads from this many WorkSpaces [default: 200]",
    ),
    ("CODE42_USERS_PAGE_SIZE", "[default: 100]"),
    ("CODE42_AGENTS_PAGE_SIZE", "[default: 500]"),
    ("CODE42_REQUEST_TIMEOUT_SECONDS", "[default: 20]"),
    ("CODE42_ORG_CHECK_TTL_SECONDS", "[default: 300]"),
    ("CODE42_SECRET_REFRESH_SECONDS", "[default: 900]"),
    ("CODE42_DEFERRED_DELAY_SECONDS", "[default: 900]"),
    ("CODE42_DEFERRED_ATTEMPTS", "[default: 8]"),
    ("CODE42_START_MARGIN_SECONDS", "[default: 5]"),
    ("CODE42_METRICS_NAMESPACE", "[default: WorkspacesCode42]"),
    ("WORK_QUEUE_URL", "the SQS work queue (fan-out)"),
    ("WORKSPACES_DESCRIBE_ATTEMPTS", "[default: 4]"),
    ("WORKSPACES_DESCRIBE_BACKOFF_MS", "[default: 500]"),
];

/// `ENVIRONMENT` as a help section.
pub fn environment_help() -> String {
    let width = ENVIRONMENT.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::from("Environment (as for the Lambda; the README has the details):\n");
    for (name, help) in ENVIRONMENT {
        text.push_str(&format!("  {name:width$}  {help}\n"));
    }
    text
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
    pub fn is_configured(&self, config: &Config) -> bool {
        self.host == config.settings_host
            && self.token == config.settings_token
            && config
                .settings_path
                .as_deref()
                .is_none_or(|p| p == self.spelling)
    }

    /// Every route, the configured ones first.
    pub fn candidates(config: &Config) -> Vec<SettingsRoute> {
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub secret_id: String,
    /// orgGuid or exact org name of the WorkSpaces org.
    pub org: String,
    /// The console's numeric org id, when known; else looked up.
    pub org_legacy_id: Option<i64>,
    pub mode: Mode,
    pub username: UsernameMapping,
    pub watch_paths: Vec<String>,
    pub watch_paths_key: String,
    /// If non-empty, users are moved only out of these orgs (guids or names).
    pub move_from_orgs: Vec<String>,
    /// Users are never moved out of these orgs (guids or names).
    pub protected_orgs: Vec<String>,
    pub settings_host: SettingsHost,
    pub settings_token: SettingsToken,
    /// `OrgSettings` (seed) or `OrgSetting` (py42); None = try both.
    pub settings_path: Option<String>,
    /// Extra hosts allowed for Code42 URLs besides *.code42.com and loopback.
    pub allowed_hosts: Vec<String>,
    pub org_check_ttl: Duration,
    pub request_timeout: Duration,
    pub describe_attempts: u32,
    pub describe_backoff: Duration,
    /// WorkSpaces handled at once within one invocation, and the most Code42
    /// requests in flight (that bound adapts between 1 and this: AIMD).
    pub concurrency: usize,
    /// The function's SQS work queue, for fleet fan-out.
    pub work_queue_url: Option<String>,
    /// Moves one run may make (or queue) at most; payloads and flags may set their own.
    pub max_moves: usize,
    /// Code42 requests per second for the whole process (0: no client-side limit).
    pub max_rps: u32,
    /// The secret is re-read at least this often (credential rotation).
    pub secret_max_age: Duration,
    /// A WorkSpace whose user is not in Code42 yet is re-queued after this delay…
    pub deferred_delay: Duration,
    /// …at most this many times, then left to the schedule.
    pub deferred_attempts: u32,
    /// A WorkSpace is not begun with less time than this left in the invocation.
    pub start_margin: Duration,
    /// The Incydr plan: the agents' minimum version (None: versions are not checked).
    pub plan: Option<Code42Plan>,
    /// `CODE42_MOVE_WITH_OTHER_DEVICES=skip`: never move a user whose other devices would move too.
    pub skip_with_other_devices: bool,
    /// Deactivate the agent of a terminated WorkSpace.
    pub deactivate_on_terminate: bool,
    /// Deactivate on plans with backup too: the device's archive goes to
    /// cold storage for eventual deletion, and for a terminated WorkSpace it
    /// is the only copy of `D:\Users\`.
    pub deactivate_with_backup: bool,
    /// Paths the backup file selection must include (Basic, Advanced, Gov F1).
    pub backup_paths: Vec<String>,
    /// Write the org's own device defaults even when it inherits them.
    pub backup_break_inheritance: bool,
    /// Ask existing devices to take the new defaults (unverified flags).
    pub backup_publish: bool,
    /// From this many WorkSpaces on, a planning pass reads users and agents in bulk.
    pub bulk_threshold: usize,
    pub users_page_size: usize,
    pub agents_page_size: usize,
    /// The CloudWatch namespace of the Lambda's embedded-metric records.
    pub metrics_namespace: String,
}

impl Config {
    /// The org's desired state, in the order it is checked (watch paths first).
    /// The backup file selection is managed only on plans whose guide step
    /// includes it (Basic, Advanced, Gov F1).
    pub fn org_policies(&self) -> Vec<Box<dyn OrgPolicy>> {
        let mut policies: Vec<Box<dyn OrgPolicy>> = vec![Box::new(WatchPaths {
            key: self.watch_paths_key.clone(),
            paths: self.watch_paths.clone(),
        })];
        if self.plan.is_some_and(|p| p.manages_backup()) {
            policies.push(Box::new(BackupFileSelection {
                paths: self.backup_paths.clone(),
                break_inheritance: self.backup_break_inheritance,
                publish: self.backup_publish,
            }));
        }
        policies
    }

    /// A deployed function's environment under the local one: local values
    /// win (returned as the overridden names), except that a deployed
    /// `verify` mode stays a ceiling.
    pub fn from_deployed(
        deployed: &std::collections::HashMap<String, String>,
        local: impl Fn(&str) -> Option<String>,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let local = |k: &str| local(k).filter(|v| !v.trim().is_empty());
        let mut overridden: Vec<String> = deployed
            .keys()
            .filter(|k| local(k).is_some())
            .cloned()
            .collect();
        overridden.sort();
        let mut config = Self::from_lookup(|k| local(k).or_else(|| deployed.get(k).cloned()))?;
        if deployed
            .get("CODE42_MODE")
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("verify"))
        {
            config.mode = Mode::Verify;
        }
        Ok((config, overridden))
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Build from any key lookup (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let secret_id = get("CODE42_SECRET_ID").ok_or(ConfigError::Missing {
            var: "CODE42_SECRET_ID",
            hint: "set it to the name or ARN of the Secrets Manager secret holding the Code42 API client",
        })?;
        let org = get("CODE42_ORG").ok_or(ConfigError::Missing {
            var: "CODE42_ORG",
            hint: "set it to the orgGuid or exact name of the Code42 org for WorkSpaces users",
        })?;
        let org_legacy_id = get("CODE42_ORG_ID")
            .map(|v| {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ConfigError::Invalid {
                        var: "CODE42_ORG_ID",
                        reason: "must be the positive number from the console's organization URL"
                            .to_string(),
                    })
            })
            .transpose()?;
        let mode = choice(
            &get,
            "CODE42_MODE",
            &[("apply", Mode::Apply), ("verify", Mode::Verify)],
        )?
        .unwrap_or(Mode::Apply);
        let username = UsernameMapping::new(
            get("CODE42_USERNAME_TEMPLATE"),
            get("CODE42_USERNAME_DOMAIN"),
        )
        .map_err(|reason| ConfigError::Invalid {
            var: "CODE42_USERNAME_TEMPLATE",
            reason,
        })?;
        let watch_paths = get("CODE42_WATCH_PATHS")
            .map(|v| list(&v))
            .unwrap_or_else(|| vec![":main".to_string(), "D:".to_string()]);
        if watch_paths.is_empty() || watch_paths.iter().any(|p| p.contains('\'')) {
            return Err(ConfigError::Invalid {
                var: "CODE42_WATCH_PATHS",
                reason: "must be a comma-separated list of paths without quotes, e.g. :main,D:"
                    .to_string(),
            });
        }
        let watch_paths_key =
            get("CODE42_WATCH_PATHS_KEY").unwrap_or_else(|| DEFAULT_WATCH_PATHS_KEY.to_string());
        if !watch_paths_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(ConfigError::Invalid {
                var: "CODE42_WATCH_PATHS_KEY",
                reason: "must be a setting key of letters, digits, '_', '.' or '-'".to_string(),
            });
        }
        let settings_host = choice(
            &get,
            "CODE42_SETTINGS_HOST",
            &[
                ("console", SettingsHost::Console),
                ("api", SettingsHost::Api),
            ],
        )?
        .unwrap_or(SettingsHost::Console);
        let settings_token = choice(
            &get,
            "CODE42_SETTINGS_TOKEN",
            &[
                ("console", SettingsToken::Console),
                ("gateway", SettingsToken::Gateway),
            ],
        )?
        .unwrap_or(SettingsToken::Console);
        // Unset tries both spellings; set, the canonical spelling is used.
        let settings_path = choice(
            &get,
            "CODE42_SETTINGS_PATH",
            &[("OrgSettings", "OrgSettings"), ("OrgSetting", "OrgSetting")],
        )?
        .map(str::to_string);
        Ok(Config {
            secret_id,
            org,
            org_legacy_id,
            mode,
            username,
            watch_paths,
            watch_paths_key,
            move_from_orgs: get("CODE42_MOVE_FROM_ORGS")
                .map(|v| list(&v))
                .unwrap_or_default(),
            protected_orgs: get("CODE42_PROTECTED_ORGS")
                .map(|v| list(&v))
                .unwrap_or_default(),
            settings_host,
            settings_token,
            settings_path,
            allowed_hosts: get("CODE42_ALLOWED_HOSTS")
                .map(|v| {
                    list(&v)
                        .into_iter()
                        .map(|h| h.to_ascii_lowercase())
                        .collect()
                })
                .unwrap_or_default(),
            org_check_ttl: Duration::from_secs(number(
                &get,
                "CODE42_ORG_CHECK_TTL_SECONDS",
                300,
                0,
            )?),
            request_timeout: Duration::from_secs(number(
                &get,
                "CODE42_REQUEST_TIMEOUT_SECONDS",
                20,
                1,
            )?),
            describe_attempts: number(&get, "WORKSPACES_DESCRIBE_ATTEMPTS", 4, 1)? as u32,
            describe_backoff: Duration::from_millis(number(
                &get,
                "WORKSPACES_DESCRIBE_BACKOFF_MS",
                500,
                0,
            )?),
            concurrency: number(&get, "CODE42_CONCURRENCY", DEFAULT_CONCURRENCY, 1)? as usize,
            work_queue_url: get("WORK_QUEUE_URL"),
            max_moves: number(&get, "CODE42_MAX_MOVES", DEFAULT_MAX_MOVES as u64, 0)? as usize,
            max_rps: number(&get, "CODE42_MAX_RPS", DEFAULT_MAX_RPS as u64, 0)?.min(u32::MAX as u64)
                as u32,
            deferred_delay: Duration::from_secs(
                number(&get, "CODE42_DEFERRED_DELAY_SECONDS", 900, 0)?.min(900),
            ),
            deferred_attempts: number(&get, "CODE42_DEFERRED_ATTEMPTS", 8, 0)?.min(1000) as u32,
            start_margin: Duration::from_secs(number(&get, "CODE42_START_MARGIN_SECONDS", 5, 0)?),
            backup_paths: get("CODE42_BACKUP_PATHS")
                .map(|v| list(&v))
                .unwrap_or_else(|| vec!["D:/Users/".to_string()]),
            backup_break_inheritance: flag(&get, "CODE42_BACKUP_BREAK_INHERITANCE")?,
            backup_publish: flag(&get, "CODE42_BACKUP_PUBLISH")?,
            bulk_threshold: number(&get, "CODE42_BULK_THRESHOLD", 200, 1)? as usize,
            // The incydr SDK's own page sizes; no larger maximum is documented.
            users_page_size: number(&get, "CODE42_USERS_PAGE_SIZE", 100, 1)? as usize,
            agents_page_size: number(&get, "CODE42_AGENTS_PAGE_SIZE", 500, 1)? as usize,
            metrics_namespace: get("CODE42_METRICS_NAMESPACE")
                .unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
            deactivate_on_terminate: flag(&get, "CODE42_DEACTIVATE_ON_TERMINATE")?,
            deactivate_with_backup: flag(&get, "CODE42_DEACTIVATE_WITH_BACKUP")?,
            skip_with_other_devices: choice(
                &get,
                "CODE42_MOVE_WITH_OTHER_DEVICES",
                &[("move", false), ("skip", true)],
            )?
            .unwrap_or(false),
            plan: get("CODE42_PLAN")
                .map(|p| {
                    Code42Plan::parse(&p).ok_or_else(|| ConfigError::Invalid {
                        var: "CODE42_PLAN",
                        reason: format!("must be one of {}", Code42Plan::NAMES.join(", ")),
                    })
                })
                .transpose()?,
            secret_max_age: Duration::from_secs(number(
                &get,
                "CODE42_SECRET_REFRESH_SECONDS",
                900,
                1,
            )?),
        })
    }
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn flag(get: &impl Fn(&str) -> Option<String>, var: &'static str) -> Result<bool, ConfigError> {
    Ok(choice(get, var, &[("false", false), ("true", true)])?.unwrap_or(false))
}

/// The one parsing rule for every enumerated value: one of `options`,
/// compared case-insensitively and trimmed; None when unset.
fn choice<T: Copy>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    options: &[(&str, T)],
) -> Result<Option<T>, ConfigError> {
    let Some(value) = get(var) else {
        return Ok(None);
    };
    options
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value.trim()))
        .map(|(_, v)| Some(*v))
        .ok_or_else(|| {
            let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
            ConfigError::Invalid {
                var,
                reason: format!("must be {}", names.join(" or ")),
            }
        })
}

fn number(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: u64,
    min: u64,
) -> Result<u64, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(v) => {
            v.parse::<u64>()
                .ok()
                .filter(|n| *n >= min)
                .ok_or_else(|| ConfigError::Invalid {
                    var,
                    reason: format!("must be a whole number >= {min}"),
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const BASE: [(&str, &str); 2] = [
        ("CODE42_SECRET_ID", "code42/api"),
        ("CODE42_ORG", "WorkSpaces"),
    ];

    #[test]
    fn defaults() {
        let c = config(&BASE).unwrap();
        assert_eq!(c.mode, Mode::Apply);
        assert_eq!(c.watch_paths, vec![":main", "D:"]);
        assert_eq!(c.watch_paths_key, DEFAULT_WATCH_PATHS_KEY);
        assert_eq!(c.org_check_ttl, Duration::from_secs(300));
        assert_eq!(c.settings_host, SettingsHost::Console);
        assert_eq!(c.settings_token, SettingsToken::Console);
        assert_eq!(c.settings_path, None);
        assert!(c.move_from_orgs.is_empty() && c.protected_orgs.is_empty());
    }

    #[test]
    fn missing_required_names_the_variable() {
        let err = config(&[("CODE42_ORG", "x")]).unwrap_err();
        assert!(
            err.to_string().starts_with("CODE42_SECRET_ID is not set"),
            "{err}"
        );
        let err = config(&[("CODE42_SECRET_ID", "x"), ("CODE42_ORG", "  ")]).unwrap_err();
        assert!(
            err.to_string().starts_with("CODE42_ORG is not set"),
            "{err}"
        );
    }

    #[test]
    fn parses_everything() {
        let mut pairs = BASE.to_vec();
        pairs.extend([
            ("CODE42_MODE", "VERIFY"),
            ("CODE42_ORG_ID", "123456"),
            ("CODE42_WATCH_PATHS", ":main, D:, E:/Data"),
            ("CODE42_MOVE_FROM_ORGS", "Default,Staging"),
            ("CODE42_PROTECTED_ORGS", "Executives"),
            ("CODE42_SETTINGS_HOST", "api"),
            ("CODE42_SETTINGS_TOKEN", "gateway"),
            ("CODE42_SETTINGS_PATH", "OrgSetting"),
            ("CODE42_ALLOWED_HOSTS", "Code42.Internal.Example"),
            ("CODE42_ORG_CHECK_TTL_SECONDS", "0"),
            ("CODE42_USERNAME_DOMAIN", "example.com"),
        ]);
        let c = config(&pairs).unwrap();
        assert_eq!(c.mode, Mode::Verify);
        assert_eq!(c.org_legacy_id, Some(123456));
        assert_eq!(c.watch_paths, vec![":main", "D:", "E:/Data"]);
        assert_eq!(c.move_from_orgs, vec!["Default", "Staging"]);
        assert_eq!(c.protected_orgs, vec!["Executives"]);
        assert_eq!(c.settings_host, SettingsHost::Api);
        assert_eq!(c.settings_token, SettingsToken::Gateway);
        assert_eq!(c.settings_path.as_deref(), Some("OrgSetting"));
        assert_eq!(c.allowed_hosts, vec!["code42.internal.example"]);
        assert_eq!(c.org_check_ttl, Duration::ZERO);
        assert_eq!(
            c.username.map("bob", "d-12345678", None).unwrap(),
            "bob@example.com"
        );
    }

    #[test]
    fn a_deployed_environment_is_overridden_locally_but_its_verify_mode_is_a_ceiling() {
        let deployed: std::collections::HashMap<String, String> = [
            ("CODE42_SECRET_ID", "deployed-secret"),
            ("CODE42_ORG", "WorkSpaces"),
            ("CODE42_MODE", "verify"),
            ("CODE42_PROTECTED_ORGS", "Executives"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let local = |k: &str| match k {
            "CODE42_MODE" => Some("apply".to_string()),
            "CODE42_ORG" => Some("Other".to_string()),
            _ => None,
        };
        let (c, overridden) = Config::from_deployed(&deployed, local).unwrap();
        assert_eq!(overridden, ["CODE42_MODE", "CODE42_ORG"]);
        assert_eq!(
            (c.mode, c.org.as_str(), c.secret_id.as_str()),
            (Mode::Verify, "Other", "deployed-secret")
        );
        assert_eq!(c.protected_orgs, ["Executives"]);
    }

    #[test]
    fn every_enumerated_value_is_read_case_insensitively() {
        let with_base =
            |extra: &[(&'static str, &'static str)]| config(&[BASE.as_slice(), extra].concat());
        let c = with_base(&[
            ("CODE42_MODE", " Verify "),
            ("CODE42_SETTINGS_HOST", "API"),
            ("CODE42_SETTINGS_TOKEN", "Gateway"),
            ("CODE42_SETTINGS_PATH", "orgsetting"),
            ("CODE42_MOVE_WITH_OTHER_DEVICES", "SKIP"),
            ("CODE42_DEACTIVATE_ON_TERMINATE", "True"),
            ("CODE42_DEACTIVATE_WITH_BACKUP", "FALSE"),
            ("CODE42_BACKUP_PUBLISH", "TRUE"),
        ])
        .unwrap();
        assert_eq!(c.mode, Mode::Verify);
        assert_eq!(c.settings_host, SettingsHost::Api);
        assert_eq!(c.settings_token, SettingsToken::Gateway);
        assert_eq!(
            c.settings_path.as_deref(),
            Some("OrgSetting"),
            "the canonical spelling"
        );
        assert!(c.skip_with_other_devices && c.deactivate_on_terminate && c.backup_publish);
        assert!(!c.deactivate_with_backup);
        let err = with_base(&[("CODE42_SETTINGS_TOKEN", "both")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CODE42_SETTINGS_TOKEN is invalid: must be console or gateway"
        );
    }

    #[test]
    fn invalid_values_are_refused_with_the_variable_name() {
        for (var, value) in [
            ("CODE42_MODE", "dry-run"),
            ("CODE42_ORG_ID", "abc"),
            ("CODE42_ORG_ID", "-4"),
            ("CODE42_WATCH_PATHS", "'D:'"),
            ("CODE42_WATCH_PATHS", " , "),
            ("CODE42_WATCH_PATHS_KEY", "a key"),
            ("CODE42_SETTINGS_HOST", "gateway"),
            ("CODE42_SETTINGS_PATH", "Settings"),
            ("CODE42_CONCURRENCY", "0"),
            ("CODE42_PLAN", "gold"),
            ("CODE42_USERNAME_TEMPLATE", "{login}@x"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((var, value));
            let err = config(&pairs).unwrap_err().to_string();
            assert!(err.starts_with(var), "{var}={value}: {err}");
        }
    }

    /// Each `[default: …]` in the help is what the parser gives when the variable is unset.
    #[test]
    fn the_defaults_the_help_states_are_the_parsed_defaults() {
        let c = config(&BASE).unwrap();
        let secs = |d: Duration| d.as_secs().to_string();
        let parsed: Vec<(&str, String)> = vec![
            ("CODE42_MODE", c.mode.as_str().into()),
            ("CODE42_WATCH_PATHS", c.watch_paths.join(",")),
            ("CODE42_WATCH_PATHS_KEY", c.watch_paths_key.clone()),
            ("CODE42_SETTINGS_HOST", c.settings_host.as_str().into()),
            ("CODE42_SETTINGS_TOKEN", c.settings_token.as_str().into()),
            ("CODE42_BACKUP_PATHS", c.backup_paths.join(",")),
            (
                "CODE42_BACKUP_BREAK_INHERITANCE",
                c.backup_break_inheritance.to_string(),
            ),
            ("CODE42_BACKUP_PUBLISH", c.backup_publish.to_string()),
            (
                "CODE42_DEACTIVATE_ON_TERMINATE",
                c.deactivate_on_terminate.to_string(),
            ),
            (
                "CODE42_DEACTIVATE_WITH_BACKUP",
                c.deactivate_with_backup.to_string(),
            ),
            (
                "CODE42_MOVE_WITH_OTHER_DEVICES",
                if c.skip_with_other_devices {
                    "skip"
                } else {
                    "move"
                }
                .into(),
            ),
            ("CODE42_MAX_MOVES", c.max_moves.to_string()),
            ("CODE42_MAX_RPS", c.max_rps.to_string()),
            ("CODE42_CONCURRENCY", c.concurrency.to_string()),
            ("CODE42_BULK_THRESHOLD", c.bulk_threshold.to_string()),
            ("CODE42_USERS_PAGE_SIZE", c.users_page_size.to_string()),
            ("CODE42_AGENTS_PAGE_SIZE", c.agents_page_size.to_string()),
            ("CODE42_REQUEST_TIMEOUT_SECONDS", secs(c.request_timeout)),
            ("CODE42_ORG_CHECK_TTL_SECONDS", secs(c.org_check_ttl)),
            ("CODE42_SECRET_REFRESH_SECONDS", secs(c.secret_max_age)),
            ("CODE42_DEFERRED_DELAY_SECONDS", secs(c.deferred_delay)),
            ("CODE42_DEFERRED_ATTEMPTS", c.deferred_attempts.to_string()),
            ("CODE42_START_MARGIN_SECONDS", secs(c.start_margin)),
            ("CODE42_METRICS_NAMESPACE", c.metrics_namespace.clone()),
            (
                "WORKSPACES_DESCRIBE_ATTEMPTS",
                c.describe_attempts.to_string(),
            ),
            (
                "WORKSPACES_DESCRIBE_BACKOFF_MS",
                c.describe_backoff.as_millis().to_string(),
            ),
        ];
        for (name, value) in parsed {
            let help = ENVIRONMENT.iter().find(|(k, _)| *k == name).unwrap().1;
            assert!(
                help.contains(&format!("[default: {value}]")),
                "{name}: the help says {help:?}, the parser gives {value:?}"
            );
        }
    }

    /// The help lists every variable this module reads, and the README documents each.
    #[test]
    fn every_variable_read_is_listed_and_documented() {
        let source = include_str!("config.rs");
        let readme = include_str!("../README.md");
        let code = &source[..source.find("#[cfg(test)]").unwrap()];
        let mut read: Vec<&str> = code
            .match_indices("\"CODE42_")
            .chain(code.match_indices("\"WORK"))
            .map(|(at, _)| {
                let rest = &code[at + 1..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
                    .unwrap_or(rest.len());
                &rest[..end]
            })
            .collect();
        read.sort_unstable();
        read.dedup();
        assert!(read.len() > 30, "{read:?}");
        for name in read {
            assert!(
                ENVIRONMENT.iter().any(|(k, _)| *k == name),
                "{name} missing from ENVIRONMENT"
            );
            assert!(
                readme.contains(&format!("`{name}`")),
                "{name} not in the README"
            );
        }
    }
}
