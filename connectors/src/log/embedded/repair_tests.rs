//! `repair` on real segments: what is quarantined is exactly the damaged bytes, everything else is
//! kept byte for byte, readers step over the gap, and a second repair finds nothing.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use super::*;
use crate::log::conformance::read_to_end;
use crate::log::{PartitionReader, ReadEnd, StoredRecord};

fn fast() -> EmbeddedOptions {
    EmbeddedOptions { fsync: FsyncPolicy::Never, ..EmbeddedOptions::default() }
}

fn rec(v: &str) -> Record {
    Record::new(Some(Bytes::from_static(b"k")), Bytes::copy_from_slice(v.as_bytes()))
}

fn values(records: &[StoredRecord]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8_lossy(&r.value).into_owned()).collect()
}

fn offsets(records: &[StoredRecord]) -> Vec<i64> {
    records.iter().map(|r| r.offset).collect()
}

fn segments(dir: &Path, topic: &str) -> Vec<PathBuf> {
    let part = dir.join("topics").join(topic).join("0");
    let mut logs: Vec<PathBuf> = std::fs::read_dir(&part)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    logs
}

/// Byte positions of the batches of a segment, by their length fields, and the file length.
fn batch_starts(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 8 <= bytes.len() {
        out.push(pos);
        pos += 8 + u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4")) as usize;
    }
    out.push(bytes.len());
    out
}

/// Appends batches `[a] [b c] [d] [e]` to topic `topic` (one partition) and closes the log.
async fn four_batches(dir: &Path, topic: &str) -> PathBuf {
    let log = EmbeddedLog::open(dir, fast()).expect("open");
    log.create_topic(topic, 1).await.expect("create");
    for batch in [vec!["a"], vec!["b", "c"], vec!["d"], vec!["e"]] {
        log.append(topic, 0, batch.into_iter().map(rec).collect()).await.expect("append");
    }
    segments(dir, topic).pop().expect("a segment")
}

fn index_entries(idx: &Path) -> Vec<(i64, u64)> {
    std::fs::read(idx)
        .expect("index")
        .chunks_exact(16)
        .map(|c| (i64::from_le_bytes(c[..8].try_into().expect("8")), u64::from_le_bytes(c[8..].try_into().expect("8"))))
        .collect()
}

fn repair_now(dir: &Path) -> RepairReport {
    repair(dir, RepairOptions::default()).expect("repair")
}

