//! `POST /api/v3/events`: a never-ending newline-delimited JSON stream of
//! scripted events ([`FakeEvent`]), resumable with `after` (inclusive, so the
//! last event before a reconnect is sent again, as a client must expect).

use std::sync::Mutex;

use hyper::body::Bytes;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use crate::synthetic::civil_from_days;
use crate::SYNTHETIC_EPOCH;

/// One scripted line of the events stream.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeEvent {
    /// The gateway it is about; streams not subscribed to it skip it. `None`:
    /// every stream gets it.
    pub gateway: Option<String>,
    /// Event time, Unix nanoseconds; a resumed stream sends events with
    /// `time >= after`. `None`: always sent.
    pub time: Option<i128>,
    /// The line as sent (without the newline).
    pub line: String,
    /// Sent to one stream only, then never again (error lines, garbage).
    pub once: bool,
    /// Visible only with "Read gateway traffic" (RIGHT_GATEWAY_TRAFFIC_READ):
    /// a stream of a key without that right leaves it out, as the real
    /// server filters events by their visibility.
    pub traffic: bool,
}

/// The rights an event of `name` is visible with (lorawan-stack
/// pkg/gatewayserver/observability.go): connect, disconnect and connection
/// stats with LINK or STATUS_READ, status events with STATUS_READ, the rest
/// (uplinks, downlinks, TX acknowledgments) with TRAFFIC_READ only.
pub fn visibility(name: &str) -> &'static [&'static str] {
    match name {
        "gs.gateway.connect" | "gs.gateway.disconnect" | "gs.gateway.connection.stats" => {
            &["RIGHT_GATEWAY_LINK", "RIGHT_GATEWAY_STATUS_READ"]
        }
        "gs.status.receive" | "gs.status.drop" | "gs.txack.drop" => &["RIGHT_GATEWAY_STATUS_READ"],
        _ => &["RIGHT_GATEWAY_TRAFFIC_READ"],
    }
}

