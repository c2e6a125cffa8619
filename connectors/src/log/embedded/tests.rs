use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::log::conformance::read_to_end;
use crate::log::{Header, StoredRecord};

/// Keeps the temporary directory alive as long as the log.
struct TempLog {
    log: Arc<EmbeddedLog>,
    _dir: tempfile::TempDir,
}

impl Deref for TempLog {
    type Target = EmbeddedLog;
    fn deref(&self) -> &EmbeddedLog {
        &self.log
    }
}

fn temp_log() -> TempLog {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(EmbeddedLog::open(dir.path(), fast()).expect("open"));
    TempLog { log, _dir: dir }
}

fn fast() -> EmbeddedOptions {
    EmbeddedOptions { fsync: FsyncPolicy::Never, ..EmbeddedOptions::default() }
}

crate::conformance_tests!(embedded_conformance, [], temp_log());

fn rec(v: &str) -> Record {
    Record::new(Some(Bytes::from_static(b"k")), Bytes::copy_from_slice(v.as_bytes()))
}

fn values(records: &[StoredRecord]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8_lossy(&r.value).into_owned()).collect()
}

fn segment(dir: &Path, topic: &str) -> PathBuf {
    let part = dir.join("topics").join(topic).join("0");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&part)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs.pop().expect("a segment")
}

/// Appends three batches (a, b+c, d) and returns the segment path.
async fn three_batches(dir: &Path) -> PathBuf {
    let log = EmbeddedLog::open(dir, EmbeddedOptions::default()).expect("open");
    log.create_topic("t", 1).await.expect("create");
    log.append("t", 0, vec![rec("a")]).await.expect("append");
    log.append("t", 0, vec![rec("b"), rec("c")]).await.expect("append");
    log.append("t", 0, vec![rec("d")]).await.expect("append");
    segment(dir, "t")
}

async fn after_damage(dir: &Path) -> Vec<String> {
    let log = EmbeddedLog::open(dir, fast()).expect("reopen");
    // A reader sees only complete batches.
    let seen = values(&read_to_end(&log, "t", 0, 0).await);
    assert_eq!(seen, vec!["a", "b", "c"], "readers see the complete batches only");
    // A writer repairs the tail, then continues after the last good batch.
    let appended = log.append("t", 0, vec![rec("e")]).await.expect("append after repair");
    assert_eq!(appended.offsets, vec![3]);
    let again = EmbeddedLog::open(dir, fast()).expect("reopen");
    values(&read_to_end(&again, "t", 0, 0).await)
}

#[tokio::test]
async fn torn_tail_is_truncated_to_the_last_complete_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = three_batches(dir.path()).await;
    let len = std::fs::metadata(&seg).expect("meta").len();
    std::fs::OpenOptions::new().write(true).open(&seg).expect("open").set_len(len - 3).expect("truncate");
    assert_eq!(after_damage(dir.path()).await, vec!["a", "b", "c", "e"]);
}

#[tokio::test]
async fn flipped_byte_in_the_last_batch_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = three_batches(dir.path()).await;
    let mut bytes = std::fs::read(&seg).expect("read");
    let n = bytes.len();
    bytes[n - 2] ^= 0xff;
    std::fs::write(&seg, &bytes).expect("write");
    assert_eq!(after_damage(dir.path()).await, vec!["a", "b", "c", "e"]);
}

#[tokio::test]
async fn garbage_after_the_last_batch_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = three_batches(dir.path()).await;
    let len = std::fs::metadata(&seg).expect("meta").len();
    // Remove batch d, then append garbage in its place.
    let bytes = std::fs::read(&seg).expect("read");
    let d_len = 8 + 12 + 8 + 4 + 1 + 4 + 1 + 2;
    let mut damaged = bytes[..(len as usize - d_len)].to_vec();
    damaged.extend_from_slice(b"\x10\x00\x00\x00garbage garbage garbage");
    std::fs::write(&seg, &damaged).expect("write");
    assert_eq!(after_damage(dir.path()).await, vec!["a", "b", "c", "e"]);
}

