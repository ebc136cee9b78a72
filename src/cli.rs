//! Command-line flags (clap). Flags are the top configuration layer; there
//! is deliberately no flag that takes the API key itself, since a command
//! line is readable by every local user.

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{Overrides, RawConfig, DURATIONS};
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
    /// The options, each also settable in the config file and environment.
    #[command(flatten)]
    pub overrides: Overrides,
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
    /// Parse the process arguments, the help showing each option's default
    /// from [`RawConfig::default`].
    pub fn parse_with_defaults() -> Args {
        let matches = command().get_matches();
        match Args::from_arg_matches(&matches) {
            Ok(args) => args,
            Err(e) => e.exit(),
        }
    }
}

/// The clap command, with `[default: ...]` appended to each option's help
/// from [`RawConfig::default`] (the one place defaults are written).
pub fn command() -> clap::Command {
    let defaults = serde_json::to_value(RawConfig::default()).unwrap_or_default();
    Args::command().mut_args(|arg| {
        let key = arg.get_id().as_str().to_owned();
        let default = match defaults.get(&key) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Bool(b)) => b.to_string(),
            Some(v) if !v.is_null() => v.to_string(),
            _ => return arg,
        };
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let range = DURATIONS
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, b)| format!(" [range: {b}]"))
            .unwrap_or_default();
        arg.help(format!("{help} [default: {default}]{range}"))
    })
}
