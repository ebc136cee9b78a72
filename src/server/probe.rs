//! `/probe?target=NAME` and the `shard=I&shards=N` parameters of `/metrics`
//! and `/probe`: query parsing and the answer. Bad input is a 400 with one
//! plain-text line; it never serves another target's data.

use std::time::Duration;

use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};

use crate::cache::Caches;
use crate::config::targets::{valid_name, MAX_NAME};
use crate::metrics::shard::{Shard, ShardError};
use crate::metrics::{Body, CONTENT_TYPE};

/// Subtracted from the scraper's timeout so the answer arrives in time (as
/// blackbox_exporter does).
pub const SCRAPE_TIMEOUT_MARGIN: Duration = Duration::from_millis(500);
/// Longest wait a scrape header can ask for.
const MAX_SCRAPE_WAIT: Duration = Duration::from_secs(3600);

/// How long a scrape may wait for a refresh, from the value of its
/// `X-Prometheus-Scrape-Timeout-Seconds` header: the timeout minus
/// [`SCRAPE_TIMEOUT_MARGIN`] (at least half the timeout), at most an hour.
/// `None` (no header, or not a positive finite number of seconds): wait for
/// the refresh, which `refresh_timeout` bounds.
pub fn scrape_wait(header: Option<&str>) -> Option<Duration> {
    let t: f64 = header?.trim().parse().ok()?;
    if !t.is_finite() || t <= 0.0 {
        return None;
    }
    let t = t.min(MAX_SCRAPE_WAIT.as_secs_f64());
    let wait = (t - SCRAPE_TIMEOUT_MARGIN.as_secs_f64()).max(t / 2.0);
    Some(Duration::from_secs_f64(wait))
}

/// Most query parameters looked at; a longer query is refused.
const MAX_PARAMS: usize = 32;

/// Why a query was refused; one line for a 400 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// More than `MAX_PARAMS` (32) parameters.
    #[error("too many query parameters (at most {MAX_PARAMS})")]
    TooManyParameters,
    /// `target`, `shard` or `shards` given twice.
    #[error("parameter {0} given more than once")]
    Repeated(String),
    /// `shard` without `shards`.
    #[error("shard given without shards")]
    ShardWithoutShards,
    /// `shards` without `shard`.
    #[error("shards given without shard")]
    ShardsWithoutShard,
    /// `shard`/`shards` refused.
    #[error(transparent)]
    Shard(#[from] ShardError),
}

/// What a query asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// `target=`
    pub target: Option<String>,
    /// `shard=` and `shards=`, validated.
    pub shard: Option<Shard>,
}

/// Parse `target`, `shard` and `shards`; other parameters are ignored. Each
/// may appear once; `shard` and `shards` come together. The error is one
/// line for a 400 answer.
pub fn parse_query(query: Option<&str>) -> Result<Query, QueryError> {
    let mut target = None;
    let mut index = None;
    let mut count = None;
    let pairs = url::form_urlencoded::parse(query.unwrap_or("").as_bytes());
    for (n, (k, v)) in pairs.enumerate() {
        if n >= MAX_PARAMS {
            return Err(QueryError::TooManyParameters);
        }
        let slot = match &*k {
            "target" => &mut target,
            "shard" => &mut index,
            "shards" => &mut count,
            _ => continue,
        };
        if slot.is_some() {
            return Err(QueryError::Repeated(k.into_owned()));
        }
        *slot = Some(v.into_owned());
    }
    let shard = match (index, count) {
        (None, None) => None,
        (Some(i), Some(n)) => Some(Shard::parse(&i, &n)?),
        (Some(_), None) => return Err(QueryError::ShardWithoutShards),
        (None, Some(_)) => return Err(QueryError::ShardsWithoutShard),
    };
    Ok(Query { target, shard })
}

