//! The render path: one refresh's `Snapshot` of N synthetic gateways (the
//! fake TTS's fleet, parsed through the real JSON types) to the text format
//! and its gzip, as the cache (`src/cache`) does once per refresh.
//!
//! ```text
//! CARGO_TARGET_DIR=target-bench cargo bench --bench render
//! ```
//!
//! Groups, each for N = 10, 1,000 and 10,000:
//! - `render`: `metrics::render`, what a refresh costs (text straight into
//!   gzip at the default level 6, plus the exporter's own registry);
//! - `text`: `metrics::write_gateways` into a sink, the formatting alone;
//! - `text_gzip_fast`: `write_gateways` into gzip level 1, the alternative
//!   discussed in docs/performance.md;
//! - `plain_from_gzip`: `Rendered::plain`, the whole decompression, as
//!   every plain-text scrape pays it (inflated as it is sent, not kept).
//!
//! Output sizes (plain, gzip level 6 and level 1) are printed first.
//! Samples are few and short so the whole run stays around a minute.

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)] // a test, bench or example crate

use std::io::Write;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};
use flate2::write::GzEncoder;
use flate2::Compression;
use ttn_exporter::metrics::{render, write_gateways, SelfMetrics};
use ttn_exporter::model::{Gateway, Snapshot};

mod common;
use common::snapshot;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn gzip_fast(gateways: &[Gateway]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    write_gateways(gateways, false, &mut gz).expect("write to Vec");
    gz.finish().expect("finish gzip")
}

fn sizes(own: &SelfMetrics) {
    println!("render output sizes (bytes):");
    println!(
        "{:>8} {:>12} {:>10} {:>10} {:>8}",
        "N", "plain", "gzip-6", "gzip-1", "ratio-6"
    );
    for n in SIZES {
        let s = snapshot(n);
        let r = render(&s, own, false);
        let (plain, gz) = (r.plain().len(), r.gzip().len());
        let fast = gzip_fast(&s.gateways).len();
        println!(
            "{n:>8} {plain:>12} {gz:>10} {fast:>10} {:>8.1}",
            plain as f64 / gz as f64
        );
    }
}

fn benches(c: &mut Criterion) {
    let own = SelfMetrics::new().expect("self metrics");
    sizes(&own);
    let snaps: Vec<(usize, Snapshot)> = SIZES.iter().map(|&n| (n, snapshot(n))).collect();

    let mut g = c.benchmark_group("render");
    for (n, s) in &snaps {
        let plain = render(s, &own, false).plain().len() as u64;
        g.throughput(Throughput::Bytes(plain));
        if *n >= 1_000 {
            g.sampling_mode(SamplingMode::Flat);
        }
        g.bench_function(n.to_string(), |b| b.iter(|| render(s, &own, false)));
    }
    g.finish();

    let mut g = c.benchmark_group("text");
    for (n, s) in &snaps {
        g.bench_function(n.to_string(), |b| {
            b.iter(|| {
                let mut out = std::io::sink();
                write_gateways(&s.gateways, false, &mut out).expect("sink");
                out.flush().expect("sink");
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("text_gzip_fast");
    for (n, s) in &snaps {
        if *n >= 1_000 {
            g.sampling_mode(SamplingMode::Flat);
        }
        g.bench_function(n.to_string(), |b| b.iter(|| gzip_fast(&s.gateways)));
    }
    g.finish();

    let mut g = c.benchmark_group("plain_from_gzip");
    for (n, s) in &snaps {
        if *n >= 1_000 {
            g.sampling_mode(SamplingMode::Flat);
        }
        g.bench_function(n.to_string(), |b| {
            b.iter_batched(
                || render(s, &own, false),
                |r| r.plain().len(),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = render_benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(render_benches);
