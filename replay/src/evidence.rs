//! Evidence bundles (issue #21): one verdict, made checkable by anyone, offline.
//!
//! [`export`] replays the verdict (it must MATCH), and writes a self-contained [`Bundle`]: a DSSE
//! envelope holding an in-toto Statement v1 — subject the release (its latest inventory's digest)
//! or the entity; predicate the verdict, its reasons, policy digest, evidence digest, input frontier
//! and the input events that determined it, each with its place in the log and its leaf hash — the
//! records themselves (verdict and inputs, bytes as stored), each one's RFC 9162 inclusion proof,
//! and the log's last signed checkpoint, whose tree they are proven in.
//!
//! [`verify`] needs no log: it checks the envelope's signature, the checkpoint's signature, every
//! record's leaf hash against the predicate and its inclusion proof against the checkpoint's root,
//! that the verdict record is the predicate's verdict, and re-runs the decision operator over the
//! bundle's inputs alone, in their log order: the verdict it derives for the subject must have the
//! recorded outcome, reasons, policy digest and evidence digest (MATCH), else MISMATCH with the first
//! field that differs. The input frontier is not compared: a re-run over the subject's inputs alone
//! has read less of the log than the runtime had.

use std::collections::HashSet;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trustloop_connectors::ledger::leaves::{Position, tree_leaves};
use trustloop_connectors::log::{Header, PartitionReader, StoredRecord};
use trustloop_operators::decision::DecisionState;
use trustloop_operators::input::Input;
use trustloop_schemas::json::event_to_json;
use trustloop_schemas::transparency::checkpoint::{Checkpoint, NoteVerifier};
use trustloop_schemas::transparency::dsse::{DsseSigner, DsseVerifier, Envelope};
use trustloop_schemas::transparency::intoto::{Statement, Subject};
use trustloop_schemas::transparency::ledger::{EntryRef, record_leaf};
use trustloop_schemas::transparency::merkle::{Hash, verify_inclusion};
use trustloop_schemas::{Event, EventCodec, EventId, EventType, NoWriterSchemas, SubjectKind, canonical_digest};

use crate::feed::{History, ReplayError, each_event};
use crate::verdict::{first_difference, replay_verdict};

/// The bundle's media type.
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.trustloop.evidence.v1+json";
/// The in-toto predicate type of a verdict's evidence.
pub const PREDICATE_TYPE: &str = "https://trustloop.dev/evidence/verdict/v1";

/// A record as the bundle carries it: its place, its bytes (base64), its leaf and proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleRecord {
    /// `verdict` or `input`.
    pub role: String,
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: i64,
    /// Timestamp as stored (ms).
    pub timestamp_ms: i64,
    /// Key, base64.
    pub key: Option<String>,
    /// Value (Confluent-framed Avro), base64.
    pub value: String,
    /// Headers: name and base64 value.
    pub headers: Vec<(String, Option<String>)>,
    /// Its leaf index in the checkpoint's tree.
    pub leaf_index: u64,
    /// Its inclusion proof, base64 hashes bottom-up.
    pub inclusion_proof: Vec<String>,
}

/// A self-contained evidence bundle (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`BUNDLE_MEDIA_TYPE`].
    pub media_type: String,
    /// The DSSE envelope (in-toto Statement v1), as its JSON.
    pub dsse_envelope: Value,
    /// The log's checkpoint (a C2SP signed note) the proofs are in.
    pub checkpoint: String,
    /// The verdict's record, then the inputs', in log order.
    pub records: Vec<BundleRecord>,
}

