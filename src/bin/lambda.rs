//! The Lambda entry point (`bootstrap` on provided.al2023).
#![recursion_limit = "256"]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use workspaces_code42::adapters::aws_app;
use workspaces_code42::config::Config;

/// Stop retrying this long before Lambda's own deadline, so the function can
/// still report instead of being killed.
const DEADLINE_MARGIN: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Honours AWS_LAMBDA_LOG_LEVEL / RUST_LOG and AWS_LAMBDA_LOG_FORMAT=JSON.
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env().map_err(|e| {
        tracing::error!(error = %e, "cannot start");
        e
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let app = aws_app(config, &sdk);
    let app = &app;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let remaining = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
        let deadline = tokio::time::Instant::now() + remaining.saturating_sub(DEADLINE_MARGIN);
        // arn:partition:lambda:REGION:ACCOUNT:function:name — events from
        // any account or region not served are refused.
        let arn: Vec<&str> = event.context.invoked_function_arn.split(':').collect();
        if let (Some(region), Some(account)) = (arn.get(3), arn.get(4)) {
            app.serve_home(account, region);
        }
        let (outcome, metrics) = app.handle_measured(&event.payload, deadline).await;
        // CloudWatch Logs turns these lines into metrics (embedded metric format).
        for record in metrics.emf(&app.config().metrics_namespace, now_ms) {
            println!("{record}");
        }
        match outcome {
            Ok(output) => Ok(output.lambda_response()),
            Err(failure) => Err(Diagnostic {
                error_type: if failure.retryable() {
                    "Retryable"
                } else {
                    "NonRetryable"
                }
                .to_string(),
                error_message: failure.to_lambda_json().to_string(),
            }),
        }
    }))
    .await
}
