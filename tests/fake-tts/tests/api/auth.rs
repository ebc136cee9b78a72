//! Tokens: 401s, `auth_info`, replaced keys, gateway-scoped keys, unknown routes.

use fake_tts::{synthetic_fleet, FakeGateway, FakeTts};
use serde_json::json;

use crate::client::{batch, get, ids, listed_ids, req, stats_path};

#[tokio::test]
async fn auth_errors_and_auth_info() {
    let tts = FakeTts::start(synthetic_fleet(4)).await;
    let addr = tts.addr();
    let r = req(addr, "GET", "/api/v3/gateways", Some("NNSXS.BAD.KEY"), None).await;
    let v = r.assert_error(401, "pkg/auth", "api_key_not_found");
    assert_eq!(v["code"], 16);
    let r = req(addr, "GET", "/api/v3/auth_info", None, None).await;
    r.assert_error(401, "pkg/auth", "api_key_not_found");
    // two errors never share a correlation id
    let a = req(addr, "GET", "/api/v3/auth_info", None, None)
        .await
        .json();
    assert_ne!(
        a["details"][0]["correlation_id"],
        r.json()["details"][0]["correlation_id"]
    );

    let r = get(&tts, "/api/v3/auth_info").await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(
        v["api_key"]["entity_ids"]["user_ids"]["user_id"],
        fake_tts::FAKE_USER_ID
    );
    assert_eq!(v["api_key"]["api_key"]["id"], "FAKE-TEST-KEY");
    let rights = v["api_key"]["api_key"]["rights"].as_array().unwrap();
    assert!(rights.contains(&json!("RIGHT_GATEWAY_STATUS_READ")));
    assert!(rights.contains(&json!("RIGHT_USER_GATEWAYS_LIST")));
    assert!(!String::from_utf8_lossy(&r.body).contains("NOT-A-SECRET"));

    // set_keys replaces the accepted keys
    tts.set_keys(&["NNSXS.K1.S1", "NNSXS.K2.S2"]);
    get(&tts, "/api/v3/auth_info")
        .await
        .assert_error(401, "pkg/auth", "api_key_not_found");
    let r = req(addr, "GET", "/api/v3/auth_info", Some("NNSXS.K2.S2"), None).await;
    assert_eq!(r.json()["api_key"]["api_key"]["id"], "K2");

    // unknown routes: 404 with a TTS body, no auth needed
    let r = req(addr, "GET", "/api/v3/nope", None, None).await;
    r.assert_error(404, "pkg/fake-tts", "route_not_found");
    let r = req(
        addr,
        "DELETE",
        "/api/v3/gateways",
        Some("NNSXS.K1.S1"),
        None,
    )
    .await;
    r.assert_error(404, "pkg/fake-tts", "route_not_found");
    req(addr, "GET", "/_fake/counts", None, None)
        .await
        .assert_error(404, "pkg/fake-tts", "route_not_found");
    tts.shutdown().await;
}

#[tokio::test]
async fn gateway_scoped_key() {
    let tts = FakeTts::start(synthetic_fleet(8)).await;
    let key = "NNSXS.GWKEY.SECRET";
    tts.set_gateway_key(key, &["gw-000000", "gw-000003"]);
    let addr = tts.addr();
    let r = req(addr, "GET", "/api/v3/gateways?limit=1000", Some(key), None).await;
    assert_eq!((r.status, r.total(), r.json()), (200, 0, json!({})));
    let r = batch(&tts, key, &ids(0..1), None).await;
    r.assert_error(403, "pkg/auth/rights", "no_gateway_rights");
    let r = req(addr, "GET", &stats_path("gw-000000"), Some(key), None).await;
    assert_eq!(r.json(), FakeGateway::synthetic(0).stats.unwrap());
    let r = req(addr, "GET", &stats_path("gw-000003"), Some(key), None).await;
    r.assert_error(404, "pkg/gatewayserver", "not_connected");
    let r = req(addr, "GET", &stats_path("gw-000001"), Some(key), None).await;
    r.assert_error(403, "pkg/auth/rights", "no_gateway_rights");
    let r = req(addr, "GET", "/api/v3/auth_info", Some(key), None).await;
    let v = r.json();
    assert_eq!(
        v["api_key"]["entity_ids"]["gateway_ids"]["gateway_id"],
        "gw-000000"
    );
    assert!(!String::from_utf8_lossy(&r.body).contains("SECRET"));
    // the user key still works
    assert_eq!(listed_ids(&get(&tts, "/api/v3/gateways").await).len(), 8);
    tts.shutdown().await;
}
