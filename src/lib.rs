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
//! From the ground up: a module uses only modules listed before it (tests
//! aside). Each folder is one concern:
//! - [`model`]: the [`model::Snapshot`] of one refresh, the secret
//!   [`model::ApiKey`], the [`model::Scope`]; plain data. Also
//!   [`model::sanitize`]: upstream text made one line and short before it
//!   is shown.
//! - [`fds`]: the descriptor limit and the connection caps derived from it.
//!   [`logging`]: journald or stderr lines.
//! - [`systemd`]: socket activation and sd-notify (ready, status, watchdog,
//!   stopping).
//! - [`config`]: figment layering (defaults < config.toml < env < flags),
//!   validation, the named targets' tables ([`config::targets`]); what the
//!   process was started with ([`config::environment`]: variables, the
//!   environment file, systemd's credential copies), reading files safely
//!   ([`config::secret_file`]) and where the key is found ([`config::keys`]).
//! - [`tts`]: The Things Stack HTTP client and its JSON types ([`tts::types`]).
//! - [`metrics`]: `Snapshot -> text` (and its gzip): the text writer, the
//!   per-gateway family table, [`metrics::Extra`] for a second source, the
//!   exporter's own counters ([`metrics::self_metrics`]) and hash sharding
//!   ([`metrics::shard`]: each shard's body built once per refresh).
//! - [`events`]: opt-in radio metrics from the events stream (the one
//!   background activity), rendered as a [`metrics::Extra`].
//! - [`cache`]: the rendered output, its age, single-flight refresh behind
//!   [`cache::Fetch`]; one cache per named target ([`cache::Targets`]), held
//!   beside the default one in what the server answers from
//!   ([`cache::Caches`]); the gateways remembered across restarts
//!   ([`cache::state_file`]).
//! - [`server`]: hyper on a given listener with graceful shutdown; its
//!   [`server::limits`], [`server::routes`], `/metrics` and `/probe`
//!   ([`server::probe`]), the status page at `/` ([`server::status_page`]),
//!   optional TLS and basic auth ([`server::web`], [`server::web_tls`],
//!   [`server::basic_auth`]).
//! - [`app`]: the wiring, written once: an [`app::App`] built from a
//!   [`config::Config`] and served on a listener; used by the daemon, the
//!   in-process tests, the benches and the demo.
//! - [`cli`]: the command-line flags, and the `check` command
//!   ([`cli::check`]).
//! - [`exit`]: the fatal error and the exit status it carries.
//! - [`daemon`]: signals (SIGTERM, SIGHUP reload), loading the
//!   configuration, the systemd status line.

pub mod app;
pub mod cache;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod events;
pub mod exit;
pub mod fds;
pub mod logging;
pub mod metrics;
pub mod model;
pub mod server;
pub mod systemd;
pub mod tts;
