//! `replay --all --verify`: every operator re-run over its input, as far as its stage (or each of
//! its tasks) had committed, with the same code, order and admission as the runtime; everything it
//! derives is compared with what the log recorded, event by event (canonical bytes).

use std::collections::BTreeMap;

use serde::Serialize;
use trustloop_operators::operator::Operator;
use trustloop_replay::History;
use trustloop_replay::feed::{FeedStats, Range, Share, each_event, feed};
use trustloop_replay::verdict::first_difference;
use trustloop_schemas::json::event_to_json;
use trustloop_schemas::{Event, EventId, EventTime, canonical_digest};

use crate::backend::Backend;
use crate::error::{Context, Result, RuntimeError};
use crate::graph;
use crate::stage::Task;

/// An event re-derived differently from the recorded one.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    /// Its event id.
    pub event_id: String,
    /// Its topic.
    pub topic: String,
    /// The first field that differs (a JSON path).
    pub first_difference: String,
}

/// What verifying one operator found.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The operator.
    pub operator: &'static str,
    /// Tasks replayed (1: a single stage).
    pub tasks: u32,
    /// What the replays read and applied, summed over the tasks.
    pub stats: FeedStats,
    /// Re-derived events identical to the recorded ones.
    pub matched: u64,
    /// Re-derived events that differ from the recorded ones.
    pub mismatched: Vec<Mismatch>,
    /// Recorded events of the operator that the replay did not derive (ids).
    pub missing: Vec<String>,
    /// Events the replay derived that the log does not hold (ids).
    pub unrecorded: Vec<String>,
}

impl Verification {
    /// Mismatched, missing and unrecorded events.
    pub fn problems(&self) -> u64 {
        (self.mismatched.len() + self.missing.len() + self.unrecorded.len()) as u64
    }

    /// A summary line, then one line per problem.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let verdict = if self.problems() == 0 { "MATCH" } else { "MISMATCH" };
        let _ = writeln!(
            out,
            "{verdict} {}: {} inputs applied ({} task{}), {} derived events identical, {} differ, {} missing, {} not recorded",
            self.operator,
            self.stats.applied,
            self.tasks,
            if self.tasks == 1 { "" } else { "s" },
            self.matched,
            self.mismatched.len(),
            self.missing.len(),
            self.unrecorded.len()
        );
        for m in &self.mismatched {
            let _ = writeln!(out, "  differs: {} on {}: first at {}", m.event_id, m.topic, m.first_difference);
        }
        for id in &self.missing {
            let _ = writeln!(out, "  recorded, not re-derived: {id}");
        }
        for id in &self.unrecorded {
            let _ = writeln!(out, "  re-derived, not recorded: {id}");
        }
        out
    }
}

/// Verifies every operator of the graph, comparing the events of event time `since` or later.
pub async fn all(backend: &Backend, since: EventTime) -> Result<Vec<Verification>> {
    let mut out = Vec::new();
    for op in graph::operators() {
        out.push(operator(backend, op, since).await.context("verifying an operator")?);
    }
    Ok(out)
}

/// The tasks whose committed offsets say how far `op` was run: its single stage's group if it has
/// committed anything, else its per-partition tasks'.
async fn tasks_of(backend: &Backend, op: &dyn Operator) -> Result<Vec<Task>> {
    let first_input = op.inputs().first().map(|t| t.topic()).unwrap_or("telemetry");
    let committed = |group: String| async move {
        let offsets = backend.log.committed_offsets(&group, first_input).await?;
        Ok::<_, RuntimeError>(offsets.iter().any(Option::is_some))
    };
    if committed(Task::ALL.group(op.name())).await? {
        return Ok(vec![Task::ALL]);
    }
    let keyed = op.inputs().iter().find(|t| op.partitioning().is_keyed(**t)).map(|t| t.topic());
    let Some(keyed) = keyed else { return Ok(vec![Task::ALL]) };
    let count = backend.log.partition_count(keyed).await?;
    if count > 1 && committed(Task { id: 0, count }.group(op.name())).await? {
        return Ok((0..count).map(|id| Task { id, count }).collect());
    }
    Ok(vec![Task::ALL])
}

/// Re-runs `op` (one replay per task) and compares what it derives with the recorded outputs.
async fn operator(backend: &Backend, op: Box<dyn Operator>, since: EventTime) -> Result<Verification> {
    let name = op.name();
    let source = format!("trustloop.{name}");
    let history = History { log: &backend.log, codec: &backend.codec, writers: &*backend.registry };
    let tasks = tasks_of(backend, &*op).await?;
    let mut derived: BTreeMap<EventId, Event> = BTreeMap::new();
    let mut stats = FeedStats::default();
    for task in &tasks {
        let mut fresh = graph::operators().into_iter().find(|o| o.name() == name).context("the operator")?;
        let partitioning = fresh.partitioning();
        let group = task.group(name);
        let mut ranges = Vec::new();
        for t in fresh.inputs() {
            let topic = t.topic();
            let partitions = backend.log.partition_count(topic).await?;
            let committed = backend.log.committed_offsets(&group, topic).await?;
            for p in 0..partitions {
                if task.count > 1 && partitioning.is_keyed(*t) && p != task.id {
                    continue;
                }
                let until = committed.get(p as usize).copied().flatten().unwrap_or(0);
                // From the start: a partition whose beginning retention deleted cannot be replayed (an
                // error says so) rather than be replayed from the middle.
                ranges.push(Range { topic: topic.to_string(), partition: p, from: 0, until });
            }
        }
        let share = Share { task: task.id, count: task.count };
        let s = feed(history, &mut *fresh, &ranges, share, &mut |applied| {
            for e in applied.outputs.iter().filter(|e| e.envelope().event_time >= since) {
                derived.insert(e.envelope().event_id, e.clone());
            }
        })
        .await
        .with_context(|| format!("replaying {group}"))?;
        stats.read += s.read;
        stats.applied += s.applied;
        stats.rejected += s.rejected;
    }
    // What the log recorded of this operator.
    let mut recorded: BTreeMap<EventId, (String, Event)> = BTreeMap::new();
    let outputs = op.outputs();
    for t in outputs {
        let topic = t.topic();
        each_event(history, topic, &mut |_, event| {
            if *event.envelope().source == *source
                && outputs.contains(&event.event_type())
                && event.envelope().event_time >= since
            {
                recorded.insert(event.envelope().event_id, (topic.to_string(), event));
            }
            std::ops::ControlFlow::Continue(())
        })
        .await?;
    }
    let mut v = Verification {
        operator: name,
        tasks: tasks.len() as u32,
        stats,
        matched: 0,
        mismatched: Vec::new(),
        missing: Vec::new(),
        unrecorded: Vec::new(),
    };
    for (id, (topic, event)) in &recorded {
        match derived.get(id) {
            Some(d) if canonical_digest(d) == canonical_digest(event) => v.matched += 1,
            Some(d) => v.mismatched.push(Mismatch {
                event_id: id.to_string(),
                topic: topic.clone(),
                first_difference: first_difference("", &event_to_json(event), &event_to_json(d))
                    .unwrap_or_else(|| "(canonical bytes only)".into()),
            }),
            None => v.missing.push(id.to_string()),
        }
    }
    v.unrecorded = derived.keys().filter(|id| !recorded.contains_key(*id)).map(ToString::to_string).collect();
    Ok(v)
}
