//! One long-lived `POST /api/v3/events` subscription for a chunk of
//! gateways: connect, read bounded lines, count, and on any end reconnect
//! with jittered exponential back-off, resuming with `after` and dropping
//! re-sent events by `unique_id`. The HTTP side (request, refused answers,
//! `X-Rate-Limit-Retry`) is [`crate::tts::events`]'.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::aggregate::{Aggregator, DropReason, StreamError};
use super::lines::{Frame, LineBuf};
use super::parse::{self, Line};
use super::shared::{lock, Shared};
use crate::model::FailureKind;
use crate::tts;
use url::Url;

/// The Gateway Server events subscribed to.
pub const NAMES: [&str; 7] = [
    "gs.up.receive",
    "gs.up.drop",
    "gs.down.schedule.fail",
    "gs.down.tx.success",
    "gs.down.tx.fail",
    "gs.gateway.connect",
    "gs.gateway.disconnect",
];

pub use super::lines::MAX_LINE;
/// How far ahead of the local clock an event's time may move `after`
/// (the server's clock and ours may differ by a little).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// Recent `unique_id`s remembered per stream.
pub const DEDUP_CAPACITY: usize = 8192;

/// Where a stream resumes: the latest event time seen and the recent IDs.
/// Survives reconnects and re-chunking of the same gateways.
#[derive(Debug, Default)]
pub struct Resume {
    /// Latest event time seen (Unix ns): the next `after`.
    pub after: Option<i128>,
    seen: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Resume {
    /// `true` the first time `id` is seen (within the last
    /// [`DEDUP_CAPACITY`] IDs).
    pub fn first_time(&mut self, id: &str) -> bool {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        let k = h.finish();
        if !self.seen.insert(k) {
            return false;
        }
        self.order.push_back(k);
        if self.order.len() > DEDUP_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    /// Note an event time, seen when the local clock says `now` (Unix ns).
    /// A time past `now` + [`MAX_CLOCK_SKEW`] counts as that bound: one
    /// event dated in the year 9999 would otherwise make every later
    /// reconnect ask for events after it, and replay nothing.
    pub fn saw(&mut self, t: Option<i128>, now: i128) {
        if let Some(t) = t {
            let t = t.min(now.saturating_add(MAX_CLOCK_SKEW.as_nanos() as i128));
            self.after = Some(self.after.map_or(t, |a| a.max(t)));
        }
    }

    /// The `after` of the next connect, made at `now` (Unix ns): at most
    /// `now` + [`MAX_CLOCK_SKEW`].
    pub fn after_at(&self, now: i128) -> Option<i128> {
        self.after
            .map(|a| a.min(now.saturating_add(MAX_CLOCK_SKEW.as_nanos() as i128)))
    }
}

/// How one connection ended.
struct End {
    why: StreamError,
    detail: String,
    /// Real events came (not only `events.stream.start`).
    delivered: bool,
    /// The stream stayed up for [`super::Timing::stable`]: the back-off
    /// starts again from its minimum.
    stable: bool,
    /// Silent for `idle_timeout`: a quiet gateway, not an error.
    quiet: bool,
    retry: Option<Duration>,
}

impl End {
    fn new(why: StreamError, detail: impl Into<String>) -> End {
        End {
            why,
            detail: detail.into(),
            delivered: false,
            stable: false,
            quiet: false,
            retry: None,
        }
    }
}

/// Marks a stream open for as long as it lives (also when aborted).
struct Open<'a>(&'a Shared);

impl<'a> Open<'a> {
    fn new(s: &'a Shared) -> Open<'a> {
        lock(&s.agg).own.streams_open += 1;
        Open(s)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        let mut a = lock(&self.0.agg);
        a.own.streams_open = a.own.streams_open.saturating_sub(1);
    }
}

/// Run the subscription for `ids` at `base` (their cluster) until aborted.
pub async fn run(shared: Arc<Shared>, base: Url, ids: Vec<String>, resume: Arc<Mutex<Resume>>) {
    let mut rng = fastrand::Rng::new();
    let mut attempt: u32 = 0;
    let mut last_logged: Option<StreamError> = None;
    let mut first = true;
    loop {
        if !first {
            lock(&shared.agg).own.reconnects += 1;
        }
        first = false;
        // All the streams of the key share one pace (issue 21 item 4).
        let pace = lock(&shared.connects).reserve(tokio::time::Instant::now(), &shared.timing);
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let end = once(&shared, &base, &ids, &resume).await;
        if end.quiet {
            // The server sends no keep-alive: silence is a quiet gateway.
            tracing::debug!(
                "events stream for {} gateways: {}; reconnecting",
                ids.len(),
                end.detail
            );
            attempt = 0;
            last_logged = None;
            continue;
        }
        lock(&shared.agg).stream_error(end.why);
        if end.stable {
            attempt = 0;
        }
        let t = &shared.timing;
        let wait = match end.why {
            why if why.is_refused() => t.refused_backoff,
            _ => {
                let exp = t
                    .backoff_min
                    .saturating_mul(1u32 << attempt.min(16))
                    .min(t.backoff_max);
                // Full jitter between half and all of the step.
                let frac = 0.5 + rng.f64() / 2.0;
                exp.mul_f64(frac).max(end.retry.unwrap_or_default())
            }
        };
        attempt = attempt.saturating_add(1);
        report(&shared, &ids, &end, wait, &mut last_logged);
        tokio::time::sleep(wait).await;
    }
}

/// One log line per change of failure reason (repeats go to debug); a
/// missing right is said once per process.
fn report(
    shared: &Shared,
    ids: &[String],
    end: &End,
    wait: Duration,
    last: &mut Option<StreamError>,
) {
    let first = ids.first().map_or("", String::as_str);
    let what = format!(
        "events stream for {} gateways ({first}...) ended: {}; reconnecting in {:.1}s",
        ids.len(),
        end.detail,
        wait.as_secs_f64()
    );
    match end.why {
        why if why.is_refused() => {
            if !shared.rights_warned.swap(true, Ordering::Relaxed) {
                let hint = if why == StreamError::Failed(FailureKind::Forbidden) {
                    "the API key has no rights on these gateways (the server's RequireAny): give it \"View gateway information\" and, for radio metrics, \"Read gateway traffic\" (RIGHT_GATEWAY_TRAFFIC_READ)"
                } else {
                    "the API rejected the key"
                };
                tracing::error!(
                    reason = end.why.as_str(),
                    "events: {}: {hint}; retrying every {}s",
                    end.detail,
                    wait.as_secs()
                );
            } else {
                tracing::debug!(reason = end.why.as_str(), "{what}");
            }
        }
        StreamError::Closed if end.delivered => tracing::debug!("{what}"),
        why if *last != Some(why) => tracing::warn!(reason = why.as_str(), "{what}"),
        why => tracing::debug!(reason = why.as_str(), "{what}"),
    }
    *last = Some(end.why).filter(|_| !end.delivered);
}

async fn once(shared: &Shared, base: &Url, ids: &[String], resume: &Mutex<Resume>) -> End {
    let params = shared.params();
    let mut body = json!({
        "identifiers": ids.iter().map(|id| json!({"gateway_ids": {"gateway_id": id}})).collect::<Vec<_>>(),
        "names": NAMES,
    });
    if let Some(after) = lock(resume).after_at(now_ns()).and_then(parse::format_time) {
        body["after"] = json!(after);
    }
    let mut resp = match params.client.subscribe(base, &body).await {
        Ok(r) => r,
        Err(e) => return failed(&e, "cannot reach the API"),
    };
    let _open = Open::new(shared);
    let idle = shared.timing.idle_timeout;
    let mut lines = LineBuf::new(shared.timing.max_line);
    let mut delivered = false;
    let started = Instant::now();
    let stable = || started.elapsed() >= shared.timing.stable;
    loop {
        let chunk = match tokio::time::timeout(idle, resp.chunk()).await {
            Err(_) => {
                return End {
                    delivered,
                    stable: true,
                    quiet: true,
                    ..End::new(
                        StreamError::Closed,
                        format!("quiet for {}s", idle.as_secs()),
                    )
                }
            }
            Ok(Err(e)) => {
                return End {
                    delivered,
                    stable: stable(),
                    ..failed(&e, "read failed")
                }
            }
            Ok(Ok(None)) => {
                return End {
                    delivered,
                    stable: stable(),
                    ..End::new(StreamError::Closed, "the server closed the stream")
                }
            }
            Ok(Ok(Some(c))) => c,
        };
        let r = lines.feed(&chunk, |l| handle(&shared.agg, resume, l, &mut delivered));
        if let Err(end) = r {
            return End {
                delivered,
                stable: stable(),
                ..end
            };
        }
    }
}

/// Count one line as a stream does, without the network (benchmarks and
/// tests); `Err` is a line that ends the stream (`{"error": ...}`).
pub fn count_line(
    agg: &Mutex<Aggregator>,
    resume: &Mutex<Resume>,
    line: Frame<'_>,
) -> Result<(), StreamError> {
    let mut delivered = false;
    handle(agg, resume, line, &mut delivered).map_err(|e| e.why)
}

/// Count one line; an error line ends the stream.
fn handle(
    agg: &Mutex<Aggregator>,
    resume: &Mutex<Resume>,
    line: Frame<'_>,
    delivered: &mut bool,
) -> Result<(), End> {
    let text = match line {
        Frame::Line(text) => text,
        Frame::TooLong => {
            lock(agg).drop_event(DropReason::TooLong);
            return Ok(());
        }
        Frame::NotUtf8 => {
            lock(agg).drop_event(DropReason::Unparsable);
            return Ok(());
        }
    };
    match parse::line(text.as_bytes()) {
        Line::Blank | Line::StreamStart => Ok(()),
        Line::Unparsable => {
            lock(agg).drop_event(DropReason::Unparsable);
            Ok(())
        }
        Line::NoGateway => {
            lock(agg).drop_event(DropReason::UnknownGateway);
            Ok(())
        }
        Line::Error { code, message } => {
            let why = match code {
                7 => StreamError::Failed(FailureKind::Forbidden),
                16 => StreamError::Failed(FailureKind::Unauthorized),
                _ => StreamError::ErrorLine,
            };
            Err(End::new(
                why,
                format!("error in the stream (code {code}): {message}"),
            ))
        }
        Line::Event(ev) => {
            *delivered = true;
            let fresh = {
                let mut r = lock(resume);
                let fresh = match ev.unique_id.as_deref() {
                    Some(u) => r.first_time(u),
                    None => true,
                };
                r.saw(ev.time, now_ns());
                fresh
            };
            let mut agg = lock(agg);
            if fresh {
                agg.apply(&ev, now());
            } else {
                agg.drop_event(DropReason::Duplicate);
            }
            Ok(())
        }
    }
}

/// How a failed request or read ends the stream: its kind, a line for the
/// log, and the wait the API asked for.
fn failed(e: &tts::Error, unreachable: &str) -> End {
    let detail = match e {
        tts::Error::Status { status, .. } => {
            let mut d = format!("events answered HTTP {status}");
            if let Some(n) = e.name() {
                d.push_str(&format!(" {n}"));
            }
            if let Some(c) = e.correlation_id() {
                d.push_str(&format!(" (correlation id {c})"));
            }
            d
        }
        tts::Error::Unreachable { detail, .. } => format!("{unreachable}: {detail}"),
        other => other.to_string(),
    };
    End {
        retry: e.retry_after(),
        ..End::new(StreamError::Failed(e.kind()), detail)
    }
}

/// The local clock in Unix nanoseconds (0 before 1970).
fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or(0)
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_requests_keep_their_kind_wait_and_names() {
        let e = tts::Error::Status {
            endpoint: tts::events::ENDPOINT,
            status: 429,
            name: Some("rate_limited".into()),
            correlation_id: Some("c1".into()),
            retry_after: Some(Duration::from_secs(9)),
        };
        let end = failed(&e, "cannot reach the API");
        assert_eq!(end.why, StreamError::Failed(FailureKind::RateLimited));
        assert_eq!(end.retry, Some(Duration::from_secs(9)));
        assert_eq!(
            end.detail,
            "events answered HTTP 429 rate_limited (correlation id c1)"
        );
        let e = tts::Error::Unreachable {
            endpoint: tts::events::ENDPOINT,
            url: String::new(),
            detail: "connection reset".into(),
        };
        let end = failed(&e, "read failed");
        assert_eq!(end.why, StreamError::Failed(FailureKind::Unreachable));
        assert_eq!(end.detail, "read failed: connection reset");
        assert_eq!(end.retry, None);
    }