#[tokio::test]
async fn reopen_keeps_everything_and_rebuilds_a_missing_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = three_batches(dir.path()).await;
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(values(&read_to_end(&log, "t", 0, 0).await), vec!["a", "b", "c", "d"]);
    drop(log);
    std::fs::remove_file(seg.with_extension("idx")).expect("remove index");
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(values(&read_to_end(&log, "t", 0, 2).await), vec!["c", "d"]);
    log.append("t", 0, vec![rec("e")]).await.expect("append");
    assert_eq!(std::fs::metadata(seg.with_extension("idx")).expect("index rebuilt").len(), 4 * 16);
}

#[tokio::test]
async fn segments_roll_and_reads_span_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions { segment_bytes: 200, fsync: FsyncPolicy::Never };
    let log = EmbeddedLog::open(dir.path(), options.clone()).expect("open");
    log.create_topic("t", 1).await.expect("create");
    for i in 0..50 {
        log.append("t", 0, vec![rec(&format!("v{i:02}")), rec(&format!("w{i:02}"))]).await.expect("append");
    }
    let segments = std::fs::read_dir(dir.path().join("topics/t/0"))
        .expect("dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "log")))
        .count();
    assert!(segments > 5, "rolled into {segments} segments");
    let all = read_to_end(&log, "t", 0, 0).await;
    assert_eq!(all.len(), 100);
    assert!(all.iter().enumerate().all(|(i, r)| r.offset == i as i64));
    let mid = log.read("t", 0, 37, 30).await.expect("read");
    assert_eq!(mid.len(), 30);
    assert_eq!(mid[0].offset, 37);
    let reopened = EmbeddedLog::open(dir.path(), options).expect("reopen");
    assert_eq!(reopened.end_offsets("t").await.expect("end"), vec![100]);
    assert_eq!(read_to_end(&reopened, "t", 0, 95).await.len(), 5);
}

#[tokio::test]
async fn two_instances_on_one_directory_share_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = EmbeddedLog::open(dir.path(), fast()).expect("a");
    let b = EmbeddedLog::open(dir.path(), fast()).expect("b");
    a.create_topic("t", 1).await.expect("create");
    b.create_topic("t", 1).await.expect("create in b is idempotent");
    let mut offsets = Vec::new();
    for i in 0..20 {
        let log = if i % 2 == 0 { &a } else { &b };
        offsets.extend(log.append("t", 0, vec![rec(&i.to_string())]).await.expect("append").offsets);
    }
    assert_eq!(offsets, (0..20).collect::<Vec<i64>>(), "no two appends share an offset");
    for log in [&a, &b] {
        let seen = values(&read_to_end(log, "t", 0, 0).await);
        assert_eq!(seen, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());
    }
    // A third instance (a reader process) sees it all.
    let c = EmbeddedLog::open(dir.path(), fast()).expect("c");
    assert_eq!(c.end_offsets("t").await.expect("end"), vec![20]);
}

