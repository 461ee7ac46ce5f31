//! The per-WorkSpace decision, as pure functions: what is observed goes in, a
//! plan comes out (a final status with its reason, or a move to make). The
//! application layer gathers the observations and carries the plan out.

use super::coverage::host_label;
use super::ids::DirectoryId;
use super::model::{Code42Agent, Code42User, WorkspaceInfo};
use super::orgs::ResolvedOrg;
use super::report::{Action, Ending};

/// Whose WorkSpace it is, as far as WorkSpaces knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The WorkSpaces user name.
    pub user: String,
    pub directory_id: Option<DirectoryId>,
}

/// DescribeWorkspaces, read with the function's own credentials, is the only
/// source of a WorkSpace's user and directory: an event or queue message only
/// says which WorkSpace to look at (a forged one must move nobody). Non-Windows
/// WorkSpaces are out of scope.
pub fn identify(info: &WorkspaceInfo) -> Result<Identity, Ending> {
    if info.known_not_windows() {
        return Err(Ending::Skipped {
            reason: format!(
                "operating system {} is not Windows",
                info.operating_system.as_deref().unwrap_or_default()
            ),
        });
    }
    let user = info.user_name.clone().filter(|u| !u.trim().is_empty()).ok_or_else(|| {
        Ending::Skipped {
            reason: "DescribeWorkspaces gives this WorkSpace no user name (a pool or unassigned WorkSpace); not acted on".into(),
        }
    })?;
    let directory_id =
        match info.directory_id.as_deref() {
            Some(d) => Some(DirectoryId::parse(d).map_err(|e| {
                Ending::failed(format!("DescribeWorkspaces returned an {e}"), false)
            })?),
            None => None,
        };
    Ok(Identity { user, directory_id })
}

/// A WorkSpace that DescribeWorkspaces does not show: nothing is known about
/// it, so nothing is done. `deferred` while another look is planned.
pub fn not_found(lookups: u32, will_look_again: bool) -> Ending {
    if will_look_again {
        Ending::Deferred {
            reason: format!(
                "not found in DescribeWorkspaces after {lookups} lookup(s) (a new WorkSpace can take minutes to appear); queued to look again"
            ),
        }
    } else {
        Ending::Skipped {
            reason: NOT_FOUND_REASON.into(),
        }
    }
}

/// The reason of a WorkSpace never seen in DescribeWorkspaces (AWS deletes
/// failed creations; a forged event names one that never existed).
pub const NOT_FOUND_REASON: &str = "not found in DescribeWorkspaces; not acted on";

/// What to do about one WorkSpace's Code42 user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Done {
        ending: Ending,
        /// The user is in Code42 but stays outside the WorkSpaces org.
        outside_org: bool,
    },
    /// Move the user (and all of their devices) into the WorkSpaces org.
    Move { action: Action, reason: String },
}

/// The user's active agents that are on none of `workspace_hosts` (the
/// computer names of all of the user's WorkSpaces): they move with the user.
pub fn other_devices(agents: &[Code42Agent], workspace_hosts: &[String]) -> Vec<String> {
    let hosts: Vec<String> = workspace_hosts.iter().map(|h| host_label(h)).collect();
    agents
        .iter()
        .filter(|a| a.active)
        .filter(|a| {
            ![a.os_hostname.as_deref(), a.name.as_deref()]
                .into_iter()
                .flatten()
                .any(|n| hosts.contains(&host_label(n)))
        })
        .map(|a| {
            a.os_hostname
                .clone()
                .or_else(|| a.name.clone())
                .unwrap_or_else(|| a.agent_id.clone())
        })
        .collect()
}

