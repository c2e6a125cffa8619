//! NuGet `packages.lock.json`: `dependencies` per target framework, each package with its `type`
//! (`Direct`, `Transitive`, `CentralTransitive`, or `Project` for a project of the same solution,
//! which is left out as local) and its `resolved` version. A package several frameworks resolve to
//! the same version is listed once, at its first line.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::composer::{LineIndex, json_error};
use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

#[derive(Deserialize)]
struct Lockfile<'a> {
    #[serde(borrow, default)]
    dependencies: BTreeMap<String, BTreeMap<String, &'a RawValue>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    resolved: Option<String>,
}

/// Parses the file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let lock: Lockfile<'_> = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let lines = LineIndex::new(text);
    let mut entries: Vec<(Option<u32>, String, &RawValue)> = lock
        .dependencies
        .into_values()
        .flatten()
        .map(|(name, raw)| (lines.line_of(text, raw.get()), name, raw))
        .collect();
    entries.sort_by_key(|(line, _, _)| *line);
    let mut parsed = Parsed::default();
    for (line, name, raw) in entries {
        let location = line.map_or(Location::Document, Location::Line);
        let entry: Entry = serde_json::from_str(raw.get())
            .map_err(|e| FormatError::new(path, location.clone(), format!("`{name}` is not a package entry: {e}")))?;
        add(&mut parsed, name, entry, line, path)?;
    }
    Ok(parsed)
}

/// Adds one package entry of a framework.
fn add(parsed: &mut Parsed, name: String, entry: Entry, line: Option<u32>, path: &str) -> Result<(), FormatError> {
    let location = line.map_or(Location::Document, Location::Line);
    let kind = entry.kind.unwrap_or_default();
    let version = entry.resolved.filter(|v| !v.is_empty());
    let (Some(version), false) = (version, kind == "Project") else {
        let reason = if kind == "Project" { LeftOutReason::Local } else { LeftOutReason::Unpinned };
        if !parsed.left_out.iter().any(|l| l.entry == name) {
            parsed.left_out.push(LeftOut { entry: name, location, reason });
        }
        return Ok(());
    };
    if parsed.packages.iter().any(|p| p.name == name && p.version == version) {
        return Ok(());
    }
    let purl = super::purl("nuget", None, &name, &version)
        .ok_or_else(|| FormatError::new(path, location, format!("`{name}` is not a package name")))?;
    parsed.packages.push(Package {
        ecosystem: "NuGet",
        direct: match kind.as_str() {
            "Direct" => Some(true),
            "Transitive" | "CentralTransitive" => Some(false),
            _ => None,
        },
        name,
        version,
        purl,
        groups: Vec::new(),
        line,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
  "version": 1,
  "dependencies": {
    "net6.0": {
      "Core.Dep": {
        "type": "Direct",
        "requested": "[1.24.0, )",
        "resolved": "1.24.0",
        "dependencies": {"Some.Dep": "1.1.1"}
      },
      "Some.Dep": {"type": "Transitive", "resolved": "1.1.1"},
      "my.project": {"type": "Project"}
    },
    "net7.0": {
      "Core.Dep": {"type": "Direct", "resolved": "1.24.0"},
      "Central.Dep": {"type": "CentralTransitive", "requested": "[2.0.0, )", "resolved": "2.0.1"}
    }
  }
}"#;

    #[test]
    fn frameworks_types_and_lines() {
        let parsed = parse(LOCK, "packages.lock.json").expect("parses");
        let got: Vec<_> =
            parsed.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.direct, p.line)).collect();
        assert_eq!(
            got,
            vec![
                ("Core.Dep", "1.24.0", Some(true), Some(5)),
                ("Some.Dep", "1.1.1", Some(false), Some(11)),
                ("Central.Dep", "2.0.1", Some(false), Some(16)),
            ]
        );
        assert_eq!(parsed.packages[0].ecosystem, "NuGet");
        assert!(parsed.packages[0].purl.starts_with("pkg:nuget/"), "{}", parsed.packages[0].purl);
        assert_eq!(parsed.left_out.len(), 1);
        assert_eq!(parsed.left_out[0].reason, LeftOutReason::Local);
        assert_eq!(parsed.left_out[0].location, Location::Line(12));
    }

    #[test]
    fn errors() {
        assert!(parse("not\njson", "packages.lock.json").is_err());
        let e = parse("{\"dependencies\": {\"net6.0\": {\"a\": 1}}}", "packages.lock.json").expect_err("bad entry");
        assert_eq!(e.location, Location::Line(1));
        assert_eq!(parse("{\"version\": 1}", "packages.lock.json").expect("empty"), Parsed::default());
    }
}
