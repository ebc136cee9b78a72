//! How the streams behave: resume without double counting, error lines,
//! a key without the traffic right, `check`, and chunks that follow the
//! gateway list.

use super::*;

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

/// The real server accepts the stream of a key without "Read gateway
/// traffic" and silently leaves out the traffic events (pkg/events/grpc:
/// RequireAny, then each event's visibility). The exporter says so once, at
/// start, from `/auth_info`; connects and disconnects still arrive.
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
    let mut cfg = config(&fake.url());
    cfg.api_key = ApiKey::parse(NO_TRAFFIC).expect("key");
    cfg.events = true;
    ttn_exporter::daemon::warn_without_traffic_right(&cfg).await;
    // Two streams (chunks of 100): both accepted, nothing refused.
    let s = start_with(fake, NO_TRAFFIC, 100).await;
    let out = s.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0));
    s.streams_open(2).await;
    s.fake.push_events(vec![
        FakeEvent::uplink("gw-000000", "u1", 1_000, -90.0, 5.0, 7, 20),
        FakeEvent::connect("gw-000000", "c1", 2_000),
    ]);
    s.until("the connect", |a| a.own.events == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let out = s.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0));
    assert_eq!(series(&out, "ttn_gateway_connected").len(), 150);
    assert_eq!(
        value(&out, "ttn_exporter_events_total"),
        Some(1.0),
        "the uplink never came"
    );
    assert_eq!(
        value(&out, "ttn_gateway_connects_total{gateway_id=\"gw-000000\"}"),
        Some(1.0)
    );
    assert!(
        !out.contains("ttn_gateway_uplinks_received_total{"),
        "{out}"
    );
    assert_eq!(
        value(
            &out,
            "ttn_exporter_event_stream_errors_total{reason=\"forbidden\"}"
        ),
        Some(0.0)
    );
    let text = String::from_utf8_lossy(&logs.0.lock().expect("log lock")).into_owned();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("RIGHT_GATEWAY_TRAFFIC_READ"))
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains("Read gateway traffic") && lines[0].contains("leaves out"),
        "{}",
        lines[0]
    );
    assert!(!text.contains(NO_TRAFFIC), "the key is never logged");
    // A key with the right: nothing said.
    logs.0.lock().expect("log lock").clear();
    cfg.api_key = ApiKey::parse(fake_tts::DEFAULT_KEY).expect("key");
    ttn_exporter::daemon::warn_without_traffic_right(&cfg).await;
    assert!(logs.0.lock().expect("log lock").is_empty());
}

