//! Errors for people: one line, with the fix for the failures people hit first.

/// The error chain on one line, with the fix for the failures people hit first.
pub(crate) fn one_line(e: &anyhow::Error) -> String {
    let text = format!("{e:#}").replace('\n', " ");
    let lower = text.to_ascii_lowercase();
    if lower.contains("aws sso login") {
        return text; // the fix is already said
    }
    if lower.contains("sso") && (lower.contains("expired") || lower.contains("invalid")) {
        return format!(
            "{text} — the AWS SSO session has expired: run `aws sso login --profile {}`",
            std::env::var("AWS_PROFILE").unwrap_or_else(|_| "<profile>".into())
        );
    }
    if lower.contains("no credentials") || lower.contains("credentialsnotloaded") {
        return format!(
            "{text} — no AWS credentials: set AWS_PROFILE (or run `aws configure` / `aws sso login`)"
        );
    }
    text
}
