//! Who a token belongs to ([`Principal`]) and the `GET /api/v3/auth_info` route.

use serde_json::json;

use super::reply::Reply;
use crate::errors;
use crate::state::State;
use crate::FAKE_USER_ID;

/// Who a valid token belongs to.
pub(super) enum Principal {
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

/// The principal of `token`, or the 401 answer for a missing or unknown one.
pub(super) fn principal(st: &State, token: Option<&str>) -> Result<Principal, Reply> {
    match token {
        Some(t) if st.keys.iter().any(|k| k == t) => Ok(Principal::User(key_id(t))),
        Some(t) => match st.gateway_keys.iter().find(|(k, _)| k == t) {
            Some((_, ids)) => Ok(Principal::Gateway(ids.clone())),
            None => Err(Reply::json(401, errors::api_key_not_found())),
        },
        None => Err(Reply::json(401, errors::api_key_not_found())),
    }
}

/// `GET /api/v3/auth_info`: the key's owner and rights (`traffic`: with "Read gateway
/// traffic"); never the secret.
pub(super) fn auth_info(principal: &Principal, traffic: bool) -> Reply {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids() {
        assert_eq!(key_id(crate::DEFAULT_KEY), "FAKE-TEST-KEY");
        assert_eq!(key_id("secret"), "FAKE");
    }
}
