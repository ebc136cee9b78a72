//! The shipped Prometheus files in `packaging/prometheus/` and the
//! Alertmanager example in `packaging/alertmanager/`: promtool checks the
//! rules and runs their unit tests (`*_test.yml`), amtool checks the
//! Alertmanager config; the structure tests make sure every alert has a
//! severity, a summary and a description, is shown both firing and not
//! firing, and only names metrics the exporter serves, and that the
//! Alertmanager example routes, groups and inhibits as the README says.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use fake_tts::{FakeEvent, FakeGateway, Fault, Route};
use serde_yaml_ng::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus")
}

fn yaml(name: &str) -> Value {
    let p = dir().join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every rule of a rule file.
fn rules(name: &str) -> Vec<Value> {
    yaml(name)["groups"]
        .as_sequence()
        .expect("groups")
        .iter()
        .flat_map(|g| g["rules"].as_sequence().expect("rules").clone())
        .collect()
}

fn promtool(args: &[&str], cwd: &Path) -> (bool, String) {
    tool(
        Command::new("promtool").args(args).current_dir(cwd),
        "",
        "apt install prometheus",
    )
}

#[test]
#[ignore = "needs promtool (apt install prometheus)"]
fn promtool_checks_the_rules_and_the_scrape_config() {
    let (ok, said) = promtool(&["check", "rules", "alerts.yml", "rules.yml"], &dir());
    assert!(ok, "{said}");
    assert!(said.contains("SUCCESS: 11 rules found"), "{said}");
    assert!(said.contains("SUCCESS: 12 rules found"), "{said}");
    let (ok, said) = promtool(&["check", "config", "scrape.yml"], &dir());
    assert!(ok, "{said}");
}

#[test]
#[ignore = "needs promtool (apt install prometheus)"]
fn promtool_unit_tests_pass() {
    let (ok, said) = promtool(
        &[
            "test",
            "rules",
            "alerts_test.yml",
            "rules_test.yml",
            "availability_test.yml",
        ],
        &dir(),
    );
    assert!(ok, "{said}");
    assert_eq!(said.matches("SUCCESS").count(), 3, "{said}");
}

#[test]
#[ignore = "needs promtool (apt install prometheus)"]
fn the_unit_tests_notice_a_changed_threshold_or_template() {
    let tmp = tempfile::tempdir().unwrap();
    let alerts = std::fs::read_to_string(dir().join("alerts.yml")).unwrap();
    std::fs::copy(
        dir().join("alerts_test.yml"),
        tmp.path().join("alerts_test.yml"),
    )
    .unwrap();
    for (from, to) in [
        ("        for: 10m\n", "        for: 15m\n"),
        ("> 3600)", "> 7200)"),
        ("\"unauthorized\" }}401", "\"forbidden\" }}401"),
        ("Most frequent reason", "Reason"),
        (") >= 3\n", ") >= 1\n"),
        // TTNGatewayFleetDisconnected: its minimum count, share and window,
        // and its hold while still down
        (") >= 5\n", ") >= 4\n"),
        (">= 0.3\n", ">= 0.2\n"),
        ("< 86400)", "< 60)"),
        ("        for: 2m\n", "        for: 1m\n"),
        // TTNGatewayDisconnected across failed scrapes
        (
            "(last_over_time(ttn_gateway_connected[10m]) == 0)\n          *",
            "(ttn_gateway_connected == 0)\n          *",
        ),
        ("(disconnected)", "(down)"),
        // TTNGatewayDownlinkScheduleFailures: its window
        (
            "downlink_schedule_failures_total[30m])\n",
            "downlink_schedule_failures_total[10m])\n",
        ),
    ] {
        assert!(alerts.contains(from), "{from}");
        std::fs::write(tmp.path().join("alerts.yml"), alerts.replacen(from, to, 1)).unwrap();
        let (ok, said) = promtool(&["test", "rules", "alerts_test.yml"], tmp.path());
        assert!(!ok, "promtool passed with {from:?} -> {to:?}: {said}");
    }
}

#[test]
fn every_alert_is_labelled_annotated_and_tested_both_ways() {
    let alerts = rules("alerts.yml");
    assert_eq!(alerts.len(), 11);
    let tests = yaml("alerts_test.yml");
    let cases: Vec<&Value> = tests["tests"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_sequence().unwrap())
        .collect();
    for a in &alerts {
        let name = a["alert"].as_str().expect("alert name");
        let sev = a["labels"]["severity"].as_str();
        assert!(
            matches!(sev, Some("critical" | "warning")),
            "{name}: severity {sev:?}"
        );
        for k in ["summary", "description"] {
            let text = a["annotations"][k].as_str().unwrap_or("");
            assert!(!text.trim().is_empty(), "{name}: no {k}");
            let expr = a["expr"].as_str().unwrap();
            // per gateway, unless counted per exporter (the fleet alert)
            if expr.contains("ttn_gateway_") && !expr.contains("count by (job, instance)") {
                assert!(
                    text.contains("{{ $labels.gateway_id }}"),
                    "{name}: {k} does not name the gateway"
                );
            } else {
                assert!(text.contains("{{ $labels.instance }}"), "{name}: {k}");
            }
        }
        let mine: Vec<&&Value> = cases
            .iter()
            .filter(|c| c["alertname"].as_str() == Some(name))
            .collect();
        let fired = |c: &&&Value| c["exp_alerts"].as_sequence().is_some_and(|s| !s.is_empty());
        assert!(mine.iter().any(fired), "{name} is never shown firing");
        assert!(
            mine.iter().any(|c| !fired(c)),
            "{name} is never shown not firing"
        );
    }
}

#[test]
fn every_recording_rule_is_tested_and_well_named() {
    let recorded = rules("rules.yml");
    let files = [yaml("rules_test.yml"), yaml("availability_test.yml")];
    // the recorded names the tests' expressions read, where a sample is expected
    let tested: BTreeSet<String> = files
        .iter()
        .flat_map(|f| f["tests"].as_sequence().unwrap())
        .flat_map(|t| t["promql_expr_test"].as_sequence().unwrap())
        .filter(|c| {
            c["exp_samples"]
                .as_sequence()
                .is_some_and(|s| !s.is_empty())
        })
        .filter_map(|c| c["expr"].as_str())
        .flat_map(recorded_names)
        .collect();
    for r in &recorded {
        let name = r["record"].as_str().expect("record name");
        // level:metric:operations
        let parts: Vec<&str> = name.split(':').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert!(parts[1].starts_with("ttn_"), "{name}");
        assert!(
            !parts[1].ends_with("_total"),
            "{name}: drop _total after rate"
        );
        assert!(tested.contains(name), "{name} has no unit test");
    }
}

/// `ttn_*` metric names in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    words(expr)
        .into_iter()
        .filter(|w| w.starts_with("ttn_"))
        .collect()
}

