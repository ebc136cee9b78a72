//! What can be made to misbehave: the [`Route`]s and their programmable [`Fault`]s.

use std::time::Duration;

/// Programmable misbehaviour of one [`Route`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status, body and extra headers (`Content-Type:
    /// application/json` is always sent). An empty `body` is replaced by a TTS error body
    /// fitting the status (see [`Fault::status`]). With `code: 200` this also serves any
    /// hand-written body.
    Status {
        /// HTTP status code (an invalid one becomes 500).
        code: u16,
        /// Response body; empty means "a default TTS error body for `code`".
        body: String,
        /// Extra response headers.
        headers: Vec<(String, String)>,
    },
    /// 429 `pkg/ratelimit:rate_limit_exceeded` with `X-Rate-Limit-Limit: 10`,
    /// `X-Rate-Limit-Available: 0`, `X-Rate-Limit-Reset` and `X-Rate-Limit-Retry` set to
    /// `retry_secs`.
    RateLimited {
        /// Seconds in `X-Rate-Limit-Retry` and `X-Rate-Limit-Reset`.
        retry_secs: u64,
    },
    /// Answer normally, but only after this delay.
    Delay(Duration),
    /// Read the request and never answer (until the server stops). Other connections
    /// are unaffected.
    Hang,
    /// 200 with a body that is not valid JSON.
    Malformed,
    /// 200 with the first half of the normal answer's body, a `Content-Length` of the
    /// whole, then the connection is closed.
    Truncated,
    /// 200 with a chunked (no `Content-Length`) body of exactly `bytes` bytes, streamed:
    /// a valid JSON start (e.g. `{"future_field":[`) followed by `0,0,0,...` that never
    /// closes.
    Huge {
        /// Total body size in bytes.
        bytes: usize,
    },
    /// List route only (ignored elsewhere): every page answers the content of page 1,
    /// forever, while `X-Total-Count` keeps the true total.
    RepeatPage,
    /// Close the TCP connection without answering.
    CloseConnection,
}

impl Fault {
    /// A [`Fault::Status`] with the default TTS error body for `code` (e.g. 401
    /// `pkg/auth:api_key_not_found`, 403 `pkg/auth/rights:no_user_rights`, 500
    /// `pkg/errors:internal`, 503 `pkg/errors:unavailable`, 504
    /// `pkg/errors:context_deadline_exceeded`) and no extra headers.
    pub fn status(code: u16) -> Fault {
        Fault::Status {
            code,
            body: String::new(),
            headers: Vec::new(),
        }
    }
}

/// The routes that faults and counters apply to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Route {
    /// `GET /gateways`, `/users/{id}/gateways`, `/organizations/{id}/gateways`.
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

impl Route {
    /// All routes.
    pub const ALL: [Route; 5] = [
        Route::ListGateways,
        Route::GetGateway,
        Route::BatchStats,
        Route::GatewayStats,
        Route::AuthInfo,
    ];
}
