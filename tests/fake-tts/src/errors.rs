//! TTS error bodies.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Map, Value};

static CORRELATION: AtomicU64 = AtomicU64::new(1);

/// A fresh, unique 32-hex-digit correlation id.
fn correlation_id() -> String {
    let n = CORRELATION.fetch_add(1, Ordering::Relaxed);
    format!("fa4e{n:028x}")
}

/// The gRPC code TTS puts in `code` for an HTTP status.
pub(crate) fn grpc_code(http_status: u16) -> u32 {
    match http_status {
        400 => 3,
        401 => 16,
        403 => 7,
        404 => 5,
        409 => 6,
        412 => 9,
        429 => 8,
        499 => 1,
        500 => 13,
        501 => 12,
        503 => 14,
        504 => 4,
        _ => 2,
    }
}

/// A TTS error body, shaped like `fixtures/tts/error-*.json`:
/// `{"code": <grpc code>, "message": "error:<namespace>:<name> (<text>)", "details":
/// [{"@type", "namespace", "name", "message_format", "attributes", "correlation_id",
/// "code"}]}` where `<text>` is `message_format` with each `{attribute}` replaced by its
/// value and the correlation id is fresh for every call.
pub fn error_body(
    http_status: u16,
    namespace: &str,
    name: &str,
    message_format: &str,
    attributes: &[(&str, &str)],
) -> String {
    error_value(http_status, namespace, name, message_format, attributes).to_string()
}

pub(crate) fn error_value(
    http_status: u16,
    namespace: &str,
    name: &str,
    message_format: &str,
    attributes: &[(&str, &str)],
) -> Value {
    let code = grpc_code(http_status);
    let mut text = message_format.to_owned();
    let mut attrs = Map::new();
    for (k, v) in attributes {
        text = text.replace(&format!("{{{k}}}"), v);
        attrs.insert((*k).to_owned(), Value::String((*v).to_owned()));
    }
    let mut detail = json!({
        "@type": "type.googleapis.com/ttn.lorawan.v3.ErrorDetails",
        "namespace": namespace,
        "name": name,
        "message_format": message_format,
        "correlation_id": correlation_id(),
        "code": code,
    });
    if !attrs.is_empty() {
        detail["attributes"] = Value::Object(attrs);
    }
    json!({
        "code": code,
        "message": format!("error:{namespace}:{name} ({text})"),
        "details": [detail],
    })
}

/// The default error body for an HTTP status (used by `Fault::Status` with an empty body).
pub(crate) fn default_body(http_status: u16) -> String {
    match http_status {
        400 => error_body(
            400,
            "pkg/ttnpb",
            "validation",
            "invalid `{field}`: {reason}",
            &[("field", "request"), ("reason", "fake fault")],
        ),
        401 => api_key_not_found(),
        403 => error_body(
            403,
            "pkg/auth/rights",
            "no_user_rights",
            "no rights for user `{uid}`",
            &[("uid", crate::FAKE_USER_ID)],
        ),
        404 => error_body(404, "pkg/errors", "not_found", "not found", &[]),
        429 => rate_limited(),
        500 => error_body(500, "pkg/errors", "internal", "internal error", &[]),
        503 => error_body(503, "pkg/errors", "unavailable", "service unavailable", &[]),
        504 => error_body(
            504,
            "pkg/errors",
            "context_deadline_exceeded",
            "context deadline exceeded",
            &[],
        ),
        other => error_body(other, "pkg/errors", "unknown", "fake fault", &[]),
    }
}

pub(crate) fn api_key_not_found() -> String {
    error_body(
        401,
        "pkg/auth",
        "api_key_not_found",
        "API key not found",
        &[],
    )
}

pub(crate) fn rate_limited() -> String {
    error_body(
        429,
        "pkg/ratelimit",
        "rate_limit_exceeded",
        "rate limit of `{rate}` accesses per minute exceeded for resource `{key}`",
        &[("rate", "10"), ("key", "fake-tts")],
    )
}

pub(crate) fn not_connected(gateway_id: &str) -> String {
    error_body(
        404,
        "pkg/gatewayserver",
        "not_connected",
        "gateway `{gateway_uid}` not connected",
        &[("gateway_uid", gateway_id)],
    )
}

pub(crate) fn no_gateway_rights(gateway_id: &str) -> String {
    error_body(
        403,
        "pkg/auth/rights",
        "no_gateway_rights",
        "no rights for gateway `{uid}`",
        &[("uid", gateway_id)],
    )
}

pub(crate) fn validation(field: &str, reason: &str) -> String {
    error_body(
        400,
        "pkg/ttnpb",
        "validation",
        "invalid `{field}`: {reason}",
        &[("field", field), ("reason", reason)],
    )
}
