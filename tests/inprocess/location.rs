//! Gateway location and version metrics: parsing the registry's `antennas`
//! and `version_ids` and the status's `antenna_locations`, the exact series
//! rendered, and the exporter asking the fake for them through `field_mask`.

use crate::common::*;
use fake_tts::FakeGateway;
use ttn_exporter::metrics::write_gateways;
use ttn_exporter::model::{ConnectionStats, Gateway, Location, VersionIds};
use ttn_exporter::tts::location::MAX_VERSION_CHARS;
use ttn_exporter::tts::types::{ApiStats, GatewaysPage};

fn listed(json: &str) -> Vec<Gateway> {
    serde_json::from_str::<GatewaysPage>(json)
        .unwrap()
        .gateways
        .into_iter()
        .map(Gateway::from)
        .collect()
}

fn one(json: &str) -> Gateway {
    listed(&format!(r#"{{"gateways":[{json}]}}"#)).remove(0)
}

fn stats(json: &str) -> ConnectionStats {
    serde_json::from_str::<ApiStats>(json).unwrap().into()
}

fn loc(lat: f64, lon: f64, alt: Option<f64>) -> Option<Location> {
    Some(Location {
        latitude: lat,
        longitude: lon,
        altitude: alt,
        from_gps: false,
    })
}

#[test]
fn registry_location_is_the_first_antenna_with_a_valid_one() {
    let g = one(r#"{"ids":{"gateway_id":"a"},"antennas":[{"gain":2},
            {"location":{"latitude":91,"longitude":4}},
            {"location":{"latitude":52.25,"longitude":"4.5","altitude":12,"source":"SOURCE_REGISTRY"}},
            {"location":{"latitude":1,"longitude":1}}]}"#);
    assert_eq!(g.location, loc(52.25, 4.5, Some(12.0)));
    assert_eq!(g.best_location().map(|(_, s)| s), Some("registry"));
}

#[test]
fn a_registry_location_written_from_the_gateways_gps_says_gps() {
    // pkg/gatewayserver writes the status's location into the registry
    // with source SOURCE_GPS when "update location from status" is on.
    for source in [r#""SOURCE_GPS""#, "1"] {
        let g = one(&format!(
            r#"{{"ids":{{"gateway_id":"a"}},"antennas":[{{"location":{{"latitude":52.25,"longitude":4.5,"source":{source}}}}}]}}"#
        ));
        assert_eq!(g.best_location().map(|(_, s)| s), Some("gps"), "{source}");
    }
    for source in [
        r#""SOURCE_REGISTRY""#,
        r#""SOURCE_UNKNOWN""#,
        "2",
        "{}",
        "null",
    ] {
        let g = one(&format!(
            r#"{{"ids":{{"gateway_id":"a"}},"antennas":[{{"location":{{"latitude":52.25,"longitude":4.5,"source":{source}}}}}]}}"#
        ));
        assert_eq!(
            g.best_location().map(|(_, s)| s),
            Some("registry"),
            "{source}"
        );
    }
}

#[test]
fn omitted_coordinates_follow_proto3() {
    // Both omitted: unknown. One omitted: it is 0. Altitude omitted: 0.
    assert_eq!(
        one(r#"{"ids":{"gateway_id":"a"},"antennas":[{"location":{}}]}"#).location,
        None
    );
    assert_eq!(
        one(r#"{"ids":{"gateway_id":"a"},"antennas":[{"location":{"longitude":-0.5}}]}"#).location,
        loc(0.0, -0.5, Some(0.0))
    );
    assert_eq!(
        one(r#"{"ids":{"gateway_id":"a"},"antennas":[{"location":{"latitude":"-33.9","longitude":"151.2"}}]}"#)
            .location,
        loc(-33.9, 151.2, Some(0.0))
    );
    // No antennas, null antennas, an antenna without location.
    for json in [
        r#"{"ids":{"gateway_id":"a"}}"#,
        r#"{"ids":{"gateway_id":"a"},"antennas":null}"#,
        r#"{"ids":{"gateway_id":"a"},"antennas":[{"gain":3,"placement":"INDOOR"}]}"#,
        r#"{"ids":{"gateway_id":"a"},"antennas":[{"location":null}]}"#,
    ] {
        let g = one(json);
        assert_eq!(g.location, None, "{json}");
        assert_eq!(g.best_location(), None, "{json}");
    }
}

#[test]
fn invalid_coordinates_are_rejected() {
    for bad in [
        r#"{"latitude":"NaN","longitude":4}"#,
        r#"{"latitude":52,"longitude":"Infinity"}"#,
        r#"{"latitude":-90.5,"longitude":4}"#,
        r#"{"latitude":52,"longitude":180.01}"#,
        r#"{"latitude":"north","longitude":4}"#,
        r#"{"latitude":1e400,"longitude":4}"#,
    ] {
        let json = format!(r#"{{"ids":{{"gateway_id":"a"}},"antennas":[{{"location":{bad}}}]}}"#);
        // 1e400 is not even valid JSON for serde (out of range): an error is fine too.
        if let Ok(p) = serde_json::from_str::<GatewaysPage>(&format!(r#"{{"gateways":[{json}]}}"#))
        {
            let g = Gateway::from(p.gateways.into_iter().next().unwrap());
            assert_eq!(g.location, None, "{bad}");
        }
    }
    // Edges are valid; a non-finite altitude drops only the altitude.
    assert_eq!(
        one(r#"{"ids":{"gateway_id":"a"},"antennas":[{"location":{"latitude":-90,"longitude":180,"altitude":"NaN"}}]}"#)
            .location,
        loc(-90.0, 180.0, None)
    );
}

#[test]
fn antennas_of_the_wrong_shape_are_an_error() {
    assert!(serde_json::from_str::<GatewaysPage>(
        r#"{"gateways":[{"ids":{"gateway_id":"a"},"antennas":{"location":{}}}]}"#
    )
    .is_err());
}

#[test]
fn status_location_when_the_registry_has_none() {
    let s = stats(
        r#"{"connected_at":"2024-01-01T00:00:00Z","last_status":{"antenna_locations":[
            {"latitude":"NaN","longitude":1},{"latitude":48.1,"longitude":11.5,"altitude":520,"source":"SOURCE_GPS"}]}}"#,
    );
    assert_eq!(s.antenna_location, loc(48.1, 11.5, Some(520.0)));
    let mut g = Gateway::with_id("a");
    g.stats = Some(s);
    let (l, source) = g.best_location().unwrap();
    assert_eq!((l.latitude, source), (48.1, "status"));
    // The registry wins over the status.
    g.location = loc(1.0, 2.0, None);
    let (l, source) = g.best_location().unwrap();
    assert_eq!((l.latitude, source), (1.0, "registry"));
    // No last_status, empty or null list: nothing.
    for json in [
        "{}",
        r#"{"last_status":{}}"#,
        r#"{"last_status":{"antenna_locations":[]}}"#,
        r#"{"last_status":{"antenna_locations":null}}"#,
    ] {
        assert_eq!(stats(json).antenna_location, None, "{json}");
    }
}

#[test]
fn version_ids_omitted_empty_capped_and_cleaned() {
    let g = one(
        r#"{"ids":{"gateway_id":"a"},"version_ids":{"brand_id":"rak","model_id":"rak7268",
            "firmware_version":"2.0.1","runtime_version":"5.3","band_id":"EU_863_870","future":1}}"#,
    );
    assert_eq!(
        g.version_ids,
        Some(VersionIds {
            brand_id: "rak".into(),
            model_id: "rak7268".into(),
            hardware_version: String::new(),
            firmware_version: "2.0.1".into(),
            runtime_version: "5.3".into(),
        })
    );
    assert_eq!(one(r#"{"ids":{"gateway_id":"a"}}"#).version_ids, None);
    assert_eq!(
        one(r#"{"ids":{"gateway_id":"a"},"version_ids":{}}"#).version_ids,
        None
    );
    assert_eq!(
        one(r#"{"ids":{"gateway_id":"a"},"version_ids":null}"#).version_ids,
        None
    );
    let long = "é".repeat(1000);
    let g = one(&format!(
        r#"{{"ids":{{"gateway_id":"a"}},"version_ids":{{"brand_id":"{long}","model_id":"a\nb\u0000c"}}}}"#
    ));
    let v = g.version_ids.unwrap();
    assert_eq!(v.brand_id.chars().count(), MAX_VERSION_CHARS + 3);
    assert!(v.brand_id.ends_with("é..."));
    assert_eq!(v.model_id, "a b c");
}

fn render(gateways: &[Gateway]) -> String {
    let mut out = Vec::new();
    write_gateways(gateways, false, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn exact_series() {
    let mut reg = Gateway::with_id("gw-reg");
    reg.location = loc(52.5, -4.25, Some(12.0));
    reg.version_ids = Some(VersionIds {
        brand_id: "multitech".into(),
        model_id: "conduit \"x\"".into(),
        hardware_version: String::new(),
        firmware_version: "v1".into(),
        runtime_version: String::new(),
    });
    let mut status = Gateway::with_id("gw-status");
    status.stats = Some(ConnectionStats {
        antenna_location: loc(-33.5, 151.0, None),
        ..ConnectionStats::default()
    });
    let text = render(&[reg, status, Gateway::with_id("gw-none")]);
    let lat = series(&text, "ttn_gateway_location_latitude_degrees");
    assert_eq!(
        lat,
        [
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-reg",source="registry"} 52.5"#,
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-status",source="status"} -33.5"#,
        ]
    );
    assert_eq!(
        series(&text, "ttn_gateway_location_longitude_degrees"),
        [
            r#"ttn_gateway_location_longitude_degrees{gateway_id="gw-reg",source="registry"} -4.25"#,
            r#"ttn_gateway_location_longitude_degrees{gateway_id="gw-status",source="status"} 151"#,
        ]
    );
    assert_eq!(
        series(&text, "ttn_gateway_location_altitude_meters"),
        [r#"ttn_gateway_location_altitude_meters{gateway_id="gw-reg",source="registry"} 12"#]
    );
    assert_eq!(
        series(&text, "ttn_gateway_version_info"),
        [
            r#"ttn_gateway_version_info{gateway_id="gw-reg",brand_id="multitech",model_id="conduit \"x\"",hardware_version="",firmware_version="v1",runtime_version=""} 1"#
        ]
    );
    assert!(text.contains("# TYPE ttn_gateway_location_latitude_degrees gauge\n"));
    assert!(text.contains("# TYPE ttn_gateway_version_info gauge\n"));
    // No gateway with a location or version: no family at all.
    let text = render(&[Gateway::with_id("gw-none")]);
    assert!(!text.contains("location"), "{text}");
    assert!(!text.contains("version_info"), "{text}");
}

#[tokio::test]
async fn the_exporter_asks_for_and_serves_locations_and_versions() {
    let fake = fake((0..8).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    // 0 and 4: status location (no registry antennas); 2: an antenna
    // without location; the rest: the registry's.
    assert_eq!(
        series(&out, "ttn_gateway_location_latitude_degrees"),
        [
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-000000",source="status"} 52"#,
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-000001",source="registry"} 50.001"#,
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-000003",source="registry"} 50.003"#,
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-000004",source="status"} 52.004"#,
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-000005",source="registry"} 50.005"#,
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-000006",source="gps"} 50.006"#,
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-000007",source="registry"} 50.007"#,
        ]
    );
    assert_eq!(
        value(
            &out,
            r#"ttn_gateway_location_longitude_degrees{gateway_id="gw-000004",source="status"}"#
        ),
        Some(4.004)
    );
    assert_eq!(
        value(
            &out,
            r#"ttn_gateway_location_altitude_meters{gateway_id="gw-000000",source="status"}"#
        ),
        Some(0.0)
    );
    assert_eq!(
        value(
            &out,
            r#"ttn_gateway_location_altitude_meters{gateway_id="gw-000003",source="registry"}"#
        ),
        Some(13.0)
    );
    let versions = series(&out, "ttn_gateway_version_info");
    assert_eq!(versions.len(), 7, "{versions:?}");
    assert!(versions.contains(
        &r#"ttn_gateway_version_info{gateway_id="gw-000002",brand_id="the-things-industries",model_id="the-things-indoor-gateway",hardware_version="v1.1",firmware_version="v1.0.2",runtime_version=""} 1"#
    ));
    assert!(versions.contains(
        &r#"ttn_gateway_version_info{gateway_id="gw-000001",brand_id="multitech",model_id="conduit",hardware_version="",firmware_version="v1.0.1",runtime_version=""} 1"#
    ));
    assert!(versions.contains(
        &r#"ttn_gateway_version_info{gateway_id="gw-000000",brand_id="the-things-industries",model_id="the-things-indoor-gateway",hardware_version="v1.1",firmware_version="v1.0.0",runtime_version="mlinux-5.3"} 1"#
    ));
    assert!(!out.contains(r#"ttn_gateway_version_info{gateway_id="gw-000004""#));
    exp.stop().await;
}
