//! The test client: a keep-alive HTTP/1.1 [`Client`], its [`Resp`], and request helpers
//! for the fake's routes.

use std::net::SocketAddr;
use std::time::Duration;

use fake_tts::{FakeTts, DEFAULT_KEY};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{HeaderMap, Request};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long any one exchange may take.
pub(crate) const T: Duration = Duration::from_secs(10);

pub(crate) struct Resp {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Resp {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    pub(crate) fn total(&self) -> usize {
        self.header("x-total-count").unwrap().parse().unwrap()
    }

    /// Asserts a TTS error body with this HTTP status, namespace and name.
    pub(crate) fn assert_error(&self, status: u16, namespace: &str, name: &str) -> Value {
        let v = self.json();
        assert_eq!(self.status, status, "{v}");
        let d = &v["details"][0];
        assert_eq!(d["namespace"], namespace, "{v}");
        assert_eq!(d["name"], name, "{v}");
        assert_eq!(d["code"], v["code"], "{v}");
        assert!(v["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("error:{namespace}:{name} (")));
        assert_eq!(d["correlation_id"].as_str().unwrap().len(), 32, "{v}");
        assert!(d["message_format"].is_string());
        v
    }
}

/// One HTTP/1.1 connection, reused for every request (keep-alive).
pub(crate) struct Client {
    pub(crate) sender: SendRequest<Full<Bytes>>,
}

impl Client {
    pub(crate) async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Client { sender }
    }

    pub(crate) async fn try_send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Result<Resp, hyper::Error> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "fake-tts");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .unwrap();
        self.sender.ready().await?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    pub(crate) async fn send(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Resp {
        timeout(T, self.try_send(method, path, token, body))
            .await
            .expect("answer in time")
            .expect("HTTP exchange")
    }

    /// `GET path` with [`DEFAULT_KEY`] on this connection.
    pub(crate) async fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, Some(DEFAULT_KEY), None).await
    }
}

/// A request on a fresh connection.
pub(crate) async fn req(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> Resp {
    Client::connect(addr)
        .await
        .send(method, path, token, body)
        .await
}

/// `GET path` with [`DEFAULT_KEY`] on a fresh connection.
pub(crate) async fn get(tts: &FakeTts, path: &str) -> Resp {
    req(tts.addr(), "GET", path, Some(DEFAULT_KEY), None).await
}

/// The batch stats request for `ids` (and a field mask of `paths`) with `token`.
pub(crate) async fn batch(
    tts: &FakeTts,
    token: &str,
    ids: &[String],
    paths: Option<&[&str]>,
) -> Resp {
    let ids: Vec<Value> = ids.iter().map(|i| json!({ "gateway_id": i })).collect();
    let mut body = json!({ "gateway_ids": ids });
    if let Some(p) = paths {
        body["field_mask"] = json!({ "paths": p });
    }
    req(
        tts.addr(),
        "POST",
        "/api/v3/gs/gateways/connection/stats",
        Some(token),
        Some(body.to_string()),
    )
    .await
}

/// The synthetic gateway ids `gw-{i:06}` for `n`.
pub(crate) fn ids(n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| format!("gw-{i:06}")).collect()
}

/// The gateway ids of a list answer, in order.
pub(crate) fn listed_ids(r: &Resp) -> Vec<String> {
    r.json()["gateways"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["ids"]["gateway_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Sends `request` on a raw connection and reads until EOF.
pub(crate) async fn raw(addr: SocketAddr, request: &str) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    timeout(T, s.read_to_end(&mut out))
        .await
        .expect("connection closed in time")
        .unwrap();
    out
}

/// The path of the single connection stats route for gateway `id`.
pub(crate) fn stats_path(id: &str) -> String {
    format!("/api/v3/gs/gateways/{id}/connection/stats")
}

/// A raw `GET path` request with [`DEFAULT_KEY`].
pub(crate) fn raw_get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEFAULT_KEY}\r\n\r\n")
}
