//! Rendering tests: recorded API bodies in, exact exposition lines out.

use std::io::Read;
use std::time::{Duration, UNIX_EPOCH};

use crate::helpers::fixture;
use ttn_exporter::metrics::{render, SelfMetrics};
use ttn_exporter::model::{ConnectionStats, Failure, FailureKind, Gateway, Snapshot};
use ttn_exporter::tts::types::ApiStats;

fn fixture_stats(name: &str) -> ConnectionStats {
    serde_json::from_value::<ApiStats>(fixture(name))
        .unwrap()
        .into()
}

fn fleet() -> Vec<Gateway> {
    vec![
        Gateway {
            id: "gw-udp".into(),
            eui: Some("1111111111111111".into()),
            name: Some("Roof".into()),
            frequency_plan_ids: vec!["EU_863_870_TTN".into()],
            gateway_server_address: None,
            stats: Some(fixture_stats("stats-udp-connected.json")),
            ..Gateway::default()
        },
        Gateway {
            id: "gw-bs".into(),
            eui: Some("2222222222222222".into()),
            name: Some("Tower \"A\"\\B\nC".into()),
            frequency_plan_ids: vec!["EU_863_870".into(), "EU_863_870_TTN".into()],
            gateway_server_address: None,
            stats: Some(fixture_stats("stats-basicstation.json")),
            ..Gateway::default()
        },
        Gateway {
            id: "gw-rt".into(),
            stats: Some(fixture_stats("stats-round-trip.json")),
            ..Gateway::default()
        },
        Gateway {
            id: "gw-gone".into(),
            stats: Some(ConnectionStats {
                disconnected_at: Some(1_700_000_000.5),
                ..ConnectionStats::default()
            }),
            ..Gateway::default()
        },
        Gateway::with_id("gw-never"),
    ]
}

fn snapshot(gateways: Vec<Gateway>, failure: Option<Failure>) -> Snapshot {
    Snapshot {
        gateways: gateways.into(),
        data_from: None,
        failure,
        finished_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        duration: Duration::from_millis(250),
        last_success: Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        not_found: Default::default(),
    }
}

fn text(s: &Snapshot, legacy: bool) -> String {
    let own = SelfMetrics::new().unwrap();
    let r = render(s, &own, legacy);
    let plain = String::from_utf8(r.plain().to_vec()).unwrap();
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&r.gzip()[..])
        .read_to_string(&mut unzipped)
        .unwrap();
    assert_eq!(plain, unzipped, "gzip must hold the same text");
    plain
}

fn assert_lines(out: &str, lines: &[&str]) {
    for l in lines {
        assert!(
            out.lines().any(|x| x == *l),
            "missing line {l:?} in:\n{out}"
        );
    }
}

fn assert_no_series(out: &str, prefixes: &[&str]) {
    for p in prefixes {
        assert!(
            !out.lines().any(|x| x.starts_with(p)),
            "unexpected series {p:?} in:\n{out}"
        );
    }
}

#[test]
fn connected_udp_gateway_exact_series() {
    let out = text(&snapshot(fleet(), None), false);
    assert_lines(
        &out,
        &[
            "ttn_up 1",
            "ttn_exporter_gateways 5",
            "ttn_exporter_refresh_duration_seconds 0.25",
            "ttn_exporter_last_refresh_timestamp_seconds 1800000000",
            "# TYPE ttn_gateway_uplink_messages_total counter",
            "# TYPE ttn_gateway_connected gauge",
            "ttn_gateway_info{gateway_id=\"gw-udp\",gateway_eui=\"1111111111111111\",name=\"Roof\",protocol=\"udp\",frequency_plan=\"EU_863_870_TTN\"} 1",
            "ttn_gateway_connected{gateway_id=\"gw-udp\"} 1",
            "ttn_gateway_connected_timestamp_seconds{gateway_id=\"gw-udp\"} 1643634374.4558334",
            "ttn_gateway_last_status_timestamp_seconds{gateway_id=\"gw-udp\"} 1644661884.0460482",
            "ttn_gateway_last_uplink_timestamp_seconds{gateway_id=\"gw-udp\"} 1644661762.155226",
            "ttn_gateway_last_seen_timestamp_seconds{gateway_id=\"gw-udp\"} 1644661884.0460482",
            "ttn_gateway_uplink_messages_total{gateway_id=\"gw-udp\"} 9043",
            "ttn_gateway_downlink_messages_total{gateway_id=\"gw-udp\"} 0",
            "ttn_gateway_tx_acknowledgments_total{gateway_id=\"gw-udp\"} 0",
            "ttn_gateway_status_metric{gateway_id=\"gw-udp\",metric=\"rxin\"} 0",
            "ttn_gateway_status_metric{gateway_id=\"gw-udp\",metric=\"ackr\"} 0",
            "ttn_exporter_build_info{version=\"0.1.0\"} 1",
        ],
    );
    // Omitted timestamps give no series.
    assert_no_series(
        &out,
        &[
            "ttn_gateway_last_downlink_timestamp_seconds{gateway_id=\"gw-udp\"}",
            "ttn_gateway_disconnected_timestamp_seconds{gateway_id=\"gw-udp\"}",
            "ttn_gateway_round_trip_min_seconds{gateway_id=\"gw-udp\"}",
            "ttn_gateway_sub_band_downlink_utilization_ratio{gateway_id=\"gw-udp\"",
        ],
    );
}

