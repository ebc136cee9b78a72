//! What the exporter remembers of each gateway beyond the Gateway Server's
//! memory: its last-seen and disconnect times. The server keeps a
//! disconnected gateway's record for 48 h, then answers 404
//! `not_connected` as if it had never connected; from then on the times
//! come from here, so "offline since" does not vanish from the output, the
//! status page and the dashboard.
//!
//! Kept in a small JSON file (under systemd's `StateDirectory=`, which works
//! with `DynamicUser=`), written atomically (a temporary file, then a rename)
//! when something changed, and read at start. At most `max_gateways`
//! entries; a gateway no longer listed is forgotten. A missing, corrupt,
//! foreign or unwritable file costs one log line and never a crash, an
//! exit or a scrape: the exporter then remembers in memory only.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::model::sanitize;
use crate::model::{valid_tts_id, Gateway, Remembered, UnixSeconds};

/// What the file says it is: anything else is a foreign file, left alone.
const FORMAT: &str = "ttn-exporter gateway state";
/// The file's version.
const VERSION: u32 = 1;
/// The largest file read back, per gateway allowed (an entry is about 80 bytes).
const BYTES_PER_GATEWAY: usize = 256;
/// Timestamps outside this range (1970 to 2200) are not taken from the file.
const LATEST: UnixSeconds = 7_258_118_400.0;

#[derive(Serialize, Deserialize)]
struct File {
    format: String,
    version: u32,
    /// The API the times were read from: another API's file is foreign.
    api_url: String,
    gateways: BTreeMap<String, Entry>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Entry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_seen: Option<UnixSeconds>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    disconnected_at: Option<UnixSeconds>,
}

impl Entry {
    fn valid(self) -> Option<Entry> {
        let ok = |t: Option<UnixSeconds>| t.filter(|t| t.is_finite() && (0.0..LATEST).contains(t));
        let e = Entry {
            last_seen: ok(self.last_seen),
            disconnected_at: ok(self.disconnected_at),
        };
        (e != Entry::default()).then_some(e)
    }
}

struct Inner {
    known: BTreeMap<String, Entry>,
    /// Changed since the last write.
    dirty: bool,
    /// The last write failed (logged once until one succeeds).
    failing: bool,
}

/// The remembered times of each gateway, and the file they are kept in.
pub struct StateFile {
    path: Option<PathBuf>,
    api_url: String,
    max: usize,
    inner: Mutex<Inner>,
}

impl StateFile {
    /// The memory kept in `path` (`None`: in memory only) for the gateways
    /// of `api_url`, at most `max` of them; what `path` holds now is read
    /// back. Any problem with it is one log line.
    pub fn open(path: Option<PathBuf>, api_url: &str, max: usize) -> StateFile {
        let known = match &path {
            Some(p) => read(p, api_url, max).unwrap_or_else(|why| {
                tracing::warn!(
                    path = %p.display(),
                    "gateway state file {}: {why}; starting without remembered times (it is rewritten after the next refresh)",
                    p.display()
                );
                BTreeMap::new()
            }),
            None => BTreeMap::new(),
        };
        StateFile {
            path,
            api_url: api_url.to_owned(),
            max,
            inner: Mutex::new(Inner {
                known,
                dirty: false,
                failing: false,
            }),
        }
    }

    /// The memory of `config`'s default target: its `state_file` (or in
    /// memory only), its API and `max_gateways`.
    pub fn for_config(config: &crate::config::Config) -> StateFile {
        let file = StateFile::open(
            config.state_file.clone(),
            config.api_url.as_str(),
            config.max_gateways,
        );
        if let Some(p) = file.path() {
            tracing::debug!(path = %p.display(), remembered = file.len(), "gateway state file");
        }
        file
    }

    /// Where it is kept, if anywhere.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Learn from a good refresh's `gateways` (all the gateways there are):
    /// remember the times of those with stats, give those without stats the
    /// remembered ones, forget the gateways no longer listed.
    pub fn apply(&self, gateways: &mut [Gateway]) {
        let mut st = self.lock();
        let mut next: BTreeMap<String, Entry> = BTreeMap::new();
        for g in gateways.iter_mut() {
            let old = st.known.get(&g.id).copied();
            // Nothing is known of it now: keep what was, show nothing.
            if g.stats_refused {
                if let Some(o) = old {
                    next.insert(g.id.clone(), o);
                }
                continue;
            }
            let entry = match &g.stats {
                Some(s) => Entry {
                    last_seen: max(s.last_seen(), old.and_then(|o| o.last_seen)),
                    // Connected again: no disconnect to remember.
                    disconnected_at: if s.is_connected() {
                        None
                    } else {
                        s.disconnected_at.or(old.and_then(|o| o.disconnected_at))
                    },
                },
                None => match old {
                    Some(o) => {
                        g.remembered = Some(Remembered {
                            last_seen: o.last_seen,
                            disconnected_at: o.disconnected_at,
                        });
                        o
                    }
                    None => continue,
                },
            };
            if let Some(e) = entry.valid() {
                next.insert(g.id.clone(), e);
            }
        }
        // Bounded: keep the most recently seen.
        if next.len() > self.max {
            let mut by_age: Vec<(UnixSeconds, String)> = next
                .iter()
                .map(|(id, e)| (e.last_seen.or(e.disconnected_at).unwrap_or(0.0), id.clone()))
                .collect();
            by_age.sort_by(|a, b| b.0.total_cmp(&a.0));
            for (_, id) in by_age.into_iter().skip(self.max) {
                next.remove(&id);
            }
        }
        if next != st.known {
            st.known = next;
            st.dirty = true;
        }
    }

