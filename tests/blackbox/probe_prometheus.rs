//! Real Prometheus servers (Debian's `prometheus`) with the shipped
//! `packaging/prometheus/` configs: two split the shards of a 400-gateway
//! fake between them, a third probes two named targets.

use std::collections::BTreeSet;

use crate::common::probe::*;
use crate::common::*;
use fake_tts::FAKE_ORG_ID;
use ttn_exporter::config::Scope;

/// A Prometheus server on a free port, killed on drop.
struct Prometheus {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Start with the shipped `packaging/prometheus/FILE`, pointed at
    /// `exporter`, scraping every second, with `edit` applied.
    fn start(file: &str, exporter: &str, edit: impl Fn(String) -> String) -> Prometheus {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("packaging/prometheus")
            .join(file);
        let text = std::fs::read_to_string(&shipped).unwrap();
        assert!(text.contains("localhost:9715") && text.contains("scrape_interval: 30s"));
        let text = edit(
            text.replace("localhost:9715", exporter)
                .replace("scrape_interval: 30s", "scrape_interval: 1s"),
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, text).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("prometheus not found: apt-get install prometheus");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// The values of label `label` over the result of instant query `q`.
    async fn labels(&self, q: &str, label: &str) -> Option<BTreeSet<String>> {
        let r = client()
            .get(format!("http://127.0.0.1:{}/api/v1/query", self.port))
            .query(&[("query", q)])
            .send()
            .await
            .ok()?;
        let v: serde_json::Value = r.json().await.ok()?;
        let result = v.pointer("/data/result")?.as_array()?;
        result
            .iter()
            .map(|s| Some(s.pointer(&format!("/metric/{label}"))?.as_str()?.to_owned()))
            .collect()
    }
}

impl Prometheus {
    /// `gateway_id`s of query `q`, polled until there are at least `min`
    /// (or 90 s pass).
    async fn gateways(&self, q: &str, min: usize) -> BTreeSet<String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
        loop {
            let v = self.labels(q, "gateway_id").await.unwrap_or_default();
            if v.len() >= min || std::time::Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs prometheus (apt install prometheus)"]
async fn prometheus_servers_split_shards_and_probe_targets() {
    let fake = fake(fake_tts::synthetic_fleet(400)).await;
    fake.set_keys(&[KEY, ACME_KEY]);
    fake.set_gateway_key(BETA_KEY, &["gw-000000", "gw-000001"]);
    let exp = Exporter::start(config(&fake.url())).await;
    let url = fake.url();
    exp.cache
        .targets()
        .apply(&[
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
        ])
        .unwrap();
    let addr = exp.addr.to_string();
    let keep = |n: &'static str| {
        move |t: String| {
            assert_eq!(t.matches("regex: '0'").count(), 1);
            t.replace("regex: '0'", &format!("regex: '{n}'"))
        }
    };
    let first = Prometheus::start("sharded.yml", &addr, keep("0"));
    let second = Prometheus::start("sharded.yml", &addr, keep("1"));
    let third = Prometheus::start("probe.yml", &addr, |t| t);

    let q = "ttn_gateway_info{job=\"ttn_sharded\"}";
    let a = first.gateways(q, 150).await;
    let b = second.gateways(q, 150).await;
    // Let a few more scrapes land, then compare complete sets.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let a2 = first.gateways(q, 0).await;
    let b2 = second.gateways(q, 0).await;
    assert_eq!(
        (a.len(), b.len()),
        (a2.len(), b2.len()),
        "sets still growing"
    );
    assert!(a2.is_disjoint(&b2), "servers share gateways");
    let all: BTreeSet<String> = (0..400).map(|i| format!("gw-{i:06}")).collect();
    assert_eq!(&a2 | &b2, all);
    // Each server holds two of the four shard targets, each with health.
    let up = "ttn_up{job=\"ttn_sharded\"} == 1";
    let s0 = first.labels(up, "shard").await.unwrap();
    let s1 = second.labels(up, "shard").await.unwrap();
    assert_eq!(s0, ["0", "2"].map(String::from).into());
    assert_eq!(s1, ["1", "3"].map(String::from).into());

    let acme = third
        .gateways("ttn_gateway_info{target=\"acme\"}", 133)
        .await;
    let want: BTreeSet<String> = (0..400)
        .filter(|i| i % 3 == 2)
        .map(|i| format!("gw-{i:06}"))
        .collect();
    assert_eq!(acme, want);
    let beta = third.gateways("ttn_gateway_info{target=\"beta\"}", 2).await;
    assert_eq!(beta, ["gw-000000", "gw-000001"].map(String::from).into());
    let ups = third
        .labels("ttn_up{job=\"ttn_probe\"} == 1", "instance")
        .await
        .unwrap();
    assert_eq!(ups, ["acme", "beta"].map(String::from).into());
    drop((first, second, third));
    exp.stop().await;
}
