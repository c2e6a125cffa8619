//! The stages: drive the pure operators over the log and write what they derive.
//!
//! Each operator is a [`Stage`] with its own consumer group (`trustloop.<operator>`). A pass feeds a
//! stage every input record from its position to the end offsets seen when the pass starts, through
//! the one [`Feed`] that replay drives too (the log's own deterministic merge order, then
//! admission), and appends the derived events to their topics (partitioned by key). Passes over all stages repeat until none consumes anything: the loop is
//! closed (verdicts become actions, actions results, results new action states) and idle.
//!
//! **Bounded passes.** A backlog is worked through in passes of about `pass_limit` records per
//! input partition: when some stage is further behind than that on a partition, every stage of the
//! pass stops at one place in the merge order (a log time and sequence number, [`Cutoff`]), so each
//! pass commits — and, with transactions, ends its transaction — after a bounded amount of work,
//! and the order every operator sees is the one an unbounded pass gives.
//!
//! **Restore: snapshot, then replay.** A stage whose operator keeps snapshots ([`snapshot`]) starts
//! from its newest usable snapshot — taken after a commit, so it reflects committed inputs only —
//! and re-applies the inputs after it; others start from offset 0 with empty state. Either way,
//! outputs and dead letters caused by inputs below the group's committed offsets are *not* written
//! again (the run that committed them wrote them). Operators are deterministic, so the state rebuilt
//! this way is the state they had.
//!
//! **Exactly once, after a crash.** A stage commits its input positions after its outputs are
//! written, and then the end offsets of its output topics (the *output marks*, group
//! `trustloop.<operator>.outputs`). A process that dies between writing outputs and committing
//! leaves outputs whose inputs will be processed again; a stage that starts reads the event ids in
//! its output topics past its marks, and writes no event whose id is among them. Operators derive
//! event ids from their inputs, so what is re-derived has the same ids: every derived event ends up
//! in the log exactly once, on any backend, with no transaction (the kill -9 tests prove it).
//!
//! **Bad input.** A record that does not decode, or whose event type does not belong on its topic,
//! becomes a `DeadLetter` on `dlq` naming its topic, partition and offset; the stage goes on.
//!
//! **Tasks.** By default one stage per operator reads every partition. With one task per partition
//! (for scale-out, [`Task`]), an operator that can be split ([`Partitioning::Keyed`]) runs one stage
//! per partition number it owns: that stage reads its partition of the keyed inputs and all of the
//! others, and has its own consumer group (`trustloop.<operator>.task-<p>`), snapshots and output
//! marks — so its outputs depend on its inputs only, whichever process runs it. A keyed input found
//! in a partition its key does not map to becomes a dead letter (`misrouted`): the task that owns its
//! key never sees it, and acting on it elsewhere would split that key's state. As the tasks upstream
//! of a stage may run in other processes, a stage then applies no input of a log time they have not
//! processed all their inputs to ([`Stage::align_on`]): it sees its inputs in one process's order.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;
use trustloop_connectors::log::{LogTransaction, TopicPartitionOffset};
use trustloop_operators::input::Input;
use trustloop_operators::operator::{Operator, Partitioning};
use trustloop_schemas::{DeadLetter, Envelope, Event, EventId, EventTime, EventType, derive_event_id};

use crate::backend::Backend;
use crate::error::{Context, Result, RuntimeError};
use crate::ingest::EventWriter;
use crate::lineage::Lineage;
use crate::snapshot;
use trustloop_connectors::feed::{Admission, Fed, Feed, InputRange, MergePoint, Share, merge_point, seq_of};
use trustloop_connectors::log::PartitionReader;

/// The share of an operator's input a stage reads: all of it, or the task of one partition number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    /// The partition number of the task.
    pub id: u32,
    /// How many tasks there are (the partition count of the keyed topics); 1: a single task reads
    /// every partition.
    pub count: u32,
}

impl Task {
    /// The single task: every partition of every input.
    pub const ALL: Task = Task { id: 0, count: 1 };

    /// Whether this task reads only its own partition of `input` under `partitioning`.
    fn keyed(&self, partitioning: Partitioning, input: EventType) -> bool {
        self.count > 1 && partitioning.is_keyed(input)
    }

    /// Whether this task writes the dead letter of a bad record in `partition` of an input it reads
    /// in full (every task reads it: one of them speaks for it).
    fn speaks_for(&self, partition: u32) -> bool {
        partition % self.count == self.id
    }

    /// The consumer group of `operator`'s stage for this task.
    pub fn group(&self, operator: &str) -> String {
        match self.count {
            1 => format!("trustloop.{operator}"),
            _ => format!("trustloop.{operator}.task-{}", self.id),
        }
    }
}

