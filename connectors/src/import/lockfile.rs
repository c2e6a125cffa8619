//! Lockfiles and manifests of every kind trustloop reads into one `ReleaseInventory` event.
//!
//! The files are given one by one or as directories, which are walked (a monorepo: every lockfile
//! in it becomes part of the one release). A file's kind is told by its name, else by its content
//! ([`trustloop_formats::lockfile::Kind::sniff`]), or forced. Each pinned package becomes a
//! component with its scope (the lockfile's dependency groups: `dev`, `optional`, ...), whether it is
//! direct, and where it is declared (`path:line`); a package several files pin is one component.
//! What a file lists but does not pin is in the event's `left_out`, with its reason. A file that
//! cannot be read is an [`ImportError`] with its location, and the other files are imported.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use trustloop_formats::lockfile::{Kind, Package, Parsed};
use trustloop_formats::{FormatError, Location};
use trustloop_schemas::{Component, EventTime, InventoryFormat, LeftOutComponent, ReleaseInventory};

use super::ImportError;
use super::cargo_lock;
use super::release::{ReleaseRef, inventory};

/// Folders a directory walk does not enter: installed dependencies, version control and build
/// output hold other projects' manifests, not this release's.
pub const SKIPPED_DIRS: [&str; 11] = [
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "bower_components",
    "vendor",
    "target",
    ".venv",
    "venv",
    ".tox",
    "__pycache__",
];

/// A kind of lockfile trustloop reads: `Cargo.lock`, or one of [`Kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockKind {
    /// `Cargo.lock`.
    Cargo,
    /// Any other kind.
    Other(Kind),
}

impl LockKind {
    /// The name `--kind` takes (`cargo-lock`, `package-lock`, `pnpm-lock`, ...).
    pub fn name(self) -> &'static str {
        match self {
            LockKind::Cargo => "cargo-lock",
            LockKind::Other(k) => k.name(),
        }
    }

    /// The kind `--kind NAME` names.
    pub fn from_name(name: &str) -> Option<LockKind> {
        match name {
            "cargo-lock" => Some(LockKind::Cargo),
            _ => Kind::from_name(name).map(LockKind::Other),
        }
    }

    /// Every kind's name, for help and error texts.
    pub fn names() -> Vec<&'static str> {
        std::iter::once("cargo-lock").chain(Kind::ALL.iter().map(|k| k.name())).collect()
    }

    /// The kind a file's name says it is.
    pub fn from_file_name(file_name: &str) -> Option<LockKind> {
        match file_name {
            "Cargo.lock" => Some(LockKind::Cargo),
            _ => Kind::from_file_name(file_name).map(LockKind::Other),
        }
    }

    /// The kind of the file `path` with text `text`: by name, else by content.
    pub fn of(path: &Path, text: &str) -> Option<LockKind> {
        let by_name = path.file_name().and_then(|n| n.to_str()).and_then(LockKind::from_file_name);
        by_name.or_else(|| {
            if text.contains("[[package]]") && text.contains("source = \"registry+") {
                return Some(LockKind::Cargo);
            }
            Kind::sniff(text).map(LockKind::Other)
        })
    }

    /// The OSV ecosystem of the packages this kind pins.
    pub fn ecosystem(self) -> &'static str {
        match self {
            LockKind::Cargo => "crates.io",
            LockKind::Other(k) => k.ecosystem(),
        }
    }
}

/// The files to read under `paths`: a file given by name is read whatever its name; a directory is
/// walked (in name order, not entering [`SKIPPED_DIRS`]) for files whose name is a lockfile kind's.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ImportError> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| io_error(p, &e))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ImportError> {
    let mut entries: Vec<(PathBuf, bool)> = std::fs::read_dir(dir)
        .map_err(|e| io_error(dir, &e))?
        .filter_map(Result::ok)
        .map(|e| {
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            (e.path(), is_dir)
        })
        .collect();
    entries.sort();
    for (path, is_dir) in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if is_dir {
            if !SKIPPED_DIRS.contains(&name) {
                walk(&path, out)?;
            }
        } else if LockKind::from_file_name(name).is_some() {
            out.push(path);
        }
    }
    Ok(())
}

fn io_error(path: &Path, e: &std::io::Error) -> ImportError {
    ImportError { path: path.display().to_string(), pointer: String::new(), reason: e.to_string() }
}

/// One file of an import, and what it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSummary {
    /// The file.
    pub path: String,
    /// Its kind.
    pub kind: LockKind,
    /// Packages it pins.
    pub packages: usize,
    /// Entries it lists but does not pin.
    pub left_out: usize,
}

/// What an import of lockfiles yields.
#[derive(Debug, Clone)]
pub struct LockfileImport {
    /// The release's inventory, if at least one file was read.
    pub inventory: Option<ReleaseInventory>,
    /// The files read.
    pub files: Vec<FileSummary>,
    /// Files that could not be read, each with where and why.
    pub errors: Vec<ImportError>,
    /// Files given by name that are no lockfile kind trustloop knows.
    pub unsupported: Vec<String>,
}

