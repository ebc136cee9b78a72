//! One refresh's result as served: the rendered output and the views built
//! from its snapshot on demand.

use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use crate::metrics::shard::ShardBodies;
use crate::metrics::Rendered;
use crate::model::Snapshot;

/// One refresh's result as served.
#[derive(Debug)]
pub struct Entry {
    /// The bytes to serve.
    pub rendered: Rendered,
    /// Serve until then; a new refresh is started by the first scrape after.
    pub until: Instant,
    /// When the refresh finished (wall clock).
    pub finished_at: SystemTime,
    /// Gateways listed.
    pub gateways: usize,
    /// Of which connected.
    pub connected: usize,
    /// Why it failed, if it did (one line, no secrets).
    pub failure: Option<String>,
    /// The refresh's result, for views built from it on demand (shard
    /// bodies, the status page).
    pub snapshot: Arc<Snapshot>,
    /// The shard bodies built from it so far ([`crate::metrics::shard`]).
    pub shards: ShardBodies,
    /// The status page (`/`), built from `snapshot` on the first request
    /// that wants it (see `server::status_page::page`).
    pub status_page: OnceLock<bytes::Bytes>,
    /// A failed refresh that serves the last good gateways: when those
    /// reach `keep_stale_for` and must no longer be served.
    pub stale_until: Option<Instant>,
}

impl Entry {
    /// The entry for `snapshot` rendered as `rendered`, served until
    /// `until`; `legacy` as its source says (for the shard bodies).
    pub fn new(snapshot: Snapshot, rendered: Rendered, until: Instant, legacy: bool) -> Entry {
        Entry {
            rendered,
            until,
            finished_at: snapshot.finished_at,
            gateways: snapshot.gateways.len(),
            connected: snapshot.connected(),
            failure: snapshot.failure.as_ref().map(|f| f.message.clone()),
            snapshot: Arc::new(snapshot),
            shards: ShardBodies::new(legacy),
            status_page: OnceLock::new(),
            stale_until: None,
        }
    }

    /// True when it serves gateway data that is past `keep_stale_for` at `now`.
    pub fn stale_expired(&self, now: Instant) -> bool {
        self.stale_until.is_some_and(|t| now >= t)
    }
}
