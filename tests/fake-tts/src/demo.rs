//! A lively fleet for demos (`cargo run --example demo`): timestamps near
//! "now" and counters that grow with time, so that every refresh of an
//! exporter sees new values. Unlike [`crate::synthetic_fleet`] it is not
//! fixed: call [`demo_fleet`] again (e.g. every few seconds) and hand the
//! result to [`crate::FakeTts::set_gateways`].

use serde_json::json;

use crate::synthetic::{duration, rfc3339};
use crate::{FakeGateway, FAKE_USER_ID};

/// Names of demo sites; a gateway's name is a site and its number.
const SITES: [&str; 10] = [
    "Harbour",
    "Town hall",
    "Water tower",
    "Campus",
    "Farm",
    "Depot",
    "Lighthouse",
    "Station",
    "Library",
    "Hospital",
];

/// Gateway `i` of a demo fleet, `elapsed` seconds after the demo started,
/// at wall clock `now` (Unix seconds). Of every 10 gateways, number 7 is
/// disconnected (for `i + 1` minutes) and number 9 never connected; the rest are
/// connected, half over UDP, half over Basics Station (with round-trip times
/// and sub-bands); the UDP ones report an antenna location around Amsterdam.
/// Gateway 3 has a name with HTML in it, as user input may.
pub fn demo_gateway(i: usize, elapsed: u64, now: i64) -> FakeGateway {
    let n = i as u64;
    let name = if i == 3 {
        "Lab <test> & \"friends\"".to_owned()
    } else {
        format!("{} {}", SITES[i % SITES.len()], i + 1)
    };
    let ts = |ago: u64| rfc3339(now - ago as i64, 3);
    // Each gateway has its own traffic rate: 1 to 12 uplinks a minute.
    let rate = 1 + n % 12;
    let uplinks = 500 * (n + 1) + elapsed * rate / 60 + elapsed / (n + 2);
    let downlinks = uplinks / 20;
    let stats = match i % 10 {
        9 => None,
        7 => Some(json!({
            "disconnected_at": ts(60 * (n + 1)),
            "protocol": "udp",
            "last_uplink_received_at": ts(60 * (n + 1) + 20),
            "uplink_count": (500 + n).to_string(),
        })),
        k if k % 2 == 0 => Some(json!({
            "connected_at": ts(86_400 + 600 * n + elapsed),
            "protocol": "udp",
            "last_status_received_at": ts(n % 30),
            "last_status": {
                "time": rfc3339(now - (n % 30) as i64, 0),
                "versions": {"firmware": "demo-1.0"},
                "antenna_locations": [{
                    "latitude": 52.30 + (i % 7) as f64 * 0.025,
                    "longitude": 4.80 + (i / 7) as f64 * 0.03,
                    "altitude": 5 + (i % 40) as i64,
                    "source": "SOURCE_REGISTRY",
                }],
                "metrics": {
                    "rxin": uplinks + uplinks / 10,
                    "rxok": uplinks,
                    "txin": downlinks,
                    "txok": downlinks,
                    "temp": 18.5 + (i % 15) as f64,
                },
            },
            "last_uplink_received_at": ts((n * 7) % 60),
            "uplink_count": uplinks.to_string(),
            "last_downlink_received_at": ts(60 + n),
            "downlink_count": downlinks.to_string(),
            "last_tx_acknowledgment_received_at": ts(61 + n),
            "tx_acknowledgment_count": downlinks.to_string(),
        })),
        _ => Some(json!({
            "connected_at": ts(3600 * (n + 1) + elapsed),
            "protocol": "semtechws/lbslns",
            "last_uplink_received_at": ts((n * 11) % 45),
            "uplink_count": uplinks.to_string(),
            "last_downlink_received_at": ts(30 + n),
            "downlink_count": downlinks.to_string(),
            "round_trip_times": {
                "min": duration(20_000_000 + 1_000_000 * (n % 5)),
                "median": duration(45_000_000 + 3_000_000 * (n % 9) + 1_000_000 * (elapsed % 7)),
                "max": duration(300_000_000 + 10_000_000 * (n % 20)),
                "count": (20 + n % 30).to_string(),
            },
            "sub_bands": [
                {
                    "min_frequency": "863000000",
                    "max_frequency": "865000000",
                    "downlink_utilization_limit": 0.001,
                },
                {
                    "min_frequency": "868000000",
                    "max_frequency": "868600000",
                    "downlink_utilization_limit": 0.01,
                    "downlink_utilization": (1 + (n + elapsed / 10) % 90) as f64 / 10_000.0,
                },
            ],
        })),
    };
    FakeGateway {
        id: format!("demo-gw-{:02}", i + 1),
        eui: Some(format!("{:016X}", 0x70B3_D57E_D000_0000_u64 + n)),
        name: Some(name),
        frequency_plan_ids: vec!["EU_863_870_TTN".to_owned()],
        gateway_server_address: None,
        owner_user: Some(FAKE_USER_ID.to_owned()),
        owner_org: None,
        stats,
        antennas: None,
        version_ids: crate::synthetic::version_ids(i),
        attributes: [
            ("owner", ["city-works", "harbour", "campus"][i % 3]),
            ("site", ["north", "south"][i % 2]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        no_status_rights: false,
        no_info_rights: false,
        status_public: false,
        location_public: false,
    }
}

/// `n` demo gateways (see [`demo_gateway`]).
pub fn demo_fleet(n: usize, elapsed: u64, now: i64) -> Vec<FakeGateway> {
    (0..n).map(|i| demo_gateway(i, elapsed, now)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(g: &FakeGateway) -> u64 {
        g.stats.as_ref().expect("stats")["uplink_count"]
            .as_str()
            .expect("uint64 as string")
            .parse()
            .expect("number")
    }

    #[test]
    fn counters_grow_and_some_are_offline() {
        let a = demo_fleet(50, 0, 1_800_000_000);
        let b = demo_fleet(50, 60, 1_800_000_060);
        assert!(count(&b[0]) > count(&a[0]));
        assert!(count(&b[1]) > count(&a[1]));
        let disconnected = a
            .iter()
            .filter(|g| {
                g.stats
                    .as_ref()
                    .is_some_and(|s| s.get("disconnected_at").is_some())
            })
            .count();
        let never = a.iter().filter(|g| g.stats.is_none()).count();
        assert_eq!((disconnected, never), (5, 5));
        assert_eq!(
            a[0].stats.as_ref().expect("stats")["last_uplink_received_at"],
            "2027-01-15T08:00:00.123Z"
        );
        let ids: std::collections::BTreeSet<_> = a.iter().map(|g| g.id.clone()).collect();
        assert_eq!(ids.len(), 50);
    }
}
