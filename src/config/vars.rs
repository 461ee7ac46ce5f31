//! Every environment variable the configuration reads, in one table: its
//! name, what an unset variable means and a line of help. The parser takes
//! each default from here (read like a value a user set), the CLI's `--help`
//! lists the table, and a test holds `docs/configuration.md` to it.

use std::time::Duration;

use crate::domain::metrics::DEFAULT_NAMESPACE;
use crate::error::ConfigError;

/// The file-activity watch-path setting (reference §5a).
pub const DEFAULT_WATCH_PATHS_KEY: &str = "device_fileForensics_watchPaths_included";

/// One variable the configuration reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Var {
    pub name: &'static str,
    /// The value an unset variable stands for (None: unset has a meaning of
    /// its own, given in `help`).
    pub default: Option<&'static str>,
    pub help: &'static str,
}

const fn var(name: &'static str, default: Option<&'static str>, help: &'static str) -> Var {
    Var {
        name,
        default,
        help,
    }
}

/// The table, by section.
pub const VARS: &[Var] = &[
    // The deployment.
    var("CODE42_MODE", Some("apply"), "apply | verify (a ceiling)"),
    var(
        "CODE42_PLAN",
        None,
        "professional|enterprise|horizon|gov-f2|basic|advanced|gov-f1",
    ),
    var("CODE42_METRICS_NAMESPACE", Some(DEFAULT_NAMESPACE), ""),
    // The Code42 connection.
    var(
        "CODE42_SECRET_ID",
        None,
        "(required) Secrets Manager secret with the Code42 API client",
    ),
    var(
        "CODE42_ALLOWED_HOSTS",
        None,
        "extra hosts allowed in the secret's URLs",
    ),
    var("CODE42_SETTINGS_HOST", Some("console"), "console | api"),
    var(
        "CODE42_SETTINGS_TOKEN",
        Some("console"),
        "console | gateway",
    ),
    var(
        "CODE42_SETTINGS_PATH",
        None,
        "OrgSettings | OrgSetting [default: both]",
    ),
    var("CODE42_REQUEST_TIMEOUT_SECONDS", Some("20"), ""),
    var(
        "CODE42_MAX_RPS",
        Some("50"),
        "Code42 requests per second, 0 = no limit",
    ),
    var(
        "CODE42_CONCURRENCY",
        Some("16"),
        "WorkSpaces at once; ceiling of requests in flight",
    ),
    var("CODE42_SECRET_REFRESH_SECONDS", Some("900"), ""),
    var("CODE42_USERS_PAGE_SIZE", Some("100"), ""),
    var("CODE42_AGENTS_PAGE_SIZE", Some("500"), ""),
    // The WorkSpaces org and its policies.
    var(
        "CODE42_ORG",
        None,
        "(required) the WorkSpaces org: orgGuid or exact name",
    ),
    var("CODE42_ORG_ID", None, "its numeric id [default: looked up]"),
    var("CODE42_WATCH_PATHS", Some(":main,D:"), ""),
    var("CODE42_WATCH_PATHS_KEY", Some(DEFAULT_WATCH_PATHS_KEY), ""),
    var(
        "CODE42_BACKUP_PATHS",
        Some("D:/Users/"),
        "Basic/Advanced/Gov F1 backup paths",
    ),
    var("CODE42_BACKUP_BREAK_INHERITANCE", Some("false"), ""),
    var("CODE42_BACKUP_PUBLISH", Some("false"), ""),
    var("CODE42_ORG_CHECK_TTL_SECONDS", Some("300"), ""),
    // Users and moves.
    var(
        "CODE42_USERNAME_TEMPLATE",
        None,
        "[default: {user}@{directory_name}, or {user}@{domain} with a domain]",
    ),
    var(
        "CODE42_USERNAME_DOMAIN",
        None,
        "fixed UPN suffix: {user}@{domain}",
    ),
    var(
        "CODE42_MOVE_FROM_ORGS",
        None,
        "move users only out of these orgs",
    ),
    var(
        "CODE42_PROTECTED_ORGS",
        None,
        "never move users out of these orgs",
    ),
    var(
        "CODE42_MOVE_WITH_OTHER_DEVICES",
        Some("move"),
        "move | skip",
    ),
    var("CODE42_MAX_MOVES", Some("25"), "moves one run may make"),
    var(
        "CODE42_MAX_MOVES_PER_HOUR",
        Some("50"),
        "moves per hour for the whole deployment (needs the ledger)",
    ),
    // Terminate clean-up.
    var(
        "CODE42_DEACTIVATE_ON_TERMINATE",
        Some("false"),
        "true | false",
    ),
    var(
        "CODE42_DEACTIVATE_WITH_BACKUP",
        Some("false"),
        "true | false; deactivate on backup plans too (sends the WorkSpace's only backup to cold storage)",
    ),
    var(
        "CODE42_RETURN_ORG",
        None,
        "agents --return-users moves users without a WorkSpace here",
    ),
    var(
        "CODE42_WORKSPACE_HOST_PREFIXES",
        Some("WSAMZN-"),
        "host names that look like a WorkSpace (agents: orphans)",
    ),
    // Where the WorkSpaces are.
    var(
        "CODE42_ACCOUNTS",
        None,
        "member account ids whose WorkSpaces are served, or `organization` (every active account of the AWS Organization; unset: this account)",
    ),
    var(
        "CODE42_REGIONS",
        None,
        "regions whose WorkSpaces are served (unset: this region)",
    ),
    var(
        "CODE42_MEMBER_ROLE",
        Some("WorkspacesCode42Member"),
        "the role assumed in each member account",
    ),
    // Runs.
    var("WORK_QUEUE_URL", None, "the SQS work queue (fan-out)"),
    var(
        "CODE42_LEDGER_TABLE",
        None,
        "the DynamoDB ledger table (history, the hourly move budget)",
    ),
    var("CODE42_LEDGER_RETENTION_DAYS", Some("400"), ""),
    var(
        "CODE42_BULK_THRESHOLD",
        Some("200"),
        "bulk reads from this many WorkSpaces",
    ),
    var("CODE42_DEFERRED_DELAY_SECONDS", Some("900"), ""),
    var("CODE42_DEFERRED_ATTEMPTS", Some("8"), ""),
    var("CODE42_START_MARGIN_SECONDS", Some("5"), ""),
    var("WORKSPACES_DESCRIBE_ATTEMPTS", Some("4"), ""),
    var("WORKSPACES_DESCRIBE_BACKOFF_MS", Some("500"), ""),
];

