//! Real implementations of the ports: AWS SDK clients and the Code42 HTTP API.
//! The binaries load the AWS configuration and hand it in here.

pub mod aws;
pub mod code42;
pub mod lambda;
pub mod ledger;
pub mod sqs;
pub mod traffic;

use std::sync::Arc;

use crate::app::App;
use crate::config::Config;

use self::aws::{AwsWorkspaces, SecretsManagerSource};
use self::code42::Code42Client;
use self::ledger::DynamoLedger;
use self::sqs::SqsWorkQueue;
use crate::ports::Ledger;

/// The application on AWS and Code42.
pub type AwsApp = App<AwsWorkspaces, Code42Client, SqsWorkQueue>;

/// Wire the real adapters from a loaded AWS configuration.
pub fn aws_app(config: Config, sdk: &aws_config::SdkConfig) -> AwsApp {
    let secrets = Arc::new(SecretsManagerSource::new(
        sdk,
        config.code42.secret_id.clone(),
    ));
    let code42 = Code42Client::new(&config.code42, secrets)
        .expect("the HTTP client builds with static settings");
    let queue = config
        .runs
        .work_queue_url
        .clone()
        .map(|url| SqsWorkQueue::new(sdk, url));
    let ledger = config.runs.ledger_table.clone().map(|table| {
        Arc::new(DynamoLedger::new(sdk, table, config.runs.ledger_retention)) as Arc<dyn Ledger>
    });
    let workspaces = AwsWorkspaces::new(sdk, config.aws.member_role.clone());
    let app = App::new(config, workspaces, code42, queue);
    match ledger {
        Some(ledger) => app.with_ledger(ledger),
        None => app,
    }
}
