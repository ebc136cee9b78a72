//! Command-line flags (clap). Flags are the top configuration layer; there
//! is deliberately no flag that takes the API key itself, since a command
//! line is readable by every local user.

pub mod check;

use std::path::PathBuf;

use clap::error::ErrorKind;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::{range_text, Overrides, RawConfig, COUNTS, DURATIONS, EX_CONFIG};
use crate::logging::LogFormat;
use crate::model::sanitize;

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
    /// from [`RawConfig::default`]. `--help` and `--version` print and exit
    /// 0; any invalid command line prints one line and exits 78
    /// (EX_CONFIG), like every other invalid configuration, so that the
    /// unit does not restart on it (clap's own exit code is 2).
    pub fn parse_with_defaults() -> Args {
        match Args::try_parse_from_iter(std::env::args_os()) {
            Ok(args) => args,
            Err(ArgsError::Display(e)) => e.exit(),
            Err(ArgsError::Invalid(line)) => {
                eprintln!("{line}");
                std::process::exit(i32::from(EX_CONFIG));
            }
        }
    }

    /// Parse `args` (the program name first) without exiting.
    pub fn try_parse_from_iter<I, T>(args: I) -> Result<Args, ArgsError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let parsed = command()
            .try_get_matches_from(args)
            .and_then(|m| Args::from_arg_matches(&m));
        parsed.map_err(|e| match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => ArgsError::Display(e),
            _ => ArgsError::Invalid(invalid_line(&e)),
        })
    }
}

/// Why [`Args::try_parse_from_iter`] gave no arguments.
#[derive(Debug)]
pub enum ArgsError {
    /// Help or version text was asked for: print it, exit 0.
    Display(clap::Error),
    /// The command line is invalid: this one line says why.
    Invalid(String),
}

/// clap's error as one line: its first line without the `error: ` prefix,
/// sanitised (it quotes what the user typed), and where to look.
fn invalid_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("unreadable arguments");
    let what = first.strip_prefix("error: ").unwrap_or(first);
    format!(
        "ttn-exporter: invalid command line: {}; see ttn-exporter --help",
        sanitize::one_line(what, 200)
    )
}

/// The clap command, with `[default: ...]` appended to each option's help
/// from [`RawConfig::default`] (the one place defaults are written), and
/// `[range: ...]` from [`DURATIONS`] and [`COUNTS`] (the ranges the checks
/// use).
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
            .or_else(|| {
                COUNTS
                    .iter()
                    .find(|(name, _)| *name == key)
                    .map(|(_, r)| format!(" [range: {}]", range_text(r)))
            })
            .unwrap_or_default();
        arg.help(format!("{help} [default: {default}]{range}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EVENTS_CHUNK, MAX_GATEWAYS};

    /// `--help` shows the ranges the checks use, written once: the text
    /// after each count flag is the const's, and events_chunk's maximum is
    /// the events supervisor's largest chunk.
    #[test]
    fn help_ranges_are_the_consts() {
        let help = command().render_long_help().to_string();
        for (flag, range) in [
            ("--max-gateways", MAX_GATEWAYS),
            ("--events-chunk", EVENTS_CHUNK),
        ] {
            let at = help
                .find(flag)
                .unwrap_or_else(|| panic!("{flag} in --help"));
            let entry: String = help[at..]
                .split("\n\n")
                .next()
                .unwrap_or_default()
                .to_owned();
            let want = format!("[range: {} to {}]", range.start(), range.end());
            assert!(entry.contains(&want), "{flag}: want {want} in {entry:?}");
            assert_eq!(entry.matches("range").count(), 1, "{entry:?}");
        }
        assert_eq!(*EVENTS_CHUNK.end(), crate::events::MAX_CHUNK);
        assert_eq!(*MAX_GATEWAYS.start(), 1);
    }

    fn events(arg: &str) -> Result<Option<bool>, ArgsError> {
        Args::try_parse_from_iter(["ttn-exporter", arg]).map(|a| a.overrides.events)
    }

    /// The flags take the switch spellings the environment takes.
    #[test]
    fn switch_flags_take_the_environment_spellings() {
        for (word, want) in [
            ("1", true),
            ("true", true),
            ("YES", true),
            ("on", true),
            ("0", false),
            ("false", false),
            ("no", false),
            ("Off", false),
        ] {
            let got = events(&format!("--events={word}")).map_err(|e| format!("{e:?}"));
            assert_eq!(got, Ok(Some(want)), "--events={word}");
            assert_eq!(
                crate::config::switch(word),
                Some(want),
                "environment {word}"
            );
        }
        assert_eq!(
            events("--events").map_err(|e| format!("{e:?}")),
            Ok(Some(true))
        );
    }

    /// An invalid command line is one line naming the flag and the value;
    /// help is not an error.
    #[test]
    fn invalid_flags_are_one_line_and_help_is_not() {
        match events("--events=maybe") {
            Err(ArgsError::Invalid(line)) => {
                assert!(!line.contains('\n'), "{line}");
                assert!(
                    line.contains("--events") && line.contains("maybe"),
                    "{line}"
                );
            }
            other => panic!("want Invalid, got {other:?}"),
        }
        assert!(matches!(events("--help"), Err(ArgsError::Display(_))));
        assert!(matches!(events("--version"), Err(ArgsError::Display(_))));
    }
}
