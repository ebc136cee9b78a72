//! What the server sends: a whole JSON [`Reply`], a raw [`respond`], or no answer at all
//! ([`CloseConnection`]).

use std::fmt;

use hyper::body::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};

use crate::body::FakeBody;

/// Returned by the service to make hyper drop the connection without answering.
#[derive(Debug)]
pub(crate) struct CloseConnection;

impl fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fault: close the connection without answering")
    }
}

impl std::error::Error for CloseConnection {}

/// A whole JSON answer.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    pub(crate) fn into_response(self) -> Response<FakeBody> {
        let Reply {
            status,
            headers,
            body,
        } = self;
        respond(status, &headers, FakeBody::full(body))
    }
}

/// A response with `Content-Type: application/json` and `headers` (invalid ones skipped).
pub(crate) fn respond(
    status: u16,
    headers: &[(String, String)],
    body: FakeBody,
) -> Response<FakeBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    resp
}
