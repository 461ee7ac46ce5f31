//! The WorkSpaces org: resolve it, then bring each of its policies to the
//! desired state (apply) or report the difference (verify). Every write is
//! merged and verified by reading it back.

use crate::config::{Config, Mode};
use crate::domain::ledger::EntryState;
use crate::domain::orgs::{MoveGuards, ResolvedOrg, legacy_id_of};
use crate::domain::policy::{Judgement, OrgPolicy, PolicySource, PolicyState, PolicyWrite};
use crate::domain::report::{OrgReport, PolicyReport, Status};
use crate::error::{Code42Error, InvocationError};
use crate::ports::{Clock, Code42OrgPolicies, Code42Orgs};

use super::cache::OrgCache;
use super::ledger::{RunLedger, Subject};

pub struct OrgCheck<'a, C> {
    pub config: &'a Config,
    pub mode: Mode,
    pub code42: &'a C,
    pub cache: &'a OrgCache,
    pub clock: &'a dyn Clock,
    /// Where policy writes are recorded before they are made.
    pub ledger: Option<RunLedger<'a>>,
}

impl<C: Code42Orgs + Code42OrgPolicies> OrgCheck<'_, C> {
    /// Resolve the org and check every policy. A recent compliant check is
    /// reused when `reuse_recent` (the creation/sign-in apply path only).
    pub async fn run(
        &self,
        reuse_recent: bool,
    ) -> Result<(ResolvedOrg, OrgReport), InvocationError> {
        let policies = self.config.org_policies();
        let now = self.clock.now();
        if reuse_recent
            && let Some(((org, reports), _)) = self.cache.get(&(), self.config.org.check_ttl, now)
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
        // Each policy on its own: one that fails (its write not reading
        // back, an outage) is reported failed and blocks nothing else; only
        // a tenant-wide refusal (credentials, permissions) stops the run.
        let mut reports = Vec::new();
        for policy in &policies {
            reports.push(match self.ensure(&org, policy.as_ref()).await {
                Ok(report) => report,
                Err(InvocationError::Code42(e)) if e.global() => return Err(e.into()),
                Err(e) => {
                    let policy_name = policy.id().as_str();
                    tracing::error!(org = %org.guid, policy = policy_name, error = %e, "org policy failed; the other policies and the WorkSpaces go on");
                    PolicyReport::failed(policy.id(), policy.location(), e.to_string(), e.retryable())
                }
            });
        }
        if reports
            .iter()
            .all(|r| matches!(r.status, Status::Compliant | Status::Configured))
        {
            self.cache
                .put((), (org.clone(), reports.clone()), self.clock.now());
        }
        let report = OrgReport::new(&org, reports, false);
        Ok((org, report))
    }

    pub(crate) async fn resolve(&self) -> Result<ResolvedOrg, InvocationError> {
        let wanted = &self.config.org.name_or_guid;
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
            self.config.org.legacy_id,
        )?;
        let mut guards = MoveGuards::new(
            &orgs,
            &self.config.users.protected_orgs,
            &self.config.users.move_from_orgs,
            self.config.users.skip_with_other_devices,
        );
        // Users an undo moved back stay where they are (fail closed: holds
        // that cannot be read stop the run).
        if let Some(ledger) = self.ledger {
            guards.held = ledger.ledger.holds().await?.into_iter().collect();
        }
        Ok(ResolvedOrg {
            guid: org.org_guid,
            name: org.org_name,
            legacy_id,
            guards,
            device_count: org.computer_count,
        })
    }

    /// One policy: read, judge, and in apply mode merge, write and read back.
    /// Drift this tool may not change is reported, never written.
    async fn ensure(
        &self,
        org: &ResolvedOrg,
        policy: &dyn OrgPolicy,
    ) -> Result<PolicyReport, InvocationError> {
        let before = read_policy(self.code42, org.legacy_id, policy.source()).await?;
        let judged = policy.judge(org.legacy_id, &before);
        if let Some(ledger) = self.ledger.filter(|_| self.mode == Mode::Apply) {
            let current = judged.snapshot.as_ref().map(|s| s.raw.as_str());
            ledger
                .settle_dangling_policy(policy.id().as_str(), judged.settled, current)
                .await;
        }
        let mut report = PolicyReport {
            policy: policy.id(),
            setting_key: policy.location().to_string(),
            status: Status::Compliant,
            before: judged.snapshot.clone(),
            after: judged.snapshot.clone(),
            finding: judged.finding.clone(),
            would_write: None,
            error: None,
            retryable: None,
        };
        let policy_name = policy.id().as_str();
        if judged.compliant {
            return Ok(report);
        }
        report.status = Status::Drift;
        if !judged.writable {
            tracing::warn!(org = %org.guid, policy = policy_name, finding = %report.finding, "org policy drifted; this tool may not change it: left as it is");
            return Ok(report);
        }
        let planned = policy.plan_write(org.legacy_id, &before, unix_ms());
        if self.mode == Mode::Verify {
            tracing::warn!(org = %org.guid, policy = policy_name, finding = %report.finding, "org policy drifted (a read-only check: left as it is)");
            report.after = None;
            report.would_write = Some(planned.preview);
            return Ok(report);
        }
        tracing::info!(org = %org.guid, legacy_org_id = org.legacy_id, policy = policy_name, items = ?planned.preview, finding = %report.finding, "writing org policy");
        // Recorded before it is written: the value before and the one written.
        let written = planned.preview.join(", ");
        let entry = match self.ledger {
            Some(ledger) => {
                let subject = Subject {
                    username: None,
                    workspace_id: None,
                    origin: "org check",
                };
                // The value stored, exactly as read (None: not set).
                let before = judged.snapshot.as_ref().map(|s| s.raw.clone());
                let intent = ledger.intent(policy_name, subject, before, Some(written.clone()));
                Some((ledger, intent.await?))
            }
            None => None,
        };
        let written_back = self.write_and_read_back(org, policy, &planned.write).await;
        if let Some((ledger, entry)) = &entry {
            let state = match &written_back {
                Ok(_) => EntryState::Done,
                Err(_) => EntryState::Failed,
            };
            ledger.settle(entry, state, Some(&written)).await;
        }
        let check = written_back?;
        if check.compliant {
            report.status = Status::Configured;
        } else {
            report.finding = check.finding;
        }
        report.after = check.snapshot;
        Ok(report)
    }
}

