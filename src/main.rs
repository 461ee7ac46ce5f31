//! The `workspaces-code42` command line.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use tracing_subscriber::EnvFilter;
use workspaces_code42::domain::ids::{DirectoryId, WorkspaceId};
use workspaces_code42::domain::report::{InvocationReport, Status, WorkspaceReport};
use workspaces_code42::fleet::FleetProgress;
use workspaces_code42::handler::{App, InvocationFailure};
use workspaces_code42::input::{FleetAction, FleetRequest};
use workspaces_code42::ports::FleetFilter;

/// Keep Amazon WorkSpaces users in their Code42 org, with the org's
/// file-activity watch paths (:main and D:) set and locked.
///
/// Configuration comes from the environment, exactly as for the Lambda:
/// CODE42_SECRET_ID, CODE42_ORG, CODE42_MODE (apply|verify) and the optional
/// settings listed in the README. AWS access uses the standard configuration
/// (AWS_PROFILE including SSO profiles, AWS_REGION, AWS_ENDPOINT_URL, ...).
#[derive(Parser)]
#[command(name = "workspaces-code42", version, about, long_about)]
struct Cli {
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
    /// is moved and the command says how many it would move. Exits 0 when
    /// done, 1 on errors (including too many moves).
    Backfill {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Report what would change; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Stop before the first move when more users than this would move.
        #[arg(long, value_name = "N", default_value_t = 25)]
        max_moves: usize,
        /// Send one message per WorkSpace to the deployed function's work
        /// queue (--queue-url or WORK_QUEUE_URL) instead of working locally.
        #[arg(long)]
        enqueue: bool,
        /// The work queue's URL (the stack output WorkQueueUrl).
        #[arg(long, value_name = "URL", requires = "enqueue")]
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
    /// How to print the result: a table for people, JSON for machines.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    /// WorkSpaces checked at once (overrides CODE42_CONCURRENCY).
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// Time budget for the whole run.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    timeout: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum OutputFormat {
    Table,
    Json,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| EnvFilter::new("workspaces_code42=info,warn")),
        )
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            println!(
                "{}",
                serde_json::json!({ "error": format!("{e:#}"), "retryable": false })
            );
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Invoke { event, timeout } => invoke(event, timeout).await,
        Command::Backfill {
            fleet,
            dry_run,
            max_moves,
            enqueue,
            queue_url,
        } => {
            let request = FleetRequest {
                action: FleetAction::Backfill,
                filter: filter(&fleet)?,
                dry_run,
                max_moves,
                enqueue: Some(enqueue),
            };
            let result = fleet_run(&fleet, &request, queue_url).await?;
            Ok(match result {
                Ok(_) => ExitCode::SUCCESS,
                Err(()) => ExitCode::FAILURE,
            })
        }
        Command::Verify { fleet } => {
            let request = FleetRequest {
                action: FleetAction::Verify,
                filter: filter(&fleet)?,
                dry_run: true,
                max_moves: 0,
                enqueue: Some(false),
            };
            Ok(match fleet_run(&fleet, &request, None).await? {
                Ok(report) if needs_attention(&report) => ExitCode::from(2),
                Ok(_) => ExitCode::SUCCESS,
                Err(()) => ExitCode::FAILURE,
            })
        }
    }
}

async fn invoke(event: PathBuf, timeout: u64) -> anyhow::Result<ExitCode> {
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
    let app = App::from_env().await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    match app.handle(&payload, deadline).await {
        Ok(output) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&output.lambda_response())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            println!("{}", serde_json::to_string_pretty(&failure.to_json())?);
            Ok(ExitCode::FAILURE)
        }
    }
}

fn filter(args: &FleetArgs) -> anyhow::Result<FleetFilter> {
    Ok(FleetFilter {
        directory_ids: args
            .directory_ids
            .iter()
            .map(|d| DirectoryId::parse(d))
            .collect::<Result<_, _>>()?,
        workspace_ids: args
            .workspace_ids
            .iter()
            .map(|w| WorkspaceId::parse(w))
            .collect::<Result<_, _>>()?,
        user: args.user.clone(),
    })
}

/// A progress bar on a terminal; nothing when output is piped.
struct Bar(Option<ProgressBar>);

