//! Evidence bundles (issue #21): one verdict, made checkable by anyone, offline.
//!
//! [`export`] replays the verdict (it must MATCH), and writes a self-contained [`Bundle`] (format
//! v2, [`BUNDLE_MEDIA_TYPE`]): a DSSE envelope holding an in-toto Statement v1 — subject the
//! release (its latest inventory's digest) or the entity; predicate ([`PREDICATE_TYPE`]) the
//! verdict, its reasons, policy digest, evidence digest, input frontier, the verdict's record (place
//! and leaf hash) and the inputs that determined it (how many, per topic, and the SHA-256 of their
//! leaf hashes in order) — then the records themselves and one proof for all of them
//! ([`PackedRecords`]: each record's ledger entry, the very bytes its leaf hashes, with its leaf
//! index, gzip-compressed and base64-encoded once; a multi-leaf inclusion proof that lists each
//! tree node the records need once), and the log's last signed checkpoint, whose tree they are
//! proven in — with every witness's cosignature of it that the log holds.
//!
//! [`verify`] needs no log: it checks the envelope's signature, the checkpoint's signature (and,
//! with [`verify_with`], a quorum of witnesses' cosignatures), every record's leaf hash against the
//! predicate and all of them against the checkpoint's root, that the verdict record is the
//! predicate's verdict, and re-runs the decision operator over the bundle's inputs alone, in their
//! log order: the verdict it derives for the subject must have the recorded outcome, reasons,
//! policy digest and evidence digest (MATCH), else MISMATCH with the first field that differs. The
//! input frontier is not compared: a re-run over the subject's inputs alone has read less of the
//! log than the runtime had.
//!
//! Bundles of format v1 ([`BUNDLE_MEDIA_TYPE_V1`]: each record with its own inclusion proof and
//! base64 fields, every input listed in the predicate) still verify.

use std::collections::{BTreeMap, HashSet};
use std::io::{Read as _, Write as _};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use trustloop_connectors::ledger::leaves::{Position, tree_leaves};
use trustloop_connectors::ledger::witness::cosigned_note;
use trustloop_connectors::log::{Header, PartitionReader, StoredRecord};
use trustloop_operators::decision::DecisionState;
use trustloop_operators::input::Input;
use trustloop_schemas::json::event_to_json;
use trustloop_schemas::transparency::checkpoint::{Checkpoint, NoteVerifier};
use trustloop_schemas::transparency::dsse::{DsseSigner, DsseVerifier, Envelope};
use trustloop_schemas::transparency::intoto::{Statement, Subject};
use trustloop_schemas::transparency::ledger::{EntryRef, entry_into, parse_entry, record_leaf};
use trustloop_schemas::transparency::merkle::{Hash, leaf_hash, verify_inclusion, verify_multi_inclusion};
use trustloop_schemas::{Event, EventCodec, EventId, EventType, NoWriterSchemas, SubjectKind, canonical_digest};

use crate::feed::{History, ReplayError, each_event};
use crate::verdict::{first_difference, replay_verdict};

/// The bundle's media type (format v2: records packed, one multi-leaf proof).
pub const BUNDLE_MEDIA_TYPE: &str = "application/vnd.trustloop.evidence.v2+json";
/// The media type of format v1 bundles (each record with its own proof), still verified.
pub const BUNDLE_MEDIA_TYPE_V1: &str = "application/vnd.trustloop.evidence.v1+json";
/// The in-toto predicate type of a verdict's evidence (v2: the inputs by count and leaf digest).
pub const PREDICATE_TYPE: &str = "https://trustloop.dev/evidence/verdict/v2";
/// The predicate type of format v1 bundles (every input listed).
pub const PREDICATE_TYPE_V1: &str = "https://trustloop.dev/evidence/verdict/v1";
/// The most bytes a bundle's packed records may unpack to (a bomb is refused, not unpacked).
pub const MAX_UNPACKED_BYTES: u64 = 256 << 20;

/// A record as a v1 bundle carries it: its place, its bytes (base64), its leaf and proof.
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

/// A v2 bundle's records and their proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackedRecords {
    /// How many records: the verdict's, then the inputs', in log order.
    pub count: u64,
    /// Base64 of the gzip of, for each record: its leaf index (u64, big-endian), the length of its
    /// entry (u64, big-endian) and the entry — topic, partition, offset, timestamp, key, value and
    /// headers as the ledger hashes them
    /// ([`entry_into`]).
    pub entries: String,
    /// Base64 of the multi-leaf inclusion proof of all the records' leaves: its 32-byte hashes,
    /// concatenated
    /// ([`multi_inclusion_proof`](trustloop_schemas::transparency::merkle::multi_inclusion_proof)).
    pub proof: String,
}