/// A task upstream of a stage, in another process perhaps: its consumer group and what it reads
/// (`Some(p)`: only partition `p` of the topic).
#[derive(Debug, Clone)]
pub struct Upstream {
    /// Its consumer group.
    pub group: String,
    /// The topics (and partition, if only one) it reads.
    pub reads: Vec<(&'static str, Option<u32>)>,
}

/// One operator with its consumer group and read positions.
pub struct Stage {
    op: Box<dyn Operator>,
    task: Task,
    group: String,
    /// The tasks writing its inputs, when they may run in other processes: a pass applies no input
    /// of a log time they have not processed yet.
    upstream: Vec<Upstream>,
    /// Next offset to feed, per (topic, partition).
    positions: BTreeMap<(String, u32), i64>,
    /// The group's committed offsets when the stage started: outputs of inputs below them exist.
    committed: BTreeMap<(String, u32), i64>,
    /// Start and end offsets of every input partition when the stage last read it (for its lag).
    bounds: BTreeMap<(String, u32), (i64, i64)>,
    /// Ids of the events in the stage's output topics past its output marks when it started:
    /// written by a run that died before committing; not written again. Emptied by the first commit.
    already_written: HashSet<EventId>,
    /// Whether each pass writes its outputs and commits its input offsets in one log transaction
    /// (writer id `trustloop.<operator>`).
    transactional: bool,
    /// Where and how often the operator's state is checkpointed, if it is.
    checkpoints: Option<Checkpoints>,
    /// Inputs fed, outputs derived and dead letters, over the stage's life.
    pub stats: StageStats,
}

/// What a stage did.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct StageStats {
    /// Input records applied (replayed ones included).
    pub applied: u64,
    /// Input records applied again to rebuild state (outputs not re-written).
    pub replayed: u64,
    /// Derived events written.
    pub written: u64,
    /// Input records sent to `dlq`.
    pub dead_letters: u64,
    /// Derived events (and dead letters) not written because a run that died before committing had
    /// written them already.
    pub deduplicated: u64,
    /// Whether the stage started from a snapshot (rather than empty state).
    pub restored_from_snapshot: bool,
    /// Snapshots taken.
    pub snapshots: u64,
    /// How long the last snapshot took (serialize and write), in microseconds.
    pub last_snapshot_micros: u64,
}

impl StageStats {
    /// Adds `other`'s counts (another task of the same operator) to these.
    pub fn merge(&mut self, other: &StageStats) {
        self.applied += other.applied;
        self.replayed += other.replayed;
        self.written += other.written;
        self.dead_letters += other.dead_letters;
        self.deduplicated += other.deduplicated;
        self.restored_from_snapshot |= other.restored_from_snapshot;
        self.snapshots += other.snapshots;
        self.last_snapshot_micros = self.last_snapshot_micros.max(other.last_snapshot_micros);
    }
}

/// A stage's checkpointing: its store, the interval, and whether inputs were applied since the last.
struct Checkpoints {
    store: snapshot::SnapshotStore,
    interval: Duration,
    last: Instant,
    dirty: bool,
}

impl Stage {
    /// A stage for `op` reading everything, with consumer group `trustloop.<name>`; restores its
    /// positions.
    pub async fn new(backend: &Backend, op: Box<dyn Operator>) -> Result<Stage> {
        Stage::for_task(backend, op, Task::ALL).await
    }

    /// A stage for `op`'s `task`; restores its positions.
    pub async fn for_task(backend: &Backend, op: Box<dyn Operator>, task: Task) -> Result<Stage> {
        let group = task.group(op.name());
        let mut committed = BTreeMap::new();
        for t in op.inputs() {
            let topic = t.topic();
            let offsets = backend
                .log
                .committed_offsets(&group, topic)
                .await
                .with_context(|| format!("committed offsets of {group} on {topic}"))?;
            for (p, o) in offsets.into_iter().enumerate() {
                if let Some(o) = o {
                    committed.insert((topic.to_string(), p as u32), o);
                }
            }
        }
        let already_written = written_since_marks(backend, &group, &output_topics(&*op)).await?;
        if !already_written.is_empty() {
            tracing::info!(
                stage = op.name(),
                events = already_written.len(),
                "outputs written by a run that stopped before committing: not written again"
            );
        }
        Ok(Stage {
            op,
            task,
            group,
            upstream: Vec::new(),
            positions: BTreeMap::new(),
            committed,
            bounds: BTreeMap::new(),
            already_written,
            transactional: false,
            checkpoints: None,
            stats: StageStats::default(),
        })
    }

    /// Checkpoints the operator's state into `store` after a pass once `interval` has passed since
    /// the last snapshot (and at [`Stage::checkpoint`]); first restores the newest usable snapshot.
    /// Operators that keep no snapshots are left to replay.
    pub fn enable_snapshots(&mut self, store: snapshot::SnapshotStore, interval: Duration) -> Result<()> {
        if self.op.snapshot().is_none() {
            return Ok(());
        }
        for stored in store.newest_first(&self.group)? {
            let h = &stored.header;
            let ahead = h.positions.iter().find(|(t, p, o)| self.committed.get(&(t.clone(), *p)).is_none_or(|c| o > c));
            if h.operator != self.op.name() {
                tracing::warn!(path = %stored.path.display(), operator = %h.operator, "a snapshot of another operator: skipped");
                continue;
            }
            if let Some((t, p, o)) = ahead {
                tracing::warn!(path = %stored.path.display(), topic = %t, partition = p, offset = o, "a snapshot ahead of the committed offsets (were they reset?): skipped");
                continue;
            }
            match self.op.restore(&stored.snapshot) {
                Ok(()) => {
                    self.positions = h.positions.iter().map(|(t, p, o)| ((t.clone(), *p), *o)).collect();
                    self.stats.restored_from_snapshot = true;
                    tracing::info!(stage = self.op.name(), path = %stored.path.display(), "restored from a snapshot");
                    break;
                }
                Err(e) => {
                    tracing::warn!(path = %stored.path.display(), error = %e, "cannot restore a snapshot: skipped")
                }
            }
        }
        self.checkpoints = Some(Checkpoints { store, interval, last: Instant::now(), dirty: false });
        Ok(())
    }

