//! The Things Stack v3 HTTP client: lists gateways (pages of 1000, at most
//! `max_gateways` in all), fetches connection stats in batches of 100 and
//! falls back to bounded-concurrency single GETs where the batch route is
//! refused (retrying the batch route every [`BATCH_RETRY_REFRESHES`]
//! refreshes). One refresh reads at most [`MAX_REFRESH_BYTES`]; redirects are
//! refused; gateway IDs from the API are checked before they go into a URL;
//! upstream text in errors is made one line and short ([`crate::sanitize`]).
//! It knows nothing about Prometheus: it returns [`crate::model`] values or a
//! typed [`Error`].

pub mod types;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use url::Url;

use crate::model::{valid_tts_id, ApiKey, AuthInfo, Dropped, Failure, FailureKind, Gateway, Scope};
use crate::sanitize;
use types::{ApiAuthInfo, ApiError, ApiStats, BatchStats, GatewaysPage};

/// Gateways per list page (the API's maximum).
pub const PAGE_LIMIT: usize = 1000;
/// Gateways per batch stats request (the API's maximum).
pub const BATCH_SIZE: usize = 100;
/// Largest response body read; anything longer is an error, not an OOM.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// Bytes one refresh reads at most, over all its responses: 16 list pages
/// or batch answers at the per-response cap. A fleet of 10,000 gateways
/// reads about 10 MiB.
pub const MAX_REFRESH_BYTES: usize = 16 * MAX_BODY_BYTES;
/// Default most gateways one refresh reads (`max_gateways`).
pub const DEFAULT_MAX_GATEWAYS: usize = 10_000;
/// After the batch route was refused, refreshes that use single requests
/// before the batch route is tried again.
pub const BATCH_RETRY_REFRESHES: u64 = 10;
/// Batch requests in flight at once.
const BATCH_CONCURRENCY: usize = 4;
/// Single stats GETs in flight at once.
const SINGLE_CONCURRENCY: usize = 16;
/// Fields asked of the batch route.
const STATS_FIELDS: [&str; 13] = [
    "connected_at",
    "disconnected_at",
    "protocol",
    "last_status_received_at",
    "last_status",
    "last_uplink_received_at",
    "uplink_count",
    "last_downlink_received_at",
    "downlink_count",
    "last_tx_acknowledgment_received_at",
    "tx_acknowledgment_count",
    "round_trip_times",
    "sub_bands",
];

/// Which API route a request went to: the `endpoint` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /gateways` (or a user's or organization's).
    ListGateways,
    /// `POST /gs/gateways/connection/stats`.
    BatchStats,
    /// `GET /gs/gateways/{id}/connection/stats`.
    GatewayStats,
    /// `GET /auth_info`.
    AuthInfo,
}

impl Endpoint {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::ListGateways => "list_gateways",
            Endpoint::BatchStats => "batch_stats",
            Endpoint::GatewayStats => "gateway_stats",
            Endpoint::AuthInfo => "auth_info",
        }
    }
}

/// A failed API call. Messages are one line, name the endpoint, carry the
/// TTS error name and correlation ID, and never the key.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No HTTP answer: connection refused, DNS, TLS, reset.
    #[error("cannot reach the API at {url} ({endpoint}): {detail}")]
    Unreachable {
        /// Which route.
        endpoint: &'static str,
        /// The base URL (no secrets).
        url: String,
        /// The transport error.
        detail: String,
    },
    /// The request ran past `request_timeout`.
    #[error("the API did not answer {endpoint} within {}s; check the network or raise request_timeout", .after.as_secs_f64())]
    Timeout {
        /// Which route.
        endpoint: &'static str,
        /// The configured timeout.
        after: Duration,
    },
    /// An HTTP error status.
    #[error("{}", status_message(.endpoint, *.status, .name.as_deref(), .correlation_id.as_deref(), *.retry_after))]
    Status {
        /// Which route.
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// The TTS error name, e.g. `api_key_not_found`.
        name: Option<String>,
        /// The correlation ID TTN support asks for.
        correlation_id: Option<String>,
        /// `X-Rate-Limit-Retry` on a 429.
        retry_after: Option<Duration>,
    },
    /// A body that is not what the API documents.
    #[error("unexpected answer from {endpoint}: {detail}")]
    BadResponse {
        /// Which route.
        endpoint: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The refresh passed a bound (gateways or bytes); it stopped reading.
    #[error("{what}; the refresh stopped reading ({endpoint})")]
    Limit {
        /// Which route was being read.
        endpoint: &'static str,
        /// Which bound, with its number.
        what: String,
    },
    /// A request about one gateway failed.
    #[error("gateway {gateway_id}: {source}")]
    Gateway {
        /// The gateway asked about.
        gateway_id: String,
        /// What went wrong.
        source: Box<Error>,
    },
}

