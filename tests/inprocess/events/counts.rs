//! What the events stream counts and renders: exact histogram counts, when
//! the families are rendered, promtool on the output, the config keys, and
//! shards.

use super::*;

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
    evs.push(FakeEvent::uplink_crc_failed(GW0, "crc1", ms(61)));
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
    evs.push(FakeEvent::disconnect_because(
        GW1,
        "c3",
        ms(68),
        "pkg/errors",
        "context_deadline_exceeded",
    ));
    evs.push(FakeEvent::schedule_fail(
        GW0,
        "s1",
        ms(69),
        "too_late",
        "duty_cycle",
    ));
    evs.push(FakeEvent::schedule_fail(
        GW0,
        "s2",
        ms(70),
        "conflict",
        "duty_cycle",
    ));
    evs.push(FakeEvent::schedule_refused(
        GW0,
        "s3",
        ms(71),
        "not_allowed",
    ));
    s.fake.push_events(evs);
    // 50 + 1 (gw1) + 1 unknown name + 1 CRC failed + 3 tx + 1 drop + 3
    // (dis)connects + 3 schedule failures.
    s.until("all events", |a| {
        a.own.events == 63 && a.own.dropped.iter().sum::<u64>() == 4
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
    for (reason, n) in [
        ("context_canceled", 1.0),
        ("context_deadline_exceeded", 1.0),
    ] {
        assert_eq!(
            value(&out, &format!("ttn_gateway_disconnect_reasons_total{{gateway_id=\"{GW1}\",reason=\"{reason}\"}}")),
            Some(n),
            "{:?}",
            series(&out, "ttn_gateway_disconnect_reasons_total")
        );
    }
    for (reason, n) in [("duty_cycle", 2.0), ("not_allowed", 1.0)] {
        assert_eq!(
            value(&out, &format!("ttn_gateway_downlink_schedule_failures_total{{gateway_id=\"{GW0}\",reason=\"{reason}\"}}")),
            Some(n),
            "{:?}",
            series(&out, "ttn_gateway_downlink_schedule_failures_total")
        );
    }
    assert!(
        s.fake.events_requests()[0]
            .names
            .iter()
            .any(|n| n == "gs.down.schedule.fail"),
        "subscribed"
    );
    assert_eq!(
        value(
            &out,
            &format!("ttn_gateway_disconnects_total{{gateway_id=\"{GW1}\"}}")
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&out, &format!("ttn_gateway_connects_total{g0}")),
        Some(0.0)
    );
    assert_eq!(value(&out, "ttn_exporter_events_total"), Some(63.0));
    // The CRC-failed frame is counted on its own, not in the RSSI/SF series.
    assert_eq!(
        value(&out, &format!("ttn_gateway_uplinks_crc_failed_total{g0}")),
        Some(1.0)
    );
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
    let mut cfg = config(&fake.url()); // cache_ttl: an hour
    cfg.events = true;
    let app = App::builder(&cfg)
        .events_timing(fast())
        .build()
        .expect("the exporter");
    let exp = Exporter::start_app(app, Limits::default(), Default::default()).await;
    let events = exp.events.clone().expect("events on");
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

/// An uplink claiming a 1 Hz bandwidth (2.76e9 s of airtime) or SF 99 is
/// not a frame a radio received: counted as unparsable, adding nothing
/// (issue: hardening round 2, item 7).
#[tokio::test]
async fn impossible_radio_settings_add_no_airtime() {
    let fake = fake((0..1).map(FakeGateway::synthetic).collect()).await;
    let real = FakeEvent::uplink(GW0, "u0", ms(0), -100.0, 1.0, 7, 20);
    let mut one_hz = FakeEvent::uplink(GW0, "u1", ms(1), -100.0, 1.0, 7, 20);
    one_hz.line = one_hz
        .line
        .replace("\"bandwidth\":125000", "\"bandwidth\":1");
    assert!(one_hz.line.contains("\"bandwidth\":1,") || one_hz.line.contains("\"bandwidth\":1}"));
    let mut sf99 = FakeEvent::uplink(GW0, "u2", ms(2), -100.0, 1.0, 7, 20);
    sf99.line = sf99
        .line
        .replace("\"spreading_factor\":7", "\"spreading_factor\":99");
    assert!(sf99.line.contains("\"spreading_factor\":99"));
    fake.push_events(vec![real, one_hz, sf99]);
    let s = start_with(fake, KEY, 100).await;
    s.scrape().await;
    s.until("3 lines", |a| {
        a.own.events + a.own.dropped.iter().sum::<u64>() >= 3
    })
    .await;
    let out = s.scrape().await;
    let g0 = format!("{{gateway_id=\"{GW0}\"}}");
    let airtime = value(
        &out,
        &format!("ttn_gateway_uplink_airtime_seconds_total{g0}"),
    )
    .expect("airtime");
    assert!(airtime < 0.1, "{airtime}");
    assert_eq!(
        value(&out, &format!("ttn_gateway_uplink_rssi_dbm_count{g0}")),
        Some(1.0)
    );
    assert_eq!(
        value(
            &out,
            "ttn_exporter_events_dropped_total{reason=\"unparsable\"}"
        ),
        Some(2.0)
    );
}
