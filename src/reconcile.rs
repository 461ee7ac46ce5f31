//! The flow: resolve the WorkSpaces org, make its watch-path setting
//! compliant, then put each WorkSpace's user in that org. Generic over the
//! ports, so it runs the same against AWS + Code42 or in-memory fakes.

use std::sync::Mutex;
use std::time::Duration;

use futures::StreamExt;
use tokio::time::Instant;

use crate::config::{Config, Mode};
use crate::domain::ids::DirectoryId;
use crate::domain::report::{Action, OrgReport, Status, WorkspaceReport};
use crate::domain::watch_paths::{SettingSnapshot, assess, merge};
use crate::error::{Code42Error, InvocationError};
use crate::input::Target;
use crate::ports::{Code42, Code42User, WorkspaceInfo, Workspaces};

const MOVE_ATTEMPTS: u32 = 3;

/// The WorkSpaces org, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedOrg {
    pub guid: String,
    pub name: String,
    pub legacy_id: i64,
}

/// A compliant org check, reused for a short time by a warm container.
#[derive(Default)]
pub struct OrgCache {
    entry: Mutex<Option<(ResolvedOrg, Option<SettingSnapshot>, Instant)>>,
}

impl OrgCache {
    fn get(&self, ttl: Duration) -> Option<(ResolvedOrg, Option<SettingSnapshot>)> {
        let entry = self.entry.lock().unwrap();
        entry
            .as_ref()
            .filter(|(_, _, at)| at.elapsed() < ttl)
            .map(|(org, snap, _)| (org.clone(), snap.clone()))
    }

    fn put(&self, org: &ResolvedOrg, snapshot: Option<SettingSnapshot>) {
        *self.entry.lock().unwrap() = Some((org.clone(), snapshot, Instant::now()));
    }
}

pub struct Reconciler<'a, W, C> {
    pub config: &'a Config,
    /// Never `Apply` when the configuration says `Verify` (the caller enforces the ceiling).
    pub mode: Mode,
    pub workspaces: &'a W,
    pub code42: &'a C,
    pub cache: &'a OrgCache,
    /// Called as each WorkSpace is done (progress bars).
    pub on_done: Option<&'a (dyn Fn(&WorkspaceReport) + Sync)>,
}

/// Why one WorkSpace failed.
struct Failure {
    message: String,
    retryable: bool,
    /// Set when the cause is not about this WorkSpace (credentials, permissions).
    global: Option<Code42Error>,
}

impl From<Code42Error> for Failure {
    fn from(e: Code42Error) -> Self {
        Failure {
            message: e.to_string(),
            retryable: e.retryable(),
            global: e.global().then(|| e.clone()),
        }
    }
}

/// The org record and one report per target, plus the first global error.
pub struct RunOutcome {
    pub org: Option<OrgReport>,
    pub workspaces: Vec<WorkspaceReport>,
    pub global_error: Option<Code42Error>,
}