#[tokio::test]
async fn a_corrupt_batch_in_the_middle_is_quarantined_and_read_around() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = four_batches(dir.path(), "t").await;
    let mut bytes = std::fs::read(&seg).expect("read");
    let starts = batch_starts(&bytes);
    // A byte of "b" flipped, the CRC left as it was.
    let at = starts[1] + bytes[starts[1]..starts[2]].iter().position(|&b| b == b'b').expect("b");
    bytes[at] ^= 0x20;
    std::fs::write(&seg, &bytes).expect("write");
    let damaged = bytes[starts[1]..starts[2]].to_vec();

    let report = repair_now(dir.path());
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let f = &report.findings[0];
    assert_eq!((f.topic.as_str(), f.partition, f.kind), ("t", 0, FindingKind::Corrupt));
    assert_eq!((f.position, f.length), (starts[1] as u64, damaged.len() as u64));
    assert_eq!((f.offsets, f.records, f.gap, f.at_offset), (Some((1, 3)), Some(2), Some((1, 3)), 1));
    assert!(f.reason.contains("checksum mismatch"), "{}", f.reason);
    assert_eq!(f.segment, seg);
    let q = f.quarantine.clone().expect("a quarantine file");
    assert!(q.starts_with(dir.path().join("quarantine/t/0")), "{}", q.display());
    assert_eq!(std::fs::read(&q).expect("quarantine file"), damaged, "the quarantine holds the bytes exactly");
    assert!(q.with_extension("json").exists(), "with what was wrong beside it");
    assert_eq!(report.gaps, vec![RecordedGap { topic: "t".into(), partition: 0, from: 1, to: 3 }]);
    assert!(f.describe().contains(&format!("at byte {}", starts[1])), "{}", f.describe());

    // Every other batch, byte for byte, and an index that matches.
    let mut kept = bytes[..starts[1]].to_vec();
    kept.extend_from_slice(&bytes[starts[2]..]);
    assert_eq!(std::fs::read(&seg).expect("segment"), kept);
    let d_at = starts[1] as u64;
    let e_at = d_at + (starts[4] - starts[3]) as u64;
    assert_eq!(index_entries(&seg.with_extension("idx")), vec![(0, 0), (3, d_at), (4, e_at)]);

    // Readers step over the gap, and say so in the next offset.
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    let all = read_to_end(&log, "t", 0, 0).await;
    assert_eq!((values(&all), offsets(&all)), (vec!["a".into(), "d".into(), "e".into()], vec![0, 3, 4]));
    let whole = log.read("t", 0, 0, 100).await.expect("one read over the gap");
    assert_eq!((offsets(&whole), whole.next_offset, whole.end), (vec![0, 3, 4], 5, ReadEnd::AtEnd));
    let inside = log.read("t", 0, 2, 1).await.expect("a read inside the gap");
    assert_eq!((offsets(&inside), inside.next_offset), (vec![3], 4));
    let up_to = log.read("t", 0, 0, 1).await.expect("a read that stops at the gap");
    assert_eq!((offsets(&up_to), up_to.next_offset, up_to.end), (vec![0], 3, ReadEnd::MoreMayFollow));
    let mut one_by_one = PartitionReader::new("t", 0, 0).chunk(1);
    assert_eq!(offsets(&one_by_one.read_all(&log).await.expect("read")), vec![0, 3, 4]);
    let mut seen = Vec::new();
    let next = log
        .scan("t", 0, 0, i64::MAX, &mut |r| {
            seen.push(r.offset);
            std::ops::ControlFlow::Continue(())
        })
        .await
        .expect("scan");
    assert_eq!((seen, next), (vec![0, 3, 4], 5), "one scan over the gap");
    let next = log.scan("t", 0, 1, 3, &mut |_| std::ops::ControlFlow::Continue(())).await.expect("scan");
    assert_eq!(next, 3, "a scan that ends inside the gap goes to its bound");
    assert_eq!(log.end_offsets("t").await.expect("end"), vec![5]);
    assert_eq!(log.append("t", 0, vec![rec("f")]).await.expect("append").offsets, vec![5]);
    drop(log);

    let again = repair_now(dir.path());
    assert!(again.is_clean(), "{again:#?}");
    assert_eq!(std::fs::read(&q).expect("quarantine file"), damaged, "a second repair leaves the quarantine alone");
}

#[tokio::test]
async fn a_torn_tail_is_quarantined_and_its_offsets_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = four_batches(dir.path(), "t").await;
    let bytes = std::fs::read(&seg).expect("read");
    let starts = batch_starts(&bytes);
    let torn = &bytes[..bytes.len() - 3];
    std::fs::write(&seg, torn).expect("write");

    let report = repair_now(dir.path());
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let f = &report.findings[0];
    assert_eq!(
        (f.kind, f.position, f.length),
        (FindingKind::TornTail, starts[3] as u64, (torn.len() - starts[3]) as u64)
    );
    assert_eq!((f.offsets, f.gap), (Some((4, 5)), None), "the last batch's offsets are no gap");
    assert!(report.gaps.is_empty());
    let q = f.quarantine.clone().expect("quarantined");
    assert_eq!(std::fs::read(&q).expect("quarantine"), &torn[starts[3]..]);
    assert_eq!(std::fs::read(&seg).expect("segment"), &bytes[..starts[3]]);
    assert!(!dir.path().join("topics/t/0/gaps.json").exists());

    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(values(&read_to_end(&log, "t", 0, 0).await), vec!["a", "b", "c", "d"]);
    assert_eq!(log.append("t", 0, vec![rec("e2")]).await.expect("append").offsets, vec![4]);
    drop(log);
    assert!(repair_now(dir.path()).is_clean());
}

