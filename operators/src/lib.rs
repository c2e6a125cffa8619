//! trustloop's functional core: pure, deterministic operators. No clock, no randomness, no I/O.
//!
//! * [`coverage`] — blind spots: the components of a release no advisory source can check.
//! * [`versions`] — version ordering per ecosystem (OSV ecosystem names), the basis of impact
//!   selection.
//! * [`decision`] — the decision operator: release gates and trust rules → verdicts and actions.
//! * [`enforce`] — the enforcement operator: requested actions → an acknowledged lifecycle with budgets.
//! * [`findings`] — the findings operator: impact selection with VEX consensus and alias unification.
//! * [`impact`] — the impact operator: advisories × release inventories → incremental finding deltas.
//! * [`input`] — events with their log positions, and the input frontier derived events record.
//! * [`notify`] — the notify operator: rules over verdicts, findings, actions and trust scores →
//!   notifications (throttles, digests, quiet hours in event time).
//! * [`operator`] — the [`operator::Operator`] trait every stateful operator implements.
//! * [`osv`] — OSV range evaluation: is a version affected by an advisory, and why.
//! * [`policy`] — policy documents (YAML): the model, validation with locations, digests, the default.
//! * [`purl`] — package URLs and their OSV identity (ecosystem, package name).
//! * [`spdx`] — SPDX licence expressions, and whether a licence can be taken under given terms.
//! * [`trust`] — the trust scoring operator: telemetry × findings → trust scores.
//! * [`vex`] — alias unification and VEX consensus over statements from several issuers.

pub mod coverage;
pub mod decision;
pub mod enforce;
pub mod findings;
pub mod impact;
pub mod input;
pub mod intel;
pub mod notify;
pub mod operator;
pub mod osv;
pub mod policy;
pub mod purl;
pub(crate) mod serde_pairs;
pub mod spdx;
pub mod trust;
pub mod versions;
pub mod vex;
