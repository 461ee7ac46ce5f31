//! Recognise what the function was invoked with, in one place.
//!
//! - the CloudTrail `CreateWorkspaces` call delivered by EventBridge;
//! - the `WorkSpaces Access` login event (re-checks that one WorkSpace);
//! - an SQS batch of work messages or of those EventBridge events.
//!
//! - the EventBridge schedule (`Scheduled Event`): reconcile the fleet;
//! - manual payloads `{"action": "backfill" | "verify", ...}`.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use serde::Deserialize;
use serde_json::Value;

use crate::domain::ids::{DirectoryId, WorkspaceId};
use crate::domain::ledger::HistoryFilter;
use crate::domain::location::{Location, Served, is_account_id, is_region};
use crate::domain::model::{FleetAction, FleetRequest, Origin, Target, WorkMessage};
pub use crate::error::InputError;

mod lifecycle;
mod manual;
pub use lifecycle::{
    CREATE_STANDBY_WORKSPACES, MIGRATE_WORKSPACE, REBUILD_WORKSPACES, RESTORE_WORKSPACE,
    RecheckCall,
};
use manual::parse_manual;

pub const WORKSPACES_SOURCE: &str = "aws.workspaces";
pub const CLOUDTRAIL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
pub const CREATE_WORKSPACES: &str = "CreateWorkspaces";
pub const TERMINATE_WORKSPACES: &str = "TerminateWorkspaces";
pub const ACCESS_DETAIL_TYPE: &str = "WorkSpaces Access";
pub const SCHEDULED_DETAIL_TYPE: &str = "Scheduled Event";
/// CloudTrail's placeholder for values it will not log.
const REDACTED: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Every kind of input the handler understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    CreateWorkspaces(CreateWorkspacesCall),
    /// WorkSpaces were terminated: their agents may be deactivated.
    TerminateWorkspaces(TerminateWorkspacesCall),
    /// WorkSpaces were rebuilt or restored: checked again once their agent re-registers.
    Recheck(RecheckCall),
    /// A user signed in to this WorkSpace.
    Access(Box<Target>),
    SqsBatch(Vec<SqsItem>),
    /// A whole-fleet run: manual backfill or verify, or the scheduled reconciliation.
    Fleet(FleetRequest),
    /// `{"action": "doctor"}`: the read-only checklist, with the function's own role and network.
    Doctor,
    /// `{"action": "agents", …}`: the agent hygiene report, and optionally a guarded clean-up.
    Agents(crate::domain::hygiene::AgentsRequest),
    /// `{"action": "history", ...}`: the ledger's entries.
    History(HistoryFilter),
}

impl Input {
    pub fn kind(&self) -> &'static str {
        match self {
            Input::CreateWorkspaces(call) => call.event_name,
            Input::Recheck(call) => call.event_name,
            Input::TerminateWorkspaces(_) => TERMINATE_WORKSPACES,
            Input::Access(_) => ACCESS_DETAIL_TYPE,
            Input::SqsBatch(_) => "SqsBatch",
            Input::Fleet(r) => r.action.as_str(),
            Input::Doctor => "doctor",
            Input::Agents(_) => "agents",
            Input::History(_) => "history",
        }
    }
}

/// One SQS message: the WorkSpaces it names, or why it cannot be understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsItem {
    pub message_id: String,
    pub work: Result<Vec<Target>, InputError>,
}

/// An entry of `failedRequests`: no WorkSpace was created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedCreate {
    pub directory_id: Option<String>,
    pub user_name: Option<String>,
    pub error_code: String,
    pub error_message: Option<String>,
}

/// WorkSpaces created: by `CreateWorkspaces`, a migration (`MigrateWorkspace`:
/// the target) or `CreateStandbyWorkspaces` (in the event's region).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateWorkspacesCall {
    pub event_name: &'static str,
    pub event_id: Option<String>,
    /// Set when the whole call failed (then nothing was created).
    pub call_error: Option<String>,
    pub targets: Vec<Target>,
    pub failed: Vec<FailedCreate>,
}

