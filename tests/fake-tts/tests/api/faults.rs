//! The misbehaviour knobs: every [`Fault`] kind, and faults limited to a number of requests.

use std::time::{Duration, Instant};

use fake_tts::{synthetic_fleet, FakeTts, Fault, Route, DEFAULT_KEY};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use serde_json::Value;
use tokio::time::timeout;

use crate::client::{batch, get, ids, listed_ids, raw, raw_get, req, stats_path, Client, T};

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
        let r = get(&tts, &stats_path("gw-000000")).await;
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
    let r = get(&tts, &stats_path("gw-000000")).await;
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(r.status, 200);

    tts.set_fault(Route::GatewayStats, Some(Fault::Hang));
    let mut hung = Client::connect(tts.addr()).await;
    let waiting = tokio::spawn(async move {
        hung.try_send("GET", &stats_path("gw-000000"), Some(DEFAULT_KEY), None)
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
    let out = raw(tts.addr(), &raw_get(&stats_path("gw-000000"))).await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    let mut c = Client::connect(tts.addr()).await;
    let e = c
        .try_send("GET", &stats_path("gw-000000"), Some(DEFAULT_KEY), None)
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
    // a raw request, to read the body frame by frame
    let mut sender = Client::connect(tts.addr()).await.sender;
    let request = Request::get(stats_path("gw-000000"))
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
