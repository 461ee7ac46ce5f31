//! How much Code42 traffic a process makes at once, and what it made:
//! an additive-increase / multiplicative-decrease (AIMD) bound on requests in
//! flight, and the counters behind the `Code42*` metrics.
//!
//! Code42 publishes no rate limits, so the client finds the tenant's pace:
//! concurrency grows by one per window of fast, successful responses and
//! halves on a 429 or a 5xx (once per window, like TCP), between 1 and
//! `CODE42_CONCURRENCY`. The requests-per-second limiter (`CODE42_MAX_RPS`)
//! still bounds the rate; this bounds the load a slow tenant sees.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::domain::metrics::RequestStats;

/// A success slower than this does not raise the bound.
pub const SLOW_RESPONSE: Duration = Duration::from_secs(1);
/// Where the bound starts (or the maximum, if lower).
const INITIAL_LIMIT: usize = 4;

pub struct AdaptiveLimit {
    max: usize,
    state: Mutex<State>,
    freed: Notify,
}

struct State {
    /// Fractional, so that a window of `limit` successes adds one.
    limit: f64,
    in_flight: usize,
    /// Requests started so far; a permit remembers its number.
    started: u64,
    /// Responses of requests started before this number cannot shrink the
    /// bound again: one burst of 429s halves it once.
    shrink_from: u64,
}

/// A request in flight; dropping it frees its place.
pub struct Permit<'a> {
    gate: &'a AdaptiveLimit,
    number: u64,
}

/// How a request's response bears on the tenant's load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// A response that is neither a 429 nor a 5xx, with its latency.
    Answered(Duration),
    /// 429 or 5xx: the tenant is busy.
    Congested,
    /// A transport failure: says nothing about the tenant's load.
    Neutral,
}

impl AdaptiveLimit {
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            max,
            state: Mutex::new(State {
                limit: INITIAL_LIMIT.min(max) as f64,
                in_flight: 0,
                started: 0,
                shrink_from: 0,
            }),
            freed: Notify::new(),
        }
    }

    /// The current bound.
    pub fn limit(&self) -> usize {
        self.state.lock().expect("limit state").limit as usize
    }

    /// Wait for a place under the bound.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            let freed = self.freed.notified();
            {
                let mut s = self.state.lock().expect("limit state");
                if s.in_flight < (s.limit as usize).max(1) {
                    s.in_flight += 1;
                    s.started += 1;
                    return Permit {
                        gate: self,
                        number: s.started,
                    };
                }
            }
            freed.await;
        }
    }
}

impl Permit<'_> {
    /// Adjust the bound by what this request's response said.
    pub fn report(&self, signal: Signal) {
        let mut s = self.gate.state.lock().expect("limit state");
        let before = s.limit as usize;
        match signal {
            Signal::Answered(latency) if latency <= SLOW_RESPONSE => {
                let grown = s.limit + 1.0 / s.limit;
                s.limit = grown.min(self.gate.max as f64);
                self.gate.freed.notify_one();
            }
            Signal::Congested if self.number > s.shrink_from => {
                s.limit = (s.limit / 2.0).floor().max(1.0);
                s.shrink_from = s.started;
            }
            _ => {}
        }
        let after = s.limit as usize;
        if after != before {
            tracing::debug!(before, after, "Code42 requests in flight: bound adapted");
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.gate.state.lock().expect("limit state").in_flight -= 1;
        self.gate.freed.notify_one();
    }
}

/// Counters of one process's Code42 traffic, taken (and reset) per invocation.
#[derive(Default)]
pub struct Traffic {
    requests: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    server_errors: AtomicU64,
    latency_ms_total: AtomicU64,
    latency_ms_max: AtomicU64,
}

impl Traffic {
    pub fn answered(&self, status: u16, latency: Duration) {
        let ms = latency.as_millis() as u64;
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.latency_ms_total.fetch_add(ms, Ordering::Relaxed);
        self.latency_ms_max.fetch_max(ms, Ordering::Relaxed);
        if status == 429 {
            self.rate_limited.fetch_add(1, Ordering::Relaxed);
        } else if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A request that got no response (it still counts as a request).
    pub fn unanswered(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub fn retried(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts since the last call.
    pub fn take(&self) -> RequestStats {
        RequestStats {
            requests: self.requests.swap(0, Ordering::Relaxed),
            retries: self.retries.swap(0, Ordering::Relaxed),
            rate_limited: self.rate_limited.swap(0, Ordering::Relaxed),
            server_errors: self.server_errors.swap(0, Ordering::Relaxed),
            latency_ms_total: self.latency_ms_total.swap(0, Ordering::Relaxed),
            latency_ms_max: self.latency_ms_max.swap(0, Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAST: Signal = Signal::Answered(Duration::from_millis(50));

    #[tokio::test]
    async fn grows_by_one_per_window_of_fast_answers_up_to_the_maximum() {
        let gate = AdaptiveLimit::new(6);
        assert_eq!(gate.limit(), 4);
        // 1/limit per answer: a window of about `limit` answers adds one.
        for _ in 0..4 {
            gate.try_report(FAST).await;
        }
        assert_eq!(gate.limit(), 4);
        gate.try_report(FAST).await;
        assert_eq!(gate.limit(), 5);
        for _ in 0..100 {
            gate.try_report(FAST).await;
        }
        assert_eq!(gate.limit(), 6, "never above CODE42_CONCURRENCY");
    }

    #[tokio::test]
    async fn slow_answers_and_transport_failures_leave_it_alone() {
        let gate = AdaptiveLimit::new(16);
        for _ in 0..20 {
            gate.try_report(Signal::Answered(Duration::from_secs(2)))
                .await;
            gate.try_report(Signal::Neutral).await;
        }
        assert_eq!(gate.limit(), 4);
    }

    #[tokio::test]
    async fn a_burst_of_429s_halves_it_once_and_it_never_drops_below_one() {
        let gate = AdaptiveLimit::new(16);
        for _ in 0..200 {
            gate.try_report(FAST).await;
        }
        assert_eq!(gate.limit(), 16);
        {
            // Eight requests in flight when the tenant says 429 to all of them.
            let permits: Vec<_> = futures::future::join_all((0..8).map(|_| gate.acquire())).await;
            for p in &permits {
                p.report(Signal::Congested);
            }
        }
        assert_eq!(gate.limit(), 8, "one halving per window");
        for _ in 0..10 {
            gate.try_report(Signal::Congested).await;
        }
        assert_eq!(gate.limit(), 1);
    }

    #[tokio::test]
    async fn waits_for_a_place_under_the_bound() {
        let gate = AdaptiveLimit::new(1);
        let first = gate.acquire().await;
        let second = gate.acquire();
        tokio::pin!(second);
        assert!(
            futures::poll!(second.as_mut()).is_pending(),
            "a second request waits while the bound is 1"
        );
        drop(first);
        let _second = second.await;
    }

    #[test]
    fn traffic_counts_are_taken_once() {
        let t = Traffic::default();
        t.answered(200, Duration::from_millis(40));
        t.answered(429, Duration::from_millis(10));
        t.answered(503, Duration::from_millis(90));
        t.unanswered();
        t.retried();
        let s = t.take();
        assert_eq!(
            (s.requests, s.retries, s.rate_limited, s.server_errors),
            (4, 1, 1, 1)
        );
        assert_eq!((s.latency_ms_total, s.latency_ms_max), (140, 90));
        assert_eq!(t.take(), RequestStats::default());
    }

    impl AdaptiveLimit {
        /// One request, acquired and answered at once.
        async fn try_report(&self, signal: Signal) {
            self.acquire().await.report(signal);
        }
    }
}
