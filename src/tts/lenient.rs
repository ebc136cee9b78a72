//! Lenient readers for the API's scalars (proto3 JSON: uint64 as strings,
//! durations as `"1.5s"`, RFC 3339 timestamps, `null` for omitted, `"NaN"`)
//! and bounded readers for its lists and maps. A scalar that does not parse
//! is [`Field::Invalid`], not an error: the caller drops that one field.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::model::{
    SortedMap, SortedMapBuilder, UnixSeconds, MAX_STATUS_METRICS, MAX_STATUS_METRIC_NAME,
    MAX_SUB_BANDS,
};

/// A scalar as sent: absent (or `null`), a value that parses, or not.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Field<T> {
    /// Omitted or `null` (proto3: the zero value).
    #[default]
    Absent,
    /// A value that parses.
    Valid(T),
    /// A value that does not parse.
    Invalid,
}

/// A list or map read up to a bound; the rest is skipped and counted.
#[derive(Debug)]
pub struct Capped<T> {
    /// What was kept.
    pub items: T,
    /// How many were skipped.
    pub dropped: u64,
}

impl<T: Default> Default for Capped<T> {
    fn default() -> Self {
        Capped {
            items: T::default(),
            dropped: 0,
        }
    }
}

/// Parse an RFC 3339 timestamp into Unix seconds.
pub fn parse_timestamp(s: &str) -> Option<UnixSeconds> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    Some(t.unix_timestamp() as f64 + f64::from(t.nanosecond()) / 1e9)
}

/// Parse a proto3 JSON duration (`"0.018661971s"`, `"3s"`) into seconds.
pub fn parse_duration(s: &str) -> Option<f64> {
    let v: f64 = s.strip_suffix('s')?.parse().ok()?;
    v.is_finite().then_some(v)
}

/// A JSON scalar in any of the forms the API uses.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
}

pub fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Any JSON value: a scalar we can read, or something else (skipped).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Loose {
    Scalar(Scalar),
    Other(de::IgnoredAny),
}

pub fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Field<UnixSeconds>, D::Error> {
    Ok(match Option::<Loose>::deserialize(d)? {
        None => Field::Absent,
        Some(Loose::Scalar(Scalar::Str(s))) => match parse_timestamp(&s) {
            Some(t) => Field::Valid(t),
            None => Field::Invalid,
        },
        Some(_) => Field::Invalid,
    })
}

pub fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match Option::<Scalar>::deserialize(d)? {
        Some(Scalar::Str(s)) => parse_duration(&s),
        Some(Scalar::F64(f)) if f.is_finite() => Some(f),
        Some(Scalar::U64(u)) => Some(u as f64),
        _ => None,
    })
}

pub fn uint64<'de, D: Deserializer<'de>>(d: D) -> Result<Field<u64>, D::Error> {
    Ok(match Option::<Loose>::deserialize(d)? {
        None => Field::Absent,
        Some(Loose::Scalar(Scalar::U64(u))) => Field::Valid(u),
        Some(Loose::Scalar(Scalar::Str(s))) => match s.trim().parse() {
            Ok(u) => Field::Valid(u),
            Err(_) => Field::Invalid,
        },
        Some(_) => Field::Invalid,
    })
}

pub fn scalar_f64(v: Scalar) -> f64 {
    match v {
        Scalar::F64(f) => f,
        Scalar::U64(u) => u as f64,
        Scalar::I64(i) => i as f64,
        Scalar::Str(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or(f64::NAN),
        },
        Scalar::Bool(b) => f64::from(u8::from(b)),
    }
}

pub fn float<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map_or(0.0, scalar_f64))
}

/// `last_status.metrics`: at most [`MAX_STATUS_METRICS`] entries with names
/// of at most [`MAX_STATUS_METRIC_NAME`] bytes; the rest is skipped, counted.
pub fn status_metrics<'de, D: Deserializer<'de>>(d: D) -> Result<Capped<SortedMap<f64>>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Capped<SortedMap<f64>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of status metrics")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Capped::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Capped::default())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut items = SortedMapBuilder::new();
            let mut dropped = 0;
            while let Some(k) = m.next_key::<String>()? {
                let room = items.len() < MAX_STATUS_METRICS || items.contains_key(&k);
                if !room || k.len() > MAX_STATUS_METRIC_NAME {
                    m.next_value::<de::IgnoredAny>()?;
                    dropped += 1;
                    continue;
                }
                match m.next_value::<Option<Loose>>()? {
                    None => items.insert(k.into_boxed_str(), 0.0),
                    Some(Loose::Scalar(v)) => items.insert(k.into_boxed_str(), scalar_f64(v)),
                    Some(Loose::Other(_)) => dropped += 1,
                }
            }
            Ok(Capped {
                items: items.build(),
                dropped,
            })
        }
    }
    d.deserialize_option(V)
}

/// Registry `attributes` kept per gateway (the server allows 10).
pub const MAX_ATTRIBUTES: usize = 16;
/// Longest attribute key kept (the server's rule: 36).
pub const MAX_ATTRIBUTE_KEY: usize = 36;
/// Longest attribute value kept, in characters (the server's rule: 200).
pub const MAX_ATTRIBUTE_VALUE: usize = 200;

