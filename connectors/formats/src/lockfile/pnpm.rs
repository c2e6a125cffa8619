//! pnpm's `pnpm-lock.yaml`, lockfile versions 5 to 9.
//!
//! Packages come from `packages`, keyed by dependency path: `/name/1.0.0_peer@2` (v5),
//! `/@scope/name@1.0.0(peer@2)` (v6–v8), `name@1.0.0` (v9); an entry's own `name` and `version`
//! (git, tarball and local entries carry them) win over the key. Groups: v5–v8 entries say
//! `dev: true` / `optional: true`; v9 does not, so a v9 package is `dev` when only the importers'
//! `devDependencies` reach it through `snapshots`, and `optional` when every snapshot of it says
//! `optional: true`. `file:` and `link:` entries are left out as local; a key that names no
//! version is left out too. Git and tarball entries that record a version are kept, as
//! osv-scalibr keeps them.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use super::npm::{pointer, push_package};
use super::{LeftOut, LeftOutReason, Parsed};
use crate::error::{FormatError, Location};

/// Parses the `pnpm-lock.yaml` file `path` with text `text`.
pub fn parse(text: &str, path: &str) -> Result<Parsed, FormatError> {
    if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Ok(Parsed::default());
    }
    let lock: Option<Lockfile> = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(path, &e))?;
    let Some(lock) = lock else { return Ok(Parsed::default()) };
    let major = lock.lockfile_version.as_ref().and_then(scalar).map_or(0, |v| major_version(&v));
    let lines = key_lines(text);
    let mut out = Parsed::default();
    let Some(packages) = &lock.packages else { return Ok(out) };
    let direct = direct_deps(&lock);
    let v9_groups = (major >= 9).then(|| v9_groups(&lock));
    for (key, value) in packages {
        let Some(key) = scalar(key) else { continue };
        let entry: Entry = serde_yaml_ng::from_value(value.clone()).map_err(|e| {
            FormatError::new(path, Location::Pointer(pointer("/packages", &key)), format!("not a valid entry: {e}"))
        })?;
        let location = lines.get(key.as_str()).map_or_else(|| Location::Pointer(pointer("/packages", &key)), |&l| Location::Line(l));
        let groups = match &v9_groups {
            Some(g) => g.get(base(&key)).cloned().unwrap_or_default(),
            None => entry.groups(),
        };
        read_entry(&key, &entry, major, groups, &direct, location, &mut out);
    }
    Ok(out)
}

/// The top level of a lockfile: only what is read.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Lockfile {
    lockfile_version: Option<Value>,
    packages: Option<Mapping>,
    snapshots: Option<Mapping>,
    importers: Option<Mapping>,
    dependencies: Option<Mapping>,
    dev_dependencies: Option<Mapping>,
    optional_dependencies: Option<Mapping>,
}

/// A `packages` entry (v5–v8) or a `snapshots` entry (v9): only what is read.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Entry {
    name: Option<Value>,
    version: Option<Value>,
    dev: Option<bool>,
    optional: Option<bool>,
    dependencies: Option<Mapping>,
    optional_dependencies: Option<Mapping>,
}

impl Entry {
    /// Groups a v5–v8 entry states.
    fn groups(&self) -> Vec<String> {
        let mut g = Vec::new();
        if self.dev == Some(true) {
            g.push("dev".to_string());
        }
        if self.optional == Some(true) {
            g.push("optional".to_string());
        }
        g
    }
}

/// A YAML error as a [`FormatError`] at its line and column.
fn yaml_error(path: &str, e: &serde_yaml_ng::Error) -> FormatError {
    let location = e.location().map_or(Location::Document, |l| {
        Location::LineColumn(u32::try_from(l.line()).unwrap_or(u32::MAX), u32::try_from(l.column()).unwrap_or(u32::MAX))
    });
    FormatError::new(path, location, format!("not a valid pnpm lockfile: {e}"))
}

