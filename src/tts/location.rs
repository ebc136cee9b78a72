//! Where a gateway is and what it is: the registry's `antennas` and
//! `version_ids` (asked for in the list's field mask) and the last status's
//! `antenna_locations`. A list of locations is read to its end but only its
//! first valid location is kept, so a long list costs no memory. Coordinates
//! are read leniently (numbers or strings); one that is not finite or out of
//! range makes that location invalid (see [`Location::new`]).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;

use super::lenient::{scalar_f64, Loose, Scalar};
use crate::model::{Location, VersionIds};

/// Longest `version_ids` string kept (characters, then `...`).
pub const MAX_VERSION_CHARS: usize = 64;

/// `Location`: zero fields are omitted (proto3), so a missing latitude and
/// longitude both mean "unknown", while one missing coordinate is 0.
#[derive(Debug, Default, Deserialize)]
struct ApiLocation {
    #[serde(default, deserialize_with = "coordinate")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "coordinate")]
    longitude: Option<f64>,
    #[serde(default, deserialize_with = "coordinate")]
    altitude: Option<f64>,
    /// `source` (`LocationSource`) is `SOURCE_GPS` (1): the Gateway Server wrote the
    /// gateway's own GPS fix into the registry.
    #[serde(default, rename = "source", deserialize_with = "gps_source")]
    from_gps: bool,
}

/// `source` is `SOURCE_GPS` (or its number, 1); anything else is not GPS.
fn gps_source<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(match Option::<Loose>::deserialize(d)? {
        Some(Loose::Scalar(Scalar::Str(s))) => s == "SOURCE_GPS",
        Some(Loose::Scalar(Scalar::U64(n))) => n == 1,
        _ => false,
    })
}

impl ApiLocation {
    fn to_location(&self) -> Option<Location> {
        if self.latitude.is_none() && self.longitude.is_none() {
            return None;
        }
        let from_gps = self.from_gps;
        Location::new(
            self.latitude.unwrap_or(0.0),
            self.longitude.unwrap_or(0.0),
            // proto3 omits an altitude of 0
            Some(self.altitude.unwrap_or(0.0)),
        )
        .map(|l| Location { from_gps, ..l })
    }
}

/// `GatewayAntenna`: only its location matters here.
#[derive(Debug, Default, Deserialize)]
struct ApiAntenna {
    #[serde(default)]
    location: Option<ApiLocation>,
}

/// A number, or a string holding one; anything else is NaN (invalid).
fn coordinate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Loose>::deserialize(d)? {
        None => None,
        Some(Loose::Scalar(s)) => Some(scalar_f64(s)),
        Some(Loose::Other(_)) => Some(f64::NAN),
    })
}

/// `antennas`: the location of the first antenna with a valid one.
pub fn antennas_location<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Location>, D::Error> {
    d.deserialize_option(FirstValid::<ApiAntenna>(
        |a| a.location.as_ref()?.to_location(),
        PhantomData,
    ))
}

/// `last_status.antenna_locations`: the first valid location.
pub fn status_location<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Location>, D::Error> {
    // Every status location comes from the gateway: `from_gps` is only
    // said of the registry's.
    d.deserialize_option(FirstValid::<ApiLocation>(
        |l| {
            l.to_location().map(|l| Location {
                from_gps: false,
                ..l
            })
        },
        PhantomData,
    ))
}

/// Reads a list (or `null`), keeping the first element that `pick` turns
/// into a location and skipping the rest without storing it.
struct FirstValid<T>(fn(&T) -> Option<Location>, PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstValid<T> {
    type Value = Option<Location>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of locations or antennas")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while found.is_none() {
            match s.next_element::<T>()? {
                Some(item) => found = (self.0)(&item),
                None => return Ok(None),
            }
        }
        while s.next_element::<IgnoredAny>()?.is_some() {}
        Ok(found)
    }
}

/// `GatewayVersionIdentifiers`.
#[derive(Debug, Default, Deserialize)]
struct ApiVersionIds {
    #[serde(default, deserialize_with = "text")]
    brand_id: String,
    #[serde(default, deserialize_with = "text")]
    model_id: String,
    #[serde(default, deserialize_with = "text")]
    hardware_version: String,
    #[serde(default, deserialize_with = "text")]
    firmware_version: String,
    #[serde(default, deserialize_with = "text")]
    runtime_version: String,
}

/// A string on one line, at most [`MAX_VERSION_CHARS`]; anything else is
/// empty.
fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<Loose>::deserialize(d)? {
        Some(Loose::Scalar(Scalar::Str(s))) => {
            crate::model::sanitize::one_line(&s, MAX_VERSION_CHARS)
        }
        _ => String::new(),
    })
}

/// `version_ids`; `None` when absent or every field is empty.
pub fn version_ids<'de, D: Deserializer<'de>>(d: D) -> Result<Option<VersionIds>, D::Error> {
    let Some(v) = Option::<ApiVersionIds>::deserialize(d)? else {
        return Ok(None);
    };
    let v = VersionIds {
        brand_id: v.brand_id,
        model_id: v.model_id,
        hardware_version: v.hardware_version,
        firmware_version: v.firmware_version,
        runtime_version: v.runtime_version,
    };
    Ok((v != VersionIds::default()).then_some(v))
}
