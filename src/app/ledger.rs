//! The ledger as a run uses it: every write to the tenant recorded before it
//! is made and settled after it, under the run's id.

use crate::domain::ledger::{
    DEACTIVATE_AGENT, EntryState, HistoryFilter, LedgerEntry, MOVE_USER, budget_hour,
    over_budget_reason, rfc3339,
};
use crate::ports::{Code42Agents, Code42Users, Ledger};

/// A run's view of the ledger: where its moves are recorded, under its id.
#[derive(Clone, Copy)]
pub struct RunLedger<'a> {
    pub ledger: &'a dyn Ledger,
    pub run_id: &'a str,
}

impl RunLedger<'_> {
    /// Record the intent of a write (`kind`, the value before and the one
    /// it should leave); its entry, to settle afterwards.
    pub(crate) async fn intent(
        &self,
        kind: &str,
        subject: Subject<'_>,
        before: Option<String>,
        after: Option<String>,
    ) -> Result<LedgerEntry, crate::error::AwsError> {
        let at = rfc3339(unix_secs());
        let entry = LedgerEntry {
            id: format!("{at}#{:08x}", fastrand::u32(..)),
            kind: kind.to_string(),
            username: subject.username.map(str::to_string),
            workspace_id: subject.workspace_id.map(str::to_string),
            before,
            after,
            state: EntryState::Intent,
            run_id: self.run_id.to_string(),
            at,
            origin: subject.origin.to_string(),
        };
        self.ledger.record(&entry).await?;
        Ok(entry)
    }

    /// Settle `entry`; a settle that cannot be written leaves the intent for
    /// the next run to resolve.
    pub(crate) async fn settle(&self, entry: &LedgerEntry, state: EntryState, after: Option<&str>) {
        if let Err(e) = self.ledger.settle(&entry.id, state, after).await {
            tracing::error!(error = %e, entry = %entry.id, state = state.as_str(), "could not settle the ledger entry; its intent stays");
        }
    }
}

/// A move's turn in the shared budget.
pub(crate) enum Budgeted {
    /// Taken from the budget, and its intent recorded.
    Recorded(LedgerEntry),
    /// The hour's budget is spent: why.
    Spent(String),
}

impl RunLedger<'_> {
    /// Before a move from `from` to `to`: one move from the hour's `budget`
    /// (atomic across every process), then the intent. Nothing may be moved
    /// when either cannot be written (the error).
    pub(crate) async fn budgeted_move(
        &self,
        budget: u32,
        subject: Subject<'_>,
        from: &str,
        to: &str,
    ) -> Result<Budgeted, crate::error::AwsError> {
        let hour = budget_hour(unix_secs());
        if !self.ledger.take_move(hour, budget).await? {
            tracing::warn!(
                budget,
                username = subject.username,
                "move budget spent: not moved this hour"
            );
            return Ok(Budgeted::Spent(over_budget_reason(budget, hour)));
        }
        let entry = self
            .intent(
                MOVE_USER,
                subject,
                Some(from.to_string()),
                Some(to.to_string()),
            )
            .await?;
        Ok(Budgeted::Recorded(entry))
    }
}

/// An intent older than this belongs to a run that ended without settling
/// it (a Lambda runs 15 minutes at most).
const DANGLING_AFTER: u64 = 15 * 60;
/// How far back a run looks for them.
const DANGLING_WITHIN: u64 = 24 * 3600;

