//! Configuration: figment layering (defaults < config.toml < `TTN_EXPORTER_*`
//! environment < flags) and validation. The secret [`ApiKey`] lives in
//! [`crate::model`] and is re-exported here.
//!
//! [`load`] produces a plain [`Config`] or a [`ConfigError`] whose message is
//! one line saying what is wrong and what to do; the binary exits with
//! [`EX_CONFIG`] (78) on it.

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use url::Url;

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
/// Longest `refresh_timeout` accepted.
pub const MAX_REFRESH_TIMEOUT: Duration = Duration::from_secs(3600);
/// Default `max_gateways`: the largest fleet docs/performance.md measures.
pub const DEFAULT_MAX_GATEWAYS: usize = crate::tts::DEFAULT_MAX_GATEWAYS;
/// Largest `max_gateways` accepted.
pub const MAX_MAX_GATEWAYS: usize = 1_000_000;
/// Names of the key and config inside `$CREDENTIALS_DIRECTORY`: the unit
/// loads the whole `/etc/ttn-exporter` directory as credential `ttn`, so its
/// files arrive as `ttn_<name>`; `api-key` is accepted for a single-file
/// `LoadCredential=api-key:...`.
pub const CREDENTIAL_KEY_NAMES: [&str; 2] = ["ttn_key", "api-key"];
/// Name of the config file inside `$CREDENTIALS_DIRECTORY`.
pub const CREDENTIAL_CONFIG_NAME: &str = "ttn_config.toml";

pub use crate::model::{ApiKey, Scope};

/// The raw, layered configuration as the file, environment and flags give it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Address to bind when systemd passed no socket.
    pub listen: String,
    /// The Things Stack base URL.
    pub api_url: String,
    /// File to read the key from when neither credential nor env has it.
    pub api_key_file: PathBuf,
    /// Age after which a scrape triggers a refresh.
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    /// Per upstream HTTP request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// The whole refresh (every request of it together).
    #[serde(with = "humantime_serde")]
    pub refresh_timeout: Duration,
    /// Most gateways one refresh reads; more is a failed refresh.
    pub max_gateways: usize,
    /// Explicit gateway IDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateways: Option<GatewayList>,
    /// List this organization's gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// List this user's gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Also emit the Python exporter's metric names.
    pub legacy_metrics: bool,
    /// Optional TLS and basic auth (exporter-toolkit web config format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_config_file: Option<PathBuf>,
    /// Named targets served at `/probe?target=NAME` ([`crate::targets`]).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub targets: std::collections::BTreeMap<String, crate::targets::RawTarget>,
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
        }
    }
}

/// Overrides from the command line; `None` leaves the lower layers alone.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Overrides {
    /// `--listen`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `--api-url`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// `--api-key-file`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// `--cache-ttl`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache_ttl: Option<String>,
    /// `--request-timeout`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<String>,
    /// `--refresh-timeout`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_timeout: Option<String>,
    /// `--max-gateways`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gateways: Option<usize>,
    /// `--gateways a,b`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateways: Option<String>,
    /// `--organization`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// `--user`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `--legacy-metrics`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_metrics: Option<bool>,
    /// `--web-config-file`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_config_file: Option<PathBuf>,
}

/// The validated configuration the daemon runs with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to bind when systemd passed no socket.
    pub listen: SocketAddr,
    /// The Things Stack base URL, without a trailing slash.
    pub api_url: Url,
    /// The API key.
    pub api_key: ApiKey,
    /// Where the key came from, for log lines (never the key itself).
    pub api_key_source: String,
    /// Age after which a scrape triggers a refresh.
    pub cache_ttl: Duration,
    /// Per upstream HTTP request.
    pub request_timeout: Duration,
    /// Deadline of a whole refresh.
    pub refresh_timeout: Duration,
    /// Most gateways one refresh reads.
    pub max_gateways: usize,
    /// Which gateways to export.
    pub scope: Scope,
    /// Also emit the Python exporter's metric names.
    pub legacy_metrics: bool,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// TLS and basic auth for the HTTP endpoints.
    pub web: crate::web::WebConfig,
    /// Named targets served at `/probe?target=NAME`.
    pub targets: Vec<crate::targets::Target>,
}