/// A self-contained evidence bundle (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`BUNDLE_MEDIA_TYPE`] (or [`BUNDLE_MEDIA_TYPE_V1`]).
    pub media_type: String,
    /// The DSSE envelope (in-toto Statement v1), as its JSON.
    pub dsse_envelope: Value,
    /// The log's checkpoint (a C2SP signed note, with any witnesses' cosignatures) the proofs are in.
    pub checkpoint: String,
    /// v1: the verdict's record, then the inputs', in log order, each with its proof.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub records: Vec<BundleRecord>,
    /// v2: the records and one proof for them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packed: Option<PackedRecords>,
}

impl Bundle {
    /// How many records the bundle carries (verdict and inputs).
    pub fn record_count(&self) -> u64 {
        self.packed.as_ref().map_or(self.records.len() as u64, |p| p.count)
    }
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
    /// The witnesses' cosignatures could not be read.
    #[error(transparent)]
    Witness(#[from] trustloop_connectors::ledger::witness::WitnessError),
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

/// The entry of a stored record: the bytes its leaf hashes.
fn entry_of(r: &StoredRecord) -> Vec<u8> {
    let entry = EntryRef {
        topic: &r.topic,
        partition: r.partition,
        offset: r.offset,
        timestamp_ms: r.timestamp_ms,
        key: r.key.as_deref(),
        value: &r.value,
    };
    let mut out = Vec::new();
    entry_into(&entry, r.headers.iter().map(|Header { name, value }| (name.as_str(), value.as_deref())), &mut out);
    out
}

/// The SHA-256 of the inputs' leaf hashes, concatenated in bundle order: what binds the bundle's
/// inputs to the signed statement.
fn leaves_digest<'h>(leaves: impl Iterator<Item = &'h Hash>) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for l in leaves {
        h.update(l);
    }
    hex::encode(h.finalize())
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
    let mut packed = Vec::new();
    let mut indices = Vec::with_capacity(places.len());
    let mut input_leaves = Vec::with_capacity(places.len());
    let mut by_topic: BTreeMap<String, u64> = BTreeMap::new();
    let mut verdict_listing = Value::Null;
    let mut verdict_event = None;
    for (n, (topic, partition, offset)) in places.iter().enumerate() {
        let uncovered = || EvidenceError::Uncovered(topic.clone(), *partition, *offset);
        let index = tree.index_of(topic, *partition, *offset).ok_or_else(uncovered)?;
        let r = PartitionReader::first(&**history.log, topic, *partition, *offset)
            .await
            .map_err(ReplayError::from)?
            .filter(|r| r.offset == *offset)
            .ok_or_else(uncovered)?;
        let entry = entry_of(&r);
        let leaf = leaf_hash(&entry);
        if tree.leaf(index) != Some(leaf) {
            return Err(EvidenceError::Malformed(format!(
                "{topic}/{partition}@{offset} reads back with another leaf than the tree's: run `trustloop log verify`"
            )));
        }
        packed.extend_from_slice(&index.to_be_bytes());
        packed.extend_from_slice(&(entry.len() as u64).to_be_bytes());
        packed.extend_from_slice(&entry);
        indices.push(index);
        if n == 0 {
            let event =
                history.codec.decode(&r.value, history.writers).map_err(|e| EvidenceError::Malformed(e.to_string()))?;
            verdict_listing = json!({
                "topic": topic, "partition": partition, "offset": offset,
                "event_id": event.envelope().event_id.to_string(),
                "event_type": event.event_type().name(),
                "leaf_hash": hex::encode(leaf),
            });
            verdict_event = Some(event);
        } else {
            input_leaves.push(leaf);
            *by_topic.entry(topic.clone()).or_default() += 1;
        }
    }
    let proof = tree.multi_proof(&indices).ok_or_else(|| EvidenceError::Malformed("no multi-leaf proof".into()))?;
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
        "verdict_record": verdict_listing,
        "inputs": {
            "count": input_leaves.len(),
            "by_topic": by_topic,
            "leaves_sha256": leaves_digest(input_leaves.iter()),
        },
        "checkpoint": { "origin": cp.origin, "size": cp.size, "root_hash": hex::encode(cp.root_hash) },
    });
    let statement = Statement::new(vec![subject], PREDICATE_TYPE, predicate);
    let envelope = statement.sign(&[signer]);
    let dsse_envelope =
        serde_json::from_str(&envelope.to_json()).map_err(|e| EvidenceError::Malformed(e.to_string()))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let gz = gz
        .write_all(&packed)
        .and_then(|()| gz.finish())
        .map_err(|e| EvidenceError::Malformed(format!("compressing the records: {e}")))?;
    let checkpoint = cosigned_note(&**history.log, history.codec, history.writers, &tree.note).await?;
    Ok(Bundle {
        media_type: BUNDLE_MEDIA_TYPE.to_string(),
        dsse_envelope,
        checkpoint,
        records: Vec::new(),
        packed: Some(PackedRecords { count: places.len() as u64, entries: b64(&gz), proof: b64(&proof.concat()) }),
    })
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
    /// `name+keyid` of the checkpoint's log key, then of each trusted witness that cosigned it.
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

