//! A deterministic merge of an operator's input partitions: the order in which the runtime feeds an
//! operator, and in which replay feeds it again.
//!
//! Records are taken in order of their [`MergeKey`]: (log time, [`SEQ_HEADER`], topic's place in
//! the operator's input list, partition, offset): an order that is a property of the log itself,
//! not of when or how fast the runtime read it, so replaying the same log feeds an operator the same
//! sequence. The sequence number puts the records of one batch — one log time, spread over
//! partitions by key — back in the order they were written, so the order does not depend on the
//! partition count either (records without one, from other producers, come first in their log
//! time, by topic, partition and offset). On the embedded log every batch has a log time of its own
//! and becomes visible whole, so no batch is merged before all of it can be. Each partition is read
//! in chunks by a [`PartitionReader`]; only one chunk per partition is held in memory.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::log::{EventLog, Header, LogResult, PartitionReader, StoredRecord};

/// Record header with a record's place in the order its writer was given events (8 bytes,
/// big-endian): records of one log time are merged in this order, so a batch spread over
/// partitions is read back in the order it was written, whatever the partition count. Derived
/// events carry their cause's.
pub const SEQ_HEADER: &str = "trustloop.seq";

/// The [`SEQ_HEADER`] of a stored record, if it has a well-formed one.
pub fn seq_of(record: &StoredRecord) -> Option<u64> {
    let h = record.headers.iter().find(|h| h.name == SEQ_HEADER)?;
    let bytes: [u8; 8] = h.value.as_deref()?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

/// A [`SEQ_HEADER`] with `seq`.
pub fn seq_header(seq: u64) -> Header {
    Header { name: SEQ_HEADER.to_string(), value: Some(Bytes::copy_from_slice(&seq.to_be_bytes())) }
}

/// How many records one read of one partition fetches.
const CHUNK: usize = 5_000;

/// One topic-partition's stretch of an operator's input: offsets `from..until` of `partition` of
/// `topic`, the topic being the operator's input number `input`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRange {
    /// The topic.
    pub topic: String,
    /// The topic's place in the operator's input list (what orders topics within one merge point).
    pub input: usize,
    /// The partition.
    pub partition: u32,
    /// The first offset merged.
    pub from: i64,
    /// The offset merged up to (excluded).
    pub until: i64,
}

impl InputRange {
    /// Whether the range holds no offsets.
    pub fn is_empty(&self) -> bool {
        self.from >= self.until
    }
}

/// A place in the merge order that every reader of the log agrees on, whatever its inputs: a log
/// time and a [`SEQ_HEADER`] sequence number (records without one come first in their log time).
/// A bound at `(t, s)` takes every record up to and including it, of every topic and partition.
pub type MergePoint = (i64, Option<u64>);

/// Where `record` comes in the merge order, as a [`MergePoint`].
pub fn merge_point(record: &StoredRecord) -> MergePoint {
    (record.timestamp_ms, seq_of(record))
}

/// Where a record comes in the merge: the one definition of the order (fields compare in the order
/// they are declared).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MergeKey {
    /// Log time and sequence number ([`merge_point`]).
    pub point: MergePoint,
    /// The place of the record's topic in the operator's input list.
    pub input: usize,
    /// The partition.
    pub partition: u32,
    /// The offset.
    pub offset: i64,
}

impl MergeKey {
    /// Where `record`, read as the operator's input number `input`, comes.
    pub fn of(record: &StoredRecord, input: usize) -> MergeKey {
        MergeKey::at(merge_point(record), input, record)
    }

    fn at(point: MergePoint, input: usize, record: &StoredRecord) -> MergeKey {
        MergeKey { point, input, partition: record.partition, offset: record.offset }
    }
}

struct Cursor {
    /// Index of its range in the list given to [`MergedInput::new`].
    range: usize,
    input: usize,
    reader: PartitionReader,
    /// Records read and not yet taken, each with its merge point.
    buffer: VecDeque<(MergePoint, StoredRecord)>,
}

