//! Orgs: the gateway's org list (guids, names, the tree) and the console's
//! (numeric ids, for the console resources).

use reqwest::Method;
use serde_json::Value;

use crate::domain::model::{Code42Org, Page};
use crate::domain::orgs::LegacyOrg;
use crate::error::Code42Error;
use crate::ports::Code42Orgs;
use crate::ports::paging::read_all;

use super::Code42Session;
use super::transport::{from_value, protocol};
use super::wire::OrgsPage;

/// The console org list's page size.
const CONSOLE_ORG_PAGE_SIZE: usize = 100;

impl Code42Session<'_> {
    /// One page of the console's org list (`data.orgs`, `data.totalCount`).
    async fn legacy_orgs_page(&self, page: usize) -> Result<Page<LegacyOrg>, Code42Error> {
        let value = self
            .get_json(
                true,
                &["api", "v1", "Org"],
                &[
                    ("pgNum", page.to_string()),
                    ("pgSize", CONSOLE_ORG_PAGE_SIZE.to_string()),
                ],
            )
            .await?;
        let data = value.get("data").unwrap_or(&value);
        let orgs = data.get("orgs").and_then(Value::as_array);
        let items = orgs
            .into_iter()
            .flatten()
            .map(legacy_org)
            .collect::<Result<_, _>>()?;
        let total = data
            .get("totalCount")
            .and_then(Value::as_u64)
            .map(|t| t as usize);
        Ok(Page { items, total })
    }
}

fn legacy_org(org: &Value) -> Result<LegacyOrg, Code42Error> {
    let text = |k: &str| org.get(k).and_then(Value::as_str).map(str::to_string);
    // Seen both as a number and as a numeric string.
    let org_id = match org.get("orgId") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| protocol(&Method::GET, "/api/v1/Org", "org has no numeric orgId"))?;
    Ok(LegacyOrg {
        org_id,
        org_guid: text("orgGuid"),
        org_uid: text("orgUid"),
        org_name: text("orgName"),
    })
}

impl Code42Orgs for Code42Session<'_> {
    async fn list_orgs(&self) -> Result<Vec<Code42Org>, Code42Error> {
        let value = self.get_json(false, &["v1", "orgs"], &[]).await?;
        let orgs: OrgsPage = from_value(&Method::GET, "/v1/orgs", value)?;
        Ok(orgs
            .orgs
            .into_iter()
            .map(|o| Code42Org {
                org_guid: o.org_guid,
                org_name: o.org_name,
                active: o.active.unwrap_or(true),
                parent_org_guid: o.parent_org_guid,
                computer_count: o.computer_count,
            })
            .collect())
    }

    async fn legacy_orgs(&self) -> Result<Vec<LegacyOrg>, Code42Error> {
        read_all("/api/v1/Org", CONSOLE_ORG_PAGE_SIZE, |page| {
            self.legacy_orgs_page(page)
        })
        .await
    }
}
