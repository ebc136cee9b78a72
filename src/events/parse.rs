//! One line of the events stream (`{"result": <Event>}`, `{"error":
//! <Status>}` or blank) to a typed [`Line`]. Only what the metrics need is
//! decoded; unknown fields are skipped, missing ones are proto3 zeros.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::airtime;
use crate::model::sanitize::{label_token, one_line};

/// The `spreading_factor` label values (index: [`Modulation::index`]).
pub const MODULATIONS: [&str; 11] = [
    "5", "6", "7", "8", "9", "10", "11", "12", "fsk", "lrfhss", "unknown",
];

/// The modulation of an uplink, for the `spreading_factor` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modulation {
    /// LoRa at this spreading factor (5..=12).
    Lora(u32),
    /// FSK.
    Fsk,
    /// LR-FHSS.
    LrFhss,
    /// Missing or unreadable.
    Unknown,
}

impl Modulation {
    /// Index into [`MODULATIONS`].
    pub fn index(self) -> usize {
        match self {
            Modulation::Lora(sf @ 5..=12) => (sf - 5) as usize,
            Modulation::Lora(_) | Modulation::Unknown => 10,
            Modulation::Fsk => 8,
            Modulation::LrFhss => 9,
        }
    }
}

/// What one uplink tells about its gateway.
#[derive(Clone, Debug, PartialEq)]
pub struct Uplink {
    /// RSSI in dBm (`rssi`, else `channel_rssi`), if given.
    pub rssi: Option<f64>,
    /// SNR in dB; absent for FSK, 0 when omitted on LoRa (proto3 zero).
    pub snr: Option<f64>,
    /// Modulation / spreading factor.
    pub modulation: Modulation,
    /// Time on air in seconds, when settings and payload are known.
    pub airtime: Option<f64>,
}

/// The transmission results of `gs.down.tx.*`, as label values.
pub const TX_RESULTS: [&str; 10] = [
    "success",
    "too_late",
    "too_early",
    "collision_packet",
    "collision_beacon",
    "tx_freq",
    "tx_power",
    "gps_unlocked",
    "unknown_error",
    "unknown",
];

/// What an event means for the metrics.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `gs.up.receive`.
    Uplink(Uplink),
    /// `gs.up.receive` of a frame that failed its CRC (`crc_status: false`).
    UplinkCrcFailed,
    /// `gs.up.drop`, with the (sanitised) error name.
    UplinkDropped(String),
    /// `gs.down.tx.success` / `gs.down.tx.fail`: index into [`TX_RESULTS`].
    Tx(usize),
    /// `gs.gateway.connect`.
    Connect,
    /// `gs.gateway.disconnect`, with the (sanitised) name of the error that
    /// ended the connection (`unknown` without one).
    Disconnect(String),
    /// `gs.down.schedule.fail`, with the (sanitised) reason: for a class A
    /// downlink the scheduler's error of the last Rx window tried
    /// (`duty_cycle`, `too_late`, `conflict`, `no_clock_sync`,
    /// `dwell_time`, ...), else the error's own name (`not_allowed`, ...).
    ScheduleFailed(String),
    /// Any other event: counted, otherwise ignored.
    Other,
}

/// A decoded event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// The gateway it is about (the first gateway identifier).
    pub gateway_id: Cow<'a, str>,
    /// Event time, Unix nanoseconds.
    pub time: Option<i128>,
    /// `unique_id`, for de-duplication.
    pub unique_id: Option<Cow<'a, str>>,
    /// What happened.
    pub kind: Kind,
}

/// One line of the stream.
#[derive(Debug, PartialEq)]
pub enum Line<'a> {
    /// Empty or whitespace only.
    Blank,
    /// An event.
    Event(Event<'a>),
    /// An event that names no gateway (nothing to count it against).
    NoGateway,
    /// `events.stream.start`: the server's own first line of every stream
    /// (the subscribed names). Not a gateway event: nothing counts it.
    StreamStart,
    /// `{"error": ...}`: the gRPC code (0 if absent) and a sanitised message.
    Error {
        /// gRPC status code (7 permission denied, 16 unauthenticated, ...).
        code: u32,
        /// One line for the log.
        message: String,
    },
    /// Not JSON, or not an event.
    Unparsable,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    result: Option<RawEvent<'a>>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawEvent<'a> {
    #[serde(borrow, default)]
    name: Cow<'a, str>,
    #[serde(default)]
    time: Option<String>,
    #[serde(borrow, default)]
    identifiers: Vec<Ident<'a>>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(borrow, default)]
    unique_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Ident<'a> {
    #[serde(borrow, default)]
    gateway_ids: Option<GatewayIds<'a>>,
}

#[derive(Deserialize)]
struct GatewayIds<'a> {
    #[serde(borrow, default)]
    gateway_id: Cow<'a, str>,
}

