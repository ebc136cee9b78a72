//! Per-gateway counters and histograms fed by decoded events, and the
//! exporter's own event counters. Memory is bounded: one fixed-size record
//! per subscribed gateway (events for others are dropped), at most
//! [`MAX_DROP_REASONS`] drop reasons per gateway.

use std::collections::{HashMap, HashSet};

use super::parse::{Event, Kind, Uplink, MODULATIONS, TX_RESULTS};
use crate::model::FailureKind;

// Few buckets, they are per gateway (8 series per histogram with `+Inf`,
// `_sum` and `_count`). The bounds are where LoRa reception changes class:
//
// RSSI (dBm): the noise floor of a 125 kHz channel is about -117 dBm
// (-174 + 10·log10(125 kHz) + ~6 dB gateway noise figure), and gateway
// sensitivity runs from about -125 (SF7) to -137..-140 dBm (SF12).
// - <= -120: below the noise floor, only demodulated thanks to spreading;
//   SF7/SF8 fail here, these are the edge-of-coverage devices;
// - -120..-110: around the noise floor: works, little margin;
// - -110..-100 and -100..-90: the usual working range;
// - -90..-70: strong;
// - > -70: very close to the gateway (above about -40 the front end
//   saturates; the sum and count show such outliers).
/// RSSI bucket bounds (dBm).
pub const RSSI_BUCKETS: [f64; BOUNDS] = [-120.0, -110.0, -100.0, -90.0, -70.0];
// SNR (dB): the demodulation floor is -7.5 dB at SF7 and 2.5 dB lower per
// spreading factor (SF8 -10, SF9 -12.5, SF10 -15, SF11 -17.5, SF12 -20).
// - <= -15: only SF10..SF12 get through (SF11/SF12: long airtime);
// - -15..-10: SF9 and up;
// - -10..-5: around the SF7/SF8 floors, no margin left for ADR at SF7;
// - -5..0 and 0..5: decodable at SF7 with growing margin;
// - > 5: strong; the radio's SNR estimate flattens out around +10, so
//   finer bounds above would not say more.
/// SNR bucket bounds (dB).
pub const SNR_BUCKETS: [f64; BOUNDS] = [-15.0, -10.0, -5.0, 0.0, 5.0];
/// Bounds per histogram (buckets: one more, `+Inf`).
pub const BOUNDS: usize = 5;
/// Distinct `reason` values kept per gateway; more become `other`.
pub const MAX_DROP_REASONS: usize = 8;

/// A histogram with [`BOUNDS`] bounds and `+Inf`; counts per bucket (not
/// cumulative).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Histogram {
    /// Observations per bucket; the last one is above every bound.
    pub buckets: [u64; BOUNDS + 1],
    /// Sum of observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Record `v` against `bounds` (upper bounds, inclusive).
    pub fn observe(&mut self, bounds: &[f64; BOUNDS], v: f64) {
        let i = bounds.iter().position(|b| v <= *b).unwrap_or(BOUNDS);
        self.buckets[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

/// Everything counted for one gateway.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatewayStats {
    /// RSSI of received uplinks.
    pub rssi: Histogram,
    /// SNR of received uplinks.
    pub snr: Histogram,
    /// Uplinks per modulation (index as [`MODULATIONS`]).
    pub uplinks: [u64; MODULATIONS.len()],
    /// Time on air of received uplinks, seconds.
    pub airtime: f64,
    /// Dropped uplinks by reason.
    pub dropped: Vec<(String, u64)>,
    /// Downlink transmissions by result (index as [`TX_RESULTS`]).
    pub tx: [u64; TX_RESULTS.len()],
    /// Connects.
    pub connects: u64,
    /// Disconnects.
    pub disconnects: u64,
    /// Disconnects by the name of the error that ended them.
    pub disconnect_reasons: Vec<(String, u64)>,
    /// Downlinks the Gateway Server could not schedule, by reason.
    pub schedule_failed: Vec<(String, u64)>,
    /// Frames received that failed their CRC (not in the uplink metrics).
    pub crc_failed: u64,
}

impl GatewayStats {
    /// Uplinks received, of every modulation.
    pub fn received(&self) -> u64 {
        self.uplinks.iter().sum()
    }

    fn uplink(&mut self, up: &Uplink) {
        if let Some(r) = up.rssi {
            self.rssi.observe(&RSSI_BUCKETS, r);
        }
        if let Some(s) = up.snr {
            self.snr.observe(&SNR_BUCKETS, s);
        }
        self.uplinks[up.modulation.index()] += 1;
        if let Some(a) = up.airtime {
            self.airtime += a;
        }
    }

    fn dropped(&mut self, reason: &str) {
        count_reason(&mut self.dropped, reason);
    }
}

/// Count one `reason` in `counts`: at most [`MAX_DROP_REASONS`] distinct
/// reasons, the rest under `other`.
fn count_reason(counts: &mut Vec<(String, u64)>, reason: &str) {
    if let Some(slot) = counts.iter_mut().find(|(r, _)| r == reason) {
        slot.1 += 1;
        return;
    }
    let key = if counts.len() < MAX_DROP_REASONS {
        reason
    } else {
        "other"
    };
    match counts.iter_mut().find(|(r, _)| r == key) {
        Some(slot) => slot.1 += 1,
        None => counts.push((key.to_owned(), 1)),
    }
}

/// Why the exporter dropped an event or line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Seen before (same `unique_id`).
    Duplicate,
    /// Not JSON, or not an event.
    Unparsable,
    /// A line longer than the limit.
    TooLong,
    /// About a gateway not (or no longer) subscribed, or none.
    UnknownGateway,
}

