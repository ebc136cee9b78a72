//! End-to-end tests of the fake TTS server over real HTTP/1.1 on loopback.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fake_tts::{synthetic_fleet, FakeGateway, FakeTts, Fault, Route, DEFAULT_KEY};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

const T: Duration = Duration::from_secs(10);

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn total(&self) -> usize {
        self.header("x-total-count").unwrap().parse().unwrap()
    }

    /// Asserts a TTS error body with this HTTP status, namespace and name.
    fn assert_error(&self, status: u16, namespace: &str, name: &str) -> Value {
        let v = self.json();
        assert_eq!(self.status, status, "{v}");
        let d = &v["details"][0];
        assert_eq!(d["namespace"], namespace, "{v}");
        assert_eq!(d["name"], name, "{v}");
        assert_eq!(d["code"], v["code"], "{v}");
        assert!(v["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("error:{namespace}:{name} (")));
        assert_eq!(d["correlation_id"].as_str().unwrap().len(), 32, "{v}");
        assert!(d["message_format"].is_string());
        v
    }
}

/// One HTTP/1.1 connection, reused for every request (keep-alive).
struct Client {
    sender: SendRequest<Full<Bytes>>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Client { sender }
    }

    async fn try_send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Result<Resp, hyper::Error> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "fake-tts");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Resp {
        timeout(T, self.try_send(method, path, token, body))
            .await
            .expect("answer in time")
            .expect("HTTP exchange")
    }
}

/// A request on a fresh connection.
async fn req(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Resp {
    Client::connect(addr)
        .await
        .send(method, path, token, body)
        .await
}

async fn get(tts: &FakeTts, path: &str) -> Resp {
    req(tts.addr(), "GET", path, Some(DEFAULT_KEY), None).await
}

async fn batch(tts: &FakeTts, token: &str, ids: &[String], paths: Option<&[&str]>) -> Resp {
    let ids: Vec<Value> = ids.iter().map(|i| json!({ "gateway_id": i })).collect();
    let mut body = json!({ "gateway_ids": ids });
    if let Some(p) = paths {
        body["field_mask"] = json!({ "paths": p });
    }
    req(
        tts.addr(),
        "POST",
        "/api/v3/gs/gateways/connection/stats",
        Some(token),
        Some(body.to_string()),
    )
    .await
}

fn ids(n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| format!("gw-{i:06}")).collect()
}

fn listed_ids(r: &Resp) -> Vec<String> {
    r.json()["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["ids"]["gateway_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Sends `request` on a raw connection and reads until EOF.
async fn raw(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    timeout(T, s.read_to_end(&mut out))
        .await
        .expect("connection closed in time")
        .unwrap();
    out
}

fn raw_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEFAULT_KEY}\r\n\r\n")
}

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
            .send(
                "GET",
                &format!("/api/v3/gateways?limit=100&page={page}"),
                Some(DEFAULT_KEY),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.total(), 257);
        assert_eq!(r.header("content-type"), Some("application/json"));
        let got = listed_ids(&r);
        assert_eq!(got.len(), want);
        seen.extend(got);
    }
    assert_eq!(seen, ids(0..257));
    let past = c
        .send(
            "GET",
            "/api/v3/gateways?limit=100&page=4",
            Some(DEFAULT_KEY),
            None,
        )
        .await;
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
        let r = get(
            &tts,
            &format!("/api/v3/gs/gateways/gw-{i:06}/connection/stats"),
        )
        .await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json(), FakeGateway::synthetic(i).stats.unwrap());
    }
    let r = get(&tts, "/api/v3/gs/gateways/gw-000000/connection/stats").await;
    let v = r.json();
    assert_eq!(v["uplink_count"], "1000");
    assert_eq!(v["future_field"], 1);
    assert_eq!(v["gateway_remote_address"]["ip"], "192.0.2.0");
    let r = get(&tts, "/api/v3/gs/gateways/gw-000003/connection/stats").await;
    let v = r.assert_error(404, "pkg/gatewayserver", "not_connected");
    assert_eq!(v["code"], 5);
    assert_eq!(v["details"][0]["attributes"]["gateway_uid"], "gw-000003");
    assert_eq!(
        v["message"],
        "error:pkg/gatewayserver:not_connected (gateway `gw-000003` not connected)"
    );
    let r = get(&tts, "/api/v3/gs/gateways/unknown/connection/stats").await;
    r.assert_error(404, "pkg/gatewayserver", "not_connected");
    assert_eq!(tts.requests(Route::GatewayStats), 9);
    tts.shutdown().await;
}

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
    let r = req(
        addr,
        "GET",
        "/api/v3/gs/gateways/gw-000000/connection/stats",
        Some(key),
        None,
    )
    .await;
    assert_eq!(r.json(), FakeGateway::synthetic(0).stats.unwrap());
    let r = req(
        addr,
        "GET",
        "/api/v3/gs/gateways/gw-000003/connection/stats",
        Some(key),
        None,
    )
    .await;
    r.assert_error(404, "pkg/gatewayserver", "not_connected");
    let r = req(
        addr,
        "GET",
        "/api/v3/gs/gateways/gw-000001/connection/stats",
        Some(key),
        None,
    )
    .await;
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

