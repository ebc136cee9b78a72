//! Radio quality per gateway from The Things Stack events stream (opt-in,
//! `events = true`): the exporter's one background activity.
//!
//! After each successful refresh the cache hands the gateway list to
//! [`Events::set_gateways`]; a supervisor task keeps one subscription
//! ([`stream`]) per chunk of at most `events_chunk` gateways of one cluster
//! (the one that serves the gateway's stats: [`crate::tts::stats_base`]). Lines are
//! decoded ([`parse`]) and counted ([`aggregate`]); the families are written
//! ([`render`]) into the cached output at refresh time, never per scrape.
//!
//! - the HTTP side of a subscription is the API client's:
//!   [`crate::tts::events`].
//! - [`airtime`]: LoRa time on air, a pure function.
//! - [`lines`]: length-capped newline framing.
//! - upstream strings are made safe with [`crate::sanitize`] (one line, capped;
//!   label tokens).

pub mod aggregate;
pub mod airtime;
pub mod lines;
pub mod parse;
pub mod render;
pub mod stream;
mod supervise;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use crate::config::{ApiKey, Config};
use crate::model::Gateway;
use crate::tts::events::EventsClient;
use aggregate::Aggregator;

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
pub const MAX_CHUNK: usize = 1000;

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            refused_backoff: Duration::from_secs(1800),
            idle_timeout: Duration::from_secs(600),
            stable: Duration::from_secs(60),
            max_line: stream::MAX_LINE,
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
    agg: Mutex<Aggregator>,
    params: RwLock<Arc<Params>>,
    timing: Timing,
    rights_warned: AtomicBool,
    /// The gateways did not fit in `max_streams` streams (logged once per
    /// change).
    over_budget: AtomicBool,
}

impl Shared {
    fn params(&self) -> Arc<Params> {
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

/// The running events source. Dropping it stops every stream.
pub struct Events {
    shared: Arc<Shared>,
    gateways: watch::Sender<Arc<Vec<Subscription>>>,
    task: JoinHandle<()>,
}

impl Events {
    /// Start (on the current tokio runtime) with no gateways yet.
    pub fn start(params: Params, chunk: usize, timing: Timing) -> Events {
        let shared = Arc::new(Shared {
            agg: Mutex::new(Aggregator::default()),
            params: RwLock::new(Arc::new(params)),
            timing,
            rights_warned: AtomicBool::new(false),
            over_budget: AtomicBool::new(false),
        });
        let (tx, rx) = watch::channel(Arc::new(Vec::new()));
        let task = tokio::spawn(supervise::supervise(shared.clone(), rx, chunk.max(1)));
        Events {
            shared,
            gateways: tx,
            task,
        }
    }

    /// Follow a new gateway list (after a successful refresh).
    pub fn set_gateways(&self, gateways: Vec<Subscription>) {
        if **self.gateways.borrow() != gateways {
            self.gateways.send_replace(Arc::new(gateways));
        }
    }

    /// New key or URL (reload): used from each stream's next connect.
    pub fn set_params(&self, params: Params) {
        *self
            .shared
            .params
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(params);
        self.shared
            .rights_warned
            .store(false, std::sync::atomic::Ordering::Relaxed);
        // A new URL may move gateways to other clusters: re-plan the chunks
        // (those whose cluster did not change keep their stream).
        self.gateways.send_modify(|_| {});
    }

    /// Write the events families, with the series of the gateways `keep`
    /// accepts.
    pub fn write(
        &self,
        keep: &dyn Fn(&str) -> bool,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        render::write(&lock(&self.shared.agg), keep, out)
    }

    /// Read the counters (tests, benchmarks).
    pub fn with_aggregator<R>(&self, f: impl FnOnce(&Aggregator) -> R) -> R {
        f(&lock(&self.shared.agg))
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl crate::metrics::Extra for Events {
    fn refreshed(&self, gateways: &[Gateway]) {
        self.set_gateways(
            gateways
                .iter()
                .map(|g| Subscription {
                    id: g.id.clone(),
                    gateway_server_address: g.gateway_server_address.clone(),
                })
                .collect(),
        );
    }

    fn write(
        &self,
        keep: &dyn Fn(&str) -> bool,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()> {
        Events::write(self, keep, out)
    }
}

/// Build the events source of a configuration, if it is enabled.
pub fn from_config(config: &Config) -> Result<Option<Events>, crate::tts::Error> {
    if !config.events {
        return Ok(None);
    }
    Ok(Some(Events::start(
        Params::from_config(config)?,
        config.events_chunk,
        Timing::default(),
    )))
}
