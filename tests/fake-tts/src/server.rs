//! The HTTP server: accept loop, request routing, TTS route handlers and faults.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderName, HeaderValue, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Map, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::body::FakeBody;
use crate::errors;
use crate::{
    control, FakeGateway, Fault, Route, Shared, State, FAKE_USER_ID, GATEWAY_CREATED_AT,
    GATEWAY_UPDATED_AT,
};

/// Largest request body read (the batch route's).
const MAX_BODY: usize = 1024 * 1024;

/// Body of [`Fault::Malformed`].
const MALFORMED: &str =
    r#"{"gateways":[{"ids":{"gateway_id":"malformed"}},]"entries": <oops> not json"#;

/// Accepts connections until `stop` changes, one task per connection; then aborts them all.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    conns.spawn(serve_conn(stream, Arc::clone(&shared)));
                }
                // e.g. too many open files: back off instead of spinning
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
        }
    }
    drop(listener);
    conns.shutdown().await;
}

async fn serve_conn(stream: TcpStream, shared: Arc<Shared>) {
    let svc = service_fn(move |req| handle(Arc::clone(&shared), req));
    let _ = http1::Builder::new()
        .title_case_headers(true)
        .serve_connection(TokioIo::new(stream), svc)
        .await;
}

/// Returned by the service to make hyper drop the connection without answering.
#[derive(Debug)]
pub(crate) struct CloseConnection;

impl fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("fault: close the connection without answering")
    }
}

impl std::error::Error for CloseConnection {}

/// A whole JSON answer.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(status: u16, body: impl Into<Bytes>) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl ToString) -> Self {
        self.headers.push((name.to_owned(), value.to_string()));
        self
    }

    pub(crate) fn into_response(self) -> Response<FakeBody> {
        let Reply {
            status,
            headers,
            body,
        } = self;
        respond(status, &headers, FakeBody::full(body))
    }
}

/// A response with `Content-Type: application/json` and `headers` (invalid ones skipped).
fn respond(status: u16, headers: &[(String, String)], body: FakeBody) -> Response<FakeBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            h.insert(k, v);
        }
    }
    resp
}

/// Which gateways a list route covers.
enum Scope {
    All,
    User(String),
    Org(String),
}

/// A classified request.
enum Target {
    List(Scope),
    Batch,
    Single(String),
    Auth,
    Events,
    Unknown(String),
}

impl Target {
    fn route(&self) -> Option<Route> {
        match self {
            Target::List(_) => Some(Route::ListGateways),
            Target::Batch => Some(Route::BatchStats),
            Target::Single(_) => Some(Route::GatewayStats),
            Target::Auth => Some(Route::AuthInfo),
            Target::Events | Target::Unknown(_) => None,
        }
    }
}

fn classify(method: &Method, path: &str) -> Target {
    let unknown = || Target::Unknown(format!("{method} {path}"));
    let Some(rest) = path.strip_prefix("/api/v3/") else {
        return unknown();
    };
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    if segs.iter().any(|s| s.is_empty()) {
        return unknown();
    }
    match (method, segs.as_slice()) {
        (&Method::GET, ["gateways"]) => Target::List(Scope::All),
        (&Method::GET, ["users", id, "gateways"]) => Target::List(Scope::User((*id).to_owned())),
        (&Method::GET, ["organizations", id, "gateways"]) => {
            Target::List(Scope::Org((*id).to_owned()))
        }
        (&Method::POST, ["gs", "gateways", "connection", "stats"]) => Target::Batch,
        (&Method::GET, ["gs", "gateways", id, "connection", "stats"]) => {
            Target::Single((*id).to_owned())
        }
        (&Method::GET, ["auth_info"]) => Target::Auth,
        (&Method::POST, ["events"]) => Target::Events,
        _ => unknown(),
    }
}

/// The bearer token of a request, if any.
fn bearer(req: &Request<Incoming>) -> Option<String> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

/// A parsed batch request body.
struct BatchRequest {
    ids: Vec<String>,
    /// `field_mask.paths` (also accepted as a comma-separated string).
    paths: Option<Vec<String>>,
}

