//! The lazily refreshed cache. A scrape that finds the rendered output older
//! than `cache_ttl` starts one refresh; scrapes arriving meanwhile await that
//! same refresh (single flight). The refresh runs in its own task, so a
//! scraper that hangs up does not cancel it. There is no background timer.
//!
//! A refresh has one deadline (`refresh_timeout`). A scrape that waits for
//! a refresh waits at most as long as its scraper allows (Prometheus sends
//! `X-Prometheus-Scrape-Timeout-Seconds`; see `server::probe::scrape_wait`); past that it
//! gets `ttn_up 0` with reason `timeout`, while the refresh goes on and its
//! result serves the next scrape.
//!
//! A failed refresh is cached like a good one (so a broken API is asked at
//! most once per `cache_ttl`, or later when it asked us to back off), and
//! renders `ttn_up 0` with the last good refresh's gateway series while
//! those are younger than `keep_stale_for`, and without them after: an API
//! blip neither makes the series vanish (which would resolve every firing
//! alert) nor serves old data for long. The age of what is served is
//! `ttn_exporter_gateway_data_age_seconds`.
//!
//! - [`fetch`]: the trait in front of the cache ([`Fetch`]): what a
//!   refresh asks and how long its answer is served ([`Policy`]).
//! - [`source`]: the real one, the API client ([`Source`], from a config).
//! - [`entry`]: one refresh's result as served ([`Entry`]).
//! - [`targets`]: the named targets, a cache each ([`Targets`]).

pub mod entry;
pub mod fetch;
pub mod source;
pub mod state_file;
pub mod targets;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use futures::future::{BoxFuture, FutureExt, Shared};

use crate::cache::state_file::StateFile;
use crate::metrics::self_metrics::SelfMetrics;
use crate::metrics::{render_with, Extra};
use crate::model::{Dropped, Failure, FailureKind, Gateway, Snapshot};
use crate::tts;
pub use entry::Entry;
pub use fetch::{Fetch, Policy};
pub use source::Source;
pub use targets::{Caches, Targets};

/// Longest back-off honoured from `X-Rate-Limit-Retry`.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

type InFlight = Shared<BoxFuture<'static, Arc<Entry>>>;

/// The last good refresh's gateways, served by failed refreshes until
/// `expires` (`keep_stale_for` after it).
struct LastGood {
    at: SystemTime,
    expires: Instant,
    gateways: Arc<Vec<Gateway>>,
}

impl LastGood {
    fn valid(&self, now: Instant) -> bool {
        now < self.expires
    }
}

#[derive(Default)]
struct State {
    current: Option<Arc<Entry>>,
    last_good: Option<LastGood>,
    inflight: Option<InFlight>,
    last_success: Option<SystemTime>,
    was_failing: bool,
    /// The API asked us to wait until then (429 `X-Rate-Limit-Retry`).
    backoff_until: Option<Instant>,
    /// The source changed (new key, URL or scope): `current` is not fresh.
    invalidated: bool,
    /// Bumped by every [`Cache::set_source`]: a refresh that started with
    /// an older source neither makes `current` fresh nor sets `last_good`.
    generation: u64,
}

struct Inner<F> {
    source: RwLock<Arc<F>>,
    state_file: RwLock<Option<Arc<StateFile>>>,
    own: SelfMetrics,
    state: Mutex<State>,
    refreshes: std::sync::atomic::AtomicU64,
    extra: RwLock<Option<Arc<dyn Extra>>>,
}

/// The cache over a source `F` (the API's [`Source`] unless a test says
/// otherwise); clones share it.
pub struct Cache<F = Source> {
    inner: Arc<Inner<F>>,
}

impl<F> Clone for Cache<F> {
    fn clone(&self) -> Self {
        Cache {
            inner: self.inner.clone(),
        }
    }
}

/// Now, on tokio's clock (which tests can pause and advance) as a std
/// [`Instant`] (what [`Entry`] carries).
fn instant_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

impl<F: Fetch> Cache<F> {
    /// A cache over `source`; `own` are the exporter's own metrics.
    pub fn new(source: F, own: SelfMetrics) -> Cache<F> {
        Cache {
            inner: Arc::new(Inner {
                source: RwLock::new(Arc::new(source)),
                state_file: RwLock::new(None),
                own,
                state: Mutex::new(State::default()),
                refreshes: std::sync::atomic::AtomicU64::new(0),
                extra: RwLock::new(None),
            }),
        }
    }

