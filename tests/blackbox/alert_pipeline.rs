//! The proof of issue 20: the shipped `alerts.yml` and Alertmanager example,
//! every duration scaled down 60 times (a minute becomes a second), through
//! a real Prometheus scraping the exporter (in-process, against the fake
//! TTS) and a real Alertmanager whose receivers are replaced by a webhook
//! this test serves and counts. On a scripted timeline it counts the
//! notifications exactly: one firing and one resolved per real outage,
//! nothing for failed refreshes inside it, one fleet notification (and its
//! resolved) and none per gateway when most of the fleet drops at once.
//! Wall time: about 85 s (most of it the scaled `for:` and group intervals).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::alertmanager;
use crate::common::*;
use crate::process::free_port;
use crate::prometheus_server::Prometheus;
use fake_tts::{FakeGateway, FakeTts, Fault, Route};

/// Number of gateways of the fake fleet.
const FLEET: usize = 10;
/// How many of them drop at once in the fleet outage (at least the fleet
/// alert's 5 and its share of 0.3).
const FLEET_DROP: usize = 8;

/// A duration of the shipped files ("10m", "30s", "6h") in seconds.
fn seconds(d: &str) -> u64 {
    let (n, unit) = d.split_at(d.len() - 1);
    let n: u64 = n.parse().unwrap_or_else(|_| panic!("duration {d:?}"));
    n * match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => panic!("duration {d:?}"),
    }
}

/// `text` with every `for: <d>` and `[<d>]` divided by 60: minutes become
/// seconds.
fn scale_rules(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut l = line.to_owned();
        if let Some(d) = l.trim_start().strip_prefix("for: ") {
            let indent = &l[..l.len() - l.trim_start().len()];
            l = format!("{indent}for: {}s", seconds(d) / 60);
        }
        // range selectors
        let mut scaled = String::new();
        let mut rest = l.as_str();
        while let Some(i) = rest.find('[') {
            let Some(j) = rest[i..].find(']') else { break };
            let d = &rest[i + 1..i + j];
            scaled.push_str(&rest[..i]);
            if d.ends_with(['s', 'm', 'h', 'd'])
                && d[..d.len() - 1].bytes().all(|b| b.is_ascii_digit())
            {
                scaled.push_str(&format!("[{}s]", seconds(d) / 60));
            } else {
                scaled.push_str(&rest[i..=i + j]);
            }
            rest = &rest[i + j + 1..];
        }
        scaled.push_str(rest);
        out.push_str(&scaled);
        out.push('\n');
    }
    out
}

/// The shipped alertmanager.yml with its route's waits and intervals divided
/// by 60, and every receiver replaced by a webhook to `url`.
fn scale_alertmanager(url: &str) -> String {
    let text = alertmanager::with_source_template(&alertmanager::shipped_text());
    let mut am: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    for k in ["group_wait", "group_interval", "repeat_interval"] {
        let d = am["route"][k]
            .as_str()
            .unwrap_or_else(|| panic!("route.{k}"));
        am["route"][k] = format!("{}ms", seconds(d) * 1000 / 60).into();
    }
    // the shipped receivers mail both ways; the webhooks must too
    for r in am["receivers"].as_sequence_mut().unwrap() {
        let email = r["email_configs"].as_sequence().expect("email_configs");
        assert!(email.iter().all(|m| m["send_resolved"] == true));
        let name = r["name"].clone();
        *r = serde_yaml_ng::from_str(&format!(
            "name: {}\nwebhook_configs:\n  - url: {url}\n    send_resolved: true\n",
            name.as_str().unwrap()
        ))
        .unwrap();
    }
    am.as_mapping_mut().unwrap().remove("global");
    serde_yaml_ng::to_string(&am).unwrap()
}

/// The notifications received: (alertname, gateway_id or "", status) and
/// the whole payload.
type Received = Arc<Mutex<Vec<((String, String, String), Value)>>>;

/// A webhook on 127.0.0.1 that records every notification; its URL.
async fn webhook(received: Received) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((conn, _)) = listener.accept().await else {
                return;
            };
            let received = received.clone();
            tokio::spawn(async move {
                let mut conn = BufReader::new(conn);
                // one request after another on a keep-alive connection
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let l = line.trim_end();
                        if l.is_empty() {
                            break;
                        }
                        if let Some((k, v)) = l.split_once(':') {
                            if k.eq_ignore_ascii_case("content-length") {
                                len = v.trim().parse().unwrap_or(0);
                            }
                        }
                    }
                    let mut body = vec![0; len];
                    if conn.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    let v: Value = serde_json::from_slice(&body).expect("webhook JSON");
                    let key = (
                        v["groupLabels"]["alertname"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                        v["groupLabels"]["gateway_id"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                        v["status"].as_str().unwrap_or("").to_owned(),
                    );
                    received.lock().unwrap().push((key, v));
                    let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
                    if conn.get_mut().write_all(ok).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    url
}

/// A real Alertmanager (Debian's `prometheus-alertmanager`) on 127.0.0.1,
/// clustering off; killed on drop.
struct Alertmanager {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    fn start(config: &str) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("alertmanager.yml");
        std::fs::write(&cfg, config).unwrap();
        let port = free_port();
        let child = std::process::Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager not found: apt install prometheus-alertmanager");
        Alertmanager {
            child,
            port,
            _dir: dir,
        }
    }
}

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i128
}

