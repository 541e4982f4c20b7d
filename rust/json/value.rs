//! The owned JSON value used for everything the chunk scanner does not fold into a typed
//! accumulator (unknown keys, usage, logprobs entries) and for the assembled completion.
//!
//! Numbers keep their JSON text: integers of any size and floats round-trip exactly, and the
//! Python binding decides how to build them.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// A JSON object: keys in insertion order; inserting an existing key replaces its value in
/// place (a duplicate key in JSON text keeps the last value, as in Python).
pub type Map = OrderedMap<String>;

/// The ordered map behind [`Map`]. The key type is open so that a chunk's unknown keys
/// (`formats::chat::scan::Extras`) can borrow from the payload until they are merged.
///
/// Chunk objects are small (a logprobs entry has four keys), so lookups scan a vector; a hash
/// index is built only past [`Map::INDEX_AT`] keys, so a hostile object with many keys still
/// costs linear time.
#[derive(Debug)]
pub struct OrderedMap<K: MapKey> {
    entries: Vec<(K, Value)>,
    // Boxed: maps are everywhere in a completion and almost never get an index, so the
    // absent index should cost one pointer, not an empty HashMap.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<K, usize>>>,
}

/// What an [`OrderedMap`] key must do: be looked up by its text.
pub trait MapKey: Borrow<str> + Hash + Eq + Clone {}

impl<K: Borrow<str> + Hash + Eq + Clone> MapKey for K {}

impl<K: MapKey> Default for OrderedMap<K> {
    fn default() -> Self {
        OrderedMap {
            entries: Vec::new(),
            index: None,
        }
    }
}

impl Map {
    pub fn new() -> Self {
        Map::default()
    }

    pub fn with_capacity(n: usize) -> Self {
        Map {
            entries: Vec::with_capacity(n.min(Self::INDEX_AT)),
            index: None,
        }
    }
}

impl<K: MapKey> OrderedMap<K> {
    pub const INDEX_AT: usize = 16;

    fn position(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(ix) => ix.get(key).copied(),
            None => self.entries.iter().position(|(k, _)| k.borrow() == key),
        }
    }

    /// Inserts or replaces in place; returns the value replaced.
    pub fn insert(&mut self, key: K, value: Value) -> Option<Value> {
        if let Some(i) = self.position(key.borrow()) {
            return self
                .entries
                .get_mut(i)
                .map(|e| std::mem::replace(&mut e.1, value));
        }
        self.push_absent(key, value);
        None
    }

    /// Appends `key`, which the caller just searched for and did not find (a miss of
    /// [`Self::index_of`]), sparing the second search [`Self::insert`] would make; its
    /// position. A key already there would be in the map twice.
    pub fn push_absent(&mut self, key: K, value: Value) -> usize {
        debug_assert!(self.position(key.borrow()).is_none());
        let at = self.entries.len();
        if let Some(ix) = &mut self.index {
            ix.insert(key.clone(), at);
        }
        self.entries.push((key, value));
        if self.index.is_none() && self.entries.len() > Self::INDEX_AT {
            let ix = self
                .entries
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.clone(), i))
                .collect();
            self.index = Some(Box::new(ix));
        }
        at
    }

    /// Inserts only if the key is absent.
    pub fn insert_if_absent(&mut self, key: &str, value: impl FnOnce() -> Value)
    where
        K: for<'k> From<&'k str>,
    {
        if self.position(key).is_none() {
            self.insert(K::from(key), value());
        }
    }

    /// Removes a key, keeping the order of the others; returns its value. Linear time.
    pub fn shift_remove(&mut self, key: &str) -> Option<Value> {
        let i = self.position(key)?;
        let (_, value) = self.entries.remove(i);
        if let Some(ix) = &mut self.index {
            ix.remove(key);
            for at in ix.values_mut() {
                if *at > i {
                    *at -= 1;
                }
            }
        }
        Some(value)
    }

    /// Where `key` is, for [`Self::entry_at_mut`]: a position stays valid until a key is
    /// inserted or removed.
    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.position(key)
    }

    /// The entry at a position found by [`Self::index_of`]; the caller checks the key, so a
    /// stale position finds a wrong entry or none, never a wrong value under the right key.
    pub fn entry_at_mut(&mut self, i: usize) -> Option<(&K, &mut Value)> {
        self.entries.get_mut(i).map(|(k, v)| (&*k, v))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key)
            .and_then(|i| self.entries.get(i))
            .map(|e| &e.1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        match self.position(key) {
            Some(i) => self.entries.get_mut(i).map(|e| &mut e.1),
            None => None,
        }
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&K, &mut Value)> {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    pub fn into_values(mut self) -> impl Iterator<Item = Value> {
        std::mem::take(&mut self.entries)
            .into_iter()
            .map(|(_, v)| v)
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.entries.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.iter().map(|(_, v)| v)
    }
}

