//! The supervisor: one stream per chunk of at most `events_chunk` gateways
//! of one cluster, following the gateway list.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use url::Url;

use super::stream::{self, Resume};
use super::{lock, Shared, Subscription};

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

/// Keep one stream per chunk of the current gateway list. Gateways keep
/// their chunk while they stay listed on the same cluster: only chunks that
/// lost or gained gateways reconnect (resuming where they were).
pub(super) async fn supervise(
    shared: Arc<Shared>,
    mut rx: watch::Receiver<Arc<Vec<Subscription>>>,
    size: usize,
) {
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
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
        let dirty = plan(&mut chunks, &wanted, size);
        for (c, d) in chunks.iter_mut().zip(&dirty) {
            if *d || c.task.is_none() {
                if let Some(t) = c.task.take() {
                    t.abort();
                }
                if !c.ids.is_empty() {
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    c.task = Some(tokio::spawn(stream::run(
                        shared.clone(),
                        c.base.clone(),
                        c.ids.iter().cloned().collect(),
                        c.resume.clone(),
                        seed,
                    )));
                }
            }
        }
        chunks.retain(|c| !c.ids.is_empty());
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
