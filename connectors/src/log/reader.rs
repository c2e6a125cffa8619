//! [`PartitionReader`]: the one loop that reads a partition by the read contract of
//! [`EventLog::read`] — records are handed on, *nothing yet* is read again (after a short pause,
//! within a patience), offsets with nothing to read are stepped over, and the end of the partition
//! (or the reader's bound) ends it. Every reader of the log that goes through a partition uses it,
//! so none decides on its own what an empty read means.

use std::time::{Duration, Instant};

use super::{EventLog, LogError, LogResult, ReadEnd, StoredRecord};

/// Records one read asks for, by default.
const DEFAULT_CHUNK: usize = 10_000;

/// How long a reader keeps reading again while reads come back with *nothing yet*, by default.
const DEFAULT_PATIENCE: Duration = Duration::from_secs(30);

/// The first and the longest pause between two reads that came back with *nothing yet*.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_millis(200);

/// Reads one partition from an offset up to its end, or up to a bound, chunk after chunk.
///
/// The reader holds a position, not the log: each [`PartitionReader::next`] is given the log, so a
/// reader can live inside whatever owns the log.
///
/// ```no_run
/// # async fn f(log: &dyn trustloop_connectors::log::EventLog) -> trustloop_connectors::log::LogResult<()> {
/// use trustloop_connectors::log::PartitionReader;
/// let mut reader = PartitionReader::new("verdicts", 0, 0);
/// while let Some(records) = reader.next(log).await? {
///     for r in records {
///         println!("{}", r.offset);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct PartitionReader {
    topic: String,
    partition: u32,
    /// Next offset to read.
    next: i64,
    /// Stop before this offset, if set.
    until: Option<i64>,
    /// Records one read asks for.
    chunk: usize,
    /// How long reads may come back with *nothing yet* in a row.
    patience: Duration,
    /// Whether a read reached the end of the partition.
    at_end: bool,
}

impl PartitionReader {
    /// A reader of `partition` of `topic` from offset `from` to the end of the partition.
    pub fn new(topic: impl Into<String>, partition: u32, from: i64) -> PartitionReader {
        PartitionReader {
            topic: topic.into(),
            partition,
            next: from,
            until: None,
            chunk: DEFAULT_CHUNK,
            patience: DEFAULT_PATIENCE,
            at_end: false,
        }
    }

    /// Stops before offset `until` (e.g. an end offset seen earlier), or at the end of the partition
    /// if that comes first.
    pub fn until(mut self, until: i64) -> PartitionReader {
        self.until = Some(until);
        self
    }

    /// Asks for at most `records` records per read (at least one; 10,000 by default).
    pub fn chunk(mut self, records: usize) -> PartitionReader {
        self.set_chunk(records);
        self
    }

    /// [`PartitionReader::chunk`], in place.
    pub fn set_chunk(&mut self, records: usize) {
        self.chunk = records.max(1);
    }

    /// Keeps reading again for up to `patience` while reads come back with *nothing yet* (30 s by
    /// default), then fails with [`LogError::Timeout`].
    pub fn patience(mut self, patience: Duration) -> PartitionReader {
        self.patience = patience;
        self
    }

    /// The topic read.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition read.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The next offset to read: after the last record handed out, or past offsets with nothing to
    /// read that reads stepped over.
    pub fn position(&self) -> i64 {
        self.next
    }

    /// Whether the reader is done: at its bound, or a read reached the end of the partition.
    pub fn is_done(&self) -> bool {
        self.at_end || self.until.is_some_and(|u| self.next >= u)
    }

    /// The next records, in offset order (never an empty chunk), or `None` once the reader is done.
    /// Reads that come back with *nothing yet* are made again after a short pause, for up to the
    /// reader's patience.
    pub async fn next(&mut self, log: &dyn EventLog) -> LogResult<Option<Vec<StoredRecord>>> {
        let mut waited: Option<(Instant, Duration)> = None;
        loop {
            if self.is_done() {
                return Ok(None);
            }
            let want = match self.until {
                Some(u) => usize::try_from(u - self.next).unwrap_or(usize::MAX).min(self.chunk),
                None => self.chunk,
            };
            let batch = log.read(&self.topic, self.partition, self.next, want).await?;
            let mut records = batch.records;
            if let Some(u) = self.until {
                records.truncate(records.partition_point(|r| r.offset < u));
            }
            let before = self.next;
            let bound = self.until.unwrap_or(i64::MAX);
            self.next = self.next.max(batch.next_offset.min(bound));
            if let Some(last) = records.last() {
                self.next = self.next.max(last.offset + 1);
            }
            self.at_end = batch.end == ReadEnd::AtEnd;
            if !records.is_empty() {
                return Ok(Some(records));
            }
            if self.is_done() || self.next > before {
                // The end, or offsets with nothing to read stepped over: no pause.
                continue;
            }
            // Nothing yet: read again, a little later.
            let (since, pause) = *waited.get_or_insert((Instant::now(), FIRST_PAUSE));
            if since.elapsed() >= self.patience {
                return Err(LogError::Timeout(format!(
                    "reading {}/{} at offset {}: reads stayed empty below the end offset for {:?}",
                    self.topic, self.partition, self.next, self.patience
                )));
            }
            tracing::debug!(topic = %self.topic, partition = self.partition, offset = self.next, "nothing yet: reading again");
            tokio::time::sleep(pause).await;
            waited = Some((since, (pause * 2).min(LONGEST_PAUSE)));
        }
    }

    /// Every record left to read, in offset order.
    pub async fn read_all(&mut self, log: &dyn EventLog) -> LogResult<Vec<StoredRecord>> {
        let mut out = Vec::new();
        while let Some(records) = self.next(log).await? {
            out.extend(records);
        }
        Ok(out)
    }

    /// The first record at or after `offset` in `partition` of `topic`, if the partition holds one.
    pub async fn first(
        log: &dyn EventLog,
        topic: &str,
        partition: u32,
        offset: i64,
    ) -> LogResult<Option<StoredRecord>> {
        let mut reader = PartitionReader::new(topic, partition, offset).chunk(1);
        Ok(reader.next(log).await?.and_then(|records| records.into_iter().next()))
    }
}
