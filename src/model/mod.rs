//! Domain types: the [`Snapshot`] of one refresh, with its gateways and their
//! parsed connection stats; what the API client is given ([`ApiKey`],
//! [`Scope`]) and answers ([`AuthInfo`]). Plain data, no I/O, nothing
//! Prometheus-specific. One gateway's data is in [`gateway`].

pub mod gateway;
pub mod sanitize;
pub mod sorted_map;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use gateway::{
    ConnectionStats, Dropped, Gateway, Location, Remembered, RoundTrip, SubBand, UnixSeconds,
    VersionIds, MAX_STATUS_METRICS, MAX_STATUS_METRIC_NAME, MAX_SUB_BANDS,
};
pub use sorted_map::{SortedMap, SortedMapBuilder};

/// Largest `events_chunk` (gateways per events stream), and the largest
/// chunk the events supervisor makes (`events::MAX_CHUNK`).
pub const MAX_EVENTS_CHUNK: usize = 1000;

/// Default most gateways one refresh reads (`max_gateways`).
pub const DEFAULT_MAX_GATEWAYS: usize = 10_000;

/// Largest API key accepted, bytes (real keys are about 100); key files
/// are read up to this size too.
pub const MAX_KEY_BYTES: usize = 4096;
/// [`ApiKey::parse`]'s error for a key over [`MAX_KEY_BYTES`].
const KEY_TOO_LONG: &str = "is longer than 4096 bytes, which no API key is";
const _: () = assert!(MAX_KEY_BYTES == 4096, "update KEY_TOO_LONG");

/// The API key. Its `Debug` prints `[redacted]` and it has no `Display`, so it
/// cannot end up in a log line, an error or a metric by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Validate and wrap a key read from a file, a credential or the
    /// environment (the one parse every path uses): surrounding whitespace
    /// is dropped; an empty key, one longer than [`MAX_KEY_BYTES`], or one
    /// with whitespace, control or non-ASCII characters inside is refused.
    /// The error says why in a few words and never contains the key.
    pub fn parse(raw: &str) -> Result<ApiKey, &'static str> {
        let key = raw.trim();
        if key.is_empty() {
            return Err("is empty");
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(KEY_TOO_LONG);
        }
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("contains whitespace inside the key");
        }
        if !key.is_ascii() {
            return Err("contains non-ASCII characters");
        }
        Ok(ApiKey(key.to_owned()))
    }

    /// The secret itself, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Which gateways to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every gateway the key can list (`GET /gateways`).
    All,
    /// The gateways of one organization.
    Organization(String),
    /// The gateways of one user.
    User(String),
    /// An explicit list of gateway IDs (gateway-scoped keys cannot list).
    Explicit(Vec<String>),
}

/// Who owns an API key, as `GET /auth_info` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthInfo {
    /// A user's key.
    User(String),
    /// An organization's key.
    Organization(String),
    /// A gateway's key.
    Gateway(String),
    /// A key of another kind, or an answer without entity IDs.
    Unknown,
}

impl fmt::Display for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthInfo::User(id) => write!(f, "user {id}"),
            AuthInfo::Organization(id) => write!(f, "organization {id}"),
            AuthInfo::Gateway(id) => write!(f, "gateway {id}"),
            AuthInfo::Unknown => f.write_str("owner unknown"),
        }
    }
}

/// The Things Stack's rule for entity IDs: 2 to 36 characters of `a-z` and
/// `0-9`, with single dashes between them (none leading or trailing). IDs
/// from the API are checked against it before they go into a URL.
pub fn valid_tts_id(id: &str) -> bool {
    let b = id.as_bytes();
    (2..=36).contains(&b.len())
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
        && !id.contains("--")
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// The label name of registry attribute `key` on `ttn_gateway_info`: the
/// key with its dashes made underscores (attribute keys are
/// `^[a-z0-9](?:[-]?[a-z0-9]){2,}$`).
pub fn attribute_label(key: &str) -> String {
    key.replace('-', "_")
}

/// What went wrong in a refresh, by kind: the `reason` label of
/// `ttn_exporter_refresh_errors_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureKind {
    /// Connection refused, DNS, TLS.
    Unreachable,
    /// A request ran past `request_timeout`, the refresh past
    /// `refresh_timeout`, or a scrape stopped waiting for the refresh.
    Timeout,
    /// 401: the key is unknown or expired.
    Unauthorized,
    /// 403: the key lacks rights.
    Forbidden,
    /// 429: the API asked us to back off.
    RateLimited,
    /// Another 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// A body that is not the JSON we expect, truncated or too large.
    BadResponse,
    /// The refresh passed a bound: `max_gateways`, or the bytes one refresh
    /// may read.
    Limit,
    /// A bug: the refresh task panicked.
    Internal,
}

