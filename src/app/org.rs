//! The WorkSpaces org: resolve it, then bring each of its policies to the
//! desired state (apply) or report the difference (verify). Every write is
//! merged and verified by reading it back.

use crate::config::{Config, Mode};
use crate::domain::model::ResolvedOrg;
use crate::domain::policy::OrgPolicy;
use crate::domain::report::{OrgReport, PolicyReport, Status};
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
            && let Some(((org, snapshots), _)) = self.cache.get(&(), self.config.org_check_ttl, now)
        {
            let reports = policies
                .iter()
                .zip(snapshots)
                .map(|(p, snapshot)| PolicyReport {
                    policy: p.name(),
                    setting_key: p.key().to_string(),
                    status: Status::Compliant,
                    before: snapshot.clone(),
                    after: snapshot,
                    finding: "compliant".into(),
                    would_write: None,
                })
                .collect();
            let report = OrgReport::new(&org, reports, true);
            return Ok((org, report));
        }
        let org = self.resolve().await?;
        let mut reports = Vec::new();
        for policy in &policies {
            reports.push(self.ensure(&org, policy.as_ref()).await?);
        }
        if reports.iter().all(|r| r.status != Status::Drift) {
            let snapshots = reports.iter().map(|r| r.after.clone()).collect();
            self.cache
                .put((), (org.clone(), snapshots), self.clock.now());
        }
        let report = OrgReport::new(&org, reports, false);
        Ok((org, report))
    }

    async fn resolve(&self) -> Result<ResolvedOrg, InvocationError> {
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
            tracing::warn!(org = %org.guid, key, finding = %report.finding, "org setting drifted (verify mode: not changed)");
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