#[test]
fn basicstation_sub_bands_round_trips_and_escaping() {
    let out = text(&snapshot(fleet(), None), false);
    assert_lines(
        &out,
        &[
            "ttn_gateway_info{gateway_id=\"gw-bs\",gateway_eui=\"2222222222222222\",name=\"Tower \\\"A\\\"\\\\B\\nC\",protocol=\"ws\",frequency_plan=\"EU_863_870,EU_863_870_TTN\"} 1",
            "ttn_gateway_sub_band_downlink_utilization_ratio{gateway_id=\"gw-bs\",min_frequency=\"0\",max_frequency=\"18446744073709551615\"} 0.000071413335",
            "ttn_gateway_sub_band_downlink_utilization_limit_ratio{gateway_id=\"gw-bs\",min_frequency=\"0\",max_frequency=\"18446744073709551615\"} 1",
            "ttn_gateway_uplink_messages_total{gateway_id=\"gw-bs\"} 2605",
            "ttn_gateway_downlink_messages_total{gateway_id=\"gw-bs\"} 5",
            "ttn_gateway_round_trip_min_seconds{gateway_id=\"gw-rt\"} 0.018661971",
            "ttn_gateway_round_trip_median_seconds{gateway_id=\"gw-rt\"} 0.055015637",
            "ttn_gateway_round_trip_max_seconds{gateway_id=\"gw-rt\"} 0.167531337",
            "ttn_gateway_round_trip_samples{gateway_id=\"gw-rt\"} 32",
        ],
    );
    assert_no_series(&out, &["ttn_gateway_status_metric{gateway_id=\"gw-bs\""]);
}

#[test]
fn disconnected_and_never_connected_gateways() {
    let out = text(&snapshot(fleet(), None), false);
    assert_lines(
        &out,
        &[
            "ttn_gateway_connected{gateway_id=\"gw-gone\"} 0",
            "ttn_gateway_disconnected_timestamp_seconds{gateway_id=\"gw-gone\"} 1700000000.5",
            "ttn_gateway_uplink_messages_total{gateway_id=\"gw-gone\"} 0",
            "ttn_gateway_connected{gateway_id=\"gw-never\"} 0",
            "ttn_gateway_info{gateway_id=\"gw-never\",gateway_eui=\"\",name=\"\",protocol=\"\",frequency_plan=\"\"} 1",
        ],
    );
    assert_no_series(
        &out,
        &[
            "ttn_gateway_uplink_messages_total{gateway_id=\"gw-never\"}",
            "ttn_gateway_last_seen_timestamp_seconds{gateway_id=\"gw-never\"}",
            "ttn_gateway_last_seen_timestamp_seconds{gateway_id=\"gw-gone\"}",
            "ttn_gateway_connected_timestamp_seconds{gateway_id=\"gw-gone\"}",
        ],
    );
}

#[test]
fn both_timestamps_set_counts_as_offline() {
    let mut g = Gateway::with_id("gw-old-server");
    g.stats = Some(ConnectionStats {
        connected_at: Some(1.0),
        disconnected_at: Some(2.0),
        ..ConnectionStats::default()
    });
    let out = text(&snapshot(vec![g], None), false);
    assert_lines(
        &out,
        &["ttn_gateway_connected{gateway_id=\"gw-old-server\"} 0"],
    );
}