/// A record whose bytes are proven in the checkpoint's tree.
struct Proven {
    topic: String,
    partition: u32,
    offset: i64,
    value: Vec<u8>,
}

/// Verifies `bundle` without the log (see the module docs): `dsse_keys` for the envelope (one must
/// have signed), `log_key` for the checkpoint.
pub fn verify(bundle: &Bundle, dsse_keys: &[DsseVerifier], log_key: &NoteVerifier) -> EvidenceReport {
    verify_with(bundle, dsse_keys, log_key, &[], 0)
}

/// [`verify`], also requiring the checkpoint to be cosigned by at least `quorum` of `witnesses`.
pub fn verify_with(
    bundle: &Bundle,
    dsse_keys: &[DsseVerifier],
    log_key: &NoteVerifier,
    witnesses: &[NoteVerifier],
    quorum: usize,
) -> EvidenceReport {
    let mut report = EvidenceReport { rerun: "NOT RUN".into(), ..EvidenceReport::default() };
    let (v1, predicate_type) = match bundle.media_type.as_str() {
        BUNDLE_MEDIA_TYPE => (false, PREDICATE_TYPE),
        BUNDLE_MEDIA_TYPE_V1 => (true, PREDICATE_TYPE_V1),
        other => {
            report
                .problems
                .push(format!("media type {other:?} is neither {BUNDLE_MEDIA_TYPE} nor {BUNDLE_MEDIA_TYPE_V1}"));
            return report;
        }
    };
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
    if statement.predicate_type != predicate_type {
        report.problems.push(format!("predicate type {:?} is not {predicate_type}", statement.predicate_type));
        return report;
    }
    let p = statement.predicate.clone().unwrap_or(Value::Null);
    let origin = p["checkpoint"]["origin"].as_str().unwrap_or_default();
    let checkpoint = match Checkpoint::open(&bundle.checkpoint, origin, log_key, witnesses) {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(format!("the checkpoint does not verify: {e}"));
            return report;
        }
    };
    report.checkpoint_signed_by = checkpoint.signed_by.clone();
    let cosigned = checkpoint.signed_by.len().saturating_sub(1);
    if cosigned < quorum {
        report.problems.push(format!(
            "the checkpoint is cosigned by {cosigned} of the witnesses given, {quorum} required (signed by: {})",
            checkpoint.signed_by.join(", ")
        ));
    }
    let cp = checkpoint.checkpoint;
    report.tree_size = cp.size;
    if p["checkpoint"]["size"].as_u64() != Some(cp.size)
        || p["checkpoint"]["root_hash"].as_str() != Some(&hex::encode(cp.root_hash))
    {
        report.problems.push("the statement names another checkpoint than the bundle's".into());
    }
    let proven = if v1 { proven_v1(bundle, &p, &cp, &mut report) } else { proven_v2(bundle, &p, &cp, &mut report) };
    let Some(proven) = proven else { return report };
    let codec = EventCodec::new();
    let mut events = Vec::with_capacity(proven.len());
    for r in &proven {
        match codec.decode(&r.value, &NoWriterSchemas) {
            Ok(e) => events.push((r, e)),
            Err(_) => {
                report.problems.push(format!("{}/{}@{}: not an event this build reads", r.topic, r.partition, r.offset))
            }
        }
    }
    let Some((_, Event::Verdict(recorded))) = events.first().map(|(r, e)| (*r, e.clone())) else {
        report.problems.push("the bundle's first record is not a verdict".into());
        return report;
    };
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

/// A v1 bundle's records, each checked against the statement's listing and its own proof.
fn proven_v1(bundle: &Bundle, p: &Value, cp: &Checkpoint, report: &mut EvidenceReport) -> Option<Vec<Proven>> {
    let mut listed: Vec<&Value> = p["verdict_record"].as_object().map(|_| &p["verdict_record"]).into_iter().collect();
    listed.extend(p["inputs"].as_array().map(|a| a.iter()).into_iter().flatten());
    if listed.len() != bundle.records.len() {
        report.problems.push(format!(
            "the statement lists {} records, the bundle carries {}",
            listed.len(),
            bundle.records.len()
        ));
        return None;
    }
    if bundle.records.first().is_some_and(|r| r.role != "verdict") {
        report.problems.push("the bundle's first record is not its verdict".into());
    }
    let mut out = Vec::with_capacity(bundle.records.len());
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
        match STANDARD.decode(&r.value) {
            Ok(value) => out.push(Proven { topic: r.topic.clone(), partition: r.partition, offset: r.offset, value }),
            Err(_) => report.problems.push(format!("{at}: its value is not base64")),
        }
    }
    Some(out)
}

