//! The tampering corpus on the embedded log: a log with three checkpoints, copied record by record
//! into a fresh log with one edit, must verify unedited and break where the edit is; and a byte
//! flipped inside a segment file with its batch's CRC recomputed (what CRC32C cannot catch).

use std::path::{Path, PathBuf};

use bytes::Bytes;
use trustloop_schemas::transparency::checkpoint::{Checkpoint, SignedNote};
use trustloop_schemas::{Event, EventCodec, NoWriterSchemas};

use super::conformance::{fill, make, signer, verify};
use super::verify::{BreakKind, LogVerification};
use super::{CHECKPOINTS_TOPIC, covered_topics};
use crate::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
use crate::log::{EventLog, PartitionReader, Record, StoredRecord};

pub(super) fn open(dir: &Path) -> EmbeddedLog {
    EmbeddedLog::open(dir, EmbeddedOptions { fsync: FsyncPolicy::Never, ..EmbeddedOptions::default() }).expect("open")
}

/// A log of two topics (three partitions) and three checkpoints, with records after the last.
pub(super) async fn original(dir: &Path) -> EmbeddedLog {
    let log = open(dir);
    let key = signer("log", 1);
    fill(&log, "inputs", 2, 6, "in").await;
    fill(&log, "verdicts", 1, 4, "v").await;
    make(&log, &key, 1_000).await;
    fill(&log, "inputs", 2, 3, "in2").await;
    make(&log, &key, 2_000).await;
    fill(&log, "verdicts", 1, 3, "v2").await;
    make(&log, &key, 3_000).await;
    fill(&log, "inputs", 2, 1, "in3").await;
    log
}

