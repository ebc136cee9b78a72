//! The exporter in-process against the fake TTS: exact series, pagination,
//! batching and fallback, single flight, failures and recovery.

use std::io::Read;
use std::time::Duration;

use crate::common::*;
use crate::helpers::{fixture, get_text};
use fake_tts::{FakeGateway, FakeTts, Fault, Route};
use ttn_exporter::config::{Config, Scope};

fn gw(id: &str, name: &str, stats: Option<&str>) -> FakeGateway {
    let mut g = FakeGateway::new(id);
    g.eui = Some(format!("{:0>16}", id.len()));
    g.name = Some(name.into());
    g.frequency_plan_ids = vec!["EU_863_870_TTN".into()];
    g.stats = stats.map(fixture);
    g
}

fn small_fleet() -> Vec<FakeGateway> {
    let mut gone = FakeGateway::new("gw-gone");
    gone.stats = Some(serde_json::json!({
        "disconnected_at": "2024-05-01T10:00:00.250Z",
        "protocol": "udp",
        "uplink_count": "12",
    }));
    vec![
        gw("gw-udp", "Roof", Some("stats-udp-connected.json")),
        gw("gw-bs", "Tower", Some("stats-basicstation.json")),
        gw("gw-rt", "Hill", Some("stats-round-trip.json")),
        gone,
        gw("gw-never", "Cellar", None),
    ]
}

#[tokio::test]
async fn serves_exact_series_for_connected_disconnected_and_never_connected() {
    let fake = fake(small_fleet()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0), "{out}");
    assert_eq!(value(&out, "ttn_exporter_gateways"), Some(5.0));
    let c = |id: &str| {
        value(
            &out,
            &format!("ttn_gateway_connected{{gateway_id=\"{id}\"}}"),
        )
    };
    assert_eq!(c("gw-udp"), Some(1.0));
    assert_eq!(c("gw-bs"), Some(1.0));
    assert_eq!(c("gw-rt"), Some(1.0));
    assert_eq!(c("gw-gone"), Some(0.0));
    assert_eq!(c("gw-never"), Some(0.0));
    assert_eq!(
        value(
            &out,
            "ttn_gateway_uplink_messages_total{gateway_id=\"gw-udp\"}"
        ),
        Some(9043.0)
    );
    assert_eq!(
        value(
            &out,
            "ttn_gateway_uplink_messages_total{gateway_id=\"gw-gone\"}"
        ),
        Some(12.0)
    );
    assert_eq!(
        value(
            &out,
            "ttn_gateway_disconnected_timestamp_seconds{gateway_id=\"gw-gone\"}"
        ),
        Some(1714557600.25)
    );
    assert_eq!(
        value(&out, "ttn_gateway_round_trip_samples{gateway_id=\"gw-rt\"}"),
        Some(32.0)
    );
    assert_eq!(
        value(&out, "ttn_gateway_sub_band_downlink_utilization_ratio{gateway_id=\"gw-bs\",min_frequency=\"0\",max_frequency=\"18446744073709551615\"}"),
        Some(0.000071413335)
    );
    assert!(
        out.contains(
            "ttn_gateway_info{gateway_id=\"gw-udp\",gateway_eui=\"0000000000000006\",name=\"Roof\",protocol=\"udp\",frequency_plan=\"EU_863_870_TTN\"} 1"
        ),
        "{}",
        series(&out, "ttn_gateway_info").join("\n")
    );
    assert!(series(&out, "ttn_gateway_uplink_messages_total")
        .iter()
        .all(|l| !l.contains("gw-never")));
    // One list page and one batch: not one call per gateway.
    assert_eq!(fake.requests(Route::ListGateways), 1);
    assert_eq!(fake.requests(Route::BatchStats), 1);
    assert_eq!(fake.requests(Route::GatewayStats), 0);
    assert_eq!(
        value(
            &out,
            "ttn_exporter_api_requests_total{code=\"200\",endpoint=\"list_gateways\"}"
        ),
        Some(1.0)
    );
    exp.stop().await;
}

