//! The org's desired state as a list of policies. Each knows its setting key,
//! how to judge the stored value and what to write (merged, never clobbered);
//! the application layer reads, writes and verifies them all the same way.
//! Adding a policy is one new implementation here plus its configuration.

use super::watch_paths::{self, Assessment, SettingSnapshot};

pub trait OrgPolicy: Send + Sync {
    /// A short stable name for reports, e.g. `watch_paths`.
    fn name(&self) -> &'static str;
    /// The org setting key it manages.
    fn key(&self) -> &str;
    /// What is wrong with the stored value, if anything.
    fn assess(&self, current: Option<&SettingSnapshot>) -> Assessment;
    /// The complete value to write: the stored items kept, the missing added.
    fn merge(&self, current: Option<&SettingSnapshot>) -> Vec<String>;
}

/// File-activity watch paths (`:main`, `D:`), locked on the org (the seed's steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchPaths {
    pub key: String,
    pub paths: Vec<String>,
}

impl OrgPolicy for WatchPaths {
    fn name(&self) -> &'static str {
        "watch_paths"
    }
    fn key(&self) -> &str {
        &self.key
    }
    fn assess(&self, current: Option<&SettingSnapshot>) -> Assessment {
        watch_paths::assess(current, &self.paths)
    }
    fn merge(&self, current: Option<&SettingSnapshot>) -> Vec<String> {
        watch_paths::merge(current, &self.paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_paths_policy_assesses_and_merges_with_its_paths() {
        let policy = WatchPaths {
            key: "k".into(),
            paths: vec![":main".into(), "D:".into()],
        };
        let stored = SettingSnapshot::from_raw("['E:/x', ':main']", true, Some("ORG".into()));
        assert_eq!(policy.assess(Some(&stored)).missing, vec!["D:"]);
        assert_eq!(
            policy.merge(Some(&stored)),
            vec!["'E:/x'", "':main'", "'D:'"]
        );
        assert_eq!((policy.name(), policy.key()), ("watch_paths", "k"));
    }
}
