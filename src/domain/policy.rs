//! The org's desired state as a list of policies. A policy knows where it is
//! stored (a setting key, or the console's org object), how to judge what is
//! stored, what to write (merged, never clobbered) and what `doctor` says of
//! it; the application reads, writes and verifies every policy with one
//! cycle. Adding a policy is one implementation here plus its configuration.

use serde::Serialize;

use super::backup::{BackupAssessment, OrgObject};
use super::check::Check;
use super::orgs::ResolvedOrg;
use super::watch_paths::{self, SettingSnapshot};

/// Which policy a report is about (serialized as the report's `policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyId {
    /// File-activity watch paths (`:main`, `D:`), locked on the org.
    WatchPaths,
    /// The device backup file selection (`D:\Users\` on Basic, Advanced, Gov F1).
    BackupFileSelection,
}

impl PolicyId {
    pub const fn as_str(self) -> &'static str {
        match self {
            PolicyId::WatchPaths => "watch_paths",
            PolicyId::BackupFileSelection => "backup_file_selection",
        }
    }

    /// The name of `doctor`'s check of it.
    pub const fn check_name(self) -> &'static str {
        match self {
            PolicyId::WatchPaths => "watch-path setting",
            PolicyId::BackupFileSelection => "device defaults",
        }
    }

    /// Whether drift left after an apply pass fails the run (the operator's
    /// alarm). Backup defaults that are inherited or locked need the operator
    /// by design: their WorkSpaces show as not covered instead.
    pub fn drift_fails_the_run(self) -> bool {
        match self {
            PolicyId::WatchPaths => true,
            PolicyId::BackupFileSelection => false,
        }
    }
}

impl std::fmt::Display for PolicyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a policy is stored in Code42.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicySource<'a> {
    /// One key of the org's settings (`OrgSettings`).
    Setting(&'a str),
    /// The console's whole org object (device defaults).
    OrgObject,
}

/// What was read for a policy from its source.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyState {
    Setting(Option<SettingSnapshot>),
    OrgObject(OrgObject),
}

/// What to write to a policy's source.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyWrite {
    Setting {
        key: String,
        items: Vec<String>,
        locked: bool,
    },
    OrgObject(OrgObject),
}

/// A policy's judgement of what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    pub compliant: bool,
    /// This tool may write it (false: reported, left for the operator).
    pub writable: bool,
    /// What a write of this tool brings is in place: a read-back without it
    /// means the write did not take.
    pub settled: bool,
    /// What is wrong ("missing D:; not locked"), or "compliant"; when not
    /// writable, also why and what the operator can do.
    pub finding: String,
    /// The stored value in a sentence, for an error after a failed read-back.
    pub readback: String,
    /// The stored value for reports.
    pub snapshot: Option<SettingSnapshot>,
}

/// A write to make, and the values it carries (a report's `would_write`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedWrite {
    pub write: PolicyWrite,
    pub preview: Vec<String>,
}

pub trait OrgPolicy: Send + Sync {
    fn id(&self) -> PolicyId;
    /// The setting key, or the path in the org object, for reports.
    fn location(&self) -> &str;
    fn source(&self) -> PolicySource<'_>;
    fn judge(&self, org_id: i64, state: &PolicyState) -> Judgement;
    /// The complete value to write: what is stored kept, the missing added.
    /// `now_ms`: the write's time, for sources that carry one.
    fn plan_write(&self, org_id: i64, state: &PolicyState, now_ms: u64) -> PlannedWrite;
    /// `doctor`'s line for what is stored (read-only).
    fn doctor_check(&self, org: &ResolvedOrg, state: &PolicyState) -> Check;
    /// `doctor`'s fix when the source cannot be read.
    fn read_fix(&self) -> &'static str;
}

/// File-activity watch paths (`:main`, `D:`), locked on the org (the seed's steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchPaths {
    pub key: String,
    pub paths: Vec<String>,
}

impl WatchPaths {
    fn stored<'s>(&self, state: &'s PolicyState) -> Option<&'s SettingSnapshot> {
        match state {
            PolicyState::Setting(s) => s.as_ref(),
            PolicyState::OrgObject(_) => None,
        }
    }
}

const WATCH_PATH_CHECK: &str = PolicyId::WatchPaths.check_name();

