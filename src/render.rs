//! The CLI's output: a table for people, JSON for machines.

use std::borrow::Cow;

use serde_json::Value;

use crate::app::InvocationFailure;
use crate::domain::hygiene::AgentHygiene;
use crate::domain::ledger::LedgerEntry;
use crate::domain::report::{Check, CheckResult, InvocationReport, OrgReport, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns and summary lines, for people.
    Table,
    /// The result document (on failure: `{"error", "retryable", "result"}`).
    Json,
    /// One row per WorkSpace; nested fields flattened with `_`.
    Csv,
}

/// The CSV columns: the JSON record's fields, nested ones flattened with `_`.
pub const CSV_COLUMNS: [&str; 24] = [
    "account",
    "region",
    "workspace_id",
    "directory_id",
    "workspaces_user",
    "code42_username",
    "status",
    "reason",
    "error",
    "retryable",
    "outside_org",
    "agent_status",
    "agent_agent_id",
    "agent_hostname",
    "agent_app_version",
    "agent_product_version",
    "agent_last_connected",
    "agent_health_issues",
    "agent_version_checked",
    "agent_minimum_version",
    "agent_detail",
    "coverage_covered",
    "coverage_reason",
    "actions",
];

/// Only the WorkSpaces with one of `statuses` (all when empty); the summary stays whole.
pub fn only_statuses<'r>(
    report: &'r InvocationReport,
    statuses: &[Status],
) -> Cow<'r, InvocationReport> {
    if statuses.is_empty() {
        return Cow::Borrowed(report);
    }
    let mut shown = report.clone();
    shown.workspaces.retain(|w| statuses.contains(&w.status));
    Cow::Owned(shown)
}

/// The JSON document of a (possibly failed) run, written as it is
/// serialized: no intermediate JSON tree or string (a 10,000-WorkSpace
/// report would cost tens of MB as one).
pub fn write_json(
    mut out: impl std::io::Write,
    report: &InvocationReport,
    failure: Option<&InvocationFailure>,
) -> std::io::Result<()> {
    match failure {
        Some(f) => serde_json::to_writer_pretty(&mut out, &f.document(Some(report)))?,
        None => serde_json::to_writer_pretty(&mut out, report)?,
    }
    writeln!(out)
}

/// What to print on standard output for a (possibly failed) fleet run.
pub fn report(
    format: OutputFormat,
    report: &InvocationReport,
    failure: Option<&InvocationFailure>,
) -> String {
    if let (OutputFormat::Table | OutputFormat::Csv, Some(entries)) = (format, &report.entries) {
        return history(format, entries);
    }
    if let (OutputFormat::Table | OutputFormat::Csv, Some(hygiene)) = (format, &report.agents) {
        return agents(format, hygiene, report);
    }
    if format == OutputFormat::Csv {
        return csv(report);
    }
    if let (OutputFormat::Table, Some(checks)) = (format, &report.doctor) {
        return checklist(checks, report.note.as_deref());
    }
    if format == OutputFormat::Json {
        let mut out = Vec::new();
        write_json(&mut out, report, failure).expect("writing to memory");
        return String::from_utf8(out).expect("serde_json writes UTF-8");
    }
    let mut out = String::new();
    if !report.workspaces.is_empty() {
        out.push_str(&workspace_table(report));
        out.push('\n');
    }
    if let Some(org) = &report.org {
        out.push_str(&org_lines(org));
    }
    out.push_str(&summary_lines(report));
    out
}

/// The hygiene report's columns, in `agents`' table and CSV.
const AGENT_COLUMNS: [&str; 9] = [
    "agent_id",
    "hostname",
    "username",
    "workspace_id",
    "account",
    "region",
    "finding",
    "last_connected",
    "cleanup",
];

/// `agents`: one row per active agent; for the table, the users without a
/// WorkSpace and the note beneath.
fn agents(format: OutputFormat, hygiene: &AgentHygiene, report: &InvocationReport) -> String {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let rows: Vec<[String; 9]> = hygiene
        .agents
        .iter()
        .map(|a| {
            [
                a.agent_id.clone(),
                text(&a.hostname),
                a.username.clone(),
                text(&a.workspace_id),
                text(&a.account),
                text(&a.region),
                a.finding.as_str().to_string(),
                text(&a.last_connected),
                text(&a.cleanup),
            ]
        })
        .collect();
    if format == OutputFormat::Csv {
        return csv_rows(&AGENT_COLUMNS, &rows);
    }
    let header = AGENT_COLUMNS.map(|c| c.replace('_', " ").to_uppercase());
    let mut out = table(&header, &rows);
    if !hygiene.users_without_workspace.is_empty() {
        out.push_str(&format!(
            "\nusers in the org without a WorkSpace: {}\n",
            hygiene.users_without_workspace.join(", ")
        ));
    }
    out.push_str(&unreachable_lines(report));
    if let Some(note) = &report.note {
        out.push_str(&format!("{note}\n"));
    }
    out
}

