//! The unauthenticated control API under `/_fake/` (see `FakeTts::enable_control_api`).

use std::time::Duration;

use hyper::Method;
use serde_json::json;

use crate::query::{parse_query, query_all, query_one};
use crate::server::Reply;
use crate::state::Shared;
use crate::{synthetic_fleet, Fault, Route};

/// Largest fleet `POST /_fake/gateways?n=N` accepts.
const MAX_FLEET: usize = 1_000_000;

fn ok() -> Reply {
    Reply::json(200, r#"{"ok":true}"#)
}

fn bad(msg: impl Into<String>) -> Reply {
    Reply::json(400, json!({ "error": msg.into() }).to_string())
}

pub(crate) fn handle(shared: &Shared, method: &Method, path: &str, query: Option<&str>) -> Reply {
    let q = parse_query(query);
    let wanted = match path {
        "/_fake/counts" => Method::GET,
        "/_fake/fault" | "/_fake/keys" | "/_fake/gateway_key" | "/_fake/gateways"
        | "/_fake/reset" | "/_fake/events" => Method::POST,
        _ => {
            return Reply::json(
                404,
                json!({ "error": format!("unknown control path {path}") }).to_string(),
            )
        }
    };
    if *method != wanted {
        return Reply::json(
            405,
            json!({ "error": format!("use {wanted} {path}") }).to_string(),
        );
    }
    match path {
        "/_fake/counts" => counts(shared),
        "/_fake/events" => events(shared, &q),
        "/_fake/fault" => fault(shared, &q),
        "/_fake/keys" => {
            let keys: Vec<&str> = query_all(&q, "key").collect();
            shared.set_keys(&keys);
            ok()
        }
        "/_fake/gateway_key" => match query_one(&q, "key") {
            Some(key) if !key.is_empty() => {
                let ids: Vec<&str> = query_all(&q, "id").collect();
                shared.set_gateway_key(key, &ids);
                ok()
            }
            _ => bad("missing key"),
        },
        "/_fake/gateways" => match query_one(&q, "n").map(str::parse::<usize>) {
            Some(Ok(n)) if n <= MAX_FLEET => {
                let fleet = synthetic_fleet(n);
                shared.lock().set_gateways(fleet);
                ok()
            }
            _ => bad(format!("n must be an integer in 0..={MAX_FLEET}")),
        },
        _ => {
            shared.reset_counts();
            ok()
        }
    }
}

/// Largest number of events one control call pushes.
const MAX_PUSH: usize = 1_000_000;

/// `POST /_fake/events?kind=...`: `synthetic` (`n`, `gateways`),
/// `uplink` (`gateway`, `n`, `rssi`, `snr`, `sf`, `start` ms), `close`,
/// `close_after` (`n`), `error` (`code`), `blank`, `garbage`.
fn events(shared: &Shared, q: &[(String, String)]) -> Reply {
    use crate::FakeEvent;
    let hub = &shared.events;
    let n = match num(q, "n", 1usize) {
        Ok(n) if n <= MAX_PUSH => n,
        Ok(_) => return bad(format!("n must be at most {MAX_PUSH}")),
        Err(r) => return r,
    };
    match query_one(q, "kind") {
        Some("synthetic") => {
            let g = match num(q, "gateways", 4usize) {
                Ok(g) => g,
                Err(r) => return r,
            };
            hub.push((0..n).map(|i| FakeEvent::synthetic(i, g)).collect());
        }
        Some("uplink") => {
            let gw = query_one(q, "gateway").unwrap_or("gw-000000");
            let (rssi, snr, sf, start) = match (
                num(q, "rssi", -100.0f64),
                num(q, "snr", 5.0f64),
                num(q, "sf", 7u32),
                num(q, "start", 0i64),
            ) {
                (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
                _ => return bad("rssi, snr, sf and start must be numbers"),
            };
            let t0 = i128::from(crate::SYNTHETIC_EPOCH) * 1_000_000_000;
            hub.push(
                (0..n)
                    .map(|i| {
                        let ms = i128::from(start) + i as i128;
                        FakeEvent::uplink(
                            gw,
                            &format!("up-{gw}-{ms}"),
                            t0 + ms * 1_000_000,
                            rssi,
                            snr,
                            sf,
                            20,
                        )
                    })
                    .collect(),
            );
        }
        Some("close") => hub.close_all(),
        Some("close_after") => hub.close_after(Some(n)),
        Some("error") => match num(q, "code", 14u32) {
            Ok(code) => hub.push(vec![FakeEvent::error_line(code, "fake_error")]),
            Err(r) => return r,
        },
        Some("blank") => hub.push(vec![FakeEvent::raw("")]),
        Some("garbage") => hub.push(vec![FakeEvent::raw("{\"result\": not json")]),
        other => {
            return bad(format!(
                "kind must be synthetic|uplink|close|close_after|error|blank|garbage, got {other:?}"
            ))
        }
    }
    ok()
}

fn counts(shared: &Shared) -> Reply {
    let body = json!({
        "list": shared.requests(Route::ListGateways),
        "get": shared.requests(Route::GetGateway),
        "batch": shared.requests(Route::BatchStats),
        "single": shared.requests(Route::GatewayStats),
        "auth": shared.requests(Route::AuthInfo),
        "total": shared.total_requests(),
        "seen_tokens": shared.seen_tokens(),
        "batch_sizes": shared.batch_sizes(),
        "events": shared.events.requests().len(),
    });
    Reply::json(200, body.to_string())
}

/// A numeric parameter with a default; `Err` names the bad parameter.
fn num<T: std::str::FromStr>(q: &[(String, String)], name: &str, default: T) -> Result<T, Reply> {
    match query_one(q, name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| bad(format!("{name} must be a number, got {v:?}"))),
    }
}

fn fault(shared: &Shared, q: &[(String, String)]) -> Reply {
    let routes: Vec<Route> = match query_one(q, "route") {
        Some("list") => vec![Route::ListGateways],
        Some("get") => vec![Route::GetGateway],
        Some("batch") => vec![Route::BatchStats],
        Some("single") => vec![Route::GatewayStats],
        Some("auth") => vec![Route::AuthInfo],
        Some("all") => Route::ALL.to_vec(),
        other => {
            return bad(format!(
                "route must be list|get|batch|single|auth|all, got {other:?}"
            ))
        }
    };
    let parsed = match query_one(q, "kind") {
        Some("status") => num(q, "code", 503u16).map(|c| Some(Fault::status(c))),
        Some("rate_limited") => {
            num(q, "retry", 1u64).map(|retry_secs| Some(Fault::RateLimited { retry_secs }))
        }
        Some("delay") => {
            num(q, "ms", 1000u64).map(|ms| Some(Fault::Delay(Duration::from_millis(ms))))
        }
        Some("hang") => Ok(Some(Fault::Hang)),
        Some("malformed") => Ok(Some(Fault::Malformed)),
        Some("truncated") => Ok(Some(Fault::Truncated)),
        Some("huge") => num(q, "bytes", 10usize << 20).map(|bytes| Some(Fault::Huge { bytes })),
        Some("repeat_page") => Ok(Some(Fault::RepeatPage)),
        Some("close") => Ok(Some(Fault::CloseConnection)),
        Some("clear") => Ok(None),
        other => {
            return bad(format!(
                "kind must be status|rate_limited|delay|hang|malformed|truncated|huge|\
                 repeat_page|close|clear, got {other:?}"
            ))
        }
    };
    let fault = match parsed {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let times = match query_one(q, "times").map(str::parse::<usize>) {
        None => None,
        Some(Ok(t)) => Some(t),
        Some(Err(_)) => return bad("times must be a number"),
    };
    for route in routes {
        shared.set_fault(route, fault.clone(), times);
    }
    ok()
}
