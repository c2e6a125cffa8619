//! The event log contract: topics split into partitions, each an append-only sequence of records
//! addressed by offset, plus consumer-group committed offsets.
//!
//! Every backend implements [`EventLog`]; the conformance suite in `log::conformance` (feature
//! `conformance`) is written once against the trait and run against every backend.
//!
//! **The read contract.** [`EventLog::read`] answers with a [`ReadBatch`] that says which of three
//! things it is: *records* (and where to read next), *nothing yet* (no records came in time, though
//! the partition holds more below its end offset: read again from [`ReadBatch::next_offset`]), or the
//! *end of the partition* ([`ReadEnd::AtEnd`]: nothing more until something is appended). An empty
//! answer is therefore never ambiguous: a loop that stops at the first empty read stops early, and
//! one that retries at the end spins. [`PartitionReader`] is the one loop that reads a partition to
//! its end (or to a given offset) by the contract; every reader of the log uses it. The conformance
//! suite checks the contract on every backend.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;

pub mod api_versions;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod embedded;
pub mod kafka;
pub mod membership;
pub mod partitioner;
pub mod reader;

pub use partitioner::partition_for_key;
pub use reader::PartitionReader;

/// A record to append: what producers hand to [`EventLog::append`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Partitioning / compaction key; `None` for unkeyed records.
    pub key: Option<Bytes>,
    /// The payload: for trustloop events, Confluent-framed Avro.
    pub value: Bytes,
    /// Producer timestamp in milliseconds since the Unix epoch (Kafka `CreateTime`);
    /// `None` lets the backend stamp the append time.
    pub timestamp_ms: Option<i64>,
    /// Record headers, in order.
    pub headers: Vec<Header>,
}

impl Record {
    /// A keyed record with no headers and no producer timestamp.
    pub fn new(key: Option<Bytes>, value: impl Into<Bytes>) -> Self {
        Self { key, value: value.into(), timestamp_ms: None, headers: Vec::new() }
    }
}

/// One record header (Kafka semantics: names may repeat, values may be absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub name: String,
    /// Header value; `None` is a null header value.
    pub value: Option<Bytes>,
}

/// A record as stored in the log, with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// Topic it was read from.
    pub topic: Arc<str>,
    /// Partition it was read from.
    pub partition: u32,
    /// Its offset within the partition.
    pub offset: i64,
    /// Milliseconds since the Unix epoch: the producer timestamp if one was given, else the time the
    /// log appended it ("log time").
    pub timestamp_ms: i64,
    /// Key, as appended.
    pub key: Option<Bytes>,
    /// Value, as appended.
    pub value: Bytes,
    /// Headers, as appended.
    pub headers: Vec<Header>,
}

/// A record as a scan visits it: its position, and its key and value borrowed from the backend's
/// read buffer (headers are not part of a scan).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Its offset within the partition.
    pub offset: i64,
    /// As in [`StoredRecord::timestamp_ms`].
    pub timestamp_ms: i64,
    /// Key, as appended.
    pub key: Option<&'a [u8]>,
    /// Value, as appended.
    pub value: &'a [u8],
}

/// What one [`EventLog::read`] found: records, nothing yet, or the end of the partition (see the
/// [module docs](self) for the contract).
///
/// - *Records*: `records` holds at least one record; more may follow or not ([`ReadBatch::end`]).
/// - *Nothing yet*: no records, [`ReadEnd::MoreMayFollow`]: the partition holds offsets below its
///   end offset that this read did not hand out in time (Kafka: a fetch that came back empty while
///   records were in flight). Read again from [`ReadBatch::next_offset`].
/// - *End of partition*: no records, [`ReadEnd::AtEnd`]: the read started at (or stepped over
///   everything up to) the partition's end offset.
///
/// A batch derefs to its records, for callers that look at the records of one read only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBatch {
    /// The records read, in offset order, each at or after the offset asked for and below
    /// [`ReadBatch::next_offset`].
    pub records: Vec<StoredRecord>,
    /// Where the next read goes on: after the last record returned, or further where the backend
    /// stepped over offsets that hold nothing to read (Kafka: transaction markers, records of aborted
    /// transactions; the embedded log: the gaps `log repair` left). Never before the offset asked for.
    pub next_offset: i64,
    /// Whether the read reached the partition's end offset (as it was during the read).
    pub end: ReadEnd,
}

/// Whether a [`ReadBatch`] reached the end of its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// [`ReadBatch::next_offset`] is the partition's end offset (or past it): nothing more until
    /// something is appended.
    AtEnd,
    /// The partition holds more below its end offset; read again from [`ReadBatch::next_offset`].
    MoreMayFollow,
}

