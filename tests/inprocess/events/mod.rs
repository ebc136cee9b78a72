//! The events stream (issue 12) against the fake TTS: the harness here;
//! what is counted and rendered in `counts`, how the streams behave in
//! `stream`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use fake_tts::{FakeEvent, FakeGateway, FakeTts};
use ttn_exporter::app::App;
use ttn_exporter::cache::Source;
use ttn_exporter::config::{ApiKey, Config};
use ttn_exporter::events::{Events, Timing};
use ttn_exporter::server::Limits;

const GW0: &str = "gw-000000";
const GW1: &str = "gw-000001";
/// 2023-11-14T22:13:20Z in ns: the fake's synthetic epoch.
const T0: i128 = 1_700_000_000 * 1_000_000_000;

fn ms(n: i128) -> i128 {
    T0 + n * 1_000_000
}

struct Setup {
    fake: FakeTts,
    events: Arc<Events>,
    addr: std::net::SocketAddr,
    /// Serving until dropped; each [`Setup::scrape`] expires its cache first.
    exp: Exporter,
}

fn fast() -> Timing {
    Timing {
        backoff_min: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        refused_backoff: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(30),
        stable: Duration::from_secs(60),
        max_line: 64 * 1024,
        max_streams: 1000,
        connect_burst: 1000,
        connect_interval: Duration::ZERO,
    }
}

async fn start_with(fake: FakeTts, key: &str, chunk: usize) -> Setup {
    start_timed(fake, key, chunk, fast()).await
}

async fn start_timed(fake: FakeTts, key: &str, chunk: usize, timing: Timing) -> Setup {
    let mut cfg: Config = config(&fake.url());
    cfg.api_key = ApiKey::parse(key).expect("test key");
    cfg.events = true;
    cfg.events_chunk = chunk;
    let app = App::builder(&cfg)
        .events_timing(timing)
        .build()
        .expect("the exporter");
    let exp = Exporter::start_app(app, Limits::default(), Default::default()).await;
    let events = exp.events.clone().expect("events on");
    Setup {
        fake,
        events,
        addr: exp.addr,
        exp,
    }
}

async fn start(gateways: usize) -> Setup {
    let fake = fake((0..gateways).map(FakeGateway::synthetic).collect()).await;
    start_with(fake, KEY, 100).await
}

impl Setup {
    /// A scrape that refreshes: the cache is marked stale first.
    async fn scrape(&self) -> String {
        self.exp.cache.expire();
        let resp = client()
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .await
            .expect("scrape");
        assert_eq!(resp.status(), 200);
        resp.text().await.expect("text")
    }

    /// Poll the aggregator until `cond` holds (at most 10 s).
    async fn until(
        &self,
        what: &str,
        cond: impl Fn(&ttn_exporter::events::aggregate::Aggregator) -> bool,
    ) {
        for _ in 0..500 {
            if self.events.with_aggregator(&cond) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {what}");
    }

    async fn streams_open(&self, n: u64) {
        self.until("streams open", |a| a.own.streams_open == n)
            .await;
    }
}

mod counts;
mod stream;
