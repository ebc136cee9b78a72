//! A fake The Things Stack (TTS) v3 HTTP API for ttn-exporter's tests and benchmarks.
//!
//! [`FakeTts`] serves, on a loopback port, the handful of routes the exporter uses
//! (see `shared/docs/tts-api.md`), all under `/api/v3`:
//!
//! | route | [`Route`] |
//! | --- | --- |
//! | `GET /gateways`, `GET /users/{id}/gateways`, `GET /organizations/{id}/gateways` | [`Route::ListGateways`] |
//! | `POST /gs/gateways/connection/stats` | [`Route::BatchStats`] |
//! | `GET /gs/gateways/{id}/connection/stats` | [`Route::GatewayStats`] |
//! | `GET /auth_info` | [`Route::AuthInfo`] |
//! | `POST /events` | scripted [`FakeEvent`]s ([`FakeTts::push_events`]) |
//!
//! Bodies follow the real server's proto3 JSON: uint64 as strings, durations as
//! `"0.018661971s"`, RFC 3339 timestamps, zero fields omitted, and a few unknown fields
//! (`gateway_remote_address`, `future_field`) that a client must ignore. Errors carry the
//! TTS error body (`code`, `message`, `details[0].correlation_id`, ...).
//!
//! Every route can be made to misbehave with a [`Fault`] ([`FakeTts::set_fault`]), and the
//! server counts what it receives ([`FakeTts::requests`], [`FakeTts::seen_tokens`],
//! [`FakeTts::batch_sizes`]).
//!
//! Request handling order: the route is classified and counted (and, for the batch route,
//! the body is read and its `gateway_ids` count recorded), the bearer token is recorded, the
//! route's fault (if any) is applied, then the token is checked and the route answered.
//! So a fault fires whatever the token.
//!
//! ```no_run
//! # async fn demo() {
//! use fake_tts::{FakeGateway, FakeTts, Fault, Route, DEFAULT_KEY};
//! let tts = FakeTts::start((0..250).map(FakeGateway::synthetic).collect()).await;
//! tts.set_fault_times(Route::BatchStats, Fault::RateLimited { retry_secs: 1 }, 1);
//! // point the exporter at tts.url() with DEFAULT_KEY ...
//! assert_eq!(tts.requests(Route::ListGateways), 0);
//! tts.shutdown().await;
//! # }
//! ```
//!
//! The `fake-tts` binary wraps the same server for shell-driven tests, with a small control
//! API under `/_fake/` (see [`FakeTts::enable_control_api`]):
//!
//! ```text
//! fake-tts --listen 127.0.0.1:PORT --gateways N [--key KEY]...
//! # prints one line "listening on http://127.0.0.1:PORT", serves until SIGTERM/SIGINT
//! curl -X POST 'http://127.0.0.1:PORT/_fake/fault?route=batch&kind=status&code=503&times=2'
//! curl http://127.0.0.1:PORT/_fake/counts
//! ```

#![warn(missing_docs)]

mod body;
mod control;
pub mod demo;
mod errors;
mod events;
mod server;
mod synthetic;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use errors::error_body;
pub use events::{parse_rfc3339, rfc3339_nanos, EventsRequest, FakeEvent};
pub use synthetic::{synthetic_fleet, SYNTHETIC_EPOCH};

/// The bearer token accepted by default (a user key with full rights). Not a real secret.
pub const DEFAULT_KEY: &str = "NNSXS.FAKE-TEST-KEY.NOT-A-SECRET";

/// The user that owns user keys (`/auth_info`) and, by default, gateways.
pub const FAKE_USER_ID: &str = "fake-user";

/// The organization that owns every third synthetic gateway.
pub const FAKE_ORG_ID: &str = "fake-org";

/// `created_at` of every gateway in list answers.
pub const GATEWAY_CREATED_AT: &str = "2023-11-24T10:59:39.318638Z";

/// `updated_at` of every gateway in list answers.
pub const GATEWAY_UPDATED_AT: &str = "2023-11-24T10:59:39.318639Z";

