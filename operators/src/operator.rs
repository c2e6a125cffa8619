//! The operator contract every stateful stream operator implements (Arroyo-style: small, with
//! defaulted hooks), so one runtime drives them all, and replay rebuilds them all the same way.

use trustloop_schemas::{Event, EventType};

use crate::input::Input;

/// A pure, deterministic stream operator: `(state, input) → (state, outputs)`.
///
/// The same inputs in the same order give byte-identical outputs, and the operator's state after a
/// prefix of its inputs depends on nothing else (no clock, no randomness, no I/O). That is what makes
/// replay exact.
pub trait Operator: Send {
    /// A stable name: consumer groups, snapshots and metrics are keyed by it.
    fn name(&self) -> &'static str;

    /// The event types (hence topics) the operator reads.
    fn inputs(&self) -> &'static [EventType];

    /// The event types it derives (the runtime orders stages by them).
    fn outputs(&self) -> &'static [EventType];

    /// Applies one input; returns the derived events, in order.
    fn apply(&mut self, input: &Input<'_>) -> Vec<Event>;

    /// Called once the runtime has fed every input available now (end of a round): operators that
    /// batch work may flush it here. Default: nothing.
    fn on_idle(&mut self) -> Vec<Event> {
        Vec::new()
    }
}
