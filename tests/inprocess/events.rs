//! The events stream (issue 12) against the fake TTS: exact counts, resume
//! without double counting, bounded and sanitised input, a key without the
//! traffic right, gateways that leave, and promtool on the output.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use fake_tts::{FakeEvent, FakeGateway, FakeTts};
use ttn_exporter::cache::{Cache, Source};
use ttn_exporter::config::{ApiKey, Config};
use ttn_exporter::events::{Events, Params, Timing};
use ttn_exporter::metrics::SelfMetrics;
use ttn_exporter::server::{self, Limits};

const GW0: &str = "gw-000000";
const GW1: &str = "gw-000001";
/// 2023-11-14T22:13:20Z in ns: the fake's synthetic epoch.
const T0: i128 = 1_700_000_000 * 1_000_000_000;

fn ms(n: i128) -> i128 {
    T0 + n * 1_000_000
}

struct Setup {
    fake: FakeTts,
    events: Arc<Events>,
    addr: std::net::SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn fast() -> Timing {
    Timing {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        refused_backoff: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(30),
        max_line: 64 * 1024,
    }
}

async fn start_with(fake: FakeTts, key: &str, chunk: usize) -> Setup {
    let mut cfg: Config = config(&fake.url());
    cfg.api_key = ApiKey::parse(key).expect("test key");
    cfg.cache_ttl = Duration::from_millis(1);
    let own = SelfMetrics::new().expect("metrics");
    let cache = Cache::new(Source::from_config(&cfg, &own).expect("source"), own);
    let events = Arc::new(Events::start(
        Params::from_config(&cfg).expect("client"),
        chunk,
        fast(),
    ));
    cache.set_extra(events.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let web = Arc::new(std::sync::RwLock::new(Default::default()));
    tokio::spawn(server::serve(
        listener,
        cache,
        Limits::default(),
        web,
        async {
            let _ = rx.await;
        },
    ));
    Setup {
        fake,
        events,
        addr,
        _stop: tx,
    }
}

async fn start(gateways: usize) -> Setup {
    let fake = fake((0..gateways).map(FakeGateway::synthetic).collect()).await;
    start_with(fake, KEY, 100).await
}

impl Setup {
    async fn scrape(&self) -> String {
        let resp = client()
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .await
            .expect("scrape");
        assert_eq!(resp.status(), 200);
        resp.text().await.expect("text")
    }

    /// Poll the aggregator until `cond` holds (at most 10 s).
    async fn until(
        &self,
        what: &str,
        cond: impl Fn(&ttn_exporter::events::aggregate::Aggregator) -> bool,
    ) {
        for _ in 0..500 {
            if self.events.with_aggregator(&cond) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn streams_open(&self, n: u64) {
        self.until("streams open", |a| a.own.streams_open == n)
            .await;
    }
}

#[tokio::test]
async fn exact_counts_per_gateway() {
    let s = start(2).await;
    let first = s.scrape().await;
    assert_eq!(value(&first, "ttn_up"), Some(1.0));
    s.streams_open(1).await;
    let req = &s.fake.events_requests()[0];
    assert_eq!(req.gateway_ids, vec![GW0.to_owned(), GW1.to_owned()]);
    assert!(req.names.iter().any(|n| n == "gs.up.receive"));
    assert_eq!(req.after, None);

    let rssi: Vec<f64> = (0..50).map(|i| -125.0 + f64::from(i) * 1.5).collect();
    let mut evs: Vec<FakeEvent> = rssi
        .iter()
        .enumerate()
        .map(|(i, r)| {
            FakeEvent::uplink(
                GW0,
                &format!("u{i}"),
                ms(i as i128),
                *r,
                2.5,
                7 + (i % 2) as u32,
                20,
            )
        })
        .collect();
    // Repeated, out of order, and noise that must not count.
    evs.push(FakeEvent::uplink(GW0, "u3", ms(3), -1.0, 2.5, 7, 20));
    evs.push(FakeEvent::uplink(GW1, "v0", ms(-5000), -80.0, -7.0, 12, 13));
    evs.push(FakeEvent::raw(""));
    evs.push(FakeEvent::raw("{\"result\": not json"));
    evs.push(FakeEvent::raw(&format!(
        "{{\"result\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(100_000)
    )));
    evs.push(FakeEvent::unknown(GW0, "x1", ms(60)));
    // A stream may carry events of a gateway it was not asked for.
    evs.push(FakeEvent {
        gateway: None,
        ..FakeEvent::uplink("gw-not-listed", "z1", ms(61), -90.0, 1.0, 7, 20)
    });
    evs.push(FakeEvent::tx_success(GW0, "t1", ms(62)));
    evs.push(FakeEvent::tx_fail(GW0, "t2", ms(63), "TOO_LATE"));
    evs.push(FakeEvent::tx_fail(GW0, "t3", ms(64), "SOMETHING_NEW"));
    evs.push(FakeEvent::up_drop(
        GW0,
        "d1",
        ms(65),
        "duty_cycle\n\u{1b}[31m",
    ));
    evs.push(FakeEvent::connect(GW1, "c1", ms(66)));
    evs.push(FakeEvent::disconnect(GW1, "c2", ms(67)));
    s.fake.push_events(evs);
    // 50 + 1 (gw1) + 1 unknown name + 3 tx + 1 drop + 2 (dis)connect.
    s.until("all events", |a| {
        a.own.events == 58 && a.own.dropped.iter().sum::<u64>() == 4
    })
    .await;
    let out = s.scrape().await;
    let g0 = format!("{{gateway_id=\"{GW0}\"}}");
    assert_eq!(
        value(&out, &format!("ttn_gateway_uplink_rssi_dbm_count{g0}")),
        Some(50.0)
    );
    let sum: f64 = rssi.iter().sum();
    assert_eq!(
        value(&out, &format!("ttn_gateway_uplink_rssi_dbm_sum{g0}")),
        Some(sum)
    );
    assert_eq!(
        value(&out, &format!("ttn_gateway_uplink_snr_db_sum{g0}")),
        Some(125.0)
    );
    assert_eq!(
        value(
            &out,
            &format!("ttn_gateway_uplink_rssi_dbm_bucket{{gateway_id=\"{GW0}\",le=\"-120\"}}")
        ),
        Some(4.0),
        "-125, -123.5, -122, -120.5"
    );
    assert_eq!(
        value(
            &out,
            &format!("ttn_gateway_uplink_rssi_dbm_bucket{{gateway_id=\"{GW0}\",le=\"+Inf\"}}")
        ),
        Some(50.0)
    );
    for (sf, n) in [("7", 25.0), ("8", 25.0)] {
        assert_eq!(
            value(&out, &format!("ttn_gateway_uplinks_received_total{{gateway_id=\"{GW0}\",spreading_factor=\"{sf}\"}}")),
            Some(n)
        );
    }
    assert_eq!(
        value(&out, &format!("ttn_gateway_uplinks_received_total{{gateway_id=\"{GW1}\",spreading_factor=\"12\"}}")),
        Some(1.0)
    );
    // 25 frames of 20 bytes at SF7 (56.576 ms) and 25 at SF8 (102.912 ms).
    let airtime = value(
        &out,
        &format!("ttn_gateway_uplink_airtime_seconds_total{g0}"),
    )
    .expect("airtime");
    assert!(
        (airtime - 25.0 * (0.056576 + 0.102912)).abs() < 1e-6,
        "{airtime}"
    );
    for (result, n) in [("success", 1.0), ("too_late", 1.0), ("unknown", 1.0)] {
        assert_eq!(
            value(
                &out,
                &format!(
                    "ttn_gateway_downlink_tx_total{{gateway_id=\"{GW0}\",result=\"{result}\"}}"
                )
            ),
            Some(n)
        );
    }
    assert_eq!(
        value(&out, &format!("ttn_gateway_uplinks_dropped_total{{gateway_id=\"{GW0}\",reason=\"duty_cycle___31m\"}}")),
        Some(1.0),
        "reason sanitised: {:?}",
        series(&out, "ttn_gateway_uplinks_dropped_total")
    );
    assert_eq!(
        value(
            &out,
            &format!("ttn_gateway_connects_total{{gateway_id=\"{GW1}\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &out,
            &format!("ttn_gateway_disconnects_total{{gateway_id=\"{GW1}\"}}")
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&out, &format!("ttn_gateway_connects_total{g0}")),
        Some(0.0)
    );
    assert_eq!(value(&out, "ttn_exporter_events_total"), Some(58.0));
    for (reason, n) in [
        ("duplicate", 1.0),
        ("unparsable", 1.0),
        ("too_long", 1.0),
        ("unknown_gateway", 1.0),
    ] {
        assert_eq!(
            value(
                &out,
                &format!("ttn_exporter_events_dropped_total{{reason=\"{reason}\"}}")
            ),
            Some(n),
            "{reason}"
        );
    }
    assert_eq!(value(&out, "ttn_exporter_event_streams_open"), Some(1.0));
    assert!(value(&out, "ttn_exporter_last_event_timestamp_seconds").is_some_and(|t| t > 1.7e9));
    assert_eq!(
        value(&out, "ttn_exporter_event_stream_reconnects_total"),
        Some(0.0)
    );
    // Status metrics are all still there.
    assert_eq!(series(&out, "ttn_gateway_connected").len(), 2);
}

#[tokio::test]
async fn the_events_families_are_rendered_at_refresh_not_per_scrape() {
    let fake = fake((0..2).map(FakeGateway::synthetic).collect()).await;
    let cfg = config(&fake.url()); // cache_ttl: an hour
    let exp = Exporter::start(cfg.clone()).await;
    let events = Arc::new(Events::start(
        Params::from_config(&cfg).expect("client"),
        100,
        fast(),
    ));
    exp.cache.set_extra(events.clone());
    let first = exp.scrape().await;
    assert_eq!(value(&first, "ttn_exporter_events_total"), Some(0.0));
    fake.push_events(vec![FakeEvent::uplink(GW0, "a", ms(1), -100.0, 1.0, 7, 20)]);
    for _ in 0..500 {
        if events.with_aggregator(|a| a.own.events) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events.with_aggregator(|a| a.own.events), 1);
    // Counted, but the cached body is served as rendered at the refresh.
    let cached = exp.scrape().await;
    assert_eq!(value(&cached, "ttn_exporter_events_total"), Some(0.0));
    assert!(series(&cached, "ttn_gateway_uplink_rssi_dbm_count").is_empty());
    // The next refresh carries it.
    exp.cache
        .set_source(Source::from_config(&cfg, exp.cache.self_metrics()).expect("source"));
    let refreshed = exp.scrape().await;
    assert_eq!(value(&refreshed, "ttn_exporter_events_total"), Some(1.0));
    assert_eq!(
        series(&refreshed, "ttn_gateway_uplink_rssi_dbm_count"),
        [format!(
            "ttn_gateway_uplink_rssi_dbm_count{{gateway_id=\"{GW0}\"}} 1"
        )]
    );
    exp.stop().await;
}

#[tokio::test]
async fn a_closed_stream_resumes_without_double_counting_or_losing() {
    let fake = fake((0..1).map(FakeGateway::synthetic).collect()).await;
    fake.push_events(
        (0..10)
            .map(|i| FakeEvent::uplink(GW0, &format!("u{i}"), ms(i), -100.0, 1.0, 7, 20))
            .collect(),
    );
    fake.close_next_event_stream_after(4);
    let s = start_with(fake, KEY, 100).await;
    s.scrape().await;
    s.until("10 events", |a| a.own.events >= 10).await;
    s.streams_open(1).await;
    // More arrive on the resumed stream.
    s.fake.push_events(vec![FakeEvent::uplink(
        GW0,
        "u10",
        ms(10),
        -100.0,
        1.0,
        7,
        20,
    )]);
    s.until("11 events", |a| a.own.events >= 11).await;
    let reqs = s.fake.events_requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].after.as_deref(), Some("2023-11-14T22:13:20.003Z"));
    let out = s.scrape().await;
    assert_eq!(value(&out, "ttn_exporter_events_total"), Some(11.0));
    assert_eq!(
        value(
            &out,
            &format!("ttn_gateway_uplink_rssi_dbm_count{{gateway_id=\"{GW0}\"}}")
        ),
        Some(11.0)
    );
    // The fake re-sent the event at `after` itself; it was dropped.
    assert_eq!(
        value(
            &out,
            "ttn_exporter_events_dropped_total{reason=\"duplicate\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&out, "ttn_exporter_event_stream_reconnects_total"),
        Some(1.0)
    );
    assert_eq!(
        value(
            &out,
            "ttn_exporter_event_stream_errors_total{reason=\"closed\"}"
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn an_error_line_ends_the_stream_and_it_reconnects() {
    let s = start(1).await;
    s.scrape().await;
    s.streams_open(1).await;
    s.fake.push_events(vec![
        FakeEvent::uplink(GW0, "a", ms(1), -100.0, 1.0, 7, 20),
        FakeEvent::error_line(14, "unavailable\n\u{7}"),
        FakeEvent::uplink(GW0, "b", ms(2), -100.0, 1.0, 7, 20),
    ]);
    s.until("both events over two streams", |a| {
        a.own.events == 2 && a.own.reconnects == 1
    })
    .await;
    let out = s.scrape().await;
    assert_eq!(
        value(
            &out,
            "ttn_exporter_event_stream_errors_total{reason=\"error_line\"}"
        ),
        Some(1.0)
    );
    // A server-closed stream (all of them, now) reconnects too.
    s.fake.close_event_streams();
    s.until("reconnected", |a| {
        a.own.reconnects == 2 && a.own.streams_open == 1
    })
    .await;
}

/// Collects log lines of this (current-thread) test.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_key_without_the_traffic_right_is_said_once_and_status_still_works() {
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    const NO_TRAFFIC: &str = "NNSXS.NO-TRAFFIC.NOT-A-SECRET";
    let fake = fake((0..150).map(FakeGateway::synthetic).collect()).await;
    fake.set_key_without_traffic_right(NO_TRAFFIC);
    // Two streams (chunks of 100): still one log line.
    let s = start_with(fake, NO_TRAFFIC, 100).await;
    let out = s.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0));
    s.until("both refused", |a| a.own.errors[3] == 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.fake.events_requests().len(), 2, "no retry storm");
    let out = s.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0));
    assert_eq!(series(&out, "ttn_gateway_connected").len(), 150);
    assert_eq!(
        value(
            &out,
            "ttn_exporter_event_stream_errors_total{reason=\"forbidden\"}"
        ),
        Some(2.0)
    );
    assert_eq!(value(&out, "ttn_exporter_event_streams_open"), Some(0.0));
    let text = String::from_utf8_lossy(&logs.0.lock().expect("log lock")).into_owned();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("RIGHT_GATEWAY_TRAFFIC_READ"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains("Read gateway traffic") && lines[0].contains("403"),
        "{}",
        lines[0]
    );
    assert!(!text.contains(NO_TRAFFIC), "the key is never logged");
}

#[tokio::test]
async fn check_says_whether_the_key_reads_traffic() {
    const NO_TRAFFIC: &str = "NNSXS.NO-TRAFFIC.NOT-A-SECRET";
    let fake = fake((0..2).map(FakeGateway::synthetic).collect()).await;
    fake.set_key_without_traffic_right(NO_TRAFFIC);
    let mut cfg = config(&fake.url());
    cfg.events = true;
    ttn_exporter::daemon::check(cfg.clone())
        .await
        .expect("full key passes");
    cfg.api_key = ApiKey::parse(NO_TRAFFIC).expect("key");
    let err = ttn_exporter::daemon::check(cfg.clone())
        .await
        .expect_err("events on, no traffic right");
    assert!(
        err.to_string().contains("RIGHT_GATEWAY_TRAFFIC_READ"),
        "{err}"
    );
    cfg.events = false;
    ttn_exporter::daemon::check(cfg)
        .await
        .expect("events off: only said");
}

#[tokio::test]
async fn chunks_follow_the_gateway_list_and_gone_gateways_vanish() {
    let fake = fake((0..5).map(FakeGateway::synthetic).collect()).await;
    let s = start_with(fake, KEY, 2).await;
    s.scrape().await;
    s.streams_open(3).await;
    let sizes: Vec<usize> = s
        .fake
        .events_requests()
        .iter()
        .map(|r| r.gateway_ids.len())
        .collect();
    assert_eq!(sizes, vec![2, 2, 1]);
    s.fake.push_events(vec![
        FakeEvent::uplink(GW0, "a", ms(1), -100.0, 1.0, 7, 20),
        FakeEvent::uplink(GW1, "b", ms(2), -100.0, 1.0, 7, 20),
    ]);
    s.until("two events", |a| a.own.events == 2).await;
    let out = s.scrape().await;
    // Uplink series only for the gateways that had uplinks; the (dis)connect
    // counters for all five, from 0.
    for family in [
        "ttn_gateway_uplink_rssi_dbm_count",
        "ttn_gateway_uplink_snr_db_count",
        "ttn_gateway_uplink_airtime_seconds_total",
    ] {
        assert_eq!(series(&out, family).len(), 2, "{family}");
    }
    assert_eq!(series(&out, "ttn_gateway_uplink_rssi_dbm_bucket").len(), 12);
    assert_eq!(series(&out, "ttn_gateway_connects_total").len(), 5);
    assert_eq!(
        value(&out, "ttn_gateway_connects_total{gateway_id=\"gw-000004\"}"),
        Some(0.0)
    );
    // gw-000000 leaves: its chunk re-subscribes for gw-000001 alone.
    s.fake
        .set_gateways((1..5).map(FakeGateway::synthetic).collect());
    s.scrape().await;
    s.until("re-chunked", |a| a.gateway(GW0).is_none()).await;
    s.streams_open(3).await;
    let out = s.scrape().await;
    assert!(
        !out.contains(&format!("gateway_id=\"{GW0}\"")),
        "gone gateway's series vanish"
    );
    assert_eq!(series(&out, "ttn_gateway_uplink_rssi_dbm_count").len(), 1);
    assert_eq!(series(&out, "ttn_gateway_connects_total").len(), 4);
    let reqs = s.fake.events_requests();
    assert_eq!(reqs.len(), 4, "only the changed chunk reconnects");
    assert_eq!(reqs[3].gateway_ids, vec![GW1.to_owned()]);
    // Counters never go down while the process lives.
    assert_eq!(value(&out, "ttn_exporter_events_total"), Some(2.0));
}

#[tokio::test]
#[ignore = "needs promtool (apt install prometheus)"]
async fn promtool_is_clean_with_events() {
    let s = start(3).await;
    s.scrape().await;
    s.streams_open(1).await;
    s.fake.push_events(vec![
        FakeEvent::uplink(GW0, "a", ms(1), -100.0, 1.0, 7, 20),
        FakeEvent::tx_fail(GW0, "b", ms(2), "TOO_EARLY"),
        FakeEvent::up_drop(GW1, "c", ms(3), "some_reason"),
        FakeEvent::connect(GW1, "d", ms(4)),
    ]);
    s.until("events", |a| a.own.events == 4).await;
    let out = s.scrape().await;
    assert!(!series(&out, "ttn_gateway_uplink_rssi_dbm_bucket").is_empty());
    let (clean, said) = promtool_check_metrics(&out);
    assert!(clean, "promtool: {said}");
}

#[test]
fn config_keys_env_and_validation() {
    use ttn_exporter::config::{load, Environment, Overrides, ENV_API_KEY};
    let files = Files::new();
    let env = |pairs: &[(&str, &str)]| Environment {
        vars: std::iter::once((ENV_API_KEY.to_owned(), KEY.to_owned()))
            .chain(
                pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
            .collect(),
    };
    let c = load(Some(&files.config()), &Overrides::default(), &env(&[])).expect("defaults");
    assert!(!c.events, "off by default");
    assert_eq!(c.events_chunk, 100);
    let c = load(
        Some(&files.config()),
        &Overrides::default(),
        &env(&[
            ("TTN_EXPORTER_EVENTS", "yes"),
            ("TTN_EXPORTER_EVENTS_CHUNK", "25"),
        ]),
    )
    .expect("env");
    assert!(c.events);
    assert_eq!(c.events_chunk, 25);
    let flags = Overrides {
        events: Some(true),
        events_chunk: Some(7),
        ..Default::default()
    };
    let c = load(Some(&files.config()), &flags, &env(&[])).expect("flags");
    assert!(c.events && c.events_chunk == 7);
    write_file(&files.config(), "events = true\nevents_chunk = 0\n", 0o644);
    let err = load(Some(&files.config()), &Overrides::default(), &env(&[]))
        .expect_err("0 is refused")
        .to_string();
    assert!(err.contains("events_chunk"), "{err}");
}

#[tokio::test]
async fn shards_carry_the_events_series_of_their_gateways() {
    let s = start(4).await;
    s.scrape().await;
    s.streams_open(1).await;
    s.fake.push_events(
        (0..4)
            .map(|i| {
                FakeEvent::uplink(
                    &format!("gw-00000{i}"),
                    &format!("u{i}"),
                    ms(i),
                    -100.0,
                    1.0,
                    7,
                    20,
                )
            })
            .collect(),
    );
    s.until("4 events", |a| a.own.events == 4).await;
    s.scrape().await;
    let mut seen = Vec::new();
    for i in 0..2 {
        let body = client()
            .get(format!("http://{}/metrics?shard={i}&shards=2", s.addr))
            .send()
            .await
            .expect("shard scrape")
            .text()
            .await
            .expect("text");
        let connected: Vec<&str> = series(&body, "ttn_gateway_connected")
            .iter()
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        let counted: Vec<&str> = series(&body, "ttn_gateway_uplink_rssi_dbm_count")
            .iter()
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        assert_eq!(
            connected, counted,
            "shard {i}: events series of its own gateways"
        );
        assert_eq!(value(&body, "ttn_exporter_events_total"), Some(4.0));
        seen.extend(counted.into_iter().map(str::to_owned));
    }
    seen.sort();
    assert_eq!(
        seen,
        (0..4).map(|i| format!("gw-00000{i}")).collect::<Vec<_>>()
    );
}
