//! The ledger's records: every write to the tenant is recorded before it is
//! made (`intent`, with the value before) and settled after it (`done`,
//! `failed` or `unconfirmed`, with the value after); and the hourly move
//! budget every process shares.

use serde::{Deserialize, Serialize};

/// Where a ledger entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Recorded before the write; still so after a crash or a timeout.
    Intent,
    Done,
    Failed,
    /// Code42 accepted it, but reading it back did not show it.
    Unconfirmed,
}

impl EntryState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Intent => "intent",
            EntryState::Done => "done",
            EntryState::Failed => "failed",
            EntryState::Unconfirmed => "unconfirmed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Intent, Self::Done, Self::Failed, Self::Unconfirmed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One write to the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Unique; sorts by time (`at`, then a random suffix).
    pub id: String,
    /// `move_user`, `deactivate_agent`, or an org policy's id.
    pub kind: String,
    pub username: Option<String>,
    pub workspace_id: Option<String>,
    /// For a move: the source org guid.
    pub before: Option<String>,
    /// For a move: the target org guid (what it should be once done).
    pub after: Option<String>,
    pub state: EntryState,
    pub run_id: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// What asked for it: a CloudTrail event id, `schedule`, a queue message, the CLI.
    pub origin: String,
}

pub const MOVE_USER: &str = "move_user";
pub const DEACTIVATE_AGENT: &str = "deactivate_agent";

/// Which entries `history` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryFilter {
    pub user: Option<String>,
    pub workspace_id: Option<String>,
    pub run: Option<String>,
    pub kind: Option<String>,
    /// RFC 3339: entries at or after it.
    pub since: Option<String>,
}

impl HistoryFilter {
    pub fn admits(&self, e: &LedgerEntry) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref()
                .is_none_or(|w| have.is_some_and(|h| h.eq_ignore_ascii_case(w)))
        };
        same(&self.user, e.username.as_deref())
            && same(&self.workspace_id, e.workspace_id.as_deref())
            && same(&self.run, Some(&e.run_id))
            && same(&self.kind, Some(&e.kind))
            && self.since.as_deref().is_none_or(|s| e.at.as_str() >= s)
    }
}

/// The budget window a move counts in: the hour since the epoch.
pub fn budget_hour(unix_secs: u64) -> u64 {
    unix_secs / 3600
}

/// How the reason of a WorkSpace held by the budget begins.
pub const OVER_BUDGET: &str = "the move budget (";

/// The reason of a WorkSpace whose move waits for the budget.
pub fn over_budget_reason(budget: u32, hour: u64) -> String {
    format!(
        "{OVER_BUDGET}{budget} per hour, CODE42_MAX_MOVES_PER_HOUR) is spent until {}; not moved, checked again after the hour turns",
        rfc3339((hour + 1) * 3600)
    )
}

/// `unix_secs` as RFC 3339 UTC (`2026-12-03T20:15:00Z`).
pub fn rfc3339(unix_secs: u64) -> String {
    let days = (unix_secs / 86_400) as i64;
    let rest = unix_secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: &str, run: &str, at: &str) -> LedgerEntry {
        LedgerEntry {
            id: format!("{at}#1"),
            kind: MOVE_USER.into(),
            username: Some(user.into()),
            workspace_id: Some("ws-a".into()),
            before: Some("g-default".into()),
            after: Some("g-ws".into()),
            state: EntryState::Done,
            run_id: run.into(),
            at: at.into(),
            origin: "cli".into(),
        }
    }

    #[test]
    fn filters_combine_and_compare_users_without_case() {
        let e = entry("A@corp.example.com", "run-1", "2026-12-03T10:00:00Z");
        assert!(HistoryFilter::default().admits(&e));
        let by = |f: HistoryFilter| f.admits(&e);
        assert!(by(HistoryFilter {
            user: Some("a@corp.example.com".into()),
            run: Some("run-1".into()),
            ..Default::default()
        }));
        assert!(!by(HistoryFilter {
            run: Some("run-2".into()),
            ..Default::default()
        }));
        assert!(!by(HistoryFilter {
            kind: Some("deactivate_agent".into()),
            ..Default::default()
        }));
        assert!(by(HistoryFilter {
            since: Some("2026-12-03T10:00:00Z".into()),
            ..Default::default()
        }));
        assert!(!by(HistoryFilter {
            since: Some("2026-12-03T10:00:01Z".into()),
            ..Default::default()
        }));
        assert!(!by(HistoryFilter {
            workspace_id: Some("ws-b".into()),
            ..Default::default()
        }));
    }

    #[test]
    fn times_are_rfc3339_utc_and_the_budget_counts_by_hour() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        // Past the first century of the 400-year era (2100 is not a leap year).
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339(4_133_980_800), "2101-01-01T00:00:00Z");
        assert_eq!(rfc3339(13_569_465_600), "2400-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_796_328_000), "2026-12-03T20:00:00Z");
        assert_eq!(budget_hour(1_796_328_000), budget_hour(1_796_331_599));
        assert_ne!(budget_hour(1_796_328_000), budget_hour(1_796_331_600));
        assert!(over_budget_reason(50, 498_980).contains("until 2026-12-03T21:00:00Z"));
        for s in ["intent", "done", "failed", "unconfirmed"] {
            assert_eq!(EntryState::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(EntryState::parse("gone"), None);
    }
}
