//! The `workspaces-code42` command line: parse arguments, build the
//! application on AWS, run it, print, exit with the documented code.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;
use workspaces_code42::adapters::lambda::function_environment;
use workspaces_code42::adapters::{AwsApp, aws_app};
use workspaces_code42::app::FleetProgress;
use workspaces_code42::config::Config;
use workspaces_code42::domain::model::{FilterField, FleetAction, FleetFilter, FleetRequest};
use workspaces_code42::domain::report::{InvocationReport, Status, WorkspaceReport};
use workspaces_code42::render::{self, OutputFormat};

/// Keep Amazon WorkSpaces users in their Code42 org, with the org's
/// file-activity watch paths (:main and D:) set and locked.
///
/// Configuration comes from the environment, exactly as for the Lambda:
/// CODE42_SECRET_ID, CODE42_ORG, CODE42_MODE (apply|verify) and the optional
/// settings listed in the README. AWS access uses the standard configuration
/// (AWS_PROFILE including SSO profiles, AWS_REGION, AWS_ENDPOINT_URL, ...).
///
/// Exit codes: 0 ok / compliant, 1 error, 2 drift or not covered (verify),
/// 64 usage error.
#[derive(Parser)]
#[command(name = "workspaces-code42", version, about, long_about)]
struct Cli {
    /// More log output (debug for this tool, warnings from the AWS SDK);
    /// RUST_LOG, when set, decides instead.
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Run with the deployed function's settings (its environment: secret,
    /// org, mode, templates, protected orgs, plan, queue). Environment
    /// variables set here still win and are listed as overrides, except that
    /// a function in verify mode keeps the CLI in verify.
    #[arg(
        long,
        global = true,
        value_name = "NAME",
        env = "WORKSPACES_CODE42_FUNCTION"
    )]
    function_name: Option<String>,
    /// The AWS profile (as in the aws and sam CLIs).
    #[arg(long, global = true, value_name = "NAME", env = "AWS_PROFILE")]
    profile: Option<String>,
    /// The AWS region.
    #[arg(long, global = true, value_name = "REGION", env = "AWS_REGION")]
    region: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the Lambda handler locally on an event file and print its JSON result.
    ///
    /// Exits 0 when the handler succeeds and 1 when it fails (the Lambda
    /// would then be retried and dead-lettered); the JSON printed on failure
    /// has "error", "retryable" and the partial "result".
    Invoke {
        /// The event (JSON), or - for standard input.
        #[arg(long, value_name = "FILE")]
        event: PathBuf,
        /// Time budget, like the Lambda's timeout: retries and waits stop before it.
        #[arg(long, value_name = "SECONDS", default_value_t = 60)]
        timeout: u64,
    },
    /// Apply the flow to every existing WorkSpace (or those selected).
    ///
    /// Plans first with a read-only pass. Moving a user moves all of their
    /// devices, so if the plan would move more than --max-moves users nothing
    /// is moved (or queued) and the command says how many it would move.
    /// Exits 0 when done, 1 on errors (including too many moves).
    Backfill {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Report what would change (including the exact setting value); change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop before the first move when more users than this would move
        /// [default: 25].
        #[arg(long, value_name = "N", env = "CODE42_MAX_MOVES")]
        max_moves: Option<usize>,
        /// Send the planned moves to the deployed function's work queue
        /// (--queue-url or WORK_QUEUE_URL) instead of moving locally.
        #[arg(long)]
        enqueue: bool,
        /// The work queue's URL (the stack output WorkQueueUrl).
        #[arg(long, value_name = "URL", requires = "enqueue", env = "WORK_QUEUE_URL")]
        queue_url: Option<String>,
    },
    /// Read-only audit of the WorkSpaces (or those selected) and the org setting.
    ///
    /// Exits 0 when everything is compliant; 2 when drift is found or a
    /// Windows WorkSpace's user is not in the WorkSpaces org (users not yet in
    /// Code42 count); 1 on errors. Suitable as a pipeline gate.
    Verify {
        #[command(flatten)]
        fleet: FleetArgs,
    },
    /// A read-only checklist of everything apply needs: AWS access, the
    /// secret, tokens, the org, the settings resource and key, the user-name
    /// template on sample users, guard-rail orgs, the plan. Each check says
    /// what it found and the exact fix. Writes nothing. Exits 0 when
    /// everything apply needs works (warnings allowed), 1 otherwise.
    Doctor {
        /// A checklist for people, or JSON.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
        /// Time budget.
        #[arg(long, value_name = "SECONDS", default_value_t = 120)]
        timeout: u64,
    },
    /// Print a shell completion script, e.g.
    /// `workspaces-code42 completions bash > /etc/bash_completion.d/workspaces-code42`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