/// The packages of one file, as components and left-out entries (locations named after `name`).
fn read_one(path: &Path, name: &str, kind: LockKind, text: &str) -> Result<(Parsed, Vec<Component>), ImportError> {
    match kind {
        LockKind::Cargo => {
            let (mut components, skipped) = cargo_lock::packages(text, name)?;
            for c in &mut components {
                c.location = Some(name.to_string());
            }
            let left_out = skipped
                .into_iter()
                .map(|entry| trustloop_formats::lockfile::LeftOut {
                    entry,
                    location: Location::Document,
                    reason: trustloop_formats::lockfile::LeftOutReason::Local,
                })
                .collect();
            Ok((Parsed { packages: Vec::new(), left_out }, components))
        }
        LockKind::Other(kind) => {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let mut read = |included: &str| {
                let p = dir.join(included);
                std::fs::read_to_string(&p)
                    .map_err(|e| FormatError::new(&p.display().to_string(), Location::Document, e.to_string()))
            };
            let parsed = kind.parse(text, name, &mut read)?;
            let components = parsed.packages.iter().map(|p| component(p, name)).collect();
            Ok((parsed, components))
        }
    }
}

/// `path:line`, or `path` where the line is not known.
fn place(name: &str, location: &Location) -> String {
    match location {
        Location::Document => name.to_string(),
        other => format!("{name}{other}"),
    }
}

fn component(p: &Package, file: &str) -> Component {
    let mut groups = p.groups.clone();
    groups.sort();
    groups.dedup();
    Component {
        purl: p.purl.clone(),
        ecosystem: p.ecosystem.to_string(),
        name: p.name.clone(),
        version: p.version.clone(),
        scope: (!groups.is_empty()).then(|| groups.join(",")),
        direct: p.direct,
        location: Some(match p.line {
            Some(l) => format!("{file}:{l}"),
            None => file.to_string(),
        }),
        ..Default::default()
    }
}

/// Merges `c` into `by_purl`: a package several files pin is one component — a runtime dependency
/// if any file has it as one (else the union of its groups), direct if any file says so, declared
/// where it was first seen.
fn merge(by_purl: &mut BTreeMap<String, Component>, c: Component) {
    match by_purl.get_mut(&c.purl) {
        None => {
            by_purl.insert(c.purl.clone(), c);
        }
        Some(seen) => {
            seen.scope = match (seen.scope.take(), c.scope) {
                (Some(a), Some(b)) => {
                    let mut groups: Vec<&str> = a.split(',').chain(b.split(',')).collect();
                    groups.sort_unstable();
                    groups.dedup();
                    Some(groups.join(","))
                }
                _ => None,
            };
            seen.direct = match (seen.direct, c.direct) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), _) | (_, Some(false)) => Some(false),
                _ => None,
            };
        }
    }
}

/// Reads every lockfile under `paths` (see [`discover`]) as the inventory of `release`, each file's
/// kind `forced` or told by name and content. The inventory's digest covers every file read (a
/// single file: the SHA-256 of its bytes, as `import cargo-lock` always had it).
pub fn import(
    paths: &[PathBuf],
    forced: Option<LockKind>,
    release: &ReleaseRef,
    tenant: &str,
    event_time: EventTime,
) -> Result<LockfileImport, ImportError> {
    let files = discover(paths)?;
    let mut out = LockfileImport { inventory: None, files: Vec::new(), errors: Vec::new(), unsupported: Vec::new() };
    let mut by_purl = BTreeMap::new();
    let mut left_out = Vec::new();
    let mut documents: Vec<(String, Vec<u8>)> = Vec::new();
    for path in &files {
        let name = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                out.errors.push(io_error(path, &e));
                continue;
            }
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            out.errors.push(ImportError { path: name, pointer: String::new(), reason: "not UTF-8 text".into() });
            continue;
        };
        let Some(kind) = forced.or_else(|| LockKind::of(path, text)) else {
            out.unsupported.push(name);
            continue;
        };
        let (parsed, components) = match read_one(path, &name, kind, text) {
            Ok(read) => read,
            Err(e) => {
                out.errors.push(e);
                continue;
            }
        };
        out.files.push(FileSummary {
            path: name.clone(),
            kind,
            packages: components.len(),
            left_out: parsed.left_out.len(),
        });
        for c in components {
            merge(&mut by_purl, c);
        }
        left_out.extend(parsed.left_out.iter().map(|l| LeftOutComponent {
            component: l.entry.clone(),
            ecosystem: Some(kind.ecosystem().to_string()),
            reason: l.reason.to_string(),
            location: place(&name, &l.location),
        }));
        documents.push((name, bytes));
    }
    if documents.is_empty() {
        return Ok(out);
    }
    let (format, source, digest_input) = match (documents.as_slice(), out.files.as_slice()) {
        ([(name, bytes)], [file]) => {
            let format = match file.kind {
                LockKind::Cargo => InventoryFormat::CargoLock,
                LockKind::Other(_) => InventoryFormat::Lockfile,
            };
            (format, format!("{}:{name}", file.kind.name()), bytes.clone())
        }
        _ => {
            // Every file's name and bytes, length-prefixed, in the order read.
            let mut all = Vec::new();
            for (name, bytes) in &documents {
                for part in [name.as_bytes(), bytes.as_slice()] {
                    all.extend_from_slice(&(part.len() as u64).to_be_bytes());
                    all.extend_from_slice(part);
                }
            }
            let roots: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
            (InventoryFormat::Lockfile, format!("lockfile:{}", roots.join(",")), all)
        }
    };
    let mut inv =
        inventory(release, format, &digest_input, by_purl.into_values().collect(), tenant, source, event_time);
    inv.left_out = left_out;
    out.inventory = Some(inv);
    Ok(out)
}

#[cfg(test)]
mod tests;
