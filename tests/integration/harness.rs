//! Real parts for integration tests: moto (AWS) and the Code42 simulator, each
//! a real HTTP server on loopback, started from the project's virtualenv.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

use serde_json::{Value, json};
use workspaces_code42::adapters::{AwsApp as App, aws_app};
use workspaces_code42::config::Config;

pub const CLIENT_ID: &str = "key-integration";
pub const CLIENT_SECRET: &str = "s3cr3t-integration-value";
pub const WATCH_KEY: &str = "device_fileForensics_watchPaths_included";
pub const WORKSPACES_ORG_GUID: &str = "880000000000000003";

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    let path = std::env::var_os("WSC42_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} not found: run scripts/test.sh, which creates .venv with the pinned emulators",
        path.display()
    );
    path
}

/// Start a tool that prints "LISTENING <url>" and exits when its stdin closes.
fn spawn_listening(args: &[&str]) -> (Child, ChildStdin, String) {
    let mut child = Command::new(python())
        .args(args)
        .arg("--exit-on-stdin-eof")
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start python tool");
    let stdin = child.stdin.take().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("read the tool's first line");
    let url = line
        .strip_prefix("LISTENING ")
        .unwrap_or_else(|| panic!("unexpected first line from {args:?}: {line:?}"))
        .trim()
        .to_string();
    (child, stdin, url)
}

/// One moto server per test binary; it exits when this process does (its stdin closes).
pub fn moto_url() -> &'static str {
    static MOTO: OnceLock<(Mutex<ChildStdin>, String)> = OnceLock::new();
    &MOTO
        .get_or_init(|| {
            let (_child, stdin, url) = spawn_listening(&["tools/moto_launcher.py"]);
            (Mutex::new(stdin), url)
        })
        .1
}