fn status_message(
    endpoint: &str,
    status: u16,
    name: Option<&str>,
    correlation_id: Option<&str>,
    retry_after: Option<Duration>,
) -> String {
    let what = match status {
        401 => {
            "the API rejected the key; check that it is a valid, unexpired API key of this cluster"
                .to_owned()
        }
        403 => {
            "the key lacks rights; give it \"View gateway status\" and \"List gateways\"".to_owned()
        }
        429 => match retry_after {
            Some(d) => format!("rate limited by the API; backing off for {}s", d.as_secs()),
            None => "rate limited by the API; backing off".to_owned(),
        },
        500..=599 => "the API had a server error; it will be retried on a later scrape".to_owned(),
        300..=399 => {
            "the API answered with a redirect, which is never followed (the key would go along); set api_url to the final address".to_owned()
        }
        _ => "the API refused the request".to_owned(),
    };
    let mut s = format!("{endpoint} answered HTTP {status}");
    if let Some(n) = name {
        s.push_str(&format!(" {n}"));
    }
    s.push_str(&format!(": {what}"));
    if let Some(c) = correlation_id {
        s.push_str(&format!(" (correlation id {c})"));
    }
    s
}

impl Error {
    /// The kind of failure, for the `reason` label.
    pub fn kind(&self) -> FailureKind {
        match self {
            Error::Gateway { source, .. } => source.kind(),
            Error::Unreachable { .. } => FailureKind::Unreachable,
            Error::Timeout { .. } => FailureKind::Timeout,
            Error::BadResponse { .. } => FailureKind::BadResponse,
            Error::Limit { .. } => FailureKind::Limit,
            Error::Status { status, .. } => match status {
                401 => FailureKind::Unauthorized,
                403 => FailureKind::Forbidden,
                429 => FailureKind::RateLimited,
                500..=599 => FailureKind::ServerError,
                _ => FailureKind::ClientError,
            },
        }
    }

    /// How long the API asked us to wait (429 `X-Rate-Limit-Retry`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Status { retry_after, .. } => *retry_after,
            Error::Gateway { source, .. } => source.retry_after(),
            _ => None,
        }
    }

    fn status(&self) -> Option<u16> {
        match self {
            Error::Status { status, .. } => Some(*status),
            Error::Gateway { source, .. } => source.status(),
            _ => None,
        }
    }

    /// The API route that failed.
    pub fn endpoint(&self) -> &'static str {
        match self {
            Error::Unreachable { endpoint, .. }
            | Error::Timeout { endpoint, .. }
            | Error::Status { endpoint, .. }
            | Error::BadResponse { endpoint, .. }
            | Error::Limit { endpoint, .. } => endpoint,
            Error::Gateway { source, .. } => source.endpoint(),
        }
    }

    /// The TTS correlation ID, when the API sent one.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Status { correlation_id, .. } => correlation_id.as_deref(),
            Error::Gateway { source, .. } => source.correlation_id(),
            _ => None,
        }
    }

    /// The gateway the failed request was about, if any.
    pub fn gateway_id(&self) -> Option<&str> {
        match self {
            Error::Gateway { gateway_id, .. } => Some(gateway_id),
            _ => None,
        }
    }
}

