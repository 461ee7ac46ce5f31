//! The org's file-activity watch-path setting: lenient parsing, the compliance
//! rule, and the merge that never drops a customer's entries.
//!
//! Wire format (see the seed article and reference §5a): the seed's PUT sends
//! each item wrapped in single quotes inside its JSON string (`"':main'"`), and
//! the server stores the list's plain `toString()`, so a GET returns
//! `"[':main', 'D:']"`. We write that same quoted form and only call a path
//! present when its quoted form is stored, so the pre-check and the read-back
//! verification apply one rule.

use serde::Serialize;

/// The item separator of the stored form: a quoted item's closing quote, the
/// list's `, ` and the next item's opening quote. Path text containing it
/// cannot round-trip.
pub const SEPARATOR: &str = "', '";

/// The setting as read from Code42 (`data.<key>` of an OrgSettings GET).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingSnapshot {
    /// The stored value exactly as returned, for reports and error messages.
    pub raw: String,
    /// Items as stored, quotes included (`':main'`); empty when `unparsable`.
    pub items: Vec<String>,
    /// Why the value cannot be split into items unambiguously (then it is never rewritten).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unparsable: Option<String>,
    pub locked: bool,
    /// `ORG` when set on this org itself; anything else (or absent) means
    /// inherited or system-wide (uncertain semantics, reference §10).
    pub scope: Option<String>,
}

impl SettingSnapshot {
    pub fn from_raw(raw: &str, locked: bool, scope: Option<String>) -> Self {
        let (items, unparsable) = match parse_list(raw) {
            Ok(items) => (items, None),
            Err(reason) => (Vec::new(), Some(reason)),
        };
        Self {
            raw: raw.to_string(),
            items,
            unparsable,
            locked,
            scope,
        }
    }

    fn set_on_org(&self) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("ORG"))
    }
}

/// Split a stored list value into its items, exactly (no trimming inside an
/// item). Accepted encodings: a JSON array of strings, JSON text inside a
/// string, the seed's stored form (Java `toString()` of the quoted items,
/// `[':main', 'D:']`, with or without the brackets), and a legacy list of
/// bare items (`[:main, D:]`, `:main,D:`). A list whose ends are quoted is
/// split on `', '` only, so any quoted path without that separator
/// round-trips; a list mixing quoted and bare items is split item by item
/// and refused when a quoted item does not close.
pub fn parse_list(raw: &str) -> Result<Vec<String>, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    if trimmed.starts_with('[')
        && let Ok(items) = serde_json::from_str::<Vec<String>>(trimmed)
    {
        return Ok(items);
    }
    // JSON text inside the string (double-encoded).
    if trimmed.starts_with('"')
        && let Ok(inner) = serde_json::from_str::<String>(trimmed)
    {
        return parse_list(&inner);
    }
    let body = trimmed
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(trimmed);
    if body.is_empty() {
        return Ok(Vec::new());
    }
    if body.len() >= 2 && body.starts_with('\'') && body.ends_with('\'') {
        return Ok(body[1..body.len() - 1]
            .split(SEPARATOR)
            .map(|p| format!("'{p}'"))
            .collect());
    }
    if !body.contains('\'') {
        // Bare items (written by something other than this tool or the seed).
        return Ok(body
            .split(',')
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .map(str::to_string)
            .collect());
    }
    split_mixed(body)
}

/// A list mixing quoted and bare items: a quoted item runs to its `', `
/// (or the end), a bare one to its `, `.
fn split_mixed(body: &str) -> Result<Vec<String>, String> {
    let mut items = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (item, next) = if let Some(after_quote) = rest.strip_prefix('\'') {
            match after_quote.find("', ") {
                Some(at) => (&rest[..at + 2], &rest[at + 4..]),
                None if rest.len() >= 2 && rest.ends_with('\'') => (rest, ""),
                None => {
                    return Err(format!(
                        "a quoted item does not close: {:?}",
                        rest.chars().take(60).collect::<String>()
                    ));
                }
            }
        } else {
            match rest.find(", ") {
                Some(at) => (&rest[..at], &rest[at + 2..]),
                None => (rest, ""),
            }
        };
        items.push(item.to_string());
        rest = next;
    }
    Ok(items)
}

/// An item in the seed's form: wrapped in single quotes.
pub fn is_quoted(item: &str) -> bool {
    item.len() >= 2 && item.starts_with('\'') && item.ends_with('\'')
}

