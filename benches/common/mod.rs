//! What the criterion benches share: one refresh's `Snapshot` of the fake
//! TTS's synthetic fleet, parsed through the API's real JSON types.

use std::time::{Duration, UNIX_EPOCH};

use ttn_exporter::model::{Gateway, Snapshot};
use ttn_exporter::tts::types::ApiStats;

/// The fake TTS's synthetic fleet of `n` gateways, through the API's JSON
/// types.
fn fleet(n: usize) -> Vec<Gateway> {
    fake_tts::synthetic_fleet(n)
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
        .collect()
}

/// A successful refresh of [`fleet`]`(n)` at a fixed time.
pub fn snapshot(n: usize) -> Snapshot {
    let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    Snapshot {
        gateways: fleet(n).into(),
        data_from: Some(at),
        failure: None,
        finished_at: at,
        duration: Duration::from_millis(250),
        last_success: Some(at),
        not_found: Default::default(),
    }
}
