//! Loading the configuration: config file, environment and flags, the key,
//! and the web config file they name, as one [`Loaded`]; for the daemon's
//! start and reloads and for `check`.

use std::path::PathBuf;

use crate::config::environment::Environment;
use crate::config::{self, Config, ConfigError, Overrides};
use crate::server::web::{self, WebConfig, WebError};

/// How to (re)load the configuration: `--config` and the flags.
#[derive(Clone, Debug)]
pub struct Loader {
    /// `--config`.
    pub config_path: Option<PathBuf>,
    /// The flags.
    pub overrides: Overrides,
    /// An environment file to read first, as `ttn.service` does (`check`
    /// reads [`crate::config::environment::ENV_FILE`]); its variables are named on
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
}