    /// Write the file if anything changed since the last write. A failure
    /// is logged once (until a write succeeds again) and retried next time.
    pub fn save(&self) {
        let Some(path) = &self.path else { return };
        let (body, was_failing) = {
            let st = self.lock();
            if !st.dirty {
                return;
            }
            let file = File {
                format: FORMAT.to_owned(),
                version: VERSION,
                api_url: self.api_url.clone(),
                gateways: st.known.clone(),
            };
            (serde_json::to_vec(&file), st.failing)
        };
        let result = body
            .map_err(WriteError::from)
            .and_then(|b| write_atomically(path, &b));
        let mut st = self.lock();
        match result {
            Ok(()) => {
                st.dirty = false;
                if st.failing {
                    tracing::info!(path = %path.display(), "gateway state file written again");
                }
                st.failing = false;
            }
            Err(why) => {
                if !was_failing {
                    tracing::warn!(
                        path = %path.display(),
                        "cannot write the gateway state file {}: {why}; last-seen times older than the server's 48 h are kept in memory only (fix the directory or set state_file)",
                        path.display()
                    );
                }
                st.failing = true;
            }
        }
    }

    /// Gateways remembered now.
    pub fn len(&self) -> usize {
        self.lock().known.len()
    }

    /// True when no gateway is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn max(a: Option<UnixSeconds>, b: Option<UnixSeconds>) -> Option<UnixSeconds> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Why the state file cannot be read back; `Display` completes "FILE ...".
#[derive(Debug, thiserror::Error)]
enum ReadError {
    /// The file cannot be read.
    #[error(transparent)]
    File(#[from] crate::config::secret_file::TextError),
    /// Not JSON of the state file's shape (the parser's words, one line).
    #[error("is not a gateway state file ({0})")]
    NotStateFile(String),
    /// Another format or version (both shown on one line).
    #[error(
        "is not a version {VERSION} gateway state file (format `{format}`, version {version})"
    )]
    OtherVersion { format: String, version: u32 },
    /// Written for another `api_url` (shown on one line).
    #[error("holds the gateways of another API ({0})")]
    OtherApi(String),
}

/// The entries of the file at `path`, or why there are none.
fn read(path: &Path, api_url: &str, max: usize) -> Result<BTreeMap<String, Entry>, ReadError> {
    let limit = (max.saturating_mul(BYTES_PER_GATEWAY).max(64 * 1024)) as u64;
    let text = match crate::config::secret_file::read_text(path, limit) {
        Ok(t) => t,
        // The first start: nothing to say.
        Err(why) if why.is_missing() => return Ok(BTreeMap::new()),
        Err(why) => return Err(why.into()),
    };
    let file: File = serde_json::from_str(&text)
        .map_err(|e| ReadError::NotStateFile(sanitize::one_line(&e.to_string(), 200)))?;
    if file.format != FORMAT || file.version != VERSION {
        return Err(ReadError::OtherVersion {
            format: sanitize::one_line(&file.format, 64),
            version: file.version,
        });
    }
    if file.api_url != api_url {
        return Err(ReadError::OtherApi(sanitize::one_line(&file.api_url, 200)));
    }
    Ok(file
        .gateways
        .into_iter()
        .filter(|(id, _)| valid_tts_id(id))
        .filter_map(|(id, e)| Some((id, e.valid()?)))
        .take(max)
        .collect())
}