    /// Takes a snapshot now if inputs were applied since the last one (e.g. before shutting down).
    pub async fn checkpoint(&mut self) -> Result<()> {
        let Some(c) = &mut self.checkpoints else { return Ok(()) };
        if !c.dirty {
            return Ok(());
        }
        let started = Instant::now();
        let Some(snap) = self.op.snapshot() else { return Ok(()) };
        let positions: Vec<(String, u32, i64)> = self.positions.iter().map(|((t, p), o)| (t.clone(), *p, *o)).collect();
        let (store, group, name) = (c.store.clone(), self.group.clone(), self.op.name());
        let span = tracing::info_span!("checkpoint", operator = name, task = self.task.id, bytes = snap.state.len());
        let path =
            tokio::task::spawn_blocking(move || span.in_scope(|| store.save(&group, name, positions, &snap))).await??;
        c.dirty = false;
        c.last = Instant::now();
        self.stats.snapshots += 1;
        self.stats.last_snapshot_micros = started.elapsed().as_micros() as u64;
        tracing::info!(stage = name, path = %path.display(), micros = self.stats.last_snapshot_micros, "snapshot taken");
        Ok(())
    }

    /// After a committed pass: notes that the state moved, and snapshots it when the interval is up.
    async fn after_commit(&mut self, applied: u64) -> Result<()> {
        let Some(c) = &mut self.checkpoints else { return Ok(()) };
        c.dirty |= applied > 0;
        if c.dirty && c.last.elapsed() >= c.interval {
            self.checkpoint().await?;
        }
        Ok(())
    }

    /// Makes every pass one log transaction: its outputs and its input offsets are committed
    /// together or not at all (Kafka: `transactional.id` = the stage's group, input offsets sent to
    /// the transaction). Fails at the first pass on a backend without transactions.
    pub fn set_transactional(&mut self, on: bool) {
        self.transactional = on;
    }