impl<W: Workspaces, C: Code42> Reconciler<'_, W, C> {
    pub async fn run(&self, targets: &[Target]) -> Result<RunOutcome, InvocationError> {
        if targets.is_empty() {
            return Ok(RunOutcome {
                org: None,
                workspaces: Vec::new(),
                global_error: None,
            });
        }
        let (org, org_report) = self.checked_org().await?;
        let results: Vec<(WorkspaceReport, Option<Code42Error>)> = futures::stream::iter(targets)
            .map(|t| async {
                let done = self.reconcile_workspace(t, &org).await;
                if let Some(on_done) = self.on_done {
                    on_done(&done.0);
                }
                done
            })
            .buffered(self.config.concurrency)
            .collect()
            .await;
        let global_error = results.iter().find_map(|(_, g)| g.clone());
        Ok(RunOutcome {
            org: Some(org_report),
            workspaces: results.into_iter().map(|(r, _)| r).collect(),
            global_error,
        })
    }

    /// Resolve the org and make its setting compliant (or, in verify mode,
    /// report drift). A recent compliant check is reused.
    pub async fn checked_org(&self) -> Result<(ResolvedOrg, OrgReport), InvocationError> {
        if let Some((org, snapshot)) = self.cache.get(self.config.org_check_ttl) {
            let report = self.org_report(
                &org,
                Status::Compliant,
                snapshot.clone(),
                snapshot,
                "compliant".into(),
                true,
            );
            return Ok((org, report));
        }
        let org = self.resolve_org().await?;
        let report = self.ensure_setting(&org).await?;
        Ok((org, report))
    }

    async fn resolve_org(&self) -> Result<ResolvedOrg, InvocationError> {
        let wanted = &self.config.org;
        let orgs = self.code42.list_orgs().await?;
        let active: Vec<_> = orgs.into_iter().filter(|o| o.active).collect();
        let by_guid = active.iter().find(|o| &o.org_guid == wanted);
        let by_name: Vec<_> = active.iter().filter(|o| &o.org_name == wanted).collect();
        let org = match (by_guid, by_name.as_slice()) {
            (Some(org), _) => org.clone(),
            (None, [org]) => (*org).clone(),
            (None, []) => {
                return Err(InvocationError::OrgNotFound {
                    org: wanted.clone(),
                });
            }
            (None, many) => {
                return Err(InvocationError::OrgAmbiguous {
                    org: wanted.clone(),
                    count: many.len(),
                    guids: many
                        .iter()
                        .map(|o| o.org_guid.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        };
        let legacy_id = match self.config.org_legacy_id {
            Some(id) => id,
            None => self
                .code42
                .legacy_org_id(&org.org_guid)
                .await?
                .ok_or_else(|| InvocationError::LegacyOrgIdNotFound {
                    guid: org.org_guid.clone(),
                })?,
        };
        Ok(ResolvedOrg {
            guid: org.org_guid,
            name: org.org_name,
            legacy_id,
        })
    }

    async fn ensure_setting(&self, org: &ResolvedOrg) -> Result<OrgReport, InvocationError> {
        let key = &self.config.watch_paths_key;
        let desired = &self.config.watch_paths;
        let before = self.code42.get_setting(org.legacy_id, key).await?;
        let finding = assess(before.as_ref(), desired);
        if finding.compliant() {
            self.cache.put(org, before.clone());
            return Ok(self.org_report(
                org,
                Status::Compliant,
                before.clone(),
                before,
                finding.describe(),
                false,
            ));
        }
        if self.mode == Mode::Verify {
            tracing::warn!(org = %org.guid, key, finding = %finding.describe(), "watch-path setting drifted (verify mode: not changed)");
            return Ok(self.org_report(
                org,
                Status::Drift,
                before,
                None,
                finding.describe(),
                false,
            ));
        }
        let items = merge(before.as_ref(), desired);
        tracing::info!(org = %org.guid, legacy_org_id = org.legacy_id, key, ?items, finding = %finding.describe(), "writing watch-path setting");
        self.code42
            .put_setting(org.legacy_id, key, &items, true)
            .await?;
        let after = self.code42.get_setting(org.legacy_id, key).await?;
        let check = assess(after.as_ref(), desired);
        if !check.compliant() {
            return Err(InvocationError::SettingNotVerified {
                key: key.clone(),
                org_id: org.legacy_id,
                readback: after
                    .map(|a| format!("{:?} locked={} scope={:?}", a.raw, a.locked, a.scope))
                    .unwrap_or_else(|| "no value".into()),
                finding: check.describe(),
            });
        }
        self.cache.put(org, after.clone());
        Ok(self.org_report(
            org,
            Status::Configured,
            before,
            after,
            finding.describe(),
            false,
        ))
    }

    fn org_report(
        &self,
        org: &ResolvedOrg,
        status: Status,
        before: Option<SettingSnapshot>,
        after: Option<SettingSnapshot>,
        finding: String,
        cached: bool,
    ) -> OrgReport {
        OrgReport {
            org_guid: org.guid.clone(),
            org_name: org.name.clone(),
            legacy_org_id: org.legacy_id,
            setting_key: self.config.watch_paths_key.clone(),
            status,
            before,
            after,
            finding,
            cached,
        }
    }

    async fn reconcile_workspace(
        &self,
        target: &Target,
        org: &ResolvedOrg,
    ) -> (WorkspaceReport, Option<Code42Error>) {
        let mut report = WorkspaceReport::new(Some(target.workspace_id.as_str()), Status::Failed);
        report.directory_id = target.directory_id.as_ref().map(ToString::to_string);
        report.workspaces_user = target.user_name.clone();
        let span = tracing::info_span!("workspace", id = %target.workspace_id);
        let _enter = span.enter();
        match self.reconcile_one(target, org, &mut report).await {
            Ok(()) => (report, None),
            Err(failure) => {
                tracing::error!(error = %failure.message, retryable = failure.retryable, "WorkSpace failed");
                report.status = Status::Failed;
                report.error = Some(failure.message);
                report.retryable = Some(failure.retryable);
                (report, failure.global)
            }
        }
    }

    async fn describe(&self, target: &Target) -> Result<Option<WorkspaceInfo>, Failure> {
        if let Some(known) = &target.described {
            return Ok(Some(known.clone()));
        }
        let attempts = self.config.describe_attempts;
        for attempt in 1..=attempts {
            match self
                .workspaces
                .describe_workspace(&target.workspace_id)
                .await
            {
                Ok(Some(info)) => return Ok(Some(info)),
                Ok(None) => {}
                Err(e) if e.retryable && attempt < attempts => {
                    tracing::warn!(error = %e, "DescribeWorkspaces failed; retrying");
                }
                Err(e) => {
                    return Err(Failure {
                        message: e.to_string(),
                        retryable: e.retryable,
                        global: None,
                    });
                }
            }
            if attempt < attempts {
                tokio::time::sleep(self.config.describe_backoff * 2u32.pow(attempt - 1)).await;
            }
        }
        Ok(None)
    }

    async fn reconcile_one(
        &self,
        target: &Target,
        org: &ResolvedOrg,
        report: &mut WorkspaceReport,
    ) -> Result<(), Failure> {
        let info = self.describe(target).await?;
        if info.is_none() {
            tracing::warn!(
                "WorkSpace not visible in DescribeWorkspaces yet; using the event's user and directory"
            );
        }
        if let Some(info) = info.as_ref().filter(|i| i.known_not_windows()) {
            report.status = Status::Skipped;
            report.reason = Some(format!(
                "operating system {} is not Windows",
                info.operating_system.as_deref().unwrap_or_default()
            ));
            return Ok(());
        }
        // DescribeWorkspaces is the truth; the event is a hint.
        let described_user = info.as_ref().and_then(|i| i.user_name.clone());
        if let (Some(d), Some(e)) = (&described_user, &target.user_name)
            && d != e
        {
            tracing::warn!(described = %d, event = %e, "event and DescribeWorkspaces disagree on the user; using DescribeWorkspaces");
        }
        let user = described_user.or_else(|| target.user_name.clone()).ok_or_else(|| Failure {
            message: "the WorkSpace is not visible in DescribeWorkspaces yet and the event has no userName".into(),
            retryable: true,
            global: None,
        })?;
        report.workspaces_user = Some(user.clone());
        let directory_id = match info.as_ref().and_then(|i| i.directory_id.as_deref()) {
            Some(d) => Some(DirectoryId::parse(d).map_err(|e| Failure {
                message: format!("DescribeWorkspaces returned an {e}"),
                retryable: false,
                global: None,
            })?),
            None => target.directory_id.clone(),
        };
        report.directory_id = directory_id.as_ref().map(ToString::to_string);
        let directory_name = match (&directory_id, self.config.username.needs_directory_name()) {
            (Some(d), true) => self
                .workspaces
                .directory_name(d)
                .await
                .map_err(|e| Failure {
                    message: e.to_string(),
                    retryable: e.retryable,
                    global: None,
                })?,
            _ => None,
        };
        let username = self
            .config
            .username
            .map(
                &user,
                report.directory_id.as_deref().unwrap_or(""),
                directory_name.as_deref(),
            )
            .map_err(|e| Failure {
                message: e.to_string(),
                retryable: false,
                global: None,
            })?;
        report.code42_username = Some(username.clone());

        let Some(c42_user) = self.code42.find_user(&username).await? else {
            report.status = Status::Deferred;
            report.reason = Some(format!(
                "{username} is not in Code42 yet (the Code42 agent registers users at first sign-in); a later check will move them"
            ));
            return Ok(());
        };
        if !c42_user.active || c42_user.blocked {
            report.status = Status::Skipped;
            report.reason = Some(format!(
                "Code42 user {} is {}",
                c42_user.username,
                if c42_user.blocked {
                    "blocked"
                } else {
                    "deactivated"
                }
            ));
            return Ok(());
        }
        if c42_user.org_guid == org.guid {
            report.status = Status::Compliant;
            return Ok(());
        }
        report.outside_org = true;
        if let Some(reason) = self.move_refusal(&c42_user) {
            report.status = Status::Skipped;
            report.reason = Some(reason);
            return Ok(());
        }
        let mut action = Action::MoveUser {
            user_id: c42_user.user_id.clone(),
            username: c42_user.username.clone(),
            from_org_guid: c42_user.org_guid.clone(),
            from_org_name: c42_user.org_name.clone(),
            to_org_guid: org.guid.clone(),
            to_org_name: org.name.clone(),
            applied: false,
        };
        if self.mode == Mode::Verify {
            report.status = Status::Drift;
            report.reason = Some(format!(
                "would move {} from org {:?} to {:?}",
                c42_user.username, c42_user.org_name, org.name
            ));
            report.actions.push(action);
            return Ok(());
        }
        self.move_user(&c42_user, org).await?;
        tracing::warn!(
            user_id = %c42_user.user_id, username = %c42_user.username,
            from_org_guid = %c42_user.org_guid, from_org_name = %c42_user.org_name,
            to_org_guid = %org.guid, "moved Code42 user (and all of their devices)"
        );
        let Action::MoveUser { applied, .. } = &mut action;
        *applied = true;
        report.outside_org = false;
        report.status = Status::Configured;
        report.actions.push(action);
        Ok(())
    }

    /// Operator guard rails: protected orgs, and the optional allow-list.
    fn move_refusal(&self, user: &Code42User) -> Option<String> {
        let is = |list: &[String]| {
            list.iter()
                .any(|o| o == &user.org_guid || o == &user.org_name)
        };
        if is(&self.config.protected_orgs) {
            return Some(format!(
                "user is in protected org {:?} ({}); not moved",
                user.org_name, user.org_guid
            ));
        }
        if !self.config.move_from_orgs.is_empty() && !is(&self.config.move_from_orgs) {
            return Some(format!(
                "user's org {:?} ({}) is not in CODE42_MOVE_FROM_ORGS; not moved",
                user.org_name, user.org_guid
            ));
        }
        None
    }

    /// Move, re-reading the user after any failure before trying again,
    /// then confirm by reading the user back.
    async fn move_user(&self, user: &Code42User, org: &ResolvedOrg) -> Result<(), Failure> {
        for attempt in 1..=MOVE_ATTEMPTS {
            match self.code42.move_user(&user.user_id, &org.guid).await {
                Ok(()) => break,
                Err(e) if e.retryable() && attempt < MOVE_ATTEMPTS => {
                    tracing::warn!(error = %e, "move failed; re-reading the user before trying again");
                    if self.code42.get_user(&user.user_id).await?.org_guid == org.guid {
                        return Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(200) * attempt).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
        let now = self.code42.get_user(&user.user_id).await?;
        if now.org_guid != org.guid {
            return Err(Failure {
                message: format!(
                    "Code42 accepted the move of {} but the user is still in org {}",
                    user.username, now.org_guid
                ),
                retryable: true,
                global: None,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