/// Seed moto through tools/seed_aws.py; returns its JSON output.
pub fn seed_aws(spec: Value) -> Value {
    let mut child = Command::new(python())
        .args(["tools/seed_aws.py", "--endpoint", moto_url(), "-"])
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "seed_aws failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A Code42 simulator of its own for one test.
pub struct Sim {
    child: Child,
    _stdin: ChildStdin,
    pub url: String,
    http: reqwest::Client,
    _seed: tempfile_path::TempPath,
}

pub mod tempfile_path {
    /// A file removed on drop.
    pub struct TempPath(pub std::path::PathBuf);
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sim {
    pub fn start(seed: &Value) -> Sim {
        static COUNTER: OnceLock<Mutex<u32>> = OnceLock::new();
        let n = {
            let mut c = COUNTER.get_or_init(|| Mutex::new(0)).lock().unwrap();
            *c += 1;
            *c
        };
        let path =
            std::env::temp_dir().join(format!("code42-seed-{}-{n}.json", std::process::id()));
        std::fs::write(&path, seed.to_string()).unwrap();
        let (child, stdin, url) = spawn_listening(&[
            "tools/code42_sim.py",
            "--port",
            "0",
            "--seed",
            path.to_str().unwrap(),
        ]);
        Sim {
            child,
            _stdin: stdin,
            url,
            http: reqwest::Client::new(),
            _seed: tempfile_path::TempPath(path),
        }
    }

    async fn hook(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}/_sim/{path}", self.url));
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    pub async fn counters(&self) -> Value {
        self.hook(reqwest::Method::GET, "counters", None).await
    }
    /// Arrival times (epoch seconds) of the API requests to `method` `path`, in order.
    pub async fn arrivals(&self, method: &str, path: &str) -> Vec<f64> {
        self.hook(reqwest::Method::GET, "requests", None).await["requests"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["method"] == method && r["path"] == path)
            .map(|r| r["at"].as_f64().unwrap())
            .collect()
    }

    pub async fn writes(&self) -> Vec<Value> {
        self.hook(reqwest::Method::GET, "writes", None).await["writes"]
            .as_array()
            .unwrap()
            .clone()
    }
    pub async fn state(&self) -> Value {
        self.hook(reqwest::Method::GET, "state", None).await
    }
    pub async fn fault(&self, fault: Value) {
        self.hook(reqwest::Method::POST, "faults", Some(fault))
            .await;
    }
    pub async fn expire_tokens(&self) {
        self.hook(reqwest::Method::POST, "expire-tokens", None)
            .await;
    }
    pub async fn configure(&self, config: Value) {
        self.hook(reqwest::Method::POST, "config", Some(config))
            .await;
    }
    pub async fn rotate_clients(&self, clients: Value) {
        self.hook(
            reqwest::Method::POST,
            "clients",
            Some(json!({"clients": clients})),
        )
        .await;
    }
    pub async fn revoke_tokens(&self) {
        self.hook(reqwest::Method::POST, "revoke-tokens", None)
            .await;
    }
    /// A seeded random fault schedule over every API request; `{}` turns it off.
    pub async fn chaos(&self, schedule: Value) -> Value {
        self.hook(reqwest::Method::POST, "chaos", Some(schedule))
            .await
    }
    /// Every token the simulator issued.
    pub async fn issued_tokens(&self) -> Vec<String> {
        self.hook(reqwest::Method::GET, "tokens", None).await["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect()
    }
    pub async fn add_agent(&self, agent: Value) {
        self.hook(reqwest::Method::POST, "agents", Some(agent))
            .await;
    }
    pub async fn add_user(&self, user: Value) {
        self.hook(reqwest::Method::POST, "users", Some(user)).await;
    }

    /// The stored watch-path setting of a legacy org id.
    pub async fn setting(&self, legacy_org_id: u32) -> Value {
        self.state().await["settings"][legacy_org_id.to_string()][WATCH_KEY].clone()
    }

    pub async fn user_org(&self, user_id: &str) -> String {
        let state = self.state().await;
        state["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["userId"] == user_id)
            .map(|u| u["orgGuid"].as_str().unwrap().to_string())
            .unwrap()
    }
}

/// A tenant: root org with `:main` set, Default, WorkSpaces (inherits), Executives.
pub fn tenant(users: Value) -> Value {
    json!({
        "clients": [{"id": CLIENT_ID, "secret": CLIENT_SECRET}],
        "token_ttl_seconds": 900,
        "orgs": [
            {"orgGuid": "880000000000000001", "orgName": "Acme", "legacyOrgId": 1001, "parentOrgGuid": null},
            {"orgGuid": "880000000000000002", "orgName": "Default", "legacyOrgId": 1002, "parentOrgGuid": "880000000000000001"},
            {"orgGuid": WORKSPACES_ORG_GUID, "orgName": "WorkSpaces", "legacyOrgId": 1003, "parentOrgGuid": "880000000000000001"},
            {"orgGuid": "880000000000000004", "orgName": "Executives", "legacyOrgId": 1004, "parentOrgGuid": "880000000000000001"}
        ],
        "users": users,
        "settings": {"1001": {WATCH_KEY: {"value": "[':main']", "locked": false, "scope": "ORG"}}}
    })
}

/// A tenant whose WorkSpaces org already has the watch paths set and locked,
/// with one user per name (`{prefix}-{i}`, `{name}@corp.example.com`) in the WorkSpaces org.
pub fn compliant_tenant(prefix: &str, names: &[&str]) -> Value {
    let users: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| {
            user(
                &format!("{prefix}-{i}"),
                &format!("{n}@corp.example.com"),
                WORKSPACES_ORG_GUID,
            )
        })
        .collect();
    let mut seed = tenant(json!(users));
    compliant_org(&mut seed);
    seed
}

/// The WorkSpaces org's watch paths in `seed` set and locked (compliant).
pub fn compliant_org(seed: &mut Value) {
    seed["settings"]["1003"] =
        json!({WATCH_KEY: {"value": "[':main', 'D:']", "locked": true, "scope": "ORG"}});
}

pub fn user(id: &str, username: &str, org_guid: &str) -> Value {
    json!({"userId": id, "username": username, "orgGuid": org_guid, "active": true, "blocked": false})
}

/// A seeded AWS side: one directory `corp.example.com` and the given WorkSpaces.
pub struct Fleet {
    pub directory_id: String,
    /// (workspace id, user name), in the order given.
    pub workspaces: Vec<(String, String)>,
}

impl Fleet {
    /// `verify --output FORMAT` limited to this fleet's WorkSpaces.
    pub fn verify_args<'a>(&'a self, output: &'a str) -> Vec<&'a str> {
        let mut args = vec!["verify", "--output", output];
        for (id, _) in &self.workspaces {
            args.extend(["--workspace-id", id.as_str()]);
        }
        args
    }
}

pub fn fleet(workspaces: &[(&str, &str)]) -> Fleet {
    // moto allows ten directories per account: tests share one.
    static DIRECTORY: OnceLock<String> = OnceLock::new();
    let directory_id = DIRECTORY.get_or_init(|| {
        seed_aws(json!({"directories": [{"name": "corp.example.com"}]}))["directories"][0]
            .as_str()
            .unwrap()
            .to_string()
    });
    let out = seed_aws(json!({
        "workspaces": workspaces.iter()
            .map(|(user, os)| json!({"user": user, "os": os, "directory_id": directory_id}))
            .collect::<Vec<_>>(),
    }));
    Fleet {
        directory_id: directory_id.clone(),
        workspaces: seeded_workspaces(&out),
    }
}

/// (workspace id, user) of what seed_aws created.
pub fn seeded_workspaces(out: &Value) -> Vec<(String, String)> {
    out["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["workspace_id"].as_str().unwrap().to_string(),
                w["user"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A directory of its own (`name`) with `workspaces` (user, os), for fleet runs.
/// moto allows ten directories per account: keep their number small.
pub fn fleet_in_new_directory(name: &str, workspaces: &[(String, &str)]) -> Fleet {
    fleet_in_region("us-east-1", name, workspaces)
}

/// As `fleet_in_new_directory`, in `region` (a region no other test uses sees only its own WorkSpaces).
pub fn fleet_in_region(region: &str, name: &str, workspaces: &[(String, &str)]) -> Fleet {
    let out = seed_aws(json!({
        "region": region,
        "directories": [{"name": name}],
        "workspaces": workspaces.iter()
            .map(|(user, os)| json!({"user": user, "os": os}))
            .collect::<Vec<_>>(),
    }));
    Fleet {
        directory_id: out["directories"][0].as_str().unwrap().to_string(),
        workspaces: seeded_workspaces(&out),
    }
}

pub async fn sqs() -> aws_sdk_sqs::Client {
    sqs_in("us-east-1").await
}

pub async fn sqs_in(region: &'static str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&moto_sdk(region).await)
}

/// AWS SDK configuration pointing at moto.
pub async fn moto_sdk(region: &'static str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_url())
        .region(aws_config::Region::new(region))
        .test_credentials()
        .load()
        .await
}

pub const WIN: &str = "WINDOWS_SERVER_2022";

/// A ledger table in moto as the template defines it (keys `pk`, `sk`;
/// on-demand); its name.
pub async fn create_ledger_table(name: &str) -> String {
    create_ledger_table_in("us-east-1", name).await
}

/// `create_ledger_table` in `region`.
pub async fn create_ledger_table_in(region: &'static str, name: &str) -> String {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let client = aws_sdk_dynamodb::Client::new(&moto_sdk(region).await);
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest);
    for (key, kind) in [("pk", KeyType::Hash), ("sk", KeyType::Range)] {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(key)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(key)
                    .key_type(kind)
                    .build()
                    .unwrap(),
            );
    }
    request.send().await.unwrap();
    name.to_string()
}

/// The status of each WorkSpace of a JSON report.
pub fn statuses(report: &Value) -> Vec<String> {
    report["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["status"].as_str().unwrap().to_string())
        .collect()
}

/// The computer name the test moto gives a WorkSpace (tools/moto_launcher.py).
pub fn computer_name(workspace_id: &str) -> String {
    format!(
        "WSAMZN-{}",
        workspace_id.trim_start_matches("ws-").to_ascii_uppercase()
    )
}

/// Run the CLI with arbitrary arguments; returns (exit code, stdout).
pub fn cli(env: &HashMap<String, String>, args: &[&str]) -> (i32, String) {
    let (code, stdout, stderr) = cli_in("us-east-1", "warn", env, args);
    assert!(!stdout.contains(CLIENT_SECRET) && !stderr.contains(CLIENT_SECRET));
    (code, stdout)
}

/// Run the CLI against moto in `region` with `RUST_LOG=log`; (exit code, stdout, stderr).
pub fn cli_in(
    region: &str,
    log: &str,
    env: &HashMap<String, String>,
    args: &[&str],
) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_workspaces-code42"))
        .args(args)
        .env_clear()
        .envs(env)
        .env("AWS_ENDPOINT_URL", moto_url())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", region)
        .env("RUST_LOG", log)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// A fresh SQS queue named after `name` and this process; its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(format!("{name}-{}", std::process::id()))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string()
}

/// Store the Code42 secret in moto under a fresh name; returns the name.
pub fn secret_for(sim: &Sim, name: &str) -> String {
    secret_in("us-east-1", sim, name)
}

pub fn secret_in(region: &str, sim: &Sim, name: &str) -> String {
    let name = format!("{name}-{}", std::process::id());
    seed_aws(
        json!({"region": region, "secrets": [{"name": name, "value": {
        "api_url": sim.url, "api_client_id": CLIENT_ID, "api_client_secret": CLIENT_SECRET,
        "unknown_field": "ignored"}}]}),
    );
    name
}

/// A creation event for the given WorkSpaces, from events/create-workspaces.json.
pub fn creation_event(fleet: &Fleet) -> Value {
    let mut event: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("events/create-workspaces.json")).unwrap(),
    )
    .unwrap();
    event["detail"]["responseElements"]["pendingRequests"] = fleet
        .workspaces
        .iter()
        .map(|(id, user)| {
            json!({"workspaceId": id, "directoryId": fleet.directory_id, "userName": user,
                   "state": "PENDING", "bundleId": "wsb-12345abcd"})
        })
        .collect();
    event
}

/// The environment a deployment would have.
pub fn env(secret_id: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("CODE42_SECRET_ID", secret_id),
        ("CODE42_ORG", "WorkSpaces"),
        ("WORKSPACES_DESCRIBE_BACKOFF_MS", "50"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

pub async fn app(env: &HashMap<String, String>) -> App {
    app_in("us-east-1", env).await
}

pub async fn app_in(region: &'static str, env: &HashMap<String, String>) -> App {
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("valid test config");
    aws_app(config, &moto_sdk(region).await)
}

pub fn deadline(seconds: u64) -> tokio::time::Instant {
    tokio::time::Instant::now() + std::time::Duration::from_secs(seconds)
}

/// Run the CLI binary (a fresh process) on an event; returns (exit code, JSON printed).
pub fn invoke_cli(env: &HashMap<String, String>, event: &Value) -> (i32, Value) {
    let path = std::env::temp_dir().join(format!(
        "event-{}-{}.json",
        std::process::id(),
        env["CODE42_SECRET_ID"].replace('/', "_")
    ));
    std::fs::write(&path, event.to_string()).unwrap();
    let (code, stdout) = cli(env, &["invoke", "--event", path.to_str().unwrap()]);
    let _ = std::fs::remove_file(&path);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("CLI printed non-JSON ({e}): {stdout}"));
    (code, json)
}

/// The common single-event setup: a tenant with `users`, WorkSpaces in the
/// shared directory, the secret, and an App configured with `extra` env.
pub async fn scenario(
    name: &str,
    users: Value,
    workspaces: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> (Sim, Fleet, App) {
    let sim = Sim::start(&tenant(users));
    let fleet = fleet(workspaces);
    let app = app(&env(&secret_for(&sim, name), extra)).await;
    (sim, fleet, app)
}

/// The reason (or error) given for the i-th WorkSpace of a JSON report.
pub fn reason_of(report: &Value, i: usize) -> String {
    let w = &report["workspaces"][i];
    w["reason"]
        .as_str()
        .or(w["error"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Handle `event`, expecting success; the report as JSON.
pub async fn report_of(app: &App, event: &Value) -> Value {
    let output = app
        .handle(event, deadline(30))
        .await
        .expect("handler succeeds");
    serde_json::to_value(output.report).unwrap()
}

/// One SQS record as Lambda delivers it, with `body` as the message.
pub fn sqs_record(message_id: &str, body: &str) -> Value {
    json!({"messageId": message_id, "receiptHandle": "AQEB", "body": body,
           "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
           "md5OfBody": "0", "eventSource": "aws:sqs",
           "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work", "awsRegion": "us-east-1"})
}
