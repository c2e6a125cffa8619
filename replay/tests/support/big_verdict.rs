//! A log holding a verdict over many findings, for the bundle-size test
//! (`replay/tests/evidence_size.rs`) and the bench that times verifying its bundle
//! (`benches/benches/evidence.rs`, which includes this file by path).
//!
//! Made from the stored fixture's records (`replay/tests/fixtures/evidence/`, the demo's
//! `tansu@0.3.0@prod` verdict): its policy, approval and promotion requests, and `findings`
//! findings made from its findings (each another advisory), each followed by a finding of another
//! release (so that the records' leaves are not neighbours and the proof shares the least), fed to
//! the decision operator as the runtime feeds it; the verdict it derives is appended and the log
//! checkpointed.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use trustloop_connectors::ledger::checkpointer::{CheckpointRequest, checkpoint};
use trustloop_connectors::log::embedded::{EmbeddedLog, EmbeddedOptions, FsyncPolicy};
use trustloop_connectors::log::{EventLog, Record};
use trustloop_operators::decision::DecisionState;
use trustloop_operators::operator::Operator as _;
use trustloop_replay::evidence::Bundle;
use trustloop_replay::{History, Range, Share, feed};
use trustloop_schemas::transparency::checkpoint::NoteSigner;
use trustloop_schemas::{Event, EventCodec, EventId, NoWriterSchemas, derive_event_id};

/// The log, its directory (kept while it lives), the verdict's id and the log's key.
pub(crate) struct BigVerdict {
    /// Holds the log's files.
    pub(crate) dir: tempfile::TempDir,
    /// The log.
    pub(crate) log: Arc<dyn EventLog>,
    /// The verdict.
    pub(crate) verdict: EventId,
    /// The key that signed the checkpoint (and signs the bundle).
    pub(crate) key: NoteSigner,
}

fn fixture_events() -> Vec<Event> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../replay/tests/fixtures/evidence");
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

/// A checkpointed log with a verdict on `tansu@0.3.0@prod` over `findings` findings (see the module docs).
pub(crate) async fn big_verdict(findings: usize) -> BigVerdict {
    let dir = tempfile::tempdir().expect("tempdir");
    let embedded =
        EmbeddedLog::open(dir.path(), EmbeddedOptions { fsync: FsyncPolicy::Never, ..EmbeddedOptions::default() })
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
    let mut written = false;
    for e in &events {
        if matches!(e, Event::Finding(_)) {
            if written {
                continue;
            }
            written = true;
            for i in 0..findings {
                let Event::Finding(mut f) = templates[i % templates.len()].clone() else { continue };
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
    BigVerdict { dir, log, verdict: id, key }
}