    #[test]
    fn dedup_is_bounded() {
        let mut r = Resume::default();
        assert!(r.first_time("a"));
        assert!(!r.first_time("a"));
        for i in 0..DEDUP_CAPACITY {
            assert!(r.first_time(&format!("id{i}")));
        }
        assert_eq!(r.seen.len(), DEDUP_CAPACITY);
        assert!(r.first_time("a"), "forgotten after the capacity");
        r.saw(Some(5), 1_000);
        r.saw(Some(3), 1_000);
        r.saw(None, 1_000);
        assert_eq!(r.after, Some(5));
    }

    #[test]
    fn a_time_from_the_future_does_not_poison_resume() {
        let skew = MAX_CLOCK_SKEW.as_nanos() as i128;
        let now = 1_700_000_000_000_000_000;
        let mut r = Resume::default();
        r.saw(Some(now - 5), now);
        assert_eq!(r.after_at(now), Some(now - 5));
        // 9999-12-31T23:59:59.999999999Z
        r.saw(Some(253_402_300_799_999_999_999), now);
        assert_eq!(r.after, Some(now + skew), "clamped when seen");
        // An hour later the next connect asks from the real latest time on.
        let later = now + 3_600_000_000_000;
        r.saw(Some(later - 1), later);
        assert_eq!(r.after_at(later), Some(later - 1));
        // And `after` is never ahead of the clock at connect by more than the skew.
        let mut r = Resume {
            after: Some(i128::MAX),
            ..Resume::default()
        };
        assert_eq!(r.after_at(now), Some(now + skew));
        r.saw(Some(i128::MAX), i128::MAX);
        assert_eq!(r.after, Some(i128::MAX));
    }
}
