//! `promtool check metrics` (Debian package `prometheus`) on the exporter's
//! real output: it must find nothing to complain about.

use crate::common::*;
use fake_tts::{FakeGateway, Fault, Route};

#[tokio::test]
#[ignore = "needs promtool (apt install prometheus)"]
async fn promtool_finds_nothing_in_the_default_output() {
    let fake = fake((0..40).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    assert!(series(&out, "ttn_gateway_connected").len() == 40);
    assert!(!series(&out, "ttn_gateway_sub_band_downlink_utilization_ratio").is_empty());
    assert!(!series(&out, "ttn_gateway_status_metric").is_empty());
    assert!(!series(&out, "ttn_gateway_round_trip_median_seconds").is_empty());
    assert!(!series(&out, "process_resident_memory_bytes").is_empty());
    let (clean, said) = promtool_check_metrics(&out);
    assert!(clean, "promtool: {said}");
    exp.stop().await;
}

#[tokio::test]
#[ignore = "needs promtool (apt install prometheus)"]
async fn promtool_accepts_the_failure_output() {
    let fake = fake(Vec::new()).await;
    fake.set_fault(
        Route::ListGateways,
        Some(Fault::RateLimited { retry_secs: 3 }),
    );
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0));
    let (clean, said) = promtool_check_metrics(&out);
    assert!(clean, "promtool: {said}");
    exp.stop().await;
}

#[test]
#[ignore = "needs promtool (apt install prometheus)"]
fn promtool_is_not_a_rubber_stamp() {
    let (clean, _) =
        promtool_check_metrics("# TYPE x_total counter\nx_total{a=\"1\"} 1\nbad line here\n");
    assert!(!clean, "promtool accepted garbage");
}

/// `legacy_metrics` keeps the Python exporter's gauge names, which are part
/// of the interface baseline: promtool's only findings are the two `_count`
/// gauges, as docs/metrics.md says.
#[tokio::test]
#[ignore = "needs promtool (apt install prometheus)"]
async fn promtool_finds_only_the_documented_legacy_count_names() {
    let fake = fake((0..4).map(FakeGateway::synthetic).collect()).await;
    let mut cfg = config(&fake.url());
    cfg.legacy_metrics = true;
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    exp.stop().await;
    let (_, said) = promtool_check_metrics(&out);
    let mut findings: Vec<&str> = said.lines().filter(|l| !l.trim().is_empty()).collect();
    findings.sort_unstable();
    assert_eq!(
        findings,
        [
            "ttn_gateway_messages_downlink_count non-histogram and non-summary metrics should not have \"_count\" suffix",
            "ttn_gateway_messages_uplink_count non-histogram and non-summary metrics should not have \"_count\" suffix",
        ],
        "{said}"
    );
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/metrics.md")).unwrap();
    assert!(
        docs.contains("should not have \"_count\"\nsuffix")
            || docs.contains("should not have \"_count\" suffix")
    );
}
