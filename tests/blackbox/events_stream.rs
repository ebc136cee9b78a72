//! The events stream for the black-box tests whose outside tool needs the
//! events families in the output (the dashboard's panels, the rules).

use std::time::Duration;

use fake_tts::FakeTts;
use ttn_exporter::cache::Source;
use ttn_exporter::config::Config;

use crate::common::Exporter;

impl Exporter {
    /// Subscribe this exporter to the events stream (as `events = true`
    /// does), have the fake stream `events`, wait until each is counted or
    /// dropped, and refresh so the served output carries them.
    pub async fn stream_events(
        &self,
        config: &Config,
        fake: &FakeTts,
        events: Vec<fake_tts::FakeEvent>,
    ) -> std::sync::Arc<ttn_exporter::events::Events> {
        use ttn_exporter::events::{Events, Params, Timing};
        let ev = std::sync::Arc::new(Events::start(
            Params::from_config(config).unwrap(),
            config.events_chunk,
            Timing::default(),
        ));
        self.cache.set_extra(ev.clone());
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
