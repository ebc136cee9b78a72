//! Configuration: figment layering (defaults < config.toml < `TTN_EXPORTER_*`
//! environment < flags) and validation. The secret [`ApiKey`] lives in
//! [`crate::model`] and is re-exported here.
//!
//! Each option is declared once as a field of [`RawConfig`] (its default in
//! [`RawConfig::default`]) and once as a flag in [`Overrides`] (its help text
//! is the doc comment; the default is appended from [`RawConfig::default`]).
//!
//! [`load`] produces a plain [`Config`] or a [`ConfigError`] whose message is
//! one line saying what is wrong and what to do; the binary exits with
//! [`EX_CONFIG`] (78) on it. Nothing in a [`Config`] is live: the daemon
//! builds the API client, TLS and basic auth from it.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::keys;
pub use crate::keys::{ApiKey, MAX_KEY_BYTES};
use crate::systemd::credential_path;
pub use crate::systemd::Environment;

/// Exit status for invalid configuration (sysexits.h `EX_CONFIG`).
pub const EX_CONFIG: u8 = 78;
/// The config file read when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/ttn-exporter/config.toml";
/// Where the API key lives on disk by default.
pub const DEFAULT_KEY_PATH: &str = "/etc/ttn-exporter/key";
/// Prefix of the environment variables that override the config file.
pub const ENV_PREFIX: &str = "TTN_EXPORTER_";
/// The environment variable that carries the key itself.
pub const ENV_API_KEY: &str = "TTN_EXPORTER_API_KEY";
/// Default deadline of a whole refresh: below Prometheus' default scrape
/// timeout (10 s), so a scrape gets `ttn_up 0` rather than a timeout.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(8);
/// Default `max_gateways`: the largest fleet docs/performance.md measures.
pub const DEFAULT_MAX_GATEWAYS: usize = crate::tts::DEFAULT_MAX_GATEWAYS;
/// Largest `max_gateways` accepted.
pub const MAX_MAX_GATEWAYS: usize = 1_000_000;
/// A single-file key credential (`LoadCredential=api-key:...`), accepted
/// besides the `ttn_key` copy of [`DEFAULT_KEY_PATH`].
pub const SINGLE_KEY_CREDENTIAL: &str = "api-key";
/// Default `events_chunk`: gateways per events stream.
pub const DEFAULT_EVENTS_CHUNK: usize = 100;

pub use crate::model::Scope;

/// The raw, layered configuration as the file, environment and flags give
/// it. The options are documented on the flags ([`Overrides`]).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawConfig {
    pub listen: String,
    pub api_url: String,
    pub api_key_file: PathBuf,
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub refresh_timeout: Duration,
    pub max_gateways: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateways: Option<GatewayList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub legacy_metrics: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_config_file: Option<PathBuf>,
    /// Named targets served at `/probe?target=NAME` ([`crate::targets`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub targets: std::collections::BTreeMap<String, crate::targets::RawTarget>,
    /// Subscribe to the events stream for radio metrics.
    #[serde(default)]
    pub events: bool,
    /// Gateways per events stream.
    #[serde(default = "default_events_chunk")]
    pub events_chunk: usize,
}

fn default_events_chunk() -> usize {
    DEFAULT_EVENTS_CHUNK
}

/// The defaults, the one place they are written.
impl Default for RawConfig {
    fn default() -> Self {
        RawConfig {
            listen: "[::]:9715".into(),
            api_url: "https://eu1.cloud.thethings.network".into(),
            api_key_file: PathBuf::from(DEFAULT_KEY_PATH),
            cache_ttl: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            refresh_timeout: DEFAULT_REFRESH_TIMEOUT,
            max_gateways: DEFAULT_MAX_GATEWAYS,
            gateways: None,
            organization: None,
            user: None,
            legacy_metrics: false,
            web_config_file: None,
            targets: Default::default(),
            events: false,
            events_chunk: DEFAULT_EVENTS_CHUNK,
        }
    }
}

