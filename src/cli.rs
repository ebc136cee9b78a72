//! Command-line flags (clap). Flags are the top configuration layer; there
//! is deliberately no flag that takes the API key itself, since a command
//! line is readable by every local user.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Overrides;
use crate::systemd::LogFormat;

/// Prometheus exporter for LoRaWAN gateways on The Things Stack.
#[derive(Debug, Parser)]
#[command(name = "ttn-exporter", version, about, long_about = None)]
pub struct Args {
    /// What to do; without a command, run the daemon.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Config file [default: /etc/ttn-exporter/config.toml, if it exists]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Address to bind when systemd passed no socket [default: [::]:9715]
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Option<String>,
    /// The Things Stack base URL [default: https://eu1.cloud.thethings.network]
    #[arg(long, global = true, value_name = "URL")]
    pub api_url: Option<String>,
    /// File holding the API key [default: /etc/ttn-exporter/key]
    #[arg(long, global = true, value_name = "PATH")]
    pub api_key_file: Option<PathBuf>,
    /// Serve cached gateway data this long before a scrape refreshes it [default: 30s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub cache_ttl: Option<String>,
    /// Timeout of each upstream HTTP request [default: 10s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub request_timeout: Option<String>,
    /// Deadline of a whole refresh, below the scrape timeout [default: 8s]
    #[arg(long, global = true, value_name = "DURATION")]
    pub refresh_timeout: Option<String>,
    /// Most gateways one refresh reads; more fails the refresh [default: 10000]
    #[arg(long, global = true, value_name = "N")]
    pub max_gateways: Option<usize>,
    /// Export only these gateway IDs (comma-separated) instead of listing
    #[arg(long, global = true, value_name = "IDS")]
    pub gateways: Option<String>,
    /// Export the gateways of this organization
    #[arg(long, global = true, value_name = "ID")]
    pub organization: Option<String>,
    /// Export the gateways of this user
    #[arg(long, global = true, value_name = "ID")]
    pub user: Option<String>,
    /// Also emit the metric names of the Python exporter
    #[arg(long, global = true)]
    pub legacy_metrics: bool,
    /// TLS and basic auth config (Prometheus exporter-toolkit format)
    #[arg(long, global = true, value_name = "PATH", alias = "web.config.file")]
    pub web_config_file: Option<PathBuf>,
    /// Log format; auto uses the journal when stderr is connected to it
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load config and key as the daemon would, make one API round trip,
    /// print what was found, exit non-zero with the reason otherwise
    Check,
}

impl Args {
    /// The flags as the top configuration layer.
    pub fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen.clone(),
            api_url: self.api_url.clone(),
            api_key_file: self.api_key_file.clone(),
            cache_ttl: self.cache_ttl.clone(),
            request_timeout: self.request_timeout.clone(),
            refresh_timeout: self.refresh_timeout.clone(),
            max_gateways: self.max_gateways,
            gateways: self.gateways.clone(),
            organization: self.organization.clone(),
            user: self.user.clone(),
            legacy_metrics: self.legacy_metrics.then_some(true),
            web_config_file: self.web_config_file.clone(),
        }
    }
}
