//! Feeding an operator a recorded stretch of its input again: the same ranges, in the log's merge
//! order, through the same admission — the runtime's own [`Feed`] — with inputs the log does not
//! hold merged in at their places.

use std::sync::Arc;

pub use trustloop_connectors::feed::Share;
use trustloop_connectors::feed::{Admission, Fed, Feed, InputRange, MergeKey, MergePoint, seq_header};
use trustloop_connectors::log::{EventLog, LogError, PartitionReader, StoredRecord};
use trustloop_operators::input::Input;
use trustloop_operators::operator::Operator;
use trustloop_schemas::{Event, EventCodec, EventType, WriterSchemas};

/// The log replay reads, and how to decode it.
#[derive(Clone, Copy)]
pub struct History<'a> {
    /// The event log.
    pub log: &'a Arc<dyn EventLog>,
    /// The wire codec.
    pub codec: &'a EventCodec,
    /// Writer schemas of older events.
    pub writers: &'a (dyn WriterSchemas + Send + Sync),
}

/// One topic-partition's stretch of input: offsets `from..until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The first offset fed.
    pub from: i64,
    /// The offset fed up to (excluded).
    pub until: i64,
}

/// Why a replay could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// Reading the log failed.
    #[error("reading the log: {0}")]
    Log(#[from] LogError),
    /// The log no longer holds the input (retention deleted it) and no snapshot covers it.
    #[error(
        "{topic}/{partition} starts at offset {start} now: the input from {from} is gone (retention), and no snapshot \
         covers it"
    )]
    Truncated {
        /// The topic.
        topic: String,
        /// The partition.
        partition: u32,
        /// Where replay had to start.
        from: i64,
        /// The partition's first retained offset.
        start: i64,
    },
    /// The event to replay is not in the log.
    #[error("no {what} with event id {id} in the log")]
    NotFound {
        /// What was looked for.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// The event cannot be replayed (e.g. derived by an operator replay does not cover).
    #[error("{0}")]
    Unsupported(String),
}

/// Every input partition of `op` from the start of the log up to where its stage had committed (a
/// single stage's offsets; with one task per partition, the furthest any task committed).
pub async fn committed_ranges(history: History<'_>, op: &dyn Operator) -> Result<Vec<Range>, ReplayError> {
    let group = format!("trustloop.{}", op.name());
    let mut ranges = Vec::new();
    for t in op.inputs() {
        let topic = t.topic();
        let n = history.log.partition_count(topic).await?;
        let single = history.log.committed_offsets(&group, topic).await?;
        for p in 0..n {
            let mut until = single.get(p as usize).copied().flatten();
            if until.is_none() {
                // One task per partition: the task of `p` (keyed) or any task (broadcast inputs
                // are read whole by each) says how far `p` was read.
                for task in 0..n {
                    let g = format!("{group}.task-{task}");
                    if let Some(o) = history.log.committed_offsets(&g, topic).await?.get(p as usize).copied().flatten()
                    {
                        until = Some(until.map_or(o, |u: i64| u.max(o)));
                    }
                }
            }
            ranges.push(Range { topic: topic.to_string(), partition: p, from: 0, until: until.unwrap_or(0) });
        }
    }
    Ok(ranges)
}