/// The plan for a WorkSpace whose Code42 username is `username`.
/// `other_devices`: the user's agents that are on none of their WorkSpaces.
pub fn plan_user(
    username: &str,
    user: Option<&Code42User>,
    org: &ResolvedOrg,
    other_devices: &[String],
) -> Plan {
    let done = |ending, outside_org| Plan::Done {
        ending,
        outside_org,
    };
    let Some(user) = user else {
        let reason = format!(
            "{username} is not in Code42 yet (the Code42 agent registers users at first sign-in); a later check will move them"
        );
        return done(Ending::Deferred { reason }, false);
    };
    if !user.active || user.blocked {
        let state = if user.blocked {
            "blocked"
        } else {
            "deactivated"
        };
        let reason = format!("Code42 user {} is {state}", user.username);
        return done(Ending::Skipped { reason }, false);
    }
    if user.org_guid == org.guid {
        return done(Ending::Compliant { reason: None }, false);
    }
    let guards = &org.guards;
    if let Some(reason) = guards.refusal(user) {
        return done(Ending::Skipped { reason }, true);
    }
    if guards.skip_with_other_devices && !other_devices.is_empty() {
        let reason = format!(
            "moving {} would also move their other device(s) {} (CODE42_MOVE_WITH_OTHER_DEVICES=skip); not moved",
            user.username,
            other_devices.join(", ")
        );
        return done(Ending::Skipped { reason }, true);
    }
    Plan::Move {
        action: Action::MoveUser {
            user_id: user.user_id.clone(),
            username: user.username.clone(),
            from_org_guid: user.org_guid.clone(),
            from_org_name: user.org_name.clone(),
            to_org_guid: org.guid.clone(),
            to_org_name: org.name.clone(),
            applied: false,
            other_devices: other_devices.to_vec(),
        },
        reason: if other_devices.is_empty() {
            format!(
                "would move {} from org {:?} to {:?}",
                user.username, user.org_name, org.name
            )
        } else {
            format!(
                "would move {} from org {:?} to {:?}, with their other device(s) {}",
                user.username,
                user.org_name,
                org.name,
                other_devices.join(", ")
            )
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::Code42Org;
    use crate::domain::orgs::MoveGuards;
    use crate::domain::report::Status;

    /// The WorkSpaces org of a tenant with Default, Executives and Other,
    /// guarded by `protected` and `move_from` (guids or names).
    fn org_guarded(
        protected: &[&str],
        move_from: &[&str],
        skip_with_other_devices: bool,
    ) -> ResolvedOrg {
        let orgs: Vec<Code42Org> = ["g-ws", "g-default", "g-exec", "g-other"]
            .iter()
            .map(|g| Code42Org {
                org_guid: g.to_string(),
                computer_count: None,
                org_name: format!("name-{g}"),
                active: true,
                parent_org_guid: None,
            })
            .collect();
        let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        ResolvedOrg {
            guid: "g-ws".into(),
            name: "WorkSpaces".into(),
            legacy_id: 1,
            guards: MoveGuards::new(
                &orgs,
                &names(protected),
                &names(move_from),
                skip_with_other_devices,
            ),
            device_count: None,
        }
    }

    fn org() -> ResolvedOrg {
        org_guarded(&[], &[], false)
    }

    fn user(org: &str, active: bool, blocked: bool) -> Code42User {
        Code42User {
            user_id: "u1".into(),
            username: "a@x.com".into(),
            org_guid: org.into(),
            org_name: format!("name-{org}"),
            active,
            blocked,
        }
    }

    fn status_of(plan: &Plan) -> (Status, bool) {
        match plan {
            Plan::Done {
                ending,
                outside_org,
            } => (ending.status(), *outside_org),
            Plan::Move { .. } => (Status::Drift, true),
        }
    }

    #[test]
    fn plan_table() {
        let open = org_guarded(&["g-exec"], &[], false);
        let only_default = org_guarded(&["g-exec"], &["g-default"], false);
        type Case<'a> = (
            &'a str,
            Option<Code42User>,
            &'a ResolvedOrg,
            (Status, bool),
            &'a str,
        );
        let cases: Vec<Case> = vec![
            (
                "absent user",
                None,
                &open,
                (Status::Deferred, false),
                "not in Code42 yet",
            ),
            (
                "blocked",
                Some(user("g-default", true, true)),
                &open,
                (Status::Skipped, false),
                "blocked",
            ),
            (
                "deactivated",
                Some(user("g-default", false, false)),
                &open,
                (Status::Skipped, false),
                "deactivated",
            ),
            (
                "in the org",
                Some(user("g-ws", true, false)),
                &open,
                (Status::Compliant, false),
                "(no reason)",
            ),
            (
                "protected",
                Some(user("g-exec", true, false)),
                &open,
                (Status::Skipped, true),
                "protected org",
            ),
            (
                "not an allowed source",
                Some(user("g-other", true, false)),
                &only_default,
                (Status::Skipped, true),
                "CODE42_MOVE_FROM_ORGS",
            ),
            (
                "to move",
                Some(user("g-default", true, false)),
                &only_default,
                (Status::Drift, true),
                "would move a@x.com",
            ),
        ];
        for (name, u, org, expected, needle) in cases {
            let plan = plan_user("a@x.com", u.as_ref(), org, &[]);
            assert_eq!(status_of(&plan), expected, "{name}");
            let text = match &plan {
                Plan::Done {
                    ending: Ending::Compliant { reason: None },
                    ..
                } => "(no reason)".into(),
                Plan::Done {
                    ending: Ending::Skipped { reason } | Ending::Deferred { reason },
                    ..
                } => reason.clone(),
                Plan::Done { ending, .. } => panic!("{name}: unexpected {ending:?}"),
                Plan::Move { reason, .. } => reason.clone(),
            };
            assert!(text.contains(needle), "{name}: {text}");
        }
    }

    #[test]
    fn a_move_records_where_from_and_is_not_applied_yet() {
        let Plan::Move { action, .. } = plan_user(
            "a@x.com",
            Some(&user("g-default", true, false)),
            &org(),
            &[],
        ) else {
            panic!("expected a move")
        };
        let Action::MoveUser {
            from_org_guid,
            to_org_guid,
            applied,
            ..
        } = action
        else {
            panic!("expected a move")
        };
        assert_eq!(
            (from_org_guid.as_str(), to_org_guid.as_str(), applied),
            ("g-default", "g-ws", false)
        );
    }

    #[test]
    fn other_devices_are_the_agents_on_none_of_the_users_workspaces() {
        let agent = |id: &str, host: &str, active: bool| Code42Agent {
            agent_id: id.into(),
            name: None,
            os_hostname: Some(host.into()),
            app_version: None,
            product_version: None,
            last_connected: None,
            health_issues: vec![],
            active,
        };
        let agents = [
            agent("1", "WSAMZN-A.corp.example.com", true),
            agent("2", "LAPTOP-9", true),
            agent("3", "OLD-PC", false),
            agent("4", "wsamzn-b", true),
        ];
        let hosts = ["WSAMZN-A".to_string(), "WSAMZN-B".to_string()];
        assert_eq!(other_devices(&agents, &hosts), ["LAPTOP-9"]);
        let skip = org_guarded(&[], &[], true);
        let laptop = ["LAPTOP-9".to_string()];
        let plan = plan_user(
            "a@x.com",
            Some(&user("g-default", true, false)),
            &skip,
            &laptop,
        );
        assert!(
            matches!(&plan, Plan::Done { ending: Ending::Skipped { reason: r }, outside_org: true } if r.contains("LAPTOP-9")),
            "{plan:?}"
        );
        let Plan::Move {
            action: Action::MoveUser { other_devices, .. },
            reason,
        } = plan_user(
            "a@x.com",
            Some(&user("g-default", true, false)),
            &org(),
            &laptop,
        )
        else {
            panic!()
        };
        assert_eq!(other_devices, ["LAPTOP-9"]);
        assert!(reason.contains("LAPTOP-9"));
    }

    fn info(user: &str, os: Option<&str>, dir: &str) -> WorkspaceInfo {
        WorkspaceInfo {
            workspace_id: "ws-abc12345".into(),
            directory_id: Some(dir.into()),
            user_name: Some(user.into()),
            operating_system: os.map(str::to_string),
            state: None,
            computer_name: None,
            location: crate::domain::location::Location::new("123456789012", "us-east-1"),
            standby: false,
        }
    }

    #[test]
    fn identify_table() {
        // DescribeWorkspaces is the only source.
        let id = identify(&info("real", None, "d-abcdef0123")).unwrap();
        assert_eq!(
            (id.user.as_str(), id.directory_id.unwrap().as_str()),
            ("real", "d-abcdef0123")
        );
        // No user in DescribeWorkspaces (pools, unassigned): skipped, never a guess.
        let mut unassigned = info("x", None, "d-abcdef0123");
        unassigned.user_name = Some(" ".into());
        assert!(matches!(
            identify(&unassigned),
            Err(Ending::Skipped { reason: r }) if r.contains("no user name")
        ));
        // Not Windows: skipped.
        assert!(matches!(
            identify(&info("x", Some("UBUNTU_22_04"), "d-abcdef0123")),
            Err(Ending::Skipped { .. })
        ));
        // A bad directory id from AWS: permanent failure.
        assert!(matches!(
            identify(&info("x", None, "bad")),
            Err(Ending::Failed {
                retryable: false,
                ..
            })
        ));
    }

    #[test]
    fn not_found_is_deferred_while_looked_for_then_skipped() {
        assert!(matches!(
            not_found(4, true),
            Ending::Deferred { reason: r } if r.contains("after 4 lookup(s)")
        ));
        assert_eq!(
            not_found(4, false),
            Ending::Skipped {
                reason: NOT_FOUND_REASON.into()
            }
        );
    }
}
