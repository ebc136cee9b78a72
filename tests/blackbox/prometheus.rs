//! A real Prometheus server (Debian package `prometheus`) scrapes the
//! exporter: it must parse the gzip output and see the gateways.

use std::time::{Duration, Instant};

use crate::common::*;
use crate::prometheus_server::Prometheus;
use fake_tts::FakeGateway;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus (apt install prometheus)"]
async fn prometheus_scrapes_the_exporter() {
    let fake = fake((0..12).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let prom = Prometheus::scraping(exp.addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = (None, None, None);
    while Instant::now() < deadline {
        seen = (
            prom.number("up{job=\"ttn\"}").await,
            prom.number("ttn_up").await,
            prom.number("count(ttn_gateway_connected)").await,
        );
        if seen == (Some(1.0), Some(1.0), Some(12.0)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(seen, (Some(1.0), Some(1.0), Some(12.0)));
    assert_eq!(prom.number("sum(ttn_gateway_connected)").await, Some(6.0));
    assert_eq!(
        prom.number("ttn_gateway_uplink_messages_total{gateway_id=\"gw-000004\"}")
            .await,
        Some(1028.0)
    );
    // The target has no scrape error.
    let t = prom.api("/api/v1/targets", &[]).await.unwrap();
    assert_eq!(
        t.pointer("/data/activeTargets/0/lastError")
            .and_then(|v| v.as_str()),
        Some("")
    );
    exp.stop().await;
}