#[tokio::test]
async fn a_garbage_length_field_is_quarantined_up_to_the_next_good_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = four_batches(dir.path(), "t").await;
    let mut bytes = std::fs::read(&seg).expect("read");
    let starts = batch_starts(&bytes);
    // Batch [b c]'s length says 16 MiB: the reader cannot frame anything after it.
    bytes[starts[1]..starts[1] + 4].copy_from_slice(&(16u32 << 20).to_le_bytes());
    std::fs::write(&seg, &bytes).expect("write");
    let before = EmbeddedLog::open(dir.path(), fast()).expect("open");
    assert!(matches!(before.read("t", 0, 1, 10).await, Err(LogError::Corrupt { .. })));
    drop(before);

    let report = repair_now(dir.path());
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let f = &report.findings[0];
    assert_eq!((f.position, f.length), (starts[1] as u64, (starts[2] - starts[1]) as u64));
    assert_eq!(
        (f.gap, f.offsets, f.records),
        (Some((1, 3)), Some((1, 3)), Some(2)),
        "the prefix after the length holds"
    );
    assert_eq!(std::fs::read(f.quarantine.as_ref().expect("file")).expect("read"), &bytes[starts[1]..starts[2]]);
    let mut kept = bytes[..starts[1]].to_vec();
    kept.extend_from_slice(&bytes[starts[2]..]);
    assert_eq!(std::fs::read(&seg).expect("segment"), kept);
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(values(&read_to_end(&log, "t", 0, 0).await), vec!["a", "d", "e"]);
}

#[tokio::test]
async fn a_dry_run_changes_nothing_and_runs_beside_an_open_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = four_batches(dir.path(), "t").await;
    let mut bytes = std::fs::read(&seg).expect("read");
    let starts = batch_starts(&bytes);
    bytes[starts[2] + 30] ^= 1;
    std::fs::write(&seg, &bytes).expect("write");
    let snapshot = || {
        let mut files = Vec::new();
        let mut stack = vec![dir.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("dir").filter_map(Result::ok) {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    files.push((e.path(), std::fs::read(e.path()).expect("file")));
                }
            }
        }
        files.sort();
        files
    };
    let open = EmbeddedLog::open(dir.path(), fast()).expect("a log open in this process");
    let before = snapshot();
    let report = repair(dir.path(), RepairOptions { dry_run: true }).expect("dry run");
    assert!(report.dry_run);
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    assert_eq!(report.findings[0].position, starts[2] as u64);
    assert_eq!(snapshot(), before, "a dry run changes nothing");
    // A real repair refuses while the log is open anywhere.
    match repair(dir.path(), RepairOptions::default()) {
        Err(LogError::Busy(why)) => assert!(why.contains("open in another process"), "{why}"),
        other => panic!("expected Busy, got {other:?}"),
    }
    drop(open);
    // And while a repair holds the log, it cannot be opened.
    let held = super::lock_open(dir.path(), true).expect("exclusive");
    assert!(matches!(EmbeddedLog::open(dir.path(), fast()), Err(LogError::Busy(_))));
    drop(held);
    assert_eq!(repair_now(dir.path()).findings.len(), 1);
}

#[tokio::test]
async fn internal_topics_and_sealed_segments_are_repaired_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions { segment_bytes: 60, fsync: FsyncPolicy::Never };
    {
        let log = EmbeddedLog::open(dir.path(), options.clone()).expect("open");
        log.create_topic("_trustloop_schemas", 1).await.expect("create");
        for i in 0..6 {
            log.append("_trustloop_schemas", 0, vec![rec(&format!("s{i}")), rec(&format!("z{i}"))])
                .await
                .expect("append");
        }
    }
    let segs = segments(dir.path(), "_trustloop_schemas");
    assert!(segs.len() >= 3, "{segs:?}");
    // The whole of a sealed segment damaged: it is emptied, and its offsets become a gap that
    // spans to the next segment.
    let victim = &segs[1];
    let mut bytes = std::fs::read(victim).expect("read");
    let starts = batch_starts(&bytes);
    for w in starts.windows(2) {
        bytes[w[0] + 30] ^= 1;
    }
    std::fs::write(victim, &bytes).expect("write");
    let original_first = std::fs::read(&segs[0]).expect("read");

    let report = repair_now(dir.path());
    assert!(!report.findings.is_empty());
    assert!(report.findings.iter().all(|f| f.topic == "_trustloop_schemas" && f.segment == *victim));
    let quarantined: Vec<u8> =
        report.findings.iter().flat_map(|f| std::fs::read(f.quarantine.as_ref().expect("q")).expect("read")).collect();
    assert_eq!(quarantined, bytes, "the quarantine files hold the segment's bytes, in order");
    assert_eq!(std::fs::read(victim).expect("segment").len(), 0);
    assert_eq!(std::fs::read(&segs[0]).expect("untouched"), original_first);
    let (from, to) = (report.gaps[0].from, report.gaps[0].to);
    assert_eq!(report.gaps.len(), 1);

    let log = EmbeddedLog::open(dir.path(), options).expect("reopen");
    let all = read_to_end(&log, "_trustloop_schemas", 0, 0).await;
    assert_eq!(offsets(&all), (0..12).filter(|o| !(from..to).contains(o)).collect::<Vec<_>>());
    let inside = log.read("_trustloop_schemas", 0, from, 1).await.expect("inside");
    assert_eq!(inside.first().map(|r| r.offset), Some(to), "{inside:?}");
    drop(log);
    assert!(repair_now(dir.path()).is_clean());
}

