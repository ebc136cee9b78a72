//! Deterministic synthetic gateways and proto3-JSON formatting helpers.
//!
//! The formulas are documented on `FakeGateway::synthetic`.

use serde_json::{json, Map, Value};

use crate::{FakeGateway, FAKE_ORG_ID, FAKE_USER_ID};

/// Base time of synthetic timestamps: 1_700_000_000 s = 2023-11-14T22:13:20Z.
pub const SYNTHETIC_EPOCH: i64 = 1_700_000_000;

/// `FakeGateway::synthetic(0..n)`.
pub fn synthetic_fleet(n: usize) -> Vec<FakeGateway> {
    (0..n).map(FakeGateway::synthetic).collect()
}

pub(crate) fn gateway(i: usize) -> FakeGateway {
    let n = i as u64;
    let (owner_user, owner_org) = if i % 3 == 2 {
        (None, Some(FAKE_ORG_ID.to_owned()))
    } else {
        (Some(FAKE_USER_ID.to_owned()), None)
    };
    FakeGateway {
        id: format!("gw-{i:06}"),
        eui: Some(format!(
            "{:016X}",
            0x58A0_CBFF_FE00_0000_u64.wrapping_add(n)
        )),
        name: Some(format!("Gateway {i}")),
        frequency_plan_ids: vec!["EU_863_870_TTN".to_owned()],
        gateway_server_address: None,
        owner_user,
        owner_org,
        stats: stats(i),
        antennas: antennas(i),
        version_ids: version_ids(i),
        attributes: Default::default(),
        no_status_rights: false,
        no_info_rights: false,
        status_public: false,
        location_public: false,
    }
}

fn antennas(i: usize) -> Option<Value> {
    if i % 4 == 1 || i % 4 == 3 || i % 8 == 6 {
        Some(json!([{
            "gain": 3,
            "location": {
                "latitude": 50.0 + i as f64 / 1000.0,
                "longitude": 5.0 + i as f64 / 1000.0,
                "altitude": 10 + i % 50,
                // i % 8 == 6: "update location from status" is on, and the
                // Gateway Server wrote the gateway's GPS fix (pkg/gatewayserver
                // sets SOURCE_GPS on the antennas it updates).
                "source": if i % 8 == 6 { "SOURCE_GPS" } else { "SOURCE_REGISTRY" },
            },
            "placement": "OUTDOOR",
        }]))
    } else if i % 8 == 2 {
        Some(json!([{"gain": 2, "placement": "INDOOR"}]))
    } else {
        None
    }
}

pub(crate) fn version_ids(i: usize) -> Option<Value> {
    if i % 5 == 4 {
        return None;
    }
    let mut v = Map::new();
    let (brand, model) = if i % 2 == 0 {
        ("the-things-industries", "the-things-indoor-gateway")
    } else {
        ("multitech", "conduit")
    };
    v.insert("brand_id".into(), brand.into());
    v.insert("model_id".into(), model.into());
    if i % 2 == 0 {
        v.insert("hardware_version".into(), "v1.1".into());
    }
    v.insert("firmware_version".into(), format!("v1.0.{}", i % 3).into());
    if i % 4 == 0 {
        v.insert("runtime_version".into(), "mlinux-5.3".into());
    }
    Some(Value::Object(v))
}

