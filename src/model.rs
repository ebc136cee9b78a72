//! Domain types: the [`Snapshot`] of one refresh, with its gateways and their
//! parsed connection stats; what the API client is given ([`ApiKey`],
//! [`Scope`]) and answers ([`AuthInfo`]). Plain data, no I/O, nothing
//! Prometheus-specific.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

/// The API key. Its `Debug` prints `[redacted]` and it has no `Display`, so it
/// cannot end up in a log line, an error or a metric by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Validate and wrap a key read from a file or the environment:
    /// surrounding whitespace is dropped; an empty key or one with whitespace
    /// or control characters inside is refused.
    pub fn parse(raw: &str) -> Result<ApiKey, &'static str> {
        let key = raw.trim();
        if key.is_empty() {
            return Err("is empty");
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains whitespace inside the key");
        }
        if !key.is_ascii() {
            return Err("contains non-ASCII characters");
        }
        Ok(ApiKey(key.to_owned()))
    }

    /// The secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Which gateways to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every gateway the key can list (`GET /gateways`).
    All,
    /// The gateways of one organization.
    Organization(String),
    /// The gateways of one user.
    User(String),
    /// An explicit list of gateway IDs (gateway-scoped keys cannot list).
    Explicit(Vec<String>),
}

/// Who owns an API key, as `GET /auth_info` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthInfo {
    /// A user's key.
    User(String),
    /// An organization's key.
    Organization(String),
    /// A gateway's key.
    Gateway(String),
    /// A key of another kind, or an answer without entity IDs.
    Unknown,
}

impl fmt::Display for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthInfo::User(id) => write!(f, "user {id}"),
            AuthInfo::Organization(id) => write!(f, "organization {id}"),
            AuthInfo::Gateway(id) => write!(f, "gateway {id}"),
            AuthInfo::Unknown => f.write_str("owner unknown"),
        }
    }
}

/// The Things Stack's rule for entity IDs: 2 to 36 characters of `a-z` and
/// `0-9`, with single dashes between them (none leading or trailing). IDs
/// from the API are checked against it before they go into a URL.
pub fn valid_tts_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=36).contains(&b.len())
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
        && !id.contains("--")
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// What a refresh dropped from the API's answer rather than fail the whole
/// fleet for it: `ttn_exporter_dropped_total{what}`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Listed gateways whose ID breaks the TTS ID rule (never put in a URL).
    pub invalid_gateway_id: u64,
    /// Sub-bands past [`MAX_SUB_BANDS`] per gateway, or repeated.
    pub sub_band: u64,
    /// Status metrics past [`MAX_STATUS_METRICS`] per gateway, or with a
    /// name longer than [`MAX_STATUS_METRIC_NAME`].
    pub status_metric: u64,
    /// Fields of one gateway's stats with a value that does not parse (a
    /// counter that is not a uint64, a timestamp that is not RFC 3339).
    pub invalid_field: u64,
}

impl Dropped {
    /// The `what` label values and counts.
    pub fn by_label(&self) -> [(&'static str, u64); 4] {
        [
            ("invalid_gateway_id", self.invalid_gateway_id),
            ("sub_band", self.sub_band),
            ("status_metric", self.status_metric),
            ("invalid_field", self.invalid_field),
        ]
    }

    /// Add `other`'s counts.
    pub fn add(&mut self, other: &Dropped) {
        self.invalid_gateway_id += other.invalid_gateway_id;
        self.sub_band += other.sub_band;
        self.status_metric += other.status_metric;
        self.invalid_field += other.invalid_field;
    }
}

/// Sub-bands kept per gateway (regional plans have at most a handful).
pub const MAX_SUB_BANDS: usize = 64;
/// Status metrics kept per gateway (packet forwarders send about ten).
pub const MAX_STATUS_METRICS: usize = 64;
/// Longest status metric name kept, in bytes.
pub const MAX_STATUS_METRIC_NAME: usize = 64;

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
    /// The registry's antenna location (first antenna with a valid one).
    pub location: Option<Location>,
    /// The registry's `version_ids` (brand, model, hardware, firmware).
    pub version_ids: Option<VersionIds>,
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

    /// Where the gateway is and who says so: the registry's antenna
    /// location first (`"registry"`), else the last status's (`"status"`).
    pub fn best_location(&self) -> Option<(&Location, &'static str)> {
        if let Some(l) = &self.location {
            return Some((l, "registry"));
        }
        let l = self.stats.as_ref()?.antenna_location.as_ref()?;
        Some((l, "status"))
    }
}

/// A position in WGS84 degrees, with the altitude in metres when known.
/// Only valid values are ever built (see [`Location::new`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Location {
    /// Degrees north, -90..=90.
    pub latitude: f64,
    /// Degrees east, -180..=180.
    pub longitude: f64,
    /// Metres; `None` when unknown or not finite.
    pub altitude: Option<f64>,
}

impl Location {
    /// A location, or `None` when a coordinate is not finite or out of
    /// range. A non-finite altitude is dropped, not the location.
    pub fn new(latitude: f64, longitude: f64, altitude: Option<f64>) -> Option<Location> {
        let ok = latitude.is_finite()
            && longitude.is_finite()
            && (-90.0..=90.0).contains(&latitude)
            && (-180.0..=180.0).contains(&longitude);
        ok.then(|| Location {
            latitude,
            longitude,
            altitude: altitude.filter(|a| a.is_finite()),
        })
    }
}

