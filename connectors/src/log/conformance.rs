//! The backend-generic conformance suite: every [`EventLog`] backend must pass every check here.
//!
//! Each check takes a fresh log (or one shared with other checks: every check uses its own uniquely
//! named topics and groups) and panics with a description on failure. Backends' test files call
//! [`conformance_tests!`](crate::conformance_tests) to get one `#[tokio::test]` per check.

use bytes::Bytes;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    Appended, EventLog, Header, LogError, LogResult, LogTransaction, PartitionOffsets, PartitionReader, ReadBatch,
    ReadEnd, Record, TopicInfo, TopicPartitionOffset,
};

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{prefix}-{pid}-{nanos}-{}", N.fetch_add(1, Ordering::Relaxed))
}

fn rec(key: &str, value: &str) -> Record {
    Record::new(Some(Bytes::copy_from_slice(key.as_bytes())), Bytes::copy_from_slice(value.as_bytes()))
}

/// Reads a partition from `from` to its end offset with a [`PartitionReader`], checking the read
/// contract on the way (see [`read_checked`]).
pub async fn read_to_end(log: &dyn EventLog, topic: &str, partition: u32, from: i64) -> Vec<super::StoredRecord> {
    let end = log.end_offsets(topic).await.expect("end offsets")[partition as usize];
    let got = PartitionReader::new(topic, partition, from).until(end).read_all(log).await.expect("read");
    let mut next = from;
    for r in &got {
        assert!(r.offset >= next, "offsets must not go backwards");
        next = r.offset + 1;
    }
    got
}

/// One [`EventLog::read`], checked against the contract: the records lie in
/// `offset..next_offset` in increasing order, at most `max` of them, and the batch says it is at the
/// end exactly when `next_offset` has reached `end` (the partition's end offset, which must not move
/// during the read).
pub async fn read_checked(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    offset: i64,
    max: usize,
    end: i64,
) -> ReadBatch {
    let batch = log.read(topic, partition, offset, max).await.expect("read");
    let at = format!("read({topic}/{partition} @{offset}, {max}) with end offset {end}: {batch:?}");
    assert!(batch.records.len() <= max, "{at}: more records than asked for");
    assert!(batch.next_offset >= offset, "{at}: the next offset goes back");
    let mut prev = offset - 1;
    for r in &batch.records {
        assert!(r.offset > prev && r.offset < batch.next_offset, "{at}: record at {} out of order or place", r.offset);
        prev = r.offset;
    }
    assert_eq!(batch.at_end(), batch.next_offset >= end, "{at}: at the end exactly when the next offset is the end");
    if batch.records.is_empty() && !batch.at_end() {
        assert!(batch.is_nothing_yet(), "{at}: empty below the end offset is nothing yet");
    }
    batch
}