// Tolerant CloudTrail detail: everything optional, unknown fields ignored
// (the exact event shape is not documented; reference aws.md §1.6).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct CloudTrailDetail {
    event_name: Option<String>,
    event_source: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
    request_parameters: Option<RequestParameters>,
    response_elements: Option<ResponseElements>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RequestParameters {
    terminate_workspace_requests: Option<Vec<TerminateRequest>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct TerminateRequest {
    workspace_id: Option<String>,
}

/// A `TerminateWorkspaces` call: the WorkSpaces it terminated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminateWorkspacesCall {
    /// Where the event came from; None: the home location.
    pub location: Option<Location>,
    /// Set when the whole call failed (then nothing was terminated).
    pub call_error: Option<String>,
    pub workspace_ids: Vec<WorkspaceId>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct ResponseElements {
    pending_requests: Option<Vec<PendingRequest>>,
    failed_requests: Option<Vec<FailedRequest>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PendingRequest {
    workspace_id: Option<String>,
    directory_id: Option<String>,
    user_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct FailedRequest {
    workspace_request: Option<WorkspaceRequest>,
    /// In the failed requests of calls on existing WorkSpaces (terminate).
    workspace_id: Option<String>,
    error_code: Option<String>,
    error_message: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct WorkspaceRequest {
    directory_id: Option<String>,
    user_name: Option<String>,
}

/// Recognise `payload` or say precisely what it is and why it is refused.
pub fn parse_input(payload: &Value) -> Result<Input, InputError> {
    parse_input_served(payload, None)
}

/// As `parse_input`, refusing EventBridge events and work messages (also
/// inside SQS messages) from any account or region `served` does not name
/// (unknown on a plain CLI run: not checked).
pub fn parse_input_served(payload: &Value, served: Option<&Served>) -> Result<Input, InputError> {
    let Some(object) = payload.as_object() else {
        return Err(InputError::Unsupported(format!(
            "received a JSON {}",
            json_type(payload)
        )));
    };
    if object.contains_key("detail-type") || object.contains_key("source") {
        let at = event_location(payload);
        check_served(at.as_ref(), served)?;
        let id = payload.get("id").and_then(Value::as_str);
        return parse_eventbridge(payload).map(|input| located(input, at, id));
    }
    if object.contains_key("Records") {
        return parse_sqs(payload, served);
    }
    if object.contains_key("action") {
        return parse_manual(payload);
    }
    let mut keys: Vec<&str> = object.keys().map(String::as_str).take(10).collect();
    keys.sort_unstable();
    Err(InputError::Unsupported(format!(
        "received a JSON object with keys [{}]",
        keys.join(", ")
    )))
}

/// The account and region an EventBridge event names, when it names both.
fn event_location(event: &Value) -> Option<Location> {
    let field = |name| {
        event
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    Some(Location::new(field("account")?, field("region")?))
}

/// An input is acted on only where this deployment serves (a rule on the
/// default bus, or a forged message, could name anywhere); an event that
/// names no account or region is refused when anything is checked.
fn check_served(at: Option<&Location>, served: Option<&Served>) -> Result<(), InputError> {
    let Some(served) = served else {
        return Ok(());
    };
    if at.is_some_and(|at| served.serves(Some(at))) {
        return Ok(());
    }
    let none = || "(none named)".to_string();
    Err(InputError::AccountNotServed {
        account: at.map(|a| a.account.clone()).unwrap_or_else(none),
        region: at.map(|a| a.region.clone()).unwrap_or_else(none),
        served: served.describe(),
    })
}

/// The event's WorkSpaces are where the event came from; the event's id
/// goes into the ledger with any write made for them.
fn located(mut input: Input, at: Option<Location>, id: Option<&str>) -> Input {
    let source: Option<std::sync::Arc<str>> = id.map(|id| format!("event {id}").into());
    match &mut input {
        Input::CreateWorkspaces(call) => {
            for t in &mut call.targets {
                t.location = at.clone();
                t.source = source.clone();
            }
        }
        Input::TerminateWorkspaces(call) => call.location = at,
        Input::Recheck(call) => call.location = at,
        Input::Access(target) => {
            target.location = at;
            target.source = source;
        }
        _ => {}
    }
    input
}

fn parse_eventbridge(payload: &Value) -> Result<Input, InputError> {
    let event: EventBridgeEvent<Value> = serde_json::from_value(payload.clone())
        .map_err(|e| InputError::Malformed(format!("not a valid EventBridge event: {e}")))?;
    if event.source == "aws.events" && event.detail_type == SCHEDULED_DETAIL_TYPE {
        return Ok(Input::Fleet(FleetRequest::new(FleetAction::Reconcile)));
    }
    if event.source == WORKSPACES_SOURCE && event.detail_type == ACCESS_DETAIL_TYPE {
        return parse_access(&event.detail).map(|t| Input::Access(Box::new(t)));
    }
    if event.source != WORKSPACES_SOURCE || event.detail_type != CLOUDTRAIL_DETAIL_TYPE {
        return Err(InputError::Unsupported(format!(
            "received an EventBridge event with source {:?} and detail-type {:?}",
            event.source, event.detail_type
        )));
    }
    let raw_detail = event.detail.clone();
    let detail: CloudTrailDetail = serde_json::from_value(event.detail).map_err(|e| {
        InputError::Malformed(format!("detail is not a CloudTrail API call record: {e}"))
    })?;
    let event_name = detail.event_name.as_deref().unwrap_or("");
    if let Some(lifecycle) = lifecycle::parse(event_name, event.id.clone(), &raw_detail) {
        return lifecycle;
    }
    if event_name == TERMINATE_WORKSPACES {
        return parse_terminate(detail).map(Input::TerminateWorkspaces);
    }
    if event_name != CREATE_WORKSPACES {
        return Err(InputError::Unsupported(format!(
            "received the CloudTrail record of {event_name:?} (eventSource {:?})",
            detail.event_source.as_deref().unwrap_or("")
        )));
    }
    parse_create(event.id, detail).map(Input::CreateWorkspaces)
}

/// The WorkSpaces a `CreateWorkspaces` call created, and its failed requests.
fn parse_create(
    event_id: Option<String>,
    detail: CloudTrailDetail,
) -> Result<CreateWorkspacesCall, InputError> {
    if let Some(code) = detail.error_code.filter(|c| !c.is_empty()) {
        let message = detail.error_message.unwrap_or_default();
        return Ok(CreateWorkspacesCall {
            event_name: CREATE_WORKSPACES,
            event_id,
            call_error: Some(
                format!("{code}: {message}")
                    .trim_end_matches(": ")
                    .to_string(),
            ),
            targets: Vec::new(),
            failed: Vec::new(),
        });
    }
    let response = detail.response_elements.ok_or_else(|| {
        InputError::Malformed(
            "CreateWorkspaces event has neither detail.errorCode nor detail.responseElements"
                .to_string(),
        )
    })?;
    let targets = response
        .pending_requests
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, p)| target(i, p))
        .collect::<Result<Vec<_>, _>>()?;
    let failed = response
        .failed_requests
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            let request = f.workspace_request.unwrap_or_default();
            FailedCreate {
                directory_id: request.directory_id,
                user_name: request.user_name,
                error_code: f.error_code.unwrap_or_else(|| "Unknown".to_string()),
                error_message: f.error_message,
            }
        })
        .collect();
    Ok(CreateWorkspacesCall {
        event_name: CREATE_WORKSPACES,
        event_id,
        call_error: None,
        targets,
        failed,
    })
}

/// The requested WorkSpaces, less those in `failedRequests` (not terminated).
fn parse_terminate(detail: CloudTrailDetail) -> Result<TerminateWorkspacesCall, InputError> {
    if let Some(code) = detail.error_code.filter(|c| !c.is_empty()) {
        return Ok(TerminateWorkspacesCall {
            location: None,
            call_error: Some(code),
            workspace_ids: Vec::new(),
        });
    }
    let failed: Vec<String> = detail
        .response_elements
        .and_then(|r| r.failed_requests)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|f| f.workspace_id)
        .collect();
    let requests = detail
        .request_parameters
        .and_then(|p| p.terminate_workspace_requests)
        .ok_or_else(|| {
            InputError::Malformed(
                "TerminateWorkspaces event without detail.requestParameters.terminateWorkspaceRequests".into(),
            )
        })?;
    let mut workspace_ids = Vec::new();
    for (i, request) in requests.into_iter().enumerate() {
        let at = format!("detail.requestParameters.terminateWorkspaceRequests[{i}].workspaceId");
        let raw = request
            .workspace_id
            .ok_or_else(|| InputError::Malformed(format!("{at} is missing")))?;
        let id =
            WorkspaceId::parse(&raw).map_err(|e| InputError::Malformed(format!("{at}: {e}")))?;
        if !failed.contains(&raw) {
            workspace_ids.push(id);
        }
    }
    Ok(TerminateWorkspacesCall {
        location: None,
        call_error: None,
        workspace_ids,
    })
}

