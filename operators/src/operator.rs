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

    /// How the operator's work can be split over tasks (for scale-out). Default:
    /// [`Partitioning::Singleton`], one instance reading everything.
    fn partitioning(&self) -> Partitioning {
        Partitioning::Singleton
    }

    /// For an event of a keyed input type, the key its state is kept under — the key a producer
    /// must partition it by for it to reach the task that owns that state. `None`: not keyed.
    fn partition_key(&self, event: &Event) -> Option<String> {
        let _ = event;
        None
    }

    /// Called once the runtime has fed every input available now (end of a round): operators that
    /// batch work may flush it here. Default: nothing.
    fn on_idle(&mut self) -> Vec<Event> {
        Vec::new()
    }

    /// The operator's state, for a checkpoint. `None` (the default): it keeps no snapshots, and the
    /// runtime restores it by replaying its inputs.
    fn snapshot(&self) -> Option<Snapshot> {
        None
    }

    /// Replaces the state with `snapshot` (taken by this build or an older one). After it, applying
    /// the inputs that followed the snapshot gives the outputs an uninterrupted run gives.
    fn restore(&mut self, snapshot: &Snapshot) -> Result<(), SnapshotError> {
        let _ = snapshot;
        Err(SnapshotError::Unsupported(self.name()))
    }
}

/// How an operator's state divides over tasks.
///
/// A *task* is one partition number: with one task per partition, the instance of task `p` reads
/// partition `p` of each keyed input topic and every partition of the other inputs (broadcast, as a
/// Kafka Streams global table), and keeps and derives only what concerns the keys of partition `p`
/// — so its outputs depend on its own inputs only, whichever process runs it. That needs every
/// keyed topic to have the same partition count and producers to key events by
/// [`Operator::partition_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Partitioning {
    /// One instance reads every partition of every input: its state spans all keys (e.g. fleet-wide
    /// rate and blast-radius limits).
    Singleton,
    /// One instance per partition number; these input types are read by partition, the others in
    /// full.
    Keyed(&'static [EventType]),
}

impl Partitioning {
    /// Whether the task of partition `p` reads only partition `p` of `input` (else all of it).
    pub fn is_keyed(&self, input: EventType) -> bool {
        matches!(self, Partitioning::Keyed(keyed) if keyed.contains(&input))
    }
}

/// An operator's state at one point of its input, as bytes, with the version of their format.
///
/// Versions: a state whose shape changes compatibly (new fields with defaults) keeps its version, so
/// older snapshots still decode; an incompatible change bumps it, and `restore` then migrates older
/// versions or refuses them — the runtime falls back to replay. A snapshot newer than the build is
/// always refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Format version of `state`.
    pub version: u32,
    /// The serialized state.
    pub state: Vec<u8>,
}

impl Snapshot {
    /// `state` as JSON at format `version`.
    pub fn json<T: serde::Serialize>(version: u32, state: &T) -> Option<Snapshot> {
        // The operators' states are ordered maps and plain data: serializing cannot fail, but if it
        // ever did, no snapshot is the safe answer (the runtime replays instead).
        serde_json::to_vec(state).ok().map(|state| Snapshot { version, state })
    }

    /// Decodes a JSON snapshot of `operator`, whose current format version is `current`.
    pub fn from_json<T: serde::de::DeserializeOwned>(
        &self,
        operator: &'static str,
        current: u32,
    ) -> Result<T, SnapshotError> {
        if self.version > current {
            return Err(SnapshotError::Version { operator, found: self.version, current });
        }
        serde_json::from_slice(&self.state).map_err(|e| SnapshotError::Decode { operator, reason: e.to_string() })
    }
}

/// Why a snapshot could not be restored (the runtime then restores by replay).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The operator keeps no snapshots.
    #[error("the {0} operator keeps no snapshots (it is restored by replay)")]
    Unsupported(&'static str),
    /// A snapshot format this build does not read.
    #[error("snapshot format {found} of the {operator} operator is newer than this build's ({current})")]
    Version {
        /// The operator.
        operator: &'static str,
        /// The snapshot's version.
        found: u32,
        /// The version this build writes.
        current: u32,
    },
    /// The bytes do not decode.
    #[error("the {operator} snapshot does not decode: {reason}")]
    Decode {
        /// The operator.
        operator: &'static str,
        /// The decoder's message.
        reason: String,
    },
}

/// A state through its own snapshot and back into `fresh`, as the runtime does at a checkpoint and
/// a restart (for the operators' determinism tests).
#[cfg(test)]
pub(crate) fn snapshot_round_trip<T: Operator>(state: &T, mut fresh: T) -> T {
    let snapshot = state.snapshot().expect("the operator keeps snapshots");
    fresh.restore(&snapshot).expect("its own snapshot restores");
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_and_garbled_snapshots_are_refused() {
        let newer = Snapshot { version: 2, state: b"{}".to_vec() };
        assert!(matches!(
            newer.from_json::<serde_json::Value>("trust", 1),
            Err(SnapshotError::Version { found: 2, current: 1, .. })
        ));
        let garbled = Snapshot { version: 1, state: b"{".to_vec() };
        assert!(matches!(garbled.from_json::<serde_json::Value>("trust", 1), Err(SnapshotError::Decode { .. })));
        let older = Snapshot { version: 1, state: b"{}".to_vec() };
        assert!(older.from_json::<serde_json::Value>("trust", 2).is_ok(), "an older version is read");
    }
}