struct FleetArgs {
    /// Only WorkSpaces in this directory (repeatable).
    #[arg(long = "directory-id", value_name = "ID")]
    directory_ids: Vec<String>,
    /// Only this WorkSpace (repeatable).
    #[arg(long = "workspace-id", value_name = "ID")]
    workspace_ids: Vec<String>,
    /// Only WorkSpaces of this WorkSpaces user name (case-insensitive).
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// How to print the result: a table for people, JSON or CSV for machines.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    /// Show only WorkSpaces with this status (repeatable); the summary counts all.
    #[arg(long = "status", value_name = "STATUS",
          value_parser = clap::builder::PossibleValuesParser::new(Status::ALL.map(Status::as_str)))]
    statuses: Vec<String>,
    /// WorkSpaces checked at once, and the ceiling of Code42 requests in
    /// flight (which adapts below it) [default: 16].
    #[arg(long, value_name = "N", env = "CODE42_CONCURRENCY")]
    concurrency: Option<usize>,
    /// Time budget for the whole run.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    timeout: u64,
}

impl FleetArgs {
    fn filter(&self) -> anyhow::Result<FleetFilter> {
        FleetFilter::parse(
            &self.directory_ids,
            &self.workspace_ids,
            self.user.as_deref(),
        )
        .map_err(|e| {
            let flag = match e.field {
                FilterField::DirectoryIds => "--directory-id",
                FilterField::WorkspaceIds => "--workspace-id",
            };
            anyhow::anyhow!("{flag}: {e}")
        })
    }
}

/// BSD's EX_USAGE: the command line was wrong (not "drift found", which is 2).
const EXIT_USAGE: u8 = 64;

#[tokio::main]
async fn main() -> ExitCode {
    let environment = workspaces_code42::config::environment_help();
    let command = Cli::command()
        .after_long_help(environment.clone())
        .mut_subcommands(|sub| match sub.get_name() {
            "completions" => sub,
            _ => sub.after_long_help(environment.clone()),
        });
    // As in the aws CLI, `--profile` on the command line beats credentials in
    // the environment (AWS_PROFILE set in the environment does not).
    let mut profile_flag = false;
    let cli = match command.try_get_matches().and_then(|m| {
        profile_flag = m.value_source("profile") == Some(clap::parser::ValueSource::CommandLine);
        Cli::from_arg_matches(&m)
    }) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => ExitCode::from(EXIT_USAGE),
            };
        }
    };
    let default_filter = if cli.verbose {
        "workspaces_code42=debug,warn"
    } else {
        "workspaces_code42=info,error"
    };
    tracing_subscriber::fmt()
        .with_writer(|| BarSafeStderr)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .init();
    // invoke prints what the Lambda would return; JSON runs print one document either way.
    let aws = AwsOptions {
        function_name: cli.function_name.clone(),
        profile: cli.profile.clone(),
        profile_flag,
        region: cli.region.clone(),
    };
    let json_errors = match &cli.command {
        Command::Invoke { .. } => true,
        Command::Backfill { fleet, .. } | Command::Verify { fleet } => {
            fleet.output == OutputFormat::Json
        }
        Command::Completions { .. } => false,
        Command::Doctor { output, .. } => *output == OutputFormat::Json,
    };
    match run(cli, &aws).await {
        Ok(code) => code,
        Err(e) => {
            let message = one_line(&e);
            eprintln!("error: {message}");
            if json_errors {
                println!(
                    "{}",
                    serde_json::json!({ "error": message, "retryable": false, "result": null })
                );
            }
            ExitCode::FAILURE
        }
    }
}

