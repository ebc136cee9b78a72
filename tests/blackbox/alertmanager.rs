//! The Alertmanager example `packaging/alertmanager/alertmanager.yml` and
//! its mail template `ttn.tmpl`: routed, grouped, repeated and inhibited as
//! the README says, `amtool check-config` clean, and the template renders a
//! notification naming the gateway, since when it is down and its exporter.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::tool;
use serde_yaml_ng::Value;

/// `packaging/alertmanager/`.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/alertmanager")
}

/// Where the package installs the template (alertmanager.yml's `templates`).
pub const INSTALLED_TEMPLATE: &str = "/usr/share/ttn-exporter/alertmanager/ttn.tmpl";

/// The shipped alertmanager.yml as text.
pub fn shipped_text() -> String {
    std::fs::read_to_string(dir().join("alertmanager.yml")).expect("alertmanager.yml")
}

/// The shipped alertmanager.yml with `templates` pointing into the source
/// tree (the package's path does not exist here).
pub fn with_source_template(text: &str) -> String {
    assert!(text.contains(INSTALLED_TEMPLATE));
    text.replace(
        INSTALLED_TEMPLATE,
        &dir().join("ttn.tmpl").display().to_string(),
    )
}

fn shipped() -> Value {
    serde_yaml_ng::from_str(&shipped_text()).expect("alertmanager.yml is YAML")
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .map(|s| s.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The alert names of the shipped alerts.yml.
fn alert_names() -> Vec<String> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/prometheus/alerts.yml");
    let v: Value = serde_yaml_ng::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
    v["groups"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_sequence().unwrap().clone())
        .filter_map(|r| r["alert"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn routes_by_severity_groups_by_gateway_and_reminds_every_6h() {
    let am = shipped();
    let route = &am["route"];
    assert_eq!(strings(&route["group_by"]), ["alertname", "gateway_id"]);
    assert_eq!(route["repeat_interval"].as_str(), Some("6h"));
    let receivers: Vec<&str> = am["receivers"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(receivers.contains(&route["receiver"].as_str().unwrap()));
    let routes = route["routes"].as_sequence().expect("routes");
    for sev in ["critical", "warning"] {
        let r = routes
            .iter()
            .find(|r| strings(&r["matchers"]) == [format!("severity=\"{sev}\"")])
            .unwrap_or_else(|| panic!("no route for severity {sev}"));
        assert!(
            receivers.contains(&r["receiver"].as_str().unwrap()),
            "{sev}"
        );
    }
    // Every receiver mails both the firing and the resolved notification,
    // with the template's subject and text.
    for r in am["receivers"].as_sequence().unwrap() {
        let mails = r["email_configs"].as_sequence().expect("email_configs");
        for m in mails {
            assert_eq!(m["send_resolved"].as_bool(), Some(true), "{r:?}");
            assert!(m["to"].as_str().is_some_and(|t| t.contains('@')));
            assert_eq!(
                m["headers"]["Subject"].as_str(),
                Some("{{ template \"ttn.subject\" . }}")
            );
            assert_eq!(m["text"].as_str(), Some("{{ template \"ttn.text\" . }}"));
        }
    }
    assert_eq!(strings(&am["templates"]), [INSTALLED_TEMPLATE]);
}

#[test]
fn the_fleet_alert_mutes_the_gateway_alerts_of_its_exporter() {
    let am = shipped();
    let rules = am["inhibit_rules"].as_sequence().expect("inhibit_rules");
    assert_eq!(rules.len(), 1);
    let r = &rules[0];
    assert_eq!(
        strings(&r["source_matchers"]),
        ["alertname=\"TTNGatewayFleetDisconnected\""]
    );
    assert_eq!(
        strings(&r["target_matchers"]),
        ["alertname=\"TTNGatewayDisconnected\""]
    );
    assert_eq!(strings(&r["equal"]), ["job", "instance"]);
    let names = alert_names();
    for n in ["TTNGatewayFleetDisconnected", "TTNGatewayDisconnected"] {
        assert!(names.iter().any(|a| a == n), "{n} is not in alerts.yml");
    }
}

#[test]
fn the_package_ships_the_example_and_its_template() {
    let cargo =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    for f in ["alertmanager.yml", "ttn.tmpl"] {
        assert!(
            cargo.contains(&format!(
                "[\"packaging/alertmanager/{f}\", \"usr/share/ttn-exporter/alertmanager/{f}\", \"644\"]"
            )),
            "{f} is not in the .deb's assets"
        );
    }
}

fn amtool(args: &[&str]) -> (bool, String) {
    tool(
        Command::new("amtool").args(args),
        "",
        "apt install prometheus-alertmanager",
    )
}

#[test]
#[ignore = "needs amtool (apt install prometheus-alertmanager)"]
fn amtool_checks_the_example() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("alertmanager.yml");
    std::fs::write(&cfg, with_source_template(&shipped_text())).unwrap();
    let (ok, said) = amtool(&["check-config", cfg.to_str().unwrap()]);
    assert!(ok, "{said}");
    assert!(said.contains("1 inhibit rules"), "{said}");
    assert!(said.contains("1 templates"), "{said}");
    assert!(!said.contains("FAILED"), "{said}");
}

/// The template's subject and text for the notification `data` (the JSON an
/// Alertmanager webhook receives is the template's data), through `amtool
/// template render`.
pub fn render(data: &serde_json::Value) -> (String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("data.json");
    std::fs::write(&p, data.to_string()).unwrap();
    let glob = dir().join("ttn.tmpl");
    let one = |t: &str| {
        let (ok, said) = amtool(&[
            "template",
            "render",
            &format!("--template.glob={}", glob.display()),
            &format!("--template.data={}", p.display()),
            &format!("--template.text={{{{ template \"{t}\" . }}}}"),
        ]);
        assert!(ok, "{t}: {said}");
        said
    };
    (one("ttn.subject"), one("ttn.text"))
}

#[test]
#[ignore = "needs amtool (apt install prometheus-alertmanager)"]
fn the_mail_names_the_gateway_since_when_and_the_exporter() {
    let labels = serde_json::json!({
        "alertname": "TTNGatewayDisconnected", "gateway_id": "gw-roof", "name": "Roof",
        "instance": "h:9715", "job": "ttn", "severity": "critical"
    });
    let alert = |status: &str, ends: &str| {
        serde_json::json!({
            "status": status, "labels": labels,
            "annotations": {
                "summary": "Gateway gw-roof is disconnected",
                "description": "Gateway gw-roof (\"Roof\") has not been connected to its Gateway Server for 10 minutes (exporter h:9715).",
                "down_since": "2026-12-07 06:00:00 +0000 UTC (disconnected)"
            },
            "startsAt": "2026-12-07T06:10:00Z", "endsAt": ends,
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": "1"
        })
    };
    let data = |status: &str, ends: &str| {
        serde_json::json!({
            "receiver": "ttn-critical", "status": status, "alerts": [alert(status, ends)],
            "groupLabels": {"alertname": "TTNGatewayDisconnected", "gateway_id": "gw-roof"},
            "commonLabels": labels, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "version": "4", "groupKey": "k",
            "truncatedAlerts": 0
        })
    };
    let (subject, text) = render(&data("firing", "0001-01-01T00:00:00Z"));
    assert_eq!(
        subject.trim(),
        "[FIRING] TTNGatewayDisconnected: Roof (gw-roof) on h:9715"
    );
    for line in [
        "FIRING: Gateway gw-roof is disconnected",
        "Gateway:     Roof (gw-roof)",
        "Down since:  2026-12-07 06:00:00 +0000 UTC (disconnected)",
        "Exporter:    h:9715 (job ttn)",
        "Alert since: 2026-12-07 06:10:00 UTC",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
    }
    assert!(!text.contains("Resolved:"), "{text}");
    let (subject, text) = render(&data("resolved", "2026-12-07T07:00:00Z"));
    assert_eq!(
        subject.trim(),
        "[RESOLVED] TTNGatewayDisconnected: Roof (gw-roof) on h:9715"
    );
    assert!(
        text.lines()
            .any(|l| l == "Resolved:    2026-12-07 07:00:00 UTC"),
        "{text}"
    );
}
