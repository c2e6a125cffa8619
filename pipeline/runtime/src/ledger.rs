//! Checkpoints of the log made by the runtime itself (issue #21): after every round whose decision
//! stage wrote verdicts or actions, and at an interval when anything else was appended — so a
//! verdict is covered by a signed checkpoint as soon as it is written, without anyone running
//! `trustloop log checkpoint`. Only the process that runs the singletons (partition 0's tasks)
//! makes them: checkpoints form one sequence.

use std::sync::Arc;
use std::time::{Duration, Instant};

use trustloop_connectors::ledger::checkpointer::{CheckpointRequest, checkpoint, last_checkpoint};
use trustloop_connectors::ledger::{LedgerError, covered_topics};
use trustloop_schemas::transparency::checkpoint::NoteSigner;

use crate::backend::Backend;
use crate::stage::RunReport;

/// How the runtime checkpoints the log.
#[derive(Debug, Clone)]
pub struct CheckpointConfig {
    /// The log's key.
    pub signer: Arc<NoteSigner>,
    /// The log's origin (default: the last checkpoint's, else
    /// [`DEFAULT_ORIGIN`](trustloop_connectors::ledger::checkpointer::DEFAULT_ORIGIN)).
    pub origin: Option<String>,
    /// At most this long between checkpoints while records are appended.
    pub interval: Duration,
}

/// Decides when to checkpoint, and does.
#[derive(Debug)]
pub struct Checkpointing {
    config: CheckpointConfig,
    last: Option<Instant>,
}

impl Checkpointing {
    /// Checkpointing by `config`; the first round checkpoints whatever the log holds.
    pub fn new(config: CheckpointConfig) -> Checkpointing {
        Checkpointing { config, last: None }
    }

    /// After a round of passes: checkpoints if the decision stage wrote (reason `verdict`), or the
    /// interval is over and records were appended since the last checkpoint (reason `interval`).
    /// A failure is logged and tried again next round: checkpoints never stop the pipeline.
    pub async fn after_round(&mut self, backend: &Backend, report: &RunReport) {
        let decided = report.stages.get("decision").is_some_and(|s| s.written > 0);
        let due = self.last.is_none_or(|t| t.elapsed() >= self.config.interval);
        if !decided && !due {
            return;
        }
        match self.make(backend, if decided { "verdict" } else { "interval" }).await {
            Ok(Some(seq)) => {
                tracing::info!(seq, decided, "checkpointed the log");
                self.last = Some(Instant::now());
            }
            Ok(None) => self.last = Some(Instant::now()),
            Err(e) => {
                tracing::warn!(error = %e, retriable = e.is_retriable(), "could not checkpoint the log; trying again next round")
            }
        }
    }

    /// Makes a checkpoint unless nothing was appended since the last one; its number if made.
    async fn make(&self, backend: &Backend, reason: &str) -> Result<Option<u64>, LedgerError> {
        let log = &*backend.log;
        let last = last_checkpoint(log, &backend.codec, &*backend.registry).await?;
        if let Some(l) = &last {
            let mut pending = false;
            for (topic, _) in covered_topics(log).await? {
                let ends = log.end_offsets(&topic).await?;
                for (p, end) in ends.iter().enumerate() {
                    let covered = l.extensions.spans.iter().find(|s| s.topic == topic && s.partition as usize == p);
                    if covered.is_none_or(|s| *end > s.next_offset) {
                        pending = pending || *end > 0;
                    }
                }
            }
            if !pending {
                return Ok(None);
            }
        }
        let now_ms = crate::clock::now_micros() / 1000;
        let req = CheckpointRequest {
            origin: self.config.origin.as_deref(),
            signer: &self.config.signer,
            next_key: None,
            reason,
            now_ms,
        };
        let made = checkpoint(log, &backend.codec, &*backend.registry, &req).await?;
        Ok(u64::try_from(made.event.seq).ok())
    }
}
