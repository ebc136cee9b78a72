//! Bounds on what scrapers may cost us: open connections in all and per
//! client address (from the descriptor limit), header sizes and times, and
//! accept failures logged at a bounded rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bounds on what scrapers may cost us.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Open connections at once; further ones are closed on accept.
    pub max_connections: usize,
    /// Open connections of one client IP address at once; further ones
    /// from it are closed on accept.
    pub max_per_client: usize,
    /// A request's headers must arrive within this; an idle keep-alive
    /// connection is closed after it too.
    pub header_read_timeout: Duration,
    /// Largest request head (request line and headers), bytes.
    pub max_header_bytes: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_per_client: 1024,
            header_read_timeout: Duration::from_secs(15),
            max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// The daemon's limits: connection caps from the soft descriptor limit
    /// (see [`crate::fds::connection_caps`]), less the events streams'
    /// budget when `events` is on ([`crate::fds::stream_budget`]), the rest
    /// as default.
    pub fn for_fd_limit(nofile: u64, events: bool) -> Limits {
        let streams = if events {
            crate::fds::stream_budget(nofile)
        } else {
            0
        };
        let (max_connections, max_per_client) =
            crate::fds::connection_caps_with_streams(nofile, streams);
        Limits {
            max_connections,
            max_per_client,
            ..Limits::default()
        }
    }
}

/// Log an accept failure at most this often (the count of the others is
/// in the next line).
pub(super) const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// Pause after an accept failure (EMFILE and friends) before the next try.
pub(super) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accept failures, logged at most once per [`ACCEPT_LOG_INTERVAL`].
#[derive(Default)]
pub(super) struct AcceptErrors {
    last_logged: Option<Instant>,
    suppressed: u64,
}

impl AcceptErrors {
    /// Count `e`; log it unless a line was logged within the interval.
    /// True when it was logged.
    pub(super) fn record(&mut self, e: &std::io::Error) -> bool {
        let now = Instant::now();
        if self
            .last_logged
            .is_some_and(|t| now.saturating_duration_since(t) < ACCEPT_LOG_INTERVAL)
        {
            self.suppressed = self.suppressed.saturating_add(1);
            return false;
        }
        let hint = match e.raw_os_error() {
            Some(libc::EMFILE) | Some(libc::ENFILE) => {
                "; out of file descriptors: raise LimitNOFILE= or lower the load"
            }
            _ => "",
        };
        if self.suppressed > 0 {
            tracing::warn!(
                "accept failed: {e}{hint} ({} more failures in the last {} s)",
                self.suppressed,
                ACCEPT_LOG_INTERVAL.as_secs()
            );
        } else {
            tracing::warn!("accept failed: {e}{hint}");
        }
        self.last_logged = Some(now);
        self.suppressed = 0;
        true
    }
}

/// A count per client address, bounded per address: the server's open
/// connections and basic auth's queued checks. A [`ClientSlot`] gives its
/// one back on drop.
#[derive(Clone, Default)]
pub(super) struct PerClient(Arc<Mutex<HashMap<IpAddr, usize>>>);

pub(super) struct ClientSlot {
    map: PerClient,
    ip: IpAddr,
}

impl PerClient {
    pub(super) fn take(&self, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            map: self.clone(),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut m = self.map.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// An IPv4 client seen on an IPv6 socket counts as its IPv4 address.
pub(super) fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_are_logged_once_per_interval() {
        let mut errors = AcceptErrors::default();
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let logged = (0..100).filter(|_| errors.record(&emfile)).count();
        assert_eq!(logged, 1);
        assert_eq!(errors.suppressed, 99);
    }
}
