//! Deterministic replay: rebuilds an operator's state from the log with the same operator code, the
//! same input order and the same admission rules as the runtime, up to a recorded input frontier,
//! and compares what it derives with what was recorded.
//!
//! - [`admit()`]: which records an operator is fed (the runtime's own, from
//!   [`trustloop_connectors::feed`], so both agree).
//! - [`feed`](mod@feed): feeds an operator a set of partition ranges through the runtime's
//!   [`Feed`](trustloop_connectors::feed::Feed) — the log's merge order, the same admission — with
//!   inputs the log does not hold merged in at their places.
//! - [`verdict`]: replays the decision operator up to a verdict's input frontier and reports whether
//!   the recomputed verdict is the recorded one, byte for byte, and which inputs determined it.
//! - [`whatif`]: re-runs history (findings, trust, then decisions) under a candidate policy and with
//!   candidate inputs merged at their event times, and compares.
//! - [`event`]: any derived event (an enforcement action, say) replayed by id through the operator
//!   that derived it.
//! - [`evidence`]: a verdict's evidence bundle (DSSE/in-toto, inclusion proofs, the signed
//!   checkpoint), made from the log and verified without it.
//! - [`blame`]: each change of a subject's verdict and the input that flipped it.
//! - [`subject`]: a subject's decision as known at a log time, of what had happened by an event time.

pub mod blame;
pub mod event;
pub mod evidence;
pub mod feed;
pub mod subject;
pub mod verdict;
pub mod whatif;

pub use feed::{History, Injected, Place, Range, ReplayError, Share, feed, feed_with};
pub use trustloop_connectors::feed::{Admission, admit};
pub use verdict::{ClockInput, InputRef, VerdictReplay, replay_verdict};
