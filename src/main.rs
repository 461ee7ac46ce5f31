//! The `workspaces-code42` command line.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;
use workspaces_code42::handler::App;

/// Keep Amazon WorkSpaces users in their Code42 org, with the org's
/// file-activity watch paths (:main and D:) set and locked.
///
/// Configuration comes from the environment, exactly as for the Lambda:
/// CODE42_SECRET_ID, CODE42_ORG, CODE42_MODE (apply|verify) and the optional
/// settings listed in the README. AWS access uses the standard configuration
/// (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...).
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
        Command::Invoke { event, timeout } => {
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
    }
}
