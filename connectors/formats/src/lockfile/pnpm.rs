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
//!
//! pnpm writes a small, regular subset of YAML, which a line reader takes in one pass; a file it
//! does not understand (block scalars, anchors, flow mappings where a mapping is read) goes to a
//! full YAML parser instead, which is several times slower.

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
    let doc = match fast::read(text) {
        Some(doc) => doc,
        None => from_yaml(text, path)?,
    };
    Ok(read_doc(&doc))
}

/// What is read from a lockfile, whichever reader read it.
#[derive(Default, Debug, PartialEq)]
struct Doc {
    /// `lockfileVersion`, as written.
    version: Option<String>,
    /// `packages`, in file order.
    packages: Vec<Pkg>,
    /// `snapshots` (v9): key, `optional`, and the keys of the snapshots it depends on.
    snapshots: Vec<Snapshot>,
    /// The project's direct dependencies: name, version as written, whether a devDependency.
    roots: Vec<(String, String, bool)>,
}

/// A `packages` entry.
#[derive(Default, Debug, PartialEq)]
struct Pkg {
    key: String,
    line: Option<u32>,
    name: Option<String>,
    version: Option<String>,
    dev: Option<bool>,
    optional: Option<bool>,
}

/// A v9 `snapshots` entry.
#[derive(Default, Debug, PartialEq)]
struct Snapshot {
    key: String,
    optional: Option<bool>,
    deps: Vec<(String, String)>,
}

/// Reads a parsed document into packages and left-out entries.
fn read_doc(doc: &Doc) -> Parsed {
    let major = doc.version.as_deref().map_or(0, major_version);
    let direct = direct_deps(doc);
    let v9_groups = (major >= 9).then(|| v9_groups(doc));
    let mut out = Parsed::default();
    for pkg in &doc.packages {
        let location = pkg.line.map_or_else(|| Location::Pointer(pointer("/packages", &pkg.key)), Location::Line);
        let groups = match &v9_groups {
            Some(g) => g.get(base(&pkg.key)).cloned().unwrap_or_default(),
            None => groups(pkg),
        };
        read_entry(pkg, major, groups, &direct, location, &mut out);
    }
    out
}

/// Groups a v5–v8 entry states.
fn groups(pkg: &Pkg) -> Vec<String> {
    let mut g = Vec::new();
    if pkg.dev == Some(true) {
        g.push("dev".to_string());
    }
    if pkg.optional == Some(true) {
        g.push("optional".to_string());
    }
    g
}

/// The top level of a lockfile, for the full YAML parser: only what is read.
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

/// A `packages` or `snapshots` entry, for the full YAML parser: only what is read.
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

/// Reads the text with the full YAML parser.
fn from_yaml(text: &str, path: &str) -> Result<Doc, FormatError> {
    let lock: Option<Lockfile> = serde_yaml_ng::from_str(text).map_err(|e| yaml_error(path, &e))?;
    let Some(lock) = lock else { return Ok(Doc::default()) };
    let lines = key_lines(text);
    let entry = |section: &str, key: &str, value: &Value| {
        Entry::deserialize(value).map_err(|e| {
            FormatError::new(path, Location::Pointer(pointer(section, key)), format!("not a valid entry: {e}"))
        })
    };
    let mut doc = Doc { version: lock.lockfile_version.as_ref().and_then(scalar), ..Doc::default() };
    for (key, value) in lock.packages.iter().flatten() {
        let Some(key) = scalar(key) else { continue };
        let e = entry("/packages", &key, value)?;
        doc.packages.push(Pkg {
            line: lines.get(key.as_str()).copied(),
            name: e.name.as_ref().and_then(scalar),
            version: e.version.as_ref().and_then(scalar),
            dev: e.dev,
            optional: e.optional,
            key,
        });
    }
    for (key, value) in lock.snapshots.iter().flatten() {
        let Some(key) = scalar(key) else { continue };
        let e = entry("/snapshots", &key, value)?;
        let deps = e.dependencies.iter().chain(e.optional_dependencies.iter()).flatten();
        let deps = deps.filter_map(|(n, v)| Some((scalar(n)?, scalar(v)?))).collect();
        doc.snapshots.push(Snapshot { key, optional: e.optional, deps });
    }
    for (map, dev) in dependency_maps(&lock) {
        for (name, v) in map {
            if let (Some(name), Some(version)) = (scalar(name), dep_version(v)) {
                doc.roots.push((name, version, dev));
            }
        }
    }
    Ok(doc)
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
        if let Some((key, _)) = fast::key_value(rest.trim_end()) {
            out.entry(key).or_insert_with(|| u32::try_from(i + 1).unwrap_or(u32::MAX));
        }
    }
    out
}

