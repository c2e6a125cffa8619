//! The operator graph of a trustloop run, in the order a pass feeds it:
//!
//! ```text
//! advisories, inventory, vex, policies ─► impact ─► findings
//! telemetry, findings, policies ───────► trust ──► trust-scores
//! findings, approvals, promotions, policies, trust-scores ─► decision ─► verdicts, actions
//! actions, action-results, verdicts, policies ─► enforce ─► actions (lifecycle)
//! actions (dispatched) ─► adapters ─► action-results
//! verdicts, findings, actions, trust-scores, notify-rules ─► notify ─► notifications
//! notifications ─► channels (webhook, Slack, Teams, SMTP) ─► deliveries
//! ```

use std::collections::BTreeSet;

use trustloop_operators::decision::DecisionState;
use trustloop_operators::enforce::EnforcementState;
use trustloop_operators::findings::FindingsState;
use trustloop_operators::notify::NotifyState;
use trustloop_operators::operator::{Operator, Partitioning};
use trustloop_operators::trust::TrustState;

use crate::backend::Backend;
use crate::error::{Context, Result, RuntimeError};
use crate::stage::{Stage, Task, Upstream};

/// Fresh instances of every operator, upstream first.
pub fn operators() -> Vec<Box<dyn Operator>> {
    vec![
        Box::new(FindingsState::default()),
        Box::new(TrustState::new()),
        Box::new(DecisionState::new()),
        Box::new(EnforcementState::new()),
        Box::new(NotifyState::new()),
    ]
}

/// How a run divides the operators' work into stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// One stage per operator, reading every partition.
    Single,
    /// One stage per partition number (task) for the operators that can be split, one for the
    /// others; this process runs the tasks in `owned` (the singletons with task 0).
    PerPartition {
        /// The partition numbers this process owns.
        owned: BTreeSet<u32>,
    },
}

/// The stages of a run over `backend`, each restored to its consumer group's position.
pub async fn stages(backend: &Backend) -> Result<Vec<Stage>> {
    stages_for(backend, &Layout::Single).await
}

/// The stages of `layout`, upstream operators first (an operator's tasks in partition order).
pub async fn stages_for(backend: &Backend, layout: &Layout) -> Result<Vec<Stage>> {
    let mut out = Vec::new();
    let count = match layout {
        Layout::Single => 1,
        Layout::PerPartition { .. } => task_count(backend).await?,
    };
    let all = operators();
    for (i, op) in operators().into_iter().enumerate() {
        let first = out.len();
        match (layout, op.partitioning()) {
            (Layout::Single, _) => out.push(Stage::new(backend, op).await?),
            (Layout::PerPartition { owned }, Partitioning::Singleton) => {
                if owned.contains(&0) {
                    out.push(Stage::new(backend, op).await?);
                }
            }
            (Layout::PerPartition { owned }, Partitioning::Keyed(_)) => {
                // One fresh instance per task (the first is `op` itself).
                let mut first = Some(op);
                for &id in owned.iter().filter(|id| **id < count) {
                    let op = match first.take() {
                        Some(op) => op,
                        None => operators().into_iter().nth(i).context("the operator graph is fixed")?,
                    };
                    out.push(Stage::for_task(backend, op, Task { id, count }).await?);
                }
            }
        }
        if let Layout::PerPartition { .. } = layout {
            // Upstream tasks may run in other processes: align on every task of every operator
            // writing one of this operator's inputs (itself excepted: its own outputs come after).
            let upstream = upstream_of(&*all[i], &all, count);
            for s in &mut out[first..] {
                s.align_on(upstream.clone());
            }
        }
    }
    Ok(out)
}

/// Every task of the operators (other than `op`) that write one of `op`'s inputs, with `count` tasks.
fn upstream_of(op: &dyn Operator, all: &[Box<dyn Operator>], count: u32) -> Vec<Upstream> {
    let mut out = Vec::new();
    for u in all.iter().filter(|u| u.name() != op.name()) {
        if !u.outputs().iter().any(|t| op.inputs().contains(t)) {
            continue;
        }
        let tasks = match u.partitioning() {
            Partitioning::Singleton => vec![Task::ALL],
            Partitioning::Keyed(_) => (0..count).map(|id| Task { id, count }).collect(),
        };
        for task in tasks {
            let reads = u
                .inputs()
                .iter()
                .map(|t| (t.topic(), (task.count > 1 && u.partitioning().is_keyed(*t)).then_some(task.id)))
                .collect();
            out.push(Upstream { group: task.group(u.name()), reads });
        }
    }
    out
}

/// The number of tasks: the partition count every keyed input topic of every operator shares.
pub async fn task_count(backend: &Backend) -> Result<u32> {
    let mut counts = BTreeSet::new();
    let mut topics = Vec::new();
    for op in operators() {
        if let Partitioning::Keyed(keyed) = op.partitioning() {
            for t in keyed {
                let n = backend
                    .log
                    .partition_count(t.topic())
                    .await
                    .with_context(|| format!("partitions of {}", t.topic()))?;
                counts.insert(n);
                topics.push(format!("{} ({n})", t.topic()));
            }
        }
    }
    match counts.len() {
        0 => Ok(1),
        1 => Ok(counts.into_iter().next().unwrap_or(1)),
        _ => Err(RuntimeError::invalid(format!(
            "one task per partition needs every keyed topic to have the same partition count: {}",
            topics.join(", ")
        ))),
    }
}