/// The error chain on one line, with the fix for the failures people hit first.
fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}").replace('\n', " ");
    let lower = text.to_ascii_lowercase();
    if lower.contains("aws sso login") {
        return text; // the fix is already said
    }
    if lower.contains("sso") && (lower.contains("expired") || lower.contains("invalid")) {
        return format!(
            "{text} — the AWS SSO session has expired: run `aws sso login --profile {}`",
            std::env::var("AWS_PROFILE").unwrap_or_else(|_| "<profile>".into())
        );
    }
    if lower.contains("no credentials") || lower.contains("credentialsnotloaded") {
        return format!(
            "{text} — no AWS credentials: set AWS_PROFILE (or run `aws configure` / `aws sso login`)"
        );
    }
    text
}

/// How to reach AWS, and whose settings to run with.
struct AwsOptions {
    function_name: Option<String>,
    profile: Option<String>,
    /// The profile was named on the command line: its credentials, not the environment's.
    profile_flag: bool,
    region: Option<String>,
}

async fn run(cli: Cli, aws: &AwsOptions) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Invoke { event, timeout } => invoke(aws, event, timeout).await,
        Command::Backfill {
            fleet,
            dry_run,
            max_moves,
            enqueue,
            queue_url,
        } => {
            let filter = fleet.filter()?;
            let app = build(aws, &fleet, queue_url).await?;
            let request = FleetRequest {
                action: FleetAction::Backfill,
                filter,
                dry_run,
                max_moves: max_moves.unwrap_or(app.config().max_moves),
                enqueue: Some(enqueue),
            };
            Ok(match fleet_run(&app, &fleet, &request).await? {
                Some(_) => ExitCode::SUCCESS,
                None => ExitCode::FAILURE,
            })
        }
        Command::Doctor { output, timeout } => {
            let app = app_from_env(aws, |_| {}).await?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
            let report = app.doctor(deadline).await;
            print_report(output, &report, None)?;
            let failed = report
                .doctor
                .iter()
                .flatten()
                .any(|c| c.result == workspaces_code42::domain::report::CheckResult::Fail);
            Ok(if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "workspaces-code42",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { fleet } => {
            let request = FleetRequest {
                action: FleetAction::Verify,
                filter: fleet.filter()?,
                dry_run: true,
                max_moves: 0,
                enqueue: Some(false),
            };
            let app = build(aws, &fleet, None).await?;
            Ok(match fleet_run(&app, &fleet, &request).await? {
                Some(report) if report.needs_attention() => ExitCode::from(2),
                Some(_) => ExitCode::SUCCESS,
                None => ExitCode::FAILURE,
            })
        }
    }
}

/// The application on AWS: AWS from the standard chain (with --profile and
/// --region), configuration from the environment over the deployed
/// function's (with --function-name), then the command line's overrides.
async fn app_from_env(
    aws: &AwsOptions,
    adjust: impl FnOnce(&mut Config),
) -> anyhow::Result<AwsApp> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(profile) = &aws.profile {
        loader = loader.profile_name(profile);
        if aws.profile_flag {
            // The default chain reads AWS_ACCESS_KEY_ID before any profile:
            // `--profile prod` must not quietly run with other keys. The
            // region (--region or AWS_REGION) serves role and SSO look-ups.
            use aws_sdk_workspaces::config::ProvideCredentials;
            let region = aws.region.clone().map(aws_config::Region::new);
            let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .configure(
                    &aws_config::provider_config::ProviderConfig::default().with_region(region),
                )
                .profile_name(profile)
                .build();
            // Said here, by name: the SDK's first call would only say that
            // "the credential provider was not enabled".
            if let Err(e) = credentials.provide_credentials().await {
                anyhow::bail!(
                    "AWS profile {profile:?} cannot be used ({}): check that it exists (`aws configure list-profiles`), or run `aws sso login --profile {profile}`",
                    workspaces_code42::error::chain(&e)
                );
            }
            loader = loader.credentials_provider(credentials);
        }
    }
    if let Some(region) = &aws.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    let mut config = match &aws.function_name {
        None => Config::from_env()?,
        Some(name) => {
            let deployed = function_environment(&sdk, name).await?;
            let (config, overridden) = Config::from_deployed(&deployed, |k| std::env::var(k).ok())?;
            eprintln!(
                "using the configuration of function {name} ({} setting(s)){}",
                deployed.len(),
                if overridden.is_empty() {
                    String::new()
                } else {
                    format!("; overridden here: {}", overridden.join(", "))
                }
            );
            config
        }
    };
    adjust(&mut config);
    Ok(aws_app(config, &sdk))
}