fn stats(i: usize) -> Option<Value> {
    let n = i as u64;
    let digits = [9, 6, 3, 0][(i / 4) % 4];
    let ts = |offset: u64| rfc3339(SYNTHETIC_EPOCH + offset as i64, digits);
    let mut s = Map::new();
    match i % 4 {
        0 => {
            s.insert("connected_at".into(), ts(n).into());
            s.insert("protocol".into(), "udp".into());
            s.insert("last_status_received_at".into(), ts(3600 + n).into());
            let mut location = Map::new();
            location.insert("latitude".into(), json!(52.0 + i as f64 / 1000.0));
            location.insert("longitude".into(), json!(4.0 + i as f64 / 1000.0));
            if i % 100 != 0 {
                location.insert("altitude".into(), json!(i % 100));
            }
            location.insert("source".into(), "SOURCE_GPS".into());
            s.insert(
                "last_status".into(),
                json!({
                    "time": rfc3339(SYNTHETIC_EPOCH + 3590 + n as i64, 0),
                    "boot_time": rfc3339(SYNTHETIC_EPOCH - 86400, 0),
                    "versions": {"ttn-lw-gateway-server": "3.33.1", "firmware": "fake-1.0"},
                    "antenna_locations": [Value::Object(location)],
                    "ip": [format!("192.0.2.{}", i % 256)],
                    "metrics": {
                        "rxin": 100 + n,
                        "rxok": 90 + n,
                        "rxfw": 80 + n,
                        "ackr": 100 - n % 10,
                        "txin": n % 7,
                        "txok": n % 7,
                        "temp": 20.0 + (i % 20) as f64 + 0.5,
                    },
                }),
            );
            s.insert("last_uplink_received_at".into(), ts(3500 + n).into());
            s.insert("uplink_count".into(), (1000 + 7 * n).to_string().into());
            if n > 0 {
                s.insert("last_downlink_received_at".into(), ts(3400 + n).into());
                s.insert("downlink_count".into(), (3 * n).to_string().into());
                s.insert(
                    "last_tx_acknowledgment_received_at".into(),
                    ts(3450 + n).into(),
                );
                s.insert("tx_acknowledgment_count".into(), (2 * n).to_string().into());
            }
            s.insert(
                "gateway_remote_address".into(),
                json!({"ip": format!("192.0.2.{}", i % 256)}),
            );
            s.insert("future_field".into(), json!(1));
        }
        1 => {
            s.insert("connected_at".into(), ts(n).into());
            let protocol = if i % 8 == 1 { "ws" } else { "semtechws/lbslns" };
            s.insert("protocol".into(), protocol.into());
            s.insert("last_uplink_received_at".into(), ts(3500 + n).into());
            s.insert("uplink_count".into(), (2000 + 11 * n).to_string().into());
            s.insert("last_downlink_received_at".into(), ts(3400 + n).into());
            s.insert("downlink_count".into(), (5 + n).to_string().into());
            s.insert(
                "round_trip_times".into(),
                json!({
                    "min": duration(10_000_000 * (1 + n % 5)),
                    "max": duration(1_000_000_000 * (1 + n % 3)),
                    "median": duration(55_015_637 + n),
                    "count": 32 + n,
                }),
            );
            let mut third = Map::new();
            third.insert("min_frequency".into(), "868000000".into());
            third.insert("max_frequency".into(), "868600000".into());
            third.insert("downlink_utilization_limit".into(), json!(0.01));
            if i % 10 != 0 {
                third.insert(
                    "downlink_utilization".into(),
                    json!((i % 10) as f64 / 10000.0),
                );
            }
            s.insert(
                "sub_bands".into(),
                json!([
                    {
                        "max_frequency": u64::MAX.to_string(),
                        "downlink_utilization_limit": 1,
                        "downlink_utilization": (1 + i % 100) as f64 / 100000.0,
                    },
                    {
                        "min_frequency": "863000000",
                        "max_frequency": "865000000",
                        "downlink_utilization_limit": 0.001,
                    },
                    Value::Object(third),
                ]),
            );
            s.insert(
                "gateway_remote_address".into(),
                json!({"ip": format!("198.51.100.{}", i % 256)}),
            );
            s.insert("future_field".into(), json!(1));
        }
        2 => {
            // The server keeps the whole last record for 48 h after a
            // disconnect: only `connected_at` is cleared (pkg/gatewayserver).
            s.insert("disconnected_at".into(), ts(7200 + n).into());
            s.insert("protocol".into(), "udp".into());
            s.insert("last_status_received_at".into(), ts(3600 + n).into());
            s.insert(
                "last_status".into(),
                json!({
                    "time": rfc3339(SYNTHETIC_EPOCH + 3600 + n as i64, 0),
                    "versions": {"firmware": "fake-1.0"},
                    "metrics": {"rxin": 10 + n, "rxok": 9 + n, "temp": 31.5},
                }),
            );
            s.insert("last_uplink_received_at".into(), ts(3500 + n).into());
            s.insert("uplink_count".into(), (500 + n).to_string().into());
            s.insert("last_downlink_received_at".into(), ts(3400 + n).into());
            s.insert("downlink_count".into(), (1 + n).to_string().into());
            s.insert(
                "round_trip_times".into(),
                json!({"min": "0.020s", "max": "0.400s", "median": "0.050s", "count": 12}),
            );
            s.insert(
                "sub_bands".into(),
                json!([{"min_frequency": "863000000", "max_frequency": "865000000",
                        "downlink_utilization_limit": 0.001, "downlink_utilization": 0.0002}]),
            );
            s.insert("future_field".into(), json!(1));
        }
        _ => return None,
    }
    Some(Value::Object(s))
}

