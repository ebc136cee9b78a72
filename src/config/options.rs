//! The options as written: [`RawConfig`] (the file and environment
//! layers; its [`Default`] is the one place defaults are written),
//! [`Overrides`] (the same options as flags), a target's table
//! [`RawTarget`], and the range each duration option must lie in.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use smart_default::SmartDefault;

/// Where the API key lives on disk by default.
pub const DEFAULT_KEY_PATH: &str = "/etc/ttn-exporter/key";
/// Default deadline of a whole refresh: below Prometheus' default scrape
/// timeout (10 s), so a scrape gets `ttn_up 0` rather than a timeout.
pub const DEFAULT_REFRESH_TIMEOUT: Duration = Duration::from_secs(8);
/// Default `keep_stale_for`: longer than a Things Stack deploy or a 429
/// back-off, shorter than the 10 minutes a disconnect alert waits.
pub const DEFAULT_KEEP_STALE_FOR: Duration = Duration::from_secs(15 * 60);
/// Default `max_gateways`: the largest fleet docs/performance.md measures.
pub const DEFAULT_MAX_GATEWAYS: usize = crate::model::DEFAULT_MAX_GATEWAYS;
/// The range of `max_gateways`: the check, its message and (by a test)
/// the `--max-gateways` help text come from it.
pub const MAX_GATEWAYS: RangeInclusive<usize> = 1..=1_000_000;
/// Largest `max_gateways` accepted.
pub const MAX_MAX_GATEWAYS: usize = *MAX_GATEWAYS.end();
/// The range of `events_chunk`, up to the events supervisor's largest
/// chunk: the check, its message and (by a test) the `--events-chunk`
/// help text come from it.
pub const EVENTS_CHUNK: RangeInclusive<usize> = 1..=crate::model::MAX_EVENTS_CHUNK;

/// The count options and their ranges, for `--help` (see
/// `cli::command`) and the checks.
pub const COUNTS: &[(&str, RangeInclusive<usize>)] = &[
    ("max_gateways", MAX_GATEWAYS),
    ("events_chunk", EVENTS_CHUNK),
];

/// `range` as the help text and the messages write it: "1 to 1000".
pub fn range_text(range: &RangeInclusive<usize>) -> String {
    format!("{} to {}", range.start(), range.end())
}
/// Default `events_chunk`: gateways per events stream.
pub const DEFAULT_EVENTS_CHUNK: usize = 100;

/// The raw, layered configuration as the file, environment and flags give
/// it; each field's `#[default]` is the one place its default is written.
/// The options are documented on the flags ([`Overrides`]). Adding an
/// option: a field here and its flag in [`Overrides`] (and a field of
/// [`super::Config`] if the daemon reads it).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, SmartDefault)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RawConfig {
    #[default = "[::]:9715"]
    pub listen: String,
    #[default = "https://eu1.cloud.thethings.network"]
    pub api_url: String,
    #[default(PathBuf::from(DEFAULT_KEY_PATH))]
    pub api_key_file: PathBuf,
    #[default(Duration::from_secs(30))]
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Duration,
    #[default(Duration::from_secs(10))]
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    #[default(DEFAULT_REFRESH_TIMEOUT)]
    #[serde(with = "humantime_serde")]
    pub refresh_timeout: Duration,
    #[default(DEFAULT_KEEP_STALE_FOR)]
    #[serde(with = "humantime_serde")]
    pub keep_stale_for: Duration,
    #[default(DEFAULT_MAX_GATEWAYS)]
    pub max_gateways: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateways: Option<NameList>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    pub legacy_metrics: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_config_file: Option<PathBuf>,
    /// Where gateway times are remembered past the server's 48 h; `""` is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_file: Option<PathBuf>,
    /// Named targets served at `/probe?target=NAME` ([`super::targets`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub targets: BTreeMap<String, RawTarget>,
    /// Registry attributes exported as labels of `ttn_gateway_info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info_attributes: Option<NameList>,
    /// Subscribe to the events stream for radio metrics.
    pub events: bool,
    /// Gateways per events stream.
    #[default(DEFAULT_EVENTS_CHUNK)]
    pub events_chunk: usize,
}

/// The options as flags, the top configuration layer; `None` leaves the
/// lower layers alone. Flattened into `cli::Args`.
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
    /// After a failed refresh, keep serving the last good gateway series this long (0 = drop them at once)
    #[arg(long, global = true, value_name = "DURATION")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_stale_for: Option<String>,
    /// Most gateways one refresh reads; more fails the refresh
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
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = super::parse_switch)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legacy_metrics: Option<bool>,
    /// TLS and basic auth config (Prometheus exporter-toolkit format)
    #[arg(long, global = true, value_name = "PATH", alias = "web.config.file")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub web_config_file: Option<PathBuf>,
    /// File remembering each gateway's last-seen and disconnect times past the server's 48 h ("" = off; default: $STATE_DIRECTORY/gateways.json under systemd, else off)
    #[arg(long, global = true, value_name = "PATH")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_file: Option<PathBuf>,
    /// Registry attribute keys to export as labels of ttn_gateway_info (comma-separated, at most 10)
    #[arg(long, global = true, value_name = "KEYS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info_attributes: Option<String>,
    /// Subscribe to the events stream for per-gateway radio metrics (RSSI, SNR, SF, airtime, TX results)
    #[arg(long, global = true, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = super::parse_switch)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<bool>,
    /// Gateways per events stream
    #[arg(long, global = true, value_name = "N")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events_chunk: Option<usize>,
}

/// A list of names (gateway IDs, attribute keys): a TOML array, or a
/// comma-separated string (environment, flags).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum NameList {
    /// `gateways = ["a", "b"]`, `info_attributes = ["owner"]`
    List(Vec<String>),
    /// `TTN_EXPORTER_GATEWAYS=a,b`
    Csv(String),
}

impl NameList {
    /// The IDs listed, trimmed, empty ones left out.
    pub fn ids(&self) -> Vec<String> {
        let items: Vec<String> = match self {
            NameList::List(v) => v.iter().map(|s| s.trim().to_owned()).collect(),
            NameList::Csv(s) => s.split(',').map(|s| s.trim().to_owned()).collect(),
        };
        items.into_iter().filter(|s| !s.is_empty()).collect()
    }
}

/// One `[targets.NAME]` table as written; unset fields inherit.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// The Things Stack base URL (default: the top-level `api_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Key file (default `/etc/ttn-exporter/NAME.key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Default: the top-level `cache_ttl`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub cache_ttl: Option<Duration>,
    /// Default: the top-level `request_timeout`.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub request_timeout: Option<Duration>,
    /// Explicit gateway IDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateways: Option<NameList>,
    /// List this organization's gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// List this user's gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Default: the top-level `legacy_metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legacy_metrics: Option<bool>,
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

/// `keep_stale_for`: 0 (off) to a day.
pub const KEEP_STALE_FOR: Bounds = Bounds {
    min: Duration::ZERO,
    max: Duration::from_secs(24 * 3600),
};

/// Every duration option and its range (shown in `--help`, checked at load).
pub const DURATIONS: &[(&str, Bounds)] = &[
    ("cache_ttl", CACHE_TTL),
    ("request_timeout", REQUEST_TIMEOUT),
    ("refresh_timeout", REFRESH_TIMEOUT),
    ("keep_stale_for", KEEP_STALE_FOR),
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