impl<C: Code42Orgs + Code42OrgPolicies> OrgCheck<'_, C> {
    /// Write, read back, and judge what was read: an error when what the
    /// write brings is not there.
    async fn write_and_read_back(
        &self,
        org: &ResolvedOrg,
        policy: &dyn OrgPolicy,
        write: &PolicyWrite,
    ) -> Result<Judgement, InvocationError> {
        write_policy(self.code42, org.legacy_id, write).await?;
        let after = read_policy(self.code42, org.legacy_id, policy.source()).await?;
        let check = policy.judge(org.legacy_id, &after);
        if !check.settled {
            return Err(InvocationError::SettingNotVerified {
                key: policy.location().to_string(),
                org_id: org.legacy_id,
                readback: check.readback,
                finding: check.finding,
            });
        }
        Ok(check)
    }
}

/// What is stored for a policy, read from its source.
pub(crate) async fn read_policy(
    code42: &impl Code42OrgPolicies,
    legacy_org_id: i64,
    source: PolicySource<'_>,
) -> Result<PolicyState, Code42Error> {
    Ok(match source {
        PolicySource::Setting(key) => {
            PolicyState::Setting(code42.get_setting(legacy_org_id, key).await?)
        }
        PolicySource::OrgObject => {
            PolicyState::OrgObject(code42.get_org_object(legacy_org_id).await?)
        }
    })
}

async fn write_policy(
    code42: &impl Code42OrgPolicies,
    legacy_org_id: i64,
    write: &PolicyWrite,
) -> Result<(), Code42Error> {
    match write {
        PolicyWrite::Setting { key, items, locked } => {
            code42.put_setting(legacy_org_id, key, items, *locked).await
        }
        PolicyWrite::OrgObject(org) => code42.put_org_object(legacy_org_id, org).await,
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}
