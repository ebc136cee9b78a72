//! Domain types: the [`Snapshot`] of one refresh, with its gateways and their
//! parsed connection stats. Plain data, no I/O, nothing Prometheus-specific.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

/// Seconds since the Unix epoch, as the API's RFC 3339 timestamps parse.
pub type UnixSeconds = f64;

/// A gateway as listed by the Identity Server, with its stats if connected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Gateway {
    /// The gateway ID (`ids.gateway_id`).
    pub id: String,
    /// The EUI as hex (`ids.eui`), when the API gave one.
    pub eui: Option<String>,
    /// The gateway's name.
    pub name: Option<String>,
    /// Frequency plan IDs.
    pub frequency_plan_ids: Vec<String>,
    /// The Gateway Server address it connects to (its cluster).
    pub gateway_server_address: Option<String>,
    /// Connection stats; `None` when the Gateway Server says it is not
    /// connected (404 `not_connected`, or absent from a batch answer).
    pub stats: Option<ConnectionStats>,
}

impl Gateway {
    /// A gateway known only by its ID (explicit `gateways` list).
    pub fn with_id(id: impl Into<String>) -> Gateway {
        Gateway {
            id: id.into(),
            ..Gateway::default()
        }
    }

    /// Connected means `connected_at` set and `disconnected_at` not set.
    pub fn is_connected(&self) -> bool {
        self.stats
            .as_ref()
            .is_some_and(ConnectionStats::is_connected)
    }
}

/// `GatewayConnectionStats`, with proto3 omissions resolved to zeros for
/// counters and `None` for timestamps.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConnectionStats {
    /// `connected_at`.
    pub connected_at: Option<UnixSeconds>,
    /// `disconnected_at`.
    pub disconnected_at: Option<UnixSeconds>,
    /// `protocol` (`udp`, `mqtt`, `grpc`, `semtechws/lbslns`, ...).
    pub protocol: Option<String>,
    /// `last_status_received_at`.
    pub last_status_received_at: Option<UnixSeconds>,
    /// `last_status.metrics` (`rxin`, `rxok`, `txok`, `temp`, ...).
    pub status_metrics: BTreeMap<String, f64>,
    /// `last_uplink_received_at`.
    pub last_uplink_received_at: Option<UnixSeconds>,
    /// `uplink_count`.
    pub uplink_count: u64,
    /// `last_downlink_received_at`.
    pub last_downlink_received_at: Option<UnixSeconds>,
    /// `downlink_count`.
    pub downlink_count: u64,
    /// `last_tx_acknowledgment_received_at`.
    pub last_tx_acknowledgment_received_at: Option<UnixSeconds>,
    /// `tx_acknowledgment_count`.
    pub tx_acknowledgment_count: u64,
    /// `round_trip_times`.
    pub round_trip: Option<RoundTrip>,
    /// `sub_bands`.
    pub sub_bands: Vec<SubBand>,
}

impl ConnectionStats {
    /// `connected_at` set and `disconnected_at` not set.
    pub fn is_connected(&self) -> bool {
        self.connected_at.is_some() && self.disconnected_at.is_none()
    }

    /// Newest of last uplink, status, downlink and tx acknowledgment.
    pub fn last_seen(&self) -> Option<UnixSeconds> {
        [
            self.last_uplink_received_at,
            self.last_status_received_at,
            self.last_downlink_received_at,
            self.last_tx_acknowledgment_received_at,
        ]
        .into_iter()
        .flatten()
        .reduce(f64::max)
    }
}

/// Round-trip times between the Gateway Server and the gateway, in seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RoundTrip {
    /// Fastest.
    pub min: f64,
    /// Median.
    pub median: f64,
    /// Slowest.
    pub max: f64,
    /// Number of samples.
    pub count: u64,
}

/// Downlink duty-cycle use of one sub-band.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubBand {
    /// Lower edge in Hz (0 when omitted).
    pub min_frequency: u64,
    /// Upper edge in Hz (can be `u64::MAX`).
    pub max_frequency: u64,
    /// Allowed fraction of airtime.
    pub downlink_utilization_limit: f64,
    /// Used fraction of airtime in the last hour.
    pub downlink_utilization: f64,
}

/// What went wrong in a refresh, by kind: the `reason` label of
/// `ttn_exporter_refresh_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// Connection refused, DNS, TLS.
    Unreachable,
    /// A request ran past `request_timeout`.
    Timeout,
    /// 401: the key is unknown or expired.
    Unauthorized,
    /// 403: the key lacks rights.
    Forbidden,
    /// 429: the API asked us to back off.
    RateLimited,
    /// Another 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// A body that is not the JSON we expect, truncated or too large.
    BadResponse,
}

impl FailureKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Timeout => "timeout",
            FailureKind::Unauthorized => "unauthorized",
            FailureKind::Forbidden => "forbidden",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::ClientError => "client_error",
            FailureKind::ServerError => "server_error",
            FailureKind::BadResponse => "bad_response",
        }
    }
}

/// A failed refresh: the kind, and one line for humans (no secrets).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// One line saying what happened and what to do.
    pub message: String,
    /// The API asked us not to call again before this long has passed.
    pub retry_after: Option<Duration>,
    /// The API route that failed.
    pub endpoint: Option<&'static str>,
    /// The TTS correlation ID, for TTN support.
    pub correlation_id: Option<String>,
    /// The gateway the failed request was about, if any.
    pub gateway_id: Option<String>,
}

/// The result of one refresh.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The gateways, sorted by ID; empty when the refresh failed.
    pub gateways: Vec<Gateway>,
    /// `None` on success.
    pub failure: Option<Failure>,
    /// When the refresh finished.
    pub finished_at: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// When the last successful refresh finished, if any ever did.
    pub last_success: Option<SystemTime>,
}

impl Snapshot {
    /// True when the refresh reached the API and was accepted.
    pub fn is_up(&self) -> bool {
        self.failure.is_none()
    }

    /// Number of connected gateways.
    pub fn connected(&self) -> usize {
        self.gateways.iter().filter(|g| g.is_connected()).count()
    }
}
