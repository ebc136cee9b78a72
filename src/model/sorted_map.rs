//! [`SortedMap`]: a small map stored as one boxed slice of entries sorted by
//! key, for the per-gateway `last_status` maps. A `BTreeMap` allocates a
//! whole node (11 slots) even for one entry; this holds exactly its entries
//! (a 16-byte boxed key and the value each), and its few entries (at most 64)
//! are found by binary search.

use std::fmt;

/// A map from string keys to `V`, sorted by key (byte order, as
/// `BTreeMap<String, V>`), each key once. Built with [`SortedMapBuilder`] or
/// [`FromIterator`] (a repeated key: the last value wins, as
/// `BTreeMap::insert`).
#[derive(Clone, PartialEq)]
pub struct SortedMap<V> {
    entries: Box<[(Box<str>, V)]>,
}

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        SortedMap {
            entries: Box::new([]),
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for SortedMap<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<V> SortedMap<V> {
    /// An empty map (no allocation).
    pub fn new() -> Self {
        SortedMap::default()
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries
            .binary_search_by(|(k, _)| (**k).cmp(key))
            .ok()
            .and_then(|i| self.entries.get(i))
            .map(|(_, v)| v)
    }

    /// Whether `key` is in the map.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        self.entries.iter().map(|(k, _)| &**k)
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &V)> + '_ {
        self.entries.iter().map(|(k, v)| (&**k, v))
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Insert or replace `key` (rebuilds the slice: for tests and rare
    /// edits; a parser uses [`SortedMapBuilder`]).
    pub fn insert(&mut self, key: String, value: V) {
        let mut b = SortedMapBuilder {
            entries: std::mem::take(&mut self.entries).into_vec(),
        };
        b.insert(key.into_boxed_str(), value);
        *self = b.build();
    }
}

/// `map["key"]`, as for `BTreeMap`: panics when the key is missing.
impl<V> std::ops::Index<&str> for SortedMap<V> {
    type Output = V;
    fn index(&self, key: &str) -> &V {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no entry {key:?} in the map"),
        }
    }
}

impl<'a, V> IntoIterator for &'a SortedMap<V> {
    type Item = (&'a str, &'a V);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Box<str>, V)>,
        fn(&'a (Box<str>, V)) -> (&'a str, &'a V),
    >;
    fn into_iter(self) -> Self::IntoIter {
        fn pair<V>((k, v): &(Box<str>, V)) -> (&str, &V) {
            (k, v)
        }
        self.entries.iter().map(pair)
    }
}

impl<K: Into<Box<str>>, V> FromIterator<(K, V)> for SortedMap<V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut b = SortedMapBuilder::new();
        for (k, v) in iter {
            b.insert(k.into(), v);
        }
        b.build()
    }
}

/// Collects a [`SortedMap`]: kept sorted as entries arrive, then shrunk to
/// its length by [`build`](SortedMapBuilder::build).
#[derive(Debug)]
pub struct SortedMapBuilder<V> {
    entries: Vec<(Box<str>, V)>,
}

impl<V> Default for SortedMapBuilder<V> {
    fn default() -> Self {
        SortedMapBuilder {
            entries: Vec::new(),
        }
    }
}

impl<V> SortedMapBuilder<V> {
    /// An empty builder.
    pub fn new() -> Self {
        SortedMapBuilder::default()
    }

    /// Distinct keys so far.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key was inserted yet.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `key` was inserted.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| (**k).cmp(key))
    }

    /// Insert `key`, or replace its value (the last value wins, as
    /// `BTreeMap::insert`).
    pub fn insert(&mut self, key: Box<str>, value: V) {
        match self.position(&key) {
            Ok(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.1 = value;
                }
            }
            Err(i) => self.entries.insert(i, (key, value)),
        }
    }

    /// The map, holding exactly its entries.
    pub fn build(self) -> SortedMap<V> {
        SortedMap {
            entries: self.entries.into_boxed_slice(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn same_order_and_last_wins_as_btreemap() {
        let input = [
            ("rxok", 1.0),
            ("Temp", 2.0),
            ("ä", 3.0),
            ("rxin", 4.0),
            ("rxok", 5.0),
            ("", 6.0),
            ("a", 7.0),
        ];
        let b: BTreeMap<String, f64> = input.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        let s: SortedMap<f64> = input.iter().map(|(k, v)| (*k, *v)).collect();
        let bv: Vec<(&str, &f64)> = b.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let sv: Vec<(&str, &f64)> = s.iter().collect();
        assert_eq!(sv, bv);
        assert_eq!(s.len(), 6);
        assert_eq!(s.get("rxok"), Some(&5.0));
        assert_eq!(s.get("rx"), None);
        assert!(s.contains_key(""));
        assert!(!s.contains_key("b"));
    }

    #[test]
    fn insert_keeps_it_sorted() {
        let mut s = SortedMap::new();
        assert!(s.is_empty());
        s.insert("b".into(), "2".to_string());
        s.insert("a".into(), "1".to_string());
        s.insert("b".into(), "3".to_string());
        assert_eq!(s["a"], "1");
        let v: Vec<_> = (&s).into_iter().map(|(k, v)| (k, v.as_str())).collect();
        assert_eq!(v, [("a", "1"), ("b", "3")]);
        assert_eq!(format!("{s:?}"), r#"{"a": "1", "b": "3"}"#);
    }

    #[test]
    fn build_holds_exactly_its_entries() {
        let mut b = SortedMapBuilder::new();
        for i in 0..40 {
            b.insert(format!("k{i}").into(), i);
        }
        assert_eq!(b.len(), 40);
        let s = b.build();
        assert_eq!(s.len(), 40);
        assert_eq!(s.get("k39"), Some(&39));
        assert_eq!(s.keys().next(), Some("k0"));
    }

    #[test]
    #[should_panic(expected = "no entry")]
    fn index_of_a_missing_key_panics() {
        let s: SortedMap<f64> = [("a", 1.0)].into_iter().collect();
        let _ = s["b"];
    }
}
