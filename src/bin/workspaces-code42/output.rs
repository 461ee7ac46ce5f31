//! What the CLI prints: reports (JSON streamed, tables, CSV), the progress
//! bar, and log lines written around it.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use workspaces_code42::adapters::AwsApp;
use workspaces_code42::app::FleetProgress;
use workspaces_code42::domain::location::Location;
use workspaces_code42::domain::model::FleetRequest;
use workspaces_code42::domain::report::{InvocationReport, Status};
use workspaces_code42::render::{self, OutputFormat};

use crate::args::FleetArgs;

/// The progress bar being drawn, if any: log lines are written around it.
pub(crate) static BAR: std::sync::OnceLock<ProgressBar> = std::sync::OnceLock::new();

/// Standard error for log lines; while a bar is drawn, each line is written
/// with the bar hidden, so neither tears the other.
pub(crate) struct BarSafeStderr;

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
pub(crate) struct Bar(Option<ProgressBar>);

impl FleetProgress for Bar {
    fn stage(&self, name: &'static str, total: usize) {
        if let Some(bar) = &self.0 {
            bar.set_message(name);
            bar.set_length(total as u64);
            bar.set_position(0);
            bar.reset_eta();
        }
    }
    fn done(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }
    fn listed(&self, at: &Location, workspaces: Option<usize>) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
            match workspaces {
                Some(n) => bar.println(format!("  {at}: {n} WorkSpace(s)")),
                None => bar.println(format!("  {at}: not listed")),
            }
        }
    }
}

/// JSON is streamed to standard output; the other formats are small.
pub(crate) fn print_report(
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
pub(crate) async fn fleet_run(
    app: &AwsApp,
    args: &FleetArgs,
    request: &FleetRequest,
) -> anyhow::Result<Option<InvocationReport>> {
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {msg:9} {pos}/{len} [{bar:30}] {elapsed} (eta {eta})",
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