/// The registry's `version_ids`; empty strings where the API omitted one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VersionIds {
    /// `brand_id`.
    pub brand_id: String,
    /// `model_id`.
    pub model_id: String,
    /// `hardware_version`.
    pub hardware_version: String,
    /// `firmware_version`.
    pub firmware_version: String,
}

/// `GatewayConnectionStats`, with proto3 omissions resolved to zeros for
/// counters and `None` for timestamps. A field whose value does not parse is
/// dropped (`None`) and named in `invalid`; the rest of the gateway is kept.
/// `Default` is an answer with every field omitted: counters 0.
#[derive(Clone, Debug, PartialEq)]
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
    /// `uplink_count`; `None` when the API sent a value that is not a uint64.
    pub uplink_count: Option<u64>,
    /// `last_downlink_received_at`.
    pub last_downlink_received_at: Option<UnixSeconds>,
    /// `downlink_count`; `None` when the API sent a value that is not a uint64.
    pub downlink_count: Option<u64>,
    /// `last_tx_acknowledgment_received_at`.
    pub last_tx_acknowledgment_received_at: Option<UnixSeconds>,
    /// `tx_acknowledgment_count`; `None` when the API sent a value that is not a uint64.
    pub tx_acknowledgment_count: Option<u64>,
    /// `round_trip_times`.
    pub round_trip: Option<RoundTrip>,
    /// `sub_bands`, without repeats, at most [`MAX_SUB_BANDS`].
    pub sub_bands: Vec<SubBand>,
    /// Fields present in the answer whose value did not parse.
    pub invalid: Vec<&'static str>,
    /// `last_status.antenna_locations`: the first valid one.
    pub antenna_location: Option<Location>,
}

impl Default for ConnectionStats {
    fn default() -> Self {
        ConnectionStats {
            connected_at: None,
            disconnected_at: None,
            protocol: None,
            last_status_received_at: None,
            status_metrics: BTreeMap::new(),
            last_uplink_received_at: None,
            uplink_count: Some(0),
            last_downlink_received_at: None,
            downlink_count: Some(0),
            last_tx_acknowledgment_received_at: None,
            tx_acknowledgment_count: Some(0),
            round_trip: None,
            sub_bands: Vec::new(),
            invalid: Vec::new(),
            antenna_location: None,
        }
    }
}

impl ConnectionStats {
    /// `connected_at` set and `disconnected_at` not set. A timestamp that
    /// was sent but does not parse still counts as set: an unreadable
    /// `connected_at` means "connected, since an unknown time", not
    /// "disconnected".
    pub fn is_connected(&self) -> bool {
        let sent = |v: Option<UnixSeconds>, name| v.is_some() || self.invalid.contains(&name);
        sent(self.connected_at, "connected_at") && !sent(self.disconnected_at, "disconnected_at")
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
    /// A request ran past `request_timeout`, the refresh past
    /// `refresh_timeout`, or a scrape stopped waiting for the refresh.
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
    /// The refresh passed a bound: `max_gateways`, or the bytes one refresh
    /// may read.
    Limit,
    /// A bug: the refresh task panicked.
    Internal,
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
            FailureKind::Limit => "limit",
            FailureKind::Internal => "internal",
        }
    }

    /// The kind of an HTTP error status from the API (refresh requests and
    /// the events stream alike).
    pub fn from_status(status: u16) -> FailureKind {
        match status {
            401 => FailureKind::Unauthorized,
            403 => FailureKind::Forbidden,
            429 => FailureKind::RateLimited,
            500..=599 => FailureKind::ServerError,
            _ => FailureKind::ClientError,
        }
    }

    /// Every kind, for pre-initialised counters.
    pub const ALL: [FailureKind; 10] = [
        FailureKind::Unreachable,
        FailureKind::Timeout,
        FailureKind::Unauthorized,
        FailureKind::Forbidden,
        FailureKind::RateLimited,
        FailureKind::ClientError,
        FailureKind::ServerError,
        FailureKind::BadResponse,
        FailureKind::Limit,
        FailureKind::Internal,
    ];
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tts_id_rule() {
        for ok in [
            "gw",
            "gw-1",
            "a1b2",
            &"x".repeat(36),
            "eui-0102030405060708",
        ] {
            assert!(valid_tts_id(ok), "{ok}");
        }
        for bad in [
            "",
            "g",
            "-gw",
            "gw-",
            "g--w",
            "GW",
            "gw_1",
            "../../auth_info",
            "gw/x",
            "gw\n",
            &"x".repeat(37),
        ] {
            assert!(!valid_tts_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn api_key_debug_is_redacted() {
        let k = ApiKey::parse(" NNSXS.FAKE.KEY \n").unwrap();
        assert_eq!(k.expose(), "NNSXS.FAKE.KEY");
        assert_eq!(format!("{k:?}"), "[redacted]");
        assert!(ApiKey::parse("a b").is_err());
    }
}
