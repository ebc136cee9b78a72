//! What a reload (SIGHUP) does to the cache, in-process: a reload that
//! keeps the API settings keeps the cached output fresh; a new key or scope
//! refreshes on the next scrape, except while the API asked us to back off
//! (issue 9 item 9: each reload dropped the cache and the 429 back-off).

use crate::common::*;
use fake_tts::{FakeGateway, Fault, Route};
use ttn_exporter::cache::Source;
use ttn_exporter::config::ApiKey;

const NEW_KEY: &str = "NNSXS.FAKE-ROTATED-KEY.NOT-A-SECRET";

#[tokio::test]
async fn unchanged_api_settings_keep_the_cache_fresh() {
    let fake = fake((0..2).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    assert_eq!(value(&exp.scrape().await, "ttn_up"), Some(1.0));
    for _ in 0..10 {
        let source = Source::from_config(&config(&fake.url()), exp.cache.self_metrics()).unwrap();
        exp.cache.keep_source_fresh(source);
        exp.scrape().await;
    }
    assert_eq!(fake.requests(Route::ListGateways), 1);
    exp.stop().await;
}

#[tokio::test]
async fn a_new_key_keeps_the_back_off_of_the_same_host() {
    let fake = fake((0..2).map(FakeGateway::synthetic).collect()).await;
    fake.set_keys(&[KEY, NEW_KEY]);
    fake.set_fault(
        Route::ListGateways,
        Some(Fault::RateLimited { retry_secs: 3600 }),
    );
    let exp = Exporter::start(config(&fake.url())).await;
    assert_eq!(value(&exp.scrape().await, "ttn_up"), Some(0.0));
    assert_eq!(fake.requests(Route::ListGateways), 1);
    fake.set_fault(Route::ListGateways, None);
    // A rotated key for the same API: still backing off, no request.
    let mut cfg = config(&fake.url());
    cfg.api_key = ApiKey::parse(NEW_KEY).unwrap();
    let source = Source::from_config(&cfg, exp.cache.self_metrics()).unwrap();
    exp.cache.set_source(source);
    for _ in 0..5 {
        assert_eq!(value(&exp.scrape().await, "ttn_up"), Some(0.0));
    }
    assert_eq!(fake.requests(Route::ListGateways), 1);
    // Another host: the back-off was for the old one.
    exp.cache.clear_backoff();
    assert_eq!(value(&exp.scrape().await, "ttn_up"), Some(1.0));
    assert_eq!(fake.requests(Route::ListGateways), 2);
    assert_eq!(fake.seen_tokens().last().map(String::as_str), Some(NEW_KEY));
    exp.stop().await;
}