impl ReadBatch {
    /// A batch of `records` read from `offset` in a partition whose end offset was `end`: the next
    /// offset is after the last record (or `offset`), at the end if that is `end` or past it.
    pub fn new(records: Vec<StoredRecord>, offset: i64, end: i64) -> ReadBatch {
        let next_offset = records.last().map_or(offset, |r| r.offset + 1);
        ReadBatch::stepped(records, next_offset, end)
    }

    /// A batch that goes on at `next_offset` (past offsets with nothing to read, where the backend
    /// stepped over some) in a partition whose end offset was `end`.
    pub fn stepped(records: Vec<StoredRecord>, next_offset: i64, end: i64) -> ReadBatch {
        let end = if next_offset >= end { ReadEnd::AtEnd } else { ReadEnd::MoreMayFollow };
        ReadBatch { records, next_offset, end }
    }

    /// Whether the read reached the end of the partition.
    pub fn at_end(&self) -> bool {
        self.end == ReadEnd::AtEnd
    }

    /// Whether this is *nothing yet*: no records, and more below the end offset.
    pub fn is_nothing_yet(&self) -> bool {
        self.records.is_empty() && self.end == ReadEnd::MoreMayFollow
    }

    /// The records, owned.
    pub fn into_records(self) -> Vec<StoredRecord> {
        self.records
    }
}

impl std::ops::Deref for ReadBatch {
    type Target = [StoredRecord];
    fn deref(&self) -> &[StoredRecord] {
        &self.records
    }
}

impl IntoIterator for ReadBatch {
    type Item = StoredRecord;
    type IntoIter = std::vec::IntoIter<StoredRecord>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.into_iter()
    }
}

impl<'a> IntoIterator for &'a ReadBatch {
    type Item = &'a StoredRecord;
    type IntoIter = std::slice::Iter<'a, StoredRecord>;
    fn into_iter(self) -> Self::IntoIter {
        self.records.iter()
    }
}

/// The visitor of [`EventLog::scan`]: `Break` stops the scan.
pub type ScanVisitor<'v> = dyn for<'a> FnMut(RecordView<'a>) -> std::ops::ControlFlow<()> + Send + 'v;

/// Where one appended batch landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Partition the batch was appended to.
    pub partition: u32,
    /// Offset of each record of the batch, in the order given.
    pub offsets: Vec<i64>,
}

impl Appended {
    /// Offset of the first record, if the batch was not empty.
    pub fn first_offset(&self) -> Option<i64> {
        self.offsets.first().copied()
    }
    /// Offset of the last record, if the batch was not empty.
    pub fn last_offset(&self) -> Option<i64> {
        self.offsets.last().copied()
    }
}

/// A topic and its partition count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: u32,
}

/// A position in one topic-partition (what consumer groups commit, and what input frontiers record).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartitionOffset {
    /// Topic name.
    pub topic: String,
    /// Partition number.
    pub partition: u32,
    /// Offset: for a committed group offset, the *next* offset to read (Kafka semantics).
    pub offset: i64,
}

/// Errors from an event log backend. [`LogError::is_retriable`] tells callers whether trying the same
/// call again may succeed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The topic does not exist.
    #[error("unknown topic `{0}`")]
    UnknownTopic(String),
    /// The partition does not exist in the topic.
    #[error("topic `{topic}` has no partition {partition} (it has {partitions})")]
    UnknownPartition {
        /// Topic name.
        topic: String,
        /// The partition asked for.
        partition: u32,
        /// How many partitions the topic has.
        partitions: u32,
    },
    /// A topic of that name exists already with another partition count.
    #[error("topic `{topic}` exists with {existing} partitions, not {requested}")]
    TopicExists {
        /// Topic name.
        topic: String,
        /// Its partition count.
        existing: u32,
        /// The partition count asked for.
        requested: u32,
    },
    /// The name is not a valid topic or group name.
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The offset asked for lies outside the partition's retained range.
    #[error("offset {offset} is out of range for {topic}/{partition} (valid {start}..={end})")]
    OffsetOutOfRange {
        /// Topic name.
        topic: String,
        /// Partition number.
        partition: u32,
        /// The offset asked for.
        offset: i64,
        /// First retained offset.
        start: i64,
        /// End offset (the next offset to be written).
        end: i64,
    },
    /// Stored data failed its integrity check.
    #[error("corrupt data in {location}: {reason}")]
    Corrupt {
        /// File (and position) where the corruption was found.
        location: String,
        /// What was wrong.
        reason: String,
    },
    /// The log is locked or in use in a way that forbids this call.
    #[error("{0}")]
    Busy(String),
    /// An I/O error on the local file system.
    #[error("I/O error on {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An error reported by Kafka or the Kafka client.
    #[error("kafka: {message}")]
    Kafka {
        /// What went wrong, with the broker's error code where there is one.
        message: String,
        /// Whether librdkafka or the broker consider the error retriable.
        retriable: bool,
    },
    /// The call did not complete in time.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The backend cannot do this (a documented gap, e.g. a broker lacking an API).
    #[error("not supported by this backend: {0}")]
    Unsupported(String),
}

