//! The API's JSON, as The Things Stack writes it (proto3 JSON): uint64 as
//! strings, durations as `"1.5s"`, RFC 3339 timestamps, zero fields omitted,
//! unknown fields ignored. Converted into [`crate::model`] values.
//!
//! Structure is parsed strictly (a list where an object belongs is an error);
//! scalar values are read leniently (a number where a string belongs, `null`,
//! `"NaN"`), because the server's encoders differ between versions.

use std::collections::{BTreeMap, HashMap};

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::model::{ConnectionStats, Gateway, RoundTrip, SubBand, UnixSeconds};

/// One page of `GET /gateways`; a page past the end is `{}`.
#[derive(Debug, Default, Deserialize)]
pub struct GatewaysPage {
    /// The gateways on this page.
    #[serde(default, deserialize_with = "null_default")]
    pub gateways: Vec<ApiGateway>,
}

/// A gateway as listed, with the fields of our field mask.
#[derive(Debug, Deserialize)]
pub struct ApiGateway {
    /// `ids`.
    pub ids: GatewayIds,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `frequency_plan_ids`.
    #[serde(default, deserialize_with = "null_default")]
    pub frequency_plan_ids: Vec<String>,
    /// `gateway_server_address`.
    #[serde(default)]
    pub gateway_server_address: Option<String>,
}

/// `GatewayIdentifiers`.
#[derive(Debug, Deserialize)]
pub struct GatewayIds {
    /// The gateway ID.
    pub gateway_id: String,
    /// The EUI, hex.
    #[serde(default)]
    pub eui: Option<String>,
}

impl From<ApiGateway> for Gateway {
    fn from(g: ApiGateway) -> Gateway {
        Gateway {
            id: g.ids.gateway_id,
            eui: g.ids.eui.filter(|s| !s.is_empty()),
            name: g.name.filter(|s| !s.is_empty()),
            frequency_plan_ids: g.frequency_plan_ids,
            gateway_server_address: g.gateway_server_address.filter(|s| !s.is_empty()),
            stats: None,
        }
    }
}

/// Answer of `POST /gs/gateways/connection/stats`; `entries` may be missing.
#[derive(Debug, Default, Deserialize)]
pub struct BatchStats {
    /// Stats by gateway ID; gateways that are not connected are absent.
    #[serde(default, deserialize_with = "null_default")]
    pub entries: HashMap<String, ApiStats>,
}

/// `GatewayConnectionStats`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiStats {
    #[serde(default, deserialize_with = "timestamp")]
    connected_at: Option<UnixSeconds>,
    #[serde(default, deserialize_with = "timestamp")]
    disconnected_at: Option<UnixSeconds>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    last_status_received_at: Option<UnixSeconds>,
    #[serde(default)]
    last_status: Option<ApiStatus>,
    #[serde(default, deserialize_with = "timestamp")]
    last_uplink_received_at: Option<UnixSeconds>,
    #[serde(default, deserialize_with = "uint64")]
    uplink_count: u64,
    #[serde(default, deserialize_with = "timestamp")]
    last_downlink_received_at: Option<UnixSeconds>,
    #[serde(default, deserialize_with = "uint64")]
    downlink_count: u64,
    #[serde(default, deserialize_with = "timestamp")]
    last_tx_acknowledgment_received_at: Option<UnixSeconds>,
    #[serde(default, deserialize_with = "uint64")]
    tx_acknowledgment_count: u64,
    #[serde(default)]
    round_trip_times: Option<ApiRoundTrip>,
    #[serde(default, deserialize_with = "null_default")]
    sub_bands: Vec<ApiSubBand>,
}

#[derive(Debug, Default, Deserialize)]
struct ApiStatus {
    #[serde(default, deserialize_with = "float_map")]
    metrics: BTreeMap<String, f64>,
}