/// The options as flags, the top configuration layer; `None` leaves the
/// lower layers alone. Flattened into [`crate::cli::Args`].
#[derive(Clone, Debug, Default, Serialize, clap::Args)]
pub struct Overrides {
    /// Address to bind when systemd passed no socket
    #[arg(long, global = true, value_name = "ADDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// The Things Stack base URL
    #[arg(long, global = true, value_name = "URL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// File holding the API key
    #[arg(long, global = true, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Serve cached gateway data this long before a scrape refreshes it
    #[arg(long, global = true, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<String>,
    /// Timeout of each upstream HTTP request
    #[arg(long, global = true, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
    /// Deadline of a whole refresh (every request of it), below the scrape timeout
    #[arg(long, global = true, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_timeout: Option<String>,
    /// Most gateways one refresh reads; more fails the refresh (1 to 1000000)
    #[arg(long, global = true, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gateways: Option<usize>,
    /// Export only these gateway IDs (comma-separated) instead of listing
    #[arg(long, global = true, value_name = "IDS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateways: Option<String>,
    /// Export the gateways of this organization
    #[arg(long, global = true, value_name = "ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// Export the gateways of this user
    #[arg(long, global = true, value_name = "ID")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Also emit the metric names of the Python exporter
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_metrics: Option<bool>,
    /// TLS and basic auth config (Prometheus exporter-toolkit format)
    #[arg(long, global = true, value_name = "PATH", alias = "web.config.file")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_config_file: Option<PathBuf>,
    /// Subscribe to the events stream for per-gateway radio metrics (RSSI, SNR, SF, airtime, TX results)
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<bool>,
    /// Gateways per events stream (1 to 1000)
    #[arg(long, global = true, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_chunk: Option<usize>,
}

/// A gateway list: a TOML array, or a comma-separated string (environment).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum GatewayList {
    /// `gateways = ["a", "b"]`
    List(Vec<String>),
    /// `TTN_EXPORTER_GATEWAYS=a,b`
    Csv(String),
}

impl GatewayList {
    fn ids(&self) -> Vec<String> {
        let items: Vec<String> = match self {
            GatewayList::List(v) => v.iter().map(|s| s.trim().to_owned()).collect(),
            GatewayList::Csv(s) => s.split(',').map(|s| s.trim().to_owned()).collect(),
        };
        items.into_iter().filter(|s| !s.is_empty()).collect()
    }
}

/// The validated configuration the daemon runs with: plain data.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to bind when systemd passed no socket.
    pub listen: SocketAddr,
    /// The Things Stack base URL, without a trailing slash, query or fragment.
    pub api_url: Url,
    /// The API key.
    pub api_key: ApiKey,
    /// Where the key came from, for log lines (never the key itself).
    pub api_key_source: String,
    /// Age after which a scrape triggers a refresh, within [`CACHE_TTL`].
    pub cache_ttl: Duration,
    /// Limit of each upstream HTTP request, within [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Deadline of a whole refresh, within [`REFRESH_TIMEOUT`].
    pub refresh_timeout: Duration,
    /// Most gateways one refresh reads, 1 to [`MAX_MAX_GATEWAYS`].
    pub max_gateways: usize,
    /// Which gateways to export.
    pub scope: Scope,
    /// Also emit the Python exporter's metric names.
    pub legacy_metrics: bool,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The exporter-toolkit web config file (TLS, basic auth), if any; the
    /// daemon loads it ([`crate::web::load`]).
    pub web_config_file: Option<PathBuf>,
    /// Named targets served at `/probe?target=NAME`.
    pub targets: Vec<crate::targets::Target>,
    /// Subscribe to the events stream for radio metrics.
    pub events: bool,
    /// Gateways per events stream (1..=1000).
    pub events_chunk: usize,
}

/// The range a duration option must lie in.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Shortest accepted.
    pub min: Duration,
    /// Longest accepted.
    pub max: Duration,
}

/// `cache_ttl`: at least a second (no refresh per scrape), at most a day.
pub const CACHE_TTL: Bounds = Bounds {
    min: Duration::from_secs(1),
    max: Duration::from_secs(24 * 3600),
};
/// `request_timeout`: 100 ms to 5 minutes.
pub const REQUEST_TIMEOUT: Bounds = Bounds {
    min: Duration::from_millis(100),
    max: Duration::from_secs(300),
};

