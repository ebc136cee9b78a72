//! The cache alone, over a scripted source, on tokio's paused clock: single
//! flight, TTL, back-off and the scrape deadline, without real sleeps.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::{advance, sleep};

use super::{Cache, Entry, Fetch, Policy, MAX_BACKOFF};
use crate::metrics::self_metrics::SelfMetrics;
use crate::model::{FailureKind, Gateway};
use crate::tts::{Error, Fetched};

const TTL: Duration = Duration::from_secs(30);
const REFRESH_TIMEOUT: Duration = Duration::from_secs(20);
const KEEP_STALE_FOR: Duration = Duration::from_secs(300);

/// One scripted refresh: its answer, after `delay`.
struct Answer {
    delay: Duration,
    result: Result<Fetched, Error>,
}

/// The answers still to give and the refreshes asked so far, shared by the
/// clones of a [`Script`].
#[derive(Default)]
struct Plan {
    answers: Mutex<VecDeque<Answer>>,
    calls: AtomicUsize,
}

/// A source that answers refreshes from a script.
#[derive(Clone)]
struct Script {
    policy: Policy,
    plan: Arc<Plan>,
}

impl Script {
    fn new(policy: Policy) -> Script {
        Script {
            policy,
            plan: Arc::default(),
        }
    }

    /// Answer the next refresh with `result`, at once.
    fn then(&self, result: Result<Fetched, Error>) -> &Script {
        self.then_after(Duration::ZERO, result)
    }

    /// Answer the next refresh with `result`, `delay` after it started.
    fn then_after(&self, delay: Duration, result: Result<Fetched, Error>) -> &Script {
        self.plan
            .answers
            .lock()
            .unwrap()
            .push_back(Answer { delay, result });
        self
    }

    /// Refreshes asked so far.
    fn calls(&self) -> usize {
        self.plan.calls.load(Ordering::SeqCst)
    }
}

impl Fetch for Script {
    fn fetch(&self) -> impl Future<Output = Result<Fetched, Error>> + Send {
        self.plan.calls.fetch_add(1, Ordering::SeqCst);
        let next = self.plan.answers.lock().unwrap().pop_front();
        async move {
            let answer = next.expect("the script has an answer for every refresh");
            sleep(answer.delay).await;
            answer.result
        }
    }

    fn policy(&self) -> Policy {
        self.policy
    }
}

fn policy() -> Policy {
    Policy {
        ttl: TTL,
        refresh_timeout: REFRESH_TIMEOUT,
        keep_stale_for: KEEP_STALE_FOR,
        legacy_metrics: false,
    }
}

fn cache(script: &Script) -> Cache<Script> {
    Cache::new(script.clone(), SelfMetrics::for_target().unwrap())
}

fn ok(ids: &[&str]) -> Result<Fetched, Error> {
    Ok(Fetched {
        gateways: ids.iter().map(|id| Gateway::with_id(*id)).collect(),
        ..Fetched::default()
    })
}

fn status(code: u16, retry_after: Option<Duration>) -> Result<Fetched, Error> {
    Err(Error::Status {
        endpoint: "list gateways",
        status: code,
        name: None,
        correlation_id: None,
        retry_after,
    })
}

fn rate_limited(secs: u64) -> Result<Fetched, Error> {
    status(429, Some(Duration::from_secs(secs)))
}

fn unavailable() -> Result<Fetched, Error> {
    status(503, None)
}

fn text(e: &Entry) -> String {
    String::from_utf8(e.rendered.plain().to_vec()).unwrap()
}

fn ids(e: &Entry) -> Vec<&str> {
    e.snapshot.gateways.iter().map(|g| g.id.as_str()).collect()
}

fn kind(e: &Entry) -> Option<FailureKind> {
    e.snapshot.failure.as_ref().map(|f| f.kind)
}

/// Let spawned refresh tasks run until they wait on the clock.
/// `n` scrapes at once, each on its own task; their answers in order.
async fn concurrent_scrapes(cache: &Cache<Script>, n: usize) -> Vec<Arc<Entry>> {
    let scrapes: Vec<_> = (0..n)
        .map(|_| {
            let c = cache.clone();
            tokio::spawn(async move { c.get().await })
        })
        .collect();
    let mut got = Vec::new();
    for s in scrapes {
        got.push(s.await.unwrap());
    }
    got
}

