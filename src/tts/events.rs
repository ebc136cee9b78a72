//! The events stream's HTTP side: `POST /api/v3/events` with the same
//! client rules, URL join, error bodies, `X-Rate-Limit-Retry` and error
//! chain as the stats requests (the `http` and `error` modules). What the
//! lines mean, and when to reconnect, is `events`'.

use std::time::Duration;

use bytes::Bytes;
use url::Url;

use super::error::{error_chain, status_error, Error};
use super::http::{client_builder, retry_after};
use super::urls::{join, redact_url};
use crate::model::ApiKey;

/// The `endpoint` of the stream's errors.
pub const ENDPOINT: &str = "events";
/// Longest error body read from a refused subscription (TTS error bodies
/// are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A client for event subscriptions: no redirects and no total timeout
/// (the stream never ends); connecting and the answer's headers are bounded
/// by the request timeout.
pub struct EventsClient {
    http: reqwest::Client,
    key: ApiKey,
    timeout: Duration,
}

impl EventsClient {
    /// With `key`; `timeout` bounds connecting and the answer's headers.
    pub fn new(key: ApiKey, timeout: Duration) -> Result<EventsClient, Error> {
        let http = client_builder(timeout)
            .build()
            .map_err(|e| Error::Unreachable {
                endpoint: ENDPOINT,
                url: String::new(),
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(EventsClient { http, key, timeout })
    }

    /// Open `POST <base>/api/v3/events` with `body` (identifiers, names,
    /// `after`). A non-200 answer is an [`Error::Status`] with the error's
    /// name, correlation ID and (on a 429) `X-Rate-Limit-Retry`.
    pub async fn subscribe(
        &self,
        base: &Url,
        body: &serde_json::Value,
    ) -> Result<EventStream, Error> {
        let req = self
            .http
            .post(join(base, "events", &[]))
            .bearer_auth(self.key.expose())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .json(body);
        let timeout = Error::Timeout {
            endpoint: ENDPOINT,
            after: self.timeout,
        };
        let mut resp = match tokio::time::timeout(self.timeout, req.send()).await {
            Err(_) => return Err(timeout),
            Ok(Err(e)) if e.is_timeout() => return Err(timeout),
            Ok(Err(e)) => {
                return Err(Error::Unreachable {
                    endpoint: ENDPOINT,
                    url: redact_url(base),
                    detail: error_chain(&e),
                })
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if status == reqwest::StatusCode::OK {
            return Ok(EventStream { resp });
        }
        let retry = retry_after(resp.headers());
        let mut body = Vec::new();
        let _ = tokio::time::timeout(self.timeout, async {
            while let Ok(Some(c)) = resp.chunk().await {
                let room = MAX_ERROR_BODY.saturating_sub(body.len());
                body.extend_from_slice(&c[..c.len().min(room)]);
                if room <= c.len() {
                    break;
                }
            }
        })
        .await;
        Err(status_error(ENDPOINT, status, &body, retry))
    }
}

/// An open subscription: its body, read chunk by chunk.
pub struct EventStream {
    resp: reqwest::Response,
}

impl EventStream {
    /// The next piece of the body; `None` when the server closed it.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, Error> {
        self.resp.chunk().await.map_err(|e| Error::Unreachable {
            endpoint: ENDPOINT,
            url: redact_url(self.resp.url()),
            detail: error_chain(&e),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};
    use reqwest::StatusCode;

    /// A refused subscription is read by the stats client's rules: the name
    /// capped at 200 characters (was 80 here), from the message when the
    /// details have none, and `X-Rate-Limit-Retry` only on a 429, at most
    /// an hour (the 1 h cap was the stream's only).
    #[test]
    fn refused_subscriptions_follow_the_stats_rules() {
        let long = "n".repeat(250);
        let body = format!(
            r#"{{"code":8,"message":"x","details":[{{"name":"{long}","correlation_id":"c1"}}]}}"#
        );
        let mut h = HeaderMap::new();
        h.insert("x-rate-limit-retry", HeaderValue::from_static("86400"));
        let e = status_error(
            ENDPOINT,
            StatusCode::TOO_MANY_REQUESTS,
            body.as_bytes(),
            retry_after(&h),
        );
        assert_eq!(e.name().map(|n| n.chars().count()), Some(203), "200 + ...");
        assert_eq!(e.correlation_id(), Some("c1"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
        assert_eq!(e.kind(), crate::model::FailureKind::RateLimited);

        let body = br#"{"code":7,"message":"error:pkg/identityserver:no_gateway_rights (no gateway rights)"}"#;
        let e = status_error(ENDPOINT, StatusCode::FORBIDDEN, body, retry_after(&h));
        assert_eq!(e.name(), Some("no_gateway_rights"));
        assert_eq!(e.retry_after(), None, "only a 429 asks to wait");
        assert_eq!(e.kind(), crate::model::FailureKind::Forbidden);
    }
}
