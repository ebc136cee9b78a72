//! What the supervisor, the streams and the renderer share: the gateway
//! subscriptions, the timing and limits, the connection parameters (replaced
//! on reload) and the counters behind their lock.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use url::Url;

use super::aggregate::Aggregator;
use crate::config::{ApiKey, Config};
use crate::tts::events::EventsClient;

/// A gateway to subscribe to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscription {
    /// Its ID.
    pub id: String,
    /// The Gateway Server it is connected to: its events come from that
    /// cluster, as its stats do ([`crate::tts::stats_base`]).
    pub gateway_server_address: Option<String>,
}

/// Back-off and limits of the streams; tests shorten them.
#[derive(Clone, Debug)]
pub struct Timing {
    /// First reconnect delay (then doubled per failure, jittered).
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Delay after a 401/403 (a missing right does not fix itself quickly).
    pub refused_backoff: Duration,
    /// A stream that read nothing for this long is reconnected. The server
    /// sends no keep-alive, so this is a quiet gateway, not an error: no
    /// error is counted and no back-off added.
    pub idle_timeout: Duration,
    /// A stream that stayed up this long resets the back-off when it ends;
    /// one that ends sooner (even after events) backs off further, so a
    /// server that accepts and closes at once is not asked once a second.
    pub stable: Duration,
    /// Longest line.
    pub max_line: usize,
    /// Most streams open at once: each holds a descriptor, so the default is
    /// the events' share of the soft `RLIMIT_NOFILE`
    /// ([`crate::fds::stream_budget`]); past it the chunks grow (up to
    /// [`MAX_CHUNK`]), and past that the rest of the gateways get no stream
    /// and one log line says so.
    pub max_streams: usize,
    /// Connects all the streams of one key may make at once (the start, a
    /// server restart that ends every stream) before
    /// [`Timing::connect_interval`] paces them.
    pub connect_burst: u32,
    /// Past the burst, at most one connect per this interval over all the
    /// streams of the key, whatever their own back-off says: a server
    /// that ends every stream at once is not asked by each of them at
    /// once. Zero: no bound.
    pub connect_interval: Duration,
}

/// Largest chunk the supervisor makes when the streams would not fit in
/// [`Timing::max_streams`] (the largest `events_chunk` allowed).
pub const MAX_CHUNK: usize = crate::model::MAX_EVENTS_CHUNK;

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            refused_backoff: Duration::from_secs(1800),
            idle_timeout: Duration::from_secs(600),
            stable: Duration::from_secs(60),
            max_line: super::lines::MAX_LINE,
            max_streams: crate::fds::stream_budget(crate::fds::current_nofile().unwrap_or(1024)),
            connect_burst: 64,
            connect_interval: Duration::from_millis(500),
        }
    }
}

/// Where and how to connect; replaced on reload.
pub struct Params {
    /// The Things Stack base URL.
    pub base: Url,
    /// The API key.
    pub key: ApiKey,
    /// Limit on connecting and on the answer's headers.
    pub request_timeout: Duration,
    /// The API client of the streams ([`crate::tts::events`]).
    pub client: EventsClient,
}

impl Params {
    /// Build from a configuration.
    pub fn from_config(config: &Config) -> Result<Params, crate::tts::Error> {
        Ok(Params {
            base: config.api_url.clone(),
            key: config.api_key.clone(),
            request_timeout: config.request_timeout,
            client: EventsClient::new(config.api_key.clone(), config.request_timeout)?,
        })
    }
}

/// State shared by the supervisor, the streams and the renderer.
pub struct Shared {
    pub(super) agg: Mutex<Aggregator>,
    pub(super) params: RwLock<Arc<Params>>,
    pub(super) timing: Timing,
    pub(super) rights_warned: AtomicBool,
    /// The gateways did not fit in `max_streams` streams (logged once per
    /// change).
    pub(super) over_budget: AtomicBool,
    /// The pace of all the streams' connects.
    pub(super) connects: Mutex<ConnectLimit>,
}

/// A token bucket over the connects of all the streams of one key: up to
/// `burst` at once, then one per `interval`. A connect that finds it empty
/// reserves the next free slot, so waiters are served in turn.
#[derive(Debug)]
pub(crate) struct ConnectLimit {
    tokens: f64,
    last: tokio::time::Instant,
}

impl ConnectLimit {
    /// A full bucket at `now`.
    pub(crate) fn new(t: &Timing, now: tokio::time::Instant) -> ConnectLimit {
        ConnectLimit {
            tokens: f64::from(t.connect_burst.max(1)),
            last: now,
        }
    }

    /// Take the next connect at `now`: how long to wait before making it.
    pub(crate) fn reserve(&mut self, now: tokio::time::Instant, t: &Timing) -> Duration {
        if t.connect_interval.is_zero() {
            return Duration::ZERO;
        }
        let per = t.connect_interval.as_secs_f64();
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed / per).min(f64::from(t.connect_burst.max(1)));
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens * per)
        }
    }
}

impl Shared {
    pub(super) fn params(&self) -> Arc<Params> {
        self.params
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// Lock, ignoring poisoning: every update is a few counter increments.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(burst: u32, ms: u64) -> Timing {
        Timing {
            connect_burst: burst,
            connect_interval: Duration::from_millis(ms),
            ..Timing::default()
        }
    }

    #[test]
    fn the_burst_is_free_then_connects_are_paced_in_turn() {
        let t = timing(3, 500);
        let now = tokio::time::Instant::now();
        let mut l = ConnectLimit::new(&t, now);
        let waits: Vec<u64> = (0..6)
            .map(|_| l.reserve(now, &t).as_millis() as u64)
            .collect();
        assert_eq!(waits, [0, 0, 0, 500, 1000, 1500]);
        // 3 s later the slots reserved up to 1.5 s are used, and the
        // refill since is capped at the burst: 3 free, then paced again.
        let later = now + Duration::from_secs(3);
        let waits: Vec<u64> = (0..4)
            .map(|_| l.reserve(later, &t).as_millis() as u64)
            .collect();
        assert_eq!(waits, [0, 0, 0, 500]);
    }

    #[test]
    fn an_idle_bucket_refills_to_the_burst_only() {
        let t = timing(2, 100);
        let start = tokio::time::Instant::now();
        let mut l = ConnectLimit::new(&t, start);
        let now = start + Duration::from_secs(3600);
        let waits: Vec<u64> = (0..3)
            .map(|_| l.reserve(now, &t).as_millis() as u64)
            .collect();
        assert_eq!(waits, [0, 0, 100]);
    }

    #[test]
    fn a_zero_interval_does_not_bound() {
        let t = timing(1, 0);
        let now = tokio::time::Instant::now();
        let mut l = ConnectLimit::new(&t, now);
        assert!((0..100).all(|_| l.reserve(now, &t).is_zero()));
    }
}
