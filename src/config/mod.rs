//! Configuration: figment layering (defaults < config.toml < `TTN_EXPORTER_*`
//! environment < flags) and validation. The secret [`ApiKey`] lives in
//! [`crate::model`] and is re-exported here.
//!
//! Each option is declared once as a field of [`RawConfig`] (its default in
//! [`RawConfig::default`]) and once as a flag in [`Overrides`] (its help text
//! is the doc comment; the default is appended from [`RawConfig::default`]),
//! side by side in [`options`].
//!
//! [`load`] produces a plain [`Config`] or a [`ConfigError`] whose message is
//! one line saying what is wrong and what to do; the binary exits with
//! [`EX_CONFIG`] (78) on it. Nothing in a [`Config`] is live: the daemon
//! builds the API client, TLS and basic auth from it.
//!
//! - [`options`]: the options as written and their defaults.
//! - [`validate`]: the plain [`Config`] and its checks.
//! - [`targets`]: the named targets' tables (`[targets.NAME]`).

pub mod environment;
pub mod keys;
pub mod options;
pub mod secret_file;
pub mod targets;
pub mod validate;

use std::path::{Path, PathBuf};

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;

use crate::config::environment::credential_path;
pub use crate::config::environment::Environment;
pub use crate::config::keys::{ApiKey, MAX_KEY_BYTES};
pub use crate::model::Scope;
pub use options::{
    range_text, Bounds, NameList, Overrides, RawConfig, RawTarget, CACHE_TTL, COUNTS,
    DEFAULT_EVENTS_CHUNK, DEFAULT_KEEP_STALE_FOR, DEFAULT_KEY_PATH, DEFAULT_MAX_GATEWAYS,
    DEFAULT_REFRESH_TIMEOUT, DURATIONS, EVENTS_CHUNK, MAX_GATEWAYS, MAX_MAX_GATEWAYS,
    REFRESH_TIMEOUT, REQUEST_TIMEOUT,
};
pub use targets::{MAX_NAME, MAX_TARGETS};
use validate::one_line_text;
pub use validate::{bounded, Config, ConfigError, Target, EX_CONFIG};

/// The config file read when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ttn-exporter/config.toml";
/// Prefix of the environment variables that override the config file.
pub const ENV_PREFIX: &str = "TTN_EXPORTER_";
/// The environment variable that carries the key itself.
pub const ENV_API_KEY: &str = "TTN_EXPORTER_API_KEY";
/// A single-file key credential (`LoadCredential=api-key:...`), accepted
/// besides the `ttn_key` copy of [`DEFAULT_KEY_PATH`].
pub const SINGLE_KEY_CREDENTIAL: &str = "api-key";

/// Load, layer and validate the configuration and the key.
///
/// `config_path` is `--config`: when given, the file must exist; otherwise
/// the credential copy or [`DEFAULT_CONFIG_PATH`] is read if present.
pub fn load(
    config_path: Option<&Path>,
    overrides: &Overrides,
    env: &Environment,
) -> Result<Config, ConfigError> {
    let (raw, file) = layered(config_path, overrides, env)?;
    let (api_key, api_key_source) = find_key(&raw, env)?;
    let targets = targets::load(&raw, env)?;
    let state_file = state_file_path(raw.state_file.as_deref(), env);
    let mut config = validate::validate(raw, api_key, api_key_source, file)?;
    config.targets = targets;
    config.state_file = state_file;
    Ok(config)
}

/// The gateway state file: `state_file` as set (empty: none), else
/// `gateways.json` in systemd's `$STATE_DIRECTORY` (its first entry), else
/// none.
fn state_file_path(set: Option<&Path>, env: &Environment) -> Option<PathBuf> {
    match set {
        Some(p) if p.as_os_str().is_empty() => None,
        Some(p) => Some(p.to_owned()),
        None => env
            .get("STATE_DIRECTORY")
            .and_then(|d| d.split(':').next())
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join("gateways.json")),
    }
}

/// The config file to read: `--config`, else the default one (or its
/// credential copy under systemd) if it exists.
fn config_file_path(config_path: Option<&Path>, env: &Environment) -> Option<PathBuf> {
    if let Some(p) = config_path {
        return Some(p.to_owned());
    }
    let p = credential_path(Path::new(DEFAULT_CONFIG_PATH), env);
    p.exists().then_some(p)
}

/// Layer defaults, file, environment and flags into a [`RawConfig`].
pub fn load_raw(
    config_path: Option<&Path>,
    overrides: &Overrides,
    env: &Environment,
) -> Result<RawConfig, ConfigError> {
    layered(config_path, overrides, env).map(|(raw, _)| raw)
}

const CONFIG_HINT: &str = "fix the path given to --config or the file's permissions";

/// [`load_raw`], and the config file it read (found once).
fn layered(
    config_path: Option<&Path>,
    overrides: &Overrides,
    env: &Environment,
) -> Result<(RawConfig, Option<PathBuf>), ConfigError> {
    let file = config_file_path(config_path, env)
        // `--config /dev/null`: no config file, the usual way to say so.
        .filter(|p| p.as_path() != Path::new("/dev/null"));
    let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
    if let Some(path) = &file {
        // Check it ourselves first: figment silently treats a missing or
        // unreadable file as empty, and we want to name the problem.
        // Only a small regular file: a FIFO would block, a device or a
        // directory would silently give the defaults.
        if let Err(why) =
            crate::config::secret_file::read_text(path, crate::config::secret_file::MAX_CONFIG_FILE)
        {
            let hint = if why.is_missing() {
                format!("no such file; {}", CONFIG_HINT)
            } else {
                format!("{why}; {CONFIG_HINT}")
            };
            return Err(ConfigError::new(format!(
                "cannot read config file {}: {hint}",
                path.display()
            )));
        }
        figment = figment.merge(Toml::file(path));
    }
    let env_pairs: Vec<(String, String)> = env
        .vars
        .iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k != ENV_API_KEY && !targets::is_key_env(k))
        .cloned()
        .collect();
    // Feed figment our captured environment rather than the process one.
    let env_provider = EnvSnapshot { pairs: env_pairs };
    figment = figment
        .merge(env_provider)
        .merge(Serialized::defaults(overrides));
    let raw = figment
        .extract::<RawConfig>()
        .map_err(|e| ConfigError::new(format!("invalid configuration: {}", one_line(&e))))?;
    Ok((raw, file))
}

