//! The `workspaces-code42` command line: parse arguments, build the
//! application on AWS, run it, print, exit with the documented code. Each
//! concern lives in a module of its own; this file parses and dispatches.

mod args;
mod aws;
mod commands;
mod hints;
mod output;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches};
use tracing_subscriber::EnvFilter;
use workspaces_code42::render::OutputFormat;

use args::{Cli, Command};
use aws::AwsOptions;
use hints::one_line;
use output::BarSafeStderr;

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
        overrides: [
            ("CODE42_ACCOUNTS", &cli.accounts),
            ("CODE42_REGIONS", &cli.regions),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.clone()?)))
        .collect(),
    };
    let json_errors = match &cli.command {
        Command::Invoke { .. } => true,
        Command::Backfill { fleet, .. } | Command::Verify { fleet } => {
            fleet.output == OutputFormat::Json
        }
        Command::Completions { .. } => false,
        Command::Doctor { output, .. }
        | Command::Agents { output, .. }
        | Command::History { output, .. }
        | Command::Undo { output, .. } => *output == OutputFormat::Json,
    };
    match commands::run(cli, &aws).await {
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
