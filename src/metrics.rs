//! Rendering: a pure function from a [`Snapshot`] (plus the exporter's own
//! counters) to the Prometheus text format, compressed once per refresh.
//!
//! The per-gateway families are written directly, one family at a time,
//! into the gzip stream, so a fleet of 10,000 gateways never has its ~17 MB
//! of text in memory at once. The exporter's own counters and the
//! `process_*` metrics live in a `prometheus` crate registry and are encoded
//! by its `TextEncoder`.

use std::io::{Read, Write};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use prometheus::{IntCounterVec, Opts, Registry, TextEncoder};

use crate::model::{ConnectionStats, FailureKind, Gateway, RoundTrip, Snapshot, SubBand};
use crate::tts::{Endpoint, RequestObserver};

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One refresh's output, ready to serve. Only the gzip is kept; the plain
/// text is decompressed once, on the first scrape that asks for it.
#[derive(Debug)]
pub struct Rendered {
    gzip: Bytes,
    plain: OnceLock<Bytes>,
}

impl Rendered {
    fn from_gzip(gzip: Vec<u8>) -> Rendered {
        Rendered {
            gzip: Bytes::from(gzip),
            plain: OnceLock::new(),
        }
    }

    /// The gzip-compressed text.
    pub fn gzip(&self) -> Bytes {
        self.gzip.clone()
    }

    /// The text format.
    pub fn plain(&self) -> Bytes {
        self.plain
            .get_or_init(|| {
                // The gzip trailer's ISIZE is the text's length (mod 2^32):
                // allocate exactly that, not 8x the gzip and then doubling.
                let len = self.gzip.len();
                let isize = match self.gzip.get(len.saturating_sub(4)..) {
                    Some(t) if len >= 18 => u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize,
                    _ => 0,
                };
                let mut text = Vec::with_capacity(isize);
                // Our own gzip of our own text: decoding cannot fail.
                let _ = GzDecoder::new(&self.gzip[..]).read_to_end(&mut text);
                Bytes::from(text)
            })
            .clone()
    }
}

/// The exporter's own metrics that live across refreshes: API request and
/// refresh error counters, build info and the standard `process_*` metrics.
pub struct SelfMetrics {
    registry: Registry,
    api_requests: IntCounterVec,
    refresh_errors: IntCounterVec,
}

impl SelfMetrics {
    /// Register everything.
    pub fn new() -> Result<SelfMetrics, prometheus::Error> {
        let own = SelfMetrics::for_target()?;
        let build_info = prometheus::IntGaugeVec::new(
            Opts::new(
                "ttn_exporter_build_info",
                "Always 1; the version of ttn-exporter.",
            ),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        own.registry.register(Box::new(build_info))?;
        #[cfg(target_os = "linux")]
        own.registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(own)
    }

    /// The API request and refresh error counters only, without build info
    /// and `process_*`: for a named target served at `/probe`.
    pub fn for_target() -> Result<SelfMetrics, prometheus::Error> {
        let registry = Registry::new();
        let api_requests = IntCounterVec::new(
            Opts::new(
                "ttn_exporter_api_requests_total",
                "Requests made to The Things Stack API, by endpoint and HTTP status (or timeout/error).",
            ),
            &["endpoint", "code"],
        )?;
        let refresh_errors = IntCounterVec::new(
            Opts::new(
                "ttn_exporter_refresh_errors_total",
                "Failed refreshes, by reason.",
            ),
            &["reason"],
        )?;
        for kind in [
            FailureKind::Unreachable,
            FailureKind::Timeout,
            FailureKind::Unauthorized,
            FailureKind::Forbidden,
            FailureKind::RateLimited,
            FailureKind::ClientError,
            FailureKind::ServerError,
            FailureKind::BadResponse,
        ] {
            refresh_errors.with_label_values(&[kind.as_str()]);
        }
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(refresh_errors.clone()))?;
        Ok(SelfMetrics {
            registry,
            api_requests,
            refresh_errors,
        })
    }

    /// The observer the API client calls for every request.
    pub fn observer(&self) -> RequestObserver {
        let c = self.api_requests.clone();
        std::sync::Arc::new(move |endpoint: Endpoint, code: &str| {
            c.with_label_values(&[endpoint.as_str(), code]).inc();
        })
    }

    /// Count a failed refresh.
    pub fn refresh_failed(&self, kind: FailureKind) {
        self.refresh_errors
            .with_label_values(&[kind.as_str()])
            .inc();
    }
}

/// Render a snapshot and the exporter's own metrics, straight into gzip:
/// the full text of a large fleet is never held in memory at once.
pub fn render(snapshot: &Snapshot, own: &SelfMetrics, legacy: bool) -> Rendered {
    let mut gz = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = write_all(snapshot, own, legacy, &mut gz);
    Rendered::from_gzip(gz.finish().unwrap_or_default())
}