fn target(index: usize, p: PendingRequest) -> Result<Target, InputError> {
    let at = |field: &str| format!("detail.responseElements.pendingRequests[{index}].{field}");
    let raw_id = p
        .workspace_id
        .ok_or_else(|| InputError::Malformed(format!("{} is missing", at("workspaceId"))))?;
    let workspace_id = WorkspaceId::parse(&raw_id)
        .map_err(|e| InputError::Malformed(format!("{}: {e}", at("workspaceId"))))?;
    let directory_id = p
        .directory_id
        .filter(|d| !d.is_empty())
        .map(|d| DirectoryId::parse(&d))
        .transpose()
        .map_err(|e| InputError::Malformed(format!("{}: {e}", at("directoryId"))))?;
    let user_name = p
        .user_name
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty() && u != REDACTED);
    Ok(Target {
        location: None,
        workspace_id,
        directory_id,
        user_name,
        origin: Origin::Creation,
        described: None,
        user_hosts: None,
        attempt: 0,
        source: None,
    })
}

/// `WorkSpaces Access`: no user name; the directory id may come as `domain/d-...`.
fn parse_access(detail: &Value) -> Result<Target, InputError> {
    let field = |name: &str| {
        detail
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let workspace_id = field("workspaceId").ok_or_else(|| {
        InputError::Malformed("WorkSpaces Access event without detail.workspaceId".into())
    })?;
    let workspace_id = WorkspaceId::parse(workspace_id)
        .map_err(|e| InputError::Malformed(format!("detail.workspaceId: {e}")))?;
    let directory_id = field("directoryId")
        .map(|d| d.rsplit('/').next().unwrap_or(d))
        .map(DirectoryId::parse)
        .transpose()
        .map_err(|e| InputError::Malformed(format!("detail.directoryId: {e}")))?;
    Ok(Target {
        location: None,
        workspace_id,
        directory_id,
        user_name: None,
        origin: Origin::Login,
        described: None,
        user_hosts: None,
        attempt: 0,
        source: None,
    })
}

fn parse_work_message(body: &Value) -> Result<Target, InputError> {
    let message: WorkMessage = serde_json::from_value(body.clone())
        .map_err(|e| InputError::Malformed(format!("not a work message: {e}")))?;
    let location = match (&message.account, &message.region) {
        (None, None) => None,
        (Some(account), Some(region)) if is_account_id(account) && is_region(region) => {
            Some(Location::new(account, region))
        }
        _ => {
            return Err(InputError::Malformed(
                "account and region: both or neither, a 12-digit account id and a region name"
                    .into(),
            ));
        }
    };
    Ok(Target {
        location,
        workspace_id: WorkspaceId::parse(&message.workspace_id)
            .map_err(|e| InputError::Malformed(format!("workspace_id: {e}")))?,
        directory_id: message
            .directory_id
            .as_deref()
            .map(DirectoryId::parse)
            .transpose()
            .map_err(|e| InputError::Malformed(format!("directory_id: {e}")))?,
        user_name: message.user_name.filter(|u| !u.trim().is_empty()),
        origin: message.reason,
        described: None,
        user_hosts: None,
        attempt: message.attempt,
        source: None,
    })
}

/// Each message stands alone: one that cannot be understood fails by itself
/// (and reaches the dead-letter queue after the queue's max receives).
fn parse_sqs(payload: &Value, served: Option<&Served>) -> Result<Input, InputError> {
    let event: SqsEvent = serde_json::from_value(payload.clone())
        .map_err(|e| InputError::Malformed(format!("not a valid SQS event: {e}")))?;
    let items = event
        .records
        .into_iter()
        .enumerate()
        .map(|(i, record)| {
            let message_id = record.message_id.unwrap_or_else(|| format!("#{i}"));
            (message_id, parse_sqs_body(record.body.as_deref(), served))
        })
        .map(|(message_id, work)| SqsItem { message_id, work })
        .collect();
    Ok(Input::SqsBatch(items))
}

fn parse_sqs_body(body: Option<&str>, served: Option<&Served>) -> Result<Vec<Target>, InputError> {
    let body: Value = serde_json::from_str(body.unwrap_or(""))
        .map_err(|e| InputError::Malformed(format!("message body is not JSON: {e}")))?;
    if body.get("workspace_id").is_some() {
        let target = parse_work_message(&body)?;
        // A message without a location means the home location.
        if let Some(served) = served {
            let at = target.location.as_ref().unwrap_or(&served.home);
            check_served(Some(at), Some(served))?;
        }
        return Ok(vec![target]);
    }
    if body.get("Records").is_some() {
        return Err(InputError::Unsupported(
            "an SQS message holding another batch".into(),
        ));
    }
    match parse_input_served(&body, served)? {
        Input::CreateWorkspaces(call) => Ok(call.targets),
        Input::TerminateWorkspaces(_) | Input::Recheck(_) => Err(InputError::Unsupported(
            "a TerminateWorkspaces, RebuildWorkspaces or RestoreWorkspace event inside a queue message (its rule targets the function)"
                .into(),
        )),
        Input::Access(target) => Ok(vec![*target]),
        Input::SqsBatch(_) => Err(InputError::Unsupported("a nested batch".into())),
        Input::Fleet(_) | Input::Doctor | Input::Agents(_) | Input::History(_) => Err(InputError::Unsupported(
            "a fleet run inside a queue message".into(),
        )),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(name: &str) -> Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn events_from_an_account_not_served_are_refused_also_inside_queue_messages() {
        let own = &Served {
            home: Location::new("123456789012", "us-east-1"),
            scope: Default::default(),
        };
        let created = event("create-workspaces.json");
        let Input::CreateWorkspaces(call) = parse_input_served(&created, Some(own)).unwrap() else {
            panic!()
        };
        assert_eq!(
            call.targets[0].location,
            Some(Location::new("123456789012", "us-east-1")),
            "the event's WorkSpaces are where it came from"
        );
        assert!(
            parse_input_served(&created, None).is_ok(),
            "unknown: not checked"
        );
        let mut foreign = created.clone();
        foreign["account"] = json!("999999999999");
        let err = parse_input_served(&foreign, Some(own)).unwrap_err();
        assert_eq!(
            err,
            InputError::AccountNotServed {
                account: "999999999999".into(),
                region: "us-east-1".into(),
                served: "account(s) 123456789012 in region(s) us-east-1".into()
            }
        );
        let mut elsewhere = created.clone();
        elsewhere["region"] = json!("eu-west-1");
        assert!(matches!(
            parse_input_served(&elsewhere, Some(own)),
            Err(InputError::AccountNotServed { region, .. }) if region == "eu-west-1"
        ));
        let mut unnamed = created.clone();
        unnamed.as_object_mut().unwrap().remove("account");
        assert!(matches!(
            parse_input_served(&unnamed, Some(own)),
            Err(InputError::AccountNotServed { .. })
        ));
        // A sign-in relayed through the work queue: that message only.
        let mut access = event("workspaces-access.json");
        access["account"] = json!("999999999999");
        let batch = json!({"Records": [
            {"messageId": "m-foreign", "body": access.to_string()},
            {"messageId": "m-own", "body": event("workspaces-access.json").to_string()},
        ]});
        let Input::SqsBatch(items) = parse_input_served(&batch, Some(own)).unwrap() else {
            panic!()
        };
        assert!(matches!(
            items[0].work,
            Err(InputError::AccountNotServed { .. })
        ));
        assert!(items[1].work.is_ok());
    }

    #[test]
    fn work_messages_name_their_location_and_are_refused_outside_the_scope() {
        let served = &Served {
            home: Location::new("123456789012", "us-east-1"),
            scope: crate::domain::location::Scope {
                accounts: vec!["111111111111".into(), "123456789012".into()],
                regions: vec!["us-east-1".into()],
            },
        };
        let batch = |bodies: &[Value]| {
            let records: Vec<Value> = bodies
                .iter()
                .enumerate()
                .map(|(i, b)| json!({"messageId": format!("m{i}"), "body": b.to_string()}))
                .collect();
            let Input::SqsBatch(items) =
                parse_input_served(&json!({ "Records": records }), Some(served)).unwrap()
            else {
                panic!()
            };
            items
        };
        let items = batch(&[
            json!({"workspace_id": "ws-abc123", "reason": "backfill", "account": "111111111111", "region": "us-east-1"}),
            json!({"workspace_id": "ws-abc123", "reason": "backfill"}),
            json!({"workspace_id": "ws-abc123", "reason": "backfill", "account": "222222222222", "region": "us-east-1"}),
            json!({"workspace_id": "ws-abc123", "reason": "backfill", "account": "111111111111", "region": "eu-west-1"}),
            json!({"workspace_id": "ws-abc123", "reason": "backfill", "account": "111111111111"}),
            json!({"workspace_id": "ws-abc123", "reason": "backfill", "account": "x", "region": "us-east-1"}),
        ]);
        let work = |i: usize| items[i].work.clone();
        assert_eq!(
            work(0).unwrap()[0].location,
            Some(Location::new("111111111111", "us-east-1"))
        );
        assert_eq!(work(1).unwrap()[0].location, None, "home");
        for i in [2, 3] {
            assert!(
                matches!(work(i), Err(InputError::AccountNotServed { .. })),
                "{i}: {:?}",
                work(i)
            );
        }
        for i in [4, 5] {
            assert!(
                matches!(&work(i), Err(InputError::Malformed(m)) if m.contains("both or neither")),
                "{i}: {:?}",
                work(i)
            );
        }
        // A message without a location is refused when home is not served.
        let elsewhere = Served {
            scope: crate::domain::location::Scope {
                accounts: vec!["111111111111".into()],
                regions: Vec::new(),
            },
            ..served.clone()
        };
        let body = json!({"workspace_id": "ws-abc123", "reason": "backfill"}).to_string();
        let payload = json!({"Records": [{"messageId": "m", "body": body}]});
        let Input::SqsBatch(items) = parse_input_served(&payload, Some(&elsewhere)).unwrap() else {
            panic!()
        };
        assert!(matches!(
            items[0].work,
            Err(InputError::AccountNotServed { .. })
        ));
    }

    fn create_call(name: &str) -> CreateWorkspacesCall {
        match parse_input(&event(name)).unwrap() {
            Input::CreateWorkspaces(call) => call,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn single_creation_event() {
        let call = create_call("create-workspaces.json");
        assert_eq!(call.call_error, None);
        assert_eq!(call.targets.len(), 1);
        assert_eq!(call.targets[0].workspace_id.as_str(), "ws-4xk2p9q7m");
        assert_eq!(
            call.targets[0].directory_id.as_ref().unwrap().as_str(),
            "d-9c67a1b2c3"
        );
        assert_eq!(call.targets[0].user_name.as_deref(), Some("asmith"));
        assert!(call.failed.is_empty());
    }

    #[test]
    fn batch_with_a_failed_request() {
        let call = create_call("create-workspaces-batch.json");
        assert_eq!(call.targets.len(), 3);
        assert_eq!(call.failed.len(), 1);
        assert_eq!(call.failed[0].error_code, "ResourceNotFound.Bundle");
        assert_eq!(call.failed[0].user_name.as_deref(), Some("bjones"));
    }

    #[test]
    fn failed_call_is_a_no_op_with_a_reason() {
        let call = create_call("create-workspaces-failed-call.json");
        assert!(call.targets.is_empty());
        assert!(call.call_error.unwrap().starts_with("AccessDenied"));
    }

    #[test]
    fn other_cloudtrail_calls_are_refused_by_name() {
        let mut reboot = event("terminate-workspaces.json");
        reboot["detail"]["eventName"] = "RebootWorkspaces".into();
        let err = parse_input(&reboot).unwrap_err();
        assert!(matches!(err, InputError::Unsupported(_)));
        assert!(err.to_string().contains("RebootWorkspaces"), "{err}");
    }

    /// Every kind of event is acted on where it came from (and a sign-in
    /// carries its event's id into the ledger).
    #[test]
    fn every_event_kind_is_located_where_it_came_from() {
        let member = Location::new("111111111111", "eu-west-2");
        let at_member = |name: &str| {
            let mut v = event(name);
            v["account"] = member.account.clone().into();
            v["region"] = member.region.clone().into();
            parse_input(&v).unwrap()
        };
        let Input::TerminateWorkspaces(call) = at_member("terminate-workspaces.json") else {
            panic!()
        };
        assert_eq!(call.location.as_ref(), Some(&member));
        let Input::Recheck(call) = at_member("rebuild-workspaces.json") else {
            panic!()
        };
        assert_eq!(call.location.as_ref(), Some(&member));
        let Input::Access(target) = at_member("workspaces-access.json") else {
            panic!()
        };
        assert_eq!(target.location.as_ref(), Some(&member));
        let id = event("workspaces-access.json")["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            target.source.as_deref(),
            Some(format!("event {id}").as_str())
        );
    }

    #[test]
    fn terminate_events_name_the_terminated_workspaces_only() {
        let Input::TerminateWorkspaces(call) =
            parse_input(&event("terminate-workspaces.json")).unwrap()
        else {
            panic!()
        };
        assert_eq!(call.workspace_ids[0].as_str(), "ws-4xk2p9q7m");
        let mut v = event("terminate-workspaces.json");
        v["detail"]["requestParameters"]["terminateWorkspaceRequests"] =
            serde_json::json!([{"workspaceId": "ws-aaa11111"}, {"workspaceId": "ws-bbb22222"}]);
        v["detail"]["responseElements"]["failedRequests"] = serde_json::json!([{"workspaceId": "ws-bbb22222", "errorCode": "InvalidResourceState"}]);
        let Input::TerminateWorkspaces(call) = parse_input(&v).unwrap() else {
            panic!()
        };
        assert_eq!(call.workspace_ids.len(), 1);
        v["detail"]["requestParameters"]["terminateWorkspaceRequests"][0]["workspaceId"] =
            "x".into();
        assert!(
            parse_input(&v)
                .unwrap_err()
                .to_string()
                .contains("terminateWorkspaceRequests[0]")
        );
    }

    #[test]
    fn every_sample_event_is_recognised_or_refused_without_panic() {
        let dir = format!("{}/events", env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
                    .unwrap_or_else(|e| panic!("{path:?}: {e}"));
                let _ = parse_input(&v);
                seen += 1;
            }
        }
        assert!(seen >= 4, "only {seen} sample events");
    }

    #[test]
    fn redacted_or_empty_user_names_become_unknown() {
        let mut v = event("create-workspaces.json");
        v["detail"]["responseElements"]["pendingRequests"][0]["userName"] = REDACTED.into();
        let Input::CreateWorkspaces(call) = parse_input(&v).unwrap() else {
            panic!()
        };
        assert_eq!(call.targets[0].user_name, None);
    }

    #[test]
    fn invalid_ids_are_malformed_input() {
        let mut v = event("create-workspaces.json");
        v["detail"]["responseElements"]["pendingRequests"][0]["workspaceId"] = "ws-../../x".into();
        let err = parse_input(&v).unwrap_err();
        assert!(matches!(err, InputError::Malformed(_)));
        assert!(
            err.to_string().contains("pendingRequests[0].workspaceId"),
            "{err}"
        );
    }

    #[test]
    fn missing_response_and_error_is_malformed() {
        let mut v = event("create-workspaces.json");
        v["detail"]["responseElements"] = Value::Null;
        assert!(matches!(parse_input(&v), Err(InputError::Malformed(_))));
    }

    #[test]
    fn unrelated_inputs_name_what_was_received() {
        let cases = [
            (serde_json::json!([1, 2]), "JSON array"),
            (
                serde_json::json!({"action": "delete-everything"}),
                "\"delete-everything\"",
            ),
            (serde_json::json!({"hello": 1}), "[hello]"),
            (
                serde_json::json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}),
                "aws.ec2",
            ),
        ];
        for (v, needle) in cases {
            let err = parse_input(&v).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
    }

    #[test]
    fn eventbridge_without_detail_is_malformed() {
        let v =
            serde_json::json!({"source": "aws.workspaces", "detail-type": CLOUDTRAIL_DETAIL_TYPE});
        assert!(matches!(parse_input(&v), Err(InputError::Malformed(_))));
    }

    #[test]
    fn login_event_targets_its_workspace_and_strips_the_directory_prefix() {
        let mut v = event("workspaces-access.json");
        v["detail"]["directoryId"] = "corp.example.com/d-9c67a1b2c3".into();
        let Input::Access(t) = parse_input(&v).unwrap() else {
            panic!()
        };
        assert_eq!(t.workspace_id.as_str(), "ws-4xk2p9q7m");
        assert_eq!(t.directory_id.unwrap().as_str(), "d-9c67a1b2c3");
        assert_eq!((t.user_name, t.origin), (None, Origin::Login));
    }

    #[test]
    fn sqs_batch_items_stand_alone() {
        let work = serde_json::json!({"workspace_id": "ws-abc123", "reason": "backfill"});
        let creation = event("create-workspaces.json");
        let batch = serde_json::json!({"Records": [
            {"messageId": "m1", "body": work.to_string(), "eventSource": "aws:sqs"},
            {"messageId": "m2", "body": creation.to_string(), "eventSource": "aws:sqs"},
            {"messageId": "m3", "body": "not json", "eventSource": "aws:sqs"},
            {"messageId": "m4", "body": "{\"workspace_id\": \"ws-BAD\", \"reason\": \"login\"}", "eventSource": "aws:sqs"},
        ]});
        let Input::SqsBatch(items) = parse_input(&batch).unwrap() else {
            panic!()
        };
        let ids: Vec<_> = items.iter().map(|i| i.message_id.as_str()).collect();
        assert_eq!(ids, ["m1", "m2", "m3", "m4"]);
        let first = items[0].work.as_ref().unwrap();
        assert_eq!(
            (first[0].workspace_id.as_str(), first[0].origin),
            ("ws-abc123", Origin::Backfill)
        );
        assert_eq!(items[1].work.as_ref().unwrap()[0].origin, Origin::Creation);
        assert!(matches!(items[2].work, Err(InputError::Malformed(_))));
        assert!(
            items[3]
                .work
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("workspace_id")
        );
    }

    #[test]
    fn work_message_round_trips_in_the_documented_shape() {
        let mut m = WorkMessage {
            account: None,
            region: None,
            workspace_id: "ws-abc".into(),
            directory_id: Some("d-12345678".into()),
            user_name: None,
            reason: Origin::Reconcile,
            attempt: 0,
        };
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"workspace_id": "ws-abc", "directory_id": "d-12345678", "reason": "reconcile"})
        );
        assert_eq!(serde_json::from_value::<WorkMessage>(json).unwrap(), m);
        m.account = Some("111111111111".into());
        m.region = Some("eu-west-1".into());
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"account": "111111111111", "region": "eu-west-1", "workspace_id": "ws-abc", "directory_id": "d-12345678", "reason": "reconcile"})
        );
        assert_eq!(serde_json::from_value::<WorkMessage>(json).unwrap(), m);
    }

    #[test]
    fn manual_payloads_become_fleet_requests() {
        let v = serde_json::json!({"action": "backfill", "directory_ids": ["d-123abc00"], "dry_run": true, "max_moves": 100});
        let Input::Fleet(r) = parse_input(&v).unwrap() else {
            panic!()
        };
        assert_eq!(
            (r.action, r.dry_run, r.max_moves, r.enqueue),
            (FleetAction::Backfill, true, Some(100), None)
        );
        assert_eq!(r.filter.directory_ids[0].as_str(), "d-123abc00");
        let Input::Fleet(r) = parse_input(&serde_json::json!({"action": "verify"})).unwrap() else {
            panic!()
        };
        assert_eq!(
            (r.action, r.max_moves),
            // The deployment's cap applies (resolved by the application).
            (FleetAction::Verify, None)
        );
        let err =
            parse_input(&serde_json::json!({"action": "verify", "mode": "apply"})).unwrap_err();
        assert!(err.to_string().contains("unknown field `mode`"), "{err}");
        let err = parse_input(&serde_json::json!({"action": "verify", "workspace_ids": ["ws-X"]}))
            .unwrap_err();
        assert!(err.to_string().contains("workspace_ids"), "{err}");
    }

    #[test]
    fn identity_center_directories_are_accepted_everywhere_ids_are_read() {
        const IDC: &str = "wsd-abcz12345";
        let mut creation = event("create-workspaces.json");
        creation["detail"]["responseElements"]["pendingRequests"][0]["directoryId"] = IDC.into();
        creation["detail"]["responseElements"]["pendingRequests"][0]["userName"] =
            "jane@corp.example.com".into();
        let Input::CreateWorkspaces(call) = parse_input(&creation).unwrap() else {
            panic!()
        };
        assert_eq!(call.targets[0].directory_id.as_ref().unwrap().as_str(), IDC);
        let mut login = event("workspaces-access.json");
        login["detail"]["directoryId"] = IDC.into();
        let Input::Access(t) = parse_input(&login).unwrap() else {
            panic!()
        };
        assert_eq!(t.directory_id.unwrap().as_str(), IDC);
        let body = serde_json::json!({"workspace_id": "ws-abc123", "directory_id": IDC, "reason": "backfill"});
        let batch = serde_json::json!({"Records": [{"messageId": "m1", "body": body.to_string()}]});
        let Input::SqsBatch(items) = parse_input(&batch).unwrap() else {
            panic!()
        };
        assert_eq!(
            items[0].work.as_ref().unwrap()[0]
                .directory_id
                .as_ref()
                .unwrap()
                .as_str(),
            IDC
        );
        let Input::Fleet(r) =
            parse_input(&serde_json::json!({"action": "verify", "directory_ids": [IDC]})).unwrap()
        else {
            panic!()
        };
        assert_eq!(r.filter.directory_ids[0].as_str(), IDC);
        // Anything else is still refused, naming the field.
        creation["detail"]["responseElements"]["pendingRequests"][0]["directoryId"] =
            "wsd-X".into();
        let err = parse_input(&creation).unwrap_err().to_string();
        assert!(err.contains("pendingRequests[0].directoryId"), "{err}");
    }

    #[test]
    fn a_cap_on_a_verify_is_refused_rather_than_ignored() {
        let err =
            parse_input(&serde_json::json!({"action": "verify", "max_moves": 5})).unwrap_err();
        assert!(err.to_string().contains("backfill only"), "{err}");
    }

    #[test]
    fn arbitrary_json_never_panics_and_errors_name_what_was_received() {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-zA-Z0-9 :/._-]{0,12}".prop_map(Value::from),
            prop_oneof![
                Just("aws.workspaces"),
                Just("CreateWorkspaces"),
                Just("WorkSpaces Access"),
                Just("Scheduled Event"),
                Just("ws-abc12345"),
                Just("d-1234567890"),
                Just("backfill")
            ]
            .prop_map(Value::from),
        ];
        let keys = prop_oneof![
            Just("source".to_string()),
            Just("detail-type".to_string()),
            Just("detail".to_string()),
            Just("Records".to_string()),
            Just("body".to_string()),
            Just("action".to_string()),
            Just("responseElements".to_string()),
            Just("pendingRequests".to_string()),
            Just("workspaceId".to_string()),
            Just("eventName".to_string()),
            "[a-z]{1,6}"
        ];
        let tree = leaf.prop_recursive(4, 48, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                proptest::collection::btree_map(keys.clone(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        });
        proptest::proptest!(|(v in tree)| {
            let Err(e) = parse_input(&v) else { return Ok(()) };
            let text = e.to_string();
            let detail = match &e {
                InputError::Malformed(d) | InputError::Unsupported(d) => d.clone(),
                InputError::AccountNotServed { account, .. } => account.clone(),
            };
            proptest::prop_assert!(!detail.trim().is_empty(), "no detail: {text}");
            match v.as_object() {
                // Not an object: its JSON type is named.
                None => proptest::prop_assert!(
                    text.contains(&format!("received a JSON {}", json_type(&v))),
                    "{text}"
                ),
                // An object of no known kind: its keys are named.
                Some(o) if !["detail-type", "source", "Records", "action"].iter().any(|k| o.contains_key(*k)) => {
                    for key in o.keys().take(10) {
                        proptest::prop_assert!(text.contains(key.as_str()), "{key} not named: {text}");
                    }
                }
                // A recognised kind: the part that was wrong is named.
                Some(_) => {}
            }
        });
    }

    #[test]
    fn source_and_detail_type_each_decide() {
        // Either key makes it an EventBridge event (then judged as one).
        for v in [
            serde_json::json!({"source": "aws.workspaces"}),
            serde_json::json!({"detail-type": "Scheduled Event"}),
        ] {
            let err = parse_input(&v).unwrap_err().to_string();
            assert!(err.contains("not a valid EventBridge event"), "{err}");
        }
        let event = |source: &str, detail_type: &str| {
            serde_json::json!({"version": "0", "id": "x", "detail-type": detail_type, "source": source,
                "account": "1", "time": "2025-11-03T00:00:00Z", "region": "us-east-1", "resources": [],
                "detail": {"eventName": "CreateWorkspaces"}})
        };
        // Only the schedule's own pair means reconcile; other pairs are refused by name.
        for (source, detail_type) in [
            ("aws.events", "Other Event"),
            ("aws.workspaces", "Scheduled Event"),
            ("aws.workspaces", "WorkSpaces Something"),
            ("aws.ec2", "AWS API Call via CloudTrail"),
        ] {
            let err = parse_input(&event(source, detail_type)).unwrap_err();
            assert!(
                matches!(err, InputError::Unsupported(_)),
                "{source}/{detail_type}: {err}"
            );
            assert!(err.to_string().contains(detail_type), "{err}");
        }
    }

    #[test]
    fn an_empty_error_code_is_no_error_and_a_blank_user_name_is_none() {
        let mut v = event("terminate-workspaces.json");
        v["detail"]["errorCode"] = serde_json::json!("");
        let Input::TerminateWorkspaces(call) = parse_input(&v).unwrap() else {
            panic!()
        };
        assert_eq!(call.call_error, None);
        assert!(!call.workspace_ids.is_empty());
        let target = parse_work_message(
            &serde_json::json!({"workspace_id": "ws-abc12345", "user_name": "  ", "reason": "backfill"}),
        )
        .unwrap();
        assert_eq!(target.user_name, None);
    }

    #[test]
    fn the_schedule_means_reconcile() {
        let v = serde_json::json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "1", "time": "2025-11-03T00:00:00Z", "region": "us-east-1", "resources": [], "detail": {}});
        let Input::Fleet(r) = parse_input(&v).unwrap() else {
            panic!()
        };
        assert_eq!(r.action, FleetAction::Reconcile);
    }
}
