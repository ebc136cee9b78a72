//! A tiny hostile stand-in for The Things Stack: an HTTP/1 server on
//! 127.0.0.1:0 that answers whatever the test's handler says and records
//! every request it gets.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub query: String,
    pub authorization: Option<String>,
}

impl Seen {
    /// The value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }
}

pub type Handler = Arc<dyn Fn(Seen) -> BoxFuture<'static, Response<Full<Bytes>>> + Send + Sync>;

/// The running server.
pub struct Hostile {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Hostile {
    /// Serve `handler` until dropped.
    pub async fn start<F>(handler: F) -> Hostile
    where
        F: Fn(Seen) -> BoxFuture<'static, Response<Full<Bytes>>> + Send + Sync + 'static,
    {
        let handler: Handler = Arc::new(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let log = log.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        let log = log.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let _ = body.collect().await;
                            let seen = Seen {
                                path: parts.uri.path().to_owned(),
                                query: parts.uri.query().unwrap_or("").to_owned(),
                                authorization: parts
                                    .headers
                                    .get("authorization")
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned),
                            };
                            log.lock().unwrap().push(seen.clone());
                            Ok::<_, Infallible>(handler(seen).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Hostile { addr, seen, task }
    }

    /// The base URL, for `api_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests so far whose path is `path`.
    pub fn count(&self, path: &str) -> usize {
        self.seen().iter().filter(|s| s.path == path).count()
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A response with `status`, JSON content type and `body`.
pub fn json(status: u16, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    r.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    r
}

/// `json` with a header added.
pub fn with_header(
    mut r: Response<Full<Bytes>>,
    name: &'static str,
    value: &str,
) -> Response<Full<Bytes>> {
    r.headers_mut().insert(name, value.parse().unwrap());
    r
}

/// A list page of these gateway IDs.
pub fn page(ids: impl IntoIterator<Item = String>) -> String {
    let items: Vec<String> = ids
        .into_iter()
        .map(|id| {
            format!(
                r#"{{"ids":{{"gateway_id":{}}}}}"#,
                serde_json::Value::from(id)
            )
        })
        .collect();
    format!(r#"{{"gateways":[{}]}}"#, items.join(","))
}

/// The paths of the API.
pub const LIST: &str = "/api/v3/gateways";
pub const BATCH: &str = "/api/v3/gs/gateways/connection/stats";