/// Write the whole exposition text for a snapshot to `out`.
pub fn write_all(
    snapshot: &Snapshot,
    own: &SelfMetrics,
    legacy: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    if let Some(f) = &snapshot.failure {
        writeln!(out, "# ttn_up 0: {}", f.message.replace('\n', " "))?;
    }
    write_health(snapshot, out)?;
    write_gateways(&snapshot.gateways, legacy, out)?;
    let mut text = String::new();
    let mut families = own.registry.gather();
    families.retain(|f| !f.metric.is_empty());
    if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut text) {
        tracing::error!("cannot encode metrics: {e}");
    }
    out.write_all(text.as_bytes())
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn write_health(s: &Snapshot, out: &mut impl Write) -> std::io::Result<()> {
    let mut f = Family::new(
        "ttn_up",
        "1 when the last refresh reached The Things Stack API and was accepted, else 0.",
        Kind::Gauge,
    );
    f.sample(&[], Value::F(if s.is_up() { 1.0 } else { 0.0 }));
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_last_refresh_timestamp_seconds",
        "When the last successful refresh finished (Unix time).",
        Kind::Gauge,
    );
    if let Some(t) = s.last_success {
        f.sample(&[], Value::F(unix(t)));
    }
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_refresh_duration_seconds",
        "How long the last refresh took.",
        Kind::Gauge,
    );
    f.sample(&[], Value::F(s.duration.as_secs_f64()));
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_gateways",
        "Gateways listed by the last refresh.",
        Kind::Gauge,
    );
    f.sample(&[], Value::U(s.gateways.len() as u64));
    f.finish(out)
}

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
    fn count(f: &mut Family, g: &Gateway, get: fn(&ConnectionStats) -> u64) {
        if let Some(s) = &g.stats {
            f.gateway(g, Value::U(get(s)));
        }
    }
    fn round_trip(f: &mut Family, g: &Gateway, get: fn(&RoundTrip) -> Value) {
        if let Some(rt) = g.stats.as_ref().and_then(|s| s.round_trip.as_ref()) {
            f.gateway(g, get(rt));
        }
    }
    fn sub_bands(f: &mut Family, g: &Gateway, get: fn(&SubBand) -> f64) {
        for b in g.stats.iter().flat_map(|s| &s.sub_bands) {
            let (lo, hi) = (b.min_frequency.to_string(), b.max_frequency.to_string());
            let labels = [
                ("gateway_id", g.id.as_str()),
                ("min_frequency", lo.as_str()),
                ("max_frequency", hi.as_str()),
            ];
            f.sample(&labels, Value::F(get(b)));
        }
    }
    let families: [(&str, &str, Kind, Emit); 18] = [
        (
            "ttn_gateway_info",
            "Always 1; the gateway's EUI, name, protocol and frequency plan as labels.",
            Gauge,
            |g, f| {
                let plans = g.frequency_plan_ids.join(",");
                let protocol = g.stats.as_ref().and_then(|s| s.protocol.as_deref());
                f.sample(
                    &[
                        ("gateway_id", g.id.as_str()),
                        ("gateway_eui", g.eui.as_deref().unwrap_or("")),
                        ("name", g.name.as_deref().unwrap_or("")),
                        ("protocol", protocol.unwrap_or("")),
                        ("frequency_plan", &plans),
                    ],
                    Value::U(1),
                );
            },
        ),
        (
            "ttn_gateway_connected",
            "1 when the gateway is connected to its Gateway Server, else 0.",
            Gauge,
            |g, f| {
                f.gateway(g, Value::U(u64::from(g.is_connected())));
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
                ts(f, g, |s| s.disconnected_at);
            },
        ),
        (
            "ttn_gateway_last_seen_timestamp_seconds",
            "Newest of last uplink, status, downlink and TX acknowledgment (Unix time).",
            Gauge,
            |g, f| {
                ts(f, g, ConnectionStats::last_seen);
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
                for (name, v) in g.stats.iter().flat_map(|s| &s.status_metrics) {
                    f.sample(
                        &[("gateway_id", g.id.as_str()), ("metric", name.as_str())],
                        Value::F(*v),
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
        s.uplink_count as f64
    }
    fn down(s: &ConnectionStats) -> f64 {
        s.downlink_count as f64
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

/// Metric type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `gauge`
    Gauge,
    /// `counter`
    Counter,
}

/// A sample value: integers are written exactly (uint64 counters exceed
/// f64's 53 bits), floats in Prometheus' spelling (`NaN`, `+Inf`, `-Inf`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// An integer.
    U(u64),
    /// A float.
    F(f64),
}

/// One metric family being written: its samples are buffered so that a
/// family without samples writes nothing, not even HELP and TYPE.
pub struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    buf: String,
}

impl Family {
    /// An empty family.
    pub fn new(name: &'static str, help: &'static str, kind: Kind) -> Family {
        Family {
            name,
            help,
            kind,
            buf: String::new(),
        }
    }

    /// A sample labelled with the gateway's ID only.
    fn gateway(&mut self, g: &Gateway, v: Value) {
        self.sample(&[("gateway_id", g.id.as_str())], v);
    }

    /// Add a sample; label values are escaped (`\\`, `"`, newline).
    pub fn sample(&mut self, labels: &[(&str, &str)], v: Value) {
        use std::fmt::Write as _;
        let b = &mut self.buf;
        b.push_str(self.name);
        for (i, (k, val)) in labels.iter().enumerate() {
            b.push(if i == 0 { '{' } else { ',' });
            b.push_str(k);
            b.push_str("=\"");
            escape_label_value(val, b);
            b.push('"');
        }
        if !labels.is_empty() {
            b.push('}');
        }
        b.push(' ');
        // Writing to a String cannot fail.
        let _ = match v {
            Value::U(u) => write!(b, "{u}"),
            Value::F(f) if f.is_nan() => write!(b, "NaN"),
            Value::F(f) if f == f64::INFINITY => write!(b, "+Inf"),
            Value::F(f) if f == f64::NEG_INFINITY => write!(b, "-Inf"),
            Value::F(f) => write!(b, "{f}"),
        };
        b.push('\n');
    }

    /// Write HELP, TYPE and the samples, if there are any.
    pub fn finish(self, out: &mut impl Write) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let kind = match self.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        write!(
            out,
            "# HELP {} {}\n# TYPE {} {kind}\n",
            self.name, self.help, self.name
        )?;
        out.write_all(self.buf.as_bytes())
    }
}

/// Escape a label value for the text format.
pub fn escape_label_value(v: &str, out: &mut String) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}
