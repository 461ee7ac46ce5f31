//! Sending a request to Code42: the process-wide rate limit, the adaptive
//! bound on requests in flight, the invocation's deadline, the retry policy
//! and bounded bodies.
//!
//! Retry policy (reference §7): 429 waits for `Retry-After` on every method,
//! but never past the invocation's deadline; 5xx and transport errors are
//! retried with backoff for GET/PUT and token requests only; a 401 gets one
//! fresh token (and, for a token kept in the secret, one re-read of the
//! secret) before it is an error. Moves are never blindly re-sent: the
//! caller re-reads the user first.

use std::time::{Duration, SystemTime};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tokio::time::Instant;
use url::Url;

use crate::error::Code42Error;

use super::Code42Session;
use crate::adapters::traffic::{Permit, Signal};

const MAX_ATTEMPTS: u32 = 3;
const MAX_RATE_LIMITED_ATTEMPTS: u32 = 4;
/// Full-jitter exponential backoff: a random wait up to BACKOFF × 2^(attempt-1), at most BACKOFF_CAP.
const BACKOFF: Duration = Duration::from_millis(200);
const BACKOFF_CAP: Duration = Duration::from_secs(10);
/// No Code42 answer this tool reads is near this size; a bigger one is refused.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Do not start a request with less time than this left.
const MIN_REQUEST_TIME: Duration = Duration::from_millis(250);

/// A response that is not a retried-away failure.
pub(super) struct Reply {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
}

/// What one request is, for the retry policy and its errors.
pub(super) struct Request<'r> {
    pub(super) method: &'r Method,
    pub(super) path: &'r str,
    /// Re-send after a 5xx or a transport failure (GET/PUT, tokens: never a move).
    pub(super) retry_failures: bool,
    /// Whether error messages may quote the response body (never for tokens).
    pub(super) echo_body: bool,
}

/// What one send came to.
enum Sent {
    Answered(Reply),
    /// Worth another send after `wait`, if the policy and the deadline allow;
    /// else `error`. A 429 (`rate_limited`) is not a failed attempt.
    Retry {
        wait: Duration,
        rate_limited: bool,
        error: Code42Error,
    },
    Failed(Code42Error),
}

impl Request<'_> {
    /// A 429: wait as `Retry-After` asks, else back off by every send so far.
    fn rate_limited(&self, response: &reqwest::Response, sent: u32) -> Sent {
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        Sent::Retry {
            wait: rate_limit_wait(retry_after, sent),
            rate_limited: true,
            error: Code42Error::RateLimited {
                method: self.method.to_string(),
                path: self.path.to_string(),
                retry_after: retry_after.map(|d| d.as_secs()),
            },
        }
    }

    fn server_error(&self, status: StatusCode, attempts: u32, body: &[u8]) -> Code42Error {
        Code42Error::Server {
            method: self.method.to_string(),
            path: self.path.to_string(),
            status: status.as_u16(),
            attempts,
            excerpt: if self.echo_body {
                excerpt(body)
            } else {
                "(body withheld)".to_string()
            },
        }
    }

    fn unreachable(&self, attempts: u32, detail: impl Into<String>) -> Code42Error {
        Code42Error::Unreachable {
            method: self.method.to_string(),
            path: self.path.to_string(),
            attempts,
            detail: detail.into(),
        }
    }
}

