//! `GET /auth_info`: who owns the key, typed as [`AuthInfo`].

use serde::Deserialize;

use crate::model::AuthInfo;

/// `GET /auth_info`, the part that names who owns the key.
#[derive(Debug, Default, Deserialize)]
pub struct ApiAuthInfo {
    /// Present for API keys.
    #[serde(default)]
    pub api_key: Option<ApiKeyInfo>,
    /// Admin users (a user session, not a key) may do everything.
    #[serde(default)]
    pub is_admin: bool,
    /// Rights the caller has everywhere (`{"rights": [...]}`).
    #[serde(default)]
    pub universal_rights: Option<Rights>,
}

/// `Rights`: a list of right names.
#[derive(Debug, Default, Deserialize)]
pub struct Rights {
    /// e.g. `RIGHT_GATEWAY_TRAFFIC_READ`.
    #[serde(default)]
    pub rights: Vec<String>,
}

/// A right the exporter uses: its console name, its API names (any of them
/// grants it) and what is lost without it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeededRight {
    /// The console's name, e.g. "View gateway status".
    pub console: &'static str,
    /// The API names that grant it; the first is the one to name.
    pub names: &'static [&'static str],
    /// What is lost without it.
    pub lost: &'static str,
}

/// "View gateway status".
pub const STATUS_RIGHT: NeededRight = NeededRight {
    console: "View gateway status",
    names: &["RIGHT_GATEWAY_STATUS_READ", "RIGHT_GATEWAY_ALL"],
    lost: "the gateways have no stats (403 no_gateway_rights)",
};

/// "View gateway information".
pub const INFO_RIGHT: NeededRight = NeededRight {
    console: "View gateway information",
    names: &["RIGHT_GATEWAY_INFO", "RIGHT_GATEWAY_ALL"],
    lost: "the list hides version_ids and gateway_server_address: gateways on another cluster look not connected",
};

/// "Read gateway traffic" (what the events stream needs).
pub const TRAFFIC_RIGHT: NeededRight = NeededRight {
    console: "Read gateway traffic",
    names: &["RIGHT_GATEWAY_TRAFFIC_READ", "RIGHT_GATEWAY_ALL"],
    lost: "the event stream is accepted but carries no traffic: radio metrics stay empty",
};

/// The rights the exporter uses on gateways, in the order `check` names them.
pub const GATEWAY_RIGHTS: &[NeededRight] = &[STATUS_RIGHT, INFO_RIGHT, TRAFFIC_RIGHT];

/// "List gateways", for a user's or an organization's key.
pub const LIST_RIGHT: NeededRight = NeededRight {
    console: "List gateways",
    names: &[
        "RIGHT_USER_GATEWAYS_LIST",
        "RIGHT_ORGANIZATION_GATEWAYS_LIST",
        "RIGHT_USER_ALL",
        "RIGHT_ORGANIZATION_ALL",
    ],
    lost: "no gateway is found (set gateways = [...] instead)",
};

impl ApiAuthInfo {
    /// Whether the key (or the caller's universal rights) holds one of
    /// `names`, or `RIGHT_ALL`.
    fn has_any(&self, names: &[&str]) -> bool {
        let key = self.api_key.as_ref().and_then(|k| k.api_key.as_ref());
        self.is_admin
            || key
                .into_iter()
                .chain(self.universal_rights.as_ref())
                .flat_map(|r| r.rights.iter())
                .any(|r| r == "RIGHT_ALL" || names.contains(&r.as_str()))
    }

    /// The rights the exporter uses that the key lacks. "List gateways" is
    /// only asked of a user's or an organization's key.
    pub fn missing_rights(&self) -> Vec<NeededRight> {
        let ids = self.api_key.as_ref().and_then(|k| k.entity_ids.as_ref());
        let lists = ids.is_some_and(|i| i.user_ids.is_some() || i.organization_ids.is_some());
        let list = (lists && !self.has_any(LIST_RIGHT.names)).then_some(LIST_RIGHT);
        list.into_iter()
            .chain(
                GATEWAY_RIGHTS
                    .iter()
                    .filter(|r| !self.has_any(r.names))
                    .copied(),
            )
            .collect()
    }

    /// Whether the key's rights include reading gateway traffic (what the
    /// events stream needs): `TRAFFIC_RIGHT` or `RIGHT_ALL`.
    pub fn can_read_traffic(&self) -> bool {
        self.has_any(TRAFFIC_RIGHT.names)
    }
}

/// `auth_info.api_key`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiKeyInfo {
    /// The entity the key belongs to.
    #[serde(default)]
    pub entity_ids: Option<EntityIds>,
    /// The key itself: its rights.
    #[serde(default)]
    pub api_key: Option<Rights>,
}