/// One gateway of the fake fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeGateway {
    /// Gateway ID (`ids.gateway_id`); lists are sorted by it.
    pub id: String,
    /// EUI as hex (`ids.eui`), omitted when `None`.
    pub eui: Option<String>,
    /// Display name (list field mask path `name`).
    pub name: Option<String>,
    /// Frequency plans (list field mask path `frequency_plan_ids`).
    pub frequency_plan_ids: Vec<String>,
    /// Gateway Server address (list field mask path `gateway_server_address`).
    pub gateway_server_address: Option<String>,
    /// Listed by `GET /users/{owner_user}/gateways`.
    pub owner_user: Option<String>,
    /// Listed by `GET /organizations/{owner_org}/gateways`.
    pub owner_org: Option<String>,
    /// Raw connection stats JSON as served. `None`: the single GET answers 404
    /// `not_connected` and the batch answer omits the gateway.
    pub stats: Option<serde_json::Value>,
    /// Raw `antennas` JSON as listed (list field mask path `antennas`);
    /// `None`: omitted, as the real server omits an empty list.
    pub antennas: Option<serde_json::Value>,
    /// Raw `version_ids` JSON as listed (list field mask path `version_ids`);
    /// `None`: omitted.
    pub version_ids: Option<serde_json::Value>,
}

impl FakeGateway {
    /// A gateway that never connected, with no name, EUI or frequency plan, owned by
    /// [`FAKE_USER_ID`].
    pub fn new(id: &str) -> Self {
        FakeGateway {
            id: id.to_owned(),
            eui: None,
            name: None,
            frequency_plan_ids: Vec::new(),
            gateway_server_address: None,
            owner_user: Some(FAKE_USER_ID.to_owned()),
            owner_org: None,
            stats: None,
            antennas: None,
            version_ids: None,
        }
    }