/// One edit of a log copied record by record.
#[derive(Debug, Clone)]
pub(super) enum Edit {
    /// Copy as it is.
    None,
    /// The value of the record at (topic, partition, index) gets one byte changed.
    Value(&'static str, u32, usize),
    /// The record at (topic, partition, index) is left out.
    Remove(&'static str, u32, usize),
    /// A record is inserted before (topic, partition, index).
    Insert(&'static str, u32, usize),
    /// Two records of a partition swap places.
    Swap(&'static str, u32, usize, usize),
    /// A partition keeps its first n records, then other records make it as long as it was.
    Regrow(&'static str, u32, usize),
    /// A partition loses its records from index n on.
    Truncate(&'static str, u32, usize),
    /// The checkpoint at this index is left out.
    DropCheckpoint(usize),
    /// The checkpoint at this index is appended again at the end (a rollback).
    ReplayCheckpoint(usize),
    /// The checkpoint at this index has its body re-signed by another key.
    Resign(usize),
    /// The checkpoint at this index claims another root, signed by another key.
    Replace(usize),
}

fn resign(value: &Bytes, edit_root: bool) -> Bytes {
    let codec = EventCodec::new();
    let Ok(Event::LogCheckpoint(mut c)) = codec.decode(value, &NoWriterSchemas) else { panic!("a checkpoint") };
    let note = SignedNote::parse(&c.note).expect("note");
    let mut body = Checkpoint::parse(&note.text).expect("body");
    if edit_root {
        body.root_hash[0] ^= 1;
    }
    c.note = body.sign(&[&signer("log", 9)]).expect("signs").to_string();
    Bytes::from(codec.encode(&Event::LogCheckpoint(c)).expect("encodes"))
}

async fn read(log: &dyn EventLog, topic: &str, partition: u32) -> Vec<StoredRecord> {
    PartitionReader::new(topic, partition, 0).read_all(log).await.expect("read")
}

fn record(r: &StoredRecord) -> Record {
    let mut out = Record::new(r.key.clone(), r.value.clone());
    out.timestamp_ms = Some(r.timestamp_ms);
    out.headers = r.headers.clone();
    out
}

/// Copies `src` into the empty log `dst`, applying `edit`.
pub(super) async fn copy(src: &dyn EventLog, dst: &dyn EventLog, edit: &Edit) {
    let mut topics = covered_topics(src).await.expect("topics");
    topics.push((CHECKPOINTS_TOPIC.to_string(), 1));
    for (topic, partitions) in topics {
        dst.create_topic(&topic, partitions).await.expect("create");
        for p in 0..partitions {
            let mut rs: Vec<Record> = read(src, &topic, p).await.iter().map(record).collect();
            let here = |t: &str, q: u32| t == topic && q == p;
            match edit.clone() {
                Edit::Value(t, q, i) if here(t, q) => {
                    let mut v = rs[i].value.to_vec();
                    v[0] ^= 0x20;
                    rs[i].value = Bytes::from(v);
                }
                Edit::Remove(t, q, i) if here(t, q) => {
                    rs.remove(i);
                }
                Edit::Insert(t, q, i) if here(t, q) => rs.insert(i, Record::new(None, Bytes::from_static(b"forged"))),
                Edit::Swap(t, q, i, j) if here(t, q) => rs.swap(i, j),
                Edit::Regrow(t, q, n) if here(t, q) => {
                    for (k, r) in rs.iter_mut().enumerate().skip(n) {
                        r.value = Bytes::from(format!("regrown-{k}"));
                    }
                }
                Edit::Truncate(t, q, n) if here(t, q) => rs.truncate(n),
                Edit::DropCheckpoint(i) if topic == CHECKPOINTS_TOPIC => {
                    rs.remove(i);
                }
                Edit::ReplayCheckpoint(i) if topic == CHECKPOINTS_TOPIC => {
                    let again = rs[i].clone();
                    rs.push(again);
                }
                Edit::Resign(i) if topic == CHECKPOINTS_TOPIC => rs[i].value = resign(&rs[i].value, false),
                Edit::Replace(i) if topic == CHECKPOINTS_TOPIC => rs[i].value = resign(&rs[i].value, true),
                _ => {}
            }
            if !rs.is_empty() {
                dst.append(&topic, p, rs).await.expect("append");
            }
        }
    }
}

async fn tampered(edit: Edit) -> LogVerification {
    let (a, b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let src = original(a.path()).await;
    let dst = open(b.path());
    copy(&src, &dst, &edit).await;
    verify(&dst, &[&signer("log", 1)]).await
}

/// Asserts a break of `kind` on `topic/partition` whose offsets hold `offset` (or on the
/// checkpoints, when `topic` is `None`).
fn assert_break(v: &LogVerification, kind: BreakKind, topic: Option<(&str, u32)>, offset: Option<i64>) {
    let found = v.breaks.iter().any(|b| {
        b.kind == kind
            && topic.is_none_or(|(t, p)| b.topic.as_deref() == Some(t) && b.partition == Some(p))
            && offset.is_none_or(|o| b.offsets.is_some_and(|(from, to)| from <= o && o < to))
    });
    assert!(found, "expected a {kind:?} break at {topic:?} offset {offset:?}:\n{}", v.render());
}

#[test]
fn checkpoint_events_live_on_the_checkpoints_topic() {
    assert_eq!(trustloop_schemas::EventType::LogCheckpoint.topic(), CHECKPOINTS_TOPIC);
}

#[tokio::test]
async fn an_unedited_copy_verifies() {
    let v = tampered(Edit::None).await;
    assert!(v.is_ok(), "{}", v.render());
    assert_eq!((v.checkpoints, v.signed), (3, 3));
    assert_eq!(v.records, 12 + 6 + 7, "{}", v.render());
    assert_eq!(v.uncovered.len(), 2, "the records after the last checkpoint: {}", v.render());
}

#[tokio::test]
async fn every_tampering_is_found_where_it_is() {
    // inputs/1 holds 6 records in checkpoint 1 (offsets 0..6) and 3 more in checkpoint 2 (6..9).
    let v = tampered(Edit::Value("inputs", 1, 4)).await;
    assert_break(&v, BreakKind::Chain, Some(("inputs", 1)), Some(4));
    assert_eq!(v.breaks.iter().filter(|b| b.kind == BreakKind::Chain).count(), 1, "{}", v.render());

    let v = tampered(Edit::Value("verdicts", 0, 5)).await;
    assert_break(&v, BreakKind::Chain, Some(("verdicts", 0)), Some(5));

    // Removing or inserting a record moves every record after it to another offset.
    let v = tampered(Edit::Remove("inputs", 0, 2)).await;
    assert_break(&v, BreakKind::Chain, Some(("inputs", 0)), Some(2));
    assert_break(&v, BreakKind::Chain, Some(("inputs", 0)), Some(7));

    let v = tampered(Edit::Insert("inputs", 0, 7)).await;
    assert_break(&v, BreakKind::Chain, Some(("inputs", 0)), Some(7));
    assert!(
        !v.breaks.iter().any(|b| b.offsets.is_some_and(|(_, to)| to <= 6)),
        "checkpoint 1's span is intact: {}",
        v.render()
    );

    let v = tampered(Edit::Swap("verdicts", 0, 0, 1)).await;
    assert_break(&v, BreakKind::Chain, Some(("verdicts", 0)), Some(0));

    let v = tampered(Edit::Regrow("inputs", 1, 7)).await;
    assert_break(&v, BreakKind::Chain, Some(("inputs", 1)), Some(7));
    assert!(
        !v.breaks.iter().any(|b| b.offsets.is_some_and(|(_, to)| to <= 6)),
        "checkpoint 1's span is intact: {}",
        v.render()
    );

    let v = tampered(Edit::Truncate("verdicts", 0, 5)).await;
    assert_break(&v, BreakKind::Truncated, Some(("verdicts", 0)), Some(5));

    let v = tampered(Edit::DropCheckpoint(1)).await;
    assert_break(&v, BreakKind::Sequence, None, None);

    let v = tampered(Edit::ReplayCheckpoint(0)).await;
    assert_break(&v, BreakKind::Sequence, None, None);
    assert_break(&v, BreakKind::Tree, None, None);

    let v = tampered(Edit::Resign(1)).await;
    assert_break(&v, BreakKind::Signature, None, None);
    assert_eq!(v.signed, 2, "{}", v.render());

    let v = tampered(Edit::Replace(2)).await;
    assert_break(&v, BreakKind::Signature, None, None);
}

/// Finds `needle` in the segment files of `topic/partition` and changes its first byte, then
/// recomputes the CRC32C of the batch holding it, as an attacker who knows the format would.
fn flip_on_disk(dir: &Path, topic: &str, partition: u32, needle: &[u8]) -> PathBuf {
    let part = dir.join("topics").join(topic).join(partition.to_string());
    for entry in std::fs::read_dir(&part).expect("partition dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "log") {
            continue;
        }
        let mut bytes = std::fs::read(&path).expect("segment");
        let Some(at) = bytes.windows(needle.len()).position(|w| w == needle) else { continue };
        bytes[at] ^= 0x20;
        let mut pos = 0usize;
        while pos + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let body = pos + 8..pos + 8 + len;
            if body.contains(&at) {
                let crc = crc32c::crc32c(&bytes[body]);
                bytes[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
                std::fs::write(&path, &bytes).expect("write");
                return path;
            }
            pos = body.end;
        }
    }
    panic!("{needle:?} not found in {}", part.display());
}

#[tokio::test]
async fn a_byte_flipped_on_disk_with_its_crc_recomputed_is_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(original(dir.path()).await);
    flip_on_disk(dir.path(), "inputs", 0, b"in2-0-1");
    let log = open(dir.path());
    // The log itself reads the edited record without complaint: the CRC matches.
    let records = read(&log, "inputs", 0).await;
    assert_eq!(&records[7].value[..], b"In2-0-1");
    let v = verify(&log, &[&signer("log", 1)]).await;
    assert_break(&v, BreakKind::Chain, Some(("inputs", 0)), Some(7));
    assert_eq!(v.breaks.iter().filter(|b| b.topic.is_some()).count(), 1, "{}", v.render());
}

#[tokio::test]
async fn a_corrupt_batch_is_a_data_break_with_its_location() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(original(dir.path()).await);
    // Flip a byte without fixing the CRC: the log refuses the batch and says where.
    let part = dir.path().join("topics").join("verdicts").join("0");
    let seg = std::fs::read_dir(&part)
        .expect("dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "log"))
        .expect("segment");
    let mut bytes = std::fs::read(&seg).expect("read");
    let at = bytes.windows(5).position(|w| w == b"v-0-2").expect("value");
    bytes[at] ^= 0x20;
    std::fs::write(&seg, &bytes).expect("write");
    let v = verify(&open(dir.path()), &[&signer("log", 1)]).await;
    assert_break(&v, BreakKind::Data, Some(("verdicts", 0)), Some(2));
    let b = v.breaks.iter().find(|b| b.kind == BreakKind::Data).expect("data break");
    assert!(b.detail.contains(".log"), "names the segment file: {}", b.detail);
}
