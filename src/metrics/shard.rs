//! Hash sharding of the gateway series: `shard=I&shards=N` serves only the
//! gateways whose [`gateway_hash`] mod N is I.
//!
//! The hash is FNV-1a 64 over the UTF-8 bytes of the gateway ID (offset basis
//! `0xcbf29ce484222325`, prime `0x100000001b3`), implemented here so that
//! it is the same on every host, build and Rust version (a `std` `Hasher`
//! promises no such thing).
//!
//! Each refresh's `cache::Entry` carries a [`ShardBodies`]:
//! the bodies of the shards asked for, each built once, lazily, from the
//! refresh's snapshot. Memory is bounded: the shards of at most
//! [`CACHED_LAYOUTS`] values of N are kept per refresh (the shards of one N
//! partition the fleet, so that is at most that many full bodies); a shard
//! of any other N is built for its request and not kept, one such build at
//! a time.
//!
//! The layouts in use keep their place: a new refresh starts with the
//! layouts asked for during one of the last [`KEEP_IDLE_REFRESHES`]
//! refreshes (see [`ShardBodies::inherit`]), so that a scraper asking for
//! unknown layouts right after each refresh cannot push out the ones in
//! regular use. The wait for a shard build is bounded by the scrape's
//! timeout like the wait for a refresh (`server::probe`).

use std::sync::{Arc, Mutex};

use tokio::sync::{OnceCell, Semaphore};

use crate::metrics::{render, Extra, Rendered, SelfMetrics};
use crate::model::{Failure, FailureKind, Snapshot};

/// Largest `shards` accepted.
pub const MAX_SHARDS: u32 = 1024;
/// How many distinct values of `shards` keep their bodies per refresh.
pub const CACHED_LAYOUTS: usize = 2;
/// A kept layout that no request asked for during this many refreshes in
/// a row gives its place up.
pub const KEEP_IDLE_REFRESHES: u32 = 3;

/// FNV-1a 64 of the gateway ID's UTF-8 bytes.
pub fn gateway_hash(gateway_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in gateway_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// One shard of N: `index` in `0..count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// I, the shard served.
    pub index: u32,
    /// N, the number of shards.
    pub count: u32,
}

impl Shard {
    /// Validate `shard`/`shards` as given in a query string (decimal digits
    /// only). The error is one line for a 400 answer.
    pub fn parse(index: &str, count: &str) -> Result<Shard, ShardError> {
        let count = decimal(count).ok_or(ShardError::CountNotANumber)?;
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError::CountOutOfRange);
        }
        let index = decimal(index).ok_or(ShardError::IndexNotANumber)?;
        if index >= count {
            return Err(ShardError::IndexTooLarge { index, count });
        }
        Ok(Shard { index, count })
    }

    /// True when the gateway belongs to this shard.
    pub fn keeps(&self, gateway_id: &str) -> bool {
        gateway_hash(gateway_id) % u64::from(self.count) == u64::from(self.index)
    }
}

/// Why [`Shard::parse`] refused `shard`/`shards`; one line each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// `shards` is not decimal digits.
    #[error("shards must be a whole number from 1 to {MAX_SHARDS}")]
    CountNotANumber,
    /// `shards` is 0 or over [`MAX_SHARDS`].
    #[error("shards must be from 1 to {MAX_SHARDS}")]
    CountOutOfRange,
    /// `shard` is not decimal digits.
    #[error("shard must be a whole number from 0 to shards-1")]
    IndexNotANumber,
    /// `shard` is not below `shards`.
    #[error("shard must be less than shards ({index} >= {count})")]
    IndexTooLarge {
        /// The `shard` given.
        index: u32,
        /// The `shards` given.
        count: u32,
    },
}

