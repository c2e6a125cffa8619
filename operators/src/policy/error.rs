//! Policy errors with a line and column, and the locator that finds where a key path is written.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A rejected policy document: where (1-based line and column when known; the key path always when
/// the problem is inside the document) and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// 1-based line of the offending key or value.
    pub line: Option<usize>,
    /// 1-based column.
    pub column: Option<usize>,
    /// Key path, e.g. `trust.rules[1].recover_above` (empty for the whole document).
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for PolicyError {
    /// `LINE:COLUMN: PATH: MESSAGE` (parts that are unknown are left out).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "{l}:{c}: ")?;
        }
        if !self.path.is_empty() && self.path != "." {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A mapping key (or struct field).
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// `trust.rules[1].below`.
pub(crate) fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

impl PolicyError {
    /// An error about the whole document (no location).
    pub(crate) fn document(message: impl Into<String>) -> Self {
        PolicyError { line: None, column: None, path: String::new(), message: message.into() }
    }

    /// An error at `path`, located in `yaml` (the key itself, or the nearest ancestor written there).
    pub(crate) fn at(yaml: &str, path: &[Seg], message: impl Into<String>) -> Self {
        let loc = locate(yaml, path);
        PolicyError {
            line: loc.map(|l| l.0),
            column: loc.map(|l| l.1),
            path: path_string(path),
            message: message.into(),
        }
    }

    /// From a deserialization error: serde_yaml_ng's location, serde_path_to_error's path, and the
    /// message without the location and path they already print.
    pub(crate) fn from_serde(e: serde_path_to_error::Error<serde_yaml_ng::Error>) -> Self {
        let path = e.path().to_string();
        let inner = e.inner();
        let loc = inner.location().map(|l| (l.line(), l.column()));
        let mut message = inner.to_string();
        if let Some((l, c)) = loc
            && let Some(at) = message.find(&format!(" at line {l} column {c}"))
        {
            // libyaml adds context after the location (", while parsing a block mapping at ..."):
            // keep it, it helps with syntax errors.
            let tail = message[at..].replacen(&format!(" at line {l} column {c}"), "", 1);
            message.truncate(at);
            message.push_str(&tail);
        }
        // serde_yaml_ng prefixes its own path (that of the mapping, for an unknown key): drop it, the
        // full path is printed separately.
        if let Some((head, rest)) = message.split_once(": ")
            && !head.is_empty()
            && !head.contains(' ')
            && (path.starts_with(head) || head == "?")
        {
            message = rest.to_string();
        }
        // serde_path_to_error says `.` for the root and `?` where it lost track (syntax errors).
        let path = if path == "." || path == "?" { String::new() } else { path };
        PolicyError { line: loc.map(|l| l.0), column: loc.map(|l| l.1), path, message }
    }
}

/// The marker error the locator raises where it finds its target.
const FOUND: &str = "\u{0}trustloop-policy-locate\u{0}";

/// Where `path` is written in `yaml` (1-based line, column): the key for a mapping key, the item for
/// a sequence index. When it is not written (a value that took its default), the nearest ancestor.
pub(crate) fn locate(yaml: &str, path: &[Seg]) -> Option<(usize, usize)> {
    (1..=path.len()).rev().find_map(|n| locate_exact(yaml, &path[..n]))
}

fn locate_exact(yaml: &str, target: &[Seg]) -> Option<(usize, usize)> {
    let de = serde_yaml_ng::Deserializer::from_str(yaml);
    match (Walk { target, depth: 0 }).deserialize(de) {
        Err(e) if e.to_string().contains(FOUND) => e.location().map(|l| (l.line(), l.column())),
        _ => None,
    }
}

/// Walks a value whose path so far is `target[..depth]`. serde_yaml_ng gives an error raised by a
/// visitor the position of the event being visited, so raising [`FOUND`] on the target yields its
/// position.
#[derive(Clone, Copy)]
struct Walk<'a> {
    target: &'a [Seg],
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(on_path) = map.next_key_seed(Key(self))? {
            if on_path {
                map.next_value_seed(Walk { target: self.target, depth: self.depth + 1 })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let on_path = self.target.get(self.depth) == Some(&Seg::Index(i));
            let more = if on_path && self.depth + 1 == self.target.len() {
                seq.next_element_seed(Found)?.is_some()
            } else if on_path {
                seq.next_element_seed(Walk { target: self.target, depth: self.depth + 1 })?.is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }
}

/// A mapping key: `Ok(true)` when it continues the target path, the marker error when it ends it.
struct Key<'a>(Walk<'a>);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_str<E: de::Error>(self, k: &str) -> Result<bool, E> {
        let Walk { target, depth } = self.0;
        match target.get(depth) {
            Some(Seg::Key(t)) if t == k && depth + 1 == target.len() => Err(E::custom(FOUND)),
            Some(Seg::Key(t)) => Ok(t == k),
            _ => Ok(false),
        }
    }
}

/// The target item of a sequence: fails with the marker whatever it is.
struct Found;

impl<'de> DeserializeSeed<'de> for Found {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Found {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Err(E::custom(FOUND))
    }
    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(de::Error::custom(FOUND))
    }
}