#[tokio::test]
async fn counting_and_seen_tokens() {
    let tts = FakeTts::start(synthetic_fleet(4)).await;
    let addr = tts.addr();
    get(&tts, "/api/v3/gateways").await;
    get(&tts, "/api/v3/gateways?page=2").await;
    req(
        addr,
        "GET",
        "/api/v3/auth_info",
        Some("NNSXS.OTHER.X"),
        None,
    )
    .await;
    get(&tts, "/api/v3/gs/gateways/gw-000000/connection/stats").await;
    batch(&tts, "NNSXS.OTHER.X", &ids(0..3), None).await;
    req(addr, "GET", "/api/v3/unknown", None, None).await;
    assert_eq!(tts.requests(Route::ListGateways), 2);
    assert_eq!(tts.requests(Route::AuthInfo), 1);
    assert_eq!(tts.requests(Route::GatewayStats), 1);
    assert_eq!(tts.requests(Route::BatchStats), 1);
    assert_eq!(tts.total_requests(), 6);
    assert_eq!(tts.seen_tokens(), [DEFAULT_KEY, "NNSXS.OTHER.X"]);
    assert_eq!(tts.batch_sizes(), [3]);
    // counted before faults
    tts.set_fault(Route::ListGateways, Some(Fault::status(503)));
    get(&tts, "/api/v3/gateways").await;
    assert_eq!(tts.requests(Route::ListGateways), 3);
    tts.reset_counts();
    assert_eq!(tts.total_requests(), 0);
    assert!(Route::ALL.iter().all(|r| tts.requests(*r) == 0));
    assert!(tts.seen_tokens().is_empty() && tts.batch_sizes().is_empty());
    tts.shutdown().await;
}

