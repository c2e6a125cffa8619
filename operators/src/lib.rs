//! trustloop's functional core: pure, deterministic operators. No clock, no randomness, no I/O.
//!
//! * [`versions`] — version ordering per ecosystem (OSV ecosystem names), the basis of impact
//!   selection.
//! * [`impact`] — the impact operator: advisories × release inventories → incremental finding deltas.
//! * [`osv`] — OSV range evaluation: is a version affected by an advisory, and why.
//! * [`purl`] — package URLs and their OSV identity (ecosystem, package name).
//! * [`vex`] — alias unification and VEX consensus over statements from several issuers.

pub mod impact;
pub mod osv;
pub mod purl;
pub mod vex;
pub mod versions;
