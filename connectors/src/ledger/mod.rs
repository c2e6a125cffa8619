//! The log's ledger (issue #21): every record of the log a leaf of one RFC 9162 Merkle tree and a
//! link of its partition's hash chain, signed checkpoints of both on [`CHECKPOINTS_TOPIC`], and the
//! walk that verifies a log against them. It works on any [`EventLog`] (the embedded log, Kafka):
//! it reads records as readers see them, so Kafka's batches and markers are not its concern.
//!
//! * [`checkpointer`] — reads what was appended since the last checkpoint, extends the tree and the
//!   chains, signs a checkpoint (a C2SP signed note) and appends it as a
//!   [`LogCheckpoint`](trustloop_schemas::LogCheckpoint) event.
//! * [`leaves`] — the tree's leaves read back from the log, for inclusion proofs.
//! * [`verify`] — re-reads every partition from where its chained history starts, recomputes every
//!   chain and the tree, and checks every checkpoint: its signature (following announced key
//!   rotations), its number and predecessor, its spans, heads and root; each break located by topic,
//!   partition and offsets.
//! * [`witness`] — a second key that cosigns a checkpoint only when the tree the log's records give
//!   is consistent with the last one it cosigned, appending its cosignature to
//!   [`COSIGNATURES_TOPIC`].
//!
//! What a checkpoint covers: every topic the log lists and the schema registry's topic, not the
//! checkpoints themselves nor their cosignatures. How a record becomes a leaf and a link is
//! [`trustloop_schemas::transparency::ledger`]. Checkpoints are not inputs of any operator: a log's
//! decisions replay the same with or without them.
//!
//! One checkpointer per log: the checkpointer checks that no checkpoint was appended while it read,
//! and fails (retriable) if one was.

use std::time::Duration;

use trustloop_schemas::CodecError;
use trustloop_schemas::transparency::checkpoint::{CheckpointError, NoteError};
use trustloop_schemas::transparency::ledger::ExtensionError;

use crate::log::{EventLog, LogError, LogResult};
use crate::registry::SCHEMAS_TOPIC;

pub mod checkpointer;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod leaves;
mod span;
#[cfg(test)]
mod tests;
pub mod verify;
pub mod witness;

/// The topic checkpoints are appended to (one partition).
pub const CHECKPOINTS_TOPIC: &str = "checkpoints";

/// The topic witnesses append their cosignatures to (one partition; not covered by checkpoints).
pub const COSIGNATURES_TOPIC: &str = "checkpoint-cosignatures";

/// How long reading a span waits for records below a partition's end offset that are not readable
/// yet (Kafka: an open transaction) before the span ends where reading stopped.
const SPAN_PATIENCE: Duration = Duration::from_millis(500);

/// Why the ledger could not make or read checkpoints. Breaks that verification finds in a log are
/// not errors: they are its report ([`verify::LogVerification`]).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// A checkpoint event could not be encoded or decoded.
    #[error("checkpoint at offset {offset}: {source}")]
    Codec {
        /// Its offset in [`CHECKPOINTS_TOPIC`] (-1: one being written).
        offset: i64,
        /// Why.
        #[source]
        source: CodecError,
    },
    /// The last checkpoint cannot be read as one.
    #[error("checkpoint at offset {offset}: {what}")]
    BadCheckpoint {
        /// Its offset in [`CHECKPOINTS_TOPIC`].
        offset: i64,
        /// What is wrong.
        what: String,
    },
    /// The key given cannot sign the next checkpoint.
    #[error("{0}")]
    Key(String),
    /// A note or key could not be made.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// Another checkpoint was appended while this one was being made.
    #[error(
        "another checkpoint was appended to {CHECKPOINTS_TOPIC} while this one was made (at offset {offset}); try again"
    )]
    Raced {
        /// The offset the other checkpoint took.
        offset: i64,
    },
}

impl LedgerError {
    /// Whether trying again may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            LedgerError::Log(e) => e.is_retriable(),
            LedgerError::Raced { .. } => true,
            _ => false,
        }
    }
}

impl From<CheckpointError> for LedgerError {
    fn from(e: CheckpointError) -> LedgerError {
        LedgerError::BadCheckpoint { offset: -1, what: e.to_string() }
    }
}

impl From<ExtensionError> for LedgerError {
    fn from(e: ExtensionError) -> LedgerError {
        LedgerError::BadCheckpoint { offset: -1, what: e.to_string() }
    }
}

/// The topics a checkpoint covers, with their partition counts, by name: every topic the log
/// lists and the schema registry's, not [`CHECKPOINTS_TOPIC`] nor [`COSIGNATURES_TOPIC`].
pub async fn covered_topics(log: &dyn EventLog) -> LogResult<Vec<(String, u32)>> {
    let mut out: Vec<(String, u32)> = log
        .list_topics()
        .await?
        .into_iter()
        .filter(|t| t.name != CHECKPOINTS_TOPIC && t.name != COSIGNATURES_TOPIC)
        .map(|t| (t.name, t.partitions))
        .collect();
    match log.partition_count(SCHEMAS_TOPIC).await {
        Ok(n) => out.push((SCHEMAS_TOPIC.to_string(), n)),
        Err(LogError::UnknownTopic(_)) => {}
        Err(e) => return Err(e),
    }
    out.sort();
    out.dedup();
    Ok(out)
}
