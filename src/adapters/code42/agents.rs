//! Agents: a user's active agents, the bulk listing, deactivation. Queried
//! as the incydr SDK queries them (reference §6).

use reqwest::Method;
use serde_json::json;

use crate::domain::model::{Code42Agent, Page};
use crate::error::Code42Error;
use crate::ports::Code42Agents;
use crate::ports::paging::read_all;

use super::Code42Session;
use super::transport::from_value;
use super::wire::{AgentDto, AgentsPage};

impl Code42Session<'_> {
    /// One page of active agents, of one user when given.
    async fn agents_page(
        &self,
        user_id: Option<&str>,
        page: usize,
        page_size: usize,
    ) -> Result<Page<(String, Code42Agent)>, Code42Error> {
        let mut query = vec![
            ("active", "true".to_string()),
            (
                "srtKey",
                if user_id.is_some() { "NAME" } else { "USER_ID" }.to_string(),
            ),
            ("srtDir", "ASC".to_string()),
            ("pageSize", page_size.to_string()),
            ("page", page.to_string()),
        ];
        if let Some(id) = user_id {
            query.insert(0, ("userId", id.to_string()));
        }
        let value = self.get_json(false, &["v1", "agents"], &query).await?;
        let found: AgentsPage = from_value(&Method::GET, "/v1/agents", value)?;
        Ok(Page {
            items: found.agents.into_iter().map(AgentDto::into_agent).collect(),
            total: found.total_count,
        })
    }
}

impl Code42Agents for Code42Session<'_> {
    async fn list_agents(&self, user_id: &str) -> Result<Vec<Code42Agent>, Code42Error> {
        let size = self.client.agents_page_size;
        let found = read_all("/v1/agents", size, |page| {
            self.agents_page(Some(user_id), page, size)
        })
        .await?;
        Ok(found.into_iter().map(|(_, agent)| agent).collect())
    }

    async fn list_agents_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> Result<Page<(String, Code42Agent)>, Code42Error> {
        self.agents_page(None, page, page_size).await
    }

    async fn deactivate_agent(&self, agent_id: &str) -> Result<(), Code42Error> {
        self.call(
            Method::POST,
            false,
            &["v1", "agents", "deactivate"],
            &[],
            Some(&json!({ "agentIds": [agent_id] })),
        )
        .await
        .map(|_| ())
    }
}
