use super::*;
use crate::error::ConfigError;
use std::collections::HashMap;
use std::time::Duration;

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
    assert_eq!(c.org.watch_paths, vec![":main", "D:"]);
    assert_eq!(c.org.watch_paths_key, DEFAULT_WATCH_PATHS_KEY);
    assert_eq!(c.org.check_ttl, Duration::from_secs(300));
    assert_eq!(c.code42.settings_host, SettingsHost::Console);
    assert_eq!(c.code42.settings_token, SettingsToken::Console);
    assert_eq!(c.code42.settings_path, None);
    assert!(c.users.move_from_orgs.is_empty() && c.users.protected_orgs.is_empty());
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
    assert_eq!(c.org.legacy_id, Some(123456));
    assert_eq!(c.org.watch_paths, vec![":main", "D:", "E:/Data"]);
    assert_eq!(c.users.move_from_orgs, vec!["Default", "Staging"]);
    assert_eq!(c.users.protected_orgs, vec!["Executives"]);
    assert_eq!(c.code42.settings_host, SettingsHost::Api);
    assert_eq!(c.code42.settings_token, SettingsToken::Gateway);
    assert_eq!(c.code42.settings_path.as_deref(), Some("OrgSetting"));
    assert_eq!(c.code42.allowed_hosts, vec!["code42.internal.example"]);
    assert_eq!(c.org.check_ttl, Duration::ZERO);
    assert_eq!(
        c.users.username.map("bob", "d-12345678", None).unwrap(),
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
        (
            c.mode,
            c.org.name_or_guid.as_str(),
            c.code42.secret_id.as_str()
        ),
        (Mode::Verify, "Other", "deployed-secret")
    );
    assert_eq!(c.users.protected_orgs, ["Executives"]);
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
    assert_eq!(c.code42.settings_host, SettingsHost::Api);
    assert_eq!(c.code42.settings_token, SettingsToken::Gateway);
    assert_eq!(
        c.code42.settings_path.as_deref(),
        Some("OrgSetting"),
        "the canonical spelling"
    );
    assert!(
        c.users.skip_with_other_devices
            && c.terminate.deactivate_on_terminate
            && c.org.backup_publish
    );
    assert!(!c.terminate.deactivate_with_backup);
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
        ("CODE42_ACCOUNTS", "12345"),
        ("CODE42_ACCOUNTS", "organization,111111111111"),
        ("CODE42_REGIONS", "US-EAST-1"),
        (
            "CODE42_MEMBER_ROLE",
            "arn:aws:iam::111111111111:role/Member",
        ),
    ] {
        let mut pairs = BASE.to_vec();
        pairs.push((var, value));
        let err = config(&pairs).unwrap_err().to_string();
        assert!(err.starts_with(var), "{var}={value}: {err}");
    }
}

#[test]
fn the_served_accounts_are_listed_ids_or_the_whole_organization() {
    let served = |accounts: &str| {
        let mut pairs = BASE.to_vec();
        pairs.push(("CODE42_ACCOUNTS", accounts));
        let aws = config(&pairs).unwrap().aws;
        (aws.scope.accounts, aws.organization)
    };
    assert_eq!(served(""), (Vec::<String>::new(), false));
    assert_eq!(
        served("111111111111, 222222222222,111111111111"),
        (vec!["111111111111".into(), "222222222222".into()], false)
    );
    assert_eq!(served("organization"), (Vec::<String>::new(), true));
    assert_eq!(served("Organization"), (Vec::<String>::new(), true));
}

