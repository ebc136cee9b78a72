//! Property tests (proptest): the TTS JSON parsing never panics on any
//! input, and label values of any content survive rendering exactly.

use proptest::prelude::*;
use ttn_exporter::metrics::write_gateways;
use ttn_exporter::model::{ConnectionStats, Gateway};
use ttn_exporter::tts::types::{ApiError, ApiStats, BatchStats, GatewaysPage};

/// Arbitrary JSON values, biased towards the shapes the API uses.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        ".*".prop_map(serde_json::Value::from),
        "[0-9]{1,25}".prop_map(serde_json::Value::from),
        "[0-9.]{1,12}s".prop_map(serde_json::Value::from),
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\\.[0-9]{0,12})?Z"
            .prop_map(serde_json::Value::from),
    ];
    let keys = prop_oneof![
        Just("connected_at".to_owned()),
        Just("disconnected_at".to_owned()),
        Just("uplink_count".to_owned()),
        Just("sub_bands".to_owned()),
        Just("round_trip_times".to_owned()),
        Just("last_status".to_owned()),
        Just("metrics".to_owned()),
        Just("min".to_owned()),
        Just("max_frequency".to_owned()),
        Just("gateways".to_owned()),
        Just("ids".to_owned()),
        Just("gateway_id".to_owned()),
        Just("entries".to_owned()),
        Just("details".to_owned()),
        "[a-z_]{1,12}",
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(keys.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn parse_all(bytes: &[u8]) {
    if let Ok(s) = serde_json::from_slice::<ApiStats>(bytes) {
        let stats: ConnectionStats = s.into();
        let _ = stats.last_seen();
    }
    let _ = serde_json::from_slice::<GatewaysPage>(bytes);
    let _ = serde_json::from_slice::<BatchStats>(bytes);
    if let Ok(e) = serde_json::from_slice::<ApiError>(bytes) {
        let _ = (e.name(), e.correlation_id());
    }
}

/// Undo the text format's label-value escaping.
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Split `k="v",k2="v2"` into unescaped values, honouring escapes.
fn label_values(labels: &str) -> Vec<String> {
    let mut vals = Vec::new();
    let mut rest = labels;
    while let Some(start) = rest.find("=\"") {
        let body = &rest[start + 2..];
        let mut end = 0;
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = i;
                break;
            }
        }
        vals.push(unescape(&body[..end]));
        rest = &body[end + 1..];
    }
    vals
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_all(&bytes);
    }

    #[test]
    fn parsing_arbitrary_json_never_panics(v in json()) {
        parse_all(v.to_string().as_bytes());
        // Also as the body of each kind of answer.
        parse_all(serde_json::json!({"entries": {"gw": v.clone()}}).to_string().as_bytes());
        parse_all(serde_json::json!({"gateways": [v]}).to_string().as_bytes());
    }

    #[test]
    fn label_values_round_trip(name in "(?s).*", eui in "[\\\\\"\n a-z]*", metric in "(?s).*", plan in "(?s).*") {
        // A connected gateway: a disconnected one has no status metrics.
        let mut stats = ConnectionStats { connected_at: Some(1_700_000_000.0), ..ConnectionStats::default() };
        stats.status_metrics.insert(metric.clone(), 1.0);
        let g = Gateway {
            id: "gw-1".into(),
            eui: Some(eui.clone()),
            name: Some(name.clone()),
            frequency_plan_ids: vec![plan.clone()],
            gateway_server_address: None,
            stats: Some(stats),
            ..Gateway::default()
        };
        let mut out = Vec::new();
        write_gateways(&[g], true, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        // No value can inject a line: every line is a comment or a sample of ours.
        for line in text.lines() {
            prop_assert!(line.starts_with("# HELP ttn_") || line.starts_with("# TYPE ttn_") || line.starts_with("ttn_gateway_"), "{:?}", line);
        }
        let info = text.lines().find(|l| l.starts_with("ttn_gateway_info{")).unwrap();
        let labels = &info["ttn_gateway_info{".len()..info.rfind("} ").unwrap()];
        prop_assert_eq!(label_values(labels), vec!["gw-1".to_owned(), eui, name, String::new(), plan]);
        let status = text.lines().find(|l| l.starts_with("ttn_gateway_status_metric{")).unwrap();
        let labels = &status["ttn_gateway_status_metric{".len()..status.rfind("} ").unwrap()];
        prop_assert_eq!(label_values(labels), vec!["gw-1".to_owned(), metric]);
    }
}
