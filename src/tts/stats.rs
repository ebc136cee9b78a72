//! `GatewayConnectionStats` as the API writes it, alone
//! (`GET /gs/gateways/{id}/connection/stats`) or by gateway ID (the batch
//! route), read leniently into [`ConnectionStats`]: a scalar that does not
//! parse drops that one field, and lists and maps are kept up to their
//! bounds, each drop counted in [`Dropped`].

use std::collections::HashMap;

use serde::Deserialize;

use super::lenient::{duration, float, null_default, status_metrics, sub_bands, timestamp, uint64};
use super::lenient::{Capped, Field};
use crate::model::{
    ConnectionStats, Dropped, Location, RoundTrip, SortedMap, SubBand, UnixSeconds,
};

/// Answer of `POST /gs/gateways/connection/stats`; `entries` may be missing.
#[derive(Debug, Default, Deserialize)]
pub struct BatchStats {
    /// Stats by gateway ID; gateways that are not connected are absent.
    #[serde(default, deserialize_with = "null_default")]
    pub entries: HashMap<String, ApiStats>,
}

/// `GatewayConnectionStats`. A scalar whose value does not parse is kept as
/// [`Field::Invalid`] rather than failing the whole answer: one bad counter
/// of one gateway drops that field of that gateway only.
#[derive(Debug, Default, Deserialize)]
pub struct ApiStats {
    #[serde(default, deserialize_with = "timestamp")]
    connected_at: Field<UnixSeconds>,
    #[serde(default, deserialize_with = "timestamp")]
    disconnected_at: Field<UnixSeconds>,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default, deserialize_with = "timestamp")]
    last_status_received_at: Field<UnixSeconds>,
    #[serde(default)]
    last_status: Option<ApiStatus>,
    #[serde(default, deserialize_with = "timestamp")]
    last_uplink_received_at: Field<UnixSeconds>,
    #[serde(default, deserialize_with = "uint64")]
    uplink_count: Field<u64>,
    #[serde(default, deserialize_with = "timestamp")]
    last_downlink_received_at: Field<UnixSeconds>,
    #[serde(default, deserialize_with = "uint64")]
    downlink_count: Field<u64>,
    #[serde(default, deserialize_with = "timestamp")]
    last_tx_acknowledgment_received_at: Field<UnixSeconds>,
    #[serde(default, deserialize_with = "uint64")]
    tx_acknowledgment_count: Field<u64>,
    #[serde(default)]
    round_trip_times: Option<ApiRoundTrip>,
    #[serde(default, deserialize_with = "sub_bands")]
    sub_bands: Capped<Vec<ApiSubBand>>,
}

