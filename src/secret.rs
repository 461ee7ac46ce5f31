//! The Code42 secret: a JSON document users create by hand in Secrets Manager.
//!
//! ```json
//! {"api_url": "https://api.us.code42.com",
//!  "console_url": "https://console.us.code42.com",   (optional)
//!  "api_client_id": "key-...", "api_client_secret": "..."}
//! ```
//! or `"token"` in place of the client id and secret. Unknown fields are
//! ignored. Errors name the field, never its value.

use std::fmt;
use std::net::IpAddr;

use serde_json::{Map, Value};
use url::Url;

use crate::error::SecretError;

/// A string that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The only way to read the value: grep-able at every use.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(redacted)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    ApiClient {
        id: String,
        secret: Redacted,
    },
    /// A ready bearer token; re-read from Secrets Manager on a 401.
    Token(Redacted),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code42Secret {
    pub api_url: Url,
    pub console_url: Url,
    pub credentials: Credentials,
}

impl Code42Secret {
    /// Parse and check the secret. `allowed_hosts` extends the URL policy.
    pub fn parse(id: &str, raw: &str, allowed_hosts: &[String]) -> Result<Self, SecretError> {
        let value: Value = serde_json::from_str(raw).map_err(|e| SecretError::NotJson {
            id: id.to_string(),
            // Position only: serde's messages can quote the offending text.
            detail: format!("syntax error at line {} column {}", e.line(), e.column()),
        })?;
        let Value::Object(fields) = value else {
            return Err(SecretError::NotJson {
                id: id.to_string(),
                detail: "the top level is not an object".to_string(),
            });
        };
        let field_error = |field: &'static str, problem: &str| SecretError::Field {
            id: id.to_string(),
            field,
            problem: problem.to_string(),
        };
        let api_url = string_field(&fields, "api_url")
            .map_err(|p| field_error("api_url", p))?
            .ok_or_else(|| {
                field_error(
                    "api_url",
                    "is missing: set it to your Code42 API URL, e.g. https://api.us.code42.com",
                )
            })?;
        let api_url =
            checked_url(&api_url, allowed_hosts).map_err(|p| field_error("api_url", &p))?;
        let console_url = match string_field(&fields, "console_url")
            .map_err(|p| field_error("console_url", p))?
        {
            Some(u) => {
                checked_url(&u, allowed_hosts).map_err(|p| field_error("console_url", &p))?
            }
            None => {
                checked_url(derive_console_url(&api_url).as_str(), allowed_hosts).map_err(|p| {
                    field_error(
                        "console_url",
                        &format!("is not set and the console host derived from api_url {p}"),
                    )
                })?
            }
        };
        let token = string_field(&fields, "token").map_err(|p| field_error("token", p))?;
        let client_id =
            string_field(&fields, "api_client_id").map_err(|p| field_error("api_client_id", p))?;
        let client_secret = string_field(&fields, "api_client_secret")
            .map_err(|p| field_error("api_client_secret", p))?;
        let credentials = match (client_id, client_secret, token) {
            (Some(id), Some(secret), _) => Credentials::ApiClient {
                id,
                secret: Redacted::new(secret),
            },
            (Some(_), None, None) => {
                return Err(field_error(
                    "api_client_secret",
                    "is missing (api_client_id is set)",
                ));
            }
            (None, Some(_), None) => {
                return Err(field_error(
                    "api_client_id",
                    "is missing (api_client_secret is set)",
                ));
            }
            (_, _, Some(token)) => Credentials::Token(Redacted::new(token)),
            (None, None, None) => {
                return Err(field_error(
                    "api_client_id",
                    "is missing: give api_client_id and api_client_secret (or token)",
                ));
            }
        };
        Ok(Code42Secret {
            api_url,
            console_url,
            credentials,
        })
    }
}

/// Ok(None) when absent or null; Err when present but not a non-empty string.
fn string_field(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, &'static str> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
        Some(Value::String(_)) => Err("is empty"),
        Some(_) => Err("must be a string"),
    }
}

/// https on a Code42 host; http or https on loopback (local emulators);
/// anything on an explicitly allowed host.
fn checked_url(raw: &str, allowed_hosts: &[String]) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|_| "is not a valid URL".to_string())?;
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    let loopback = host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let code42 = host == "code42.com" || host.ends_with(".code42.com");
    let allowed = match url.scheme() {
        "https" => code42 || loopback || allowed_hosts.contains(&host),
        // Plain http only to this machine, whatever the allow-list says.
        "http" => loopback,
        _ => false,
    };
    if !allowed {
        return Err("must be an https URL on a Code42 host (*.code42.com), or http(s) on a loopback address; list other hosts in CODE42_ALLOWED_HOSTS".to_string());
    }
    if url.username() != "" || url.password().is_some() {
        return Err("must not carry credentials".to_string());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".to_string());
    }
    Ok(url)
}

