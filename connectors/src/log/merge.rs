//! A deterministic merge of an operator's input partitions: the order in which the runtime feeds an
//! operator, and in which replay feeds it again.
//!
//! Records are taken in order of (log time, [`SEQ_HEADER`], topic's place
//! in the operator's input list, partition, offset): an order that is a property of the log itself,
//! not of when or how fast the runtime read it, so replaying the same log feeds an operator the same
//! sequence. The sequence number puts the records of one batch — one log time, spread over
//! partitions by key — back in the order they were written, so the order does not depend on the
//! partition count either (records without one, from other producers, come first in their log
//! time, by topic, partition and offset). On the embedded log every batch has a log time of its own
//! and becomes visible whole, so no batch is merged before all of it can be. Each partition is read
//! in chunks; only one chunk per partition is held in memory.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::{EventLog, Header, LogResult, StoredRecord};

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

struct Cursor {
    /// Index of its range in the list given to [`MergedInput::new`].
    range: usize,
    topic: String,
    topic_index: usize,
    partition: u32,
    /// Next offset to fetch.
    next: i64,
    /// Stop before this offset.
    end: i64,
    /// Records read and not yet taken, each with its sequence number.
    buffer: VecDeque<(Option<u64>, StoredRecord)>,
}

/// Where a record comes in the merge.
type MergeKey = (i64, Option<u64>, usize, u32, i64);

/// A place in the merge order that every reader of the log agrees on, whatever its inputs: a log
/// time and a [`SEQ_HEADER`] sequence number (records without one come first in their log time).
/// A bound at `(t, s)` takes every record up to and including it, of every topic and partition.
pub type MergePoint = (i64, Option<u64>);

/// Where `record` comes in the merge order, as a [`MergePoint`].
pub fn merge_point(record: &StoredRecord) -> MergePoint {
    (record.timestamp_ms, seq_of(record))
}

impl Cursor {
    fn head_key(&self) -> Option<MergeKey> {
        self.buffer.front().map(|(seq, r)| (r.timestamp_ms, *seq, self.topic_index, self.partition, r.offset))
    }
}

/// The merged input of one operator, from given positions up to the end offsets seen at creation.
pub struct MergedInput {
    log: Arc<dyn EventLog>,
    cursors: Vec<Cursor>,
    /// Stop before the first record that comes after this point, if set.
    until: Option<MergePoint>,
    /// Records one read of one partition fetches.
    chunk: usize,
}

impl MergedInput {
    /// A merge over `(topic, partition, from, until)` ranges, `topic_index` ordering the topics.
    pub fn new(log: Arc<dyn EventLog>, ranges: Vec<(String, usize, u32, i64, i64)>) -> MergedInput {
        let cursors = ranges
            .into_iter()
            .enumerate()
            .filter(|(_, (_, _, _, from, until))| from < until)
            .map(|(range, (topic, topic_index, partition, from, until))| Cursor {
                range,
                topic,
                topic_index,
                partition,
                next: from,
                end: until,
                buffer: VecDeque::new(),
            })
            .collect();
        MergedInput { log, cursors, until: None, chunk: CHUNK }
    }

    /// Ends the merge before the first record whose log time is after `ms` (`None`: no such bound).
    pub fn until_time(self, ms: Option<i64>) -> MergedInput {
        self.until(ms.map(|ms| (ms, Some(u64::MAX))))
    }

    /// Reads at most `records` records of a partition at a time (at least one; 5,000 by default):
    /// for a merge expected to end after about that many, so that it does not read far past the end.
    pub fn chunk(mut self, records: usize) -> MergedInput {
        self.chunk = records.clamp(1, CHUNK);
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
            if c.buffer.is_empty() && c.next < c.end {
                let want = usize::try_from(c.end - c.next).unwrap_or(self.chunk).min(self.chunk);
                let records = self.log.read(&c.topic, c.partition, c.next, want).await?;
                if records.is_empty() {
                    // Retention or a compacted gap: nothing more below `end` can be read.
                    c.next = c.end;
                }
                for r in records {
                    if r.offset >= c.end {
                        c.next = c.end;
                        break;
                    }
                    c.next = r.offset + 1;
                    c.buffer.push_back((seq_of(&r), r));
                }
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
        self.fill().await?;
        let best =
            self.cursors.iter().enumerate().filter_map(|(i, c)| c.head_key().map(|k| (k, i))).min().map(|(_, i)| i);
        Ok(best.and_then(|i| {
            let c = &mut self.cursors[i];
            if let (Some(limit), Some((seq, head))) = (self.until, c.buffer.front())
                && (head.timestamp_ms, *seq) > limit
            {
                return None;
            }
            c.buffer.pop_front().map(|(_, r)| (c.range, r))
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
        let ranges = || vec![("t".to_string(), 0, 0, 0, 3), ("t".to_string(), 0, 1, 0, 3)];
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
}