#[derive(Debug, Default, Deserialize)]
struct ApiStatus {
    #[serde(default, deserialize_with = "timestamp")]
    time: Field<UnixSeconds>,
    #[serde(default, deserialize_with = "timestamp")]
    boot_time: Field<UnixSeconds>,
    #[serde(default, deserialize_with = "super::lenient::status_versions")]
    versions: SortedMap<Box<str>>,
    #[serde(default, deserialize_with = "status_metrics")]
    metrics: Capped<SortedMap<f64>>,
    #[serde(default, deserialize_with = "super::location::status_location")]
    antenna_locations: Option<Location>,
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
    count: Field<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct ApiSubBand {
    #[serde(default, deserialize_with = "uint64")]
    min_frequency: Field<u64>,
    #[serde(default, deserialize_with = "uint64")]
    max_frequency: Field<u64>,
    #[serde(default, deserialize_with = "float")]
    downlink_utilization_limit: f64,
    #[serde(default, deserialize_with = "float")]
    downlink_utilization: f64,
}

impl ApiStats {
    /// The model's stats, and what was dropped on the way: invalid fields,
    /// sub-bands and status metrics past their bounds, repeated sub-bands.
    pub fn into_model(mut self) -> (ConnectionStats, Dropped) {
        let mut invalid: Vec<&'static str> = Vec::new();
        let mut dropped = Dropped::default();
        let mut ts = |f: Field<UnixSeconds>, name: &'static str| match f {
            Field::Valid(v) => Some(v),
            Field::Absent => None,
            Field::Invalid => {
                invalid.push(name);
                None
            }
        };
        let connected_at = ts(self.connected_at, "connected_at");
        let disconnected_at = ts(self.disconnected_at, "disconnected_at");
        let last_status_received_at = ts(self.last_status_received_at, "last_status_received_at");
        let last_uplink_received_at = ts(self.last_uplink_received_at, "last_uplink_received_at");
        let last_downlink_received_at =
            ts(self.last_downlink_received_at, "last_downlink_received_at");
        let last_tx_acknowledgment_received_at = ts(
            self.last_tx_acknowledgment_received_at,
            "last_tx_acknowledgment_received_at",
        );
        let (status_time, boot_time) = match self.last_status.as_mut() {
            Some(st) => (
                ts(std::mem::take(&mut st.time), "last_status.time"),
                ts(std::mem::take(&mut st.boot_time), "last_status.boot_time"),
            ),
            None => (None, None),
        };
        let mut count = |f: Field<u64>, name: &'static str| match f {
            Field::Valid(v) => Some(v),
            Field::Absent => Some(0),
            Field::Invalid => {
                invalid.push(name);
                None
            }
        };
        let uplink_count = count(self.uplink_count, "uplink_count");
        let downlink_count = count(self.downlink_count, "downlink_count");
        let tx_acknowledgment_count =
            count(self.tx_acknowledgment_count, "tx_acknowledgment_count");
        let round_trip = self.round_trip_times.and_then(|r| {
            count(r.count, "round_trip_times").map(|n| RoundTrip {
                min: r.min.unwrap_or(0.0),
                median: r.median.unwrap_or(0.0),
                max: r.max.unwrap_or(0.0),
                count: n,
            })
        });
        let mut sub_bands: Vec<SubBand> = Vec::with_capacity(self.sub_bands.items.len());
        dropped.sub_band += self.sub_bands.dropped;
        for b in self.sub_bands.items {
            let (lo, hi) = match (b.min_frequency, b.max_frequency) {
                (Field::Invalid, _) | (_, Field::Invalid) => {
                    dropped.invalid_field += 1;
                    continue;
                }
                (lo, hi) => (freq(lo), freq(hi)),
            };
            // One series per sub-band: a repeated (min, max) is dropped.
            if sub_bands
                .iter()
                .any(|s| s.min_frequency == lo && s.max_frequency == hi)
            {
                dropped.sub_band += 1;
                continue;
            }
            sub_bands.push(SubBand {
                min_frequency: lo,
                max_frequency: hi,
                downlink_utilization_limit: b.downlink_utilization_limit,
                downlink_utilization: b.downlink_utilization,
            });
        }
        let antenna_location = self
            .last_status
            .as_ref()
            .and_then(|st| st.antenna_locations.clone());
        let (status_metrics, status_versions) = match self.last_status {
            Some(st) => {
                dropped.status_metric += st.metrics.dropped;
                (st.metrics.items, st.versions)
            }
            None => (SortedMap::new(), SortedMap::new()),
        };
        dropped.invalid_field += invalid.len() as u64;
        let stats = ConnectionStats {
            connected_at,
            disconnected_at,
            protocol: self
                .protocol
                .filter(|p| !p.is_empty())
                .map(|p| crate::model::sanitize::upstream(&p)),
            last_status_received_at,
            status_metrics,
            status_versions,
            status_time,
            boot_time,
            last_uplink_received_at,
            uplink_count,
            last_downlink_received_at,
            downlink_count,
            last_tx_acknowledgment_received_at,
            tx_acknowledgment_count,
            round_trip,
            sub_bands,
            invalid,
            antenna_location,
        };
        (stats, dropped)
    }
}

