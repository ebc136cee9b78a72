//! The Grafana dashboard `packaging/grafana/ttn-gateways.json`: its structure
//! (Grafana itself is not installable here), and every panel query evaluated
//! by a real Prometheus that scrapes the exporter against the fake TTS.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::*;
use crate::prometheus_server::Prometheus;
use fake_tts::{FakeEvent, FakeGateway};
use serde_json::Value;

fn dashboard() -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/grafana/ttn-gateways.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()))
}

/// Every panel, rows' nested panels included.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        if let Some(nested) = p["panels"].as_array() {
            out.extend(nested);
        }
    }
    out
}

/// The panels that show data: (title, [(refId, expr)]).
fn queries(d: &Value) -> Vec<(String, Vec<(String, String)>)> {
    panels(d)
        .into_iter()
        .filter(|p| p["type"] != "row")
        .map(|p| {
            let title = p["title"].as_str().unwrap_or("").to_owned();
            let targets = p["targets"]
                .as_array()
                .unwrap_or_else(|| panic!("panel {title:?} has no targets"))
                .iter()
                .map(|t| {
                    (
                        t["refId"].as_str().unwrap_or("").to_owned(),
                        t["expr"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            (title, targets)
        })
        .collect()
}

/// Every `datasource` object anywhere in the dashboard.
fn datasources(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "datasource" {
                    out.push(x.clone());
                }
                datasources(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| datasources(x, out)),
        _ => {}
    }
}

#[test]
fn structure() {
    let d = dashboard();
    let schema = d["schemaVersion"].as_u64().expect("schemaVersion");
    assert!(schema >= 36, "schemaVersion {schema} is too old");
    assert!(d["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(d["uid"].as_str().is_some_and(|t| !t.is_empty()));
    // Unique panel ids, rows included.
    let mut ids = HashSet::new();
    for p in panels(&d) {
        let id = p["id"].as_u64().expect("panel id");
        assert!(ids.insert(id), "panel id {id} used twice");
        assert!(p["gridPos"]["w"].as_u64().is_some(), "{id}: no gridPos");
    }
    // The datasource variable, and the gateway variable that uses it.
    let vars = d["templating"]["list"].as_array().expect("templating");
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let gw = vars
        .iter()
        .find(|v| v["name"] == "gateway")
        .expect("a gateway variable");
    assert_eq!(gw["datasource"]["uid"], "${datasource}");
    assert_eq!(gw["allValue"], ".*");
    // No hard-coded datasource: every reference is the variable.
    let mut all = Vec::new();
    datasources(&d, &mut all);
    assert!(all.len() > 20, "{}", all.len());
    for x in &all {
        assert_eq!(x["uid"], "${datasource}", "hard-coded datasource {x}");
        assert_eq!(x["type"], "prometheus", "{x}");
    }
    // Every panel has queries, and every query an expression.
    let qs = queries(&d);
    assert!(qs.len() >= 20, "{}", qs.len());
    for (title, targets) in &qs {
        assert!(!targets.is_empty(), "{title}: no targets");
        let mut refs = HashSet::new();
        for (r, expr) in targets {
            assert!(!expr.trim().is_empty(), "{title}: empty expr");
            assert!(
                refs.insert(r.clone()) && !r.is_empty(),
                "{title}: refId {r:?}"
            );
        }
    }
    // Drill-down: gateway panels filter by the variable.
    let filtered = qs
        .iter()
        .flat_map(|(_, t)| t)
        .filter(|(_, e)| e.contains("gateway_id=~\"$gateway\""))
        .count();
    assert!(filtered >= 15, "{filtered}");
}

#[test]
fn the_map_joins_location_and_connected_state() {
    let d = dashboard();
    let geo = panels(&d)
        .into_iter()
        .find(|p| p["type"] == "geomap")
        .expect("a geomap panel");
    let expr = |r: &str| {
        geo["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["refId"] == r)
            .and_then(|t| t["expr"].as_str())
            .unwrap_or("")
            .to_owned()
    };
    assert!(expr("A").contains("ttn_gateway_location_latitude_degrees"));
    assert!(expr("B").contains("ttn_gateway_location_longitude_degrees"));
    assert!(expr("C").contains("ttn_gateway_connected"));
    let join = &geo["transformations"][0];
    assert_eq!(join["id"], "joinByField");
    assert_eq!(join["options"]["byField"], "gateway_id");
    let renamed = &geo["transformations"][1]["options"]["renameByName"];
    let layer = &geo["options"]["layers"][0];
    assert_eq!(layer["location"]["mode"], "coords");
    assert_eq!(renamed["Value #A"], layer["location"]["latitude"]);
    assert_eq!(renamed["Value #B"], layer["location"]["longitude"]);
    assert_eq!(
        renamed["Value #C"],
        layer["config"]["style"]["color"]["field"]
    );
    // Red below 1 (not connected), green at 1.
    let steps = &geo["fieldConfig"]["defaults"]["thresholds"]["steps"];
    assert_eq!(steps[0]["color"], "red");
    assert_eq!(
        (steps[1]["color"].as_str(), steps[1]["value"].as_f64()),
        (Some("green"), Some(1.0))
    );
}

#[test]
fn the_radio_panels_read_the_events_families() {
    let d = dashboard();
    let heatmaps: Vec<&Value> = panels(&d)
        .into_iter()
        .filter(|p| p["type"] == "heatmap")
        .collect();
    for family in ["ttn_gateway_uplink_rssi_dbm", "ttn_gateway_uplink_snr_db"] {
        let p = heatmaps
            .iter()
            .find(|p| {
                p["targets"][0]["expr"]
                    .as_str()
                    .is_some_and(|e| e.contains(&format!("{family}_bucket")))
            })
            .unwrap_or_else(|| panic!("no heatmap of {family}"));
        let t = &p["targets"][0];
        // Grafana reads the `le` buckets as they are, not recalculated.
        assert_eq!(t["format"], "heatmap", "{family}");
        assert_eq!(t["legendFormat"], "{{le}}", "{family}");
        assert!(t["expr"].as_str().unwrap().contains("sum by (le)"));
        assert_eq!(p["options"]["calculate"], false, "{family}");
    }
    let exprs: Vec<String> = queries(&d)
        .into_iter()
        .flat_map(|(_, t)| t.into_iter().map(|(_, e)| e))
        .collect();
    for needle in [
        "sum by (spreading_factor) (rate(ttn_gateway_uplinks_received_total",
        "sum by (result) (rate(ttn_gateway_downlink_tx_total",
    ] {
        assert!(exprs.iter().any(|e| e.contains(needle)), "{needle}");
    }
}

/// The query with Grafana's variables replaced.
fn substitute(expr: &str, gateway: &str) -> String {
    expr.replace("$__rate_interval", "10s")
        .replace("$__interval", "10s")
        .replace("${gateway}", gateway)
        .replace("$gateway", gateway)
}

#[test]
fn only_known_variables_are_used() {
    for (title, targets) in queries(&dashboard()) {
        for (_, e) in targets {
            let s = substitute(&e, ".*");
            assert!(!s.contains('$'), "{title}: unknown variable in {s}");
        }
    }
}

/// Panels that may legitimately be empty when all gateways are shown.
/// None today: the fake has connected and offline gateways, locations,
/// versions, sub-bands, round trips and status messages, the refresh
/// error counters exist from the start, and the test streams events.
const MAY_BE_EMPTY: [&str; 0] = [];

/// For one connected Basics Station gateway (`gw-000001`), the panels that
/// are empty and why.
const EMPTY_FOR_GW1: [&str; 4] = [
    // it is connected
    "Offline gateways",
    // Basics Station gateways send no status messages
    "Status message counters",
    "Temperature and acknowledged uplinks",
    "Gateway clock offset",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus (apt install prometheus)"]
async fn every_panel_query_returns_data_from_a_real_prometheus() {
    const N: usize = 16;
    let fake = fake((0..N).map(FakeGateway::synthetic).collect()).await;
    let mut cfg = config(&fake.url());
    cfg.events = true;
    let exp = Exporter::start(cfg.clone()).await;
    // The radio panels' data (`events = true`): uplinks of every gateway at
    // varied RSSI, SNR and SF, a successful and a failed downlink each, and a downlink the Gateway
    // Server could not schedule.
    let t = 1_700_000_000_000_000_000;
    let mut evs: Vec<FakeEvent> = (0..4 * N).map(|n| FakeEvent::synthetic(n, N)).collect();
    for g in 0..N {
        let id = format!("gw-{g:06}");
        evs.push(FakeEvent::tx_success(&id, &format!("s{g}"), t + g as i128));
        evs.push(FakeEvent::tx_fail(
            &id,
            &format!("f{g}"),
            t + g as i128,
            "TOO_LATE",
        ));
        evs.push(FakeEvent::schedule_fail(
            &id,
            &format!("d{g}"),
            t + g as i128,
            "too_late",
            "duty_cycle",
        ));
    }
    let _events = exp.stream_events(&cfg, &fake, evs).await;
    let prom = Prometheus::scraping(exp.addr);
    // Enough scrapes for rate() over the 10s that replaces $__rate_interval.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = (None, None);
    while Instant::now() < deadline {
        seen = (
            prom.number("count(ttn_gateway_connected)").await,
            prom.number("count_over_time(ttn_up[10s])").await,
        );
        if seen.0 == Some(N as f64) && seen.1.is_some_and(|c| c >= 6.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(
        seen.0 == Some(N as f64) && seen.1.is_some_and(|c| c >= 6.0),
        "prometheus did not collect enough scrapes: {seen:?}"
    );

    let d = dashboard();
    let mut empty = BTreeSet::new();
    let mut errors = Vec::new();
    let mut evaluated = 0;
    for (title, targets) in queries(&d) {
        for (r, expr) in &targets {
            let q = substitute(expr, ".*");
            match prom.query(&q).await {
                Ok(v) if v.is_empty() => {
                    empty.insert(format!("{title} {r}"));
                }
                Ok(_) => {}
                Err(e) => errors.push(format!("{title} {r}: {q}: {e}")),
            }
            evaluated += 1;
        }
    }
    assert!(evaluated >= 30, "{evaluated}");
    assert!(errors.is_empty(), "{errors:#?}");
    let unexpected: Vec<&String> = empty
        .iter()
        .filter(|e| !MAY_BE_EMPTY.iter().any(|t| e.starts_with(t)))
        .collect();
    assert!(unexpected.is_empty(), "empty: {unexpected:#?}");

    // Drill-down on one gateway: no errors; empty only where documented.
    let mut empty_titles = BTreeSet::new();
    for (title, targets) in queries(&d) {
        let mut any = false;
        for (r, expr) in &targets {
            let q = substitute(expr, "gw-000001");
            let v = prom
                .query(&q)
                .await
                .unwrap_or_else(|e| panic!("{title} {r}: {q}: {e}"));
            any |= !v.is_empty();
        }
        if !any {
            empty_titles.insert(title);
        }
    }
    let expected: BTreeSet<String> = EMPTY_FOR_GW1.iter().map(|s| s.to_string()).collect();
    assert_eq!(empty_titles, expected);

    // The map's data: 14 located gateways (2 and 10 have an antenna without a
    // location), all of which the connected-state query covers for the join.
    let geo = panels(&d)
        .into_iter()
        .find(|p| p["type"] == "geomap")
        .unwrap()
        .clone();
    let ids = |v: Vec<Value>| -> BTreeSet<String> {
        v.iter()
            .map(|s| s["metric"]["gateway_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let t = |i: usize| substitute(geo["targets"][i]["expr"].as_str().unwrap(), ".*");
    let lat = ids(prom.query(&t(0)).await.unwrap());
    let lon = ids(prom.query(&t(1)).await.unwrap());
    let connected = ids(prom.query(&t(2)).await.unwrap());
    assert_eq!(lat.len(), N - 2, "{lat:?}");
    assert_eq!(lat, lon);
    assert!(lat.is_subset(&connected));
    assert!(!lat.contains("gw-000002") && !lat.contains("gw-000010"));
    // The gateway variable's values (Grafana's label_values()).
    let r = prom
        .api(
            "/api/v1/label/gateway_id/values",
            &[("match[]", "ttn_gateway_info")],
        )
        .await
        .unwrap();
    assert_eq!(r["data"].as_array().map(Vec::len), Some(N));
    exp.stop().await;
}

#[test]
fn the_availability_panel_reads_the_recording_rules_with_a_fallback() {
    let d = dashboard();
    let p = panels(&d)
        .into_iter()
        .find(|p| p["title"] == "Least available gateways")
        .expect("an availability panel");
    assert_eq!(p["fieldConfig"]["defaults"]["unit"], "percentunit");
    let targets = p["targets"].as_array().unwrap();
    for (t, window) in targets.iter().zip(["1d", "7d", "30d"]) {
        let e = t["expr"].as_str().unwrap();
        // the rule of rules.yml, else the same from the raw series
        assert!(e.starts_with("bottomk(10, "), "{e}");
        assert!(
            e.contains(&format!(
                "gateway_id:ttn_gateway_connected:avg_over_time_{window}{{gateway_id=~\"$gateway\"}} or on (job, instance, gateway_id) avg_over_time(ttn_gateway_connected{{gateway_id=~\"$gateway\"}}[{window}])"
            )),
            "{e}"
        );
        assert_eq!(t["instant"], true);
    }
    assert_eq!(targets.len(), 3);
}