/// Everything `load` reads from the process environment, gathered in one
/// place so tests can supply it without touching the real environment.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// All variables (only `TTN_EXPORTER_*` and `CREDENTIALS_DIRECTORY` matter).
    pub vars: Vec<(String, String)>,
}

impl Environment {
    /// The real process environment.
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `$CREDENTIALS_DIRECTORY`, if systemd set it.
    pub fn credentials_dir(&self) -> Option<PathBuf> {
        self.get("CREDENTIALS_DIRECTORY")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
    }
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
    let web = match &raw.web_config_file {
        Some(p) => crate::web::load(p, env)?,
        None => crate::web::WebConfig::default(),
    };
    let mut config = validate(raw, api_key, api_key_source, file)?;
    config.web = web;
    config.targets = targets;
    Ok(config)
}

fn raw_file(config_path: Option<&Path>, env: &Environment) -> Option<PathBuf> {
    if let Some(p) = config_path {
        return Some(p.to_owned());
    }
    if let Some(dir) = env.credentials_dir() {
        let p = dir.join(CREDENTIAL_CONFIG_NAME);
        if p.exists() {
            return Some(p);
        }
    }
    let p = PathBuf::from(DEFAULT_CONFIG_PATH);
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
    let file = raw_file(config_path, env);
    let mut figment = Figment::from(Serialized::defaults(RawConfig::default()));
    if let Some(path) = &file {
        // Check it ourselves first: figment silently treats a missing or
        // unreadable file as empty, and we want to name the problem.
        std::fs::File::open(path).map_err(|e| {
            ConfigError::new(format!(
                "cannot read config file {}: {}; fix the path given to --config or the file's permissions",
                path.display(),
                io_reason(&e)
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
                "legacy_metrics" => match v.trim().to_ascii_lowercase().as_str() {
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
    parts.join("; ")
}

fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "no such file".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Find the key: credential, then environment, then `api_key_file`.
fn find_key(raw: &RawConfig, env: &Environment) -> Result<(ApiKey, String), ConfigError> {
    let cred_dir = env.credentials_dir();
    if let Some(dir) = &cred_dir {
        for name in CREDENTIAL_KEY_NAMES {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let key = ApiKey::parse(&text).map_err(|why| {
                        ConfigError::new(format!(
                            "API key credential {name} (from {DEFAULT_KEY_PATH}) {why}; write the key alone into {DEFAULT_KEY_PATH}"
                        ))
                    })?;
                    return Ok((key, format!("systemd credential {name}")));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ConfigError::new(format!(
                        "cannot read API key credential {}: {}",
                        path.display(),
                        io_reason(&e)
                    )))
                }
            }
        }
    }
    if let Some(value) = env.get(ENV_API_KEY) {
        let key = ApiKey::parse(value).map_err(|why| {
            ConfigError::new(format!(
                "{ENV_API_KEY} {why}; set it to the key alone (NNSXS....)"
            ))
        })?;
        return Ok((key, format!("environment {ENV_API_KEY}")));
    }
    let path = &raw.api_key_file;
    let how = format!(
        "create it with: sudo install -m 0600 -o root -g root /dev/stdin {} <<< 'NNSXS....'",
        path.display()
    );
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            let why = if cred_dir.is_some() && path == Path::new(DEFAULT_KEY_PATH) {
                // Under systemd the directory is root-only and the key comes
                // as a credential: a missing credential means a missing file.
                "is missing (systemd passed no key credential)".to_owned()
            } else {
                match e.kind() {
                    io::ErrorKind::NotFound => "does not exist".to_owned(),
                    io::ErrorKind::PermissionDenied => {
                        "is not readable (permission denied; run as root or via systemd)".to_owned()
                    }
                    _ => format!("cannot be read ({e})"),
                }
            };
            return Err(ConfigError::new(format!(
                "no API key: {} {why}; {how}, or set {ENV_API_KEY}",
                path.display()
            )));
        }
    };
    let mode = meta.permissions().mode();
    if mode & 0o007 != 0 {
        return Err(ConfigError::new(format!(
            "API key file {} is accessible by other users (mode {:04o}); fix it with: sudo chmod 0600 {}",
            path.display(),
            mode & 0o7777,
            path.display()
        )));
    }
    if mode & 0o070 != 0 {
        tracing::warn!(
            file = %path.display(),
            "API key file {} is readable by its group (mode {:04o}); chmod 0600 it unless that group is meant to read the key",
            path.display(),
            mode & 0o7777
        );
    }
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(format!(
            "cannot read API key file {}: {}; {how}",
            path.display(),
            io_reason(&e)
        ))
    })?;
    let key = ApiKey::parse(&text).map_err(|why| {
        ConfigError::new(format!(
            "API key file {} {why}; write the key alone into it",
            path.display()
        ))
    })?;
    Ok((key, format!("file {}", path.display())))
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
            raw.listen
        ))
    })?;
    let mut api_url = Url::parse(raw.api_url.trim()).map_err(|e| {
        ConfigError::new(format!(
            "invalid api_url `{}`: {e}; use e.g. https://eu1.cloud.thethings.network",
            raw.api_url
        ))
    })?;
    if !matches!(api_url.scheme(), "http" | "https") || api_url.host().is_none() {
        return Err(ConfigError::new(format!(
            "invalid api_url `{}`: must be an http or https URL with a host, e.g. https://eu1.cloud.thethings.network",
            raw.api_url
        )));
    }
    if !api_url.username().is_empty() || api_url.password().is_some() {
        return Err(ConfigError::new(
            "invalid api_url: it must not carry credentials; put the key in /etc/ttn-exporter/key",
        ));
    }
    let path = api_url.path().trim_end_matches('/').to_owned();
    api_url.set_path(&path);
    api_url.set_query(None);
    api_url.set_fragment(None);
    if raw.cache_ttl.is_zero() {
        return Err(ConfigError::new(
            "cache_ttl must be greater than 0, e.g. 30s",
        ));
    }
    if raw.request_timeout.is_zero() {
        return Err(ConfigError::new(
            "request_timeout must be greater than 0, e.g. 10s",
        ));
    }
    if raw.refresh_timeout.is_zero() || raw.refresh_timeout > MAX_REFRESH_TIMEOUT {
        return Err(ConfigError::new(
            "refresh_timeout must be greater than 0 and at most 1h, e.g. 8s (below the scrape timeout)",
        ));
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
    let scope = if let Some(ids) = explicit {
        if ids.is_empty() {
            return Err(ConfigError::new(
                "gateways is empty: list gateway IDs or remove the key to export every gateway the API key can list",
            ));
        }
        if let Some(bad) = ids.iter().find(|id| !valid_id(id)) {
            return Err(ConfigError::new(format!(
                "invalid gateway ID `{bad}` in gateways: IDs are lowercase letters, digits and dashes"
            )));
        }
        Scope::Explicit(ids)
    } else if let Some(org) = raw.organization {
        if !valid_id(&org) {
            return Err(ConfigError::new(format!(
                "invalid organization ID `{org}`: IDs are lowercase letters, digits and dashes"
            )));
        }
        Scope::Organization(org)
    } else if let Some(user) = raw.user {
        if !valid_id(&user) {
            return Err(ConfigError::new(format!(
                "invalid user ID `{user}`: IDs are lowercase letters, digits and dashes"
            )));
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
        cache_ttl: raw.cache_ttl,
        request_timeout: raw.request_timeout,
        refresh_timeout: raw.refresh_timeout,
        max_gateways: raw.max_gateways,
        scope,
        legacy_metrics: raw.legacy_metrics,
        config_file,
        web: crate::web::WebConfig::default(),
        targets: Vec::new(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment {
            vars: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn key_file(dir: &Path, mode: u32, content: &str) -> PathBuf {
        let p = dir.join("key");
        let mut f = std::fs::File::create(&p).unwrap();
        f.write_all(content.as_bytes()).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    const KEY: &str = "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET";

    #[test]
    fn defaults_with_env_key() {
        let c = load(
            Some(Path::new("/dev/null")),
            &Overrides::default(),
            &env(&[(ENV_API_KEY, KEY)]),
        )
        .unwrap();
        assert_eq!(c.listen.to_string(), "[::]:9715");
        assert_eq!(c.api_url.as_str(), "https://eu1.cloud.thethings.network/");
        assert_eq!(c.cache_ttl, Duration::from_secs(30));
        assert_eq!(c.request_timeout, Duration::from_secs(10));
        assert_eq!(c.refresh_timeout, Duration::from_secs(8));
        assert_eq!(c.max_gateways, 10_000);
        assert_eq!(c.scope, Scope::All);
        assert!(!c.legacy_metrics);
        assert_eq!(c.api_key.expose(), KEY);
        assert_eq!(format!("{:?}", c.api_key), "[redacted]");
        assert!(!format!("{c:?}").contains(KEY));
    }

    #[test]
    fn layering_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(
            &cfg,
            "listen = \"127.0.0.1:1\"\ncache_ttl = \"5m\"\nrequest_timeout = \"3s\"\napi_url = \"http://file\"\n",
        )
        .unwrap();
        let e = env(&[
            (ENV_API_KEY, KEY),
            ("TTN_EXPORTER_CACHE_TTL", "45s"),
            ("TTN_EXPORTER_API_URL", "http://env:8080/"),
            ("TTN_EXPORTER_LEGACY_METRICS", "true"),
            ("TTN_EXPORTER_GATEWAYS", "gw-a, gw-b"),
        ]);
        let flags = Overrides {
            api_url: Some("http://flag:1885".into()),
            ..Default::default()
        };
        let c = load(Some(&cfg), &flags, &e).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:1");
        assert_eq!(c.cache_ttl, Duration::from_secs(45));
        assert_eq!(c.request_timeout, Duration::from_secs(3));
        assert_eq!(c.api_url.as_str(), "http://flag:1885/");
        assert!(c.legacy_metrics);
        assert_eq!(c.scope, Scope::Explicit(vec!["gw-a".into(), "gw-b".into()]));
        assert_eq!(c.config_file.as_deref(), Some(cfg.as_path()));
    }

    #[test]
    fn shipped_example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/config.toml");
        assert!(path.exists(), "{} is missing", path.display());
        let raw = load_raw(Some(&path), &Overrides::default(), &env(&[])).unwrap();
        assert_eq!(raw, RawConfig::default());
    }

    fn err_of(cfg_text: &str, e: &[(&str, &str)]) -> String {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config.toml");
        std::fs::write(&cfg, cfg_text).unwrap();
        let mut pairs: Vec<(&str, &str)> = vec![(ENV_API_KEY, KEY)];
        pairs.extend_from_slice(e);
        load(Some(&cfg), &Overrides::default(), &env(&pairs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            ("cache_tll = \"5s\"\n", &[], "cache_tll"),
            ("listen = \n", &[], "config.toml"),
            ("api_url = \"not a url\"\n", &[], "invalid api_url"),
            ("api_url = \"ftp://x\"\n", &[], "http or https"),
            ("cache_ttl = \"five\"\n", &[], "cache_ttl"),
            ("cache_ttl = \"0s\"\n", &[], "cache_ttl must be greater"),
            ("refresh_timeout = \"0s\"\n", &[], "refresh_timeout must be"),
            ("refresh_timeout = \"2h\"\n", &[], "refresh_timeout must be"),
            ("max_gateways = 0\n", &[], "max_gateways must be between"),
            ("max_gateways = -5\n", &[], "max_gateways"),
            ("listen = \"localhost\"\n", &[], "invalid listen address"),
            ("gateways = []\n", &[], "gateways is empty"),
            ("gateways = [\"Bad ID\"]\n", &[], "invalid gateway ID"),
            ("organization = \"o\"\nuser = \"u\"\n", &[], "at most one"),
            ("", &[("TTN_EXPORTER_BOGUS", "1")], "TTN_EXPORTER_BOGUS"),
            (
                "",
                &[("TTN_EXPORTER_REQUEST_TIMEOUT", "soon")],
                "in environment variable TTN_EXPORTER_REQUEST_TIMEOUT",
            ),
        ];
        for (text, e, needle) in cases {
            let msg = err_of(text, e);
            assert!(msg.contains(needle), "{text:?}: {msg}");
            assert!(!msg.contains('\n'), "multi-line: {msg}");
            assert!(!msg.contains(KEY));
        }
    }

    #[test]
    fn explicit_missing_config_is_an_error() {
        let msg = load(
            Some(Path::new("/nonexistent/ttn.toml")),
            &Overrides::default(),
            &env(&[(ENV_API_KEY, KEY)]),
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("/nonexistent/ttn.toml"), "{msg}");
        assert!(msg.contains("no such file"), "{msg}");
    }

    #[test]
    fn key_lookup_order_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        let file = key_file(dir.path(), 0o600, "  NNSXS.FILE-KEY.FAKE\n");
        let flags = Overrides {
            api_key_file: Some(file.clone()),
            ..Default::default()
        };
        let cfg = Some(Path::new("/dev/null"));
        // file only
        let c = load(cfg, &flags, &env(&[])).unwrap();
        assert_eq!(c.api_key.expose(), "NNSXS.FILE-KEY.FAKE");
        // env beats file
        let c = load(cfg, &flags, &env(&[(ENV_API_KEY, "NNSXS.ENV-KEY.FAKE")])).unwrap();
        assert_eq!(c.api_key.expose(), "NNSXS.ENV-KEY.FAKE");
        // credential beats env
        std::fs::write(creds.join("ttn_key"), "NNSXS.CRED-KEY.FAKE\n").unwrap();
        let e = env(&[
            (ENV_API_KEY, "NNSXS.ENV-KEY.FAKE"),
            ("CREDENTIALS_DIRECTORY", creds.to_str().unwrap()),
        ]);
        let c = load(cfg, &flags, &e).unwrap();
        assert_eq!(c.api_key.expose(), "NNSXS.CRED-KEY.FAKE");
        assert_eq!(c.api_key_source, "systemd credential ttn_key");
    }

    #[test]
    fn bad_keys_are_refused_with_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let cases: &[(u32, &str, &str)] = &[
            (0o600, "", "is empty"),
            (0o600, " \n", "is empty"),
            (0o600, "NNSXS.A B", "whitespace"),
            (0o644, "NNSXS.FAKE", "other users"),
            (0o604, "NNSXS.FAKE", "chmod 0600"),
        ];
        for (mode, content, needle) in cases {
            let file = key_file(dir.path(), *mode, content);
            let flags = Overrides {
                api_key_file: Some(file),
                ..Default::default()
            };
            let msg = load(Some(Path::new("/dev/null")), &flags, &env(&[]))
                .unwrap_err()
                .to_string();
            assert!(msg.contains(needle), "{mode:o} {content:?}: {msg}");
            assert!(!msg.contains('\n'));
            if !content.trim().is_empty() {
                assert!(!msg.contains(content.trim()), "key leaked: {msg}");
            }
        }
        let msg = load(
            Some(Path::new("/dev/null")),
            &Overrides::default(),
            &env(&[(ENV_API_KEY, "")]),
        )
        .unwrap_err()
        .to_string();
        assert!(msg.contains("TTN_EXPORTER_API_KEY is empty"), "{msg}");
    }

    #[test]
    fn missing_key_names_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let flags = Overrides {
            api_key_file: Some(dir.path().join("key")),
            ..Default::default()
        };
        let msg = load(Some(Path::new("/dev/null")), &flags, &env(&[]))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("does not exist"), "{msg}");
        assert!(msg.contains("install -m 0600"), "{msg}");
        // Under systemd with the default path: it names /etc/ttn-exporter/key.
        let creds = dir.path().join("creds");
        std::fs::create_dir(&creds).unwrap();
        let e = env(&[("CREDENTIALS_DIRECTORY", creds.to_str().unwrap())]);
        let msg = load(Some(Path::new("/dev/null")), &Overrides::default(), &e)
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/etc/ttn-exporter/key is missing"), "{msg}");
    }
}
