//! The status page served at `/`: server-rendered HTML (no JavaScript) from
//! the same [`Snapshot`] as `/metrics`, for an operator without Grafana.
//!
//! The page is built once per refresh, on the first request after it
//! ([`page`] keeps it in the cache entry), never per request. So that the
//! bytes stay the same for the whole refresh, times are absolute (UTC) plus
//! an age relative to the refresh, not to the moment the page is served.
//!
//! Everything from the API (gateway names and IDs, protocols, the last
//! error) is user input: control characters are dropped, each string is cut
//! to a bounded length and HTML-escaped. At most [`MAX_ROWS`] gateways are
//! listed (offline ones first); the rest are counted.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::cache::Entry;
use crate::model::{Gateway, Snapshot};

/// Most gateways listed in the table.
pub const MAX_ROWS: usize = 10_000;
/// Longest gateway name shown, in characters.
const MAX_NAME: usize = 100;
/// Longest other API string (ID, protocol) shown, in characters.
const MAX_FIELD: usize = 64;
/// Longest error message shown, in characters.
const MAX_ERROR: usize = 500;

/// Content type of the page.
pub const CONTENT_TYPE: &str = "text/html; charset=utf-8";

static BUILDS: AtomicU64 = AtomicU64::new(0);

/// How many pages this process has built (for tests: one per refresh).
pub fn builds() -> u64 {
    BUILDS.load(Ordering::Relaxed)
}