    /// Deterministic synthetic gateway number `i`; the kind cycles with `i % 4`: 0 connected
    /// UDP with `last_status` and counters, 1 connected Basics Station with `sub_bands`
    /// (incl. `max_frequency` = u64::MAX) and `round_trip_times`, 2 disconnected within 48 h
    /// (200 with `disconnected_at`, no `connected_at`), 3 never connected (404 `not_connected`).
    /// All JSON follows the real server: uint64 as strings, zero fields omitted, unknown
    /// fields `gateway_remote_address` and `future_field` included.
    ///
    /// Formulas, with `i` the gateway number, `T0` = [`SYNTHETIC_EPOCH`] and
    /// `ts(x)` = RFC 3339 of `T0 + x` seconds with fraction `.123456789` cut to
    /// `[9, 6, 3, 0][(i / 4) % 4]` digits (0 digits: no fraction at all):
    ///
    /// Common: `id` = `gw-{i:06}`, `eui` = `format!("{:016X}", 0x58A0CBFFFE000000 + i)`,
    /// `name` = `Gateway {i}`, `frequency_plan_ids` = `["EU_863_870_TTN"]`,
    /// `gateway_server_address` = None, `owner_org` = `fake-org` if `i % 3 == 2` else
    /// `owner_user` = `fake-user`.
    ///
    /// Kind `i % 4 == 0`, connected UDP:
    /// `connected_at` = ts(i), `protocol` = `udp`, `last_status_received_at` = ts(3600 + i),
    /// `last_status` = { `time` = RFC 3339 of T0 + 3590 + i (no fraction), `boot_time` = T0 −
    /// 86400 (no fraction), `versions` = {`ttn-lw-gateway-server`: `3.33.1`, `firmware`:
    /// `fake-1.0`}, `antenna_locations` = [{`latitude` = 52.0 + i as f64 / 1000.0,
    /// `longitude` = 4.0 + i as f64 / 1000.0, `altitude` = i % 100 (omitted when 0), `source` =
    /// `SOURCE_GPS`}], `ip` = [`192.0.2.{i % 256}`], `metrics` = {`rxin` = 100 + i, `rxok` = 90 +
    /// i, `rxfw` = 80 + i, `ackr` = 100 − i % 10, `txin` = i % 7, `txok` = i % 7, `temp` = 20 + i %
    /// 20 + 0.5} }, `last_uplink_received_at` = ts(3500 + i), `uplink_count` = 1000 + 7i,
    /// `downlink_count` = 3i and `last_downlink_received_at` = ts(3400 + i) (both omitted when
    /// i = 0), `tx_acknowledgment_count` = 2i and `last_tx_acknowledgment_received_at` =
    /// ts(3450 + i) (both omitted when i = 0), `gateway_remote_address` = {`ip` =
    /// `192.0.2.{i % 256}`}, `future_field` = 1.
    ///
    /// Kind 1, connected Basics Station: `connected_at` = ts(i), `protocol` = `ws` if `i % 8 ==
    /// 1` else `semtechws/lbslns`, `last_uplink_received_at` = ts(3500 + i), `uplink_count` =
    /// 2000 + 11i, `last_downlink_received_at` = ts(3400 + i), `downlink_count` = 5 + i,
    /// `round_trip_times` = {`min` = 10 ms × (1 + i % 5), `median` = 55_015_637 ns + i ns,
    /// `max` = (1 + i % 3) s, `count` = 32 + i}, `sub_bands` = [{`max_frequency` = u64::MAX,
    /// `downlink_utilization_limit` = 1, `downlink_utilization` = (1 + i % 100) as f64 /
    /// 100000.0}, {`min_frequency` = 863000000, `max_frequency` = 865000000,
    /// `downlink_utilization_limit` = 0.001}, {`min_frequency` = 868000000, `max_frequency` =
    /// 868600000, `downlink_utilization_limit` = 0.01, `downlink_utilization` = (i % 10) as f64
    /// / 10000.0 (omitted when 0)}], `gateway_remote_address` = {`ip` = `198.51.100.{i %
    /// 256}`}, `future_field` = 1; no `last_status`.
    ///
    /// Kind 2, disconnected: `disconnected_at` = ts(7200 + i), `protocol` = `udp`,
    /// `last_uplink_received_at` = ts(3500 + i), `uplink_count` = 500 + i, `future_field` = 1;
    /// no `connected_at`.
    ///
    /// Kind 3: never connected, `stats` = None.
    ///
    /// Registry fields (listed only when the field mask names them): `antennas` =
    /// [{`gain` = 3, `location` = {`latitude` = 50.0 + i as f64 / 1000.0, `longitude` =
    /// 5.0 + i as f64 / 1000.0, `altitude` = 10 + i % 50, `source` = `SOURCE_REGISTRY`},
    /// `placement` = `OUTDOOR`}] when `i % 4` is 1 or 3 or `i % 8 == 6`; [{`gain` = 2,
    /// `placement` = `INDOOR`}] (no location) when `i % 8 == 2`; omitted for kind 0 (whose
    /// location is in its status). `version_ids` = {`brand_id`, `model_id`} =
    /// (`the-things-industries`, `the-things-indoor-gateway`) for even `i`, else
    /// (`multitech`, `conduit`), `hardware_version` = `v1.1` (even `i` only),
    /// `firmware_version` = `v1.0.{i % 3}`; omitted when `i % 5 == 4`.
    pub fn synthetic(i: usize) -> Self {
        synthetic::gateway(i)
    }
}

