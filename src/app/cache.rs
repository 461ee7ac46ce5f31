//! What a warm container remembers for a short time: the last compliant org
//! check and the WorkSpaces found compliant (for sign-in re-checks).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::orgs::ResolvedOrg;
use crate::domain::report::PolicyReport;

/// Entries that count only while younger than the caller's time to live.
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
}

impl<K, V> Default for TtlCache<K, V> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// The value and its age, if younger than `ttl` at `now`.
    pub fn get(&self, key: &K, ttl: Duration, now: Instant) -> Option<(V, Duration)> {
        let entries = self.entries.lock().unwrap();
        let (value, at) = entries.get(key)?;
        let age = now.saturating_duration_since(*at);
        (age < ttl).then(|| (value.clone(), age))
    }

    pub fn put(&self, key: K, value: V, now: Instant) {
        self.entries.lock().unwrap().insert(key, (value, now));
    }
}

/// The org and each policy's report, as last found compliant.
pub type OrgCache = TtlCache<(), (ResolvedOrg, Vec<PolicyReport>)>;

/// WorkSpace id -> found compliant.
pub type ComplianceCache = TtlCache<String, ()>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_after_the_ttl() {
        let cache: TtlCache<&str, u8> = TtlCache::default();
        let t0 = Instant::now();
        cache.put("a", 1, t0);
        let ttl = Duration::from_secs(10);
        assert_eq!(
            cache.get(&"a", ttl, t0 + Duration::from_secs(9)),
            Some((1, Duration::from_secs(9)))
        );
        assert_eq!(cache.get(&"a", ttl, t0 + ttl), None);
        assert_eq!(cache.get(&"b", ttl, t0), None);
    }
}