impl From<&Error> for Failure {
    /// The domain's view of a failed refresh. Upstream text is already
    /// sanitised piecewise; the whole message is made one line and capped
    /// once more here, where it enters the domain.
    fn from(e: &Error) -> Failure {
        Failure {
            kind: e.kind(),
            message: sanitize::one_line(&e.to_string(), sanitize::MAX_MESSAGE_CHARS),
            retry_after: e.retry_after(),
            endpoint: Some(e.endpoint()),
            correlation_id: e.correlation_id().map(sanitize::upstream),
            gateway_id: e.gateway_id().map(sanitize::upstream),
        }
    }
}

/// The gateways of one refresh and what it dropped on the way.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Sorted by ID, each with its stats if connected.
    pub gateways: Vec<Gateway>,
    /// What was dropped rather than fail the refresh.
    pub dropped: Dropped,
}

/// The bytes one refresh may still read.
struct Budget(AtomicUsize);

impl Budget {
    fn new() -> Budget {
        Budget(AtomicUsize::new(MAX_REFRESH_BYTES))
    }

    /// Take `n` bytes, or say the refresh is over its bound.
    fn take(&self, n: usize, endpoint: &'static str) -> Result<(), Error> {
        self.0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(n)
            })
            .map(|_| ())
            .map_err(|_| Error::Limit {
                endpoint,
                what: format!("the API sent more than {MAX_REFRESH_BYTES} bytes in one refresh"),
            })
    }
}

/// Called once per HTTP request with the endpoint and the outcome (`"200"`,
/// `"404"`, `"timeout"`, `"error"`): feeds `ttn_exporter_api_requests_total`.
pub type RequestObserver = Arc<dyn Fn(Endpoint, &str) + Send + Sync>;

/// The API client. Cheap to share behind an `Arc`.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    key: ApiKey,
    timeout: Duration,
    observer: RequestObserver,
    max_gateways: usize,
    /// Refreshes started by this client.
    fetches: AtomicU64,
    /// The refresh (number) in which the batch route was last refused.
    batch_refused_at: AtomicU64,
}

/// `batch_refused_at` when the batch route was never refused.
const NEVER: u64 = u64::MAX;

