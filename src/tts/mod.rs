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
mod http;
mod lenient;
pub mod location;
mod stats;
pub mod types;
mod urls;

pub use error::Error;
use http::{decode, Budget, Http};
pub use http::{Endpoint, RequestObserver, MAX_BODY_BYTES, MAX_REFRESH_BYTES};
use urls::join;
pub use urls::stats_base;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::Method;
use url::Url;

use crate::model::{valid_tts_id, ApiKey, AuthInfo, Dropped, Gateway, Scope};
use types::{ApiAuthInfo, ApiStats, BatchStats, GatewaysPage};

/// Gateways per list page (the API's maximum).
pub const PAGE_LIMIT: usize = 1000;
/// Gateways per batch stats request (the API's maximum).
pub const BATCH_SIZE: usize = 100;
/// The registry fields a list asks for (`attributes` is added when
/// `info_attributes` names some).
const LIST_FIELDS: &str = "name,gateway_server_address,frequency_plan_ids,antennas,version_ids";

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

/// The gateways of one refresh and what it dropped on the way.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Sorted by ID, each with its stats if connected.
    pub gateways: Vec<Gateway>,
    /// What was dropped rather than fail the refresh.
    pub dropped: Dropped,
}

/// The API client. Cheap to share behind an `Arc`.
pub struct Client {
    http: Http,
    max_gateways: usize,
    /// Registry attribute keys to read, with their label names.
    info_attributes: Vec<(String, String)>,
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
        let http = Http::new(base, key, timeout, observer)?;
        Ok(Client {
            http,
            max_gateways: DEFAULT_MAX_GATEWAYS,
            info_attributes: Vec::new(),
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

    /// Read these registry attributes (keys, already validated) of each
    /// listed gateway into [`Gateway::info_labels`], as label `key` with
    /// dashes made underscores.
    pub fn with_info_attributes(mut self, keys: &[String]) -> Client {
        self.info_attributes = keys
            .iter()
            .map(|k| (k.clone(), crate::model::attribute_label(k)))
            .collect();
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
        let url = self.http.url("auth_info", &[]);
        let (body, _) = self
            .http
            .request(Endpoint::AuthInfo, Method::GET, url, None, &Budget::new())
            .await?;
        Ok(decode::<ApiAuthInfo>(Endpoint::AuthInfo, &body)?.into())
    }

    /// `GET /auth_info`: who owns the key, and whether it may read gateway
    /// traffic (for `check` with the events stream).
    pub async fn auth_info_and_traffic(
        &self,
    ) -> Result<(AuthInfo, bool, Vec<auth_info::NeededRight>), Error> {
        let url = self.http.url("auth_info", &[]);
        let (body, _) = self
            .http
            .request(Endpoint::AuthInfo, Method::GET, url, None, &Budget::new())
            .await?;
        let info = decode::<ApiAuthInfo>(Endpoint::AuthInfo, &body)?;
        let traffic = info.can_read_traffic();
        let missing = info.missing_rights();
        Ok((info.into(), traffic, missing))
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
        let mask = if self.info_attributes.is_empty() {
            LIST_FIELDS.to_owned()
        } else {
            format!("{LIST_FIELDS},attributes")
        };
        // `X-Total-Count` is not trusted beyond `max_gateways`: at most the
        // pages that many gateways fill, plus one to notice there are more.
        let max_pages = self.max_gateways.div_ceil(PAGE_LIMIT) + 1;
        for page in 1..=max_pages {
            let page_s = page.to_string();
            let url = self.http.url(
                path,
                &[("field_mask", &mask), ("limit", &limit), ("page", &page_s)],
            );
            let (body, total) = self
                .http
                .request(Endpoint::ListGateways, Method::GET, url, None, budget)
                .await?;
            let items = decode::<GatewaysPage>(Endpoint::ListGateways, &body)?.gateways;
            drop(body);
            let n = items.len();
            let mut new = 0;
            for mut g in items {
                // An ID goes into URLs: one that breaks the ID rule is
                // dropped (and counted), never requested.
                if !valid_tts_id(&g.ids.gateway_id) {
                    dropped.invalid_gateway_id += 1;
                    continue;
                }
                if seen.insert(g.ids.gateway_id.clone()) {
                    let mut attrs = std::mem::take(&mut g.attributes);
                    let mut gw = Gateway::from(g);
                    gw.info_labels = self
                        .info_attributes
                        .iter()
                        .map(|(key, label)| (label.clone(), attrs.remove(key).unwrap_or_default()))
                        .collect();
                    out.push(gw);
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
            let base = stats_base(self.http.base(), g.gateway_server_address.as_deref());
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
            .http
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
            .http
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
}
