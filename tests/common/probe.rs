//! Named targets, shared by tests/inprocess/probe.rs and the black-box
//! tests of targets (probe_prometheus.rs, `check` in cli.rs): their keys,
//! and the fake and exporter they run against.

use fake_tts::{FakeGateway, FakeTts, FAKE_ORG_ID};
use ttn_exporter::config::{ApiKey, Scope, Target};

use super::*;

pub const ACME_KEY: &str = "NNSXS.FAKE-ACME-KEY.NOT-A-SECRET";
pub const BETA_KEY: &str = "NNSXS.FAKE-BETA-GATEWAY-KEY.NOT-A-SECRET";
/// A key the fake does not know.
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

/// A fake with `gateways` that takes `KEY` and `ACME_KEY` for everything
/// and `BETA_KEY` for gw-000000 and gw-000001; an exporter against it with
/// the targets `acme` (the fake's organization, `ACME_KEY`), `beta` (those
/// two gateways, `BETA_KEY`) and then `more` (name, key, scope).
pub async fn acme_and_beta(
    gateways: Vec<FakeGateway>,
    more: &[(&str, &str, Scope)],
) -> (FakeTts, Exporter) {
    let fake = fake(gateways).await;
    fake.set_keys(&[KEY, ACME_KEY]);
    fake.set_gateway_key(BETA_KEY, &["gw-000000", "gw-000001"]);
    let exp = Exporter::start(config(&fake.url())).await;
    let url = fake.url();
    let mut targets = vec![
        target(
            "acme",
            &url,
            ACME_KEY,
            Scope::Organization(FAKE_ORG_ID.into()),
        ),
        target(
            "beta",
            &url,
            BETA_KEY,
            Scope::Explicit(vec!["gw-000000".into(), "gw-000001".into()]),
        ),
    ];
    targets.extend(
        more.iter()
            .map(|(name, key, scope)| target(name, &url, key, scope.clone())),
    );
    exp.targets.apply(&targets).unwrap();
    (fake, exp)
}