    /// The exporter's own metrics.
    pub fn self_metrics(&self) -> &SelfMetrics {
        &self.inner.own
    }

    /// Replace the source (new key, URL or scope). The next scrape
    /// refreshes with it, unless the API asked us to back off (a 429): that
    /// is kept until [`Cache::clear_backoff`]. A refresh already running
    /// finishes with the old source and serves the scrapes waiting for it;
    /// the next scrape still refreshes with the new one.
    pub fn set_source(&self, source: F) {
        *self.inner.source.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(source);
        let mut st = self.lock();
        st.invalidated = true;
        st.generation = st.generation.wrapping_add(1);
        // The last good gateways were read with the old key, URL or scope.
        st.last_good = None;
    }

    /// Replace the source when the API it asks is unchanged (same URL, key
    /// and scope; e.g. a reload that changed nothing): the cached output
    /// stays fresh for as long as it was.
    pub fn keep_source_fresh(&self, source: F) {
        *self.inner.source.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(source);
    }

    /// Treat the cached output as stale: the next scrape refreshes, unless
    /// the API asked us to back off. The cached output, the last good
    /// gateways and the back-off stay (unlike [`Cache::set_source`]). A
    /// refresh already running counts as that next refresh.
    pub fn expire(&self) {
        self.lock().invalidated = true;
    }

    /// Forget a back-off (the API host changed).
    pub fn clear_backoff(&self) {
        self.lock().backoff_until = None;
    }

    /// Remember gateway times in `file` from now on: every good refresh
    /// teaches it and takes the remembered times of the gateways the
    /// server has forgotten ([`crate::cache::state_file`]).
    pub fn set_state_file(&self, file: Arc<StateFile>) {
        *self
            .inner
            .state_file
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(file);
    }