/// A frequency: omitted is 0.
fn freq(f: Field<u64>) -> u64 {
    match f {
        Field::Valid(v) => v,
        _ => 0,
    }
}

impl From<ApiStats> for ConnectionStats {
    fn from(s: ApiStats) -> ConnectionStats {
        s.into_model().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MAX_STATUS_METRICS, MAX_SUB_BANDS};
    use crate::tts::lenient::MAX_STATUS_VERSIONS;

    fn stats(json: &str) -> ConnectionStats {
        serde_json::from_str::<ApiStats>(json).unwrap().into()
    }

    #[test]
    fn udp_connected_fixture() {
        let s = stats(include_str!(
            "../../tests/fixtures/tts/stats-udp-connected.json"
        ));
        assert!(s.is_connected());
        assert_eq!(s.connected_at, Some(1_643_634_374.455_833_4));
        assert_eq!(s.protocol.as_deref(), Some("udp"));
        assert_eq!(s.uplink_count, Some(9043));
        assert_eq!(s.downlink_count, Some(0));
        assert_eq!(s.last_downlink_received_at, None);
        assert_eq!(s.status_metrics.len(), 6);
        assert_eq!(s.status_metrics["rxok"], 0.0);
        assert_eq!(s.last_seen(), Some(1_644_661_884.046_048_2));
        assert!(s.sub_bands.is_empty());
        assert_eq!(s.round_trip, None);
    }

    #[test]
    fn basicstation_fixture_with_u64_max() {
        let s = stats(include_str!(
            "../../tests/fixtures/tts/stats-basicstation.json"
        ));
        assert_eq!(s.protocol.as_deref(), Some("ws"));
        assert_eq!(s.uplink_count, Some(2605));
        assert_eq!(s.downlink_count, Some(5));
        assert_eq!(s.sub_bands.len(), 1);
        assert_eq!(s.sub_bands[0].min_frequency, 0);
        assert_eq!(s.sub_bands[0].max_frequency, u64::MAX);
        assert_eq!(s.sub_bands[0].downlink_utilization_limit, 1.0);
        assert_eq!(s.sub_bands[0].downlink_utilization, 0.000071413335);
        assert!(s.status_metrics.is_empty());
    }

    #[test]
    fn round_trip_fixture() {
        let s = stats(include_str!(
            "../../tests/fixtures/tts/stats-round-trip.json"
        ));
        let rt = s.round_trip.unwrap();
        assert_eq!(rt.min, 0.018661971);
        assert_eq!(rt.median, 0.055015637);
        assert_eq!(rt.max, 0.167531337);
        assert_eq!(rt.count, 32);
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
        assert_eq!(s.uplink_count, Some(12));
        assert_eq!(s.downlink_count, Some(0));
        assert!(!s.is_connected());
        assert!(s.status_metrics["temp"].is_nan());
        assert_eq!(s.status_metrics["rxok"], 7.0);
        assert_eq!(s.round_trip.unwrap().count, 3);
    }

