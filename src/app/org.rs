//! The WorkSpaces org: resolve it, then bring each of its policies to the
//! desired state (apply) or report the difference (verify). Every write is
//! merged and verified by reading it back.

use crate::config::{Config, Mode};
use crate::domain::backup::{BackupAssessment, assess_backup, backup_sets, merge_backup};
use crate::domain::orgs::{MoveGuards, ResolvedOrg, legacy_id_of};
use crate::domain::policy::OrgPolicy;
use crate::domain::report::{OrgReport, PolicyReport, Status};
use crate::domain::watch_paths::SettingSnapshot;
use crate::error::InvocationError;
use crate::ports::{Clock, Code42};

use super::cache::OrgCache;

pub struct OrgCheck<'a, C> {
    pub config: &'a Config,
    pub mode: Mode,
    pub code42: &'a C,
    pub cache: &'a OrgCache,
    pub clock: &'a dyn Clock,
}

impl<C: Code42> OrgCheck<'_, C> {
    /// Resolve the org and check every policy. A recent compliant check is
    /// reused when `reuse_recent` (the creation/sign-in apply path only).
    pub async fn run(
        &self,
        reuse_recent: bool,
    ) -> Result<(ResolvedOrg, OrgReport), InvocationError> {
        let policies = self.config.org_policies();
        let now = self.clock.now();
        if reuse_recent
            && let Some(((org, reports), _)) = self.cache.get(&(), self.config.org_check_ttl, now)
        {
            let reports = reports
                .into_iter()
                .map(|r| PolicyReport {
                    status: Status::Compliant,
                    before: r.after.clone(),
                    finding: "compliant".into(),
                    would_write: None,
                    ..r
                })
                .collect();
            let report = OrgReport::new(&org, reports, true);
            return Ok((org, report));
        }
        let org = self.resolve().await?;
        // Protected orgs fail closed: a name Code42 does not list is a typo
        // that would leave its users unprotected.
        if !org.guards.unknown_protected.is_empty() {
            return Err(InvocationError::ProtectedOrgsUnknown {
                names: org
                    .guards
                    .unknown_protected
                    .iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let mut reports = Vec::new();
        for policy in &policies {
            reports.push(self.ensure(&org, policy.as_ref()).await?);
        }
        if let Some(paths) = self.config.backup_paths() {
            reports.push(self.ensure_backup(&org, paths).await?);
        }
        if reports.iter().all(|r| r.status != Status::Drift) {
            self.cache
                .put((), (org.clone(), reports.clone()), self.clock.now());
        }
        let report = OrgReport::new(&org, reports, false);
        Ok((org, report))
    }

    pub(crate) async fn resolve(&self) -> Result<ResolvedOrg, InvocationError> {
        let wanted = &self.config.org;
        let orgs = self.code42.list_orgs().await?;
        let active: Vec<_> = orgs.iter().filter(|o| o.active).collect();
        let by_guid = active.iter().find(|o| &o.org_guid == wanted);
        let by_name: Vec<_> = active.iter().filter(|o| &o.org_name == wanted).collect();
        let org = match (by_guid, by_name.as_slice()) {
            (Some(org), _) => (*org).clone(),
            (None, [org]) => (**org).clone(),
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
        // The console resources take a numeric id: written to only when the
        // console's own list maps it back to this org.
        let legacy = self.code42.legacy_orgs().await?;
        let legacy_id = legacy_id_of(
            &legacy,
            &org.org_guid,
            &org.org_name,
            self.config.org_legacy_id,
        )?;
        let guards = MoveGuards::new(
            &orgs,
            &self.config.protected_orgs,
            &self.config.move_from_orgs,
            self.config.skip_with_other_devices,
        );
        Ok(ResolvedOrg {
            guid: org.org_guid,
            name: org.org_name,
            legacy_id,
            guards,
        })
    }

    /// The backup file selection (Basic, Advanced, Gov F1): the whole org
    /// object is read, assessed, merged, written back and read back.
    /// Inherited defaults and locked sets are drift with a reason, not errors.
    async fn ensure_backup(
        &self,
        org: &ResolvedOrg,
        paths: &[String],
    ) -> Result<PolicyReport, InvocationError> {
        let before = self.code42.get_org_object(org.legacy_id).await?;
        let finding = assess_backup(&before, org.legacy_id, paths);
        let snapshot = |a: &BackupAssessment, raw: &serde_json::Value| {
            Some(SettingSnapshot {
                raw: backup_sets(raw).map(|v| v.to_string()).unwrap_or_default(),
                items: a.includes.clone(),
                unparsable: None,
                locked: !a.locked.is_empty(),
                scope: Some(
                    if a.inherited_from.is_some() {
                        "INHERITED"
                    } else {
                        "ORG"
                    }
                    .into(),
                ),
            })
        };
        let mut report = PolicyReport {
            policy: "backup_file_selection",
            setting_key: "deviceDefaults.serviceBackupConfig.backupConfig.backupSets".into(),
            status: Status::Compliant,
            before: snapshot(&finding, &before),
            after: snapshot(&finding, &before),
            finding: finding.describe(),
            would_write: None,
        };
        if finding.compliant() {
            return Ok(report);
        }
        let may_write = finding.inherited_from.is_none() || self.config.backup_break_inheritance;
        if finding.missing.is_empty() || !may_write {
            // Nothing this tool may change (locked sets, inherited defaults): report it.
            report.status = Status::Drift;
            if finding.inherited_from.is_some() {
                report.finding.push_str(
                    "; set CODE42_BACKUP_BREAK_INHERITANCE=true to write this org's own defaults (unverified API behaviour), or add the path on the providing org",
                );
            }
            return Ok(report);
        }
        let mut merged = merge_backup(&before, paths);
        if self.mode == Mode::Verify {
            report.status = Status::Drift;
            report.after = None;
            report.would_write = Some(assess_backup(&merged, org.legacy_id, paths).includes);
            return Ok(report);
        }
        if self.config.backup_publish {
            publish(&mut merged);
        }
        tracing::info!(org = %org.guid, legacy_org_id = org.legacy_id, finding = %report.finding, "writing the org's device backup defaults");
        self.code42.put_org_object(org.legacy_id, &merged).await?;
        let after = self.code42.get_org_object(org.legacy_id).await?;
        let check = assess_backup(&after, org.legacy_id, paths);
        if !check.missing.is_empty() {
            return Err(InvocationError::SettingNotVerified {
                key: report.setting_key.clone(),
                org_id: org.legacy_id,
                readback: check.includes.join(", "),
                finding: check.describe(),
            });
        }
        report.status = if check.compliant() {
            Status::Configured
        } else {
            Status::Drift
        };
        report.after = snapshot(&check, &after);
        report.finding = if check.compliant() {
            finding.describe()
        } else {
            check.describe()
        };
        Ok(report)
    }

    /// One policy: read, assess, and in apply mode merge, write (locked) and read back.
    async fn ensure(
        &self,
        org: &ResolvedOrg,
        policy: &dyn OrgPolicy,
    ) -> Result<PolicyReport, InvocationError> {
        let key = policy.key();
        let before = self.code42.get_setting(org.legacy_id, key).await?;
        let finding = policy.assess(before.as_ref());
        let mut report = PolicyReport {
            policy: policy.name(),
            setting_key: key.to_string(),
            status: Status::Compliant,
            before: before.clone(),
            after: before.clone(),
            finding: finding.describe(),
            would_write: None,
        };
        if finding.compliant() {
            return Ok(report);
        }
        if !finding.rewritable() {
            // Never write over a value we cannot read back item for item.
            let raw = before.as_ref().map(|b| b.raw.as_str()).unwrap_or_default();
            tracing::error!(org = %org.guid, key, raw, finding = %report.finding, "org setting cannot be parsed; left as it is");
            report.status = Status::Drift;
            report.finding = format!("{}; stored value: {raw:?}", report.finding);
            return Ok(report);
        }
        let items = policy.merge(before.as_ref());
        if self.mode == Mode::Verify {
            tracing::warn!(org = %org.guid, key, finding = %report.finding, "org setting drifted (a read-only check: left as it is)");
            report.status = Status::Drift;
            report.after = None;
            report.would_write = Some(items);
            return Ok(report);
        }
        tracing::info!(org = %org.guid, legacy_org_id = org.legacy_id, key, ?items, finding = %report.finding, "writing org setting");
        self.code42
            .put_setting(org.legacy_id, key, &items, true)
            .await?;
        let after = self.code42.get_setting(org.legacy_id, key).await?;
        let check = policy.assess(after.as_ref());
        if !check.compliant() {
            return Err(InvocationError::SettingNotVerified {
                key: key.to_string(),
                org_id: org.legacy_id,
                readback: after
                    .map(|a| format!("{:?} locked={} scope={:?}", a.raw, a.locked, a.scope))
                    .unwrap_or_else(|| "no value".into()),
                finding: check.describe(),
            });
        }
        report.status = Status::Configured;
        report.after = after;
        Ok(report)
    }
}

/// Ask devices to take the new defaults (reference §5c, unverified): the
/// `@publish` flag on the setting, `publishMode`, a fresh `configDateMs` and
/// `customConfig`. Off unless `CODE42_BACKUP_PUBLISH=true`.
fn publish(org: &mut serde_json::Value) {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    if let Some(defaults) = org
        .get_mut("deviceDefaults")
        .and_then(|d| d.as_object_mut())
    {
        defaults.insert("publishMode".into(), serde_json::json!(true));
        defaults.insert("configDateMs".into(), serde_json::json!(now_ms));
        if let Some(backup) = defaults
            .get_mut("serviceBackupConfig")
            .and_then(|b| b.as_object_mut())
        {
            backup.insert("@publish".into(), serde_json::json!(true));
        }
    }
    if let Some(o) = org.as_object_mut() {
        o.insert("customConfig".into(), serde_json::json!(true));
    }
}
