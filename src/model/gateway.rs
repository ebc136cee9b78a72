//! One gateway as a refresh sees it: its listing, location and parsed
//! connection stats, with the bounds on what is kept of them and the count
//! of what was dropped.

use super::sorted_map::SortedMap;

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
    /// When the Gateway Server no longer has stats for it (48 h after a
    /// disconnect): the times remembered from earlier refreshes
    /// (`cache::state_file`).
    pub remembered: Option<Remembered>,
    /// The registry attributes that `info_attributes` names, as (label
    /// name, value) in that order; the value is empty when the gateway
    /// has no such attribute.
    pub info_labels: Vec<(String, String)>,
    /// The key may list it but not read its status (403
    /// `no_gateway_rights`): `stats` is `None` and says nothing.
    pub stats_refused: bool,
}

/// A gateway's times remembered beyond the Gateway Server's 48 h.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Remembered {
    /// Newest of last uplink, status, downlink and TX acknowledgment.
    pub last_seen: Option<UnixSeconds>,
    /// When it disconnected, if it was connected before.
    pub disconnected_at: Option<UnixSeconds>,
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

    /// When it was last seen: from its stats, else remembered.
    pub fn last_seen(&self) -> Option<UnixSeconds> {
        match &self.stats {
            Some(s) => s.last_seen(),
            None => self.remembered.and_then(|r| r.last_seen),
        }
    }

    /// When it disconnected: from its stats, else remembered.
    pub fn disconnected_at(&self) -> Option<UnixSeconds> {
        match &self.stats {
            Some(s) => s.disconnected_at,
            None => self.remembered.and_then(|r| r.disconnected_at),
        }
    }

    /// Where the gateway is and who says so: the registry's antenna
    /// location first (`"registry"`, or `"gps"` when the Gateway Server
    /// wrote it from the gateway's GPS), else the last status's
    /// (`"status"`).
    pub fn best_location(&self) -> Option<(&Location, &'static str)> {
        if let Some(l) = &self.location {
            return Some((l, if l.from_gps { "gps" } else { "registry" }));
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
    /// The registry's location was written from the gateway's own GPS
    /// (`source: SOURCE_GPS`, when "update location from status" is on).
    pub from_gps: bool,
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
            from_gps: false,
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
    /// `runtime_version` (e.g. the packet forwarder or OS release).
    pub runtime_version: String,
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
    pub status_metrics: SortedMap<f64>,
    /// `last_status.versions` (`station`, `firmware`, `package`, `platform`,
    /// ...), bounded and made one line.
    pub status_versions: SortedMap<Box<str>>,
    /// `last_status.time`: the gateway's own clock when it sent the status.
    pub status_time: Option<UnixSeconds>,
    /// `last_status.boot_time`: when the gateway booted.
    pub boot_time: Option<UnixSeconds>,
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
            status_metrics: SortedMap::new(),
            status_versions: SortedMap::new(),
            status_time: None,
            boot_time: None,
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
