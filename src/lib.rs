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
//! From the ground up: a module uses only modules listed before it.
//! - [`model`]: the [`model::Snapshot`] of one refresh, the secret
//!   [`model::ApiKey`], the [`model::Scope`]; plain data.
//! - [`sanitize`]: upstream text made one line and short before it is shown.
//! - [`secret_file`]: reading the key file safely (regular, small, no hang).
//! - [`basic_auth`]: the bounded bcrypt check; [`fds`]: the descriptor limit
//!   and the connection caps derived from it.
//! - [`systemd`]: socket activation, sd-notify, journald logging, the
//!   process [`systemd::Environment`] and [`systemd::credential_path`].
//! - [`tts`]: The Things Stack HTTP client and its JSON types ([`tts::types`]).
//! - [`keys`]: the secret [`keys::ApiKey`] and where it is found.
//! - [`web`]: optional TLS and basic auth (exporter-toolkit web config).
//! - [`self_metrics`]: the exporter's own counters and the request observer.
//! - [`config`]: figment layering (defaults < config.toml < env < flags),
//!   validation, and where the key is read from; the named targets' tables
//!   ([`config::targets`]). [`cli`]: the command-line flags.
//! - [`metrics`]: `Snapshot -> text` (and its gzip): the text writer, the
//!   per-gateway family table, and [`metrics::Extra`] for a second source.
//! - [`events`]: opt-in radio metrics from the events stream (the one
//!   background activity), rendered as a [`metrics::Extra`].
//! - [`shard`]: hash sharding (`shard=I&shards=N`) of `/metrics` and
//!   `/probe`, each shard's body built once per refresh.
//! - [`cache`]: the rendered output, its age, single-flight refresh; one
//!   cache per named target ([`cache::Targets`]), held beside the default
//!   one in what the server answers from ([`cache::Caches`]).
//! - [`status_page`]: the HTML status page at `/`, built once per refresh.
//! - [`probe`]: `/metrics` and `/probe?target=NAME` with their queries.
//! - [`server`]: hyper on a given listener; routes, limits, graceful shutdown.
//! - [`app`]: the wiring, written once: an [`app::App`] built from a
//!   [`config::Config`] and served on a listener; used by the daemon, the
//!   in-process tests and the benches.
//! - [`exit`]: the fatal error and the exit status it carries.
//! - [`daemon`]: signals (SIGTERM, SIGHUP reload), loading the
//!   configuration, the systemd status line. [`check`]: the `check` command.

pub mod app;
pub mod basic_auth;
pub mod cache;
pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod events;
pub mod exit;
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
pub mod state_file;
pub mod status_page;
pub mod systemd;
pub mod tts;
pub mod web;
pub mod web_tls;
