//! Events stream benchmark (docs/performance.md, "Events stream"):
//!
//! 1. parse + aggregate on one core: 1,000,000 events of the recorded
//!    `gs.up.receive` shape (about 1.5 KB of JSON each, 1,000 gateways) fed
//!    as a byte stream in 64 KiB chunks through the code a stream runs
//!    (line framing, decoding, de-duplication, counting), without the socket;
//!    RSS after 100,000 and after 1,000,000 events;
//! 2. the time and size of rendering the events families.
//!
//! Scrape throughput with events off and on is measured against the release
//! binary with wrk in its own process: `tests/bench/events.py`.
//!
//! `cargo bench --bench events` (a `harness = false` bench, about 10 s).

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)] // a test, bench or example crate

use std::sync::Mutex;
use std::time::Instant;

use ttn_exporter::events::aggregate::Aggregator;
use ttn_exporter::events::lines::LineBuf;
use ttn_exporter::events::stream::{count_line, Resume, MAX_LINE};

const GATEWAYS: usize = 1000;
const DISTINCT: usize = 10_000;
const PASSES: usize = 100;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

/// `DISTINCT` lines shaped like the recorded event, varied per gateway.
fn stream_bytes() -> Vec<u8> {
    let text = include_str!("../tests/fixtures/tts/events/gs.up.receive.json");
    let template: serde_json::Value = serde_json::from_str(text).expect("fixture is JSON");
    let mut out = Vec::new();
    for n in 0..DISTINCT {
        let mut v = template.clone();
        let gw = format!("gw-{:06}", n % GATEWAYS);
        let r = &mut v["result"];
        r["identifiers"][0]["gateway_ids"]["gateway_id"] = gw.clone().into();
        r["unique_id"] = format!("01HSJSG0JENAMJHW5V{n:08}").into();
        r["time"] = format!(
            "2024-03-22T09:{:02}:{:02}.{:09}Z",
            n / 3600 % 60,
            n / 60 % 60,
            n
        )
        .into();
        let m = &mut r["data"]["message"];
        m["rx_metadata"][0]["gateway_ids"]["gateway_id"] = gw.into();
        m["rx_metadata"][0]["rssi"] = (-130 + (n % 100) as i64).into();
        m["rx_metadata"][0]["snr"] = (-15.0 + (n % 30) as f64).into();
        m["settings"]["data_rate"]["lora"]["spreading_factor"] = (7 + n % 6).into();
        out.extend_from_slice(v.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

fn parse_and_aggregate() {
    let ids: Vec<String> = (0..GATEWAYS).map(|i| format!("gw-{i:06}")).collect();
    let agg = Mutex::new(Aggregator::default());
    agg.lock().expect("lock").set_gateways(&ids);
    let resume = Mutex::new(Resume::default());
    let bytes = stream_bytes();
    println!(
        "stream: {} distinct events, {:.0} bytes/event on average",
        DISTINCT,
        bytes.len() as f64 / DISTINCT as f64
    );
    let rss_start = rss_kib();
    let mut lines = LineBuf::new(MAX_LINE);
    let mut rss_100k = 0;
    let started = Instant::now();
    for pass in 0..PASSES {
        for chunk in bytes.chunks(64 * 1024) {
            lines
                .feed(chunk, |l| count_line(&agg, &resume, l))
                .expect("no error lines");
        }
        if pass == 9 {
            rss_100k = rss_kib();
        }
    }
    let took = started.elapsed();
    let rss_1m = rss_kib();
    let counted = agg.lock().expect("lock").own.events;
    assert_eq!(counted, (DISTINCT * PASSES) as u64, "every event counted");
    println!(
        "parse+aggregate: {counted} events in {:.2}s on one core: {:.0} events/s ({:.0} MB/s of JSON)",
        took.as_secs_f64(),
        counted as f64 / took.as_secs_f64(),
        (bytes.len() * PASSES) as f64 / took.as_secs_f64() / 1e6
    );
    println!(
        "RSS: before {rss_start} KiB (stream buffer held), after 100,000 events {rss_100k} KiB, after 1,000,000 events {rss_1m} KiB"
    );
    let mut out = Vec::new();
    let t = Instant::now();
    ttn_exporter::events::render::write(&agg.lock().expect("lock"), &|_| true, &mut out)
        .expect("render");
    println!(
        "render of the events families for {GATEWAYS} gateways: {:.2} ms, {} KiB",
        t.elapsed().as_secs_f64() * 1000.0,
        out.len() / 1024
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    parse_and_aggregate();
}
