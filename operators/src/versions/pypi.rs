//! PyPI ordering: PEP 440 (through `pep440_rs`), with versions that are not valid PEP 440 ordered the
//! way `packaging`'s `LegacyVersion` did — before every valid version, and among themselves by
//! setuptools' legacy key — since old advisories still name such versions.

use std::cmp::Ordering;
use std::str::FromStr;

use pep440_rs::Version;

/// setuptools' legacy comparison key.
fn legacy_key(v: &str) -> Vec<String> {
    let lower = v.to_lowercase();
    let mut raw = Vec::new();
    let mut cur = String::new();
    let mut kind = 0u8; // 0 none, 1 digits, 2 letters
    let flush = |cur: &mut String, raw: &mut Vec<String>| {
        if !cur.is_empty() {
            raw.push(std::mem::take(cur));
        }
    };
    for c in lower.chars() {
        let k = if c.is_ascii_digit() {
            1
        } else if c.is_ascii_lowercase() {
            2
        } else {
            3
        };
        if k == 3 {
            flush(&mut cur, &mut raw);
            raw.push(c.to_string());
            kind = 0;
            continue;
        }
        if k != kind {
            flush(&mut cur, &mut raw);
        }
        cur.push(c);
        kind = k;
    }
    flush(&mut cur, &mut raw);
    let mut parts: Vec<String> = Vec::new();
    let push = |part: String, parts: &mut Vec<String>| {
        if part.starts_with('*') {
            if part.as_str() < "*final" {
                while parts.last().is_some_and(|p| p == "*final-") {
                    parts.pop();
                }
            }
            while parts.last().is_some_and(|p| p == "00000000") {
                parts.pop();
            }
        }
        parts.push(part);
    };
    for part in raw {
        let part = match part.as_str() {
            "pre" | "preview" | "rc" => "c".to_string(),
            "-" => "final-".to_string(),
            "dev" => "@".to_string(),
            _ => part,
        };
        if part.is_empty() || part == "." {
            continue;
        }
        let part = if part.as_bytes()[0].is_ascii_digit() { format!("{part:0>8}") } else { format!("*{part}") };
        push(part, &mut parts);
    }
    push("*final".to_string(), &mut parts);
    parts
}

/// A PyPI version parsed once, ordered like [`compare`]: legacy (non-PEP 440) versions first.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// Not PEP 440: setuptools' legacy key.
    Legacy(Vec<String>),
    /// PEP 440.
    Pep440(Version),
}

/// Parses `v` into its ordering key.
pub fn key(v: &str) -> Key {
    match Version::from_str(v.trim()) {
        Ok(x) => Key::Pep440(x),
        Err(_) => Key::Legacy(legacy_key(v)),
    }
}

/// Compares two PyPI versions.
pub fn compare(a: &str, b: &str) -> Ordering {
    key(a).cmp(&key(b))
}

/// PEP 503 name normalisation: lower case, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pep440_and_legacy() {
        assert_eq!(compare("1.0.dev0", "1.0a0"), Ordering::Less);
        assert_eq!(compare("1!1.0", "2.0"), Ordering::Greater);
        assert_eq!(compare("0.9-ivysaur", "1.0"), Ordering::Less);
        assert_eq!(compare("0.1-bulbasaur", "0.1-charmander"), Ordering::Less);
        assert_eq!(normalize_name("Django_REST.framework"), "django-rest-framework");
    }
}
