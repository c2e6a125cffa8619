//! `Pipfile.lock`: JSON with the `default` and `develop` sections, each mapping a package name to
//! its entry (`"version": "==1.2.3"`).
//!
//! As osv-scalibr: a package pinned alike in both sections is reported once, as a runtime
//! dependency; one only in `develop` is in group `dev`. Entries without a `==` version are left
//! out (git, path or file entries, anything unpinned). The line of a package is the line of its
//! key; a document on a single line (minified) gives no lines, as scalibr.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::poetry::{LineIndex, pypi_package};
use super::{LeftOut, LeftOutReason, Parsed};
use crate::error::{FormatError, Location};

#[derive(Deserialize, Default)]
struct LockFile {
    #[serde(default)]
    default: BTreeMap<String, Entry>,
    #[serde(default)]
    develop: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    version: Option<String>,
    git: Option<String>,
    path: Option<String>,
    file: Option<String>,
}

/// The two sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Section {
    Default,
    Develop,
}

impl Section {
    fn of(key: &str) -> Option<Section> {
        match key {
            "default" => Some(Section::Default),
            "develop" => Some(Section::Develop),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Section::Default => "default",
            Section::Develop => "develop",
        }
    }
}

/// Parses the `Pipfile.lock` file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    if text.trim().is_empty() {
        return Ok(Parsed::default());
    }
    let lock: LockFile = serde_json::from_str(text).map_err(|e| {
        let location = Location::LineColumn(to_u32(e.line()), to_u32(e.column()));
        FormatError::new(path, location, format!("not a valid Pipfile.lock: {e}"))
    })?;
    let lines = LineIndex::new(text);
    let multiline = lines.count() > 1;
    let mut parsed = Parsed::default();
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    for (section, name, offset) in package_keys(text) {
        let entries = if section == Section::Default { &lock.default } else { &lock.develop };
        let Some(entry) = entries.get(&name) else { continue };
        if !seen.insert((section, name.clone())) {
            continue;
        }
        let line = multiline.then(|| lines.line(offset));
        let location = match line {
            Some(l) => Location::Line(l),
            None => Location::Pointer(format!("/{}/{}", section.name(), pointer_escape(&name))),
        };
        match pinned_version(entry) {
            Ok(version) => {
                if reported.insert((name.clone(), version.clone())) {
                    let groups = if section == Section::Develop { vec!["dev".to_string()] } else { Vec::new() };
                    let package = pypi_package(name, version, groups, None, line)
                        .map_err(|why| FormatError::new(path, location, why))?;
                    parsed.packages.push(package);
                }
            }
            Err(reason) => parsed.left_out.push(LeftOut { entry: name, location, reason }),
        }
    }
    Ok(parsed)
}

/// The version of an entry pinned with `==` (or `===`), or why there is none.
fn pinned_version(entry: &Entry) -> Result<String, LeftOutReason> {
    if entry.git.is_some() {
        return Err(LeftOutReason::Vcs);
    }
    let version = entry.version.as_deref().unwrap_or("");
    let pinned = version.strip_prefix("===").or_else(|| version.strip_prefix("==")).map(str::trim);
    match pinned {
        Some(v) if !v.is_empty() && !v.contains('*') => Ok(v.to_string()),
        _ if entry.path.is_some() => Err(LeftOutReason::Local),
        _ => match entry.file.as_deref() {
            Some(f) if f.contains("://") && !f.starts_with("file:") => Err(LeftOutReason::Vcs),
            Some(_) => Err(LeftOutReason::Local),
            None => Err(LeftOutReason::Unpinned),
        },
    }
}

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn pointer_escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// An open container while scanning.
struct Frame {
    object: bool,
    expect_key: bool,
    section: Option<Section>,
}

