//! The lazily refreshed cache. A scrape that finds the rendered output older
//! than `cache_ttl` starts one refresh; scrapes arriving meanwhile await that
//! same refresh (single flight). The refresh runs in its own task, so a
//! scraper that hangs up does not cancel it. There is no background timer.
//!
//! A failed refresh is cached like a good one (so a broken API is asked at
//! most once per `cache_ttl`, or later when it asked us to back off), and
//! renders `ttn_up 0` with no gateway series: gateway data is never served
//! once it is older than one refresh.

use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use futures::future::{BoxFuture, FutureExt, Shared};

use crate::config::{Config, Scope};
use crate::metrics::{render, Rendered, SelfMetrics};
use crate::model::{Failure, Snapshot};
use crate::tts::{self, Client};

/// Longest back-off honoured from `X-Rate-Limit-Retry`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// What a refresh needs: the API client and what to ask it. Swapped as a
/// whole on reload (SIGHUP), e.g. for a rotated key.
pub struct Source {
    /// The API client.
    pub client: Client,
    /// Which gateways.
    pub scope: Scope,
    /// Emit legacy metric names too.
    pub legacy_metrics: bool,
    /// How long a refresh's output is served.
    pub ttl: Duration,
}

impl Source {
    /// Build the source for a configuration.
    pub fn from_config(config: &Config, own: &SelfMetrics) -> Result<Source, tts::Error> {
        Ok(Source {
            client: Client::new(
                config.api_url.clone(),
                config.api_key.clone(),
                config.request_timeout,
                own.observer(),
            )?,
            scope: config.scope.clone(),
            legacy_metrics: config.legacy_metrics,
            ttl: config.cache_ttl,
        })
    }
}

/// One refresh's result as served.
#[derive(Debug)]
pub struct Entry {
    /// The bytes to serve.
    pub rendered: Rendered,
    /// When the refresh finished (monotonic).
    pub at: Instant,
    /// Serve until then; a new refresh is started by the first scrape after.
    pub until: Instant,
    /// When the refresh finished (wall clock).
    pub finished_at: SystemTime,
    /// Gateways listed.
    pub gateways: usize,
    /// Of which connected.
    pub connected: usize,
    /// Why it failed, if it did (one line, no secrets).
    pub failure: Option<String>,
    /// The refresh's data, for the shard bodies and the status page.
    pub snapshot: Arc<Snapshot>,
    /// The shard bodies built from it so far ([`crate::shard`]).
    pub shards: crate::shard::ShardBodies,
    /// The status page (`/`), built from `snapshot` on the first request
    /// that wants it (see [`crate::status_page::page`]).
    pub status_page: OnceLock<bytes::Bytes>,
}

type InFlight = Shared<BoxFuture<'static, Arc<Entry>>>;

#[derive(Default)]
struct State {
    current: Option<Arc<Entry>>,
    inflight: Option<InFlight>,
    last_success: Option<SystemTime>,
    was_failing: bool,
}

struct Inner {
    source: RwLock<Arc<Source>>,
    own: SelfMetrics,
    state: Mutex<State>,
    refreshes: std::sync::atomic::AtomicU64,
    targets: crate::targets::Targets,
}

/// The cache; clones share it.
#[derive(Clone)]
pub struct Cache {
    inner: Arc<Inner>,
}

impl Cache {
    /// A cache over `source`; `own` are the exporter's own metrics.
    pub fn new(source: Source, own: SelfMetrics) -> Cache {
        Cache {
            inner: Arc::new(Inner {
                source: RwLock::new(Arc::new(source)),
                own,
                state: Mutex::new(State::default()),
                refreshes: std::sync::atomic::AtomicU64::new(0),
                targets: crate::targets::Targets::default(),
            }),
        }
    }

    /// The exporter's own metrics.
    pub fn self_metrics(&self) -> &SelfMetrics {
        &self.inner.own
    }

    /// The named targets served at `/probe` (empty unless configured).
    pub fn targets(&self) -> &crate::targets::Targets {
        &self.inner.targets
    }

    /// Replace the source (new key or config). The next scrape refreshes
    /// with it; a refresh already running finishes with the old one.
    pub fn set_source(&self, source: Source) {
        *self.inner.source.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(source);
        self.lock().current = None;
    }

