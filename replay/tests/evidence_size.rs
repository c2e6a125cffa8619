//! The bundle-size target of issue #21: the evidence of a verdict over 5,000 findings is at most
//! 2 MB, and verifies offline (every record proven, the decision re-run to the same verdict); a
//! flipped bit in its shared proof proves nothing. The log: `support/big_verdict.rs`. Run with
//! `--nocapture` to see the size (times are measured by `benches/benches/evidence.rs`).

use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use trustloop_replay::History;
use trustloop_replay::evidence::{BUNDLE_MEDIA_TYPE, Bundle, export, verify};
use trustloop_schemas::transparency::dsse::DsseVerifier;
use trustloop_schemas::{EventCodec, NoWriterSchemas};

#[path = "support/big_verdict.rs"]
mod big_verdict;

/// The bound.
const MAX_BUNDLE_BYTES: usize = 2_000_000;
const FINDINGS: usize = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_over_5000_findings_has_a_bundle_under_2_mb_that_verifies() {
    let big = big_verdict::big_verdict(FINDINGS).await;
    let (key, codec) = (&big.key, EventCodec::new());
    let history = History { log: &big.log, codec: &codec, writers: &NoWriterSchemas };
    let bundle = export(history, &big.verdict, &key.dsse_signer()).await.expect("exports");
    let text = serde_json::to_string_pretty(&bundle).expect("json");
    assert_eq!(bundle.media_type, BUNDLE_MEDIA_TYPE);
    assert!(bundle.record_count() > FINDINGS as u64, "{} records", bundle.record_count());
    println!("bundle of a verdict over {FINDINGS} findings: {} records, {} bytes", bundle.record_count(), text.len());
    assert!(text.len() <= MAX_BUNDLE_BYTES, "{} bytes, over {MAX_BUNDLE_BYTES}", text.len());

    let read: Bundle = serde_json::from_str(&text).expect("reads back");
    let dsse = DsseVerifier::from_public_key(&key.verifier().public_key()).expect("key");
    let started = Instant::now();
    let report = verify(&read, std::slice::from_ref(&dsse), &key.verifier());
    println!("verify (debug build): {:?}", started.elapsed());
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.records_proven as u64, bundle.record_count());
    assert_eq!(report.rerun, "MATCH");

    // One hash of the shared proof flipped: nothing is proven.
    let mut bad = read.clone();
    let packed = bad.packed.as_mut().expect("packed");
    let mut proof = STANDARD.decode(&packed.proof).expect("base64");
    assert!(!proof.is_empty(), "a proof");
    proof[0] ^= 1;
    packed.proof = STANDARD.encode(&proof);
    let report = verify(&bad, std::slice::from_ref(&dsse), &key.verifier());
    assert!(!report.is_ok() && report.problems.iter().any(|p| p.contains("not proven")), "{report:?}");
    drop(big.dir);
}
