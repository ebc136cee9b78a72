//! The misbehaviour knobs at work: what an armed [`Fault`] does to one request.

use hyper::header::CONTENT_LENGTH;
use hyper::Response;

use super::reply::{respond, CloseConnection, Reply};
use crate::body::FakeBody;
use crate::{errors, Fault, Route};

/// Body of [`Fault::Malformed`].
const MALFORMED: &str =
    r#"{"gateways":[{"ids":{"gateway_id":"malformed"}},]"entries": <oops> not json"#;

/// What the request gets after its fault has been applied.
pub(super) enum Next {
    /// The normal answer; `repeat_page`: as if it asked for page 1 ([`Fault::RepeatPage`]).
    Answer {
        /// Serve page 1 whatever page was asked for.
        repeat_page: bool,
    },
    /// The normal answer cut in half ([`Fault::Truncated`], see [`truncated`]).
    Truncate,
    /// This response instead of the normal answer.
    Respond(Response<FakeBody>),
}

/// Applies `fault` to a request on `route`: waits ([`Fault::Delay`]), never returns
/// ([`Fault::Hang`]), drops the connection ([`Fault::CloseConnection`]) or says what to send.
pub(super) async fn apply(fault: Fault, route: Option<Route>) -> Result<Next, CloseConnection> {
    let respond_with = |resp| Ok(Next::Respond(resp));
    match fault {
        Fault::Status {
            code,
            body,
            headers,
        } => {
            let body = if body.is_empty() {
                errors::default_body(code)
            } else {
                body
            };
            respond_with(respond(code, &headers, FakeBody::full(body)))
        }
        Fault::RateLimited { retry_secs } => respond_with(
            Reply::json(429, errors::rate_limited())
                .header("X-Rate-Limit-Limit", 10)
                .header("X-Rate-Limit-Available", 0)
                .header("X-Rate-Limit-Reset", retry_secs)
                .header("X-Rate-Limit-Retry", retry_secs)
                .into_response(),
        ),
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            Ok(Next::Answer { repeat_page: false })
        }
        Fault::Hang => std::future::pending().await,
        Fault::Malformed => respond_with(Reply::json(200, MALFORMED).into_response()),
        Fault::Truncated => Ok(Next::Truncate),
        Fault::Huge { bytes } => {
            let prefix: &'static [u8] = match route {
                Some(Route::ListGateways) => {
                    br#"{"gateways":[{"ids":{"gateway_id":"huge"},"future_field":["#
                }
                Some(Route::BatchStats) => br#"{"entries":{"huge":{"future_field":["#,
                _ => br#"{"future_field":["#,
            };
            respond_with(respond(200, &[], FakeBody::huge(prefix, bytes)))
        }
        Fault::RepeatPage => Ok(Next::Answer { repeat_page: true }),
        Fault::CloseConnection => Err(CloseConnection),
    }
}

/// [`Fault::Truncated`]: a 200 with the first half of `normal`'s body and the whole's
/// `Content-Length`, after which the connection is closed.
pub(super) fn truncated(normal: Reply) -> Response<FakeBody> {
    let full = normal.body;
    let mut headers = normal.headers;
    headers.push((CONTENT_LENGTH.to_string(), full.len().to_string()));
    let half = full.slice(..full.len() / 2);
    respond(200, &headers, FakeBody::truncated(half))
}