/// The ledger's columns, in `history`'s table and CSV.
const HISTORY_COLUMNS: [&str; 9] = [
    "at",
    "kind",
    "username",
    "workspace_id",
    "before",
    "after",
    "state",
    "run_id",
    "origin",
];

/// `history` as a table or CSV: one row per ledger entry.
fn history(format: OutputFormat, entries: &[LedgerEntry]) -> String {
    let rows: Vec<[String; 9]> = entries
        .iter()
        .map(|e| {
            let text = |v: &Option<String>| v.clone().unwrap_or_default();
            [
                e.at.clone(),
                e.kind.clone(),
                text(&e.username),
                text(&e.workspace_id),
                text(&e.before),
                text(&e.after),
                e.state.as_str().to_string(),
                e.run_id.clone(),
                e.origin.clone(),
            ]
        })
        .collect();
    if format == OutputFormat::Csv {
        return csv_rows(&HISTORY_COLUMNS, &rows);
    }
    let header = HISTORY_COLUMNS.map(|c| c.to_uppercase());
    format!("{}{} ledger entr(ies)\n", table(&header, &rows), rows.len())
}

/// One row per WorkSpace.
fn workspace_table(report: &InvocationReport) -> String {
    let dash = || "-".to_string();
    let rows: Vec<[String; 9]> = report
        .workspaces
        .iter()
        .map(|w| {
            [
                w.account.clone().unwrap_or_else(dash),
                w.region.clone().unwrap_or_else(dash),
                w.workspace_id.clone().unwrap_or_else(dash),
                w.workspaces_user.clone().unwrap_or_else(dash),
                w.code42_username.clone().unwrap_or_else(dash),
                w.status.as_str().to_string(),
                w.agent
                    .as_ref()
                    .map(|a| a.status.as_str().to_string())
                    .unwrap_or_else(dash),
                match &w.coverage {
                    Some(c) if c.covered => "yes".into(),
                    Some(c) => c.reason.unwrap_or("no").to_string(),
                    None => dash(),
                },
                w.error
                    .clone()
                    .or_else(|| w.reason.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = [
        "ACCOUNT",
        "REGION",
        "WORKSPACE",
        "USER",
        "CODE42 USERNAME",
        "STATUS",
        "AGENT",
        "COVERED",
        "DETAIL",
    ]
    .map(String::from);
    table(&header, &rows)
}

/// The org line, and what each drifted policy would write.
fn org_lines(org: &OrgReport) -> String {
    let mut out = format!(
        "org {} ({}, id {}): {} — {}\n",
        org.org_name,
        org.org_guid,
        org.legacy_org_id,
        org.status.as_str(),
        org.finding
    );
    for p in &org.policies {
        if let Some(items) = &p.would_write {
            out.push_str(&format!(
                "  {} would write {} = [{}] (locked)\n",
                p.policy,
                p.setting_key,
                items.join(", ")
            ));
        }
    }
    out
}

/// The summary, coverage and notes.
fn summary_lines(report: &InvocationReport) -> String {
    let s = &report.summary;
    let mut out = format!(
        // The run (verify, backfill, …) and the mode, which may differ: a
        // verify of an apply deployment writes nothing all the same.
        "{} WorkSpace(s): {} configured, {} compliant, {} drift, {} skipped, {} deferred, {} failed — {}, mode {}\n",
        s.total,
        s.configured,
        s.compliant,
        s.drift,
        s.skipped,
        s.deferred,
        s.failed,
        report.input,
        report.mode
    );
    for (account, a) in &s.by_account {
        out.push_str(&format!(
            "  account {account}: {} WorkSpace(s): {} configured, {} compliant, {} drift, {} skipped, {} deferred, {} failed; {} of {} Windows covered\n",
            a.total,
            a.configured,
            a.compliant,
            a.drift,
            a.skipped,
            a.deferred,
            a.failed,
            a.coverage.covered,
            a.coverage.covered + a.coverage.not_covered,
        ));
    }
    out.push_str(&unreachable_lines(report));
    let c = &s.coverage;
    if c.covered + c.not_covered > 0 {
        let reasons: Vec<String> = c
            .by_reason
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        let not_covered = if reasons.is_empty() {
            String::new()
        } else {
            format!("; not covered: {}", reasons.join(", "))
        };
        out.push_str(&format!(
            "coverage: {} of {} Windows WorkSpace(s) covered{not_covered}\n",
            c.covered,
            c.covered + c.not_covered,
        ));
    }
    if let Some(n) = report.moves_with_other_devices {
        out.push_str(&format!(
            "{n} user(s) to move have other devices (laptops, other desktops) that move with them: see each move's other_devices\n"
        ));
    }
    if let Some(n) = report.enqueued {
        out.push_str(&format!("{n} WorkSpace(s) sent to the work queue\n"));
    }
    if let Some(note) = &report.note {
        out.push_str(note);
        out.push('\n');
    }
    out
}

/// `doctor`'s checklist: one line per check, the fix beneath.
fn checklist(checks: &[Check], note: Option<&str>) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.result {
            CheckResult::Pass => "PASS",
            CheckResult::Warn => "WARN",
            CheckResult::Fail => "FAIL",
        };
        out.push_str(&format!("{mark}  {:<24} {}\n", c.name, c.found));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("      {:<24} fix: {fix}\n", ""));
        }
    }
    if let Some(note) = note {
        out.push_str(&format!("\n{note}\n"));
    }
    out
}