    /// The operator's name.
    pub fn name(&self) -> &'static str {
        self.op.name()
    }

    /// The task the stage runs.
    pub fn task(&self) -> Task {
        self.task
    }

    /// Aligns the stage on `upstream`, the tasks writing its inputs: a pass applies inputs only up to
    /// the log time those tasks have processed all their inputs to (their committed offsets say
    /// how far), so the stage sees its inputs in the order a one-process run does, wherever the
    /// upstream tasks run.
    pub fn align_on(&mut self, upstream: Vec<Upstream>) {
        self.upstream = upstream;
    }

    /// The log time up to which every upstream task has processed its inputs (`None`: all caught up,
    /// no bound). Read after the pass's end offsets: whatever arrives later is later.
    async fn upstream_frontier(&self, backend: &Backend) -> Result<Option<i64>> {
        let mut frontier: Option<i64> = None;
        for u in &self.upstream {
            for (topic, only) in &u.reads {
                let offsets = backend.log.offsets(topic).await.with_context(|| format!("offsets of {topic}"))?;
                let committed = backend
                    .log
                    .committed_offsets(&u.group, topic)
                    .await
                    .with_context(|| format!("committed offsets of {} on {topic}", u.group))?;
                for (p, o) in offsets.iter().enumerate() {
                    if only.is_some_and(|q| q != p as u32) {
                        continue;
                    }
                    let at = committed.get(p).copied().flatten().unwrap_or(o.start).max(o.start);
                    if at >= o.end {
                        continue;
                    }
                    // Its first unprocessed input: everything it derives from it and later inputs
                    // comes at that log time or after.
                    if let Some(r) = PartitionReader::first(&*backend.log, topic, p as u32, at).await? {
                        let t = r.timestamp_ms - 1;
                        frontier = Some(frontier.map_or(t, |f| f.min(t)));
                    }
                }
            }
        }
        Ok(frontier)
    }

    /// Consumer lag per input (topic, partition): the partition's end offset when the stage last read
    /// it minus the stage's position (0 when it has read everything there was).
    pub fn lag(&self) -> Vec<(&str, u32, i64)> {
        self.bounds
            .iter()
            .map(|((topic, p), (start, end))| {
                let pos = self.positions.get(&(topic.clone(), *p)).copied().unwrap_or(0).max(*start);
                (topic.as_str(), *p, (end - pos).max(0))
            })
            .collect()
    }

    /// Where the stage reads partition `partition` of `topic` next, if it reads that partition
    /// (`start`: the partition's first offset).
    fn next_offset(&self, topic: &str, partition: u32, start: i64) -> Option<i64> {
        let input = *self.op.inputs().iter().find(|t| t.topic() == topic)?;
        if self.task.keyed(self.op.partitioning(), input) && partition != self.task.id {
            return None;
        }
        Some(self.positions.get(&(topic.to_string(), partition)).copied().unwrap_or(0).max(start))
    }

    /// Feeds every input available now — on topics in `cutoff`, only below the offsets it gives,
    /// and up to its merge point if it has one — and returns how many input records were applied.
    pub async fn pass(&mut self, backend: &Backend, cutoff: &Cutoff) -> Result<u64> {
        let mut ranges = Vec::new();
        let partitioning = self.op.partitioning();
        let topics: Vec<&str> = self.op.inputs().iter().map(|t| t.topic()).collect();
        let all = backend.log.offsets_of(&topics).await.with_context(|| format!("offsets of {}", topics.join(", ")))?;
        for ((i, t), offsets) in self.op.inputs().iter().enumerate().zip(all) {
            let topic = t.topic();
            let keyed = self.task.keyed(partitioning, *t);
            if keyed && offsets.len() != self.task.count as usize {
                return Err(RuntimeError::invalid(format!(
                    "topic {topic} has {} partitions, the {} tasks expect {}: keyed topics must agree",
                    offsets.len(),
                    self.op.name(),
                    self.task.count
                )));
            }
            for (p, o) in offsets.iter().enumerate() {
                if keyed && p as u32 != self.task.id {
                    continue;
                }
                self.bounds.insert((topic.to_string(), p as u32), (o.start, o.end));
                let from = self.positions.get(&(topic.to_string(), p as u32)).copied().unwrap_or(0).max(o.start);
                let until = cutoff.offsets.get(&(topic.to_string(), p as u32)).map_or(o.end, |c| (*c).min(o.end));
                ranges.push(InputRange { topic: topic.to_string(), input: i, partition: p as u32, from, until });
            }
        }
        // A span (exported as a trace when configured) for passes with input only: idle polls
        // would drown the real work.
        let span = match ranges.iter().any(|r| !r.is_empty()) {
            true => tracing::info_span!(
                "stage",
                operator = self.op.name(),
                task = self.task.id,
                applied = tracing::field::Empty,
                written = tracing::field::Empty
            ),
            false => tracing::Span::none(),
        };
        let written_before = self.stats.written;
        let applied = self.apply(backend, ranges, cutoff).instrument(span.clone()).await?;
        span.record("applied", applied);
        span.record("written", self.stats.written - written_before);
        Ok(applied)
    }

    /// [`Stage::pass`] over `ranges`.
    async fn apply(&mut self, backend: &Backend, ranges: Vec<InputRange>, cutoff: &Cutoff) -> Result<u64> {
        let partitioning = self.op.partitioning();
        // Per range (looked up once, not per record): its key, committed offset, and the position
        // reached.
        let keys: Vec<(String, u32)> = ranges.iter().map(|r| (r.topic.clone(), r.partition)).collect();
        let committed: Vec<Option<i64>> = keys.iter().map(|k| self.committed.get(k).copied()).collect();
        // Per range: whether this task writes its dead letters (its partition of a keyed input, or
        // the one that speaks for a partition every task reads).
        let speaks: Vec<bool> = keys
            .iter()
            .map(|(topic, p)| {
                let keyed = EventType::from_topic(topic).is_some_and(|t| self.task.keyed(partitioning, t));
                keyed || self.task.speaks_for(*p)
            })
            .collect();
        let mut reached: Vec<Option<i64>> = vec![None; keys.len()];
        let until_time = match self.upstream.is_empty() {
            true => None,
            false => self.upstream_frontier(backend).await?,
        };
        let share = Share { task: self.task.id, count: self.task.count };
        // The same feed replay drives: what is fed here is what a replay feeds.
        let mut input = Feed::new(backend.log.clone(), &backend.codec, &*backend.registry, &*self.op, share, ranges)
            .until_time(until_time)
            .until(cutoff.until);
        if let Some(chunk) = cutoff.chunk {
            input = input.chunk(chunk);
        }
        let group = self.group.clone();
        let transaction = match self.transactional {
            true => Some(
                backend
                    .log
                    .begin_transaction(&self.group)
                    .await
                    .with_context(|| format!("starting a transaction of {}", self.group))?,
            ),
            false => None,
        };
        let mut writers = Writers { backend, transaction: transaction.clone(), by_topic: BTreeMap::new() };
        let mut applied = 0u64;
        // The latest input applied (log time and sequence number): what `on_idle` outputs derive from.
        let mut last: (i64, Option<u64>) = (0, None);
        while let Some(fed) = input.next().await.with_context(|| format!("reading the inputs of {group}"))? {
            let admission = input.admit(&fed, &*self.op);
            let Fed { range, key, record } = fed;
            let replay = committed[range].is_some_and(|c| record.offset < c);
            reached[range] = Some(record.offset + 1);
            applied += 1;
            self.stats.applied += 1;
            if replay {
                self.stats.replayed += 1;
            }
            let speak = !replay && speaks[range];
            let event = match admission {
                Admission::Apply(event) => event,
                Admission::Reject { kind, reason } => {
                    if speak {
                        self.dead_letter(&mut writers, &record, kind, &reason).await?;
                    }
                    continue;
                }
            };
            let outputs = self.op.apply(&Input::new(&record.topic, record.partition as i32, record.offset, &event));
            let cause = key.point;
            last = last.max(cause);
            if !replay && !outputs.is_empty() {
                // The derived events continue their cause's lineage (one trace per lineage).
                let id = &event.envelope().event_id;
                let span = tracing::info_span!(
                    "derive",
                    operator = self.op.name(),
                    event_id = %id,
                    topic = %record.topic,
                    partition = record.partition,
                    offset = record.offset,
                    outputs = outputs.len()
                );
                let lineage = Lineage::of(&record.headers, id).enter(&span);
                self.write_in(&mut writers, &outputs, cause, Some(lineage)).instrument(span).await?;
            }
        }
        for (key, at) in keys.into_iter().zip(reached) {
            if let Some(at) = at {
                self.positions.insert(key, at);
            }
        }
        let idle = self.op.on_idle();
        self.write(&mut writers, &idle, last).await?;
        for w in writers.by_topic.values_mut() {
            w.flush().await?;
        }
        match transaction {
            Some(t) => {
                // Offsets commit with the outputs, or neither does.
                let offsets = self.uncommitted();
                t.commit(&self.group, &offsets).await.with_context(|| format!("committing {}", self.group))?;
                if !offsets.is_empty() {
                    self.commit_marks(backend).await?;
                }
            }
            None if applied > 0 => self.commit(backend).await?,
            None => {}
        }
        self.after_commit(applied).await?;
        Ok(applied)
    }

    /// Writes derived events with the log time and sequence number of their cause.
    async fn write(&mut self, writers: &mut Writers<'_>, events: &[Event], cause: (i64, Option<u64>)) -> Result<()> {
        self.write_in(writers, events, cause, None).await
    }

    /// [`Stage::write`], the events continuing `lineage` if given.
    async fn write_in(
        &mut self,
        writers: &mut Writers<'_>,
        events: &[Event],
        cause: (i64, Option<u64>),
        lineage: Option<Lineage>,
    ) -> Result<()> {
        for e in events {
            if self.was_written(&e.envelope().event_id) {
                self.stats.deduplicated += 1;
                continue;
            }
            let w = writers.of(e.event_type().topic()).await?;
            match lineage {
                Some(l) => w.push_derived_in(e, cause.0, cause.1, l).await?,
                None => w.push_derived(e, cause.0, cause.1).await?,
            }
            self.stats.written += 1;
        }
        Ok(())
    }

    async fn dead_letter(
        &mut self,
        writers: &mut Writers<'_>,
        record: &trustloop_connectors::log::StoredRecord,
        kind: &str,
        reason: &str,
    ) -> Result<()> {
        tracing::warn!(stage = self.op.name(), topic = %record.topic, partition = record.partition, offset = record.offset, %reason, "input sent to dlq");
        self.stats.dead_letters += 1;
        let dl = Event::DeadLetter(DeadLetter {
            envelope: Envelope {
                // One per operator that cannot read the record (several may read its topic).
                event_id: derive_event_id(
                    "dead-letter",
                    &[
                        self.op.name().as_bytes(),
                        record.topic.as_bytes(),
                        &record.partition.to_be_bytes(),
                        &record.offset.to_be_bytes(),
                    ],
                ),
                tenant: "unknown".into(),
                key: (&*record.topic).into(),
                event_time: EventTime::from_micros(record.timestamp_ms.saturating_mul(1000)),
                source: format!("trustloop.{}", self.op.name()).into(),
                schema_version: EventType::DeadLetter.schema_version(),
            },
            source_topic: record.topic.to_string(),
            source_partition: Some(record.partition as i32),
            source_offset: Some(record.offset),
            line: None,
            error_kind: kind.to_string(),
            reason: reason.to_string(),
            payload: record.value.to_vec(),
        });
        // Dead letters are not stage outputs: counted apart.
        if self.was_written(&dl.envelope().event_id) {
            self.stats.deduplicated += 1;
            return Ok(());
        }
        writers.of(EventType::DeadLetter.topic()).await?.push_derived(&dl, record.timestamp_ms, seq_of(record)).await?;
        Ok(())
    }

    /// Whether a run that died before committing wrote the event `id` (then it is not written again).
    /// Free on the hot path once the first commit has emptied the set.
    fn was_written(&mut self, id: &EventId) -> bool {
        !self.already_written.is_empty() && self.already_written.remove(id)
    }

    /// The positions past the group's committed offsets.
    fn uncommitted(&self) -> Vec<TopicPartitionOffset> {
        self.positions
            .iter()
            .filter(|(k, o)| self.committed.get(*k).is_none_or(|c| **o > *c))
            .map(|((topic, partition), offset)| TopicPartitionOffset {
                topic: topic.clone(),
                partition: *partition,
                offset: *offset,
            })
            .collect()
    }

    async fn commit(&mut self, backend: &Backend) -> Result<()> {
        let offsets = self.uncommitted();
        if offsets.is_empty() {
            return Ok(());
        }
        backend
            .log
            .commit_offsets(&self.group, &offsets)
            .await
            .with_context(|| format!("committing {}", self.group))?;
        self.commit_marks(backend).await
    }

    /// Commits the output marks: everything derived from the inputs committed so far lies below
    /// them. (After the inputs: marks committed ahead of them would hide outputs to re-derive.)
    async fn commit_marks(&mut self, backend: &Backend) -> Result<()> {
        let mut marks = Vec::new();
        for topic in output_topics(&*self.op) {
            let ends = backend.log.end_offsets(topic).await.with_context(|| format!("offsets of {topic}"))?;
            marks.extend(ends.into_iter().enumerate().map(|(p, end)| TopicPartitionOffset {
                topic: topic.to_string(),
                partition: p as u32,
                offset: end,
            }));
        }
        let marks_group = marks_group(&self.group);
        backend.log.commit_offsets(&marks_group, &marks).await.with_context(|| format!("committing {marks_group}"))?;
        self.already_written.clear();
        Ok(())
    }
}