    #[test]
    fn a_bad_counter_drops_that_field_only() {
        for bad in [r#""lots""#, "-1", "1.5", "true", "{}", "[1]"] {
            let json = format!(r#"{{"uplink_count": {bad}, "downlink_count": "5"}}"#);
            let (s, dropped) = serde_json::from_str::<ApiStats>(&json)
                .unwrap()
                .into_model();
            assert_eq!(s.uplink_count, None, "{bad}");
            assert_eq!(s.downlink_count, Some(5), "{bad}");
            assert_eq!(s.invalid, vec!["uplink_count"]);
            assert_eq!(dropped.invalid_field, 1);
        }
        // Structure is still strict.
        assert!(serde_json::from_str::<ApiStats>(r#"{"sub_bands": {}}"#).is_err());
    }

    #[test]
    fn an_unparseable_connected_at_still_means_connected() {
        let (s, dropped) = serde_json::from_str::<ApiStats>(r#"{"connected_at": "yesterday"}"#)
            .unwrap()
            .into_model();
        assert!(s.is_connected());
        assert_eq!(s.connected_at, None);
        assert_eq!(dropped.invalid_field, 1);
        let (s, _) = serde_json::from_str::<ApiStats>(
            r#"{"connected_at": "2022-02-12T10:30:47Z", "disconnected_at": 7}"#,
        )
        .unwrap()
        .into_model();
        assert!(!s.is_connected());
    }

    #[test]
    fn sub_bands_are_bounded_and_deduplicated() {
        let band = r#"{"min_frequency":"1","max_frequency":"2","downlink_utilization":0.5}"#;
        let json = format!(r#"{{"sub_bands": [{}]}}"#, vec![band; 1500].join(","));
        let (s, dropped) = serde_json::from_str::<ApiStats>(&json)
            .unwrap()
            .into_model();
        assert_eq!(s.sub_bands.len(), 1);
        assert_eq!(dropped.sub_band, 1499);
        let many: Vec<String> = (0..1500)
            .map(|i| format!(r#"{{"min_frequency":"{i}","max_frequency":"{}"}}"#, i + 1))
            .collect();
        let json = format!(r#"{{"sub_bands": [{}]}}"#, many.join(","));
        let (s, dropped) = serde_json::from_str::<ApiStats>(&json)
            .unwrap()
            .into_model();
        assert_eq!(s.sub_bands.len(), MAX_SUB_BANDS);
        assert_eq!(dropped.sub_band, 1500 - MAX_SUB_BANDS as u64);
    }

    #[test]
    fn status_metrics_are_bounded() {
        let mut m: Vec<String> = (0..500).map(|i| format!(r#""m{i}": {i}"#)).collect();
        m.push(format!(r#""{}": 1"#, "x".repeat(1000)));
        let json = format!(r#"{{"last_status": {{"metrics": {{{}}}}}}}"#, m.join(","));
        let (s, dropped) = serde_json::from_str::<ApiStats>(&json)
            .unwrap()
            .into_model();
        assert_eq!(s.status_metrics.len(), MAX_STATUS_METRICS);
        assert_eq!(dropped.status_metric, 501 - MAX_STATUS_METRICS as u64);
    }

    #[test]
    fn repeated_status_keys_keep_the_btreemap_rules() {
        // Metrics: the last value wins, a repeat may replace when full, a
        // non-scalar repeat keeps the earlier value.
        let mut m: Vec<String> = (0..MAX_STATUS_METRICS)
            .map(|i| format!(r#""m{i:02}": {i}"#))
            .collect();
        m.push(r#""m05": 99"#.into());
        m.push(r#""m06": {"x": 1}"#.into());
        m.push(r#""zz": 1"#.into());
        // Versions: the last value wins while there is room, not when full.
        let mut v: Vec<String> = vec![r#""b": "1""#.into(), r#""b": "2""#.into()];
        v.extend((0..MAX_STATUS_VERSIONS - 1).map(|i| format!(r#""c{i:02}": "x""#)));
        v.push(r#""b": "3""#.into());
        let json = format!(
            r#"{{"last_status": {{"metrics": {{{}}}, "versions": {{{}}}}}}}"#,
            m.join(","),
            v.join(",")
        );
        let (s, dropped) = serde_json::from_str::<ApiStats>(&json)
            .unwrap()
            .into_model();
        assert_eq!(s.status_metrics.len(), MAX_STATUS_METRICS);
        assert_eq!(s.status_metrics["m05"], 99.0);
        assert_eq!(s.status_metrics["m06"], 6.0);
        assert!(!s.status_metrics.contains_key("zz"));
        assert_eq!(dropped.status_metric, 2);
        let keys: Vec<&str> = s.status_metrics.keys().collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
        assert_eq!(s.status_versions.len(), MAX_STATUS_VERSIONS);
        assert_eq!(s.status_versions.get("b").map(|b| &**b), Some("2"));
        assert_eq!(s.status_versions.keys().next(), Some("b"));
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
