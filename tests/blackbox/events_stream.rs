//! The events stream for the black-box tests whose outside tool needs the
//! events families in the output (the dashboard's panels, the rules).

use std::time::Duration;

use fake_tts::FakeTts;
use ttn_exporter::cache::Source;
use ttn_exporter::config::Config;

use crate::common::Exporter;

impl Exporter {
    /// Have the fake stream `events` to this exporter's events stream (it
    /// was started with `events = true`), wait until each is counted or
    /// dropped, and refresh so the served output carries them.
    pub async fn stream_events(
        &self,
        config: &Config,
        fake: &FakeTts,
        events: Vec<fake_tts::FakeEvent>,
    ) -> std::sync::Arc<ttn_exporter::events::Events> {
        let ev = self
            .events
            .clone()
            .expect("the exporter was started with events = true");
        let n = events.len() as u64;
        fake.push_events(events);
        self.scrape().await;
        let seen = || ev.with_aggregator(|a| a.own.events + a.own.dropped.iter().sum::<u64>());
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while seen() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{} of {n} events counted",
                seen()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.cache
            .set_source(Source::from_config(config, self.cache.self_metrics()).unwrap());
        ev
    }
}