/// Reads `topic`/`partition` from `from` to `end` with raw reads of `max` records, each checked by
/// [`read_checked`]; reads that come back with nothing yet are made again (a bounded number of
/// times). Returns the records and the last batch.
async fn read_raw_to_end(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    from: i64,
    max: usize,
    end: i64,
) -> (Vec<super::StoredRecord>, ReadBatch) {
    let mut out = Vec::new();
    let mut next = from;
    let mut nothing_yet = 0;
    loop {
        let batch = read_checked(log, topic, partition, next, max, end).await;
        out.extend(batch.records.iter().cloned());
        if batch.at_end() {
            return (out, batch);
        }
        if batch.is_nothing_yet() && batch.next_offset == next {
            nothing_yet += 1;
            assert!(nothing_yet < 200, "read({topic}/{partition}@{next}) stayed nothing yet below end offset {end}");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        next = batch.next_offset;
    }
}

/// The read contract: a read says which of *records*, *nothing yet* or *end of partition* it is.
/// A read at the end offset is empty and at the end; reads in chunks go through the partition
/// with every record in place, the last of them at the end; a read that takes the last records is
/// at the end; after an append, the old end offset reads records again.
pub async fn read_says_records_nothing_yet_or_end(log: &dyn EventLog) {
    let t = unique("conf-contract");
    log.create_topic(&t, 2).await.expect("create");
    let empty = read_checked(log, &t, 1, 0, 10, 0).await;
    assert!(empty.records.is_empty() && empty.at_end() && empty.next_offset == 0, "an empty partition: {empty:?}");
    log.append(&t, 0, (0..25).map(|i| rec("k", &format!("v{i}"))).collect()).await.expect("append");
    let at_end = read_checked(log, &t, 0, 25, 10, 25).await;
    assert!(at_end.records.is_empty() && at_end.at_end(), "reading at the end offset is the end: {at_end:?}");
    assert_eq!(at_end.next_offset, 25);
    for max in [1, 7, 25, 1000] {
        let (got, last) = read_raw_to_end(log, &t, 0, 0, max, 25).await;
        assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..25).collect::<Vec<_>>(), "chunks of {max}");
        assert_eq!(last.next_offset, 25, "the last read ends at the end offset");
    }
    // A read that takes the last records says so.
    let (tail, last) = read_raw_to_end(log, &t, 0, 20, 5, 25).await;
    assert_eq!(tail.len(), 5);
    assert!(last.at_end());
    // The end is where the partition ends now: after an append, records again.
    log.append(&t, 0, vec![rec("k", "v25")]).await.expect("append");
    let (more, _) = read_raw_to_end(log, &t, 0, 25, 10, 26).await;
    assert_eq!(more.iter().map(|r| r.value.clone()).collect::<Vec<_>>(), [Bytes::from_static(b"v25")]);
    // The partition reader reads to the end and stops there, with or without a bound.
    let mut reader = PartitionReader::new(t.as_str(), 0, 3);
    let all = reader.read_all(log).await.expect("read all");
    assert_eq!(all.len(), 23);
    assert!(reader.is_done());
    assert_eq!(reader.position(), 26);
    let mut bounded = PartitionReader::new(t.as_str(), 0, 3).until(10).chunk(4);
    assert_eq!(bounded.read_all(log).await.expect("read to 10").len(), 7);
    assert_eq!(bounded.position(), 10);
}

/// The partition reader reads past reads that come back with *nothing yet*: through a log that
/// answers every other read that has records with nothing yet ([`Hiccups`]), it reads every
/// record, in order.
pub async fn the_partition_reader_reads_past_nothing_yet(log: &dyn EventLog) {
    let t = unique("conf-nothing-yet");
    log.create_topic(&t, 1).await.expect("create");
    log.append(&t, 0, (0..30).map(|i| rec("k", &format!("v{i}"))).collect()).await.expect("append");
    let hiccups = Hiccups::new(log);
    let got = PartitionReader::new(t.as_str(), 0, 0).chunk(4).read_all(&hiccups).await.expect("read");
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..30).collect::<Vec<_>>());
    assert!(hiccups.hiccups() >= 8, "every other read was nothing yet: {}", hiccups.hiccups());
}