async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

mod single_flight {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn concurrent_scrapes_on_an_empty_cache_share_one_refresh() {
        let script = Script::new(policy());
        script.then_after(Duration::from_secs(5), ok(&["gw-a", "gw-b"]));
        let cache = cache(&script);
        let got = concurrent_scrapes(&cache, 20).await;
        assert_eq!(script.calls(), 1, "one fetch");
        assert_eq!(cache.refreshes(), 1);
        assert!(got.iter().all(|e| Arc::ptr_eq(e, &got[0])), "one result");
        assert_eq!(ids(&got[0]), ["gw-a", "gw-b"]);
        assert!(text(&got[0]).contains("\nttn_up 1\n"), "{}", text(&got[0]));
        // Still fresh: served without a fetch.
        assert!(Arc::ptr_eq(&cache.get().await, &got[0]));
        assert_eq!(script.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_scrapes_on_a_stale_cache_share_one_refresh() {
        let script = Script::new(policy());
        script
            .then(ok(&["gw-old"]))
            .then_after(Duration::from_secs(5), ok(&["gw-new"]));
        let cache = cache(&script);
        cache.get().await;
        advance(TTL).await;
        let got = concurrent_scrapes(&cache, 10).await;
        assert_eq!(script.calls(), 2, "one fetch for the ten stale scrapes");
        assert_eq!(cache.refreshes(), 2);
        assert!(got.iter().all(|e| Arc::ptr_eq(e, &got[0])));
        assert_eq!(ids(&got[0]), ["gw-new"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_scraper_that_hangs_up_does_not_cancel_the_refresh() {
        let script = Script::new(policy());
        script.then_after(Duration::from_secs(5), ok(&["gw-a"]));
        let cache = cache(&script);
        let c = cache.clone();
        let scrape = tokio::spawn(async move { c.get().await });
        settle().await;
        assert_eq!(script.calls(), 1);
        scrape.abort();
        assert!(scrape.await.unwrap_err().is_cancelled());
        assert!(cache.peek().is_none());
        sleep(Duration::from_secs(10)).await;
        let done = cache.peek().expect("the refresh finished on its own");
        assert_eq!(ids(&done), ["gw-a"]);
        assert!(Arc::ptr_eq(&cache.get().await, &done));
        assert_eq!(script.calls(), 1);
    }
}

mod ttl {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn fresh_within_cache_ttl_then_one_refresh() {
        let script = Script::new(policy());
        script.then(ok(&["gw-1"])).then(ok(&["gw-2"]));
        let cache = cache(&script);
        let first = cache.get().await;
        assert_eq!(script.calls(), 1);
        advance(TTL - Duration::from_millis(1)).await;
        assert!(Arc::ptr_eq(&cache.get().await, &first), "still fresh");
        assert_eq!(script.calls(), 1);
        advance(Duration::from_millis(1)).await;
        let second = cache.get().await;
        assert_eq!(script.calls(), 2, "one refresh once cache_ttl passed");
        assert_eq!(ids(&second), ["gw-2"]);
        assert!(Arc::ptr_eq(&cache.get().await, &second));
        assert_eq!(script.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_ttl_counts_from_the_end_of_the_refresh() {
        let script = Script::new(policy());
        script
            .then_after(Duration::from_secs(10), ok(&["gw-1"]))
            .then(ok(&["gw-2"]));
        let cache = cache(&script);
        cache.get().await;
        advance(TTL - Duration::from_secs(1)).await;
        cache.get().await;
        assert_eq!(script.calls(), 1);
        advance(Duration::from_secs(1)).await;
        assert_eq!(ids(&*cache.get().await), ["gw-2"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_is_cached_for_cache_ttl_too() {
        let script = Script::new(policy());
        script.then(unavailable()).then(ok(&["gw-1"]));
        let cache = cache(&script);
        let failed = cache.get().await;
        assert_eq!(kind(&failed), Some(FailureKind::ServerError));
        assert!(text(&failed).contains("\nttn_up 0\n"), "{}", text(&failed));
        advance(TTL - Duration::from_millis(1)).await;
        assert!(Arc::ptr_eq(&cache.get().await, &failed));
        assert_eq!(
            script.calls(),
            1,
            "a broken API is asked once per cache_ttl"
        );
        advance(Duration::from_millis(1)).await;
        let back = cache.get().await;
        assert_eq!(script.calls(), 2);
        assert!(back.snapshot.is_up());
    }

    #[tokio::test(start_paused = true)]
    async fn expire_makes_the_next_scrape_refresh() {
        let script = Script::new(policy());
        script.then(ok(&["gw-1"])).then(ok(&["gw-2"]));
        let cache = cache(&script);
        cache.get().await;
        cache.expire();
        assert_eq!(ids(&*cache.get().await), ["gw-2"]);
        assert_eq!(script.calls(), 2);
        // Fresh again for a whole cache_ttl.
        cache.get().await;
        assert_eq!(script.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn set_source_makes_the_next_scrape_refresh_with_the_new_one() {
        let script = Script::new(policy());
        script.then(ok(&["gw-1"]));
        let cache = cache(&script);
        cache.get().await;
        let other = Script::new(policy());
        other.then(ok(&["gw-other"]));
        cache.set_source(other.clone());
        assert_eq!(ids(&*cache.get().await), ["gw-other"]);
        assert_eq!((script.calls(), other.calls()), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn keep_source_fresh_keeps_the_cached_output() {
        let script = Script::new(policy());
        script.then(ok(&["gw-1"]));
        let cache = cache(&script);
        let first = cache.get().await;
        let same = Script::new(policy());
        cache.keep_source_fresh(same.clone());
        assert!(Arc::ptr_eq(&cache.get().await, &first));
        assert_eq!(same.calls(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_refresh_past_refresh_timeout_fails_as_a_timeout() {
        let script = Script::new(policy());
        script.then_after(REFRESH_TIMEOUT + Duration::from_secs(1), ok(&["gw-1"]));
        let cache = cache(&script);
        let started = tokio::time::Instant::now();
        let e = cache.get().await;
        assert_eq!(started.elapsed(), REFRESH_TIMEOUT);
        assert_eq!(kind(&e), Some(FailureKind::Timeout));
        assert!(
            e.failure.as_deref().unwrap().contains("refresh_timeout"),
            "{:?}",
            e.failure
        );
    }
}

mod backoff {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_429_is_served_until_its_retry_after_when_longer_than_the_ttl() {
        let script = Script::new(policy());
        script.then(rate_limited(120)).then(ok(&["gw-1"]));
        let cache = cache(&script);
        let limited = cache.get().await;
        assert_eq!(kind(&limited), Some(FailureKind::RateLimited));
        assert!(
            limited
                .failure
                .as_deref()
                .unwrap()
                .contains("backing off for 120s"),
            "{:?}",
            limited.failure
        );
        // Past cache_ttl but inside the back-off: no request.
        advance(TTL * 2).await;
        assert!(Arc::ptr_eq(&cache.get().await, &limited));
        assert_eq!(script.calls(), 1);
        advance(Duration::from_secs(120) - TTL * 2).await;
        assert!(cache.get().await.snapshot.is_up(), "recovered after it");
        assert_eq!(script.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_shorter_than_the_ttl_waits_the_ttl() {
        let script = Script::new(policy());
        script.then(rate_limited(1)).then(ok(&["gw-1"]));
        let cache = cache(&script);
        let limited = cache.get().await;
        advance(TTL - Duration::from_millis(1)).await;
        assert!(Arc::ptr_eq(&cache.get().await, &limited));
        advance(Duration::from_millis(1)).await;
        assert!(cache.get().await.snapshot.is_up());
        assert_eq!(script.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_source_waits_for_the_retry_after_not_for_the_ttl() {
        let script = Script::new(policy());
        script.then(rate_limited(2));
        let cache = cache(&script);
        let limited = cache.get().await;
        let other = Script::new(policy());
        other.then(ok(&["gw-other"]));
        cache.set_source(other.clone());
        advance(Duration::from_secs(2) - Duration::from_millis(1)).await;
        assert!(Arc::ptr_eq(&cache.get().await, &limited), "backing off");
        assert_eq!(other.calls(), 0);
        // The API asked for 2 s: past them the new source is asked, though
        // the 429 itself is served for cache_ttl.
        advance(Duration::from_millis(1)).await;
        assert_eq!(ids(&*cache.get().await), ["gw-other"]);
        assert_eq!(other.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_is_capped_at_max_backoff() {
        let script = Script::new(policy());
        script
            .then(rate_limited(MAX_BACKOFF.as_secs() * 10))
            .then(ok(&["gw-1"]));
        let cache = cache(&script);
        cache.get().await;
        advance(MAX_BACKOFF - Duration::from_secs(1)).await;
        cache.get().await;
        assert_eq!(script.calls(), 1);
        advance(Duration::from_secs(1)).await;
        assert!(cache.get().await.snapshot.is_up());
        assert_eq!(script.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_source_waits_for_the_back_off_unless_it_is_cleared() {
        let script = Script::new(policy());
        script.then(rate_limited(600));
        let cache = cache(&script);
        let limited = cache.get().await;
        let other = Script::new(policy());
        other.then(ok(&["gw-other"])).then(ok(&["gw-again"]));
        cache.set_source(other.clone());
        assert!(
            Arc::ptr_eq(&cache.get().await, &limited),
            "still backing off"
        );
        cache.expire();
        assert!(
            Arc::ptr_eq(&cache.get().await, &limited),
            "still backing off"
        );
        assert_eq!(other.calls(), 0);
        cache.clear_backoff();
        assert_eq!(ids(&*cache.get().await), ["gw-other"]);
        assert_eq!(other.calls(), 1);
        // A good refresh ends the back-off: an expiry refreshes at once.
        cache.expire();
        assert_eq!(ids(&*cache.get().await), ["gw-again"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failure_serves_the_last_good_gateways_until_keep_stale_for() {
        let script = Script::new(policy());
        script
            .then(ok(&["gw-a", "gw-b"]))
            .then(unavailable())
            .then(unavailable());
        let cache = cache(&script);
        cache.get().await;
        advance(TTL).await;
        let blip = cache.get().await;
        assert_eq!(kind(&blip), Some(FailureKind::ServerError));
        assert_eq!(ids(&blip), ["gw-a", "gw-b"], "the last good series");
        assert!(blip.snapshot.data_from.is_some());
        // keep_stale_for runs out within this failure's TTL: the next
        // scrape asks again and serves no gateways.
        advance(KEEP_STALE_FOR - TTL).await;
        let out = cache.get().await;
        assert_eq!(script.calls(), 3);
        assert_eq!(kind(&out), Some(FailureKind::ServerError));
        assert!(ids(&out).is_empty(), "{:?}", ids(&out));
        assert!(out.snapshot.data_from.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_back_off_longer_than_keep_stale_for_drops_them_without_asking() {
        let script = Script::new(Policy {
            keep_stale_for: Duration::from_secs(60),
            ..policy()
        });
        script.then(ok(&["gw-a"])).then(rate_limited(600));
        let cache = cache(&script);
        cache.get().await;
        advance(TTL).await;
        let limited = cache.get().await;
        assert_eq!(ids(&limited), ["gw-a"]);
        advance(Duration::from_secs(60) - TTL).await;
        let out = cache.get().await;
        assert_eq!(script.calls(), 2, "no request during the back-off");
        assert!(ids(&out).is_empty());
        assert_eq!(out.failure, limited.failure, "the same failure");
        assert!(text(&out).contains("backing off"), "{}", text(&out));
        assert!(Arc::ptr_eq(&cache.peek().unwrap(), &out), "cached");
        assert!(Arc::ptr_eq(&cache.get().await, &out));
    }
}

mod deadline {
    use super::*;

    const WAIT: Duration = Duration::from_secs(1);
    const SLOW: Duration = Duration::from_secs(10);

    #[tokio::test(start_paused = true)]
    async fn a_scrape_past_its_deadline_gets_the_last_good_series_while_the_refresh_goes_on() {
        let script = Script::new(policy());
        script
            .then(ok(&["gw-old"]))
            .then_after(SLOW, ok(&["gw-new"]));
        let cache = cache(&script);
        let good = cache.get().await;
        advance(TTL).await;
        let started = tokio::time::Instant::now();
        let out = cache.get_within(Some(WAIT)).await;
        assert_eq!(started.elapsed(), WAIT, "waited its deadline, no more");
        assert_eq!(kind(&out), Some(FailureKind::Timeout));
        assert!(
            out.failure
                .as_deref()
                .unwrap()
                .contains("did not finish within the scrape's 1.0s"),
            "{:?}",
            out.failure
        );
        assert_eq!(ids(&out), ["gw-old"], "the last good series");
        assert!(text(&out).contains("\nttn_up 0\n"), "{}", text(&out));
        // Not cached: the old entry stays until the refresh ends.
        assert!(Arc::ptr_eq(&cache.peek().unwrap(), &good));
        // A second impatient scrape joins the same refresh.
        cache.get_within(Some(WAIT)).await;
        assert_eq!(script.calls(), 2);
        // The refresh went on and serves the next scrape.
        sleep(SLOW).await;
        let next = cache.get_within(Some(WAIT)).await;
        assert_eq!(ids(&next), ["gw-new"]);
        assert!(next.snapshot.is_up());
        assert_eq!(script.calls(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_good_refresh_a_late_scrape_gets_ttn_up_0_and_no_gateways() {
        let script = Script::new(policy());
        script.then_after(SLOW, ok(&["gw-1"]));
        let cache = cache(&script);
        let out = cache.get_within(Some(WAIT)).await;
        assert_eq!(kind(&out), Some(FailureKind::Timeout));
        assert!(ids(&out).is_empty());
        assert!(cache.peek().is_none());
        let done = cache.get().await;
        assert_eq!(ids(&done), ["gw-1"]);
        assert_eq!(script.calls(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_scrape_within_its_deadline_gets_the_refresh() {
        let script = Script::new(policy());
        script.then_after(WAIT - Duration::from_millis(1), ok(&["gw-1"]));
        let cache = cache(&script);
        let out = cache.get_within(Some(WAIT)).await;
        assert!(out.snapshot.is_up());
        assert!(Arc::ptr_eq(&cache.peek().unwrap(), &out));
    }

    #[tokio::test(start_paused = true)]
    async fn past_keep_stale_for_a_late_scrape_gets_no_gateways() {
        let script = Script::new(Policy {
            keep_stale_for: TTL,
            ..policy()
        });
        script
            .then(ok(&["gw-old"]))
            .then_after(SLOW, ok(&["gw-new"]));
        let cache = cache(&script);
        cache.get().await;
        advance(TTL).await;
        let out = cache.get_within(Some(WAIT)).await;
        assert_eq!(kind(&out), Some(FailureKind::Timeout));
        assert!(ids(&out).is_empty(), "{:?}", ids(&out));
    }
}

mod reload {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_new_source_during_a_refresh_is_asked_by_the_next_scrape() {
        let script = Script::new(policy());
        script.then_after(Duration::from_secs(5), ok(&["gw-old-key"]));
        let cache = cache(&script);
        let c = cache.clone();
        let first = tokio::spawn(async move { c.get().await });
        settle().await;
        assert_eq!(script.calls(), 1);
        let other = Script::new(policy());
        other.then(ok(&["gw-new-key"]));
        cache.set_source(other.clone());
        // The running refresh finishes with the old source...
        assert_eq!(ids(&first.await.unwrap()), ["gw-old-key"]);
        // ...and does not make the cache fresh: the next scrape asks the new.
        assert_eq!(ids(&*cache.get().await), ["gw-new-key"]);
        assert_eq!(other.calls(), 1);
        cache.get().await;
        assert_eq!(other.calls(), 1, "fresh once the new source answered");
    }

    #[tokio::test(start_paused = true)]
    async fn gateways_read_with_the_old_source_are_not_served_for_the_new_one() {
        let script = Script::new(policy());
        script.then_after(Duration::from_secs(5), ok(&["gw-old-key"]));
        let cache = cache(&script);
        let c = cache.clone();
        let first = tokio::spawn(async move { c.get().await });
        settle().await;
        let other = Script::new(policy());
        other.then(status(401, None));
        cache.set_source(other.clone());
        first.await.unwrap();
        let out = cache.get().await;
        assert_eq!(kind(&out), Some(FailureKind::Unauthorized));
        assert!(ids(&out).is_empty(), "{:?}", ids(&out));
    }
}