async fn build(
    aws: &AwsOptions,
    args: &FleetArgs,
    queue_url: Option<String>,
) -> anyhow::Result<AwsApp> {
    app_from_env(aws, |config| {
        if let Some(n) = args.concurrency.filter(|n| *n > 0) {
            config.concurrency = n;
        }
        if queue_url.is_some() {
            config.work_queue_url = queue_url;
        }
    })
    .await
}

async fn invoke(aws: &AwsOptions, event: PathBuf, timeout: u64) -> anyhow::Result<ExitCode> {
    let text = if event.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the event from standard input")?;
        s
    } else {
        std::fs::read_to_string(&event)
            .with_context(|| format!("reading event file {}", event.display()))?
    };
    let payload: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("event file {} is not JSON", event.display()))?;
    let app = app_from_env(aws, |_| {}).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    let (json, code) = match app.handle(&payload, deadline).await {
        Ok(output) => (output.lambda_response(), ExitCode::SUCCESS),
        Err(failure) => {
            eprintln!("error: {}", failure.error);
            (failure.to_json(), ExitCode::FAILURE)
        }
    };
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(code)
}

/// The progress bar being drawn, if any: log lines are written around it.
static BAR: std::sync::OnceLock<ProgressBar> = std::sync::OnceLock::new();

/// Standard error for log lines; while a bar is drawn, each line is written
/// with the bar hidden, so neither tears the other.
struct BarSafeStderr;

impl std::io::Write for BarSafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BAR.get().filter(|bar| !bar.is_finished()) {
            Some(bar) => bar.suspend(|| std::io::stderr().write_all(buf))?,
            None => std::io::stderr().write_all(buf)?,
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// A progress bar on a terminal; nothing when output is piped.
struct Bar(Option<ProgressBar>);

impl FleetProgress for Bar {
    fn stage(&self, name: &'static str, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_message(name);
            bar.set_length(total as u64);
            bar.set_position(0);
            bar.reset_eta();
        }
    }
    fn done(&self, _report: &WorkspaceReport) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }
}

/// JSON is streamed to standard output; the other formats are small.
fn print_report(
    format: OutputFormat,
    report: &InvocationReport,
    failure: Option<&workspaces_code42::app::InvocationFailure>,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        OutputFormat::Json => render::write_json(&mut out, report, failure)?,
        _ => out.write_all(render::report(format, report, failure).as_bytes())?,
    }
    out.flush()
}

/// Run and print the (partial) report; None when the run failed.
async fn fleet_run(
    app: &AwsApp,
    args: &FleetArgs,
    request: &FleetRequest,
) -> anyhow::Result<Option<InvocationReport>> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:9} {pos}/{len} WorkSpaces [{bar:30}] {elapsed} (eta {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let _ = BAR.set(bar.clone());
        bar
    });
    let progress = Bar(bar);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let result = app.fleet(request, deadline, &progress).await;
    if let Some(bar) = &progress.0 {
        bar.finish_and_clear();
    }
    let statuses: Vec<Status> = args
        .statuses
        .iter()
        .filter_map(|s| Status::parse(s))
        .collect();
    match result {
        Ok(report) => {
            let shown = render::only_statuses(&report, &statuses);
            print_report(args.output, &shown, None)?;
            Ok(Some(report))
        }
        Err(failure) => {
            match &failure.report {
                Some(report) => {
                    let shown = render::only_statuses(report, &statuses);
                    print_report(args.output, &shown, Some(&failure))?
                }
                None if args.output == OutputFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&failure.to_json())?)
                }
                None => {}
            }
            eprintln!("error: {}", failure.error);
            Ok(None)
        }
    }
}
