//! The daemon: build the exporter from a [`Config`] ([`crate::app`]), serve
//! until SIGTERM/SIGINT, reload on SIGHUP (`reload.rs`), keep systemd
//! informed (`status.rs`). How the configuration is read is `load.rs`.

mod load;
mod reload;
mod status;

use std::sync::{Arc, RwLock};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

pub use load::{LoadError, Loaded, Loader};
pub use reload::RELOAD_TIMEOUT;
pub use status::status_line;

use crate::app::App;
use crate::cache::Source;
use crate::config::Config;
use crate::exit::Fatal;
use crate::metrics::self_metrics::SelfMetrics;
use crate::server::{self, Limits, SharedWeb};
use crate::systemd;

/// Run the daemon until SIGTERM/SIGINT. `listener` is the systemd socket,
/// if one was passed; otherwise `config.listen` is bound. A `listen` that
/// cannot be bound is a [`Fatal::Config`] error.
pub async fn run(
    loader: Loader,
    loaded: Loaded,
    listener: Option<std::net::TcpListener>,
    limits: Limits,
) -> Result<(), Fatal> {
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
    let app = App::new(&config)?;
    if app.events.is_some() {
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
    let server = tokio::spawn(
        app.clone()
            .serve(listener, limits, web.clone(), async move {
                let _ = stop_wait.wait_for(|s| *s).await;
            }),
    );
    tracing::info!(
        "serving metrics on {addr}{with} for {} (key from {}, cache_ttl {}s, at most {} connections, {} per client)",
        config.api_url,
        config.api_key_source,
        config.cache_ttl.as_secs_f64(),
        limits.max_connections,
        limits.max_per_client
    );
    systemd::ready(&format!("serving on {addr}; no refresh yet"));
    let status = tokio::spawn(status::status_loop(app.cache().clone(), stop_rx));

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
                    loaded = reload::load_off_loop(&loader) => reload::apply(loaded, &mut current, &app, &web),
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