/// Decimal digits only (no sign, no spaces), at most 10 of them.
fn decimal(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

type Body = Arc<OnceCell<Arc<Rendered>>>;

/// One value of N with its shards' bodies.
#[derive(Debug)]
struct Layout {
    count: u32,
    cells: Vec<Body>,
    /// Asked for during this refresh.
    used: bool,
    /// Refreshes in a row before this one during which it was not asked for.
    idle: u32,
}

/// The shard bodies of one refresh; see the module docs for the bounds.
#[derive(Debug)]
pub struct ShardBodies {
    legacy: bool,
    layouts: Mutex<Vec<Layout>>,
    built: std::sync::atomic::AtomicU64,
}

/// Builds of shards outside the cached layouts run one at a time.
static UNCACHED: Semaphore = Semaphore::const_new(1);

impl ShardBodies {
    /// None built yet; `legacy` as the refresh's source says.
    pub fn new(legacy: bool) -> ShardBodies {
        ShardBodies {
            legacy,
            layouts: Mutex::new(Vec::new()),
            built: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Keep the places of the layouts of `previous` (the refresh before)
    /// that were asked for during one of the last [`KEEP_IDLE_REFRESHES`]
    /// refreshes; their bodies are built again, from this refresh.
    pub fn inherit(&self, previous: &ShardBodies) {
        let kept: Vec<Layout> = previous
            .lock()
            .iter()
            .filter_map(|l| {
                let idle = if l.used { 0 } else { l.idle + 1 };
                (idle < KEEP_IDLE_REFRESHES).then(|| Layout {
                    count: l.count,
                    cells: (0..l.count).map(|_| Body::default()).collect(),
                    used: false,
                    idle,
                })
            })
            .collect();
        let mut layouts = self.lock();
        if layouts.is_empty() {
            *layouts = kept;
        }
    }

    /// The values of N whose bodies this refresh keeps (for tests).
    pub fn layouts(&self) -> Vec<u32> {
        self.lock().iter().map(|l| l.count).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Layout>> {
        self.layouts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Shard bodies built so far for this refresh.
    pub fn built(&self) -> u64 {
        self.built.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The body of `shard` of `snapshot`, built on first use (concurrent
    /// callers share that build), with the exporter's own metrics `own` and
    /// the families of `extra` (the events stream, if on).
    pub async fn get(
        &self,
        shard: Shard,
        snapshot: &Arc<Snapshot>,
        own: &SelfMetrics,
        extra: Option<Arc<dyn Extra>>,
    ) -> Arc<Rendered> {
        let cell = self.cell(shard);
        let build = || {
            let (snapshot, own, legacy) = (snapshot.clone(), own.clone(), self.legacy);
            async move {
                self.built
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let o = own.clone();
                let out =
                    tokio::task::spawn_blocking(move || build(shard, &snapshot, &o, legacy, extra))
                        .await;
                Arc::new(out.unwrap_or_else(|e| {
                    tracing::error!("shard render failed: {e}");
                    render(&failed_snapshot(), &own, false)
                }))
            }
        };
        match cell {
            Some(cell) => cell.get_or_init(build).await.clone(),
            None => {
                // The semaphore is never closed.
                let _permit = UNCACHED.acquire().await;
                build().await
            }
        }
    }

    fn cell(&self, shard: Shard) -> Option<Body> {
        let mut layouts = self.lock();
        let i = match layouts.iter().position(|l| l.count == shard.count) {
            Some(i) => i,
            None if layouts.len() < CACHED_LAYOUTS => {
                layouts.push(Layout {
                    count: shard.count,
                    cells: (0..shard.count).map(|_| Body::default()).collect(),
                    used: false,
                    idle: 0,
                });
                layouts.len() - 1
            }
            None => return None,
        };
        layouts[i].used = true;
        layouts[i].cells.get(shard.index as usize).cloned()
    }

    /// What a scrape gets that stopped waiting for its shard after
    /// `waited`: `ttn_up 0`, reason `timeout`, and no gateway series.
    pub fn timed_out(&self, waited: std::time::Duration, own: &SelfMetrics) -> Rendered {
        own.scrape_timed_out();
        let failure = Failure::ours(
            FailureKind::Timeout,
            format!(
                "the shard was not built within the scrape's {:.1}s; it continues and serves the next scrape",
                waited.as_secs_f64()
            ),
        );
        render(&Snapshot::failed(failure, waited, None), own, self.legacy)
    }
}

/// Render the shard: the gateways it keeps, the refresh's health, the
/// exporter's own metrics, and the events families of the shard's gateways
/// (when the events stream is on). `ttn_exporter_gateways` counts the shard's.
fn build(
    shard: Shard,
    snapshot: &Snapshot,
    own: &SelfMetrics,
    legacy: bool,
    extra: Option<Arc<dyn Extra>>,
) -> Rendered {
    let part = Snapshot {
        gateways: Arc::new(
            snapshot
                .gateways
                .iter()
                .filter(|g| shard.keeps(&g.id))
                .cloned()
                .collect(),
        ),
        data_from: snapshot.data_from,
        failure: snapshot.failure.clone(),
        finished_at: snapshot.finished_at,
        duration: snapshot.duration,
        last_success: snapshot.last_success,
        // Like the gateways, each unknown ID counts in the shard its ID
        // hashes to, so the shards sum to the whole.
        not_found: Arc::new(
            snapshot
                .not_found
                .iter()
                .filter(|id| shard.keeps(id))
                .cloned()
                .collect(),
        ),
    };
    let write_extra = |out: &mut dyn std::io::Write| match &extra {
        Some(x) => x.write(&|id| shard.keeps(id), out),
        None => Ok(()),
    };
    crate::metrics::render_with(&part, own, legacy, &write_extra)
}

fn failed_snapshot() -> Snapshot {
    let failure = Failure::ours(
        FailureKind::Internal,
        "internal error while rendering the shard".into(),
    );
    Snapshot::failed(failure, std::time::Duration::ZERO, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_64_known_values() {
        // Reference values of FNV-1a 64 (the empty string is the offset
        // basis; "a" and "foobar" are from the FNV test suite).
        assert_eq!(gateway_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(gateway_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(gateway_hash("foobar"), 0x8594_4171_f739_67e8);
        // Pinned for gateway IDs: a change here moves gateways between
        // shards on upgrade and must be a deliberate, documented break.
        // (Computed independently with Python's integers.)
        assert_eq!(gateway_hash("gw-000000"), 0xe474_dc09_e7d5_b4ba);
        assert_eq!(gateway_hash("gw-000001"), 0xe474_dd09_e7d5_b66d);
        assert_eq!(gateway_hash("eui-58a0cbfffe800001"), 0xdbcb_f8fa_f68e_b372);
        let s = |i, n| Shard { index: i, count: n };
        assert!(s(2, 4).keeps("gw-000000"));
        assert!(s(1, 4).keeps("gw-000001"));
    }

    #[test]
    fn parse_accepts_and_refuses() {
        assert_eq!(Shard::parse("3", "4"), Ok(Shard { index: 3, count: 4 }));
        assert_eq!(
            Shard::parse("0", "1024"),
            Ok(Shard {
                index: 0,
                count: 1024
            })
        );
        for (i, n, needle) in [
            ("4", "4", "less than"),
            ("0", "0", "from 1"),
            ("0", "1025", "from 1 to 1024"),
            ("x", "4", "shard must be"),
            ("1", "four", "shards must be"),
            ("-1", "4", "shard must be"),
            ("+1", "4", "shard must be"),
            (" 1", "4", "shard must be"),
            ("", "4", "shard must be"),
            ("1", "99999999999999999999", "shards must be"),
        ] {
            let e = Shard::parse(i, n).unwrap_err().to_string();
            assert!(e.contains(needle), "{i}/{n}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn shards_partition_the_ids() {
        let ids: Vec<String> = (0..1000).map(|i| format!("gw-{i:06}")).collect();
        for n in [1u32, 2, 3, 4, 7, 16] {
            let mut seen = 0;
            for i in 0..n {
                let s = Shard { index: i, count: n };
                let k = ids.iter().filter(|id| s.keeps(id)).count();
                // Roughly even: no shard is empty or holds most of them.
                assert!(k > 1000 / n as usize / 2, "{i}/{n}: {k}");
                seen += k;
            }
            assert_eq!(seen, ids.len());
        }
    }
}