fn parse_batch(body: &[u8]) -> Result<BatchRequest, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let obj = v.as_object().ok_or("body is not a JSON object")?;
    let ids = match obj.get("gateway_ids") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.get("gateway_id")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .ok_or_else(|| "gateway_ids[] without gateway_id".to_owned())
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("gateway_ids is not an array".into()),
    };
    let paths = match obj.get("field_mask") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(split_mask(s)),
        Some(Value::Object(m)) => match m.get("paths") {
            None | Some(Value::Null) => None,
            Some(Value::Array(p)) => Some(
                p.iter()
                    .map(|x| x.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("field_mask.paths must be strings")?,
            ),
            Some(_) => return Err("field_mask.paths is not an array".into()),
        },
        Some(_) => return Err("field_mask is neither an object nor a string".into()),
    };
    Ok(BatchRequest { ids, paths })
}

fn split_mask(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<FakeBody>, CloseConnection> {
    let path = req.uri().path().to_owned();
    if path.starts_with("/_fake/") && shared.lock().control_api {
        let reply = control::handle(&shared, req.method(), &path, req.uri().query());
        return Ok(reply.into_response());
    }
    let query = parse_query(req.uri().query());
    let target = classify(req.method(), &path);
    if matches!(target, Target::Events) {
        return Ok(events(&shared, req).await);
    }
    let route = target.route();
    let token = bearer(&req);
    let mut batch = None;
    if matches!(target, Target::Batch) {
        let body = Limited::new(req.into_body(), MAX_BODY).collect().await;
        batch = Some(match body {
            Ok(collected) => parse_batch(&collected.to_bytes()),
            Err(e) => Err(format!("reading the body: {e}")),
        });
    }
    let batch_size = batch
        .as_ref()
        .and_then(|b| b.as_ref().ok())
        .map(|b| b.ids.len());
    let fault = shared.record(route, token.as_deref(), batch_size);
    let mut repeat_page = false;
    match fault {
        None => {}
        Some(Fault::Status {
            code,
            body,
            headers,
        }) => {
            let body = if body.is_empty() {
                errors::default_body(code)
            } else {
                body
            };
            return Ok(respond(code, &headers, FakeBody::full(body)));
        }
        Some(Fault::RateLimited { retry_secs }) => {
            return Ok(Reply::json(429, errors::rate_limited())
                .header("X-Rate-Limit-Limit", 10)
                .header("X-Rate-Limit-Available", 0)
                .header("X-Rate-Limit-Reset", retry_secs)
                .header("X-Rate-Limit-Retry", retry_secs)
                .into_response());
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::Hang) => std::future::pending::<()>().await,
        Some(Fault::Malformed) => return Ok(Reply::json(200, MALFORMED).into_response()),
        Some(Fault::Truncated) => {
            let normal = answer(&shared, &target, &query, token.as_deref(), batch, false);
            let full = normal.body;
            let mut headers = normal.headers;
            headers.push((CONTENT_LENGTH.to_string(), full.len().to_string()));
            let half = full.slice(..full.len() / 2);
            return Ok(respond(200, &headers, FakeBody::truncated(half)));
        }
        Some(Fault::Huge { bytes }) => {
            let prefix: &'static [u8] = match route {
                Some(Route::ListGateways) => {
                    br#"{"gateways":[{"ids":{"gateway_id":"huge"},"future_field":["#
                }
                Some(Route::BatchStats) => br#"{"entries":{"huge":{"future_field":["#,
                _ => br#"{"future_field":["#,
            };
            return Ok(respond(200, &[], FakeBody::huge(prefix, bytes)));
        }
        Some(Fault::RepeatPage) => repeat_page = true,
        Some(Fault::CloseConnection) => return Err(CloseConnection),
    }
    Ok(answer(
        &shared,
        &target,
        &query,
        token.as_deref(),
        batch,
        repeat_page,
    )
    .into_response())
}

