//! `doctor`: a read-only checklist of everything `apply` needs, each check
//! with what was found and the exact fix. Nothing is ever written.

use tokio::time::Instant;

use crate::config::{Mode, SettingsRoute};
use crate::domain::model::{Code42Org, FleetFilter};
use crate::domain::orgs::{ResolvedOrg, unknown_orgs};
use crate::domain::report::{Check, CheckResult, InvocationReport};
use crate::error::{Code42Error, InvocationError};
use crate::ports::{Code42, Code42OrgPolicies, Code42Service, WorkQueue, Workspaces};

use super::context::App;
use super::org::{OrgCheck, read_policy};
use super::terminate::backup_refusal;

/// User names tried against Code42 (a sample, not the fleet).
const SAMPLE: usize = 5;

/// What one route of the console resources gave: the org, its watch-path key read.
type Probed = ResolvedOrg;

/// The route the configuration would end up on, if it answers. With the
/// spelling unset the client tries `OrgSettings`, and `OrgSetting` only after
/// a 404 (any other error is final), so the doctor judges it the same way.
fn configured_answer<'p>(
    probes: &'p [(SettingsRoute, Result<Probed, InvocationError>)],
    config: &crate::config::Config,
) -> Option<&'p (SettingsRoute, Result<Probed, InvocationError>)> {
    for probe in probes
        .iter()
        .filter(|(r, _)| r.is_configured(&config.code42))
    {
        match &probe.1 {
            Ok(_) => return Some(probe),
            Err(InvocationError::Code42(Code42Error::Rejected { status: 404, .. })) => continue,
            Err(_) => return None,
        }
    }
    None
}

/// The "org settings resource" check over every route probed: the route
/// and org to read the policies with (the configured route when it answers).
fn settings_route_check(
    probes: &[(SettingsRoute, Result<Probed, InvocationError>)],
    config: &crate::config::Config,
    checks: &mut Vec<Check>,
) -> Option<(SettingsRoute, ResolvedOrg)> {
    let tried = probes
        .iter()
        .map(|(route, outcome)| {
            let answer = match outcome {
                Ok(_) => "answers".to_string(),
                Err(e) => short_error(e),
            };
            let (host, token) = (route.host.as_str(), route.token.as_str());
            format!("{host}/{token}/{}: {answer}", route.spelling)
        })
        .collect::<Vec<_>>()
        .join("; ");
    let answering: Vec<_> = probes.iter().filter(|(_, o)| o.is_ok()).collect();
    let configured = configured_answer(probes, config);
    let Some((route, Ok(org))) = configured.or(answering.first().copied()) else {
        checks.push(Check::fail(
            "org settings resource",
            format!("no host/token/spelling answers (host/token/spelling: {tried})"),
            "the API client's role must read org settings (Customer Cloud Admin); check console_url in the secret (the console host) and the network path to it",
        ));
        return None;
    };
    checks.push(if configured.is_some() {
        Check::pass(
            "org settings resource",
            format!(
                "answers with {}; {} of {} host/token/spelling combinations answer",
                route.as_env(),
                answering.len(),
                probes.len()
            ),
        )
    } else {
        Check::fail(
            "org settings resource",
            format!("the configured host/token/spelling does not answer (host/token/spelling: {tried})"),
            format!(
                "set {} (template parameters SettingsHost, SettingsToken, SettingsPath) and run doctor again",
                route.as_env()
            ),
        )
    });
    Some((*route, org.clone()))
}

/// How a route failed, in a few words.
fn short_error(e: &InvocationError) -> String {
    match e {
        InvocationError::Code42(c) => match c {
            Code42Error::Unauthorized { .. } => "401 (token refused)".into(),
            Code42Error::Forbidden { .. } => "403".into(),
            Code42Error::Rejected { status, .. }
            | Code42Error::Server { status, .. }
            | Code42Error::Redirected { status, .. } => format!("HTTP {status}"),
            Code42Error::Unreachable { .. } => "unreachable".into(),
            Code42Error::RateLimited { .. } => "429".into(),
            other => other.to_string(),
        },
        other => other.to_string(),
    }
}

