//! ttn-exporter: a Prometheus exporter for LoRaWAN gateways on The Things
//! Stack (v3), built to run under systemd and ship as a Debian package.
//!
//! A scrape of `/metrics` is served from a lazily refreshed cache: when the
//! cached output is older than `cache_ttl`, the scrape triggers one refresh
//! (shared by concurrent scrapes), which lists the gateways and fetches their
//! connection stats in batches. There is no background polling.
//!
//! # Layout
//! - [`config`]: figment layering (defaults < config.toml < env < flags),
//!   validation, and where the key is read from.
//! - [`cli`]: the command-line flags.
//! - [`tts`]: The Things Stack HTTP client and its JSON types ([`tts::types`]).
//! - [`model`]: the [`model::Snapshot`] of one refresh, the secret
//!   [`model::ApiKey`], the [`model::Scope`]; plain data.
//! - [`metrics`]: `Snapshot -> text` (and its gzip): the text writer and the
//!   per-gateway family table.
//! - [`self_metrics`]: the exporter's own counters and the request observer.
//! - [`sanitize`]: upstream text made one line and short before it is shown.
//! - [`cache`]: the rendered output, its age, single-flight refresh.
//! - [`targets`], [`probe`], [`shard`]: named targets at `/probe`, hash
//!   sharding (`shard=I&shards=N`) of `/metrics` and `/probe`.
//! - [`status_page`]: the HTML status page at `/`, built once per refresh.
//! - [`server`]: hyper on a given listener; routes, limits, graceful shutdown.
//! - [`web`]: optional TLS and basic auth (exporter-toolkit web config).
//! - [`systemd`]: socket activation, sd-notify, journald logging.
//! - [`daemon`]: wiring, signals (SIGTERM, SIGHUP reload) and `check`.

pub mod cache;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod metrics;
pub mod model;
pub mod probe;
pub mod sanitize;
pub mod self_metrics;
pub mod server;
pub mod shard;
pub mod status_page;
pub mod systemd;
pub mod targets;
pub mod tts;
pub mod web;