#[tokio::test]
async fn pages_and_batches_cover_2500_gateways() {
    let fake = fake((0..2500).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0));
    assert_eq!(value(&out, "ttn_exporter_gateways"), Some(2500.0));
    assert_eq!(series(&out, "ttn_gateway_connected").len(), 2500);
    assert_eq!(series(&out, "ttn_gateway_info").len(), 2500);
    // kinds 0 and 1 of every 4 are connected
    let connected = series(&out, "ttn_gateway_connected")
        .iter()
        .filter(|l| l.ends_with(" 1"))
        .count();
    assert_eq!(connected, 1250);
    assert_eq!(fake.requests(Route::ListGateways), 3);
    assert_eq!(fake.requests(Route::BatchStats), 25);
    assert!(fake.batch_sizes().iter().all(|n| *n <= 100));
    exp.stop().await;
}

#[tokio::test]
async fn concurrent_scrapes_on_a_stale_cache_share_one_refresh() {
    let fake = fake((0..50).map(FakeGateway::synthetic).collect()).await;
    fake.set_fault(
        Route::ListGateways,
        Some(Fault::Delay(Duration::from_millis(300))),
    );
    let exp = Exporter::start(config(&fake.url())).await;
    let scrapes = (0..20).map(|_| {
        let url = exp.url("/metrics");
        tokio::spawn(get_text(url))
    });
    let bodies: Vec<String> = futures::future::join_all(scrapes)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        fake.requests(Route::ListGateways),
        1,
        "one upstream refresh"
    );
    assert_eq!(exp.cache.refreshes(), 1);
    assert!(
        bodies.iter().all(|b| b == &bodies[0]),
        "all got the same body"
    );
    assert_eq!(value(&bodies[0], "ttn_exporter_gateways"), Some(50.0));
    // Still fresh: no new upstream call.
    exp.scrape().await;
    assert_eq!(fake.requests(Route::ListGateways), 1);
    exp.stop().await;
}