#[derive(Deserialize, Default)]
struct UpData<'a> {
    #[serde(borrow, default)]
    message: Option<UpMessage<'a>>,
}

#[derive(Deserialize, Default)]
struct UpMessage<'a> {
    #[serde(borrow, default)]
    raw_payload: Option<Cow<'a, str>>,
    #[serde(default)]
    settings: Option<Settings>,
    #[serde(borrow, default)]
    rx_metadata: Vec<RxMetadata<'a>>,
    #[serde(default)]
    crc_status: Option<bool>,
}

#[derive(Deserialize, Default)]
struct Settings {
    #[serde(default)]
    data_rate: Option<DataRate>,
}

#[derive(Deserialize, Default)]
struct DataRate {
    #[serde(default)]
    lora: Option<Lora>,
    #[serde(default)]
    fsk: Option<Fsk>,
    #[serde(default)]
    lrfhss: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize, Default)]
struct Lora {
    #[serde(default)]
    bandwidth: u32,
    #[serde(default)]
    spreading_factor: u32,
    #[serde(default)]
    coding_rate: Option<String>,
}

#[derive(Deserialize, Default)]
struct Fsk {
    #[serde(default)]
    bit_rate: u32,
}

#[derive(Deserialize)]
struct RxMetadata<'a> {
    #[serde(borrow, default)]
    gateway_ids: Option<GatewayIds<'a>>,
    #[serde(default)]
    rssi: Option<f64>,
    #[serde(default)]
    channel_rssi: Option<f64>,
    #[serde(default)]
    snr: Option<f64>,
}

#[derive(Deserialize, Default)]
struct ErrorDetails {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    cause: Option<Box<ErrorDetails>>,
    /// `google.protobuf.Any` details; a `ScheduleDownlinkErrorDetails`
    /// has `path_errors`.
    #[serde(default)]
    details: Vec<AnyDetail>,
}

#[derive(Deserialize, Default)]
struct AnyDetail {
    #[serde(default)]
    path_errors: Vec<ErrorDetails>,
}

impl ErrorDetails {
    /// The innermost cause's name (at most 8 levels down), else its own.
    fn root_name(&self) -> Option<&str> {
        let mut e = self;
        for _ in 0..8 {
            match e.cause.as_deref() {
                Some(c) if c.name.is_some() => e = c,
                _ => break,
            }
        }
        e.name.as_deref()
    }

    /// Why a `gs.down.schedule.fail` failed: pkg/gatewayserver/io wraps a
    /// class A failure as `tx_schedule` with one `rx_window_schedule` path
    /// error per Rx window, each caused by the scheduler's error; the last
    /// window tried is the reason. Other failures are their own name.
    fn schedule_reason(&self) -> &str {
        self.details
            .iter()
            .flat_map(|d| &d.path_errors)
            .last()
            .and_then(ErrorDetails::root_name)
            .or(self.name.as_deref())
            .unwrap_or("unknown")
    }
}

#[derive(Deserialize, Default)]
struct Status {
    #[serde(default)]
    code: u32,
    #[serde(default)]
    message: Option<String>,
}