/// Why the state file cannot be written (the cause's own words).
#[derive(Debug, thiserror::Error)]
enum WriteError {
    /// The entries cannot be encoded.
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    /// Creating, writing, syncing or renaming the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Write `body` to `path` through a temporary file in the same directory
/// and a rename: a crash leaves the old file or the new one, never half.
fn write_atomically(path: &Path, body: &[u8]) -> Result<(), WriteError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "gateways.json".to_owned());
    let tmp = dir.join(format!(".{name}.tmp"));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(body)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        WriteError::Io(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConnectionStats;

    fn gw(id: &str, stats: Option<ConnectionStats>) -> Gateway {
        Gateway {
            stats,
            ..Gateway::with_id(id)
        }
    }

    fn disconnected(at: f64, seen: f64) -> ConnectionStats {
        ConnectionStats {
            disconnected_at: Some(at),
            last_uplink_received_at: Some(seen),
            ..ConnectionStats::default()
        }
    }

    #[test]
    fn times_outlive_the_servers_record_and_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateways.json");
        let m = StateFile::open(Some(path.clone()), "http://tts", 10);
        let mut gws = vec![gw("gw-a", Some(disconnected(2000.0, 1990.0)))];
        m.apply(&mut gws);
        m.save();
        // The server forgot it; a new process reads the file.
        let m = StateFile::open(Some(path), "http://tts", 10);
        let mut gws = vec![gw("gw-a", None), gw("gw-new", None)];
        m.apply(&mut gws);
        assert_eq!(
            gws[0].remembered,
            Some(Remembered {
                last_seen: Some(1990.0),
                disconnected_at: Some(2000.0)
            })
        );
        assert_eq!(gws[1].remembered, None);
    }

    #[test]
    fn a_reconnect_clears_the_disconnect_and_unlisted_gateways_are_forgotten() {
        let m = StateFile::open(None, "http://tts", 10);
        m.apply(&mut [
            gw("gw-a", Some(disconnected(2000.0, 1990.0))),
            gw("gw-b", Some(disconnected(5.0, 4.0))),
        ]);
        let connected = ConnectionStats {
            connected_at: Some(3000.0),
            last_status_received_at: Some(3010.0),
            ..ConnectionStats::default()
        };
        m.apply(&mut [gw("gw-a", Some(connected))]);
        assert_eq!(m.len(), 1);
        let mut gws = [gw("gw-a", None)];
        m.apply(&mut gws);
        assert_eq!(
            gws[0].remembered,
            Some(Remembered {
                last_seen: Some(3010.0),
                disconnected_at: None
            })
        );
    }

    #[test]
    fn bounded_by_max_keeping_the_most_recently_seen() {
        let m = StateFile::open(None, "http://tts", 2);
        let mut gws: Vec<Gateway> = (0..5)
            .map(|i| {
                gw(
                    &format!("gw-{i}"),
                    Some(disconnected(100.0 * i as f64, 100.0 * i as f64)),
                )
            })
            .collect();
        m.apply(&mut gws);
        assert_eq!(m.len(), 2);
        let mut later: Vec<Gateway> = (0..5).map(|i| gw(&format!("gw-{i}"), None)).collect();
        m.apply(&mut later);
        let kept: Vec<&str> = later
            .iter()
            .filter(|g| g.remembered.is_some())
            .map(|g| g.id.as_str())
            .collect();
        assert_eq!(kept, ["gw-3", "gw-4"]);
    }

    #[test]
    fn corrupt_foreign_and_hostile_files_are_one_log_line_and_no_memory() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &[u8]); 5] = [
            ("garbage", b"\x00\xff not json"),
            ("foreign", br#"{"format":"something else","version":1,"api_url":"http://tts","gateways":{}}"#),
            ("other-api", br#"{"format":"ttn-exporter gateway state","version":1,"api_url":"http://other","gateways":{"gw-a":{"last_seen":5}}}"#),
            ("future", br#"{"format":"ttn-exporter gateway state","version":9,"api_url":"http://tts","gateways":{}}"#),
            ("truncated", br#"{"format":"ttn-exporter gateway state","version":1,"api_url":"http://tts","gatew"#),
        ];
        for (name, body) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, body).unwrap();
            assert!(read(&p, "http://tts", 10).is_err(), "{name}");
            let m = StateFile::open(Some(p), "http://tts", 10);
            assert!(m.is_empty(), "{name}");
        }
        // Bad entries are dropped, good ones kept.
        let p = dir.path().join("mixed");
        std::fs::write(&p, br#"{"format":"ttn-exporter gateway state","version":1,"api_url":"http://tts","gateways":{"gw-a":{"last_seen":5},"BAD ID\nx":{"last_seen":5},"gw-b":{"last_seen":-1},"gw-c":{"last_seen":1e300}}}"#).unwrap();
        let got = read(&p, "http://tts", 10).unwrap();
        assert_eq!(got.keys().collect::<Vec<_>>(), ["gw-a"]);
        // A FIFO is refused without blocking.
        let fifo = dir.path().join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        #[allow(unsafe_code)]
        let made = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
        assert_eq!(made, 0);
        assert!(read(&fifo, "http://tts", 10).is_err());
    }

    #[test]
    fn an_unwritable_directory_keeps_memory_and_retries() {
        let m = StateFile::open(
            Some(PathBuf::from("/proc/no-such/gateways.json")),
            "http://tts",
            10,
        );
        m.apply(&mut [gw("gw-a", Some(disconnected(2000.0, 1990.0)))]);
        m.save();
        m.save();
        let mut gws = [gw("gw-a", None)];
        m.apply(&mut gws);
        assert!(gws[0].remembered.is_some());
    }
}
