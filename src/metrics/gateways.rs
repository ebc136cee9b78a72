//! The per-gateway families: a table of (name, help, type, how to draw the
//! samples from a gateway), written one family at a time; and the legacy
//! names of the Python exporter.

use std::io::Write;

use super::text::{Family, Kind, Value};
use crate::model::{ConnectionStats, Gateway, Location, RoundTrip, SubBand};

/// How one family's samples are drawn from a gateway.
type Emit = fn(&Gateway, &mut Family);

/// Write the per-gateway families, in the order of the interface's table,
/// one family at a time (only one family's text is buffered).
pub fn write_gateways(
    gateways: &[Gateway],
    legacy: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    use Kind::{Counter, Gauge};
    fn ts(f: &mut Family, g: &Gateway, get: fn(&ConnectionStats) -> Option<f64>) {
        if let Some(v) = g.stats.as_ref().and_then(get) {
            f.gateway(g, Value::F(v));
        }
    }
    fn count(f: &mut Family, g: &Gateway, get: fn(&ConnectionStats) -> Option<u64>) {
        if let Some(v) = g.stats.as_ref().and_then(get) {
            f.gateway(g, Value::U(v));
        }
    }
    // Gauges that describe the present: a disconnected gateway's retained
    // record (served for 48 h after a disconnect) is history, not a reading.
    fn present(g: &Gateway) -> Option<&ConnectionStats> {
        g.stats.as_ref().filter(|s| s.is_connected())
    }
    fn round_trip(f: &mut Family, g: &Gateway, get: fn(&RoundTrip) -> Value) {
        if let Some(rt) = present(g).and_then(|s| s.round_trip.as_ref()) {
            f.gateway(g, get(rt));
        }
    }
    fn sub_bands(f: &mut Family, g: &Gateway, get: fn(&SubBand) -> f64) {
        for b in present(g).into_iter().flat_map(|s| &s.sub_bands) {
            let (lo, hi) = (b.min_frequency.to_string(), b.max_frequency.to_string());
            let labels = [
                ("gateway_id", g.id.as_str()),
                ("min_frequency", lo.as_str()),
                ("max_frequency", hi.as_str()),
            ];
            f.sample(&labels, Value::F(get(b)));
        }
    }
    fn location(f: &mut Family, g: &Gateway, get: fn(&Location) -> Option<f64>) {
        if let Some((l, source)) = g.best_location() {
            if let Some(v) = get(l) {
                f.sample(
                    &[("gateway_id", g.id.as_str()), ("source", source)],
                    Value::F(v),
                );
            }
        }
    }
    let families: [(&str, &str, Kind, Emit); 26] = [
        (
            "ttn_gateway_info",
            "Always 1; the gateway's EUI, name, protocol, frequency plan and the registry attributes that info_attributes names as labels.",
            Gauge,
            |g, f| {
                let plans = g.frequency_plan_ids.join(",");
                let protocol = g.stats.as_ref().and_then(|s| s.protocol.as_deref());
                let mut labels = vec![
                    ("gateway_id", g.id.as_str()),
                    ("gateway_eui", g.eui.as_deref().unwrap_or("")),
                    ("name", g.name.as_deref().unwrap_or("")),
                    ("protocol", protocol.unwrap_or("")),
                    ("frequency_plan", &plans),
                ];
                labels.extend(g.info_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                f.sample(&labels, Value::U(1));
            },
        ),
        (
            "ttn_gateway_connected",
            "1 when the gateway is connected to its Gateway Server, else 0; absent when the key may not read its status.",
            Gauge,
            |g, f| {
                // Without status rights nothing is known: not "0".
                if !g.stats_refused {
                    f.gateway(g, Value::U(u64::from(g.is_connected())));
                }
            },
        ),
        (
            "ttn_gateway_connected_timestamp_seconds",
            "When the gateway connected (Unix time).",
            Gauge,
            |g, f| {
                ts(f, g, |s| s.connected_at);
            },
        ),
        (
            "ttn_gateway_disconnected_timestamp_seconds",
            "When the gateway disconnected (Unix time).",
            Gauge,
            |g, f| {
                if let Some(t) = g.disconnected_at() {
                    f.gateway(g, Value::F(t));
                }
            },
        ),
        (
            "ttn_gateway_last_seen_timestamp_seconds",
            "Newest of last uplink, status, downlink and TX acknowledgment (Unix time).",
            Gauge,
            |g, f| {
                if let Some(t) = g.last_seen() {
                    f.gateway(g, Value::F(t));
                }
            },
        ),
        (
            "ttn_gateway_last_uplink_timestamp_seconds",
            "When the last uplink was received (Unix time).",
            Gauge,
            |g, f| {
                ts(f, g, |s| s.last_uplink_received_at);
            },
        ),
        (
            "ttn_gateway_last_downlink_timestamp_seconds",
            "When the last downlink was sent (Unix time).",
            Gauge,
            |g, f| {
                ts(f, g, |s| s.last_downlink_received_at);
            },
        ),
        (
            "ttn_gateway_last_status_timestamp_seconds",
            "When the last status message was received (Unix time).",
            Gauge,
            |g, f| {
                ts(f, g, |s| s.last_status_received_at);
            },
        ),
        (
            "ttn_gateway_uplink_messages_total",
            "Uplink messages received since the gateway connected (resets on reconnect).",
            Counter,
            |g, f| {
                count(f, g, |s| s.uplink_count);
            },
        ),
        (
            "ttn_gateway_downlink_messages_total",
            "Downlink messages sent since the gateway connected (resets on reconnect).",
            Counter,
            |g, f| {
                count(f, g, |s| s.downlink_count);
            },
        ),
        (
            "ttn_gateway_tx_acknowledgments_total",
            "TX acknowledgments received since the gateway connected (resets on reconnect).",
            Counter,
            |g, f| {
                count(f, g, |s| s.tx_acknowledgment_count);
            },
        ),
        (
            "ttn_gateway_round_trip_min_seconds",
            "Shortest round-trip time between Gateway Server and gateway.",
            Gauge,
            |g, f| {
                round_trip(f, g, |r| Value::F(r.min));
            },
        ),
        (
            "ttn_gateway_round_trip_median_seconds",
            "Median round-trip time between Gateway Server and gateway.",
            Gauge,
            |g, f| {
                round_trip(f, g, |r| Value::F(r.median));
            },
        ),
        (
            "ttn_gateway_round_trip_max_seconds",
            "Longest round-trip time between Gateway Server and gateway.",
            Gauge,
            |g, f| {
                round_trip(f, g, |r| Value::F(r.max));
            },
        ),
        (
            "ttn_gateway_round_trip_samples",
            "Number of round-trip time samples.",
            Gauge,
            |g, f| {
                round_trip(f, g, |r| Value::U(r.count));
            },
        ),
        (
            "ttn_gateway_sub_band_downlink_utilization_ratio",
            "Downlink airtime used in the last hour in this sub-band, as a fraction of the hour.",
            Gauge,
            |g, f| {
                sub_bands(f, g, |b| b.downlink_utilization);
            },
        ),
        (
            "ttn_gateway_sub_band_downlink_utilization_limit_ratio",
            "Downlink duty-cycle limit of this sub-band, as a fraction of airtime.",
            Gauge,
            |g, f| {
                sub_bands(f, g, |b| b.downlink_utilization_limit);
            },
        ),
        (
            "ttn_gateway_status_metric",
            "A metric from the gateway's last status message (rxin, rxok, txok, temp, ...).",
            Gauge,
            |g, f| {
                for (name, v) in present(g).into_iter().flat_map(|s| &s.status_metrics) {
                    f.sample(
                        &[("gateway_id", g.id.as_str()), ("metric", name)],
                        Value::F(*v),
                    );
                }
            },
        ),
        (
            "ttn_gateway_location_latitude_degrees",
            "Latitude of the gateway (WGS84); source: registry antenna or status.",
            Gauge,
            |g, f| {
                location(f, g, |l| Some(l.latitude));
            },
        ),
        (
            "ttn_gateway_location_longitude_degrees",
            "Longitude of the gateway (WGS84); source: registry antenna or status.",
            Gauge,
            |g, f| {
                location(f, g, |l| Some(l.longitude));
            },
        ),
        (
            "ttn_gateway_location_altitude_meters",
            "Altitude of the gateway; source: registry antenna or status.",
            Gauge,
            |g, f| {
                location(f, g, |l| l.altitude);
            },
        ),
        (
            "ttn_gateway_version_info",
            "Always 1; the gateway's brand, model, hardware, firmware and runtime version from the registry.",
            Gauge,
            |g, f| {
                if let Some(v) = &g.version_ids {
                    f.sample(
                        &[
                            ("gateway_id", g.id.as_str()),
                            ("brand_id", v.brand_id.as_str()),
                            ("model_id", v.model_id.as_str()),
                            ("hardware_version", v.hardware_version.as_str()),
                            ("firmware_version", v.firmware_version.as_str()),
                            ("runtime_version", v.runtime_version.as_str()),
                        ],
                        Value::U(1),
                    );
                }
            },
        ),
        (
            "ttn_gateway_last_tx_acknowledgment_timestamp_seconds",
            "When the last TX acknowledgment was received (Unix time).",
            Gauge,
            |g, f| {
                ts(f, g, |s| s.last_tx_acknowledgment_received_at);
            },
        ),
        (
            "ttn_gateway_boot_timestamp_seconds",
            "When the gateway booted, from its last status (Unix time).",
            Gauge,
            |g, f| {
                ts(f, g, |s| s.boot_time);
            },
        ),
        (
            "ttn_gateway_clock_timestamp_seconds",
            "The gateway's own clock in its last status (Unix time); minus ttn_gateway_last_status_timestamp_seconds it is the clock offset.",
            Gauge,
            |g, f| {
                ts(f, g, |s| s.status_time);
            },
        ),
        (
            "ttn_gateway_status_version_info",
            "Always 1; one series per software component the gateway reported in its last status (station, firmware, package, platform, ...).",
            Gauge,
            |g, f| {
                for (component, version) in g.stats.iter().flat_map(|s| &s.status_versions) {
                    f.sample(
                        &[
                            ("gateway_id", g.id.as_str()),
                            ("component", component),
                            ("version", version),
                        ],
                        Value::U(1),
                    );
                }
            },
        ),
    ];
    for (name, help, kind, emit) in families {
        let mut f = Family::new(name, help, kind);
        for g in gateways {
            emit(g, &mut f);
        }
        f.finish(out)?;
    }
    if legacy {
        write_legacy(gateways, out)?;
    }
    Ok(())
}

/// The Python exporter's names, so its dashboards keep working. Like it, a
/// gateway without the value reports 0.
fn write_legacy(gateways: &[Gateway], out: &mut impl Write) -> std::io::Result<()> {
    fn up(s: &ConnectionStats) -> f64 {
        s.uplink_count.unwrap_or(0) as f64
    }
    fn down(s: &ConnectionStats) -> f64 {
        s.downlink_count.unwrap_or(0) as f64
    }
    fn rx_ok(s: &ConnectionStats) -> f64 {
        s.status_metrics.get("rxok").copied().unwrap_or(0.0)
    }
    fn tx_in(s: &ConnectionStats) -> f64 {
        s.status_metrics.get("txin").copied().unwrap_or(0.0)
    }
    type Getter = fn(&ConnectionStats) -> f64;
    let defs: [(&'static str, &'static str, Getter); 8] = [
        (
            "ttn_gateway_messages_uplink_count",
            "Number of uplink_count messages (legacy name).",
            up,
        ),
        (
            "ttn_gateway_messages_downlink_count",
            "Number of downlink_count messages (legacy name).",
            down,
        ),
        (
            "ttn_gateway_messages_uplink",
            "Number of uplink messages (legacy name).",
            up,
        ),
        (
            "ttn_gateway_messages_downlink",
            "Number of downlink messages (legacy name).",
            down,
        ),
        (
            "ttn_gateway_messages_rx_ok",
            "Number of rx_ok messages (legacy name).",
            rx_ok,
        ),
        (
            "ttn_gateway_messages_tx_in",
            "Number of tx_in messages (legacy name).",
            tx_in,
        ),
        (
            "ttn_gateway_uplink",
            "Number of uplink messages processed by the gateway (legacy name).",
            up,
        ),
        (
            "ttn_gateway_downlink",
            "Number of downlink messages processed by the gateway (legacy name).",
            down,
        ),
    ];
    for (name, help, get) in defs {
        let mut f = Family::new(name, help, Kind::Gauge);
        for g in gateways {
            f.gateway(g, Value::F(g.stats.as_ref().map_or(0.0, get)));
        }
        f.finish(out)?;
    }
    Ok(())
}
