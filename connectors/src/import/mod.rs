//! Importers: real-world documents turned into trustloop events.
//!
//! * [`osv`] — OSV advisories (JSON or YAML) into `Advisory` events.
//! * [`osv_history`] — an ordered advisory stream (JSON lines, gzip) into `Advisory` events.
//! * [`cargo_lock`] — `Cargo.lock` files into `ReleaseInventory` events.
//! * [`cyclonedx`], [`spdx`] — CycloneDX and SPDX JSON SBOMs into `ReleaseInventory` events; [`sbom`]
//!   tells them apart; [`release`] is what the inventory importers share.
//! * [`openvex`], [`csaf`], [`cyclonedx_vex`] — VEX documents into `VexStatement` events; [`vex`]
//!   tells the formats apart and holds what they share.

pub mod cargo_lock;
pub mod csaf;
pub mod cyclonedx;
pub mod cyclonedx_vex;
pub mod openvex;
pub mod osv;
pub mod osv_history;
pub mod release;
pub mod sbom;
pub mod spdx;
pub mod vex;

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