#[tokio::test]
async fn stale_cache_refreshes_and_vanished_gateways_vanish() {
    let fake = fake(small_fleet()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    assert!(out.contains("gateway_id=\"gw-bs\""));
    fake.set_gateways(
        small_fleet()
            .into_iter()
            .filter(|g| g.id != "gw-bs")
            .collect(),
    );
    // Stale (the TTL itself: cache::tests::ttl).
    exp.cache.expire();
    let out = exp.scrape().await;
    assert_eq!(fake.requests(Route::ListGateways), 2);
    assert!(!out.contains("gateway_id=\"gw-bs\""), "{out}");
    assert_eq!(value(&out, "ttn_exporter_gateways"), Some(4.0));
    exp.stop().await;
}

#[tokio::test]
async fn gzip_is_served_when_asked_and_matches_the_text() {
    let fake = fake(small_fleet()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let plain = exp.scrape().await;
    let resp = client()
        .get(exp.url("/metrics"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let bytes = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, plain);
    exp.stop().await;
}

#[tokio::test]
async fn other_routes() {
    let fake = fake(Vec::new()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let c = client();
    let r = c.get(exp.url("/-/healthy")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = c.get(exp.url("/nope")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c.post(exp.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // None of these touched the API.
    assert_eq!(fake.total_requests(), 0);
    // The status page shows the data of a refresh, started like a scrape's.
    let r = c.get(exp.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("href=\"/metrics\""));
    assert_eq!(exp.cache.refreshes(), 1);
    exp.stop().await;
}

#[tokio::test]
async fn gateway_scoped_key_with_explicit_list_falls_back_to_single_gets() {
    let fake = fake(small_fleet()).await;
    let scoped = "NNSXS.FAKE-GATEWAY-KEY.NOT-A-SECRET";
    fake.set_gateway_key(scoped, &["gw-udp", "gw-never"]);
    let mut cfg = config(&fake.url());
    cfg.api_key = ttn_exporter::config::ApiKey::parse(scoped).unwrap();
    cfg.scope = Scope::Explicit(vec!["gw-udp".into(), "gw-never".into()]);
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0), "{out}");
    assert_eq!(
        value(&out, "ttn_gateway_connected{gateway_id=\"gw-udp\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(&out, "ttn_gateway_connected{gateway_id=\"gw-never\"}"),
        Some(0.0)
    );
    assert_eq!(fake.requests(Route::ListGateways), 0);
    assert_eq!(fake.requests(Route::BatchStats), 1);
    assert_eq!(fake.requests(Route::GatewayStats), 2);
    // The refusal is remembered: the next refresh goes straight to singles.
    exp.cache.expire();
    exp.scrape().await;
    assert_eq!(fake.requests(Route::BatchStats), 1);
    assert_eq!(fake.requests(Route::GatewayStats), 4);
    exp.stop().await;
}

async fn failure_case(fault: Fault, reason: &str) {
    let fake = fake(small_fleet()).await;
    fake.set_fault(Route::ListGateways, Some(fault));
    let mut cfg = config(&fake.url());
    cfg.request_timeout = Duration::from_millis(500);
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0), "{reason}: {out}");
    assert!(series(&out, "ttn_gateway_connected").is_empty(), "{reason}");
    assert_eq!(
        value(
            &out,
            &format!("ttn_exporter_refresh_errors_total{{reason=\"{reason}\"}}")
        ),
        Some(1.0),
        "{out}"
    );
    assert!(out.starts_with("# ttn_up 0: "), "{out}");
    // The fault clears: the first refresh after recovers fully.
    fake.set_fault(Route::ListGateways, None);
    exp.cache.expire();
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0), "{reason} recovery: {out}");
    assert_eq!(series(&out, "ttn_gateway_connected").len(), 5);
    exp.stop().await;
}

fn status(code: u16) -> Fault {
    Fault::Status {
        code,
        body: format!(
            r#"{{"code":14,"message":"error:pkg/test:fault_{code} (injected)","details":[{{"name":"fault_{code}","correlation_id":"corr-{code}"}}]}}"#
        ),
        headers: Vec::new(),
    }
}

#[tokio::test]
async fn unauthorized() {
    failure_case(status(401), "unauthorized").await;
}

#[tokio::test]
async fn forbidden() {
    failure_case(status(403), "forbidden").await;
}

#[tokio::test]
async fn server_errors() {
    failure_case(status(500), "server_error").await;
    failure_case(status(503), "server_error").await;
    failure_case(status(504), "server_error").await;
}

#[tokio::test]
async fn malformed_and_truncated_bodies() {
    failure_case(Fault::Malformed, "bad_response").await;
    failure_case(Fault::Truncated, "bad_response").await;
}

#[tokio::test]
async fn hang_times_out() {
    failure_case(Fault::Hang, "timeout").await;
}

#[tokio::test]
async fn huge_body_is_bounded() {
    failure_case(
        Fault::Huge {
            bytes: 50 * 1024 * 1024,
        },
        "bad_response",
    )
    .await;
}

#[tokio::test]
async fn connection_closed() {
    failure_case(Fault::CloseConnection, "unreachable").await;
}

#[tokio::test]
async fn unreachable_api() {
    // A port nothing listens on: bind, learn the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let exp = Exporter::start(config(&format!("http://127.0.0.1:{port}"))).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0));
    assert_eq!(
        value(
            &out,
            "ttn_exporter_refresh_errors_total{reason=\"unreachable\"}"
        ),
        Some(1.0)
    );
    assert!(out.contains("cannot reach the API"), "{out}");
    exp.stop().await;
}

#[tokio::test]
async fn rate_limit_backs_off_as_told() {
    let fake = fake(small_fleet()).await;
    fake.set_fault(
        Route::ListGateways,
        Some(Fault::RateLimited { retry_secs: 1 }),
    );
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0));
    assert_eq!(
        value(
            &out,
            "ttn_exporter_refresh_errors_total{reason=\"rate_limited\"}"
        ),
        Some(1.0)
    );
    assert!(out.contains("backing off for 1s"), "{out}");
    fake.set_fault(Route::ListGateways, None);
    // Stale but inside the back-off: no new upstream call (the back-off
    // against cache_ttl: cache::tests::backoff).
    exp.cache.expire();
    exp.scrape().await;
    assert_eq!(fake.requests(Route::ListGateways), 1);
    // After the back-off: recovered.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0));
    assert_eq!(fake.requests(Route::ListGateways), 2);
    exp.stop().await;
}