/// Recorded (`level:metric:operations`) names in a PromQL expression.
fn recorded_names(expr: &str) -> BTreeSet<String> {
    words(expr)
        .into_iter()
        .filter(|w| w.matches(':').count() == 2)
        .collect()
}

/// The identifiers of a PromQL expression.
fn words(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = expr.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b':';
    let mut i = 0;
    while i < b.len() {
        if word(b[i]) && (i == 0 || !word(b[i - 1])) {
            let start = i;
            while i < b.len() && word(b[i]) {
                i += 1;
            }
            out.insert(expr[start..i].to_owned());
        } else {
            i += 1;
        }
    }
    out
}

#[tokio::test]
async fn the_rules_only_name_metrics_the_exporter_serves() {
    let fake = fake((0..12).map(FakeGateway::synthetic).collect()).await;
    let exp = Exporter::start(config(&fake.url())).await;
    let mut served = exp.scrape().await;
    exp.stop().await;
    // ttn_exporter_refresh_errors_total is served from the start; a failure
    // shows the rest of the health families.
    // The events families (`events = true`): an uplink and a failed and a
    // successful downlink, and one the Gateway Server could not schedule.
    let mut cfg = config(&fake.url());
    cfg.events = true;
    let exp = Exporter::start(cfg.clone()).await;
    let t = 1_700_000_000_000_000_000;
    let _events = exp
        .stream_events(
            &cfg,
            &fake,
            vec![
                FakeEvent::uplink("gw-000000", "u1", t, -100.0, 5.0, 7, 20),
                FakeEvent::tx_success("gw-000000", "t1", t + 1),
                FakeEvent::tx_fail("gw-000000", "t2", t + 2, "TOO_LATE"),
                FakeEvent::schedule_fail("gw-000000", "s1", t + 3, "too_late", "duty_cycle"),
            ],
        )
        .await;
    served.push_str(&exp.scrape().await);
    exp.stop().await;
    fake.set_fault(Route::ListGateways, Some(Fault::status(401)));
    let exp = Exporter::start(config(&fake.url())).await;
    served.push_str(&exp.scrape().await);
    exp.stop().await;
    let mut names = BTreeSet::new();
    for r in rules("alerts.yml").iter().chain(&rules("rules.yml")) {
        names.extend(metric_names(r["expr"].as_str().unwrap()));
    }
    assert!(names.len() >= 10, "{names:?}");
    for n in &names {
        assert!(
            !series(&served, n).is_empty(),
            "{n} is in the rules but not in the exporter's output"
        );
    }
}