/// Programmable misbehaviour of one [`Route`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status, body and extra headers (`Content-Type:
    /// application/json` is always sent). An empty `body` is replaced by a TTS error body
    /// fitting the status (see [`Fault::status`]). With `code: 200` this also serves any
    /// hand-written body.
    Status {
        /// HTTP status code (an invalid one becomes 500).
        code: u16,
        /// Response body; empty means "a default TTS error body for `code`".
        body: String,
        /// Extra response headers.
        headers: Vec<(String, String)>,
    },
    /// 429 `pkg/ratelimit:rate_limit_exceeded` with `X-Rate-Limit-Limit: 10`,
    /// `X-Rate-Limit-Available: 0`, `X-Rate-Limit-Reset` and `X-Rate-Limit-Retry` set to
    /// `retry_secs`.
    RateLimited {
        /// Seconds in `X-Rate-Limit-Retry` and `X-Rate-Limit-Reset`.
        retry_secs: u64,
    },
    /// Answer normally, but only after this delay.
    Delay(Duration),
    /// Read the request and never answer (until the server stops). Other connections
    /// are unaffected.
    Hang,
    /// 200 with a body that is not valid JSON.
    Malformed,
    /// 200 with the first half of the normal answer's body, a `Content-Length` of the
    /// whole, then the connection is closed.
    Truncated,
    /// 200 with a chunked (no `Content-Length`) body of exactly `bytes` bytes, streamed:
    /// a valid JSON start (e.g. `{"future_field":[`) followed by `0,0,0,...` that never
    /// closes.
    Huge {
        /// Total body size in bytes.
        bytes: usize,
    },
    /// List route only (ignored elsewhere): every page answers the content of page 1,
    /// forever, while `X-Total-Count` keeps the true total.
    RepeatPage,
    /// Close the TCP connection without answering.
    CloseConnection,
}

impl Fault {
    /// A [`Fault::Status`] with the default TTS error body for `code` (e.g. 401
    /// `pkg/auth:api_key_not_found`, 403 `pkg/auth/rights:no_user_rights`, 500
    /// `pkg/errors:internal`, 503 `pkg/errors:unavailable`, 504
    /// `pkg/errors:context_deadline_exceeded`) and no extra headers.
    pub fn status(code: u16) -> Fault {
        Fault::Status {
            code,
            body: String::new(),
            headers: Vec::new(),
        }
    }
}

/// The routes that faults and counters apply to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Route {
    /// `GET /gateways`, `/users/{id}/gateways`, `/organizations/{id}/gateways`.
    ListGateways,
    /// `POST /gs/gateways/connection/stats`.
    BatchStats,
    /// `GET /gs/gateways/{id}/connection/stats`.
    GatewayStats,
    /// `GET /auth_info`.
    AuthInfo,
}

impl Route {
    /// All routes.
    pub const ALL: [Route; 4] = [
        Route::ListGateways,
        Route::BatchStats,
        Route::GatewayStats,
        Route::AuthInfo,
    ];
}

#[derive(Debug)]
struct FaultSlot {
    fault: Fault,
    /// `None`: until cleared; `Some(n)`: for the next `n` requests.
    remaining: Option<usize>,
}

#[derive(Debug)]
pub(crate) struct State {
    /// Sorted by id.
    pub(crate) gateways: Vec<FakeGateway>,
    pub(crate) keys: Vec<String>,
    /// Gateway-scoped keys and the gateway ids they have rights on.
    pub(crate) gateway_keys: Vec<(String, Vec<String>)>,
    faults: HashMap<Route, FaultSlot>,
    counts: HashMap<Route, usize>,
    total: usize,
    seen_tokens: Vec<String>,
    batch_sizes: Vec<usize>,
    pub(crate) control_api: bool,
}

/// State shared between the handle and the server tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) events: Arc<events::Hub>,
}

impl Shared {
    fn new(gateways: Vec<FakeGateway>) -> Self {
        let mut state = State {
            gateways: Vec::new(),
            keys: vec![DEFAULT_KEY.to_owned()],
            gateway_keys: Vec::new(),
            faults: HashMap::new(),
            counts: HashMap::new(),
            total: 0,
            seen_tokens: Vec::new(),
            batch_sizes: Vec::new(),
            control_api: false,
        };
        state.set_gateways(gateways);
        Shared {
            state: Mutex::new(state),
            events: Arc::new(events::Hub::new()),
        }
    }