/// Decode one line (without its newline).
pub fn line(bytes: &[u8]) -> Line<'_> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Line::Blank;
    }
    let Ok(env) = serde_json::from_slice::<Envelope<'_>>(bytes) else {
        return Line::Unparsable;
    };
    if let Some(err) = env.error {
        let st: Status = serde_json::from_str(err.get()).unwrap_or_default();
        let message = st.message.unwrap_or_else(|| "no message".to_owned());
        return Line::Error {
            code: st.code,
            message: one_line(&message, 300),
        };
    }
    let Some(ev) = env.result else {
        return Line::Unparsable;
    };
    if ev.name == "events.stream.start" {
        return Line::StreamStart;
    }
    let Some(gateway_id) = ev
        .identifiers
        .into_iter()
        .filter_map(|i| i.gateway_ids)
        .map(|g| g.gateway_id)
        .find(|g| !g.is_empty())
    else {
        return Line::NoGateway;
    };
    let data = ev.data.map(RawValue::get).unwrap_or("{}");
    let kind = match ev.name.as_ref() {
        "gs.up.receive" => match uplink(data, &gateway_id) {
            Received::Uplink(u) => Kind::Uplink(u),
            Received::CrcFailed => Kind::UplinkCrcFailed,
            // A 1 Hz bandwidth or SF 99: not a frame a radio received.
            Received::ImpossibleSettings => return Line::Unparsable,
        },
        "gs.up.drop" => {
            let d: ErrorDetails = serde_json::from_str(data).unwrap_or_default();
            Kind::UplinkDropped(label_token(d.name.as_deref().unwrap_or("unknown")))
        }
        "gs.down.tx.success" => Kind::Tx(0),
        "gs.down.tx.fail" => Kind::Tx(tx_result(data)),
        "gs.gateway.connect" => Kind::Connect,
        "gs.gateway.disconnect" => {
            let d: ErrorDetails = serde_json::from_str(data).unwrap_or_default();
            Kind::Disconnect(label_token(d.name.as_deref().unwrap_or("unknown")))
        }
        "gs.down.schedule.fail" => {
            let d: ErrorDetails = serde_json::from_str(data).unwrap_or_default();
            Kind::ScheduleFailed(label_token(d.schedule_reason()))
        }
        _ => Kind::Other,
    };
    Line::Event(Event {
        gateway_id,
        time: ev.time.as_deref().and_then(parse_time),
        unique_id: ev.unique_id.filter(|u| !u.is_empty()),
        kind,
    })
}

/// What a `gs.up.receive` says.
enum Received {
    Uplink(Uplink),
    /// A frame that failed its CRC (published before the check).
    CrcFailed,
    /// Settings no radio has (LoRa bandwidth or spreading factor, FSK bit
    /// rate) or a payload longer than a frame: counted as unparsable.
    ImpossibleSettings,
}

fn uplink(data: &str, gateway_id: &str) -> Received {
    let d: UpData<'_> = serde_json::from_str(data).unwrap_or_default();
    let msg = d.message.unwrap_or_default();
    if msg.crc_status == Some(false) {
        return Received::CrcFailed;
    }
    let dr = msg.settings.and_then(|s| s.data_rate).unwrap_or_default();
    let len = msg.raw_payload.as_deref().map(airtime::base64_len);
    let impossible = len.is_some_and(|n| n > airtime::MAX_PHY_PAYLOAD)
        || dr
            .lora
            .as_ref()
            .is_some_and(|l| !airtime::lora_settings_known(l.spreading_factor, l.bandwidth))
        || dr
            .fsk
            .as_ref()
            .is_some_and(|f| !airtime::FSK_BIT_RATES.contains(&f.bit_rate));
    if impossible {
        return Received::ImpossibleSettings;
    }
    let (modulation, airtime) = if let Some(l) = dr.lora {
        let cr = airtime::coding_rate_denominator(l.coding_rate.as_deref());
        let at = len.and_then(|n| airtime::lora(l.spreading_factor, l.bandwidth, cr, n));
        (Modulation::Lora(l.spreading_factor), at)
    } else if let Some(f) = dr.fsk {
        (
            Modulation::Fsk,
            len.and_then(|n| airtime::fsk(f.bit_rate, n)),
        )
    } else if dr.lrfhss.is_some() {
        (Modulation::LrFhss, None)
    } else {
        (Modulation::Unknown, None)
    };
    let meta = msg
        .rx_metadata
        .iter()
        .find(|m| {
            m.gateway_ids
                .as_ref()
                .is_some_and(|g| g.gateway_id == gateway_id)
        })
        .or_else(|| msg.rx_metadata.first());
    let rssi = meta.and_then(|m| m.rssi.or(m.channel_rssi));
    let snr = match (meta.and_then(|m| m.snr), modulation) {
        (Some(s), _) => Some(s),
        // proto3 omits a zero SNR; LoRa always has one.
        (None, Modulation::Lora(_)) if meta.is_some() => Some(0.0),
        (None, _) => None,
    };
    Received::Uplink(Uplink {
        rssi: rssi.filter(|v| v.is_finite() && v.abs() < 1000.0),
        snr: snr.filter(|v| v.is_finite() && v.abs() < 1000.0),
        modulation,
        airtime,
    })
}

