//! Operations endpoints of `trustloop run --listen ADDR`: `GET /healthz`, `GET /readyz` and
//! `GET /metrics` (Prometheus text exposition format).
//!
//! The runner records what every pass did into an [`Ops`] handle (a snapshot behind a mutex, held
//! only to copy it in or out); the HTTP handlers read copies of it. The runtime never waits on HTTP.

pub mod prometheus;
pub mod server;
pub mod state;

pub use state::{OperatorSnapshot, Ops, Snapshot};