impl LogError {
    /// Whether the same call may succeed if tried again later.
    pub fn is_retriable(&self) -> bool {
        match self {
            LogError::Kafka { retriable, .. } => *retriable,
            LogError::Timeout(_) | LogError::Busy(_) => true,
            LogError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::Interrupted | std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            _ => false,
        }
    }

    pub(crate) fn io(path: impl fmt::Display, source: std::io::Error) -> Self {
        LogError::Io { path: path.to_string(), source }
    }
}

/// Result alias for log operations.
pub type LogResult<T> = Result<T, LogError>;

/// The event log contract shared by every backend.
///
/// Offsets are per partition, start at the partition's first retained offset and grow by one per
/// record. The *end offset* of a partition is the offset the next appended record will get (Kafka's
/// high watermark). Committed group offsets are "next offset to read".
#[async_trait]
pub trait EventLog: Send + Sync {
    /// A short name for this backend (`embedded`, `kafka`), for logs and reports.
    fn backend(&self) -> &'static str;

    /// Creates a topic with `partitions` partitions. Creating a topic that exists with the same partition
    /// count is not an error (idempotent); with a different count it is [`LogError::TopicExists`].
    async fn create_topic(&self, topic: &str, partitions: u32) -> LogResult<()>;

    /// Lists the topics (internal ones, whose names start with `_` or `__`, excluded).
    async fn list_topics(&self) -> LogResult<Vec<TopicInfo>>;

    /// Partition count of one topic.
    async fn partition_count(&self, topic: &str) -> LogResult<u32>;

    /// Appends `records` to one partition, in order; returns the offset each one got. The batch is
    /// durable according to the backend's durability settings when this returns.
    async fn append(&self, topic: &str, partition: u32, records: Vec<Record>) -> LogResult<Appended>;

