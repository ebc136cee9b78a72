//! The connection stats routes: the batch (body, limits, field mask) and the single GET.

use fake_tts::{synthetic_fleet, FakeGateway, FakeTts, Route, DEFAULT_KEY};
use serde_json::json;

use crate::client::{batch, get, ids, req, stats_path};

#[tokio::test]
async fn batch_stats() {
    let tts = FakeTts::start(synthetic_fleet(250)).await;
    // one connected gateway
    let r = batch(&tts, DEFAULT_KEY, &ids(0..1), None).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json()["entries"]["gw-000000"],
        FakeGateway::synthetic(0).stats.unwrap()
    );
    // 100: kinds 0, 1, 2 present, kind 3 absent
    let r = batch(&tts, DEFAULT_KEY, &ids(100..200), None).await;
    let entries = r.json()["entries"].as_object().unwrap().clone();
    assert_eq!(entries.len(), 75);
    assert!(entries.contains_key("gw-000102"));
    assert!(!entries.contains_key("gw-000103"));
    // none connected: entries omitted
    let r = batch(
        &tts,
        DEFAULT_KEY,
        &["gw-000003".into(), "gw-000007".into()],
        None,
    )
    .await;
    assert_eq!((r.status, r.json()), (200, json!({})));
    // 0 and 101 ids: 400
    batch(&tts, DEFAULT_KEY, &[], None)
        .await
        .assert_error(400, "pkg/ttnpb", "validation");
    let r = batch(&tts, DEFAULT_KEY, &ids(0..101), None).await;
    let v = r.assert_error(400, "pkg/ttnpb", "validation");
    assert_eq!(v["details"][0]["attributes"]["field"], "gateway_ids");
    // a gateway without rights (unknown) fails the whole batch
    let r = batch(
        &tts,
        DEFAULT_KEY,
        &["gw-000000".into(), "nope".into()],
        None,
    )
    .await;
    r.assert_error(403, "pkg/auth/rights", "no_gateway_rights");
    // not JSON
    let r = req(
        tts.addr(),
        "POST",
        "/api/v3/gs/gateways/connection/stats",
        Some(DEFAULT_KEY),
        Some("{".into()),
    )
    .await;
    r.assert_error(400, "pkg/jsonpb", "unmarshal");
    // field mask: top-level fields only
    let r = batch(
        &tts,
        DEFAULT_KEY,
        &ids(0..2),
        Some(&["connected_at", "uplink_count", "last_status.metrics"]),
    )
    .await;
    let e = r.json()["entries"].clone();
    let keys: Vec<&String> = e["gw-000000"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["connected_at", "last_status", "uplink_count"]);
    let keys: Vec<&String> = e["gw-000001"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["connected_at", "uplink_count"]);
    assert_eq!(tts.batch_sizes(), [1, 100, 2, 0, 101, 2, 2]);
    assert_eq!(tts.requests(Route::BatchStats), 8);
    tts.shutdown().await;
}

#[tokio::test]
async fn single_stats_and_not_connected() {
    let tts = FakeTts::start(synthetic_fleet(8)).await;
    for i in [0, 1, 2, 4, 5, 6] {
        let r = get(&tts, &stats_path(&format!("gw-{i:06}"))).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), FakeGateway::synthetic(i).stats.unwrap());
    }
    let r = get(&tts, &stats_path("gw-000000")).await;
    let v = r.json();
    assert_eq!(v["uplink_count"], "1000");
    assert_eq!(v["future_field"], 1);
    assert_eq!(v["gateway_remote_address"]["ip"], "192.0.2.0");
    let r = get(&tts, &stats_path("gw-000003")).await;
    let v = r.assert_error(404, "pkg/gatewayserver", "not_connected");
    assert_eq!(v["code"], 5);
    assert_eq!(v["details"][0]["attributes"]["gateway_uid"], "gw-000003");
    assert_eq!(
        v["message"],
        "error:pkg/gatewayserver:not_connected (gateway `gw-000003` not connected)"
    );
    let r = get(&tts, &stats_path("unknown")).await;
    r.assert_error(404, "pkg/gatewayserver", "not_connected");
    assert_eq!(tts.requests(Route::GatewayStats), 9);
    tts.shutdown().await;
}