/// The keys of the `default` and `develop` objects of a JSON document already known to be valid,
/// in document order, each with the byte offset of its opening quote: one pass over the text.
fn package_keys(text: &str) -> Vec<(Section, String, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut top_key: Option<String> = None;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'"' => {
                let start = i;
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    match c {
                        b'\\' => i += 2,
                        b'"' => break,
                        _ => i += 1,
                    }
                }
                let depth = stack.len();
                if let Some(frame) = stack.last_mut().filter(|f| f.object && f.expect_key) {
                    frame.expect_key = false;
                    let key = text.get(start..=i).and_then(|raw| serde_json::from_str::<String>(raw).ok());
                    match (depth, frame.section, key) {
                        (1, _, key) => top_key = key,
                        (2, Some(section), Some(key)) => out.push((section, key, start)),
                        _ => {}
                    }
                }
            }
            b'{' | b'[' => {
                let section =
                    if stack.len() == 1 && b == b'{' { top_key.as_deref().and_then(Section::of) } else { None };
                stack.push(Frame { object: b == b'{', expect_key: b == b'{', section });
            }
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(frame) = stack.last_mut().filter(|f| f.object) {
                    frame.expect_key = true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
  "_meta": {"sources": [{"name": "pypi", "url": "https://pypi.org/simple"}]},
  "default": {
    "itsdangerous": {"version": "==2.1.2"},
    "Zope_Thing": {"version": "===1.0", "markers": "python_version >= '3.6'"},
    "editable-git": {"editable": true, "git": "https://github.com/a/b", "ref": "abc"},
    "local": {"path": "./local", "editable": true},
    "any": {"version": "*"},
    "we\"ird/name": {"version": "==3"}
  },
  "develop": {
    "itsdangerous": {"version": "==2.1.2"},
    "pluggy": {"hashes": [], "version": "==1.0.0"}
  }
}"#;

    #[test]
    fn sections_dev_and_left_out() {
        let parsed = parse(LOCK, "Pipfile.lock").expect("parses");
        let got: Vec<_> = parsed
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.groups.clone(), p.line, p.purl.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("itsdangerous", "2.1.2", vec![], Some(4), "pkg:pypi/itsdangerous@2.1.2"),
                ("Zope_Thing", "1.0", vec![], Some(5), "pkg:pypi/zope-thing@1.0"),
                ("we\"ird/name", "3", vec![], Some(9), "pkg:pypi/we%22ird%2Fname@3"),
                ("pluggy", "1.0.0", vec!["dev".to_string()], Some(13), "pkg:pypi/pluggy@1.0.0"),
            ]
        );
        let left: Vec<_> = parsed.left_out.iter().map(|l| (l.entry.as_str(), l.reason.clone())).collect();
        assert_eq!(
            left,
            vec![
                ("editable-git", LeftOutReason::Vcs),
                ("local", LeftOutReason::Local),
                ("any", LeftOutReason::Unpinned)
            ]
        );
    }

    #[test]
    fn minified_has_no_lines() {
        let text = r#"{"default":{"a":{"version":"==1"},"b":{}},"develop":{}}"#;
        let parsed = parse(text, "Pipfile.lock").expect("parses");
        assert_eq!(parsed.packages[0].line, None);
        assert_eq!(parsed.left_out[0].location, Location::Pointer("/default/b".into()));
    }

    #[test]
    fn empty_and_errors() {
        assert_eq!(parse("", "Pipfile.lock").expect("parses"), Parsed::default());
        assert_eq!(parse("{}", "Pipfile.lock").expect("parses"), Parsed::default());
        let err = parse("{\n  \"default\": [\n", "Pipfile.lock").expect_err("fails");
        assert!(matches!(err.location, Location::LineColumn(2, _)), "{err}");
        assert!(parse("not json", "Pipfile.lock").is_err());
    }

    #[test]
    fn scanner_ignores_nested_and_string_content() {
        let text = r#"{"x": {"default": {"no": 1}}, "default": {"a": {"k": "}{,\"q\":"}, "b": {}}}"#;
        let keys: Vec<_> = package_keys(text).into_iter().map(|(_, k, _)| k).collect();
        assert_eq!(keys, vec!["a", "b"]);
    }
}