/// A YAML scalar as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The major lockfile version (`5.4` → 5, `'9.0'` → 9).
fn major_version(v: &str) -> u32 {
    v.split('.').next().and_then(|m| m.trim().parse().ok()).unwrap_or(0)
}

/// A dependency path without its peer suffix (`a@1.0.0(b@2)` → `a@1.0.0`).
fn base(key: &str) -> &str {
    key.split('(').next().unwrap_or(key)
}

/// The line of each key at indent 2 under the top-level `packages:`, from one pass over the text.
fn key_lines(text: &str) -> HashMap<String, u32> {
    let mut out = HashMap::new();
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        if !line.starts_with(' ') && !line.trim().is_empty() && !line.starts_with('#') {
            inside = line.trim_end() == "packages:";
            continue;
        }
        let Some(rest) = line.strip_prefix("  ").filter(|r| inside && !r.starts_with([' ', '#'])) else { continue };
        if let Some(key) = yaml_key(rest.trim_end()) {
            out.entry(key).or_insert_with(|| u32::try_from(i + 1).unwrap_or(u32::MAX));
        }
    }
    out
}

/// The key of a `key:` or `key: value` line, unquoted.
fn yaml_key(line: &str) -> Option<String> {
    if let Some(q) = line.chars().next().filter(|c| *c == '\'' || *c == '"') {
        let end = line[1..].find(q)? + 1;
        return Some(line[1..end].to_string());
    }
    match line.find(": ") {
        Some(i) => Some(line[..i].to_string()),
        None => line.strip_suffix(':').map(str::to_string),
    }
}

/// The version a direct dependency names: a string (v5) or a mapping's `version` (v6+).
fn dep_version(v: &Value) -> Option<String> {
    match v {
        Value::Mapping(m) => m.get("version").and_then(scalar),
        other => scalar(other),
    }
}

/// The dependency maps of the project: the top level (v5/v6) and every importer.
fn dependency_maps(lock: &Lockfile) -> Vec<(&Mapping, bool)> {
    let mut maps = Vec::new();
    for (m, dev) in [(&lock.dependencies, false), (&lock.optional_dependencies, false), (&lock.dev_dependencies, true)] {
        maps.extend(m.iter().map(|m| (m, dev)));
    }
    for importer in lock.importers.iter().flat_map(|i| i.values()) {
        for (field, dev) in [("dependencies", false), ("optionalDependencies", false), ("devDependencies", true)] {
            if let Some(Value::Mapping(m)) = importer.get(field) {
                maps.push((m, dev));
            }
        }
    }
    maps
}

/// A dependency `name: version` as the key of the snapshot it points at (v9), peers kept.
fn dep_key(name: &str, version: &str) -> String {
    if version.get(1..).is_some_and(|r| r.contains('@')) && !version.starts_with(|c: char| c.is_ascii_digit()) {
        version.to_string()
    } else {
        format!("{name}@{version}")
    }
}

/// Direct dependencies: `(name, version without peers)` and the raw versions (paths, URLs).
fn direct_deps(lock: &Lockfile) -> HashSet<(String, String)> {
    let mut out = HashSet::new();
    for (map, _) in dependency_maps(lock) {
        for (name, v) in map {
            if let (Some(name), Some(version)) = (scalar(name), dep_version(v)) {
                let plain = version.split(['(', '_']).next().unwrap_or(&version).to_string();
                out.insert((name.clone(), plain));
                out.insert((String::new(), version.trim_start_matches('/').to_string()));
            }
        }
    }
    out
}