/// The version a direct dependency names: a string (v5) or a mapping's `version` (v6+).
fn dep_version(v: &Value) -> Option<String> {
    match v {
        Value::Mapping(m) => m.get("version").and_then(scalar),
        other => scalar(other),
    }
}

/// The dependency maps of the project: the top level (v5/v6) and every importer; `true` for
/// devDependencies.
fn dependency_maps(lock: &Lockfile) -> Vec<(&Mapping, bool)> {
    let mut maps = Vec::new();
    for (m, dev) in [(&lock.dependencies, false), (&lock.optional_dependencies, false), (&lock.dev_dependencies, true)]
    {
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

/// Direct dependencies: `(name, version without peers)`, and `("", version as written)` for
/// versions that are paths or URLs.
fn direct_deps(doc: &Doc) -> HashSet<(String, String)> {
    let mut out = HashSet::new();
    for (name, version, _) in &doc.roots {
        let plain = version.split(['(', '_']).next().unwrap_or(version).to_string();
        out.insert((name.clone(), plain));
        out.insert((String::new(), version.trim_start_matches('/').to_string()));
    }
    out
}

/// v9 groups per package key, derived from what the importers reach through `snapshots`.
fn v9_groups(doc: &Doc) -> HashMap<String, Vec<String>> {
    let index: HashMap<&str, usize> = doc.snapshots.iter().enumerate().map(|(i, s)| (s.key.as_str(), i)).collect();
    let target = |name: &str, version: &str| index.get(dep_key(name, version).as_str()).copied();
    let edges: Vec<Vec<usize>> =
        doc.snapshots.iter().map(|s| s.deps.iter().filter_map(|(n, v)| target(n, v)).collect()).collect();
    let roots = |want_dev: bool| -> Vec<usize> {
        doc.roots.iter().filter(|(_, _, dev)| *dev == want_dev).filter_map(|(n, v, _)| target(n, v)).collect()
    };
    let prod = reach(&edges, roots(false));
    let dev = reach(&edges, roots(true));
    // Per package key: reached from production, reached from dev, every snapshot optional.
    let mut flags: HashMap<&str, (bool, bool, bool)> = HashMap::new();
    for (i, snap) in doc.snapshots.iter().enumerate() {
        let f = flags.entry(base(&snap.key)).or_insert((false, false, true));
        f.0 |= prod.get(i).copied().unwrap_or(false);
        f.1 |= dev.get(i).copied().unwrap_or(false);
        f.2 &= snap.optional == Some(true);
    }
    let mut out = HashMap::with_capacity(flags.len());
    for (key, (in_prod, in_dev, all_optional)) in flags {
        let mut groups = Vec::new();
        if in_dev && !in_prod {
            groups.push("dev".to_string());
        }
        if all_optional {
            groups.push("optional".to_string());
        }
        out.insert(key.to_string(), groups);
    }
    out
}

/// Which snapshots (by index) are reachable from `roots` along `edges`.
fn reach(edges: &[Vec<usize>], roots: Vec<usize>) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    let mut stack = roots;
    while let Some(i) = stack.pop() {
        match seen.get_mut(i) {
            Some(s) if !*s => *s = true,
            _ => continue,
        }
        stack.extend(edges.get(i).into_iter().flatten().copied());
    }
    seen
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
        (first.to_string(), path.get(first.len() + 1..))
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
    pkg: &Pkg,
    major: u32,
    groups: Vec<String>,
    direct: &HashSet<(String, String)>,
    location: Location,
    out: &mut Parsed,
) {
    let key = pkg.key.as_str();
    let left = |out: &mut Parsed, reason| {
        out.left_out.push(LeftOut { entry: key.to_string(), location: location.clone(), reason });
    };
    if key.starts_with("file:") || key.starts_with("link:") || key.contains("@file:") || key.contains("@link:") {
        return left(out, LeftOutReason::Local);
    }
    let from_key = name_version(key, major);
    let name = pkg.name.clone().or_else(|| from_key.as_ref().map(|(n, _)| n.clone()));
    let version = pkg.version.clone().or_else(|| from_key.map(|(_, v)| v));
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

/// The line reader for the YAML subset pnpm writes: two-space indents, one `key: value` a line,
/// flow collections only where nothing is read from them.
mod fast {
    use super::{Doc, Pkg, Snapshot};

    /// A value after `key:`.
    #[derive(Debug, PartialEq)]
    pub(super) enum Val {
        /// Nothing: a block collection follows.
        Empty,
        /// `{}` or `[]`.
        EmptyFlow,
        /// A flow collection with content (`{integrity: …}`).
        Flow,
        /// A plain or quoted scalar, unquoted.
        Scalar(String),
    }

    /// The top-level section a line is in.
    #[derive(Clone, Copy, PartialEq)]
    enum Section {
        Packages,
        Snapshots,
        Importers,
        /// v5/v6 top-level dependency lists; `true` for devDependencies.
        Top(bool),
        Other,
    }

    /// Where in a section the reader is.
    #[derive(Default)]
    struct State {
        section: Option<Section>,
        /// Snapshots: inside a `dependencies`/`optionalDependencies` list. Importers: inside a
        /// dependency list, `Some(dev)`.
        list: Option<bool>,
        /// A direct dependency whose `version:` is still to come: name and whether dev.
        dep: Option<(String, bool)>,
    }

    /// Reads `text`, or `None` where it meets YAML this reader does not take.
    pub(super) fn read(text: &str) -> Option<Doc> {
        let mut doc = Doc::default();
        let mut st = State::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end();
            let content = line.trim_start_matches(' ');
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - content.len();
            if indent % 2 != 0 || content.starts_with('\t') {
                return None;
            }
            let number = u32::try_from(i + 1).ok()?;
            if !line_into(&mut doc, &mut st, indent / 2, content, number)? {
                return None;
            }
        }
        Some(doc)
    }

    /// Takes one line at `depth`; `None` or `Some(false)` where the reader must give up.
    fn line_into(doc: &mut Doc, st: &mut State, depth: usize, content: &str, number: u32) -> Option<bool> {
        let section = st.section.unwrap_or(Section::Other);
        let tracked = match (depth, section) {
            (0, _) => true,
            (_, Section::Other) => false,
            (1, _) => true,
            (2, Section::Packages | Section::Snapshots | Section::Importers) => true,
            (2, Section::Top(_)) => st.dep.is_some(),
            (3, Section::Snapshots) => st.list.is_some(),
            (3, Section::Importers) => st.list.is_some(),
            (4, Section::Importers) => st.dep.is_some(),
            _ => false,
        };
        if !tracked {
            return Some(true);
        }
        let (key, val) = key_value(content)?;
        match depth {
            0 => top(doc, st, key, val),
            1 => entry(doc, st, section, key, val, number),
            2 => field(doc, st, section, key, val),
            _ => nested(doc, st, section, depth, key, val),
        }
    }

    /// A top-level key.
    fn top(doc: &mut Doc, st: &mut State, key: String, val: Val) -> Option<bool> {
        *st = State::default();
        let section = match key.as_str() {
            "packages" => Section::Packages,
            "snapshots" => Section::Snapshots,
            "importers" => Section::Importers,
            "dependencies" | "optionalDependencies" => Section::Top(false),
            "devDependencies" => Section::Top(true),
            "lockfileVersion" => {
                st.section = Some(Section::Other);
                let Val::Scalar(v) = val else { return Some(false) };
                doc.version = Some(v);
                return Some(true);
            }
            _ => Section::Other,
        };
        st.section = Some(section);
        Some(section == Section::Other || matches!(val, Val::Empty | Val::EmptyFlow))
    }

    /// A key at depth 1: a package, a snapshot, an importer or a v5/v6 direct dependency.
    fn entry(doc: &mut Doc, st: &mut State, section: Section, key: String, val: Val, number: u32) -> Option<bool> {
        st.list = None;
        st.dep = None;
        match section {
            Section::Packages if matches!(val, Val::Empty | Val::EmptyFlow) => {
                doc.packages.push(Pkg { key, line: Some(number), ..Pkg::default() });
            }
            Section::Snapshots if matches!(val, Val::Empty | Val::EmptyFlow) => {
                doc.snapshots.push(Snapshot { key, ..Snapshot::default() });
            }
            Section::Importers if matches!(val, Val::Empty | Val::EmptyFlow) => {}
            Section::Top(dev) => match val {
                Val::Scalar(v) => doc.roots.push((key, v, dev)),
                Val::Empty => st.dep = Some((key, dev)),
                _ => return Some(false),
            },
            _ => return Some(false),
        }
        Some(true)
    }

    /// A key at depth 2: a package's or snapshot's field, an importer's dependency list, or a
    /// v6 direct dependency's `version`.
    fn field(doc: &mut Doc, st: &mut State, section: Section, key: String, val: Val) -> Option<bool> {
        st.list = None;
        match section {
            Section::Packages => {
                let Some(pkg) = doc.packages.last_mut() else { return Some(false) };
                match (key.as_str(), val) {
                    ("name", Val::Scalar(v)) => pkg.name = Some(v),
                    ("version", Val::Scalar(v)) => pkg.version = Some(v),
                    ("dev", Val::Scalar(v)) => pkg.dev = Some(boolean(&v)?),
                    ("optional", Val::Scalar(v)) => pkg.optional = Some(boolean(&v)?),
                    ("name" | "version" | "dev" | "optional", _) => return Some(false),
                    _ => {}
                }
            }
            Section::Snapshots => {
                let Some(snap) = doc.snapshots.last_mut() else { return Some(false) };
                match (key.as_str(), val) {
                    ("optional", Val::Scalar(v)) => snap.optional = Some(boolean(&v)?),
                    ("dependencies" | "optionalDependencies", Val::Empty | Val::EmptyFlow) => st.list = Some(false),
                    ("optional" | "dependencies" | "optionalDependencies", _) => return Some(false),
                    _ => {}
                }
            }
            Section::Importers => {
                st.dep = None;
                let dev = match key.as_str() {
                    "dependencies" | "optionalDependencies" => false,
                    "devDependencies" => true,
                    _ => return Some(true),
                };
                if !matches!(val, Val::Empty | Val::EmptyFlow) {
                    return Some(false);
                }
                st.list = Some(dev);
            }
            Section::Top(_) => {
                if let (Some((name, dev)), "version") = (&st.dep, key.as_str()) {
                    let Val::Scalar(v) = val else { return Some(false) };
                    doc.roots.push((name.clone(), v, *dev));
                }
            }
            Section::Other => {}
        }
        Some(true)
    }

    /// A key at depth 3 or 4: a snapshot's dependency, an importer's dependency or its `version`.
    fn nested(doc: &mut Doc, st: &mut State, section: Section, depth: usize, key: String, val: Val) -> Option<bool> {
        match (section, depth) {
            (Section::Snapshots, 3) => {
                let (Some(snap), Val::Scalar(v)) = (doc.snapshots.last_mut(), val) else { return Some(false) };
                snap.deps.push((key, v));
            }
            (Section::Importers, 3) => {
                let dev = st.list.unwrap_or(false);
                st.dep = None;
                match val {
                    Val::Scalar(v) => doc.roots.push((key, v, dev)),
                    Val::Empty => st.dep = Some((key, dev)),
                    _ => return Some(false),
                }
            }
            (Section::Importers, 4) => {
                if let (Some((name, dev)), "version") = (&st.dep, key.as_str()) {
                    let Val::Scalar(v) = val else { return Some(false) };
                    doc.roots.push((name.clone(), v, *dev));
                }
            }
            _ => {}
        }
        Some(true)
    }

    /// A YAML boolean as pnpm writes it.
    fn boolean(v: &str) -> Option<bool> {
        match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }

    /// Splits `key: value` / `key:`; `None` for anything else (sequence items, anchors, block
    /// scalars, unterminated quotes).
    pub(super) fn key_value(line: &str) -> Option<(String, Val)> {
        let (key, rest) = if line.starts_with(['\'', '"']) {
            let (key, len) = quoted(line)?;
            (key, line.get(len..)?.strip_prefix(':')?)
        } else {
            if line.starts_with(['-', '?', '&', '*', '!', '[', '{', '|', '>', '%', '@', '`', ']', '}']) {
                return None;
            }
            match line.find(": ") {
                Some(i) => (line[..i].to_string(), &line[i + 1..]),
                None => (line.strip_suffix(':')?.to_string(), ""),
            }
        };
        if !rest.is_empty() && !rest.starts_with(' ') {
            return None;
        }
        Some((key, value(rest.trim())?))
    }

    /// A value after the colon, trimmed.
    fn value(v: &str) -> Option<Val> {
        if v.is_empty() || v.starts_with('#') {
            return Some(Val::Empty);
        }
        if v == "{}" || v == "[]" {
            return Some(Val::EmptyFlow);
        }
        if v.starts_with(['{', '[']) {
            return if v.ends_with(['}', ']']) { Some(Val::Flow) } else { None };
        }
        if v.starts_with(['|', '>', '&', '*', '!', '%', '@', '`']) {
            return None;
        }
        if v.starts_with(['\'', '"']) {
            let (s, len) = quoted(v)?;
            let after = v.get(len..)?.trim_start();
            return (after.is_empty() || after.starts_with('#')).then_some(Val::Scalar(s));
        }
        let plain = v.split(" #").next().unwrap_or(v).trim_end();
        Some(Val::Scalar(plain.to_string()))
    }

    /// The quoted scalar that starts `s` and its length in bytes.
    fn quoted(s: &str) -> Option<(String, usize)> {
        if let Some(inner) = s.strip_prefix('\'') {
            let mut out = String::new();
            let mut chars = inner.char_indices().peekable();
            while let Some((i, c)) = chars.next() {
                if c != '\'' {
                    out.push(c);
                } else if chars.peek().map(|(_, c)| *c) == Some('\'') {
                    out.push('\'');
                    chars.next();
                } else {
                    return Some((out, i + 2));
                }
            }
            return None;
        }
        let mut escaped = false;
        for (i, c) in s.char_indices().skip(1) {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => return Some((serde_json::from_str(&s[..=i]).ok()?, i + 1)),
                _ => {}
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V9: &str = r#"lockfileVersion: '9.0'

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
        let text = V9;
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
    fn ten_thousand_packages_parse_fast() {
        let mut text = String::from("lockfileVersion: '9.0'\n\nimporters:\n\n  .:\n    dependencies:\n");
        for i in 0..10_000 {
            text.push_str(&format!("      p{i}:\n        specifier: ^1.0.0\n        version: 1.0.{i}\n"));
        }
        text.push_str("\npackages:\n\n");
        for i in 0..10_000 {
            text.push_str(&format!(
                "  p{i}@1.0.{i}:\n    resolution: {{integrity: sha512-abcdefghijklmnopqrstuvwxyz{i}}}\n    engines: {{node: '>=8'}}\n\n"
            ));
        }
        text.push_str("snapshots:\n\n");
        for i in 0..10_000 {
            text.push_str(&format!(
                "  p{i}@1.0.{i}:\n    dependencies:\n      p{}: 1.0.{}\n\n",
                (i + 1) % 10_000,
                (i + 1) % 10_000
            ));
        }
        // The best of three runs, as the machine may be busy.
        let mut took = std::time::Duration::MAX;
        let mut p = Parsed::default();
        for _ in 0..3 {
            let start = std::time::Instant::now();
            p = parse(&text, "pnpm-lock.yaml").expect("parses");
            took = took.min(start.elapsed());
        }
        eprintln!("10,000 packages: {} bytes in {took:?}", text.len());
        assert_eq!(p.packages.len(), 10_000);
        assert!(p.packages.iter().all(|p| p.direct == Some(true) && p.groups.is_empty()));
        assert!(took.as_millis() < 5_000, "took {took:?}");
    }

    /// Both readers' documents, roots sorted (the full parser reads them section by section).
    fn both_readers(text: &str) -> (Option<Doc>, Doc) {
        let sorted = |mut d: Doc| {
            d.roots.sort();
            d
        };
        (fast::read(text).map(sorted), sorted(from_yaml(text, "pnpm-lock.yaml").expect("yaml")))
    }

    #[test]
    fn line_reader_agrees_with_the_yaml_parser() {
        for text in [
            V9,
            "lockfileVersion: 5.4\ndependencies:\n  a: 1.0.0\npackages:\n  /a/1.0.0:\n    dev: false # c\n    resolution: {integrity: x}\n    transitivePeerDependencies:\n      - b\n",
        ] {
            let (fast, full) = both_readers(text);
            assert_eq!(fast.as_ref(), Some(&full));
        }
        assert!(fast::read("packages:\n  a: &x\n").is_none());
        assert!(fast::read("packages:\n   a:\n").is_none());
        assert!(fast::read("packages:\n  - a\n").is_none());
    }

    /// Every pnpm-lock.yaml of osv-scalibr's testdata reads the same through both readers.
    #[test]
    #[ignore = "needs ../shared/data (shared_data)"]
    fn shared_data_line_reader_agrees_with_the_yaml_parser() {
        let root = std::env::var_os("TRUSTLOOP_SHARED_DATA").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
            std::path::PathBuf::from,
        );
        let dir = root.join("lockfiles/osv-scalibr/pnpmlock/testdata");
        let mut fast_read = 0;
        for file in std::fs::read_dir(&dir).expect("testdata").flatten() {
            let text = std::fs::read_to_string(file.path()).expect("read");
            let Ok(full) = from_yaml(&text, "pnpm-lock.yaml") else { continue };
            let (fast, full) = (both_readers(&text).0, {
                let mut d = full;
                d.roots.sort();
                d
            });
            if let Some(fast) = fast {
                assert_eq!(fast, full, "{}", file.path().display());
                fast_read += 1;
            }
        }
        eprintln!("{fast_read} files read alike by both readers");
        assert!(fast_read > 20);
    }

    #[test]
    fn empty_and_errors() {
        assert_eq!(parse("# nothing\n", "pnpm-lock.yaml").expect("empty"), Parsed::default());
        let e = parse("packages:\n  a: [\n", "pnpm-lock.yaml").expect_err("bad");
        assert!(matches!(e.location, Location::LineColumn(_, _)), "{e}");
        let e = parse("packages:\n  /a/1.0.0:\n    dev: 3\n", "pnpm-lock.yaml").expect_err("bad entry");
        assert_eq!(e.location, Location::Pointer("/packages/~1a~11.0.0".into()));
    }

    #[test]
    fn every_truncation_parses_or_errors_without_panic() {
        for (end, _) in V9.char_indices() {
            let _ = parse(&V9[..end], "pnpm-lock.yaml");
        }
    }
}
