//! "Offline since" beyond the server's memory: the Gateway Server forgets a
//! disconnected gateway 48 h after the disconnect (404 `not_connected`); the
//! exporter still exports when it was last seen and when it disconnected,
//! across restarts, from its state file. The fake's retention is shortened.

use std::time::{Duration, SystemTime};

use crate::common::*;
use fake_tts::{FakeGateway, Route};

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A gateway that disconnected `ago` ago and was last heard 10 s before.
fn gone(ago: Duration) -> FakeGateway {
    let at = SystemTime::now() - ago;
    let mut g = FakeGateway::new("gw-gone");
    g.name = Some("Barn".into());
    g.stats = Some(serde_json::json!({
        "disconnected_at": rfc3339(at),
        "last_uplink_received_at": rfc3339(at - Duration::from_secs(10)),
        "protocol": "udp",
        "uplink_count": "7",
    }));
    g
}

fn unix(t: &str) -> f64 {
    humantime::parse_rfc3339_weak(t)
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn a_gateway_forgotten_by_the_server_still_shows_since_when() {
    let gw = gone(Duration::from_millis(200));
    let stats = gw.stats.clone().unwrap();
    let disconnected = unix(stats["disconnected_at"].as_str().unwrap());
    let seen = unix(stats["last_uplink_received_at"].as_str().unwrap());
    let fake = fake(vec![gw]).await;
    fake.set_stats_retention(Some(Duration::from_millis(800)));
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("gateways.json");
    let mut cfg = config(&fake.url());
    cfg.state_file = Some(state.clone());
    let exp = Exporter::start(cfg.clone()).await;

    let out = exp.scrape().await;
    let ts = |out: &str, name: &str| value(out, &format!("{name}{{gateway_id=\"gw-gone\"}}"));
    assert_eq!(
        ts(&out, "ttn_gateway_disconnected_timestamp_seconds"),
        Some(disconnected)
    );
    assert!(state.exists(), "written after the refresh");

    // Past the retention the server answers 404 for it.
    tokio::time::sleep(Duration::from_millis(900)).await;
    exp.cache.expire();
    let before = fake.requests(Route::GatewayStats) + fake.requests(Route::BatchStats);
    let out = exp.scrape().await;
    assert!(fake.requests(Route::GatewayStats) + fake.requests(Route::BatchStats) > before);
    assert!(
        !out.contains("ttn_gateway_uplink_messages_total{gateway_id=\"gw-gone\"}"),
        "the server's record is gone: {out}"
    );
    assert_eq!(ts(&out, "ttn_gateway_connected"), Some(0.0));
    assert_eq!(
        ts(&out, "ttn_gateway_disconnected_timestamp_seconds"),
        Some(disconnected),
        "{out}"
    );
    assert_eq!(
        ts(&out, "ttn_gateway_last_seen_timestamp_seconds"),
        Some(seen),
        "{out}"
    );
    let page = crate::helpers::get_text(exp.url("/")).await;
    assert!(page.contains(">disconnected<"), "{page}");
    exp.stop().await;

    // A restart reads the file back.
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(
        ts(&out, "ttn_gateway_disconnected_timestamp_seconds"),
        Some(disconnected),
        "{out}"
    );
    assert_eq!(
        ts(&out, "ttn_gateway_last_seen_timestamp_seconds"),
        Some(seen),
        "{out}"
    );
    exp.stop().await;
}

#[tokio::test]
async fn a_corrupt_or_unwritable_state_file_costs_nothing_but_a_log_line() {
    let fake = fake(vec![gone(Duration::from_secs(1))]).await;
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("gateways.json");
    std::fs::write(&corrupt, b"{\"format\": [not json").unwrap();
    for path in [
        corrupt.clone(),
        std::path::PathBuf::from("/proc/self/no-such-dir/gateways.json"),
    ] {
        let mut cfg = config(&fake.url());
        cfg.state_file = Some(path.clone());
        let exp = Exporter::start(cfg).await;
        let out = exp.scrape().await;
        assert_eq!(
            value(&out, "ttn_up"),
            Some(1.0),
            "{}: {out}",
            path.display()
        );
        assert!(out.contains("ttn_gateway_disconnected_timestamp_seconds{gateway_id=\"gw-gone\"}"));
        exp.stop().await;
    }
    // The corrupt file was replaced by a good one.
    let text = std::fs::read_to_string(&corrupt).unwrap();
    assert!(text.contains("\"gw-gone\""), "{text}");
}
