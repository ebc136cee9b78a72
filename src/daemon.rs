//! Wiring: build the pieces from a [`Config`], serve until SIGTERM/SIGINT,
//! reload on SIGHUP, keep systemd informed. Also the `check` command.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::cache::{Cache, Source};
use crate::config::{self, Config, ConfigError, Environment, Overrides};
use crate::metrics::SelfMetrics;
use crate::server::{self, Limits};
use crate::systemd;
use crate::tts;

/// How to (re)load the configuration: `--config` and the flags.
#[derive(Clone, Debug)]
pub struct Loader {
    /// `--config`.
    pub config_path: Option<PathBuf>,
    /// The flags.
    pub overrides: Overrides,
}

impl Loader {
    /// Load from the process environment.
    pub fn load(&self) -> Result<Config, ConfigError> {
        config::load(
            self.config_path.as_deref(),
            &self.overrides,
            &Environment::from_process(),
        )
    }
}

/// Run the daemon until SIGTERM/SIGINT. `listener` is the systemd socket,
/// if one was passed; otherwise `config.listen` is bound.
pub async fn run(
    loader: Loader,
    config: Config,
    listener: Option<std::net::TcpListener>,
) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives once READY=1 is out (systemctl
    // reload or stop right after start) must not take the default action.
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let listener = match listener {
        Some(l) => TcpListener::from_std(l).context("cannot use the socket systemd passed")?,
        None => TcpListener::bind(config.listen).await.with_context(|| {
            format!(
                "cannot listen on {}; stop whatever uses it or set `listen`",
                config.listen
            )
        })?,
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let own = SelfMetrics::new().context("cannot register the exporter's own metrics")?;
    let source = Source::from_config(&config, &own).context("cannot build the API client")?;
    let cache = Cache::new(source, own);
    cache
        .targets()
        .apply(&config.targets)
        .context("cannot set up the targets")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut stop_wait = stop_rx.clone();
    let web = Arc::new(RwLock::new(config.web.clone()));
    let server = tokio::spawn(server::serve_with(
        listener,
        cache.clone(),
        Limits::default(),
        web.clone(),
        async move {
            let _ = stop_wait.wait_for(|s| *s).await;
        },
    ));
    tracing::info!(
        "serving metrics on {addr}{} for {} (key from {}, cache_ttl {}s)",
        match (config.web.tls.is_some(), config.web.auth.is_some()) {
            (true, true) => " with TLS and basic auth",
            (true, false) => " with TLS",
            (false, true) => " with basic auth",
            (false, false) => "",
        },
        config.api_url,
        config.api_key_source,
        config.cache_ttl.as_secs_f64()
    );
    systemd::ready(&format!("serving on {addr}; no refresh yet"));
    let status = tokio::spawn(status_loop(cache.clone(), stop_rx));

    let mut current = config;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => reload(&loader, &mut current, &cache, &web),
        }
    }
    tracing::info!("stopping");
    systemd::stopping();
    let _ = stop_tx.send(true);
    let _ = server.await;
    status.abort();
    Ok(())
}

/// SIGHUP: re-read config and key; keep the old ones if the new are bad.
fn reload(loader: &Loader, current: &mut Config, cache: &Cache, web: &server::SharedWeb) {
    systemd::reloading();
    if std::env::var_os("CREDENTIALS_DIRECTORY").is_some() {
        // systemd (252) copies credentials and reads EnvironmentFile= at
        // start only: re-reading them here cannot see a change.
        tracing::warn!(
            "SIGHUP re-reads the key and config, but systemd passed them as copies made at service start; to apply changes run `systemctl restart ttn.service` (ttn.socket keeps the port open meanwhile)"
        );
    }
    match loader.load() {
        Ok(new) => match Source::from_config(&new, cache.self_metrics()) {
            Ok(source) => {
                if let Err(e) = cache.targets().apply(&new.targets) {
                    tracing::error!("reload failed, keeping the old configuration: {e}");
                    systemd::ready(&format!("reload failed: {e}"));
                    return;
                }
                if new.listen != current.listen {
                    tracing::warn!(
                        "`listen` changed to {}; restart the service to apply it",
                        new.listen
                    );
                }
                cache.set_source(source);
                *web.write().unwrap_or_else(|e| e.into_inner()) = new.web.clone();
                tracing::info!(
                    "reloaded configuration and key (key from {})",
                    new.api_key_source
                );
                *current = new;
                systemd::ready("reloaded; next scrape refreshes");
            }
            Err(e) => {
                tracing::error!("reload failed, keeping the old configuration: {e}");
                systemd::ready(&format!("reload failed: {e}"));
            }
        },
        Err(e) => {
            tracing::error!("reload failed, keeping the old configuration: {e}");
            systemd::ready(&format!("reload failed: {e}"));
        }
    }
}

/// The `STATUS=` line for `systemctl status`.
pub fn status_line(cache: &Cache) -> String {
    let Some(e) = cache.peek() else {
        return "serving; no scrape yet".to_owned();
    };
    let ago = SystemTime::now()
        .duration_since(e.finished_at)
        .unwrap_or_default()
        .as_secs();
    match &e.failure {
        None => format!(
            "serving {} gateways ({} connected), last refresh {ago} s ago",
            e.gateways, e.connected
        ),
        Some(f) => format!("last refresh {ago} s ago failed: {f}"),
    }
}

/// Ping the watchdog at half its period (proving the runtime schedules
/// tasks) and keep the status line current. Local only: no API calls.
async fn status_loop(cache: Cache, mut stop: tokio::sync::watch::Receiver<bool>) {
    let watchdog = systemd::watchdog_interval();
    let period = watchdog.unwrap_or(Duration::from_secs(15));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if watchdog.is_some() {
            systemd::watchdog_ping();
        }
        systemd::status(&status_line(&cache));
    }
}

/// `ttn-exporter check`: one round trip, a summary on stdout.
pub async fn check(config: Config) -> anyhow::Result<()> {
    let own = SelfMetrics::new().context("cannot register metrics")?;
    let client = tts::Client::new(
        config.api_url.clone(),
        config.api_key.clone(),
        config.request_timeout,
        own.observer(),
    )?;
    println!(
        "config: {}",
        config
            .config_file
            .as_ref()
            .map_or("defaults (no config file)".to_owned(), |p| p
                .display()
                .to_string())
    );
    println!("api: {}", config.api_url);
    println!("key: from {}", config.api_key_source);
    match client.auth_info().await {
        Ok(info) => println!("key accepted ({info})"),
        // Gateway-scoped keys may not read auth_info; the fetch decides.
        Err(tts::Error::Status { status: 403, .. }) => {}
        Err(e) => anyhow::bail!("{e}"),
    }
    let gateways = client.fetch(&config.scope).await?;
    let connected = gateways.iter().filter(|g| g.is_connected()).count();
    println!("{} gateways, {connected} connected", gateways.len());
    crate::probe::check(&config.targets).await
}
