//! The ledger in DynamoDB: one table, keys `pk` and `sk`.
//! - entries: `pk = "entry"`, `sk` = the entry's id (its time first, so a
//!   query returns them oldest first and `--since` is a key condition);
//! - the move budget: `pk = "budget"`, `sk` = the hour, a counter raised by
//!   a conditional update — atomic in DynamoDB, so every process and
//!   invocation sharing the table shares one budget;
//! - users an undo moved back: `pk = "hold"`, `sk` = the lower-cased
//!   username, `held` true until `undo --release`;
//! - WorkSpaces a run queued: `pk = "queued"`, `sk` = `{hour}#{workspace}`,
//!   claimed by a conditional put, so a retried run does not queue them twice;
//! - WorkSpaces signed into: `pk = "signin"`, `sk` = the WorkSpace id,
//!   `first_at` (kept by `if_not_exists`) and `covered_at` once a check
//!   finds it covered (a conditional update: measured once);
//! - `expires_at` (epoch seconds): the table's TTL attribute.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::BoxFuture;

use crate::domain::ledger::{EntryState, HistoryFilter, LedgerEntry};
use crate::error::AwsError;
use crate::ports::Ledger;

use super::aws::sdk_error;

const ENTRY: &str = "entry";
const BUDGET: &str = "budget";
const HOLD: &str = "hold";
const QUEUED: &str = "queued";
const SIGN_IN: &str = "signin";

pub struct DynamoLedger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    /// Entries expire this long after they are written (the table's TTL).
    retention: Duration,
}

impl DynamoLedger {
    pub fn new(sdk: &aws_config::SdkConfig, table: String, retention: Duration) -> Self {
        Self {
            client: aws_sdk_dynamodb::Client::new(sdk),
            table,
            retention,
        }
    }

    fn expires_at(&self) -> AttributeValue {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        AttributeValue::N((now + self.retention).as_secs().to_string())
    }
}

/// A conditional write's outcome: true when written, false when its
/// condition did not hold (the budget spent, the WorkSpace already claimed).
fn condition_held<T, E, R>(
    operation: &'static str,
    result: Result<T, SdkError<E, R>>,
) -> Result<bool, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk_error("DynamoDB", operation, e)),
    }
}

/// `first_at` of a sign-in item.
fn first_at(item: Option<&HashMap<String, AttributeValue>>) -> Option<u64> {
    item?.get("first_at")?.as_n().ok()?.parse().ok()
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_string())
}

fn optional(value: Option<&str>) -> AttributeValue {
    value.map_or(AttributeValue::Null(true), s)
}

fn text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn entry_of(item: &HashMap<String, AttributeValue>) -> Option<LedgerEntry> {
    Some(LedgerEntry {
        id: text(item, "sk")?,
        kind: text(item, "kind")?,
        username: text(item, "username"),
        workspace_id: text(item, "workspace_id"),
        before: text(item, "before"),
        after: text(item, "after"),
        state: EntryState::parse(&text(item, "state")?)?,
        run_id: text(item, "run_id").unwrap_or_default(),
        at: text(item, "at").unwrap_or_default(),
        origin: text(item, "origin").unwrap_or_default(),
    })
}

impl DynamoLedger {
    async fn take(&self, hour: u64, budget: u32) -> Result<bool, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(BUDGET))
            .key("sk", s(&hour.to_string()))
            .update_expression("ADD moves :one SET expires_at = :exp")
            .condition_expression("attribute_not_exists(moves) OR moves < :budget")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":budget", AttributeValue::N(budget.to_string()))
            .expression_attribute_values(":exp", self.expires_at())
            .send()
            .await;
        condition_held("UpdateItem", result)
    }

    async fn put(&self, e: &LedgerEntry) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(ENTRY))
            .item("sk", s(&e.id))
            .item("kind", s(&e.kind))
            .item("username", optional(e.username.as_deref()))
            .item("workspace_id", optional(e.workspace_id.as_deref()))
            .item("before", optional(e.before.as_deref()))
            .item("after", optional(e.after.as_deref()))
            .item("state", s(e.state.as_str()))
            .item("run_id", s(&e.run_id))
            .item("at", s(&e.at))
            .item("origin", s(&e.origin))
            .item("expires_at", self.expires_at())
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "PutItem", e))?;
        Ok(())
    }

    async fn update(
        &self,
        id: &str,
        state: EntryState,
        after: Option<&str>,
    ) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(ENTRY))
            .key("sk", s(id))
            .update_expression("SET #state = :state, #after = :after")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_names("#after", "after")
            .expression_attribute_values(":state", s(state.as_str()))
            .expression_attribute_values(":after", optional(after))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "UpdateItem", e))?;
        Ok(())
    }

    async fn query(&self, filter: &HistoryFilter) -> Result<Vec<LedgerEntry>, AwsError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", s(ENTRY))
                .set_exclusive_start_key(start.take());
            request = match &filter.since {
                Some(since) => request
                    .key_condition_expression("pk = :pk AND sk >= :since")
                    .expression_attribute_values(":since", s(since)),
                None => request.key_condition_expression("pk = :pk"),
            };
            let page = request
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB", "Query", e))?;
            found.extend(
                page.items()
                    .iter()
                    .filter_map(entry_of)
                    .filter(|e| filter.admits(e)),
            );
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(found),
            }
        }
    }
}

