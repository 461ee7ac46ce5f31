//! The deployed function's configuration (Lambda GetFunctionConfiguration),
//! so the CLI on a laptop runs with exactly the settings of the stack.

use std::collections::HashMap;

use aws_sdk_lambda::error::ProvideErrorMetadata;

use crate::error::AwsError;

/// The function's environment variables.
pub async fn function_environment(
    sdk: &aws_config::SdkConfig,
    function_name: &str,
) -> Result<HashMap<String, String>, AwsError> {
    let out = aws_sdk_lambda::Client::new(sdk)
        .get_function_configuration()
        .function_name(function_name)
        .send()
        .await
        .map_err(|e| AwsError {
            service: "Lambda",
            operation: "GetFunctionConfiguration",
            detail: match e.as_service_error() {
                Some(s) => format!(
                    "{}: {} (function {function_name:?}; the caller needs lambda:GetFunctionConfiguration on it)",
                    s.code().unwrap_or("error"),
                    s.message().unwrap_or("")
                ),
                None => crate::error::chain(&e),
            },
            retryable: false,
        })?;
    Ok(out
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default())
}