/// A figment provider over a captured set of environment variables. A
/// value is read as the type of its option's default: a number, a switch
/// (`1`, `true`, `yes`, `on`; `0`, `false`, `no`, `off`, empty) or text.
struct EnvSnapshot {
    pairs: Vec<(String, String)>,
}

impl figment::Provider for EnvSnapshot {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("{ENV_PREFIX}* environment variable(s)"))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let defaults = figment::value::Value::serialize(RawConfig::default())?;
        let mut dict = figment::value::Dict::new();
        for (k, v) in &self.pairs {
            let Some(stripped) = k.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = stripped.to_ascii_lowercase();
            if key.is_empty() || key == "api_key" {
                continue;
            }
            let value = typed_like(defaults.find_ref(&key), v);
            dict.insert(key, value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// `text` as a value of the same type as `default`, if it reads as one;
/// else as text (and extraction names the variable that is wrong).
fn typed_like(default: Option<&figment::value::Value>, text: &str) -> figment::value::Value {
    use figment::value::Value;
    let word = text.trim().to_ascii_lowercase();
    match default {
        Some(Value::Num(..)) => match word.parse::<u64>() {
            Ok(n) => Value::from(n),
            Err(_) => Value::from(text.to_owned()),
        },
        Some(Value::Bool(..)) => match switch(&word) {
            Some(b) => Value::from(b),
            None => Value::from(text.to_owned()),
        },
        _ => Value::from(text.to_owned()),
    }
}

/// A switch's value, as the environment and the flags both spell it:
/// `1`, `true`, `yes`, `on`; `0`, `false`, `no`, `off` or empty (any case).
pub fn switch(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

/// A value [`switch`] does not read as on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a switch (use 1, true, yes, on, 0, false, no or off)")]
pub struct NotASwitch;

/// [`switch`] as a clap value parser, for the `--legacy-metrics` and
/// `--events` flags.
pub fn parse_switch(text: &str) -> Result<bool, NotASwitch> {
    switch(text).ok_or(NotASwitch)
}

fn one_line(e: &figment::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for err in e.clone() {
        // A TOML syntax error comes with a source snippet and a caret on
        // lines of their own: keep the words, drop the drawing.
        let kind = err.kind.to_string();
        let mut s = kind
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.contains('|'))
            .collect::<Vec<_>>()
            .join(": ");
        let key = err.path.join(".");
        let from_env = err
            .metadata
            .as_ref()
            .is_some_and(|md| md.name.contains("environment"));
        if !key.is_empty() && !from_env {
            s = format!("{s} for key `{key}`");
        }
        if let Some(md) = &err.metadata {
            s = match &md.source {
                Some(figment::Source::File(p)) => format!("{s} in {}", p.display()),
                _ if from_env && !key.is_empty() => format!(
                    "{s} in environment variable {ENV_PREFIX}{}",
                    key.to_ascii_uppercase()
                ),
                _ if md.name.contains("Overrides") => format!("{s} in the command-line flags"),
                _ => format!("{s} in {}", md.name),
            };
        }
        parts.push(s);
    }
    one_line_text(&parts.join("; "))
}

/// Find the key: credential, then environment, then `api_key_file`.
fn find_key(raw: &RawConfig, env: &Environment) -> Result<(ApiKey, String), ConfigError> {
    let credentials = ["ttn_key", SINGLE_KEY_CREDENTIAL];
    keys::find_key_in(env, &credentials, ENV_API_KEY, &raw.api_key_file).map_err(ConfigError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_from_env(vars: &[(&str, &str)]) -> Result<RawConfig, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "").unwrap();
        let vars = vars.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let env = Environment {
            vars: vars.collect(),
        };
        load_raw(Some(&file), &Overrides::default(), &env)
    }

    #[test]
    fn environment_values_take_the_type_of_their_default() {
        let raw = raw_from_env(&[
            ("TTN_EXPORTER_MAX_GATEWAYS", "5"),
            ("TTN_EXPORTER_EVENTS_CHUNK", " 7 "),
            ("TTN_EXPORTER_LEGACY_METRICS", "yes"),
            ("TTN_EXPORTER_EVENTS", "off"),
            ("TTN_EXPORTER_ORGANIZATION", "1234"),
            ("TTN_EXPORTER_CACHE_TTL", "2m"),
        ])
        .unwrap();
        assert_eq!(raw.max_gateways, 5);
        assert_eq!(raw.events_chunk, 7);
        assert!(raw.legacy_metrics);
        assert!(!raw.events);
        assert_eq!(raw.organization.as_deref(), Some("1234"));
        assert_eq!(raw.cache_ttl, std::time::Duration::from_secs(120));
        for (var, value) in [
            ("TTN_EXPORTER_MAX_GATEWAYS", "many"),
            ("TTN_EXPORTER_EVENTS", "maybe"),
        ] {
            let e = raw_from_env(&[(var, value)]).unwrap_err().to_string();
            assert!(e.contains(&format!("in environment variable {var}")), "{e}");
        }
    }
}
