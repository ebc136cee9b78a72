//! The events families in the text format, written from the aggregator
//! once per refresh (not per scrape).

use std::io::{self, Write};

use super::aggregate::{
    Aggregator, DropReason, GatewayStats, Histogram, StreamError, BOUNDS, RSSI_BUCKETS, SNR_BUCKETS,
};
use super::parse::{MODULATIONS, TX_RESULTS};
use crate::metrics::{Family, Kind, Value};

/// Write every events family to `out`: per-gateway series of the gateways
/// `keep` accepts, and the exporter's own. The uplink families of a gateway
/// (histograms, airtime, per-SF counts) appear with its first uplink; a
/// gateway that received none has only its connect/disconnect counters.
pub fn write(agg: &Aggregator, keep: &dyn Fn(&str) -> bool, out: &mut dyn Write) -> io::Result<()> {
    let mut gws = agg.gateways();
    gws.retain(|(id, _)| keep(id));
    histogram(
        out,
        "ttn_gateway_uplink_rssi_dbm",
        "RSSI of uplinks received by the gateway (events stream), dBm.",
        &RSSI_BUCKETS,
        &gws,
        |g| &g.rssi,
    )?;
    histogram(
        out,
        "ttn_gateway_uplink_snr_db",
        "SNR of uplinks received by the gateway (events stream), dB.",
        &SNR_BUCKETS,
        &gws,
        |g| &g.snr,
    )?;
    let mut f = Family::new(
        "ttn_gateway_uplinks_received_total",
        "Uplinks received by the gateway (events stream), by spreading factor (or fsk, lrfhss).",
        Kind::Counter,
    );
    for (id, g) in &gws {
        for (i, n) in g.uplinks.iter().enumerate().filter(|(_, n)| **n > 0) {
            f.sample(
                &[("gateway_id", id), ("spreading_factor", MODULATIONS[i])],
                Value::U(*n),
            );
        }
    }
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_gateway_uplink_airtime_seconds_total",
        "Time on air of uplinks received by the gateway, from SF, bandwidth, coding rate and payload length.",
        Kind::Counter,
    );
    for (id, g) in gws.iter().filter(|(_, g)| g.received() > 0) {
        f.sample(&[("gateway_id", id)], Value::F(g.airtime));
    }
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_gateway_uplinks_dropped_total",
        "Uplinks the Gateway Server dropped (gs.up.drop), by error name.",
        Kind::Counter,
    );
    for (id, g) in &gws {
        for (reason, n) in &g.dropped {
            f.sample(&[("gateway_id", id), ("reason", reason)], Value::U(*n));
        }
    }
    f.finish(out)?;
    for (name, help, get) in [
        (
            "ttn_gateway_downlink_schedule_failures_total",
            "Downlinks the Gateway Server could not schedule on the gateway (gs.down.schedule.fail), by reason: for a class A downlink the scheduler's error of the last Rx window (duty_cycle, too_late, conflict, no_clock_sync, dwell_time, ...).",
            (|g: &GatewayStats| &g.schedule_failed) as fn(&GatewayStats) -> &Vec<(String, u64)>,
        ),
        (
            "ttn_gateway_disconnect_reasons_total",
            "Gateway disconnections (gs.gateway.disconnect) by the name of the error that ended the connection.",
            |g: &GatewayStats| &g.disconnect_reasons,
        ),
    ] {
        let mut f = Family::new(name, help, Kind::Counter);
        for (id, g) in &gws {
            for (reason, n) in get(g) {
                f.sample(&[("gateway_id", id), ("reason", reason)], Value::U(*n));
            }
        }
        f.finish(out)?;
    }
    let mut f = Family::new(
        "ttn_gateway_downlink_tx_total",
        "Downlink transmissions reported by the gateway, by result (success or the failure).",
        Kind::Counter,
    );
    for (id, g) in &gws {
        for (i, n) in g.tx.iter().enumerate().filter(|(_, n)| **n > 0) {
            f.sample(
                &[("gateway_id", id), ("result", TX_RESULTS[i])],
                Value::U(*n),
            );
        }
    }
    f.finish(out)?;
    // Written for every subscribed gateway, from 0: a gateway's first
    // (re)connect must show in increase(), and it is 2 series a gateway.
    for (name, help, get) in [
        (
            "ttn_gateway_connects_total",
            "Gateway connections to the Gateway Server (events stream).",
            (|g: &GatewayStats| g.connects) as fn(&GatewayStats) -> u64,
        ),
        (
            "ttn_gateway_disconnects_total",
            "Gateway disconnections from the Gateway Server (events stream).",
            |g: &GatewayStats| g.disconnects,
        ),
        (
            "ttn_gateway_uplinks_crc_failed_total",
            "Frames received by the gateway that failed their CRC (events stream); not in the other uplink metrics.",
            |g: &GatewayStats| g.crc_failed,
        ),
    ] {
        let mut f = Family::new(name, help, Kind::Counter);
        for (id, g) in &gws {
            f.sample(&[("gateway_id", id)], Value::U(get(g)));
        }
        f.finish(out)?;
    }
    write_own(agg, out)
}

fn write_own(agg: &Aggregator, out: &mut dyn Write) -> io::Result<()> {
    let own = &agg.own;
    let mut f = Family::new(
        "ttn_exporter_events_total",
        "Events counted from the events stream.",
        Kind::Counter,
    );
    f.sample(&[], Value::U(own.events));
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_event_streams_open",
        "Event stream subscriptions open now.",
        Kind::Gauge,
    );
    f.sample(&[], Value::U(own.streams_open));
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_event_stream_reconnects_total",
        "Event stream reconnects after the stream ended or failed.",
        Kind::Counter,
    );
    f.sample(&[], Value::U(own.reconnects));
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_last_event_timestamp_seconds",
        "When the exporter last counted an event (Unix time).",
        Kind::Gauge,
    );
    if let Some(t) = own.last_event {
        f.sample(&[], Value::F(t));
    }
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_events_dropped_total",
        "Event stream lines or events not counted, by reason.",
        Kind::Counter,
    );
    for (r, n) in DropReason::ALL.iter().zip(own.dropped) {
        f.sample(&[("reason", r.as_str())], Value::U(n));
    }
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_event_stream_errors_total",
        "Event streams that failed or ended, by reason (forbidden: the key lacks a right).",
        Kind::Counter,
    );
    for (r, n) in StreamError::ALL.iter().zip(own.errors) {
        f.sample(&[("reason", r.as_str())], Value::U(n));
    }
    f.finish(out)
}

fn histogram(
    out: &mut dyn Write,
    name: &str,
    help: &str,
    bounds: &[f64; BOUNDS],
    gws: &[(&str, &GatewayStats)],
    get: fn(&GatewayStats) -> &Histogram,
) -> io::Result<()> {
    // A gateway without observations has no series: all-zero histograms of
    // silent or offline gateways would be most of the body and say nothing.
    // Its series appear with the first uplink rendered.
    let mut f = Family::new(name, help, Kind::Histogram);
    for (id, h) in gws
        .iter()
        .map(|(id, g)| (id, get(g)))
        .filter(|(_, h)| h.count > 0)
    {
        f.histogram(&[("gateway_id", id)], bounds, &h.buckets, h.sum, h.count);
    }
    f.finish(out)
}
