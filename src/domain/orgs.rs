//! The tenant's orgs, as Code42 lists them: which numeric id the console
//! resources of the WorkSpaces org take (and whether a configured one really
//! is that org's), and which orgs users may never be moved out of. Pure: the
//! lists come from Code42.

use std::collections::BTreeSet;

use super::model::{Code42Org, Code42User};

/// The WorkSpaces org, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedOrg {
    pub guid: String,
    pub name: String,
    /// The console resources' numeric id, shown to map back to `guid`.
    pub legacy_id: i64,
    /// The move guards, resolved against the tenant's orgs when this org was.
    pub guards: MoveGuards,
    /// Devices registered in the org, when Code42 says (`computerCount`).
    pub device_count: Option<u64>,
}

/// An org as the console's list (`GET /api/v1/Org`) shows it: the numeric id
/// the console resources take, and the guid/uid the gateway knows it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyOrg {
    pub org_id: i64,
    pub org_guid: Option<String>,
    pub org_uid: Option<String>,
    pub org_name: Option<String>,
}

impl LegacyOrg {
    /// The orgGuid/orgUid ↔ orgId mapping (reference §4).
    fn is(&self, guid: &str) -> bool {
        self.org_guid.as_deref() == Some(guid) || self.org_uid.as_deref() == Some(guid)
    }

    fn describe(&self) -> String {
        format!(
            "org {:?} ({})",
            self.org_name.as_deref().unwrap_or("(no name)"),
            self.org_guid
                .as_deref()
                .or(self.org_uid.as_deref())
                .unwrap_or("no guid")
        )
    }
}

/// Why the numeric id to write to cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgIdProblem {
    #[error(
        "the numeric (legacy) id of org {guid} is not in Code42's console org list: set CODE42_ORG_ID to the number in the console's organization URL"
    )]
    NotListed { guid: String },
    #[error(
        "CODE42_ORG_ID={configured} is not in Code42's console org list, so it cannot be shown to be the WorkSpaces org {resolved}; refusing to write to an org whose identity is unknown: {fix}"
    )]
    ConfiguredUnknown {
        configured: i64,
        resolved: String,
        fix: String,
    },
    #[error(
        "CODE42_ORG_ID={configured} is {belongs_to}, not the WorkSpaces org {resolved}; refusing to write its settings into another org: {fix}"
    )]
    Mismatch {
        configured: i64,
        belongs_to: String,
        resolved: String,
        fix: String,
    },
}

impl OrgIdProblem {
    /// What to set: shown by `doctor` on its fix line.
    pub fn fix(&self) -> &str {
        match self {
            OrgIdProblem::NotListed { .. } => {
                "set CODE42_ORG_ID to the number in the console's organization URL"
            }
            OrgIdProblem::ConfiguredUnknown { fix, .. } | OrgIdProblem::Mismatch { fix, .. } => fix,
        }
    }
}

/// The numeric id of the org `resolved_guid` (named `resolved_name`): the
/// configured one only when the console list maps it back to that org.
pub fn legacy_id_of(
    orgs: &[LegacyOrg],
    resolved_guid: &str,
    resolved_name: &str,
    configured: Option<i64>,
) -> Result<i64, OrgIdProblem> {
    let right = orgs.iter().find(|o| o.is(resolved_guid)).map(|o| o.org_id);
    let Some(configured) = configured else {
        return right.ok_or_else(|| OrgIdProblem::NotListed {
            guid: resolved_guid.to_string(),
        });
    };
    let resolved = format!("{resolved_name:?} ({resolved_guid})");
    let fix = match right {
        Some(id) => format!("set CODE42_ORG_ID={id} (template parameter Code42OrgId), or unset it"),
        None => {
            "unset CODE42_ORG_ID, or check that the API client sees the console's org list".into()
        }
    };
    match orgs.iter().find(|o| o.org_id == configured) {
        Some(org) if org.is(resolved_guid) => Ok(configured),
        Some(org) => Err(OrgIdProblem::Mismatch {
            configured,
            belongs_to: org.describe(),
            resolved,
            fix,
        }),
        None => Err(OrgIdProblem::ConfiguredUnknown {
            configured,
            resolved,
            fix,
        }),
    }
}