#[tokio::test]
async fn offsets_a_batch_took_with_it_become_a_gap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = four_batches(dir.path(), "t").await;
    let bytes = std::fs::read(&seg).expect("read");
    let starts = batch_starts(&bytes);
    // Batch [b c] cut out whole: every CRC verifies, but offsets 1 and 2 are gone.
    let mut cut = bytes[..starts[1]].to_vec();
    cut.extend_from_slice(&bytes[starts[2]..]);
    std::fs::write(&seg, &cut).expect("write");
    std::fs::remove_file(seg.with_extension("idx")).expect("no index");
    let log = EmbeddedLog::open(dir.path(), fast()).expect("open");
    assert!(log.read("t", 0, 0, 10).await.is_ok_and(|b| values(&b) == ["a"]), "a jump is not read over silently");
    drop(log);

    let report = repair_now(dir.path());
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let f = &report.findings[0];
    assert_eq!(
        (f.kind, f.offsets, f.quarantine.as_ref(), f.length),
        (FindingKind::MissingOffsets, Some((1, 3)), None, 0)
    );
    assert_eq!(std::fs::read(&seg).expect("segment"), cut, "nothing to move, nothing rewritten");
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(values(&read_to_end(&log, "t", 0, 0).await), vec!["a", "d", "e"]);
}

/// A writer opening a partition whose index lags its segment (entries never saved) and finding a
/// bad batch with intact ones after it refuses to append instead of truncating them as a torn tail:
/// nothing is lost, and `log repair` then moves only the bad batch aside.
#[tokio::test]
async fn a_corrupt_batch_before_unindexed_intact_ones_is_no_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = four_batches(dir.path(), "t").await;
    let mut bytes = std::fs::read(&seg).expect("read");
    let starts = batch_starts(&bytes);
    let at = starts[1] + bytes[starts[1]..starts[2]].iter().position(|&b| b == b'b').expect("b");
    bytes[at] = b'B';
    std::fs::write(&seg, &bytes).expect("write");
    // The index holds only the first batch, as if the writer had died before saving the rest.
    let idx = seg.with_extension("idx");
    let entries = index_entries(&idx);
    assert_eq!(entries.len(), 4, "one entry per batch: {entries:?}");
    std::fs::write(&idx, &std::fs::read(&idx).expect("index")[..16]).expect("write index");

    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    let err = log.append("t", 0, vec![rec("f")]).await.expect_err("the append is refused");
    let text = err.to_string();
    assert!(matches!(err, LogError::Corrupt { .. }), "{err:?}");
    assert!(text.contains(&format!("at byte {}", starts[1])), "{text}");
    assert!(text.contains("2 intact batches follow it") && text.contains("trustloop log repair"), "{text}");
    assert_eq!(std::fs::read(&seg).expect("segment"), bytes, "nothing truncated");
    drop(log);

    let report = repair_now(dir.path());
    assert_eq!(report.findings.len(), 1, "{report:#?}");
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(values(&read_to_end(&log, "t", 0, 0).await), vec!["a", "d", "e"]);
    assert_eq!(log.append("t", 0, vec![rec("f")]).await.expect("append").offsets, vec![5]);
}

/// A truncated last batch is still a torn tail: the next writer truncates it and goes on.
#[tokio::test]
async fn a_torn_last_batch_is_truncated_by_the_next_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let seg = four_batches(dir.path(), "t").await;
    let bytes = std::fs::read(&seg).expect("read");
    let starts = batch_starts(&bytes);
    std::fs::write(&seg, &bytes[..bytes.len() - 3]).expect("write");
    let log = EmbeddedLog::open(dir.path(), fast()).expect("reopen");
    assert_eq!(log.append("t", 0, vec![rec("e2")]).await.expect("append").offsets, vec![4]);
    assert_eq!(values(&read_to_end(&log, "t", 0, 0).await), vec!["a", "b", "c", "d", "e2"]);
    assert_eq!(&std::fs::read(&seg).expect("segment")[..starts[3]], &bytes[..starts[3]]);
}
