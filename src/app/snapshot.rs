//! Bulk reads for large fleet runs: every Code42 user and active agent, read
//! in pages once and indexed in memory, so a plan of N WorkSpaces costs about
//! N/100 + N/500 calls instead of 2N. Used by read-only planning passes only;
//! the apply pass always reads each user afresh.

use std::collections::{HashMap, HashSet};

use crate::domain::model::{Code42Agent, Code42User};
use crate::error::Code42Error;
use crate::ports::paging::{read_all, read_each};
use crate::ports::{Code42Agents, Code42Users};

#[derive(Debug, Default)]
pub struct Code42Snapshot {
    /// Lower-cased username -> user.
    users: HashMap<String, Code42User>,
    /// User id -> active agents.
    agents: HashMap<String, Vec<Code42Agent>>,
}

/// Every Code42 user.
pub async fn read_users(
    code42: &impl Code42Users,
    page_size: usize,
) -> Result<Vec<Code42User>, Code42Error> {
    read_all("/v1/users", page_size, |page| {
        code42.list_users_page(page, page_size)
    })
    .await
}

impl Code42Snapshot {
    /// Every user and every active agent.
    pub async fn read(
        code42: &(impl Code42Users + Code42Agents),
        users_page_size: usize,
        agents_page_size: usize,
    ) -> Result<Self, Code42Error> {
        Self::read_kept(code42, users_page_size, agents_page_size, |_| true).await
    }

    /// The users `keep` admits and their active agents, kept page by page as
    /// they arrive: a tenant with many more users than WorkSpaces costs the
    /// memory of the users looked for, not of the tenant.
    pub async fn read_kept(
        code42: &(impl Code42Users + Code42Agents),
        users_page_size: usize,
        agents_page_size: usize,
        keep: impl Fn(&Code42User) -> bool,
    ) -> Result<Self, Code42Error> {
        let mut snapshot = Self::default();
        let mut read = (0, 0);
        read_each(
            "/v1/users",
            users_page_size,
            |page| code42.list_users_page(page, users_page_size),
            |users| {
                read.0 += users.len();
                for user in users.into_iter().filter(&keep) {
                    snapshot.users.insert(user.username.to_lowercase(), user);
                }
            },
        )
        .await?;
        let kept_ids: HashSet<&str> = snapshot
            .users
            .values()
            .map(|u| u.user_id.as_str())
            .collect();
        let mut agents: HashMap<String, Vec<Code42Agent>> = HashMap::new();
        read_each(
            "/v1/agents",
            agents_page_size,
            |page| code42.list_agents_page(page, agents_page_size),
            |page| {
                read.1 += page.len();
                for (user_id, agent) in page {
                    if agent.active && kept_ids.contains(user_id.as_str()) {
                        // Most users have one agent: room for exactly what arrives
                        // (a first push would make room for four).
                        let theirs = agents.entry(user_id).or_default();
                        theirs.reserve_exact(1);
                        theirs.push(agent);
                    }
                }
            },
        )
        .await?;
        snapshot.agents = agents;
        tracing::info!(
            users_read = read.0,
            users_kept = snapshot.users.len(),
            agents_read = read.1,
            users_with_agents = snapshot.agents.len(),
            "read Code42 users and agents in bulk"
        );
        Ok(snapshot)
    }

    /// Exact, case-insensitive; None when the user was not in the snapshot.
    pub fn user(&self, username: &str) -> Option<&Code42User> {
        self.users.get(&username.to_lowercase())
    }

    /// Every user in `org_guid`, by username.
    pub fn users_in_org(&self, org_guid: &str) -> Vec<Code42User> {
        let mut users: Vec<Code42User> = self
            .users
            .values()
            .filter(|u| u.org_guid == org_guid)
            .cloned()
            .collect();
        users.sort_by(|a, b| a.username.cmp(&b.username));
        users
    }

    /// One of the user's active agents, by id.
    pub fn agent(&self, user_id: &str, agent_id: &str) -> Option<Code42Agent> {
        self.agents
            .get(user_id)?
            .iter()
            .find(|a| a.agent_id == agent_id)
            .cloned()
    }

    /// Every user's active agents (user id -> agents).
    pub fn all_agents(&self) -> &HashMap<String, Vec<Code42Agent>> {
        &self.agents
    }

