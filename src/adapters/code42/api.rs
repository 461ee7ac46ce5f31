//! An authenticated call: the route (gateway, or the console resources'
//! configured host and token), a token, and one fresh token after a 401.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::config::{SettingsHost, SettingsToken};
use crate::error::Code42Error;
use crate::secret::Credentials;

use super::Code42Session;
use super::credentials::TokenKind;
use super::transport::{Reply, Request, endpoint, parse_json, rejected};

impl Code42Session<'_> {
    /// An authenticated API call. `settings`: a console resource (host and
    /// token per configuration) rather than a gateway one.
    pub(super) async fn call(
        &self,
        method: Method,
        settings: bool,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<Reply, Code42Error> {
        let path = format!("/{}", segments.join("/"));
        let idempotent = method != Method::POST;
        let mut reauthenticated = false;
        loop {
            let (host, token_kind) = match self.route {
                Some(r) => (r.host, r.token),
                None => (self.client.settings_host, self.client.settings_token),
            };
            let kind = match (settings, token_kind) {
                (true, SettingsToken::Console) => TokenKind::Console,
                _ => TokenKind::Gateway,
            };
            let (secret, token) = self.token(kind).await?;
            let base = match (settings, host) {
                (true, SettingsHost::Console) => &secret.console_url,
                _ => &secret.api_url,
            };
            let url = endpoint(base, segments);
            let request = Request {
                method: &method,
                path: &path,
                retry_failures: idempotent,
                echo_body: true,
            };
            let reply = self
                .send_retrying(&request, |_| {
                    let mut req = self
                        .client
                        .http
                        .request(method.clone(), url.clone())
                        .bearer_auth(token.expose())
                        .header("Accept", "application/json")
                        .query(query);
                    if let Some(body) = body {
                        req = req.json(body);
                    }
                    req
                })
                .await?;
            match reply.status {
                StatusCode::UNAUTHORIZED if !reauthenticated => {
                    reauthenticated = true;
                    *self.client.token_slot(kind).lock().await = None;
                    if matches!(secret.credentials, Credentials::Token(_)) {
                        // A token kept in the secret may have been rotated.
                        self.client.secret(true).await?;
                    }
                    tracing::debug!(%method, path, "Code42 answered 401; retrying once with a fresh token");
                }
                StatusCode::UNAUTHORIZED => {
                    return Err(Code42Error::Unauthorized {
                        secret_id: self.client.secret_id.clone(),
                        what: format!("{method} {path}"),
                    });
                }
                StatusCode::FORBIDDEN => {
                    return Err(Code42Error::Forbidden {
                        method: method.to_string(),
                        path,
                    });
                }
                s if s.is_success() => return Ok(reply),
                _ => return Err(rejected(&method, &path, &reply)),
            }
        }
    }

    pub(super) async fn get_json(
        &self,
        settings: bool,
        segments: &[&str],
        query: &[(&str, String)],
    ) -> Result<Value, Code42Error> {
        let reply = self
            .call(Method::GET, settings, segments, query, None)
            .await?;
        parse_json(
            &Method::GET,
            &format!("/{}", segments.join("/")),
            &reply.body,
        )
    }
}