/// The TxAcknowledgment result wherever `gs.down.tx.fail` put it. The
/// server publishes it as the enum's number in a `google.protobuf.Value`
/// (`{"value": 2}`; `messages.proto`: 1 UNKNOWN_ERROR, 2 TOO_LATE, 3
/// TOO_EARLY, 4 COLLISION_PACKET, 5 COLLISION_BEACON, 6 TX_FREQ, 7 TX_POWER,
/// 8 GPS_UNLOCKED); the name as a string (the data itself, `value` or
/// `result`) is accepted too. Anything else is `unknown`.
fn tx_result(data: &str) -> usize {
    let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
    let found = [Some(&v), v.get("value"), v.get("result")]
        .into_iter()
        .flatten()
        .find(|x| x.is_string() || x.is_number());
    let unknown = TX_RESULTS.len() - 1;
    match found {
        Some(serde_json::Value::Number(n)) => match n.as_u64() {
            // UNKNOWN_ERROR is last among the failures in TX_RESULTS.
            Some(1) => 8,
            // TOO_LATE (2) .. GPS_UNLOCKED (8) keep the enum's order.
            Some(k @ 2..=8) => (k - 1) as usize,
            _ => unknown,
        },
        Some(serde_json::Value::String(s)) => {
            let lower = s.to_ascii_lowercase();
            TX_RESULTS[1..9]
                .iter()
                .position(|r| *r == lower)
                .map_or(unknown, |i| i + 1)
        }
        _ => unknown,
    }
}

/// RFC 3339 to Unix nanoseconds.
pub fn parse_time(s: &str) -> Option<i128> {
    if s.len() > 64 {
        return None;
    }
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp_nanos)
}

