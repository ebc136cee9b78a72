//! Logging: to the journal (tracing-journald) when stderr is connected
//! to it or when asked, else readable lines on stderr; the level from
//! `RUST_LOG`.

use std::io;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// journald when stderr is connected to the journal, else text.
    Auto,
    /// Structured entries to the journal socket.
    Journald,
    /// Human-readable lines on stderr.
    Text,
}

/// True when stderr is the journal stream systemd set up (`JOURNAL_STREAM`
/// names stderr's device and inode).
pub fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse::<u64>().ok() == Some(meta.dev()) && ino.parse::<u64>().ok() == Some(meta.ino())
}

/// Set up logging. Level from `RUST_LOG` (default `info`). Returns which
/// format was chosen, after fallbacks.
pub fn init_logging(format: LogFormat) -> LogFormat {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let want_journal = match format {
        LogFormat::Journald => true,
        LogFormat::Text => false,
        LogFormat::Auto => stderr_is_journal(),
    };
    if want_journal {
        match tracing_journald::layer() {
            Ok(layer) => {
                let layer = layer
                    .with_field_prefix(None)
                    .with_syslog_identifier("ttn-exporter".to_owned());
                let ok = tracing_subscriber::registry()
                    .with(layer.with_filter(filter()))
                    .try_init()
                    .is_ok();
                if ok {
                    return LogFormat::Journald;
                }
            }
            Err(e) => eprintln!("ttn-exporter: journald unavailable ({e}); logging to stderr"),
        }
    }
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&io::stderr()));
    let _ = tracing_subscriber::registry()
        .with(fmt.with_filter(filter()))
        .try_init();
    LogFormat::Text
}
