//! The Things Stack v3 HTTP client: lists gateways (pages of 1000, at most
//! `max_gateways` in all), fetches connection stats in batches of 100 and
//! falls back to bounded-concurrency single GETs where the batch route is
//! refused (retrying the batch route every [`BATCH_RETRY_REFRESHES`]
//! refreshes). One refresh reads at most [`MAX_REFRESH_BYTES`]; redirects are
//! refused; gateway IDs from the API are checked before they go into a URL;
//! upstream text in errors is made one line and short ([`crate::model::sanitize`]).
//! It knows nothing about Prometheus: it returns [`crate::model`] values or a
//! typed [`Error`]. An explicit `gateways` list is read from the registry
//! one gateway at a time (`GET /gateways/{id}`, `SINGLE_CONCURRENCY` at
//! once) and kept for [`REGISTRY_TTL`]: names and locations change rarely,
//! stats every minute. Gateway locations and versions are read by [`location`];
//! the events stream's subscription request is [`events`] (same client rules).

mod auth_info;
mod error;
pub mod events;
mod http;
mod lenient;
pub mod location;
mod stats;
pub mod types;
mod urls;

pub use error::Error;
use http::{decode, Budget, Http};
pub use http::{Endpoint, RequestObserver, MAX_BODY_BYTES, MAX_REFRESH_BYTES, MAX_RETRY_AFTER};
pub use lenient::{MAX_STATUS_VERSIONS, MAX_STATUS_VERSION_KEY, MAX_STATUS_VERSION_VALUE};
use urls::join;
pub use urls::stats_base;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::stream::{self, StreamExt};
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
/// The part of [`LIST_FIELDS`] anyone may read (lorawan-stack
/// `ttnpb.PublicGatewayFields`): `GetGateway` refuses a mask with other
/// fields with 403 when the key lacks "View gateway information" on the
/// gateway, or when the gateway does not exist; under this mask it answers
/// the public part, or 404 for a gateway that does not exist.
const PUBLIC_FIELDS: &str = "name,gateway_server_address,frequency_plan_ids,antennas";

/// How long the registry records of an explicit `gateways` list are kept
/// before they are read again (one request per gateway). A changed list (a
/// reload) is read at once.
pub const REGISTRY_TTL: Duration = Duration::from_secs(600);

pub use crate::model::DEFAULT_MAX_GATEWAYS;
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
    /// IDs of an explicit `gateways` list that the registry does not know
    /// (404), sorted; they are not in `gateways`.
    pub not_found: Vec<String>,
}

/// An explicit list's registry records, as last read.
struct Registry {
    /// When they were read.
    at: tokio::time::Instant,
    /// The list they are of (deduplicated, in order).
    ids: Vec<String>,
    /// One per ID: the record, or `None` when the registry does not know it.
    records: Vec<Option<Gateway>>,
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
    /// Gateways whose stats the key may not read (403 `no_gateway_rights`
    /// on their single GET) in the last refresh: asked alone, never in a
    /// batch (which would fail whole for them).
    refused: std::sync::Mutex<HashSet<String>>,
    /// The registry records of an explicit list ([`REGISTRY_TTL`]).
    registry: std::sync::Mutex<Option<Registry>>,
}

