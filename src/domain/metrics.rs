//! What one invocation did, as numbers, and as CloudWatch embedded-metric-
//! format (EMF) records: Lambda sends stdout to CloudWatch Logs, which turns
//! each record into metrics (namespace `WorkspacesCode42` by default). The
//! template's alarms and dashboard read these names; docs/metrics.md lists them.
//!
//! Metrics carry no dimensions (one CloudWatch metric each, cheap), except
//! `WorkspacesNotCovered` per `Reason` in records of their own.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::ledger::OVER_BUDGET;
use super::plan::NOT_FOUND_REASON;
use super::report::{Action, InvocationReport, Status};

/// The default CloudWatch namespace (`CODE42_METRICS_NAMESPACE`).
pub const DEFAULT_NAMESPACE: &str = "WorkspacesCode42";

/// Code42 HTTP traffic since the last reading (the adapter counts; each
/// invocation takes the counts at its start and at its end).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// HTTP requests sent (every attempt, token requests included).
    pub requests: u64,
    /// Attempts after the first of a request (5xx, transport, 429 waits).
    pub retries: u64,
    /// Responses with status 429.
    pub rate_limited: u64,
    /// Responses with a 5xx status.
    pub server_errors: u64,
    /// Sum of the requests' latencies.
    pub latency_ms_total: u64,
    /// The slowest request.
    pub latency_ms_max: u64,
}

/// The numbers of one invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationMetrics {
    /// The input kind (`CreateWorkspaces`, `SqsBatch`, `reconcile`, …).
    pub input: String,
    pub failed_invocation: bool,
    pub by_status: BTreeMap<Status, usize>,
    pub covered: usize,
    pub not_covered: BTreeMap<&'static str, usize>,
    /// Users moved (applied moves only).
    pub moves: usize,
    /// Org policies written (watch paths, backup selection).
    pub policy_writes: usize,
    /// Org policies whose read, write or read-back failed.
    pub policy_failures: usize,
    /// Inputs refused: a payload not understood or from an account not
    /// served, or an SQS batch's messages that were.
    pub inputs_refused: usize,
    /// WorkSpaces not moved because the hour's move budget was spent.
    pub held_by_budget: usize,
    /// WorkSpaces an event or message named that DescribeWorkspaces never
    /// showed (skipped, nothing done).
    pub not_found: usize,
    /// Seconds from first sign-in to the first check that found each
    /// WorkSpace covered (measured once per WorkSpace; needs the ledger).
    pub time_to_covered: Vec<u64>,
    /// Signed-in WorkSpaces still not covered an hour after the first sign-in.
    pub not_covered_after_sign_in: usize,
    pub code42: RequestStats,
}

/// How long after the first sign-in a WorkSpace not covered is counted in
/// `NotCoveredAfterSignIn` (the alarm's threshold).
pub const SIGN_IN_GRACE_SECONDS: u64 = 3600;

/// The scheduled reconciliation's input kind: its deferred and not-covered
/// counts are also published under their own names, for the alarms.
const SCHEDULE_INPUT: &str = "reconcile";

impl InvocationMetrics {
    pub fn of(
        input: &str,
        report: Option<&InvocationReport>,
        failed_invocation: bool,
        code42: RequestStats,
    ) -> Self {
        let mut m = InvocationMetrics {
            input: input.to_string(),
            failed_invocation,
            code42,
            ..Self::default()
        };
        let Some(report) = report else {
            return m;
        };
        for status in Status::ALL {
            m.by_status.insert(status, 0);
        }
        for w in &report.workspaces {
            *m.by_status.entry(w.status).or_default() += 1;
            m.moves += w
                .actions
                .iter()
                .filter(|a| matches!(a, Action::MoveUser { applied: true, .. }))
                .count();
            m.time_to_covered.extend(w.time_to_covered_seconds);
            m.not_covered_after_sign_in += usize::from(
                w.not_covered_since_sign_in_seconds
                    .is_some_and(|s| s >= SIGN_IN_GRACE_SECONDS),
            );
            m.not_found += usize::from(
                w.status == Status::Skipped && w.reason.as_deref() == Some(NOT_FOUND_REASON),
            );
            m.held_by_budget += usize::from(
                w.status == Status::Deferred
                    && w.reason
                        .as_deref()
                        .is_some_and(|r| r.starts_with(OVER_BUDGET)),
            );
        }
        m.covered = report.summary.coverage.covered;
        m.not_covered = report.summary.coverage.by_reason.clone();
        if let Some(org) = &report.org {
            m.policy_failures = org.failed_policies().count();
        }
        if let Some(org) = report.org.as_ref().filter(|o| !o.cached) {
            m.policy_writes = org
                .policies
                .iter()
                .filter(|p| p.status == Status::Configured)
                .count();
        }
        m
    }

