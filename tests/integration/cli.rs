//! The command line as a user meets it: exit codes, where errors go, CSV and
//! status filters, completions.

use serde_json::json;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_64_not_the_drift_code() {
    let env = env("unused", &[]);
    for args in [
        vec!["verify", "--no-such-flag"],
        vec!["frobnicate"],
        vec!["backfill", "--output", "yaml"],
        vec!["verify", "--status", "happy"],
    ] {
        let (code, stdout, stderr) = cli_in("us-east-1", "warn", &env, &args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: usage goes to stderr");
        assert!(!stderr.is_empty());
    }
    let (code, stdout, _) = cli_in("us-east-1", "warn", &env, &["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Exit codes"), "{stdout}");
    // --help names the environment variable behind each option, and the configuration's.
    let (code, stdout, _) = cli_in("us-east-1", "warn", &env, &["backfill", "--help"]);
    assert_eq!(code, 0);
    for shown in [
        "[env: CODE42_MAX_MOVES=",
        "[env: CODE42_CONCURRENCY=",
        "[env: WORK_QUEUE_URL=",
        "[env: AWS_PROFILE=",
        "[env: WORKSPACES_CODE42_FUNCTION=",
        "CODE42_SECRET_ID ",
        "CODE42_SETTINGS_PATH ",
    ] {
        assert!(stdout.contains(shown), "{shown} not in: {stdout}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_one_line_on_stderr_and_a_json_document_only_when_asked() {
    let mut env = env("unused", &[]);
    env.remove("CODE42_ORG");
    let (code, stdout, stderr) = cli_in("us-east-1", "warn", &env, &["verify"]);
    assert_eq!(code, 1);
    assert!(
        stdout.is_empty(),
        "nothing on stdout for a table run: {stdout}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains("CODE42_ORG is not set"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("Error {") && !stderr.contains("Some("),
        "no debug formatting: {stderr}"
    );
    let (code, stdout, _) = cli_in("us-east-1", "warn", &env, &["verify", "--output", "json"]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(doc["error"].as_str().unwrap().contains("CODE42_ORG"));
    assert_eq!(
        (doc["retryable"].clone(), doc["result"].clone()),
        (json!(false), json!(null))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_output_and_the_status_filter() {
    let sim = Sim::start(&tenant(json!([user(
        "cs-1",
        "csvin@corp.example.com",
        WORKSPACES_ORG_GUID
    )])));
    let fleet = fleet(&[("csvin", WIN), ("csvnew", WIN)]);
    let env = env(&secret_for(&sim, "csv"), &[]);
    let mut args = fleet.verify_args("csv");
    let (code, out) = cli(&env, &args);
    assert_eq!(code, 2, "{out}");
    let mut reader = csv::Reader::from_reader(out.as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().take(3).collect::<Vec<_>>(),
        ["account", "region", "workspace_id"]
    );
    assert!(
        headers.iter().any(|h| h == "agent_status")
            && headers.iter().any(|h| h == "coverage_reason")
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    // moto's account for these credentials, and the CLI's region.
    for row in &rows {
        assert_eq!((&row[0], &row[1]), ("123456789012", "us-east-1"), "{out}");
    }
    let status = headers.iter().position(|h| h == "status").unwrap();
    let mut statuses: Vec<&str> = rows.iter().map(|r| &r[status]).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["compliant", "deferred"]);

    args.extend(["--status", "deferred"]);
    let (_, out) = cli(&env, &args);
    let rows = csv::Reader::from_reader(out.as_bytes()).records().count();
    assert_eq!(rows, 1, "{out}");
}

#[test]
fn completions_are_printed_for_each_shell() {
    let env = env("unused", &[]);
    for shell in ["bash", "zsh", "fish"] {
        let (code, stdout, _) = cli_in("us-east-1", "warn", &env, &["completions", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(
            stdout.contains("backfill") && stdout.contains("max-moves"),
            "{shell}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn function_name_runs_with_the_deployed_settings_and_keeps_its_verify_ceiling() {
    let sim = Sim::start(&tenant(json!([user(
        "fn-1",
        "fnuser@corp.example.com",
        "880000000000000002"
    )])));
    let fleet = fleet(&[("fnuser", WIN)]);
    let secret = secret_for(&sim, "function");
    let function = format!("workspaces-code42-{}", std::process::id());
    seed_aws(json!({"functions": [{"name": function, "env": {
        "CODE42_SECRET_ID": secret, "CODE42_ORG": "WorkSpaces", "CODE42_MODE": "verify",
        "CODE42_PROTECTED_ORGS": "Executives"}}]}));
    // Nothing but AWS access locally, and a local attempt to lift the mode.
    let mut local: std::collections::HashMap<String, String> =
        [("CODE42_MODE".to_string(), "apply".to_string())].into();
    local.insert("WORKSPACES_DESCRIBE_BACKOFF_MS".into(), "50".into());
    let ws = fleet.workspaces[0].0.clone();
    let (code, stdout, stderr) = cli_in(
        "us-east-1",
        "warn",
        &local,
        &[
            "backfill",
            "--function-name",
            &function,
            "--workspace-id",
            &ws,
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("using the configuration of function {function}")),
        "{stderr}"
    );
    assert!(stderr.contains("overridden here: CODE42_MODE"), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["mode"], "verify",
        "the deployed verify mode is a ceiling"
    );
    assert_eq!(report["workspaces"][0]["status"], "drift");
    assert_eq!(sim.counters().await["writes"], 0);
    // An unknown function is a clear error.
    let (code, _, stderr) = cli_in(
        "us-east-1",
        "warn",
        &local,
        &["verify", "--function-name", "no-such-function"],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("GetFunctionConfiguration"), "{stderr}");
}

/// As in the aws CLI: `--profile` on the command line beats keys in the
/// environment (a mistyped profile is an error, not a run with other keys),
/// while AWS_PROFILE in the environment does not.
#[tokio::test(flavor = "multi_thread")]
async fn a_profile_on_the_command_line_beats_keys_in_the_environment() {
    let dir = std::env::temp_dir();
    let files = [
        ("config", "[profile moto]\nregion = us-east-1\n"),
        (
            "credentials",
            "[moto]\naws_access_key_id = from-profile\naws_secret_access_key = from-profile\n",
        ),
    ]
    .map(|(name, text)| {
        let path = dir.join(format!("aws-{name}-{}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        tempfile_path::TempPath(path)
    });
    let env = env(
        "no-such-secret",
        &[
            ("AWS_CONFIG_FILE", files[0].0.to_str().unwrap()),
            ("AWS_SHARED_CREDENTIALS_FILE", files[1].0.to_str().unwrap()),
        ],
    );
    let run = |args: &[&str], extra: &[(&str, &str)]| {
        let mut env = env.clone();
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let (code, _, stderr) = cli_in("us-east-1", "warn", &env, args);
        (code, stderr)
    };
    // The keys in the environment would work: the flag's profile is used, and it does not exist.
    let (code, stderr) = run(&["verify", "--profile", "typo"], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("AWS profile \"typo\" cannot be used") && stderr.lines().count() == 1,
        "{stderr}"
    );
    // An existing profile: AWS answers (the secret is the next thing missing).
    let (code, stderr) = run(&["verify", "--profile", "moto"], &[]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("\"no-such-secret\" was not found"),
        "{stderr}"
    );
    // AWS_PROFILE in the environment yields to the keys beside it, as in the aws CLI.
    let (code, stderr) = run(&["verify"], &[("AWS_PROFILE", "typo")]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("\"no-such-secret\" was not found"),
        "{stderr}"
    );
}