#[test]
fn failed_refresh_renders_up_0_and_no_gateways() {
    let failure = Failure {
        kind: FailureKind::Unauthorized,
        message: "list_gateways answered HTTP 401 api_key_not_found: check the key".into(),
        retry_after: None,
        endpoint: Some("list_gateways"),
        correlation_id: None,
        gateway_id: None,
    };
    let out = text(&snapshot(Vec::new(), Some(failure)), false);
    assert_lines(
        &out,
        &[
            "# ttn_up 0: list_gateways answered HTTP 401 api_key_not_found: check the key",
            "ttn_up 0",
            "ttn_exporter_gateways 0",
        ],
    );
    assert_no_series(&out, &["ttn_gateway_"]);
}

#[test]
fn legacy_names_only_when_asked() {
    let out = text(&snapshot(fleet(), None), false);
    assert_no_series(&out, &["ttn_gateway_messages_", "ttn_gateway_uplink{"]);
    let out = text(&snapshot(fleet(), None), true);
    assert_lines(
        &out,
        &[
            "ttn_gateway_messages_uplink_count{gateway_id=\"gw-udp\"} 9043",
            "ttn_gateway_messages_downlink_count{gateway_id=\"gw-bs\"} 5",
            "ttn_gateway_messages_uplink{gateway_id=\"gw-udp\"} 9043",
            "ttn_gateway_messages_downlink{gateway_id=\"gw-bs\"} 5",
            "ttn_gateway_messages_rx_ok{gateway_id=\"gw-udp\"} 0",
            "ttn_gateway_messages_tx_in{gateway_id=\"gw-never\"} 0",
            "ttn_gateway_uplink{gateway_id=\"gw-bs\"} 2605",
            "ttn_gateway_downlink{gateway_id=\"gw-never\"} 0",
        ],
    );
}

#[test]
fn every_family_has_help_and_type() {
    let out = text(&snapshot(fleet(), None), true);
    for line in out.lines().filter(|l| !l.starts_with('#')) {
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(
            out.contains(&format!("# HELP {name} ")),
            "no HELP for {name}"
        );
        assert!(
            out.contains(&format!("# TYPE {name} ")),
            "no TYPE for {name}"
        );
    }
}

#[test]
fn special_floats_and_huge_counters_are_written_exactly() {
    let mut g = Gateway::with_id("gw-odd");
    let mut stats = ConnectionStats {
        uplink_count: Some(u64::MAX - 1),
        // Connected: a disconnected gateway has no status metrics.
        connected_at: Some(1_700_000_000.0),
        ..ConnectionStats::default()
    };
    stats.status_metrics.insert("temp".into(), f64::NAN);
    stats.status_metrics.insert("hot".into(), f64::INFINITY);
    stats
        .status_metrics
        .insert("cold".into(), f64::NEG_INFINITY);
    stats.status_metrics.insert("we\"ird\\".into(), 0.5);
    g.stats = Some(stats);
    let out = text(&snapshot(vec![g], None), false);
    assert_lines(
        &out,
        &[
            "ttn_gateway_uplink_messages_total{gateway_id=\"gw-odd\"} 18446744073709551614",
            "ttn_gateway_status_metric{gateway_id=\"gw-odd\",metric=\"temp\"} NaN",
            "ttn_gateway_status_metric{gateway_id=\"gw-odd\",metric=\"hot\"} +Inf",
            "ttn_gateway_status_metric{gateway_id=\"gw-odd\",metric=\"cold\"} -Inf",
            "ttn_gateway_status_metric{gateway_id=\"gw-odd\",metric=\"we\\\"ird\\\\\"} 0.5",
        ],
    );
}

#[test]
fn a_family_without_samples_writes_nothing() {
    let out = text(&snapshot(vec![Gateway::with_id("gw-never")], None), false);
    assert!(!out.contains("ttn_gateway_round_trip_min_seconds"));
    assert!(!out.contains("ttn_gateway_status_metric"));
    assert!(out.contains("# TYPE ttn_gateway_connected gauge"));
}