/// The page for `entry`, built on the first call and kept with the entry.
pub fn page(entry: &Entry) -> Bytes {
    entry
        .status_page
        .get_or_init(|| {
            BUILDS.fetch_add(1, Ordering::Relaxed);
            let mut html = render(&entry.snapshot);
            // Kept for the whole refresh: not the capacity reserved up front.
            html.shrink_to_fit();
            Bytes::from(html)
        })
        .clone()
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse}td,th{padding:.25em .5em;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap}\
td:first-child{white-space:normal;min-width:9em;max-width:24em;overflow-wrap:break-word}\
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.up{color:#17702a}.down{color:#b00020}tr.off td{background:#fff1f1}\
.muted{color:#666;font-size:.9em}";

/// The page's HTML for one refresh.
pub fn render(snapshot: &Snapshot) -> String {
    let now = snapshot.finished_at;
    let shown = snapshot.gateways.len().min(MAX_ROWS);
    let mut out = String::with_capacity(2048 + shown * 400);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta http-equiv=\"refresh\" content=\"60\">");
    out.push_str("<title>TTN Exporter</title><style>");
    out.push_str(STYLE);
    out.push_str("</style></head>\n<body>\n<h1>TTN Exporter</h1>\n");

    let connected = snapshot.connected();
    let total = snapshot.gateways.len();
    let (class, up) = if snapshot.is_up() {
        ("up", 1)
    } else {
        ("down", 0)
    };
    let _ = writeln!(
        out,
        "<p class=\"{class}\"><b>ttn_up {up}</b> &middot; {total} gateways, {connected} connected, {} offline</p>",
        total - connected
    );
    out.push_str("<table>\n");
    let _ = writeln!(
        out,
        "<tr><th>Last refresh</th><td>{} (took {:.2} s)</td></tr>",
        utc(now),
        snapshot.duration.as_secs_f64()
    );
    let last_ok = match snapshot.last_success {
        Some(t) if t == now => "this one".to_owned(),
        Some(t) => format!("{} ({})", utc(t), ago(since(now, t))),
        None => "never".to_owned(),
    };
    let _ = writeln!(
        out,
        "<tr><th>Last successful refresh</th><td>{last_ok}</td></tr>"
    );
    if let Some(f) = &snapshot.failure {
        let _ = writeln!(
            out,
            "<tr><th>Last error</th><td class=\"down\">{}: {}</td></tr>",
            f.kind.as_str(),
            text(&f.message, MAX_ERROR)
        );
        if let (Some(age), Some(at)) = (snapshot.data_age(), snapshot.data_from) {
            let _ = writeln!(
                out,
                "<tr><th>Gateways shown</th><td class=\"down\">from the last successful refresh, {} ({}), kept for <code>keep_stale_for</code></td></tr>",
                utc(at),
                ago(age.as_secs_f64())
            );
        }
    }
    if !snapshot.not_found.is_empty() {
        let shown: Vec<&str> = snapshot
            .not_found
            .iter()
            .take(MAX_ROWS)
            .map(String::as_str)
            .collect();
        let _ = writeln!(
            out,
            "<tr><th>Not found</th><td class=\"down\">{} ID(s) of <code>gateways</code> not found in the registry: {}</td></tr>",
            snapshot.not_found.len(),
            text(&shown.join(", "), MAX_ERROR)
        );
    }
    out.push_str("</table>\n");
    out.push_str(
        "<p><a href=\"/metrics\">Metrics</a> &middot; <a href=\"/-/healthy\">Health</a></p>\n",
    );
    out.push_str(
        "<p class=\"muted\">The data of the last refresh; ages are relative to it. \
         A visit after the cache expires triggers a refresh; this page reloads every minute.</p>\n",
    );

    out.push_str("<h2>Gateways</h2>\n<table>\n<thead><tr><th>Name</th><th>ID</th><th>State</th><th>Last seen (UTC)</th>\
         <th>Uplinks</th><th>Downlinks</th><th>RTT median</th><th>Protocol</th></tr></thead>\n<tbody>\n");
    let now_unix = unix(now);
    for g in ordered(&snapshot.gateways).take(MAX_ROWS) {
        row(&mut out, g, now_unix);
    }
    out.push_str("</tbody></table>\n");
    if total > shown {
        let _ = writeln!(
            out,
            "<p>{} more gateways not listed; see <a href=\"/metrics\">/metrics</a>.</p>",
            total - shown
        );
    }
    out.push_str("</body></html>\n");
    out
}

/// Offline gateways first, each group in the snapshot's (ID) order.
pub fn ordered(gateways: &[Gateway]) -> impl Iterator<Item = &Gateway> {
    let offline = gateways.iter().filter(|g| !g.is_connected());
    offline.chain(gateways.iter().filter(|g| g.is_connected()))
}

fn row(out: &mut String, g: &Gateway, now: f64) {
    let connected = g.is_connected();
    let state = match &g.stats {
        _ if connected => "connected",
        _ if g.stats_refused => "no status rights",
        _ if g.disconnected_at().is_some() => "disconnected",
        _ => "not connected",
    };
    let stats = g.stats.as_ref();
    let last_seen = match g.last_seen() {
        Some(t) => format!(
            "{} ({})",
            utc_unix(t).trim_end_matches(" UTC"),
            ago(now - t)
        ),
        None => "never".to_owned(),
    };
    let count = |v: Option<u64>| v.map_or_else(|| "&ndash;".to_owned(), |n| n.to_string());
    let rtt = stats.and_then(|s| s.round_trip.as_ref()).map_or_else(
        || "&ndash;".to_owned(),
        |r| format!("{:.1} ms", r.median * 1e3),
    );
    let protocol = stats
        .and_then(|s| s.protocol.as_deref())
        .map_or_else(|| "&ndash;".to_owned(), |p| text(p, MAX_FIELD));
    let _ = writeln!(
        out,
        "<tr{}><td>{}</td><td><code>{}</code></td><td class=\"{}\">{state}</td><td>{last_seen}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{rtt}</td><td>{protocol}</td></tr>",
        if connected { "" } else { " class=\"off\"" },
        text(g.name.as_deref().unwrap_or(""), MAX_NAME),
        text(&g.id, MAX_FIELD),
        if connected { "up" } else { "down" },
        count(stats.and_then(|s| s.uplink_count)),
        count(stats.and_then(|s| s.downlink_count)),
    );
}

/// `s` without control characters, cut to `max` characters (marked with an
/// ellipsis) and HTML-escaped.
pub fn text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4) + 8);
    for (kept, c) in s.chars().filter(|c| !c.is_control()).enumerate() {
        if kept == max {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "12 s ago", "3 min ago", "5 h ago", "2 d ago" for an age in seconds.
pub fn ago(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".to_owned();
    }
    if secs < 0.0 {
        return "after the refresh".to_owned();
    }
    let s = secs as u64;
    match s {
        0..=119 => format!("{s} s ago"),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

fn since(now: SystemTime, then: SystemTime) -> f64 {
    now.duration_since(then)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

fn utc(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t)
        .to_string()
        .replace('T', " ")
        .replace('Z', " UTC")
}

fn utc_unix(secs: f64) -> String {
    if !(0.0..=253_402_300_799.0).contains(&secs) {
        return "?".to_owned();
    }
    utc(UNIX_EPOCH + Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConnectionStats, Failure, FailureKind, RoundTrip};

    fn snapshot(gateways: Vec<Gateway>) -> Snapshot {
        Snapshot {
            gateways: gateways.into(),
            data_from: None,
            failure: None,
            finished_at: UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            duration: Duration::from_millis(120),
            last_success: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            not_found: Default::default(),
        }
    }

    fn connected(id: &str, name: &str) -> Gateway {
        Gateway {
            name: Some(name.into()),
            stats: Some(ConnectionStats {
                connected_at: Some(1_699_990_000.0),
                protocol: Some("udp".into()),
                last_uplink_received_at: Some(1_699_999_820.0),
                uplink_count: Some(1234),
                downlink_count: Some(56),
                round_trip: Some(RoundTrip {
                    min: 0.01,
                    median: 0.055,
                    max: 0.2,
                    count: 3,
                }),
                ..ConnectionStats::default()
            }),
            ..Gateway::with_id(id)
        }
    }

    #[test]
    fn user_strings_are_escaped() {
        let mut g = connected("gw-1", "<script>alert(\"x&y\")</script>");
        g.stats.as_mut().expect("stats").protocol = Some("<b>udp</b>".into());
        let mut s = snapshot(vec![g]);
        s.failure = Some(Failure {
            kind: FailureKind::ServerError,
            message: "bad <img src=x onerror=alert(1)>".into(),
            retry_after: None,
            endpoint: None,
            correlation_id: None,
            gateway_id: None,
        });
        let html = render(&s);
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<b>udp"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("server_error: bad &lt;img"), "{html}");
        assert!(html.contains("ttn_up 0"), "{html}");
    }

    #[test]
    fn strings_are_bounded_and_lose_control_characters() {
        assert_eq!(text("a\nb\u{1b}[31mc", 10), "ab[31mc");
        let long = "x".repeat(10_000);
        assert_eq!(text(&long, MAX_NAME).chars().count(), MAX_NAME + 1);
        assert_eq!(text("<<<", 2), "&lt;&lt;…");
    }

    #[test]
    fn offline_gateways_come_first() {
        let mut disconnected = connected("gw-b", "Bravo");
        let stats = disconnected.stats.as_mut().expect("stats");
        stats.disconnected_at = Some(1_699_999_000.0);
        let never = Gateway::with_id("gw-d");
        let s = snapshot(vec![
            connected("gw-a", "Alpha"),
            disconnected,
            connected("gw-c", "Charlie"),
            never,
        ]);
        let ids: Vec<&str> = ordered(&s.gateways).map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["gw-b", "gw-d", "gw-a", "gw-c"]);
        let html = render(&s);
        let pos = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(
            pos("gw-b") < pos("gw-d") && pos("gw-d") < pos("gw-a") && pos("gw-a") < pos("gw-c")
        );
        assert!(html.contains(">disconnected<") && html.contains(">not connected<"));
        assert!(
            html.contains("4 gateways, 2 connected, 2 offline"),
            "{html}"
        );
    }

    #[test]
    fn row_shows_counts_round_trip_protocol_and_age() {
        let html = render(&snapshot(vec![connected("gw-a", "Alpha")]));
        for needle in [
            "Alpha",
            "<code>gw-a</code>",
            ">connected<",
            "1234",
            ">56<",
            "55.0 ms",
            ">udp<",
            "2023-11-14 22:10:20 (3 min ago)",
            "<a href=\"/metrics\">",
            "ttn_up 1",
        ] {
            assert!(html.contains(needle), "{needle} missing:\n{html}");
        }
        assert!(!html.contains("<script"), "no JavaScript");
    }

    #[test]
    fn ages() {
        assert_eq!(ago(12.4), "12 s ago");
        assert_eq!(ago(180.0), "3 min ago");
        assert_eq!(ago(5.0 * 3600.0), "5 h ago");
        assert_eq!(ago(3.0 * 86_400.0), "3 d ago");
        assert_eq!(ago(-5.0), "after the refresh");
        assert_eq!(utc_unix(f64::MAX), "?");
    }

    #[test]
    fn rows_are_capped() {
        let gws: Vec<Gateway> = (0..MAX_ROWS + 3)
            .map(|i| Gateway::with_id(format!("gw-{i}")))
            .collect();
        let html = render(&snapshot(gws));
        assert_eq!(html.matches("<tr class=\"off\">").count(), MAX_ROWS);
        assert!(html.contains("3 more gateways not listed"));
    }
}
