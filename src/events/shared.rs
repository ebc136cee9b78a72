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