/// The registry's `attributes`: at most [`MAX_ATTRIBUTES`] string values,
/// keys of at most [`MAX_ATTRIBUTE_KEY`] bytes, values made one line and cut
/// at [`MAX_ATTRIBUTE_VALUE`] characters; anything else is skipped.
pub fn attributes<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    string_map(d, MAX_ATTRIBUTES, MAX_ATTRIBUTE_KEY, MAX_ATTRIBUTE_VALUE)
}

/// `last_status.versions` kept per gateway (the server allows 10).
pub const MAX_STATUS_VERSIONS: usize = 16;
/// Longest `last_status.versions` key kept (the server's rule: 36).
pub const MAX_STATUS_VERSION_KEY: usize = 36;
/// Longest `last_status.versions` value kept, in characters (the server
/// allows 128).
pub const MAX_STATUS_VERSION_VALUE: usize = 64;

/// `last_status.versions` (`station`, `firmware`, `package`, ...): at most
/// [`MAX_STATUS_VERSIONS`] string values, keys of at most
/// [`MAX_STATUS_VERSION_KEY`] bytes, values made one line and cut at
/// [`MAX_STATUS_VERSION_VALUE`] characters; anything else is skipped.
pub fn status_versions<'de, D: Deserializer<'de>>(d: D) -> Result<SortedMap<Box<str>>, D::Error> {
    let b: SortedMapBuilder<Box<str>> = string_map(
        d,
        MAX_STATUS_VERSIONS,
        MAX_STATUS_VERSION_KEY,
        MAX_STATUS_VERSION_VALUE,
    )?;
    Ok(b.build())
}

/// Where [`string_map`] collects: a `BTreeMap` (attributes) or a
/// [`SortedMapBuilder`] (`last_status.versions`), with the same semantics:
/// distinct keys counted, a repeated key's last value wins.
trait StringSink: Default {
    fn len(&self) -> usize;
    fn put(&mut self, key: String, value: String);
}

impl StringSink for BTreeMap<String, String> {
    fn len(&self) -> usize {
        BTreeMap::len(self)
    }
    fn put(&mut self, key: String, value: String) {
        self.insert(key, value);
    }
}

impl StringSink for SortedMapBuilder<Box<str>> {
    fn len(&self) -> usize {
        SortedMapBuilder::len(self)
    }
    fn put(&mut self, key: String, value: String) {
        self.insert(key.into_boxed_str(), value.into_boxed_str());
    }
}

/// A map of strings (or `null`), bounded: at most `items` entries, keys of
/// at most `key` bytes on one line, values made one line and cut at
/// `value` characters; other entries are read and skipped.
fn string_map<'de, D: Deserializer<'de>, S: StringSink>(
    d: D,
    items: usize,
    key: usize,
    value: usize,
) -> Result<S, D::Error> {
    struct V<S> {
        items: usize,
        key: usize,
        value: usize,
        sink: PhantomData<S>,
    }
    impl<'de, S: StringSink> de::Visitor<'de> for V<S> {
        type Value = S;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of strings")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(S::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(S::default())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
            let mut out = S::default();
            while let Some(k) = m.next_key::<String>()? {
                let room = out.len() < self.items
                    && k.len() <= self.key
                    && !k.is_empty()
                    && !k.chars().any(char::is_control);
                match m.next_value::<Option<Loose>>()? {
                    Some(Loose::Scalar(Scalar::Str(v))) if room => {
                        out.put(k, crate::model::sanitize::one_line(&v, self.value));
                    }
                    _ => {}
                }
            }
            Ok(out)
        }
    }
    d.deserialize_option(V {
        items,
        key,
        value,
        sink: PhantomData,
    })
}

/// `sub_bands`: at most [`MAX_SUB_BANDS`]; the rest is skipped, counted.
pub fn sub_bands<'de, D, T>(d: D) -> Result<Capped<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> de::Visitor<'de> for V<T> {
        type Value = Capped<Vec<T>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of sub-bands")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Capped::default())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Capped::default())
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
            let mut out = Capped::<Vec<T>>::default();
            loop {
                if out.items.len() < MAX_SUB_BANDS {
                    match s.next_element::<T>()? {
                        Some(b) => out.items.push(b),
                        None => break,
                    }
                } else {
                    match s.next_element::<de::IgnoredAny>()? {
                        Some(_) => out.dropped += 1,
                        None => break,
                    }
                }
            }
            Ok(out)
        }
    }
    d.deserialize_option(V(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_0_to_9_fraction_digits() {
        assert_eq!(parse_timestamp("2022-02-12T10:30:47Z"), Some(1644661847.0));
        assert_eq!(
            parse_timestamp("2022-02-12T10:30:47.5Z"),
            Some(1644661847.5)
        );
        assert_eq!(
            parse_timestamp("2022-02-12T10:30:47.123Z"),
            Some(1644661847.123)
        );
        assert_eq!(
            parse_timestamp("2022-02-12T10:30:47.123456Z"),
            Some(1644661847.123456)
        );
        assert_eq!(parse_timestamp("yesterday"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0.018661971s"), Some(0.018661971));
        assert_eq!(parse_duration("1.500s"), Some(1.5));
        assert_eq!(parse_duration("3s"), Some(3.0));
        assert_eq!(parse_duration("3"), None);
        assert_eq!(parse_duration("NaNs"), None);
    }
}