/// A pass's writers, one per topic, appending directly or through the pass's transaction.
struct Writers<'b> {
    backend: &'b Backend,
    transaction: Option<Arc<dyn LogTransaction>>,
    by_topic: BTreeMap<&'static str, EventWriter<'b>>,
}

impl<'b> Writers<'b> {
    /// The writer of `topic`, created on first use.
    async fn of(&mut self, topic: &'static str) -> Result<&mut EventWriter<'b>> {
        if !self.by_topic.contains_key(topic) {
            let w = match &self.transaction {
                Some(t) => EventWriter::in_transaction(self.backend, topic, t.clone()).await?,
                None => EventWriter::new(self.backend, topic).await?,
            };
            self.by_topic.insert(topic, w);
        }
        self.by_topic.get_mut(topic).context("a writer just created")
    }
}

/// The topics a stage writes: its operator's outputs and `dlq`.
fn output_topics(op: &dyn Operator) -> BTreeSet<&'static str> {
    op.outputs().iter().map(|t| t.topic()).chain([EventType::DeadLetter.topic()]).collect()
}

/// The group under which a stage's output marks are committed.
fn marks_group(group: &str) -> String {
    format!("{group}.outputs")
}

/// The ids of the events in `topics` past the output marks of `group` (from the start of a
/// partition where it has none).
async fn written_since_marks(
    backend: &Backend,
    group: &str,
    topics: &BTreeSet<&'static str>,
) -> Result<HashSet<EventId>> {
    let marks_group = marks_group(group);
    let mut ids = HashSet::new();
    for topic in topics {
        let offsets = backend.log.offsets(topic).await.with_context(|| format!("offsets of {topic}"))?;
        let marks = backend
            .log
            .committed_offsets(&marks_group, topic)
            .await
            .with_context(|| format!("committed offsets of {marks_group} on {topic}"))?;
        for (p, o) in offsets.iter().enumerate() {
            let at = marks.get(p).copied().flatten().unwrap_or(o.start).max(o.start);
            // Every record up to the end offset: a read that comes back with nothing yet is read
            // again, never taken for the end (a duplicate would get through).
            let mut reader = PartitionReader::new(*topic, p as u32, at).until(o.end).chunk(1_000);
            while let Some(records) = reader.next(&*backend.log).await? {
                for r in &records {
                    // An undecodable record has no id to match: nothing derived can be it.
                    if let Ok(e) = backend.codec.decode(&r.value, &*backend.registry) {
                        ids.insert(e.envelope().event_id);
                    }
                }
            }
        }
    }
    Ok(ids)
}