    /// Locks the state; a panic while locked cannot leave it inconsistent in a way that
    /// matters for a test fake, so poisoning is ignored.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one request and returns the fault to apply to it, if any.
    pub(crate) fn record(
        &self,
        route: Option<Route>,
        token: Option<&str>,
        batch_size: Option<usize>,
    ) -> Option<Fault> {
        let mut st = self.lock();
        st.total += 1;
        if let Some(t) = token {
            if !st.seen_tokens.iter().any(|s| s == t) {
                st.seen_tokens.push(t.to_owned());
            }
        }
        if let Some(n) = batch_size {
            st.batch_sizes.push(n);
        }
        let route = route?;
        *st.counts.entry(route).or_insert(0) += 1;
        let slot = st.faults.get_mut(&route)?;
        let fault = slot.fault.clone();
        if let Some(rem) = slot.remaining.as_mut() {
            *rem = rem.saturating_sub(1);
            if *rem == 0 {
                st.faults.remove(&route);
            }
        }
        Some(fault)
    }

    pub(crate) fn set_keys(&self, keys: &[&str]) {
        self.lock().keys = keys.iter().map(|k| (*k).to_owned()).collect();
    }

    pub(crate) fn set_gateway_key(&self, key: &str, gateway_ids: &[&str]) {
        let mut st = self.lock();
        st.gateway_keys.retain(|(k, _)| k != key);
        st.gateway_keys.push((
            key.to_owned(),
            gateway_ids.iter().map(|g| (*g).to_owned()).collect(),
        ));
    }

    pub(crate) fn set_fault(&self, route: Route, fault: Option<Fault>, times: Option<usize>) {
        let mut st = self.lock();
        match fault {
            Some(fault) if times != Some(0) => {
                st.faults.insert(
                    route,
                    FaultSlot {
                        fault,
                        remaining: times,
                    },
                );
            }
            _ => {
                st.faults.remove(&route);
            }
        }
    }

    pub(crate) fn requests(&self, route: Route) -> usize {
        self.lock().counts.get(&route).copied().unwrap_or(0)
    }

    pub(crate) fn total_requests(&self) -> usize {
        self.lock().total
    }

    pub(crate) fn reset_counts(&self) {
        let mut st = self.lock();
        st.counts.clear();
        st.total = 0;
        st.seen_tokens.clear();
        st.batch_sizes.clear();
    }

    pub(crate) fn seen_tokens(&self) -> Vec<String> {
        self.lock().seen_tokens.clone()
    }

    pub(crate) fn batch_sizes(&self) -> Vec<usize> {
        self.lock().batch_sizes.clone()
    }
}

impl State {
    pub(crate) fn set_gateways(&mut self, mut gateways: Vec<FakeGateway>) {
        gateways.sort_by(|a, b| a.id.cmp(&b.id));
        self.gateways = gateways;
    }
}

/// A running fake TTS server. Dropping it aborts the server (and all its connections);
/// [`FakeTts::shutdown`] does the same and waits for it.
#[derive(Debug)]
pub struct FakeTts {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FakeTts {
    /// Binds `127.0.0.1:0` and serves `gateways` in a task on the current tokio runtime.
    ///
    /// # Panics
    /// If no loopback port can be bound (use [`FakeTts::start_on`] to handle that).
    pub async fn start(gateways: Vec<FakeGateway>) -> FakeTts {
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        Self::start_on(addr, gateways)
            .await
            .expect("binding an ephemeral port on 127.0.0.1 must work in tests")
    }