#[tokio::test]
async fn corruption_in_the_middle_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = three_batches(dir.path()).await;
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes[8 + 12 + 10] ^= 0x55; // inside batch a's first record
    std::fs::write(&seg, &bytes).expect("write");
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    match log.read("t", 0, 0, 10).await {
        Err(LogError::Corrupt { location, reason }) => {
            assert!(location.contains(".log"), "{location}");
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Later batches are still readable.
    assert_eq!(values(&log.read("t", 0, 1, 10).await.expect("read")), vec!["b", "c", "d"]);
}

#[tokio::test]
async fn out_of_range_reads_are_errors() {
    let log = temp_log();
    log.create_topic("t", 1).await.expect("create");
    log.append("t", 0, vec![rec("a")]).await.expect("append");
    assert!(matches!(log.read("t", 0, 5, 1).await, Err(LogError::OffsetOutOfRange { end: 1, .. })));
    assert!(matches!(log.read("t", 0, -1, 1).await, Err(LogError::OffsetOutOfRange { .. })));
}

fn index_entries(idx: &Path) -> Vec<(i64, u64)> {
    let bytes = std::fs::read(idx).expect("read index");
    assert_eq!(bytes.len() % 16, 0, "whole entries");
    bytes
        .chunks_exact(16)
        .map(|c| (i64::from_le_bytes(c[..8].try_into().expect("8")), u64::from_le_bytes(c[8..].try_into().expect("8"))))
        .collect()
}

#[tokio::test]
async fn garbage_after_complete_batches_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = three_batches(dir.path()).await;
    let len = std::fs::metadata(&seg).expect("meta").len();
    let mut bytes = std::fs::read(&seg).expect("read");
    bytes.extend_from_slice(&[0xab; 100]);
    std::fs::write(&seg, &bytes).expect("write");
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(values(&read_to_end(&log, "t", 0, 0).await), vec!["a", "b", "c", "d"]);
    assert_eq!(std::fs::metadata(&seg).expect("meta").len(), len + 100, "reading never truncates");
    assert_eq!(log.append("t", 0, vec![rec("e")]).await.expect("append").offsets, vec![4]);
    let again = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(values(&read_to_end(&again, "t", 0, 0).await), vec!["a", "b", "c", "d", "e"]);
    let idx = index_entries(&seg.with_extension("idx"));
    assert_eq!(idx.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 1, 3, 4]);
}

#[tokio::test]
async fn readers_never_truncate_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = three_batches(dir.path()).await;
    let len = std::fs::metadata(&seg).expect("meta").len();
    let file = std::fs::OpenOptions::new().write(true).open(&seg).expect("open");
    file.set_len(len - 3).expect("truncate");
    let reader = EmbeddedLog::open(dir.path(), fast()).expect("reader");
    assert_eq!(reader.end_offsets("t").await.expect("end"), vec![3]);
    assert_eq!(values(&read_to_end(&reader, "t", 0, 0).await), vec!["a", "b", "c"]);
    assert!(reader.read("t", 0, 3, 10).await.expect("read at end").is_empty());
    assert_eq!(std::fs::metadata(&seg).expect("meta").len(), len - 3, "the reader left the file alone");
}

#[tokio::test]
async fn a_missing_index_entry_is_filled_in_not_left_as_a_hole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = three_batches(dir.path()).await;
    let idx = seg.with_extension("idx");
    // A crash between the segment write and the index write: the last entry never made it.
    let f = std::fs::OpenOptions::new().write(true).open(&idx).expect("open");
    f.set_len(2 * 16).expect("truncate index");
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(values(&log.read("t", 0, 3, 10).await.expect("read")), vec!["d"]);
    log.append("t", 0, vec![rec("e")]).await.expect("append");
    let entries = index_entries(&idx);
    assert_eq!(entries.iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 1, 3, 4]);
    assert!(entries.windows(2).all(|w| w[0].1 < w[1].1));
}

#[tokio::test]
async fn sealed_segment_indexes_are_rebuilt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions { segment_bytes: 150, fsync: FsyncPolicy::Never };
    {
        let log = EmbeddedLog::open(dir.path(), options.clone()).expect("open");
        log.create_topic("t", 1).await.expect("create");
        for i in 0..30 {
            log.append("t", 0, vec![rec(&format!("v{i:02}")), rec(&format!("w{i:02}"))]).await.expect("append");
        }
    }
    let part = dir.path().join("topics/t/0");
    let mut idx_files: Vec<PathBuf> = std::fs::read_dir(&part)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    idx_files.sort();
    assert!(idx_files.len() > 3);
    let originals: Vec<Vec<u8>> = idx_files.iter().map(|p| std::fs::read(p).expect("read")).collect();
    for p in &idx_files {
        std::fs::remove_file(p).expect("remove");
    }
    let log = EmbeddedLog::open(dir.path(), options).expect("reopen");
    let mid = log.read("t", 0, 33, 5).await.expect("read");
    assert_eq!(mid.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![33, 34, 35, 36, 37]);
    assert_eq!(read_to_end(&log, "t", 0, 0).await.len(), 60);
    log.append("t", 0, vec![rec("x")]).await.expect("append");
    for (p, original) in idx_files.iter().zip(&originals) {
        assert_eq!(&std::fs::read(p).expect("rebuilt"), original, "{} rebuilt identically", p.display());
    }
}

