//! The connection stats routes: the batch `POST /api/v3/gs/gateways/connection/stats`
//! (with its body and field mask) and the single `GET /api/v3/gs/gateways/{id}/connection/stats`.

use serde_json::{json, Map, Value};

use super::auth::Principal;
use super::reply::Reply;
use crate::query::split_mask;
use crate::state::State;
use crate::{errors, FakeGateway};

/// A parsed batch request body.
pub(super) struct BatchRequest {
    /// `gateway_ids[].gateway_id`, in order.
    pub(super) ids: Vec<String>,
    /// `field_mask.paths` (also accepted as a comma-separated string).
    paths: Option<Vec<String>>,
}

/// Parses a batch body: `gateway_ids[].gateway_id` and an optional field mask.
pub(super) fn parse_batch(body: &[u8]) -> Result<BatchRequest, String> {
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

/// The gateway with this id (the fleet is sorted by id).
fn find<'a>(st: &'a State, id: &str) -> Option<&'a FakeGateway> {
    st.gateways
        .binary_search_by(|g| g.id.as_str().cmp(id))
        .ok()
        .and_then(|i| st.gateways.get(i))
}

/// The stats the Gateway Server still has for `g`: none if it never
/// connected, and none once a disconnected record is older than the
/// retention (48 h on the real server: then 404 `not_connected`).
fn served_stats<'a>(st: &State, g: &'a FakeGateway) -> Option<&'a Value> {
    let stats = g.stats.as_ref()?;
    let (Some(keep), Some(at)) = (
        st.stats_retention,
        stats.get("disconnected_at").and_then(Value::as_str),
    ) else {
        return Some(stats);
    };
    let at = humantime::parse_rfc3339_weak(at).ok()?;
    let age = std::time::SystemTime::now()
        .duration_since(at)
        .unwrap_or_default();
    (age <= keep).then_some(stats)
}

/// The batch answer: 400 for a bad body or count, 403 for a gateway key or an unknown
/// gateway, else the stats of the connected gateways.
pub(super) fn batch_stats(
    st: &State,
    req: Result<BatchRequest, String>,
    principal: &Principal,
) -> Reply {
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
        if let Some(stats) = find(st, id).and_then(|g| served_stats(st, g)) {
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

/// The single answer: 403 for a gateway key without rights on `id`, 404 `not_connected`
/// for a gateway without stats.
pub(super) fn single_stats(st: &State, id: &str, principal: &Principal) -> Reply {
    if let Principal::Gateway(ids) = principal {
        if !ids.iter().any(|g| g == id) {
            return Reply::json(403, errors::no_gateway_rights(id));
        }
    }
    match find(st, id).and_then(|g| served_stats(st, g)) {
        Some(stats) => Reply::json(200, stats.to_string()),
        None => Reply::json(404, errors::not_connected(id)),
    }
}