/// v9 groups per package key, derived from what the importers reach through `snapshots`.
fn v9_groups(lock: &Lockfile) -> HashMap<String, Vec<String>> {
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    let mut optional: HashMap<String, bool> = HashMap::new();
    for (key, value) in lock.snapshots.iter().flatten() {
        let (Some(key), Ok(entry)) = (scalar(key), serde_yaml_ng::from_value::<Entry>(value.clone())) else { continue };
        let deps = entry.dependencies.iter().chain(entry.optional_dependencies.iter()).flatten();
        let targets = deps.filter_map(|(n, v)| Some(dep_key(&scalar(n)?, &scalar(v)?))).collect();
        edges.insert(key.clone(), targets);
        let all_optional = optional.entry(base(&key).to_string()).or_insert(true);
        *all_optional &= entry.optional == Some(true);
    }
    let roots = |want_dev: bool| -> Vec<String> {
        let maps = dependency_maps(lock).into_iter().filter(|(_, dev)| *dev == want_dev);
        maps.flat_map(|(m, _)| m.iter().filter_map(|(n, v)| Some(dep_key(&scalar(n)?, &dep_version(v)?)))).collect()
    };
    let prod = reach(&edges, roots(false));
    let dev = reach(&edges, roots(true));
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (key, all_optional) in optional {
        let mut groups = Vec::new();
        if dev.contains(key.as_str()) && !prod.contains(key.as_str()) {
            groups.push("dev".to_string());
        }
        if all_optional {
            groups.push("optional".to_string());
        }
        out.insert(key, groups);
    }
    out
}

/// The package keys (peers stripped) reachable from `roots`.
fn reach(edges: &HashMap<String, Vec<String>>, roots: Vec<String>) -> HashSet<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack = roots;
    while let Some(key) = stack.pop() {
        if !seen.insert(key.clone()) {
            continue;
        }
        stack.extend(edges.get(&key).into_iter().flatten().filter(|k| !seen.contains(*k)).cloned());
    }
    seen.iter().map(|k| base(k).to_string()).collect()
}

/// Name and version from a dependency path, if it names them.
fn name_version(key: &str, major: u32) -> Option<(String, String)> {
    if major >= 9 {
        let key = base(key);
        let at = key.get(1..)?.find('@')? + 1;
        return Some((key[..at].to_string(), key[at + 1..].to_string()));
    }
    let path = key.strip_prefix('/').map_or_else(|| key.split_once('/').map(|(_, p)| p), Some)?;
    let path = base(path);
    let mut parts = path.splitn(3, '/');
    let first = parts.next()?;
    let (name, rest) = if first.starts_with('@') {
        let second = parts.next()?;
        (format!("{first}/{second}"), parts.next())
    } else {
        let rest = path.get(first.len() + 1..);
        (first.to_string(), rest)
    };
    let (name, version) = match rest {
        Some(v) if !v.is_empty() => (name, v.to_string()),
        _ => {
            let at = name.get(1..)?.rfind('@')? + 1;
            (name[..at].to_string(), name[at + 1..].to_string())
        }
    };
    let version = if major < 6 { version.split('_').next().unwrap_or(&version).to_string() } else { version };
    Some((name, version))
}