/// Why a bundle could not be made or read. A bundle that reads but does not verify is a
/// [`EvidenceReport`] with problems, not an error.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// Replaying the verdict failed.
    #[error(transparent)]
    Replay(#[from] ReplayError),
    /// The ledger could not give the proofs.
    #[error(transparent)]
    Ledger(#[from] trustloop_connectors::ledger::LedgerError),
    /// The verdict does not replay: no evidence is made for it.
    #[error("verdict {0} does not replay as recorded (see `trustloop replay verdict`): no evidence is made for it")]
    Mismatch(String),
    /// A record the bundle needs is not covered by a checkpoint.
    #[error("{0}/{1} offset {2} is after the last checkpoint: make one (`trustloop log checkpoint`) and export again")]
    Uncovered(String, u32, i64),
    /// The bundle is not one.
    #[error("not an evidence bundle: {0}")]
    Malformed(String),
}

fn b64(b: &[u8]) -> String {
    STANDARD.encode(b)
}

fn leaf_of_record(r: &BundleRecord) -> Result<Hash, String> {
    let dec = |what: &str, s: &str| {
        STANDARD.decode(s).map_err(|_| format!("{what} of {}/{}@{} is not base64", r.topic, r.partition, r.offset))
    };
    let key = r.key.as_deref().map(|k| dec("key", k)).transpose()?;
    let value = dec("value", &r.value)?;
    let headers: Vec<(String, Option<Vec<u8>>)> = r
        .headers
        .iter()
        .map(|(n, v)| Ok((n.clone(), v.as_deref().map(|v| dec("header", v)).transpose()?)))
        .collect::<Result<_, String>>()?;
    let entry = EntryRef {
        topic: &r.topic,
        partition: r.partition,
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: key.as_deref(),
        value: &value,
    };
    Ok(record_leaf(&entry, headers.iter().map(|(n, v)| (n.as_str(), v.as_deref())), &mut Vec::new()))
}

fn bundle_record(role: &str, r: &StoredRecord, leaf_index: u64, proof: &[Hash]) -> BundleRecord {
    BundleRecord {
        role: role.to_string(),
        topic: r.topic.to_string(),
        partition: r.partition,
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: r.key.as_deref().map(b64),
        value: b64(&r.value),
        headers: r.headers.iter().map(|Header { name, value }| (name.clone(), value.as_deref().map(b64))).collect(),
        leaf_index,
        inclusion_proof: proof.iter().map(|h| b64(h)).collect(),
    }
}

/// The subject of a verdict: a release's latest inventory at or before the verdict's frontier, or
/// the verdict itself for an entity.
async fn subject_of(
    history: History<'_>,
    verdict: &trustloop_schemas::Verdict,
    event: &Event,
) -> Result<Subject, ReplayError> {
    if verdict.subject_kind == SubjectKind::Release {
        let mut parts = verdict.subject.splitn(3, '@');
        let (name, version) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let topic = EventType::ReleaseInventory.topic();
        let frontier = |p: u32| {
            verdict.input_frontier.iter().find(|f| f.topic == topic && f.partition == p as i32).map(|f| f.offset)
        };
        let mut found: Option<[u8; 32]> = None;
        each_event(history, topic, &mut |r, e| {
            if let Event::ReleaseInventory(inv) = &e
                && inv.release_name == name
                && inv.release_version == version
                && frontier(r.partition).is_none_or(|f| r.offset < f)
            {
                found = Some(canonical_digest(&e));
            }
            std::ops::ControlFlow::Continue(())
        })
        .await?;
        if let Some(d) = found {
            return Ok(Subject::sha256(format!("release:{name}@{version}"), &d));
        }
    }
    Ok(Subject::sha256(
        format!(
            "{}:{}",
            if verdict.subject_kind == SubjectKind::Release { "release" } else { "entity" },
            verdict.subject
        ),
        &canonical_digest(event),
    ))
}

/// Makes the evidence bundle of verdict `id`, signed by `signer` (see the module docs).
pub async fn export(history: History<'_>, id: &EventId, signer: &DsseSigner) -> Result<Bundle, EvidenceError> {
    let replayed = replay_verdict(history, id, |_| None).await?;
    if !replayed.matched {
        return Err(EvidenceError::Mismatch(id.to_string()));
    }
    let (vt, vp, vo) = replayed.recorded_at.clone();
    let mut places: Vec<Position> = vec![(vt, vp, vo)];
    // The subject's inputs in the order applied, with the clock's input where it was applied.
    let mut inputs: Vec<&crate::verdict::InputRef> = replayed.inputs.iter().collect();
    if let Some(c) = &replayed.clock {
        inputs.insert(c.after.min(inputs.len()), &c.input);
    }
    places.extend(inputs.iter().map(|i| (i.topic.clone(), i.partition, i.offset)));
    let want: HashSet<Position> = places.iter().cloned().collect();
    let tree = tree_leaves(&**history.log, history.codec, history.writers, &want).await?;
    let mut records = Vec::with_capacity(places.len());
    let mut listed = Vec::with_capacity(places.len());
    let mut verdict_event = None;
    for (n, (topic, partition, offset)) in places.iter().enumerate() {
        let index = tree
            .index_of(topic, *partition, *offset)
            .ok_or_else(|| EvidenceError::Uncovered(topic.clone(), *partition, *offset))?;
        let proof =
            tree.inclusion_proof(index).ok_or_else(|| EvidenceError::Uncovered(topic.clone(), *partition, *offset))?;
        let r = PartitionReader::first(&**history.log, topic, *partition, *offset)
            .await
            .map_err(ReplayError::from)?
            .filter(|r| r.offset == *offset)
            .ok_or_else(|| EvidenceError::Uncovered(topic.clone(), *partition, *offset))?;
        let event =
            history.codec.decode(&r.value, history.writers).map_err(|e| EvidenceError::Malformed(e.to_string()))?;
        let leaf = tree.leaf(index).unwrap_or_default();
        listed.push(json!({
            "topic": topic, "partition": partition, "offset": offset,
            "event_id": event.envelope().event_id.to_string(),
            "event_type": event.event_type().name(),
            "leaf_hash": hex::encode(leaf),
        }));
        if n == 0 {
            verdict_event = Some(event);
        }
        records.push(bundle_record(if n == 0 { "verdict" } else { "input" }, &r, index, &proof));
    }
    let Some(Event::Verdict(verdict)) = verdict_event.clone() else {
        return Err(EvidenceError::Malformed("the verdict record is not a verdict".into()));
    };
    let subject =
        subject_of(history, &verdict, verdict_event.as_ref().unwrap_or(&Event::Verdict(verdict.clone()))).await?;
    let cp = &tree.checkpoint;
    let predicate = json!({
        "verdict": replayed.recorded,
        "outcome": verdict.outcome,
        "reasons": verdict.reasons,
        "policy_digest": verdict.policy_digest,
        "evidence_digest": verdict.evidence_digest,
        "input_frontier": verdict.input_frontier,
        "verdict_record": listed.first(),
        "inputs": listed.get(1..).unwrap_or_default(),
        "checkpoint": { "origin": cp.origin, "size": cp.size, "root_hash": hex::encode(cp.root_hash) },
    });
    let statement = Statement::new(vec![subject], PREDICATE_TYPE, predicate);
    let envelope = statement.sign(&[signer]);
    let dsse_envelope =
        serde_json::from_str(&envelope.to_json()).map_err(|e| EvidenceError::Malformed(e.to_string()))?;
    Ok(Bundle { media_type: BUNDLE_MEDIA_TYPE.to_string(), dsse_envelope, checkpoint: tree.note.clone(), records })
}

/// What verifying a bundle found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EvidenceReport {
    /// The verdict's event id.
    pub verdict_id: String,
    /// Its subject and outcome.
    pub subject: String,
    /// Its outcome.
    pub outcome: String,
    /// `name+keyid` of the checkpoint's log key.
    pub checkpoint_signed_by: Vec<String>,
    /// The checkpoint's tree size.
    pub tree_size: u64,
    /// Records whose leaf and inclusion proof verified.
    pub records_proven: usize,
    /// `MATCH` or `MISMATCH` (re-running the decision), or `NOT RUN` when the bundle failed earlier.
    pub rerun: String,
    /// Every check that failed.
    pub problems: Vec<String>,
}

