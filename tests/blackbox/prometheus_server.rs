//! A real Prometheus server (Debian's `prometheus`) on a free port, killed
//! when dropped, and its query API.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::client;
use crate::process::free_port;

/// A Prometheus server on 127.0.0.1; killed on drop.
pub struct Prometheus {
    child: std::process::Child,
    /// Its HTTP API port on 127.0.0.1.
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Start one with the configuration `yml`; panics with the install hint
    /// when missing.
    pub fn start(yml: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("prometheus.yml");
        std::fs::write(&cfg, yml).unwrap();
        let port = free_port();
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
            .expect("prometheus not found: apt install prometheus");
        Prometheus {
            child,
            port,
            _dir: dir,
        }
    }

    /// Start one scraping `target` as job `ttn` every second.
    pub fn scraping(target: SocketAddr) -> Prometheus {
        Self::start(&format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: ttn\n    static_configs:\n      - targets: ['{target}']\n"
        ))
    }

    /// Start one with the shipped `packaging/prometheus/FILE`, pointed at
    /// `exporter`, scraping every second, with `edit` applied.
    pub fn shipped(file: &str, exporter: &str, edit: impl Fn(String) -> String) -> Prometheus {
        let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("packaging/prometheus")
            .join(file);
        let text = std::fs::read_to_string(&shipped).unwrap();
        assert!(text.contains("localhost:9715") && text.contains("scrape_interval: 30s"));
        Self::start(&edit(
            text.replace("localhost:9715", exporter)
                .replace("scrape_interval: 30s", "scrape_interval: 1s"),
        ))
    }

    /// GET `path` of its HTTP API (with `query`), as JSON.
    pub async fn api(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, String> {
        let r = client()
            .get(format!("http://127.0.0.1:{}{path}", self.port))
            .query(query)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        r.json().await.map_err(|e| e.to_string())
    }

    /// `/api/v1/query`: Ok(result vector) or Err(the error).
    pub async fn query(&self, q: &str) -> Result<Vec<Value>, String> {
        let v = self.api("/api/v1/query", &[("query", q)]).await?;
        if v["status"] != "success" {
            return Err(format!("{}: {}", v["errorType"], v["error"]));
        }
        match &v["data"]["result"] {
            Value::Array(a) => Ok(a.clone()),
            // scalar results count as one value
            other => Ok(vec![other.clone()]),
        }
    }

    /// The value of the first sample of instant query `q`.
    pub async fn number(&self, q: &str) -> Option<f64> {
        let r = self.query(q).await.ok()?;
        r.first()?["value"][1].as_str()?.parse().ok()
    }

    /// The values of label `label` over the result of instant query `q`.
    pub async fn labels(&self, q: &str, label: &str) -> Option<BTreeSet<String>> {
        let result = self.query(q).await.ok()?;
        result
            .iter()
            .map(|s| Some(s.pointer(&format!("/metric/{label}"))?.as_str()?.to_owned()))
            .collect()
    }

    /// `gateway_id`s of query `q`, polled until there are at least `min`
    /// (or 90 s pass).
    pub async fn gateways(&self, q: &str, min: usize) -> BTreeSet<String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let v = self.labels(q, "gateway_id").await.unwrap_or_default();
            if v.len() >= min || Instant::now() > deadline {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