impl Client {
    /// Build a client for `base` (e.g. `https://eu1.cloud.thethings.network`).
    pub fn new(
        base: Url,
        key: ApiKey,
        timeout: Duration,
        observer: RequestObserver,
    ) -> Result<Client, Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("ttn-exporter/", env!("CARGO_PKG_VERSION")))
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(90))
            // The API never redirects; following one could carry the key to
            // another scheme or host. A 3xx is a failed request.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Unreachable {
                endpoint: "client",
                url: base.to_string(),
                detail: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Client {
            http,
            base,
            key,
            timeout,
            observer,
            max_gateways: DEFAULT_MAX_GATEWAYS,
            fetches: AtomicU64::new(0),
            batch_refused_at: AtomicU64::new(NEVER),
        })
    }

    /// Read at most `n` gateways per refresh (at least 1); more fails the
    /// refresh with [`Error::Limit`].
    pub fn with_max_gateways(mut self, n: usize) -> Client {
        self.max_gateways = n.max(1);
        self
    }

    /// The gateways of `scope`, sorted by ID, each with its stats.
    pub async fn fetch(&self, scope: &Scope) -> Result<Vec<Gateway>, Error> {
        Ok(self.fetch_counted(scope).await?.gateways)
    }

    /// [`Client::fetch`], with what was dropped on the way.
    pub async fn fetch_counted(&self, scope: &Scope) -> Result<Fetched, Error> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let budget = Budget::new();
        let mut dropped = Dropped::default();
        let mut gateways = match scope {
            Scope::Explicit(ids) => {
                let mut seen = HashSet::new();
                ids.iter()
                    .filter(|id| seen.insert(id.as_str()))
                    .map(Gateway::with_id)
                    .collect()
            }
            Scope::All => self.list("gateways", &budget, &mut dropped).await?,
            Scope::Organization(o) => {
                self.list(
                    &format!("organizations/{o}/gateways"),
                    &budget,
                    &mut dropped,
                )
                .await?
            }
            Scope::User(u) => {
                self.list(&format!("users/{u}/gateways"), &budget, &mut dropped)
                    .await?
            }
        };
        if gateways.len() > self.max_gateways {
            return Err(self.too_many(Endpoint::ListGateways));
        }
        gateways.sort_by(|a, b| a.id.cmp(&b.id));
        self.fill_stats(&mut gateways, &budget, &mut dropped)
            .await?;
        Ok(Fetched { gateways, dropped })
    }

    fn too_many(&self, endpoint: Endpoint) -> Error {
        Error::Limit {
            endpoint: endpoint.as_str(),
            what: format!(
                "more than {} gateways (max_gateways); raise max_gateways or narrow the scope",
                self.max_gateways
            ),
        }
    }

    /// `GET /auth_info`: who owns the key (for `check`).
    pub async fn auth_info(&self) -> Result<AuthInfo, Error> {
        let url = self.url("auth_info", &[]);
        let (body, _) = self
            .request(Endpoint::AuthInfo, Method::GET, url, None, &Budget::new())
            .await?;
        Ok(decode::<ApiAuthInfo>(Endpoint::AuthInfo, &body)?.into())
    }

    async fn list(
        &self,
        path: &str,
        budget: &Budget,
        dropped: &mut Dropped,
    ) -> Result<Vec<Gateway>, Error> {
        let mut out: Vec<Gateway> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let limit = PAGE_LIMIT.to_string();
        // `X-Total-Count` is not trusted beyond `max_gateways`: at most the
        // pages that many gateways fill, plus one to notice there are more.
        let max_pages = self.max_gateways.div_ceil(PAGE_LIMIT) + 1;
        for page in 1..=max_pages {
            let page_s = page.to_string();
            let url = self.url(
                path,
                &[
                    (
                        "field_mask",
                        "name,gateway_server_address,frequency_plan_ids",
                    ),
                    ("limit", &limit),
                    ("page", &page_s),
                ],
            );
            let (body, total) = self
                .request(Endpoint::ListGateways, Method::GET, url, None, budget)
                .await?;
            let items = decode::<GatewaysPage>(Endpoint::ListGateways, &body)?.gateways;
            drop(body);
            let n = items.len();
            let mut new = 0;
            for g in items {
                // An ID goes into URLs: one that breaks the ID rule is
                // dropped (and counted), never requested.
                if !valid_tts_id(&g.ids.gateway_id) {
                    dropped.invalid_gateway_id += 1;
                    continue;
                }
                if seen.insert(g.ids.gateway_id.clone()) {
                    out.push(g.into());
                    new += 1;
                }
            }
            if out.len() > self.max_gateways {
                return Err(self.too_many(Endpoint::ListGateways));
            }
            let done = match total {
                Some(t) => page * PAGE_LIMIT >= t || out.len() >= t,
                None => n < PAGE_LIMIT,
            };
            if done || n == 0 || new == 0 {
                break;
            }
        }
        // Growth by doubling leaves up to half the capacity unused; the
        // list lives for the whole refresh.
        out.shrink_to_fit();
        Ok(out)
    }

    async fn fill_stats(
        &self,
        gateways: &mut [Gateway],
        budget: &Budget,
        dropped: &mut Dropped,
    ) -> Result<(), Error> {
        // Group gateway indices by the cluster that serves their stats.
        let mut groups: HashMap<Url, Vec<usize>> = HashMap::new();
        for (i, g) in gateways.iter().enumerate() {
            let base = stats_base(&self.base, g.gateway_server_address.as_deref());
            groups.entry(base).or_default().push(i);
        }
        let chunks: Vec<(Url, Vec<usize>, Vec<String>)> = groups
            .into_iter()
            .flat_map(|(base, idx)| {
                idx.chunks(BATCH_SIZE)
                    .map(|c| {
                        let ids = c.iter().map(|&i| gateways[i].id.clone()).collect();
                        (base.clone(), c.to_vec(), ids)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        // Futures are built up front: closures returning borrowing futures
        // inside stream combinators trip the compiler's Send inference.
        let futs: Vec<_> = chunks
            .iter()
            .enumerate()
            .map(
                |(k, (base, _, ids))| async move { (k, self.chunk_stats(base, ids, budget).await) },
            )
            .collect();
        // Each answer goes straight into its gateways: at most
        // BATCH_CONCURRENCY answers are held at once, never all of them.
        let mut answers = stream::iter(futs).buffer_unordered(BATCH_CONCURRENCY);
        while let Some((k, answer)) = answers.next().await {
            let mut stats = answer?;
            let (_, idx, ids) = &chunks[k];
            for (&i, id) in idx.iter().zip(ids) {
                gateways[i].stats = stats.remove(id).map(|s| {
                    let (s, d) = s.into_model();
                    dropped.add(&d);
                    s
                });
            }
        }
        Ok(())
    }

    /// Use the batch route unless it was refused within the last
    /// [`BATCH_RETRY_REFRESHES`] refreshes.
    fn batch_allowed(&self) -> bool {
        let refused = self.batch_refused_at.load(Ordering::Relaxed);
        refused == NEVER
            || self.fetches.load(Ordering::Relaxed) > refused.saturating_add(BATCH_RETRY_REFRESHES)
    }

    async fn chunk_stats(
        &self,
        base: &Url,
        ids: &[String],
        budget: &Budget,
    ) -> Result<HashMap<String, ApiStats>, Error> {
        if self.batch_allowed() {
            match self.batch(base, ids, budget).await {
                Ok(m) => {
                    self.batch_refused_at.store(NEVER, Ordering::Relaxed);
                    return Ok(m);
                }
                // Gateway-scoped keys get 403; servers before 3.21 lack the route.
                Err(e) if matches!(e.status(), Some(403 | 404 | 405 | 501)) => {
                    tracing::info!(
                        endpoint = Endpoint::BatchStats.as_str(),
                        "batch stats refused ({e}); using one request per gateway for the next {BATCH_RETRY_REFRESHES} refreshes"
                    );
                    self.batch_refused_at
                        .store(self.fetches.load(Ordering::Relaxed), Ordering::Relaxed);
                }
                Err(e) => return Err(e),
            }
        }
        let futs: Vec<_> = ids.iter().map(|id| self.single(base, id, budget)).collect();
        let pairs: Vec<Option<(String, ApiStats)>> = stream::iter(futs)
            .buffer_unordered(SINGLE_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(pairs.into_iter().flatten().collect())
    }

    async fn batch(
        &self,
        base: &Url,
        ids: &[String],
        budget: &Budget,
    ) -> Result<HashMap<String, ApiStats>, Error> {
        let body = serde_json::json!({
            "gateway_ids": ids.iter().map(|id| serde_json::json!({"gateway_id": id})).collect::<Vec<_>>(),
            "field_mask": {"paths": STATS_FIELDS},
        });
        let url = join(base, "gs/gateways/connection/stats", &[]);
        let (bytes, _) = self
            .request(Endpoint::BatchStats, Method::POST, url, Some(body), budget)
            .await?;
        let batch: BatchStats = decode(Endpoint::BatchStats, &bytes)?;
        Ok(batch.entries)
    }

    async fn single(
        &self,
        base: &Url,
        id: &str,
        budget: &Budget,
    ) -> Result<Option<(String, ApiStats)>, Error> {
        let url = join(base, &format!("gs/gateways/{id}/connection/stats"), &[]);
        match self
            .request(Endpoint::GatewayStats, Method::GET, url, None, budget)
            .await
        {
            Ok((bytes, _)) => {
                let stats = decode::<ApiStats>(Endpoint::GatewayStats, &bytes)?;
                Ok(Some((id.to_owned(), stats)))
            }
            // 404 not_connected: disconnected over 48 h ago, or never connected.
            Err(Error::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(Error::Gateway {
                gateway_id: id.to_owned(),
                source: Box::new(e),
            }),
        }
    }

    /// A request that got no HTTP answer: observed and typed.
    fn transport_error(&self, endpoint: Endpoint, e: &reqwest::Error) -> Error {
        let timeout = e.is_timeout();
        (self.observer)(endpoint, if timeout { "timeout" } else { "error" });
        if timeout {
            Error::Timeout {
                endpoint: endpoint.as_str(),
                after: self.timeout,
            }
        } else {
            Error::Unreachable {
                endpoint: endpoint.as_str(),
                url: redact_url(&self.base),
                detail: error_chain(e),
            }
        }
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        join(&self.base, path, query)
    }

    /// One HTTP request: bounded body, typed errors, observed outcome.
    /// Returns the body and `X-Total-Count`.
    async fn request(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: Url,
        json: Option<serde_json::Value>,
        budget: &Budget,
    ) -> Result<(Vec<u8>, Option<usize>), Error> {
        let ep = endpoint.as_str();
        let mut req = self
            .http
            .request(method, url)
            .bearer_auth(self.key.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(j) = json {
            req = req.json(&j);
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Err(self.transport_error(endpoint, &e)),
        };
        let status = resp.status();
        let total = resp
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<usize>().ok());
        let retry = resp
            .headers()
            .get("x-rate-limit-retry")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = async {
            if resp.content_length().unwrap_or(0) > MAX_BODY_BYTES as u64 {
                return Err(too_large(ep));
            }
            let mut body = Vec::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        if body.len() + chunk.len() > MAX_BODY_BYTES {
                            return Err(too_large(ep));
                        }
                        budget.take(chunk.len(), ep)?;
                        body.extend_from_slice(&chunk);
                    }
                    Ok(None) => return Ok(body),
                    Err(e) if e.is_timeout() => {
                        return Err(Error::Timeout {
                            endpoint: ep,
                            after: self.timeout,
                        })
                    }
                    Err(e) => {
                        return Err(Error::BadResponse {
                            endpoint: ep,
                            detail: format!("body ended early: {}", error_chain(&e)),
                        })
                    }
                }
            }
        }
        .await;
        (self.observer)(endpoint, status.as_str());
        let body = body?;
        if status.is_success() {
            return Ok((body, total));
        }
        Err(status_error(ep, status, &body, retry))
    }
}

fn too_large(endpoint: &'static str) -> Error {
    Error::BadResponse {
        endpoint,
        detail: format!("body larger than {MAX_BODY_BYTES} bytes"),
    }
}

fn status_error(
    endpoint: &'static str,
    status: StatusCode,
    body: &[u8],
    retry: Option<Duration>,
) -> Error {
    let api: ApiError = serde_json::from_slice(body).unwrap_or_default();
    Error::Status {
        endpoint,
        status: status.as_u16(),
        name: api.name().map(|n| sanitize::upstream(&n)),
        correlation_id: api.correlation_id().map(|c| sanitize::upstream(&c)),
        retry_after: if status == StatusCode::TOO_MANY_REQUESTS {
            retry
        } else {
            None
        },
    }
}

fn decode<T: serde::de::DeserializeOwned>(endpoint: Endpoint, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::BadResponse {
        endpoint: endpoint.as_str(),
        detail: format!("invalid JSON ({})", sanitize::upstream(&e.to_string())),
    })
}

/// The innermost causes of a transport error, one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    sanitize::one_line(&parts.join(": "), sanitize::MAX_MESSAGE_CHARS)
}

