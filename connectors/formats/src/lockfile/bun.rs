//! bun's text lockfile `bun.lock`: JSON with comments and trailing commas.
//!
//! Packages come from `packages`, keyed by install path (`a`, `a/b` for a copy nested under `a`),
//! each a tuple whose first element is `name@version` (or `name@github:…`, `name@file:…`). A
//! registry version makes a package; `file:`, `link:` and `workspace:` are left out as local and
//! git or URL sources as VCS. bun records no groups per package; a top-level package the
//! workspaces declare is direct.

use std::collections::HashSet;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::npm::{LineIndex, Ordered, is_local, json_error, pointer, push_package};
use super::yarn::split_descriptor;
use super::{LeftOut, LeftOutReason, Parsed};
use crate::error::{FormatError, Location};

/// Parses the `bun.lock` file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let json = strip_jsonc(text);
    let lock: Option<Lockfile<'_>> = serde_json::from_str(&json).map_err(|e| json_error(path, &e))?;
    let lock = lock.ok_or_else(|| FormatError::new(path, Location::Document, "the document is null, not an object"))?;
    let lines = LineIndex::new(&json);
    let declared = declared_names(lock.workspaces.as_ref(), path)?;
    let mut out = Parsed::default();
    for (key, raw) in lock.packages.iter().flat_map(|p| p.0.iter()) {
        let location = lines
            .line_of(&json, raw.get())
            .map_or_else(|| Location::Pointer(pointer("/packages", key)), Location::Line);
        read_entry(key, raw, &declared, location, &mut out);
    }
    Ok(out)
}

/// The top level of a lockfile: only what is read.
#[derive(Deserialize)]
struct Lockfile<'a> {
    /// Workspace path → its manifest's dependency lists.
    #[serde(borrow, default)]
    workspaces: Option<Ordered<'a>>,
    /// Install path → tuple.
    #[serde(borrow, default)]
    packages: Option<Ordered<'a>>,
}

/// A workspace's dependency lists: only their names.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Workspace<'a> {
    #[serde(borrow)]
    dependencies: Option<Ordered<'a>>,
    #[serde(borrow)]
    dev_dependencies: Option<Ordered<'a>>,
    #[serde(borrow)]
    optional_dependencies: Option<Ordered<'a>>,
    #[serde(borrow)]
    peer_dependencies: Option<Ordered<'a>>,
}

/// Names any workspace declares as a dependency.
fn declared_names(workspaces: Option<&Ordered<'_>>, path: &str) -> Result<HashSet<String>, FormatError> {
    let mut names = HashSet::new();
    for (key, raw) in workspaces.iter().flat_map(|w| w.0.iter()) {
        let ws: Workspace<'_> = serde_json::from_str(raw.get()).map_err(|e| {
            FormatError::new(
                path,
                Location::Pointer(pointer("/workspaces", key)),
                format!("not a valid workspace: {e}"),
            )
        })?;
        for list in [&ws.dependencies, &ws.dev_dependencies, &ws.optional_dependencies, &ws.peer_dependencies] {
            names.extend(list.iter().flat_map(|l| l.0.iter().map(|(n, _)| n.clone())));
        }
    }
    Ok(names)
}

/// Reads one `packages` entry into a package or a left-out entry.
fn read_entry(key: &str, raw: &RawValue, declared: &HashSet<String>, location: Location, out: &mut Parsed) {
    let left = |out: &mut Parsed, entry: &str, reason| {
        out.left_out.push(LeftOut { entry: entry.to_string(), location: location.clone(), reason });
    };
    let first: Option<String> = match serde_json::from_str::<Vec<&RawValue>>(raw.get()) {
        Ok(tuple) => tuple.first().and_then(|v| serde_json::from_str(v.get()).ok()),
        Err(_) => None,
    };
    let Some(first) = first else {
        return left(out, key, LeftOutReason::Other("not a tuple starting with `name@version`".into()));
    };
    let (name, spec) = split_descriptor(&first);
    let spec = spec.strip_prefix("npm:").unwrap_or(spec);
    if is_local(spec) {
        left(out, &first, LeftOutReason::Local);
    } else if spec.starts_with(|c: char| c.is_ascii_digit()) {
        let top_level = !key.contains('/') || (key.starts_with('@') && key.matches('/').count() == 1);
        let direct = top_level && declared.contains(key);
        push_package(out, name, spec, Vec::new(), Some(direct), location.clone());
    } else if spec.is_empty() {
        left(out, &first, LeftOutReason::Other("no version".into()));
    } else {
        left(out, &first, LeftOutReason::Vcs);
    }
}

