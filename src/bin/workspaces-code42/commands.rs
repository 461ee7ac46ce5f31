//! Each subcommand, run: the exit code it ends with.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::CommandFactory;
use workspaces_code42::app::UndoRequest;
use workspaces_code42::domain::hygiene::AgentsRequest;
use workspaces_code42::domain::ledger::HistoryFilter;
use workspaces_code42::domain::model::{FleetAction, FleetRequest};
use workspaces_code42::render::OutputFormat;

use crate::args::{CleanupArg, Cli, Command, FleetArgs};
use crate::aws::{AwsOptions, app_from_env, build};
use crate::output::{fleet_run, print_report};

pub async fn run(cli: Cli, aws: &AwsOptions) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Invoke { event, timeout } => invoke(aws, event, timeout).await,
        Command::Backfill {
            fleet,
            dry_run,
            max_moves,
            enqueue,
            queue_url,
        } => backfill(aws, fleet, dry_run, max_moves, enqueue, queue_url).await,
        Command::Doctor { output, timeout } => doctor(aws, output, timeout).await,
        Command::Agents {
            deactivate,
            max_deactivations,
            min_idle_days,
            return_users,
            max_moves,
            dry_run,
            output,
            timeout,
        } => {
            let request = AgentsRequest {
                deactivate: deactivate.map(CleanupArg::cleanup),
                max_deactivations,
                min_idle_days,
                return_users,
                max_moves,
                dry_run,
            };
            agents(aws, &request, output, timeout).await
        }
        Command::History {
            user,
            workspace_id,
            run,
            kind,
            since,
            output,
        } => {
            let filter = HistoryFilter {
                user,
                workspace_id,
                run,
                kind,
                since,
            };
            history(aws, &filter, output).await
        }
        Command::Undo {
            run,
            release,
            dry_run,
            max_moves,
            output,
        } => undo(aws, run, release, dry_run, max_moves, output).await,
        Command::Completions { shell } => Ok(completions(shell)),
        Command::Verify { fleet } => {
            let request = FleetRequest {
                action: FleetAction::Verify,
                filter: fleet.filter()?,
                dry_run: true,
                max_moves: Some(0),
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

/// Plan, then move (or queue) within --max-moves; exit 1 when the run failed.
async fn backfill(
    aws: &AwsOptions,
    fleet: FleetArgs,
    dry_run: bool,
    max_moves: Option<usize>,
    enqueue: bool,
    queue_url: Option<String>,
) -> anyhow::Result<ExitCode> {
    let filter = fleet.filter()?;
    let app = build(aws, &fleet, queue_url).await?;
    if !dry_run && !enqueue && !app.has_ledger() {
        eprintln!(
            "note: no ledger (CODE42_LEDGER_TABLE): moves are capped for this run (--max-moves) but not budgeted across runs, and not recorded for history"
        );
    }
    let request = FleetRequest {
        action: FleetAction::Backfill,
        filter,
        dry_run,
        max_moves,
        enqueue: Some(enqueue),
    };
    Ok(match fleet_run(&app, &fleet, &request).await? {
        Some(_) => ExitCode::SUCCESS,
        None => ExitCode::FAILURE,
    })
}

/// The shell's completion script on standard output.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "workspaces-code42",
        &mut std::io::stdout(),
    );
    ExitCode::SUCCESS
}

/// Exit 2 when duplicates or orphans are found, 1 on errors.
async fn agents(
    aws: &AwsOptions,
    request: &AgentsRequest,
    output: OutputFormat,
    timeout: u64,
) -> anyhow::Result<ExitCode> {
    let app = app_from_env(aws, |_| {}).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
    match app.agents(request, deadline).await {
        Ok(report) => {
            print_report(output, &report, None)?;
            Ok(if report.needs_attention() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Err(failure) => {
            match &failure.report {
                Some(report) => print_report(output, report, Some(&failure))?,
                None if output == OutputFormat::Json => println!("{}", failure.to_json()),
                None => {}
            }
            eprintln!("error: {}", failure.error);
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Exit 1 when a check fails (warnings allowed).
async fn doctor(aws: &AwsOptions, output: OutputFormat, timeout: u64) -> anyhow::Result<ExitCode> {
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

async fn undo(
    aws: &AwsOptions,
    run: Option<String>,
    release: Option<String>,
    dry_run: bool,
    max_moves: Option<usize>,
    output: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let app = app_from_env(aws, |_| {}).await?;
    let outcome = match (release, run) {
        (Some(run_id), _) => app.release(&run_id).await,
        (None, Some(run_id)) => {
            let request = UndoRequest {
                run_id,
                dry_run,
                max_moves,
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
            app.undo(&request, deadline).await
        }
        (None, None) => anyhow::bail!("undo needs --run RUN_ID or --release RUN_ID"),
    };
    match outcome {
        Ok(report) => {
            print_report(output, &report, None)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            eprintln!("error: {}", failure.error);
            match failure.report.as_deref() {
                Some(report) => print_report(output, report, Some(&failure))?,
                None if output == OutputFormat::Json => println!("{}", failure.to_json()),
                None => {}
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

async fn history(
    aws: &AwsOptions,
    filter: &HistoryFilter,
    output: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let app = app_from_env(aws, |_| {}).await?;
    let report = app
        .history(filter)
        .await
        .map_err(|failure| anyhow::anyhow!(failure.error.to_string()))?;
    print_report(output, &report, None)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn invoke(
    aws: &AwsOptions,
    event: PathBuf,
    timeout: u64,
) -> anyhow::Result<ExitCode> {
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