/// Something else a run drives besides operators — e.g. the enforcement adapters, which read
/// dispatched actions and write their results.
#[async_trait::async_trait]
pub trait Effect: Send {
    /// A name for logs and reports.
    fn name(&self) -> &'static str;
    /// Does whatever is pending; returns how many inputs it handled.
    async fn pass(&mut self, backend: &Backend) -> Result<u64>;
    /// What it handed to each adapter so far, by adapter name (none for effects without adapters).
    fn adapter_stats(&self) -> BTreeMap<String, AdapterStats> {
        BTreeMap::new()
    }
}

/// What an effect handed to one adapter over its life.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct AdapterStats {
    /// Dispatched action steps the adapter was given.
    pub dispatched: u64,
    /// Step results it reported as failed.
    pub failures: u64,
}

/// What [`run_until_idle`] did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct RunReport {
    /// Passes over all stages until nothing was left.
    pub passes: u32,
    /// Of those, passes that stopped at the pass limit in a backlog.
    pub bounded_passes: u32,
    /// Per operator (its tasks' counts summed).
    pub stages: BTreeMap<&'static str, StageStats>,
    /// Inputs handled per effect.
    pub effects: BTreeMap<&'static str, u64>,
}

/// Records a pass reads at most from one input partition, roughly, by default (see [`Cutoff`]).
pub const DEFAULT_PASS_LIMIT: u64 = 100_000;