impl Code42Session<'_> {
    fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Sleep `wait` if that leaves time for another request.
    async fn wait_if_time_allows(&self, wait: Duration) -> bool {
        if wait + MIN_REQUEST_TIME >= self.remaining() {
            return false;
        }
        tokio::time::sleep(wait).await;
        true
    }

    /// Send with the 429 / 5xx / transport retry policy. Any other status is
    /// returned for the caller to interpret.
    pub(super) async fn send_retrying(
        &self,
        request: &Request<'_>,
        build: impl Fn(Duration) -> RequestBuilder,
    ) -> Result<Reply, Code42Error> {
        let (mut attempt, mut rate_limited, mut sent) = (0, 0, 0);
        loop {
            attempt += 1;
            let permit = self.permit_to_send(request, attempt - 1).await?;
            if sent > 0 {
                // A re-send, after a failure or a rate-limit wait.
                self.client.traffic.retried();
            }
            sent += 1;
            match self.send_once(request, attempt, sent, permit, &build).await {
                Sent::Answered(reply) => return Ok(reply),
                Sent::Failed(error) => return Err(error),
                Sent::Retry {
                    wait,
                    rate_limited: true,
                    error,
                } => {
                    rate_limited += 1;
                    if rate_limited < MAX_RATE_LIMITED_ATTEMPTS
                        && self.wait_if_time_allows(wait).await
                    {
                        tracing::info!(method = %request.method, path = request.path, wait_ms = wait.as_millis() as u64, "Code42 rate limited; waiting as asked");
                        attempt -= 1; // a rate-limit wait is not a failed attempt
                        continue;
                    }
                    return Err(error);
                }
                Sent::Retry { wait, error, .. } => {
                    if request.retry_failures
                        && attempt < MAX_ATTEMPTS
                        && self.wait_if_time_allows(wait).await
                    {
                        tracing::warn!(method = %request.method, path = request.path, attempt, %error, "Code42 request failed; retrying");
                        continue;
                    }
                    return Err(error);
                }
            }
        }
    }

    /// Time, the rate limit and a place among the requests in flight, or why
    /// the invocation cannot have them (`attempts`: sends so far that failed).
    async fn permit_to_send(
        &self,
        request: &Request<'_>,
        attempts: u32,
    ) -> Result<Permit<'_>, Code42Error> {
        if self.remaining() < MIN_REQUEST_TIME {
            return Err(request.unreachable(attempts, "the invocation ran out of time"));
        }
        if !self.rate_limit_permit().await {
            return Err(request.unreachable(
                attempts,
                "the invocation ran out of time waiting for the client-side rate limit (CODE42_MAX_RPS)",
            ));
        }
        let in_flight = self.client.in_flight.acquire();
        let until = self
            .deadline
            .checked_sub(MIN_REQUEST_TIME)
            .unwrap_or(self.deadline);
        tokio::time::timeout_at(until, in_flight).await.map_err(|_| {
            request.unreachable(
                attempts,
                "the invocation ran out of time waiting for a place among the requests in flight (CODE42_CONCURRENCY)",
            )
        })
    }

    /// One send, classified for the retry policy; the permit reports how the
    /// tenant answered (the adaptive bound) and is released with the body.
    async fn send_once(
        &self,
        request: &Request<'_>,
        attempt: u32,
        sent: u32,
        permit: Permit<'_>,
        build: &impl Fn(Duration) -> RequestBuilder,
    ) -> Sent {
        let (method, path) = (request.method, request.path);
        let timeout = self.remaining().min(self.client.request_timeout);
        let sent_at = Instant::now();
        let backoff = full_jitter(attempt);
        let response = match build(timeout).timeout(timeout).send().await {
            Ok(r) => r,
            Err(e) => {
                self.client.traffic.unanswered();
                permit.report(Signal::Neutral);
                let error = request.unreachable(attempt, transport_detail(e));
                return Sent::Retry {
                    wait: backoff,
                    rate_limited: false,
                    error,
                };
            }
        };
        let status = response.status();
        let latency = sent_at.elapsed();
        self.client.traffic.answered(status.as_u16(), latency);
        let congested = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
        permit.report(if congested {
            Signal::Congested
        } else {
            Signal::Answered(latency)
        });
        if status == StatusCode::TOO_MANY_REQUESTS {
            return request.rate_limited(&response, sent);
        }
        if status.is_redirection() {
            return Sent::Failed(Code42Error::Redirected {
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
            });
        }
        let body = match read_bounded(response).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => {
                let detail = format!("the response body is larger than {MAX_BODY_BYTES} bytes");
                return Sent::Failed(protocol(method, path, &detail));
            }
            Err(BodyError::Transport(e)) => {
                let error = request.unreachable(attempt, transport_detail(e));
                return Sent::Retry {
                    wait: backoff,
                    rate_limited: false,
                    error,
                };
            }
        };
        drop(permit);
        if status.is_server_error() {
            return Sent::Retry {
                wait: backoff,
                rate_limited: false,
                error: request.server_error(status, attempt, &body),
            };
        }
        Sent::Answered(Reply { status, body })
    }

    /// Wait for the process-wide rate limit; false if that would pass the deadline.
    async fn rate_limit_permit(&self) -> bool {
        let Some(limiter) = &self.client.limiter else {
            return true;
        };
        let budget = self.remaining().saturating_sub(MIN_REQUEST_TIME);
        tokio::time::timeout(budget, limiter.until_ready())
            .await
            .is_ok()
    }
}

