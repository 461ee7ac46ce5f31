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

/// The setting as read from Code42 (`data.<key>` of an OrgSettings GET).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingSnapshot {
    /// The stored value exactly as returned, for reports and error messages.
    pub raw: String,
    /// Items as stored, quotes included (`':main'`).
    pub items: Vec<String>,
    pub locked: bool,
    /// `ORG` when set on this org itself; anything else (or absent) means
    /// inherited or system-wide (uncertain semantics, reference §10).
    pub scope: Option<String>,
}

impl SettingSnapshot {
    pub fn from_raw(raw: &str, locked: bool, scope: Option<String>) -> Self {
        Self {
            raw: raw.to_string(),
            items: parse_list(raw),
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

/// Parse a list-valued setting leniently: a JSON array (possibly inside the
/// string), a Python-style `"[':main', 'D:']"`, a Java-style `"[:main, D:]"`,
/// or a bare comma-separated string. Items keep their own quotes.
pub fn parse_list(raw: &str) -> Vec<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Vec::new();
    }
    if let Ok(items) = serde_json::from_str::<Vec<String>>(trimmed) {
        return items
            .into_iter()
            .map(|i| i.trim().to_string())
            .filter(|i| !i.is_empty())
            .collect();
    }
    // A JSON string holding the list (double-encoded).
    if let Ok(inner) = serde_json::from_str::<String>(trimmed) {
        return parse_list(&inner);
    }
    let body = trimmed
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(trimmed);
    split_outside_quotes(body)
}

/// Split on commas that are not inside single or double quotes.
fn split_outside_quotes(body: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in body.chars() {
        match (quote, c) {
            (None, ',') => items.push(std::mem::take(&mut current)),
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                current.push(c);
            }
            _ => current.push(c),
        }
    }
    items.push(current);
    items
        .into_iter()
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
        .collect()
}

/// `'D:'` -> `D:`; a bare item is returned as is.
pub fn unquote(item: &str) -> &str {
    let item = item.trim();
    for q in ['\'', '"'] {
        if item.len() >= 2 && item.starts_with(q) && item.ends_with(q) {
            return &item[1..item.len() - 1];
        }
    }
    item
}

/// The seed's item form: the path wrapped in single quotes.
pub fn quote(path: &str) -> String {
    format!("'{}'", unquote(path))
}

/// What is wrong with the current setting, if anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Assessment {
    /// Desired paths not stored in quoted form.
    pub missing: Vec<String>,
    pub unlocked: bool,
    /// The setting is absent or not set on this org itself.
    pub not_set_on_org: bool,
}

impl Assessment {
    pub fn compliant(&self) -> bool {
        self.missing.is_empty() && !self.unlocked && !self.not_set_on_org
    }

    /// One line for reports: "missing D:; not locked".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
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
        };
    };
    let missing = desired
        .iter()
        .filter(|path| !current.items.iter().any(|item| *item == quote(path)))
        .cloned()
        .collect();
    Assessment {
        missing,
        unlocked: !current.locked,
        not_set_on_org: !current.set_on_org(),
    }
}

/// The union of the current items (in their order, re-quoted the seed's way,
/// duplicates dropped) and the desired paths not yet among them.
pub fn merge(current: Option<&SettingSnapshot>, desired: &[String]) -> Vec<String> {
    let mut merged: Vec<String> = Vec::new();
    let existing = current.map(|c| c.items.as_slice()).unwrap_or_default();
    for item in existing
        .iter()
        .map(String::as_str)
        .chain(desired.iter().map(String::as_str))
    {
        let quoted = quote(item);
        if unquote(&quoted).is_empty() || merged.contains(&quoted) {
            continue;
        }
        merged.push(quoted);
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
        assert_eq!(parse_list("[':main', 'D:']"), expected);
        assert_eq!(parse_list(r#"["':main'","'D:'"]"#), expected);
        assert_eq!(parse_list(r#""[\"':main'\",\"'D:'\"]""#), expected);
        assert_eq!(parse_list("[:main, D:]"), vec![":main", "D:"]);
        assert_eq!(parse_list(":main,D:"), vec![":main", "D:"]);
        assert_eq!(parse_list(r#"[":main","D:"]"#), vec![":main", "D:"]);
        assert!(parse_list("").is_empty());
        assert!(parse_list("[]").is_empty());
    }

    #[test]
    fn commas_inside_quotes_stay_in_the_item() {
        assert_eq!(parse_list("['C:/a, b/', 'D:']"), vec!["'C:/a, b/'", "'D:'"]);
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
    fn merge_drops_duplicates_and_empty_items() {
        let snap = SettingSnapshot::from_raw("['D:', D:, '', ':main']", true, Some("ORG".into()));
        assert_eq!(merge(Some(&snap), &desired()), vec!["'D:'", "':main'"]);
    }

    #[test]
    fn describe_lists_every_problem() {
        let a = assess(None, &desired());
        assert_eq!(
            a.describe(),
            "missing :main, D:; not locked; not set on this org (absent or inherited)"
        );
    }
}
