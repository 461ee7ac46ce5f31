//! Org settings (`OrgSettings`, a console resource): one key read, one
//! locked list written. The resource's spelling differs between sources
//! (reference §5a): each configured spelling is tried and the one that
//! answers is remembered.

use reqwest::Method;
use serde_json::{Value, json};

use crate::domain::backup::OrgObject;
use crate::domain::watch_paths::SettingSnapshot;
use crate::error::Code42Error;
use crate::ports::Code42OrgPolicies;

use super::Code42Session;
use super::transport::{Reply, parse_json, protocol};

impl Code42Session<'_> {
    /// Try each configured spelling of the settings resource; remember the one that answers.
    async fn settings_call(
        &self,
        method: Method,
        org_id: i64,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, Code42Error> {
        let id = org_id.to_string();
        let spellings = match self.route {
            Some(route) => vec![route.spelling],
            None => self.client.settings_paths.lock().unwrap().clone(),
        };
        let mut last = None;
        for (i, spelling) in spellings.iter().enumerate() {
            match self
                .call(
                    method.clone(),
                    true,
                    &["api", "v1", spelling, &id],
                    query,
                    body,
                )
                .await
            {
                Err(Code42Error::Rejected { status: 404, .. }) if i + 1 < spellings.len() => {
                    tracing::info!(
                        spelling,
                        "settings resource not found under this spelling; trying the next"
                    );
                }
                Err(e) => {
                    last = Some(e);
                    break;
                }
                Ok(reply) => {
                    if i > 0 && self.route.is_none() {
                        *self.client.settings_paths.lock().unwrap() = vec![spelling];
                    }
                    return Ok(reply);
                }
            }
        }
        Err(last
            .unwrap_or_else(|| protocol(&method, "/api/v1/OrgSettings", "no spelling answered")))
    }
}

/// The stored setting from a GET's body (under `data`, or at the root).
fn snapshot_of(value: &Value, key: &str) -> Option<SettingSnapshot> {
    let data = value.get("data").unwrap_or(value);
    let setting = data.get(key).filter(|s| !s.is_null())?;
    let raw = match setting.get("value") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let locked = match setting.get("locked") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    };
    let scope = setting
        .get("scope")
        .and_then(Value::as_str)
        .map(str::to_string);
    Some(SettingSnapshot::from_raw(&raw, locked, scope))
}

impl Code42OrgPolicies for Code42Session<'_> {
    async fn get_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
    ) -> Result<Option<SettingSnapshot>, Code42Error> {
        let reply = self
            .settings_call(
                Method::GET,
                legacy_org_id,
                &[("keys", key.to_string())],
                None,
            )
            .await?;
        let value = parse_json(&Method::GET, "/api/v1/OrgSettings/{orgId}", &reply.body)?;
        Ok(snapshot_of(&value, key))
    }

    async fn put_setting(
        &self,
        legacy_org_id: i64,
        key: &str,
        items: &[String],
        locked: bool,
    ) -> Result<(), Code42Error> {
        let body = json!({ "packets": [{ "key": key, "value": items, "locked": locked }] });
        self.settings_call(Method::PUT, legacy_org_id, &[], Some(&body))
            .await
            .map(|_| ())
    }

    async fn get_org_object(&self, legacy_org_id: i64) -> Result<OrgObject, Code42Error> {
        self.org_object(legacy_org_id).await
    }

    async fn put_org_object(&self, legacy_org_id: i64, org: &OrgObject) -> Result<(), Code42Error> {
        self.put_org(legacy_org_id, org).await
    }
}