/// Where every stage of a pass stops, fixed at its start.
///
/// - The end offsets of the topics no stage writes: every stage of the pass reads those topics only
///   up to here, so a downstream stage never sees an input its upstream stages have not processed
///   yet (and live order equals the log's merge order, which replay follows).
/// - With a backlog, a merge point: when a stage is more than the pass limit behind on one of its
///   input partitions, the pass ends, for every stage and every input, at the merge point of the
///   record that many records ahead of it. Derived events carry their cause's merge point, so a
///   downstream stage stops where its upstream stages did.
#[derive(Debug, Clone, Default)]
pub struct Cutoff {
    offsets: BTreeMap<(String, u32), i64>,
    until: Option<MergePoint>,
    /// With a merge point: records to read from a partition at a time (a stage reads about this
    /// many at most before the merge point stops it).
    chunk: Option<usize>,
}

impl Cutoff {
    /// No bound: every stage reads everything there is.
    pub fn new() -> Cutoff {
        Cutoff::default()
    }

    /// The merge point the pass ends at, if it is bounded.
    pub fn until(&self) -> Option<MergePoint> {
        self.until
    }
}

impl FromIterator<((String, u32), i64)> for Cutoff {
    /// End offsets of (topic, partition), no merge point.
    fn from_iter<I: IntoIterator<Item = ((String, u32), i64)>>(iter: I) -> Cutoff {
        Cutoff { offsets: iter.into_iter().collect(), until: None, chunk: None }
    }
}

/// The cutoff of the next pass over `stages`, reading about `pass_limit` records at most from each
/// input partition (0: no limit).
async fn cutoff(backend: &Backend, stages: &[Stage], pass_limit: u64) -> Result<Cutoff> {
    let derived: BTreeSet<&'static str> =
        stages.iter().flat_map(|s| s.op.outputs().iter().map(|t| t.topic())).collect();
    let inputs: BTreeSet<&'static str> = stages.iter().flat_map(|s| s.op.inputs().iter().map(|t| t.topic())).collect();
    // Only the topics no stage writes are cut by offset; a backlog can be anywhere.
    let topics: Vec<&str> = match pass_limit {
        0 => inputs.difference(&derived).copied().collect(),
        _ => inputs.iter().copied().collect(),
    };
    let limit = i64::try_from(pass_limit).unwrap_or(i64::MAX);
    let mut out = Cutoff::new();
    for (topic, offsets) in topics.iter().zip(backend.log.offsets_of(&topics).await?) {
        for (p, o) in offsets.iter().enumerate() {
            let p = p as u32;
            if !derived.contains(topic) {
                out.offsets.insert((topic.to_string(), p), o.end);
            }
            if pass_limit == 0 {
                continue;
            }
            let Some(slowest) = stages.iter().filter_map(|s| s.next_offset(topic, p, o.start)).min() else {
                continue;
            };
            if o.end.saturating_sub(slowest) <= limit {
                continue;
            }
            // The merge point `limit` records ahead of the slowest reader — or of its next record,
            // if that comes later (a producer's clock may go back): the pass takes that record at
            // least, so it always makes progress.
            let at = |offset: i64| async move {
                let record = PartitionReader::first(&*backend.log, topic, p, offset).await?;
                Ok::<_, RuntimeError>(record.as_ref().map(merge_point))
            };
            let (next, ahead) = (at(slowest).await?, at(slowest.saturating_add(limit)).await?);
            if let Some(point) = next.max(ahead) {
                out.until = Some(out.until.map_or(point, |u| u.min(point)));
                out.chunk = Some(usize::try_from(pass_limit).unwrap_or(usize::MAX).saturating_add(1));
            }
        }
    }
    Ok(out)
}

/// Runs `stages` (in order) and then `effects`, pass after pass, until a whole pass consumes nothing.
/// `max_passes` bounds a loop that would never settle (passes cut short by [`DEFAULT_PASS_LIMIT`]
/// work through a backlog, and do not count).
pub async fn run_until_idle(
    backend: &Backend,
    stages: &mut [Stage],
    effects: &mut [Box<dyn Effect>],
    max_passes: u32,
) -> Result<RunReport> {
    let limits = PassLimits { max_passes, pass_limit: DEFAULT_PASS_LIMIT };
    run_until_idle_observed(backend, stages, effects, limits, &mut |_| ControlFlow::Continue(())).await
}

/// How far [`run_until_idle_observed`] goes.
#[derive(Debug, Clone, Copy)]
pub struct PassLimits {
    /// Most passes that read everything there was before a loop that never settles is stopped.
    pub max_passes: u32,
    /// Records a pass reads at most from one input partition, roughly (0: no limit; see [`Cutoff`]).
    pub pass_limit: u64,
}