    fn not_covered_total(&self) -> usize {
        self.not_covered.values().sum()
    }

    /// The EMF records (one JSON object each, to be printed one per line):
    /// the invocation's metrics, then one per coverage reason.
    pub fn emf(&self, namespace: &str, timestamp_ms: u64) -> Vec<Value> {
        let mut values: Vec<(String, &str, Value)> = vec![
            count("Invocations", 1),
            count("InvocationsFailed", usize::from(self.failed_invocation)),
            count("InputsRefused", self.inputs_refused),
        ];
        if !self.by_status.is_empty() {
            let total: usize = self.by_status.values().sum();
            values.push(count("Workspaces", total));
            for (status, n) in &self.by_status {
                values.push(count(&format!("Workspaces{}", title(status.as_str())), *n));
            }
            values.push(count("WorkspacesCovered", self.covered));
            values.push(count("WorkspacesNotCovered", self.not_covered_total()));
            values.push(count("UsersMoved", self.moves));
            values.push(count("OrgPolicyWrites", self.policy_writes));
            values.push(count("OrgPolicyFailures", self.policy_failures));
            values.push(count("MovesHeldByBudget", self.held_by_budget));
            values.push(count("WorkspacesNotFound", self.not_found));
            values.push(count(
                "NotCoveredAfterSignIn",
                self.not_covered_after_sign_in,
            ));
            if !self.time_to_covered.is_empty() {
                values.push((
                    "TimeToCoveredSeconds".into(),
                    "Seconds",
                    json!(self.time_to_covered),
                ));
            }
            if self.input == SCHEDULE_INPUT {
                let deferred = self.by_status.get(&Status::Deferred).copied();
                values.push(count("ScheduleDeferred", deferred.unwrap_or(0)));
                values.push(count("ScheduleNotCovered", self.not_covered_total()));
            }
        }
        let c = &self.code42;
        values.push(count("Code42Requests", c.requests as usize));
        values.push(count("Code42Retries", c.retries as usize));
        values.push(count("Code42RateLimited", c.rate_limited as usize));
        values.push(count("Code42ServerErrors", c.server_errors as usize));
        if let Some(mean) = c.latency_ms_total.checked_div(c.requests) {
            values.push(("Code42LatencyAverage".into(), "Milliseconds", json!(mean)));
            values.push((
                "Code42LatencyMax".into(),
                "Milliseconds",
                json!(c.latency_ms_max),
            ));
        }
        let mut records = vec![record(
            namespace,
            timestamp_ms,
            &[],
            &[("Input", &self.input)],
            values,
        )];
        for (reason, n) in &self.not_covered {
            records.push(record(
                namespace,
                timestamp_ms,
                &["Reason"],
                &[("Reason", reason), ("Input", &self.input)],
                vec![count("WorkspacesNotCovered", *n)],
            ));
        }
        records
    }
}

fn count(name: &str, n: usize) -> (String, &'static str, Value) {
    (name.to_string(), "Count", json!(n))
}

