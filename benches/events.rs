//! Events stream benchmark (docs/performance.md, "Events stream"):
//!
//! 1. parse + aggregate on one core: 1,000,000 events of the recorded
//!    `gs.up.receive` shape (about 1.9 KB of JSON each, 1,000 gateways) fed
//!    as a byte stream in 64 KiB chunks through the code a stream runs
//!    (line framing, decoding, de-duplication, counting), without the socket;
//!    RSS after 100,000 and after 1,000,000 events;
//! 2. scrape throughput at 1,000 gateways with events off and on, in one run
//!    (in-process exporters against the fake TTS, 16 concurrent gzip
//!    scrapers for 3 s each, alternating off/on twice).
//!
//! `cargo bench --bench events` (a `harness = false` bench, about 30 s).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fake_tts::{FakeEvent, FakeGateway, FakeTts, DEFAULT_KEY};
use ttn_exporter::cache::{Cache, Source};
use ttn_exporter::config::{ApiKey, Config, Scope};
use ttn_exporter::events::aggregate::Aggregator;
use ttn_exporter::events::lines::LineBuf;
use ttn_exporter::events::stream::{count_line, Resume, MAX_LINE};
use ttn_exporter::events::{Events, Params, Timing};
use ttn_exporter::metrics::SelfMetrics;
use ttn_exporter::server::{self, Limits};

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

fn config(url: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("literal"),
        api_url: url.parse().expect("fake url"),
        api_key: ApiKey::parse(DEFAULT_KEY).expect("fake key"),
        api_key_source: "bench".into(),
        cache_ttl: Duration::from_secs(3600),
        request_timeout: Duration::from_secs(10),
        refresh_timeout: Duration::from_secs(30),
        max_gateways: 10_000,
        scope: Scope::All,
        legacy_metrics: false,
        config_file: None,
        web_config_file: None,
        events: false,
        events_chunk: 100,
        targets: Vec::new(),
    }
}

async fn exporter(cfg: &Config, events: Option<Arc<Events>>) -> (String, Cache) {
    let own = SelfMetrics::new().expect("metrics");
    let cache = Cache::new(Source::from_config(cfg, &own).expect("source"), own);
    if let Some(e) = events {
        cache.set_extra(e);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/metrics", listener.local_addr().expect("addr"));
    let web = Arc::new(std::sync::RwLock::new(Default::default()));
    tokio::spawn(server::serve(
        listener,
        cache.clone(),
        Limits::default(),
        web,
        std::future::pending::<()>(),
    ));
    (url, cache)
}

async fn load(url: &str) -> (f64, usize) {
    let client = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let size = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(3);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (c, u, d, s) = (client.clone(), url.to_owned(), done.clone(), size.clone());
            tokio::spawn(async move {
                while Instant::now() < until {
                    let r = c.get(&u).header("Accept-Encoding", "gzip").send().await;
                    if let Ok(r) = r {
                        if let Ok(b) = r.bytes().await {
                            s.store(b.len() as u64, Ordering::Relaxed);
                            d.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    (
        done.load(Ordering::Relaxed) as f64 / 3.0,
        size.load(Ordering::Relaxed) as usize,
    )
}

async fn scrape_throughput() {
    let fake = FakeTts::start((0..GATEWAYS).map(FakeGateway::synthetic).collect()).await;
    fake.push_events(
        (0..5 * GATEWAYS)
            .map(|n| FakeEvent::synthetic(n, GATEWAYS))
            .collect(),
    );
    let cfg = config(&fake.url());
    let (off, _) = exporter(&cfg, None).await;
    let events = Arc::new(Events::start(
        Params::from_config(&cfg).expect("client"),
        100,
        Timing::default(),
    ));
    let (on, cache_on) = exporter(&cfg, Some(events.clone())).await;
    let client = reqwest::Client::new();
    let _ = client.get(&off).send().await;
    let _ = client.get(&on).send().await;
    for _ in 0..500 {
        if events.with_aggregator(|a| a.own.events) >= (5 * GATEWAYS) as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Refresh once more so the output carries the counted events.
    cache_on.set_source(Source::from_config(&cfg, cache_on.self_metrics()).expect("source"));
    let body = client
        .get(&on)
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("text");
    println!(
        "events on: {} events counted, {} histogram series in the output",
        events.with_aggregator(|a| a.own.events),
        body.lines()
            .filter(|l| l.starts_with("ttn_gateway_uplink_rssi_dbm_count"))
            .count()
    );
    for round in 1..=2 {
        let (a, sa) = load(&off).await;
        let (b, sb) = load(&on).await;
        println!(
            "round {round}: gzip scrapes/s at {GATEWAYS} gateways: events off {a:.0} ({} KiB), on {b:.0} ({} KiB): on/off {:.0}%",
            sa / 1024,
            sb / 1024,
            100.0 * b / a
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    parse_and_aggregate();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(scrape_throughput());
}
