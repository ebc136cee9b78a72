//! Rendering: a pure function from a [`Snapshot`] (plus the exporter's own
//! counters) to the Prometheus text format and its gzip, built once per
//! refresh. Encoding is the `prometheus` crate's `TextEncoder`, so escaping of
//! label values and HELP text is the reference implementation's.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use prometheus::proto::{self, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{IntCounterVec, Opts, Registry, TextEncoder};

use crate::model::{ConnectionStats, FailureKind, Gateway, Snapshot};
use crate::tts::{Endpoint, RequestObserver};

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One refresh's output, ready to serve.
#[derive(Clone, Debug)]
pub struct Rendered {
    /// The text format.
    pub plain: Bytes,
    /// The same, gzip-compressed.
    pub gzip: Bytes,
}

impl Rendered {
    /// Compress `text` once; every scrape until the next refresh reuses it.
    pub fn from_text(text: String) -> Rendered {
        let mut enc = GzEncoder::new(Vec::with_capacity(text.len() / 8), Compression::fast());
        // Writing into a Vec cannot fail.
        let gzip = enc
            .write_all(text.as_bytes())
            .and_then(|()| enc.finish())
            .unwrap_or_default();
        Rendered {
            plain: Bytes::from(text),
            gzip: Bytes::from(gzip),
        }
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
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(refresh_errors.clone()))?;
        registry.register(Box::new(build_info))?;
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
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

    /// Total API requests counted so far (for tests and the status line).
    pub fn api_requests(&self, endpoint: Endpoint, code: &str) -> u64 {
        self.api_requests
            .with_label_values(&[endpoint.as_str(), code])
            .get()
    }
}