#[tokio::test]
async fn corruption_in_a_sealed_segment_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions { segment_bytes: 100, fsync: FsyncPolicy::Never };
    let log = EmbeddedLog::open(dir.path(), options.clone()).expect("open");
    log.create_topic("t", 1).await.expect("create");
    for i in 0..10 {
        log.append("t", 0, vec![rec(&format!("v{i}")), rec(&format!("w{i}"))]).await.expect("append");
    }
    drop(log);
    let first = dir.path().join("topics/t/0").join(format!("{:020}.log", 0));
    let mut bytes = std::fs::read(&first).expect("read");
    let n = bytes.len();
    bytes[n - 3] ^= 0x01;
    std::fs::write(&first, &bytes).expect("write");
    let log = EmbeddedLog::open(dir.path(), options).expect("reopen");
    // The read gives every record before the corrupt batch (the segment's last), then stops there.
    let before = log.read("t", 0, 0, 100).await.expect("the records before the damage");
    let damaged = before.next_offset;
    assert_eq!(before.records.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..damaged).collect::<Vec<_>>());
    assert!(damaged > 0 && damaged < 20, "the damage is inside the log: {damaged}");
    assert_eq!(before.end, crate::log::ReadEnd::MoreMayFollow);
    // Reading on from there is the error, naming the segment and the byte.
    match log.read("t", 0, damaged, 100).await {
        Err(LogError::Corrupt { location, .. }) => assert!(location.contains(".log at byte "), "{location}"),
        other => panic!("expected Corrupt at offset {damaged}, got {other:?}"),
    }
    assert_eq!(log.end_offsets("t").await.expect("end"), vec![20], "the end is unaffected");
}