/// Unpacks a v2 bundle's records: (leaf index, entry bytes) each.
fn unpack(packed: &PackedRecords) -> Result<Vec<(u64, Vec<u8>)>, String> {
    let gz = STANDARD.decode(&packed.entries).map_err(|_| "the packed records are not base64".to_string())?;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice())
        .take(MAX_UNPACKED_BYTES + 1)
        .read_to_end(&mut raw)
        .map_err(|e| format!("the packed records do not unpack: {e}"))?;
    if raw.len() as u64 > MAX_UNPACKED_BYTES {
        return Err(format!("the packed records unpack to more than {MAX_UNPACKED_BYTES} bytes"));
    }
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < raw.len() {
        let head = raw.get(at..at + 16).ok_or_else(|| format!("unpacked byte {at}: a record's head is cut short"))?;
        let index = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
        let len = u64::from_be_bytes(head[8..].try_into().unwrap_or_default());
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| (at + 16).checked_add(l))
            .filter(|e| *e <= raw.len())
            .ok_or_else(|| format!("unpacked byte {at}: an entry of {len} bytes runs past the end"))?;
        out.push((index, raw[at + 16..end].to_vec()));
        at = end;
    }
    if out.len() as u64 != packed.count {
        return Err(format!("the packed records hold {} records, the bundle says {}", out.len(), packed.count));
    }
    Ok(out)
}

/// A v2 bundle's records: the verdict's against the statement's listing, the inputs against its
/// leaf digest, all of them against the checkpoint's root by the multi-leaf proof.
fn proven_v2(bundle: &Bundle, p: &Value, cp: &Checkpoint, report: &mut EvidenceReport) -> Option<Vec<Proven>> {
    let Some(packed) = &bundle.packed else {
        report.problems.push("a v2 bundle without packed records".into());
        return None;
    };
    if !bundle.records.is_empty() {
        report.problems.push("a v2 bundle also carries v1 records".into());
        return None;
    }
    let unpacked = match unpack(packed) {
        Ok(u) => u,
        Err(e) => {
            report.problems.push(e);
            return None;
        }
    };
    let mut leaves = Vec::with_capacity(unpacked.len());
    let mut out = Vec::with_capacity(unpacked.len());
    for (n, (index, entry)) in unpacked.iter().enumerate() {
        let parsed = match parse_entry(entry) {
            Ok(e) => e,
            Err(e) => {
                report.problems.push(format!("record {n} of the bundle: {e}"));
                return None;
            }
        };
        let e = parsed.entry;
        leaves.push((*index, leaf_hash(entry)));
        out.push(Proven {
            topic: e.topic.to_string(),
            partition: e.partition,
            offset: e.offset,
            value: e.value.to_vec(),
        });
    }
    let Some(((_, verdict_leaf), verdict)) = leaves.first().zip(out.first()) else {
        report.problems.push("the bundle carries no record".into());
        return None;
    };
    let l = &p["verdict_record"];
    if l["topic"] != verdict.topic.as_str()
        || l["partition"] != verdict.partition
        || l["offset"] != verdict.offset
        || l["leaf_hash"].as_str() != Some(&hex::encode(verdict_leaf))
    {
        report.problems.push(format!(
            "{}/{}@{}: not the verdict record the statement signed",
            verdict.topic, verdict.partition, verdict.offset
        ));
    }
    let inputs = &p["inputs"];
    if inputs["count"].as_u64() != Some(leaves.len() as u64 - 1) {
        report.problems.push(format!(
            "the statement counts {} inputs, the bundle carries {}",
            inputs["count"],
            leaves.len() - 1
        ));
    }
    if inputs["leaves_sha256"].as_str() != Some(&leaves_digest(leaves[1..].iter().map(|(_, h)| h))) {
        report.problems.push("the inputs' bytes or order are not the ones the statement signed".into());
    }
    let proof_bytes = STANDARD.decode(&packed.proof).unwrap_or_else(|_| vec![0; 1]);
    if proof_bytes.len() % 32 != 0 {
        report.problems.push("the proof is not base64 32-byte hashes".into());
        return None;
    }
    let proof: Vec<Hash> = proof_bytes.chunks_exact(32).map(|c| c.try_into().unwrap_or_default()).collect();
    let mut sorted = leaves.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if let Some(w) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
        report.problems.push(format!("two different records claim leaf {}", w[0].0));
        return None;
    }
    match verify_multi_inclusion(cp.size, &sorted, &proof, &cp.root_hash) {
        Ok(()) => report.records_proven = leaves.len(),
        Err(e) => {
            report.problems.push(format!("the records are not proven in the checkpoint's tree: {e}"));
            return None;
        }
    }
    Some(out)
}