impl EvidenceReport {
    /// Whether everything verified and the decision re-ran to the same verdict.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.rerun == "MATCH"
    }
}

/// Verifies `bundle` without the log (see the module docs): `dsse_keys` for the envelope (one must
/// have signed), `log_key` for the checkpoint.
pub fn verify(bundle: &Bundle, dsse_keys: &[DsseVerifier], log_key: &NoteVerifier) -> EvidenceReport {
    let mut report = EvidenceReport { rerun: "NOT RUN".into(), ..EvidenceReport::default() };
    if bundle.media_type != BUNDLE_MEDIA_TYPE {
        report.problems.push(format!("media type {:?} is not {BUNDLE_MEDIA_TYPE}", bundle.media_type));
        return report;
    }
    let statement = match Envelope::from_json(&bundle.dsse_envelope.to_string())
        .map_err(|e| e.to_string())
        .and_then(|env| Statement::open(&env, dsse_keys, 1).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            report.problems.push(format!("the envelope does not verify: {e}"));
            return report;
        }
    };
    if statement.predicate_type != PREDICATE_TYPE {
        report.problems.push(format!("predicate type {:?} is not {PREDICATE_TYPE}", statement.predicate_type));
        return report;
    }
    let p = statement.predicate.clone().unwrap_or(Value::Null);
    let origin = p["checkpoint"]["origin"].as_str().unwrap_or_default();
    let checkpoint = match Checkpoint::open(&bundle.checkpoint, origin, log_key, &[]) {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(format!("the checkpoint does not verify: {e}"));
            return report;
        }
    };
    report.checkpoint_signed_by = checkpoint.signed_by.clone();
    let cp = checkpoint.checkpoint;
    report.tree_size = cp.size;
    if p["checkpoint"]["size"].as_u64() != Some(cp.size)
        || p["checkpoint"]["root_hash"].as_str() != Some(&hex::encode(cp.root_hash))
    {
        report.problems.push("the statement names another checkpoint than the bundle's".into());
    }
    let mut listed: Vec<&Value> = p["verdict_record"].as_object().map(|_| &p["verdict_record"]).into_iter().collect();
    listed.extend(p["inputs"].as_array().map(|a| a.iter()).into_iter().flatten());
    if listed.len() != bundle.records.len() {
        report.problems.push(format!(
            "the statement lists {} records, the bundle carries {}",
            listed.len(),
            bundle.records.len()
        ));
        return report;
    }
    let codec = EventCodec::new();
    let mut events = Vec::with_capacity(bundle.records.len());
    for (r, l) in bundle.records.iter().zip(&listed) {
        let at = format!("{}/{}@{}", r.topic, r.partition, r.offset);
        if l["topic"] != r.topic.as_str() || l["partition"] != r.partition || l["offset"] != r.offset {
            report.problems.push(format!("{at}: not the record the statement lists there"));
            continue;
        }
        let leaf = match leaf_of_record(r) {
            Ok(h) => h,
            Err(e) => {
                report.problems.push(e);
                continue;
            }
        };
        if l["leaf_hash"].as_str() != Some(&hex::encode(leaf)) {
            report.problems.push(format!("{at}: its bytes are not the ones the statement signed"));
            continue;
        }
        let proof: Result<Vec<Hash>, ()> = r
            .inclusion_proof
            .iter()
            .map(|h| STANDARD.decode(h).ok().and_then(|b| Hash::try_from(b.as_slice()).ok()).ok_or(()))
            .collect();
        match proof.map_err(|()| "a proof hash is not 32 base64 bytes".to_string()).and_then(|proof| {
            verify_inclusion(r.leaf_index, cp.size, &leaf, &proof, &cp.root_hash).map_err(|e| e.to_string())
        }) {
            Ok(()) => report.records_proven += 1,
            Err(e) => {
                report.problems.push(format!("{at}: not proven in the checkpoint's tree: {e}"));
                continue;
            }
        }
        match STANDARD.decode(&r.value).ok().and_then(|v| codec.decode(&v, &NoWriterSchemas).ok()) {
            Some(e) => events.push((r, e)),
            None => report.problems.push(format!("{at}: not an event this build reads")),
        }
    }
    let Some((vr, Event::Verdict(recorded))) = events.first().map(|(r, e)| (*r, e.clone())) else {
        report.problems.push("the bundle's first record is not a verdict".into());
        return report;
    };
    if vr.role != "verdict" {
        report.problems.push("the bundle's first record is not its verdict".into());
    }
    report.verdict_id = recorded.envelope.event_id.to_string();
    report.subject = recorded.subject.clone();
    report.outcome = format!("{:?}", recorded.outcome).to_uppercase();
    if p["verdict"] != event_to_json(&Event::Verdict(recorded.clone())) {
        report.problems.push("the verdict record is not the statement's verdict".into());
    }
    if !report.problems.is_empty() {
        return report;
    }
    // Re-run the decision over the inputs alone, in log order.
    let mut op = DecisionState::new();
    let mut derived = None;
    for (r, event) in events.iter().skip(1) {
        let input = Input::new(&r.topic, i32::try_from(r.partition).unwrap_or(i32::MAX), r.offset, event);
        for out in op.apply(&input) {
            if let Event::Verdict(v) = out
                && v.subject == recorded.subject
                && v.subject_kind == recorded.subject_kind
            {
                derived = Some(v);
            }
        }
    }
    let decision = |v: &trustloop_schemas::Verdict| json!({"outcome": v.outcome, "reasons": v.reasons, "policy_digest": v.policy_digest, "evidence_digest": v.evidence_digest});
    match derived {
        Some(v) if decision(&v) == decision(&recorded) => report.rerun = "MATCH".into(),
        Some(v) => {
            report.rerun = "MISMATCH".into();
            let diff = first_difference("", &decision(&recorded), &decision(&v)).unwrap_or_default();
            report.problems.push(format!(
                "re-running the decision over the bundle's inputs gives another verdict (first at {diff})"
            ));
        }
        None => {
            report.rerun = "MISMATCH".into();
            report
                .problems
                .push("re-running the decision over the bundle's inputs gives no verdict for the subject".into());
        }
    }
    report
}
