//! `composer.lock` (PHP Composer): the `packages` list, and `packages-dev` (group `dev`). A package
//! installed from a local path repository (`dist.type` `path`) is left out. The line of a package
//! is the line of its `name`.
//!
//! Also home of the small JSON helpers (lines of raw values, errors at line and column) that the
//! JSON lockfiles of this family share.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

#[derive(Deserialize)]
struct Lockfile<'a> {
    #[serde(borrow, default)]
    packages: Option<Vec<Entry<'a>>>,
    #[serde(borrow, default, rename = "packages-dev")]
    packages_dev: Option<Vec<Entry<'a>>>,
}

#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(borrow)]
    name: &'a RawValue,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dist: Option<Dist>,
}

#[derive(Deserialize)]
struct Dist {
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// Parses the file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let lock: Option<Lockfile<'_>> = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let Some(lock) = lock else {
        return Err(FormatError::new(path, Location::Document, "not a composer.lock: the document is `null`"));
    };
    let lines = LineIndex::new(text);
    let mut parsed = Parsed::default();
    for (entries, dev) in [(lock.packages, false), (lock.packages_dev, true)] {
        for entry in entries.unwrap_or_default() {
            add(&mut parsed, entry, dev, text, &lines, path)?;
        }
    }
    Ok(parsed)
}

/// Adds one entry of `packages` / `packages-dev`.
fn add(
    parsed: &mut Parsed,
    entry: Entry<'_>,
    dev: bool,
    text: &str,
    lines: &LineIndex,
    path: &str,
) -> Result<(), FormatError> {
    let line = lines.line_of(text, entry.name.get());
    let location = line.map_or(Location::Document, Location::Line);
    let name: String = serde_json::from_str(entry.name.get())
        .map_err(|_| FormatError::new(path, location.clone(), "a package's `name` is not a string"))?;
    let local = entry.dist.and_then(|d| d.kind).is_some_and(|k| k == "path");
    let Some(version) = entry.version.filter(|v| !v.is_empty() && !local) else {
        let reason = if local { LeftOutReason::Local } else { LeftOutReason::Unpinned };
        parsed.left_out.push(LeftOut { entry: name, location, reason });
        return Ok(());
    };
    let (namespace, short) = match name.split_once('/') {
        Some((vendor, short)) => (Some(vendor), short),
        None => (None, name.as_str()),
    };
    let purl = super::purl("composer", namespace, short, &version)
        .ok_or_else(|| FormatError::new(path, location, format!("`{name}` is not a package name")))?;
    parsed.packages.push(Package {
        ecosystem: "Packagist",
        name,
        version,
        purl,
        groups: if dev { vec!["dev".to_string()] } else { Vec::new() },
        direct: None,
        line,
    });
    Ok(())
}

/// 1-based line numbers of byte offsets, from the newline offsets of a text.
pub(crate) struct LineIndex(Vec<usize>);

impl LineIndex {
    /// Indexes the newlines of `text`.
    pub(crate) fn new(text: &str) -> LineIndex {
        LineIndex(text.bytes().enumerate().filter(|&(_, b)| b == b'\n').map(|(i, _)| i).collect())
    }

    /// The 1-based line where `part` (a slice of `text`) starts; `None` if it is not a slice of it.
    pub(crate) fn line_of(&self, text: &str, part: &str) -> Option<u32> {
        let offset = (part.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
        (offset <= text.len()).then(|| u32::try_from(self.0.partition_point(|&nl| nl < offset) + 1).unwrap_or(u32::MAX))
    }
}

/// A serde_json error as a [`FormatError`] at its line and column.
pub(crate) fn json_error(path: &str, e: &serde_json::Error) -> FormatError {
    let line = u32::try_from(e.line()).unwrap_or(u32::MAX);
    let column = u32::try_from(e.column()).unwrap_or(u32::MAX);
    FormatError::new(path, Location::LineColumn(line, column), format!("not valid JSON of this kind: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
  "packages": [
    {
      "name": "sentry/sdk",
      "version": "2.0.4",
      "dist": {"type": "zip"}
    },
    {"name": "acme/local", "version": "dev-main", "dist": {"type": "path", "url": "../local"}}
  ],
  "packages-dev": [
    {
      "name": "theseer/tokenizer",
      "version": "1.1.3"
    },
    {"name": "odd"}
  ]
}"#;

    #[test]
    fn packages_and_dev() {
        let parsed = parse(LOCK, "composer.lock").expect("parses");
        let got: Vec<_> = parsed
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.groups.clone(), p.line, p.purl.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("sentry/sdk", "2.0.4", vec![], Some(4), "pkg:composer/sentry/sdk@2.0.4"),
                (
                    "theseer/tokenizer",
                    "1.1.3",
                    vec!["dev".to_string()],
                    Some(12),
                    "pkg:composer/theseer/tokenizer@1.1.3"
                ),
            ]
        );
        assert_eq!(parsed.packages[0].ecosystem, "Packagist");
        let left: Vec<_> = parsed.left_out.iter().map(|l| (l.entry.as_str(), l.reason.clone())).collect();
        assert_eq!(left, vec![("acme/local", LeftOutReason::Local), ("odd", LeftOutReason::Unpinned)]);
        assert_eq!(parsed.left_out[0].location, Location::Line(8));
    }

    #[test]
    fn errors() {
        assert!(parse("null", "composer.lock").is_err());
        let e = parse("{\n  \"packages\": [1]\n}", "composer.lock").expect_err("not an object");
        assert!(matches!(e.location, Location::LineColumn(2, _)), "{e}");
        assert!(parse("not json", "composer.lock").is_err());
        assert_eq!(parse("{}", "composer.lock").expect("empty"), Parsed::default());
    }
}