/// `refresh_timeout`: 100 ms to an hour.
pub const REFRESH_TIMEOUT: Bounds = Bounds {
    min: Duration::from_millis(100),
    max: Duration::from_secs(3600),
};

/// Every duration option and its range (shown in `--help`, checked at load).
pub const DURATIONS: &[(&str, Bounds)] = &[
    ("cache_ttl", CACHE_TTL),
    ("request_timeout", REQUEST_TIMEOUT),
    ("refresh_timeout", REFRESH_TIMEOUT),
];

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} to {}",
            humantime::format_duration(self.min),
            humantime::format_duration(self.max)
        )
    }
}

/// Check that duration option `name` lies within `b`.
pub fn bounded(name: &str, value: Duration, b: Bounds) -> Result<Duration, ConfigError> {
    if (b.min..=b.max).contains(&value) {
        return Ok(value);
    }
    Err(ConfigError::new(format!(
        "{name} = {} is out of range: use {b}",
        humantime::format_duration(value)
    )))
}

/// A configuration or key problem: one line, what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl From<String> for ConfigError {
    fn from(msg: String) -> ConfigError {
        ConfigError(msg)
    }
}

impl ConfigError {
    fn new(msg: impl Into<String>) -> ConfigError {
        ConfigError(msg.into())
    }
}

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
    let targets = crate::targets::load(&raw, env)?;
    let mut config = validate(raw, api_key, api_key_source, file)?;
    config.targets = targets;
    Ok(config)
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

/// [`load_raw`], and the config file it read (found once).
fn layered(
    config_path: Option<&Path>,
    overrides: &Overrides,
    env: &Environment,
) -> Result<(RawConfig, Option<PathBuf>), ConfigError> {
    let file = config_file_path(config_path, env);
    let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
    if let Some(path) = &file {
        // Check it ourselves first: figment silently treats a missing or
        // unreadable file as empty, and we want to name the problem.
        std::fs::File::open(path).map_err(|e| {
            ConfigError::new(format!(
                "cannot read config file {}: {}; fix the path given to --config or the file's permissions",
                path.display(),
                keys::io_reason(&e)
            ))
        })?;
        figment = figment.merge(Toml::file(path));
    }
    let env_pairs: Vec<(String, String)> = env
        .vars
        .iter()
        .filter(|(k, _)| {
            k.starts_with(ENV_PREFIX) && k != ENV_API_KEY && !crate::targets::is_key_env(k)
        })
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

/// A figment provider over a captured set of environment variables.
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
        let mut dict = figment::value::Dict::new();
        for (k, v) in &self.pairs {
            let Some(stripped) = k.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let key = stripped.to_ascii_lowercase();
            if key.is_empty() || key == "api_key" {
                continue;
            }
            let value = match key.as_str() {
                "events_chunk" => match v.trim().parse::<u64>() {
                    Ok(n) => figment::value::Value::from(n),
                    Err(_) => figment::value::Value::from(v.clone()),
                },
                "legacy_metrics" | "events" => match v.trim().to_ascii_lowercase().as_str() {
                    "1" | "true" | "yes" | "on" => figment::value::Value::from(true),
                    "0" | "false" | "no" | "off" | "" => figment::value::Value::from(false),
                    _ => figment::value::Value::from(v.clone()),
                },
                _ => figment::value::Value::from(v.clone()),
            };
            dict.insert(key, value);
        }
        Ok(figment::Profile::Default.collect(dict))
    }
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