/// Calls `each` with every record of `topic` that decodes, with its event, partition by partition;
/// stops early when `each` says so.
pub async fn each_event(
    history: History<'_>,
    topic: &str,
    each: &mut (dyn FnMut(StoredRecord, Event) -> std::ops::ControlFlow<()> + Send),
) -> Result<(), ReplayError> {
    let offsets = history.log.offsets(topic).await?;
    for (p, o) in offsets.iter().enumerate() {
        let mut reader = PartitionReader::new(topic, p as u32, o.start).until(o.end);
        while let Some(records) = reader.next(&**history.log).await? {
            for r in records {
                // Records that do not decode are dead letters, not events.
                if let Ok(event) = history.codec.decode(&r.value, history.writers)
                    && each(r, event).is_break()
                {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Where an input comes in a replay's merge order. A record of the log comes at its own merge point
/// (log time and [`SEQ_HEADER`](trustloop_connectors::feed::SEQ_HEADER) sequence number), then
/// by its topic's place in the operator's input list, partition and offset, as [`MergedInput`](trustloop_connectors::feed::MergedInput)
/// orders them. An event derived during the replay comes where the runtime would have written it:
/// at its cause's merge point (derived events carry their cause's log time and sequence number),
/// then by its topic's place, partition and offset. An [`Injected`] input that the log does not hold
/// comes *before* the records of its merge point, by rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Place {
    /// The merge point: log time (milliseconds) and sequence number.
    pub point: MergePoint,
    /// At one merge point, injected inputs come first, in rank order; the log's records, and what
    /// is derived from them, have rank [`Place::RECORDED`].
    pub rank: u64,
    /// The topic's place in the operator's input list.
    pub topic_index: usize,
    /// The partition.
    pub partition: u32,
    /// The offset.
    pub offset: i64,
}

impl Place {
    /// The rank of the log's own records and of what is derived from them.
    pub const RECORDED: u64 = u64::MAX;

    /// After every record of any log.
    pub const END: MergePoint = (i64::MAX, Some(u64::MAX));

    /// Where `record` comes, read from the topic at `topic_index` of the operator's inputs.
    pub fn of_record(record: &StoredRecord, topic_index: usize) -> Place {
        Place::recorded(MergeKey::of(record, topic_index))
    }

    /// Where a record of the log at `key` in the merge comes: at its merge key, ranked as recorded.
    pub fn recorded(key: MergeKey) -> Place {
        Place {
            point: key.point,
            rank: Place::RECORDED,
            topic_index: key.input,
            partition: key.partition,
            offset: key.offset,
        }
    }
}

/// An input a replay feeds that the log does not hold: an event derived by an upstream operator
/// replayed under other conditions, or a candidate input of a what-if. It is fed to the operator as
/// read from `topic` at its place's partition and offset (which must not be positions of the log's
/// records the operator also reads, or an operator that tracks its input frontier would take it
/// for one it has applied).
#[derive(Debug, Clone)]
pub struct Injected {
    /// Where it comes in the merge order.
    pub place: Place,
    /// The topic it is fed as read from.
    pub topic: String,
    /// The event.
    pub event: Event,
}

/// One input applied during a replay, with what the operator derived from it.
pub struct Applied<'a> {
    /// The record it came from (for an injected input: a record made up of its topic, partition,
    /// offset and merge point, with no value).
    pub record: &'a StoredRecord,
    /// The event.
    pub event: &'a Event,
    /// Where it came in the merge order.
    pub place: Place,
    /// The index of the injected input it is, if it is one (else it is a record of the log).
    pub injected: Option<usize>,
    /// What the operator derived from it.
    pub outputs: &'a [Event],
}

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FeedStats {
    /// Records read.
    pub read: u64,
    /// Records applied.
    pub applied: u64,
    /// Records not applied (they were dead letters in the live run too).
    pub rejected: u64,
}

/// Feeds `op` the records of `ranges` in the log's merge order, admitted as the runtime admits them
/// for `share`, and calls `each` for every applied input with what the operator derived from it.
pub async fn feed(
    history: History<'_>,
    op: &mut dyn Operator,
    ranges: &[Range],
    share: Share,
    each: &mut (dyn FnMut(Applied<'_>) + Send),
) -> Result<FeedStats, ReplayError> {
    feed_with(history, op, ranges, share, Bounds::default(), &[], each).await
}

/// Bitemporal bounds of a replay: what had been *learned* by a time (log time) and what had
/// *happened* by a time (event time).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bounds {
    /// Stop before the first record appended after this log time (milliseconds).
    pub learned_by_ms: Option<i64>,
    /// Leave out events whose event time is after this (they had not happened yet).
    pub happened_by: Option<trustloop_schemas::EventTime>,
}

/// [`feed`] within `bounds`; inputs left out for their event time count as rejected.
pub async fn feed_bounded(
    history: History<'_>,
    op: &mut dyn Operator,
    ranges: &[Range],
    share: Share,
    bounds: Bounds,
    each: &mut (dyn FnMut(Applied<'_>) + Send),
) -> Result<FeedStats, ReplayError> {
    feed_with(history, op, ranges, share, bounds, &[], each).await
}

/// [`feed_bounded`] with `injected` inputs merged into the records of `ranges` at their places
/// (records and injected inputs together in [`Place`] order; injected inputs in the order given
/// where their places are equal). Injected inputs are not admitted (they are events already, not
/// records); those whose merge point is past `bounds.learned_by_ms` are not fed, those whose event
/// time is past `bounds.happened_by` count as rejected.
pub async fn feed_with(
    history: History<'_>,
    op: &mut dyn Operator,
    ranges: &[Range],
    share: Share,
    bounds: Bounds,
    injected: &[Injected],
    each: &mut (dyn FnMut(Applied<'_>) + Send),
) -> Result<FeedStats, ReplayError> {
    let inputs = op.inputs();
    let mut feed_ranges = Vec::with_capacity(ranges.len());
    for r in ranges.iter().filter(|r| r.from < r.until) {
        let offsets = history.log.offsets(&r.topic).await?;
        let start = offsets.get(r.partition as usize).map_or(0, |o| o.start);
        if r.from < start {
            return Err(ReplayError::Truncated { topic: r.topic.clone(), partition: r.partition, from: r.from, start });
        }
        // The input's place in the operator's list orders topics within one log time, as live.
        let ty = EventType::from_topic(&r.topic);
        let input = ty.and_then(|t| inputs.iter().position(|i| *i == t)).unwrap_or(inputs.len());
        feed_ranges.push(InputRange {
            topic: r.topic.clone(),
            input,
            partition: r.partition,
            from: r.from,
            until: r.until,
        });
    }
    let mut records = Feed::new(history.log.clone(), history.codec, history.writers, &*op, share, feed_ranges)
        .until_time(bounds.learned_by_ms);
    let learned_by = bounds.learned_by_ms.map_or(Place::END, |ms| (ms, Some(u64::MAX)));
    // Injected inputs in place order (stable: equal places keep the order given).
    let mut order: Vec<usize> = (0..injected.len()).filter(|i| injected[*i].place.point <= learned_by).collect();
    order.sort_by_key(|i| injected[*i].place);
    let mut order = order.into_iter().peekable();
    let mut stats = FeedStats::default();
    let mut next_record = records.next().await?;
    loop {
        let take_injected = match (order.peek(), &next_record) {
            (Some(j), Some(fed)) => injected[*j].place < Place::recorded(fed.key),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        stats.read += 1;
        if take_injected {
            let Some(j) = order.next() else { break };
            let inj = &injected[j];
            if bounds.happened_by.is_some_and(|t| inj.event.envelope().event_time > t) {
                stats.rejected += 1;
                continue;
            }
            stats.applied += 1;
            let record = StoredRecord {
                topic: inj.topic.as_str().into(),
                partition: inj.place.partition,
                offset: inj.place.offset,
                timestamp_ms: inj.place.point.0,
                key: None,
                value: bytes::Bytes::new(),
                headers: inj.place.point.1.map(seq_header).into_iter().collect(),
            };
            let partition = i32::try_from(inj.place.partition).unwrap_or(i32::MAX);
            let outputs = op.apply(&Input::new(&inj.topic, partition, inj.place.offset, &inj.event));
            each(Applied {
                record: &record,
                event: &inj.event,
                place: inj.place,
                injected: Some(j),
                outputs: &outputs,
            });
            continue;
        }
        let Some(fed) = next_record.take() else { break };
        let admission = records.admit(&fed, &*op);
        let Fed { key, record, .. } = fed;
        match admission {
            Admission::Apply(event) if bounds.happened_by.is_some_and(|t| event.envelope().event_time > t) => {
                stats.rejected += 1;
            }
            Admission::Apply(event) => {
                stats.applied += 1;
                let outputs = op.apply(&Input::new(&record.topic, record.partition as i32, record.offset, &event));
                let place = Place::recorded(key);
                each(Applied { record: &record, event: &event, place, injected: None, outputs: &outputs });
            }
            Admission::Reject { .. } => stats.rejected += 1,
        }
        next_record = records.next().await?;
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;
    use trustloop_connectors::feed::seq_header;
    use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions};
    use trustloop_connectors::log::{Record, partition_for_key};
    use trustloop_operators::trust::TrustState;
    use trustloop_schemas::{Envelope, EventId, EventTime, NoWriterSchemas, Telemetry};

    use super::*;

    fn telemetry(i: u64, entity: &str) -> Event {
        Event::Telemetry(Telemetry {
            envelope: Envelope {
                event_id: EventId(uuid::Uuid::from_u128(u128::from(i) + 1)),
                tenant: "acme".into(),
                key: entity.into(),
                event_time: EventTime::from_micros(1_700_000_000_000_000 + i as i64 * 1_000_000),
                source: "test".into(),
                schema_version: 1,
            },
            entity: entity.to_string(),
            kind: "auth_failure".into(),
            value: 1.0,
            attributes: BTreeMap::new(),
            unit: None,
        })
    }

    /// Appends `entities`' telemetry (one event each, in this order) as one batch, each to
    /// `partition_of(entity)`.
    async fn append(log: &EmbeddedLog, codec: &EventCodec, entities: &[&str], partition_of: impl Fn(&str) -> u32) {
        let mut batch: BTreeMap<u32, Vec<Record>> = BTreeMap::new();
        for (i, e) in entities.iter().enumerate() {
            let value = codec.encode(&telemetry(i as u64, e)).expect("encode");
            let mut r = Record::new(Some(Bytes::copy_from_slice(e.as_bytes())), value);
            r.headers.push(seq_header(i as u64));
            batch.entry(partition_of(e)).or_default().push(r);
        }
        log.append_batch("telemetry", batch.into_iter().collect()).await.expect("append");
    }

    /// Replays the trust operator over `telemetry` as `share` reads it (a task: its partition);
    /// returns the entities scored, in
    /// order, and the stats.
    async fn replay(log: Arc<dyn EventLog>, codec: &EventCodec, share: Share) -> (Vec<String>, FeedStats) {
        let history = History { log: &log, codec, writers: &NoWriterSchemas };
        let ends = log.end_offsets("telemetry").await.expect("ends");
        let ranges: Vec<Range> = ends
            .iter()
            .enumerate()
            .filter(|(p, _)| share.count == 1 || *p as u32 == share.task)
            .map(|(p, end)| Range { topic: "telemetry".into(), partition: p as u32, from: 0, until: *end })
            .collect();
        let mut op = TrustState::new();
        let mut scored = Vec::new();
        let stats = feed(history, &mut op, &ranges, share, &mut |a| {
            if let Event::Telemetry(t) = a.event {
                scored.push(t.entity.clone());
            }
        })
        .await
        .expect("feed");
        (scored, stats)
    }

    #[tokio::test]
    async fn a_batch_is_fed_in_the_order_it_was_written_and_misrouted_records_are_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open");
        log.create_topic("telemetry", 2).await.expect("create");
        let codec = EventCodec::new();
        let entities = ["host-a", "host-b", "host-c", "host-d", "host-e", "host-f"];
        append(&log, &codec, &entities, |e| partition_for_key(e.as_bytes(), 2)).await;
        // host-x keyed to the partition that is not its own.
        append(&log, &codec, &["host-x"], |e| 1 - partition_for_key(e.as_bytes(), 2)).await;
        let log: Arc<dyn EventLog> = Arc::new(log);

        let (all, stats) = replay(log.clone(), &codec, Share::ALL).await;
        assert_eq!(all, ["host-a", "host-b", "host-c", "host-d", "host-e", "host-f", "host-x"], "written order");
        assert_eq!(stats, FeedStats { read: 7, applied: 7, rejected: 0 });

        // As the task of one partition: its own keys only, the misrouted one rejected.
        let home = partition_for_key(b"host-x", 2);
        let (task, stats) = replay(log, &codec, Share { task: 1 - home, count: 2 }).await;
        assert!(!task.contains(&"host-x".to_string()), "{task:?}");
        assert_eq!(stats.rejected, 1);
        assert!(task.iter().all(|e| partition_for_key(e.as_bytes(), 2) == 1 - home));
    }

    #[tokio::test]
    async fn injected_inputs_come_before_the_records_of_their_merge_point_in_rank_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open");
        log.create_topic("telemetry", 2).await.expect("create");
        let codec = EventCodec::new();
        append(&log, &codec, &["host-a", "host-b", "host-c"], |e| partition_for_key(e.as_bytes(), 2)).await;
        let log: Arc<dyn EventLog> = Arc::new(log);
        let history = History { log: &log, codec: &codec, writers: &NoWriterSchemas };
        let ends = log.end_offsets("telemetry").await.expect("ends");
        let ranges: Vec<Range> = ends
            .iter()
            .enumerate()
            .map(|(p, end)| Range { topic: "telemetry".into(), partition: p as u32, from: 0, until: *end })
            .collect();
        // The merge point of host-c's record.
        let mut points = BTreeMap::new();
        let mut op = TrustState::new();
        feed(history, &mut op, &ranges, Share::ALL, &mut |a| {
            if let Event::Telemetry(t) = a.event {
                points.insert(t.entity.clone(), a.place.point);
            }
        })
        .await
        .expect("feed");
        let at = |point, rank, entity: &str| Injected {
            place: Place { point, rank, topic_index: 0, partition: 0, offset: rank as i64 },
            topic: "what-if".into(),
            event: telemetry(10 + rank, entity),
        };
        let injected =
            [at(Place::END, 0, "host-z"), at(points["host-c"], 2, "host-y"), at(points["host-c"], 1, "host-x")];
        let mut op = TrustState::new();
        let mut seen = Vec::new();
        let stats = feed_with(history, &mut op, &ranges, Share::ALL, Bounds::default(), &injected, &mut |a| {
            if let Event::Telemetry(t) = a.event {
                seen.push((t.entity.clone(), a.injected));
            }
        })
        .await
        .expect("feed");
        let expected = [
            ("host-a", None),
            ("host-b", None),
            ("host-x", Some(2)),
            ("host-y", Some(1)),
            ("host-c", None),
            ("host-z", Some(0)),
        ];
        assert_eq!(seen, expected.map(|(e, i)| (e.to_string(), i)));
        assert_eq!(stats, FeedStats { read: 6, applied: 6, rejected: 0 });
    }
}