impl RunLedger<'_> {
    /// Settle the intents runs left behind (a timeout, a crash between the
    /// intent and the write): a move by reading the user's org now — `done`
    /// in the target org, `failed` still in the source, else `unconfirmed`;
    /// a deactivation by listing the user's active agents — `done` when the
    /// agent is no longer among them, `failed` when it still is. (An org
    /// policy write is settled by the org check, which reads the policy:
    /// `settle_dangling_policy`.) Best effort: a failure here is logged and
    /// stops nothing.
    pub(crate) async fn resolve_dangling(&self, code42: &(impl Code42Users + Code42Agents)) {
        let dangling = self.dangling(|kind| kind == MOVE_USER || kind == DEACTIVATE_AGENT);
        for entry in dangling.await {
            let (state, after) = self.what_happened(code42, &entry).await;
            tracing::warn!(entry = %entry.id, kind = %entry.kind, state = state.as_str(), "settled an entry a previous run left as an intent");
            self.settle(&entry, state, after.as_deref()).await;
        }
    }

    /// Settle the dangling intents of the org policy `kind` by the value
    /// just read, before this run writes anything: `done` when what such a
    /// write brings is in place (`settled`), else `failed` (and this run
    /// writes it again).
    pub(crate) async fn settle_dangling_policy(
        &self,
        kind: &str,
        settled: bool,
        current: Option<&str>,
    ) {
        for entry in self.dangling(|k| k == kind).await {
            let state = if settled {
                EntryState::Done
            } else {
                EntryState::Failed
            };
            tracing::warn!(entry = %entry.id, kind, state = state.as_str(), "settled an org policy write a previous run left as an intent");
            self.settle(&entry, state, current).await;
        }
    }

    /// Intents of the kinds `wanted` admits, older than a run could still be
    /// working on them (none when the ledger cannot be read: logged).
    async fn dangling(&self, wanted: impl Fn(&str) -> bool) -> Vec<LedgerEntry> {
        let now = unix_secs();
        let filter = HistoryFilter {
            since: Some(rfc3339(now.saturating_sub(DANGLING_WITHIN))),
            ..HistoryFilter::default()
        };
        let cutoff = rfc3339(now.saturating_sub(DANGLING_AFTER));
        match self.ledger.entries(&filter).await {
            Ok(entries) => entries
                .into_iter()
                .filter(|e| e.state == EntryState::Intent && e.at <= cutoff && wanted(&e.kind))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "could not look for unsettled ledger entries");
                Vec::new()
            }
        }
    }

    async fn what_happened(
        &self,
        code42: &(impl Code42Users + Code42Agents),
        entry: &LedgerEntry,
    ) -> (EntryState, Option<String>) {
        let user = match (entry.kind.as_str(), entry.username.as_deref()) {
            (MOVE_USER, Some(username)) => code42.find_user(username).await,
            (DEACTIVATE_AGENT, Some(username)) => {
                return deactivation_outcome(code42, username, entry).await;
            }
            _ => return (EntryState::Unconfirmed, None),
        };
        match user {
            Ok(Some(user)) if Some(&user.org_guid) == entry.after.as_ref() => {
                (EntryState::Done, Some(user.org_guid))
            }
            Ok(Some(user)) if Some(&user.org_guid) == entry.before.as_ref() => {
                (EntryState::Failed, Some(user.org_guid))
            }
            Ok(Some(user)) => (EntryState::Unconfirmed, Some(user.org_guid)),
            Ok(None) | Err(_) => (EntryState::Unconfirmed, None),
        }
    }
}

/// Whether the agent a dangling deactivation named (`before`: "agent ID
/// active") is still among its user's active agents.
async fn deactivation_outcome(
    code42: &(impl Code42Users + Code42Agents),
    username: &str,
    entry: &LedgerEntry,
) -> (EntryState, Option<String>) {
    let agent_id = entry
        .before
        .as_deref()
        .and_then(|b| b.strip_prefix("agent "))
        .and_then(|b| b.strip_suffix(" active"));
    let (Some(agent_id), Ok(Some(user))) = (agent_id, code42.find_user(username).await) else {
        return (EntryState::Unconfirmed, None);
    };
    match code42.list_agents(&user.user_id).await {
        Ok(agents) if agents.iter().any(|a| a.agent_id == agent_id && a.active) => {
            (EntryState::Failed, Some(format!("agent {agent_id} active")))
        }
        Ok(_) => (EntryState::Done, Some("deactivated".into())),
        Err(_) => (EntryState::Unconfirmed, None),
    }
}

/// Whose write it is, and what asked for it.
#[derive(Clone, Copy)]
pub(crate) struct Subject<'a> {
    pub username: Option<&'a str>,
    pub workspace_id: Option<&'a str>,
    pub origin: &'a str,
}

pub(crate) fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}
