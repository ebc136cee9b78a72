//! The exporter's own metrics that live across refreshes: a `prometheus`
//! crate registry with the API request and refresh error counters, build
//! info and the standard `process_*` metrics, and the request observer the
//! API client calls.

use prometheus::{IntCounterVec, Opts, Registry};

use crate::model::FailureKind;
use crate::tts::{Endpoint, RequestObserver};

/// The exporter's own metrics that live across refreshes: API request and
/// refresh error counters, build info and the standard `process_*` metrics.
/// Clones share the counters.
#[derive(Clone)]
pub struct SelfMetrics {
    registry: Registry,
    api_requests: IntCounterVec,
    refresh_errors: IntCounterVec,
    dropped: IntCounterVec,
    scrape_timeouts: prometheus::IntCounter,
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
        for kind in FailureKind::ALL {
            refresh_errors.with_label_values(&[kind.as_str()]);
        }
        let dropped = IntCounterVec::new(
            Opts::new(
                "ttn_exporter_dropped_total",
                "Parts of the API's answers dropped rather than failing the refresh: gateways with an invalid ID, sub-bands and status metrics past their bounds or repeated, per-gateway fields that do not parse.",
            ),
            &["what"],
        )?;
        for (what, _) in crate::model::Dropped::default().by_label() {
            dropped.with_label_values(&[what]);
        }
        let scrape_timeouts = prometheus::IntCounter::new(
            "ttn_exporter_scrape_timeouts_total",
            "Scrapes answered with ttn_up 0 because the refresh they waited for did not finish within the scrape's timeout (the refresh goes on and serves the next scrape).",
        )?;
        registry.register(Box::new(api_requests.clone()))?;
        registry.register(Box::new(refresh_errors.clone()))?;
        registry.register(Box::new(dropped.clone()))?;
        registry.register(Box::new(scrape_timeouts.clone()))?;
        Ok(SelfMetrics {
            registry,
            api_requests,
            refresh_errors,
            dropped,
            scrape_timeouts,
        })
    }

    /// The observer the API client calls for every request.
    pub fn observer(&self) -> RequestObserver {
        let c = self.api_requests.clone();
        std::sync::Arc::new(move |endpoint: Endpoint, code: &str| {
            c.with_label_values(&[endpoint.as_str(), code]).inc();
        })
    }

    /// Write the current values in the text format to `out` (families
    /// without samples are left out).
    pub fn write<W: std::io::Write + ?Sized>(&self, out: &mut W) -> std::io::Result<()> {
        crate::metrics::text::write_gathered(&self.registry.gather(), out)
    }

    /// Count a failed refresh.
    pub fn refresh_failed(&self, kind: FailureKind) {
        self.refresh_errors
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// Count parts of an answer dropped, by `what`.
    pub fn dropped(&self, what: &str, n: u64) {
        self.dropped.with_label_values(&[what]).inc_by(n);
    }

    /// Count a scrape that stopped waiting for its refresh.
    pub fn scrape_timed_out(&self) {
        self.scrape_timeouts.inc();
    }
}