/// `api.<env>.code42.com` -> `console.<env>.code42.com` (US1 us, US2 us2,
/// federal/US3 gov, EU1 ie: reference §1c). Other hosts serve both.
fn derive_console_url(api_url: &Url) -> Url {
    let mut url = api_url.clone();
    if let Some(host) = api_url.host_str()
        && let Some(rest) = host.strip_prefix("api.")
        && rest.ends_with(".code42.com")
    {
        let _ = url.set_host(Some(&format!("console.{rest}")));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Code42Secret, SecretError> {
        Code42Secret::parse("code42/api", raw, &[])
    }

    #[test]
    fn api_client_secret_with_derived_console_url() {
        for (api, console) in [
            (
                "https://api.us.code42.com",
                "https://console.us.code42.com/",
            ),
            (
                "https://api.us2.code42.com",
                "https://console.us2.code42.com/",
            ),
            (
                "https://api.gov.code42.com",
                "https://console.gov.code42.com/",
            ),
            (
                "https://api.ie.code42.com",
                "https://console.ie.code42.com/",
            ),
        ] {
            let s = parse(&format!(
                r#"{{"api_url":"{api}","api_client_id":"key-1","api_client_secret":"s3cr3t","extra":1}}"#
            ))
            .unwrap();
            assert_eq!(s.console_url.as_str(), console);
            assert!(
                matches!(s.credentials, Credentials::ApiClient { ref id, .. } if id == "key-1")
            );
        }
    }

    #[test]
    fn token_secret_and_explicit_console_url() {
        let s = parse(r#"{"api_url":"http://127.0.0.1:4242","console_url":"http://127.0.0.1:4243","token":"t0k"}"#).unwrap();
        assert_eq!(s.console_url.port(), Some(4243));
        assert_eq!(s.credentials, Credentials::Token(Redacted::new("t0k")));
    }

    #[test]
    fn loopback_without_console_url_uses_the_same_host() {
        let s = parse(r#"{"api_url":"http://localhost:9","token":"t"}"#).unwrap();
        assert_eq!(s.console_url, s.api_url);
    }

    #[test]
    fn errors_name_the_field_never_the_value() {
        let cases = [
            (
                r#"{"api_client_id":"x","api_client_secret":"SECRETVALUE"}"#,
                "\"api_url\" is missing",
            ),
            (
                r#"{"api_url":"https://evil.example.com","token":"SECRETVALUE"}"#,
                "\"api_url\" must be an https URL",
            ),
            (
                r#"{"api_url":"http://api.us.code42.com","token":"SECRETVALUE"}"#,
                "\"api_url\" must be an https URL",
            ),
            (
                r#"{"api_url":"https://api.us.code42.com","api_client_id":"SECRETVALUE"}"#,
                "\"api_client_secret\" is missing",
            ),
            (
                r#"{"api_url":"https://api.us.code42.com","api_client_secret":"SECRETVALUE"}"#,
                "\"api_client_id\" is missing",
            ),
            (
                r#"{"api_url":"https://api.us.code42.com","token":5}"#,
                "\"token\" must be a string",
            ),
            (
                r#"{"api_url":"https://api.us.code42.com"}"#,
                "\"api_client_id\" is missing",
            ),
            (
                r#"{"api_url":"https://api.us.code42.com","token":"  "}"#,
                "\"token\" is empty",
            ),
            (r#"{"api_url": SECRETVALUE"#, "not a JSON object"),
            (r#"["SECRETVALUE"]"#, "not a JSON object"),
        ];
        for (raw, needle) in cases {
            let err = parse(raw).unwrap_err().to_string();
            assert!(err.contains(needle), "{raw}: {err}");
            assert!(!err.contains("SECRETVALUE"), "{raw}: leaked in {err}");
        }
    }

    #[test]
    fn allow_list_admits_other_hosts() {
        let raw = r#"{"api_url":"https://code42.proxy.example","token":"t"}"#;
        assert!(parse(raw).is_err());
        let secret = Code42Secret::parse("id", raw, &["code42.proxy.example".to_string()]).unwrap();
        assert_eq!(secret.api_url.host_str(), Some("code42.proxy.example"));
    }

    #[test]
    fn plain_http_only_to_loopback_even_for_allowed_hosts() {
        let raw = r#"{"api_url":"http://code42.proxy.example","token":"t"}"#;
        let err = Code42Secret::parse("id", raw, &["code42.proxy.example".to_string()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"api_url\""), "{err}");
    }

    #[test]
    fn a_derived_console_host_passes_the_same_host_policy() {
        // An allowed API host whose derived console host is not allowed.
        let raw = r#"{"api_url":"https://api.code42.proxy.example","token":"t"}"#;
        let allowed = ["api.code42.proxy.example".to_string()];
        assert!(
            Code42Secret::parse("id", raw, &allowed).is_ok(),
            "no derivation off code42.com"
        );
        let raw = r#"{"api_url":"https://api.evil-code42.com","token":"t"}"#;
        let allowed = ["api.evil-code42.com".to_string()];
        let s = Code42Secret::parse("id", raw, &allowed).unwrap();
        assert_eq!(
            s.console_url, s.api_url,
            "not derived from a look-alike domain"
        );
    }

    #[test]
    fn redacted_never_prints() {
        let c = Credentials::ApiClient {
            id: "key".into(),
            secret: Redacted::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(Redacted::new("x").to_string(), "(redacted)");
    }
}