/// One gateway's single stats answer.
enum Single {
    /// Its stats.
    Stats(Box<ApiStats>),
    /// 404 `not_connected`: disconnected over 48 h ago, or never connected.
    NotConnected,
    /// 403: the key may list it but not read its status.
    Refused(Error),
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
            refused: std::sync::Mutex::new(HashSet::new()),
            registry: std::sync::Mutex::new(None),
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
        let mut not_found = Vec::new();
        let mut gateways = match scope {
            Scope::Explicit(ids) => {
                let mut seen = HashSet::new();
                let ids: Vec<String> = ids
                    .iter()
                    .filter(|id| seen.insert(id.as_str()))
                    .cloned()
                    .collect();
                if ids.len() > self.max_gateways {
                    return Err(self.too_many(Endpoint::GetGateway));
                }
                let (found, missing) = self.registered(&ids, &budget).await;
                not_found = missing;
                found
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
        not_found.sort();
        Ok(Fetched {
            gateways,
            dropped,
            not_found,
        })
    }

    /// The registry records of `ids` (an explicit list), from the cache
    /// while it is younger than [`REGISTRY_TTL`] and of the same list, else
    /// read anew; with the IDs the registry does not know. A record that
    /// cannot be read now (timeout, 5xx, 429) is the last one read, else the
    /// bare ID, and the list is read again on the next refresh: the
    /// registry is decoration, the stats decide the refresh.
    async fn registered(&self, ids: &[String], budget: &Budget) -> (Vec<Gateway>, Vec<String>) {
        let previous = {
            let cached = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            match cached.as_ref() {
                Some(r) if r.ids == ids && r.at.elapsed() < REGISTRY_TTL => {
                    return split_records(ids, &r.records);
                }
                Some(r) => r
                    .ids
                    .iter()
                    .cloned()
                    .zip(r.records.iter().cloned())
                    .collect::<HashMap<String, Option<Gateway>>>(),
                None => HashMap::new(),
            }
        };
        let futs: Vec<_> = ids
            .iter()
            .map(|id| async move { self.read_gateway(id, budget).await })
            .collect();
        let answers: Vec<Result<Option<Gateway>, Error>> = stream::iter(futs)
            .buffered(SINGLE_CONCURRENCY)
            .collect()
            .await;
        let mut complete = true;
        let mut first_error = None;
        let records: Vec<Option<Gateway>> = ids
            .iter()
            .zip(answers)
            .map(|(id, answer)| match answer {
                Ok(r) => r,
                Err(e) => {
                    complete = false;
                    first_error.get_or_insert(e);
                    previous
                        .get(id)
                        .cloned()
                        .unwrap_or_else(|| Some(Gateway::with_id(id)))
                }
            })
            .collect();
        if let Some(e) = first_error {
            tracing::warn!(
                endpoint = Endpoint::GetGateway.as_str(),
                "cannot read the registry record of every listed gateway ({e}); serving what is known and reading again next refresh"
            );
        }
        let out = split_records(ids, &records);
        if !out.1.is_empty() && previous.values().filter(|r| r.is_none()).count() != out.1.len() {
            tracing::warn!(
                "{} gateway ID(s) of `gateways` not found in the registry: {}; they are not exported (ttn_exporter_gateways_not_found)",
                out.1.len(),
                out.1.join(", ")
            );
        }
        let mut cached = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        *cached = complete.then(|| Registry {
            at: tokio::time::Instant::now(),
            ids: ids.to_vec(),
            records,
        });
        out
    }

    /// `GET /gateways/{id}`: its registry record, `None` when the registry
    /// does not know it. Without "View gateway information" on it (or when
    /// it does not exist) the full mask is refused with 403; the public
    /// mask then answers its public part, or 404.
    async fn read_gateway(&self, id: &str, budget: &Budget) -> Result<Option<Gateway>, Error> {
        let full = if self.info_attributes.is_empty() {
            LIST_FIELDS.to_owned()
        } else {
            format!("{LIST_FIELDS},attributes")
        };
        let in_gateway = |e: Error| Error::Gateway {
            gateway_id: id.to_owned(),
            source: Box::new(e),
        };
        for mask in [full.as_str(), PUBLIC_FIELDS] {
            let url = self
                .http
                .url(&format!("gateways/{id}"), &[("field_mask", mask)]);
            match self
                .http
                .request(Endpoint::GetGateway, Method::GET, url, None, budget)
                .await
            {
                Ok((body, _)) => {
                    let mut g = decode::<types::ApiGateway>(Endpoint::GetGateway, &body)
                        .map_err(in_gateway)?;
                    g.ids.gateway_id = id.to_owned();
                    return Ok(Some(self.gateway_of(g)));
                }
                Err(Error::Status { status: 404, .. }) => return Ok(None),
                Err(Error::Status { status: 403, .. }) if mask != PUBLIC_FIELDS => continue,
                Err(e) => return Err(in_gateway(e)),
            }
        }
        Ok(None)
    }

    /// A registry record as a [`Gateway`], with its `info_attributes`.
    fn gateway_of(&self, mut g: types::ApiGateway) -> Gateway {
        let mut attrs = std::mem::take(&mut g.attributes);
        let mut gw = Gateway::from(g);
        gw.info_labels = self
            .info_attributes
            .iter()
            .map(|(key, label)| (label.clone(), attrs.remove(key).unwrap_or_default()))
            .collect();
        gw
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
            // The whole list at once, when the server says how long it is:
            // growing by doubling would hold up to 1.5 times the list while
            // it copies (a Gateway is ~700 bytes).
            if page == 1 {
                if let Some(t) = total {
                    out.reserve_exact(t.min(self.max_gateways));
                }
            }
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
                    out.push(self.gateway_of(g));
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
        let known_refused = self
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // Group gateway indices by the cluster that serves their stats;
        // the gateways refused last time go in chunks of their own.
        let mut groups: HashMap<(Url, bool), Vec<usize>> = HashMap::new();
        for (i, g) in gateways.iter().enumerate() {
            let base = stats_base(self.http.base(), g.gateway_server_address.as_deref());
            let alone = known_refused.contains(&g.id);
            groups.entry((base, alone)).or_default().push(i);
        }
        let chunks: Vec<(Url, bool, Vec<usize>, Vec<String>)> = groups
            .into_iter()
            .flat_map(|((base, alone), idx)| {
                idx.chunks(BATCH_SIZE)
                    .map(|c| {
                        let ids = c.iter().map(|&i| gateways[i].id.clone()).collect();
                        (base.clone(), alone, c.to_vec(), ids)
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        // Futures are built up front: closures returning borrowing futures
        // inside stream combinators trip the compiler's Send inference.
        let futs: Vec<_> = chunks
            .iter()
            .enumerate()
            .map(|(k, (base, alone, _, ids))| async move {
                (k, self.chunk_stats(base, ids, *alone, budget).await)
            })
            .collect();
        // Each answer goes straight into its gateways: at most
        // BATCH_CONCURRENCY answers are held at once, never all of them.
        let mut answers = stream::iter(futs).buffer_unordered(BATCH_CONCURRENCY);
        let mut refused: HashSet<String> = HashSet::new();
        let mut first_refusal: Option<Error> = None;
        while let Some((k, answer)) = answers.next().await {
            let (mut stats, refusals) = answer?;
            let (_, _, idx, ids) = &chunks[k];
            for (&i, id) in idx.iter().zip(ids) {
                gateways[i].stats = stats.remove(id).map(|s| {
                    let (s, d) = s.into_model();
                    dropped.add(&d);
                    s
                });
            }
            for (id, e) in refusals {
                first_refusal.get_or_insert(e);
                refused.insert(id);
            }
        }
        for g in gateways.iter_mut() {
            g.stats_refused = refused.contains(&g.id);
        }
        // Refused on every gateway: the key is wrong, not one gateway.
        if let Some(e) = first_refusal.filter(|_| refused.len() == gateways.len()) {
            return Err(e);
        }
        self.note_refused(refused);
        Ok(())
    }

    /// Keep this refresh's refused gateways, with a log line when the set
    /// changes.
    fn note_refused(&self, now: HashSet<String>) {
        let mut known = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        if *known == now {
            return;
        }
        if now.is_empty() {
            tracing::info!("the key may read the status of every listed gateway again");
        } else {
            let mut ids: Vec<&str> = now.iter().map(String::as_str).collect();
            ids.sort_unstable();
            let more = ids.len().saturating_sub(5);
            let shown = ids[..ids.len().min(5)].join(", ");
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            tracing::warn!(
                gateways = now.len(),
                "the key lacks \"View gateway status\" (RIGHT_GATEWAY_STATUS_READ) on {} listed gateway(s): {shown}{tail}; they are exported with ttn_gateway_info only and counted in ttn_exporter_gateways_without_rights",
                now.len()
            );
        }
        *known = now;
    }

    /// Use the batch route unless it was refused within the last
    /// [`BATCH_RETRY_REFRESHES`] refreshes.
    fn batch_allowed(&self) -> bool {
        let refused = self.batch_refused_at.load(Ordering::Relaxed);
        refused == NEVER
            || self.fetches.load(Ordering::Relaxed) > refused.saturating_add(BATCH_RETRY_REFRESHES)
    }

    /// The stats of `ids` (one cluster's chunk): a batch unless the batch
    /// route is refused or the chunk is `alone` (gateways refused before),
    /// else single GETs. With the gateways refused on the way.
    async fn chunk_stats(
        &self,
        base: &Url,
        ids: &[String],
        alone: bool,
        budget: &Budget,
    ) -> Result<(HashMap<String, ApiStats>, Vec<(String, Error)>), Error> {
        let mut batch_refused = None;
        if !alone && self.batch_allowed() {
            match self.batch(base, ids, budget).await {
                Ok(m) => {
                    self.batch_refused_at.store(NEVER, Ordering::Relaxed);
                    return Ok((m, Vec::new()));
                }
                // Gateway-scoped keys get 403; servers before 3.21 lack the
                // route; a gateway the key may not read fails the whole
                // batch with 403 too. Ask one by one, then decide.
                Err(e) if matches!(e.status(), Some(403 | 404 | 405 | 501)) => {
                    batch_refused = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        let futs: Vec<_> = ids
            .iter()
            .map(|id| async move { (id, self.single(base, id, budget).await) })
            .collect();
        let answers: Vec<(&String, Result<Single, Error>)> = stream::iter(futs)
            .buffer_unordered(SINGLE_CONCURRENCY)
            .collect()
            .await;
        let mut stats = HashMap::new();
        let mut refused = Vec::new();
        for (id, answer) in answers {
            match answer? {
                Single::Stats(s) => {
                    stats.insert(id.clone(), *s);
                }
                Single::NotConnected => {}
                Single::Refused(e) => refused.push((id.clone(), e)),
            }
        }
        match batch_refused {
            // Explained by the gateways refused one by one: they go alone
            // from the next refresh on, the rest stays batched.
            Some(e) if !refused.is_empty() && e.status() == Some(403) => tracing::debug!(
                endpoint = Endpoint::BatchStats.as_str(),
                "batch stats refused for {} gateway(s) without status rights",
                refused.len()
            ),
            Some(e) => {
                tracing::info!(
                    endpoint = Endpoint::BatchStats.as_str(),
                    "batch stats refused ({e}); using one request per gateway for the next {BATCH_RETRY_REFRESHES} refreshes"
                );
                self.batch_refused_at
                    .store(self.fetches.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            None => {}
        }
        Ok((stats, refused))
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

    async fn single(&self, base: &Url, id: &str, budget: &Budget) -> Result<Single, Error> {
        let url = join(base, &format!("gs/gateways/{id}/connection/stats"), &[]);
        let in_gateway = |e: Error| Error::Gateway {
            gateway_id: id.to_owned(),
            source: Box::new(e),
        };
        match self
            .http
            .request(Endpoint::GatewayStats, Method::GET, url, None, budget)
            .await
        {
            Ok((bytes, _)) => Ok(Single::Stats(Box::new(decode::<ApiStats>(
                Endpoint::GatewayStats,
                &bytes,
            )?))),
            Err(Error::Status { status: 404, .. }) => Ok(Single::NotConnected),
            // 403 no_gateway_rights: listed, but no "View gateway status".
            Err(e @ Error::Status { status: 403, .. }) => Ok(Single::Refused(in_gateway(e))),
            Err(e) => Err(in_gateway(e)),
        }
    }
}

/// The records of `ids` as (found gateways, IDs not found).
fn split_records(ids: &[String], records: &[Option<Gateway>]) -> (Vec<Gateway>, Vec<String>) {
    let mut found = Vec::with_capacity(records.len());
    let mut missing = Vec::new();
    for (id, r) in ids.iter().zip(records) {
        match r {
            Some(g) => found.push(g.clone()),
            None => missing.push(id.clone()),
        }
    }
    (found, missing)
}