    /// Appends to several partitions of one topic as one batch; returns where each part landed, in
    /// the order given. Records without a timestamp all get the same log time. Where the backend
    /// can ([`EventLog::atomic_batches`]), that log time is later than every earlier batch's in the
    /// whole log, and the batch becomes visible to [`EventLog::offsets_of`] all at once: a reader
    /// never sees some of its partitions appended and not the others. Elsewhere (the default)
    /// the parts are appended one after the other.
    async fn append_batch(&self, topic: &str, batch: Vec<(u32, Vec<Record>)>) -> LogResult<Vec<Appended>> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut out = Vec::with_capacity(batch.len());
        for (partition, mut records) in batch {
            for r in &mut records {
                r.timestamp_ms.get_or_insert(now);
            }
            out.push(self.append(topic, partition, records).await?);
        }
        Ok(out)
    }

    /// Whether [`EventLog::append_batch`] stamps every batch with a log time of its own, later than
    /// the ones before, and makes it visible all at once (the embedded log: yes; Kafka: no).
    fn atomic_batches(&self) -> bool {
        false
    }

    /// Reads up to `max_records` records of one partition starting at `offset`, and says whether
    /// that reached the end of the partition: *records*, *nothing yet* or *end of partition*
    /// ([`ReadBatch`]). Never waits for records to be appended.
    ///
    /// The contract, checked by the conformance suite on every backend:
    /// - the records have increasing offsets in `offset..next_offset`, at most `max_records` of them;
    ///   every offset in that range not returned holds nothing a reader sees (a transaction marker,
    ///   an aborted record, a batch `log repair` quarantined), so going on at `next_offset` loses
    ///   nothing;
    /// - [`ReadEnd::AtEnd`] exactly when `next_offset` is the end offset (or past it): a read at the
    ///   end offset is empty and at the end; a read that returns no records below the end offset is
    ///   *nothing yet*, never the end, and a reader tries again from `next_offset`;
    /// - an offset outside the retained range is [`LogError::OffsetOutOfRange`], an unknown topic or
    ///   partition an error, never an empty batch.
    ///
    /// [`PartitionReader`] loops over reads by this contract.
    async fn read(&self, topic: &str, partition: u32, offset: i64, max_records: usize) -> LogResult<ReadBatch>;

    /// Visits the records of one partition from `offset` up to `until` (excluded) or the end of the
    /// partition, in order, until `visit` breaks; returns the offset after the last record visited.
    /// Like [`EventLog::read`] it never waits: it may stop early where the backend has nothing to
    /// hand out yet (Kafka: a fetch that came back *nothing yet*).
    /// Made for bulk reads (SQL, archives): the embedded log hands out its records straight from its
    /// read buffer, allocating nothing per record. The default reads in chunks of [`EventLog::read`].
    async fn scan(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        until: i64,
        visit: &mut ScanVisitor<'_>,
    ) -> LogResult<i64> {
        let mut pos = offset;
        while pos < until {
            let want = usize::try_from(until - pos).unwrap_or(usize::MAX).min(10_000);
            let batch = self.read(topic, partition, pos, want).await?;
            if batch.records.is_empty() {
                // The end, or nothing yet (a scan does not wait); over offsets with nothing to read
                // it goes on.
                if batch.at_end() || batch.next_offset <= pos {
                    break;
                }
                pos = batch.next_offset.min(until);
                continue;
            }
            for r in batch.records.iter().take_while(|r| r.offset < until) {
                pos = r.offset + 1;
                let view = RecordView {
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    key: r.key.as_deref(),
                    value: &r.value,
                };
                if visit(view).is_break() {
                    return Ok(pos);
                }
            }
            pos = pos.max(batch.next_offset.min(until));
            if batch.at_end() {
                break;
            }
        }
        Ok(pos)
    }

    /// First retained offset and end offset (next offset to be written) of each partition, indexed by
    /// partition number.
    async fn offsets(&self, topic: &str) -> LogResult<Vec<PartitionOffsets>>;

    /// [`EventLog::offsets`] of several topics at once, in the order given: one round trip for
    /// all of them where the backend can (Kafka: one ListOffsets request per broker for each of
    /// the first and end offsets), which a runtime polling many input topics needs.
    async fn offsets_of(&self, topics: &[&str]) -> LogResult<Vec<Vec<PartitionOffsets>>> {
        let mut out = Vec::with_capacity(topics.len());
        for topic in topics {
            out.push(self.offsets(topic).await?);
        }
        Ok(out)
    }

    /// End offsets of each partition of a topic, indexed by partition number.
    async fn end_offsets(&self, topic: &str) -> LogResult<Vec<i64>> {
        Ok(self.offsets(topic).await?.into_iter().map(|o| o.end).collect())
    }

    /// Commits consumer-group offsets (each the next offset to read).
    async fn commit_offsets(&self, group: &str, offsets: &[TopicPartitionOffset]) -> LogResult<()>;

    /// The group's committed offsets for every partition of `topic`, indexed by partition number;
    /// `None` where the group has committed nothing.
    async fn committed_offsets(&self, group: &str, topic: &str) -> LogResult<Vec<Option<i64>>>;

    /// Starts a transaction of the writer `id`. The id is stable across restarts (one per task):
    /// starting a transaction fences any older process still writing under it and aborts whatever it
    /// left open. Backends without transactions answer [`LogError::Unsupported`] (the default).
    async fn begin_transaction(&self, id: &str) -> LogResult<Arc<dyn LogTransaction>> {
        Err(LogError::Unsupported(format!("transactions (writer {id}) on the {} log", self.backend())))
    }
}

/// An open transaction of one writer: the records it appends become visible to readers (Kafka:
/// `read_committed` ones) and the consumer offsets it commits take effect together, or not at all.
#[async_trait]
pub trait LogTransaction: Send + Sync {
    /// Appends `records` to one partition, within the transaction.
    async fn append(&self, topic: &str, partition: u32, records: Vec<Record>) -> LogResult<Appended>;

    /// Commits `offsets` of `group` with everything appended, atomically, and ends the transaction.
    /// On an error the transaction is aborted: nothing appended shows, no offset moved.
    async fn commit(&self, group: &str, offsets: &[TopicPartitionOffset]) -> LogResult<()>;

    /// Aborts: nothing appended becomes visible, no offset is committed.
    async fn abort(&self) -> LogResult<()>;
}

/// First retained and end offset of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOffsets {
    /// First offset still retained.
    pub start: i64,
    /// The offset the next appended record gets.
    pub end: i64,
}

/// Validates a topic or group name the way Kafka does: 1–249 characters of `[A-Za-z0-9._-]`, not `.`
/// or `..`.
pub fn validate_name(name: &str) -> LogResult<()> {
    let bad = |reason| Err(LogError::InvalidName { name: name.to_string(), reason });
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > 249 {
        return bad("longer than 249 characters");
    }
    if name == "." || name == ".." {
        return bad("`.` and `..` are reserved");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-') {
        return bad("only ASCII letters, digits, `.`, `_` and `-` are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_rules() {
        assert!(validate_name("telemetry").is_ok());
        assert!(validate_name("action-results").is_ok());
        assert!(validate_name("_schemas").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name("..").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name(&"x".repeat(250)).is_err());
    }
}
