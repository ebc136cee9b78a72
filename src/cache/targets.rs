//! The named targets served at `/probe?target=NAME`: one [`Cache`] each,
//! with its own source, back-off and counters. The server holds them beside
//! the default cache.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use super::{Cache, Source};
use crate::config::Target;
use crate::metrics::self_metrics::SelfMetrics;

/// What the server answers from: the default target's cache (`/metrics`,
/// `/`) and the named targets (`/probe`). Clones share both.
#[derive(Clone)]
pub struct Caches {
    /// The default target's cache.
    pub default: Cache,
    /// The named targets.
    pub targets: Arc<Targets>,
}

impl Caches {
    /// `default` and no named targets.
    pub fn new(default: Cache) -> Caches {
        Caches {
            default,
            targets: Arc::default(),
        }
    }
}

/// The running targets: one [`Cache`] each, swapped as a whole on reload.
#[derive(Default)]
pub struct Targets {
    map: RwLock<BTreeMap<String, Cache>>,
}

impl Targets {
    /// The cache of target `name`.
    pub fn get(&self, name: &str) -> Option<Cache> {
        self.map
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    /// Target names, sorted.
    pub fn names(&self) -> Vec<String> {
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }

    /// Serve exactly `targets`: a target kept by name keeps its cache and
    /// counters with the new settings (next scrape refreshes); new ones
    /// start empty; others go. On error nothing changes.
    pub fn apply(&self, targets: &[Target]) -> anyhow::Result<()> {
        let old = self.map.read().unwrap_or_else(|e| e.into_inner()).clone();
        let mut next = BTreeMap::new();
        let mut swaps = Vec::new();
        for t in targets {
            match old.get(&t.name) {
                Some(cache) => {
                    let source = Source::from_config(&t.config, cache.self_metrics())?;
                    swaps.push((cache.clone(), source));
                    next.insert(t.name.clone(), cache.clone());
                }
                None => {
                    let own = SelfMetrics::for_target()?;
                    let source = Source::from_config(&t.config, &own)?;
                    next.insert(t.name.clone(), Cache::new(source, own));
                }
            }
            tracing::info!(
                "target {} at /probe?target={}: {} (key from {})",
                t.name,
                t.name,
                t.config.api_url,
                t.config.api_key_source
            );
        }
        for (cache, source) in swaps {
            cache.set_source(source);
        }
        *self.map.write().unwrap_or_else(|e| e.into_inner()) = next;
        Ok(())
    }
}