#[tokio::test]
async fn organization_and_user_scopes_list_their_own_gateways() {
    let mut fleet = small_fleet();
    fleet[0].owner_org = Some("acme".into());
    fleet[1].owner_user = Some("alice".into());
    let fake = fake(fleet).await;
    let mut cfg = config(&fake.url());
    cfg.scope = Scope::Organization("acme".into());
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_exporter_gateways"), Some(1.0), "{out}");
    assert!(out.contains("gateway_id=\"gw-udp\""));
    exp.stop().await;
    let mut cfg = config(&fake.url());
    cfg.scope = Scope::User("alice".into());
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_exporter_gateways"), Some(1.0), "{out}");
    assert!(out.contains("gateway_id=\"gw-bs\""));
    exp.stop().await;
}

#[tokio::test]
async fn rotated_key_is_used_after_set_source() {
    let fake = fake(small_fleet()).await;
    let new_key = "NNSXS.FAKE-ROTATED-KEY.NOT-A-SECRET";
    fake.set_keys(&[KEY, new_key]);
    let exp = Exporter::start(config(&fake.url())).await;
    exp.scrape().await;
    let mut cfg = config(&fake.url());
    cfg.api_key = ttn_exporter::config::ApiKey::parse(new_key).unwrap();
    let source = ttn_exporter::cache::Source::from_config(&cfg, exp.cache.self_metrics()).unwrap();
    exp.cache.set_source(source);
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0));
    assert_eq!(
        fake.seen_tokens(),
        vec![KEY.to_string(), new_key.to_string()]
    );
    exp.stop().await;
}

#[tokio::test]
async fn a_failing_single_gateway_request_names_the_gateway() {
    let fake = fake(small_fleet()).await;
    let scoped = "NNSXS.FAKE-GATEWAY-KEY.NOT-A-SECRET";
    fake.set_gateway_key(scoped, &["gw-udp"]);
    fake.set_fault(Route::GatewayStats, Some(status(503)));
    let mut cfg = config(&fake.url());
    cfg.api_key = ttn_exporter::config::ApiKey::parse(scoped).unwrap();
    cfg.scope = Scope::Explicit(vec!["gw-udp".into()]);
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0));
    assert!(
        out.starts_with("# ttn_up 0: gateway gw-udp: gateway_stats answered HTTP 503 fault_503"),
        "{out}"
    );
    assert!(out.contains("(correlation id corr-503)"), "{out}");
    exp.stop().await;
}

#[tokio::test]
async fn a_disconnected_gateways_retained_record_exports_history_not_present_gauges() {
    let fleet = vec![gw(
        "gw-off",
        "Attic",
        Some("stats-disconnected-retained.json"),
    )];
    let fake = fake(fleet).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    let v = |name: &str| value(&out, &format!("{name}{{gateway_id=\"gw-off\"}}"));
    assert_eq!(v("ttn_gateway_connected"), Some(0.0), "{out}");
    // History stays: counters and timestamps.
    assert_eq!(v("ttn_gateway_uplink_messages_total"), Some(18234.0));
    assert_eq!(v("ttn_gateway_downlink_messages_total"), Some(211.0));
    assert_eq!(v("ttn_gateway_tx_acknowledgments_total"), Some(209.0));
    assert!(v("ttn_gateway_disconnected_timestamp_seconds").is_some());
    assert!(v("ttn_gateway_last_uplink_timestamp_seconds").is_some());
    assert!(v("ttn_gateway_last_status_timestamp_seconds").is_some());
    // Gauges that describe the present do not.
    for family in [
        "ttn_gateway_round_trip_min_seconds",
        "ttn_gateway_round_trip_median_seconds",
        "ttn_gateway_round_trip_max_seconds",
        "ttn_gateway_round_trip_samples",
        "ttn_gateway_sub_band_downlink_utilization_ratio",
        "ttn_gateway_sub_band_downlink_utilization_limit_ratio",
        "ttn_gateway_status_metric",
    ] {
        assert!(series(&out, family).is_empty(), "{family}: {out}");
    }
    exp.stop().await;
}

