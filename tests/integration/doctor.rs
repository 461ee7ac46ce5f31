//! `doctor` over the wire: a healthy set-up and broken ones, each with the
//! right finding and fix, exit 0 or 1, and never a write.

use serde_json::{Value, json};

use crate::harness::*;

const REGION: &str = "ca-central-1";

/// The CLI in this test's region; (exit code, stdout).
fn cli(env: &std::collections::HashMap<String, String>, args: &[&str]) -> (i32, String) {
    let (code, stdout, stderr) = cli_in(REGION, "warn", env, args);
    assert!(!stdout.contains(CLIENT_SECRET) && !stderr.contains(CLIENT_SECRET));
    (code, stdout)
}

fn checks(out: &str) -> Vec<Value> {
    let report: Value = serde_json::from_str(out).unwrap_or_else(|e| panic!("{e}: {out}"));
    report["doctor"].as_array().unwrap().clone()
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {checks:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_on_a_healthy_and_on_broken_set_ups() {
    let mut seed = tenant(json!([user(
        "dr-1",
        "doc@corp.example.com",
        WORKSPACES_ORG_GUID
    )]));
    // A Java-style list of bare items, and an artemis_ key beside it.
    seed["settings"]["1003"] = json!({
        WATCH_KEY: {"value": "[:main, D:]", "locked": true, "scope": "ORG"},
        format!("artemis_{WATCH_KEY}"): {"value": "[':main']", "locked": false, "scope": "ORG"}});
    let sim = Sim::start(&seed);
    // A region of its own: the user-name sample sees only this test's WorkSpace.
    let _fleet = fleet_in_region(REGION, "corp.example.com", &[("doc".into(), WIN)]);
    let secret = secret_in(REGION, &sim, "doctor");

    let healthy = env(&secret, &[("CODE42_PLAN", "professional")]);
    let (code, table) = cli(&healthy, &["doctor"]);
    assert_eq!(code, 0, "{table}");
    assert!(
        table.contains("PASS  target org") && table.contains("WARN  watch-path setting"),
        "{table}"
    );
    println!("doctor, healthy:\n{table}");
    let (code, out) = cli(&healthy, &["doctor", "--output", "json"]);
    assert_eq!(code, 0);
    let found = checks(&out);
    assert_eq!(
        check(&found, "watch-path setting")["fix"],
        "apply will merge and lock it"
    );
    assert!(
        check(&found, "artemis key")["fix"]
            .as_str()
            .unwrap()
            .contains("CODE42_WATCH_PATHS_KEY=artemis_")
    );
    assert_eq!(check(&found, "user names")["result"], "pass");

    // The org missing: a failure naming the fix, exit 1.
    let (_, table) = cli(&env(&secret, &[("CODE42_ORG", "No Such Org")]), &["doctor"]);
    println!("doctor, org missing:\n{table}");
    let (code, out) = cli(
        &env(&secret, &[("CODE42_ORG", "No Such Org")]),
        &["doctor", "--output", "json"],
    );
    assert_eq!(code, 1, "{out}");
    let found = checks(&out);
    assert_eq!(check(&found, "target org")["result"], "fail");
    assert!(
        check(&found, "target org")["fix"]
            .as_str()
            .unwrap()
            .contains("CODE42_ORG")
    );

    // A 403 on the settings resource, every spelling, host and token: the
    // fix names the role the API client needs.
    sim.fault(json!({"method": "GET", "path": "/api/v1/OrgSetting", "status": 403, "times": -1}))
        .await;
    let (code, out) = cli(&healthy, &["doctor", "--output", "json"]);
    assert_eq!(code, 1, "{out}");
    let settings = check(&checks(&out), "org settings resource").clone();
    assert_eq!(settings["result"], "fail");
    assert!(
        settings["found"]
            .as_str()
            .unwrap()
            .contains("console/console/OrgSettings: 403"),
        "{settings}"
    );
    assert!(
        settings["fix"]
            .as_str()
            .unwrap()
            .contains("Customer Cloud Admin"),
        "{settings}"
    );

    // A malformed secret: named field, never the value.
    let broken = format!("doctor-broken-{}", std::process::id());
    seed_aws(
        json!({"region": REGION, "secrets": [{"name": broken, "value": {"api_url": sim.url, "api_client_id": CLIENT_ID}}]}),
    );
    let (code, out) = cli(&env(&broken, &[]), &["doctor", "--output", "json"]);
    assert_eq!(code, 1, "{out}");
    let secret_check = check(&checks(&out), "code42 secret").clone();
    assert!(
        secret_check["found"]
            .as_str()
            .unwrap()
            .contains("api_client_secret"),
        "{secret_check}"
    );
    assert_eq!(sim.counters().await["writes"], 0, "doctor never writes");
}

/// The fix names the exact host, token and spelling that answer on this tenant.
fn settings_fix(out: &str) -> (String, String, String) {
    let found = checks(out);
    let c = check(&found, "org settings resource");
    (
        c["result"].as_str().unwrap().to_string(),
        c["found"].as_str().unwrap().to_string(),
        c["fix"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_tries_every_host_token_and_spelling_and_names_the_one_that_answers() {
    // A tenant with strict token scopes (console resources refuse gateway
    // tokens) that serves only py42's singular spelling.
    let mut seed = tenant(json!([]));
    seed["options"] = json!({"settings_paths": ["OrgSetting"]});
    // No org has the watch-path key at all.
    seed["settings"] = json!({});
    let sim = Sim::start(&seed);
    let secret = secret_in(REGION, &sim, "doctor-routes");

    // Strict scopes: a gateway token configured for the console resources.
    let gateway = env(&secret, &[("CODE42_SETTINGS_TOKEN", "gateway")]);
    let (_, table) = cli(&gateway, &["doctor"]);
    println!("doctor, gateway token on a strict tenant:\n{table}");
    let (code, out) = cli(&gateway, &["doctor", "--output", "json"]);
    assert_eq!(code, 1, "{out}");
    let (result, found, fix) = settings_fix(&out);
    assert_eq!(result, "fail");
    assert!(
        found.contains("console/gateway/OrgSettings: 401"),
        "{found}"
    );
    assert!(
        found.contains("console/console/OrgSettings: HTTP 404"),
        "{found}"
    );
    assert_eq!(
        fix,
        "set CODE42_SETTINGS_HOST=console CODE42_SETTINGS_TOKEN=console CODE42_SETTINGS_PATH=OrgSetting (template parameters SettingsHost, SettingsToken, SettingsPath) and run doctor again"
    );
    let org = check(&checks(&out), "target org").clone();
    assert_eq!(org["result"], "fail");
    assert!(
        org["found"]
            .as_str()
            .unwrap()
            .contains("refused the gateway token on the console host"),
        "{org}"
    );

    // The spelling left open: the client falls back to OrgSetting on the 404, so it passes.
    let (code, out) = cli(&env(&secret, &[]), &["doctor", "--output", "json"]);
    assert_eq!(code, 0, "{out}");
    let (result, found, _) = settings_fix(&out);
    assert_eq!(result, "pass");
    assert!(
        found.contains("CODE42_SETTINGS_PATH=OrgSetting;"),
        "{found}"
    );
    assert!(
        found.contains("2 of 8"),
        "console token on both hosts: {found}"
    );
    let key = check(&checks(&out), "watch-path setting").clone();
    assert_eq!(key["result"], "warn", "a missing key is what apply writes");
    assert!(
        key["found"]
            .as_str()
            .unwrap()
            .contains("is not set on org 1003"),
        "{key}"
    );

    // The plural spelling pinned: a failure that names the singular one.
    let (code, out) = cli(
        &env(&secret, &[("CODE42_SETTINGS_PATH", "OrgSettings")]),
        &["doctor", "--output", "json"],
    );
    assert_eq!(code, 1, "{out}");
    let (result, _, fix) = settings_fix(&out);
    assert_eq!(result, "fail");
    assert!(fix.contains("CODE42_SETTINGS_PATH=OrgSetting "), "{fix}");

    // A console host that does not answer, on a tenant whose console
    // resources take gateway tokens: the API host with the gateway token.
    sim.configure(json!({"console_accepts_gateway_tokens": true}))
        .await;
    // Bound and held but never listening: refuses connections until the test ends.
    let reserved = tokio::net::TcpSocket::new_v4().unwrap();
    reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let dead_port = reserved.local_addr().unwrap().port();
    let no_console = format!("doctor-no-console-{}", std::process::id());
    seed_aws(
        json!({"region": REGION, "secrets": [{"name": no_console, "value": {
        "api_url": sim.url, "console_url": format!("http://127.0.0.1:{dead_port}"),
        "api_client_id": CLIENT_ID, "api_client_secret": CLIENT_SECRET}}]}),
    );
    let (code, out) = cli(&env(&no_console, &[]), &["doctor", "--output", "json"]);
    assert_eq!(code, 1, "{out}");
    let (_, found, fix) = settings_fix(&out);
    assert!(
        found.contains("console/console/OrgSettings: unreachable"),
        "{found}"
    );
    assert!(
        fix.starts_with(
            "set CODE42_SETTINGS_HOST=api CODE42_SETTINGS_TOKEN=gateway CODE42_SETTINGS_PATH=OrgSetting"
        ),
        "{fix}"
    );
    assert_eq!(sim.counters().await["writes"], 0, "doctor never writes");
}