/// One finished pass of [`run_until_idle_observed`], as its observer sees it.
pub struct PassDone<'a> {
    /// Number of the pass within this run (from 1).
    pub pass: u32,
    /// Input records the stages and effects consumed in it (0: the loop has settled).
    pub consumed: u64,
    /// Whether it stopped short of the end of a backlog (at the pass limit).
    pub bounded: bool,
    /// How long it took (wall clock).
    pub duration: Duration,
    /// The stages, after the pass.
    pub stages: &'a [Stage],
    /// The effects, after the pass.
    pub effects: &'a [Box<dyn Effect>],
}

/// [`run_until_idle`], calling `observe` after every pass (within a `pass` tracing span); when it
/// breaks, the run stops there, settled or not, and reports what was done.
pub async fn run_until_idle_observed(
    backend: &Backend,
    stages: &mut [Stage],
    effects: &mut [Box<dyn Effect>],
    limits: PassLimits,
    observe: &mut (dyn FnMut(&PassDone<'_>) -> ControlFlow<()> + Send),
) -> Result<RunReport> {
    let mut report = RunReport::default();
    // Passes that read everything there was: a loop that never settles makes more and more of them.
    let mut whole_passes = 0u32;
    loop {
        report.passes += 1;
        let started = Instant::now();
        // A debug span (the subscriber logs span closes): idle polls stay quiet at `info`.
        let span = tracing::debug_span!("pass", pass = report.passes, consumed = tracing::field::Empty);
        let (consumed, bounded) = async {
            let mut consumed = 0;
            let cutoff = cutoff(backend, stages, limits.pass_limit).await?;
            for s in stages.iter_mut() {
                let n = s.pass(backend, &cutoff).await?;
                tracing::debug!(stage = s.name(), applied = n, "stage pass");
                consumed += n;
            }
            for e in effects.iter_mut() {
                let n = e.pass(backend).await?;
                tracing::debug!(effect = e.name(), handled = n, "effect pass");
                *report.effects.entry(e.name()).or_default() += n;
                consumed += n;
            }
            Ok::<_, RuntimeError>((consumed, cutoff.until.is_some()))
        }
        .instrument(span.clone())
        .await?;
        let duration = started.elapsed();
        span.record("consumed", consumed);
        let ms = duration.as_micros() as f64 / 1e3;
        if consumed > 0 {
            tracing::info!(pass = report.passes, consumed, bounded, duration_ms = ms, "pass done");
        } else {
            tracing::debug!(pass = report.passes, duration_ms = ms, "pass done: idle");
        }
        let done = PassDone { pass: report.passes, consumed, bounded, duration, stages: &*stages, effects: &*effects };
        if observe(&done).is_break() {
            break;
        }
        if consumed == 0 {
            break;
        }
        report.bounded_passes += u32::from(bounded);
        whole_passes += u32::from(!bounded);
        if whole_passes >= limits.max_passes {
            return Err(RuntimeError::Unsettled { passes: limits.max_passes });
        }
    }
    for s in stages.iter() {
        report.stages.entry(s.name()).or_default().merge(&s.stats);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use trustloop_connectors::log::Record;
    use trustloop_connectors::log::conformance::Hiccups;
    use trustloop_operators::trust::TrustState;
    use trustloop_schemas::Telemetry;

    use super::*;
    use crate::backend::BackendConfig;

    /// An event with id `i` (what the de-duplication scan looks at is the id).
    fn event(i: u128) -> Event {
        Event::Telemetry(Telemetry {
            envelope: Envelope {
                event_id: EventId(uuid::Uuid::from_u128(i + 1)),
                tenant: "acme".into(),
                key: "host-1".into(),
                event_time: EventTime::from_micros(1_700_000_000_000_000),
                source: "test".into(),
                schema_version: 1,
            },
            entity: "host-1".into(),
            kind: "auth_failure".into(),
            value: 1.0,
            attributes: BTreeMap::new(),
            unit: None,
        })
    }

    /// The exactly-once de-duplication scan reads every output past the marks, also through reads
    /// that come back with nothing yet (as Kafka's do after an idle fetch): one taken for the end
    /// would leave outputs out of the scan, and a re-derived duplicate would be written again.
    #[tokio::test]
    async fn the_deduplication_scan_reads_past_a_read_with_nothing_yet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut backend = Backend::open(&BackendConfig::embedded(dir.path())).await.expect("backend");
        // Outputs a run wrote to the trust operator's topic before dying uncommitted: no marks.
        let topic = EventType::TrustScore.topic();
        let written: Vec<Event> = (0..25).map(event).collect();
        for (i, chunk) in written.chunks(10).enumerate() {
            let records = chunk.iter().map(|e| Record::new(None, backend.codec.encode(e).expect("encode"))).collect();
            backend.log.append(topic, i as u32 % backend.partitions, records).await.expect("append");
        }
        let hiccups = Arc::new(Hiccups::new(backend.log.clone()));
        backend.log = hiccups.clone();

        let stage = Stage::new(&backend, Box::new(TrustState::new())).await.expect("stage");
        let expected: HashSet<EventId> = written.iter().map(|e| e.envelope().event_id).collect();
        assert_eq!(stage.already_written, expected, "every output past the marks is known");
        assert!(hiccups.hiccups() > 0, "the log answered some reads with nothing yet");
    }
}
