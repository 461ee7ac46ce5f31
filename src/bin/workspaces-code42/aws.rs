//! AWS credentials, region and the deployed function's configuration: the
//! application wired for a run of the CLI.

use workspaces_code42::adapters::lambda::function_environment;
use workspaces_code42::adapters::{AwsApp, aws_app};
use workspaces_code42::config::Config;

use crate::args::FleetArgs;

/// How to reach AWS, and whose settings to run with.
pub(crate) struct AwsOptions {
    pub(crate) function_name: Option<String>,
    pub(crate) profile: Option<String>,
    /// The profile was named on the command line: its credentials, not the environment's.
    pub(crate) profile_flag: bool,
    pub(crate) region: Option<String>,
    /// Variables the command line sets (--accounts, --regions): they win
    /// over the environment and the deployed function's.
    pub(crate) overrides: Vec<(&'static str, String)>,
}

impl AwsOptions {
    /// A variable as the command line, else the environment, sets it.
    fn lookup(&self, name: &str) -> Option<String> {
        self.overrides
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    }
}

/// The application on AWS: AWS from the standard chain (with --profile and
/// --region), configuration from the environment over the deployed
/// function's (with --function-name), then the command line's overrides.
pub(crate) async fn app_from_env(
    aws: &AwsOptions,
    adjust: impl FnOnce(&mut Config),
) -> anyhow::Result<AwsApp> {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(profile) = &aws.profile {
        loader = loader.profile_name(profile);
        if aws.profile_flag {
            // The default chain reads AWS_ACCESS_KEY_ID before any profile:
            // `--profile prod` must not quietly run with other keys. The
            // region (--region or AWS_REGION) serves role and SSO look-ups.
            use aws_sdk_workspaces::config::ProvideCredentials;
            let region = aws.region.clone().map(aws_config::Region::new);
            let credentials = aws_config::profile::ProfileFileCredentialsProvider::builder()
                .configure(
                    &aws_config::provider_config::ProviderConfig::default().with_region(region),
                )
                .profile_name(profile)
                .build();
            // Said here, by name: the SDK's first call would only say that
            // "the credential provider was not enabled".
            if let Err(e) = credentials.provide_credentials().await {
                anyhow::bail!(
                    "AWS profile {profile:?} cannot be used ({}): check that it exists (`aws configure list-profiles`), or run `aws sso login --profile {profile}`",
                    workspaces_code42::error::chain(&e)
                );
            }
            loader = loader.credentials_provider(credentials);
        }
    }
    if let Some(region) = &aws.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    let mut config = match &aws.function_name {
        None => Config::from_lookup(|k| aws.lookup(k))?,
        Some(name) => {
            let deployed = function_environment(&sdk, name).await?;
            let (config, overridden) = Config::from_deployed(&deployed, |k| aws.lookup(k))?;
            eprintln!(
                "using the configuration of function {name} ({} setting(s)){}",
                deployed.len(),
                if overridden.is_empty() {
                    String::new()
                } else {
                    format!("; overridden here: {}", overridden.join(", "))
                }
            );
            config
        }
    };
    adjust(&mut config);
    let app = aws_app(config, &sdk);
    // Who runs this: the ledger records it as the origin of every write.
    match aws_sdk_sts::Client::new(&sdk)
        .get_caller_identity()
        .send()
        .await
    {
        Ok(identity) => {
            if let Some(arn) = identity.arn() {
                app.set_caller(arn);
            }
        }
        Err(e) => {
            tracing::debug!(error = %workspaces_code42::error::chain(&e), "cannot tell the caller's ARN (STS)")
        }
    }
    Ok(app)
}

pub(crate) async fn build(
    aws: &AwsOptions,
    args: &FleetArgs,
    queue_url: Option<String>,
) -> anyhow::Result<AwsApp> {
    app_from_env(aws, |config| {
        if let Some(n) = args.concurrency.filter(|n| *n > 0) {
            config.code42.concurrency = n;
        }
        if queue_url.is_some() {
            config.runs.work_queue_url = queue_url;
        }
    })
    .await
}
