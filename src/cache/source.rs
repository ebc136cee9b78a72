//! What a refresh asks and how: the API client and the refresh settings,
//! built from a [`Config`] and swapped as a whole on reload.

use std::time::Duration;

use super::fetch::{Fetch, Policy};
use crate::config::Config;
use crate::metrics::self_metrics::SelfMetrics;
use crate::model::Scope;
use crate::tts::{self, Client, Fetched};

/// What a refresh needs: the API client and what to ask it. Swapped as a
/// whole on reload (SIGHUP), e.g. for a rotated key.
pub struct Source {
    /// The API client.
    pub client: Client,
    /// Which gateways.
    pub scope: Scope,
    /// Emit legacy metric names too.
    pub legacy_metrics: bool,
    /// How long a refresh's output is served.
    pub ttl: Duration,
    /// Deadline of one whole refresh.
    pub refresh_timeout: Duration,
    /// How long the last good gateway series outlive failing refreshes.
    pub keep_stale_for: Duration,
}

impl Source {
    /// Build the source for a configuration.
    pub fn from_config(config: &Config, own: &SelfMetrics) -> Result<Source, tts::Error> {
        Ok(Source {
            client: Client::new(
                config.api_url.clone(),
                config.api_key.clone(),
                config.request_timeout,
                own.observer(),
            )?
            .with_max_gateways(config.max_gateways)
            .with_info_attributes(&config.info_attributes),
            scope: config.scope.clone(),
            legacy_metrics: config.legacy_metrics,
            ttl: config.cache_ttl,
            refresh_timeout: config.refresh_timeout,
            keep_stale_for: config.keep_stale_for,
        })
    }
}

impl Fetch for Source {
    async fn fetch(&self) -> Result<Fetched, tts::Error> {
        let fetched = self.client.fetch_counted(&self.scope).await?;
        if fetched.gateways.is_empty() && self.scope == Scope::All {
            tracing::warn!(
                "the API key lists no gateways; a gateway-scoped key cannot list: set `gateways` to their IDs"
            );
        }
        Ok(fetched)
    }

    fn policy(&self) -> Policy {
        Policy {
            ttl: self.ttl,
            refresh_timeout: self.refresh_timeout,
            keep_stale_for: self.keep_stale_for,
            legacy_metrics: self.legacy_metrics,
        }
    }
}