impl<K: MapKey> PartialEq for OrderedMap<K> {
    /// Order-insensitive, like dict equality.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k.borrow()) == Some(v))
    }
}

// Clone, drop and equality of values walk the tree with a heap work list, never the call
// stack: a value may nest as deep as `max_depth` allows (see `limits::DEPTH_CEILING`).

impl<K: MapKey> Clone for OrderedMap<K> {
    fn clone(&self) -> Self {
        OrderedMap {
            entries: self
                .entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            index: self.index.clone(),
        }
    }
}

impl<K: MapKey> Drop for OrderedMap<K> {
    fn drop(&mut self) {
        let mut work: Vec<Value> = Vec::new();
        take_children(&mut self.entries, &mut work);
        while let Some(mut value) = work.pop() {
            match &mut value {
                Value::Array(items) => work.append(items),
                Value::Object(map) => take_children(&mut map.entries, &mut work),
                _ => {}
            }
            // `value` now owns no nested containers: dropping it cannot recurse.
        }
    }
}

/// Moves the values of `entries` onto `work`, keeping only the keys to drop.
fn take_children<K>(entries: &mut Vec<(K, Value)>, work: &mut Vec<Value>) {
    // Only containers need taking apart; leaving leaves in place avoids moving them.
    if entries
        .iter()
        .any(|(_, v)| matches!(v, Value::Array(_) | Value::Object(_)))
    {
        work.extend(entries.drain(..).map(|(_, v)| v));
    }
}

impl<K: MapKey> IntoIterator for OrderedMap<K> {
    type Item = (K, Value);
    type IntoIter = std::vec::IntoIter<(K, Value)>;

    fn into_iter(mut self) -> Self::IntoIter {
        std::mem::take(&mut self.entries).into_iter()
    }
}

