//! The validated [`Config`] (plain data) and the checks that make it from
//! a [`RawConfig`]: addresses, ranges, IDs, the API URL. A problem is a
//! [`ConfigError`] of one line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::options::{
    range_text, Bounds, NameList, RawConfig, CACHE_TTL, DEFAULT_MAX_GATEWAYS, EVENTS_CHUNK,
    KEEP_STALE_FOR, MAX_GATEWAYS, REFRESH_TIMEOUT, REQUEST_TIMEOUT,
};
use crate::config::keys::ApiKey;
use crate::model::{valid_tts_id, Scope};

/// Exit status for invalid configuration (sysexits.h `EX_CONFIG`).
pub const EX_CONFIG: u8 = 78;

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
    /// How long the last good gateway series are served after refreshes
    /// start failing, within [`KEEP_STALE_FOR`] (zero: not at all).
    pub keep_stale_for: Duration,
    /// Most gateways one refresh reads, within [`MAX_GATEWAYS`].
    pub max_gateways: usize,
    /// Which gateways to export.
    pub scope: Scope,
    /// Also emit the Python exporter's metric names.
    pub legacy_metrics: bool,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
    /// The exporter-toolkit web config file (TLS, basic auth), if any; the
    /// daemon loads it (`server::web::load`).
    pub web_config_file: Option<PathBuf>,
    /// The file remembering gateway times past the server's 48 h, if any
    /// (`cache::state_file`); set by [`super::load`] for the top level only.
    pub state_file: Option<PathBuf>,
    /// Named targets served at `/probe?target=NAME`.
    pub targets: Vec<Target>,
    /// Registry attribute keys exported as labels of `ttn_gateway_info`
    /// (at most [`MAX_INFO_ATTRIBUTES`], each by the server's key rule,
    /// starting with a letter, and not an existing label).
    pub info_attributes: Vec<String>,
    /// Subscribe to the events stream for radio metrics.
    pub events: bool,
    /// Gateways per events stream, within [`EVENTS_CHUNK`].
    pub events_chunk: usize,
}

/// A validated named target.
#[derive(Clone, Debug)]
pub struct Target {
    /// Its name, `[a-z0-9_-]{1,32}`.
    pub name: String,
    /// Its settings, as a full configuration (`listen`, `web` unused).
    pub config: Config,
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

impl From<crate::config::keys::KeyError> for ConfigError {
    fn from(e: crate::config::keys::KeyError) -> ConfigError {
        ConfigError(e.to_string())
    }
}

impl ConfigError {
    pub(super) fn new(msg: impl Into<String>) -> ConfigError {
        ConfigError(msg.into())
    }
}

/// `text` on one line: control characters (newlines too) shown escaped.
pub(super) fn one_line_text(text: &str) -> String {
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

/// Check `raw` into a [`Config`] with its key (no targets yet).
pub(super) fn validate(
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
    let keep_stale_for = bounded("keep_stale_for", raw.keep_stale_for, KEEP_STALE_FOR)?;
    if !EVENTS_CHUNK.contains(&raw.events_chunk) {
        return Err(ConfigError::new(format!(
            "events_chunk must be {}, got {}",
            range_text(&EVENTS_CHUNK),
            raw.events_chunk
        )));
    }
    if !MAX_GATEWAYS.contains(&raw.max_gateways) {
        return Err(ConfigError::new(format!(
            "max_gateways must be {}, e.g. {DEFAULT_MAX_GATEWAYS}",
            range_text(&MAX_GATEWAYS)
        )));
    }
    let info_attributes = info_attributes(raw.info_attributes.as_ref())?;
    let explicit = raw.gateways.as_ref().map(NameList::ids);
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
            "invalid {what} `{}`: IDs are 2 to 36 lowercase letters and digits, with single dashes between them",
            one_line_text(id)
        ))
    };
    let scope = if let Some(ids) = explicit {
        if ids.is_empty() {
            return Err(ConfigError::new(
                "gateways is empty: list gateway IDs or remove the key to export every gateway the API key can list",
            ));
        }
        if let Some(bad) = ids.iter().find(|id| !valid_tts_id(id)) {
            return Err(bad_id("gateway ID", bad));
        }
        Scope::Explicit(ids)
    } else if let Some(org) = raw.organization {
        if !valid_tts_id(&org) {
            return Err(bad_id("organization ID", &org));
        }
        Scope::Organization(org)
    } else if let Some(user) = raw.user {
        if !valid_tts_id(&user) {
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
        keep_stale_for,
        max_gateways: raw.max_gateways,
        scope,
        legacy_metrics: raw.legacy_metrics,
        config_file,
        web_config_file: raw.web_config_file,
        state_file: None,
        info_attributes,
        targets: Vec::new(),
        events: raw.events,
        events_chunk: raw.events_chunk,
    })
}

/// Most registry attributes exported as labels (the server allows 10 per gateway).
pub const MAX_INFO_ATTRIBUTES: usize = 10;
/// Labels `ttn_gateway_info` already has.
const INFO_LABELS: [&str; 5] = [
    "gateway_id",
    "gateway_eui",
    "name",
    "protocol",
    "frequency_plan",
];

/// The attribute keys of `info_attributes`, checked: the server's key rule
/// (3 to 36 of `a-z0-9`, single dashes between), a letter first (a label
/// name cannot start with a digit), no label `ttn_gateway_info` has, no
/// repeats, at most [`MAX_INFO_ATTRIBUTES`].
fn info_attributes(list: Option<&NameList>) -> Result<Vec<String>, ConfigError> {
    let keys = list.map(NameList::ids).unwrap_or_default();
    if keys.len() > MAX_INFO_ATTRIBUTES {
        return Err(ConfigError::new(format!(
            "info_attributes names {} keys; at most {MAX_INFO_ATTRIBUTES} (a gateway has at most 10 attributes)",
            keys.len()
        )));
    }
    let mut out: Vec<String> = Vec::new();
    for k in keys {
        let b = k.as_bytes();
        let rule = (3..=36).contains(&b.len())
            && b[0].is_ascii_lowercase()
            && b.last() != Some(&b'-')
            && !k.contains("--")
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
        if !rule {
            return Err(ConfigError::new(format!(
                "invalid info_attributes key `{}`: attribute keys are 3 to 36 lowercase letters, digits and single dashes, starting with a letter here (it becomes a label name)",
                one_line_text(&k)
            )));
        }
        let label = crate::model::attribute_label(&k);
        if INFO_LABELS.contains(&label.as_str()) {
            return Err(ConfigError::new(format!(
                "info_attributes key `{k}` would replace the `{label}` label of ttn_gateway_info: leave it out"
            )));
        }
        if !out.contains(&k) {
            out.push(k);
        }
    }
    Ok(out)
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