/// `EntityIdentifiers`: one of these is set.
#[derive(Debug, Default, Deserialize)]
pub struct EntityIds {
    /// A user's key.
    #[serde(default)]
    pub user_ids: Option<IdOf<UserId>>,
    /// An organization's key.
    #[serde(default)]
    pub organization_ids: Option<IdOf<OrganizationId>>,
    /// A gateway's key.
    #[serde(default)]
    pub gateway_ids: Option<IdOf<GatewayId>>,
}

/// `{"<kind>_id": "..."}`.
#[derive(Debug, Default, Deserialize)]
pub struct IdOf<T> {
    #[serde(flatten)]
    id: T,
}

/// `user_id`.
#[derive(Debug, Default, Deserialize)]
pub struct UserId {
    #[serde(default)]
    user_id: Option<String>,
}

/// `organization_id`.
#[derive(Debug, Default, Deserialize)]
pub struct OrganizationId {
    #[serde(default)]
    organization_id: Option<String>,
}

/// `gateway_id`.
#[derive(Debug, Default, Deserialize)]
pub struct GatewayId {
    #[serde(default)]
    gateway_id: Option<String>,
}

impl From<ApiAuthInfo> for AuthInfo {
    fn from(a: ApiAuthInfo) -> AuthInfo {
        let Some(ids) = a.api_key.and_then(|k| k.entity_ids) else {
            return AuthInfo::Unknown;
        };
        let clean = |s: String| crate::model::sanitize::upstream(&s);
        if let Some(id) = ids.user_ids.and_then(|i| i.id.user_id) {
            AuthInfo::User(clean(id))
        } else if let Some(id) = ids.organization_ids.and_then(|i| i.id.organization_id) {
            AuthInfo::Organization(clean(id))
        } else if let Some(id) = ids.gateway_ids.and_then(|i| i.id.gateway_id) {
            AuthInfo::Gateway(clean(id))
        } else {
            AuthInfo::Unknown
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_rights_named_with_what_is_lost() {
        let a: ApiAuthInfo = serde_json::from_str(
            r#"{"api_key":{"entity_ids":{"user_ids":{"user_id":"u"}},"api_key":{"rights":["RIGHT_USER_GATEWAYS_LIST","RIGHT_GATEWAY_STATUS_READ"]}}}"#,
        )
        .unwrap();
        let missing: Vec<&str> = a.missing_rights().iter().map(|r| r.console).collect();
        assert_eq!(
            missing,
            ["View gateway information", "Read gateway traffic"]
        );
        let a: ApiAuthInfo = serde_json::from_str(
            r#"{"api_key":{"entity_ids":{"organization_ids":{"organization_id":"o"}},"api_key":{"rights":["RIGHT_GATEWAY_ALL"]}}}"#,
        )
        .unwrap();
        let missing: Vec<&str> = a.missing_rights().iter().map(|r| r.console).collect();
        assert_eq!(missing, ["List gateways"]);
        let a: ApiAuthInfo =
            serde_json::from_str(r#"{"universal_rights":{"rights":["RIGHT_ALL"]}}"#).unwrap();
        assert!(a.missing_rights().is_empty());
    }

    #[test]
    fn traffic_right() {
        let a: ApiAuthInfo = serde_json::from_str(
            r#"{"api_key":{"api_key":{"rights":["RIGHT_GATEWAY_INFO","RIGHT_GATEWAY_TRAFFIC_READ"]}}}"#,
        )
        .unwrap();
        assert!(a.can_read_traffic());
        let a: ApiAuthInfo = serde_json::from_str(
            r#"{"api_key":{"api_key":{"rights":["RIGHT_GATEWAY_STATUS_READ"]}}}"#,
        )
        .unwrap();
        assert!(!a.can_read_traffic());
        let a: ApiAuthInfo =
            serde_json::from_str(r#"{"universal_rights":{"rights":["RIGHT_ALL"]}}"#).unwrap();
        assert!(a.can_read_traffic());
    }

    #[test]
    fn auth_info_names_the_owner() {
        let a: ApiAuthInfo = serde_json::from_str(
            r#"{"api_key":{"api_key":{"id":"K"},"entity_ids":{"organization_ids":{"organization_id":"acme"}}}}"#,
        )
        .unwrap();
        assert_eq!(AuthInfo::from(a), AuthInfo::Organization("acme".into()));
        let a: ApiAuthInfo = serde_json::from_str(r#"{"universal_rights":{}}"#).unwrap();
        assert_eq!(AuthInfo::from(a).to_string(), "owner unknown");
    }
}