/// Named orgs (by guid or name) that are not in the list.
pub fn unknown_orgs<'a>(orgs: &[Code42Org], named: &'a [String]) -> Vec<&'a String> {
    named
        .iter()
        .filter(|n| !orgs.iter().any(|o| &o.org_guid == *n || &o.org_name == *n))
        .collect()
}

/// The guids of the named orgs (by guid or name) and of all their descendants.
fn with_descendants(orgs: &[Code42Org], named: &[String]) -> BTreeSet<String> {
    let mut guids: BTreeSet<String> = orgs
        .iter()
        .filter(|o| named.iter().any(|n| n == &o.org_guid || n == &o.org_name))
        .map(|o| o.org_guid.clone())
        .collect();
    // Children until nothing new: a tree is at most as deep as it is long.
    loop {
        let before = guids.len();
        for o in orgs {
            if o.parent_org_guid
                .as_ref()
                .is_some_and(|p| guids.contains(p))
            {
                guids.insert(o.org_guid.clone());
            }
        }
        if guids.len() == before {
            return guids;
        }
    }
}

/// The operator's guard rails on moves, resolved against the tenant's orgs:
/// they fail closed (a user whose org is not known is never moved).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MoveGuards {
    /// Every org Code42 listed.
    known: BTreeSet<String>,
    /// `CODE42_PROTECTED_ORGS` and their child orgs: users are never moved out.
    protected: BTreeSet<String>,
    /// `CODE42_MOVE_FROM_ORGS` and their child orgs, when set: users are moved only out of these.
    move_from: Option<BTreeSet<String>>,
    /// `CODE42_MOVE_WITH_OTHER_DEVICES=skip`: leave a user whose other devices would move too.
    pub skip_with_other_devices: bool,
    /// Protected orgs Code42 does not list (a typo): nothing may run.
    pub unknown_protected: Vec<String>,
    /// Users an `undo` moved back (lower-cased username -> the undone run):
    /// never moved again until `undo --release`.
    pub held: std::collections::BTreeMap<String, String>,
}

impl MoveGuards {
    pub fn new(
        orgs: &[Code42Org],
        protected: &[String],
        move_from: &[String],
        skip_with_other_devices: bool,
    ) -> Self {
        Self {
            known: orgs.iter().map(|o| o.org_guid.clone()).collect(),
            protected: with_descendants(orgs, protected),
            move_from: (!move_from.is_empty()).then(|| with_descendants(orgs, move_from)),
            skip_with_other_devices,
            unknown_protected: unknown_orgs(orgs, protected).into_iter().cloned().collect(),
            held: std::collections::BTreeMap::new(),
        }
    }