impl OrgPolicy for WatchPaths {
    fn id(&self) -> PolicyId {
        PolicyId::WatchPaths
    }
    fn location(&self) -> &str {
        &self.key
    }
    fn source(&self) -> PolicySource<'_> {
        PolicySource::Setting(&self.key)
    }
    fn judge(&self, _org_id: i64, state: &PolicyState) -> Judgement {
        let stored = self.stored(state);
        let a = watch_paths::assess(stored, &self.paths);
        let mut finding = a.describe();
        if !a.rewritable() {
            // Never write over a value we cannot read back item for item.
            let raw = stored.map(|s| s.raw.as_str()).unwrap_or_default();
            finding = format!("{finding}; stored value: {raw:?}");
        }
        Judgement {
            compliant: a.compliant(),
            writable: a.rewritable(),
            settled: a.compliant(),
            finding,
            readback: stored
                .map(|s| format!("{:?} locked={} scope={:?}", s.raw, s.locked, s.scope))
                .unwrap_or_else(|| "no value".into()),
            snapshot: stored.cloned(),
        }
    }
    fn plan_write(&self, _org_id: i64, state: &PolicyState, _now_ms: u64) -> PlannedWrite {
        let items = watch_paths::merge(self.stored(state), &self.paths);
        PlannedWrite {
            write: PolicyWrite::Setting {
                key: self.key.clone(),
                items: items.clone(),
                locked: true,
            },
            preview: items,
        }
    }
    fn doctor_check(&self, org: &ResolvedOrg, state: &PolicyState) -> Check {
        let (key, org_id) = (&self.key, org.legacy_id);
        let a = watch_paths::assess(self.stored(state), &self.paths);
        match self.stored(state) {
            None => Check::warn(
                WATCH_PATH_CHECK,
                format!("{key} is not set on org {org_id}"),
                "apply will write it (locked)",
            ),
            Some(s) if a.unparsable.is_some() => Check::fail(
                WATCH_PATH_CHECK,
                format!("{key} = {:?}: {}", s.raw, a.describe()),
                "fix the value by hand in the console; this tool never rewrites a value it cannot read item by item",
            ),
            Some(s) if a.compliant() => Check::pass(
                WATCH_PATH_CHECK,
                format!("{key} = {:?}, locked, set on the org", s.raw),
            ),
            Some(s) => Check::warn(
                WATCH_PATH_CHECK,
                format!(
                    "{key} = {:?} (locked {}, scope {}): {}",
                    s.raw,
                    s.locked,
                    s.scope.as_deref().unwrap_or("none"),
                    a.describe()
                ),
                "apply will merge and lock it",
            ),
        }
    }
    fn read_fix(&self) -> &'static str {
        "the API client's role must read org settings (Customer Cloud Admin); check CODE42_SETTINGS_* for this tenant"
    }
}

/// The device backup file selection (Incydr Basic, Advanced, Gov F1): every
/// backup set this tool may change includes `paths` (see `backup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFileSelection {
    pub paths: Vec<String>,
    /// Write the org's own defaults even when it inherits them.
    pub break_inheritance: bool,
    /// Ask existing devices to take the new defaults (unverified flags).
    pub publish: bool,
}

/// Where the backup sets sit in the org object (reference §5b).
const BACKUP_LOCATION: &str = "deviceDefaults.serviceBackupConfig.backupConfig.backupSets";
const BACKUP_CHECK: &str = PolicyId::BackupFileSelection.check_name();

impl BackupFileSelection {
    fn org(state: &PolicyState) -> OrgObject {
        match state {
            PolicyState::OrgObject(o) => o.clone(),
            PolicyState::Setting(_) => OrgObject::default(),
        }
    }

    fn snapshot(a: &BackupAssessment, org: &OrgObject) -> SettingSnapshot {
        SettingSnapshot {
            raw: org.backup_sets_text(),
            items: a.includes.clone(),
            unparsable: None,
            locked: !a.locked.is_empty(),
            scope: Some(
                if a.inherited_from.is_some() {
                    "INHERITED"
                } else {
                    "ORG"
                }
                .into(),
            ),
        }
    }
}

