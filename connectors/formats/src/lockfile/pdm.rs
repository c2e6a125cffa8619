//! `pdm.lock`: TOML, one `[[package]]` table per locked package with the PDM `groups` it is in.
//!
//! Groups follow osv-scalibr: a package in `default` is a runtime dependency (no groups); one in
//! `dev` only is in `dev`; one in other groups only is `optional`. Two deliberate differences:
//! `["default", "dev"]` gives no groups (scalibr: `dev`), and a package without `groups` (older
//! lockfiles) gives no groups (scalibr: `optional`). Git, path and URL packages are reported with
//! their version, as scalibr does. The line of a package is the line of its `name` key.

use serde::Deserialize;
use toml::Spanned;

use super::Parsed;
use super::poetry::{LineIndex, from_toml, push_pinned};
use crate::error::FormatError;

#[derive(Deserialize)]
struct LockFile {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: Spanned<String>,
    #[serde(default)]
    version: String,
    groups: Option<Vec<String>>,
}

/// Parses the `pdm.lock` file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let lock: LockFile = from_toml(text, path)?;
    let lines = LineIndex::new(text);
    let mut parsed = Parsed::default();
    for pkg in lock.package {
        let line = lines.line(pkg.name.span().start);
        let groups = groups(pkg.groups.as_deref());
        push_pinned(&mut parsed, path, pkg.name.into_inner(), pkg.version, groups, None, line)?;
    }
    Ok(parsed)
}

fn groups(groups: Option<&[String]>) -> Vec<String> {
    let Some(groups) = groups else { return Vec::new() };
    if groups.is_empty() || groups.iter().any(|g| g == "default") {
        Vec::new()
    } else if groups.iter().any(|g| g == "dev") {
        vec!["dev".to_string()]
    } else {
        vec!["optional".to_string()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_map_as_scalibr() {
        let text = r#"[metadata]
groups = ["default", "dev", "docs"]

[[package]]
name = "a"
version = "1"
groups = ["default"]

[[package]]
name = "b"
version = "2"
groups = ["dev"]

[[package]]
name = "c"
version = "3"
groups = ["docs", "lint"]

[[package]]
name = "d"
version = "4"
groups = ["default", "dev"]

[[package]]
name = "e"
version = "5"
"#;
        let parsed = parse(text, "pdm.lock").expect("parses");
        let got: Vec<_> = parsed.packages.iter().map(|p| (p.name.as_str(), p.groups.clone(), p.line)).collect();
        assert_eq!(
            got,
            vec![
                ("a", vec![], Some(5)),
                ("b", vec!["dev".to_string()], Some(10)),
                ("c", vec!["optional".to_string()], Some(15)),
                ("d", vec![], Some(20)),
                ("e", vec![], Some(25)),
            ]
        );
        assert_eq!(parsed.packages[0].purl, "pkg:pypi/a@1");
    }

    #[test]
    fn errors_and_empty() {
        assert_eq!(parse("\n", "pdm.lock").expect("parses"), Parsed::default());
        assert!(parse("not toml!", "pdm.lock").is_err());
    }
}
