//! trustloop's functional core: pure, deterministic operators. No clock, no randomness, no I/O.
//!
//! * [`versions`] — version ordering per ecosystem (OSV ecosystem names), the basis of impact
//!   selection.

pub mod versions;
