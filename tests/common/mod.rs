//! Helpers shared by both integration test binaries (tests/inprocess and
//! tests/blackbox, each includes this module): the exporter in-process on
//! port 0 against an in-process fake TTS, a small scrape client, scratch
//! files, and running an outside tool. Only what both binaries use lives
//! here; the rest is in each binary's own helper modules.

pub mod probe;

use std::net::SocketAddr;
use std::time::Duration;

use fake_tts::FakeTts;
use ttn_exporter::app::App;
use ttn_exporter::cache::{Cache, Targets};
use ttn_exporter::config::{ApiKey, Config, Scope};
use ttn_exporter::events::Events;
use ttn_exporter::server::web::WebConfig;
use ttn_exporter::server::Limits;

/// An obviously fake key the fake accepts by default.
pub const KEY: &str = fake_tts::DEFAULT_KEY;

/// A config pointing at `api_url` with `KEY`.
pub fn config(api_url: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().expect("literal address"),
        api_url: api_url.parse().expect("fake url"),
        api_key: ApiKey::parse(KEY).expect("valid test key"),
        api_key_source: "test".into(),
        cache_ttl: Duration::from_secs(3600),
        request_timeout: Duration::from_secs(5),
        refresh_timeout: Duration::from_secs(8),
        keep_stale_for: ttn_exporter::config::DEFAULT_KEEP_STALE_FOR,
        max_gateways: 10_000,
        scope: Scope::All,
        legacy_metrics: false,
        config_file: None,
        web_config_file: None,
        state_file: None,
        info_attributes: Vec::new(),
        targets: Vec::new(),
        events: false,
        events_chunk: 100,
    }
}

/// The exporter serving on 127.0.0.1:0, built as the daemon builds it
/// ([`App`]): state file, targets and events stream as the config says.
pub struct Exporter {
    pub addr: SocketAddr,
    /// The default target's cache.
    pub cache: Cache,
    /// The named targets (`/probe`); none until a test applies some.
    pub targets: std::sync::Arc<Targets>,
    /// The events stream, when the config has `events = true`.
    pub events: Option<std::sync::Arc<Events>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Exporter {
    pub async fn start(config: Config) -> Exporter {
        Self::start_with_limits(config, Limits::default()).await
    }

    pub async fn start_with_limits(config: Config, limits: Limits) -> Exporter {
        Self::start_with(config, limits, WebConfig::default()).await
    }

    /// With TLS and basic auth as `web` says.
    pub async fn start_with(config: Config, limits: Limits, web: WebConfig) -> Exporter {
        Self::start_app(App::new(&config).unwrap(), limits, web).await
    }

    /// Serve `app`, built by the tests' own [`App::builder`] call.
    pub async fn start_app(app: App, limits: Limits, web: WebConfig) -> Exporter {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let web = std::sync::Arc::new(std::sync::RwLock::new(web));
        let (caches, events) = (app.caches.clone(), app.events.clone());
        let task = tokio::spawn(app.serve(listener, limits, web, async {
            let _ = rx.await;
        }));
        Exporter {
            addr,
            cache: caches.default,
            targets: caches.targets,
            events,
            stop: Some(tx),
            task,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET /metrics, asserting 200, returning the text.
    pub async fn scrape(&self) -> String {
        let resp = client().get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "scrape status");
        resp.text().await.unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// The value of the one series whose line starts with `series ` exactly.
pub fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map(|v| v.parse().expect("numeric sample"))
}

/// Lines of series of metric `name` (any labels).
pub fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with('{') || r.starts_with(' '))
        })
        .collect()
}

/// A fake with the given gateways.
pub async fn fake(gateways: Vec<fake_tts::FakeGateway>) -> FakeTts {
    FakeTts::start(gateways).await
}

/// Write `content` to `path` with `mode`.
pub fn write_file(path: &std::path::Path, content: &str, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, content).expect("write test file");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A temp dir with an empty config file (so that no
/// /etc/ttn-exporter/config.toml on the machine is read) and a 0600 key file.
pub struct Files {
    pub dir: tempfile::TempDir,
}

impl Files {
    pub fn new() -> Files {
        let f = Files {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        write_file(&f.config(), "# empty: defaults\n", 0o644);
        write_file(&f.key(), &format!("{KEY}\n"), 0o600);
        f
    }
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }
    pub fn config(&self) -> std::path::PathBuf {
        self.path("config.toml")
    }
    pub fn key(&self) -> std::path::PathBuf {
        self.path("key")
    }
}

/// Runs the outside tool `cmd` to completion with `input` on its stdin:
/// whether it succeeded, and what it said (stdout, then stderr). Panics with
/// the install hint `install` when the tool is missing.
pub fn tool(cmd: &mut std::process::Command, input: &str, install: &str) -> (bool, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{:?}: {e} ({install})", cmd.get_program()));
    let mut stdin = child.stdin.take().expect("piped");
    stdin
        .write_all(input.as_bytes())
        .expect("write to the tool");
    drop(stdin);
    let out = child.wait_with_output().expect("the tool ran");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

/// `promtool check metrics` on an exposition: (clean, what it said).
pub fn promtool_check_metrics(text: &str) -> (bool, String) {
    let (ok, said) = tool(
        std::process::Command::new("promtool").args(["check", "metrics"]),
        text,
        "apt install prometheus",
    );
    (ok && said.trim().is_empty(), said)
}

/// Asserts that an outside tool exited 0, with its stderr in the message.
pub fn assert_success(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "{}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