#[derive(Debug, Default, Deserialize)]
struct ApiRoundTrip {
    #[serde(default, deserialize_with = "duration")]
    min: Option<f64>,
    #[serde(default, deserialize_with = "duration")]
    max: Option<f64>,
    #[serde(default, deserialize_with = "duration")]
    median: Option<f64>,
    #[serde(default, deserialize_with = "uint64")]
    count: u64,
}

#[derive(Debug, Default, Deserialize)]
struct ApiSubBand {
    #[serde(default, deserialize_with = "uint64")]
    min_frequency: u64,
    #[serde(default, deserialize_with = "uint64")]
    max_frequency: u64,
    #[serde(default, deserialize_with = "float")]
    downlink_utilization_limit: f64,
    #[serde(default, deserialize_with = "float")]
    downlink_utilization: f64,
}

impl From<ApiStats> for ConnectionStats {
    fn from(s: ApiStats) -> ConnectionStats {
        ConnectionStats {
            connected_at: s.connected_at,
            disconnected_at: s.disconnected_at,
            protocol: s.protocol.filter(|p| !p.is_empty()),
            last_status_received_at: s.last_status_received_at,
            status_metrics: s.last_status.map(|st| st.metrics).unwrap_or_default(),
            last_uplink_received_at: s.last_uplink_received_at,
            uplink_count: s.uplink_count,
            last_downlink_received_at: s.last_downlink_received_at,
            downlink_count: s.downlink_count,
            last_tx_acknowledgment_received_at: s.last_tx_acknowledgment_received_at,
            tx_acknowledgment_count: s.tx_acknowledgment_count,
            round_trip: s.round_trip_times.map(|r| RoundTrip {
                min: r.min.unwrap_or(0.0),
                median: r.median.unwrap_or(0.0),
                max: r.max.unwrap_or(0.0),
                count: r.count,
            }),
            sub_bands: s
                .sub_bands
                .into_iter()
                .map(|b| SubBand {
                    min_frequency: b.min_frequency,
                    max_frequency: b.max_frequency,
                    downlink_utilization_limit: b.downlink_utilization_limit,
                    downlink_utilization: b.downlink_utilization,
                })
                .collect(),
        }
    }
}

/// The API's error body.
#[derive(Debug, Default, Deserialize)]
pub struct ApiError {
    /// `error:<namespace>:<name> (<text>)`.
    #[serde(default)]
    pub message: Option<String>,
    /// Details; the first carries the name and correlation ID.
    #[serde(default, deserialize_with = "null_default")]
    pub details: Vec<ApiErrorDetail>,
}

/// One entry of an error's `details`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiErrorDetail {
    /// e.g. `pkg/gatewayserver`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// e.g. `not_connected`.
    #[serde(default)]
    pub name: Option<String>,
    /// What TTN support asks for.
    #[serde(default)]
    pub correlation_id: Option<String>,
}

impl ApiError {
    /// The error's name (`not_connected`, `api_key_not_found`, ...), from
    /// the details or else from the message.
    pub fn name(&self) -> Option<String> {
        if let Some(n) = self.details.iter().find_map(|d| d.name.clone()) {
            return Some(n);
        }
        let msg = self.message.as_deref()?;
        let rest = msg.strip_prefix("error:")?;
        let head = rest.split(' ').next()?;
        head.rsplit(':').next().map(str::to_owned)
    }

    /// The correlation ID of the first detail that has one.
    pub fn correlation_id(&self) -> Option<String> {
        self.details.iter().find_map(|d| d.correlation_id.clone())
    }
}

/// Parse an RFC 3339 timestamp into Unix seconds.
pub fn parse_timestamp(s: &str) -> Option<UnixSeconds> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9)
}

