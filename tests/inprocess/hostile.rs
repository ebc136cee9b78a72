//! The exporter against a hostile stand-in API (hostile/server.rs):
//! endless pagers, huge and repeated answers, forged text, redirects, IDs
//! that are paths, bad fields, a slow API. Each test failed before its fix.

mod server;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use server::{json, page, with_header, Hostile, BATCH, LIST};
use ttn_exporter::config::{ApiKey, Scope};
use ttn_exporter::tts::Client;

use crate::common::{client, config, series, value, Exporter, KEY};

/// An exporter against `api` with the test defaults.
async fn exporter(api: &Hostile) -> Exporter {
    Exporter::start(config(&api.url())).await
}

/// An exporter against `api` and its first scrape, which must say `ttn_up 1`.
async fn scrape_up(api: &Hostile) -> (Exporter, String) {
    let exp = exporter(api).await;
    let out = exp.scrape().await;
    assert_eq!(
        value(&out, "ttn_up"),
        Some(1.0),
        "{}",
        comment(&out).unwrap_or("")
    );
    (exp, out)
}

/// The `# ttn_up 0: ...` line, if any.
fn comment(text: &str) -> Option<&str> {
    text.lines().find(|l| l.starts_with("# ttn_up 0: "))
}

#[tokio::test]
async fn an_endless_pager_of_fresh_gateways_is_cut_at_max_gateways() {
    let api = Hostile::start(|s| {
        async move {
            if s.path == LIST {
                let p: usize = s.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let ids = (0..1000).map(move |i| format!("gw-{p}-{i}"));
                with_header(json(200, page(ids)), "x-total-count", "1000000000")
            } else {
                json(200, "{}")
            }
        }
        .boxed()
    })
    .await;
    let exp = exporter(&api).await;
    let out = tokio::time::timeout(Duration::from_secs(60), exp.scrape())
        .await
        .expect("the refresh ends instead of reading pages forever");
    assert_eq!(value(&out, "ttn_up"), Some(0.0), "{out}");
    assert!(comment(&out).unwrap().contains("max_gateways"), "{out}");
    assert_eq!(
        value(&out, "ttn_exporter_refresh_errors_total{reason=\"limit\"}"),
        Some(1.0)
    );
    // 10,000 gateways fill 10 pages; one more shows there are more.
    assert!(api.count(LIST) <= 11, "{} pages read", api.count(LIST));
    assert_eq!(api.count(BATCH), 0, "no stats asked for a cut list");
    exp.stop().await;
}

#[tokio::test]
async fn a_refresh_reads_a_bounded_number_of_bytes() {
    // 3,000 gateways, every batch answer padded to 15 MiB: 30 answers are
    // 450 MiB, past the per-refresh bound of 256 MiB (17 answers).
    let pad = Bytes::from(format!(
        r#"{{"entries":{{}},"pad":"{}"}}"#,
        "x".repeat(15 << 20)
    ));
    let api = Hostile::start(move |s| {
        let pad = pad.clone();
        async move {
            if s.path == LIST {
                let p: usize = s.param("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let ids = (0..if p <= 3 { 1000 } else { 0 }).map(move |i| format!("gw-{p}-{i}"));
                with_header(json(200, page(ids)), "x-total-count", "3000")
            } else {
                json(200, pad)
            }
        }
        .boxed()
    })
    .await;
    // Reading 256 MiB in a debug build on a busy machine takes a while.
    let mut cfg = config(&api.url());
    cfg.refresh_timeout = Duration::from_secs(300);
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0), "{out}");
    assert_eq!(
        value(&out, "ttn_exporter_refresh_errors_total{reason=\"limit\"}"),
        Some(1.0),
        "{}",
        comment(&out).unwrap_or("")
    );
    // At most 4 batch requests are in flight when the bound is hit.
    assert!(
        api.count(BATCH) <= 17 + 4,
        "{} batches asked",
        api.count(BATCH)
    );
    exp.stop().await;
}

