//! The Code42 API as one invocation sees it (every call within its deadline),
//! split by capability so a use case names only what it uses: users, orgs,
//! agents, and the org's stored policies. `Code42` is all four together.

use std::future::Future;

use crate::domain::backup::OrgObject;
use crate::domain::model::{Code42Agent, Code42Org, Code42User, Page};
use crate::domain::orgs::LegacyOrg;
use crate::domain::watch_paths::SettingSnapshot;
use crate::error::Code42Error;

pub trait Code42Users: Send + Sync {
    /// Exact, case-insensitive username match; None if not in Code42.
    fn find_user(
        &self,
        username: &str,
    ) -> impl Future<Output = Result<Option<Code42User>, Code42Error>> + Send;

    fn get_user(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Code42User, Code42Error>> + Send;

    fn move_user(
        &self,
        user_id: &str,
        org_guid: &str,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send;

    /// One page of all users (bulk reads for fleet runs).
    fn list_users_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> impl Future<Output = Result<Page<Code42User>, Code42Error>> + Send;
}

pub trait Code42Orgs: Send + Sync {
    fn list_orgs(&self) -> impl Future<Output = Result<Vec<Code42Org>, Code42Error>> + Send;

    /// The console's org list (`GET /api/v1/Org`, every page): numeric ids
    /// with the guids they map to.
    fn legacy_orgs(&self) -> impl Future<Output = Result<Vec<LegacyOrg>, Code42Error>> + Send;
}

pub trait Code42Agents: Send + Sync {
    /// The user's active agents, across all pages.
    fn list_agents(
        &self,
        user_id: &str,
    ) -> impl Future<Output = Result<Vec<Code42Agent>, Code42Error>> + Send;

    /// One page of all active agents, each with its user id.
    fn list_agents_page(
        &self,
        page: usize,
        page_size: usize,
    ) -> impl Future<Output = Result<Page<(String, Code42Agent)>, Code42Error>> + Send;

    /// Deactivate one agent (idempotent).
    fn deactivate_agent(
        &self,
        agent_id: &str,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send;
}

/// Where the org's policies are stored: setting keys (`OrgSettings`) and the
/// console's org object (device defaults).
pub trait Code42OrgPolicies: Send + Sync {
    /// None when the org has no value for `key`.
    fn get_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
    ) -> impl Future<Output = Result<Option<SettingSnapshot>, Code42Error>> + Send;

    /// `items` are sent as they are (already in the seed's quoted form).
    fn put_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
        items: &[String],
        locked: bool,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send;

    /// The console's whole org object (device defaults and inheritance included).
    fn get_org_object(
        &self,
        legacy_org_id: i64,
    ) -> impl Future<Output = Result<OrgObject, Code42Error>> + Send;

    /// Write the whole org object back (as the console API requires).
    fn put_org_object(
        &self,
        legacy_org_id: i64,
        org: &OrgObject,
    ) -> impl Future<Output = Result<(), Code42Error>> + Send;
}

/// Every Code42 capability (what a whole reconciliation uses).
pub trait Code42: Code42Users + Code42Orgs + Code42Agents + Code42OrgPolicies {}

impl<T: Code42Users + Code42Orgs + Code42Agents + Code42OrgPolicies> Code42 for T {}
