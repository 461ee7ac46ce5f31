//! The org's device backup file selection (Incydr Basic, Advanced, Gov F1:
//! the seed adds `D:\Users\`, written `D:/Users/`). Read from and written to
//! the console's whole `Org` object (reference §5b): every backup set that is
//! not a legal-hold set gets the missing include paths appended after its
//! existing includes; nothing is dropped or reordered. A locked set or file
//! selection is edited too with its lock kept as found (the seed unlocks,
//! adds and locks again: here that is one write). Legal-hold sets are never
//! touched; inherited defaults are reported.

use serde_json::{Value, json};

/// What is wrong with the org's backup file selection, if anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackupAssessment {
    /// `(set name, missing paths)` for sets this tool may change.
    pub missing: Vec<(String, Vec<String>)>,
    /// Sets (or file selections) locked in the console: edited like the
    /// others, and locked as they were.
    pub locked: Vec<String>,
    pub legal_hold_sets: usize,
    /// The org providing the device defaults, when it is not this org.
    pub inherited_from: Option<String>,
    /// Include paths of the sets this tool manages, for reports.
    pub includes: Vec<String>,
    /// No backup set was found at all.
    pub no_sets: bool,
}

impl BackupAssessment {
    /// Compliant: no manageable set misses a path, and some set carries them.
    pub fn compliant(&self) -> bool {
        self.missing.is_empty()
            && self.inherited_from.is_none()
            && !self.no_sets
            && !self.includes.is_empty()
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(from) = &self.inherited_from {
            parts.push(format!("device defaults are inherited from org {from}"));
        }
        for (set, paths) in &self.missing {
            let lock = if self.locked.contains(set) {
                " (locked: it stays locked)"
            } else {
                ""
            };
            parts.push(format!(
                "backup set {set:?} misses {}{lock}",
                paths.join(", ")
            ));
        }
        if self.no_sets {
            parts.push("no backup set in the device defaults".into());
        }
        if parts.is_empty() {
            "compliant".into()
        } else {
            parts.join("; ")
        }
    }
}

fn is_true(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// Where the backup sets sit in the org object (reference §5b).
const BACKUP_SETS: &str = "/deviceDefaults/serviceBackupConfig/backupConfig/backupSets";

/// The org object under `data` (a GET's envelope) or the object itself.
fn org_object(org: &Value) -> &Value {
    org.get("data").filter(|d| d.is_object()).unwrap_or(org)
}

/// The org's backup sets (with or without the GET's `data` envelope).
fn backup_sets(org: &Value) -> Option<&Value> {
    org_object(org).pointer(BACKUP_SETS)
}

fn backup_sets_mut(org: &mut Value) -> Option<&mut Value> {
    let org = if org.get("data").is_some_and(Value::is_object) {
        org.get_mut("data")?
    } else {
        org
    };
    org.pointer_mut(BACKUP_SETS)
}

/// Each set, as listed (a list, `{"@locked", "backupSet": [...] | {...}}`, or one object).
fn sets(backup_sets: &Value) -> Vec<&Value> {
    let inner = backup_sets.get("backupSet").unwrap_or(backup_sets);
    match inner {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) => vec![inner],
        _ => Vec::new(),
    }
}

fn sets_mut(backup_sets: &mut Value) -> Vec<&mut Value> {
    let inner = if backup_sets.get("backupSet").is_some() {
        backup_sets.get_mut("backupSet").expect("checked")
    } else {
        backup_sets
    };
    match inner {
        Value::Array(items) => items.iter_mut().collect(),
        Value::Object(_) => vec![inner],
        _ => Vec::new(),
    }
}

fn set_name(set: &Value, index: usize) -> String {
    set.get("name")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("#{}", index + 1))
}

fn legal_hold(set: &Value) -> bool {
    set.get("destinations")
        .is_some_and(|d| d.get("@locked").is_some())
}

/// Whether the set or its file selection is locked in the console.
fn locked(set: &Value) -> bool {
    is_true(set.get("@locked")) || is_true(set.pointer("/backupPaths/pathset/@locked"))
}

