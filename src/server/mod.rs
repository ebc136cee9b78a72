//! The HTTP server: hyper HTTP/1.1 on an already bound listener, with a
//! shutdown future. The routes are in [`routes`] (`/metrics` and `/probe`
//! in [`probe`], the status page at `/` in [`status_page`]), the bounds on
//! connections and headers in [`limits`], optional TLS and basic auth in
//! [`web`] ([`web_tls`], [`basic_auth`]).

pub mod basic_auth;
pub mod limits;
pub mod probe;
pub mod routes;
pub mod status_page;
pub mod web;
pub mod web_tls;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::cache::Caches;
use crate::server::web::WebConfig;
pub use limits::Limits;
use limits::{canonical_ip, AcceptErrors, PerClient, ACCEPT_BACKOFF};

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
                let mut r = routes::handle(req, &caches, auth.as_ref(), ip).await;
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

#[cfg(test)]
mod tests {
    use super::*;

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
