//! File descriptors: raise the soft `RLIMIT_NOFILE` to the hard limit at
//! start, and derive the server's connection caps from it, so that accept
//! never runs out of descriptors before the connection cap is reached.

use std::io;

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors kept free for everything but scrape connections: the
/// listener, the runtime, upstream API connections, the journal, key and
/// config files, `/proc` reads.
pub const RESERVED: u64 = 64;
/// Fewest connections served at once, however low the limit.
pub const MIN_CONNECTIONS: usize = 8;
/// Most connections served at once, however high the limit.
pub const MAX_CONNECTIONS: usize = 16_384;
/// Most connections one client IP address may hold at once.
pub const MAX_PER_CLIENT: usize = 64;

/// The soft `RLIMIT_NOFILE` after raising it to the hard limit (when the
/// hard limit allows more; failure to raise is not an error, the current
/// soft limit is used). Unlimited reads as `u64::MAX`.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let lim = getrlimit(Resource::Nofile);
    let current = lim.current.unwrap_or(u64::MAX);
    let maximum = lim.maximum.unwrap_or(u64::MAX);
    if current < maximum {
        let raised = Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Ok(maximum);
        }
    }
    Ok(current)
}

/// Share of the descriptors (after [`RESERVED`]) the events streams may
/// hold, one each: a quarter.
pub const STREAM_SHARE: u64 = 4;

/// The soft `RLIMIT_NOFILE` now (unlimited reads as `u64::MAX`).
pub fn current_nofile() -> Option<u64> {
    Some(getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX))
}

/// Most events streams open at once for a soft descriptor limit: a
/// [`STREAM_SHARE`] of what [`RESERVED`] leaves, at least 1. The connection
/// cap of [`connection_caps_with_streams`] leaves them room.
pub fn stream_budget(nofile: u64) -> usize {
    usize::try_from((nofile.saturating_sub(RESERVED) / STREAM_SHARE).max(1)).unwrap_or(usize::MAX)
}

/// [`connection_caps`] of what is left when `streams` descriptors are the
/// events streams' ([`stream_budget`]): scrapes always keep theirs.
pub fn connection_caps_with_streams(nofile: u64, streams: usize) -> (usize, usize) {
    connection_caps(nofile.saturating_sub(streams as u64))
}

/// `(max_connections, max_per_client)` for a soft descriptor limit:
/// everything but [`RESERVED`], within [`MIN_CONNECTIONS`] and
/// [`MAX_CONNECTIONS`]; one client may hold a quarter of that, at most
/// [`MAX_PER_CLIENT`].
pub fn connection_caps(nofile: u64) -> (usize, usize) {
    let total = usize::try_from(nofile.saturating_sub(RESERVED))
        .unwrap_or(MAX_CONNECTIONS)
        .clamp(MIN_CONNECTIONS, MAX_CONNECTIONS);
    let per_client = (total / 4).clamp(1, MAX_PER_CLIENT);
    (total, per_client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_leave_headroom_and_bound_one_client() {
        assert_eq!(connection_caps(1024), (960, 64));
        assert_eq!(connection_caps(8192), (8128, 64));
        assert_eq!(connection_caps(128), (64, 16));
        assert_eq!(connection_caps(10), (8, 2));
        assert_eq!(connection_caps(u64::MAX), (MAX_CONNECTIONS, 64));
    }

    #[test]
    fn streams_and_scrapes_share_the_descriptors() {
        // 1024: 240 streams, 720 connections, 64 reserved.
        assert_eq!(stream_budget(1024), 240);
        assert_eq!(connection_caps_with_streams(1024, 240), (720, 64));
        assert_eq!(stream_budget(8192), 2032);
        assert_eq!(stream_budget(10), 1);
        for n in [64, 100, 1024, 4096, 8192, 65536] {
            let s = stream_budget(n);
            let (c, _) = connection_caps_with_streams(n, s);
            assert!(s as u64 + c as u64 + RESERVED <= n.max(RESERVED + 9), "{n}");
        }
    }
}