/// RFC 3339 with 9 fractional digits of Unix nanoseconds.
pub fn rfc3339_nanos(t: i128) -> String {
    let secs = t.div_euclid(1_000_000_000) as i64;
    let nanos = t.rem_euclid(1_000_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|+00:00)` to Unix nanoseconds.
pub fn parse_rfc3339(s: &str) -> Option<i128> {
    let s = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
    let mut nanos: i128 = 0;
    for (i, c) in frac.chars().take(9).enumerate() {
        nanos += i128::from(c.to_digit(10)?) * 10i128.pow(8 - i as u32);
    }
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// What a subscription asked for: gateway IDs, event names, `after`.
pub(crate) type Subscription = (Vec<String>, Vec<String>, Option<i128>);

/// The `TxAcknowledgment.Result` enum (`messages.proto`) by name.
pub fn tx_result_number(name: &str) -> u32 {
    const NAMES: [&str; 9] = [
        "SUCCESS",
        "UNKNOWN_ERROR",
        "TOO_LATE",
        "TOO_EARLY",
        "COLLISION_PACKET",
        "COLLISION_BEACON",
        "TX_FREQ",
        "TX_POWER",
        "GPS_UNLOCKED",
    ];
    NAMES
        .iter()
        .position(|n| *n == name)
        .map_or(99, |i| i as u32)
}

/// The line every stream of the real server begins with:
/// `events.stream.start`, its data the subscribed names, its identifiers
/// those of the request (`pkg/events/grpc`). Not a gateway event.
pub fn stream_start_line(ids: &[String], names: &[String], time: i128) -> String {
    json!({"result": {
        "name": "events.stream.start",
        "time": rfc3339_nanos(time),
        "identifiers": ids.iter().map(|g| json!({"gateway_ids": {"gateway_id": g}})).collect::<Vec<_>>(),
        "data": {"@type": "type.googleapis.com/google.protobuf.Value", "value": names},
        "unique_id": format!("fake-stream-start-{time}"),
    }})
    .to_string()
}

fn event(name: &str, gw: &str, unique_id: &str, time: i128, data: Value) -> FakeEvent {
    let line = json!({"result": {
        "name": name,
        "time": rfc3339_nanos(time),
        "identifiers": [{"gateway_ids": {"gateway_id": gw, "eui": "0000000000000000"}}],
        "data": data,
        "correlation_ids": ["fake:1"],
        "origin": "fake-tts",
        "context": {"tenant-id": "CgN0dG4="},
        "visibility": {"rights": visibility(name)},
        "unique_id": unique_id,
        "future_field": {"nested": [1, 2, 3]},
    }});
    FakeEvent {
        gateway: Some(gw.to_owned()),
        time: Some(time),
        line: line.to_string(),
        once: false,
        traffic: visibility(name) == ["RIGHT_GATEWAY_TRAFFIC_READ"],
    }
}

impl FakeEvent {
    /// A `gs.up.receive` shaped like the recorded one: `payload_len` bytes
    /// of raw payload at LoRa `sf`, 125 kHz, CR 4/5, with `rssi` and `snr`
    /// (`snr` 0 is omitted, as proto3 does).
    pub fn uplink(
        gw: &str,
        unique_id: &str,
        time: i128,
        rssi: f64,
        snr: f64,
        sf: u32,
        payload_len: usize,
    ) -> FakeEvent {
        let raw = base64_zeros(payload_len);
        let mut meta = json!({
            "gateway_ids": {"gateway_id": gw},
            "time": rfc3339_nanos(time),
            "rssi": rssi, "channel_rssi": rssi,
            "location": {"latitude": 52.0, "longitude": 4.0, "source": "SOURCE_REGISTRY"},
            "uplink_token": "AAAA",
            "received_at": rfc3339_nanos(time),
        });
        if snr != 0.0 {
            meta["snr"] = json!(snr);
        }
        event(
            "gs.up.receive",
            gw,
            unique_id,
            time,
            json!({
                "@type": "type.googleapis.com/ttn.lorawan.v3.GatewayUplinkMessage",
                "message": {
                    "raw_payload": raw,
                    "settings": {
                        "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": sf, "coding_rate": "4/5"}},
                        "frequency": "868100000",
                        "timestamp": 131535476,
                    },
                    "rx_metadata": [meta],
                    "received_at": rfc3339_nanos(time),
                    "correlation_ids": ["gs:uplink:FAKE"],
                },
                "band_id": "EU_863_870",
            }),
        )
    }

    /// `gs.up.receive` of a frame that failed its CRC: the server publishes
    /// it before the check, with `crc_status: false`.
    pub fn uplink_crc_failed(gw: &str, unique_id: &str, time: i128) -> FakeEvent {
        event(
            "gs.up.receive",
            gw,
            unique_id,
            time,
            json!({"@type": "type.googleapis.com/ttn.lorawan.v3.GatewayUplinkMessage",
                   "message": {"crc_status": false, "raw_payload": "QAEAAAA=",
                               "rx_metadata": [{"gateway_ids": {"gateway_id": gw},
                                                "rssi": -119, "snr": -18.5}]}}),
        )
    }

    /// `gs.down.tx.success`.
    pub fn tx_success(gw: &str, unique_id: &str, time: i128) -> FakeEvent {
        event("gs.down.tx.success", gw, unique_id, time, json!({}))
    }

    /// `gs.down.tx.fail` as the server publishes it: the TxAcknowledgment
    /// result named by `result` (e.g. `TOO_LATE`) as its enum NUMBER in a
    /// `google.protobuf.Value` (`messages.proto`); a name the enum does not
    /// have becomes a number it does not have yet (99).
    pub fn tx_fail(gw: &str, unique_id: &str, time: i128, result: &str) -> FakeEvent {
        event(
            "gs.down.tx.fail",
            gw,
            unique_id,
            time,
            json!({"@type": "type.googleapis.com/google.protobuf.Value", "value": tx_result_number(result)}),
        )
    }

    /// `gs.up.drop` with error details naming `reason`.
    pub fn up_drop(gw: &str, unique_id: &str, time: i128, reason: &str) -> FakeEvent {
        event(
            "gs.up.drop",
            gw,
            unique_id,
            time,
            json!({"@type": "type.googleapis.com/ttn.lorawan.v3.ErrorDetails",
                   "namespace": "pkg/gatewayserver", "name": reason, "code": 9}),
        )
    }

    /// `gs.gateway.connect`.
    pub fn connect(gw: &str, unique_id: &str, time: i128) -> FakeEvent {
        event("gs.gateway.connect", gw, unique_id, time, json!({}))
    }

    /// `gs.gateway.disconnect` as the server publishes it: the error that
    /// ended the connection as data (`ctx.Err()`, which pkg/errors turns
    /// into `context_canceled`).
    pub fn disconnect(gw: &str, unique_id: &str, time: i128) -> FakeEvent {
        FakeEvent::disconnect_because(gw, unique_id, time, "pkg/errors", "context_canceled")
    }

    /// `gs.gateway.disconnect` with the error `namespace:name`.
    pub fn disconnect_because(
        gw: &str,
        unique_id: &str,
        time: i128,
        namespace: &str,
        name: &str,
    ) -> FakeEvent {
        event(
            "gs.gateway.disconnect",
            gw,
            unique_id,
            time,
            json!({"@type": "type.googleapis.com/ttn.lorawan.v3.ErrorDetails",
                   "namespace": namespace, "name": name, "message_format": name.replace('_', " "),
                   "correlation_id": "fake-disconnect", "code": 1}),
        )
    }

    /// `gs.down.schedule.fail` as the server publishes a class A failure
    /// (pkg/gatewayserver/io `ScheduleDown`): `tx_schedule` with a
    /// `ScheduleDownlinkErrorDetails` whose `path_errors` are one
    /// `rx_window_schedule` per Rx window, each caused by the scheduler's
    /// error (`duty_cycle`, `too_late`, `conflict`, `no_clock_sync`,
    /// `dwell_time`, ...): `rx1` and `rx2` name those causes.
    pub fn schedule_fail(gw: &str, unique_id: &str, time: i128, rx1: &str, rx2: &str) -> FakeEvent {
        let window = |i: u32, cause: &str| {
            json!({"namespace": "pkg/gatewayserver/io", "name": "rx_window_schedule",
                   "message_format": "schedule in Rx window `{window}` failed",
                   "attributes": {"window": i}, "code": 2,
                   "cause": {"namespace": "pkg/gatewayserver/scheduling", "name": cause,
                             "message_format": cause.replace('_', " "), "code": 8}})
        };
        event(
            "gs.down.schedule.fail",
            gw,
            unique_id,
            time,
            json!({"@type": "type.googleapis.com/ttn.lorawan.v3.ErrorDetails",
                   "namespace": "pkg/gatewayserver/io", "name": "tx_schedule",
                   "message_format": "schedule", "correlation_id": "fake-schedule", "code": 10,
                   "details": [{"@type": "type.googleapis.com/ttn.lorawan.v3.ScheduleDownlinkErrorDetails",
                                "path_errors": [window(1, rx1), window(2, rx2)]}]}),
        )
    }

    /// `gs.down.schedule.fail` with a top-level error and no Rx windows
    /// (e.g. `not_allowed`, `too_long`, `no_uplink_token`).
    pub fn schedule_refused(gw: &str, unique_id: &str, time: i128, name: &str) -> FakeEvent {
        event(
            "gs.down.schedule.fail",
            gw,
            unique_id,
            time,
            json!({"@type": "type.googleapis.com/ttn.lorawan.v3.ErrorDetails",
                   "namespace": "pkg/gatewayserver/io", "name": name, "code": 9}),
        )
    }

    /// An event name the exporter does not use, with unknown fields.
    pub fn unknown(gw: &str, unique_id: &str, time: i128) -> FakeEvent {
        event(
            "gs.something.new",
            gw,
            unique_id,
            time,
            json!({"surprise": [1, {"x": null}]}),
        )
    }

    /// A raw line sent once to whichever stream reaches it first.
    pub fn raw(line: &str) -> FakeEvent {
        FakeEvent {
            gateway: None,
            time: None,
            line: line.to_owned(),
            once: true,
            traffic: false,
        }
    }

    /// `{"error": ...}` in the stream (sent once), with a gRPC `code`
    /// (7 permission denied, 14 unavailable).
    pub fn error_line(code: u32, name: &str) -> FakeEvent {
        let v = json!({"error": {
            "code": code,
            "message": format!("error:pkg/fake:{name} (fake error)"),
            "details": [{"namespace": "pkg/fake", "name": name, "correlation_id": "fake-correlation-id"}],
        }});
        FakeEvent::raw(&v.to_string())
    }

    /// Synthetic uplink `n` of a fleet of `gateways` (`gw-{i:06}` as in
    /// [`crate::FakeGateway::synthetic`]): gateway `n % gateways`, RSSI
    /// `-120 + n % 90`, SNR `-15 + (n % 30) as f64`, SF `7 + n % 6`, 20-byte
    /// payload, time `SYNTHETIC_EPOCH + n ms`, unique id `syn-{n}`.
    pub fn synthetic(n: usize, gateways: usize) -> FakeEvent {
        let gw = format!("gw-{:06}", n % gateways.max(1));
        let t = i128::from(SYNTHETIC_EPOCH) * 1_000_000_000 + n as i128 * 1_000_000;
        FakeEvent::uplink(
            &gw,
            &format!("syn-{n}"),
            t,
            -120.0 + (n % 90) as f64,
            -15.0 + (n % 30) as f64,
            7 + (n % 6) as u32,
            20,
        )
    }
}

fn base64_zeros(n: usize) -> String {
    let mut s = "AAAA".repeat(n / 3);
    match n % 3 {
        1 => s.push_str("AA=="),
        2 => s.push_str("AAA="),
        _ => {}
    }
    s
}

/// One subscription as received.
#[derive(Clone, Debug, PartialEq)]
pub struct EventsRequest {
    /// `identifiers[].gateway_ids.gateway_id`.
    pub gateway_ids: Vec<String>,
    /// `names`.
    pub names: Vec<String>,
    /// `after`, as sent.
    pub after: Option<String>,
}

#[derive(Debug, Default)]
struct Log {
    items: Vec<(FakeEvent, bool)>,
    close_after: Option<usize>,
    close_always: Option<usize>,
    requests: Vec<EventsRequest>,
    no_traffic_keys: Vec<String>,
}

/// The scripted events and the streams' wake-up signal.
#[derive(Debug)]
pub(crate) struct Hub {
    log: Mutex<Log>,
    /// Bumped on every push (wake streams) and close (`.1`).
    signal: watch::Sender<(u64, u64)>,
}

impl Hub {
    pub(crate) fn new() -> Hub {
        Hub {
            log: Mutex::new(Log::default()),
            signal: watch::channel((0, 0)).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn push(&self, events: Vec<FakeEvent>) {
        self.lock()
            .items
            .extend(events.into_iter().map(|e| (e, false)));
        self.signal.send_modify(|s| s.0 += 1);
    }

    pub(crate) fn close_all(&self) {
        self.signal.send_modify(|s| s.1 += 1);
    }

    pub(crate) fn close_always(&self, n: Option<usize>) {
        self.lock().close_always = n;
    }

    pub(crate) fn close_after(&self, n: Option<usize>) {
        self.lock().close_after = n;
    }

    pub(crate) fn requests(&self) -> Vec<EventsRequest> {
        self.lock().requests.clone()
    }

    pub(crate) fn set_no_traffic_key(&self, key: &str) {
        self.lock().no_traffic_keys.push(key.to_owned());
    }

    pub(crate) fn lacks_traffic(&self, key: &str) -> bool {
        self.lock().no_traffic_keys.iter().any(|k| k == key)
    }

    /// Parses and records a subscription: its gateway IDs and `after`.
    pub(crate) fn record(&self, body: &[u8]) -> Result<Subscription, String> {
        let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let ids: Vec<String> = v
            .get("identifiers")
            .and_then(Value::as_array)
            .ok_or("identifiers must be an array")?
            .iter()
            .filter_map(|i| {
                i.pointer("/gateway_ids/gateway_id")?
                    .as_str()
                    .map(str::to_owned)
            })
            .collect();
        let names: Vec<String> = v
            .get("names")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let after_s = v.get("after").and_then(Value::as_str).map(str::to_owned);
        let after = match &after_s {
            Some(s) => Some(parse_rfc3339(s).ok_or("after is not an RFC 3339 time")?),
            None => None,
        };
        self.lock().requests.push(EventsRequest {
            gateway_ids: ids.clone(),
            names: names.clone(),
            after: after_s,
        });
        Ok((ids, names, after))
    }

    /// Records the request and streams; `Err` is a 400 message. Without
    /// `traffic` (the key lacks "Read gateway traffic") the stream is
    /// accepted all the same and the traffic events are left out.
    pub(crate) fn subscribe(
        self: &std::sync::Arc<Self>,
        body: &[u8],
        traffic: bool,
    ) -> Result<mpsc::Receiver<Bytes>, String> {
        let (ids, names, after) = self.record(body)?;
        let limit = {
            let mut log = self.lock();
            log.close_after.take().or(log.close_always)
        };
        let (tx, rx) = mpsc::channel(64);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i128);
        let mut start = stream_start_line(&ids, &names, now).into_bytes();
        start.push(b'\n');
        // Always there, before any event (not counted by `close_after`).
        let _ = tx.try_send(Bytes::from(start));
        if limit == Some(0) {
            // Accepted, the start line, then closed at once.
            return Ok(rx);
        }
        let mut signal = self.signal.subscribe();
        let closed_at = signal.borrow_and_update().1;
        let hub = std::sync::Arc::clone(self);
        tokio::spawn(async move {
            let mut cursor = 0;
            let mut sent = 0usize;
            loop {
                let batch = hub.take(&mut cursor, &ids, after, traffic);
                for line in batch {
                    if limit.is_some_and(|l| sent >= l) {
                        return;
                    }
                    if tx.send(line).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                if signal.changed().await.is_err() || signal.borrow_and_update().1 != closed_at {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// The lines from `cursor` on that this stream gets; advances `cursor`.
    fn take(
        &self,
        cursor: &mut usize,
        ids: &[String],
        after: Option<i128>,
        traffic: bool,
    ) -> Vec<Bytes> {
        let mut log = self.lock();
        let start = (*cursor).min(log.items.len());
        let mut out = Vec::new();
        for (ev, used) in &mut log.items[start..] {
            if ev.gateway.as_ref().is_some_and(|g| !ids.contains(g)) || (ev.traffic && !traffic) {
                continue;
            }
            if let (Some(t), Some(a)) = (ev.time, after) {
                if t < a {
                    continue;
                }
            }
            if ev.once {
                if *used {
                    continue;
                }
                *used = true;
            }
            let mut line = ev.line.clone().into_bytes();
            line.push(b'\n');
            out.push(Bytes::from(line));
        }
        *cursor = log.items.len();
        out
    }
}
