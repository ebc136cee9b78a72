//! The server as a whole: request counters, keep-alive, shutdown and drop.

use std::time::Duration;

use fake_tts::{synthetic_fleet, FakeTts, Fault, Route, DEFAULT_KEY};
use tokio::net::TcpStream;

use crate::client::{batch, get, ids, req, stats_path, Client};

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
    get(&tts, &stats_path("gw-000000")).await;
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
        let r = c.get(&format!("/api/v3/gateways?page={page}")).await;
        assert_eq!(r.status, 200);
    }
    // errors keep the connection open too
    let r = c.send("GET", "/api/v3/gateways", None, None).await;
    assert_eq!(r.status, 401);
    let r = c.get("/api/v3/auth_info").await;
    assert_eq!(r.status, 200);
    assert_eq!(tts.total_requests(), 6);
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
