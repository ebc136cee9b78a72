//! The client's typed errors: what failed, where, and the one line a human
//! reads (upstream pieces already made one line and short).

use std::time::Duration;

use reqwest::StatusCode;

use super::types::ApiError;
use crate::model::sanitize;
use crate::model::{Failure, FailureKind};

/// A failed API call. Messages are one line, name the endpoint, carry the
/// TTS error name and correlation ID, and never the key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No HTTP answer: connection refused, DNS, TLS, reset.
    #[error("cannot reach the API at {url} ({endpoint}): {detail}")]
    Unreachable {
        /// Which route.
        endpoint: &'static str,
        /// The base URL (no secrets).
        url: String,
        /// The transport error.
        detail: String,
    },
    /// The request ran past `request_timeout`.
    #[error("the API did not answer {endpoint} within {}s; check the network or raise request_timeout", .after.as_secs_f64())]
    Timeout {
        /// Which route.
        endpoint: &'static str,
        /// The configured timeout.
        after: Duration,
    },
    /// An HTTP error status.
    #[error("{}", status_message(.endpoint, *.status, .name.as_deref(), .correlation_id.as_deref(), *.retry_after))]
    Status {
        /// Which route.
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// The TTS error name, e.g. `api_key_not_found`.
        name: Option<String>,
        /// The correlation ID TTN support asks for.
        correlation_id: Option<String>,
        /// `X-Rate-Limit-Retry` on a 429.
        retry_after: Option<Duration>,
    },
    /// A body that is not what the API documents.
    #[error("unexpected answer from {endpoint}: {detail}")]
    BadResponse {
        /// Which route.
        endpoint: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The refresh passed a bound (gateways or bytes); it stopped reading.
    #[error("{what}; the refresh stopped reading ({endpoint})")]
    Limit {
        /// Which route was being read.
        endpoint: &'static str,
        /// Which bound, with its number.
        what: String,
    },
    /// A request about one gateway failed.
    #[error("gateway {gateway_id}: {source}")]
    Gateway {
        /// The gateway asked about.
        gateway_id: String,
        /// What went wrong.
        source: Box<Error>,
    },
}

fn status_message(
    endpoint: &str,
    status: u16,
    name: Option<&str>,
    correlation_id: Option<&str>,
    retry_after: Option<Duration>,
) -> String {
    let what = match status {
        401 => {
            "the API rejected the key; check that it is a valid, unexpired API key of this cluster"
                .to_owned()
        }
        403 => {
            "the key lacks rights; give it \"View gateway status\" and \"List gateways\"".to_owned()
        }
        429 => match retry_after {
            Some(d) => format!("rate limited by the API; backing off for {}s", d.as_secs()),
            None => "rate limited by the API; backing off".to_owned(),
        },
        500..=599 => "the API had a server error; it will be retried on a later scrape".to_owned(),
        300..=399 => {
            "the API answered with a redirect, which is never followed (the key would go along); set api_url to the final address".to_owned()
        }
        _ => "the API refused the request".to_owned(),
    };
    let mut s = format!("{endpoint} answered HTTP {status}");
    if let Some(n) = name {
        s.push_str(&format!(" {n}"));
    }
    s.push_str(&format!(": {what}"));
    if let Some(c) = correlation_id {
        s.push_str(&format!(" (correlation id {c})"));
    }
    s
}

impl Error {
    /// The kind of failure, for the `reason` label.
    pub fn kind(&self) -> FailureKind {
        match self {
            Error::Gateway { source, .. } => source.kind(),
            Error::Unreachable { .. } => FailureKind::Unreachable,
            Error::Timeout { .. } => FailureKind::Timeout,
            Error::BadResponse { .. } => FailureKind::BadResponse,
            Error::Limit { .. } => FailureKind::Limit,
            Error::Status { status, .. } => FailureKind::from_status(*status),
        }
    }

    /// How long the API asked us to wait (429 `X-Rate-Limit-Retry`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status { retry_after, .. } => *retry_after,
            Error::Gateway { source, .. } => source.retry_after(),
            _ => None,
        }
    }

    /// The TTS error name (`no_gateway_rights`, ...), when the API sent one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Error::Status { name, .. } => name.as_deref(),
            Error::Gateway { source, .. } => source.name(),
            _ => None,
        }
    }

    /// The HTTP status of an answered request.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            Error::Gateway { source, .. } => source.status(),
            _ => None,
        }
    }

    /// The API route that failed.
    pub fn endpoint(&self) -> &'static str {
        match self {
            Error::Unreachable { endpoint, .. }
            | Error::Timeout { endpoint, .. }
            | Error::Status { endpoint, .. }
            | Error::BadResponse { endpoint, .. }
            | Error::Limit { endpoint, .. } => endpoint,
            Error::Gateway { source, .. } => source.endpoint(),
        }
    }

    /// The TTS correlation ID, when the API sent one.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Status { correlation_id, .. } => correlation_id.as_deref(),
            Error::Gateway { source, .. } => source.correlation_id(),
            _ => None,
        }
    }

    /// The gateway the failed request was about, if any.
    pub fn gateway_id(&self) -> Option<&str> {
        match self {
            Error::Gateway { gateway_id, .. } => Some(gateway_id),
            _ => None,
        }
    }
}

impl From<&Error> for Failure {
    /// The domain's view of a failed refresh. Upstream text is already
    /// sanitised piecewise; the whole message is made one line and capped
    /// once more here, where it enters the domain.
    fn from(e: &Error) -> Failure {
        Failure {
            kind: e.kind(),
            message: sanitize::one_line(&e.to_string(), sanitize::MAX_MESSAGE_CHARS),
            retry_after: e.retry_after(),
            endpoint: Some(e.endpoint()),
            correlation_id: e.correlation_id().map(sanitize::upstream),
            gateway_id: e.gateway_id().map(sanitize::upstream),
        }
    }
}

pub(super) fn status_error(
    endpoint: &'static str,
    status: StatusCode,
    body: &[u8],
    retry: Option<Duration>,
) -> Error {
    let api: ApiError = serde_json::from_slice(body).unwrap_or_default();
    Error::Status {
        endpoint,
        status: status.as_u16(),
        name: api.name().map(|n| sanitize::upstream(&n)),
        correlation_id: api.correlation_id().map(|c| sanitize::upstream(&c)),
        retry_after: if status == StatusCode::TOO_MANY_REQUESTS {
            retry
        } else {
            None
        },
    }
}

/// The innermost causes of a transport error, one line.
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    sanitize::one_line(&parts.join(": "), sanitize::MAX_MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors_carry_name_and_correlation_id() {
        let body = br#"{"code":16,"message":"error:pkg/auth:api_key_not_found (API key not found)","details":[{"name":"api_key_not_found","correlation_id":"abc123"}]}"#;
        let e = status_error("list_gateways", StatusCode::UNAUTHORIZED, body, None);
        let msg = e.to_string();
        assert!(msg.contains("HTTP 401 api_key_not_found"), "{msg}");
        assert!(msg.contains("correlation id abc123"), "{msg}");
        assert_eq!(e.kind(), FailureKind::Unauthorized);
        let e = status_error(
            "batch_stats",
            StatusCode::TOO_MANY_REQUESTS,
            b"not json",
            Some(Duration::from_secs(7)),
        );
        assert_eq!(e.kind(), FailureKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.to_string().contains("backing off for 7s"));
    }
}
