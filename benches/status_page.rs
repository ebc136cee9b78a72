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

use std::time::{Duration, UNIX_EPOCH};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use ttn_exporter::model::{Gateway, Snapshot};
use ttn_exporter::status_page::render;
use ttn_exporter::tts::types::ApiStats;

const SIZES: [usize; 3] = [10, 1_000, 10_000];

fn snapshot(n: usize) -> Snapshot {
    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let gateways = fake_tts::synthetic_fleet(n)
        .into_iter()
        .map(|g| Gateway {
            id: g.id,
            eui: g.eui,
            name: g.name,
            frequency_plan_ids: g.frequency_plan_ids,
            gateway_server_address: g.gateway_server_address,
            stats: g.stats.map(|v| {
                serde_json::from_value::<ApiStats>(v)
                    .expect("synthetic stats parse")
                    .into()
            }),
            ..Gateway::default()
        })
        .collect();
    Snapshot {
        gateways,
        failure: None,
        finished_at: at,
        duration: Duration::from_millis(250),
        last_success: Some(at),
    }
}

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
