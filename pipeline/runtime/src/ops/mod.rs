//! What the operations endpoints report (`GET /healthz`, `GET /readyz`, `GET /metrics` in the
//! Prometheus text exposition format; served over HTTP by `trustloop-serve`).
//!
//! The supervisor records what every pass did into an [`Ops`] handle (a snapshot behind a mutex,
//! held only to copy it in or out); the HTTP handlers read copies of it. The runtime never waits on
//! HTTP.

pub mod prometheus;
pub mod state;

pub use state::{OperatorSnapshot, Ops, Snapshot};