/// Unix nanoseconds to RFC 3339 (UTC), for `after`.
pub fn format_time(nanos: i128) -> Option<String> {
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/tts/events/gs.up.receive.json");

    fn compact(s: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(s).expect("fixture is JSON");
        v.to_string()
    }

    #[test]
    fn the_recorded_uplink() {
        let text = compact(FIXTURE);
        let Line::Event(ev) = line(text.as_bytes()) else {
            panic!("not an event")
        };
        assert_eq!(ev.gateway_id, "eui-ac1f09fffe08d721");
        assert_eq!(ev.unique_id.as_deref(), Some("01HSJSG0JENAMJHW5VAC2CEMA8"));
        assert_eq!(
            ev.time.and_then(format_time).as_deref(),
            Some("2024-03-22T09:57:24.686837844Z")
        );
        let Kind::Uplink(up) = ev.kind else {
            panic!("not an uplink")
        };
        assert_eq!(up.rssi, Some(-31.0));
        assert_eq!(up.snr, Some(14.25));
        assert_eq!(up.modulation, Modulation::Lora(7));
        let at = up.airtime.expect("airtime");
        // 50 bytes at SF7: 12.25 + 83 symbols of 1.024 ms.
        assert!((at - 0.097536).abs() < 1e-9, "{at}");
    }

    #[test]
    fn blank_error_and_garbage() {
        assert_eq!(line(b""), Line::Blank);
        assert_eq!(line(b"  \r"), Line::Blank);
        assert_eq!(line(b"{not json"), Line::Unparsable);
        assert_eq!(line(b"{}"), Line::Unparsable);
        assert_eq!(line(br#"{"result":{"name":"x"}}"#), Line::NoGateway);
        let Line::Error { code, message } =
            line(b"{\"error\":{\"code\":7,\"message\":\"error:pkg/auth/rights:no_gateway_rights\\n\\u001b[31m\"}}")
        else {
            panic!("not an error")
        };
        assert_eq!(code, 7);
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }

    fn event(name: &str, data: &str) -> Kind {
        let text = format!(
            r#"{{"result":{{"name":"{name}","identifiers":[{{"gateway_ids":{{"gateway_id":"gw"}}}}],"data":{data},"future":[1]}}}}"#
        );
        match line(text.as_bytes()) {
            Line::Event(e) => e.kind,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn impossible_radio_settings_are_unparsable() {
        let up = |dr: &str, payload: &str| {
            let text = format!(
                r#"{{"result":{{"name":"gs.up.receive","identifiers":[{{"gateway_ids":{{"gateway_id":"gw"}}}}],"data":{{"message":{{"raw_payload":"{payload}","settings":{{"data_rate":{dr}}}}}}}}}}}"#
            );
            match line(text.as_bytes()) {
                Line::Event(e) => match e.kind {
                    Kind::Uplink(u) => Some(u.airtime),
                    other => panic!("{other:?}"),
                },
                Line::Unparsable => None,
                other => panic!("{other:?}"),
            }
        };
        let ok = r#"{"lora":{"bandwidth":125000,"spreading_factor":7}}"#;
        let at = up(ok, "AAAAAAAAAAAAAAAAAA==")
            .expect("a real frame")
            .expect("airtime");
        assert!(at > 0.0 && at < 0.1, "{at}");
        // 2.4 GHz and SF5 exist; their frames are counted.
        assert!(up(
            r#"{"lora":{"bandwidth":812500,"spreading_factor":5}}"#,
            "AAAA"
        )
        .is_some());
        for dr in [
            r#"{"lora":{"bandwidth":1,"spreading_factor":7}}"#,
            r#"{"lora":{"bandwidth":125001,"spreading_factor":7}}"#,
            r#"{"lora":{"spreading_factor":7}}"#,
            r#"{"lora":{"bandwidth":125000,"spreading_factor":13}}"#,
            r#"{"lora":{"bandwidth":125000,"spreading_factor":4}}"#,
            r#"{"fsk":{"bit_rate":1}}"#,
            r#"{"fsk":{"bit_rate":4000000000}}"#,
        ] {
            assert_eq!(up(dr, "AAAA"), None, "{dr}");
        }
        // A "frame" longer than any radio sends.
        let long = "A".repeat(400);
        assert_eq!(up(ok, &long), None);
        assert!(up(ok, &"A".repeat(340)).is_some(), "255 bytes is a frame");
    }

    #[test]
    fn schedule_failures_give_the_last_rx_windows_cause() {
        // Shaped as pkg/gatewayserver/io builds it (constructed from the
        // source, not recorded): tx_schedule > path_errors > cause.
        let fixture = include_str!("../../tests/fixtures/tts/events/gs.down.schedule.fail.json");
        let compact: String = fixture.lines().map(str::trim).collect();
        match line(compact.as_bytes()) {
            Line::Event(e) => assert_eq!(e.kind, Kind::ScheduleFailed("duty_cycle".into())),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            event(
                "gs.down.schedule.fail",
                r#"{"namespace":"pkg/gatewayserver/io","name":"not_allowed","code":9}"#
            ),
            Kind::ScheduleFailed("not_allowed".into())
        );
        assert_eq!(
            event("gs.down.schedule.fail", "null"),
            Kind::ScheduleFailed("unknown".into())
        );
        // Hostile: a reason that is no label token, details of the wrong shape.
        assert_eq!(
            event(
                "gs.down.schedule.fail",
                r#"{"name":"x","details":[{"path_errors":[{"name":"a\nb\"c"}]}]}"#
            ),
            Kind::ScheduleFailed(label_token("a\nb\"c"))
        );
        assert_eq!(
            event("gs.down.schedule.fail", r#"{"name":"x","details":7}"#),
            Kind::ScheduleFailed("unknown".into())
        );
    }

    #[test]
    fn tx_drop_connect() {
        assert_eq!(event("gs.down.tx.success", "{}"), Kind::Tx(0));
        assert_eq!(event("gs.down.tx.fail", r#""TOO_LATE""#), Kind::Tx(1));
        assert_eq!(
            event("gs.down.tx.fail", r#"{"value":"GPS_UNLOCKED"}"#),
            Kind::Tx(7)
        );
        assert_eq!(
            event("gs.down.tx.fail", r#"{"result":"TX_POWER"}"#),
            Kind::Tx(6)
        );
        assert_eq!(
            event("gs.down.tx.fail", r#"{"result":"NEW_THING"}"#),
            Kind::Tx(9)
        );
        assert_eq!(event("gs.down.tx.fail", "null"), Kind::Tx(9));
        // The server's shape: the enum number in a google.protobuf.Value.
        for (n, label) in [
            (1, "unknown_error"),
            (2, "too_late"),
            (3, "too_early"),
            (4, "collision_packet"),
            (5, "collision_beacon"),
            (6, "tx_freq"),
            (7, "tx_power"),
            (8, "gps_unlocked"),
            (0, "unknown"),
            (42, "unknown"),
        ] {
            let data =
                format!(r#"{{"@type":"type.googleapis.com/google.protobuf.Value","value":{n}}}"#);
            match event("gs.down.tx.fail", &data) {
                Kind::Tx(i) => assert_eq!(TX_RESULTS[i], label, "value {n}"),
                k => panic!("value {n}: {k:?}"),
            }
        }
        assert_eq!(
            event(
                "gs.up.receive",
                r#"{"message":{"crc_status":false,"rx_metadata":[{"rssi":-50}]}}"#
            ),
            Kind::UplinkCrcFailed
        );
        let fixture = include_str!("../../tests/fixtures/tts/events/gs.down.tx.fail.json");
        match line(compact(fixture).as_bytes()) {
            Line::Event(ev) => assert_eq!(ev.kind, Kind::Tx(1), "TOO_LATE"),
            _ => panic!("fixture not an event"),
        }
        let start = include_str!("../../tests/fixtures/tts/events/events.stream.start.json");
        assert!(matches!(line(compact(start).as_bytes()), Line::StreamStart));
        assert_eq!(
            event(
                "gs.up.drop",
                r#"{"namespace":"pkg/gs","name":"Duty Cycle!\n"}"#
            ),
            Kind::UplinkDropped("duty_cycle__".into())
        );
        assert_eq!(event("gs.gateway.connect", "{}"), Kind::Connect);
        assert_eq!(
            event("gs.gateway.disconnect", "{}"),
            Kind::Disconnect("unknown".into())
        );
        assert_eq!(
            event(
                "gs.gateway.disconnect",
                r#"{"@type":"type.googleapis.com/ttn.lorawan.v3.ErrorDetails","namespace":"pkg/errors","name":"context_canceled","code":1}"#
            ),
            Kind::Disconnect("context_canceled".into())
        );
        assert_eq!(event("gs.something.new", "{}"), Kind::Other);
    }

    #[test]
    fn uplink_zero_fields_and_fsk() {
        let Kind::Uplink(up) = event(
            "gs.up.receive",
            r#"{"message":{"settings":{"data_rate":{"lora":{"spreading_factor":12,"bandwidth":125000}}},"rx_metadata":[{"gateway_ids":{"gateway_id":"gw"},"channel_rssi":-120}]}}"#,
        ) else {
            panic!()
        };
        assert_eq!(up.rssi, Some(-120.0));
        assert_eq!(up.snr, Some(0.0));
        assert_eq!(up.modulation, Modulation::Lora(12));
        assert_eq!(up.airtime, None, "no payload, no airtime");
        let Kind::Uplink(up) = event(
            "gs.up.receive",
            r#"{"message":{"raw_payload":"AAAA","settings":{"data_rate":{"fsk":{"bit_rate":50000}}},"rx_metadata":[{"rssi":-90}]}}"#,
        ) else {
            panic!()
        };
        assert_eq!(
            (up.rssi, up.snr, up.modulation),
            (Some(-90.0), None, Modulation::Fsk)
        );
        assert!(up.airtime.is_some());
        let Kind::Uplink(up) = event("gs.up.receive", "null") else {
            panic!()
        };
        assert_eq!(
            (up.rssi, up.snr, up.modulation),
            (None, None, Modulation::Unknown)
        );
    }
}
