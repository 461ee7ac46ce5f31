//! Configuration, read once at start-up from the environment and validated,
//! in sections: each component receives only its own (the Code42 client its
//! connection, the org check its org, …). Every variable, its default and
//! its help are in one table (`vars`).

use std::time::Duration;

use crate::domain::coverage::Code42Plan;
use crate::domain::location::{Scope, is_account_id, is_region};
use crate::domain::policy::{BackupFileSelection, OrgPolicy, WatchPaths};
use crate::domain::username::UsernameMapping;
use crate::error::ConfigError;

mod code42;
mod vars;

pub use code42::{Code42Settings, SETTINGS_SPELLINGS, SettingsHost, SettingsRoute, SettingsToken};
pub use vars::{DEFAULT_WATCH_PATHS_KEY, VARS, Var, environment_help};

use vars::Vars;

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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    /// The Incydr plan: the agents' minimum version (None: versions are not checked).
    pub plan: Option<Code42Plan>,
    /// The CloudWatch namespace of the Lambda's embedded-metric records.
    pub metrics_namespace: String,
    pub code42: Code42Settings,
    pub org: OrgSettings,
    pub users: UserSettings,
    pub terminate: TerminateSettings,
    pub runs: RunSettings,
    pub aws: AwsSettings,
}

/// Where the WorkSpaces are: the served accounts and regions, and the role
/// assumed in each member account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsSettings {
    pub scope: Scope,
    /// `CODE42_ACCOUNTS=organization`: the accounts are every active account
    /// of the AWS Organization, listed when needed (`scope.accounts` is empty).
    pub organization: bool,
    /// The role name assumed in each member account (not the home account).
    pub member_role: String,
}

/// The WorkSpaces org and the policies kept on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgSettings {
    /// orgGuid or exact org name of the WorkSpaces org.
    pub name_or_guid: String,
    /// The console's numeric org id, when known; else looked up.
    pub legacy_id: Option<i64>,
    pub watch_paths: Vec<String>,
    pub watch_paths_key: String,
    /// Paths the backup file selection must include (Basic, Advanced, Gov F1).
    pub backup_paths: Vec<String>,
    /// Write the org's own device defaults even when it inherits them.
    pub backup_break_inheritance: bool,
    /// Ask existing devices to take the new defaults (unverified flags).
    pub backup_publish: bool,
    /// A compliant org check is reused this long (creation/sign-in path).
    pub check_ttl: Duration,
}

/// Whose WorkSpaces users are looked up how, and who may be moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSettings {
    pub username: UsernameMapping,
    /// If non-empty, users are moved only out of these orgs (guids or names).
    pub move_from_orgs: Vec<String>,
    /// Users are never moved out of these orgs (guids or names).
    pub protected_orgs: Vec<String>,
    /// `CODE42_MOVE_WITH_OTHER_DEVICES=skip`: never move a user whose other devices would move too.
    pub skip_with_other_devices: bool,
    /// Moves one run may make (or queue) at most; payloads and flags may set their own.
    pub max_moves: usize,
    /// Moves per hour for every process sharing the ledger.
    pub max_moves_per_hour: u32,
    /// Where `agents --return-users` moves users left without a WorkSpace
    /// (orgGuid or exact name); None: they are only reported.
    pub return_org: Option<String>,
}

/// Clean-up when WorkSpaces are terminated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminateSettings {
    /// Deactivate the agent of a terminated WorkSpace.
    pub deactivate_on_terminate: bool,
    /// Deactivate on plans with backup too: the device's archive goes to
    /// cold storage for eventual deletion, and for a terminated WorkSpace it
    /// is the only copy of `D:\Users\`.
    pub deactivate_with_backup: bool,
    /// Host names that look like a WorkSpace (`agents`: an agent there
    /// without a live WorkSpace is an orphan).
    pub workspace_host_prefixes: Vec<String>,
}