impl<'m, K: MapKey> IntoIterator for &'m OrderedMap<K> {
    type Item = (&'m K, &'m Value);
    type IntoIter =
        std::iter::Map<std::slice::Iter<'m, (K, Value)>, fn(&'m (K, Value)) -> (&'m K, &'m Value)>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[derive(Debug, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    /// The number's JSON text, already validated against the JSON grammar.
    Number(Box<str>),
    String(String),
    Array(Vec<Value>),
    Object(Map),
    /// A JSON value kept as its validated text, built into objects only when converted.
    /// Logprobs entries are only ever appended and handed out, never merged, and building
    /// each one as a tree cost dozens of small allocations per chunk.
    Raw(Box<str>),
}

/// A container being copied by [`Value::clone`]: the source children still to copy, and the
/// copy so far (an object also holds the key of the child being copied).
enum Copying<'a> {
    Array(std::slice::Iter<'a, Value>, Vec<Value>),
    Object(std::slice::Iter<'a, (String, Value)>, Map, Option<&'a str>),
}

impl<'a> Copying<'a> {
    /// A leaf's copy, or the container to fill.
    fn start(v: &'a Value) -> Result<Value, Copying<'a>> {
        match v {
            Value::Null => Ok(Value::Null),
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::Number(t) => Ok(Value::Number(t.clone())),
            Value::String(t) => Ok(Value::String(t.clone())),
            Value::Raw(t) => Ok(Value::Raw(t.clone())),
            Value::Array(items) => Err(Copying::Array(
                items.iter(),
                Vec::with_capacity(items.len()),
            )),
            Value::Object(m) => Err(Copying::Object(
                m.entries.iter(),
                Map {
                    entries: Vec::with_capacity(m.entries.len()),
                    // Same keys at the same positions: the index stays valid.
                    index: m.index.clone(),
                },
                None,
            )),
        }
    }

    fn next_child(&mut self) -> Option<&'a Value> {
        match self {
            Copying::Array(todo, _) => todo.next(),
            Copying::Object(todo, _, key) => todo.next().map(|(k, v)| {
                *key = Some(k);
                v
            }),
        }
    }

    fn accept(&mut self, v: Value) {
        match self {
            Copying::Array(_, copy) => copy.push(v),
            Copying::Object(_, copy, key) => {
                if let Some(k) = key.take() {
                    copy.entries.push((k.to_owned(), v));
                }
            }
        }
    }

    fn finish(self) -> Value {
        match self {
            Copying::Array(_, copy) => Value::Array(copy),
            Copying::Object(_, copy, _) => Value::Object(copy),
        }
    }
}

impl Clone for Value {
    fn clone(&self) -> Self {
        let mut open: Vec<Copying<'_>> = Vec::new();
        let mut next = Some(self);
        let mut finished: Option<Value> = None;
        loop {
            if let Some(v) = next.take() {
                match Copying::start(v) {
                    Ok(leaf) => finished = Some(leaf),
                    Err(container) => open.push(container),
                }
            }
            let Some(top) = open.last_mut() else {
                return finished.unwrap_or_default();
            };
            if let Some(v) = finished.take() {
                top.accept(v);
            }
            match top.next_child() {
                Some(child) => next = Some(child),
                None => finished = open.pop().map(Copying::finish),
            }
        }
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        let mut pairs = vec![(self, other)];
        while let Some(pair) = pairs.pop() {
            match pair {
                (Value::Null, Value::Null) => {}
                (Value::Bool(a), Value::Bool(b)) if a == b => {}
                (Value::Number(a), Value::Number(b)) if a == b => {}
                (Value::String(a), Value::String(b)) if a == b => {}
                (Value::Raw(a), Value::Raw(b)) if a == b => {}
                (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                    pairs.extend(a.iter().zip(b));
                }
                (Value::Object(a), Value::Object(b)) if a.len() == b.len() => {
                    // Order-insensitive, like dict equality.
                    for (k, v) in a {
                        match b.get(k) {
                            Some(w) => pairs.push((v, w)),
                            None => return false,
                        }
                    }
                }
                _ => return false,
            }
        }
        true
    }
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// True for a number whose value is zero (`0`, `-0`, `0.0`, `0e5`, ...).
    pub fn is_zero_number(&self) -> bool {
        match self {
            Value::Number(text) => text
                .bytes()
                .take_while(|b| !matches!(b, b'e' | b'E'))
                .all(|b| matches!(b, b'0' | b'-' | b'+' | b'.')),
            _ => false,
        }
    }

    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn int(n: i64) -> Value {
        Value::Number(n.to_string().into_boxed_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removing_keeps_the_order_with_and_without_the_index() {
        for n in [3, 40] {
            let mut m: OrderedMap<std::borrow::Cow<'_, str>> = OrderedMap::default();
            for i in 0..n {
                m.insert(format!("k{i}").into(), Value::int(i));
            }
            assert_eq!(m.shift_remove("k1"), Some(Value::int(1)));
            assert_eq!(m.shift_remove("k1"), None);
            m.insert("k0".into(), Value::int(-1));
            let keys: Vec<String> = m.keys().map(ToString::to_string).collect();
            let want: Vec<String> = (0..n)
                .filter(|i| *i != 1)
                .map(|i| format!("k{i}"))
                .collect();
            assert_eq!(keys, want);
            assert_eq!(m.get("k0"), Some(&Value::int(-1)));
            assert_eq!(m.get(&format!("k{}", n - 1)), Some(&Value::int(n - 1)));
        }
    }

    #[test]
    fn map_replaces_in_place_and_indexes_large_objects() {
        let mut m = Map::new();
        for i in 0..100 {
            m.insert(format!("k{i}"), Value::int(i));
        }
        m.insert("k3".into(), Value::Null);
        assert_eq!(m.len(), 100);
        assert_eq!(m.get("k3"), Some(&Value::Null));
        assert_eq!(m.get("k99"), Some(&Value::int(99)));
        assert_eq!(m.iter().nth(3).map(|(k, _)| k.as_str()), Some("k3"));
        let mut small = Map::new();
        small.insert("a".into(), Value::int(1));
        small.insert("a".into(), Value::int(2));
        assert_eq!(small.len(), 1);
        assert_eq!(small.get("a"), Some(&Value::int(2)));
    }

    #[test]
    fn zero_numbers_are_recognised() {
        for zero in ["0", "-0", "0.0", "0e5", "0.000E-3"] {
            assert!(Value::Number(zero.into()).is_zero_number(), "{zero}");
        }
        for nonzero in ["1", "0.1", "10", "-3e0", "100e-2"] {
            assert!(!Value::Number(nonzero.into()).is_zero_number(), "{nonzero}");
        }
        assert!(!Value::Null.is_zero_number());
    }
}