impl<W: Workspaces, C: Code42Service, Q: WorkQueue> App<W, C, Q> {
    pub async fn doctor(&self, deadline: Instant) -> InvocationReport {
        let mut report = self.report("doctor");
        let mut checks = Vec::new();
        let c = &self.config;
        checks.push(Check::pass(
            "configuration",
            format!(
                "mode {}, org {:?}, secret {:?}, watch-path key {}",
                c.mode.as_str(),
                c.org.name_or_guid,
                c.code42.secret_id,
                c.org.watch_paths_key
            ),
        ));
        self.check_directories(&mut checks).await;
        let code42 = self.code42.session(deadline);
        if let Some(orgs) = self.check_code42_access(&code42, &mut checks).await {
            self.check_org_and_settings(&code42, &orgs, deadline, &mut checks)
                .await;
            self.check_usernames(&code42, &mut checks).await;
        }
        checks.push(match c.plan {
            None => Check::warn(
                "plan",
                "CODE42_PLAN is not set: agent versions are not checked",
                "set CODE42_PLAN (template parameter Plan) to professional, enterprise, horizon, gov-f2, basic, advanced or gov-f1",
            ),
            Some(p) => Check::pass(
                "plan",
                format!("agents must be at {} or newer", p.minimum_agent_version()),
            ),
        });
        if let Some(plan) = c
            .plan
            .filter(|p| p.manages_backup() && c.terminate.deactivate_on_terminate)
        {
            checks.push(if c.terminate.deactivate_with_backup {
                Check::warn(
                    "terminate clean-up",
                    format!("on: deactivating a terminated WorkSpace's agent sends its archive to cold storage for eventual deletion (plan {})", plan.as_str()),
                    "keep CODE42_DEACTIVATE_WITH_BACKUP=true only if those archives may go",
                )
            } else {
                Check::warn(
                    "terminate clean-up",
                    format!("refused: {}", backup_refusal(plan.as_str())),
                    "leave it refused to keep the archives; or set CODE42_DEACTIVATE_ON_TERMINATE=false to silence this",
                )
            });
        }
        report.note = Some(match checks.iter().filter(|c| c.result == CheckResult::Fail).count() {
            0 => "everything apply needs works (warnings are what apply would change or recommended settings)".into(),
            n => format!("{n} check(s) failed: apply would not work; fix them and run doctor again"),
        });
        report.doctor = Some(checks);
        report
    }

