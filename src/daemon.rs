//! Wiring: build the pieces from a [`Config`], serve until SIGTERM/SIGINT,
//! reload on SIGHUP, keep systemd informed. Also the `check` command.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

use crate::cache::{Cache, Caches, Source};
use crate::config::{self, Config, ConfigError, Overrides};
use crate::metrics::SelfMetrics;
use crate::server::{self, Limits, SharedWeb};
use crate::state_file::StateFile;
use crate::systemd::{self, Environment};
use crate::tts;
use crate::web::{self, WebConfig, WebError};

/// How long a SIGHUP reload may take to read config, key and web config.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How to (re)load the configuration: `--config` and the flags.
#[derive(Clone, Debug)]
pub struct Loader {
    /// `--config`.
    pub config_path: Option<PathBuf>,
    /// The flags.
    pub overrides: Overrides,
    /// An environment file to read first, as `ttn.service` does (`check`
    /// reads [`crate::systemd::ENV_FILE`]); its variables are named on
    /// stdout.
    pub env_file: Option<PathBuf>,
}

/// A configuration and the live objects built from it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The plain configuration.
    pub config: Config,
    /// TLS acceptor and basic auth built from `config.web_config_file`.
    pub web: WebConfig,
}

/// Why loading failed: one line; the binary exits 78 on it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Config file, environment, flags or key.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The web config file.
    #[error(transparent)]
    Web(#[from] WebError),
}

impl Loader {
    /// Load config and key from the process environment and build TLS and
    /// basic auth from the web config file it names.
    pub fn load(&self) -> Result<Loaded, LoadError> {
        let mut env = Environment::from_process();
        if let Some(file) = &self.env_file {
            let (with, read) = env.with_env_file(file);
            env = with;
            match read {
                Ok(0) => {}
                Ok(n) => println!(
                    "env: {} ({n} variable(s), as ttn.service reads it)",
                    file.display()
                ),
                Err(note) => eprintln!("ttn-exporter: {note}"),
            }
        }
        let config = config::load(self.config_path.as_deref(), &self.overrides, &env)?;
        let web = match &config.web_config_file {
            Some(p) => web::load(p, &env)?,
            None => WebConfig::default(),
        };
        Ok(Loaded { config, web })
    }
}

/// Run the daemon until SIGTERM/SIGINT. `listener` is the systemd socket,
/// if one was passed; otherwise `config.listen` is bound.
pub async fn run(
    loader: Loader,
    loaded: Loaded,
    listener: Option<std::net::TcpListener>,
    limits: Limits,
) -> anyhow::Result<()> {
    let Loaded { config, web } = loaded;
    // Handlers first: a signal that arrives once READY=1 is out (systemctl
    // reload or stop right after start) must not take the default action.
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut hup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let listener = match listener {
        Some(l) => TcpListener::from_std(l).context("cannot use the socket systemd passed")?,
        None => server::bind(config.listen).await?,
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let own = SelfMetrics::new().context("cannot register the exporter's own metrics")?;
    let source = Source::from_config(&config, &own).context("cannot build the API client")?;
    let cache = Cache::new(source, own);
    cache.set_state_file(Arc::new(StateFile::for_config(&config)));
    let caches = Caches::new(cache.clone());
    caches
        .targets
        .apply(&config.targets)
        .context("cannot set up the targets")?;
    let events = crate::events::from_config(&config)
        .context("cannot build the events client")?
        .map(Arc::new);
    if let Some(e) = &events {
        cache.set_extra(e.clone());
        tracing::info!(
            "events stream on: radio metrics for the gateways of each refresh, {} per stream",
            config.events_chunk
        );
        let c = config.clone();
        tokio::spawn(async move { warn_without_traffic_right(&c).await });
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut stop_wait = stop_rx.clone();
    let with = match (web.tls.is_some(), web.auth.is_some()) {
        (true, true) => " with TLS and basic auth",
        (true, false) => " with TLS",
        (false, true) => " with basic auth",
        (false, false) => "",
    };
    let web: SharedWeb = Arc::new(RwLock::new(web));
    let server = tokio::spawn(server::serve(
        listener,
        caches.clone(),
        limits,
        web.clone(),
        async move {
            let _ = stop_wait.wait_for(|s| *s).await;
        },
    ));
    tracing::info!(
        "serving metrics on {addr}{with} for {} (key from {}, cache_ttl {}s, at most {} connections, {} per client)",
        config.api_url,
        config.api_key_source,
        config.cache_ttl.as_secs_f64(),
        limits.max_connections,
        limits.max_per_client
    );
    systemd::ready(&format!("serving on {addr}; no refresh yet"));
    let status = tokio::spawn(status_loop(cache.clone(), stop_rx));

    let mut current = config;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                systemd::reloading();
                // Read the files off this loop, so a stop signal meanwhile
                // is still handled at once.
                tokio::select! {
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                    loaded = load_off_loop(&loader) => apply(loaded, &mut current, &caches, &web, events.as_deref()),
                }
            }
        }
    }
    tracing::info!("stopping");
    systemd::stopping();
    let _ = stop_tx.send(true);
    let _ = server.await;
    status.abort();
    Ok(())
}