/// Parse a proto3 JSON duration (`"0.018661971s"`, `"3s"`) into seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    let v: f64 = s.strip_suffix('s')?.parse().ok()?;
    v.is_finite().then_some(v)
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Scalar {
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<UnixSeconds>, D::Error> {
    Ok(match Option::<Scalar>::deserialize(d)? {
        Some(Scalar::Str(s)) => parse_timestamp(&s),
        _ => None,
    })
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Scalar>::deserialize(d)? {
        Some(Scalar::Str(s)) => parse_duration(&s),
        Some(Scalar::F64(f)) if f.is_finite() => Some(f),
        Some(Scalar::U64(u)) => Some(u as f64),
        _ => None,
    })
}

fn uint64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Option::<Scalar>::deserialize(d)? {
        None => Ok(0),
        Some(Scalar::U64(u)) => Ok(u),
        Some(Scalar::Str(s)) => s
            .trim()
            .parse()
            .map_err(|_| de::Error::custom(format!("invalid uint64 string {s:?}"))),
        Some(Scalar::I64(i)) => Err(de::Error::custom(format!("negative uint64 {i}"))),
        Some(Scalar::F64(f)) => Err(de::Error::custom(format!("fractional uint64 {f}"))),
        Some(Scalar::Bool(_)) => Err(de::Error::custom("boolean where uint64 belongs")),
    }
}

fn scalar_f64(v: Scalar) -> f64 {
    match v {
        Scalar::F64(f) => f,
        Scalar::U64(u) => u as f64,
        Scalar::I64(i) => i as f64,
        Scalar::Str(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or(f64::NAN),
        },
        Scalar::Bool(b) => f64::from(u8::from(b)),
    }
}

fn float<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map_or(0.0, scalar_f64))
}

