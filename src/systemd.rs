//! Everything systemd: the socket it passes (listenfd), and readiness,
//! status, watchdog and stopping notifications (sd-notify). Outside systemd
//! each of these is a no-op. Logging to the journal is `logging`;
//! the environment and credentials systemd passes are read by
//! `config::environment`.

use std::io;
use std::net::TcpListener;
use std::time::Duration;

use sd_notify::NotifyState;

/// Take the TCP socket systemd passed (`LISTEN_FDS`/`LISTEN_PID`), if any,
/// set non-blocking for tokio. Call before the runtime starts threads.
pub fn take_listener() -> io::Result<Option<TcpListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    let listener = fds.take_tcp_listener(0)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "systemd passed a file descriptor that is not a TCP listening socket; check ttn.socket's ListenStream=",
        )
    })?;
    listener.set_nonblocking(true)?;
    Ok(Some(listener))
}

fn notify(state: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        tracing::debug!("sd_notify failed: {e}");
    }
}

/// `READY=1` with a status line: the listener is serving.
pub fn ready(status: &str) {
    notify(&[
        NotifyState::Ready,
        NotifyState::Status(&crate::model::sanitize::one_line(status, 1000)),
    ]);
}

/// `STATUS=...`: a human line shown by `systemctl status`.
pub fn status(status: &str) {
    notify(&[NotifyState::Status(&crate::model::sanitize::one_line(
        status, 1000,
    ))]);
}

/// `RELOADING=1` while re-reading config and key.
pub fn reloading() {
    notify(&[NotifyState::Reloading]);
}

/// `STOPPING=1` on shutdown.
pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// `WATCHDOG=1`.
pub fn watchdog_ping() {
    notify(&[NotifyState::Watchdog]);
}

/// Half of `WATCHDOG_USEC` when systemd enabled the watchdog for us.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_interval_from(
        std::env::var("WATCHDOG_USEC").ok().as_deref(),
        std::env::var("WATCHDOG_PID").ok().as_deref(),
        std::process::id(),
    )
}

/// The rules of `sd_watchdog_enabled(3)`: enabled when `WATCHDOG_USEC` is a
/// positive number and `WATCHDOG_PID` is unset or names this process. (The
/// `sd-notify` crate also requires `WATCHDOG_PID` to be set.)
fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, own_pid: u32) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok()? != own_pid {
            return None;
        }
    }
    // At least 1 µs: a zero period would panic in `tokio::time::interval`.
    Some(Duration::from_micros((usec / 2).max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_follows_sd_watchdog_enabled() {
        let half = Some(Duration::from_millis(100));
        assert_eq!(watchdog_interval_from(Some("200000"), Some("42"), 42), half);
        assert_eq!(watchdog_interval_from(Some("200000"), None, 42), half);
        assert_eq!(watchdog_interval_from(Some("200000"), Some("1"), 42), None);
        assert_eq!(watchdog_interval_from(Some("200000"), Some("x"), 42), None);
        assert_eq!(watchdog_interval_from(Some("0"), None, 42), None);
        assert_eq!(
            watchdog_interval_from(Some("1"), None, 42),
            Some(Duration::from_micros(1))
        );
        assert_eq!(watchdog_interval_from(Some("soon"), None, 42), None);
        assert_eq!(watchdog_interval_from(None, Some("42"), 42), None);
    }
}