impl Cursor {
    fn head_key(&self) -> Option<MergeKey> {
        self.buffer.front().map(|(point, r)| MergeKey::at(*point, self.input, r))
    }
}

/// The merged input of one operator, from given positions up to given offsets.
pub struct MergedInput {
    log: Arc<dyn EventLog>,
    cursors: Vec<Cursor>,
    /// Stop before the first record that comes after this point, if set.
    until: Option<MergePoint>,
}

impl MergedInput {
    /// A merge over `ranges`.
    pub fn new(log: Arc<dyn EventLog>, ranges: Vec<InputRange>) -> MergedInput {
        let cursors = ranges
            .into_iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .map(|(range, r)| Cursor {
                range,
                input: r.input,
                reader: PartitionReader::new(r.topic, r.partition, r.from).until(r.until).chunk(CHUNK),
                buffer: VecDeque::new(),
            })
            .collect();
        MergedInput { log, cursors, until: None }
    }

    /// Ends the merge before the first record whose log time is after `ms` (`None`: no such bound).
    pub fn until_time(self, ms: Option<i64>) -> MergedInput {
        self.until(ms.map(|ms| (ms, Some(u64::MAX))))
    }

    /// Reads at most `records` records of a partition at a time (at least one; 5,000 by default):
    /// for a merge expected to end after about that many, so that it does not read far past the end.
    pub fn chunk(mut self, records: usize) -> MergedInput {
        let chunk = records.clamp(1, CHUNK);
        for c in &mut self.cursors {
            c.reader.set_chunk(chunk);
        }
        self
    }

    /// Ends the merge before the first record that comes after `point` (`None`: no such bound);
    /// a bound already set stays if it is earlier.
    pub fn until(mut self, point: Option<MergePoint>) -> MergedInput {
        self.until = match (self.until, point) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self
    }

    async fn fill(&mut self) -> LogResult<()> {
        for c in &mut self.cursors {
            if c.buffer.is_empty()
                && let Some(records) = c.reader.next(&*self.log).await?
            {
                // The reader ends at the range's end, or where the partition ends before it.
                c.buffer.extend(records.into_iter().map(|r| (merge_point(&r), r)));
            }
        }
        Ok(())
    }

    /// The next record in merge order, or `None` when every range is consumed.
    pub async fn next(&mut self) -> LogResult<Option<StoredRecord>> {
        Ok(self.next_indexed().await?.map(|(_, r)| r))
    }

    /// The next record in merge order with the index of its range (in the order given to
    /// [`MergedInput::new`], empty ranges included), or `None` when every range is consumed.
    pub async fn next_indexed(&mut self) -> LogResult<Option<(usize, StoredRecord)>> {
        Ok(self.next_keyed().await?.map(|(range, _, r)| (range, r)))
    }