#[tokio::test]
async fn check_says_whether_the_key_reads_traffic() {
    const NO_TRAFFIC: &str = "NNSXS.NO-TRAFFIC.NOT-A-SECRET";
    let fake = fake((0..2).map(FakeGateway::synthetic).collect()).await;
    fake.set_key_without_traffic_right(NO_TRAFFIC);
    let mut cfg = config(&fake.url());
    cfg.events = true;
    ttn_exporter::cli::check::check(cfg.clone())
        .await
        .expect("full key passes");
    cfg.api_key = ApiKey::parse(NO_TRAFFIC).expect("key");
    let err = ttn_exporter::cli::check::check(cfg.clone())
        .await
        .expect_err("events on, no traffic right");
    assert!(
        err.to_string().contains("RIGHT_GATEWAY_TRAFFIC_READ"),
        "{err}"
    );
    cfg.events = false;
    ttn_exporter::cli::check::check(cfg)
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

/// The real server begins every stream with `events.stream.start`. A server
/// that accepts and closes at once (after that line, or after one event)
/// is retried with a growing back-off: the back-off resets only after a
/// stream stayed up for `stable`, and the start line is counted nowhere.
#[tokio::test]
async fn accepted_then_closed_streams_back_off() {
    let fake = fake(vec![FakeGateway::synthetic(0)]).await;
    fake.close_every_event_stream_after(Some(0));
    let s = start_with(fake, KEY, 100).await;
    let _ = s.scrape().await;
    s.until("a few reconnects", |a| a.own.reconnects >= 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = s.fake.events_requests().len();
    // fast(): 20 ms doubling to 200 ms. Reset after each stream (the old
    // rule) that is one connection every 10-20 ms, about 100 here.
    assert!(n <= 25, "{n} connections in about 1.5 s");
    let out = s.scrape().await;
    assert_eq!(
        value(&out, "ttn_exporter_events_total"),
        Some(0.0),
        "the start line counted"
    );
    for r in s.fake.events_requests() {
        assert_eq!(r.after, None, "the start line moved `after`");
    }
}

/// The server sends no keep-alive: a stream silent for `idle_timeout` is
/// reconnected, but counts no error and adds no back-off.
#[tokio::test]
async fn a_quiet_stream_is_not_an_error() {
    let fake = fake(vec![FakeGateway::synthetic(0)]).await;
    let timing = Timing {
        idle_timeout: Duration::from_millis(200),
        ..fast()
    };
    let s = start_timed(fake, KEY, 100, timing).await;
    let _ = s.scrape().await;
    s.until("quiet reconnects", |a| a.own.reconnects >= 3).await;
    let out = s.scrape().await;
    let errors: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("ttn_exporter_event_stream_errors_total{"))
        .collect();
    assert!(!errors.is_empty(), "{out}");
    for line in errors {
        assert!(line.ends_with(" 0"), "{line}");
    }
}

/// One event dated 9999-12-31 must not make every later reconnect ask for
/// events after it (issue: hardening round 2, item 5).
#[tokio::test]
async fn an_event_from_the_future_does_not_poison_the_resume_time() {
    let fake = fake((0..1).map(FakeGateway::synthetic).collect()).await;
    let year_9999: i128 = 253_402_300_799_999_999_999;
    fake.push_events(vec![
        FakeEvent::uplink(GW0, "u0", ms(0), -100.0, 1.0, 7, 20),
        FakeEvent::uplink(GW0, "u1", year_9999, -100.0, 1.0, 7, 20),
        FakeEvent::uplink(GW0, "u2", ms(2), -100.0, 1.0, 7, 20),
    ]);
    fake.close_next_event_stream_after(2);
    let s = start_with(fake, KEY, 100).await;
    s.scrape().await;
    s.until("2 events", |a| a.own.events >= 2).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while s.fake.events_requests().len() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reqs = s.fake.events_requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    let after = reqs[1].after.as_deref().expect("after");
    assert!(!after.starts_with("9999"), "{after}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // At most the local clock plus the allowed skew (60 s), and not older
    // than the event before it.
    let year: u64 = after[..4].parse().unwrap();
    let this_year = 1970 + now / 31_557_600;
    assert!(year <= this_year, "{after}");
    assert!(after > "2023-11-14T22:13:20.000Z", "{after}");
}

/// With `events_chunk = 1` and more gateways than the descriptor budget
/// allows streams, the chunks grow to fit; past the largest chunk the rest
/// get no stream (issue: hardening round 2, item 6). Scrapes keep working.
#[tokio::test]
async fn the_streams_stay_within_their_descriptor_budget() {
    let fake = fake((0..10).map(FakeGateway::synthetic).collect()).await;
    let timing = Timing {
        max_streams: 3,
        ..fast()
    };
    let s = start_timed(fake, KEY, 1, timing).await;
    let out = s.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0));
    s.streams_open(3).await;
    // Every gateway is in one of the 3 subscriptions (4 gateways each).
    let mut covered: Vec<String> = s
        .fake
        .events_requests()
        .into_iter()
        .flat_map(|r| r.gateway_ids)
        .collect();
    covered.sort();
    covered.dedup();
    assert_eq!(covered.len(), 10, "{covered:?}");
    assert!(s.fake.events_requests().len() <= 3);
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.events
        .with_aggregator(|a| assert_eq!(a.own.streams_open, 3, "never more than the budget"));
}

/// All the streams of one key share one connect pace (issue: hardening
/// round 2, item 4): a server that ends every stream at once is not asked
/// again by each of them at their own back-off.
#[tokio::test]
async fn the_streams_of_one_key_share_one_connect_pace() {
    let fake = fake((0..20).map(FakeGateway::synthetic).collect()).await;
    fake.close_every_event_stream_after(Some(0));
    let timing = Timing {
        connect_burst: 5,
        connect_interval: Duration::from_millis(100),
        ..fast()
    };
    let s = start_timed(fake, KEY, 1, timing).await;
    let started = std::time::Instant::now();
    let _ = s.scrape().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let n = s.fake.events_requests().len();
    let elapsed = started.elapsed().as_secs_f64();
    // 5 at once, then one per 100 ms (+2 for the edges). Each of the 20
    // streams on its own back-off (20 ms doubling to 200 ms) would have
    // made about 10 in that time, some 200 in all.
    let bound = 5 + (elapsed / 0.1) as usize + 2;
    assert!(
        n <= bound,
        "{n} connections in {elapsed:.2} s, bound {bound}"
    );
    assert!(n >= 5, "the burst was not used: {n}");
}
