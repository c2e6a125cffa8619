//! The ledger's cost (#21): appending N records of 200 B to the embedded log, then checkpointing
//! them (reading each back, its leaf, its chain link, the tree) and verifying the log (the same
//! again, plus the checkpoint's signature), each timed over the same records, one core.
//!
//! `cargo bench -p trustloop-benches --bench ledger` (`TRUSTLOOP_LEDGER_RECORDS`, default 1,000,000;
//! `TRUSTLOOP_BENCH_DIR=/dev/shm` to leave the disk out).

use std::time::Instant;

use bytes::Bytes;
use trustloop_connectors::ledger::checkpointer::{CheckpointRequest, checkpoint};
use trustloop_connectors::ledger::verify::{VerifyRequest, verify_log};
use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
use trustloop_connectors::log::{EventLog, Header, Record};
use trustloop_schemas::transparency::checkpoint::NoteSigner;
use trustloop_schemas::{EventCodec, NoWriterSchemas};

const BATCH: usize = 10_000;
const PARTITIONS: u32 = 4;

fn main() {
    let records: usize =
        std::env::var("TRUSTLOOP_LEDGER_RECORDS").ok().and_then(|n| n.parse().ok()).unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let dir = match std::env::var("TRUSTLOOP_BENCH_DIR") {
        Ok(base) => tempfile::tempdir_in(base).expect("tempdir"),
        Err(_) => tempfile::tempdir().expect("tempdir"),
    };
    let log =
        EmbeddedLog::open(dir.path(), EmbeddedOptions { fsync: FsyncPolicy::Never, ..EmbeddedOptions::default() })
            .expect("open");
    rt.block_on(log.create_topic("bench", PARTITIONS)).expect("topic");
    let value = Bytes::from(vec![b'x'; 200]);
    let batch: Vec<Record> = (0..BATCH)
        .map(|i| {
            let mut r = Record::new(Some(Bytes::from(format!("host-{:05}", i % 10_000))), value.clone());
            r.headers.push(Header { name: "trustloop-seq".into(), value: Some(Bytes::from(i.to_string())) });
            r
        })
        .collect();
    let start = Instant::now();
    let mut appended = 0usize;
    let mut p = 0u32;
    while appended < records {
        rt.block_on(log.append("bench", p % PARTITIONS, batch.clone())).expect("append");
        appended += BATCH;
        p += 1;
    }
    let append = start.elapsed();
    let key = NoteSigner::from_seed("bench", &[7; 32]).expect("key");
    let codec = EventCodec::new();
    let req =
        CheckpointRequest { origin: Some("bench/log"), signer: &key, next_key: None, reason: "manual", now_ms: 1 };
    let start = Instant::now();
    let made = rt.block_on(checkpoint(&log, &codec, &NoWriterSchemas, &req)).expect("checkpoint");
    let chain = start.elapsed();
    assert_eq!(made.event.tree_size as usize, appended);
    let keys = [key.verifier()];
    let start = Instant::now();
    let report = rt
        .block_on(verify_log(&log, &codec, &NoWriterSchemas, &VerifyRequest { keys: &keys, origin: None }))
        .expect("verify");
    let verify = start.elapsed();
    assert!(report.is_ok(), "{}", report.render());
    let rate = |d: std::time::Duration| appended as f64 / d.as_secs_f64();
    println!("ledger: {appended} records of 200 B in {PARTITIONS} partitions");
    println!("  append (fsync never)        {:>8.0} ms  {:>12.0} records/s", append.as_secs_f64() * 1e3, rate(append));
    println!(
        "  checkpoint (chain + tree)   {:>8.0} ms  {:>12.0} records/s  ({:.0} % of the append time)",
        chain.as_secs_f64() * 1e3,
        rate(chain),
        100.0 * chain.as_secs_f64() / append.as_secs_f64()
    );
    println!("  log verify                  {:>8.0} ms  {:>12.0} records/s", verify.as_secs_f64() * 1e3, rate(verify));
}
