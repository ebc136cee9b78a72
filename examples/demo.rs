//! `cargo run --example demo`: the real exporter against a simulated fleet,
//! all in this process. No API key, no network.
//!
//! A fake The Things Stack (the test fake, `tests/fake-tts`) serves 50
//! gateways on a loopback port; their counters grow while it runs, some are
//! disconnected or never connected. The exporter serves them on
//! 127.0.0.1:9715 (`--port N` or `TTN_DEMO_PORT=N` to change; a busy port
//! falls back to a free one), with a 5 s `cache_ttl`. Ctrl-C stops it.

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)] // a test, bench or example crate

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use fake_tts::{demo::demo_fleet, FakeTts, DEFAULT_KEY};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use ttn_exporter::app::App;
use ttn_exporter::cache::Cache;
use ttn_exporter::config::environment::Environment;
use ttn_exporter::config::{self, Config, Overrides, ENV_API_KEY};
use ttn_exporter::server::web::WebConfig;
use ttn_exporter::server::Limits;

/// The port the exporter uses by default (and the demo, when it is free).
pub const DEFAULT_PORT: u16 = 9715;

/// What to simulate.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Gateways in the fleet.
    pub gateways: usize,
    /// The exporter's `cache_ttl`.
    pub cache_ttl: Duration,
    /// How often the fleet's counters move.
    pub tick: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            gateways: 50,
            cache_ttl: Duration::from_secs(5),
            tick: Duration::from_secs(1),
        }
    }
}

/// A running demo: the fake, the ticker that moves its counters, and the
/// exporter serving on `addr`.
pub struct Demo {
    /// Where the exporter serves.
    pub addr: SocketAddr,
    /// The exporter's cache.
    pub cache: Cache,
    fake: Arc<FakeTts>,
    ticker: JoinHandle<()>,
    server: JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The exporter's configuration for the fake at `api_url`, loaded as the
/// daemon loads it (no config file, the fake's key in the environment),
/// with the demo's `cache_ttl` and a 5 s `request_timeout`.
fn config(api_url: &str, settings: Settings) -> anyhow::Result<Config> {
    let env = Environment {
        vars: vec![(ENV_API_KEY.to_owned(), DEFAULT_KEY.to_owned())],
    };
    let overrides = Overrides {
        api_url: Some(api_url.to_owned()),
        ..Overrides::default()
    };
    let mut config = config::load(Some(Path::new("/dev/null")), &overrides, &env)?;
    config.cache_ttl = settings.cache_ttl;
    config.request_timeout = Duration::from_secs(5);
    Ok(config)
}

/// Start the fake fleet and the exporter on `listener`.
pub async fn start(listener: TcpListener, settings: Settings) -> anyhow::Result<Demo> {
    let started = Instant::now();
    let fake = Arc::new(FakeTts::start(demo_fleet(settings.gateways, 0, unix_now())).await);
    let ticker = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(settings.tick);
            loop {
                every.tick().await;
                let elapsed = started.elapsed().as_secs();
                fake.set_gateways(demo_fleet(settings.gateways, elapsed, unix_now()));
            }
        })
    };
    let app = App::new(&config(&fake.url(), settings)?)?;
    let cache = app.cache().clone();
    let addr = listener.local_addr().context("listener address")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let web = Arc::new(RwLock::new(WebConfig::default()));
    let server = tokio::spawn(app.serve(listener, Limits::default(), web, async {
        let _ = stopped.await;
    }));
    Ok(Demo {
        addr,
        cache,
        fake,
        ticker,
        server,
        stop,
    })
}

impl Demo {
    /// Stop serving, then stop the fake.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.server.await;
        self.ticker.abort();
        let _ = self.ticker.await;
        if let Ok(fake) = Arc::try_unwrap(self.fake) {
            fake.shutdown().await;
        }
    }
}

/// Bind 127.0.0.1:`port`; if it is taken, say so and take a free port.
pub async fn bind(port: u16) -> anyhow::Result<TcpListener> {
    match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => Ok(l),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!(
                "demo: port {port} is in use (a ttn-exporter running?); using a free port instead (choose one with --port N or TTN_DEMO_PORT=N)"
            );
            TcpListener::bind("127.0.0.1:0")
                .await
                .context("cannot bind a free port on 127.0.0.1")
        }
        Err(e) => Err(e).with_context(|| format!("cannot listen on 127.0.0.1:{port}")),
    }
}

/// The port from `--port N`, else `TTN_DEMO_PORT`, else [`DEFAULT_PORT`].
fn port() -> anyhow::Result<u16> {
    let mut args = std::env::args().skip(1);
    let raw = match (args.next().as_deref(), args.next()) {
        (Some("--port"), Some(p)) => Some(p),
        (None, _) => std::env::var("TTN_DEMO_PORT").ok(),
        _ => anyhow::bail!("usage: cargo run --example demo [-- --port N]"),
    };
    match raw {
        Some(p) => p
            .parse()
            .with_context(|| format!("port {p:?} is not a number from 0 to 65535")),
        None => Ok(DEFAULT_PORT),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = Settings::default();
    let listener = bind(port()?).await?;
    let demo = start(listener, settings).await?;
    let base = format!("http://{}", demo.addr);
    println!(
        "ttn-exporter demo: {} simulated gateways, no key, no network",
        settings.gateways
    );
    println!("  status page  {base}/");
    println!("  metrics      {base}/metrics");
    println!("  health       {base}/-/healthy");
    println!(
        "cache_ttl {} s: counters move between refreshes. Ctrl-C stops.",
        settings.cache_ttl.as_secs()
    );
    tokio::signal::ctrl_c()
        .await
        .context("cannot wait for Ctrl-C")?;
    demo.stop().await;
    Ok(())
}
