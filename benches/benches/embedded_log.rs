//! Embedded log throughput: append and read of 200-byte events in batches of 10 k, one core.
//!
//! `cargo bench -p trustloop-benches --bench embedded_log`
//! (`TRUSTLOOP_BENCH_DIR=/dev/shm` to measure the log without the disk.)
//!
//! The append rounds start a fresh log every 50 batches (~100 MB) and delete the old one, so the
//! figures measure steady-state appends into recycled page cache instead of this virtual machine
//! faulting in fresh memory for an ever-growing file.

use bytes::Bytes;
use trustloop_benches::measure;
use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
use trustloop_connectors::log::{EventLog, Record};

const BATCH: usize = 10_000;
const VALUE: usize = 200;
const BATCHES_PER_LOG: u32 = 50;

fn batch(n: usize) -> Vec<Record> {
    let value = Bytes::from(vec![b'x'; VALUE]);
    (0..n).map(|i| Record::new(Some(Bytes::from(format!("host-{:05}", i % 10_000))), value.clone())).collect()
}

fn temp_dir() -> tempfile::TempDir {
    match std::env::var("TRUSTLOOP_BENCH_DIR") {
        Ok(base) => tempfile::tempdir_in(base).expect("tempdir"),
        Err(_) => tempfile::tempdir().expect("tempdir"),
    }
}

fn open(rt: &tokio::runtime::Runtime, fsync: FsyncPolicy) -> (tempfile::TempDir, EmbeddedLog) {
    let dir = temp_dir();
    let log = EmbeddedLog::open(dir.path(), EmbeddedOptions { fsync, ..EmbeddedOptions::default() }).expect("open");
    rt.block_on(log.create_topic("bench", 1)).expect("topic");
    (dir, log)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let template = batch(BATCH);
    for (label, fsync) in [("fsync never", FsyncPolicy::Never), ("fsync every batch", FsyncPolicy::Always)] {
        let mut current = Some(open(&rt, fsync));
        let mut appended = 0u32;
        measure(&format!("embedded append, 200 B, batch 10k, {label}"), BATCH as u64, || {
            if appended == BATCHES_PER_LOG {
                current = None; // drop the log and delete its files first
                current = Some(open(&rt, fsync));
                appended = 0;
            }
            appended += 1;
            if let Some((_, log)) = &current {
                rt.block_on(log.append("bench", 0, template.clone())).expect("append");
            }
            (BATCH * VALUE) as u64
        });
    }
    // Reads: a log of 50 batches, read round and round.
    let (_dir, log) = open(&rt, FsyncPolicy::Never);
    for _ in 0..BATCHES_PER_LOG {
        rt.block_on(log.append("bench", 0, template.clone())).expect("append");
    }
    let end = rt.block_on(log.end_offsets("bench")).expect("end")[0];
    let mut pos = 0i64;
    measure("embedded read, 200 B, 10k per read", BATCH as u64, || {
        if pos + BATCH as i64 > end {
            pos = 0;
        }
        let records = rt.block_on(log.read("bench", 0, pos, BATCH)).expect("read");
        pos += records.len() as i64;
        records.iter().map(|r| r.value.len() as u64).sum()
    });
}
