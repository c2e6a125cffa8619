//! Verifiable evidence, the pure building blocks (issue #21): nothing here does I/O, reads a clock
//! or draws randomness; keys are made from seeds the caller gives.
//!
//! * [`merkle`] — an RFC 9162 Merkle tree: roots, inclusion and consistency proofs, and the compact
//!   right-edge form an appender keeps.
//! * [`checkpoint`] — C2SP signed notes (Ed25519, cosignatures, vkeys) and tlog-checkpoint bodies.
//! * [`dsse`] — DSSE v1 envelopes signed with Ed25519 (PAE, JSON envelope, multi-signature verification).
//! * [`intoto`] — the in-toto Statement v1 that a DSSE envelope carries.
//! * [`ledger`] — records as leaves and chain links, and a trustloop checkpoint's extension lines.
pub mod checkpoint;
pub mod dsse;
pub mod intoto;
pub mod ledger;
pub mod merkle;