/// A transport error with its causes ("error sending request" alone does not
/// say whether the name, the connection or TLS failed), without the URL.
fn transport_detail(e: reqwest::Error) -> String {
    crate::error::chain(&e.without_url())
}

/// A random wait in [0, min(cap, base × 2^(attempt-1))] ("full jitter").
fn full_jitter(attempt: u32) -> Duration {
    let ceiling = BACKOFF
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(BACKOFF_CAP);
    ceiling.mul_f64(fastrand::f64())
}

/// How long to wait after a 429: as asked, else backed off by every send so
/// far, so a 429 storm waits longer each time (a rate-limit wait does not
/// count as a failed attempt: the attempt number alone would not grow).
fn rate_limit_wait(retry_after: Option<Duration>, sends: u32) -> Duration {
    retry_after.unwrap_or_else(|| full_jitter(sends))
}

/// `Retry-After` as delay-seconds or as an HTTP date (RFC 9110 §10.2.3). A
/// date already past says nothing useful (clock skew): None, so the caller
/// backs off instead of hammering at once.
fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    at.duration_since(now).ok().filter(|d| !d.is_zero())
}

enum BodyError {
    TooLarge,
    Transport(reqwest::Error),
}

/// The body, refused once it grows past MAX_BODY_BYTES.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY_BYTES as u64)
    {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `base` + path segments, each percent-encoded (ids cannot change the path).
pub(super) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_string();
    }
    text.chars().take(300).collect()
}

pub(super) fn rejected(method: &Method, path: &str, reply: &Reply) -> Code42Error {
    Code42Error::Rejected {
        method: method.to_string(),
        path: path.to_string(),
        status: reply.status.as_u16(),
        excerpt: excerpt(&reply.body),
    }
}

pub(super) fn protocol(method: &Method, path: &str, detail: &str) -> Code42Error {
    Code42Error::Protocol {
        method: method.to_string(),
        path: path.to_string(),
        detail: detail.to_string(),
    }
}

pub(super) fn parse_json(method: &Method, path: &str, body: &[u8]) -> Result<Value, Code42Error> {
    serde_json::from_slice(body).map_err(|e| protocol(method, path, &e.to_string()))
}