#[tokio::test]
async fn keep_alive_reuses_one_connection() {
    let tts = FakeTts::start(synthetic_fleet(300)).await;
    let mut c = Client::connect(tts.addr()).await;
    for page in 1..=4 {
        let r = c
            .send(
                "GET",
                &format!("/api/v3/gateways?page={page}"),
                Some(DEFAULT_KEY),
                None,
            )
            .await;
        assert_eq!(r.status, 200);
    }
    // errors keep the connection open too
    let r = c.send("GET", "/api/v3/gateways", None, None).await;
    assert_eq!(r.status, 401);
    let r = c
        .send("GET", "/api/v3/auth_info", Some(DEFAULT_KEY), None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(tts.total_requests(), 6);
    tts.shutdown().await;
}

#[tokio::test]
async fn fault_status_and_rate_limited() {
    let tts = FakeTts::start(synthetic_fleet(4)).await;
    for (code, ns, name, grpc) in [
        (401, "pkg/auth", "api_key_not_found", 16),
        (403, "pkg/auth/rights", "no_user_rights", 7),
        (500, "pkg/errors", "internal", 13),
        (503, "pkg/errors", "unavailable", 14),
        (504, "pkg/errors", "context_deadline_exceeded", 4),
    ] {
        tts.set_fault(Route::GatewayStats, Some(Fault::status(code)));
        let r = get(&tts, "/api/v3/gs/gateways/gw-000000/connection/stats").await;
        assert_eq!(r.assert_error(code, ns, name)["code"], grpc);
    }
    // custom body and headers; a fault fires whatever the token
    tts.set_fault(
        Route::ListGateways,
        Some(Fault::Status {
            code: 502,
            body: "<html>bad gateway</html>".into(),
            headers: vec![("X-Proxy".into(), "nginx".into())],
        }),
    );
    let r = req(tts.addr(), "GET", "/api/v3/gateways", None, None).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.header("x-proxy"), Some("nginx"));
    assert_eq!(&r.body[..], b"<html>bad gateway</html>");
    tts.set_fault(Route::ListGateways, None);
    assert_eq!(get(&tts, "/api/v3/gateways").await.status, 200);

    tts.set_fault(
        Route::BatchStats,
        Some(Fault::RateLimited { retry_secs: 7 }),
    );
    let r = batch(&tts, DEFAULT_KEY, &ids(0..2), None).await;
    let v = r.assert_error(429, "pkg/ratelimit", "rate_limit_exceeded");
    assert_eq!(v["code"], 8);
    assert_eq!(r.header("x-rate-limit-limit"), Some("10"));
    assert_eq!(r.header("x-rate-limit-available"), Some("0"));
    assert_eq!(r.header("x-rate-limit-reset"), Some("7"));
    assert_eq!(r.header("x-rate-limit-retry"), Some("7"));
    assert!(r.header("retry-after").is_none());
    assert_eq!(tts.batch_sizes(), [2]);
    tts.shutdown().await;
}

#[tokio::test]
async fn fault_times_then_normal() {
    let tts = FakeTts::start(synthetic_fleet(4)).await;
    tts.set_fault_times(Route::AuthInfo, Fault::status(503), 2);
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&tts, "/api/v3/auth_info").await.status);
    }
    assert_eq!(statuses, [503, 503, 200, 200]);
    // other routes unaffected; times = 0 clears
    tts.set_fault(Route::AuthInfo, Some(Fault::status(500)));
    assert_eq!(get(&tts, "/api/v3/gateways").await.status, 200);
    tts.set_fault_times(Route::AuthInfo, Fault::status(500), 0);
    assert_eq!(get(&tts, "/api/v3/auth_info").await.status, 200);
    tts.shutdown().await;
}

#[tokio::test]
async fn fault_delay_and_hang() {
    let tts = FakeTts::start(synthetic_fleet(4)).await;
    tts.set_fault(
        Route::GatewayStats,
        Some(Fault::Delay(Duration::from_millis(300))),
    );
    let t0 = Instant::now();
    let r = get(&tts, "/api/v3/gs/gateways/gw-000000/connection/stats").await;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200);

    tts.set_fault(Route::GatewayStats, Some(Fault::Hang));
    let mut hung = Client::connect(tts.addr()).await;
    let waiting = tokio::spawn(async move {
        hung.try_send(
            "GET",
            "/api/v3/gs/gateways/gw-000000/connection/stats",
            Some(DEFAULT_KEY),
            None,
        )
        .await
        .map(|r| r.status)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiting.is_finished());
    assert_eq!(tts.requests(Route::GatewayStats), 2);
    // other connections are served meanwhile
    assert_eq!(get(&tts, "/api/v3/gateways").await.status, 200);
    // shutdown ends the hanging connection
    timeout(T, tts.shutdown()).await.expect("shutdown in time");
    let result = timeout(T, waiting).await.expect("client freed").unwrap();
    assert!(result.is_err(), "{result:?}");
}