/// `not_covered` → `NotCovered`.
fn title(snake: &str) -> String {
    snake
        .split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// One EMF record: the `_aws` metadata, the dimension values and other
/// properties (searchable in Logs Insights, not metrics), and the values.
fn record(
    namespace: &str,
    timestamp_ms: u64,
    dimensions: &[&str],
    properties: &[(&str, &str)],
    values: Vec<(String, &str, Value)>,
) -> Value {
    let definitions: Vec<Value> = values
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut object = Map::new();
    object.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [dimensions],
                "Metrics": definitions,
            }],
        }),
    );
    for (key, value) in properties {
        object.insert((*key).into(), json!(value));
    }
    for (name, _, value) in values {
        object.insert(name, value);
    }
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::report::{Coverage, Summary, WorkspaceReport};

    fn workspace(status: Status, coverage: Option<(bool, &'static str)>) -> WorkspaceReport {
        let mut w = WorkspaceReport::new(Some("ws-1"), status);
        w.coverage = coverage.map(|(covered, reason)| Coverage {
            covered,
            reason: (!covered).then_some(reason),
        });
        w
    }

    fn report(workspaces: Vec<WorkspaceReport>) -> InvocationReport {
        let mut r = InvocationReport::new("apply", "reconcile");
        r.summary = Summary::of(&workspaces);
        r.workspaces = workspaces;
        r
    }

    fn metric<'a>(record: &'a Value, name: &str) -> &'a Value {
        &record[name]
    }

    #[test]
    fn every_value_is_declared_and_every_declaration_has_a_value() {
        let r = report(vec![
            workspace(Status::Compliant, Some((true, ""))),
            workspace(Status::Deferred, Some((false, "user_not_in_code42"))),
        ]);
        let stats = RequestStats {
            requests: 4,
            retries: 1,
            rate_limited: 1,
            server_errors: 0,
            latency_ms_total: 200,
            latency_ms_max: 90,
        };
        let m = InvocationMetrics::of("reconcile", Some(&r), false, stats);
        for record in m.emf(DEFAULT_NAMESPACE, 1_700_000_000_000) {
            let directive = &record["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(directive["Namespace"], DEFAULT_NAMESPACE);
            assert_eq!(record["_aws"]["Timestamp"], 1_700_000_000_000u64);
            for dimension_set in directive["Dimensions"].as_array().unwrap() {
                for d in dimension_set.as_array().unwrap() {
                    assert!(record[d.as_str().unwrap()].is_string(), "{d} has a value");
                }
            }
            for def in directive["Metrics"].as_array().unwrap() {
                let name = def["Name"].as_str().unwrap();
                assert!(record[name].is_number(), "{name} has a number");
            }
        }
    }

    #[test]
    fn counts_follow_the_report() {
        let mut moved = workspace(Status::Configured, Some((true, "")));
        moved.actions.push(Action::MoveUser {
            user_id: "1".into(),
            username: "a".into(),
            from_org_guid: "x".into(),
            from_org_name: "X".into(),
            to_org_guid: "y".into(),
            to_org_name: "Y".into(),
            applied: true,
            other_devices: Vec::new(),
        });
        let r = report(vec![
            moved,
            workspace(Status::Deferred, Some((false, "user_not_in_code42"))),
            workspace(Status::Compliant, Some((false, "agent_missing"))),
            workspace(Status::Compliant, Some((false, "agent_missing"))),
        ]);
        let m = InvocationMetrics::of("reconcile", Some(&r), false, RequestStats::default());
        let records = m.emf("NS", 0);
        let main = &records[0];
        assert_eq!(metric(main, "Workspaces"), 4);
        assert_eq!(metric(main, "WorkspacesConfigured"), 1);
        assert_eq!(metric(main, "WorkspacesCompliant"), 2);
        assert_eq!(metric(main, "WorkspacesDeferred"), 1);
        assert_eq!(metric(main, "WorkspacesFailed"), 0);
        assert_eq!(metric(main, "WorkspacesNotCovered"), 3);
        assert_eq!(metric(main, "UsersMoved"), 1);
        assert_eq!(metric(main, "ScheduleDeferred"), 1);
        assert_eq!(metric(main, "ScheduleNotCovered"), 3);
        assert_eq!(main["Input"], "reconcile");
        let by_reason: Vec<(String, u64)> = records[1..]
            .iter()
            .map(|r| {
                (
                    r["Reason"].as_str().unwrap().to_string(),
                    r["WorkspacesNotCovered"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            by_reason,
            [
                ("agent_missing".to_string(), 2),
                ("user_not_in_code42".to_string(), 1)
            ]
        );
    }

    #[test]
    fn workspaces_not_found_counts_only_the_skipped_never_seen() {
        let with_reason = |status, reason: &str| workspace(status, None).with_reason(reason);
        let r = report(vec![
            with_reason(Status::Skipped, NOT_FOUND_REASON),
            with_reason(Status::Skipped, NOT_FOUND_REASON),
            with_reason(Status::Skipped, NOT_FOUND_REASON),
            with_reason(
                Status::Skipped,
                "operating system UBUNTU_22_04 is not Windows",
            ),
            // Still looked for: deferred, not counted yet.
            with_reason(Status::Deferred, NOT_FOUND_REASON),
            with_reason(Status::Compliant, NOT_FOUND_REASON),
        ]);
        let m = InvocationMetrics::of("SqsBatch", Some(&r), false, RequestStats::default());
        // Three, where counting the other statuses would give two.
        assert_eq!(m.not_found, 3);
        assert_eq!(metric(&m.emf("NS", 0)[0], "WorkspacesNotFound"), 3);
    }

    #[test]
    fn schedule_metrics_only_come_from_the_schedule() {
        let r = report(vec![workspace(Status::Deferred, None)]);
        let m = InvocationMetrics::of("SqsBatch", Some(&r), false, RequestStats::default());
        let main = &m.emf("NS", 0)[0];
        assert_eq!(metric(main, "WorkspacesDeferred"), 1);
        assert!(main.get("ScheduleDeferred").is_none());
    }

    #[test]
    fn a_failure_without_a_report_still_counts_the_invocation() {
        let m = InvocationMetrics::of("CreateWorkspaces", None, true, RequestStats::default());
        let records = m.emf("NS", 0);
        assert_eq!(records.len(), 1);
        assert_eq!(metric(&records[0], "InvocationsFailed"), 1);
        assert!(records[0].get("Workspaces").is_none());
        assert!(records[0].get("Code42LatencyAverage").is_none());
    }

    /// The template's alarms and dashboard read only metrics this code emits.
    #[test]
    fn the_template_reads_only_emitted_metrics() {
        let mut r = report(vec![workspace(
            Status::Deferred,
            Some((false, "user_not_in_code42")),
        )]);
        // Emitted only when measured: a WorkSpace covered since its sign-in.
        r.workspaces[0].time_to_covered_seconds = Some(60);
        let stats = RequestStats {
            requests: 1,
            ..RequestStats::default()
        };
        let records = InvocationMetrics::of("reconcile", Some(&r), false, stats).emf("NS", 0);
        let emitted: Vec<&str> = records
            .iter()
            .flat_map(|r| {
                r["_aws"]["CloudWatchMetrics"][0]["Metrics"]
                    .as_array()
                    .unwrap()
            })
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        let template = include_str!("../../infra/template.yaml");
        let platform = ["Errors", "Throttles", "ApproximateNumberOfMessagesVisible"];
        let alarmed = template
            .lines()
            .filter_map(|l| l.trim().strip_prefix("MetricName: "))
            .filter(|name| !platform.contains(name));
        let charted = template
            .split("[\"${Ns}\", \"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next());
        let read: Vec<&str> = alarmed.chain(charted).collect();
        assert!(read.len() >= 10, "found the template's metrics: {read:?}");
        for name in read {
            assert!(
                emitted.contains(&name),
                "the template reads {name}, never emitted"
            );
        }
    }

    #[test]
    fn only_deferred_moves_over_the_budget_count_as_held() {
        let with = |status: Status, reason: &str| {
            let mut w = workspace(status, None);
            w.reason = Some(reason.to_string());
            w
        };
        let held = format!("{OVER_BUDGET}5 per hour, …");
        let r = report(vec![
            with(Status::Deferred, &held),
            with(Status::Deferred, "the user is not in Code42 yet"),
            with(Status::Skipped, &held),
        ]);
        let m = InvocationMetrics::of("reconcile", Some(&r), false, RequestStats::default());
        assert_eq!(m.held_by_budget, 1);
    }
}