/// `POST /api/v3/events`: 401 without a known key, 403 for a key without the
/// traffic right, else a never-ending stream of the scripted events.
async fn events(shared: &Arc<Shared>, req: Request<Incoming>) -> Response<FakeBody> {
    let token = bearer(&req);
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return Reply::json(400, errors::validation("body", &e.to_string())).into_response()
        }
    };
    let known = {
        let st = shared.lock();
        token.as_deref().is_some_and(|t| {
            st.keys.iter().any(|k| k == t) || st.gateway_keys.iter().any(|(k, _)| k == t)
        })
    };
    if !known {
        return Reply::json(401, errors::api_key_not_found()).into_response();
    }
    if token
        .as_deref()
        .is_some_and(|t| shared.events.lacks_traffic(t))
    {
        let _ = shared.events.record(&body);
        return Reply::json(
            403,
            errors::error_body(
                403,
                "pkg/auth/rights",
                "no_gateway_rights",
                "no rights for gateway `{uid}`: RIGHT_GATEWAY_TRAFFIC_READ",
                &[("uid", "fake")],
            ),
        )
        .into_response();
    }
    match shared.events.subscribe(&body) {
        Ok(rx) => {
            let mut resp = respond(200, &[], FakeBody::Channel(rx));
            resp.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            resp
        }
        Err(e) => Reply::json(400, errors::validation("body", &e)).into_response(),
    }
}

/// Who a valid token belongs to.
enum Principal {
    /// A user or organization key with all rights; holds the key's id.
    User(String),
    /// A gateway-scoped key and its gateway ids.
    Gateway(Vec<String>),
}

/// The id part of `NNSXS.<id>.<secret>`, or `FAKE`; never the secret.
fn key_id(token: &str) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    match parts.as_slice() {
        ["NNSXS", id, _secret] if !id.is_empty() => (*id).to_owned(),
        _ => "FAKE".to_owned(),
    }
}

/// The normal answer to a request (no faults).
fn answer(
    shared: &Shared,
    target: &Target,
    query: &[(String, String)],
    token: Option<&str>,
    batch: Option<Result<BatchRequest, String>>,
    repeat_page: bool,
) -> Reply {
    if let Target::Unknown(what) = target {
        return Reply::json(
            404,
            errors::error_body(
                404,
                "pkg/fake-tts",
                "route_not_found",
                "route `{route}` not found",
                &[("route", what)],
            ),
        );
    }
    let st = shared.lock();
    let principal = match token {
        Some(t) if st.keys.iter().any(|k| k == t) => Principal::User(key_id(t)),
        Some(t) => match st.gateway_keys.iter().find(|(k, _)| k == t) {
            Some((_, ids)) => Principal::Gateway(ids.clone()),
            None => return Reply::json(401, errors::api_key_not_found()),
        },
        None => return Reply::json(401, errors::api_key_not_found()),
    };
    match target {
        Target::List(scope) => list(&st, scope, query, &principal, repeat_page),
        Target::Batch => match batch {
            Some(req) => batch_stats(&st, req, &principal),
            None => batch_stats(&st, Err("no body".into()), &principal),
        },
        Target::Single(id) => single_stats(&st, id, &principal),
        Target::Auth => auth_info(
            &principal,
            !token.is_some_and(|t| shared.events.lacks_traffic(t)),
        ),
        Target::Events | Target::Unknown(_) => Reply::json(404, errors::default_body(404)),
    }
}

fn find<'a>(st: &'a State, id: &str) -> Option<&'a FakeGateway> {
    st.gateways
        .binary_search_by(|g| g.id.as_str().cmp(id))
        .ok()
        .and_then(|i| st.gateways.get(i))
}

/// Parses a non-negative integer query parameter; absent or 0 means `default`.
fn uint_param(query: &[(String, String)], name: &str, default: u64) -> Result<u64, Reply> {
    match query_one(query, name) {
        None | Some("") => Ok(default),
        Some(v) => match v.parse::<u64>() {
            Ok(0) => Ok(default),
            Ok(n) => Ok(n),
            Err(_) => Err(Reply::json(
                400,
                errors::validation(name, "value must be an unsigned integer"),
            )),
        },
    }
}