impl DropReason {
    /// All, in label order.
    pub const ALL: [DropReason; 4] = [
        DropReason::Duplicate,
        DropReason::Unparsable,
        DropReason::TooLong,
        DropReason::UnknownGateway,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Duplicate => "duplicate",
            DropReason::Unparsable => "unparsable",
            DropReason::TooLong => "too_long",
            DropReason::UnknownGateway => "unknown_gateway",
        }
    }
}

/// Why a stream ended or could not start: a failure of the kinds a refresh
/// has (same `reason` labels, same HTTP status mapping:
/// [`FailureKind::from_status`]), or one only a stream has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// No connection, no answer in time, or an HTTP error status; a
    /// `permission denied` / `unauthenticated` error line counts as
    /// [`FailureKind::Forbidden`] / [`FailureKind::Unauthorized`].
    Failed(FailureKind),
    /// Another `{"error": ...}` line.
    ErrorLine,
    /// The server ended the stream.
    Closed,
}

impl StreamError {
    /// All a stream can end with, in label order.
    pub const ALL: [StreamError; 9] = [
        StreamError::Failed(FailureKind::Unreachable),
        StreamError::Failed(FailureKind::Timeout),
        StreamError::Failed(FailureKind::Unauthorized),
        StreamError::Failed(FailureKind::Forbidden),
        StreamError::Failed(FailureKind::RateLimited),
        StreamError::Failed(FailureKind::ClientError),
        StreamError::Failed(FailureKind::ServerError),
        StreamError::ErrorLine,
        StreamError::Closed,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StreamError::Failed(kind) => kind.as_str(),
            StreamError::ErrorLine => "error_line",
            StreamError::Closed => "closed",
        }
    }

    /// A missing right or a refused key: retried only after a long pause.
    pub fn is_refused(self) -> bool {
        matches!(
            self,
            StreamError::Failed(FailureKind::Forbidden | FailureKind::Unauthorized)
        )
    }
}

/// The exporter's own event counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Own {
    /// Events counted.
    pub events: u64,
    /// Streams open now.
    pub streams_open: u64,
    /// Reconnects after a stream ended or failed.
    pub reconnects: u64,
    /// Wall clock of the last event counted, Unix seconds.
    pub last_event: Option<f64>,
    /// Dropped lines/events, by [`DropReason`] (index as `ALL`).
    pub dropped: [u64; DropReason::ALL.len()],
    /// Stream errors, by [`StreamError`] (index as `ALL`).
    pub errors: [u64; StreamError::ALL.len()],
}

/// All counters; one per exporter, behind a mutex.
#[derive(Debug, Default)]
pub struct Aggregator {
    gateways: HashMap<String, GatewayStats>,
    /// The exporter's own counters.
    pub own: Own,
}

impl Aggregator {
    /// Follow the gateway list: new gateways start at zero, gone ones and
    /// their series are forgotten.
    pub fn set_gateways(&mut self, ids: &[String]) {
        let keep: HashSet<&str> = ids.iter().map(String::as_str).collect();
        self.gateways.retain(|id, _| keep.contains(id.as_str()));
        for id in ids {
            if !self.gateways.contains_key(id) {
                self.gateways.insert(id.clone(), GatewayStats::default());
            }
        }
    }

