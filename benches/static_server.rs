//! The physical limit for `tests/bench/run.py`: a minimal hyper server that
//! answers every request with the same bytes, namely the exporter's own
//! `/metrics` body captured from a scrape (gzip when the request's
//! `Accept-Encoding` mentions gzip, with `Content-Encoding: gzip`; the plain
//! text otherwise). Same runtime and connection settings as the exporter
//! (tokio with 2 workers, hyper HTTP/1.1 keep-alive, TCP_NODELAY, the same
//! header limits), none of its work: no cache lookup, no routing, no
//! connection limit.
//!
//! ```text
//! static_server --listen 127.0.0.1:PORT --gzip BODY.gz [--plain BODY.txt]
//! # prints "listening on http://ADDR", serves until killed
//! ```
//!
//! Built as a `harness = false` bench so it needs no extra crate; run by
//! `cargo bench` without `--listen` it only prints a note and exits.

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)] // a test, bench or example crate

use std::convert::Infallible;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, VARY};
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

struct Bodies {
    gzip: Bytes,
    plain: Option<Bytes>,
}

fn answer<B>(req: &Request<B>, bodies: &Bodies) -> Response<Full<Bytes>> {
    let wants_gzip = req.headers().get_all(ACCEPT_ENCODING).iter().any(|v| {
        v.as_bytes()
            .windows(4)
            .any(|w| w.eq_ignore_ascii_case(b"gzip"))
    });
    let (body, gzip) = match (&bodies.plain, wants_gzip) {
        (Some(plain), false) => (plain.clone(), false),
        _ => (bodies.gzip.clone(), true),
    };
    let mut r = Response::new(Full::new(body));
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(ttn_exporter::metrics::CONTENT_TYPE),
    );
    h.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        h.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

fn read(path: &str) -> Bytes {
    match std::fs::read(path) {
        Ok(b) => Bytes::from(b),
        Err(e) => {
            eprintln!("static_server: {path}: {e}");
            std::process::exit(2);
        }
    }
}

fn main() {
    let mut listen: Option<SocketAddr> = None;
    let mut gzip: Option<String> = None;
    let mut plain: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--listen" => listen = args.next().and_then(|v| v.parse().ok()),
            "--gzip" => gzip = args.next(),
            "--plain" => plain = args.next(),
            _ => {} // `cargo bench` passes --bench and filters
        }
    }
    let (Some(listen), Some(gzip)) = (listen, gzip) else {
        println!(
            "static_server: the static-bytes baseline of tests/bench/run.py; \
             needs --listen ADDR --gzip FILE [--plain FILE]; nothing to benchmark on its own"
        );
        return;
    };
    let bodies = std::sync::Arc::new(Bodies {
        gzip: read(&gzip),
        plain: plain.as_deref().map(read),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(listen).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
        // The exporter's connection settings (server.rs, Limits::default()).
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(15))
            .max_buf_size(16 * 1024)
            .max_headers(100);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let bodies = bodies.clone();
            let builder = builder.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let r = answer(&req, &bodies);
                    async move { Ok::<_, Infallible>(r) }
                });
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}
