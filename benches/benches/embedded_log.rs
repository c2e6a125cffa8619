//! Embedded log throughput: append and read of 200-byte events in batches of 10 k, one core.
//!
//! `cargo bench -p trustloop-benches --bench embedded_log`

use bytes::Bytes;
use trustloop_benches::measure;
use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
use trustloop_connectors::log::{EventLog, Record};

const BATCH: usize = 10_000;
const VALUE: usize = 200;

fn batch(n: usize) -> Vec<Record> {
    let value = Bytes::from(vec![b'x'; VALUE]);
    (0..n).map(|i| Record::new(Some(Bytes::from(format!("host-{:05}", i % 10_000))), value.clone())).collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let template = batch(BATCH);
    for (label, fsync) in [("fsync never", FsyncPolicy::Never), ("fsync every batch", FsyncPolicy::Always)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = EmbeddedLog::open(dir.path(), EmbeddedOptions { fsync, ..EmbeddedOptions::default() }).expect("open");
        rt.block_on(log.create_topic("bench", 1)).expect("topic");
        measure(&format!("embedded append, 200 B, batch 10k, {label}"), BATCH as u64, || {
            rt.block_on(log.append("bench", 0, template.clone())).expect("append");
            (BATCH * VALUE) as u64
        });
        if matches!(fsync, FsyncPolicy::Never) {
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
    }
}
