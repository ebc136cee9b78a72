//! The state behind a [`FakeTts`](crate::FakeTts): keys, fleet, armed faults and counters,
//! shared between the handle and the server tasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::{events, FakeGateway, Fault, Route, DEFAULT_KEY};

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
    /// How long a disconnected gateway's record is served (the real
    /// Gateway Server: 48 h); `None` keeps it for ever, for the fixtures'
    /// fixed dates.
    pub(crate) stats_retention: Option<std::time::Duration>,
}

/// State shared between the handle and the server tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    pub(crate) events: Arc<events::Hub>,
}

impl Shared {
    pub(crate) fn new(gateways: Vec<FakeGateway>) -> Self {
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
            stats_retention: None,
        };
        state.set_gateways(gateways);
        Shared {
            state: Mutex::new(state),
            events: Arc::new(events::Hub::new()),
        }
    }

    /// Sets how long a disconnected gateway's stats stay served.
    pub(crate) fn set_stats_retention(&self, retention: Option<std::time::Duration>) {
        self.lock().stats_retention = retention;
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