    /// Why this user may not be moved, if they may not.
    pub fn refusal(&self, user: &Code42User) -> Option<String> {
        if let Some(run) = self.held.get(&user.username.to_lowercase()) {
            return Some(format!(
                "held by undo of run {run}; not moved again until `workspaces-code42 undo --release {run}`"
            ));
        }
        let org = format!("{:?} ({})", user.org_name, user.org_guid);
        if user.org_guid.trim().is_empty() {
            return Some(format!(
                "Code42 gives no org for user {}; not moved (protected orgs fail closed)",
                user.username
            ));
        }
        if !self.known.contains(&user.org_guid) {
            return Some(format!(
                "user's org {org} is not among the orgs Code42 lists, so it cannot be shown to be unprotected; not moved"
            ));
        }
        if self.protected.contains(&user.org_guid) {
            return Some(format!(
                "user is in protected org {org} (CODE42_PROTECTED_ORGS, child orgs included); not moved"
            ));
        }
        if let Some(from) = &self.move_from
            && !from.contains(&user.org_guid)
        {
            return Some(format!(
                "user's org {org} is not in CODE42_MOVE_FROM_ORGS; not moved"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legacy(id: i64, guid: &str, name: &str) -> LegacyOrg {
        LegacyOrg {
            org_id: id,
            org_guid: Some(guid.into()),
            org_uid: None,
            org_name: Some(name.into()),
        }
    }

    fn org(guid: &str, name: &str, parent: Option<&str>) -> Code42Org {
        Code42Org {
            org_guid: guid.into(),
            computer_count: None,
            org_name: name.into(),
            active: true,
            parent_org_guid: parent.map(str::to_string),
        }
    }

    fn user_in(guid: &str) -> Code42User {
        Code42User {
            user_id: "u1".into(),
            username: "a@x.com".into(),
            org_guid: guid.into(),
            org_name: format!("name-{guid}"),
            active: true,
            blocked: false,
        }
    }

    #[test]
    fn the_configured_org_id_must_map_back_to_the_resolved_org() {
        let list = [
            legacy(42, "g-main", "Main"),
            legacy(77, "g-ws", "WorkSpaces"),
        ];
        // Looked up, or configured and matching.
        assert_eq!(legacy_id_of(&list, "g-ws", "WorkSpaces", None), Ok(77));
        assert_eq!(legacy_id_of(&list, "g-ws", "WorkSpaces", Some(77)), Ok(77));
        // The orgUid spelling maps too.
        let by_uid = [LegacyOrg {
            org_guid: None,
            org_uid: Some("g-ws".into()),
            ..legacy(77, "", "WorkSpaces")
        }];
        assert_eq!(
            legacy_id_of(&by_uid, "g-ws", "WorkSpaces", Some(77)),
            Ok(77)
        );
        // Another org's id: refused, naming both orgs and the right id.
        let err = legacy_id_of(&list, "g-ws", "WorkSpaces", Some(42)).unwrap_err();
        let text = err.to_string();
        for part in [
            "CODE42_ORG_ID=42",
            "\"Main\" (g-main)",
            "\"WorkSpaces\" (g-ws)",
            "set CODE42_ORG_ID=77",
        ] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
        // An id nobody lists: refused (identity cannot be established).
        let err = legacy_id_of(&list, "g-ws", "WorkSpaces", Some(9)).unwrap_err();
        assert!(matches!(
            err,
            OrgIdProblem::ConfiguredUnknown { configured: 9, .. }
        ));
        assert!(err.to_string().contains("set CODE42_ORG_ID=77"));
        assert!(err.fix().starts_with("set CODE42_ORG_ID=77"));
        // Not configured and not listed.
        assert_eq!(
            legacy_id_of(&list, "g-other", "Other", None),
            Err(OrgIdProblem::NotListed {
                guid: "g-other".into()
            })
        );
    }

    #[test]
    fn guards_fail_closed_and_protect_child_orgs() {
        let orgs = [
            org("g-root", "Root", None),
            org("g-exec", "Executives", Some("g-root")),
            org("g-board", "Board", Some("g-exec")),
            org("g-vip", "VIP", Some("g-board")),
            org("g-default", "Default", Some("g-root")),
            org("g-ws", "WorkSpaces", Some("g-root")),
        ];
        let guards = MoveGuards::new(&orgs, &["Executives".into()], &[], false);
        for (guid, refused_because) in [
            ("g-exec", Some("protected org")),
            ("g-board", Some("protected org")),
            ("g-vip", Some("protected org")),
            ("g-default", None),
            ("g-gone", Some("not among the orgs")),
            ("", Some("gives no org")),
            ("  ", Some("gives no org")),
        ] {
            let refusal = guards.refusal(&user_in(guid));
            match refused_because {
                None => assert_eq!(refusal, None, "{guid}"),
                Some(why) => assert!(
                    refusal.as_deref().is_some_and(|r| r.contains(why)),
                    "{guid}: {refusal:?}"
                ),
            }
        }
        // Move-from orgs include their children; others are refused.
        let only = MoveGuards::new(&orgs, &[], &["g-root".into()], false);
        assert_eq!(only.refusal(&user_in("g-vip")), None);
        let only = MoveGuards::new(&orgs, &[], &["Default".into()], false);
        assert_eq!(only.refusal(&user_in("g-default")), None);
        assert!(
            only.refusal(&user_in("g-exec"))
                .is_some_and(|r| r.contains("CODE42_MOVE_FROM_ORGS"))
        );
        assert_eq!(
            unknown_orgs(&orgs, &["Board".into(), "Bord".into(), "g-ws".into()]),
            [&"Bord".to_string()]
        );
        let typo = MoveGuards::new(&orgs, &["Board".into(), "Bord".into()], &[], false);
        assert_eq!(typo.unknown_protected, ["Bord"]);
        assert!(guards.unknown_protected.is_empty());
    }
}
