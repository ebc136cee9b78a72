//! ttn-exporter: a Prometheus exporter for LoRaWAN gateways on The Things
//! Stack (v3), built to run under systemd and ship as a Debian package.
//!
//! A scrape of `/metrics` is served from a lazily refreshed cache: when the
//! cached output is older than `cache_ttl`, the scrape triggers one refresh
//! (shared by concurrent scrapes), which lists the gateways and fetches their
//! connection stats in batches. There is no background polling; the only
//! background activity is the opt-in events stream ([`events`]).
//!
//! # Layout
//! - [`config`]: figment layering (defaults < config.toml < env < flags),
//!   validation, and where the key is read from; the named targets' tables
//!   ([`config::targets`]).
//! - [`cli`]: the command-line flags.
//! - [`keys`]: the secret [`keys::ApiKey`] and where it is found.
//! - [`secret_file`]: reading the key file safely (regular, small, no hang).
//! - [`tts`]: The Things Stack HTTP client and its JSON types ([`tts::types`]).
//! - [`model`]: the [`model::Snapshot`] of one refresh, the secret
//!   [`model::ApiKey`], the [`model::Scope`]; plain data.
//! - [`metrics`]: `Snapshot -> text` (and its gzip): the text writer and the
//!   per-gateway family table.
//! - [`self_metrics`]: the exporter's own counters and the request observer.
//! - [`sanitize`]: upstream text made one line and short before it is shown.
//! - [`cache`]: the rendered output, its age, single-flight refresh; one
//!   cache per named target ([`cache::Targets`]).
//! - [`probe`], [`shard`]: named targets at `/probe`, hash sharding
//!   (`shard=I&shards=N`) of `/metrics` and `/probe`.
//! - [`status_page`]: the HTML status page at `/`, built once per refresh.
//! - [`events`]: opt-in radio metrics from the events stream (the one
//!   background activity).
//! - [`server`]: hyper on a given listener; routes, limits, graceful shutdown.
//! - [`web`]: optional TLS and basic auth (exporter-toolkit web config);
//!   [`basic_auth`]: the bounded bcrypt check.
//! - [`systemd`]: socket activation, sd-notify, journald logging, the
//!   process [`systemd::Environment`] and [`systemd::credential_path`].
//! - [`fds`]: the descriptor limit and the connection caps derived from it.
//! - [`daemon`]: wiring, signals (SIGTERM, SIGHUP reload) and `check`.

pub mod basic_auth;
pub mod cache;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod events;
pub mod fds;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod probe;
pub mod sanitize;
pub mod secret_file;
pub mod self_metrics;
pub mod server;
pub mod shard;
pub mod status_page;
pub mod systemd;
pub mod tts;
pub mod web;