#[tokio::test]
async fn fault_malformed_truncated_close() {
    let tts = FakeTts::start(synthetic_fleet(4)).await;
    tts.set_fault(Route::ListGateways, Some(Fault::Malformed));
    let r = get(&tts, "/api/v3/gateways").await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());

    tts.set_fault(Route::ListGateways, Some(Fault::Truncated));
    let out = raw(tts.addr(), &raw_get("/api/v3/gateways?field_mask=name")).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(head.contains("X-Total-Count: 4"), "{head}");
    assert!(
        !body.is_empty() && body.len() < len,
        "{} of {len}",
        body.len()
    );
    assert!(body.starts_with(r#"{"gateways":[{"#));
    // a client sees an error, not a body
    let mut c = Client::connect(tts.addr()).await;
    let e = c
        .try_send("GET", "/api/v3/gateways", Some(DEFAULT_KEY), None)
        .await;
    assert!(e.is_err());

    tts.set_fault(Route::GatewayStats, Some(Fault::CloseConnection));
    let out = raw(
        tts.addr(),
        &raw_get("/api/v3/gs/gateways/gw-000000/connection/stats"),
    )
    .await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    let mut c = Client::connect(tts.addr()).await;
    let e = c
        .try_send(
            "GET",
            "/api/v3/gs/gateways/gw-000000/connection/stats",
            Some(DEFAULT_KEY),
            None,
        )
        .await;
    assert!(e.is_err());
    assert_eq!(tts.requests(Route::GatewayStats), 2);
    tts.shutdown().await;
}

#[tokio::test]
async fn fault_huge_streams_exactly() {
    let tts = FakeTts::start(synthetic_fleet(4)).await;
    let bytes = 3 * 1024 * 1024 + 5;
    tts.set_fault(Route::GatewayStats, Some(Fault::Huge { bytes }));
    let stream = TcpStream::connect(tts.addr()).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = Request::get("/api/v3/gs/gateways/gw-000000/connection/stats")
        .header("host", "x")
        .header("authorization", format!("Bearer {DEFAULT_KEY}"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = sender.send_request(request).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get("content-length").is_none());
    let mut body = resp.into_body();
    let (mut total, mut frames, mut first) = (0, 0, Vec::new());
    while let Some(frame) = timeout(T, body.frame()).await.unwrap() {
        let data = frame.unwrap().into_data().unwrap();
        if first.len() < 64 {
            first.extend_from_slice(&data[..data.len().min(64)]);
        }
        total += data.len();
        frames += 1;
    }
    assert_eq!(total, bytes);
    assert!(frames > 1, "streamed in chunks");
    assert!(first.starts_with(br#"{"future_field":[0,0,"#));
    // the list route starts like a gateway list
    tts.set_fault(Route::ListGateways, Some(Fault::Huge { bytes: 100 }));
    let r = get(&tts, "/api/v3/gateways").await;
    assert_eq!(r.body.len(), 100);
    assert!(r.body.starts_with(br#"{"gateways":[{"ids""#));
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    tts.shutdown().await;
}

#[tokio::test]
async fn fault_repeat_page() {
    let tts = FakeTts::start(synthetic_fleet(250)).await;
    tts.set_fault(Route::ListGateways, Some(Fault::RepeatPage));
    for page in [1, 2, 3, 50] {
        let r = get(&tts, &format!("/api/v3/gateways?limit=100&page={page}")).await;
        assert_eq!(r.total(), 250);
        assert_eq!(listed_ids(&r), ids(0..100));
    }
    // ignored by other routes
    tts.set_fault(Route::AuthInfo, Some(Fault::RepeatPage));
    assert_eq!(get(&tts, "/api/v3/auth_info").await.status, 200);
    tts.shutdown().await;
}

#[tokio::test]
async fn shutdown_frees_the_port_and_drop_aborts() {
    let tts = FakeTts::start(Vec::new()).await;
    let addr = tts.addr();
    assert_eq!(tts.url(), format!("http://{addr}"));
    tts.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
    let tts = FakeTts::start_on(addr, synthetic_fleet(1)).await.unwrap();
    assert_eq!(tts.addr(), addr);
    drop(tts);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(TcpStream::connect(addr).await.is_err());
}

/// A control API call that must succeed.
async fn control(c: &mut Client, path: &str) {
    let r = c.send("POST", path, None, None).await;
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json(), json!({"ok": true}));
}

/// Runs the binary and drives it through the control API, then stops it with SIGTERM.
#[tokio::test]
async fn binary_and_control_api() {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-tts"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--gateways",
            "150",
            "--key",
            "NNSXS.BIN.KEY",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        line
    })
    .await
    .unwrap();
    let url = line
        .trim_end()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let addr: SocketAddr = url.parse().unwrap();
    let key = Some("NNSXS.BIN.KEY");

    let mut c = Client::connect(addr).await;
    let r = c
        .send("GET", "/api/v3/gateways?limit=1000", key, None)
        .await;
    assert_eq!((r.status, r.total()), (200, 150));
    let r = c
        .send("GET", "/api/v3/gateways", Some(DEFAULT_KEY), None)
        .await;
    assert_eq!(r.status, 401);

    control(
        &mut c,
        "/_fake/fault?route=list&kind=status&code=503&times=1",
    )
    .await;
    let r = c.send("GET", "/api/v3/gateways", key, None).await;
    assert_eq!(r.status, 503);
    let r = c.send("GET", "/api/v3/gateways", key, None).await;
    assert_eq!(r.status, 200);
    control(&mut c, "/_fake/fault?route=auth&kind=rate_limited&retry=3").await;
    let r = c.send("GET", "/api/v3/auth_info", key, None).await;
    assert_eq!((r.status, r.header("x-rate-limit-retry")), (429, Some("3")));
    control(&mut c, "/_fake/fault?route=all&kind=clear").await;
    let r = c.send("GET", "/api/v3/auth_info", key, None).await;
    assert_eq!(r.status, 200);
    control(&mut c, "/_fake/fault?route=single&kind=huge&bytes=1000").await;
    let r = c
        .send(
            "GET",
            "/api/v3/gs/gateways/gw-000000/connection/stats",
            key,
            None,
        )
        .await;
    assert_eq!(r.body.len(), 1000);
    control(&mut c, "/_fake/fault?route=single&kind=delay&ms=1").await;
    control(&mut c, "/_fake/fault?route=single&kind=hang").await;
    control(&mut c, "/_fake/fault?route=single&kind=malformed").await;
    control(&mut c, "/_fake/fault?route=single&kind=truncated").await;
    control(&mut c, "/_fake/fault?route=list&kind=repeat_page").await;
    control(&mut c, "/_fake/fault?route=batch&kind=close").await;
    control(&mut c, "/_fake/fault?route=all&kind=clear").await;

    control(&mut c, "/_fake/keys?key=NNSXS.A.A&key=NNSXS.B.B").await;
    assert_eq!(
        c.send("GET", "/api/v3/auth_info", key, None).await.status,
        401
    );
    let r = c
        .send("GET", "/api/v3/auth_info", Some("NNSXS.B.B"), None)
        .await;
    assert_eq!(r.status, 200);
    control(&mut c, "/_fake/gateway_key?key=NNSXS.G.G&id=gw-000001").await;
    let r = c
        .send(
            "GET",
            "/api/v3/gs/gateways/gw-000001/connection/stats",
            Some("NNSXS.G.G"),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    control(&mut c, "/_fake/gateways?n=3").await;
    let r = c
        .send("GET", "/api/v3/gateways", Some("NNSXS.A.A"), None)
        .await;
    assert_eq!(r.total(), 3);

    let counts = c.send("GET", "/_fake/counts", None, None).await.json();
    assert_eq!(counts["list"], 5);
    assert_eq!(counts["auth"], 4);
    assert_eq!(counts["single"], 2);
    assert_eq!(counts["batch"], 0);
    assert_eq!(counts["total"], 11);
    assert_eq!(
        counts["seen_tokens"],
        json!([
            "NNSXS.BIN.KEY",
            DEFAULT_KEY,
            "NNSXS.B.B",
            "NNSXS.G.G",
            "NNSXS.A.A"
        ])
    );
    control(&mut c, "/_fake/reset").await;
    let counts = c.send("GET", "/_fake/counts", None, None).await.json();
    assert_eq!(counts["total"], 0);

    for bad in [
        "/_fake/fault?route=nope&kind=hang",
        "/_fake/fault?route=list&kind=nope",
        "/_fake/fault?route=list&kind=status&code=x",
        "/_fake/gateways?n=x",
    ] {
        let r = c.send("POST", bad, None, None).await;
        assert_eq!(r.status, 400, "{bad}");
    }
    assert_eq!(c.send("GET", "/_fake/fault", None, None).await.status, 405);
    assert_eq!(c.send("GET", "/_fake/nope", None, None).await.status, 404);

    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn binary_rejects_bad_arguments() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fake-tts"))
        .args(["--gateways", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fake-tts"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--gateways"));
}