/// Render a snapshot and the exporter's own metrics.
pub fn render(snapshot: &Snapshot, own: &SelfMetrics, legacy: bool) -> Rendered {
    let mut text = String::with_capacity(256 + snapshot.gateways.len() * 2048);
    if let Some(f) = &snapshot.failure {
        text.push_str("# ttn_up 0: ");
        text.push_str(&f.message.replace('\n', " "));
        text.push('\n');
    }
    let mut families = health_families(snapshot);
    families.extend(gateway_families(&snapshot.gateways, legacy));
    families.extend(own.registry.gather());
    families.retain(|f| !f.metric.is_empty());
    // Encoding into a String cannot fail once empty families are dropped.
    if let Err(e) = TextEncoder::new().encode_utf8(&families, &mut text) {
        tracing::error!("cannot encode metrics: {e}");
    }
    Rendered::from_text(text)
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn health_families(s: &Snapshot) -> Vec<MetricFamily> {
    let mut up = Family::gauge(
        "ttn_up",
        "1 when the last refresh reached The Things Stack API and was accepted, else 0.",
    );
    up.push(&[], if s.is_up() { 1.0 } else { 0.0 });
    let mut last = Family::gauge(
        "ttn_exporter_last_refresh_timestamp_seconds",
        "When the last successful refresh finished (Unix time).",
    );
    if let Some(t) = s.last_success {
        last.push(&[], unix(t));
    }
    let mut dur = Family::gauge(
        "ttn_exporter_refresh_duration_seconds",
        "How long the last refresh took.",
    );
    dur.push(&[], s.duration.as_secs_f64());
    let mut count = Family::gauge(
        "ttn_exporter_gateways",
        "Gateways listed by the last refresh.",
    );
    count.push(&[], s.gateways.len() as f64);
    vec![up.0, last.0, dur.0, count.0]
}

/// The per-gateway families, in the order of the interface's table.
pub fn gateway_families(gateways: &[Gateway], legacy: bool) -> Vec<MetricFamily> {
    let mut info = Family::gauge(
        "ttn_gateway_info",
        "Always 1; the gateway's EUI, name, protocol and frequency plan as labels.",
    );
    let mut connected = Family::gauge(
        "ttn_gateway_connected",
        "1 when the gateway is connected to its Gateway Server, else 0.",
    );
    let mut connected_at = Family::gauge(
        "ttn_gateway_connected_timestamp_seconds",
        "When the gateway connected (Unix time).",
    );
    let mut disconnected_at = Family::gauge(
        "ttn_gateway_disconnected_timestamp_seconds",
        "When the gateway disconnected (Unix time).",
    );
    let mut last_seen = Family::gauge(
        "ttn_gateway_last_seen_timestamp_seconds",
        "Newest of last uplink, status, downlink and TX acknowledgment (Unix time).",
    );
    let mut last_up = Family::gauge(
        "ttn_gateway_last_uplink_timestamp_seconds",
        "When the last uplink was received (Unix time).",
    );
    let mut last_down = Family::gauge(
        "ttn_gateway_last_downlink_timestamp_seconds",
        "When the last downlink was sent (Unix time).",
    );
    let mut last_status = Family::gauge(
        "ttn_gateway_last_status_timestamp_seconds",
        "When the last status message was received (Unix time).",
    );
    let mut uplinks = Family::counter(
        "ttn_gateway_uplink_messages_total",
        "Uplink messages received since the gateway connected (resets on reconnect).",
    );
    let mut downlinks = Family::counter(
        "ttn_gateway_downlink_messages_total",
        "Downlink messages sent since the gateway connected (resets on reconnect).",
    );
    let mut tx_acks = Family::counter(
        "ttn_gateway_tx_acknowledgments_total",
        "TX acknowledgments received since the gateway connected (resets on reconnect).",
    );
    let mut rt_min = Family::gauge(
        "ttn_gateway_round_trip_min_seconds",
        "Shortest round-trip time between Gateway Server and gateway.",
    );
    let mut rt_median = Family::gauge(
        "ttn_gateway_round_trip_median_seconds",
        "Median round-trip time between Gateway Server and gateway.",
    );
    let mut rt_max = Family::gauge(
        "ttn_gateway_round_trip_max_seconds",
        "Longest round-trip time between Gateway Server and gateway.",
    );
    let mut rt_count = Family::gauge(
        "ttn_gateway_round_trip_samples",
        "Number of round-trip time samples.",
    );
    let mut util = Family::gauge(
        "ttn_gateway_sub_band_downlink_utilization_ratio",
        "Downlink airtime used in the last hour in this sub-band, as a fraction of the hour.",
    );
    let mut util_limit = Family::gauge(
        "ttn_gateway_sub_band_downlink_utilization_limit_ratio",
        "Downlink duty-cycle limit of this sub-band, as a fraction of airtime.",
    );
    let mut status = Family::gauge(
        "ttn_gateway_status_metric",
        "A metric from the gateway's last status message (rxin, rxok, txok, temp, ...).",
    );
    for g in gateways {
        let id = g.id.as_str();
        let gw = [("gateway_id", id)];
        let stats = g.stats.as_ref();
        let plans = g.frequency_plan_ids.join(",");
        info.push(
            &[
                ("gateway_id", id),
                ("gateway_eui", g.eui.as_deref().unwrap_or("")),
                ("name", g.name.as_deref().unwrap_or("")),
                (
                    "protocol",
                    stats.and_then(|s| s.protocol.as_deref()).unwrap_or(""),
                ),
                ("frequency_plan", &plans),
            ],
            1.0,
        );
        connected.push(&gw, if g.is_connected() { 1.0 } else { 0.0 });
        let Some(s) = stats else { continue };
        connected_at.push_opt(&gw, s.connected_at);
        disconnected_at.push_opt(&gw, s.disconnected_at);
        last_seen.push_opt(&gw, s.last_seen());
        last_up.push_opt(&gw, s.last_uplink_received_at);
        last_down.push_opt(&gw, s.last_downlink_received_at);
        last_status.push_opt(&gw, s.last_status_received_at);
        uplinks.push(&gw, s.uplink_count as f64);
        downlinks.push(&gw, s.downlink_count as f64);
        tx_acks.push(&gw, s.tx_acknowledgment_count as f64);
        if let Some(rt) = &s.round_trip {
            rt_min.push(&gw, rt.min);
            rt_median.push(&gw, rt.median);
            rt_max.push(&gw, rt.max);
            rt_count.push(&gw, rt.count as f64);
        }
        for b in &s.sub_bands {
            let (lo, hi) = (b.min_frequency.to_string(), b.max_frequency.to_string());
            let labels = [
                ("gateway_id", id),
                ("min_frequency", lo.as_str()),
                ("max_frequency", hi.as_str()),
            ];
            util.push(&labels, b.downlink_utilization);
            util_limit.push(&labels, b.downlink_utilization_limit);
        }
        for (name, value) in &s.status_metrics {
            status.push(&[("gateway_id", id), ("metric", name.as_str())], *value);
        }
    }
    let mut out: Vec<MetricFamily> = [
        info,
        connected,
        connected_at,
        disconnected_at,
        last_seen,
        last_up,
        last_down,
        last_status,
        uplinks,
        downlinks,
        tx_acks,
        rt_min,
        rt_median,
        rt_max,
        rt_count,
        util,
        util_limit,
        status,
    ]
    .into_iter()
    .map(|f| f.0)
    .collect();
    if legacy {
        out.extend(legacy_families(gateways));
    }
    out
}

/// The Python exporter's names, so its dashboards keep working. Like it, a
/// gateway without the value reports 0.
fn legacy_families(gateways: &[Gateway]) -> Vec<MetricFamily> {
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
    let defs: [(&str, &str, Getter); 8] = [
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
    defs.into_iter()
        .map(|(name, help, get)| {
            let mut f = Family::gauge(name, help);
            for g in gateways {
                f.push(
                    &[("gateway_id", g.id.as_str())],
                    g.stats.as_ref().map_or(0.0, get),
                );
            }
            f.0
        })
        .collect()
}

/// A metric family under construction.
struct Family(MetricFamily);

impl Family {
    fn new(name: &str, help: &str, t: MetricType) -> Family {
        let mut mf = MetricFamily::default();
        mf.set_name(name.to_owned());
        mf.set_help(help.to_owned());
        mf.set_field_type(t);
        Family(mf)
    }

    fn gauge(name: &str, help: &str) -> Family {
        Family::new(name, help, MetricType::GAUGE)
    }

    fn counter(name: &str, help: &str) -> Family {
        Family::new(name, help, MetricType::COUNTER)
    }

    /// Add a sample. Infinities have no place in the text format's gauges
    /// as the encoder writes them (`inf`), so such a sample is dropped.
    fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        if value.is_infinite() {
            return;
        }
        let mut m = Metric::from_label(
            labels
                .iter()
                .map(|(k, v)| {
                    let mut lp = LabelPair::default();
                    lp.set_name((*k).to_owned());
                    lp.set_value((*v).to_owned());
                    lp
                })
                .collect(),
        );
        if self.0.get_field_type() == MetricType::COUNTER {
            let mut c = proto::Counter::default();
            c.set_value(value);
            m.set_counter(c);
        } else {
            let mut g = proto::Gauge::default();
            g.set_value(value);
            m.set_gauge(g);
        }
        self.0.mut_metric().push(m);
    }

    fn push_opt(&mut self, labels: &[(&str, &str)], value: Option<f64>) {
        if let Some(v) = value {
            self.push(labels, v);
        }
    }
}
