//! The trait in front of the cache: what a refresh asks ([`Fetch`]) and how
//! long its answer is served ([`Policy`]). The real [`super::Source`]
//! implements it with the API client; the cache's unit tests use a scripted
//! fake.

use std::future::Future;
use std::time::Duration;

use crate::tts::{Error, Fetched};

/// How the cache serves what a source fetched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a refresh's output is served (`cache_ttl`).
    pub ttl: Duration,
    /// Deadline of one whole refresh (`refresh_timeout`).
    pub refresh_timeout: Duration,
    /// How long the last good gateway series outlive failing refreshes
    /// (`keep_stale_for`).
    pub keep_stale_for: Duration,
    /// Emit legacy metric names too.
    pub legacy_metrics: bool,
}

/// What the cache refreshes from. One call of [`Fetch::fetch`] is one
/// refresh; the cache bounds it by [`Policy::refresh_timeout`].
pub trait Fetch: Send + Sync + 'static {
    /// The gateways of one refresh, or why it failed (a 429's
    /// `X-Rate-Limit-Retry` in [`Error::retry_after`] makes the cache back
    /// off).
    fn fetch(&self) -> impl Future<Output = Result<Fetched, Error>> + Send;

    /// How the cache serves what this source fetched.
    fn policy(&self) -> Policy;
}
