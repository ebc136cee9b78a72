//! What the last status says beyond its metrics (issue: fidelity, item 8):
//! `versions`, `boot_time`, `time` (the gateway's clock) and the last TX
//! acknowledgment, from recorded bodies in the server's shapes and from the
//! fake, bounded against hostile ones.

use crate::common::*;
use crate::helpers::fixture;
use fake_tts::FakeGateway;
use ttn_exporter::metrics::write_gateways;
use ttn_exporter::model::{ConnectionStats, Gateway};
use ttn_exporter::tts::types::ApiStats;
use ttn_exporter::tts::{MAX_STATUS_VERSIONS, MAX_STATUS_VERSION_VALUE};

fn stats(json: serde_json::Value) -> ConnectionStats {
    serde_json::from_value::<ApiStats>(json).unwrap().into()
}

fn render(gateways: &[Gateway]) -> String {
    let mut out = Vec::new();
    write_gateways(gateways, false, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn gateway(id: &str, s: ConnectionStats) -> Gateway {
    Gateway {
        id: id.into(),
        stats: Some(s),
        ..Gateway::default()
    }
}

#[test]
fn basic_station_versions_from_the_version_message() {
    // Current servers record the station's `version` message as a status
    // with `versions` and `time`, and no metrics.
    let g = gateway("gw-bs", stats(fixture("stats-basicstation-versions.json")));
    let text = render(&[g]);
    assert_eq!(
        series(&text, "ttn_gateway_status_version_info"),
        [
            r#"ttn_gateway_status_version_info{gateway_id="gw-bs",component="firmware",version="2.1.0"} 1"#,
            r#"ttn_gateway_status_version_info{gateway_id="gw-bs",component="package",version="1.0.0"} 1"#,
            r#"ttn_gateway_status_version_info{gateway_id="gw-bs",component="platform",version="rpi"} 1"#,
            r#"ttn_gateway_status_version_info{gateway_id="gw-bs",component="station",version="2.0.6(rpi/std)"} 1"#,
        ]
    );
    // 2026-11-30T08:12:44.356102771Z
    assert_eq!(
        value(
            &text,
            r#"ttn_gateway_clock_timestamp_seconds{gateway_id="gw-bs"}"#
        ),
        Some(1_796_026_364.356_102_8)
    );
    assert!(
        !text.contains("ttn_gateway_boot_timestamp_seconds{"),
        "{text}"
    );
    assert!(text.contains("# TYPE ttn_gateway_status_version_info gauge\n"));
}

#[test]
fn udp_clock_boot_time_and_last_tx_acknowledgment() {
    let mut json = fixture("stats-udp-connected.json");
    json["last_status"]["boot_time"] = "2022-02-01T00:00:00Z".into();
    json["last_tx_acknowledgment_received_at"] = "2022-02-12T10:20:00.5Z".into();
    let text = render(&[gateway("gw-udp", stats(json))]);
    // time 2022-02-12T10:30:47Z, received 2022-02-12T10:31:24.046048254Z:
    // the gateway's clock is 37 s behind.
    let clock = value(
        &text,
        r#"ttn_gateway_clock_timestamp_seconds{gateway_id="gw-udp"}"#,
    );
    let received = value(
        &text,
        r#"ttn_gateway_last_status_timestamp_seconds{gateway_id="gw-udp"}"#,
    );
    assert_eq!(clock, Some(1_644_661_847.0));
    assert!((received.unwrap() - clock.unwrap() - 37.046).abs() < 0.001);
    assert_eq!(
        value(
            &text,
            r#"ttn_gateway_boot_timestamp_seconds{gateway_id="gw-udp"}"#
        ),
        Some(1_643_673_600.0)
    );
    assert_eq!(
        value(
            &text,
            r#"ttn_gateway_last_tx_acknowledgment_timestamp_seconds{gateway_id="gw-udp"}"#
        ),
        Some(1_644_661_200.5)
    );
    assert_eq!(
        series(&text, "ttn_gateway_status_version_info"),
        [
            r#"ttn_gateway_status_version_info{gateway_id="gw-udp",component="ttn-lw-gateway-server",version="3.17.2"} 1"#
        ]
    );
}

#[test]
fn a_disconnected_gateway_keeps_its_history() {
    // Timestamps and the versions it last reported are history, like
    // ttn_gateway_info: they stay for the 48 h the server keeps the record.
    let mut json = fixture("stats-udp-connected.json");
    json.as_object_mut().unwrap().remove("connected_at");
    json["disconnected_at"] = "2022-02-12T11:00:00Z".into();
    json["last_status"]["boot_time"] = "2022-02-01T00:00:00Z".into();
    let text = render(&[gateway("gw-udp", stats(json))]);
    for name in [
        "ttn_gateway_clock_timestamp_seconds",
        "ttn_gateway_boot_timestamp_seconds",
        "ttn_gateway_status_version_info",
    ] {
        assert_eq!(series(&text, name).len(), 1, "{name}: {text}");
    }
    // The readings of the present are not served.
    assert!(series(&text, "ttn_gateway_status_metric").is_empty());
}

#[test]
fn hostile_versions_are_bounded_and_one_line() {
    let mut versions = serde_json::Map::new();
    for n in 0..1000 {
        versions.insert(format!("c{n:04}"), format!("v{n}").into());
    }
    versions.insert("aaa-long".into(), "é".repeat(10_000).into());
    versions.insert("aaa-nl".into(), "1.0\n# TYPE x counter".into());
    versions.insert("aaa-num".into(), 5.into());
    versions.insert("aaa-obj".into(), serde_json::json!({"a": 1}));
    versions.insert("a\nb".into(), "1".into());
    versions.insert("k".repeat(37), "1".into());
    let s = stats(serde_json::json!({"connected_at": "2026-01-01T00:00:00Z",
        "last_status": {"versions": versions, "time": "yesterday", "boot_time": 7}}));
    assert!(s.status_versions.len() <= MAX_STATUS_VERSIONS);
    assert_eq!(
        s.status_versions["aaa-long"].chars().count(),
        MAX_STATUS_VERSION_VALUE + 3
    );
    assert_eq!(&*s.status_versions["aaa-nl"], "1.0 # TYPE x counter");
    assert!(!s.status_versions.contains_key("aaa-num"));
    assert!(!s.status_versions.contains_key("aaa-obj"));
    assert!(!s
        .status_versions
        .keys()
        .any(|k| k.contains('\n') || k.len() > 36));
    // Unreadable times drop those fields only, counted as invalid.
    assert_eq!((s.status_time, s.boot_time), (None, None));
    assert!(s.invalid.contains(&"last_status.time"));
    assert!(s.invalid.contains(&"last_status.boot_time"));
    assert!(s.is_connected());
    let text = render(&[gateway("gw-x", s)]);
    assert!(!text.contains("\n# TYPE x"), "{text}");
}

#[tokio::test]
async fn the_exporter_serves_the_status_details_of_the_fake() {
    // Synthetic kind 0 (UDP) has `time`, `boot_time` and `versions` in its
    // status and a TX acknowledgment from gateway 4 on.
    let fake = fake((0..8).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    let t0 = fake_tts::SYNTHETIC_EPOCH as f64;
    assert_eq!(
        value(
            &out,
            r#"ttn_gateway_clock_timestamp_seconds{gateway_id="gw-000004"}"#
        ),
        Some(t0 + 3594.0)
    );
    assert_eq!(
        value(
            &out,
            r#"ttn_gateway_boot_timestamp_seconds{gateway_id="gw-000000"}"#
        ),
        Some(t0 - 86400.0)
    );
    assert_eq!(
        value(
            &out,
            r#"ttn_gateway_last_tx_acknowledgment_timestamp_seconds{gateway_id="gw-000004"}"#
        ),
        Some(t0 + 3454.123456)
    );
    assert!(out.contains(
        r#"ttn_gateway_status_version_info{gateway_id="gw-000000",component="firmware",version="fake-1.0"} 1"#
    ));
    // gw-000002 disconnected with its whole last record retained: its
    // history is served, its readings of the present are not.
    let gone = r#"{gateway_id="gw-000002""#;
    for name in [
        "ttn_gateway_clock_timestamp_seconds",
        "ttn_gateway_last_downlink_timestamp_seconds",
        "ttn_gateway_downlink_messages_total",
        "ttn_gateway_status_version_info",
    ] {
        assert!(out.contains(&format!("{name}{gone}")), "{name}: {out}");
    }
    for name in [
        "ttn_gateway_status_metric",
        "ttn_gateway_round_trip_median_seconds",
        "ttn_gateway_sub_band_downlink_utilization_ratio",
    ] {
        assert!(!out.contains(&format!("{name}{gone}")), "{name}: {out}");
    }
    exp.stop().await;
}
