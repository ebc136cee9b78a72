//! The gateway list routes: pagination, `X-Total-Count`, field masks and owner scopes.

use fake_tts::{synthetic_fleet, FakeGateway, FakeTts, Route};
use serde_json::json;

use crate::client::{get, ids, listed_ids, req, Client};

#[tokio::test]
async fn pagination_with_total_count() {
    // given out of order: the fake sorts by id
    let mut fleet = synthetic_fleet(257);
    fleet.reverse();
    let tts = FakeTts::start(fleet).await;
    let mut c = Client::connect(tts.addr()).await;
    let mut seen = Vec::new();
    for (page, want) in [(1, 100), (2, 100), (3, 57)] {
        let r = c
            .get(&format!("/api/v3/gateways?limit=100&page={page}"))
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.total(), 257);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let got = listed_ids(&r);
        assert_eq!(got.len(), want);
        seen.extend(got);
    }
    assert_eq!(seen, ids(0..257));
    let past = c.get("/api/v3/gateways?limit=100&page=4").await;
    assert_eq!((past.status, past.total()), (200, 257));
    assert_eq!(past.json(), json!({}));

    let r = get(&tts, "/api/v3/gateways?limit=1000&page=1").await;
    assert_eq!((r.total(), listed_ids(&r)), (257, ids(0..257)));
    let r = get(&tts, "/api/v3/gateways?limit=1000&page=2").await;
    assert_eq!((r.total(), r.json()), (257, json!({})));
    // defaults: limit 100, page 1
    let r = get(&tts, "/api/v3/gateways").await;
    assert_eq!(listed_ids(&r), ids(0..100));
    let r = get(&tts, "/api/v3/gateways?limit=0&page=0").await;
    assert_eq!(listed_ids(&r), ids(0..100));

    let r = get(&tts, "/api/v3/gateways?limit=1001").await;
    r.assert_error(400, "pkg/ttnpb", "validation");
    assert_eq!(r.json()["code"], 3);
    get(&tts, "/api/v3/gateways?page=x")
        .await
        .assert_error(400, "pkg/ttnpb", "validation");

    // an empty fleet: page 1 is already past the end
    tts.set_gateways(Vec::new());
    let r = get(&tts, "/api/v3/gateways").await;
    assert_eq!((r.status, r.total(), r.json()), (200, 0, json!({})));
    tts.shutdown().await;
}

#[tokio::test]
async fn list_field_mask_and_scopes() {
    let mut bare = FakeGateway::new("bare");
    bare.owner_user = None;
    let mut full = FakeGateway::synthetic(0);
    full.gateway_server_address = Some("127.0.0.1:1".into());
    let tts = FakeTts::start(vec![full, bare, FakeGateway::synthetic(1)]).await;

    let r = get(&tts, "/api/v3/gateways").await;
    let gws = r.json()["gateways"].clone();
    assert_eq!(
        gws[0],
        json!({"ids": {"gateway_id": "bare"}, "created_at": fake_tts::GATEWAY_CREATED_AT,
               "updated_at": fake_tts::GATEWAY_UPDATED_AT})
    );
    let keys: Vec<&String> = gws[1].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["created_at", "ids", "updated_at"]);
    assert_eq!(gws[1]["ids"]["eui"], "58A0CBFFFE000000");

    let r = get(
        &tts,
        "/api/v3/gateways?field_mask=name,gateway_server_address,frequency_plan_ids,antennas",
    )
    .await;
    let gws = r.json()["gateways"].clone();
    // empty fields are omitted
    assert_eq!(gws[0].as_object().unwrap().len(), 3);
    assert_eq!(gws[1]["name"], "Gateway 0");
    assert_eq!(gws[1]["gateway_server_address"], "127.0.0.1:1");
    assert_eq!(gws[1]["frequency_plan_ids"], json!(["EU_863_870_TTN"]));
    assert!(gws[2].get("gateway_server_address").is_none());
    // kind 0 has no registry antennas; version_ids was not asked for
    assert!(gws[1].get("antennas").is_none());
    assert_eq!(gws[2]["antennas"][0]["location"]["latitude"], 50.001);
    assert!(gws[2].get("version_ids").is_none());
    let r = get(&tts, "/api/v3/gateways?field_mask=version_ids").await;
    let gws = r.json()["gateways"].clone();
    assert_eq!(gws[2]["version_ids"]["model_id"], "conduit");
    assert!(gws[2].get("antennas").is_none());
    // only the named fields
    let r = get(&tts, "/api/v3/gateways?field_mask=name").await;
    let g = &r.json()["gateways"][1];
    assert_eq!(g["name"], "Gateway 0");
    assert!(g.get("frequency_plan_ids").is_none());

    // scopes: i % 3 == 2 belongs to fake-org, the rest to fake-user
    tts.set_gateways(synthetic_fleet(9));
    let r = get(&tts, "/api/v3/users/fake-user/gateways?limit=4").await;
    assert_eq!(r.total(), 6);
    assert_eq!(
        listed_ids(&r),
        ["gw-000000", "gw-000001", "gw-000003", "gw-000004"]
    );
    let r = get(&tts, "/api/v3/organizations/fake-org/gateways").await;
    assert_eq!(r.total(), 3);
    assert_eq!(listed_ids(&r), ["gw-000002", "gw-000005", "gw-000008"]);
    let r = get(&tts, "/api/v3/organizations/other/gateways").await;
    assert_eq!((r.status, r.total(), r.json()), (200, 0, json!({})));
    assert_eq!(tts.requests(Route::ListGateways), 7);
    tts.shutdown().await;
}

