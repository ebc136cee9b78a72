//! One HTTP request to the API: the key as bearer token, no redirects, a
//! bounded body (per answer and per refresh), typed errors, and every
//! outcome told to the [`RequestObserver`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use url::Url;

use super::error::{error_chain, status_error, Error};
use super::urls::{join, redact_url};
use crate::model::sanitize;
use crate::model::ApiKey;

/// Largest response body read; anything longer is an error, not an OOM.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Bytes one refresh reads at most, over all its responses: 16 list pages
/// or batch answers at the per-response cap. A fleet of 10,000 gateways
/// reads about 10 MiB.
pub const MAX_REFRESH_BYTES: usize = 16 * MAX_BODY_BYTES;

/// Which API route a request went to: the `endpoint` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /gateways` (or a user's or organization's).
    ListGateways,
    /// `GET /gateways/{id}`: one gateway's registry record.
    GetGateway,
    /// `POST /gs/gateways/connection/stats`.
    BatchStats,
    /// `GET /gs/gateways/{id}/connection/stats`.
    GatewayStats,
    /// `GET /auth_info`.
    AuthInfo,
}

impl Endpoint {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::ListGateways => "list_gateways",
            Endpoint::GetGateway => "get_gateway",
            Endpoint::BatchStats => "batch_stats",
            Endpoint::GatewayStats => "gateway_stats",
            Endpoint::AuthInfo => "auth_info",
        }
    }
}

/// Called once per HTTP request with the endpoint and the outcome (`"200"`,
/// `"404"`, `"timeout"`, `"error"`): feeds `ttn_exporter_api_requests_total`.
pub type RequestObserver = Arc<dyn Fn(Endpoint, &str) + Send + Sync>;

/// The bytes one refresh may still read.
pub(super) struct Budget(AtomicUsize);

impl Budget {
    /// A whole refresh's: [`MAX_REFRESH_BYTES`].
    pub(super) fn new() -> Budget {
        Budget(AtomicUsize::new(MAX_REFRESH_BYTES))
    }

    /// Take `n` bytes, or say the refresh is over its bound.
    fn take(&self, n: usize, endpoint: &'static str) -> Result<(), Error> {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .map(|_| ())
            .map_err(|_| Error::Limit {
                endpoint,
                what: format!("the API sent more than {MAX_REFRESH_BYTES} bytes in one refresh"),
            })
    }
}

/// Longest wait taken from `X-Rate-Limit-Retry`: a larger value is read as
/// this (the refresh back-off and the events reconnect never wait longer).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Every API client's settings: user agent, connect timeout (at most 5 s),
/// idle pool, and no redirects. The API never redirects; following one could
/// carry the key to another scheme or host, so a 3xx is a failed request.
pub(super) fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("ttn-exporter/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .pool_idle_timeout(Duration::from_secs(90))
        .redirect(reqwest::redirect::Policy::none())
}

/// `X-Rate-Limit-Retry` (whole seconds), capped at [`MAX_RETRY_AFTER`].
pub(super) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get("x-rate-limit-retry")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER))
}

/// The HTTP side of the client: where, with which key, how long.
pub(super) struct Http {
    http: reqwest::Client,
    base: Url,
    key: ApiKey,
    timeout: Duration,
    observer: RequestObserver,
}

impl Http {
    /// For `base`, with `key`; each request ends after `timeout`.
    pub(super) fn new(
        base: Url,
        key: ApiKey,
        timeout: Duration,
        observer: RequestObserver,
    ) -> Result<Http, Error> {
        let http = client_builder(timeout)
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Unreachable {
                endpoint: "client",
                url: base.to_string(),
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Http {
            http,
            base,
            key,
            timeout,
            observer,
        })
    }

    /// The API's base URL.
    pub(super) fn base(&self) -> &Url {
        &self.base
    }

    /// A request that got no HTTP answer: observed and typed.
    fn transport_error(&self, endpoint: Endpoint, e: &reqwest::Error) -> Error {
        let timeout = e.is_timeout();
        (self.observer)(endpoint, if timeout { "timeout" } else { "error" });
        if timeout {
            Error::Timeout {
                endpoint: endpoint.as_str(),
                after: self.timeout,
            }
        } else {
            Error::Unreachable {
                endpoint: endpoint.as_str(),
                url: redact_url(&self.base),
                detail: error_chain(e),
            }
        }
    }

    pub(super) fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        join(&self.base, path, query)
    }

    /// One HTTP request: bounded body, typed errors, observed outcome.
    /// Returns the body and `X-Total-Count`.
    pub(super) async fn request(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: Url,
        json: Option<serde_json::Value>,
        budget: &Budget,
    ) -> Result<(Vec<u8>, Option<usize>), Error> {
        let ep = endpoint.as_str();
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(self.key.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(j) = json {
            req = req.json(&j);
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(endpoint, &e)),
        };
        let status = resp.status();
        let total = resp
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let retry = retry_after(resp.headers());
        let body = async {
            if resp.content_length().unwrap_or(0) > MAX_BODY_BYTES as u64 {
                return Err(too_large(ep));
            }
            let mut body = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        if body.len() + chunk.len() > MAX_BODY_BYTES {
                            return Err(too_large(ep));
                        }
                        budget.take(chunk.len(), ep)?;
                        body.extend_from_slice(&chunk);
                    }
                    Ok(None) => return Ok(body),
                    Err(e) if e.is_timeout() => {
                        return Err(Error::Timeout {
                            endpoint: ep,
                            after: self.timeout,
                        })
                    }
                    Err(e) => {
                        return Err(Error::BadResponse {
                            endpoint: ep,
                            detail: format!("body ended early: {}", error_chain(&e)),
                        })
                    }
                }
            }
        }
        .await;
        (self.observer)(endpoint, status.as_str());
        let body = body?;
        if status.is_success() {
            return Ok((body, total));
        }
        Err(status_error(ep, status, &body, retry))
    }
}

/// The answer is longer than [`MAX_BODY_BYTES`].
fn too_large(endpoint: &'static str) -> Error {
    Error::BadResponse {
        endpoint,
        detail: format!("body larger than {MAX_BODY_BYTES} bytes"),
    }
}

/// The JSON of an answer, or [`Error::BadResponse`] saying why not.
pub(super) fn decode<T: serde::de::DeserializeOwned>(
    endpoint: Endpoint,
    body: &[u8],
) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::BadResponse {
        endpoint: endpoint.as_str(),
        detail: format!("invalid JSON ({})", sanitize::upstream(&e.to_string())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn retry_after_is_whole_seconds_capped_at_an_hour() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("x-rate-limit-retry", HeaderValue::from_static(" 7 "));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert("x-rate-limit-retry", HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert("x-rate-limit-retry", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