    /// The user's active agents as of the snapshot.
    pub fn agents(&self, user_id: &str) -> Vec<Code42Agent> {
        self.agents.get(user_id).cloned().unwrap_or_default()
    }
}

/// A planning pass's bulk read: each user (with their agents) handed out as
/// many times as WorkSpaces map to them, then forgotten, so the read shrinks
/// as the pass's results grow (a 100,000-WorkSpace verify does not hold both).
pub struct ConsumedSnapshot {
    inner: std::sync::Mutex<(Code42Snapshot, HashMap<String, usize>)>,
}

impl ConsumedSnapshot {
    /// `uses`: lower-cased username -> how many WorkSpaces map to that user.
    pub fn new(snapshot: Code42Snapshot, uses: HashMap<String, usize>) -> Self {
        Self {
            inner: std::sync::Mutex::new((snapshot, uses)),
        }
    }

    /// The user and their active agents; None when the read did not have them.
    pub fn take(&self, username: &str) -> Option<(Code42User, Vec<Code42Agent>)> {
        let key = username.to_lowercase();
        let mut inner = self.inner.lock().unwrap();
        let (snapshot, uses) = &mut *inner;
        let left = uses.get_mut(&key).map(|n| {
            *n = n.saturating_sub(1);
            *n
        });
        if left == Some(0) {
            uses.remove(&key);
            let user = snapshot.users.remove(&key)?;
            let agents = snapshot.agents.remove(&user.user_id).unwrap_or_default();
            Some((user, agents))
        } else {
            let user = snapshot.users.get(&key)?.clone();
            let agents = snapshot.agents(&user.user_id);
            Some((user, agents))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::fakes::{agent_on, code42, user};

    #[tokio::test]
    async fn only_the_kept_users_and_their_active_agents_are_held() {
        let fake = code42(
            vec![
                user("u1", "Kept@corp.example.com", "guid-default"),
                user("u2", "dropped@corp.example.com", "guid-default"),
                user("u3", "kept-too@corp.example.com", "guid-default"),
            ],
            None,
        );
        {
            let mut state = fake.0.lock().unwrap();
            let mut retired = agent_on("ws-old", "1.4.0");
            retired.active = false;
            state.agents = vec![
                ("u1".into(), agent_on("ws-a", "1.4.0")),
                ("u1".into(), retired),
                ("u2".into(), agent_on("ws-b", "1.4.0")),
                ("u3".into(), agent_on("ws-c", "1.4.0")),
            ];
        }
        // Pages of one: every page goes through the keep rule.
        let snapshot = Code42Snapshot::read_kept(&fake, 1, 1, |u| {
            u.username.starts_with('K') || u.username.starts_with('k')
        })
        .await
        .unwrap();
        assert_eq!(
            snapshot.user("kept@CORP.example.com").unwrap().user_id,
            "u1"
        );
        assert!(snapshot.user("dropped@corp.example.com").is_none());
        let ids = |user_id: &str| -> Vec<String> {
            snapshot
                .agents(user_id)
                .into_iter()
                .map(|a| a.agent_id)
                .collect()
        };
        assert_eq!(ids("u1"), ["agent-ws-a"], "the inactive agent is not held");
        assert!(ids("u2").is_empty(), "a dropped user's agents are not held");
        assert_eq!(ids("u3"), ["agent-ws-c"]);
        assert_eq!(snapshot.all_agents().len(), 2);
    }

    #[tokio::test]
    async fn a_user_is_handed_out_once_per_workspace_then_forgotten() {
        let fake = code42(
            vec![user("u1", "Twice@corp.example.com", "guid-default")],
            None,
        );
        fake.0.lock().unwrap().agents = vec![("u1".into(), agent_on("ws-a", "1.4.0"))];
        let snapshot = Code42Snapshot::read(&fake, 10, 10).await.unwrap();
        let consumed = ConsumedSnapshot::new(
            snapshot,
            HashMap::from([("twice@corp.example.com".to_string(), 2)]),
        );
        for _ in 0..2 {
            let (user, agents) = consumed.take("TWICE@corp.example.com").unwrap();
            assert_eq!((user.user_id.as_str(), agents.len()), ("u1", 1));
        }
        assert!(
            consumed.take("twice@corp.example.com").is_none(),
            "forgotten after its uses"
        );
        assert!(consumed.take("nobody@corp.example.com").is_none());
    }
}