fn redact_url(u: &Url) -> String {
    let mut u = u.clone();
    u.set_query(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// `<base>/api/v3/<path>?<query>`.
fn join(base: &Url, path: &str, query: &[(&str, &str)]) -> Url {
    let mut u = base.clone();
    let prefix = base.path().trim_end_matches('/');
    u.set_path(&format!("{prefix}/api/v3/{path}"));
    if query.is_empty() {
        u.set_query(None);
    } else {
        u.query_pairs_mut().clear().extend_pairs(query);
    }
    u
}

/// Which base URL serves a gateway's stats. On The Things Network and The
/// Things Industries cloud, Gateway Servers are regional: a gateway whose
/// `gateway_server_address` names another cluster of the same cloud is
/// asked there. Anywhere else (self-hosted, tests) everything goes to `api`.
pub fn stats_base(api: &Url, gateway_server_address: Option<&str>) -> Url {
    const CLOUDS: [&str; 2] = [".cloud.thethings.network", ".cloud.thethings.industries"];
    let Some(api_host) = api.host_str() else {
        return api.clone();
    };
    let Some(addr) = gateway_server_address else {
        return api.clone();
    };
    // The address may carry a scheme or a port: keep the host.
    let addr = addr.split("://").last().unwrap_or(addr);
    let host = addr
        .split(['/', ':'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let same_cloud = CLOUDS
        .iter()
        .any(|c| api_host.ends_with(c) && host.ends_with(c));
    if host.is_empty() || host == api_host || !same_cloud || api.scheme() != "https" {
        return api.clone();
    }
    let mut u = api.clone();
    if u.set_host(Some(&host)).is_err() {
        return api.clone();
    }
    let _ = u.set_port(None);
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_builds_api_paths() {
        let b = Url::parse("http://127.0.0.1:1885/").unwrap();
        assert_eq!(
            join(&b, "gateways", &[("limit", "1000"), ("page", "2")]).as_str(),
            "http://127.0.0.1:1885/api/v3/gateways?limit=1000&page=2"
        );
        let b = Url::parse("https://tts.example/prefix").unwrap();
        assert_eq!(
            join(&b, "gs/gateways/gw-1/connection/stats", &[]).as_str(),
            "https://tts.example/prefix/api/v3/gs/gateways/gw-1/connection/stats"
        );
    }

    #[test]
    fn stats_go_to_the_gateways_cluster_on_the_cloud_only() {
        let eu1 = Url::parse("https://eu1.cloud.thethings.network").unwrap();
        assert_eq!(
            stats_base(&eu1, Some("nam1.cloud.thethings.network")).as_str(),
            "https://nam1.cloud.thethings.network/"
        );
        assert_eq!(
            stats_base(&eu1, Some("au1.cloud.thethings.network:1700")).as_str(),
            "https://au1.cloud.thethings.network/"
        );
        assert_eq!(stats_base(&eu1, Some("eu1.cloud.thethings.network")), eu1);
        assert_eq!(stats_base(&eu1, None), eu1);
        assert_eq!(stats_base(&eu1, Some("evil.example.com")), eu1);
        let own = Url::parse("http://127.0.0.1:1885").unwrap();
        assert_eq!(stats_base(&own, Some("eu1.cloud.thethings.network")), own);
    }

    #[test]
    fn status_errors_carry_name_and_correlation_id() {
        let body = br#"{"code":16,"message":"error:pkg/auth:api_key_not_found (API key not found)","details":[{"name":"api_key_not_found","correlation_id":"abc123"}]}"#;
        let e = status_error("list_gateways", StatusCode::UNAUTHORIZED, body, None);
        let msg = e.to_string();
        assert!(msg.contains("HTTP 401 api_key_not_found"), "{msg}");
        assert!(msg.contains("correlation id abc123"), "{msg}");
        assert_eq!(e.kind(), FailureKind::Unauthorized);
        let e = status_error(
            "batch_stats",
            StatusCode::TOO_MANY_REQUESTS,
            b"not json",
            Some(Duration::from_secs(7)),
        );
        assert_eq!(e.kind(), FailureKind::RateLimited);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        assert!(e.to_string().contains("backing off for 7s"));
    }
}