/// Gateway `i` of the test fleet: connected (since the test began) or
/// disconnected at `since`, heard from at `seen` (fresh, so that the
/// silent and not-heard-from alerts stay quiet).
fn gateway(i: usize, connected: bool, since: i128, seen: i128) -> FakeGateway {
    let mut g = FakeGateway::new(&format!("gw-alert-{i}"));
    g.name = Some(format!("Site {i}"));
    g.eui = Some(format!("{:016X}", 0x58A0_CBFF_FE10_0000_u64 + i as u64));
    g.frequency_plan_ids = vec!["EU_863_870_TTN".to_owned()];
    let at = fake_tts::rfc3339_nanos(since);
    let seen = fake_tts::rfc3339_nanos(seen);
    g.stats = Some(if connected {
        serde_json::json!({
            "connected_at": at, "protocol": "udp",
            "last_uplink_received_at": seen, "uplink_count": "10"
        })
    } else {
        serde_json::json!({
            "disconnected_at": at, "protocol": "udp",
            "last_uplink_received_at": seen, "uplink_count": "10"
        })
    });
    g
}

/// The fleet with the gateways in `down` disconnected (at `down_at`).
fn fleet(start: i128, down: &[usize], down_at: i128) -> Vec<FakeGateway> {
    (0..FLEET)
        .map(|i| {
            if down.contains(&i) {
                gateway(i, false, down_at, down_at)
            } else {
                gateway(i, true, start, now_nanos())
            }
        })
        .collect()
}

/// How many notifications of each (alertname, gateway_id, status).
fn counts(received: &Received) -> BTreeMap<(String, String, String), usize> {
    let mut out = BTreeMap::new();
    for (k, _) in received.lock().unwrap().iter() {
        *out.entry(k.clone()).or_default() += 1;
    }
    out
}

fn key(alert: &str, gw: &str, status: &str) -> (String, String, String) {
    (alert.to_owned(), gw.to_owned(), status.to_owned())
}

/// Polls `what` every 200 ms until it holds or `secs` pass; whether it held.
async fn until(secs: u64, mut what: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    what()
}