impl FailureKind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Timeout => "timeout",
            FailureKind::Unauthorized => "unauthorized",
            FailureKind::Forbidden => "forbidden",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::ClientError => "client_error",
            FailureKind::ServerError => "server_error",
            FailureKind::BadResponse => "bad_response",
            FailureKind::Limit => "limit",
            FailureKind::Internal => "internal",
        }
    }

    /// The kind of an HTTP error status from the API (refresh requests and
    /// the events stream alike).
    pub fn from_status(status: u16) -> FailureKind {
        match status {
            401 => FailureKind::Unauthorized,
            403 => FailureKind::Forbidden,
            429 => FailureKind::RateLimited,
            500..=599 => FailureKind::ServerError,
            _ => FailureKind::ClientError,
        }
    }

    /// Every kind, for pre-initialised counters.
    pub const ALL: [FailureKind; 10] = [
        FailureKind::Unreachable,
        FailureKind::Timeout,
        FailureKind::Unauthorized,
        FailureKind::Forbidden,
        FailureKind::RateLimited,
        FailureKind::ClientError,
        FailureKind::ServerError,
        FailureKind::BadResponse,
        FailureKind::Limit,
        FailureKind::Internal,
    ];
}

/// A failed refresh: the kind, and one line for humans (no secrets).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// What kind of failure.
    pub kind: FailureKind,
    /// One line saying what happened and what to do.
    pub message: String,
    /// The API asked us not to call again before this long has passed.
    pub retry_after: Option<Duration>,
    /// The API route that failed.
    pub endpoint: Option<&'static str>,
    /// The TTS correlation ID, for TTN support.
    pub correlation_id: Option<String>,
    /// The gateway the failed request was about, if any.
    pub gateway_id: Option<String>,
}

impl Failure {
    /// A failure of the exporter's own making (a timeout, an internal
    /// error): no upstream details.
    pub fn ours(kind: FailureKind, message: String) -> Failure {
        Failure {
            kind,
            message,
            retry_after: None,
            endpoint: None,
            correlation_id: None,
            gateway_id: None,
        }
    }
}

/// The result of one refresh.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The gateways, sorted by ID. When the refresh failed: the last good
    /// refresh's gateways while they are younger than `keep_stale_for`
    /// (see `data_from`), else none.
    pub gateways: Arc<Vec<Gateway>>,
    /// When the served `gateways` were fetched: `finished_at` after a good
    /// refresh, the last good refresh's end when a failed one serves its
    /// gateways, `None` when no gateway data is served.
    pub data_from: Option<SystemTime>,
    /// `None` on success.
    pub failure: Option<Failure>,
    /// When the refresh finished.
    pub finished_at: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// When the last successful refresh finished, if any ever did.
    pub last_success: Option<SystemTime>,
    /// IDs of an explicit `gateways` list that the registry does not know
    /// (404), sorted; not in `gateways`. Empty when the refresh failed.
    pub not_found: Arc<Vec<String>>,
}

impl Snapshot {
    /// A refresh that failed with `failure` just now, after `duration`.
    pub fn failed(
        failure: Failure,
        duration: Duration,
        last_success: Option<SystemTime>,
    ) -> Snapshot {
        Snapshot {
            gateways: Arc::default(),
            data_from: None,
            failure: Some(failure),
            finished_at: SystemTime::now(),
            duration,
            last_success,
            not_found: Arc::default(),
        }
    }

    /// True when the refresh reached the API and was accepted.
    pub fn is_up(&self) -> bool {
        self.failure.is_none()
    }

    /// Serve `gateways`, fetched at `at`, with this failed refresh.
    pub fn with_stale(mut self, gateways: Arc<Vec<Gateway>>, at: SystemTime) -> Snapshot {
        self.gateways = gateways;
        self.data_from = Some(at);
        self
    }

    /// How old the served gateway data is at `finished_at`, if any is served.
    pub fn data_age(&self) -> Option<Duration> {
        self.data_from
            .map(|t| self.finished_at.duration_since(t).unwrap_or_default())
    }

    /// Number of connected gateways.
    pub fn connected(&self) -> usize {
        self.gateways.iter().filter(|g| g.is_connected()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tts_id_rule() {
        for ok in [
            "gw",
            "gw-1",
            "a1b2",
            &"x".repeat(36),
            "eui-0102030405060708",
        ] {
            assert!(valid_tts_id(ok), "{ok}");
        }
        for bad in [
            "",
            "g",
            "-gw",
            "gw-",
            "g--w",
            "GW",
            "gw_1",
            "../../auth_info",
            "gw/x",
            "gw\n",
            &"x".repeat(37),
        ] {
            assert!(!valid_tts_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn api_key_debug_is_redacted() {
        let k = ApiKey::parse(" NNSXS.FAKE.KEY \n").unwrap();
        assert_eq!(k.expose(), "NNSXS.FAKE.KEY");
        assert_eq!(format!("{k:?}"), "[redacted]");
        assert!(ApiKey::parse("a b").is_err());
    }

    /// One parse, one cap: a key of MAX_KEY_BYTES passes (surrounding
    /// whitespace not counted), one byte more fails, and the error never
    /// holds the key.
    #[test]
    fn api_key_parse_caps_the_length() {
        let max = "k".repeat(MAX_KEY_BYTES);
        assert!(ApiKey::parse(&format!(" {max}\n")).is_ok());
        let over = format!("{max}k");
        let err = ApiKey::parse(&over).unwrap_err();
        assert!(err.contains(&MAX_KEY_BYTES.to_string()), "{err}");
        assert!(!err.contains("kkkk"), "{err}");
        assert_eq!(ApiKey::parse(" \n"), Err("is empty"));
    }
}