/// A transaction's records, and the markers a broker writes after them (Kafka: a commit marker
/// takes an offset and is never handed out), are read past: reading on from the last record of a
/// transaction reaches what follows it, and the end of the partition after a transaction at its
/// tail. Backends without transactions pass by saying so.
pub async fn reads_go_past_transaction_markers(log: &dyn EventLog) {
    let t = unique("conf-txn");
    let writer = unique("conf-writer");
    log.create_topic(&t, 1).await.expect("create");
    let txn = match log.begin_transaction(&writer).await {
        Err(LogError::Unsupported(_)) => return,
        other => other.expect("begin a transaction"),
    };
    txn.append(&t, 0, (0..3).map(|i| rec("k", &format!("txn-a{i}"))).collect()).await.expect("append");
    txn.commit(&unique("conf-txn-group"), &[]).await.expect("commit");
    log.append(&t, 0, vec![rec("k", "plain")]).await.expect("append after the transaction");
    let txn = log.begin_transaction(&writer).await.expect("begin a second transaction");
    txn.append(&t, 0, (0..2).map(|i| rec("k", &format!("txn-b{i}"))).collect()).await.expect("append");
    txn.commit(&unique("conf-txn-group"), &[]).await.expect("commit");
    let end = log.end_offsets(&t).await.expect("end")[0];

    let mut reader = PartitionReader::new(t.as_str(), 0, 0);
    let all = reader.read_all(log).await.expect("read past the markers");
    let values: Vec<Bytes> = all.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, ["txn-a0", "txn-a1", "txn-a2", "plain", "txn-b0", "txn-b1"].map(Bytes::from));
    assert_eq!(reader.position(), end, "the reader ends at the end offset, past the last marker");
    // Reading on from the last record of the first transaction: the plain record next.
    let (after, _) = read_raw_to_end(log, &t, 0, all[2].offset + 1, 1, end).await;
    assert_eq!(after.first().map(|r| r.value.clone()), Some(Bytes::from_static(b"plain")));
    // From the last record of the partition: the end, past the marker after it.
    let (none, last) = read_raw_to_end(log, &t, 0, all[5].offset + 1, 10, end).await;
    assert!(none.is_empty() && last.at_end() && last.next_offset == end, "past the tail marker: {last:?}");
}

/// A log that answers every other [`EventLog::read`] that would hand out records with *nothing
/// yet* (as Kafka does when a fetch comes back empty while records are in flight); everything else
/// is the wrapped log's.
pub struct Hiccups<L> {
    inner: L,
    reads: AtomicU64,
    hiccups: AtomicU64,
}

impl<L> Hiccups<L> {
    /// `inner`, hiccuping.
    pub fn new(inner: L) -> Hiccups<L> {
        Hiccups { inner, reads: AtomicU64::new(0), hiccups: AtomicU64::new(0) }
    }

