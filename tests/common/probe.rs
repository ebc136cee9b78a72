//! Helpers shared by tests/probe.rs and tests/probe_prometheus.rs.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::Read;

use super::*;
use ttn_exporter::config::{ApiKey, Scope, Target};

pub const ACME_KEY: &str = "NNSXS.FAKE-ACME-KEY.NOT-A-SECRET";
pub const BETA_KEY: &str = "NNSXS.FAKE-BETA-GATEWAY-KEY.NOT-A-SECRET";
pub const WRONG_KEY: &str = "NNSXS.FAKE-UNKNOWN-KEY.NOT-A-SECRET";

pub fn target(name: &str, url: &str, key: &str, scope: Scope) -> Target {
    let mut config = config(url);
    config.api_key = ApiKey::parse(key).expect("test key");
    config.scope = scope;
    Target {
        name: name.into(),
        config,
    }
}

/// Gateway IDs in a body (from `ttn_gateway_info`).
pub fn ids(text: &str) -> BTreeSet<String> {
    series(text, "ttn_gateway_info")
        .iter()
        .filter_map(|l| {
            let rest = l.split("gateway_id=\"").nth(1)?;
            Some(rest.split('"').next()?.to_owned())
        })
        .collect()
}

pub async fn get(url: &str, gzip: bool) -> (u16, String) {
    let mut req = client().get(url);
    if gzip {
        req = req.header("Accept-Encoding", "gzip");
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let zipped = resp
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    assert_eq!(zipped, gzip && status == 200, "{url}");
    let bytes = resp.bytes().await.unwrap();
    let text = if zipped {
        let mut t = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut t)
            .unwrap();
        t
    } else {
        String::from_utf8(bytes.to_vec()).unwrap()
    };
    (status, text)
}