    /// The directories in every served account and region (each member
    /// account through its role: a role that cannot be assumed fails here).
    async fn check_directories(&self, checks: &mut Vec<Check>) {
        let home = match self.workspaces.home().await {
            Ok(home) => home,
            Err(e) => {
                checks.push(Check::fail(
                    "workspaces directories",
                    e.to_string(),
                    "check the AWS credentials and region",
                ));
                return;
            }
        };
        let scope = match self.scope().await {
            Ok(scope) => scope,
            Err(e) => {
                checks.push(Check::fail(
                    "organization accounts",
                    e.to_string(),
                    "run from the organization's management account or a delegated administrator (organizations:ListAccounts), or set CODE42_ACCOUNTS to the account ids",
                ));
                return;
            }
        };
        if self.config.aws.organization {
            checks.push(Check::pass(
                "organization accounts",
                format!(
                    "{} active account(s): {}",
                    scope.accounts.len(),
                    scope.accounts.join(", ")
                ),
            ));
        }
        let locations = scope.locations(&home);
        let multi = locations.len() > 1;
        for at in &locations {
            let named = |text: String| {
                if multi { format!("{at}: {text}") } else { text }
            };
            checks.push(match self.workspaces.list_directories(at).await {
                Ok(dirs) if dirs.is_empty() => Check::warn(
                    "workspaces directories",
                    named("no directory is registered with WorkSpaces in this region".into()),
                    "check AWS_REGION (or --region), CODE42_REGIONS and the account",
                ),
                Ok(dirs) => Check::pass(
                    "workspaces directories",
                    named(
                        dirs.iter()
                            .map(|d| {
                                format!(
                                    "{} ({}, {})",
                                    d.directory_id,
                                    d.kind.as_deref().unwrap_or("?"),
                                    d.name.as_deref().unwrap_or("no DNS name")
                                )
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                    ),
                ),
                Err(e) if self.config.aws.organization && e.is_role_not_assumable() => Check::warn(
                    "workspaces directories",
                    named(e.to_string()),
                    "an organization account without the member role is not served: deploy infra/member.yaml there by hand (the StackSet skips the management account) if it has WorkSpaces",
                ),
                Err(e) => Check::fail(
                    "workspaces directories",
                    named(e.to_string()),
                    "check the AWS credentials and region; the role needs workspaces:DescribeWorkspaceDirectories and DescribeWorkspaces (a member account: infra/member.yaml deployed there, and sts:AssumeRole on its role)",
                ),
            });
        }
    }

    /// The secret, the host policy and the gateway token, through the first
    /// Code42 call; the orgs when it works.
    async fn check_code42_access(
        &self,
        code42: &impl Code42,
        checks: &mut Vec<Check>,
    ) -> Option<Vec<Code42Org>> {
        match code42.list_orgs().await {
            Ok(orgs) => {
                checks.push(Check::pass(
                    "code42 secret",
                    format!(
                        "secret {:?} read and well formed; its hosts pass the host policy",
                        self.config.code42.secret_id
                    ),
                ));
                checks.push(Check::pass(
                    "gateway token",
                    format!("accepted; {} org(s) visible", orgs.len()),
                ));
                Some(orgs)
            }
            Err(Code42Error::Secret(e)) => {
                checks.push(Check::fail(
                    "code42 secret",
                    e.to_string(),
                    "fix the secret as the message says (see the secret's format in docs/configuration.md)",
                ));
                None
            }
            Err(e @ Code42Error::Unauthorized { .. }) => {
                checks.push(Check::pass("code42 secret", "read and well formed"));
                checks.push(Check::fail(
                    "gateway token",
                    e.to_string(),
                    "check api_client_id / api_client_secret and that the API client is enabled",
                ));
                None
            }
            Err(e) => {
                checks.push(Check::fail(
                    "code42 api",
                    e.to_string(),
                    "check api_url in the secret and the network path to Code42",
                ));
                None
            }
        }
    }

    async fn check_org_and_settings(
        &self,
        code42: &impl Code42,
        orgs: &[Code42Org],
        deadline: Instant,
        checks: &mut Vec<Check>,
    ) {
        self.check_org_lists(orgs, checks);
        if !self.check_target_org(code42, checks).await {
            return;
        }
        // The console resources (the org's numeric id, OrgSettings) on every
        // host, token and spelling: which answer, and which the configuration uses.
        let probes = futures::future::join_all(
            SettingsRoute::candidates(&self.config.code42)
                .into_iter()
                .map(|route| self.probe_route(route, deadline)),
        )
        .await;
        if let Some((route, org)) = settings_route_check(&probes, &self.config, checks) {
            let code42 = self.code42.session_on_route(deadline, route);
            self.check_setting_values(&code42, &org, checks).await;
        }
    }

    /// The protected and move-from orgs exist.
    fn check_org_lists(&self, orgs: &[Code42Org], checks: &mut Vec<Check>) {
        let users = &self.config.users;
        for (name, list, fix) in [
            (
                "protected orgs",
                &users.protected_orgs,
                "CODE42_PROTECTED_ORGS names an org that does not exist: a typo would leave its users unprotected, so every run refuses to start until it is fixed",
            ),
            (
                "move-from orgs",
                &users.move_from_orgs,
                "CODE42_MOVE_FROM_ORGS names an org that does not exist",
            ),
        ] {
            if list.is_empty() {
                continue;
            }
            let unknown = unknown_orgs(orgs, list);
            checks.push(if unknown.is_empty() {
                Check::pass(name, format!("all exist: {}", list.join(", ")))
            } else {
                let names: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
                Check::fail(name, format!("not found: {}", names.join(", ")), fix)
            });
        }
    }

    /// The target org resolves; false when it does not exist or is ambiguous
    /// (nothing further can be checked).
    async fn check_target_org(&self, code42: &impl Code42, checks: &mut Vec<Check>) -> bool {
        let e = match self.read_only_org_check(code42).resolve().await {
            Ok(org) => {
                checks.push(Check::pass(
                    "target org",
                    format!(
                        "{:?} ({}), numeric id {} (console resources answer)",
                        org.name, org.guid, org.legacy_id
                    ),
                ));
                return true;
            }
            Err(e) => e,
        };
        if matches!(
            e,
            InvocationError::OrgNotFound { .. } | InvocationError::OrgAmbiguous { .. }
        ) {
            checks.push(Check::fail(
                "target org",
                e.to_string(),
                "set CODE42_ORG to the WorkSpaces org's orgGuid or exact name (create the org first, as Code42's guide says)",
            ));
            return false;
        }
        let fix = match &e {
            InvocationError::OrgId(problem) => problem.fix(),
            _ => {
                "the numeric id comes from the console resources: see the org settings resource check for the host and token that answer (or set CODE42_ORG_ID)"
            }
        };
        // The gateway token already worked: a 401 here is the console
        // resources refusing the configured token, not bad credentials.
        let found = match &e {
            InvocationError::Code42(Code42Error::Unauthorized { what, .. }) => format!(
                "the org's numeric id could not be read: {what} refused the {} token on the {} host; the credentials themselves work (see the gateway token check)",
                self.config.code42.settings_token.as_str(),
                self.config.code42.settings_host.as_str()
            ),
            other => other.to_string(),
        };
        checks.push(Check::fail("target org", found, fix));
        true
    }

    /// The org check in verify mode: the doctor never writes.
    pub(crate) fn read_only_org_check<'a, K: Code42>(&'a self, code42: &'a K) -> OrgCheck<'a, K> {
        OrgCheck {
            config: &self.config,
            mode: Mode::Verify,
            code42,
            cache: &self.org_cache,
            clock: self.clock.as_ref(),
            ledger: None,
        }
    }

    /// Resolve the org and read the watch-path key over one route.
    async fn probe_route(
        &self,
        route: SettingsRoute,
        deadline: Instant,
    ) -> (SettingsRoute, Result<Probed, InvocationError>) {
        let code42 = self.code42.session_on_route(deadline, route);
        let outcome = async {
            let org = self.read_only_org_check(&code42).resolve().await?;
            code42
                .get_setting(org.legacy_id, &self.config.org.watch_paths_key)
                .await?;
            Ok(org)
        }
        .await;
        (route, outcome)
    }

    /// Each org policy's stored value, and an `artemis_` key beside the watch paths.
    async fn check_setting_values(
        &self,
        code42: &impl Code42OrgPolicies,
        org: &ResolvedOrg,
        checks: &mut Vec<Check>,
    ) {
        for policy in self.config.org_policies() {
            let name = policy.id().check_name();
            checks.push(
                match read_policy(code42, org.legacy_id, policy.source()).await {
                    Ok(state) => policy.doctor_check(org, &state),
                    Err(e) => Check::fail(name, e.to_string(), policy.read_fix()),
                },
            );
        }
        let key = &self.config.org.watch_paths_key;
        if !key.starts_with("artemis_") {
            let artemis = format!("artemis_{key}");
            if let Ok(Some(found)) = code42.get_setting(org.legacy_id, &artemis).await {
                checks.push(Check::warn(
                    "artemis key",
                    format!("{artemis} exists ({:?})", found.raw),
                    format!("if your agents are the new Incydr agent, set CODE42_WATCH_PATHS_KEY={artemis}"),
                ));
            }
        }
    }

    /// The user-name template applied to a sample of real WorkSpaces users.
    async fn check_usernames(&self, code42: &impl Code42, checks: &mut Vec<Check>) {
        let listed = match self
            .list_fleet(&FleetFilter::default(), &super::fleet::NoProgress)
            .await
        {
            Ok((listed, _)) => listed,
            Err(e) => {
                checks.push(Check::fail(
                    "user names",
                    e.to_string(),
                    "the role needs workspaces:DescribeWorkspaces",
                ));
                return;
            }
        };
        let sample: Vec<_> = listed
            .iter()
            .filter(|w| !w.known_not_windows() && w.user_name.is_some())
            .take(SAMPLE)
            .collect();
        if sample.is_empty() {
            checks.push(Check::warn(
                "user names",
                "no Windows WorkSpace to try the user-name template on",
                "run doctor again once WorkSpaces exist",
            ));
            return;
        }
        let mut found = 0;
        let mut tried = Vec::new();
        for w in &sample {
            let user = w.user_name.as_deref().unwrap_or_default();
            let Ok(username) = self
                .code42_username(&w.location, user, w.directory_id.as_deref())
                .await
            else {
                continue;
            };
            if matches!(code42.find_user(&username).await, Ok(Some(_))) {
                found += 1;
            }
            tried.push(username);
        }
        let text = format!(
            "{found} of {} sample users found in Code42 ({})",
            sample.len(),
            tried.join(", ")
        );
        let fix = "check CODE42_USERNAME_TEMPLATE / CODE42_USERNAME_DOMAIN against the usernames in the Code42 console (users also appear only after their first sign-in)";
        checks.push(if found == sample.len() {
            Check::pass("user names", text)
        } else if found == 0 && sample.len() >= 2 {
            Check::fail("user names", text, fix)
        } else {
            Check::warn("user names", text, fix)
        });
    }
}