    /// Binds `addr` and serves `gateways` in a task on the current tokio runtime.
    pub async fn start_on(
        addr: SocketAddr,
        gateways: Vec<FakeGateway>,
    ) -> std::io::Result<FakeTts> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(gateways));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, Arc::clone(&shared), stop_rx));
        Ok(FakeTts {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL, `http://127.0.0.1:PORT` (without `/api/v3`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the accepted user/organization keys (full rights). Default: [`DEFAULT_KEY`].
    pub fn set_keys(&self, keys: &[&str]) {
        self.shared.set_keys(keys);
    }

    /// Adds (or replaces) a gateway-scoped key: lists answer 200 `{}`, the batch answers
    /// 403, the single GET works only for `gateway_ids` (403 for others), and
    /// `/auth_info` names the first of `gateway_ids`.
    pub fn set_gateway_key(&self, key: &str, gateway_ids: &[&str]) {
        self.shared.set_gateway_key(key, gateway_ids);
    }

    /// Replaces the fleet at run time (sorted by id on the way in).
    pub fn set_gateways(&self, gateways: Vec<FakeGateway>) {
        self.shared.lock().set_gateways(gateways);
    }

    /// Sets (`Some`) or clears (`None`) the fault of `route`, until changed.
    pub fn set_fault(&self, route: Route, fault: Option<Fault>) {
        self.shared.set_fault(route, fault, None);
    }

    /// Applies `fault` to the next `times` requests of `route`, then answers normally
    /// (`times == 0` clears the fault).
    pub fn set_fault_times(&self, route: Route, fault: Fault, times: usize) {
        self.shared.set_fault(route, Some(fault), Some(times));
    }

    /// Requests received on `route` since start or [`FakeTts::reset_counts`], counted
    /// before faults and auth.
    pub fn requests(&self, route: Route) -> usize {
        self.shared.requests(route)
    }

    /// All requests received, including unknown routes (but not the control API).
    pub fn total_requests(&self) -> usize {
        self.shared.total_requests()
    }

    /// Resets request counts, seen tokens and batch sizes.
    pub fn reset_counts(&self) {
        self.shared.reset_counts();
    }

    /// Distinct bearer tokens seen (valid or not), in order of first use.
    pub fn seen_tokens(&self) -> Vec<String> {
        self.shared.seen_tokens()
    }

    /// The `gateway_ids` count of each batch request whose body parsed, in order
    /// (including those answered 400 or faulted).
    pub fn batch_sizes(&self) -> Vec<usize> {
        self.shared.batch_sizes()
    }

    /// Appends scripted lines to the events stream; open streams get them
    /// at once, later ones (from their `after` on) too.
    pub fn push_events(&self, events: Vec<FakeEvent>) {
        self.shared.events.push(events);
    }

    /// The next events stream sends at most `n` lines, then the server
    /// closes it (a stream closed mid-way).
    pub fn close_next_event_stream_after(&self, n: usize) {
        self.shared.events.close_after(Some(n));
    }

    /// Closes every open events stream now.
    pub fn close_event_streams(&self) {
        self.shared.events.close_all();
    }

    /// Events subscriptions received, in order.
    pub fn events_requests(&self) -> Vec<EventsRequest> {
        self.shared.events.requests()
    }

    /// Makes `key` a full user key except for "Read gateway traffic": the
    /// events route answers 403 and `/auth_info` omits the right.
    pub fn set_key_without_traffic_right(&self, key: &str) {
        self.shared.lock().keys.push(key.to_owned());
        self.shared.events.set_no_traffic_key(key);
    }

    /// Serves the unauthenticated control API under `/_fake/` (used by the binary):
    /// `POST /_fake/fault?route=list|batch|single|auth|all&kind=...[&times=N]`,
    /// `POST /_fake/keys?key=A&key=B`, `POST /_fake/gateway_key?key=K&id=a&id=b`,
    /// `POST /_fake/gateways?n=N`, `POST /_fake/reset`, `GET /_fake/counts`,
    /// `POST /_fake/events?kind=synthetic|uplink|close|close_after|error|blank|garbage`
    /// (scripted events stream; see the control module).
    /// Fault kinds: `status` (`code`, default 503), `rate_limited` (`retry`, default 1),
    /// `delay` (`ms`, default 1000), `hang`, `malformed`, `truncated`, `huge` (`bytes`,
    /// default 10 MiB), `repeat_page`, `close`, `clear`.
    pub fn enable_control_api(&self) {
        self.shared.lock().control_api = true;
    }

    /// Stops accepting, closes every connection (hanging ones too) and waits for the
    /// server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for FakeTts {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
