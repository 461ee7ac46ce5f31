//! WorkSpaces that change under an existing deployment: migrated (a new
//! WorkSpace id from an old one), standby WorkSpaces created in a second
//! region, and rebuilt or restored ones (a new system volume: the Code42
//! agent registers again a while later). As everywhere, the event only says
//! where to look: each WorkSpace is then read from DescribeWorkspaces.

use serde_json::Value;

use super::{CreateWorkspacesCall, FailedCreate, Input, InputError};
use crate::domain::ids::{DirectoryId, WorkspaceId};
use crate::domain::location::Location;
use crate::domain::model::{Origin, Target};

pub const MIGRATE_WORKSPACE: &str = "MigrateWorkspace";
pub const CREATE_STANDBY_WORKSPACES: &str = "CreateStandbyWorkspaces";
pub const REBUILD_WORKSPACES: &str = "RebuildWorkspaces";
pub const RESTORE_WORKSPACE: &str = "RestoreWorkspace";

/// Rebuilt or restored WorkSpaces, to be checked again once their agent
/// has registered anew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecheckCall {
    pub event_name: &'static str,
    /// Where the event came from; None: the home location.
    pub location: Option<Location>,
    /// Set when the whole call failed (then nothing was rebuilt).
    pub call_error: Option<String>,
    pub workspace_ids: Vec<WorkspaceId>,
}

/// The CloudTrail record of a lifecycle call, when `event_name` is one.
pub(super) fn parse(
    event_name: &str,
    event_id: Option<String>,
    detail: &Value,
) -> Option<Result<Input, InputError>> {
    let name = [
        MIGRATE_WORKSPACE,
        CREATE_STANDBY_WORKSPACES,
        REBUILD_WORKSPACES,
        RESTORE_WORKSPACE,
    ]
    .into_iter()
    .find(|n| *n == event_name)?;
    let call_error =
        text(detail, &["errorCode"]).map(|code| match text(detail, &["errorMessage"]) {
            Some(message) => format!("{code}: {message}"),
            None => code.to_string(),
        });
    Some(match name {
        MIGRATE_WORKSPACE | CREATE_STANDBY_WORKSPACES => {
            created(name, event_id, call_error, detail).map(Input::CreateWorkspaces)
        }
        _ => rechecked(name, call_error, detail).map(Input::Recheck),
    })
}

/// A string at `path` under `value`, when there is a non-empty one.
fn text<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn workspace_id(raw: Option<&str>, at: &str) -> Result<WorkspaceId, InputError> {
    let raw = raw.ok_or_else(|| InputError::Malformed(format!("{at} is missing")))?;
    WorkspaceId::parse(raw).map_err(|e| InputError::Malformed(format!("{at}: {e}")))
}

fn new_target(workspace_id: WorkspaceId, directory_id: Option<DirectoryId>) -> Target {
    Target {
        location: None,
        workspace_id,
        directory_id,
        user_name: None,
        origin: Origin::Creation,
        described: None,
        user_hosts: None,
        attempt: 0,
        source: None,
    }
}

/// A migration (the target WorkSpace is new) or standby WorkSpaces (new in
/// this region): handled as creations.
fn created(
    name: &'static str,
    event_id: Option<String>,
    call_error: Option<String>,
    detail: &Value,
) -> Result<CreateWorkspacesCall, InputError> {
    let mut call = CreateWorkspacesCall {
        event_name: name,
        event_id,
        call_error,
        targets: Vec::new(),
        failed: Vec::new(),
    };
    if call.call_error.is_some() {
        return Ok(call);
    }
    let response = detail.get("responseElements").ok_or_else(|| {
        InputError::Malformed(format!(
            "{name} event has neither detail.errorCode nor detail.responseElements"
        ))
    })?;
    if name == MIGRATE_WORKSPACE {
        let id = workspace_id(
            text(response, &["targetWorkspaceId"]),
            "detail.responseElements.targetWorkspaceId",
        )?;
        call.targets.push(new_target(id, None));
        return Ok(call);
    }
    let pending = response
        .get("pendingStandbyRequests")
        .and_then(Value::as_array);
    for (i, p) in pending.into_iter().flatten().enumerate() {
        let at =
            |field: &str| format!("detail.responseElements.pendingStandbyRequests[{i}].{field}");
        let id = workspace_id(text(p, &["workspaceId"]), &at("workspaceId"))?;
        let directory = text(p, &["directoryId"])
            .map(DirectoryId::parse)
            .transpose()
            .map_err(|e| InputError::Malformed(format!("{}: {e}", at("directoryId"))))?;
        call.targets.push(new_target(id, directory));
    }
    let failed = response
        .get("failedStandbyRequests")
        .and_then(Value::as_array);
    call.failed = failed
        .into_iter()
        .flatten()
        .map(|f| FailedCreate {
            directory_id: text(f, &["standbyWorkspaceRequest", "directoryId"]).map(str::to_string),
            user_name: None,
            error_code: text(f, &["errorCode"]).unwrap_or("Unknown").to_string(),
            error_message: text(f, &["errorMessage"]).map(str::to_string),
        })
        .collect();
    Ok(call)
}

