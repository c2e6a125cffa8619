//! `uv.lock`: TOML, one `[[package]]` table per locked package.
//!
//! The project itself and its workspace members (`source = { editable = ... }` or
//! `{ virtual = ... }`) are not packages: the one at `.` is skipped, others are left out as local.
//! Groups are the names of the project's `optional-dependencies` and `dev-dependencies` groups
//! that list a package directly (osv-scalibr reads only `optional-dependencies`); a package the
//! project also depends on plainly has no groups. A package is direct when a project lists it.
//! Git, URL and path sources are reported with their version, as scalibr does. The line of a
//! package is the line of its `name` key.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use toml::Spanned;

use super::poetry::{LineIndex, from_toml, push_pinned, sorted};
use super::{LeftOut, LeftOutReason, Parsed};
use crate::error::{FormatError, Location};

#[derive(Deserialize)]
struct LockFile {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct LockPackage {
    name: Spanned<String>,
    #[serde(default)]
    version: String,
    #[serde(default)]
    source: Source,
    #[serde(default)]
    dependencies: Vec<Dependency>,
    #[serde(default)]
    optional_dependencies: BTreeMap<String, Vec<Dependency>>,
    #[serde(default)]
    dev_dependencies: BTreeMap<String, Vec<Dependency>>,
}

#[derive(Deserialize, Default)]
struct Source {
    editable: Option<String>,
    #[serde(rename = "virtual")]
    virtual_: Option<String>,
}

impl Source {
    /// The path of a project or workspace member (`editable` or `virtual`), if this is one.
    fn project_path(&self) -> Option<&str> {
        self.editable.as_deref().or(self.virtual_.as_deref())
    }
}

#[derive(Deserialize)]
struct Dependency {
    name: String,
}

/// What the projects in the lockfile list directly.
#[derive(Default)]
struct Roots {
    any: bool,
    plain: BTreeSet<String>,
    grouped: BTreeMap<String, Vec<String>>,
}

impl Roots {
    fn of(packages: &[LockPackage]) -> Roots {
        let mut roots = Roots::default();
        for pkg in packages.iter().filter(|p| p.source.project_path().is_some()) {
            roots.any = true;
            roots.plain.extend(pkg.dependencies.iter().map(|d| normalize(&d.name)));
            for (group, deps) in pkg.optional_dependencies.iter().chain(&pkg.dev_dependencies) {
                for dep in deps {
                    roots.grouped.entry(normalize(&dep.name)).or_default().push(group.clone());
                }
            }
        }
        roots
    }

    fn groups(&self, name: &str) -> Vec<String> {
        if self.plain.contains(name) {
            return Vec::new();
        }
        self.grouped.get(name).map(|g| sorted(g.clone())).unwrap_or_default()
    }

    fn direct(&self, name: &str) -> Option<bool> {
        self.any.then(|| self.plain.contains(name) || self.grouped.contains_key(name))
    }
}

/// A name as PEP 503 compares them: lower case, runs of `-`, `_`, `.` as one `-`.
pub(super) fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// Parses the `uv.lock` file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    let lock: LockFile = from_toml(text, path)?;
    let lines = LineIndex::new(text);
    let roots = Roots::of(&lock.package);
    let mut parsed = Parsed::default();
    for pkg in lock.package {
        let line = lines.line(pkg.name.span().start);
        let name = pkg.name.into_inner();
        match pkg.source.project_path() {
            Some(".") => continue,
            Some(member) => {
                let entry = format!("{name} ({member})");
                parsed.left_out.push(LeftOut { entry, location: Location::Line(line), reason: LeftOutReason::Local });
            }
            None => {
                let key = normalize(&name);
                let (groups, direct) = (roots.groups(&key), roots.direct(&key));
                push_pinned(&mut parsed, path, name, pkg.version, groups, direct, line)?;
            }
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOCK: &str = r#"version = 1

[[package]]
name = "black"
version = "24.10.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "click"
version = "8.1.7"
source = { registry = "https://pypi.org/simple" }
dependencies = [{ name = "colorama" }]

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "emoji"
version = "2.14.0"
source = { git = "https://github.com/x/emoji#abc" }

[[package]]
name = "member"
version = "0.1.0"
source = { editable = "packages/member" }

[[package]]
name = "proj"
version = "0.1.0"
source = { editable = "." }
dependencies = [{ name = "emoji" }, { name = "member" }]

[package.optional-dependencies]
cli = [{ name = "click" }]
test = [{ name = "black" }, { name = "emoji" }]

[package.dev-dependencies]
dev = [{ name = "Black" }]
"#;

    #[test]
    fn roots_groups_and_direct() {
        let parsed = parse(LOCK, "uv.lock").expect("parses");
        let got: Vec<_> =
            parsed.packages.iter().map(|p| (p.name.as_str(), p.groups.clone(), p.direct, p.line)).collect();
        let s = |v: &[&str]| v.iter().map(|g| g.to_string()).collect::<Vec<_>>();
        assert_eq!(
            got,
            vec![
                ("black", s(&["dev", "test"]), Some(true), Some(4)),
                ("click", s(&["cli"]), Some(true), Some(9)),
                ("colorama", vec![], Some(false), Some(15)),
                ("emoji", vec![], Some(true), Some(20)),
            ]
        );
        assert_eq!(parsed.left_out.len(), 1);
        assert_eq!(parsed.left_out[0].reason, LeftOutReason::Local);
        assert_eq!(parsed.left_out[0].location, Location::Line(25));
    }

    #[test]
    fn without_a_project_direct_is_unknown() {
        let parsed = parse("[[package]]\nname = \"a\"\nversion = \"1\"\n", "uv.lock").expect("parses");
        assert_eq!(parsed.packages[0].direct, None);
        assert_eq!(parse("version = 1\n", "uv.lock").expect("parses"), Parsed::default());
    }

    #[test]
    fn normalizes_names() {
        assert_eq!(normalize("Foo__Bar.baz-Q"), "foo-bar-baz-q");
        assert_eq!(normalize("a"), "a");
    }
}