/// Each table default is what the parser gives when the variable is
/// unset, and the help shows it.
#[test]
fn the_table_defaults_are_the_parsed_defaults_and_the_help_shows_them() {
    let c = config(&BASE).unwrap();
    let secs = |d: Duration| d.as_secs().to_string();
    let parsed: Vec<(&str, String)> = vec![
        ("CODE42_MODE", c.mode.as_str().into()),
        ("CODE42_WATCH_PATHS", c.org.watch_paths.join(",")),
        ("CODE42_WATCH_PATHS_KEY", c.org.watch_paths_key.clone()),
        (
            "CODE42_SETTINGS_HOST",
            c.code42.settings_host.as_str().into(),
        ),
        (
            "CODE42_SETTINGS_TOKEN",
            c.code42.settings_token.as_str().into(),
        ),
        ("CODE42_BACKUP_PATHS", c.org.backup_paths.join(",")),
        (
            "CODE42_BACKUP_BREAK_INHERITANCE",
            c.org.backup_break_inheritance.to_string(),
        ),
        ("CODE42_BACKUP_PUBLISH", c.org.backup_publish.to_string()),
        (
            "CODE42_DEACTIVATE_ON_TERMINATE",
            c.terminate.deactivate_on_terminate.to_string(),
        ),
        (
            "CODE42_DEACTIVATE_WITH_BACKUP",
            c.terminate.deactivate_with_backup.to_string(),
        ),
        (
            "CODE42_MOVE_WITH_OTHER_DEVICES",
            if c.users.skip_with_other_devices {
                "skip"
            } else {
                "move"
            }
            .into(),
        ),
        ("CODE42_MAX_MOVES", c.users.max_moves.to_string()),
        (
            "CODE42_MAX_MOVES_PER_HOUR",
            c.users.max_moves_per_hour.to_string(),
        ),
        (
            "CODE42_LEDGER_RETENTION_DAYS",
            (c.runs.ledger_retention.as_secs() / 86_400).to_string(),
        ),
        ("CODE42_MEMBER_ROLE", c.aws.member_role.clone()),
        (
            "CODE42_WORKSPACE_HOST_PREFIXES",
            c.terminate.workspace_host_prefixes.join(","),
        ),
        ("CODE42_MAX_RPS", c.code42.max_rps.to_string()),
        ("CODE42_CONCURRENCY", c.code42.concurrency.to_string()),
        ("CODE42_BULK_THRESHOLD", c.runs.bulk_threshold.to_string()),
        (
            "CODE42_USERS_PAGE_SIZE",
            c.code42.users_page_size.to_string(),
        ),
        (
            "CODE42_AGENTS_PAGE_SIZE",
            c.code42.agents_page_size.to_string(),
        ),
        (
            "CODE42_REQUEST_TIMEOUT_SECONDS",
            secs(c.code42.request_timeout),
        ),
        ("CODE42_ORG_CHECK_TTL_SECONDS", secs(c.org.check_ttl)),
        (
            "CODE42_SECRET_REFRESH_SECONDS",
            secs(c.code42.secret_max_age),
        ),
        ("CODE42_DEFERRED_DELAY_SECONDS", secs(c.runs.deferred_delay)),
        (
            "CODE42_DEFERRED_ATTEMPTS",
            c.runs.deferred_attempts.to_string(),
        ),
        ("CODE42_START_MARGIN_SECONDS", secs(c.runs.start_margin)),
        ("CODE42_METRICS_NAMESPACE", c.metrics_namespace.clone()),
        (
            "WORKSPACES_DESCRIBE_ATTEMPTS",
            c.runs.describe_attempts.to_string(),
        ),
        (
            "WORKSPACES_DESCRIBE_BACKOFF_MS",
            c.runs.describe_backoff.as_millis().to_string(),
        ),
    ];
    let help = environment_help();
    for (name, value) in &parsed {
        let var = VARS.iter().find(|v| v.name == *name).unwrap();
        assert_eq!(var.default, Some(value.as_str()), "{name}");
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap();
        assert!(line.contains(&format!("[default: {value}]")), "{line}");
    }
    // Every default in the table is checked above.
    let with_default = VARS.iter().filter(|v| v.default.is_some()).count();
    assert_eq!(with_default, parsed.len());
}

/// Every variable the configuration reads is in the table, every one in
/// the table is read, and the documentation lists each with its default.
#[test]
fn every_variable_read_is_in_the_table_and_documented() {
    let code = [include_str!("mod.rs"), include_str!("code42.rs")]
        .map(|s| &s[..s.find("#[cfg(test)]").unwrap_or(s.len())])
        .concat();
    let docs = include_str!("../../docs/configuration.md");
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
    let mut table: Vec<&str> = VARS.iter().map(|v| v.name).collect();
    table.sort_unstable();
    assert_eq!(read, table, "read by the parser vs. listed in VARS");
    for v in VARS {
        let name = format!("`{}`", v.name);
        let row = docs
            .lines()
            .find(|l| l.starts_with('|') && l.contains(&name))
            .unwrap_or_else(|| panic!("{} has no row in the table", v.name));
        if let Some(default) = v.default {
            assert!(
                row.contains(&format!("`{default}`")),
                "{}: the documented default is not {default:?}: {row}",
                v.name
            );
        }
    }
}