/// Three gateways whose attributes include hostile ones (a newline, a
/// 1,000-character value, 50 attributes), and a config asking for `owner`
/// and `site-code` as labels.
async fn gateways_with_hostile_attributes() -> (FakeTts, Config) {
    let mut a = gw("gw-a", "Roof", Some("stats-udp-connected.json"));
    a.attributes = [
        ("owner", "acme"),
        ("site-code", "n1"),
        ("secret", "not exported"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // Hostile: a newline and a 1,000-character value, 50 attributes.
    let mut b = gw("gw-b", "Tower", None);
    b.attributes = (0..50).map(|i| (format!("z{i:03}"), "x".into())).collect();
    b.attributes
        .insert("owner".into(), "evil\"}\nttn_up 1\n".into());
    b.attributes.insert("site-code".into(), "y".repeat(1000));
    let fake = fake(vec![a, b, gw("gw-c", "Cellar", None)]).await;
    let mut cfg = config(&fake.url());
    cfg.info_attributes = vec!["owner".into(), "site-code".into()];
    (fake, cfg)
}

#[tokio::test]
async fn info_attributes_become_bounded_labels_of_ttn_gateway_info() {
    let (fake, cfg) = gateways_with_hostile_attributes().await;
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    let info = series(&out, "ttn_gateway_info");
    let line = |id: &str| {
        info.iter()
            .find(|l| l.contains(&format!("gateway_id=\"{id}\"")))
            .copied()
            .unwrap_or_else(|| panic!("{id}: {out}"))
    };
    assert!(
        line("gw-a").contains(",owner=\"acme\",site_code=\"n1\"} 1"),
        "{}",
        line("gw-a")
    );
    assert!(!out.contains("not exported"));
    assert!(
        line("gw-c").contains(",owner=\"\",site_code=\"\"} 1"),
        "{}",
        line("gw-c")
    );
    let b = line("gw-b");
    assert!(b.contains("owner=\"evil\\\"} ttn_up 1 \""), "{b}");
    assert!(
        b.len() < 600,
        "the 1,000-character value is cut: {}",
        b.len()
    );
    assert_eq!(out.matches("\nttn_up ").count(), 1, "no injected sample");
    exp.stop().await;
    // Not configured: not asked for, no extra labels.
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    assert!(!out.contains("owner="), "{out}");
    exp.stop().await;
}

#[tokio::test]
#[ignore = "needs promtool (apt install prometheus)"]
async fn hostile_info_attributes_pass_promtool() {
    let (_fake, cfg) = gateways_with_hostile_attributes().await;
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    let (ok, why) = promtool_check_metrics(&out);
    assert!(ok, "promtool: {why}");
    exp.stop().await;
}

/// A gateway shared with the key's owner without "View gateway status":
/// the list shows it, its stats GET answers 403 `no_gateway_rights`, and a
/// batch naming it fails whole (lorawan-stack's AssertGatewayBatchRights).
#[tokio::test]
async fn a_gateway_without_status_rights_does_not_fail_the_fleet() {
    let mut shared = gw("gw-shared", "Neighbour", Some("stats-udp-connected.json"));
    shared.no_status_rights = true;
    let mut fleet = small_fleet();
    fleet.push(shared);
    let fake = fake(fleet).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0), "{out}");
    assert_eq!(value(&out, "ttn_exporter_gateways"), Some(6.0));
    assert_eq!(
        value(&out, "ttn_exporter_gateways_without_rights"),
        Some(1.0),
        "{out}"
    );
    assert_eq!(series(&out, "ttn_gateway_connected").len(), 5, "{out}");
    assert!(
        out.contains("ttn_gateway_info{gateway_id=\"gw-shared\""),
        "{out}"
    );
    assert!(
        !out.contains("ttn_gateway_connected{gateway_id=\"gw-shared\"}"),
        "unknown is not disconnected: {out}"
    );
    assert_eq!(
        value(&out, "ttn_gateway_connected{gateway_id=\"gw-udp\"}"),
        Some(1.0)
    );
    // Later refreshes batch the others and ask for it alone.
    exp.cache.expire();
    fake.reset_counts();
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0), "{out}");
    assert_eq!(
        fake.requests(Route::GatewayStats),
        1,
        "one GET, for gw-shared"
    );
    assert!(fake.requests(Route::BatchStats) <= 1);
    let page = crate::helpers::get_text(exp.url("/")).await;
    assert!(page.contains("no status rights"), "{page}");
    exp.stop().await;
}