/// RFC 3339 UTC timestamp of `unix_secs` with the fraction `.123456789` cut to
/// `frac_digits` (0..=9) digits.
pub(crate) fn rfc3339(unix_secs: i64, frac_digits: usize) -> String {
    let days = unix_secs.div_euclid(86_400);
    let rem = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hh, mm, ss) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    let frac = &"123456789"[..frac_digits.min(9)];
    let dot = if frac.is_empty() { "" } else { "." };
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}{dot}{frac}Z")
}

/// Howard Hinnant's days-since-epoch to (year, month, day).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// A protobuf JSON duration: seconds with 0, 3, 6 or 9 fractional digits, as Go writes it.
pub(crate) fn duration(nanos: u64) -> String {
    let secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    if frac == 0 {
        format!("{secs}s")
    } else if frac % 1_000_000 == 0 {
        format!("{secs}.{:03}s", frac / 1_000_000)
    } else if frac % 1_000 == 0 {
        format!("{secs}.{:06}s", frac / 1_000)
    } else {
        format!("{secs}.{frac:09}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(SYNTHETIC_EPOCH, 9),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(rfc3339(SYNTHETIC_EPOCH, 3), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400, 6), "2000-02-29T00:00:00.123456Z");
        assert_eq!(rfc3339(1_709_251_199, 0), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(18_661_971), "0.018661971s");
        assert_eq!(duration(1_500_000_000), "1.500s");
        assert_eq!(duration(3_000_000_000), "3s");
        assert_eq!(duration(55_016_000), "0.055016s");
    }

    #[test]
    fn kinds() {
        let g = gateway(0);
        assert_eq!(g.id, "gw-000000");
        assert_eq!(g.eui.as_deref(), Some("58A0CBFFFE000000"));
        let s = g.stats.expect("kind 0 has stats");
        assert_eq!(s["protocol"], "udp");
        assert_eq!(s["uplink_count"], "1000");
        assert!(s.get("downlink_count").is_none());
        assert!(s["last_status"]["antenna_locations"][0]
            .get("altitude")
            .is_none());
        let s = gateway(1).stats.expect("kind 1 has stats");
        assert_eq!(s["protocol"], "ws");
        assert_eq!(s["sub_bands"][0]["max_frequency"], "18446744073709551615");
        assert_eq!(s["round_trip_times"]["min"], "0.020s");
        assert_eq!(s["round_trip_times"]["max"], "2s");
        assert_eq!(s["round_trip_times"]["median"], "0.055015638s");
        assert!(s.get("last_status").is_none());
        let s = gateway(6).stats.expect("kind 2 has stats");
        assert_eq!(s["disconnected_at"], "2023-11-15T00:13:26.123456Z");
        assert!(s.get("connected_at").is_none());
        assert!(gateway(3).stats.is_none());
        assert!(gateway(0).antennas.is_none());
        assert_eq!(
            gateway(1).antennas.expect("kind 1")[0]["location"]["altitude"],
            11
        );
        assert!(gateway(2).antennas.expect("i % 8 == 2")[0]
            .get("location")
            .is_none());
        assert_eq!(
            gateway(6).antennas.expect("i % 8 == 6")[0]["location"]["latitude"],
            50.006
        );
        assert_eq!(
            gateway(2).version_ids.expect("i % 5 != 4")["hardware_version"],
            "v1.1"
        );
        assert!(gateway(3)
            .version_ids
            .expect("odd")
            .get("hardware_version")
            .is_none());
        assert!(gateway(4).version_ids.is_none());
        assert_eq!(gateway(2).owner_org.as_deref(), Some(FAKE_ORG_ID));
        assert_eq!(gateway(12).name.as_deref(), Some("Gateway 12"));
        assert_eq!(
            gateway(8).stats.expect("kind 0")["connected_at"],
            "2023-11-14T22:13:28.123Z"
        );
        assert_eq!(
            gateway(12).stats.expect("kind 0")["connected_at"],
            "2023-11-14T22:13:32Z"
        );
    }
}
