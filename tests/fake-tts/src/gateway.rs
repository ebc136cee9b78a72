//! The fleet's data: one [`FakeGateway`] and the fixed ids and timestamps lists carry.

use crate::synthetic;

/// The user that owns user keys (`/auth_info`) and, by default, gateways.
pub const FAKE_USER_ID: &str = "fake-user";

/// The organization that owns every third synthetic gateway.
pub const FAKE_ORG_ID: &str = "fake-org";

/// `created_at` of every gateway in list answers.
pub const GATEWAY_CREATED_AT: &str = "2023-11-24T10:59:39.318638Z";

/// `updated_at` of every gateway in list answers.
pub const GATEWAY_UPDATED_AT: &str = "2023-11-24T10:59:39.318639Z";

/// One gateway of the fake fleet.
#[derive(Clone, Debug, PartialEq)]
pub struct FakeGateway {
    /// Gateway ID (`ids.gateway_id`); lists are sorted by it.
    pub id: String,
    /// EUI as hex (`ids.eui`), omitted when `None`.
    pub eui: Option<String>,
    /// Display name (list field mask path `name`).
    pub name: Option<String>,
    /// Frequency plans (list field mask path `frequency_plan_ids`).
    pub frequency_plan_ids: Vec<String>,
    /// Gateway Server address (list field mask path `gateway_server_address`).
    pub gateway_server_address: Option<String>,
    /// Listed by `GET /users/{owner_user}/gateways`.
    pub owner_user: Option<String>,
    /// Listed by `GET /organizations/{owner_org}/gateways`.
    pub owner_org: Option<String>,
    /// Raw connection stats JSON as served. `None`: the single GET answers 404
    /// `not_connected` and the batch answer omits the gateway.
    pub stats: Option<serde_json::Value>,
    /// Raw `antennas` JSON as listed (list field mask path `antennas`);
    /// `None`: omitted, as the real server omits an empty list.
    pub antennas: Option<serde_json::Value>,
    /// Raw `version_ids` JSON as listed (list field mask path `version_ids`);
    /// `None`: omitted.
    pub version_ids: Option<serde_json::Value>,
    /// Registry `attributes` (list field mask path `attributes`): at most 10,
    /// keys `^[a-z0-9](?:[-]?[a-z0-9]){2,}$` of at most 36 characters, values
    /// of at most 200 (the server validates them on write; this fake serves
    /// what it is given, to test hostile answers). Omitted when empty.
    pub attributes: std::collections::BTreeMap<String, String>,
    /// The keys may list it but lack "View gateway status"
    /// (`RIGHT_GATEWAY_STATUS_READ`) on it, e.g. a gateway shared with
    /// fewer rights: its single stats GET answers 403 `no_gateway_rights`,
    /// and a batch that names it fails whole with that 403.
    pub no_status_rights: bool,
    /// The keys may list it but lack "View gateway information"
    /// (`RIGHT_GATEWAY_INFO`) on it: the list serves it `PublicSafe`, as
    /// lorawan-stack's `ListGateways` does (pkg/ttnpb/public.go): no
    /// `version_ids` or `attributes`, `gateway_server_address` only when
    /// `status_public`, antennas without their location unless
    /// `location_public`.
    pub no_info_rights: bool,
    /// `status_public` (only matters with `no_info_rights`).
    pub status_public: bool,
    /// `location_public` (only matters with `no_info_rights`).
    pub location_public: bool,
}

impl FakeGateway {
    /// A gateway that never connected, with no name, EUI or frequency plan, owned by
    /// [`FAKE_USER_ID`].
    pub fn new(id: &str) -> Self {
        FakeGateway {
            id: id.to_owned(),
            eui: None,
            name: None,
            frequency_plan_ids: Vec::new(),
            gateway_server_address: None,
            owner_user: Some(FAKE_USER_ID.to_owned()),
            owner_org: None,
            stats: None,
            antennas: None,
            version_ids: None,
            attributes: Default::default(),
            no_status_rights: false,
            no_info_rights: false,
            status_public: false,
            location_public: false,
        }
    }

