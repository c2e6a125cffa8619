//! `evidence verify`'s cost (#21): the bundle of a verdict over 5,000 findings
//! (`TRUSTLOOP_EVIDENCE_FINDINGS`), exported once, then read from its JSON and verified (signatures,
//! the multi-leaf proof, the decision re-run) several times; prints the bundle's size and each
//! verification's time. Target: ≤ 2 MB and ≤ 50 ms.
//!
//! `cargo bench -p trustloop-benches --bench evidence`

use std::time::Instant;

use trustloop_replay::History;
use trustloop_replay::evidence::{Bundle, export, verify};
use trustloop_schemas::transparency::dsse::DsseVerifier;
use trustloop_schemas::{EventCodec, NoWriterSchemas};

#[path = "../../replay/tests/support/big_verdict.rs"]
mod big_verdict;

const RUNS: usize = 5;

fn main() {
    let findings: usize =
        std::env::var("TRUSTLOOP_EVIDENCE_FINDINGS").ok().and_then(|n| n.parse().ok()).unwrap_or(5_000);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let big = rt.block_on(big_verdict::big_verdict(findings));
    let codec = EventCodec::new();
    let history = History { log: &big.log, codec: &codec, writers: &NoWriterSchemas };
    let start = Instant::now();
    let bundle = rt.block_on(export(history, &big.verdict, &big.key.dsse_signer())).expect("exports");
    let exported = start.elapsed();
    let text = serde_json::to_string_pretty(&bundle).expect("json");
    let dsse = DsseVerifier::from_public_key(&big.key.verifier().public_key()).expect("key");
    println!("evidence: a verdict over {findings} findings, {} records", bundle.record_count());
    println!("  bundle                {:>10} bytes", text.len());
    println!("  export                {:>10.1} ms", exported.as_secs_f64() * 1e3);
    for run in 1..=RUNS {
        let start = Instant::now();
        let read: Bundle = serde_json::from_str(&text).expect("reads");
        let report = verify(&read, std::slice::from_ref(&dsse), &big.key.verifier());
        let took = start.elapsed();
        assert!(report.is_ok(), "{report:?}");
        println!("  verify (run {run})      {:>10.1} ms", took.as_secs_f64() * 1e3);
    }
    drop(big.dir);
}
