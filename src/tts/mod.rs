//! The Things Stack v3 HTTP client: lists gateways (pages of 1000, at most
//! `max_gateways` in all), fetches connection stats in batches of 100 and
//! falls back to bounded-concurrency single GETs where the batch route is
//! refused (retrying the batch route every [`BATCH_RETRY_REFRESHES`]
//! refreshes). One refresh reads at most [`MAX_REFRESH_BYTES`]; redirects are
//! refused; gateway IDs from the API are checked before they go into a URL;
//! upstream text in errors is made one line and short ([`crate::sanitize`]).
//! It knows nothing about Prometheus: it returns [`crate::model`] values or a
//! typed [`Error`]. Gateway locations and versions are read by [`location`].

mod auth_info;
mod error;
mod lenient;
pub mod location;
pub mod types;
mod urls;

pub use error::Error;
use error::{error_chain, status_error, too_large};
pub use urls::stats_base;
use urls::{join, redact_url};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::Method;
use url::Url;

use crate::model::{valid_tts_id, ApiKey, AuthInfo, Dropped, Gateway, Scope};
use crate::sanitize;
use types::{ApiAuthInfo, ApiStats, BatchStats, GatewaysPage};

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

    /// `GET /auth_info`: who owns the key, and whether it may read gateway
    /// traffic (for `check` with the events stream).
    pub async fn auth_info_and_traffic(&self) -> Result<(AuthInfo, bool), Error> {
        let url = self.url("auth_info", &[]);
        let (body, _) = self
            .request(Endpoint::AuthInfo, Method::GET, url, None, &Budget::new())
            .await?;
        let info = decode::<ApiAuthInfo>(Endpoint::AuthInfo, &body)?;
        let traffic = info.can_read_traffic();
        Ok((info.into(), traffic))
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
                        "name,gateway_server_address,frequency_plan_ids,antennas,version_ids",
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

fn decode<T: serde::de::DeserializeOwned>(endpoint: Endpoint, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|e| Error::BadResponse {
        endpoint: endpoint.as_str(),
        detail: format!("invalid JSON ({})", sanitize::upstream(&e.to_string())),
    })
}
