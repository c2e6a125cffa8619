//! The bundle-size target of issue #21: the evidence of a verdict over 5,000 findings is at most
//! 2 MB, and verifies offline (every record proven, the decision re-run to the same verdict).
//!
//! The log is made from the stored fixture's records (`tests/fixtures/evidence/`, the demo's
//! `tansu@0.3.0@prod` verdict): its policy, approval and promotion requests, and 5,000 findings
//! made from its findings (each another advisory), each followed by a finding of another release
//! (so that the records' leaves are not neighbours and the proof shares the least), fed to the decision operator as the runtime
//! feeds it; the verdict it derives is appended, the log checkpointed, and the bundle exported.
//! Run with `--nocapture` to see the size and the time `verify` took (times are measured in
//! `benches/`, not asserted here).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use trustloop_connectors::ledger::checkpointer::{CheckpointRequest, checkpoint};
use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
use trustloop_connectors::log::{EventLog, Record};
use trustloop_operators::decision::DecisionState;
use trustloop_operators::operator::Operator as _;
use trustloop_replay::evidence::{BUNDLE_MEDIA_TYPE, Bundle, export, verify};
use trustloop_replay::{History, Range, Share, feed};
use trustloop_schemas::transparency::checkpoint::NoteSigner;
use trustloop_schemas::transparency::dsse::DsseVerifier;
use trustloop_schemas::{Event, EventCodec, NoWriterSchemas, derive_event_id};

/// The bound.
const MAX_BUNDLE_BYTES: usize = 2_000_000;
const FINDINGS: usize = 5_000;

fn fixture_events() -> Vec<Event> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/evidence");
    let text = std::fs::read_to_string(dir.join("tansu-prod.bundle.json")).expect("bundle");
    let bundle: Bundle = serde_json::from_str(&text).expect("a bundle");
    let codec = EventCodec::new();
    bundle
        .records
        .iter()
        .skip(1)
        .map(|r| codec.decode(&STANDARD.decode(&r.value).expect("base64"), &NoWriterSchemas).expect("an event"))
        .collect()
}

async fn append(log: &dyn EventLog, codec: &EventCodec, event: &Event, at_ms: i64) {
    let topic = event.event_type().topic();
    let mut r = Record::new(Some(Bytes::from(event.envelope().key.to_string())), codec.encode(event).expect("encodes"));
    r.timestamp_ms = Some(at_ms);
    log.append(topic, 0, vec![r]).await.expect("append");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verdict_over_5000_findings_has_a_bundle_under_2_mb_that_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded = EmbeddedLog::open(dir.path(), EmbeddedOptions { fsync: FsyncPolicy::Never, ..EmbeddedOptions::default() })
        .expect("open");
    let log: Arc<dyn EventLog> = Arc::new(embedded);
    let codec = EventCodec::new();
    let op = DecisionState::new();
    for t in op.inputs().iter().chain([&trustloop_schemas::EventType::Verdict]) {
        log.create_topic(t.topic(), 1).await.expect("create");
    }
    let events = fixture_events();
    let templates: Vec<&Event> = events.iter().filter(|e| matches!(e, Event::Finding(_))).collect();
    assert!(!templates.is_empty(), "the fixture holds findings");
    let mut at = 1_700_000_000_000i64;
    let mut findings_written = 0;
    for e in &events {
        if matches!(e, Event::Finding(_)) {
            if findings_written > 0 {
                continue;
            }
            for i in 0..FINDINGS {
                let Event::Finding(mut f) = templates[i % templates.len()].clone() else { unreachable!() };
                f.advisory_id = format!("GHSA-size-{i:05}").into();
                f.envelope.event_id = derive_event_id("evidence_size_test", &[&(i as u64).to_be_bytes()]);
                // Another release's finding between each two: the proof cannot share whole subtrees.
                let mut other = f.clone();
                other.release_name = "other".into();
                other.envelope.event_id = derive_event_id("evidence_size_test_other", &[&(i as u64).to_be_bytes()]);
                at += 1;
                append(&*log, &codec, &Event::Finding(f), at).await;
                at += 1;
                append(&*log, &codec, &Event::Finding(other), at).await;
                findings_written += 1;
            }
        } else {
            at += 1;
            append(&*log, &codec, e, at).await;
        }
    }
    // The decision operator over the log, as the runtime feeds it; its last verdict is recorded.
    let history = History { log: &log, codec: &codec, writers: &NoWriterSchemas };
    let mut ranges = Vec::new();
    for t in op.inputs() {
        let end = log.end_offsets(t.topic()).await.expect("ends")[0];
        ranges.push(Range { topic: t.topic().to_string(), partition: 0, from: 0, until: end });
    }
    let mut op = DecisionState::new();
    let mut verdict = None;
    feed(history, &mut op, &ranges, Share::ALL, &mut |a| {
        for out in a.outputs {
            if let Event::Verdict(v) = out
                && v.subject == "tansu@0.3.0@prod"
            {
                verdict = Some(v.clone());
            }
        }
    })
    .await
    .expect("feeds");
    let verdict = verdict.expect("a verdict for the release");
    let id = verdict.envelope.event_id;
    append(&*log, &codec, &Event::Verdict(verdict), at + 1).await;
    let key = NoteSigner::from_seed("size-test", &[4; 32]).expect("key");
    let req = CheckpointRequest { origin: None, signer: &key, next_key: None, reason: "manual", now_ms: at + 2 };
    checkpoint(&*log, &codec, &NoWriterSchemas, &req).await.expect("checkpoint");

    let bundle = export(history, &id, &key.dsse_signer()).await.expect("exports");
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
}