/// The sum of `ttn_exporter_refresh_errors_total` over its reasons.
async fn refresh_errors(exp: &Exporter) -> f64 {
    let text = exp.scrape().await;
    series(&text, "ttn_exporter_refresh_errors_total")
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn set_fleet(fake: &FakeTts, start: i128, down: &[usize]) {
    fake.set_gateways(fleet(start, down, now_nanos()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus and prometheus-alertmanager (apt install prometheus prometheus-alertmanager)"]
async fn one_notification_per_real_outage_through_prometheus_and_alertmanager() {
    let t0 = Instant::now();
    let start = now_nanos();
    let fake = fake(fleet(start, &[], start)).await;
    let mut cfg = config(&fake.url());
    // every scrape (each second) refreshes
    cfg.cache_ttl = Duration::from_millis(200);
    let exp = Exporter::start(cfg).await;

    let received: Received = Arc::default();
    let hook = webhook(received.clone()).await;
    let am = Alertmanager::start(&scale_alertmanager(&hook));

    let tmp = tempfile::tempdir().unwrap();
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus");
    let alerts = std::fs::read_to_string(shipped.join("alerts.yml")).unwrap();
    let rules_file = tmp.path().join("alerts.yml");
    std::fs::write(&rules_file, scale_rules(&alerts)).unwrap();
    let prom = Prometheus::start(&format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         rule_files:\n  - {}\n\
         alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['127.0.0.1:{}']\n\
         scrape_configs:\n  - job_name: ttn\n    static_configs:\n      - targets: ['{}']\n",
        rules_file.display(),
        am.port,
        exp.addr
    ));

    // Ready: the whole fleet connected in Prometheus for longer than the
    // scaled 10m window, and the Alertmanager known to Prometheus.
    let mut ready = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let up = prom.number("count(ttn_gateway_connected == 1)").await;
        let scrapes = prom.number("count_over_time(ttn_up[15s])").await;
        let ams = prom.api("/api/v1/alertmanagers", &[]).await.ok();
        let known = ams
            .and_then(|v| v.pointer("/data/activeAlertmanagers/0/url").cloned())
            .is_some();
        if up == Some(FLEET as f64) && scrapes.is_some_and(|n| n >= 12.0) && known {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        ready,
        "prometheus did not see the fleet or the alertmanager"
    );
    let rules = prom.api("/api/v1/rules", &[]).await.unwrap();
    let loaded = rules.to_string();
    assert!(
        loaded.contains("TTNGatewayFleetDisconnected") && loaded.contains("\"health\":\"ok\""),
        "{loaded}"
    );
    assert!(counts(&received).is_empty(), "{:?}", counts(&received));

    // 1. gw-alert-0 goes down: one firing, after the scaled 10m.
    set_fleet(&fake, start, &[0]);
    let firing = key("TTNGatewayDisconnected", "gw-alert-0", "firing");
    assert!(
        until(60, || counts(&received).contains_key(&firing)).await,
        "no firing notification: {:?}",
        counts(&received)
    );
    let payload = received.lock().unwrap()[0].1.clone();
    let a = &payload["alerts"][0];
    assert_eq!(a["labels"]["name"], "Site 0");
    assert_eq!(a["labels"]["instance"], exp.addr.to_string());
    assert!(
        a["annotations"]["down_since"]
            .as_str()
            .is_some_and(|s| s.ends_with("(disconnected)")),
        "{a}"
    );
    // The mail of this very notification names the gateway, since when it
    // is down and its exporter.
    let (subject, text) = alertmanager::render(&payload);
    assert_eq!(
        subject.trim(),
        format!(
            "[FIRING] TTNGatewayDisconnected: Site 0 (gw-alert-0) on {}",
            exp.addr
        )
    );
    assert!(text.contains("Gateway:     Site 0 (gw-alert-0)"), "{text}");
    assert!(text.contains("Down since:  "), "{text}");
    assert!(
        text.contains(&format!("Exporter:    {} (job ttn)", exp.addr)),
        "{text}"
    );

    // 2. Inside the outage, the API fails (503) for 2.5 s, shorter than the
    // scaled 5m of TTNApiDown: several failed refreshes, no notification,
    // neither a resolved nor a second firing once the scaled 10m passed again.
    let errors_before = refresh_errors(&exp).await;
    fake.set_fault(Route::ListGateways, Some(Fault::status(503)));
    let blip = Instant::now();
    let mut stale_served = 0;
    while blip.elapsed() < Duration::from_millis(2500) {
        let text = exp.scrape().await;
        // keep_stale_for: ttn_up 0, and the last good gateway series
        if value(&text, "ttn_up") == Some(0.0) {
            assert_eq!(
                series(&text, "ttn_gateway_connected").len(),
                FLEET,
                "{text}"
            );
            stale_served += 1;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    fake.set_fault(Route::ListGateways, None);
    let failed = refresh_errors(&exp).await - errors_before;
    assert!(failed >= 4.0, "only {failed} failed refreshes");
    assert!(stale_served >= 4, "{stale_served} scrapes with ttn_up 0");
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after_blip = counts(&received);
    assert_eq!(
        after_blip,
        BTreeMap::from([(firing.clone(), 1)]),
        "the failed refreshes changed the notifications"
    );

    // 3. The gateway comes back: one resolved.
    set_fleet(&fake, start, &[]);
    let resolved = key("TTNGatewayDisconnected", "gw-alert-0", "resolved");
    assert!(
        until(30, || counts(&received).contains_key(&resolved)).await,
        "no resolved notification: {:?}",
        counts(&received)
    );

    // 4. Most of the fleet drops at once: one fleet notification, and after
    // the scaled 10m of the per-gateway alerts (and past the fleet alert's
    // 10m window, so that its hold keeps it firing), none per gateway.
    let down: Vec<usize> = (1..=FLEET_DROP).collect();
    set_fleet(&fake, start, &down);
    let fleet_firing = key("TTNGatewayFleetDisconnected", "", "firing");
    assert!(
        until(30, || counts(&received).contains_key(&fleet_firing)).await,
        "no fleet notification: {:?}",
        counts(&received)
    );
    let fleet_payload = received
        .lock()
        .unwrap()
        .iter()
        .find(|(k, _)| k == &fleet_firing)
        .map(|(_, v)| v.clone())
        .unwrap();
    assert_eq!(
        fleet_payload["alerts"][0]["annotations"]["summary"],
        format!(
            "{FLEET_DROP} gateways of ttn-exporter {} lost at once",
            exp.addr
        )
    );
    // The per-gateway alerts fire in Prometheus (and are muted in
    // Alertmanager) while the fleet alert holds.
    tokio::time::sleep(Duration::from_secs(16)).await;
    let firing_in_prometheus = prom
        .number("count(ALERTS{alertname=\"TTNGatewayDisconnected\",alertstate=\"firing\"})")
        .await;
    assert_eq!(firing_in_prometheus, Some(FLEET_DROP as f64));
    assert_eq!(
        prom.number(
            "count(ALERTS{alertname=\"TTNGatewayFleetDisconnected\",alertstate=\"firing\"})"
        )
        .await,
        Some(1.0)
    );

    // 5. The fleet comes back: the fleet alert's resolved, nothing per gateway.
    set_fleet(&fake, start, &[]);
    let fleet_resolved = key("TTNGatewayFleetDisconnected", "", "resolved");
    assert!(
        until(30, || counts(&received).contains_key(&fleet_resolved)).await,
        "no fleet resolved notification: {:?}",
        counts(&received)
    );
    // two scaled group intervals for any late per-gateway notification
    tokio::time::sleep(Duration::from_secs(12)).await;

    // 6. A gateway that stays down past the server's retention (48 h,
    // shortened here to 3 s): when its alert fires the Gateway Server
    // answers 404 for it, and "since when" comes from the exporter's memory
    // of the disconnect, in down_since and in the series.
    fake.set_stats_retention(Some(Duration::from_secs(3)));
    let gone_at = now_nanos();
    fake.set_gateways(
        (0..FLEET)
            .map(|i| {
                if i == FLEET - 1 {
                    gateway(i, false, gone_at, gone_at)
                } else {
                    gateway(i, true, start, now_nanos())
                }
            })
            .collect(),
    );
    let last = format!("gw-alert-{}", FLEET - 1);
    let long_firing = key("TTNGatewayDisconnected", &last, "firing");
    assert!(
        until(60, || counts(&received).contains_key(&long_firing)).await,
        "no firing notification for {last}: {:?}",
        counts(&received)
    );
    let text = exp.scrape().await;
    assert!(
        !text.contains(&format!(
            "ttn_gateway_uplink_messages_total{{gateway_id=\"{last}\"}}"
        )),
        "the fake still serves its record: {text}"
    );
    let since = gone_at as f64 / 1e9;
    let shown = value(
        &text,
        &format!("ttn_gateway_disconnected_timestamp_seconds{{gateway_id=\"{last}\"}}"),
    )
    .expect("remembered disconnect time");
    assert!((shown - since).abs() < 1e-3, "{shown} vs {since}");
    let payload = received
        .lock()
        .unwrap()
        .iter()
        .find(|(k, _)| k == &long_firing)
        .map(|(_, v)| v.clone())
        .unwrap();
    let down_since = payload["alerts"][0]["annotations"]["down_since"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(down_since.ends_with("(disconnected)"), "{down_since}");

    // Exactly: one firing and one resolved for the outage, one firing and
    // one resolved for the fleet, one firing for the long outage, nothing else (no TTNApiDown, no
    // per-gateway mail under the fleet alert, no reminder).
    let expected = BTreeMap::from([
        (firing, 1),
        (resolved, 1),
        (fleet_firing, 1),
        (fleet_resolved, 1),
        (long_firing, 1),
    ]);
    assert_eq!(counts(&received), expected);
    eprintln!("alert pipeline timeline: {:.0?}", t0.elapsed());
    drop(prom);
    drop(am);
    exp.stop().await;
}

#[test]
fn the_scaling_turns_minutes_into_seconds() {
    assert_eq!(
        scale_rules("  for: 10m\n  expr: max_over_time(x[10m]) and y[1h] and z[5m:1m]\n"),
        "  for: 10s\n  expr: max_over_time(x[10s]) and y[60s] and z[5m:1m]\n"
    );
    let am = scale_alertmanager("http://127.0.0.1:1/hook");
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&am).unwrap();
    assert_eq!(v["route"]["group_wait"].as_str(), Some("500ms"));
    assert_eq!(v["route"]["group_interval"].as_str(), Some("5000ms"));
    assert_eq!(v["route"]["repeat_interval"].as_str(), Some("360000ms"));
    assert_eq!(v["inhibit_rules"][0]["equal"][0].as_str(), Some("job"));
    for r in v["receivers"].as_sequence().unwrap() {
        assert_eq!(
            r["webhook_configs"][0]["url"].as_str(),
            Some("http://127.0.0.1:1/hook")
        );
        assert!(r.get("email_configs").is_none());
    }
}
