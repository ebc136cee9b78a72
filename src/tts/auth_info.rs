//! `GET /auth_info`: who owns the key, typed as [`AuthInfo`].

use serde::Deserialize;

use crate::model::AuthInfo;

/// `GET /auth_info`, the part that names who owns the key.
#[derive(Debug, Default, Deserialize)]
pub struct ApiAuthInfo {
    /// Present for API keys.
    #[serde(default)]
    pub api_key: Option<ApiKeyInfo>,
}

/// `auth_info.api_key`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiKeyInfo {
    /// The entity the key belongs to.
    #[serde(default)]
    pub entity_ids: Option<EntityIds>,
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
