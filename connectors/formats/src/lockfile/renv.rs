//! `renv.lock` (R): the `Packages` map. As osv-scalibr reads it, only packages from the `CRAN`
//! repository are CRAN packages; the others are left out: GitHub, GitLab, Bitbucket and git ones as
//! VCS, local ones as local, Bioconductor and other repositories (and entries that name no
//! repository) said in words. The line of a package is the line of its key.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::composer::{LineIndex, json_error};
use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location};

#[derive(Deserialize)]
struct Lockfile<'a> {
    #[serde(borrow, default, rename = "Packages")]
    packages: BTreeMap<String, &'a RawValue>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default, rename = "Package")]
    package: Option<String>,
    #[serde(default, rename = "Version")]
    version: Option<String>,
    #[serde(default, rename = "Source")]
    source: Option<String>,
    #[serde(default, rename = "Repository")]
    repository: Option<String>,
}

/// Parses the file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let lock: Lockfile<'_> = serde_json::from_str(text).map_err(|e| json_error(path, &e))?;
    let lines = LineIndex::new(text);
    let mut entries: Vec<(Option<u32>, String, &RawValue)> =
        lock.packages.into_iter().map(|(key, raw)| (lines.line_of(text, raw.get()), key, raw)).collect();
    entries.sort_by_key(|(line, _, _)| *line);
    let mut parsed = Parsed::default();
    for (line, key, raw) in entries {
        let location = line.map_or(Location::Document, Location::Line);
        let entry: Entry = serde_json::from_str(raw.get())
            .map_err(|e| FormatError::new(path, location, format!("`{key}` is not a package entry: {e}")))?;
        add(&mut parsed, key, entry, line, path)?;
    }
    Ok(parsed)
}

/// Adds one entry of `Packages`.
fn add(parsed: &mut Parsed, key: String, entry: Entry, line: Option<u32>, path: &str) -> Result<(), FormatError> {
    let location = line.map_or(Location::Document, Location::Line);
    let name = entry.package.unwrap_or(key);
    let version = entry.version.filter(|v| !v.is_empty());
    let reason = match (entry.source.as_deref(), entry.repository.as_deref(), &version) {
        (_, _, None) => Some(LeftOutReason::Unpinned),
        (_, Some("CRAN"), _) | (Some("CRAN"), None, _) => None,
        (Some("GitHub" | "GitLab" | "Bitbucket" | "Git" | "git"), ..) => Some(LeftOutReason::Vcs),
        (Some("Local"), ..) => Some(LeftOutReason::Local),
        (Some("Bioconductor"), ..) => Some(LeftOutReason::Other("a Bioconductor package".to_string())),
        (_, Some(other), _) => Some(LeftOutReason::Other(format!("from the repository `{other}`, not CRAN"))),
        (_, None, _) => Some(LeftOutReason::Other("names no repository".to_string())),
    };
    let (Some(version), None) = (version, reason.clone()) else {
        let reason = reason.unwrap_or(LeftOutReason::Unpinned);
        parsed.left_out.push(LeftOut { entry: name, location, reason });
        return Ok(());
    };
    let purl = super::purl("cran", None, &name, &version)
        .ok_or_else(|| FormatError::new(path, location, format!("`{name}` is not a package name")))?;
    parsed.packages.push(Package { ecosystem: "CRAN", name, version, purl, groups: Vec::new(), direct: None, line });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
  "R": {"Version": "4.3.1", "Repositories": [{"Name": "CRAN", "URL": "https://cloud.r-project.org"}]},
  "Packages": {
    "markdown": {
      "Package": "markdown",
      "Version": "1.0",
      "Source": "Repository",
      "Repository": "CRAN"
    },
    "mime": {"Package": "mime", "Version": "0.12.1", "Source": "GitHub", "RemoteSha": "1763e0dc"},
    "BSgenome": {"Package": "BSgenome", "Version": "1.60.0", "Source": "Bioconductor"},
    "morning": {"Package": "morning", "Version": "0.1.0"},
    "old": {"Package": "old", "Version": "2.0", "Source": "CRAN"}
  }
}"#;

    #[test]
    fn cran_only() {
        let parsed = parse(LOCK, "renv.lock").expect("parses");
        let got: Vec<_> =
            parsed.packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.line, p.purl.as_str())).collect();
        assert_eq!(
            got,
            vec![("markdown", "1.0", Some(4), "pkg:cran/markdown@1.0"), ("old", "2.0", Some(13), "pkg:cran/old@2.0")]
        );
        let left: Vec<_> = parsed.left_out.iter().map(|l| (l.entry.as_str(), l.location.clone())).collect();
        assert_eq!(
            left,
            vec![("mime", Location::Line(10)), ("BSgenome", Location::Line(11)), ("morning", Location::Line(12))]
        );
        assert_eq!(parsed.left_out[0].reason, LeftOutReason::Vcs);
    }

    #[test]
    fn errors() {
        assert!(parse("not json", "renv.lock").is_err());
        assert!(parse("{\"Packages\": {\"a\": 3}}", "renv.lock").is_err());
        assert_eq!(parse("{\"R\": {}}", "renv.lock").expect("empty"), Parsed::default());
    }
}