#[tokio::test]
async fn a_key_with_status_rights_on_no_gateway_still_fails_as_forbidden() {
    let fleet: Vec<FakeGateway> = ["gw-a", "gw-b"]
        .iter()
        .map(|id| {
            let mut g = gw(id, "x", Some("stats-udp-connected.json"));
            g.no_status_rights = true;
            g
        })
        .collect();
    let fake = fake(fleet).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0), "{out}");
    assert_eq!(
        value(
            &out,
            "ttn_exporter_refresh_errors_total{reason=\"forbidden\"}"
        ),
        Some(1.0),
        "{out}"
    );
    assert!(out.contains("View gateway status"), "{out}");
    exp.stop().await;
}

/// A gateway shared without "View gateway information": lorawan-stack
/// lists it `PublicSafe` (pkg/ttnpb/public.go), so its versions,
/// attributes, private location and, unless its status is public, its
/// Gateway Server address are missing. The exporter serves what is left
/// and still reads its stats (asked of the key's own cluster).
#[tokio::test]
async fn a_gateway_without_info_rights_is_listed_public_safe() {
    let mut g = gw("gw-public", "Shared", Some("stats-udp-connected.json"));
    g.version_ids = Some(serde_json::json!({"brand_id": "rak", "model_id": "7268"}));
    g.antennas = Some(serde_json::json!([{"location": {"latitude": 52.1, "longitude": 4.3}}]));
    g.attributes.insert("owner".into(), "acme".into());
    g.no_info_rights = true;
    let mut full = g.clone();
    full.id = "gw-full".into();
    full.no_info_rights = false;
    let fake = fake(vec![full, g]).await;
    let mut cfg = config(&fake.url());
    cfg.info_attributes = vec!["owner".into()];
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0), "{out}");
    // The one with the right: everything.
    assert!(out.contains(r#"ttn_gateway_info{gateway_id="gw-full",gateway_eui="0000000000000009",name="Shared",protocol="udp",frequency_plan="EU_863_870_TTN",owner="acme"} 1"#), "{out}");
    assert!(
        out.contains(r#"ttn_gateway_version_info{gateway_id="gw-full","#),
        "{out}"
    );
    assert!(
        out.contains(
            r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-full",source="registry"}"#
        ),
        "{out}"
    );
    // Without: name, EUI and plan (public) and stats, nothing else.
    assert!(out.contains(r#"ttn_gateway_info{gateway_id="gw-public",gateway_eui="0000000000000009",name="Shared",protocol="udp",frequency_plan="EU_863_870_TTN",owner=""} 1"#), "{out}");
    assert!(
        !out.contains(r#"ttn_gateway_version_info{gateway_id="gw-public""#),
        "{out}"
    );
    assert!(
        !out.contains(r#"ttn_gateway_location_latitude_degrees{gateway_id="gw-public""#),
        "{out}"
    );
    assert_eq!(
        value(&out, r#"ttn_gateway_connected{gateway_id="gw-public"}"#),
        Some(1.0)
    );
    exp.stop().await;
}
