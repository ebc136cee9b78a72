//! The wiring, written once: the exporter's parts built from a [`Config`]
//! (the default cache with its state file, the named targets, the events
//! stream) and served on a listener. The daemon, the tests, the refresh
//! bench and the demo all build the exporter here.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::cache::state_file::StateFile;
use crate::cache::{Cache, Caches, Source};
use crate::config::Config;
use crate::events::{self, Events, Timing};
use crate::metrics::self_metrics::SelfMetrics;
use crate::server::{self, Limits, SharedWeb};

/// The exporter built from a configuration: what the server answers from,
/// and the events stream feeding it. Clones share everything.
#[derive(Clone)]
pub struct App {
    /// The default target's cache (`/metrics`, `/`) and the named targets'
    /// caches (`/probe`).
    pub caches: Caches,
    /// The events stream, when `events` is on; it renders into the
    /// default cache's output.
    pub events: Option<Arc<Events>>,
}

/// How an [`App`] is built: from a [`Config`], plus what only tests change.
#[derive(Debug)]
pub struct Builder<'a> {
    config: &'a Config,
    events_timing: Timing,
}

impl App {
    /// Start building the exporter of `config`.
    pub fn builder(config: &Config) -> Builder<'_> {
        Builder {
            config,
            events_timing: Timing::default(),
        }
    }

    /// The exporter of `config`, as the daemon runs it.
    pub fn new(config: &Config) -> anyhow::Result<App> {
        App::builder(config).build()
    }

    /// The default target's cache.
    pub fn cache(&self) -> &Cache {
        &self.caches.default
    }

    /// Serve on `listener` until `shutdown` completes, then let requests in
    /// flight finish (see [`server::serve`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        limits: Limits,
        web: SharedWeb,
        shutdown: impl Future<Output = ()>,
    ) {
        server::serve(listener, self.caches, limits, web, shutdown).await;
    }
}

impl Builder<'_> {
    /// The events stream's reconnect and framing settings (default
    /// [`Timing::default`]); tests shorten the back-off.
    pub fn events_timing(mut self, timing: Timing) -> Self {
        self.events_timing = timing;
        self
    }

    /// Build the caches, the state file, the targets and the events stream.
    /// Nothing is fetched yet: the first scrape refreshes.
    pub fn build(self) -> anyhow::Result<App> {
        let config = self.config;
        let own = SelfMetrics::new().context("cannot register the exporter's own metrics")?;
        let source = Source::from_config(config, &own).context("cannot build the API client")?;
        let cache = Cache::new(source, own);
        cache.set_state_file(Arc::new(StateFile::for_config(config)));
        let caches = Caches::new(cache);
        caches
            .targets
            .apply(&config.targets)
            .context("cannot set up the targets")?;
        let events = events::from_config(config, self.events_timing)
            .context("cannot build the events client")?
            .map(Arc::new);
        if let Some(e) = &events {
            caches.default.set_extra(e.clone());
        }
        Ok(App { caches, events })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::environment::Environment;
    use crate::config::{self, Overrides};

    /// The configuration of `toml`, with an obviously fake key for the
    /// default target and for `acme` (a key variable of no configured
    /// target is an error). Shared by the unit tests of the wiring's users.
    pub(crate) fn config(toml: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, toml).unwrap();
        let key = "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET";
        let mut vars = vec![(config::ENV_API_KEY, key)];
        if toml.contains("[targets.acme]") {
            vars.push(("TTN_EXPORTER_TARGET_ACME_API_KEY", key));
        }
        let env = Environment {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        };
        config::load(Some(&file), &Overrides::default(), &env).unwrap()
    }

    #[test]
    fn the_targets_of_the_config_are_served() {
        let app = App::new(&config("[targets.acme]\n")).unwrap();
        assert_eq!(app.caches.targets.names(), ["acme"]);
        assert!(app.events.is_none());
        assert!(app.cache().extra().is_none());
    }

    #[tokio::test]
    async fn with_events_on_the_stream_renders_into_the_default_cache() {
        let app = App::new(&config("events = true\n")).unwrap();
        let events = app.events.clone().unwrap();
        let extra = app.cache().extra().unwrap();
        // The same stream, not a second one.
        assert!(std::ptr::addr_eq(Arc::as_ptr(&events), Arc::as_ptr(&extra)));
    }

    #[test]
    fn the_state_file_of_the_config_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateways.json");
        let mut c = config("");
        c.state_file = Some(path.clone());
        let app = App::new(&c).unwrap();
        let file = app.cache().state_file().unwrap();
        assert_eq!(file.path(), Some(path.as_path()));
    }
}