fn list(
    st: &State,
    scope: &Scope,
    query: &[(String, String)],
    principal: &Principal,
    repeat_page: bool,
) -> Reply {
    let limit = match uint_param(query, "limit", 100) {
        Ok(l) if l > 1000 => {
            return Reply::json(
                400,
                errors::validation("limit", "value must be less than or equal to 1000"),
            )
        }
        Ok(l) => l,
        Err(r) => return r,
    };
    let page = match uint_param(query, "page", 1) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mask: Vec<String> = query_all(query, "field_mask")
        .chain(query_all(query, "field_mask.paths"))
        .flat_map(split_mask)
        .collect();
    if let Principal::Gateway(_) = principal {
        return Reply::json(200, "{}").header("X-Total-Count", 0);
    }
    let selected: Vec<&FakeGateway> = st
        .gateways
        .iter()
        .filter(|g| match scope {
            Scope::All => true,
            Scope::User(u) => g.owner_user.as_deref() == Some(u.as_str()),
            Scope::Org(o) => g.owner_org.as_deref() == Some(o.as_str()),
        })
        .collect();
    let total = selected.len();
    let page = if repeat_page { 1 } else { page };
    let start = (page - 1)
        .checked_mul(limit)
        .and_then(|s| usize::try_from(s).ok())
        .unwrap_or(usize::MAX);
    if start >= total {
        return Reply::json(200, "{}").header("X-Total-Count", total);
    }
    let end = total.min(start.saturating_add(limit as usize));
    let items: Vec<Value> = selected[start..end]
        .iter()
        .map(|g| gateway_json(g, &mask))
        .collect();
    Reply::json(200, json!({ "gateways": items }).to_string()).header("X-Total-Count", total)
}

/// A gateway as the Identity Server lists it, with the masked fields that are not empty.
fn gateway_json(g: &FakeGateway, mask: &[String]) -> Value {
    let mut ids = Map::new();
    ids.insert("gateway_id".into(), g.id.clone().into());
    if let Some(eui) = g.eui.as_ref().filter(|e| !e.is_empty()) {
        ids.insert("eui".into(), eui.clone().into());
    }
    let mut obj = Map::new();
    obj.insert("ids".into(), Value::Object(ids));
    obj.insert("created_at".into(), GATEWAY_CREATED_AT.into());
    obj.insert("updated_at".into(), GATEWAY_UPDATED_AT.into());
    for path in mask {
        match path.as_str() {
            "name" => {
                if let Some(n) = g.name.as_ref().filter(|n| !n.is_empty()) {
                    obj.insert("name".into(), n.clone().into());
                }
            }
            "gateway_server_address" => {
                if let Some(a) = g.gateway_server_address.as_ref().filter(|a| !a.is_empty()) {
                    obj.insert("gateway_server_address".into(), a.clone().into());
                }
            }
            "frequency_plan_ids" if !g.frequency_plan_ids.is_empty() => {
                obj.insert(
                    "frequency_plan_ids".into(),
                    g.frequency_plan_ids.clone().into(),
                );
            }
            "antennas" => {
                if let Some(a) = g.antennas.as_ref() {
                    obj.insert("antennas".into(), a.clone());
                }
            }
            "version_ids" => {
                if let Some(v) = g.version_ids.as_ref() {
                    obj.insert("version_ids".into(), v.clone());
                }
            }
            // other paths name fields this fake does not model: empty, so omitted
            _ => {}
        }
    }
    Value::Object(obj)
}

