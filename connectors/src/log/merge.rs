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

impl Cursor {
    fn head_key(&self) -> Option<MergeKey> {
        self.buffer.front().map(|(seq, r)| (r.timestamp_ms, *seq, self.topic_index, self.partition, r.offset))
    }
}

/// The merged input of one operator, from given positions up to the end offsets seen at creation.
pub struct MergedInput {
    log: Arc<dyn EventLog>,
    cursors: Vec<Cursor>,
    /// Stop before the first record of a later log time (milliseconds), if set.
    until_time: Option<i64>,
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
        MergedInput { log, cursors, until_time: None }
    }

    /// Ends the merge before the first record whose log time is after `ms` (`None`: no such bound).
    pub fn until_time(mut self, ms: Option<i64>) -> MergedInput {
        self.until_time = ms;
        self
    }

    async fn fill(&mut self) -> LogResult<()> {
        for c in &mut self.cursors {
            if c.buffer.is_empty() && c.next < c.end {
                let want = usize::try_from(c.end - c.next).unwrap_or(CHUNK).min(CHUNK);
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
            if let (Some(limit), Some((_, head))) = (self.until_time, c.buffer.front())
                && head.timestamp_ms > limit
            {
                return None;
            }
            c.buffer.pop_front().map(|(_, r)| (c.range, r))
        }))
    }
}
