//! An explicit `gateways` list: each listed gateway's registry record (name,
//! EUI, frequency plan, location, versions) is read with `GET
//! /gateways/{id}`, cached for [`REGISTRY_TTL`], and an ID the registry does
//! not know is counted, not exported as a gateway.

use std::time::Duration;

use crate::common::*;
use crate::helpers::get_text;
use fake_tts::{synthetic_fleet, Route};
use ttn_exporter::config::Scope;
use ttn_exporter::tts::REGISTRY_TTL;

fn explicit(url: &str, ids: &[&str]) -> ttn_exporter::config::Config {
    let mut cfg = config(url);
    cfg.scope = Scope::Explicit(ids.iter().map(|s| (*s).to_owned()).collect());
    cfg
}

#[tokio::test]
async fn an_explicit_list_reads_the_registry_and_counts_unknown_ids() {
    let fake = fake(synthetic_fleet(4)).await;
    let exp = Exporter::start(explicit(&fake.url(), &["gw-000001", "gw-typo"])).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0), "{out}");
    let info = series(&out, "ttn_gateway_info");
    assert_eq!(info.len(), 1, "{out}");
    assert!(info[0].contains("gateway_id=\"gw-000001\""), "{out}");
    assert!(info[0].contains("name=\"Gateway 1\""), "{out}");
    assert!(
        info[0].contains("gateway_eui=\"58A0CBFFFE000001\""),
        "{out}"
    );
    assert!(
        info[0].contains("frequency_plan=\"EU_863_870_TTN\""),
        "{out}"
    );
    assert_eq!(
        value(
            &out,
            "ttn_gateway_location_latitude_degrees{gateway_id=\"gw-000001\",source=\"registry\"}"
        ),
        Some(50.001),
        "{out}"
    );
    assert_eq!(series(&out, "ttn_gateway_version_info").len(), 1, "{out}");
    // the unknown ID is no gateway: counted, never asked for stats
    assert!(!out.contains("gw-typo"), "{out}");
    assert_eq!(value(&out, "ttn_exporter_gateways_not_found"), Some(1.0));
    assert_eq!(value(&out, "ttn_exporter_gateways"), Some(1.0));
    let page = get_text(exp.url("/")).await;
    assert!(page.contains("gw-typo"), "{page}");
    assert!(page.contains("not found"), "{page}");
    let registry_reads = fake.requests(Route::GetGateway);
    // full mask for both, then the public mask for the refused unknown one
    assert_eq!(registry_reads, 3);

    // the registry data is cached: the next refreshes ask only for stats
    exp.cache.expire();
    let out = exp.scrape().await;
    assert!(series(&out, "ttn_gateway_info")[0].contains("name=\"Gateway 1\""));
    assert_eq!(value(&out, "ttn_exporter_gateways_not_found"), Some(1.0));
    assert_eq!(fake.requests(Route::GetGateway), registry_reads);
    assert!(REGISTRY_TTL >= Duration::from_secs(60));
    exp.stop().await;
}

#[tokio::test]
async fn a_gateway_key_reads_its_own_gateway_from_the_registry() {
    let fake = fake(synthetic_fleet(2)).await;
    let scoped = "NNSXS.FAKE-GATEWAY-KEY.NOT-A-SECRET";
    fake.set_gateway_key(scoped, &["gw-000001"]);
    let mut cfg = explicit(&fake.url(), &["gw-000001"]);
    cfg.api_key = ttn_exporter::config::ApiKey::parse(scoped).unwrap();
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0), "{out}");
    assert!(
        series(&out, "ttn_gateway_info")[0].contains("name=\"Gateway 1\""),
        "{out}"
    );
    assert_eq!(series(&out, "ttn_gateway_version_info").len(), 1, "{out}");
    assert_eq!(value(&out, "ttn_exporter_gateways_not_found"), Some(0.0));
    assert_eq!(fake.requests(Route::GetGateway), 1);
    exp.stop().await;
}
