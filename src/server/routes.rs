//! Which answer a request gets: basic auth first when configured, then
//! `/metrics` and `/probe` ([`super::probe`]), the status page at `/`
//! ([`super::status_page`]), `/-/healthy`; other methods 405, other paths 404.

use std::net::IpAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::cache::Caches;
use crate::metrics::Body;
use crate::server::web::BasicAuth;

/// Answer one request from `client`; with `auth`, only with valid basic
/// auth credentials.
pub async fn handle<B>(
    req: Request<B>,
    caches: &Caches,
    auth: Option<&Arc<BasicAuth>>,
    client: IpAddr,
) -> Response<Body> {
    if let Some(auth) = auth {
        let header = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !auth.check(header, client).await {
            let mut r = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"ttn-exporter\""),
            );
            return r;
        }
    }
    let get_or_head = matches!(*req.method(), Method::GET | Method::HEAD);
    match req.uri().path() {
        "/metrics" | "/probe" | "/" | "/-/healthy" if !get_or_head => {
            let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
        "/probe" => crate::server::probe::respond(&req, caches, true).await,
        "/metrics" => crate::server::probe::respond(&req, caches, false).await,
        "/" => {
            let entry = caches.default.get().await;
            let mut r = Response::new(Body::bytes(crate::server::status_page::page(&entry)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::server::status_page::CONTENT_TYPE),
            );
            r
        }
        "/-/healthy" => text(StatusCode::OK, "OK\n"),
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; metrics are at /metrics\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Body::bytes(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}