fn batch_stats(st: &State, req: Result<BatchRequest, String>, principal: &Principal) -> Reply {
    let req = match req {
        Ok(r) => r,
        Err(reason) => {
            return Reply::json(
                400,
                errors::error_body(
                    400,
                    "pkg/jsonpb",
                    "unmarshal",
                    "could not unmarshal JSON: {reason}",
                    &[("reason", &reason)],
                ),
            )
        }
    };
    if req.ids.is_empty() || req.ids.len() > 100 {
        return Reply::json(
            400,
            errors::validation(
                "gateway_ids",
                "value must contain between 1 and 100 items, inclusive",
            ),
        );
    }
    if let Principal::Gateway(_) = principal {
        return Reply::json(403, errors::no_gateway_rights(&req.ids[0]));
    }
    // the real server fails the whole batch when any gateway lacks rights
    if let Some(unknown) = req.ids.iter().find(|id| find(st, id).is_none()) {
        return Reply::json(403, errors::no_gateway_rights(unknown));
    }
    let mut entries = Map::new();
    for id in &req.ids {
        if let Some(stats) = find(st, id).and_then(|g| g.stats.as_ref()) {
            entries.insert(id.clone(), apply_mask(stats, req.paths.as_deref()));
        }
    }
    if entries.is_empty() {
        Reply::json(200, "{}")
    } else {
        Reply::json(200, json!({ "entries": entries }).to_string())
    }
}

/// Keeps the top-level fields named by `paths` (a path `a.b` keeps field `a`).
fn apply_mask(stats: &Value, paths: Option<&[String]>) -> Value {
    let (Some(paths), Some(obj)) = (paths.filter(|p| !p.is_empty()), stats.as_object()) else {
        return stats.clone();
    };
    let kept = obj
        .iter()
        .filter(|(k, _)| {
            paths.iter().any(|p| {
                p == *k
                    || p.strip_prefix(k.as_str())
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

fn single_stats(st: &State, id: &str, principal: &Principal) -> Reply {
    if let Principal::Gateway(ids) = principal {
        if !ids.iter().any(|g| g == id) {
            return Reply::json(403, errors::no_gateway_rights(id));
        }
    }
    match find(st, id).and_then(|g| g.stats.as_ref()) {
        Some(stats) => Reply::json(200, stats.to_string()),
        None => Reply::json(404, errors::not_connected(id)),
    }
}

fn auth_info(principal: &Principal, traffic: bool) -> Reply {
    let mut rights = vec![
        "RIGHT_GATEWAY_INFO",
        "RIGHT_GATEWAY_STATUS_READ",
        "RIGHT_USER_GATEWAYS_LIST",
    ];
    if traffic {
        rights.push("RIGHT_GATEWAY_TRAFFIC_READ");
    }
    let body = match principal {
        Principal::User(key_id) => json!({
            "api_key": {
                "entity_ids": {"user_ids": {"user_id": FAKE_USER_ID}},
                "api_key": {
                    "id": key_id,
                    "rights": rights,
                },
            },
        }),
        Principal::Gateway(ids) => json!({
            "api_key": {
                "entity_ids": {
                    "gateway_ids": {"gateway_id": ids.first().map_or("", String::as_str)},
                },
                "api_key": {
                    "id": "FAKE-GATEWAY-KEY",
                    "rights": ["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_STATUS_READ"],
                },
            },
        }),
    };
    Reply::json(200, body.to_string())
}

/// Splits a query string into decoded `(name, value)` pairs.
pub(crate) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// All values of `name`.
pub(crate) fn query_all<'a>(
    query: &'a [(String, String)],
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    query
        .iter()
        .filter(move |(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The last value of `name`.
pub(crate) fn query_one<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let decoded = bytes
                    .get(i + 1)
                    .zip(bytes.get(i + 2))
                    .and_then(|(&h, &l)| Some(hex(h)? << 4 | hex(l)?));
                match decoded {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_decoding() {
        let q = parse_query(Some(
            "key=A%2Eb+c&key=x&field_mask=name%2Cgateway_server_address&bad=%zz",
        ));
        assert_eq!(query_all(&q, "key").collect::<Vec<_>>(), ["A.b c", "x"]);
        assert_eq!(
            query_one(&q, "field_mask"),
            Some("name,gateway_server_address")
        );
        assert_eq!(query_one(&q, "bad"), Some("%zz"));
    }

    #[test]
    fn key_ids() {
        assert_eq!(key_id(crate::DEFAULT_KEY), "FAKE-TEST-KEY");
        assert_eq!(key_id("secret"), "FAKE");
    }
}
