//! The supervisor: one stream per chunk of at most `events_chunk` gateways
//! of one cluster, following the gateway list.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use super::shared::{lock, Shared, Subscription, MAX_CHUNK};
use super::stream::{self, Resume};
use std::sync::atomic::Ordering;

/// One subscription and what it covers; dropping it stops the stream.
pub(super) struct Chunk {
    /// The cluster the stream connects to.
    base: Url,
    ids: BTreeSet<String>,
    resume: Arc<Mutex<Resume>>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// Fit `chunks` to `wanted` (gateway ID, its cluster): gateways that left,
/// or moved to another cluster, leave their chunk; new ones join a chunk of
/// their cluster with room, or a new one. Returns, per chunk, whether its
/// gateways changed (its stream must reconnect). Emptied chunks stay, for
/// the caller to stop.
pub(super) fn plan(chunks: &mut Vec<Chunk>, wanted: &[(String, Url)], size: usize) -> Vec<bool> {
    let want: std::collections::HashMap<&str, &Url> =
        wanted.iter().map(|(id, u)| (id.as_str(), u)).collect();
    let mut dirty = vec![false; chunks.len()];
    for (c, d) in chunks.iter_mut().zip(dirty.iter_mut()) {
        let before = c.ids.len();
        c.ids
            .retain(|id| want.get(id.as_str()).is_some_and(|u| **u == c.base));
        *d = c.ids.len() != before;
    }
    let have: BTreeSet<String> = chunks.iter().flat_map(|c| c.ids.iter().cloned()).collect();
    for (id, base) in wanted.iter().filter(|(id, _)| !have.contains(id)) {
        match chunks
            .iter()
            .position(|c| c.base == *base && c.ids.len() < size)
        {
            Some(i) => {
                chunks[i].ids.insert(id.clone());
                dirty[i] = true;
            }
            None => {
                chunks.push(Chunk {
                    base: base.clone(),
                    ids: BTreeSet::from([id.clone()]),
                    resume: Arc::new(Mutex::new(Resume::default())),
                    task: None,
                });
                dirty.push(true);
            }
        }
    }
    dirty
}

/// The chunk size that keeps the streams within `max_streams`: `size`, or
/// larger (up to [`MAX_CHUNK`]) when the gateways of every cluster would
/// need more streams than that.
pub(super) fn fitted_size(wanted: &[(String, Url)], size: usize, max_streams: usize) -> usize {
    let mut per_cluster: std::collections::HashMap<&Url, usize> = std::collections::HashMap::new();
    for (_, base) in wanted {
        *per_cluster.entry(base).or_default() += 1;
    }
    let streams = |s: usize| per_cluster.values().map(|n| n.div_ceil(s)).sum::<usize>();
    let mut fitted = size.max(1);
    while streams(fitted) > max_streams && fitted < MAX_CHUNK {
        fitted = (fitted * 2).min(MAX_CHUNK);
    }
    fitted.max(size)
}

/// Keep one stream per chunk of the current gateway list. Gateways keep
/// their chunk while they stay listed on the same cluster: only chunks that
/// lost or gained gateways reconnect (resuming where they were).
pub(super) async fn supervise(
    shared: Arc<Shared>,
    mut rx: watch::Receiver<Arc<Vec<Subscription>>>,
    size: usize,
) {
    let mut chunks: Vec<Chunk> = Vec::new();
    loop {
        let list = rx.borrow_and_update().clone();
        let ids: Vec<String> = list.iter().map(|s| s.id.clone()).collect();
        lock(&shared.agg).set_gateways(&ids);
        let api = shared.params().base.clone();
        let wanted: Vec<(String, Url)> = list
            .iter()
            .map(|s| {
                let base = crate::tts::stats_base(&api, s.gateway_server_address.as_deref());
                (s.id.clone(), base)
            })
            .collect();
        let max_streams = shared.timing.max_streams.max(1);
        let size = fitted_size(&wanted, size, max_streams);
        let dirty = plan(&mut chunks, &wanted, size);
        let mut open = 0usize;
        let mut left_out = 0usize;
        for (c, d) in chunks.iter_mut().zip(&dirty) {
            if c.ids.is_empty() {
                continue;
            }
            if open == max_streams {
                // Past the descriptor budget: no stream (scrapes keep
                // their descriptors).
                if let Some(t) = c.task.take() {
                    t.abort();
                }
                left_out += c.ids.len();
                continue;
            }
            open += 1;
            if *d || c.task.is_none() {
                if let Some(t) = c.task.take() {
                    t.abort();
                }
                c.task = Some(tokio::spawn(stream::run(
                    shared.clone(),
                    c.base.clone(),
                    c.ids.iter().cloned().collect(),
                    c.resume.clone(),
                )));
            }
        }
        chunks.retain(|c| !c.ids.is_empty());
        let over = left_out > 0;
        if shared.over_budget.swap(over, Ordering::Relaxed) != over {
            if over {
                tracing::error!(
                    reason = "limit",
                    "events: {} gateways need more than {max_streams} streams (a quarter of \
                     the descriptors, RLIMIT_NOFILE) even at {MAX_CHUNK} gateways each; {left_out} \
                     get no radio metrics: raise LimitNOFILE",
                    wanted.len()
                );
            } else {
                tracing::info!("events: every gateway has its stream again");
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("literal URL")
    }

    fn layout(chunks: &[Chunk]) -> Vec<(String, Vec<&str>)> {
        chunks
            .iter()
            .filter(|c| !c.ids.is_empty())
            .map(|c| {
                let host = c.base.host_str().unwrap_or("").to_owned();
                (host, c.ids.iter().map(String::as_str).collect())
            })
            .collect()
    }

    #[test]
    fn chunks_grow_to_fit_the_stream_budget() {
        let eu = url("https://eu1.example/");
        let nam = url("https://nam1.example/");
        let ids = |n: usize, base: &Url| -> Vec<(String, Url)> {
            (0..n)
                .map(|i| {
                    (
                        format!("{}-{i}", base.host_str().unwrap_or("")),
                        base.clone(),
                    )
                })
                .collect()
        };
        let g2000 = ids(2000, &eu);
        assert_eq!(fitted_size(&g2000, 100, 240), 100, "20 streams fit");
        let s = fitted_size(&g2000, 1, 240);
        assert!(2000_usize.div_ceil(s) <= 240, "{s}");
        assert_eq!(s, 16);
        let mut both = g2000.clone();
        both.extend(ids(10, &nam));
        let s = fitted_size(&both, 1, 3);
        assert_eq!(s, 1000, "2 eu1 streams and 1 nam1");
        // Even the largest chunks do not fit: the supervisor leaves the rest out.
        assert_eq!(fitted_size(&ids(5000, &eu), 1, 2), MAX_CHUNK);
        assert_eq!(fitted_size(&[], 7, 1), 7);
    }

    #[test]
    fn chunks_are_per_cluster_and_only_changed_ones_reconnect() {
        let eu = url("https://eu1.cloud.thethings.network/");
        let nam = url("https://nam1.cloud.thethings.network/");
        let w = |v: &[(&str, &Url)]| -> Vec<(String, Url)> {
            v.iter()
                .map(|(i, u)| ((*i).to_owned(), (*u).clone()))
                .collect()
        };
        let mut chunks = Vec::new();
        let dirty = plan(
            &mut chunks,
            &w(&[("a", &eu), ("b", &nam), ("c", &eu), ("d", &eu)]),
            2,
        );
        assert_eq!(dirty, [true, true, true]);
        assert_eq!(
            layout(&chunks),
            [
                ("eu1.cloud.thethings.network".to_owned(), vec!["a", "c"]),
                ("nam1.cloud.thethings.network".to_owned(), vec!["b"]),
                ("eu1.cloud.thethings.network".to_owned(), vec!["d"]),
            ]
        );
        // The same list: nothing reconnects.
        let same = w(&[("a", &eu), ("b", &nam), ("c", &eu), ("d", &eu)]);
        assert_eq!(plan(&mut chunks, &same, 2), [false, false, false]);
        // "c" moves to nam1: its old chunk and nam1's change, "d"'s does not.
        let moved = w(&[("a", &eu), ("b", &nam), ("c", &nam), ("d", &eu)]);
        assert_eq!(plan(&mut chunks, &moved, 2), [true, true, false]);
        assert_eq!(
            layout(&chunks),
            [
                ("eu1.cloud.thethings.network".to_owned(), vec!["a"]),
                ("nam1.cloud.thethings.network".to_owned(), vec!["b", "c"]),
                ("eu1.cloud.thethings.network".to_owned(), vec!["d"]),
            ]
        );
    }
}