/// The table's entry for `name` (every name read is in the table: a test
/// reads the source to hold it so).
pub fn var_named(name: &str) -> Option<&'static Var> {
    VARS.iter().find(|v| v.name == name)
}

/// The table as the CLI's help section.
pub fn environment_help() -> String {
    let width = VARS.iter().map(|v| v.name.len()).max().unwrap_or(0);
    let mut text =
        String::from("Environment (as for the Lambda; docs/configuration.md has the details):\n");
    for v in VARS {
        let default = v.default.map(|d| format!("[default: {d}]"));
        let line = [Some(v.help).filter(|h| !h.is_empty()), default.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" ");
        text.push_str(&format!("  {:width$}  {line}\n", v.name));
    }
    text
}

/// Variables read through one lookup: values trimmed, an empty value is
/// unset, an unset variable is its table default.
pub struct Vars<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The value set, else the table's default.
    pub fn text(&self, name: &'static str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .or_else(|| var_named(name)?.default.map(str::to_string))
    }

    pub fn required(&self, var: &'static str, hint: &'static str) -> Result<String, ConfigError> {
        self.text(var).ok_or(ConfigError::Missing { var, hint })
    }

    /// A comma-separated list (empty when unset without a default).
    pub fn list(&self, name: &'static str) -> Vec<String> {
        self.text(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A whole number of at least `min` (every number has a table default).
    pub fn number(&self, var: &'static str, min: u64) -> Result<u64, ConfigError> {
        let value = self.text(var).unwrap_or_default();
        value
            .parse::<u64>()
            .ok()
            .filter(|n| *n >= min)
            .ok_or_else(|| ConfigError::Invalid {
                var,
                reason: format!("must be a whole number >= {min}"),
            })
    }

    pub fn seconds(&self, var: &'static str, min: u64) -> Result<Duration, ConfigError> {
        self.number(var, min).map(Duration::from_secs)
    }

    pub fn flag(&self, var: &'static str) -> Result<bool, ConfigError> {
        Ok(self
            .choice(var, &[("false", false), ("true", true)])?
            .unwrap_or(false))
    }

    /// The one parsing rule for every enumerated value: one of `options`,
    /// compared case-insensitively; None when unset without a default.
    pub fn choice<T: Copy>(
        &self,
        var: &'static str,
        options: &[(&str, T)],
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.text(var) else {
            return Ok(None);
        };
        options
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(&value))
            .map(|(_, v)| Some(*v))
            .ok_or_else(|| {
                let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
                ConfigError::Invalid {
                    var,
                    reason: format!("must be {}", names.join(" or ")),
                }
            })
    }
}
