//! Verifiable evidence, the pure building blocks (issue #21): nothing here does I/O, reads a clock
//! or draws randomness; keys are made from seeds the caller gives.
//!
//! * [`merkle`] — an RFC 9162 Merkle tree: roots, inclusion and consistency proofs, and the compact
//!   right-edge form an appender keeps.
pub mod merkle;
