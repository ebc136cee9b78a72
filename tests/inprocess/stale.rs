//! API blips: a failed refresh keeps serving the last good gateway series
//! for `keep_stale_for` (with `ttn_up 0` and their age), then drops them.
//! A vanished series resolves every firing alert in Prometheus, so a 6 s
//! 503 must not make the gateways disappear.

use std::time::Duration;

use crate::common::*;
use crate::helpers::fixture;
use fake_tts::{FakeGateway, Fault, Route};

fn fleet() -> Vec<FakeGateway> {
    let mut up = FakeGateway::new("gw-up");
    up.stats = Some(fixture("stats-udp-connected.json"));
    let mut down = FakeGateway::new("gw-down");
    down.stats = Some(serde_json::json!({
        "disconnected_at": "2024-05-01T10:00:00.250Z",
        "last_status_received_at": "2024-05-01T09:59:00Z",
        "protocol": "udp",
        "uplink_count": "12",
    }));
    vec![up, down]
}

fn unavailable() -> Fault {
    Fault::Status {
        code: 503,
        body: r#"{"code":14,"message":"error:pkg/test:unavailable (deploy)"}"#.into(),
        headers: Vec::new(),
    }
}

/// The gateway series of `text` (their lines), for comparing two scrapes.
fn gateway_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("ttn_gateway_"))
        .collect()
}

async fn start(keep: Duration) -> (fake_tts::FakeTts, Exporter) {
    let fake = fake(fleet()).await;
    let mut cfg = config(&fake.url());
    cfg.keep_stale_for = keep;
    let exp = Exporter::start(cfg).await;
    (fake, exp)
}

#[tokio::test]
async fn a_failed_refresh_serves_the_last_good_gateway_series_with_their_age() {
    let (fake, exp) = start(Duration::from_secs(60)).await;
    let good = exp.scrape().await;
    assert_eq!(value(&good, "ttn_up"), Some(1.0));
    assert_eq!(
        value(&good, "ttn_exporter_gateway_data_age_seconds"),
        Some(0.0)
    );
    let good_series = gateway_lines(&good);
    assert!(good_series.len() > 10, "{good}");

    fake.set_fault(Route::ListGateways, Some(unavailable()));
    // Real time, for the age of the served series.
    tokio::time::sleep(Duration::from_millis(300)).await;
    exp.cache.expire();
    let blip = exp.scrape().await;
    assert_eq!(value(&blip, "ttn_up"), Some(0.0), "{blip}");
    assert_eq!(
        value(
            &blip,
            "ttn_exporter_refresh_errors_total{reason=\"server_error\"}"
        ),
        Some(1.0)
    );
    // The same series with the same values: last seen stays last seen.
    assert_eq!(gateway_lines(&blip), good_series);
    let age = value(&blip, "ttn_exporter_gateway_data_age_seconds").expect("age gauge");
    assert!((0.25..5.0).contains(&age), "age {age}: {blip}");
    assert!(
        blip.contains("# serving the gateway series of the last good refresh"),
        "{blip}"
    );
    assert_eq!(
        value(&blip, "ttn_exporter_gateways"),
        value(&good, "ttn_exporter_gateways")
    );
    // The status page says where its gateway table comes from.
    let page = crate::helpers::get_text(exp.url("/")).await;
    assert!(page.contains("from the last successful refresh"), "{page}");
    assert!(page.contains("gw-up"), "{page}");

    fake.set_fault(Route::ListGateways, None);
    exp.cache.expire();
    let back = exp.scrape().await;
    assert_eq!(value(&back, "ttn_up"), Some(1.0));
    assert_eq!(
        value(&back, "ttn_exporter_gateway_data_age_seconds"),
        Some(0.0)
    );
    exp.stop().await;
}