    /// How many reads were answered with nothing yet.
    pub fn hiccups(&self) -> u64 {
        self.hiccups.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl<L> EventLog for Hiccups<L>
where
    L: std::ops::Deref + Send + Sync,
    L::Target: EventLog,
{
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn create_topic(&self, topic: &str, partitions: u32) -> LogResult<()> {
        self.inner.create_topic(topic, partitions).await
    }
    async fn list_topics(&self) -> LogResult<Vec<TopicInfo>> {
        self.inner.list_topics().await
    }
    async fn partition_count(&self, topic: &str) -> LogResult<u32> {
        self.inner.partition_count(topic).await
    }
    async fn append(&self, topic: &str, partition: u32, records: Vec<Record>) -> LogResult<Appended> {
        self.inner.append(topic, partition, records).await
    }
    async fn append_batch(&self, topic: &str, batch: Vec<(u32, Vec<Record>)>) -> LogResult<Vec<Appended>> {
        self.inner.append_batch(topic, batch).await
    }
    fn atomic_batches(&self) -> bool {
        self.inner.atomic_batches()
    }
    async fn read(&self, topic: &str, partition: u32, offset: i64, max_records: usize) -> LogResult<ReadBatch> {
        let batch = self.inner.read(topic, partition, offset, max_records).await?;
        if !batch.records.is_empty() && self.reads.fetch_add(1, Ordering::Relaxed).is_multiple_of(2) {
            self.hiccups.fetch_add(1, Ordering::Relaxed);
            return Ok(ReadBatch { records: Vec::new(), next_offset: offset, end: ReadEnd::MoreMayFollow });
        }
        Ok(batch)
    }
    async fn offsets(&self, topic: &str) -> LogResult<Vec<PartitionOffsets>> {
        self.inner.offsets(topic).await
    }
    async fn offsets_of(&self, topics: &[&str]) -> LogResult<Vec<Vec<PartitionOffsets>>> {
        self.inner.offsets_of(topics).await
    }
    async fn commit_offsets(&self, group: &str, offsets: &[TopicPartitionOffset]) -> LogResult<()> {
        self.inner.commit_offsets(group, offsets).await
    }
    async fn committed_offsets(&self, group: &str, topic: &str) -> LogResult<Vec<Option<i64>>> {
        self.inner.committed_offsets(group, topic).await
    }
    async fn begin_transaction(&self, id: &str) -> LogResult<Arc<dyn LogTransaction>> {
        self.inner.begin_transaction(id).await
    }
}

/// A created topic is listed with its partition count; creating it again is idempotent; creating it
/// with another partition count is refused.
pub async fn create_and_list_topics(log: &dyn EventLog) {
    let t = unique("conf-topics");
    log.create_topic(&t, 3).await.expect("create");
    log.create_topic(&t, 3).await.expect("create again with the same partition count is idempotent");
    let listed = log.list_topics().await.expect("list");
    let info = listed.iter().find(|i| i.name == t).unwrap_or_else(|| panic!("{t} not listed in {listed:?}"));
    assert_eq!(info.partitions, 3);
    assert_eq!(log.partition_count(&t).await.expect("partition count"), 3);
    match log.create_topic(&t, 5).await {
        Err(LogError::TopicExists { existing: 3, requested: 5, .. }) => {}
        other => panic!("re-creating with another partition count must fail with TopicExists, got {other:?}"),
    }
}

/// Invalid topic names are refused before anything is created.
pub async fn invalid_names_are_refused(log: &dyn EventLog) {
    for bad in ["", "a/b", "..", "spaces are bad"] {
        match log.create_topic(bad, 1).await {
            Err(LogError::InvalidName { .. }) => {}
            other => panic!("create_topic({bad:?}) must fail with InvalidName, got {other:?}"),
        }
    }
}

/// Appending returns consecutive offsets from the end offset; reading back returns the same keys,
/// values, headers and timestamps, in order.
pub async fn append_returns_offsets_and_reads_back(log: &dyn EventLog) {
    let t = unique("conf-append");
    log.create_topic(&t, 2).await.expect("create");
    assert_eq!(log.end_offsets(&t).await.expect("end"), vec![0, 0]);

    let mut first = vec![rec("k1", "v1"), rec("k2", "v2"), rec("k3", "v3")];
    first[1].headers.push(Header { name: "h".into(), value: Some(Bytes::from_static(b"hv")) });
    first[1].headers.push(Header { name: "null".into(), value: None });
    first[2].timestamp_ms = Some(1_700_000_000_123);
    first.push(Record::new(None, Bytes::from_static(b"unkeyed")));
    let a = log.append(&t, 1, first.clone()).await.expect("append");
    assert_eq!(a.partition, 1);
    assert_eq!(a.offsets, vec![0, 1, 2, 3]);
    let b = log.append(&t, 1, vec![rec("k4", "v4")]).await.expect("append");
    assert_eq!(b.offsets, vec![4]);
    assert_eq!(log.end_offsets(&t).await.expect("end"), vec![0, 5]);

    let got = read_to_end(log, &t, 1, 0).await;
    assert_eq!(got.len(), 5);
    for (i, r) in got.iter().enumerate() {
        assert_eq!(r.offset, i as i64);
        assert_eq!(r.partition, 1);
        assert_eq!(&*r.topic, t.as_str());
    }
    for (want, have) in first.iter().zip(&got) {
        assert_eq!(have.key, want.key);
        assert_eq!(have.value, want.value);
        assert_eq!(have.headers, want.headers);
    }
    assert_eq!(got[2].timestamp_ms, 1_700_000_000_123, "a producer timestamp is kept");
    assert!(got[0].timestamp_ms > 1_600_000_000_000, "records without one get the append time");
    assert_eq!(got[4].value, Bytes::from_static(b"v4"));
    assert!(read_to_end(log, &t, 0, 0).await.is_empty(), "partition 0 untouched");
}

/// Reading from the middle returns the tail; reading at the end returns nothing; `max_records` bounds
/// a read.
pub async fn read_from_offset_and_bounds(log: &dyn EventLog) {
    let t = unique("conf-read");
    log.create_topic(&t, 1).await.expect("create");
    let batch: Vec<Record> = (0..250).map(|i| rec(&format!("k{i}"), &format!("value-{i}"))).collect();
    log.append(&t, 0, batch).await.expect("append");
    let tail = read_to_end(log, &t, 0, 200).await;
    assert_eq!(tail.len(), 50);
    assert_eq!(tail[0].offset, 200);
    assert_eq!(tail[0].value, Bytes::from_static(b"value-200"));
    let at_end = log.read(&t, 0, 250, 10).await.expect("read at end");
    assert!(at_end.is_empty(), "reading at the end offset returns nothing");
    let mut bounded = Vec::new();
    for _ in 0..50 {
        bounded = log.read(&t, 0, 10, 7).await.expect("bounded read").into_records();
        if !bounded.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(!bounded.is_empty() && bounded.len() <= 7, "max_records bounds a read: got {}", bounded.len());
    assert_eq!(bounded[0].offset, 10);
}

/// A scan visits what reads return, from its first offset up to its bound, and stops where its
/// visitor breaks.
pub async fn scan_visits_what_reads_return(log: &dyn EventLog) {
    let t = unique("conf-scan");
    log.create_topic(&t, 1).await.expect("create");
    for b in 0..3 {
        let mut batch: Vec<Record> = (0..10).map(|i| rec(&format!("k{b}-{i}"), &format!("value-{b}-{i}"))).collect();
        batch[3].headers = vec![Header { name: "h".into(), value: Some(Bytes::from_static(b"x")) }];
        log.append(&t, 0, batch).await.expect("append");
    }
    let all = read_to_end(log, &t, 0, 0).await;
    assert_eq!(all.len(), 30);
    // A backend may hand out less than asked while data is in flight (Kafka); retry a little.
    let mut seen = Vec::new();
    let mut next = 0;
    for _ in 0..50 {
        seen.clear();
        next = log
            .scan(&t, 0, 5, 23, &mut |r| {
                seen.push((r.offset, r.timestamp_ms, r.key.map(<[u8]>::to_vec), r.value.to_vec()));
                std::ops::ControlFlow::Continue(())
            })
            .await
            .expect("scan");
        if seen.len() == 18 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(next, 23, "a scan returns the offset after the last record it visited");
    let want: Vec<_> = all[5..23]
        .iter()
        .map(|r| (r.offset, r.timestamp_ms, r.key.as_ref().map(|k| k.to_vec()), r.value.to_vec()))
        .collect();
    assert_eq!(seen, want, "a scan visits what reads return");
    let mut n = 0;
    let stopped = log
        .scan(&t, 0, 0, i64::MAX, &mut |_| {
            n += 1;
            if n == 4 { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) }
        })
        .await
        .expect("scan with a break");
    assert_eq!((n, stopped), (4, 4), "a scan stops where its visitor breaks");
    let at_end = log.scan(&t, 0, 30, i64::MAX, &mut |_| std::ops::ControlFlow::Continue(())).await.expect("at end");
    assert_eq!(at_end, 30, "a scan at the end visits nothing");
}

/// Offsets of several topics at once equal each topic's own; an unknown topic among them fails the
/// call.
pub async fn offsets_of_many_topics(log: &dyn EventLog) {
    let (a, b) = (unique("conf-offs-a"), unique("conf-offs-b"));
    log.create_topic(&a, 2).await.expect("create a");
    log.create_topic(&b, 3).await.expect("create b");
    log.append(&a, 1, (0..4).map(|i| rec("k", &format!("a{i}"))).collect()).await.expect("append a");
    log.append(&b, 2, (0..7).map(|i| rec("k", &format!("b{i}"))).collect()).await.expect("append b");
    let both = log.offsets_of(&[&b, &a]).await.expect("offsets of both");
    assert_eq!(both.len(), 2);
    assert_eq!(both[0], log.offsets(&b).await.expect("offsets of b"));
    assert_eq!(both[1], log.offsets(&a).await.expect("offsets of a"));
    assert_eq!(both[0].iter().map(|o| o.end - o.start).collect::<Vec<_>>(), [0, 0, 7]);
    assert_eq!(both[1].iter().map(|o| o.end - o.start).collect::<Vec<_>>(), [0, 4]);
    assert!(log.offsets_of(&[]).await.expect("no topics").is_empty());
    assert!(log.offsets_of(&[&a, "conf-no-such-topic"]).await.is_err(), "an unknown topic is an error");
}

/// A batch over several partitions lands in each, in order, every record without a timestamp with
/// one log time; with atomic batches, each batch's log time is later than the one before.
pub async fn batches_span_partitions(log: &dyn EventLog) {
    let t = unique("conf-batch");
    log.create_topic(&t, 3).await.expect("create");
    let part = |p: u32, n: usize| (p, (0..n).map(|i| rec("k", &format!("p{p}-{i}"))).collect::<Vec<_>>());
    let first = log.append_batch(&t, vec![part(2, 3), part(0, 2)]).await.expect("first batch");
    assert_eq!(
        first.iter().map(|a| (a.partition, a.offsets.clone())).collect::<Vec<_>>(),
        [(2, vec![0, 1, 2]), (0, vec![0, 1])]
    );
    let second = log.append_batch(&t, vec![part(0, 1), part(1, 1)]).await.expect("second batch");
    assert_eq!(
        second.iter().map(|a| (a.partition, a.offsets.clone())).collect::<Vec<_>>(),
        [(0, vec![2]), (1, vec![0])]
    );
    let p0 = read_to_end(log, &t, 0, 0).await;
    let p2 = read_to_end(log, &t, 2, 0).await;
    assert_eq!(
        p0.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
        [b"p0-0", b"p0-1", b"p0-0"].map(|v| Bytes::from_static(v))
    );
    assert_eq!(p2.len(), 3);
    let first_time = p2[0].timestamp_ms;
    assert!(p2.iter().chain(&p0[..2]).all(|r| r.timestamp_ms == first_time), "one log time per batch");
    if log.atomic_batches() {
        assert!(p0[2].timestamp_ms > first_time, "a later batch, a later log time");
    }
    assert!(log.append_batch(&t, vec![part(3, 1)]).await.is_err(), "an unknown partition fails the batch");
}

/// Many batches across partitions keep per-partition order and count.
pub async fn many_batches_keep_order(log: &dyn EventLog) {
    let t = unique("conf-order");
    log.create_topic(&t, 3).await.expect("create");
    for round in 0..20 {
        for p in 0..3u32 {
            let batch: Vec<Record> = (0..50).map(|i| rec("k", &format!("{p}:{}", round * 50 + i))).collect();
            log.append(&t, p, batch).await.expect("append");
        }
    }
    assert_eq!(log.end_offsets(&t).await.expect("end"), vec![1000, 1000, 1000]);
    for p in 0..3u32 {
        let got = read_to_end(log, &t, p, 0).await;
        assert_eq!(got.len(), 1000);
        for (i, r) in got.iter().enumerate() {
            assert_eq!(r.value, Bytes::from(format!("{p}:{i}")), "partition {p} offset {i}");
        }
    }
}

/// Unknown topics and partitions are errors, not empty results.
pub async fn unknown_topic_and_partition_are_errors(log: &dyn EventLog) {
    let t = unique("conf-missing");
    assert!(
        matches!(log.append(&t, 0, vec![rec("k", "v")]).await, Err(LogError::UnknownTopic(_))),
        "append to a missing topic"
    );
    assert!(matches!(log.read(&t, 0, 0, 1).await, Err(LogError::UnknownTopic(_))), "read of a missing topic");
    log.create_topic(&t, 1).await.expect("create");
    assert!(
        matches!(log.append(&t, 4, vec![rec("k", "v")]).await, Err(LogError::UnknownPartition { partition: 4, .. })),
        "append to a missing partition"
    );
}

/// A group commits offsets and reads them back; groups are independent; later commits overwrite.
pub async fn consumer_group_offsets(log: &dyn EventLog) {
    let t = unique("conf-groups");
    let g1 = unique("g1");
    let g2 = unique("g2");
    log.create_topic(&t, 2).await.expect("create");
    log.append(&t, 0, (0..10).map(|i| rec("k", &i.to_string())).collect()).await.expect("append");
    log.append(&t, 1, (0..10).map(|i| rec("k", &i.to_string())).collect()).await.expect("append");
    assert_eq!(log.committed_offsets(&g1, &t).await.expect("committed"), vec![None, None]);
    let commit = |p: u32, o: i64| TopicPartitionOffset { topic: t.clone(), partition: p, offset: o };
    log.commit_offsets(&g1, &[commit(0, 3), commit(1, 7)]).await.expect("commit");
    log.commit_offsets(&g2, &[commit(1, 1)]).await.expect("commit");
    assert_eq!(log.committed_offsets(&g1, &t).await.expect("committed"), vec![Some(3), Some(7)]);
    assert_eq!(log.committed_offsets(&g2, &t).await.expect("committed"), vec![None, Some(1)]);
    log.commit_offsets(&g1, &[commit(0, 9)]).await.expect("commit");
    assert_eq!(log.committed_offsets(&g1, &t).await.expect("committed"), vec![Some(9), Some(7)]);
}

/// Large values (1 MiB less framing) round-trip intact.
pub async fn large_values_round_trip(log: &dyn EventLog) {
    let t = unique("conf-large");
    log.create_topic(&t, 1).await.expect("create");
    let big: Vec<u8> = (0..900_000u32).map(|i| (i % 251) as u8).collect();
    log.append(&t, 0, vec![Record::new(None, big.clone())]).await.expect("append");
    let got = read_to_end(log, &t, 0, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].value.as_ref(), big.as_slice());
}

/// Concurrent appenders to one partition never share an offset, and nothing is lost.
pub async fn concurrent_appends_are_serialised(log: &dyn EventLog) {
    let t = unique("conf-concurrent");
    log.create_topic(&t, 1).await.expect("create");
    let writers = 4;
    let per_writer = 25;
    let mut all = Vec::new();
    let futs = (0..writers).map(|w| {
        let t = t.clone();
        async move {
            let mut offsets = Vec::new();
            for i in 0..per_writer {
                let a = log.append(&t, 0, vec![rec("k", &format!("{w}-{i}"))]).await.expect("append");
                offsets.extend(a.offsets);
            }
            offsets
        }
    });
    for offsets in futures::future::join_all(futs).await {
        all.extend(offsets);
    }
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), writers * per_writer, "every append got its own offset");
    assert_eq!(read_to_end(log, &t, 0, 0).await.len(), writers * per_writer);
}

