//! [`FakeTts`], the handle of a running server: start, stop, and every knob a test turns.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::state::Shared;
use crate::{server, EventsRequest, FakeEvent, FakeGateway, Fault, Route};

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
    #[allow(clippy::expect_used)] // the documented panic of a test helper
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

    /// Replaces the accepted user/organization keys (full rights).
    /// Default: [`DEFAULT_KEY`](crate::DEFAULT_KEY).
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

    /// How long a disconnected gateway's record stays served (the real
    /// Gateway Server keeps it 48 h, then answers 404 `not_connected`);
    /// `None` (the default) keeps it for ever.
    pub fn set_stats_retention(&self, retention: Option<std::time::Duration>) {
        self.shared.set_stats_retention(retention);
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

    /// Every events stream from now on sends at most `n` lines after its
    /// `events.stream.start`, then the server closes it (`None`: stop).
    pub fn close_every_event_stream_after(&self, n: Option<usize>) {
        self.shared.events.close_always(n);
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
    /// events stream is accepted but carries no traffic event (uplinks,
    /// downlinks, TX results), and `/auth_info` omits the right.
    pub fn set_key_without_traffic_right(&self, key: &str) {
        self.shared.lock().keys.push(key.to_owned());
        self.shared.events.set_no_traffic_key(key);
    }

    /// Serves the unauthenticated control API under `/_fake/` (used by the binary):
    /// `POST /_fake/fault?route=list|get|batch|single|auth|all&kind=...[&times=N]`,
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