/// Load on a blocking thread, giving up after [`RELOAD_TIMEOUT`].
async fn load_off_loop(loader: &Loader) -> Result<Loaded, String> {
    if Environment::from_process().credentials_dir().is_some() {
        // systemd (252) copies credentials and reads EnvironmentFile= at
        // start only: re-reading them here cannot see a change.
        tracing::warn!(
            "SIGHUP re-reads the key and config, but systemd passed them as copies made at service start; to apply changes run `systemctl restart ttn.service` (ttn.socket keeps the port open meanwhile)"
        );
    }
    let loader = loader.clone();
    let task = tokio::task::spawn_blocking(move || loader.load());
    match tokio::time::timeout(RELOAD_TIMEOUT, task).await {
        Ok(Ok(loaded)) => loaded.map_err(|e| e.to_string()),
        Ok(Err(join)) => Err(format!("internal error while loading: {join}")),
        Err(_) => Err(format!(
            "reading the configuration took longer than {} s",
            RELOAD_TIMEOUT.as_secs()
        )),
    }
}

/// SIGHUP: use the new config, key and targets; keep the old ones if the
/// new are bad. The cached output stays fresh unless the API URL, key or scope
/// changed, and a back-off the API asked for is kept unless its host did.
fn apply(
    loaded: Result<Loaded, String>,
    current: &mut Config,
    caches: &Caches,
    web: &SharedWeb,
    events: Option<&crate::events::Events>,
) {
    let cache = &caches.default;
    let source = loaded.and_then(|l| {
        Source::from_config(&l.config, cache.self_metrics())
            .map(|s| (l, s))
            .map_err(|e| e.to_string())
    });
    let (new, source) = match source {
        Ok(x) => x,
        Err(e) => {
            tracing::error!("reload failed, keeping the old configuration: {e}");
            systemd::ready(&format!("reload failed: {e}"));
            return;
        }
    };
    let Loaded {
        config: new,
        web: new_web,
    } = new;
    // Kept targets keep their caches and counters; on error nothing changes.
    if let Err(e) = caches.targets.apply(&new.targets) {
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
    let same_api = new.api_url == current.api_url
        && new.api_key == current.api_key
        && new.scope == current.scope;
    if same_api {
        cache.keep_source_fresh(source);
    } else {
        if new.api_url.host_str() != current.api_url.host_str()
            || new.api_url.port_or_known_default() != current.api_url.port_or_known_default()
        {
            cache.clear_backoff();
        }
        cache.set_source(source);
    }
    if new.state_file != current.state_file || new.api_url != current.api_url {
        cache.set_state_file(Arc::new(StateFile::for_config(&new)));
    }
    if new.events != current.events || new.events_chunk != current.events_chunk {
        tracing::warn!("`events` or `events_chunk` changed; restart the service to apply it");
    }
    if let Some(e) = events {
        match crate::events::Params::from_config(&new) {
            Ok(p) => e.set_params(p),
            Err(err) => tracing::error!("events keep the old key and URL: {err}"),
        }
    }
    *web.write().unwrap_or_else(|e| e.into_inner()) = new_web;
    tracing::info!(
        "reloaded configuration and key (key from {})",
        new.api_key_source
    );
    *current = new;
    systemd::ready(if same_api {
        "reloaded; API settings unchanged"
    } else {
        "reloaded; next scrape refreshes"
    });
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

/// Whether the key may read gateway traffic, from `/auth_info` (the events
/// stream needs it).
fn traffic_line(events: bool, traffic: Option<bool>) -> anyhow::Result<()> {
    let on = if events { "on" } else { "off" };
    match traffic {
        Some(true) => println!("events ({on}): the key can read gateway traffic"),
        Some(false) if events => anyhow::bail!(
            "events is on but the key lacks \"Read gateway traffic\" (RIGHT_GATEWAY_TRAFFIC_READ): radio metrics would stay empty; add the right or set events = false"
        ),
        Some(false) => println!(
            "events ({on}): the key cannot read gateway traffic (no RIGHT_GATEWAY_TRAFFIC_READ)"
        ),
        None => println!(
            "events ({on}): unknown whether the key can read gateway traffic (it may not read auth_info)"
        ),
    }
    Ok(())
}

/// `ttn-exporter check`: one round trip, a summary on stdout.
pub async fn check(config: Config) -> anyhow::Result<()> {
    let own = SelfMetrics::new().context("cannot register metrics")?;
    let client = Source::from_config(&config, &own)?.client;
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
    let traffic = match client.auth_info_and_traffic().await {
        Ok((info, traffic, missing)) => {
            println!("key accepted ({info})");
            for r in &missing {
                println!(
                    "the key lacks \"{}\" ({}): {}",
                    r.console, r.names[0], r.lost
                );
            }
            Some(traffic)
        }
        // Gateway-scoped keys may not read auth_info; the fetch decides.
        Err(tts::Error::Status { status: 403, .. }) => None,
        Err(e) => anyhow::bail!("{e}"),
    };
    let fetched = client.fetch_counted(&config.scope).await?;
    let gateways = fetched.gateways;
    let connected = gateways.iter().filter(|g| g.is_connected()).count();
    println!("{} gateways, {connected} connected", gateways.len());
    let refused: Vec<&str> = gateways
        .iter()
        .filter(|g| g.stats_refused)
        .map(|g| g.id.as_str())
        .collect();
    if !refused.is_empty() {
        let shown = refused[..refused.len().min(20)].join(", ");
        let more = refused.len().saturating_sub(20);
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        println!(
            "the key lacks \"View gateway status\" on {} gateway(s), exported without status: {shown}{tail}",
            refused.len()
        );
    }
    traffic_line(config.events, traffic)?;
    crate::probe::check(&config.targets).await?;
    if !fetched.not_found.is_empty() {
        anyhow::bail!(
            "{} gateway ID(s) of `gateways` not found in the registry: {}; correct or remove them",
            fetched.not_found.len(),
            fetched.not_found.join(", ")
        );
    }
    Ok(())
}

/// With the events stream on: one warning line if the key lacks "Read
/// gateway traffic". The server accepts the stream without it and silently
/// leaves out every uplink and downlink event (it filters events by their
/// visibility), so nothing else would say why the radio metrics stay
/// empty. Asked once, of `/auth_info`; a key that may not read it
/// (gateway keys) or an API that does not answer says nothing here.
pub async fn warn_without_traffic_right(config: &Config) {
    let own = match SelfMetrics::new() {
        Ok(o) => o,
        Err(_) => return,
    };
    let Ok(source) = Source::from_config(config, &own) else {
        return;
    };
    match source.client.auth_info_and_traffic().await {
        Ok((_, false, _)) => tracing::warn!(
            "the API key lacks \"Read gateway traffic\" (RIGHT_GATEWAY_TRAFFIC_READ): The Things Stack accepts the events stream but leaves out every uplink and downlink event, so the radio metrics stay empty (connects and disconnects still arrive); give the key that right or set events = false"
        ),
        Ok(_) => {}
        Err(e) => tracing::debug!("cannot ask /auth_info for the key's rights: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration of `toml`; the keys come from the environment.
    fn config(toml: &str) -> Config {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, toml).unwrap();
        let key = "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET";
        let mut vars = vec![(config::ENV_API_KEY, key)];
        // A key variable of no configured target is an error.
        if toml.contains("[targets.acme]") {
            vars.push(("TTN_EXPORTER_TARGET_ACME_API_KEY", key));
        }
        let env = Environment {
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        };
        config::load(Some(&file), &Overrides::default(), &env).unwrap()
    }

    fn loaded(toml: &str) -> Result<Loaded, String> {
        Ok(Loaded {
            config: config(toml),
            web: WebConfig::default(),
        })
    }

    #[test]
    fn a_reload_serves_the_new_targets() {
        let mut current = config("");
        let own = SelfMetrics::for_target().unwrap();
        let cache = Cache::new(Source::from_config(&current, &own).unwrap(), own);
        let caches = Caches::new(cache);
        let web: SharedWeb = Arc::new(RwLock::new(WebConfig::default()));
        let reload = |toml: &str, current: &mut Config| {
            apply(loaded(toml), current, &caches, &web, None);
        };
        reload("[targets.acme]\n", &mut current);
        assert_eq!(caches.targets.names(), ["acme"]);
        let acme = caches.targets.get("acme").unwrap();
        reload("[targets.acme]\n", &mut current);
        let kept = caches.targets.get("acme").unwrap();
        assert!(std::ptr::eq(acme.self_metrics(), kept.self_metrics()));
        reload("", &mut current);
        assert!(caches.targets.names().is_empty());
    }

    #[tokio::test]
    async fn check_reads_at_most_max_gateways() {
        let fleet = ["gw-1", "gw-2"].map(fake_tts::FakeGateway::new).to_vec();
        let fake = fake_tts::FakeTts::start(fleet).await;
        let mut c = config("");
        c.api_url = fake.url().parse().unwrap();
        c.api_key = config::ApiKey::parse(fake_tts::DEFAULT_KEY).unwrap();
        c.max_gateways = 1;
        let e = check(c).await.unwrap_err().to_string();
        assert!(e.contains("more than 1 gateways (max_gateways)"), "{e}");
    }

    /// `check`'s loader reads the environment file as ttn.service does.
    #[test]
    fn a_loader_with_an_env_file_reads_it_first() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("env");
        std::fs::write(
            &file,
            "TTN_EXPORTER_API_KEY=NNSXS.FAKE-ENV-FILE.NOT-A-SECRET\nTTN_EXPORTER_CACHE_TTL=\"45s\"\n",
        )
        .unwrap();
        let loader = Loader {
            config_path: Some("/dev/null".into()),
            overrides: Overrides::default(),
            env_file: Some(file),
        };
        let c = loader.load().unwrap().config;
        assert_eq!(c.cache_ttl, Duration::from_secs(45));
        assert_eq!(c.api_key_source, "environment TTN_EXPORTER_API_KEY");
    }

    #[tokio::test]
    async fn check_names_listed_ids_the_registry_does_not_know() {
        let fake = fake_tts::FakeTts::start(vec![fake_tts::FakeGateway::new("gw-1")]).await;
        let mut c = config("gateways = [\"gw-1\", \"gw-typo\"]\n");
        c.api_url = fake.url().parse().unwrap();
        c.api_key = config::ApiKey::parse(fake_tts::DEFAULT_KEY).unwrap();
        let e = check(c).await.unwrap_err().to_string();
        assert!(
            e.contains("1 gateway ID(s) of `gateways` not found in the registry: gw-typo"),
            "{e}"
        );
    }
}
