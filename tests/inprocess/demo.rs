//! `cargo run --example demo` serves a fleet: the example's own `start` on
//! port 0, scraped like Prometheus would, with counters that move.

#[allow(dead_code)] // the example's `main` and port handling are not used here
#[path = "../../examples/demo.rs"]
mod example;

use std::time::{Duration, Instant};

use crate::common::*;
use crate::helpers::get_text;

fn uplinks(text: &str) -> f64 {
    series(text, "ttn_gateway_uplink_messages_total")
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_a_changing_fleet() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let d = example::start(
        listener,
        example::Settings {
            gateways: 50,
            cache_ttl: Duration::ZERO,
            tick: Duration::from_millis(100),
        },
    )
    .await
    .unwrap();
    let url = |p: &str| format!("http://{}{p}", d.addr);
    let scrape = || get_text(url("/metrics"));

    let first = scrape().await;
    assert_eq!(value(&first, "ttn_up"), Some(1.0), "{first}");
    assert_eq!(series(&first, "ttn_gateway_connected").len(), 50);
    let connected = series(&first, "ttn_gateway_connected")
        .iter()
        .filter(|l| l.ends_with(" 1"))
        .count();
    assert_eq!(connected, 40, "some gateways are offline");
    assert!(!series(&first, "ttn_gateway_round_trip_median_seconds").is_empty());

    // Counters grow between refreshes.
    let start = uplinks(&first);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        if uplinks(&scrape().await) > start {
            break;
        }
        assert!(Instant::now() < deadline, "uplink counters never grew");
    }

    let page = get_text(url("/")).await;
    assert!(
        page.contains("50 gateways, 40 connected, 10 offline"),
        "{page}"
    );
    assert!(page.contains("Lab &lt;test&gt; &amp; &quot;friends&quot;"));
    d.stop().await;
}

#[tokio::test]
async fn a_busy_port_falls_back_to_a_free_one() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let l = example::bind(port).await.unwrap();
    let got = l.local_addr().unwrap().port();
    assert_ne!(got, port);
    assert_ne!(got, 0);
}