pub(super) fn from_value<T: serde::de::DeserializeOwned>(
    method: &Method,
    path: &str,
    value: Value,
) -> Result<T, Code42Error> {
    serde_json::from_value(value).map_err(|e| protocol(method, path, &e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An unreachable host says why ("connection refused"), not only
    /// "error sending request", and never its URL.
    #[tokio::test]
    async fn a_transport_error_names_its_cause() {
        // Bound and held but never listening: the port refuses connections
        // for as long as the test runs (no other process can take it).
        let reserved = tokio::net::TcpSocket::new_v4().unwrap();
        reserved.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = reserved.local_addr().unwrap().port();
        let e = reqwest::get(format!("http://127.0.0.1:{port}/v1/oauth?secret=x"))
            .await
            .unwrap_err();
        let detail = transport_detail(e);
        assert!(
            detail.starts_with("error sending request")
                && detail.to_lowercase().contains("connection refused"),
            "{detail}"
        );
        assert!(
            !detail.contains("secret=x") && !detail.contains("127.0.0.1"),
            "{detail}"
        );
    }

    /// A loopback server answering every connection with `head` then `body_len`
    /// bytes of body (written in 64 KiB pieces; the client may stop reading).
    async fn serve_once(head: String, body_len: usize) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream.write_all(head.as_bytes()).await;
            let piece = vec![b'x'; 64 * 1024];
            let mut sent = 0;
            while sent < body_len {
                let n = piece.len().min(body_len - sent);
                if stream.write_all(&piece[..n]).await.is_err() {
                    return;
                }
                sent += n;
            }
        });
        url
    }

    /// Bodies up to 4 MiB are read; a larger one is refused, whether its
    /// Content-Length says so up front or it just keeps coming.
    #[tokio::test]
    async fn response_bodies_are_bounded_at_4_mib() {
        let exact = serve_once(
            format!("HTTP/1.1 200 OK\r\ncontent-length: {MAX_BODY_BYTES}\r\n\r\n"),
            MAX_BODY_BYTES,
        )
        .await;
        let body = read_bounded(reqwest::get(exact).await.unwrap()).await;
        assert_eq!(body.ok().map(|b| b.len()), Some(MAX_BODY_BYTES));

        let declared = serve_once(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                MAX_BODY_BYTES + 1
            ),
            0,
        )
        .await;
        let body = read_bounded(reqwest::get(declared).await.unwrap()).await;
        assert!(matches!(body, Err(BodyError::TooLarge)));

        // No length given (read until close): refused once past the bound.
        let endless = serve_once(
            "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".into(),
            MAX_BODY_BYTES + 64 * 1024,
        )
        .await;
        let body = read_bounded(reqwest::get(endless).await.unwrap()).await;
        assert!(matches!(body, Err(BodyError::TooLarge)));
    }

    #[test]
    fn endpoint_encodes_segments_and_keeps_base_path() {
        let base = Url::parse("https://api.us.code42.com").unwrap();
        assert_eq!(
            endpoint(&base, &["v1", "users", "a/b?c", "move"]).as_str(),
            "https://api.us.code42.com/v1/users/a%2Fb%3Fc/move"
        );
        let prefixed = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(
            endpoint(&prefixed, &["v1", "orgs"]).as_str(),
            "http://127.0.0.1:9/prefix/v1/orgs"
        );
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        // A date already past (or now): the backoff decides, not zero.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn a_429_storm_without_retry_after_waits_longer_each_time() {
        let max_of = |sends| {
            (0..300)
                .map(|_| rate_limit_wait(None, sends))
                .max()
                .unwrap()
        };
        assert!(max_of(1) <= BACKOFF);
        // The fourth 429 in a row may wait up to 1.6 s (it stayed under 200 ms).
        assert!(max_of(4) > 2 * BACKOFF, "{:?}", max_of(4));
        assert!(max_of(4) <= 8 * BACKOFF);
        let asked = Duration::from_secs(3);
        assert_eq!(rate_limit_wait(Some(asked), 4), asked);
    }

    #[test]
    fn backoff_grows_with_the_attempt_and_is_capped() {
        let max_of = |attempt| (0..200).map(|_| full_jitter(attempt)).max().unwrap();
        assert!(max_of(1) <= BACKOFF);
        assert!(max_of(4) > BACKOFF, "attempt 4 may wait up to 1.6 s");
        assert!(max_of(30) <= BACKOFF_CAP);
    }

    #[test]
    fn excerpt_is_bounded() {
        assert_eq!(excerpt(b"  "), "(empty body)");
        assert_eq!(excerpt(&[b'x'; 1000]).len(), 300);
    }
}
