//! The API's JSON, as The Things Stack writes it (proto3 JSON): uint64 as
//! strings, durations as `"1.5s"`, RFC 3339 timestamps, zero fields omitted,
//! unknown fields ignored. Converted into [`crate::model`] values.
//!
//! Structure is parsed strictly (a list where an object belongs is an error);
//! scalar values are read leniently (a number where a string belongs, `null`,
//! `"NaN"`), because the server's encoders differ between versions; a scalar
//! that does not parse drops that one field of that one gateway
//! (see the `lenient` module). Lists and maps are read up to their bounds.
//! The connection stats are read in the `stats` module.

use serde::Deserialize;

pub use super::auth_info::ApiAuthInfo;
use super::lenient::null_default;
pub use super::lenient::{parse_duration, parse_timestamp, Capped, Field};
pub use super::stats::{ApiStats, BatchStats};

use crate::model::{Gateway, Location, VersionIds};

/// One page of `GET /gateways`; a page past the end is `{}`.
#[derive(Debug, Default, Deserialize)]
pub struct GatewaysPage {
    /// The gateways on this page.
    #[serde(default, deserialize_with = "null_default")]
    pub gateways: Vec<ApiGateway>,
}

/// A gateway as listed, with the fields of our field mask.
#[derive(Debug, Deserialize)]
pub struct ApiGateway {
    /// `ids`.
    pub ids: GatewayIds,
    /// `name`.
    #[serde(default)]
    pub name: Option<String>,
    /// `frequency_plan_ids`.
    #[serde(default, deserialize_with = "null_default")]
    pub frequency_plan_ids: Vec<String>,
    /// `gateway_server_address`.
    #[serde(default)]
    pub gateway_server_address: Option<String>,
    /// `antennas`, reduced to the first valid location.
    #[serde(default, deserialize_with = "super::location::antennas_location")]
    pub antennas: Option<Location>,
    /// `version_ids`.
    #[serde(default, deserialize_with = "super::location::version_ids")]
    pub version_ids: Option<VersionIds>,
    /// `attributes`, bounded (see `tts::lenient::attributes`).
    #[serde(default, deserialize_with = "super::lenient::attributes")]
    pub attributes: std::collections::BTreeMap<String, String>,
}

/// `GatewayIdentifiers`.
#[derive(Debug, Deserialize)]
pub struct GatewayIds {
    /// The gateway ID.
    pub gateway_id: String,
    /// The EUI, hex.
    #[serde(default)]
    pub eui: Option<String>,
}

impl From<ApiGateway> for Gateway {
    /// Free text (name, EUI, plans, address) is made one line and capped at
    /// [`crate::model::sanitize::MAX_UPSTREAM_CHARS`]; the ID is taken as is (the
    /// client checks it against the ID rule before it uses it).
    fn from(g: ApiGateway) -> Gateway {
        let text = |s: Option<String>| {
            s.filter(|s| !s.is_empty())
                .map(|s| crate::model::sanitize::upstream(&s))
        };
        Gateway {
            id: g.ids.gateway_id,
            eui: text(g.ids.eui),
            name: text(g.name),
            frequency_plan_ids: g
                .frequency_plan_ids
                .iter()
                .take(MAX_FREQUENCY_PLANS)
                .map(|p| crate::model::sanitize::upstream(p))
                .collect(),
            gateway_server_address: text(g.gateway_server_address),
            stats: None,
            location: g.antennas,
            version_ids: g.version_ids,
            remembered: None,
            info_labels: Vec::new(),
            stats_refused: false,
        }
    }
}

/// Frequency plans kept per gateway (one is usual).
const MAX_FREQUENCY_PLANS: usize = 8;

/// The API's error body.
#[derive(Debug, Default, Deserialize)]
pub struct ApiError {
    /// `error:<namespace>:<name> (<text>)`.
    #[serde(default)]
    pub message: Option<String>,
    /// Details; the first carries the name and correlation ID.
    #[serde(default, deserialize_with = "null_default")]
    pub details: Vec<ApiErrorDetail>,
}

/// One entry of an error's `details`.
#[derive(Debug, Default, Deserialize)]
pub struct ApiErrorDetail {
    /// e.g. `pkg/gatewayserver`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// e.g. `not_connected`.
    #[serde(default)]
    pub name: Option<String>,
    /// What TTN support asks for.
    #[serde(default)]
    pub correlation_id: Option<String>,
}

impl ApiError {
    /// The error's name (`not_connected`, `api_key_not_found`, ...), from
    /// the details or else from the message.
    pub fn name(&self) -> Option<String> {
        if let Some(n) = self.details.iter().find_map(|d| d.name.clone()) {
            return Some(n);
        }
        let msg = self.message.as_deref()?;
        let rest = msg.strip_prefix("error:")?;
        let head = rest.split(' ').next()?;
        head.rsplit(':').next().map(str::to_owned)
    }

    /// The correlation ID of the first detail that has one.
    pub fn correlation_id(&self) -> Option<String> {
        self.details.iter().find_map(|d| d.correlation_id.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_page_fixture() {
        let p: GatewaysPage =
            serde_json::from_str(include_str!("../../tests/fixtures/tts/gateways-page.json"))
                .unwrap();
        let gws: Vec<Gateway> = p.gateways.into_iter().map(Gateway::from).collect();
        assert_eq!(gws.len(), 2);
        assert_eq!(gws[0].id, "test-0001");
        assert_eq!(gws[0].name, None);
        assert_eq!(gws[1].eui.as_deref(), Some("2222222222222222"));
        assert_eq!(gws[1].name.as_deref(), Some("Roof"));
        assert_eq!(gws[1].frequency_plan_ids, vec!["EU_863_870_TTN"]);
        let empty: GatewaysPage = serde_json::from_str("{}").unwrap();
        assert!(empty.gateways.is_empty());
    }

    #[test]
    fn error_fixtures() {
        let e: ApiError = serde_json::from_str(include_str!(
            "../../tests/fixtures/tts/error-not-connected.json"
        ))
        .unwrap();
        assert_eq!(e.name().as_deref(), Some("not_connected"));
        assert_eq!(
            e.correlation_id().as_deref(),
            Some("7d4a76e4b2074fdfbb6d0fac81d8647c")
        );
        let e: ApiError =
            serde_json::from_str(include_str!("../../tests/fixtures/tts/error-rights.json"))
                .unwrap();
        assert_eq!(e.name().as_deref(), Some("no_user_rights"));
        let e: ApiError =
            serde_json::from_str(r#"{"message":"error:pkg/ratelimit:rate_limit_exceeded (x)"}"#)
                .unwrap();
        assert_eq!(e.name().as_deref(), Some("rate_limit_exceeded"));
    }
}