/// Rebuilt (`rebuildWorkspaceRequests`, less `failedRequests`) or restored
/// (`workspaceId`) WorkSpaces.
fn rechecked(
    name: &'static str,
    call_error: Option<String>,
    detail: &Value,
) -> Result<RecheckCall, InputError> {
    let mut call = RecheckCall {
        event_name: name,
        location: None,
        call_error,
        workspace_ids: Vec::new(),
    };
    if call.call_error.is_some() {
        return Ok(call);
    }
    let request = detail.get("requestParameters").unwrap_or(&Value::Null);
    if name == RESTORE_WORKSPACE {
        let id = workspace_id(
            text(request, &["workspaceId"]),
            "detail.requestParameters.workspaceId",
        )?;
        call.workspace_ids.push(id);
        return Ok(call);
    }
    let failed: Vec<&str> = detail
        .pointer("/responseElements/failedRequests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| text(f, &["workspaceId"]))
        .collect();
    let requests = request
        .get("rebuildWorkspaceRequests")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            InputError::Malformed(
                "RebuildWorkspaces event without detail.requestParameters.rebuildWorkspaceRequests"
                    .into(),
            )
        })?;
    for (i, r) in requests.iter().enumerate() {
        let at = format!("detail.requestParameters.rebuildWorkspaceRequests[{i}].workspaceId");
        let id = workspace_id(text(r, &["workspaceId"]), &at)?;
        if !failed.contains(&id.as_str()) {
            call.workspace_ids.push(id);
        }
    }
    Ok(call)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn detail(event_name: &str, request: Value, response: Value) -> Value {
        json!({"eventName": event_name, "eventSource": "workspaces.amazonaws.com",
               "requestParameters": request, "responseElements": response})
    }

    #[test]
    fn a_migration_is_the_creation_of_its_target() {
        let d = detail(
            MIGRATE_WORKSPACE,
            json!({"sourceWorkspaceId": "ws-old111111", "bundleId": "wsb-1"}),
            json!({"sourceWorkspaceId": "ws-old111111", "targetWorkspaceId": "ws-new222222"}),
        );
        let Some(Ok(Input::CreateWorkspaces(call))) = parse(MIGRATE_WORKSPACE, None, &d) else {
            panic!()
        };
        assert_eq!(call.event_name, MIGRATE_WORKSPACE);
        let ids: Vec<&str> = call
            .targets
            .iter()
            .map(|t| t.workspace_id.as_str())
            .collect();
        assert_eq!(ids, ["ws-new222222"], "the target, never the source");
        let missing = detail(
            MIGRATE_WORKSPACE,
            json!({}),
            json!({"sourceWorkspaceId": "ws-old111111"}),
        );
        let err = parse(MIGRATE_WORKSPACE, None, &missing)
            .unwrap()
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("detail.responseElements.targetWorkspaceId is missing"),
            "{err}"
        );
    }

    #[test]
    fn standby_workspaces_are_created_and_failed_ones_named() {
        let d = detail(
            CREATE_STANDBY_WORKSPACES,
            json!({"primaryRegion": "us-east-1"}),
            json!({"pendingStandbyRequests": [
                {"workspaceId": "ws-stby11111", "directoryId": "d-1234567890", "userName": "asmith", "state": "PENDING"}],
                   "failedStandbyRequests": [
                {"standbyWorkspaceRequest": {"primaryWorkspaceId": "ws-p", "directoryId": "d-1234567890"},
                 "errorCode": "ResourceLimitExceeded", "errorMessage": "too many"}]}),
        );
        let Some(Ok(Input::CreateWorkspaces(call))) = parse(CREATE_STANDBY_WORKSPACES, None, &d)
        else {
            panic!()
        };
        assert_eq!(call.targets[0].workspace_id.as_str(), "ws-stby11111");
        assert_eq!(
            call.targets[0].user_name, None,
            "the event's user is never used"
        );
        assert_eq!(call.failed[0].error_code, "ResourceLimitExceeded");
    }

    #[test]
    fn rebuilt_and_restored_workspaces_are_rechecked_less_the_failed_ones() {
        let d = detail(
            REBUILD_WORKSPACES,
            json!({"rebuildWorkspaceRequests": [{"workspaceId": "ws-aaaa11111"}, {"workspaceId": "ws-bbbb22222"}]}),
            json!({"failedRequests": [{"workspaceId": "ws-bbbb22222", "errorCode": "x"}]}),
        );
        let Some(Ok(Input::Recheck(call))) = parse(REBUILD_WORKSPACES, None, &d) else {
            panic!()
        };
        let ids: Vec<&str> = call.workspace_ids.iter().map(WorkspaceId::as_str).collect();
        assert_eq!(ids, ["ws-aaaa11111"]);
        let d = detail(
            RESTORE_WORKSPACE,
            json!({"workspaceId": "ws-cccc33333"}),
            Value::Null,
        );
        let Some(Ok(Input::Recheck(call))) = parse(RESTORE_WORKSPACE, None, &d) else {
            panic!()
        };
        assert_eq!(call.workspace_ids[0].as_str(), "ws-cccc33333");
        // A failed call changes nothing; a malformed one says what is wrong.
        let mut failed = d.clone();
        failed["errorCode"] = json!("AccessDenied");
        let Some(Ok(Input::Recheck(call))) = parse(RESTORE_WORKSPACE, None, &failed) else {
            panic!()
        };
        assert_eq!(
            (call.call_error.as_deref(), call.workspace_ids.len()),
            (Some("AccessDenied"), 0)
        );
        let bad = detail(
            REBUILD_WORKSPACES,
            json!({"rebuildWorkspaceRequests": [{"workspaceId": "nope"}]}),
            Value::Null,
        );
        let err = parse(REBUILD_WORKSPACES, None, &bad).unwrap().unwrap_err();
        assert!(
            err.to_string()
                .contains("rebuildWorkspaceRequests[0].workspaceId"),
            "{err}"
        );
        assert!(parse("StopWorkspaces", None, &d).is_none());
    }
}