    /// [`MergedInput::next_indexed`], with where the record comes in the merge.
    pub async fn next_keyed(&mut self) -> LogResult<Option<(usize, MergeKey, StoredRecord)>> {
        self.fill().await?;
        let best = self.cursors.iter().enumerate().filter_map(|(i, c)| c.head_key().map(|k| (k, i))).min();
        Ok(best.and_then(|(key, i)| {
            if self.until.is_some_and(|limit| key.point > limit) {
                return None;
            }
            let c = &mut self.cursors[i];
            c.buffer.pop_front().map(|(_, r)| (c.range, key, r))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Record;
    use crate::log::embedded::{EmbeddedLog, EmbeddedOptions};

    /// A record of log time `ms` and sequence number `seq`, its value the sequence number.
    fn record(ms: i64, seq: u64) -> Record {
        Record {
            key: None,
            value: Bytes::from(seq.to_string()),
            timestamp_ms: Some(ms),
            headers: vec![seq_header(seq)],
        }
    }

    async fn values(mut merged: MergedInput) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(r) = merged.next().await.expect("merge") {
            out.push(String::from_utf8_lossy(&r.value).into_owned());
        }
        out
    }

    #[tokio::test]
    async fn a_merge_point_ends_the_merge_inside_a_batch_whatever_the_chunk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("log"));
        log.create_topic("t", 2).await.expect("topic");
        // One batch at 100 ms spread over two partitions (sequence numbers 0–3), then one at 200 ms.
        log.append("t", 0, vec![record(100, 0), record(100, 2), record(200, 4)]).await.expect("append");
        log.append("t", 1, vec![record(100, 1), record(100, 3), record(200, 5)]).await.expect("append");
        let range = |partition| InputRange { topic: "t".into(), input: 0, partition, from: 0, until: 3 };
        let ranges = || vec![range(0), range(1)];
        for chunk in [1, 2, 5_000] {
            let all = MergedInput::new(log.clone(), ranges()).chunk(chunk);
            assert_eq!(values(all).await, ["0", "1", "2", "3", "4", "5"], "chunk {chunk}");
            let to_2 = MergedInput::new(log.clone(), ranges()).chunk(chunk).until(Some((100, Some(2))));
            assert_eq!(values(to_2).await, ["0", "1", "2"], "chunk {chunk}");
            // The earlier of two bounds holds; a log time takes all of its sequence numbers.
            let both = MergedInput::new(log.clone(), ranges()).until_time(Some(100)).until(Some((200, Some(4))));
            assert_eq!(values(both.chunk(chunk)).await, ["0", "1", "2", "3"], "chunk {chunk}");
        }
    }

    /// A record of log time `ms`, with a sequence number if `seq` is given, its value `label`.
    fn labelled(ms: i64, seq: Option<u64>, label: &str) -> Record {
        Record {
            key: None,
            value: Bytes::copy_from_slice(label.as_bytes()),
            timestamp_ms: Some(ms),
            headers: seq.map(seq_header).into_iter().collect(),
        }
    }

    async fn embedded() -> (tempfile::TempDir, Arc<dyn EventLog>) {
        let dir = tempfile::tempdir().expect("tempdir");
        let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("log"));
        (dir, log)
    }

    fn whole(topic: &str, input: usize, partition: u32, until: i64) -> InputRange {
        InputRange { topic: topic.into(), input, partition, from: 0, until }
    }