/// The include paths of the set's file selection (locked or not).
fn includes(set: &Value) -> Option<Vec<String>> {
    let pathset = set.pointer("/backupPaths/pathset")?;
    let paths = match pathset {
        Value::Object(o) => o.get("paths").cloned().unwrap_or(Value::Null),
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Null),
        _ => Value::Null,
    };
    let entries = match paths.get("path") {
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    Some(
        entries
            .iter()
            .filter_map(|p| {
                p.get("@include")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect(),
    )
}

fn assess_backup(org: &Value, org_id: i64, paths: &[String]) -> BackupAssessment {
    let object = org_object(org);
    let mut a = BackupAssessment::default();
    let provider = object
        .pointer("/orgInheritDto/orgIdProvidingDeviceDefaults")
        .and_then(|v| match v {
            Value::Number(n) => n.as_i64().map(|n| n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        });
    if let Some(p) = provider.filter(|p| *p != org_id.to_string()) {
        a.inherited_from = Some(p);
    }
    let Some(sets_value) = backup_sets(object) else {
        a.no_sets = true;
        return a;
    };
    let all = sets(sets_value);
    a.no_sets = all.is_empty();
    for (i, set) in all.into_iter().enumerate() {
        let name = set_name(set, i);
        if legal_hold(set) {
            a.legal_hold_sets += 1;
            continue;
        }
        if locked(set) {
            a.locked.push(name.clone());
        }
        let Some(found) = includes(set) else {
            continue;
        };
        let missing: Vec<String> = paths
            .iter()
            .filter(|p| !found.contains(p))
            .cloned()
            .collect();
        a.includes.extend(found);
        if !missing.is_empty() {
            a.missing.push((name, missing));
        }
    }
    a
}

/// The whole org object with the missing paths appended to every manageable
/// set's includes (after its last include; excludes keep their place).
fn merge_backup(org: &Value, paths: &[String]) -> Value {
    let mut merged = org_object(org).clone();
    let Some(backup_sets) = backup_sets_mut(&mut merged) else {
        return merged;
    };
    for set in sets_mut(backup_sets) {
        if legal_hold(set) {
            continue;
        }
        let Some(found) = includes(set) else { continue };
        let missing: Vec<&String> = paths.iter().filter(|p| !found.contains(p)).collect();
        if missing.is_empty() {
            continue;
        }
        let Some(pathset) = set.pointer_mut("/backupPaths/pathset") else {
            continue;
        };
        let paths_object = match pathset {
            Value::Array(items) => {
                if items.is_empty() {
                    items.push(json!({"@os": "Linux"}));
                }
                &mut items[0]
            }
            Value::Object(o) => o.entry("paths").or_insert_with(|| json!({"@os": "Linux"})),
            _ => continue,
        };
        let Some(object) = paths_object.as_object_mut() else {
            continue;
        };
        if is_true(object.get("@cleared")) {
            object.insert("@cleared".into(), json!("false"));
        }
        let entries = object.entry("path").or_insert_with(|| json!([]));
        if entries.is_object() {
            *entries = json!([entries.clone()]);
        }
        let Value::Array(list) = entries else {
            continue;
        };
        let after_includes = list
            .iter()
            .rposition(|p| p.get("@include").is_some())
            .map_or(0, |i| i + 1);
        for (k, path) in missing.into_iter().enumerate() {
            list.insert(after_includes + k, json!({"@include": path}));
        }
    }
    merged
}

/// The console's org object (`GET /api/v1/Org/{id}` with its settings and
/// device defaults), kept whole: the console API takes the whole object back.
/// Its wire shape is handled here only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OrgObject(Value);

impl OrgObject {
    /// As read: the GET's `data` envelope, when there is one, removed.
    pub fn from_wire(value: Value) -> Self {
        match value {
            Value::Object(mut o) if o.get("data").is_some_and(Value::is_object) => {
                Self(o.remove("data").expect("checked"))
            }
            other => Self(other),
        }
    }

    /// As written (as py42 sends it): the whole org, with
    /// `deviceDefaults.settings` carrying the same `serviceBackupConfig`.
    pub fn to_wire(&self) -> Value {
        let mut body = self.0.clone();
        if let Some(backup) = body.pointer("/deviceDefaults/serviceBackupConfig").cloned()
            && let Some(defaults) = body
                .get_mut("deviceDefaults")
                .and_then(Value::as_object_mut)
        {
            defaults.insert("settings".into(), json!({ "serviceBackupConfig": backup }));
        }
        body
    }

    /// The object as JSON (for tests and fakes).
    pub fn as_json(&self) -> &Value {
        &self.0
    }

    pub fn assess(&self, org_id: i64, paths: &[String]) -> BackupAssessment {
        assess_backup(&self.0, org_id, paths)
    }

    /// The object with the missing paths merged into every manageable set.
    pub fn merged(&self, paths: &[String]) -> Self {
        Self(merge_backup(&self.0, paths))
    }

    /// The backup sets as stored, as JSON text (for reports).
    pub fn backup_sets_text(&self) -> String {
        backup_sets(&self.0)
            .map(Value::to_string)
            .unwrap_or_default()
    }

    /// Ask devices to take the new defaults (reference §5c, unverified): the
    /// `@publish` flag on the setting, `publishMode`, `configDateMs` (`now_ms`)
    /// and `customConfig`.
    pub fn publish(&mut self, now_ms: u64) {
        if let Some(defaults) = self
            .0
            .get_mut("deviceDefaults")
            .and_then(Value::as_object_mut)
        {
            defaults.insert("publishMode".into(), json!(true));
            defaults.insert("configDateMs".into(), json!(now_ms));
            if let Some(backup) = defaults
                .get_mut("serviceBackupConfig")
                .and_then(Value::as_object_mut)
            {
                backup.insert("@publish".into(), json!(true));
            }
        }
        if let Some(o) = self.0.as_object_mut() {
            o.insert("customConfig".into(), json!(true));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_wrong_reads_compliant_and_only_true_is_true() {
        assert_eq!(BackupAssessment::default().describe(), "compliant");
        // Changed in this release: a locked set is edited (lock kept), so
        // the lock alone is nothing wrong; a locked set's gap says so.
        let locked = BackupAssessment {
            locked: vec!["Default".into()],
            ..BackupAssessment::default()
        };
        assert_eq!(locked.describe(), "compliant");
        let locked_gap = BackupAssessment {
            missing: vec![("Default".into(), vec!["D:/Users/".into()])],
            ..locked
        };
        assert_eq!(
            locked_gap.describe(),
            "backup set \"Default\" misses D:/Users/ (locked: it stays locked)"
        );
        for (v, expected) in [
            (json!(true), true),
            (json!("TRUE"), true),
            (json!(false), false),
            (json!("yes"), false),
            (json!(1), false),
        ] {
            assert_eq!(is_true(Some(&v)), expected, "{v}");
        }
        assert!(!is_true(None));
    }

    fn org(backup_sets: Value, provider: i64) -> Value {
        json!({"data": {"orgId": 1003, "orgInheritDto": {"orgIdProvidingDeviceDefaults": provider},
            "deviceDefaults": {"serviceBackupConfig": {"backupConfig": {"backupSets": backup_sets}}}}})
    }

    fn set(name: &str, pathset: Value) -> Value {
        json!({"@id": "1", "name": name, "backupPaths": {"pathset": pathset}, "destinations": [{"@id": "2"}]})
    }

    fn want() -> Vec<String> {
        vec!["D:/Users/".to_string()]
    }

    #[test]
    fn appends_after_the_includes_keeps_excludes_and_a_second_merge_is_stable() {
        let o = org(
            json!([set(
                "Default",
                json!([{"@os": "Linux", "path": [{"@include": "C:/Users/"}, {"@exclude": "C:/Users/Admin/"}]}])
            )]),
            1003,
        );
        let a = assess_backup(&o, 1003, &want());
        assert!(!a.compliant());
        assert_eq!(a.missing, vec![("Default".to_string(), want())]);
        let merged = merge_backup(&o, &want());
        let path = merged.pointer("/deviceDefaults/serviceBackupConfig/backupConfig/backupSets/0/backupPaths/pathset/0/path").unwrap();
        assert_eq!(
            path,
            &json!([{"@include": "C:/Users/"}, {"@include": "D:/Users/"}, {"@exclude": "C:/Users/Admin/"}])
        );
        assert!(assess_backup(&merged, 1003, &want()).compliant());
        assert_eq!(
            merge_backup(&merged, &want()),
            merged,
            "nothing more to add"
        );
    }

    #[test]
    fn every_shape_of_the_reference() {
        // A single path object, a cleared selection, the locked number of sets,
        // a locked set, a locked file selection, a legal-hold set.
        let single = set(
            "Single",
            json!([{"@os": "Linux", "path": {"@include": ":user/"}}]),
        );
        let cleared = set("Cleared", json!([{"@cleared": "true", "@os": "Linux"}]));
        let mut locked_set = set("LockedSet", json!([{"@os": "Linux", "path": []}]));
        locked_set["@locked"] = json!("true");
        let locked_selection = set(
            "LockedSelection",
            json!({"@locked": "true", "paths": {"@os": "Linux", "path": []}}),
        );
        let mut hold = set("Hold", json!([{"@os": "Linux", "path": []}]));
        hold["destinations"] = json!({"@locked": "true", "destination": []});
        let o = org(
            json!({"@locked": "true", "backupSet": [single, cleared, locked_set, locked_selection, hold]}),
            1003,
        );
        let a = assess_backup(&o, 1003, &want());
        // Changed in this release (was 2): the locked set and the locked
        // selection miss the path too, and are edited.
        assert_eq!(a.missing.len(), 4);
        assert_eq!(a.locked, ["LockedSet", "LockedSelection"]);
        assert_eq!(a.legal_hold_sets, 1);
        let merged = merge_backup(&o, &want());
        let sets = merged
            .pointer("/deviceDefaults/serviceBackupConfig/backupConfig/backupSets")
            .unwrap();
        assert_eq!(sets["@locked"], "true", "lock flags stay as found");
        assert_eq!(
            sets["backupSet"][0]["backupPaths"]["pathset"][0]["path"],
            json!([{"@include": ":user/"}, {"@include": "D:/Users/"}])
        );
        assert_eq!(
            sets["backupSet"][1]["backupPaths"]["pathset"][0]["@cleared"],
            "false"
        );
        assert_eq!(
            sets["backupSet"][1]["backupPaths"]["pathset"][0]["path"],
            json!([{"@include": "D:/Users/"}])
        );
        // Locked sets get the path with their locks as found (was: untouched).
        assert_eq!(sets["backupSet"][2]["@locked"], "true");
        assert_eq!(
            sets["backupSet"][2]["backupPaths"]["pathset"][0]["path"],
            json!([{"@include": "D:/Users/"}])
        );
        assert_eq!(
            sets["backupSet"][3]["backupPaths"]["pathset"],
            json!({"@locked": "true", "paths": {"@os": "Linux", "path": [{"@include": "D:/Users/"}]}})
        );
        // The legal-hold set: never touched.
        assert_eq!(
            sets["backupSet"][4],
            o["data"]["deviceDefaults"]["serviceBackupConfig"]["backupConfig"]["backupSets"]["backupSet"]
                [4]
        );
        let again = assess_backup(&merged, 1003, &want());
        assert!(again.missing.is_empty() && again.locked.len() == 2);
        // A single set object (not a list).
        let one = org(set("Only", json!([{"@os": "Linux", "path": []}])), 1003);
        assert_eq!(assess_backup(&one, 1003, &want()).missing.len(), 1);
        assert!(assess_backup(&merge_backup(&one, &want()), 1003, &want()).compliant());
    }

    #[test]
    fn inherited_defaults_are_named_and_a_locked_set_is_edited_keeping_its_lock() {
        let o = org(
            json!([set(
                "Default",
                json!([{"@os": "Linux", "path": [{"@include": "D:/Users/"}]}])
            )]),
            1001,
        );
        let a = assess_backup(&o, 1003, &want());
        assert_eq!(a.inherited_from.as_deref(), Some("1001"));
        assert!(!a.compliant() && a.describe().contains("inherited from org 1001"));
        // Changed in this release (a locked set stayed non-compliant): it is
        // edited, keeps its lock, and is then compliant.
        let mut locked = set("L", json!([{"@os": "Linux", "path": []}]));
        locked["@locked"] = json!(true);
        let only_locked = org(json!([locked]), 1003);
        let a = assess_backup(&only_locked, 1003, &want());
        assert_eq!((a.missing.len(), a.locked.len()), (1, 1));
        let merged = merge_backup(&only_locked, &want());
        assert!(assess_backup(&merged, 1003, &want()).compliant());
        assert_eq!(
            merged.pointer("/deviceDefaults/serviceBackupConfig/backupConfig/backupSets/0/@locked"),
            Some(&json!(true))
        );
    }

    #[test]
    fn a_single_path_object_counts_as_the_selection() {
        let single = |path: &str| {
            org(
                set(
                    "Only",
                    json!([{"@os": "Linux", "path": {"@include": path}}]),
                ),
                1003,
            )
        };
        let a = assess_backup(&single("D:/Users/"), 1003, &want());
        assert!(a.compliant(), "{a:?}");
        assert_eq!(a.includes, ["D:/Users/"]);
    }

    #[test]
    fn several_missing_paths_go_after_the_includes_in_order() {
        let o = org(
            json!([set(
                "Default",
                json!([{"@os": "Linux", "path": [{"@include": "C:/"}, {"@exclude": "C:/Temp/"}]}])
            )]),
            1003,
        );
        let paths = vec!["D:/Users/".to_string(), "E:/".to_string()];
        let merged = merge_backup(&o, &paths);
        assert_eq!(
            merged
                .pointer("/deviceDefaults/serviceBackupConfig/backupConfig/backupSets/0/backupPaths/pathset/0/path")
                .unwrap(),
            &json!([{"@include": "C:/"}, {"@include": "D:/Users/"}, {"@include": "E:/"}, {"@exclude": "C:/Temp/"}])
        );
    }

    #[test]
    fn defaults_provided_by_another_org_are_inherited_whatever_the_id_type() {
        let mut o = org(
            json!([set("Default", json!([{"@os": "Linux", "path": []}]))]),
            1003,
        );
        o["data"]["orgInheritDto"]["orgIdProvidingDeviceDefaults"] = json!("7");
        assert_eq!(
            assess_backup(&o, 1003, &want()).inherited_from.as_deref(),
            Some("7")
        );
        o["data"]["orgInheritDto"]["orgIdProvidingDeviceDefaults"] = json!("1003");
        assert_eq!(assess_backup(&o, 1003, &want()).inherited_from, None);
    }

    #[test]
    fn the_org_object_on_the_wire() {
        // Read: the data envelope removed only when it is an object.
        let inner = json!({"orgId": 1003, "deviceDefaults": {"serviceBackupConfig": {"backupConfig": {"backupSets": []}}}});
        assert_eq!(
            OrgObject::from_wire(json!({"data": inner.clone()})).as_json(),
            &inner
        );
        let odd = json!({"data": "text", "orgId": 1});
        assert_eq!(OrgObject::from_wire(odd.clone()).as_json(), &odd);
        assert_eq!(OrgObject::from_wire(inner.clone()).as_json(), &inner);
        // Written: deviceDefaults.settings mirrors serviceBackupConfig.
        let wire = OrgObject::from_wire(inner.clone()).to_wire();
        assert_eq!(wire["orgId"], 1003);
        assert_eq!(
            wire["deviceDefaults"]["settings"]["serviceBackupConfig"],
            inner["deviceDefaults"]["serviceBackupConfig"]
        );
        // The sets as text, for reports.
        let named = OrgObject::from_wire(org(json!([set("Default", json!([]))]), 1003));
        assert!(
            named.backup_sets_text().contains("\"Default\""),
            "{}",
            named.backup_sets_text()
        );
        // Publishing marks the defaults with the time.
        let mut published = named.clone();
        published.publish(1_700_000_000_000);
        let defaults = &published.as_json()["deviceDefaults"];
        assert_eq!(defaults["publishMode"], true);
        assert_eq!(defaults["configDateMs"], 1_700_000_000_000u64);
        assert_ne!(published, named);
    }
}