    /// The state file in use, if any.
    pub fn state_file(&self) -> Option<Arc<StateFile>> {
        self.inner
            .state_file
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Render `extra` into every refresh from now on (events stream).
    pub fn set_extra(&self, extra: Arc<dyn Extra>) {
        *self.inner.extra.write().unwrap_or_else(|e| e.into_inner()) = Some(extra);
    }

    /// The second source, if one is set (for the shard bodies).
    pub fn extra(&self) -> Option<Arc<dyn Extra>> {
        self.inner
            .extra
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
        self.get_within(None).await
    }

    /// [`Cache::get`], waiting at most `wait` for a refresh (see
    /// `server::probe::scrape_wait`). Past it the answer is `ttn_up 0` with reason
    /// `timeout`; the refresh continues and serves the next scrape.
    pub async fn get_within(&self, wait: Option<Duration>) -> Arc<Entry> {
        let fut = {
            let mut st = self.lock();
            let now = instant_now();
            let backing_off = st.backoff_until.is_some_and(|b| now < b);
            match &st.current {
                // Past `keep_stale_for` while the API asked us to wait: the
                // same failure, without the gateway series, and no request.
                Some(e) if backing_off && e.stale_expired(now) => {
                    let old = e.clone();
                    drop(st);
                    return self.without_stale(&old);
                }
                Some(e) if now < e.until && !st.invalidated && !e.stale_expired(now) => {
                    return e.clone()
                }
                Some(e) if backing_off => return e.clone(),
                _ => {}
            }
            match &st.inflight {
                Some(f) => f.clone(),
                None => {
                    let f = self.start_refresh(self.source(), st.generation);
                    st.inflight = Some(f.clone());
                    f
                }
            }
        };
        match wait {
            None => fut.await,
            Some(w) => match tokio::time::timeout(w, fut).await {
                Ok(e) => e,
                Err(_) => self.scrape_timed_out(w),
            },
        }
    }

    /// What a scrape that stopped waiting gets: `ttn_up 0`, reason
    /// `timeout`, with the last good gateways while they are younger than
    /// `keep_stale_for`. Not cached: the refresh's own result replaces
    /// nothing here.
    fn scrape_timed_out(&self, waited: Duration) -> Arc<Entry> {
        self.inner.own.scrape_timed_out();
        let source = self.source();
        let failure = Failure::ours(
            FailureKind::Timeout,
            format!(
                "the refresh did not finish within the scrape's {:.1}s; it continues and serves the next scrape",
                waited.as_secs_f64()
            ),
        );
        let (snapshot, stale_until) = {
            let st = self.lock();
            let snapshot = Snapshot::failed(failure, waited, st.last_success);
            match st.last_good.as_ref().filter(|g| g.valid(instant_now())) {
                Some(g) => (
                    snapshot.with_stale(g.gateways.clone(), g.at),
                    Some(g.expires),
                ),
                None => (snapshot, None),
            }
        };
        let mut entry = self.entry(&source, snapshot, instant_now());
        entry.stale_until = stale_until;
        Arc::new(entry)
    }

    /// `old` (a failed refresh serving the last good gateways past
    /// `keep_stale_for`) without those gateways; it replaces `old` as the
    /// cached entry.
    fn without_stale(&self, old: &Entry) -> Arc<Entry> {
        let source = self.source();
        let s = &old.snapshot;
        let snapshot = Snapshot {
            gateways: Arc::default(),
            data_from: None,
            failure: s.failure.clone(),
            finished_at: s.finished_at,
            duration: s.duration,
            last_success: s.last_success,
            not_found: s.not_found.clone(),
        };
        let entry = Arc::new(self.entry(&source, snapshot, old.until));
        let mut st = self.lock();
        if st.current.as_ref().is_some_and(|c| std::ptr::eq(&**c, old)) {
            st.current = Some(entry.clone());
        }
        st.last_good = st.last_good.take().filter(|g| g.valid(instant_now()));
        entry
    }

    /// Render `snapshot` (with the events families, if any) into an entry
    /// served until `until`.
    fn entry(&self, source: &F, snapshot: Snapshot, until: Instant) -> Entry {
        let legacy = source.policy().legacy_metrics;
        let extra = self.extra();
        let write_extra = |out: &mut dyn std::io::Write| match &extra {
            Some(x) => x.write(&|_| true, out),
            None => Ok(()),
        };
        let rendered = render_with(&snapshot, &self.inner.own, legacy, &write_extra);
        let entry = Entry::new(snapshot, rendered, until, legacy);
        // The shard layouts in use keep their places (`metrics::shard`).
        if let Some(previous) = self.lock().current.clone() {
            entry.shards.inherit(&previous.shards);
        }
        entry
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state is still
        // consistent (every update is a single assignment).
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start a refresh from `source`, set as of `generation`.
    fn start_refresh(&self, source: Arc<F>, generation: u64) -> InFlight {
        self.inner
            .refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let me = self.clone();
        let src = source.clone();
        let task = tokio::spawn(async move { me.refresh(src, generation).await });
        let me = self.clone();
        async move {
            match task.await {
                Ok(e) => e,
                Err(join) => {
                    let e = me.internal_error(&source, generation, &join);
                    me.lock().inflight = None;
                    e
                }
            }
        }
        .boxed()
        .shared()
    }

    async fn refresh(&self, source: Arc<F>, generation: u64) -> Arc<Entry> {
        let refresh_timeout = source.policy().refresh_timeout;
        let started = instant_now();
        let result = tokio::time::timeout(refresh_timeout, source.fetch()).await;
        let took = instant_now().saturating_duration_since(started);
        let mut not_found = Vec::new();
        let (outcome, gateways) = match result {
            Ok(Ok(tts::Fetched {
                gateways,
                dropped,
                not_found: missing,
            })) => {
                not_found = missing;
                self.count_dropped(&dropped);
                (Ok(()), gateways)
            }
            Ok(Err(e)) => (Err(Failure::from(&e)), Vec::new()),
            Err(_) => (
                Err(Failure::ours(
                    FailureKind::Timeout,
                    format!(
                        "the refresh did not finish within {}s (refresh_timeout); check the API or raise refresh_timeout",
                        refresh_timeout.as_secs_f64()
                    ),
                )),
                Vec::new(),
            ),
        };
        // Rendering a large fleet is CPU work: keep it off the workers that
        // answer scrapes.
        let me = self.clone();
        let src = source.clone();
        let entry = match tokio::task::spawn_blocking(move || {
            me.store(&src, generation, outcome, took, gateways, not_found)
        })
        .await
        {
            Ok(e) => e,
            Err(join) => self.internal_error(&source, generation, &join),
        };
        self.lock().inflight = None;
        entry
    }

    fn count_dropped(&self, dropped: &Dropped) {
        for (what, n) in dropped.by_label() {
            if n > 0 {
                self.inner.own.dropped(what, n);
                tracing::warn!(
                    what,
                    dropped = n,
                    "dropped {n} {what} from the API's answer"
                );
            }
        }
    }

    fn source(&self) -> Arc<F> {
        self.inner
            .source
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A refresh task died (a bug): serve the error rather than die too.
    fn internal_error(
        &self,
        source: &F,
        generation: u64,
        join: &tokio::task::JoinError,
    ) -> Arc<Entry> {
        tracing::error!("refresh task failed: {join}");
        let failure = Failure::ours(
            FailureKind::Internal,
            format!("internal error during refresh: {join}"),
        );
        self.store(
            source,
            generation,
            Err(failure),
            Duration::ZERO,
            Vec::new(),
            Vec::new(),
        )
    }

    /// Cache the result of a refresh from `source` (set as of
    /// `generation`) and render it.
    fn store(
        &self,
        source: &F,
        generation: u64,
        outcome: Result<(), Failure>,
        took: Duration,
        mut gateways: Vec<Gateway>,
        not_found: Vec<String>,
    ) -> Arc<Entry> {
        let now = SystemTime::now();
        if let (Ok(()), Some(file)) = (&outcome, self.state_file()) {
            file.apply(&mut gateways);
            file.save();
        }
        let gateways = Arc::new(gateways);
        let policy = source.policy();
        let (last_success, was_failing, stale) = {
            let mut st = self.lock();
            let was = st.was_failing;
            let at = instant_now();
            // Else the source changed while this refresh ran: its result
            // is served to the scrapes that waited for it, no longer.
            let current = generation == st.generation;
            if outcome.is_ok() {
                st.last_success = Some(now);
            }
            if outcome.is_ok() && current {
                st.last_good = Some(LastGood {
                    at: now,
                    expires: at.checked_add(policy.keep_stale_for).unwrap_or(at),
                    gateways: gateways.clone(),
                });
            } else {
                st.last_good = st.last_good.take().filter(|g| g.valid(at));
            }
            st.was_failing = outcome.is_err();
            if current {
                st.invalidated = false;
            }
            let stale = match (&outcome, &st.last_good) {
                (Err(_), Some(g)) => Some((g.gateways.clone(), g.at, g.expires)),
                _ => None,
            };
            (st.last_success, was, stale)
        };
        let failure = outcome.err();
        // The back-off the API asked for (capped); the failure itself is
        // served for at least cache_ttl.
        let retry = failure
            .as_ref()
            .and_then(|f| f.retry_after)
            .map(|r| r.min(MAX_BACKOFF));
        let mut ttl = policy.ttl;
        match &failure {
            Some(f) => {
                self.inner.own.refresh_failed(f.kind);
                if let Some(r) = retry {
                    ttl = ttl.max(r);
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
        let ok = failure.is_none();
        let mut snapshot = Snapshot {
            gateways,
            data_from: ok.then_some(now),
            failure,
            finished_at: now,
            duration: took,
            last_success,
            not_found: Arc::new(not_found),
        };
        let mut stale_until = None;
        if let Some((gateways, at, expires)) = stale {
            snapshot = snapshot.with_stale(gateways, at);
            stale_until = Some(expires);
        }
        if let (Some(x), true) = (self.extra(), ok) {
            x.refreshed(&snapshot.gateways);
        }
        let at = instant_now();
        // Bounded at load, but never let a duration panic here.
        let until = at.checked_add(ttl).unwrap_or(at);
        let backoff = retry.map(|r| at.checked_add(r).unwrap_or(at));
        let mut entry = self.entry(source, snapshot, until);
        entry.stale_until = stale_until;
        let entry = Arc::new(entry);
        {
            let mut st = self.lock();
            st.current = Some(entry.clone());
            st.backoff_until = backoff;
        }
        entry
    }
}