#[tokio::test]
async fn past_keep_stale_for_the_gateway_series_are_dropped() {
    let (fake, exp) = start(Duration::from_millis(1500)).await;
    exp.scrape().await;
    fake.set_fault(Route::ListGateways, Some(unavailable()));
    exp.cache.expire();
    let blip = exp.scrape().await;
    assert!(!series(&blip, "ttn_gateway_connected").is_empty(), "{blip}");
    // Past keep_stale_for (real time): the failure's own TTL is an hour.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0));
    assert!(series(&out, "ttn_gateway_connected").is_empty(), "{out}");
    assert_eq!(value(&out, "ttn_exporter_gateway_data_age_seconds"), None);
    assert_eq!(value(&out, "ttn_exporter_gateways"), Some(0.0));
    // Still none on the next failed refresh: the last good data is gone.
    exp.cache.expire();
    let out = exp.scrape().await;
    assert!(series(&out, "ttn_gateway_connected").is_empty(), "{out}");
    exp.stop().await;
}

#[tokio::test]
async fn keep_stale_for_zero_drops_them_at_the_first_failure() {
    let (fake, exp) = start(Duration::ZERO).await;
    let good = exp.scrape().await;
    assert!(!series(&good, "ttn_gateway_connected").is_empty());
    fake.set_fault(Route::ListGateways, Some(unavailable()));
    exp.cache.expire();
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0));
    assert!(out.contains("reason=\"unauthorized\""), "{out}");
    assert!(series(&out, "ttn_gateway_connected").is_empty(), "{out}");
    drop(fake);
    exp.stop().await;
}

#[tokio::test]
async fn a_back_off_longer_than_keep_stale_for_drops_them_without_asking_the_api() {
    let (fake, exp) = start(Duration::from_millis(1500)).await;
    exp.scrape().await;
    fake.set_fault(
        Route::ListGateways,
        Some(Fault::RateLimited { retry_secs: 30 }),
    );
    exp.cache.expire();
    let limited = exp.scrape().await;
    assert!(
        !series(&limited, "ttn_gateway_connected").is_empty(),
        "{limited}"
    );
    let asked = fake.requests(Route::ListGateways);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0));
    assert!(series(&out, "ttn_gateway_connected").is_empty(), "{out}");
    assert!(out.contains("backing off"), "the same failure: {out}");
    assert_eq!(
        fake.requests(Route::ListGateways),
        asked,
        "no request during the back-off"
    );
    exp.stop().await;
}

#[tokio::test]
async fn a_scrape_that_stops_waiting_serves_the_last_good_series() {
    let (fake, exp) = start(Duration::from_secs(60)).await;
    let good = exp.scrape().await;
    fake.set_fault(
        Route::ListGateways,
        Some(Fault::Delay(Duration::from_millis(1500))),
    );
    exp.cache.expire();
    let out = client()
        .get(exp.url("/metrics"))
        .header("X-Prometheus-Scrape-Timeout-Seconds", "1")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(value(&out, "ttn_up"), Some(0.0), "{out}");
    assert!(out.contains("did not finish within the scrape"), "{out}");
    assert_eq!(gateway_lines(&out), gateway_lines(&good));
    exp.stop().await;
}

#[tokio::test]
async fn a_new_key_forgets_the_last_good_series() {
    let (fake, exp) = start(Duration::from_secs(60)).await;
    let good = exp.scrape().await;
    assert!(!series(&good, "ttn_gateway_connected").is_empty());
    // A key the fake does not know: every refresh with it fails (401).
    let mut cfg = config(&fake.url());
    cfg.api_key = ttn_exporter::config::keys::ApiKey::parse("NNSXS.FAKE-UNKNOWN-TEST-KEY").unwrap();
    let own = exp.cache.self_metrics().clone();
    exp.cache
        .set_source(ttn_exporter::cache::Source::from_config(&cfg, &own).unwrap());
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0));
    assert!(out.contains("reason=\"unauthorized\""), "{out}");
    assert!(series(&out, "ttn_gateway_connected").is_empty(), "{out}");
    drop(fake);
    exp.stop().await;
}
