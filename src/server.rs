//! The HTTP server: hyper HTTP/1.1 on an already bound listener, with a
//! shutdown future. Routes `/metrics` (gzip when asked), `/` (the status
//! page, [`crate::status_page`]), `/-/healthy`; anything else is 404.
//! Connections and header sizes are bounded (see [`Limits`]). TLS and basic
//! auth are optional ([`crate::web`]).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cache::Caches;
use crate::metrics::Body;
use crate::web::{BasicAuth, WebConfig};

/// Bounds on what scrapers may cost us.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at once; further ones are closed on accept.
    pub max_connections: usize,
    /// Open connections of one client IP address at once; further ones
    /// from it are closed on accept.
    pub max_per_client: usize,
    /// A request's headers must arrive within this; an idle keep-alive
    /// connection is closed after it too.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_per_client: 1024,
            header_read_timeout: Duration::from_secs(15),
            max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// The daemon's limits: connection caps from the soft descriptor limit
    /// (see [`crate::fds::connection_caps`]), less the events streams'
    /// budget when `events` is on ([`crate::fds::stream_budget`]), the rest
    /// as default.
    pub fn for_fd_limit(nofile: u64, events: bool) -> Limits {
        let streams = if events {
            crate::fds::stream_budget(nofile)
        } else {
            0
        };
        let (max_connections, max_per_client) =
            crate::fds::connection_caps_with_streams(nofile, streams);
        Limits {
            max_connections,
            max_per_client,
            ..Limits::default()
        }
    }
}

/// Log an accept failure at most this often (the count of the others is
/// in the next line).
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Pause after an accept failure (EMFILE and friends) before the next try.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accept failures, logged at most once per [`ACCEPT_LOG_INTERVAL`].
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// Count `e`; log it unless a line was logged within the interval.
    /// True when it was logged.
    fn record(&mut self, e: &std::io::Error) -> bool {
        let now = Instant::now();
        if self
            .last_logged
            .is_some_and(|t| now.saturating_duration_since(t) < ACCEPT_LOG_INTERVAL)
        {
            self.suppressed = self.suppressed.saturating_add(1);
            return false;
        }
        let hint = match e.raw_os_error() {
            Some(libc::EMFILE) | Some(libc::ENFILE) => {
                "; out of file descriptors: raise LimitNOFILE= or lower the load"
            }
            _ => "",
        };
        if self.suppressed > 0 {
            tracing::warn!(
                "accept failed: {e}{hint} ({} more failures in the last {} s)",
                self.suppressed,
                ACCEPT_LOG_INTERVAL.as_secs()
            );
        } else {
            tracing::warn!("accept failed: {e}{hint}");
        }
        self.last_logged = Some(now);
        self.suppressed = 0;
        true
    }
}

/// Open connections per client IP; a [`ClientSlot`] gives one back on drop.
#[derive(Clone, Default)]
struct PerClient(Arc<Mutex<HashMap<IpAddr, usize>>>);

struct ClientSlot {
    map: PerClient,
    ip: IpAddr,
}

impl PerClient {
    fn take(&self, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            map: self.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// The address in `listen` cannot be bound (in use, not local, no
/// permission): a configuration problem, exit 78. The hint fits the cause.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {reason}; {hint}")]
pub struct BindError {
    addr: SocketAddr,
    reason: String,
    hint: &'static str,
}

/// Bind `addr` for [`serve`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).await.map_err(|e| {
        let (reason, hint) = match e.kind() {
            std::io::ErrorKind::AddrInUse => (
                "the address is already in use".to_owned(),
                "stop whatever uses it (ss -ltnp shows it) or set `listen` to another port",
            ),
            std::io::ErrorKind::AddrNotAvailable => (
                "it is not an address of this host".to_owned(),
                "set `listen` to one of this host's addresses (ip -br addr), or [::]:9715 for all",
            ),
            std::io::ErrorKind::PermissionDenied => (
                "permission denied".to_owned(),
                "ports below 1024 need root or CAP_NET_BIND_SERVICE: set `listen` to a port from 1024 up",
            ),
            _ => (e.to_string(), "check `listen`"),
        };
        BindError { addr, reason, hint }
    })
}

/// The TLS and auth settings, swappable at run time (SIGHUP reload); each
/// new connection uses the settings current when it is accepted.
pub type SharedWeb = Arc<RwLock<WebConfig>>;

/// Serve `caches` on `listener` until `shutdown` completes, then let
/// requests in flight finish (up to [`Limits::shutdown_grace`]). TLS and
/// basic auth are as `web` currently says (plain HTTP when it is default).
pub async fn serve(
    listener: TcpListener,
    caches: Caches,
    limits: Limits,
    web: SharedWeb,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let per_client = PerClient::default();
    let mut accept_errors = AcceptErrors::default();
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(100);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => s,
                Err(e) => {
                    // EMFILE and friends: do not spin, do not die, do not
                    // flood the log.
                    let _ = accept_errors.record(&e);
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "connection limit reached; closing new connection");
            drop(stream);
            continue;
        };
        let ip = canonical_ip(peer.ip());
        let Some(slot) = per_client.take(ip, limits.max_per_client) else {
            tracing::debug!(%peer, "per-client connection limit reached; closing new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let web = web.read().unwrap_or_else(|e| e.into_inner()).clone();
        let caches = caches.clone();
        let auth = web.auth.clone();
        let extra = web.headers.clone();
        let service = hyper::service::service_fn(move |req| {
            let caches = caches.clone();
            let auth = auth.clone();
            let extra = extra.clone();
            async move {
                let mut r = handle(req, &caches, auth.as_ref(), ip).await;
                for (name, value) in extra.iter() {
                    r.headers_mut().insert(name.clone(), value.clone());
                }
                Ok::<_, Infallible>(r)
            }
        });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let handshake_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let result = match web.tls {
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), service))
                        .await
                }
                Some(tls) => {
                    let acceptor = tls.acceptor();
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            watcher
                                .watch(builder.serve_connection(TokioIo::new(tls), service))
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, "TLS handshake failed: {e}");
                            Ok(())
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            Ok(())
                        }
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::info!("shutdown grace period over; closing remaining connections");
        }
    }
}

/// An IPv4 client seen on an IPv6 socket counts as its IPv4 address.
fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

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
        "/probe" => crate::probe::respond(&req, caches, true).await,
        "/metrics" => crate::probe::respond(&req, caches, false).await,
        "/" => {
            let entry = caches.default.get().await;
            let mut r = Response::new(Body::bytes(crate::status_page::page(&entry)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::status_page::CONTENT_TYPE),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_are_logged_once_per_interval() {
        let mut errors = AcceptErrors::default();
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let logged = (0..100).filter(|_| errors.record(&emfile)).count();
        assert_eq!(logged, 1);
        assert_eq!(errors.suppressed, 99);
    }

    #[tokio::test]
    async fn a_bind_error_hints_at_its_cause() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let e = bind(taken.local_addr().unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("already in use; stop whatever uses it"), "{e}");
        // TEST-NET-1 (RFC 5737) is no address of this host.
        let e = bind("192.0.2.1:9715".parse().unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an address of this host"), "{e}");
        assert!(!e.contains("stop whatever uses it"), "{e}");
        assert!(
            e.contains("set `listen` to one of this host's addresses"),
            "{e}"
        );
    }
}
