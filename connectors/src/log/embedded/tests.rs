use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::log::conformance::read_to_end;

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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_batches_round_trip(batches in proptest::collection::vec(
        proptest::collection::vec((proptest::option::of(proptest::collection::vec(any::<u8>(), 0..8)),
                                    proptest::collection::vec(any::<u8>(), 0..64)), 1..20), 1..8)) {
        let rt = tokio::runtime::Builder::new_current_thread().build().expect("rt");
        rt.block_on(async {
            let log = temp_log();
            log.create_topic("p", 1).await.expect("create");
            let mut want = Vec::new();
            for b in &batches {
                let records: Vec<Record> = b.iter().map(|(k, v)| Record::new(k.clone().map(Bytes::from), v.clone())).collect();
                want.extend(records.iter().map(|r| (r.key.clone(), r.value.clone())));
                log.append("p", 0, records).await.expect("append");
            }
            let got: Vec<_> = read_to_end(&*log, "p", 0, 0).await.into_iter().map(|r| (r.key, r.value)).collect();
            assert_eq!(got, want);
        });
    }
}