#[tokio::test]
async fn instances_follow_each_others_rolls_and_repairs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions { segment_bytes: 120, fsync: FsyncPolicy::Never };
    let a = EmbeddedLog::open(dir.path(), options.clone()).expect("a");
    let b = EmbeddedLog::open(dir.path(), options.clone()).expect("b");
    a.create_topic("t", 1).await.expect("create");
    b.append("t", 0, vec![rec("b0")]).await.expect("b appends first");
    // b has the partition open; a rolls through several segments behind its back.
    for i in 0..12 {
        a.append("t", 0, vec![rec(&format!("a{i:02}")), rec(&format!("x{i:02}"))]).await.expect("append");
    }
    assert_eq!(b.end_offsets("t").await.expect("end"), vec![25]);
    assert_eq!(read_to_end(&b, "t", 0, 0).await.len(), 25);
    // A third writer dies mid-batch: a torn batch at the end of the active segment.
    let seg = segment(dir.path(), "t");
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).expect("open");
    std::io::Write::write_all(&mut f, &[200, 0, 0, 0, 1, 2, 3, 4, 5, 6]).expect("torn write");
    assert_eq!(a.end_offsets("t").await.expect("end"), vec![25], "an incomplete batch is not visible");
    let appended = b.append("t", 0, vec![rec("after")]).await.expect("b repairs and appends");
    assert_eq!(appended.offsets, vec![25]);
    let seen = read_to_end(&a, "t", 0, 0).await;
    assert_eq!(seen.len(), 26);
    assert!(seen.iter().enumerate().all(|(i, r)| r.offset == i as i64));
    assert_eq!(seen[25].value, Bytes::from_static(b"after"));
    assert_eq!(a.append("t", 0, vec![rec("last")]).await.expect("append").offsets, vec![26]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_run_alongside_an_appender() {
    let log = temp_log();
    log.create_topic("t", 1).await.expect("create");
    let writer = {
        let log = log.log.clone();
        tokio::spawn(async move {
            for b in 0..200 {
                let batch = (0..50).map(|i| rec(&(b * 50 + i).to_string())).collect();
                log.append("t", 0, batch).await.expect("append");
                tokio::task::yield_now().await;
            }
        })
    };
    let mut next = 0i64;
    while next < 10_000 {
        for r in log.read("t", 0, next, 333).await.expect("read") {
            assert_eq!(r.offset, next);
            assert_eq!(r.value, Bytes::from(next.to_string()));
            next += 1;
        }
        tokio::task::yield_now().await;
    }
    writer.await.expect("writer");
}

#[tokio::test]
async fn unrepresentable_records_are_refused_before_writing() {
    let log = temp_log();
    log.create_topic("t", 1).await.expect("create");
    let mut bad = rec("v");
    bad.headers = vec![Header { name: "h".into(), value: None }; 70_000];
    assert!(matches!(log.append("t", 0, vec![rec("ok"), bad]).await, Err(LogError::Unsupported(_))));
    assert_eq!(log.end_offsets("t").await.expect("end"), vec![0], "nothing of the batch was appended");
}

#[tokio::test]
async fn internal_topics_are_usable_but_not_listed() {
    let log = temp_log();
    log.create_topic("_trustloop_schemas", 1).await.expect("create internal");
    log.create_topic("visible", 2).await.expect("create");
    log.create_topic(".lock", 1).await.expect("a name that once collided with the lock file");
    log.append("_trustloop_schemas", 0, vec![rec("s")]).await.expect("append");
    assert_eq!(read_to_end(&*log, "_trustloop_schemas", 0, 0).await.len(), 1);
    let names: Vec<String> = log.list_topics().await.expect("list").into_iter().map(|t| t.name).collect();
    assert_eq!(names, vec![".lock", "visible"]);
}

fn arb_record() -> impl Strategy<Value = Record> {
    let bytes = |n| proptest::collection::vec(any::<u8>(), 0..n).prop_map(Bytes::from);
    let header = ("[a-z]{0,6}", proptest::option::of(bytes(8))).prop_map(|(name, value)| Header { name, value });
    (
        proptest::option::of(bytes(8)),
        bytes(64),
        proptest::option::of(any::<i64>()),
        proptest::collection::vec(header, 0..3),
    )
        .prop_map(|(key, value, timestamp_ms, headers)| Record { key, value, timestamp_ms, headers })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn random_batches_round_trip(
        batches in proptest::collection::vec(proptest::collection::vec(arb_record(), 1..20), 1..8),
        segment_bytes in prop_oneof![Just(128u64 << 20), 64u64..2048],
        chunk in 1usize..40,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
        rt.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let options = EmbeddedOptions { segment_bytes, fsync: FsyncPolicy::Never };
            let log = EmbeddedLog::open(dir.path(), options.clone()).expect("open");
            log.create_topic("p", 1).await.expect("create");
            let mut want = Vec::new();
            for b in &batches {
                want.extend(b.iter().cloned());
                log.append("p", 0, b.clone()).await.expect("append");
            }
            let check = |got: Vec<StoredRecord>| {
                assert_eq!(got.len(), want.len());
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.offset, i as i64);
                    assert_eq!((&g.key, &g.value, &g.headers), (&w.key, &w.value, &w.headers));
                    if let Some(ts) = w.timestamp_ms {
                        assert_eq!(g.timestamp_ms, ts);
                    }
                }
            };
            // In chunks that cut across batches (and the read cache), then reopened in one go.
            let mut got = Vec::new();
            while (got.len() as i64) < want.len() as i64 {
                got.extend(log.read("p", 0, got.len() as i64, chunk).await.expect("read"));
            }
            check(got);
            let reopened = EmbeddedLog::open(dir.path(), options).expect("reopen");
            check(reopened.read("p", 0, 0, usize::MAX).await.expect("read all").into_records());
        });
    }
}