/// JSONC as JSON of the same length: comments and trailing commas become spaces (newlines kept),
/// so byte offsets and lines stay those of the original text.
fn strip_jsonc(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => i = string_end(b, i),
            b'/' if b.get(i + 1) == Some(&b'/') || b.get(i + 1) == Some(&b'*') => {
                let end = comment_end(b, i);
                blank(&mut out[i..end]);
                i = end;
            }
            b',' => {
                if matches!(next_significant(b, i + 1), Some(b'}' | b']')) {
                    out[i] = b' ';
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    // Only ASCII bytes were replaced, by ASCII spaces, so the text is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// The index just past the string that starts at `start` (an opening quote).
fn string_end(b: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The index just past the comment that starts at `start` (`//` or `/*`).
fn comment_end(b: &[u8], start: usize) -> usize {
    if b.get(start + 1) == Some(&b'/') {
        b[start..].iter().position(|&c| c == b'\n').map_or(b.len(), |p| start + p)
    } else {
        b[start + 2..].windows(2).position(|w| w == b"*/").map_or(b.len(), |p| start + 2 + p + 2)
    }
}

/// Replaces bytes with spaces, keeping newlines; multi-byte characters inside a comment become
/// spaces byte by byte.
fn blank(part: &mut [u8]) {
    for c in part.iter_mut().filter(|c| **c != b'\n') {
        *c = b' ';
    }
}

/// The next byte from `i` that is neither whitespace nor inside a comment.
fn next_significant(b: &[u8], mut i: usize) -> Option<u8> {
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'/' if matches!(b.get(i + 1), Some(b'/' | b'*')) => i = comment_end(b, i),
            c => return Some(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
  // a comment, with a comma, }
  "lockfileVersion": 1,
  "workspaces": {
    "": { "name": "app", "dependencies": { "a": "^1", "al": "npm:b@^2", }, },
  },
  "packages": {
    "a": ["a@1.0.0", "", {}, "sha512-x"],
    /* block
       comment */
    "al": ["b@2.0.0", "", {}, "sha512-y"],
    "al/a": ["a@0.9.0", "", {}, "sha512-z",],
    "g": ["g@github:u/g#abc", {}, "u-g-abc"],
    "f": ["f@file:./f", {}],
    "bad": [1, "", {}],
  },
}"#;

    #[test]
    fn packages_aliases_lines_and_left_out() {
        let p = parse(LOCK, "bun.lock").expect("parses");
        let got: Vec<_> = p.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.direct, p.line)).collect();
        assert_eq!(
            got,
            [
                ("a", "1.0.0", Some(true), Some(8)),
                ("b", "2.0.0", Some(true), Some(11)),
                ("a", "0.9.0", Some(false), Some(12))
            ]
        );
        let reasons: Vec<_> = p.left_out.iter().map(|l| l.reason.clone()).collect();
        assert_eq!(reasons[..2], [LeftOutReason::Vcs, LeftOutReason::Local]);
        assert!(matches!(reasons[2], LeftOutReason::Other(_)));
    }

    #[test]
    fn jsonc_keeps_offsets_and_strings() {
        let text = "{\"a\": \"x // y, }\", /* é */ \"b\": [1,],}";
        let json = strip_jsonc(text);
        assert_eq!(json.len(), text.len());
        let v: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(v["a"], "x // y, }");
    }

    #[test]
    fn errors_say_where() {
        let e = parse("{\n \"packages\": {\"a\" 1}\n}", "bun.lock").expect_err("bad");
        assert!(matches!(e.location, Location::LineColumn(2, _)), "{e}");
        assert!(parse("null", "bun.lock").is_err());
    }

    #[test]
    fn every_truncation_parses_or_errors_without_panic() {
        for (end, _) in LOCK.char_indices() {
            let _ = parse(&LOCK[..end], "bun.lock");
        }
    }
}