fn float_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
    let m = Option::<BTreeMap<String, Option<Scalar>>>::deserialize(d)?.unwrap_or_default();
    Ok(m.into_iter()
        .map(|(k, v)| (k, v.map_or(0.0, scalar_f64)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tts")
            .join(name);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn stats(name: &str) -> ConnectionStats {
        serde_json::from_str::<ApiStats>(&fixture(name))
            .unwrap()
            .into()
    }

    #[test]
    fn udp_connected_fixture() {
        let s = stats("stats-udp-connected.json");
        assert!(s.is_connected());
        assert_eq!(s.connected_at, Some(1_643_634_374.455_833_4));
        assert_eq!(s.protocol.as_deref(), Some("udp"));
        assert_eq!(s.uplink_count, 9043);
        assert_eq!(s.downlink_count, 0);
        assert_eq!(s.last_downlink_received_at, None);
        assert_eq!(s.status_metrics.len(), 6);
        assert_eq!(s.status_metrics["rxok"], 0.0);
        assert_eq!(s.last_seen(), Some(1_644_661_884.046_048_2));
        assert!(s.sub_bands.is_empty());
        assert_eq!(s.round_trip, None);
    }

    #[test]
    fn basicstation_fixture_with_u64_max() {
        let s = stats("stats-basicstation.json");
        assert_eq!(s.protocol.as_deref(), Some("ws"));
        assert_eq!(s.uplink_count, 2605);
        assert_eq!(s.downlink_count, 5);
        assert_eq!(s.sub_bands.len(), 1);
        assert_eq!(s.sub_bands[0].min_frequency, 0);
        assert_eq!(s.sub_bands[0].max_frequency, u64::MAX);
        assert_eq!(s.sub_bands[0].downlink_utilization_limit, 1.0);
        assert_eq!(s.sub_bands[0].downlink_utilization, 0.000071413335);
        assert!(s.status_metrics.is_empty());
    }

    #[test]
    fn round_trip_fixture() {
        let s = stats("stats-round-trip.json");
        let rt = s.round_trip.unwrap();
        assert_eq!(rt.min, 0.018661971);
        assert_eq!(rt.median, 0.055015637);
        assert_eq!(rt.max, 0.167531337);
        assert_eq!(rt.count, 32);
    }

    #[test]
    fn gateways_page_fixture() {
        let p: GatewaysPage = serde_json::from_str(&fixture("gateways-page.json")).unwrap();
        let gws: Vec<Gateway> = p.gateways.into_iter().map(Gateway::from).collect();
        assert_eq!(gws.len(), 2);
        assert_eq!(gws[0].id, "test-0001");
        assert_eq!(gws[0].name, None);
        assert_eq!(gws[1].eui.as_deref(), Some("2222222222222222"));
        assert_eq!(gws[1].name.as_deref(), Some("Roof"));
        assert_eq!(gws[1].frequency_plan_ids, vec!["EU_863_870_TTN"]);
        let empty: GatewaysPage = serde_json::from_str("{}").unwrap();
        assert!(empty.gateways.is_empty());
    }

    #[test]
    fn error_fixtures() {
        let e: ApiError = serde_json::from_str(&fixture("error-not-connected.json")).unwrap();
        assert_eq!(e.name().as_deref(), Some("not_connected"));
        assert_eq!(
            e.correlation_id().as_deref(),
            Some("7d4a76e4b2074fdfbb6d0fac81d8647c")
        );
        let e: ApiError = serde_json::from_str(&fixture("error-rights.json")).unwrap();
        assert_eq!(e.name().as_deref(), Some("no_user_rights"));
        let e: ApiError =
            serde_json::from_str(r#"{"message":"error:pkg/ratelimit:rate_limit_exceeded (x)"}"#)
                .unwrap();
        assert_eq!(e.name().as_deref(), Some("rate_limit_exceeded"));
    }

    #[test]
    fn timestamps_with_0_to_9_fraction_digits() {
        assert_eq!(parse_timestamp("2022-02-12T10:30:47Z"), Some(1644661847.0));
        assert_eq!(
            parse_timestamp("2022-02-12T10:30:47.5Z"),
            Some(1644661847.5)
        );
        assert_eq!(
            parse_timestamp("2022-02-12T10:30:47.123Z"),
            Some(1644661847.123)
        );
        assert_eq!(
            parse_timestamp("2022-02-12T10:30:47.123456Z"),
            Some(1644661847.123456)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0.018661971s"), Some(0.018661971));
        assert_eq!(parse_duration("1.500s"), Some(1.5));
        assert_eq!(parse_duration("3s"), Some(3.0));
        assert_eq!(parse_duration("3"), None);
        assert_eq!(parse_duration("NaNs"), None);
    }

    #[test]
    fn omitted_null_unknown_and_numeric_forms() {
        let s: ConnectionStats = serde_json::from_str::<ApiStats>(
            r#"{"uplink_count": 12, "downlink_count": null, "future": {"x": [1]},
                "sub_bands": null, "last_status": {"metrics": {"temp": "NaN", "rxok": "7"}},
                "round_trip_times": {"count": 3}}"#,
        )
        .unwrap()
        .into();
        assert_eq!(s.uplink_count, 12);
        assert_eq!(s.downlink_count, 0);
        assert!(!s.is_connected());
        assert!(s.status_metrics["temp"].is_nan());
        assert_eq!(s.status_metrics["rxok"], 7.0);
        assert_eq!(s.round_trip.unwrap().count, 3);
    }

    #[test]
    fn bad_uint64_is_an_error() {
        assert!(serde_json::from_str::<ApiStats>(r#"{"uplink_count": "lots"}"#).is_err());
        assert!(serde_json::from_str::<ApiStats>(r#"{"uplink_count": -1}"#).is_err());
        assert!(serde_json::from_str::<ApiStats>(r#"{"sub_bands": {}}"#).is_err());
    }

    #[test]
    fn batch_entries_may_be_missing() {
        let b: BatchStats = serde_json::from_str("{}").unwrap();
        assert!(b.entries.is_empty());
        let b: BatchStats =
            serde_json::from_str(r#"{"entries":{"a":{"connected_at":"2022-02-12T10:30:47Z"}}}"#)
                .unwrap();
        assert!(ConnectionStats::from(b.entries.into_values().next().unwrap()).is_connected());
    }
}