fn csv(report: &InvocationReport) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(CSV_COLUMNS);
    for w in &report.workspaces {
        let record = serde_json::to_value(w).unwrap_or_default();
        let row: Vec<String> = CSV_COLUMNS.iter().map(|c| cell(&record, c)).collect();
        let _ = writer.write_record(&row);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// A column's text: `agent_status` is `record.agent.status`; lists of
/// strings are joined with `;`, other structures stay JSON.
fn cell(record: &Value, column: &str) -> String {
    let value = match column.split_once('_') {
        Some((outer @ ("agent" | "coverage"), inner)) => {
            record.get(outer).and_then(|o| o.get(inner))
        }
        _ => record.get(column),
    };
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(";"),
        Some(other) => other.to_string(),
    }
}

/// A header and rows as CSV.
fn csv_rows<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let _ = writer.write_record(header);
    for row in rows {
        let _ = writer.write_record(row);
    }
    String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Left-aligned columns, the last one free.
fn table<const N: usize>(header: &[String; N], rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| {
            rows.iter()
                .chain([header])
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in [header].into_iter().chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:w$}  ", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The locations that could not be listed, one line each.
fn unreachable_lines(report: &InvocationReport) -> String {
    report
        .unreachable
        .iter()
        .map(|u| {
            let what = if u.warning {
                "not served (warning)"
            } else {
                "NOT LISTED"
            };
            format!(
                "{what}: account {} region {}: {}\n",
                u.account, u.region, u.error
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::location::Location;
    use crate::domain::report::{Status, Summary, WorkspaceReport};

    #[test]
    fn table_aligns_columns_and_counts_statuses() {
        let mut r = InvocationReport::new("verify", "verify");
        r.workspaces = vec![
            WorkspaceReport::new(Some("ws-a"), Status::Compliant),
            WorkspaceReport::new(Some("ws-bbbbbb"), Status::Deferred).with_reason("later"),
        ];
        r.workspaces[0].locate(&Location::new("111111111111", "us-east-1"));
        r.workspaces[1].locate(&Location::new("222222222222", "eu-west-1"));
        r.summary = Summary::of(&r.workspaces);
        let text = report(OutputFormat::Table, &r, None);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("ACCOUNT       REGION     WORKSPACE  USER"),
            "{text}"
        );
        assert!(
            lines[2].starts_with("222222222222  eu-west-1  ws-bbbbbb"),
            "{text}"
        );
        // Two accounts: a summary line each.
        assert!(
            text.contains("  account 111111111111: 1 WorkSpace(s): 0 configured, 1 compliant"),
            "{text}"
        );
        assert!(text.contains("  account 222222222222: 1 WorkSpace(s): 0 configured, 0 compliant, 0 drift, 0 skipped, 1 deferred"), "{text}");
        assert_eq!(lines[0].find("STATUS"), lines[2].find("deferred"), "{text}");
        assert!(text.contains("2 WorkSpace(s): 0 configured, 1 compliant, 0 drift, 0 skipped, 1 deferred, 0 failed — verify, mode verify"));
        let json: serde_json::Value =
            serde_json::from_str(&report(OutputFormat::Json, &r, None)).unwrap();
        assert_eq!(json["workspaces"][1]["status"], "deferred");
        assert_eq!(json["workspaces"][1]["account"], "222222222222");
        assert_eq!(json["workspaces"][1]["region"], "eu-west-1");
        assert_eq!(json["summary"]["by_account"]["222222222222"]["deferred"], 1);
    }

    #[test]
    fn csv_has_one_row_per_workspace_and_flattened_columns() {
        use crate::domain::coverage::{Code42Plan, assess_agent};
        let mut r = InvocationReport::new("verify", "verify");
        let mut w = WorkspaceReport::new(Some("ws-a"), Status::Compliant)
            .with_reason("a, \"quoted\" reason");
        w.agent = Some(Box::new(assess_agent(
            Some("h"),
            &[],
            Some(Code42Plan::Basic),
        )));
        r.workspaces = vec![w, WorkspaceReport::new(Some("ws-b"), Status::Deferred)];
        let text = report(OutputFormat::Csv, &r, None);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            reader.headers().unwrap().iter().collect::<Vec<_>>(),
            CSV_COLUMNS
        );
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2);
        let col = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
        assert_eq!(&rows[0][col("reason")], "a, \"quoted\" reason");
        assert_eq!(&rows[0][col("agent_status")], "missing");
        assert_eq!(&rows[0][col("agent_minimum_version")], "8.5.1");
        assert_eq!(&rows[1][col("status")], "deferred");
        let only = only_statuses(&r, &[Status::Deferred]);
        assert_eq!(only.workspaces.len(), 1);
    }
}