    /// Count a decoded (and de-duplicated) event received at `now` (Unix s).
    pub fn apply(&mut self, ev: &Event<'_>, now: f64) {
        let Some(g) = self.gateways.get_mut(ev.gateway_id.as_ref()) else {
            self.drop_event(DropReason::UnknownGateway);
            return;
        };
        match &ev.kind {
            Kind::Uplink(up) => g.uplink(up),
            Kind::UplinkDropped(reason) => g.dropped(reason),
            Kind::Tx(i) => g.tx[(*i).min(TX_RESULTS.len() - 1)] += 1,
            Kind::UplinkCrcFailed => g.crc_failed += 1,
            Kind::Connect => g.connects += 1,
            Kind::Disconnect(reason) => {
                g.disconnects += 1;
                count_reason(&mut g.disconnect_reasons, reason);
            }
            Kind::ScheduleFailed(reason) => count_reason(&mut g.schedule_failed, reason),
            Kind::Other => {}
        }
        self.own.events += 1;
        self.own.last_event = Some(now);
    }

    /// Count a dropped line or event.
    pub fn drop_event(&mut self, why: DropReason) {
        let i = DropReason::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.own.dropped[i] += 1;
    }

    /// Count a stream error.
    pub fn stream_error(&mut self, why: StreamError) {
        let i = StreamError::ALL.iter().position(|r| *r == why).unwrap_or(0);
        self.own.errors[i] += 1;
    }

    /// The gateways, sorted by ID.
    pub fn gateways(&self) -> Vec<(&str, &GatewayStats)> {
        let mut v: Vec<(&str, &GatewayStats)> =
            self.gateways.iter().map(|(k, v)| (k.as_str(), v)).collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }

    /// One gateway's counters.
    pub fn gateway(&self, id: &str) -> Option<&GatewayStats> {
        self.gateways.get(id)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::events::parse::Modulation;

    fn up(gw: &str, rssi: f64, snr: f64, sf: u32) -> Event<'static> {
        Event {
            gateway_id: Cow::Owned(gw.to_owned()),
            time: None,
            unique_id: None,
            kind: Kind::Uplink(Uplink {
                rssi: Some(rssi),
                snr: Some(snr),
                modulation: Modulation::Lora(sf),
                airtime: Some(0.5),
            }),
        }
    }

    #[test]
    fn counts_and_buckets() {
        let mut a = Aggregator::default();
        a.set_gateways(&["a".into(), "b".into()]);
        a.apply(&up("a", -130.0, -20.0, 7), 1.0);
        a.apply(&up("a", -95.0, 7.5, 12), 2.0);
        a.apply(&up("a", -10.0, 20.0, 12), 3.0);
        a.apply(&up("zzz", -10.0, 20.0, 12), 4.0);
        let g = a.gateway("a").expect("subscribed");
        assert_eq!(g.rssi.buckets, [1, 0, 0, 1, 0, 1]);
        assert_eq!(g.rssi.count, 3);
        assert_eq!(g.rssi.sum, -235.0);
        assert_eq!(g.snr.buckets, [1, 0, 0, 0, 0, 2]);
        assert_eq!(g.uplinks[2], 1);
        assert_eq!(g.uplinks[7], 2);
        assert_eq!(g.airtime, 1.5);
        assert_eq!(a.own.events, 3);
        assert_eq!(a.own.last_event, Some(3.0));
        assert_eq!(a.own.dropped, [0, 0, 0, 1]);
        assert_eq!(a.gateway("b").map(|g| g.rssi.count), Some(0));
    }

    #[test]
    fn stream_errors_use_the_refresh_reasons_and_two_of_their_own() {
        let labels: Vec<&str> = StreamError::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(
            labels,
            [
                "unreachable",
                "timeout",
                "unauthorized",
                "forbidden",
                "rate_limited",
                "client_error",
                "server_error",
                "error_line",
                "closed"
            ]
        );
        // Every status a stream can be refused with has its own counter.
        for status in [400, 401, 403, 404, 429, 500, 503] {
            let why = StreamError::Failed(FailureKind::from_status(status));
            assert!(StreamError::ALL.contains(&why), "{status}");
        }
        assert!(StreamError::Failed(FailureKind::Forbidden).is_refused());
        assert!(!StreamError::Failed(FailureKind::RateLimited).is_refused());
    }

    #[test]
    fn removed_gateways_vanish_and_reasons_are_bounded() {
        let mut a = Aggregator::default();
        a.set_gateways(&["a".into()]);
        for i in 0..20 {
            let ev = Event {
                gateway_id: Cow::Borrowed("a"),
                time: None,
                unique_id: None,
                kind: Kind::UplinkDropped(format!("r{i}")),
            };
            a.apply(&ev, 0.0);
        }
        let g = a.gateway("a").expect("subscribed");
        assert_eq!(g.dropped.len(), MAX_DROP_REASONS + 1);
        assert_eq!(g.dropped.last(), Some(&("other".to_owned(), 12)));
        a.set_gateways(&["b".into()]);
        assert!(a.gateway("a").is_none());
        assert_eq!(a.gateways().len(), 1);
    }
}
