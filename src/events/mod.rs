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
//! - `shared`: what the supervisor, the streams and the renderer share.
//! - upstream strings are made safe with [`crate::model::sanitize`] (one line, capped;
//!   label tokens).

pub mod aggregate;
pub mod airtime;
pub mod lines;
pub mod parse;
pub mod render;
mod shared;
pub mod stream;
mod supervise;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::model::Gateway;
use aggregate::Aggregator;
pub(crate) use shared::lock;
use shared::{ConnectLimit, Shared};
pub use shared::{Params, Subscription, Timing, MAX_CHUNK};

/// The running events source. Dropping it stops every stream.
pub struct Events {
    shared: Arc<Shared>,
    gateways: watch::Sender<Arc<Vec<Subscription>>>,
    task: JoinHandle<()>,
}

impl Events {
    /// Start (on the current tokio runtime) with no gateways yet.
    pub fn start(params: Params, chunk: usize, timing: Timing) -> Events {
        let connects = Mutex::new(ConnectLimit::new(&timing, tokio::time::Instant::now()));
        let shared = Arc::new(Shared {
            agg: Mutex::new(Aggregator::default()),
            params: RwLock::new(Arc::new(params)),
            timing,
            rights_warned: AtomicBool::new(false),
            over_budget: AtomicBool::new(false),
            connects,
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

/// Build the events source of a configuration, if it is enabled, with the
/// reconnect and framing `timing` ([`Timing::default`] in the daemon).
pub fn from_config(config: &Config, timing: Timing) -> Result<Option<Events>, crate::tts::Error> {
    if !config.events {
        return Ok(None);
    }
    Ok(Some(Events::start(
        Params::from_config(config)?,
        config.events_chunk,
        timing,
    )))
}