/// Generates one `#[tokio::test]` per conformance check for a backend.
///
/// `conformance_tests!(module_name, [#[ignore = "why"]], async { make_log().await })` — the expression
/// must evaluate to something that derefs to `dyn EventLog` (e.g. `Arc<dyn EventLog>` or a guard
/// that also keeps a broker alive).
#[macro_export]
macro_rules! conformance_tests {
    ($module:ident, [$($attr:meta)*], $make:expr) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::conformance_tests!(@each [$($attr)*] $make;
                create_and_list_topics, invalid_names_are_refused, append_returns_offsets_and_reads_back,
                read_from_offset_and_bounds, read_says_records_nothing_yet_or_end,
                the_partition_reader_reads_past_nothing_yet, reads_go_past_transaction_markers,
                scan_visits_what_reads_return, offsets_of_many_topics, batches_span_partitions, many_batches_keep_order, unknown_topic_and_partition_are_errors,
                consumer_group_offsets, large_values_round_trip, concurrent_appends_are_serialised);
        }
    };
    (@each [$($attr:meta)*] $make:expr; $check:ident $(, $rest:ident)*) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        $(#[$attr])*
        async fn $check() {
            let log = $make;
            $crate::log::conformance::$check(&*log).await;
        }
        $crate::conformance_tests!(@each [$($attr)*] $make; $($rest),*);
    };
    (@each [$($attr:meta)*] $make:expr;) => {};
}
