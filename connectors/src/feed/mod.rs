//! The feed: how an operator is fed its input — by the runtime live, and again by replay, what-if,
//! blame and the bitemporal queries — written once, so that a replay derives what the run derived.
//!
//! A feed goes through four steps:
//! 1. **Ranges**: each input partition's stretch of offsets, with the place of its topic in the
//!    operator's input list ([`InputRange`]).
//! 2. **Merge**: the ranges' records in the log's own merge order ([`MergedInput`], ordered by
//!    [`MergeKey`]: log time, writer sequence number, input place, partition, offset), each
//!    partition read by a [`PartitionReader`](crate::log::PartitionReader).
//! 3. **Admit**: each record decoded and checked for the operator and its [`Share`] ([`admit()`]):
//!    applied, or rejected as a dead letter of some kind.
//! 4. **Apply**: the caller applies what is admitted and does what it does with the outputs (the
//!    runtime writes them; replay compares or collects them).
//!
//! [`Feed`] does steps 1–3: [`Feed::next`] hands each record on with its merge key, and
//! [`Feed::admit`] admits it. The runtime's stages and replay's `feed_with` both drive one.

pub mod admit;
pub mod merge;

use std::sync::Arc;

use trustloop_operators::operator::Operator;
use trustloop_schemas::{EventCodec, EventType, WriterSchemas};

pub use admit::{Admission, admit};
pub use merge::{InputRange, MergeKey, MergePoint, MergedInput, SEQ_HEADER, merge_point, seq_header, seq_of};

use crate::log::{EventLog, LogResult, StoredRecord};

/// Which share of an operator's input is fed: all of it, or the task of one partition number out
/// of `count` (one task per partition), whose keyed inputs reject misrouted records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    /// The task's partition number.
    pub task: u32,
    /// How many tasks; 1: a single stage reads everything.
    pub count: u32,
}

impl Share {
    /// A single stage reading every partition.
    pub const ALL: Share = Share { task: 0, count: 1 };
}

/// One record fed, in merge order; [`Feed::admit`] says what admission makes of it.
#[derive(Debug)]
pub struct Fed {
    /// The index of its range, in the order given to [`Feed::new`] (empty ranges included).
    pub range: usize,
    /// Where it came in the merge.
    pub key: MergeKey,
    /// The record.
    pub record: StoredRecord,
}

/// How the records of one range are admitted.
#[derive(Debug, Clone, Copy)]
struct RangeAdmission {
    /// The event type its topic carries.
    expected: Option<EventType>,
    /// With one task per partition and a keyed input: the task count its keys are checked against.
    keyed_count: Option<u32>,
}

/// An operator's input ranges, merged and admitted: see the [module docs](self).
pub struct Feed<'a> {
    merged: MergedInput,
    ranges: Vec<RangeAdmission>,
    codec: &'a EventCodec,
    writers: &'a (dyn WriterSchemas + Send + Sync),
}

impl<'a> Feed<'a> {
    /// A feed of `op`'s `ranges` from `log`, admitted for `share` of its input.
    pub fn new(
        log: Arc<dyn EventLog>,
        codec: &'a EventCodec,
        writers: &'a (dyn WriterSchemas + Send + Sync),
        op: &dyn Operator,
        share: Share,
        ranges: Vec<InputRange>,
    ) -> Feed<'a> {
        let partitioning = op.partitioning();
        let admissions = ranges
            .iter()
            .map(|r| {
                let expected = EventType::from_topic(&r.topic);
                let keyed = share.count > 1 && expected.is_some_and(|t| partitioning.is_keyed(t));
                RangeAdmission { expected, keyed_count: keyed.then_some(share.count) }
            })
            .collect();
        Feed { merged: MergedInput::new(log, ranges), ranges: admissions, codec, writers }
    }

    /// Ends the feed before the first record whose log time is after `ms` (`None`: no such bound).
    pub fn until_time(mut self, ms: Option<i64>) -> Feed<'a> {
        self.merged = self.merged.until_time(ms);
        self
    }

    /// Ends the feed before the first record that comes after `point` (`None`: no such bound); a
    /// bound already set stays if it is earlier.
    pub fn until(mut self, point: Option<MergePoint>) -> Feed<'a> {
        self.merged = self.merged.until(point);
        self
    }

    /// Reads at most `records` records of a partition at a time ([`MergedInput::chunk`]).
    pub fn chunk(mut self, records: usize) -> Feed<'a> {
        self.merged = self.merged.chunk(records);
        self
    }

    /// The next record in merge order, or `None` when every range is consumed. Admit it with
    /// [`Feed::admit`] before applying it.
    pub async fn next(&mut self) -> LogResult<Option<Fed>> {
        Ok(self.merged.next_keyed().await?.map(|(range, key, record)| Fed { range, key, record }))
    }

    /// What admission makes of `fed` for `op` (the operator the feed was made for): its event to
    /// apply, or why it is rejected. Kept apart from [`Feed::next`] so that the event, the largest
    /// value on the hot path, is made where it is used rather than moved through the read.
    pub fn admit(&self, fed: &Fed, op: &dyn Operator) -> Admission {
        let how = self.ranges[fed.range];
        admit(&fed.record, how.expected, self.codec, self.writers, op, how.keyed_count)
    }
}