    /// Deterministic synthetic gateway number `i`; the kind cycles with `i % 4`: 0 connected
    /// UDP with `last_status` and counters, 1 connected Basics Station with `sub_bands`
    /// (incl. `max_frequency` = u64::MAX) and `round_trip_times`, 2 disconnected within 48 h
    /// (200 with `disconnected_at`, no `connected_at`), 3 never connected (404 `not_connected`).
    /// All JSON follows the real server: uint64 as strings, zero fields omitted, unknown
    /// fields `gateway_remote_address` and `future_field` included.
    ///
    /// Formulas, with `i` the gateway number, `T0` = [`SYNTHETIC_EPOCH`](crate::SYNTHETIC_EPOCH) and
    /// `ts(x)` = RFC 3339 of `T0 + x` seconds with fraction `.123456789` cut to
    /// `[9, 6, 3, 0][(i / 4) % 4]` digits (0 digits: no fraction at all):
    ///
    /// Common: `id` = `gw-{i:06}`, `eui` = `format!("{:016X}", 0x58A0CBFFFE000000 + i)`,
    /// `name` = `Gateway {i}`, `frequency_plan_ids` = `["EU_863_870_TTN"]`,
    /// `gateway_server_address` = None, `owner_org` = `fake-org` if `i % 3 == 2` else
    /// `owner_user` = `fake-user`.
    ///
    /// Kind `i % 4 == 0`, connected UDP:
    /// `connected_at` = ts(i), `protocol` = `udp`, `last_status_received_at` = ts(3600 + i),
    /// `last_status` = { `time` = RFC 3339 of T0 + 3590 + i (no fraction), `boot_time` = T0 −
    /// 86400 (no fraction), `versions` = {`ttn-lw-gateway-server`: `3.33.1`, `firmware`:
    /// `fake-1.0`}, `antenna_locations` = [{`latitude` = 52.0 + i as f64 / 1000.0,
    /// `longitude` = 4.0 + i as f64 / 1000.0, `altitude` = i % 100 (omitted when 0), `source` =
    /// `SOURCE_GPS`}], `ip` = [`192.0.2.{i % 256}`], `metrics` = {`rxin` = 100 + i, `rxok` = 90 +
    /// i, `rxfw` = 80 + i, `ackr` = 100 − i % 10, `txin` = i % 7, `txok` = i % 7, `temp` = 20 + i %
    /// 20 + 0.5} }, `last_uplink_received_at` = ts(3500 + i), `uplink_count` = 1000 + 7i,
    /// `downlink_count` = 3i and `last_downlink_received_at` = ts(3400 + i) (both omitted when
    /// i = 0), `tx_acknowledgment_count` = 2i and `last_tx_acknowledgment_received_at` =
    /// ts(3450 + i) (both omitted when i = 0), `gateway_remote_address` = {`ip` =
    /// `192.0.2.{i % 256}`}, `future_field` = 1.
    ///
    /// Kind 1, connected Basics Station: `connected_at` = ts(i), `protocol` = `ws` if `i % 8 ==
    /// 1` else `semtechws/lbslns`, `last_uplink_received_at` = ts(3500 + i), `uplink_count` =
    /// 2000 + 11i, `last_downlink_received_at` = ts(3400 + i), `downlink_count` = 5 + i,
    /// `round_trip_times` = {`min` = 10 ms × (1 + i % 5), `median` = 55_015_637 ns + i ns,
    /// `max` = (1 + i % 3) s, `count` = 32 + i}, `sub_bands` = [{`max_frequency` = u64::MAX,
    /// `downlink_utilization_limit` = 1, `downlink_utilization` = (1 + i % 100) as f64 /
    /// 100000.0}, {`min_frequency` = 863000000, `max_frequency` = 865000000,
    /// `downlink_utilization_limit` = 0.001}, {`min_frequency` = 868000000, `max_frequency` =
    /// 868600000, `downlink_utilization_limit` = 0.01, `downlink_utilization` = (i % 10) as f64
    /// / 10000.0 (omitted when 0)}], `gateway_remote_address` = {`ip` = `198.51.100.{i %
    /// 256}`}, `future_field` = 1; no `last_status`.
    ///
    /// Kind 2, disconnected, with the whole last record the server keeps for 48 h:
    /// `disconnected_at` = ts(7200 + i), `protocol` = `udp`, `last_status_received_at` =
    /// ts(3600 + i), `last_status` = {`time` = T0 + 3600 + i, `versions` = {`firmware`:
    /// `fake-1.0`}, `metrics` = {`rxin` = 10 + i, `rxok` = 9 + i, `temp` = 31.5}},
    /// `last_uplink_received_at` = ts(3500 + i), `uplink_count` = 500 + i,
    /// `last_downlink_received_at` = ts(3400 + i), `downlink_count` = 1 + i,
    /// `round_trip_times` (20/50/400 ms, 12 samples), one sub-band (863-865 MHz, limit
    /// 0.001, used 0.0002), `future_field` = 1; no `connected_at`.
    ///
    /// Kind 3: never connected, `stats` = None.
    ///
    /// Registry fields (listed only when the field mask names them): `antennas` =
    /// [{`gain` = 3, `location` = {`latitude` = 50.0 + i as f64 / 1000.0, `longitude` =
    /// 5.0 + i as f64 / 1000.0, `altitude` = 10 + i % 50, `source` = `SOURCE_REGISTRY`
    /// (`SOURCE_GPS` when `i % 8 == 6`: written from the gateway's GPS)},
    /// `placement` = `OUTDOOR`}] when `i % 4` is 1 or 3 or `i % 8 == 6`; [{`gain` = 2,
    /// `placement` = `INDOOR`}] (no location) when `i % 8 == 2`; omitted for kind 0 (whose
    /// location is in its status). `version_ids` = {`brand_id`, `model_id`} =
    /// (`the-things-industries`, `the-things-indoor-gateway`) for even `i`, else
    /// (`multitech`, `conduit`), `hardware_version` = `v1.1` (even `i` only),
    /// `firmware_version` = `v1.0.{i % 3}`, `runtime_version` = `mlinux-5.3` when
    /// `i % 4 == 0`; omitted when `i % 5 == 4`.
    pub fn synthetic(i: usize) -> Self {
        synthetic::gateway(i)
    }
}