/// Reads one `packages` entry into a package or a left-out entry.
fn read_entry(
    key: &str,
    entry: &Entry,
    major: u32,
    groups: Vec<String>,
    direct: &HashSet<(String, String)>,
    location: Location,
    out: &mut Parsed,
) {
    let left = |out: &mut Parsed, reason| {
        out.left_out.push(LeftOut { entry: key.to_string(), location: location.clone(), reason });
    };
    if key.starts_with("file:") || key.starts_with("link:") || key.contains("@file:") || key.contains("@link:") {
        return left(out, LeftOutReason::Local);
    }
    let from_key = name_version(key, major);
    let name = entry.name.as_ref().and_then(scalar).or_else(|| from_key.as_ref().map(|(n, _)| n.clone()));
    let version = entry.version.as_ref().and_then(scalar).or_else(|| from_key.map(|(_, v)| v));
    match (name, version) {
        (Some(name), Some(version)) if version.starts_with(|c: char| c.is_ascii_digit()) => {
            let is_direct = direct.contains(&(name.clone(), version.clone()))
                || direct.contains(&(String::new(), key.trim_start_matches('/').to_string()));
            push_package(out, &name, &version, groups, Some(is_direct), location.clone());
        }
        _ if !key.starts_with('/') && key.split('/').next().is_some_and(|h| h.contains('.')) => {
            left(out, LeftOutReason::Vcs);
        }
        _ => left(out, LeftOutReason::Other("the dependency path names no version".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(p: &Parsed) -> Vec<String> {
        p.packages
            .iter()
            .map(|p| format!("{}@{} {:?} {:?} {}", p.name, p.version, p.groups, p.direct, p.line.unwrap_or(0)))
            .collect()
    }

    #[test]
    fn v5_paths_peers_and_groups() {
        let text = "lockfileVersion: 5.4\n\ndependencies:\n  a: 1.0.0_b@2.0.0\n\npackages:\n\n  /a/1.0.0_b@2.0.0:\n    dev: false\n  /@s/b/2.0.0:\n    dev: true\n    optional: true\n  file:../x:\n    name: x\n    version: 1.0.0\n  invalidpath:\n    dev: false\n";
        let p = parse(text, "pnpm-lock.yaml").expect("parses");
        assert_eq!(summary(&p), ["a@1.0.0 [] Some(true) 8", "@s/b@2.0.0 [\"dev\", \"optional\"] Some(false) 10"]);
        assert_eq!(p.left_out.len(), 2);
        assert_eq!(p.left_out[0].reason, LeftOutReason::Local);
    }

    #[test]
    fn v6_keys() {
        let text = "lockfileVersion: '6.0'\n\npackages:\n\n  /@s/b@5.57.1(react@18.2.0):\n    dev: false\n  /react@18.2.0:\n    dev: false\n";
        let p = parse(text, "pnpm-lock.yaml").expect("parses");
        assert_eq!(summary(&p), ["@s/b@5.57.1 [] Some(false) 5", "react@18.2.0 [] Some(false) 7"]);
    }

    #[test]
    fn v9_groups_from_importers() {
        let text = r#"lockfileVersion: '9.0'

importers:

  .:
    dependencies:
      a:
        specifier: ^1
        version: 1.0.0(p@1.0.0)
    devDependencies:
      d:
        specifier: ^1
        version: 1.0.0
    optionalDependencies:
      o:
        specifier: ^1
        version: 1.0.0

packages:

  a@1.0.0:
    resolution: {integrity: x}
  '@s/shared@1.0.0':
    resolution: {integrity: x}
  d@1.0.0:
    resolution: {integrity: x}
  o@1.0.0:
    resolution: {integrity: x}
  p@1.0.0:
    resolution: {integrity: x}

snapshots:

  a@1.0.0(p@1.0.0):
    dependencies:
      '@s/shared': 1.0.0
  '@s/shared@1.0.0': {}
  d@1.0.0:
    dependencies:
      '@s/shared': 1.0.0
      p: 1.0.0
  o@1.0.0:
    optional: true
  p@1.0.0: {}
"#;
        let p = parse(text, "pnpm-lock.yaml").expect("parses");
        assert_eq!(
            summary(&p),
            [
                "a@1.0.0 [] Some(true) 21",
                "@s/shared@1.0.0 [] Some(false) 23",
                "d@1.0.0 [\"dev\"] Some(true) 25",
                "o@1.0.0 [\"optional\"] Some(true) 27",
                "p@1.0.0 [\"dev\"] Some(false) 29",
            ]
        );
    }

    #[test]
    fn empty_and_errors() {
        assert_eq!(parse("# nothing\n", "pnpm-lock.yaml").expect("empty"), Parsed::default());
        let e = parse("packages:\n  a: [\n", "pnpm-lock.yaml").expect_err("bad");
        assert!(matches!(e.location, Location::LineColumn(_, _)), "{e}");
        let e = parse("packages:\n  /a/1.0.0:\n    dev: 3\n", "pnpm-lock.yaml").expect_err("bad entry");
        assert_eq!(e.location, Location::Pointer("/packages/~1a~11.0.0".into()));
    }
}