/// `GET /gateways/{id}` answers as lorawan-stack's `GetGateway`: the record
/// under the field mask with "View gateway information", 403 for a mask
/// with non-public fields without it (also for an ID that does not exist),
/// `PublicSafe` for a public mask, and 404 `gateway_not_found` for an
/// unknown ID under a public mask.
#[tokio::test]
async fn get_one_gateway_as_the_registry_does() {
    let mut shared = FakeGateway::synthetic(1);
    shared.id = "shared".into();
    shared.no_info_rights = true;
    let tts = FakeTts::start(vec![FakeGateway::synthetic(1), shared]).await;
    let full = "name,gateway_server_address,frequency_plan_ids,antennas,version_ids";
    let public = "name,gateway_server_address,frequency_plan_ids,antennas";

    let r = get(
        &tts,
        &format!("/api/v3/gateways/gw-000001?field_mask={full}"),
    )
    .await;
    assert_eq!(r.status, 200);
    let g = r.json();
    assert_eq!(g["ids"]["gateway_id"], "gw-000001");
    assert_eq!(g["name"], "Gateway 1");
    assert_eq!(g["version_ids"]["model_id"], "conduit");
    assert_eq!(g["antennas"][0]["location"]["latitude"], 50.001);
    assert_eq!(tts.requests(Route::GetGateway), 1);

    // unknown: 403 under a mask with a non-public field, 404 under a public one
    get(&tts, &format!("/api/v3/gateways/nope?field_mask={full}"))
        .await
        .assert_error(403, "pkg/auth/rights", "no_gateway_rights");
    get(&tts, &format!("/api/v3/gateways/nope?field_mask={public}"))
        .await
        .assert_error(404, "pkg/identityserver/store", "gateway_not_found");

    // without "View gateway information": 403, or PublicSafe under a public mask
    get(&tts, &format!("/api/v3/gateways/shared?field_mask={full}"))
        .await
        .assert_error(403, "pkg/auth/rights", "insufficient_gateway_rights");
    let r = get(
        &tts,
        &format!("/api/v3/gateways/shared?field_mask={public}"),
    )
    .await;
    assert_eq!(r.status, 200);
    let g = r.json();
    assert_eq!(g["name"], "Gateway 1");
    assert!(g.get("version_ids").is_none());
    assert!(g["antennas"][0].get("location").is_none(), "{g}");

    // a gateway key reads its own gateway, not another
    tts.set_gateway_key("NNSXS.GW-KEY.NOT-A-SECRET", &["gw-000001"]);
    let own = req(
        tts.addr(),
        "GET",
        &format!("/api/v3/gateways/gw-000001?field_mask={full}"),
        Some("NNSXS.GW-KEY.NOT-A-SECRET"),
        None,
    )
    .await;
    assert_eq!(own.status, 200);
    let other = req(
        tts.addr(),
        "GET",
        &format!("/api/v3/gateways/shared?field_mask={full}"),
        Some("NNSXS.GW-KEY.NOT-A-SECRET"),
        None,
    )
    .await;
    other.assert_error(403, "pkg/auth/rights", "no_gateway_rights");
    tts.shutdown().await;
}