    /// Refreshes started so far.
    pub fn refreshes(&self) -> u64 {
        self.inner
            .refreshes
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The last result, fresh or not, without triggering a refresh.
    pub fn peek(&self) -> Option<Arc<Entry>> {
        self.lock().current.clone()
    }

    /// The output to serve: the cached one while fresh, else the result of
    /// the one refresh that this or a concurrent scrape started.
    pub async fn get(&self) -> Arc<Entry> {
        let fut = {
            let mut st = self.lock();
            match &st.current {
                Some(e) if Instant::now() < e.until => return e.clone(),
                _ => {}
            }
            match &st.inflight {
                Some(f) => f.clone(),
                None => {
                    let f = self.start_refresh();
                    st.inflight = Some(f.clone());
                    f
                }
            }
        };
        fut.await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state is still
        // consistent (every update is a single assignment).
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start_refresh(&self) -> InFlight {
        self.inner
            .refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let me = self.clone();
        let task = tokio::spawn(async move { me.refresh().await });
        let me = self.clone();
        async move {
            match task.await {
                Ok(e) => e,
                Err(join) => {
                    let e = me.internal_error(&me.source(), &join);
                    me.lock().inflight = None;
                    e
                }
            }
        }
        .boxed()
        .shared()
    }

    async fn refresh(&self) -> Arc<Entry> {
        let source = self.source();
        let started = Instant::now();
        let result = source.client.fetch(&source.scope).await;
        let took = started.elapsed();
        let (outcome, gateways) = match result {
            Ok(gateways) => {
                if gateways.is_empty() && source.scope == Scope::All {
                    tracing::warn!(
                        "the API key lists no gateways; a gateway-scoped key cannot list: set `gateways` to their IDs"
                    );
                }
                (Ok(()), gateways)
            }
            Err(e) => {
                let failure = Failure {
                    kind: e.kind(),
                    message: e.to_string(),
                    retry_after: e.retry_after(),
                    endpoint: Some(e.endpoint()),
                    correlation_id: e.correlation_id().map(str::to_owned),
                    gateway_id: e.gateway_id().map(str::to_owned),
                };
                (Err(failure), Vec::new())
            }
        };
        // Rendering a large fleet is CPU work: keep it off the workers that
        // answer scrapes.
        let me = self.clone();
        let src = source.clone();
        let entry = match tokio::task::spawn_blocking(move || {
            me.store(&src, outcome, took, gateways)
        })
        .await
        {
            Ok(e) => e,
            Err(join) => self.internal_error(&source, &join),
        };
        self.lock().inflight = None;
        entry
    }

    fn source(&self) -> Arc<Source> {
        self.inner
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A refresh task died (a bug): serve the error rather than die too.
    fn internal_error(&self, source: &Source, join: &tokio::task::JoinError) -> Arc<Entry> {
        tracing::error!("refresh task failed: {join}");
        let failure = Failure {
            kind: crate::model::FailureKind::BadResponse,
            message: format!("internal error during refresh: {join}"),
            retry_after: None,
            endpoint: None,
            correlation_id: None,
            gateway_id: None,
        };
        self.store(source, Err(failure), Duration::ZERO, Vec::new())
    }

    fn store(
        &self,
        source: &Source,
        outcome: Result<(), Failure>,
        took: Duration,
        gateways: Vec<crate::model::Gateway>,
    ) -> Arc<Entry> {
        let now = SystemTime::now();
        let (last_success, was_failing) = {
            let mut st = self.lock();
            let was = st.was_failing;
            if outcome.is_ok() {
                st.last_success = Some(now);
            }
            st.was_failing = outcome.is_err();
            (st.last_success, was)
        };
        let failure = outcome.err();
        let mut ttl = source.ttl;
        match &failure {
            Some(f) => {
                self.inner.own.refresh_failed(f.kind);
                if let Some(r) = f.retry_after {
                    ttl = ttl.max(r.min(MAX_BACKOFF));
                }
                tracing::warn!(
                    reason = f.kind.as_str(),
                    endpoint = f.endpoint,
                    correlation_id = f.correlation_id.as_deref(),
                    gateway_id = f.gateway_id.as_deref(),
                    "refresh failed: {}",
                    f.message
                );
            }
            None if was_failing => tracing::info!(
                gateways = gateways.len(),
                "refresh succeeded again: {} gateways",
                gateways.len()
            ),
            None => tracing::debug!(gateways = gateways.len(), "refreshed"),
        }
        let snapshot = Snapshot {
            gateways,
            failure,
            finished_at: now,
            duration: took,
            last_success,
        };
        let rendered = render(&snapshot, &self.inner.own, source.legacy_metrics);
        let at = Instant::now();
        let entry = Arc::new(Entry {
            rendered,
            at,
            until: at + ttl,
            finished_at: now,
            gateways: snapshot.gateways.len(),
            connected: snapshot.connected(),
            failure: snapshot.failure.as_ref().map(|f| f.message.clone()),
            snapshot: Arc::new(snapshot),
            shards: crate::shard::ShardBodies::new(source.legacy_metrics),
            status_page: OnceLock::new(),
        });
        self.lock().current = Some(entry.clone());
        entry
    }
}
