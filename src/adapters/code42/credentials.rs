//! The Code42 secret and the tokens it yields: the secret re-read when it
//! ages or a 401 says it may have been rotated; tokens cached until shortly
//! before they expire, one per kind (gateway, console).

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::Code42Error;
use crate::secret::{Code42Secret, Credentials, Redacted};

use super::transport::{Request, endpoint, protocol};
use super::{Code42Client, Code42Session};

/// Refresh tokens this long before Code42 says they expire.
const TOKEN_EARLY_REFRESH: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum TokenKind {
    Gateway,
    Console,
}

pub(super) struct Token {
    value: Redacted,
    refresh_at: Instant,
}

impl Code42Client {
    /// The secret, re-read when asked (after a 401), and in any case once it
    /// is older than `secret_max_age`, so a rotation never needs a redeploy.
    pub(super) async fn secret(&self, reload: bool) -> Result<Arc<Code42Secret>, Code42Error> {
        let mut cached = self.secret.lock().await;
        if let Some((secret, read_at)) = cached.as_ref()
            && !reload
            && read_at.elapsed() < self.secret_max_age
        {
            return Ok(secret.clone());
        }
        let raw = self.secrets.fetch().await?;
        let secret = Arc::new(Code42Secret::parse(
            &self.secret_id,
            &raw,
            &self.allowed_hosts,
        )?);
        if let Some((old, _)) = cached.as_ref()
            && old.credentials != secret.credentials
        {
            tracing::info!("the Code42 credentials in the secret changed; dropping cached tokens");
            *self.gateway_token.lock().await = None;
            *self.console_token.lock().await = None;
        }
        *cached = Some((secret.clone(), Instant::now()));
        Ok(secret)
    }

    pub(super) fn token_slot(&self, kind: TokenKind) -> &Mutex<Option<Token>> {
        match kind {
            TokenKind::Gateway => &self.gateway_token,
            TokenKind::Console => &self.console_token,
        }
    }
}

impl Code42Session<'_> {
    /// The secret and a token of `kind`: cached until shortly before it
    /// expires. A token endpoint's 401 gets one re-read of the secret (the
    /// client secret may have been rotated) before it is an error.
    pub(super) async fn token(
        &self,
        kind: TokenKind,
    ) -> Result<(Arc<Code42Secret>, Redacted), Code42Error> {
        let mut reloaded = false;
        loop {
            let secret = self.client.secret(reloaded).await?;
            let (client_id, client_secret) = match &secret.credentials {
                Credentials::Token(t) => return Ok((secret.clone(), t.clone())),
                Credentials::ApiClient { id, secret } => (id.clone(), secret.clone()),
            };
            let mut slot = self.client.token_slot(kind).lock().await;
            if let Some(token) = slot.as_ref().filter(|t| t.refresh_at > Instant::now()) {
                return Ok((secret, token.value.clone()));
            }
            match self
                .fetch_token(kind, &secret, &client_id, &client_secret)
                .await
            {
                Ok(token) => {
                    let value = token.value.clone();
                    *slot = Some(token);
                    return Ok((secret, value));
                }
                Err(Code42Error::Unauthorized { .. }) if !reloaded => {
                    tracing::info!(
                        ?kind,
                        "the token endpoint refused the credentials; re-reading the secret once"
                    );
                    *slot = None;
                    reloaded = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn fetch_token(
        &self,
        kind: TokenKind,
        secret: &Code42Secret,
        client_id: &str,
        client_secret: &Redacted,
    ) -> Result<Token, Code42Error> {
        let (url, path) = match kind {
            TokenKind::Gateway => (endpoint(&secret.api_url, &["v1", "oauth"]), "/v1/oauth"),
            TokenKind::Console => {
                let mut u = endpoint(&secret.console_url, &["api", "v3", "oauth", "token"]);
                u.query_pairs_mut()
                    .append_pair("grant_type", "client_credentials");
                (u, "/api/v3/oauth/token")
            }
        };
        let method = Method::POST;
        let request = Request {
            method: &method,
            path,
            retry_failures: true,
            echo_body: false,
        };
        let reply = self
            .send_retrying(&request, |_| {
                self.client
                    .http
                    .post(url.clone())
                    .basic_auth(client_id, Some(client_secret.expose()))
                    .header("Accept", "application/json")
            })
            .await?;
        if reply.status == StatusCode::UNAUTHORIZED || reply.status == StatusCode::FORBIDDEN {
            return Err(Code42Error::Unauthorized {
                secret_id: self.client.secret_id.clone(),
                what: format!("token request POST {path}"),
            });
        }
        if !reply.status.is_success() {
            // A token endpoint's body is never echoed: it may carry credentials.
            return Err(Code42Error::Rejected {
                method: method.to_string(),
                path: path.to_string(),
                status: reply.status.as_u16(),
                excerpt: "(body withheld)".to_string(),
            });
        }
        let value: Value = serde_json::from_slice(&reply.body)
            .map_err(|_| protocol(&method, path, "the token response is not JSON"))?;
        // py42 reads the console token from the root or under "data".
        let root = value
            .get("data")
            .filter(|d| d.is_object())
            .unwrap_or(&value);
        let access = root
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| protocol(&method, path, "no access_token in the token response"))?;
        // 15 minutes when Code42 does not say (reference §1c).
        let expires_in = Duration::from_secs(
            root.get("expires_in")
                .and_then(Value::as_u64)
                .unwrap_or(900),
        );
        let lifetime = expires_in
            .checked_sub(TOKEN_EARLY_REFRESH)
            .unwrap_or(expires_in / 2);
        tracing::debug!(
            ?kind,
            expires_in_s = expires_in.as_secs(),
            "fetched a Code42 token"
        );
        Ok(Token {
            value: Redacted::new(access),
            refresh_at: Instant::now() + lifetime,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::ports::SecretSource;

    /// Counts reads; always answers the same secret.
    struct CountingSource(std::sync::atomic::AtomicU32);

    impl SecretSource for CountingSource {
        fn fetch(
            &self,
        ) -> futures::future::BoxFuture<'_, Result<String, crate::error::SecretError>> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Box::pin(async { Ok(r#"{"api_url": "http://127.0.0.1:9", "token": "t"}"#.to_string()) })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_secret_is_re_read_once_it_is_older_than_its_max_age() {
        let config = Config::from_lookup(|k| match k {
            "CODE42_SECRET_ID" => Some("s".into()),
            "CODE42_ORG" => Some("o".into()),
            "CODE42_SECRET_REFRESH_SECONDS" => Some("900".into()),
            _ => None,
        })
        .unwrap();
        let source = Arc::new(CountingSource(Default::default()));
        let client = Code42Client::new(&config.code42, source.clone()).unwrap();
        let reads = || source.0.load(std::sync::atomic::Ordering::SeqCst);
        client.secret(false).await.unwrap();
        client.secret(false).await.unwrap();
        assert_eq!(reads(), 1, "cached while young");
        tokio::time::advance(Duration::from_secs(901)).await;
        client.secret(false).await.unwrap();
        assert_eq!(reads(), 2, "re-read after 15 minutes");
        client.secret(true).await.unwrap();
        assert_eq!(reads(), 3, "re-read on demand (a 401)");
    }
}
