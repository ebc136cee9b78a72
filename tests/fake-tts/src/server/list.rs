//! The gateway list routes: `GET /api/v3/gateways`, `/users/{id}/gateways` and
//! `/organizations/{id}/gateways`, with pagination (`limit`, `page`, `X-Total-Count`) and
//! field masks; and the registry read of one gateway, `GET /api/v3/gateways/{id}`.

use serde_json::{json, Map, Value};

use super::auth::Principal;
use super::classify::Scope;
use super::reply::Reply;
use crate::query::{query_all, query_one, split_mask};
use crate::state::State;
use crate::{errors, FakeGateway, GATEWAY_CREATED_AT, GATEWAY_UPDATED_AT};

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

/// One page of the gateways in `scope` (`repeat_page`: always page 1, the
/// [`Fault::RepeatPage`](crate::Fault::RepeatPage) misbehaviour).
pub(super) fn list(
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
        .map(|g| gateway_json(g, &mask, g.no_info_rights))
        .collect();
    Reply::json(200, json!({ "gateways": items }).to_string()).header("X-Total-Count", total)
}

/// The fields anyone may read of a gateway (lorawan-stack `ttnpb.PublicGatewayFields`,
/// pkg/ttnpb/public.go), as far as this fake models them.
const PUBLIC_FIELDS: [&str; 9] = [
    "ids",
    "created_at",
    "updated_at",
    "name",
    "frequency_plan_ids",
    "status_public",
    "gateway_server_address",
    "location_public",
    "antennas",
];

/// `GET /api/v3/gateways/{id}?field_mask=...`, as lorawan-stack's `GetGateway`
/// (pkg/identityserver/gateway_registry.go) answers it: without "View gateway
/// information" (`RIGHT_GATEWAY_INFO`) on the gateway, a mask naming a field outside
/// [`PUBLIC_FIELDS`] is refused with 403 (`no_gateway_rights` when the key has no right
/// on it at all, which is also the answer for a gateway that does not exist, since
/// `GatewayRights` answers no rights for it), and a mask of public fields only is read
/// `PublicSafe`; a gateway that does not exist then answers 404 `gateway_not_found`.
pub(super) fn get_gateway(
    st: &State,
    id: &str,
    query: &[(String, String)],
    principal: &Principal,
) -> Reply {
    let mask: Vec<String> = query_all(query, "field_mask")
        .chain(query_all(query, "field_mask.paths"))
        .flat_map(split_mask)
        .collect();
    let found = st.gateways.iter().find(|g| g.id == id);
    // Rights of the key on the gateway: (any, RIGHT_GATEWAY_INFO).
    let (any, info) = match (found, principal) {
        (None, _) => (false, false),
        (Some(g), Principal::User(_)) => (true, !g.no_info_rights),
        (Some(g), Principal::Gateway(ids)) => {
            let own = ids.iter().any(|i| i == id);
            (own || g.status_public || g.location_public, own)
        }
    };
    if !info && mask.iter().any(|p| !PUBLIC_FIELDS.contains(&p.as_str())) {
        let reply = if any {
            errors::error_body(
                403,
                "pkg/auth/rights",
                "insufficient_gateway_rights",
                "insufficient rights for gateway `{uid}`",
                &[("uid", id)],
            )
        } else {
            errors::no_gateway_rights(id)
        };
        return Reply::json(403, reply);
    }
    match found {
        Some(g) => Reply::json(200, gateway_json(g, &mask, !info).to_string()),
        None => Reply::json(
            404,
            errors::error_body(
                404,
                "pkg/identityserver/store",
                "gateway_not_found",
                "gateway with id `{gateway_id}` not found",
                &[("gateway_id", id)],
            ),
        ),
    }
}

/// A gateway as the Identity Server lists it, with the masked fields that are not empty;
/// `PublicSafe` (`public_safe`) when the key lacks "View gateway information" on it.
fn gateway_json(g: &FakeGateway, mask: &[String], public_safe: bool) -> Value {
    let hidden = |path: &str| {
        public_safe
            && match path {
                "gateway_server_address" => !g.status_public,
                "version_ids" | "attributes" => true,
                _ => false,
            }
    };
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
        if hidden(path) {
            continue;
        }
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
                    let mut a = a.clone();
                    if public_safe && !g.location_public {
                        for ant in a.as_array_mut().into_iter().flatten() {
                            if let Some(o) = ant.as_object_mut() {
                                o.remove("location");
                            }
                        }
                    }
                    obj.insert("antennas".into(), a);
                }
            }
            "version_ids" => {
                if let Some(v) = g.version_ids.as_ref() {
                    obj.insert("version_ids".into(), v.clone());
                }
            }
            "attributes" if !g.attributes.is_empty() => {
                let attrs: Map<String, Value> = g
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into()))
                    .collect();
                obj.insert("attributes".into(), Value::Object(attrs));
            }
            // other paths name fields this fake does not model: empty, so omitted
            _ => {}
        }
    }
    Value::Object(obj)
}