/// Throughput check (run in release: `cargo test -p trustloop-connectors --release --lib embedded_throughput
/// -- --ignored --nocapture`): append ≥ 2 M/s and read ≥ 5 M/s, 200-byte values in batches of 10 k.
#[tokio::test]
#[ignore = "throughput measurement; run in release"]
async fn embedded_throughput() {
    const BATCH: usize = 10_000;
    const BATCHES: usize = 50;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = EmbeddedLog::open(dir.path(), fast()).expect("open");
    log.create_topic("bench", 1).await.expect("create");
    let value = Bytes::from(vec![b'x'; 200]);
    let template: Vec<Record> =
        (0..BATCH).map(|i| Record::new(Some(Bytes::from(format!("host-{i:05}"))), value.clone())).collect();
    let t = std::time::Instant::now();
    for _ in 0..BATCHES {
        log.append("bench", 0, template.clone()).await.expect("append");
    }
    let append_rate = (BATCH * BATCHES) as f64 / t.elapsed().as_secs_f64();
    let mut total = 0;
    let t = std::time::Instant::now();
    for round in 0..3 {
        let mut pos = 0i64;
        while pos < (BATCH * BATCHES) as i64 {
            let got = log.read("bench", 0, pos, if round == 2 { 1000 } else { BATCH }).await.expect("read");
            pos += got.len() as i64;
            total += got.len();
        }
    }
    let read_rate = total as f64 / t.elapsed().as_secs_f64();
    tracing::info!(append_rate, read_rate, "embedded throughput");
    eprintln!("append {:.2} M/s, read {:.2} M/s", append_rate / 1e6, read_rate / 1e6);
}

/// A batch over several partitions is seen whole or not at all: a reader (another instance, as a
/// second process would be, on a thread of its own) polling the ends while batches are appended
/// never finds the partitions at different batch counts, and every batch has a later log time than
/// the one before.
#[test]
fn batches_over_partitions_are_seen_whole() {
    const BATCHES: usize = 1_000;
    const PER_PARTITION: usize = 5;
    let block_on = |f| tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f);
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions { fsync: FsyncPolicy::Never, ..EmbeddedOptions::default() };
    let writer = EmbeddedLog::open(dir.path(), options.clone()).expect("writer");
    let reader = EmbeddedLog::open(dir.path(), options).expect("reader");
    block_on(Box::pin(async { writer.create_topic("t", 3).await.expect("create") }));
    let appending = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        for b in 0..BATCHES {
            let batch =
                (0..3u32).map(|p| (p, (0..PER_PARTITION).map(|i| rec(&format!("{b}-{p}-{i}"))).collect())).collect();
            rt.block_on(writer.append_batch("t", batch)).expect("append a batch");
        }
    });
    let mut seen = std::collections::BTreeSet::new();
    let rt = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    loop {
        let ends: Vec<i64> =
            rt.block_on(reader.offsets_of(&["t"])).expect("offsets")[0].iter().map(|o| o.end).collect();
        assert!(ends.iter().all(|e| *e == ends[0]), "a batch seen in part: ends {ends:?}");
        assert_eq!(ends[0] % PER_PARTITION as i64, 0, "a partition's part seen in part: {ends:?}");
        seen.insert(ends[0]);
        if ends[0] == (BATCHES * PER_PARTITION) as i64 {
            break;
        }
    }
    appending.join().expect("appender");
    // Not a given on a loaded machine, but with a thousand batches the reader sees some in between.
    assert!(seen.len() > 2, "the reader polled while the writer appended: {seen:?}");
    let times: Vec<i64> =
        rt.block_on(read_to_end(&reader, "t", 1, 0)).iter().step_by(PER_PARTITION).map(|r| r.timestamp_ms).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "log times strictly increase batch after batch");
}