/// Answer `/probe` (`probe`) or `/metrics` with a query.
pub async fn respond<B>(req: &Request<B>, caches: &Caches, probe: bool) -> Response<Body> {
    let q = match parse_query(req.uri().query()) {
        Ok(q) => q,
        Err(e) => return bad_request(&e.to_string()),
    };
    let target = match (probe, &q.target) {
        (false, None) => caches.default.clone(),
        (false, Some(_)) => {
            return bad_request("target is for /probe; /metrics serves the default target")
        }
        (true, None) => return bad_request("missing parameter target, e.g. /probe?target=NAME"),
        (true, Some(name)) if !valid_name(name) => {
            return bad_request(&format!(
                "invalid target name: use 1 to {MAX_NAME} of a-z, 0-9, _ and -"
            ))
        }
        (true, Some(name)) => match caches.targets.get(name) {
            Some(c) => c,
            None => return bad_request(&format!("unknown target {name}")),
        },
    };
    let gzip = accepts_gzip(req.headers());
    let timeout = req.headers().get("x-prometheus-scrape-timeout-seconds");
    let wait = scrape_wait(timeout.and_then(|v| v.to_str().ok()));
    let started = tokio::time::Instant::now();
    let entry = target.get_within(wait).await;
    let body = match q.shard {
        Some(shard) if shard.count > 1 => {
            let own = target.self_metrics();
            let build = entry
                .shards
                .get(shard, &entry.snapshot, own, target.extra());
            // The build's wait has what is left of the scrape's.
            let r = match wait {
                None => build.await,
                Some(w) => {
                    let left = w.saturating_sub(started.elapsed());
                    match tokio::time::timeout(left, build).await {
                        Ok(r) => r,
                        Err(_) => std::sync::Arc::new(entry.shards.timed_out(w, own)),
                    }
                }
            };
            if gzip {
                Body::bytes(r.gzip())
            } else {
                r.plain_body()
            }
        }
        _ if gzip => Body::bytes(entry.rendered.gzip()),
        _ => entry.rendered.plain_body(),
    };
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    r
}

/// 400 with `msg` (one line, built from validated input only).
fn bad_request(msg: &str) -> Response<Body> {
    let mut r = Response::new(Body::bytes(format!("{msg}\n")));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// True when `Accept-Encoding` lists gzip (or `*`) with a non-zero q.
pub fn accepts_gzip(headers: &hyper::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_table() {
        let ok = |q: &str| parse_query(Some(q)).unwrap();
        assert_eq!(ok(""), Query::default());
        assert_eq!(
            ok("target=acme&shard=1&shards=4&x=1&x=2"),
            Query {
                target: Some("acme".into()),
                shard: Some(Shard { index: 1, count: 4 })
            }
        );
        assert_eq!(ok("target=ac%6De").target.as_deref(), Some("acme"));
        for (q, needle) in [
            ("target=a&target=b", "target given more than once"),
            ("shard=1&shard=1&shards=4", "shard given more than once"),
            ("shard=1", "shard given without shards"),
            ("shards=4", "shards given without shard"),
            ("shard=4&shards=4", "less than shards"),
            ("shard=0&shards=0", "from 1"),
            ("shard=0&shards=2000", "from 1 to 1024"),
            ("shard=a&shards=4", "shard must be"),
        ] {
            let e = parse_query(Some(q)).unwrap_err().to_string();
            assert!(e.contains(needle), "{q}: {e}");
        }
        let many = vec!["a=1"; 40].join("&");
        assert!(parse_query(Some(&many))
            .unwrap_err()
            .to_string()
            .contains("too many"));
    }

    #[test]
    fn the_scrape_timeout_header_is_read_defensively() {
        let secs = |h: &str| scrape_wait(Some(h)).map(|d| d.as_secs_f64());
        assert_eq!(secs("10"), Some(9.5));
        assert_eq!(secs(" 2.5 "), Some(2.0));
        assert_eq!(secs("0.4"), Some(0.2));
        assert_eq!(secs("1e308"), Some(3599.5));
        assert_eq!(secs("inf"), None);
        for bad in ["NaN", "-1", "0", "", "ten", "-0"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
        assert_eq!(scrape_wait(None), None);
    }

    fn h(v: &str) -> hyper::HeaderMap {
        let mut m = hyper::HeaderMap::new();
        m.insert(header::ACCEPT_ENCODING, HeaderValue::from_str(v).unwrap());
        m
    }

    #[test]
    fn gzip_negotiation() {
        assert!(accepts_gzip(&h("gzip")));
        assert!(accepts_gzip(&h("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(&h("*")));
        assert!(!accepts_gzip(&h("gzip;q=0")));
        assert!(!accepts_gzip(&h("identity")));
        assert!(!accepts_gzip(&hyper::HeaderMap::new()));
    }
}