    /// The order, tie-break after tie-break: log time; then sequence number (none first); then the
    /// topic's place in the input list (not the order the ranges are given in); then partition;
    /// then offset — whatever the chunk the partitions are read in.
    #[tokio::test]
    async fn the_merge_order_is_log_time_sequence_input_partition_offset() {
        let (_dir, log) = embedded().await;
        // `b` is the operator's first input, `a` its second; the ranges come `a` first.
        for t in ["a", "b"] {
            log.create_topic(t, 2).await.expect("topic");
        }
        let append = |topic: &'static str, partition: u32, records: Vec<Record>| {
            let log = log.clone();
            async move { log.append(topic, partition, records).await.expect("append") }
        };
        append("a", 0, vec![labelled(100, Some(2), "a0@100#2"), labelled(200, None, "a0@200")]).await;
        append(
            "a",
            1,
            vec![labelled(50, Some(9), "a1@50#9"), labelled(100, Some(0), "a1@100#0"), labelled(200, None, "a1@200")],
        )
        .await;
        append(
            "b",
            0,
            vec![
                labelled(100, Some(1), "b0@100#1"),
                labelled(200, None, "b0@200"),
                labelled(300, None, "b0@300"),
                labelled(400, Some(5), "b0@400#5-first"),
                labelled(400, Some(5), "b0@400#5-second"),
            ],
        )
        .await;
        append("b", 1, vec![labelled(100, None, "b1@100"), labelled(300, None, "b1@300")]).await;
        let ranges = vec![whole("a", 1, 0, 2), whole("a", 1, 1, 3), whole("b", 0, 0, 5), whole("b", 0, 1, 2)];
        let expected = [
            // Log time first: the earliest record, whatever its sequence number, input or partition.
            ("a1@50#9", 1),
            // One log time: no sequence number first, then by sequence number across inputs.
            ("b1@100", 3),
            ("a1@100#0", 1),
            ("b0@100#1", 2),
            ("a0@100#2", 0),
            // One log time, no sequence numbers: the first input first, then by partition.
            ("b0@200", 2),
            ("a0@200", 0),
            ("a1@200", 1),
            // One input: by partition.
            ("b0@300", 2),
            ("b1@300", 3),
            // Everything equal but the offset.
            ("b0@400#5-first", 2),
            ("b0@400#5-second", 2),
        ];
        for chunk in [1, 2, 5_000] {
            let mut merged = MergedInput::new(log.clone(), ranges.clone()).chunk(chunk);
            let mut got = Vec::new();
            let mut keys = Vec::new();
            while let Some((range, key, r)) = merged.next_keyed().await.expect("merge") {
                assert_eq!(key, MergeKey::of(&r, ranges[range].input), "the key of the record");
                got.push((String::from_utf8_lossy(&r.value).into_owned(), range));
                keys.push(key);
            }
            let want: Vec<(String, usize)> = expected.iter().map(|(l, r)| (l.to_string(), *r)).collect();
            assert_eq!(got, want, "chunk {chunk}");
            assert!(keys.windows(2).all(|w| w[0] < w[1]), "keys strictly increase: {keys:?}");
        }
    }

    /// The fields of a merge key compare in the order of the merge: each decides only where every
    /// field before it ties.
    #[test]
    fn merge_keys_compare_field_by_field() {
        let key = |ms, seq, input, partition, offset| MergeKey { point: (ms, seq), input, partition, offset };
        let ordered = [
            key(1, Some(7), 9, 9, 9),
            key(2, None, 9, 9, 9),
            key(2, Some(0), 9, 9, 9),
            key(2, Some(1), 0, 9, 9),
            key(2, Some(1), 1, 0, 9),
            key(2, Some(1), 1, 1, 0),
            key(2, Some(1), 1, 1, 1),
        ];
        for (i, a) in ordered.iter().enumerate() {
            for (j, b) in ordered.iter().enumerate() {
                assert_eq!(a.cmp(b), i.cmp(&j), "{a:?} against {b:?}");
            }
        }
    }

    /// A batch spread over partitions by key (one log time, sequence numbers in written order) is
    /// merged back in the order it was written, whatever the partition count and however the records
    /// fell on the partitions.
    #[tokio::test]
    async fn a_batch_spread_over_partitions_is_merged_in_written_order_whatever_the_partitions() {
        let written: Vec<String> = (0..12).map(|i| format!("event-{i}")).collect();
        for partitions in [1u32, 2, 3, 5] {
            let (_dir, log) = embedded().await;
            log.create_topic("t", partitions).await.expect("topic");
            // Not round robin: the partition of record i is a scramble of i.
            let place = |i: usize| ((i * 7 + 3) % 11) as u32 % partitions;
            let mut batch: Vec<(u32, Vec<Record>)> = (0..partitions).map(|p| (p, Vec::new())).collect();
            for (i, label) in written.iter().enumerate() {
                batch[place(i) as usize].1.push(labelled(1_000, Some(i as u64), label));
            }
            // A second batch, one log time later, to show batches do not interleave.
            let later: Vec<(u32, Vec<Record>)> =
                (0..partitions).map(|p| (p, vec![labelled(2_000, Some(0), &format!("later-{p}"))])).collect();
            log.append_batch("t", batch).await.expect("append");
            log.append_batch("t", later).await.expect("append");
            let ends = log.end_offsets("t").await.expect("ends");
            let ranges = ends.iter().enumerate().map(|(p, end)| whole("t", 0, p as u32, *end)).collect();
            let got = values(MergedInput::new(log.clone(), ranges).chunk(2)).await;
            let mut want = written.clone();
            want.extend((0..partitions).map(|p| format!("later-{p}")));
            assert_eq!(got, want, "{partitions} partitions");
        }
    }
}
