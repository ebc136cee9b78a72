//! SIGHUP: read the configuration again off the event loop, and apply it
//! to the running exporter, keeping the old one if the new is bad.

use std::sync::Arc;
use std::time::Duration;

use super::load::{LoadError, Loaded, Loader};
use crate::app::App;
use crate::cache::state_file::StateFile;
use crate::cache::Source;
use crate::config::environment::Environment;
use crate::config::Config;
use crate::server::SharedWeb;
use crate::systemd;

/// How long a SIGHUP reload may take to read config, key and web config.
pub const RELOAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a reload kept the old configuration; one line for the log and the
/// notify status.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// Config file, environment, key or web config.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The blocking task that read the files failed.
    #[error("internal error while loading: {0}")]
    Join(#[from] tokio::task::JoinError),
    /// The files took longer than [`RELOAD_TIMEOUT`] to read.
    #[error("reading the configuration took longer than {} s", RELOAD_TIMEOUT.as_secs())]
    Timeout,
    /// The API client could not be built from the new configuration.
    #[error(transparent)]
    Source(#[from] crate::tts::Error),
}

/// Load on a blocking thread, giving up after [`RELOAD_TIMEOUT`].
pub(super) async fn load_off_loop(loader: &Loader) -> Result<Loaded, ReloadError> {
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
        Ok(Ok(loaded)) => Ok(loaded?),
        Ok(Err(join)) => Err(ReloadError::Join(join)),
        Err(_) => Err(ReloadError::Timeout),
    }
}

/// SIGHUP: use the new config, key and targets; keep the old ones if the
/// new are bad. The cached output stays fresh unless the API URL, key or scope
/// changed, and a back-off the API asked for is kept unless its host did.
pub(super) fn apply(
    loaded: Result<Loaded, ReloadError>,
    current: &mut Config,
    app: &App,
    web: &SharedWeb,
) {
    let (caches, cache) = (&app.caches, app.cache());
    let source = loaded.and_then(|l| {
        Source::from_config(&l.config, cache.self_metrics())
            .map(|s| (l, s))
            .map_err(ReloadError::from)
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
    if let Some(e) = &app.events {
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

#[cfg(test)]
mod tests {
    use std::sync::RwLock;

    use super::*;
    use crate::app::tests::config;
    use crate::server::web::WebConfig;

    fn loaded(toml: &str) -> Result<Loaded, ReloadError> {
        Ok(Loaded {
            config: config(toml),
            web: WebConfig::default(),
        })
    }

    #[test]
    fn a_reload_serves_the_new_targets() {
        let mut current = config("");
        let app = App::new(&current).unwrap();
        let caches = &app.caches;
        let web: SharedWeb = Arc::new(RwLock::new(WebConfig::default()));
        let reload = |toml: &str, current: &mut Config| {
            apply(loaded(toml), current, &app, &web);
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
}
