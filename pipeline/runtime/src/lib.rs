//! trustloop's runtime: what drives the pure operators over the event log, and nothing that serves
//! or parses a command line (no SQL, HTTP or CLI dependencies).
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`backend`] | backend selection from a plain [`BackendConfig`]: the embedded log or Kafka, the schema registry, the codec |
//! | [`stage`] | a [`Stage`] per operator (or per task), passes bounded by a [`Cutoff`], [`run_until_idle`] |
//! | [`graph`] | the operator graph and its layouts (one stage per operator, or one task per partition) |
//! | [`dispatch`] | the enforcement adapters as an [`Effect`] of the run |
//! | [`deliver`] | the notification channels as an [`Effect`]: every attempt a `Delivery`, nothing sent twice |
//! | [`supervisor`] | [`supervise`]: `trustloop run`'s loop — polling, stopping, outages, rebalances |
//! | [`ledger`] | the log's checkpoints made by the runtime: after rounds that decided, and at an interval |
//! | [`snapshot`] | checkpoints of operator state, and the one rule for where they live ([`snapshot::state_dir`]) |
//! | [`error`] | [`RuntimeError`]: what went wrong, and whether it is retriable |
//! | [`backoff`] | the exponential back-off every retrying loop uses |
//! | [`ingest`] | JSON lines into a topic, and the [`ingest::EventWriter`] everything appends with |
//! | [`lineage`] | one trace per event lineage, carried in `traceparent` record headers |
//! | [`ops`] | what the operations endpoints report: readiness, per-operator counters, lag |
//! | [`verify`], [`audit`] | re-deriving every operator's outputs; replaying one verdict or action |
//! | [`clock`] | the time stamped on what arrives without one (`--now`) |
//! | [`memory`] | locking the process's memory (`--lock-memory`) |
//!
//! The functional core lives in `trustloop-operators`; the log backends and the one feed in
//! `trustloop-connectors`; the event types and codecs in `trustloop-schemas`. `trustloop-serve`
//! serves what this crate runs over HTTP; the `trustloop` binary is the command line.

pub mod audit;
pub mod backend;
pub mod backoff;
pub mod clock;
pub mod deliver;
pub mod dispatch;
pub mod error;
pub mod graph;
pub mod ingest;
pub mod ledger;
pub mod lineage;
pub mod memory;
pub mod ops;
pub mod snapshot;
pub mod stage;
pub mod supervisor;
pub mod verify;

pub use backend::{Backend, BackendConfig};
pub use error::{Result, RuntimeError};
pub use stage::{
    AdapterStats, Cutoff, DEFAULT_PASS_LIMIT, Effect, PassDone, PassLimits, RunReport, Stage, StageStats, Task,
    run_until_idle, run_until_idle_observed,
};
pub use supervisor::{Outcome, RuntimeConfig, supervise};
