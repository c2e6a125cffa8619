//! `poetry.lock`: TOML, one `[[package]]` table per locked package.
//!
//! Groups follow osv-scalibr: an `optional = true` package is in group `optional` only; a package
//! whose `groups` (Poetry 2) include `main` is a runtime dependency (no groups); otherwise its
//! `groups` as written. Older lockfiles' `category = "dev"` gives group `dev` (scalibr reads no
//! `category`). Git, directory, file and URL sources are reported with the version the lockfile
//! gives, as scalibr does. The line of a package is the line of its `name` key.

use serde::Deserialize;
use toml::Spanned;

use super::{LeftOut, LeftOutReason, Package, Parsed};
use crate::error::{FormatError, Location, line_column};

/// The OSV ecosystem of every Python lockfile.
pub(super) const ECOSYSTEM: &str = "PyPI";

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
    #[serde(default)]
    optional: bool,
    groups: Option<Vec<String>>,
    category: Option<String>,
}

/// Parses the `poetry.lock` file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let lock: LockFile = from_toml(text, path)?;
    let lines = LineIndex::new(text);
    let mut parsed = Parsed::default();
    for pkg in lock.package {
        let line = lines.line(pkg.name.span().start);
        let groups = groups(&pkg);
        push_pinned(&mut parsed, path, pkg.name.into_inner(), pkg.version, groups, None, line)?;
    }
    Ok(parsed)
}

fn groups(pkg: &LockPackage) -> Vec<String> {
    if pkg.optional {
        return vec!["optional".to_string()];
    }
    match &pkg.groups {
        Some(groups) if groups.iter().any(|g| g == "main") => Vec::new(),
        Some(groups) => sorted(groups.clone()),
        None if pkg.category.as_deref() == Some("dev") => vec!["dev".to_string()],
        None => Vec::new(),
    }
}

/// `groups` sorted and deduplicated.
pub(super) fn sorted(mut groups: Vec<String>) -> Vec<String> {
    groups.sort();
    groups.dedup();
    groups
}

/// Deserializes TOML `text`, or an error at the line and column the parser names.
pub(super) fn from_toml<T: serde::de::DeserializeOwned>(text: &str, path: &str) -> Result<T, FormatError> {
    toml::from_str(text).map_err(|e| {
        let location = match e.span() {
            Some(span) => {
                let (line, column) = line_column(text, span.start);
                Location::LineColumn(line, column)
            }
            None => Location::Document,
        };
        FormatError::new(path, location, format!("not a valid lockfile: {}", e.message().trim()))
    })
}

/// Adds a PyPI package, or a left-out entry if `version` is empty; an error if no purl can be
/// made of `name` and `version`.
pub(super) fn push_pinned(
    parsed: &mut Parsed,
    path: &str,
    name: String,
    version: String,
    groups: Vec<String>,
    direct: Option<bool>,
    line: u32,
) -> Result<(), FormatError> {
    if version.is_empty() {
        parsed.left_out.push(LeftOut { entry: name, location: Location::Line(line), reason: LeftOutReason::Unpinned });
        return Ok(());
    }
    let package = pypi_package(name, version, groups, direct, Some(line))
        .map_err(|why| FormatError::new(path, Location::Line(line), why))?;
    parsed.packages.push(package);
    Ok(())
}

/// A PyPI [`Package`] (purl name lower-cased, `_` as `-`), or why no purl can be made.
pub(super) fn pypi_package(
    name: String,
    version: String,
    groups: Vec<String>,
    direct: Option<bool>,
    line: Option<u32>,
) -> Result<Package, String> {
    let purl = super::purl("pypi", None, &name, &version)
        .ok_or_else(|| format!("`{name}` `{version}` makes no valid package URL"))?;
    Ok(Package { ecosystem: ECOSYSTEM, name, version, purl, groups, direct, line })
}

/// The starts of a text's lines, to turn byte offsets into 1-based lines without rescanning.
pub(super) struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text` once.
    pub(super) fn new(text: &str) -> LineIndex {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        LineIndex { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub(super) fn line(&self, offset: usize) -> u32 {
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        u32::try_from(line).unwrap_or(u32::MAX)
    }

    /// How many lines the text has.
    pub(super) fn count(&self) -> usize {
        self.starts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(parsed: &Parsed) -> Vec<(String, String, Vec<String>, Option<u32>)> {
        parsed.packages.iter().map(|p| (p.name.clone(), p.version.clone(), p.groups.clone(), p.line)).collect()
    }

    #[test]
    fn groups_optional_and_category() {
        let text = r#"
[[package]]
name = "Foo_Bar"
version = "1.0"
optional = true
groups = ["main"]

[[package]]
name = "dev-only"
version = "2.0"
category = "dev"

[[package]]
name = "grouped"
version = "3.0"
groups = ["test", "dev"]

[[package]]
name = "main"
version = "4.0"
groups = ["dev", "main"]
"#;
        let parsed = parse(text, "poetry.lock").expect("parses");
        assert_eq!(
            names(&parsed),
            vec![
                ("Foo_Bar".into(), "1.0".into(), vec!["optional".into()], Some(3)),
                ("dev-only".into(), "2.0".into(), vec!["dev".into()], Some(9)),
                ("grouped".into(), "3.0".into(), vec!["dev".into(), "test".into()], Some(14)),
                ("main".into(), "4.0".into(), vec![], Some(19)),
            ]
        );
        assert_eq!(parsed.packages[0].purl, "pkg:pypi/foo-bar@1.0");
        assert_eq!(parsed.packages[0].ecosystem, "PyPI");
    }

    #[test]
    fn name_line_skips_multiline_strings_and_subtables() {
        let text = "[[package]]\ndescription = \"\"\"\nname = \"x\"\n\"\"\"\nname = \"real\"\nversion = \"1\"\n\n[package.tool]\nname = \"no\"\n";
        let parsed = parse(text, "poetry.lock").expect("parses");
        assert_eq!(names(&parsed), vec![("real".into(), "1".into(), vec![], Some(5))]);
    }

    #[test]
    fn empty_and_missing_version() {
        assert_eq!(parse("", "poetry.lock").expect("parses"), Parsed::default());
        let parsed = parse("[[package]]\nname = \"x\"\n", "poetry.lock").expect("parses");
        assert!(parsed.packages.is_empty());
        assert_eq!(parsed.left_out[0].reason, LeftOutReason::Unpinned);
        assert_eq!(parsed.left_out[0].location, Location::Line(2));
    }

    #[test]
    fn bad_toml_says_where() {
        let err = parse("[[package]]\nname = \n", "p/poetry.lock").expect_err("fails");
        assert_eq!(err.path, "p/poetry.lock");
        assert!(matches!(err.location, Location::LineColumn(2, _)), "{err}");
        let err = parse("[[package]]\nversion = \"1\"\n", "poetry.lock").expect_err("no name");
        assert!(err.to_string().contains("name"), "{err}");
    }

    #[test]
    fn line_index() {
        let idx = LineIndex::new("a\nbc\n\nd");
        assert_eq!((idx.line(0), idx.line(2), idx.line(4), idx.line(5), idx.line(6), idx.line(99)), (1, 2, 2, 3, 4, 4));
        assert_eq!(idx.count(), 4);
    }
}