impl FleetProgress for Bar {
    fn listed(&self, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_length(total as u64);
        }
    }
    fn done(&self, _report: &WorkspaceReport) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }
}

/// Run, print the (partial) report; Err(()) when the run failed.
async fn fleet_run(
    args: &FleetArgs,
    request: &FleetRequest,
    queue_url: Option<String>,
) -> anyhow::Result<Result<InvocationReport, ()>> {
    let app = App::from_env_with(|config| {
        if let Some(n) = args.concurrency.filter(|n| *n > 0) {
            config.concurrency = n;
        }
        if queue_url.is_some() {
            config.work_queue_url = queue_url;
        }
    })
    .await?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {pos}/{len} WorkSpaces [{bar:30}] {elapsed} (eta {eta})",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar
    });
    let progress = Bar(bar);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.timeout);
    let result = app.fleet(request, deadline, &progress).await;
    if let Some(bar) = &progress.0 {
        bar.finish_and_clear();
    }
    match result {
        Ok(report) => {
            print_report(args.output, &report, None)?;
            Ok(Ok(report))
        }
        Err(failure) => {
            match &failure.report {
                Some(report) => print_report(args.output, report, Some(&failure))?,
                None if args.output == OutputFormat::Json => {
                    println!("{}", serde_json::to_string_pretty(&failure.to_json())?)
                }
                None => eprintln!("error: {}", failure.error),
            }
            Ok(Err(()))
        }
    }
}

/// Drift, users not yet in Code42, or users outside the WorkSpaces org.
fn needs_attention(report: &InvocationReport) -> bool {
    report
        .org
        .as_ref()
        .is_some_and(|o| o.status == Status::Drift)
        || report
            .workspaces
            .iter()
            .any(|w| matches!(w.status, Status::Drift | Status::Deferred) || w.outside_org)
}

fn print_report(
    format: OutputFormat,
    report: &InvocationReport,
    failure: Option<&InvocationFailure>,
) -> anyhow::Result<()> {
    if format == OutputFormat::Json {
        let value = match failure {
            Some(f) => f.to_json(),
            None => serde_json::to_value(report)?,
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if !report.workspaces.is_empty() {
        let rows: Vec<[String; 5]> = report
            .workspaces
            .iter()
            .map(|w| {
                [
                    w.workspace_id.clone().unwrap_or_else(|| "-".into()),
                    w.workspaces_user.clone().unwrap_or_else(|| "-".into()),
                    w.code42_username.clone().unwrap_or_else(|| "-".into()),
                    serde_json::to_value(w.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    w.error
                        .clone()
                        .or_else(|| w.reason.clone())
                        .unwrap_or_default(),
                ]
            })
            .collect();
        let header = ["WORKSPACE", "USER", "CODE42 USERNAME", "STATUS", "DETAIL"].map(String::from);
        let widths: Vec<usize> = (0..4)
            .map(|i| {
                rows.iter()
                    .chain([&header])
                    .map(|r| r[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in [&header].into_iter().chain(&rows) {
            println!(
                "{:w0$}  {:w1$}  {:w2$}  {:w3$}  {}",
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                w0 = widths[0],
                w1 = widths[1],
                w2 = widths[2],
                w3 = widths[3]
            );
        }
        println!();
    }
    if let Some(org) = &report.org {
        let status = serde_json::to_value(org.status)?;
        println!(
            "org {} ({}, id {}): {} — {}",
            org.org_name,
            org.org_guid,
            org.legacy_org_id,
            status.as_str().unwrap_or_default(),
            org.finding
        );
    }
    let s = &report.summary;
    println!(
        "{} WorkSpace(s): {} configured, {} compliant, {} drift, {} skipped, {} deferred, {} failed ({})",
        s.total, s.configured, s.compliant, s.drift, s.skipped, s.deferred, s.failed, report.mode
    );
    if let Some(n) = report.enqueued {
        println!("{n} WorkSpace(s) sent to the work queue");
    }
    if let Some(note) = &report.note {
        println!("{note}");
    }
    if let Some(f) = failure {
        eprintln!("error: {}", f.error);
    }
    Ok(())
}
