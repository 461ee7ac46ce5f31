//! The manual payloads: `{"action": "backfill" | "verify" | "doctor" |
//! "agents" | "history", ...}`.

use serde::Deserialize;
use serde_json::Value;

use super::{Input, InputError};
use crate::domain::hygiene::{AgentsRequest, Cleanup};
use crate::domain::ledger::HistoryFilter;
use crate::domain::model::{FilterField, FleetAction, FleetFilter, FleetRequest};

/// The history payload, e.g. `{"action": "history", "user": "a@corp.example.com"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HistoryPayload {
    #[allow(dead_code)]
    action: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    workspace_id: Option<String>,
    #[serde(default)]
    run: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    since: Option<String>,
}

/// The manual payload, e.g. `{"action": "verify", "directory_ids": ["d-12345678"]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualPayload {
    action: String,
    #[serde(default)]
    directory_ids: Vec<String>,
    #[serde(default)]
    workspace_ids: Vec<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    max_moves: Option<usize>,
    #[serde(default)]
    enqueue: Option<bool>,
}

/// The agents payload, e.g. `{"action": "agents", "deactivate": "orphans", "max_deactivations": 10, "dry_run": true}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentsPayload {
    #[allow(dead_code)]
    action: String,
    #[serde(default)]
    deactivate: Option<String>,
    #[serde(default)]
    max_deactivations: Option<usize>,
    #[serde(default)]
    min_idle_days: Option<u64>,
    #[serde(default)]
    return_users: bool,
    #[serde(default)]
    max_moves: Option<usize>,
    #[serde(default)]
    dry_run: bool,
}

fn parse_agents(payload: &Value) -> Result<Input, InputError> {
    let p: AgentsPayload = serde_json::from_value(payload.clone()).map_err(|e| {
        InputError::Malformed(format!(
            "agents payload: {e}; expected {{\"action\": \"agents\", \"deactivate\": \"orphans\" | \"duplicates\", \"max_deactivations\", \"min_idle_days\", \"return_users\", \"max_moves\", \"dry_run\"}}"
        ))
    })?;
    let deactivate = p
        .deactivate
        .as_deref()
        .map(|d| {
            Cleanup::parse(d).ok_or_else(|| {
                InputError::Malformed(format!(
                    "deactivate: {d:?} (expected \"orphans\" or \"duplicates\")"
                ))
            })
        })
        .transpose()?;
    let defaults = AgentsRequest::default();
    Ok(Input::Agents(AgentsRequest {
        deactivate,
        max_deactivations: p.max_deactivations.unwrap_or(defaults.max_deactivations),
        min_idle_days: p.min_idle_days.unwrap_or(defaults.min_idle_days),
        return_users: p.return_users,
        max_moves: p.max_moves,
        dry_run: p.dry_run,
    }))
}

pub(super) fn parse_manual(payload: &Value) -> Result<Input, InputError> {
    if payload.get("action").and_then(Value::as_str) == Some("agents") {
        return parse_agents(payload);
    }
    if payload.get("action").and_then(Value::as_str) == Some("history") {
        let p: HistoryPayload = serde_json::from_value(payload.clone()).map_err(|e| {
            InputError::Malformed(format!(
                "history payload: {e}; expected {{\"action\": \"history\", \"user\", \"workspace_id\", \"run\", \"kind\", \"since\"}}"
            ))
        })?;
        return Ok(Input::History(HistoryFilter {
            user: p.user,
            workspace_id: p.workspace_id,
            run: p.run,
            kind: p.kind,
            since: p.since,
        }));
    }
    let p: ManualPayload = serde_json::from_value(payload.clone()).map_err(|e| {
        InputError::Malformed(format!(
            "manual payload: {e}; expected {{\"action\": \"backfill\" | \"verify\" | \"doctor\", \"directory_ids\", \"workspace_ids\", \"user\", \"dry_run\", \"max_moves\", \"enqueue\"}}"
        ))
    })?;
    let action = match p.action.as_str() {
        "backfill" => FleetAction::Backfill,
        "verify" => FleetAction::Verify,
        "doctor" => return Ok(Input::Doctor),
        other => {
            return Err(InputError::Unsupported(format!(
                "manual payload with action {other:?} (expected \"backfill\", \"verify\", \"doctor\", \"agents\" or \"history\")"
            )));
        }
    };
    if action == FleetAction::Verify && (p.max_moves.is_some() || p.enqueue.is_some()) {
        return Err(InputError::Malformed(
            "max_moves and enqueue apply to backfill only: a verify moves and queues nothing"
                .into(),
        ));
    }
    let filter = FleetFilter::parse(&p.directory_ids, &p.workspace_ids, p.user.as_deref())
        .map_err(|e| {
            let field = match e.field {
                FilterField::DirectoryIds => "directory_ids",
                FilterField::WorkspaceIds => "workspace_ids",
            };
            InputError::Malformed(format!("{field}: {e}"))
        })?;
    Ok(Input::Fleet(FleetRequest {
        action,
        filter,
        dry_run: p.dry_run,
        max_moves: p.max_moves,
        enqueue: p.enqueue,
    }))
}
