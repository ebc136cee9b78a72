//! Keeping systemd informed while serving: the `STATUS=` line of
//! `systemctl status` and the watchdog pings.

use std::time::{Duration, SystemTime};

use crate::cache::Cache;
use crate::systemd;

/// The `STATUS=` line for `systemctl status`.
pub fn status_line(cache: &Cache) -> String {
    let Some(e) = cache.peek() else {
        return "serving; no scrape yet".to_owned();
    };
    let ago = SystemTime::now()
        .duration_since(e.finished_at)
        .unwrap_or_default()
        .as_secs();
    match &e.failure {
        None => format!(
            "serving {} gateways ({} connected), last refresh {ago} s ago",
            e.gateways, e.connected
        ),
        Some(f) => format!("last refresh {ago} s ago failed: {f}"),
    }
}

/// Ping the watchdog at half its period (proving the runtime schedules
/// tasks) and keep the status line current. Local only: no API calls.
pub(super) async fn status_loop(cache: Cache, mut stop: tokio::sync::watch::Receiver<bool>) {
    let watchdog = systemd::watchdog_interval();
    let period = watchdog.unwrap_or(Duration::from_secs(15));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if watchdog.is_some() {
            systemd::watchdog_ping();
        }
        systemd::status(&status_line(&cache));
    }
}
