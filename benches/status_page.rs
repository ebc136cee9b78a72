//! The status page: `status_page::render` of one refresh's `Snapshot` of N
//! synthetic gateways (the fake TTS's fleet, parsed through the real JSON
//! types), what the first visit to `/` after a refresh costs. Later visits
//! in the same refresh serve the kept bytes.
//!
//! ```text
//! CARGO_TARGET_DIR=target-bench cargo bench --bench status_page
//! ```
//!
//! Page sizes are printed first.

#![allow(clippy::unwrap_used, clippy::expect_used, unsafe_code, missing_docs)] // a test, bench or example crate

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use ttn_exporter::model::Snapshot;
use ttn_exporter::server::status_page::render;

mod common;
use common::snapshot;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn benches(c: &mut Criterion) {
    let snaps: Vec<(usize, Snapshot)> = SIZES.iter().map(|&n| (n, snapshot(n))).collect();
    println!("status page sizes (bytes):");
    for (n, s) in &snaps {
        println!("{n:>8} {:>12}", render(s).len());
    }
    let mut g = c.benchmark_group("status_page");
    for (n, s) in &snaps {
        g.throughput(Throughput::Bytes(render(s).len() as u64));
        if *n >= 1_000 {
            g.sampling_mode(SamplingMode::Flat);
        }
        g.bench_function(n.to_string(), |b| b.iter(|| render(s)));
    }
    g.finish();
}

criterion_group! {
    name = status_page;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(status_page);
