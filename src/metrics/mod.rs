//! Rendering: a [`Snapshot`] plus the exporter's own metrics (which include
//! the `process_*` metrics, read from `/proc` at render time) to the
//! Prometheus text format, compressed once per refresh.
//!
//! The per-gateway families are written directly, one family at a time,
//! into the gzip stream, so a fleet of 10,000 gateways never has its ~17 MB
//! of text in memory at once. The exporter's own counters and the
//! `process_*` metrics live in a `prometheus` crate registry and are encoded
//! by its `TextEncoder`.

pub mod body;
pub mod gateways;
pub mod self_metrics;
pub mod shard;
pub mod text;

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;

pub use self::body::Body;
pub use self::gateways::write_gateways;
pub use self::text::{escape_label_value, Family, Kind, Value};
pub use crate::metrics::self_metrics::SelfMetrics;
use crate::model::Snapshot;

/// Content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One refresh's output, ready to serve. Only the gzip is kept: a
/// plain-text scrape gets it inflated as it is sent ([`Rendered::plain_body`]),
/// so no copy of the whole text is ever held.
#[derive(Debug)]
pub struct Rendered {
    gzip: Bytes,
    plain_len: u64,
}

impl Rendered {
    fn from_gzip(mut gzip: Vec<u8>, plain_len: u64) -> Rendered {
        // The encoder's Vec grew by doubling: keep only what is used.
        gzip.shrink_to_fit();
        Rendered {
            gzip: Bytes::from(gzip),
            plain_len,
        }
    }

    /// The gzip-compressed text.
    pub fn gzip(&self) -> Bytes {
        self.gzip.clone()
    }

    /// Length of the text, bytes.
    pub fn plain_len(&self) -> u64 {
        self.plain_len
    }

    /// The text as an HTTP body, inflated from the gzip as it is sent.
    pub fn plain_body(&self) -> Body {
        Body::gunzip(self.gzip.clone(), self.plain_len)
    }

    /// The whole text, inflated now and not kept (tests, benchmarks).
    pub fn plain(&self) -> Bytes {
        // Our own gzip of our own text, of the length counted when it was
        // written: inflating it cannot fail.
        self.plain_body().collect().unwrap_or_default()
    }
}

/// Counts the bytes written through it.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Render a snapshot and the exporter's own metrics, straight into gzip:
/// the full text of a large fleet is never held in memory at once.
pub fn render(snapshot: &Snapshot, own: &SelfMetrics, legacy: bool) -> Rendered {
    render_with(snapshot, own, legacy, &|_| Ok(()))
}

/// [`render`], then whatever `extra` writes (the events families) appended.
pub fn render_with(
    snapshot: &Snapshot,
    own: &SelfMetrics,
    legacy: bool,
    extra: &dyn Fn(&mut dyn Write) -> std::io::Result<()>,
) -> Rendered {
    let mut out = Counting {
        inner: GzEncoder::new(Vec::new(), Compression::default()),
        written: 0,
    };
    // Writing into a Vec cannot fail.
    let _ = write_exposition(snapshot, own, legacy, &mut out);
    let _ = extra(&mut out);
    Rendered::from_gzip(out.inner.finish().unwrap_or_default(), out.written)
}

/// A second source rendered into every refresh's output (the events
/// stream): told the gateway list after each successful refresh, and asked
/// to write its families at render time.
pub trait Extra: Send + Sync {
    /// The gateways of a successful refresh, sorted by ID.
    fn refreshed(&self, gateways: &[crate::model::Gateway]);
    /// Append its families to the output being rendered, with the series
    /// of the gateways `keep` accepts (a shard's, or all).
    fn write(
        &self,
        keep: &dyn Fn(&str) -> bool,
        out: &mut dyn std::io::Write,
    ) -> std::io::Result<()>;
}

/// Write the whole exposition text for a snapshot to `out`.
pub fn write_exposition(
    snapshot: &Snapshot,
    own: &SelfMetrics,
    legacy: bool,
    out: &mut impl Write,
) -> std::io::Result<()> {
    if let Some(f) = &snapshot.failure {
        writeln!(out, "# ttn_up 0: {}", f.message.replace('\n', " "))?;
        if let Some(age) = snapshot.data_age() {
            writeln!(
                out,
                "# serving the gateway series of the last good refresh, {}s old (keep_stale_for)",
                age.as_secs()
            )?;
        }
    }
    write_health(snapshot, out)?;
    write_gateways(&snapshot.gateways, legacy, out)?;
    own.write(out)
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn write_health(s: &Snapshot, out: &mut impl Write) -> std::io::Result<()> {
    let mut f = Family::new(
        "ttn_up",
        "1 when the last refresh reached The Things Stack API and was accepted, else 0.",
        Kind::Gauge,
    );
    f.sample(&[], Value::F(if s.is_up() { 1.0 } else { 0.0 }));
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_last_refresh_timestamp_seconds",
        "When the last successful refresh finished (Unix time).",
        Kind::Gauge,
    );
    if let Some(t) = s.last_success {
        f.sample(&[], Value::F(unix(t)));
    }
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_refresh_duration_seconds",
        "How long the last refresh took.",
        Kind::Gauge,
    );
    f.sample(&[], Value::F(s.duration.as_secs_f64()));
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_gateway_data_age_seconds",
        "Age of the gateway series served, at the refresh that served them: 0 after a good refresh, growing while failed refreshes serve the last good ones (keep_stale_for); absent when none are served.",
        Kind::Gauge,
    );
    if let Some(age) = s.data_age() {
        f.sample(&[], Value::F(age.as_secs_f64()));
    }
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_gateways",
        "Gateways in the gateway series served (those of the last good refresh while a failed one serves them).",
        Kind::Gauge,
    );
    f.sample(&[], Value::U(s.gateways.len() as u64));
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_gateways_without_rights",
        "Listed gateways whose status the key may not read (403 no_gateway_rights: it lacks \"View gateway status\" on them); they have ttn_gateway_info but no ttn_gateway_connected.",
        Kind::Gauge,
    );
    let refused = s.gateways.iter().filter(|g| g.stats_refused).count();
    f.sample(&[], Value::U(refused as u64));
    f.finish(out)?;
    let mut f = Family::new(
        "ttn_exporter_gateways_not_found",
        "IDs of the explicit gateways list that the registry does not know (404 on GET /gateways/{id}): a typo or a deleted gateway; they have no gateway series.",
        Kind::Gauge,
    );
    f.sample(&[], Value::U(s.not_found.len() as u64));
    f.finish(out)
}