/// `'D:'` -> `D:`; a bare item is returned as is.
pub fn unquote(item: &str) -> &str {
    if is_quoted(item) {
        &item[1..item.len() - 1]
    } else {
        item
    }
}

/// The seed's item form: the path wrapped in single quotes, nothing escaped.
pub fn quote(path: &str) -> String {
    format!("'{path}'")
}

/// What is wrong with the current setting, if anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// Desired paths not stored in quoted form.
    pub missing: Vec<String>,
    pub unlocked: bool,
    /// The setting is absent or not set on this org itself.
    pub not_set_on_org: bool,
    /// The stored value cannot be split unambiguously: reported, never rewritten.
    pub unparsable: Option<String>,
}

impl Assessment {
    pub fn compliant(&self) -> bool {
        self.missing.is_empty()
            && !self.unlocked
            && !self.not_set_on_org
            && self.unparsable.is_none()
    }

    /// Whether a merged value may be written: never over a value we cannot read.
    pub fn rewritable(&self) -> bool {
        self.unparsable.is_none()
    }

    /// One line for reports: "missing D:; not locked".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(reason) = &self.unparsable {
            parts.push(format!(
                "the stored value cannot be split into items unambiguously ({reason}); not rewritten, fix it by hand"
            ));
        }
        if !self.missing.is_empty() {
            parts.push(format!("missing {}", self.missing.join(", ")));
        }
        if self.unlocked {
            parts.push("not locked".to_string());
        }
        if self.not_set_on_org {
            parts.push("not set on this org (absent or inherited)".to_string());
        }
        if parts.is_empty() {
            "compliant".to_string()
        } else {
            parts.join("; ")
        }
    }
}

pub fn assess(current: Option<&SettingSnapshot>, desired: &[String]) -> Assessment {
    let Some(current) = current else {
        return Assessment {
            missing: desired.to_vec(),
            unlocked: true,
            not_set_on_org: true,
            unparsable: None,
        };
    };
    if let Some(reason) = &current.unparsable {
        return Assessment {
            missing: Vec::new(),
            unlocked: !current.locked,
            not_set_on_org: !current.set_on_org(),
            unparsable: Some(reason.clone()),
        };
    }
    let missing = desired
        .iter()
        .filter(|path| !current.items.iter().any(|item| *item == quote(path)))
        .cloned()
        .collect();
    Assessment {
        missing,
        unlocked: !current.locked,
        not_set_on_org: !current.set_on_org(),
        unparsable: None,
    }
}