/// A fleet of the given IDs whose batch answer is `entries` (a JSON object).
async fn fleet(ids: &'static [&'static str], entries: String) -> Hostile {
    let entries = Bytes::from(format!(r#"{{"entries":{entries}}}"#));
    Hostile::start(move |s| {
        let entries = entries.clone();
        async move {
            if s.path == LIST {
                json(200, page(ids.iter().map(|s| s.to_string())))
            } else if s.path == BATCH {
                json(200, entries)
            } else {
                json(404, "{}")
            }
        }
        .boxed()
    })
    .await
}

#[tokio::test]
async fn sub_bands_per_gateway_are_bounded_and_repeats_dropped() {
    let distinct: Vec<String> = (0..1500)
        .map(|i| format!(r#"{{"min_frequency":"{i}","max_frequency":"{}"}}"#, i + 1))
        .collect();
    let same = vec![r#"{"min_frequency":"1","max_frequency":"2"}"#; 1500].join(",");
    let api = fleet(
        &["gw-many", "gw-same"],
        format!(
            r#"{{"gw-many":{{"connected_at":"2024-01-01T00:00:00Z","sub_bands":[{}]}},
                "gw-same":{{"connected_at":"2024-01-01T00:00:00Z","sub_bands":[{same}]}}}}"#,
            distinct.join(",")
        ),
    )
    .await;
    let (exp, out) = scrape_up(&api).await;
    let util = series(&out, "ttn_gateway_sub_band_downlink_utilization_ratio");
    let many = util.iter().filter(|l| l.contains("gw-many")).count();
    let same = util.iter().filter(|l| l.contains("gw-same")).count();
    assert_eq!(many, ttn_exporter::model::MAX_SUB_BANDS);
    assert_eq!(same, 1, "a repeated sub-band is one series");
    assert_eq!(
        value(&out, "ttn_exporter_dropped_total{what=\"sub_band\"}"),
        Some((1500 - ttn_exporter::model::MAX_SUB_BANDS + 1499) as f64)
    );
    exp.stop().await;
}

#[tokio::test]
async fn one_bad_counter_drops_that_field_not_the_fleet() {
    let api = fleet(
        &["gw-bad", "gw-good", "gw-odd-time"],
        r#"{"gw-bad":{"connected_at":"2024-01-01T00:00:00Z","uplink_count":"lots","downlink_count":"3"},
            "gw-good":{"connected_at":"2024-01-01T00:00:00Z","uplink_count":"7"},
            "gw-odd-time":{"connected_at":"last tuesday"}}"#
            .into(),
    )
    .await;
    let (exp, out) = scrape_up(&api).await;
    let up = "ttn_gateway_uplink_messages_total";
    assert_eq!(
        value(&out, &format!("{up}{{gateway_id=\"gw-good\"}}")),
        Some(7.0)
    );
    assert_eq!(value(&out, &format!("{up}{{gateway_id=\"gw-bad\"}}")), None);
    assert_eq!(
        value(
            &out,
            "ttn_gateway_downlink_messages_total{gateway_id=\"gw-bad\"}"
        ),
        Some(3.0)
    );
    assert_eq!(
        value(&out, "ttn_gateway_connected{gateway_id=\"gw-bad\"}"),
        Some(1.0)
    );
    // An unreadable connected_at is "connected since an unknown time".
    assert_eq!(
        value(&out, "ttn_gateway_connected{gateway_id=\"gw-odd-time\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(
            &out,
            "ttn_gateway_connected_timestamp_seconds{gateway_id=\"gw-odd-time\"}"
        ),
        None
    );
    assert_eq!(
        value(&out, "ttn_exporter_dropped_total{what=\"invalid_field\"}"),
        Some(2.0)
    );
    exp.stop().await;
}

#[tokio::test]
async fn upstream_text_cannot_forge_notify_lines_logs_or_huge_comments() {
    let huge = "9".repeat(9 << 20);
    let body = Bytes::from(
        serde_json::json!({
            "code": 16,
            "message": "error:pkg/auth:x\nMAINPID=1",
            "details": [{
                "name": "api_key_not_found\nMAINPID=1\nSTOPPING=1\nWATCHDOG_USEC=1",
                "correlation_id": huge,
            }]
        })
        .to_string(),
    );
    let api = Hostile::start(move |_| {
        let body = body.clone();
        async move { json(401, body) }.boxed()
    })
    .await;
    let exp = exporter(&api).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0));
    let c = comment(&out).unwrap();
    assert!(c.contains("api_key_not_found MAINPID=1 STOPPING=1"), "{c}");
    assert!(c.len() < 2000, "comment of {} bytes", c.len());
    assert!(out.len() < 100_000, "scrape of {} bytes", out.len());
    assert!(!out.lines().any(|l| l.starts_with("MAINPID")));
    let status = ttn_exporter::daemon::status_line(&exp.cache);
    assert!(!status.contains(['\n', '\r']), "{status:?}");
    assert!(status.len() < 2000, "STATUS= of {} bytes", status.len());
    exp.stop().await;
}