/// How runs pace themselves: lookups, re-queues, deadlines, bulk reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    /// The function's SQS work queue, for fleet fan-out.
    pub work_queue_url: Option<String>,
    pub describe_attempts: u32,
    pub describe_backoff: Duration,
    /// A WorkSpace whose user is not in Code42 yet is re-queued after this delay…
    pub deferred_delay: Duration,
    /// …at most this many times, then left to the schedule.
    pub deferred_attempts: u32,
    /// A WorkSpace is not begun with less time than this left in the invocation.
    pub start_margin: Duration,
    /// From this many WorkSpaces on, a planning pass reads users and agents in bulk.
    pub bulk_threshold: usize,
    /// The DynamoDB ledger table; None: no ledger (a plain local run).
    pub ledger_table: Option<String>,
    /// Ledger entries are kept this long (the table's TTL).
    pub ledger_retention: Duration,
}

impl Config {
    /// The org's desired state, in the order it is checked (watch paths first).
    /// The backup file selection is managed only on plans whose guide step
    /// includes it (Basic, Advanced, Gov F1).
    pub fn org_policies(&self) -> Vec<Box<dyn OrgPolicy>> {
        let org = &self.org;
        let mut policies: Vec<Box<dyn OrgPolicy>> = vec![Box::new(WatchPaths {
            key: org.watch_paths_key.clone(),
            paths: org.watch_paths.clone(),
        })];
        if self.plan.is_some_and(|p| p.manages_backup()) {
            policies.push(Box::new(BackupFileSelection {
                paths: org.backup_paths.clone(),
                break_inheritance: org.backup_break_inheritance,
                publish: org.backup_publish,
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
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(lookup);
        let mode = vars
            .choice(
                "CODE42_MODE",
                &[("apply", Mode::Apply), ("verify", Mode::Verify)],
            )?
            .unwrap_or(Mode::Apply);
        let plan = vars
            .text("CODE42_PLAN")
            .map(|p| {
                Code42Plan::parse(&p).ok_or_else(|| ConfigError::Invalid {
                    var: "CODE42_PLAN",
                    reason: format!("must be one of {}", Code42Plan::NAMES.join(", ")),
                })
            })
            .transpose()?;
        Ok(Config {
            mode,
            plan,
            metrics_namespace: vars.text("CODE42_METRICS_NAMESPACE").unwrap_or_default(),
            code42: Code42Settings::read(&vars)?,
            org: OrgSettings::read(&vars)?,
            users: UserSettings::read(&vars)?,
            terminate: TerminateSettings {
                deactivate_on_terminate: vars.flag("CODE42_DEACTIVATE_ON_TERMINATE")?,
                deactivate_with_backup: vars.flag("CODE42_DEACTIVATE_WITH_BACKUP")?,
                workspace_host_prefixes: vars.list("CODE42_WORKSPACE_HOST_PREFIXES"),
            },
            runs: RunSettings::read(&vars)?,
            aws: AwsSettings::read(&vars)?,
        })
    }
}

impl AwsSettings {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let mut accounts = vars.list("CODE42_ACCOUNTS");
        let organization = accounts
            .iter()
            .any(|a| a.eq_ignore_ascii_case("organization"));
        if organization {
            if accounts.len() > 1 {
                return Err(ConfigError::Invalid {
                    var: "CODE42_ACCOUNTS",
                    reason: "`organization` stands alone (every active account of the AWS Organization): do not list account ids beside it".to_string(),
                });
            }
            accounts.clear();
        }
        if let Some(bad) = accounts.iter().find(|a| !is_account_id(a)) {
            return Err(ConfigError::Invalid {
                var: "CODE42_ACCOUNTS",
                reason: format!(
                    "{bad:?} is not a 12-digit AWS account id (a comma-separated list of them)"
                ),
            });
        }
        let regions = vars.list("CODE42_REGIONS");
        if let Some(bad) = regions.iter().find(|r| !is_region(r)) {
            return Err(ConfigError::Invalid {
                var: "CODE42_REGIONS",
                reason: format!(
                    "{bad:?} is not a region name such as us-east-1 (a comma-separated list of them)"
                ),
            });
        }
        let member_role = vars.text("CODE42_MEMBER_ROLE").unwrap_or_default();
        if member_role.is_empty()
            || !member_role
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            return Err(ConfigError::Invalid {
                var: "CODE42_MEMBER_ROLE",
                reason: "must be an IAM role name (letters, digits and +=,.@_-), not an ARN"
                    .to_string(),
            });
        }
        Ok(Self {
            scope: Scope {
                accounts: dedup(accounts),
                regions: dedup(regions),
            },
            organization,
            member_role,
        })
    }
}

/// The list without repeats, in its first order.
fn dedup(list: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    list.into_iter()
        .filter(|x| seen.insert(x.clone()))
        .collect()
}

impl OrgSettings {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let name_or_guid = vars.required(
            "CODE42_ORG",
            "set it to the orgGuid or exact name of the Code42 org for WorkSpaces users",
        )?;
        let legacy_id = vars
            .text("CODE42_ORG_ID")
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
        let watch_paths = vars.list("CODE42_WATCH_PATHS");
        if watch_paths.is_empty() || watch_paths.iter().any(|p| p.contains('\'')) {
            return Err(ConfigError::Invalid {
                var: "CODE42_WATCH_PATHS",
                reason: "must be a comma-separated list of paths without quotes, e.g. :main,D:"
                    .to_string(),
            });
        }
        let watch_paths_key = vars.text("CODE42_WATCH_PATHS_KEY").unwrap_or_default();
        if !watch_paths_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        {
            return Err(ConfigError::Invalid {
                var: "CODE42_WATCH_PATHS_KEY",
                reason: "must be a setting key of letters, digits, '_', '.' or '-'".to_string(),
            });
        }
        Ok(Self {
            name_or_guid,
            legacy_id,
            watch_paths,
            watch_paths_key,
            backup_paths: vars.list("CODE42_BACKUP_PATHS"),
            backup_break_inheritance: vars.flag("CODE42_BACKUP_BREAK_INHERITANCE")?,
            backup_publish: vars.flag("CODE42_BACKUP_PUBLISH")?,
            check_ttl: vars.seconds("CODE42_ORG_CHECK_TTL_SECONDS", 0)?,
        })
    }
}

impl UserSettings {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        let username = UsernameMapping::new(
            vars.text("CODE42_USERNAME_TEMPLATE"),
            vars.text("CODE42_USERNAME_DOMAIN"),
        )
        .map_err(|reason| ConfigError::Invalid {
            var: "CODE42_USERNAME_TEMPLATE",
            reason,
        })?;
        Ok(Self {
            username,
            move_from_orgs: vars.list("CODE42_MOVE_FROM_ORGS"),
            protected_orgs: vars.list("CODE42_PROTECTED_ORGS"),
            skip_with_other_devices: vars
                .choice(
                    "CODE42_MOVE_WITH_OTHER_DEVICES",
                    &[("move", false), ("skip", true)],
                )?
                .unwrap_or(false),
            max_moves: vars.number("CODE42_MAX_MOVES", 0)? as usize,
            max_moves_per_hour: vars
                .number("CODE42_MAX_MOVES_PER_HOUR", 0)?
                .min(u32::MAX.into()) as u32,
            return_org: vars.text("CODE42_RETURN_ORG"),
        })
    }
}

impl RunSettings {
    fn read(vars: &Vars<impl Fn(&str) -> Option<String>>) -> Result<Self, ConfigError> {
        Ok(Self {
            work_queue_url: vars.text("WORK_QUEUE_URL"),
            describe_attempts: vars.number("WORKSPACES_DESCRIBE_ATTEMPTS", 1)? as u32,
            describe_backoff: Duration::from_millis(
                vars.number("WORKSPACES_DESCRIBE_BACKOFF_MS", 0)?,
            ),
            // SQS delays a message 15 minutes at most.
            deferred_delay: vars
                .seconds("CODE42_DEFERRED_DELAY_SECONDS", 0)?
                .min(Duration::from_secs(900)),
            deferred_attempts: vars.number("CODE42_DEFERRED_ATTEMPTS", 0)?.min(1000) as u32,
            start_margin: vars.seconds("CODE42_START_MARGIN_SECONDS", 0)?,
            bulk_threshold: vars.number("CODE42_BULK_THRESHOLD", 1)? as usize,
            ledger_table: vars.text("CODE42_LEDGER_TABLE"),
            ledger_retention: Duration::from_secs(
                vars.number("CODE42_LEDGER_RETENTION_DAYS", 1)? * 86_400,
            ),
        })
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