impl OrgPolicy for BackupFileSelection {
    fn id(&self) -> PolicyId {
        PolicyId::BackupFileSelection
    }
    fn location(&self) -> &str {
        BACKUP_LOCATION
    }
    fn source(&self) -> PolicySource<'_> {
        PolicySource::OrgObject
    }
    fn judge(&self, org_id: i64, state: &PolicyState) -> Judgement {
        let org = Self::org(state);
        let a = org.assess(org_id, &self.paths);
        // Inherited defaults and locked sets are the operator's to change.
        let writable =
            !a.missing.is_empty() && (a.inherited_from.is_none() || self.break_inheritance);
        let mut finding = a.describe();
        // (Inherited defaults are never compliant.)
        if !writable && a.inherited_from.is_some() {
            finding.push_str(
                "; set CODE42_BACKUP_BREAK_INHERITANCE=true to write this org's own defaults (unverified API behaviour), or add the path on the providing org",
            );
        }
        Judgement {
            compliant: a.compliant(),
            writable,
            settled: a.missing.is_empty(),
            finding,
            readback: a.includes.join(", "),
            snapshot: Some(Self::snapshot(&a, &org)),
        }
    }
    fn plan_write(&self, org_id: i64, state: &PolicyState, now_ms: u64) -> PlannedWrite {
        let mut merged = Self::org(state).merged(&self.paths);
        let preview = merged.assess(org_id, &self.paths).includes;
        if self.publish {
            merged.publish(now_ms);
        }
        PlannedWrite {
            write: PolicyWrite::OrgObject(merged),
            preview,
        }
    }
    fn doctor_check(&self, org: &ResolvedOrg, state: &PolicyState) -> Check {
        let judged = self.judge(org.legacy_id, state);
        if !judged.compliant && !judged.writable {
            return Check::warn(
                BACKUP_CHECK,
                judged.finding,
                "apply cannot change this: see the finding",
            );
        }
        let devices = org.device_count.unwrap_or(0);
        if !self.publish && devices > 0 {
            // The seed's step 8: a changed selection reaches existing
            // devices only when pushed to them.
            return Check::warn(
                BACKUP_CHECK,
                format!(
                    "{}; CODE42_BACKUP_PUBLISH is off and the org has {devices} device(s): a changed file selection reaches only devices registered after the change",
                    judged.finding
                ),
                "after apply writes it, push it as Code42's guide does (console: the org's Device Backup Defaults › Backup › Push setting to devices), or set CODE42_BACKUP_PUBLISH=true (its API behaviour is unverified)",
            );
        }
        Check::pass(
            BACKUP_CHECK,
            format!(
                "the org's device backup defaults are readable: {}",
                judged.finding
            ),
        )
    }
    fn read_fix(&self) -> &'static str {
        "the API client needs to read the org (GET /api/v1/Org/{id}) for the backup file selection"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::check::CheckResult;

    fn resolved(device_count: Option<u64>) -> ResolvedOrg {
        ResolvedOrg {
            guid: "g-ws".into(),
            name: "WorkSpaces".into(),
            legacy_id: 1,
            guards: crate::domain::orgs::MoveGuards::new(&[], &[], &[], false),
            device_count,
        }
    }

    #[test]
    fn doctor_warns_that_a_backup_change_needs_a_push_when_the_org_has_devices() {
        let backup = |publish| BackupFileSelection {
            paths: vec!["D:/Users/".into()],
            break_inheritance: false,
            publish,
        };
        let state = PolicyState::OrgObject(OrgObject::from_wire(serde_json::json!({"data": {
        "orgId": 1, "orgInheritDto": {"orgIdProvidingDeviceDefaults": 1},
        "deviceDefaults": {"serviceBackupConfig": {"backupConfig": {"backupSets": [
            {"name": "Default", "backupPaths": {"pathset": [{"@os": "Linux", "path": []}]}}
        ]}}}}})));
        let warned = backup(false).doctor_check(&resolved(Some(3)), &state);
        assert_eq!(warned.result, CheckResult::Warn);
        assert!(
            warned.found.contains("the org has 3 device(s)"),
            "{}",
            warned.found
        );
        assert!(warned.fix.unwrap().contains("Push setting to devices"));
        for (publish, devices) in [(true, Some(3)), (false, Some(0)), (false, None)] {
            let check = backup(publish).doctor_check(&resolved(devices), &state);
            assert_eq!(check.result, CheckResult::Pass, "{publish} {devices:?}");
        }
    }

    fn watch() -> WatchPaths {
        WatchPaths {
            key: "k".into(),
            paths: vec![":main".into(), "D:".into()],
        }
    }

    #[test]
    fn watch_paths_policy_judges_and_merges_with_its_paths() {
        let policy = watch();
        let stored = SettingSnapshot::from_raw("['E:/x', ':main']", true, Some("ORG".into()));
        let state = PolicyState::Setting(Some(stored));
        let j = policy.judge(1, &state);
        assert!(!j.compliant && j.writable && !j.settled);
        assert_eq!(j.finding, "missing D:");
        let planned = policy.plan_write(1, &state, 0);
        assert_eq!(planned.preview, vec!["'E:/x'", "':main'", "'D:'"]);
        assert_eq!(
            planned.write,
            PolicyWrite::Setting {
                key: "k".into(),
                items: vec!["'E:/x'".into(), "':main'".into(), "'D:'".into()],
                locked: true
            }
        );
        assert_eq!(
            (policy.id().as_str(), policy.location()),
            ("watch_paths", "k")
        );
        assert_eq!(policy.source(), PolicySource::Setting("k"));
    }

    #[test]
    fn an_unparsable_watch_path_value_is_not_writable_and_says_what_is_stored() {
        let stored = SettingSnapshot::from_raw("[':main', 'D:]", true, Some("ORG".into()));
        let j = watch().judge(1, &PolicyState::Setting(Some(stored)));
        assert!(!j.writable && !j.compliant);
        assert!(
            j.finding.ends_with("stored value: \"[':main', 'D:]\""),
            "{}",
            j.finding
        );
        let check = watch().doctor_check(&resolved(None), &PolicyState::Setting(None));
        assert_eq!(check.result, CheckResult::Warn);
        assert_eq!(check.found, "k is not set on org 1");
    }

    #[test]
    fn drift_fails_the_run_only_for_policies_this_tool_always_owns() {
        assert!(PolicyId::WatchPaths.drift_fails_the_run());
        assert!(!PolicyId::BackupFileSelection.drift_fails_the_run());
        assert_eq!(
            serde_json::to_value(PolicyId::BackupFileSelection).unwrap(),
            "backup_file_selection"
        );
        assert_eq!(
            PolicyId::BackupFileSelection.as_str(),
            "backup_file_selection"
        );
    }

    fn backup_state(provider: i64, include: &[&str]) -> PolicyState {
        let paths: Vec<serde_json::Value> = include
            .iter()
            .map(|p| serde_json::json!({"@include": p}))
            .collect();
        PolicyState::OrgObject(OrgObject::from_wire(serde_json::json!({"data": {
        "orgId": 1, "orgInheritDto": {"orgIdProvidingDeviceDefaults": provider},
        "deviceDefaults": {"serviceBackupConfig": {"backupConfig": {"backupSets": [
            {"name": "Default", "backupPaths": {"pathset": [{"@os": "Linux", "path": paths}]}}
        ]}}}}})))
    }

    fn backup(break_inheritance: bool) -> BackupFileSelection {
        BackupFileSelection {
            paths: vec!["D:/Users/".into()],
            break_inheritance,
            publish: false,
        }
    }

    #[test]
    fn inherited_backup_defaults_are_written_only_when_inheritance_may_be_broken() {
        const HINT: &str = "CODE42_BACKUP_BREAK_INHERITANCE=true";
        // Inherited from org 7 and missing the path: not ours to write; the fix is named.
        let inherited = backup(false).judge(1, &backup_state(7, &[]));
        assert!(!inherited.compliant && !inherited.writable);
        assert!(inherited.finding.contains(HINT), "{}", inherited.finding);
        // Allowed to break inheritance: writable, no hint.
        let broken = backup(true).judge(1, &backup_state(7, &[]));
        assert!(broken.writable && !broken.finding.contains(HINT));
        // The org's own defaults: writable, no hint.
        let own = backup(false).judge(1, &backup_state(1, &[]));
        assert!(own.writable && !own.finding.contains(HINT));
        assert_eq!(
            inherited.snapshot.unwrap().scope.as_deref(),
            Some("INHERITED")
        );
        // The org's own and compliant: nothing to write, nothing to say.
        let fine = backup(false).judge(1, &backup_state(1, &["D:/Users/"]));
        assert!(fine.compliant && !fine.writable && !fine.finding.contains(HINT));
        let snapshot = fine.snapshot.unwrap();
        assert!(!snapshot.locked, "no set is locked");
        assert_eq!(snapshot.scope.as_deref(), Some("ORG"));
    }

    #[test]
    fn a_compliant_backup_selection_passes_doctor_without_devices_to_push_to() {
        let check =
            backup(false).doctor_check(&resolved(Some(0)), &backup_state(1, &["D:/Users/"]));
        assert_eq!(check.result, CheckResult::Pass, "{}", check.found);
    }

    #[test]
    fn doctor_fails_an_unreadable_watch_path_value() {
        let stored = SettingSnapshot::from_raw("[':main', 'D:]", true, Some("ORG".into()));
        let check = watch().doctor_check(&resolved(None), &PolicyState::Setting(Some(stored)));
        assert_eq!(check.result, CheckResult::Fail, "{}", check.found);
    }

    #[test]
    fn each_policy_says_where_it_lives_and_how_to_read_it() {
        assert_eq!(PolicyId::WatchPaths.to_string(), "watch_paths");
        assert_eq!(
            PolicyId::BackupFileSelection.to_string(),
            "backup_file_selection"
        );
        assert!(watch().read_fix().contains("Customer Cloud Admin"));
        assert!(backup(false).read_fix().contains("GET /api/v1/Org/{id}"));
        assert_eq!(
            backup(false).location(),
            "deviceDefaults.serviceBackupConfig.backupConfig.backupSets"
        );
    }
}
