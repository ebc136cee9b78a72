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

impl ApiAuthInfo {
    /// Whether the key's rights include reading gateway traffic (what the
    /// events stream needs): `RIGHT_GATEWAY_TRAFFIC_READ` or a right that
    /// implies it (`RIGHT_GATEWAY_ALL`, `RIGHT_ALL`).
    pub fn can_read_traffic(&self) -> bool {
        let key = self.api_key.as_ref().and_then(|k| k.api_key.as_ref());
        self.is_admin
            || key
                .into_iter()
                .chain(self.universal_rights.as_ref())
                .flat_map(|r| r.rights.iter())
                .any(|r| {
                    matches!(
                        r.as_str(),
                        "RIGHT_GATEWAY_TRAFFIC_READ" | "RIGHT_GATEWAY_ALL" | "RIGHT_ALL"
                    )
                })
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
        let clean = |s: String| crate::sanitize::upstream(&s);
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
