//! Bulk reads for large fleet runs: every Code42 user and active agent, read
//! in pages once and indexed in memory, so a plan of N WorkSpaces costs about
//! N/100 + N/500 calls instead of 2N. Used by read-only planning passes only;
//! the apply pass always reads each user afresh.

use std::collections::HashMap;

use crate::domain::model::{Code42Agent, Code42User};
use crate::error::Code42Error;
use crate::ports::paging::read_all;
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
    pub async fn read(
        code42: &(impl Code42Users + Code42Agents),
        users_page_size: usize,
        agents_page_size: usize,
    ) -> Result<Self, Code42Error> {
        let mut snapshot = Self::default();
        for user in read_users(code42, users_page_size).await? {
            snapshot.users.insert(user.username.to_lowercase(), user);
        }
        let agents = read_all("/v1/agents", agents_page_size, |page| {
            code42.list_agents_page(page, agents_page_size)
        })
        .await?;
        for (user_id, agent) in agents.into_iter().filter(|(_, a)| a.active) {
            snapshot.agents.entry(user_id).or_default().push(agent);
        }
        tracing::info!(
            users = snapshot.users.len(),
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
