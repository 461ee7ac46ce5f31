//! `doctor`'s checklist: one line per check, with what was found and the fix.

use serde::Serialize;

/// One line of `doctor`'s checklist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckResult {
    Pass,
    /// Works, but `apply` would change something, or a recommended setting is missing.
    Warn,
    /// Something `apply` needs does not work.
    Fail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub result: CheckResult,
    /// What was found (never a secret's value).
    pub found: String,
    /// The exact fix, when it is not a pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    pub fn pass(name: &'static str, found: impl Into<String>) -> Self {
        Self {
            name,
            result: CheckResult::Pass,
            found: found.into(),
            fix: None,
        }
    }
    pub fn warn(name: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            result: CheckResult::Warn,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn fail(name: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            name,
            result: CheckResult::Fail,
            found: found.into(),
            fix: Some(fix.into()),
        }
    }
}