/// The current items, then the desired paths not yet among them. Quoted
/// items are kept byte for byte (duplicates too); bare items (not written by
/// this tool or the seed) are re-quoted the seed's way, once each.
pub fn merge(current: Option<&SettingSnapshot>, desired: &[String]) -> Vec<String> {
    let mut merged: Vec<String> = Vec::new();
    for item in current.map(|c| c.items.as_slice()).unwrap_or_default() {
        if is_quoted(item) {
            merged.push(item.clone());
            continue;
        }
        let quoted = quote(item.trim());
        if !item.trim().is_empty() && !merged.contains(&quoted) {
            merged.push(quoted);
        }
    }
    for path in desired {
        let quoted = quote(path);
        if !path.is_empty() && !merged.contains(&quoted) {
            merged.push(quoted);
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired() -> Vec<String> {
        vec![":main".to_string(), "D:".to_string()]
    }

    #[test]
    fn parses_every_known_encoding() {
        let expected = vec!["':main'".to_string(), "'D:'".to_string()];
        assert_eq!(parse_list("[':main', 'D:']").unwrap(), expected);
        assert_eq!(parse_list(r#"["':main'","'D:'"]"#).unwrap(), expected);
        assert_eq!(parse_list(r#""[\"':main'\",\"'D:'\"]""#).unwrap(), expected);
        assert_eq!(parse_list("[:main, D:]").unwrap(), vec![":main", "D:"]);
        assert_eq!(parse_list(":main,D:").unwrap(), vec![":main", "D:"]);
        assert_eq!(
            parse_list(r#"[":main","D:"]"#).unwrap(),
            vec![":main", "D:"]
        );
        assert!(parse_list("").unwrap().is_empty());
        assert!(parse_list("[]").unwrap().is_empty());
    }

    #[test]
    fn commas_inside_quotes_stay_in_the_item() {
        assert_eq!(
            parse_list("['C:/a, b/', 'D:']").unwrap(),
            vec!["'C:/a, b/'", "'D:'"]
        );
    }

    #[test]
    fn parses_the_seed_get_body_golden_fixture() {
        let body: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/seed-orgsettings-get.json"
        ))
        .unwrap();
        let setting = &body["data"]["device_fileForensics_watchPaths_included"];
        let snap = SettingSnapshot::from_raw(
            setting["value"].as_str().unwrap(),
            setting["locked"].as_bool().unwrap(),
            setting["scope"].as_str().map(str::to_string),
        );
        assert_eq!(snap.items, vec!["':main'", "'D:'"]);
        assert!(assess(Some(&snap), &desired()).compliant());
    }

    #[test]
    fn absent_setting_needs_everything() {
        let a = assess(None, &desired());
        assert_eq!(a.missing, desired());
        assert!(!a.compliant());
        assert_eq!(merge(None, &desired()), vec!["':main'", "'D:'"]);
    }

    #[test]
    fn unquoted_paths_are_not_compliant_and_get_requoted() {
        let snap = SettingSnapshot::from_raw("[:main, D:]", true, Some("ORG".into()));
        let a = assess(Some(&snap), &desired());
        assert_eq!(a.missing, desired());
        assert_eq!(merge(Some(&snap), &desired()), vec!["':main'", "'D:'"]);
    }

    #[test]
    fn unlocked_or_inherited_is_drift_even_with_all_paths() {
        let unlocked = SettingSnapshot::from_raw("[':main', 'D:']", false, Some("ORG".into()));
        let a = assess(Some(&unlocked), &desired());
        assert!(a.unlocked && a.missing.is_empty() && !a.compliant());
        assert_eq!(a.describe(), "not locked");
        let inherited =
            SettingSnapshot::from_raw("[':main', 'D:']", true, Some("INHERITED".into()));
        assert!(assess(Some(&inherited), &desired()).not_set_on_org);
    }

    #[test]
    fn merge_keeps_customer_entries_in_order_and_appends() {
        let snap = SettingSnapshot::from_raw("['E:/Projects', :main]", false, Some("ORG".into()));
        assert_eq!(
            merge(Some(&snap), &desired()),
            vec!["'E:/Projects'", "':main'", "'D:'"]
        );
    }

    #[test]
    fn merge_requotes_bare_items_once_and_keeps_quoted_ones() {
        let snap = SettingSnapshot::from_raw("[D:, D:, , 'E:/x', :main]", true, Some("ORG".into()));
        assert_eq!(
            merge(Some(&snap), &desired()),
            vec!["'D:'", "'E:/x'", "':main'"]
        );
    }

    /// Named paths that broke the first version (an apostrophe made one item).
    #[test]
    fn awkward_paths_round_trip_and_a_second_merge_adds_nothing() {
        for path in [
            "C:/Users/O'Brien/",
            "C:/a, b/",
            r"C:\Users\x\",
            r#"C:/"quoted"/"#,
            " spaced path ",
            "C:/Users/Zoë/Документы/",
            "x', y",
            "'",
            "''",
            "[x]",
            "]",
        ] {
            let stored = stored_form(&[quote(path)]);
            let snap = SettingSnapshot::from_raw(&stored, true, Some("ORG".into()));
            assert_eq!(
                snap.items,
                vec![quote(path)],
                "{path:?} read from {stored:?}"
            );
            let merged = merge(Some(&snap), &desired());
            assert_eq!(merged[0], quote(path), "{path:?} kept byte for byte");
            let again = SettingSnapshot::from_raw(&stored_form(&merged), true, Some("ORG".into()));
            assert!(assess(Some(&again), &desired()).compliant(), "{path:?}");
            assert_eq!(
                merge(Some(&again), &desired()),
                merged,
                "{path:?} second merge"
            );
        }
    }

    #[test]
    fn a_value_that_cannot_be_split_is_reported_and_never_rewritten() {
        let snap = SettingSnapshot::from_raw("[:main, 'D:]", true, Some("ORG".into()));
        let a = assess(Some(&snap), &desired());
        assert!(!a.compliant() && !a.rewritable());
        assert!(a.describe().contains("cannot be split"), "{}", a.describe());
        assert!(snap.items.is_empty());
    }

    /// What the server stores for a list it was sent: its Java `toString()`.
    fn stored_form(items: &[String]) -> String {
        format!("[{}]", items.join(", "))
    }

    /// Path text without the separator, in the form it is quoted (`', '` cannot
    /// appear inside the quoted item).
    fn path_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof!["[ -~]{0,24}", "[a-zA-Z0-9 ,'\\\\\"/:éДー_.\\[\\]-]{0,24}",]
            .prop_filter("contains the separator", |p| !quote(p).contains(SEPARATOR))
    }

    proptest::proptest! {
        #[test]
        fn every_encoding_reads_back_what_was_written(paths in proptest::collection::vec(path_text(), 0..6)) {
            let items: Vec<String> = paths.iter().map(|p| quote(p)).collect();
            // Java toString() of the quoted items, with and without brackets.
            let stored = stored_form(&items);
            if !items.is_empty() {
                proptest::prop_assert_eq!(&parse_list(&stored).unwrap(), &items);
                proptest::prop_assert_eq!(&parse_list(&stored[1..stored.len() - 1]).unwrap(), &items);
            }
            // A JSON array, and JSON inside a string.
            let json = serde_json::to_string(&items).unwrap();
            proptest::prop_assert_eq!(&parse_list(&json).unwrap(), &items);
            proptest::prop_assert_eq!(&parse_list(&serde_json::to_string(&json).unwrap()).unwrap(), &items);
        }

        #[test]
        fn merge_keeps_every_entry_adds_each_path_once_and_is_stable(
            paths in proptest::collection::vec(path_text(), 0..6),
        ) {
            let items: Vec<String> = paths.iter().map(|p| quote(p)).collect();
            let snap = SettingSnapshot::from_raw(&stored_form(&items), true, Some("ORG".into()));
            let merged = merge(Some(&snap), &desired());
            proptest::prop_assert_eq!(&merged[..items.len()], &items[..]);
            for path in desired() {
                proptest::prop_assert_eq!(merged.iter().filter(|i| **i == quote(&path)).count().max(1),
                    items.iter().filter(|i| **i == quote(&path)).count().max(1));
            }
            let again = SettingSnapshot::from_raw(&stored_form(&merged), true, Some("ORG".into()));
            proptest::prop_assert!(assess(Some(&again), &desired()).compliant());
            proptest::prop_assert_eq!(merge(Some(&again), &desired()), merged);
        }

        #[test]
        fn parsing_any_text_never_panics(raw in "\\PC{0,40}") {
            let snap = SettingSnapshot::from_raw(&raw, true, None);
            let _ = assess(Some(&snap), &desired());
            let _ = merge(Some(&snap), &desired());
        }
    }

    #[test]
    fn describe_lists_every_problem() {
        let a = assess(None, &desired());
        assert_eq!(
            a.describe(),
            "missing :main, D:; not locked; not set on this org (absent or inherited)"
        );
    }

    #[test]
    fn mixed_lists_keep_quoted_and_bare_items_as_written() {
        assert_eq!(
            parse_list(r"[C:\Temp, 'D:']").unwrap(),
            [r"C:\Temp", "'D:'"]
        );
        assert_eq!(
            parse_list(r"['D:', C:\Temp]").unwrap(),
            ["'D:'", r"C:\Temp"]
        );
        // A lone quote at the end opens an item that never closes.
        let err = parse_list(r"[C:\Temp, ']").unwrap_err();
        assert!(err.contains("does not close"), "{err}");
    }

    #[test]
    fn quoting_is_both_quotes_or_nothing() {
        assert!(is_quoted("'D:'"));
        assert!(!is_quoted("'D:"));
        assert!(!is_quoted("D:'"));
        assert!(!is_quoted("'"));
        assert_eq!(unquote("'D:'"), "D:");
        assert_eq!(unquote("'C:\\Temp'"), "C:\\Temp");
        assert_eq!(unquote("D:"), "D:");
        assert_eq!(unquote("'"), "'");
    }

    #[test]
    fn an_unparsable_setting_still_says_whether_it_is_locked_on_the_org() {
        let desired = ["D:".to_string()];
        let locked = SettingSnapshot::from_raw(r"[C:\Temp, ']", true, Some("ORG".into()));
        let a = assess(Some(&locked), &desired);
        assert!(a.unparsable.is_some());
        assert!(!a.unlocked && !a.not_set_on_org);
        let open = SettingSnapshot::from_raw(r"[C:\Temp, ']", false, Some("INHERITED".into()));
        let a = assess(Some(&open), &desired);
        assert!(a.unlocked && a.not_set_on_org);
    }
}
