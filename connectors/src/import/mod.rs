//! Importers: real-world documents turned into trustloop events.
//!
//! * [`osv`] — OSV advisories (JSON or YAML) into `Advisory` events.
//! * [`osv_history`] — an ordered advisory stream (JSON lines, gzip) into `Advisory` events.
//! * [`csaf_advisory`] — CSAF 2.0 security advisories into `Advisory` events (one per
//!   vulnerability), with the products that cannot be placed in an OSV ecosystem listed.
//! * [`cargo_lock`] — `Cargo.lock` files into `ReleaseInventory` events.
//! * [`lockfile`] — lockfiles of every kind (and directories of them) into one `ReleaseInventory`.
//! * [`cyclonedx`], [`spdx`] — CycloneDX and SPDX JSON SBOMs into `ReleaseInventory` events; [`sbom`]
//!   tells them apart; [`release`] is what the inventory importers share.
//! * [`openvex`], [`csaf`], [`cyclonedx_vex`] — VEX documents into `VexStatement` events; [`vex`]
//!   tells the formats apart and holds what they share.
//! * [`kev`] — CISA's Known Exploited Vulnerabilities catalog into `KnownExploited` events;
//!   [`epss`] — FIRST's daily EPSS scores into `EpssScores` events.
//! * [`any`] — any of these feed documents, its kind told by name and content, strictly (a bad part
//!   fails the document): for commands given feed files of any kind (`trustloop replay --with`).

pub mod any;
pub mod cargo_lock;
pub mod csaf;
pub mod csaf_advisory;
pub mod cyclonedx;
pub mod cyclonedx_vex;
pub mod epss;
pub mod kev;
pub mod lockfile;
pub mod openvex;
pub mod osv;
pub mod osv_history;
pub mod release;
pub mod sbom;
pub mod spdx;
pub mod vex;

/// Appends `path` to `out` if it is a file, else every file under it (directories walked, entries in
/// name order, so an import of a folder is the same on every machine).
pub fn walk(path: &std::path::Path, out: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<std::path::PathBuf> =
            std::fs::read_dir(path)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for e in entries {
            walk(&e, out)?;
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Why a document (or a part of it) was not imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {reason}", if pointer.is_empty() { String::new() } else { format!(" at {pointer}") })]
pub struct ImportError {
    /// The file.
    pub path: String,
    /// JSON pointer of the offending value (`/affected/0/ranges/1/type`), empty for the whole document.
    pub pointer: String,
    /// What was wrong.
    pub reason: String,
}

/// A parse error of `trustloop-formats` as an import error: its line (`line 12`, `line 12:5`), byte
/// offset or JSON pointer in [`ImportError::pointer`].
impl From<trustloop_formats::FormatError> for ImportError {
    fn from(e: trustloop_formats::FormatError) -> ImportError {
        let pointer = match e.location {
            trustloop_formats::Location::Document => String::new(),
            trustloop_formats::Location::Line(l) => format!("line {l}"),
            trustloop_formats::Location::LineColumn(l, c) => format!("line {l}:{c}"),
            trustloop_formats::Location::Pointer(p) => p,
            trustloop_formats::Location::Offset(o) => format!("byte {o}"),
        };
        ImportError { path: e.path, pointer, reason: e.reason }
    }
}

/// Converts serde_path_to_error's path (`affected[0].ranges[1].type`) to a JSON pointer.
pub(crate) fn json_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        out.push('/');
        match seg {
            Segment::Seq { index } => out.push_str(&index.to_string()),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                out.push_str(&key.replace('~', "~0").replace('/', "~1"))
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

/// Deserializes the JSON document `bytes` (named `path` in errors): an error carries the JSON pointer
/// of the offending value; data after the document is an error too.
pub(crate) fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8], path: &str) -> Result<T, ImportError> {
    let err = |pointer: String, reason: String| ImportError { path: path.to_string(), pointer, reason };
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value =
        serde_path_to_error::deserialize(&mut de).map_err(|e| err(json_pointer(e.path()), e.inner().to_string()))?;
    de.end().map_err(|e| err(String::new(), e.to_string()))?;
    Ok(value)
}