#[tokio::test]
async fn redirects_are_not_followed_and_the_key_stays_home() {
    let elsewhere = Hostile::start(|_| async { json(200, "{}") }.boxed()).await;
    let target = format!("{}/api/v3/gateways", elsewhere.url());
    let api = Hostile::start(move |s| {
        let target = target.clone();
        async move {
            let to = if s.path == LIST {
                "/api/v3/moved".to_owned()
            } else {
                target
            };
            if s.path == "/api/v3/moved" {
                json(200, page(["gw-a".to_owned()]))
            } else {
                with_header(json(302, ""), "location", &to)
            }
        }
        .boxed()
    })
    .await;
    // Redirect on the same host and port (the key would go along) ...
    let exp = exporter(&api).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0), "{out}");
    assert!(comment(&out).unwrap().contains("HTTP 302"), "{out}");
    assert_eq!(api.count("/api/v3/moved"), 0, "redirect followed");
    exp.stop().await;
    // ... and to another server.
    let mut cfg = config(&api.url());
    cfg.scope = Scope::Explicit(vec!["gw-a".into()]);
    let exp = Exporter::start(cfg).await;
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(0.0), "{out}");
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
    exp.stop().await;
}

#[tokio::test]
async fn gateway_ids_that_are_paths_are_dropped_and_counted() {
    let api = Hostile::start(|s| {
        async move {
            if s.path == LIST {
                let ids = ["gw-ok", "../../auth_info", "UPPER", "a--b", "-x", "x"];
                json(200, page(ids.iter().map(|s| s.to_string())))
            } else if s.path == BATCH {
                json(404, "{}")
            } else {
                json(200, r#"{"connected_at":"2024-01-01T00:00:00Z"}"#)
            }
        }
        .boxed()
    })
    .await;
    let (exp, out) = scrape_up(&api).await;
    assert_eq!(series(&out, "ttn_gateway_connected").len(), 1, "{out}");
    assert_eq!(
        value(
            &out,
            "ttn_exporter_dropped_total{what=\"invalid_gateway_id\"}"
        ),
        Some(5.0)
    );
    let paths: Vec<String> = api.seen().into_iter().map(|s| s.path).collect();
    assert!(
        paths
            .iter()
            .all(|p| p == LIST || p == BATCH || p == "/api/v3/gs/gateways/gw-ok/connection/stats"),
        "{paths:?}"
    );
    let bearer = format!("Bearer {KEY}");
    assert!(api
        .seen()
        .iter()
        .all(|s| s.authorization.as_deref() == Some(bearer.as_str())));
    exp.stop().await;
}

#[tokio::test]
async fn one_batch_404_does_not_mean_single_requests_forever() {
    let batches = Arc::new(AtomicUsize::new(0));
    let b = batches.clone();
    let api = Hostile::start(move |s| {
        let b = b.clone();
        async move {
            if s.path == "/api/v3/gateways/gw-a" {
                json(200, r#"{"ids":{"gateway_id":"gw-a"}}"#)
            } else if s.path == BATCH {
                if b.fetch_add(1, Ordering::SeqCst) == 0 {
                    json(404, "{}")
                } else {
                    json(200, r#"{"entries":{}}"#)
                }
            } else {
                json(404, r#"{"details":[{"name":"not_connected"}]}"#)
            }
        }
        .boxed()
    })
    .await;
    let client = Client::new(
        api.url().parse().unwrap(),
        ApiKey::parse(KEY).unwrap(),
        Duration::from_secs(5),
        Arc::new(|_, _| {}),
    )
    .unwrap();
    let scope = Scope::Explicit(vec!["gw-a".into()]);
    for _ in 0..30 {
        client.fetch(&scope).await.unwrap();
    }
    assert!(
        batches.load(Ordering::SeqCst) >= 2,
        "the batch route was never tried again"
    );
    assert!(
        batches.load(Ordering::SeqCst) < 30,
        "the batch route is retried every refresh"
    );
}

/// An API whose list answers after `delay` with one gateway.
async fn slow(delay: Duration) -> Hostile {
    Hostile::start(move |s| {
        async move {
            if s.path == LIST {
                tokio::time::sleep(delay).await;
                json(200, page(["gw-a".to_owned()]))
            } else {
                json(200, r#"{"entries":{}}"#)
            }
        }
        .boxed()
    })
    .await
}

#[tokio::test]
async fn a_scrape_is_answered_before_its_timeout_and_the_refresh_serves_the_next() {
    let api = slow(Duration::from_secs(4)).await;
    let mut cfg = config(&api.url());
    cfg.request_timeout = Duration::from_secs(60);
    let exp = Exporter::start(cfg).await;
    // A scraper that gives up after 2 s, as Prometheus would, saying so.
    let resp = client()
        .get(exp.url("/metrics"))
        .header("X-Prometheus-Scrape-Timeout-Seconds", "2")
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .expect("answered within the scrape timeout");
    let out = resp.text().await.unwrap();
    assert_eq!(value(&out, "ttn_up"), Some(0.0), "{out}");
    assert!(comment(&out).unwrap().contains("did not finish"), "{out}");
    assert_eq!(value(&out, "ttn_exporter_scrape_timeouts_total"), Some(1.0));
    // The refresh went on; the next scrape gets its result.
    let out = exp.scrape().await;
    assert_eq!(value(&out, "ttn_up"), Some(1.0), "{out}");
    assert_eq!(exp.cache.refreshes(), 1, "one refresh, not restarted");
    exp.stop().await;
}

#[tokio::test]
async fn the_whole_refresh_has_one_deadline() {
    let api = slow(Duration::from_secs(3600)).await;
    let mut cfg = config(&api.url());
    cfg.request_timeout = Duration::from_secs(60);
    cfg.refresh_timeout = Duration::from_secs(1);
    let exp = Exporter::start(cfg).await;
    let resp = client()
        .get(exp.url("/metrics"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("answered before Prometheus' default scrape timeout");
    let out = resp.text().await.unwrap();
    assert_eq!(value(&out, "ttn_up"), Some(0.0), "{out}");
    assert!(comment(&out).unwrap().contains("refresh_timeout"), "{out}");
    assert_eq!(
        value(
            &out,
            "ttn_exporter_refresh_errors_total{reason=\"timeout\"}"
        ),
        Some(1.0)
    );
    exp.stop().await;
}

/// Issue 21 item 14: `check` reported OK after 19 s against an API where
/// the daemon reports a timeout. It now has the daemon's deadline,
/// `refresh_timeout`, and says so.
#[tokio::test]
async fn check_has_the_daemons_refresh_timeout() {
    let api = slow(Duration::from_secs(3600)).await;
    let mut cfg = config(&api.url());
    cfg.request_timeout = Duration::from_secs(60);
    cfg.refresh_timeout = Duration::from_secs(1);
    let targets = [ttn_exporter::config::Target {
        name: "slow".into(),
        config: cfg,
    }];
    let result = tokio::time::timeout(
        Duration::from_secs(20),
        ttn_exporter::cli::check::targets(&targets),
    )
    .await
    .expect("check ends by its deadline");
    let e = result.expect_err("a refresh timeout is a failure");
    assert!(format!("{e:#}").contains("slow"), "{e:#}");
}
