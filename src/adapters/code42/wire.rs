//! The JSON shapes of the gateway's answers (reference §3, §4, §6), and
//! what they become in the domain. Absent fields take Code42's defaults.

use serde::Deserialize;

use crate::domain::model::{Code42Agent, Code42User};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UserDto {
    pub(super) user_id: String,
    pub(super) username: String,
    #[serde(default)]
    pub(super) org_guid: Option<String>,
    #[serde(default)]
    pub(super) org_name: Option<String>,
    #[serde(default)]
    pub(super) active: Option<bool>,
    #[serde(default)]
    pub(super) blocked: Option<bool>,
}

impl From<UserDto> for Code42User {
    fn from(u: UserDto) -> Self {
        Code42User {
            user_id: u.user_id,
            username: u.username,
            org_guid: u.org_guid.unwrap_or_default(),
            org_name: u.org_name.unwrap_or_default(),
            active: u.active.unwrap_or(true),
            blocked: u.blocked.unwrap_or(false),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UsersPage {
    #[serde(default)]
    pub(super) users: Vec<UserDto>,
    #[serde(default)]
    pub(super) total_count: Option<usize>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrgDto {
    pub(super) org_guid: String,
    #[serde(default)]
    pub(super) org_name: String,
    #[serde(default)]
    pub(super) active: Option<bool>,
    #[serde(default)]
    pub(super) parent_org_guid: Option<String>,
    #[serde(default)]
    pub(super) computer_count: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgentDto {
    pub(super) agent_id: String,
    #[serde(default)]
    pub(super) user_id: Option<String>,
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) os_hostname: Option<String>,
    #[serde(default)]
    pub(super) app_version: Option<String>,
    #[serde(default)]
    pub(super) product_version: Option<String>,
    #[serde(default)]
    pub(super) last_connected: Option<String>,
    #[serde(default)]
    pub(super) agent_health_issue_types: Option<Vec<String>>,
    #[serde(default)]
    pub(super) active: Option<bool>,
}

impl AgentDto {
    /// (user id, agent).
    pub(super) fn into_agent(self) -> (String, Code42Agent) {
        (
            self.user_id.unwrap_or_default(),
            Code42Agent {
                agent_id: self.agent_id,
                name: self.name,
                os_hostname: self.os_hostname,
                app_version: self.app_version,
                product_version: self.product_version,
                last_connected: self.last_connected,
                health_issues: self.agent_health_issue_types.unwrap_or_default(),
                active: self.active.unwrap_or(true),
            },
        )
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AgentsPage {
    #[serde(default)]
    pub(super) agents: Vec<AgentDto>,
    #[serde(default)]
    pub(super) total_count: Option<usize>,
}

#[derive(Deserialize)]
pub(super) struct OrgsPage {
    #[serde(default)]
    pub(super) orgs: Vec<OrgDto>,
}