/// `text` on one line: control characters (newlines too) shown escaped.
fn one_line_text(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Find the key: credential, then environment, then `api_key_file`.
fn find_key(raw: &RawConfig, env: &Environment) -> Result<(ApiKey, String), ConfigError> {
    find_key_in(
        env,
        &["ttn_key", SINGLE_KEY_CREDENTIAL],
        ENV_API_KEY,
        &raw.api_key_file,
    )
}

/// [`keys::find_key_in`], as a [`ConfigError`]; also used for targets' keys.
pub fn find_key_in(
    env: &Environment,
    credentials: &[&str],
    var: &str,
    file: &Path,
) -> Result<(ApiKey, String), ConfigError> {
    keys::find_key_in(env, credentials, var, file).map_err(ConfigError)
}

pub(crate) fn validate(
    raw: RawConfig,
    api_key: ApiKey,
    api_key_source: String,
    config_file: Option<PathBuf>,
) -> Result<Config, ConfigError> {
    let listen: SocketAddr = raw.listen.parse().map_err(|_| {
        ConfigError::new(format!(
            "invalid listen address `{}`: use host:port, e.g. 127.0.0.1:9715 or [::]:9715",
            one_line_text(&raw.listen)
        ))
    })?;
    let api_url = api_url(&raw.api_url)?;
    let cache_ttl = bounded("cache_ttl", raw.cache_ttl, CACHE_TTL)?;
    let request_timeout = bounded("request_timeout", raw.request_timeout, REQUEST_TIMEOUT)?;
    let refresh_timeout = bounded("refresh_timeout", raw.refresh_timeout, REFRESH_TIMEOUT)?;
    if !(1..=1000).contains(&raw.events_chunk) {
        return Err(ConfigError::new(format!(
            "events_chunk must be between 1 and 1000, got {}",
            raw.events_chunk
        )));
    }
    if raw.max_gateways == 0 || raw.max_gateways > MAX_MAX_GATEWAYS {
        return Err(ConfigError::new(format!(
            "max_gateways must be between 1 and {MAX_MAX_GATEWAYS}, e.g. {DEFAULT_MAX_GATEWAYS}"
        )));
    }
    let explicit = raw.gateways.as_ref().map(GatewayList::ids);
    let chosen = [
        explicit.is_some(),
        raw.organization.is_some(),
        raw.user.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen > 1 {
        return Err(ConfigError::new(
            "set at most one of gateways, organization and user",
        ));
    }
    let bad_id = |what: &str, id: &str| {
        ConfigError::new(format!(
            "invalid {what} `{}`: IDs are lowercase letters, digits and dashes",
            one_line_text(id)
        ))
    };
    let scope = if let Some(ids) = explicit {
        if ids.is_empty() {
            return Err(ConfigError::new(
                "gateways is empty: list gateway IDs or remove the key to export every gateway the API key can list",
            ));
        }
        if let Some(bad) = ids.iter().find(|id| !valid_id(id)) {
            return Err(bad_id("gateway ID", bad));
        }
        Scope::Explicit(ids)
    } else if let Some(org) = raw.organization {
        if !valid_id(&org) {
            return Err(bad_id("organization ID", &org));
        }
        Scope::Organization(org)
    } else if let Some(user) = raw.user {
        if !valid_id(&user) {
            return Err(bad_id("user ID", &user));
        }
        Scope::User(user)
    } else {
        Scope::All
    };
    Ok(Config {
        listen,
        api_url,
        api_key,
        api_key_source,
        cache_ttl,
        request_timeout,
        refresh_timeout,
        max_gateways: raw.max_gateways,
        scope,
        legacy_metrics: raw.legacy_metrics,
        config_file,
        web_config_file: raw.web_config_file,
        targets: Vec::new(),
        events: raw.events,
        events_chunk: raw.events_chunk,
    })
}

/// Parse `api_url`: http(s) with a host, no credentials, query or fragment
/// (the client appends API paths; a query would be silently lost).
fn api_url(text: &str) -> Result<Url, ConfigError> {
    let shown = one_line_text(text);
    let mut url = Url::parse(text.trim()).map_err(|e| {
        ConfigError::new(format!(
            "invalid api_url `{shown}`: {e}; use e.g. https://eu1.cloud.thethings.network"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(format!(
            "invalid api_url `{shown}`: must be an http or https URL with a host, e.g. https://eu1.cloud.thethings.network"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            "invalid api_url: it must not carry credentials; put the key in /etc/ttn-exporter/key",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ConfigError::new(format!(
            "invalid api_url `{shown}`: remove the query or fragment (`?...`, `#...`); give the base URL only, e.g. https://eu1.cloud.thethings.network"
        )));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// TTS entity IDs: 2-36 characters of `a-z`, `0-9` and `-`, no leading dash.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