impl DynamoLedger {
    async fn put_hold(&self, username: &str, run_id: &str) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(HOLD))
            .item("sk", s(&username.to_lowercase()))
            .item("run_id", s(run_id))
            .item("held", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "PutItem", e))?;
        Ok(())
    }

    /// Every hold item: (lower-cased username, run, still held).
    async fn hold_items(&self) -> Result<Vec<(String, String, bool)>, AwsError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(HOLD))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB", "Query", e))?;
            found.extend(page.items().iter().filter_map(|item| {
                let held = item.get("held").and_then(|v| v.as_bool().ok()).copied();
                Some((text(item, "sk")?, text(item, "run_id")?, held?))
            }));
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(found),
            }
        }
    }

    async fn release_run(&self, run_id: &str) -> Result<usize, AwsError> {
        let mut released = 0;
        for (username, run, held) in self.hold_items().await? {
            if !held || run != run_id {
                continue;
            }
            self.client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(HOLD))
                .key("sk", s(&username))
                .update_expression("SET held = :no")
                .expression_attribute_values(":no", AttributeValue::Bool(false))
                .send()
                .await
                .map_err(|e| sdk_error("DynamoDB", "UpdateItem", e))?;
            released += 1;
        }
        Ok(released)
    }
}

impl DynamoLedger {
    async fn claim(&self, window: u64, workspace_id: &str) -> Result<bool, AwsError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(QUEUED))
            .item("sk", s(&format!("{window}#{workspace_id}")))
            .item("claim", s("queued"))
            .item("expires_at", self.expires_at())
            .condition_expression("attribute_not_exists(pk) OR claim = :given_back")
            .expression_attribute_values(":given_back", s("given back"))
            .send()
            .await;
        condition_held("PutItem", result)
    }

    async fn sign_in(&self, workspace_id: &str, at: u64) -> Result<u64, AwsError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(SIGN_IN))
            .key("sk", s(workspace_id))
            .update_expression("SET first_at = if_not_exists(first_at, :at), expires_at = :expires")
            .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
            .expression_attribute_values(":expires", self.expires_at())
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "UpdateItem", e))?;
        Ok(first_at(out.attributes()).unwrap_or(at))
    }

    async fn covered(&self, workspace_id: &str, at: u64) -> Result<Option<u64>, AwsError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(SIGN_IN))
            .key("sk", s(workspace_id))
            .update_expression("SET covered_at = :at")
            .condition_expression("attribute_exists(first_at) AND attribute_not_exists(covered_at)")
            .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(first_at(out.attributes())),
            Err(e) => condition_held("UpdateItem", Err::<(), _>(e)).map(|_| None),
        }
    }

    async fn unclaim(&self, window: u64, workspace_id: &str) -> Result<(), AwsError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(QUEUED))
            .key("sk", s(&format!("{window}#{workspace_id}")))
            .update_expression("SET claim = :given_back")
            .expression_attribute_values(":given_back", s("given back"))
            .send()
            .await
            .map_err(|e| sdk_error("DynamoDB", "UpdateItem", e))?;
        Ok(())
    }
}

impl Ledger for DynamoLedger {
    fn claim_queued<'a>(
        &'a self,
        window: u64,
        workspace_id: &'a str,
    ) -> BoxFuture<'a, Result<bool, AwsError>> {
        Box::pin(self.claim(window, workspace_id))
    }
    fn unclaim_queued<'a>(
        &'a self,
        window: u64,
        workspace_id: &'a str,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(self.unclaim(window, workspace_id))
    }
    fn hold<'a>(
        &'a self,
        username: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(self.put_hold(username, run_id))
    }
    fn first_sign_in<'a>(
        &'a self,
        workspace_id: &'a str,
        at: u64,
    ) -> BoxFuture<'a, Result<u64, AwsError>> {
        Box::pin(self.sign_in(workspace_id, at))
    }
    fn first_covered<'a>(
        &'a self,
        workspace_id: &'a str,
        at: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, AwsError>> {
        Box::pin(self.covered(workspace_id, at))
    }
    fn release<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<usize, AwsError>> {
        Box::pin(self.release_run(run_id))
    }
    fn holds(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, AwsError>> {
        Box::pin(async move {
            let items = self.hold_items().await?;
            Ok(items
                .into_iter()
                .filter(|(_, _, held)| *held)
                .map(|(user, run, _)| (user, run))
                .collect())
        })
    }
    fn take_move(&self, hour: u64, budget: u32) -> BoxFuture<'_, Result<bool, AwsError>> {
        Box::pin(self.take(hour, budget))
    }
    fn record<'a>(&'a self, entry: &'a LedgerEntry) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(self.put(entry))
    }
    fn settle<'a>(
        &'a self,
        id: &'a str,
        state: EntryState,
        after: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(self.update(id, state, after))
    }
    fn entries<'a>(
        &'a self,
        filter: &'a HistoryFilter,
    ) -> BoxFuture<'a, Result<Vec<LedgerEntry>, AwsError>> {
        Box::pin(self.query(filter))
    }
}
