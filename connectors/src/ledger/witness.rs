//! The witness (issue #21): a second party with its own key that cosigns the log's checkpoints
//! only once it has checked that each one extends the last one it cosigned, so that whoever runs
//! the log cannot rewrite its history unnoticed, even with the log's own key.
//!
//! The witness keeps a [`WitnessState`] of its own (a JSON file, replaced atomically): the last
//! checkpoint it cosigned — origin, number, offset, tree size, root hash, note digest — and the log
//! key in force after it (announced `next-key`s followed). For each checkpoint on
//! [`CHECKPOINTS_TOPIC`] after that one, in order, [`witness_log`] checks:
//!
//! 1. the checkpoint the state names is still where it was, unchanged (else the log's checkpoints
//!    were rolled back or forked);
//! 2. the log's signature by the key in force, and the origin;
//! 3. its number is the next one and its `previous` is the digest of the note last cosigned;
//! 4. the leaves recomputed from the log's records (as `log verify` reads them, laid out by every
//!    checkpoint's spans) make a tree of the checkpoint's size, and an RFC 9162 consistency proof
//!    from the last cosigned size to the new one, generated from those leaves, verifies against the
//!    **root in the witness's state** and the checkpoint's root.
//!
//! Only then does it add its signature line to the note (a C2SP cosignature) and append it as a
//! [`CheckpointCosignature`] to [`COSIGNATURES_TOPIC`] (one partition; not covered by the
//! ledger's tree, not an operator's input), and move its state on. A checkpoint that fails a check
//! is not cosigned: the run stops with a [`Refusal`] that names the checkpoint, the check and both
//! tree heads. A log rewritten and re-checkpointed with the log's key fails check 1 or 4.
//!
//! [`cosignatures`] reads the cosignatures back for `log verify --witness`, and
//! [`cosigned_note`] merges them into a checkpoint's note for evidence bundles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use trustloop_schemas::transparency::checkpoint::{Checkpoint, NoteSigner, NoteVerifier, SignedNote};
use trustloop_schemas::transparency::ledger::{LedgerExtensions, note_digest};
use trustloop_schemas::transparency::merkle::{Hash, TreeLevels, empty_root, verify_consistency};
use trustloop_schemas::{
    CheckpointCosignature, Envelope, Event, EventCodec, EventTime, EventType, LogCheckpoint, WriterSchemas,
    derive_event_id,
};

use super::checkpointer::{LEDGER_SOURCE, LEDGER_TENANT, decode};
use super::span::hash_span;
use super::{CHECKPOINTS_TOPIC, COSIGNATURES_TOPIC, LedgerError};
use crate::log::{EventLog, LogError, PartitionReader, Record, StoredRecord};

/// What a witness remembers: the last checkpoint it cosigned, and the log key in force after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessState {
    /// The log's origin line.
    pub origin: String,
    /// The number of the last checkpoint cosigned.
    pub seq: u64,
    /// Its offset on [`CHECKPOINTS_TOPIC`].
    pub checkpoint_offset: i64,
    /// Its tree size.
    pub size: u64,
    /// Its root hash, hex.
    pub root_hash: String,
    /// The SHA-256 of its note as the log signed it (what the next checkpoint's `previous` names), hex.
    pub note_digest: String,
    /// The vkey that must sign the next checkpoint (the one it announced, or its own).
    pub log_key: String,
}

/// Why the witness could not run (not a refusal: see [`Refusal`]).
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The log or a checkpoint event failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The state file cannot be read or written.
    #[error("witness state {path}: {what}")]
    State {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
}

impl From<LogError> for WitnessError {
    fn from(e: LogError) -> WitnessError {
        WitnessError::Ledger(LedgerError::Log(e))
    }
}

impl WitnessError {
    /// Whether trying again may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, WitnessError::Ledger(e) if e.is_retriable())
    }
}

impl WitnessState {
    /// Reads the state file; `None` if there is none yet.
    pub fn load(path: &Path) -> Result<Option<WitnessState>, WitnessError> {
        let bad = |what: String| WitnessError::State { path: path.to_path_buf(), what };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(bad(e.to_string())),
        };
        let state: WitnessState =
            serde_json::from_str(&text).map_err(|e| bad(format!("line {} column {}: {e}", e.line(), e.column())))?;
        hash_of(&state.root_hash).map_err(&bad)?;
        hash_of(&state.note_digest).map_err(&bad)?;
        NoteVerifier::from_vkey(&state.log_key).map_err(|e| bad(format!("log_key: {e}")))?;
        Ok(Some(state))
    }

    /// Writes the state file atomically: a temporary file beside it, synced, renamed over it.
    pub fn save(&self, path: &Path) -> Result<(), WitnessError> {
        let bad = |what: String| WitnessError::State { path: path.to_path_buf(), what };
        let text = serde_json::to_string_pretty(self).map_err(|e| bad(e.to_string()))?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "witness".into());
        let tmp = path.with_file_name(format!(".{name}.tmp"));
        {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp).map_err(|e| bad(format!("{}: {e}", tmp.display())))?;
            f.write_all(text.as_bytes()).and_then(|()| f.write_all(b"\n")).map_err(|e| bad(e.to_string()))?;
            f.sync_all().map_err(|e| bad(e.to_string()))?;
        }
        std::fs::rename(&tmp, path).map_err(|e| bad(format!("renaming {}: {e}", tmp.display())))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            // Best effort: make the rename itself durable.
            let _ = d.sync_all();
        }
        Ok(())
    }
}

fn hash_of(h: &str) -> Result<Hash, String> {
    hex::decode(h)
        .ok()
        .and_then(|b| Hash::try_from(b.as_slice()).ok())
        .ok_or_else(|| format!("{h:?} is not a hex SHA-256"))
}

/// Which check a checkpoint failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    /// The checkpoint last cosigned is gone or was replaced: the checkpoints were rolled back or forked.
    History,
    /// Not a readable checkpoint.
    Unreadable,
    /// Not signed by the log key in force.
    Signature,
    /// Another origin than the log's.
    Origin,
    /// Not the next number, or not naming the last cosigned note as its predecessor.
    Sequence,
    /// The log's records do not lay out as the checkpoints say, or do not make a tree of its size.
    Records,
    /// No consistency between the last cosigned tree and this one, as the log's records give them.
    Consistency,
}

/// A checkpoint the witness refused to cosign, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    /// The checkpoint's number, if it could be read.
    pub seq: Option<u64>,
    /// Its offset on [`CHECKPOINTS_TOPIC`].
    pub checkpoint_offset: i64,
    /// The check that failed.
    pub check: Check,
    /// The tree size last cosigned.
    pub old_size: u64,
    /// Its root, hex.
    pub old_root: String,
    /// The checkpoint's tree size, if it could be read.
    pub new_size: Option<u64>,
    /// Its root, hex.
    pub new_root: Option<String>,
    /// What differs.
    pub detail: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(s) => write!(f, "checkpoint {s} (offset {})", self.checkpoint_offset)?,
            None => write!(f, "checkpoint at offset {}", self.checkpoint_offset)?,
        }
        write!(
            f,
            " refused: {:?}: {}; last cosigned: size {} root {}",
            self.check, self.detail, self.old_size, self.old_root
        )?;
        if let (Some(n), Some(r)) = (self.new_size, &self.new_root) {
            write!(f, "; this checkpoint: size {n} root {r}")?;
        }
        Ok(())
    }
}

/// Whom the witness is and whom it trusts.
#[derive(Debug, Clone, Copy)]
pub struct WitnessRequest<'a> {
    /// The witness's own key.
    pub signer: &'a NoteSigner,
    /// The log's key, trusted for the first checkpoint when there is no state yet (the state's key
    /// is used after that: it follows the log's announced rotations).
    pub log_key: &'a NoteVerifier,
    /// The log's origin; `None`: the state's, or the first checkpoint's.
    pub origin: Option<&'a str>,
    /// The state file.
    pub state_file: &'a Path,
    /// Now, ms since the Unix epoch (the cosignatures' time).
    pub now_ms: i64,
}

/// What one run of the witness did.
#[derive(Debug, Clone, Default)]
pub struct WitnessRun {
    /// The cosignatures appended, in order.
    pub cosigned: Vec<CheckpointCosignature>,
    /// The state after the run (`None`: no checkpoint cosigned yet, ever).
    pub state: Option<WitnessState>,
    /// The checkpoint refused, if any: the run stopped there.
    pub refusal: Option<Refusal>,
}

/// One checkpoint record as the walk reads it.
struct Read {
    offset: i64,
    event: Result<LogCheckpoint, String>,
    /// Leaves laid out by the checkpoints up to this one, or why they could not be.
    leaves: Result<u64, String>,
}

/// Reads every checkpoint and, laid out by their spans, the leaves of the log's records up to each.
async fn walk(
    log: &dyn EventLog,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    records: &[StoredRecord],
) -> Result<(Vec<Read>, TreeLevels), WitnessError> {
    let mut leaves: Vec<Hash> = Vec::new();
    let mut heads: BTreeMap<(String, u32), Hash> = BTreeMap::new();
    let mut broken: Option<String> = None;
    let mut out = Vec::with_capacity(records.len());
    for r in records {
        let event = decode(codec, writers, r).map_err(|e| e.to_string());
        if broken.is_none() {
            let ext = event.as_ref().map_err(Clone::clone).and_then(|e| {
                let note = SignedNote::parse(&e.note).map_err(|e| e.to_string())?;
                let body = Checkpoint::parse(&note.text).map_err(|e| e.to_string())?;
                LedgerExtensions::parse(&body.extensions).map_err(|e| e.to_string())
            });
            match ext {
                Ok(ext) => {
                    for span in ext.spans.iter().filter(|s| s.records > 0) {
                        if span.first_leaf != leaves.len() as u64 {
                            broken = Some(format!(
                                "checkpoint {} puts {}/{} at leaf {}, after {} leaves",
                                ext.seq,
                                span.topic,
                                span.partition,
                                span.first_leaf,
                                leaves.len()
                            ));
                            break;
                        }
                        let key = (span.topic.clone(), span.partition);
                        let head = heads.get(&key).copied().unwrap_or_else(|| {
                            trustloop_schemas::transparency::ledger::chain_start(&span.topic, span.partition)
                        });
                        let hashed = hash_span(
                            log,
                            &span.topic,
                            span.partition,
                            span.from_offset,
                            span.next_offset,
                            head,
                            |_, leaf| leaves.push(*leaf),
                        )
                        .await?;
                        if hashed.records != span.records {
                            broken = Some(format!(
                                "{}/{} offsets [{}, {}) hold {} records, checkpoint {} counts {}",
                                span.topic,
                                span.partition,
                                span.from_offset,
                                span.next_offset,
                                hashed.records,
                                ext.seq,
                                span.records
                            ));
                            break;
                        }
                        heads.insert(key, hashed.head);
                    }
                }
                Err(e) => broken = Some(format!("the checkpoint at offset {}: {e}", r.offset)),
            }
        }
        let laid = match &broken {
            Some(b) => Err(b.clone()),
            None => Ok(leaves.len() as u64),
        };
        out.push(Read { offset: r.offset, event, leaves: laid });
    }
    Ok((out, TreeLevels::new(leaves)))
}

/// Runs the witness once over `log` (see the module docs): cosigns every checkpoint after the one
/// its state names that passes every check, saving the state after each, and stops at the first
/// that does not.
pub async fn witness_log(
    log: &dyn EventLog,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    req: &WitnessRequest<'_>,
) -> Result<WitnessRun, WitnessError> {
    let mut state = WitnessState::load(req.state_file)?;
    let mut run = WitnessRun { state: state.clone(), ..WitnessRun::default() };
    let records = match log.offsets(CHECKPOINTS_TOPIC).await {
        Ok(o) => {
            let start = o.first().map_or(0, |p| p.start);
            PartitionReader::new(CHECKPOINTS_TOPIC, 0, start).read_all(log).await?
        }
        Err(LogError::UnknownTopic(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let (old_size, old_root) = match &state {
        Some(s) => (s.size, s.root_hash.clone()),
        None => (0, hex::encode(empty_root())),
    };
    let refuse = |seq, offset, check, new: Option<(u64, Hash)>, detail: String| Refusal {
        seq,
        checkpoint_offset: offset,
        check,
        old_size,
        old_root: old_root.clone(),
        new_size: new.map(|n| n.0),
        new_root: new.map(|n| hex::encode(n.1)),
        detail,
    };
    // 1. The checkpoint last cosigned is still there, unchanged.
    if let Some(s) = &state {
        let there = records.iter().find(|r| r.offset == s.checkpoint_offset);
        let same = there.and_then(|r| decode(codec, writers, r).ok()).map(|e| hex::encode(note_digest(&e.note)));
        if same.as_deref() != Some(s.note_digest.as_str()) {
            let detail = match (there, same) {
                (None, _) => format!(
                    "checkpoint {} (offset {}), the last one cosigned, is no longer on {CHECKPOINTS_TOPIC} \
                     (it holds {} checkpoints): the log's checkpoints were rolled back",
                    s.seq,
                    s.checkpoint_offset,
                    records.len()
                ),
                (Some(_), _) => format!(
                    "offset {} no longer holds checkpoint {} as cosigned (another note is there): the log's \
                     checkpoints were rewritten",
                    s.checkpoint_offset, s.seq
                ),
            };
            run.refusal = Some(refuse(None, s.checkpoint_offset, Check::History, None, detail));
            return Ok(run);
        }
    }
    let after = state.as_ref().map_or(i64::MIN, |s| s.checkpoint_offset);
    if !records.iter().any(|r| r.offset > after) {
        return Ok(run);
    }
    match log.create_topic(COSIGNATURES_TOPIC, 1).await {
        Ok(()) | Err(LogError::TopicExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let (reads, levels) = walk(log, codec, writers, &records).await?;
    let witness_id = format!("{}+{:08x}", req.signer.name(), req.signer.key_id());
    for read in reads.iter().filter(|r| r.offset > after) {
        let (old_size, old_root_hex, expected_seq, previous, key_vkey, origin) = match &state {
            Some(s) => (
                s.size,
                s.root_hash.clone(),
                s.seq + 1,
                Some(s.note_digest.clone()),
                s.log_key.clone(),
                Some(s.origin.clone()),
            ),
            None => (0, hex::encode(empty_root()), 1, None, req.log_key.to_vkey(), None),
        };
        let refuse = |seq, check, new: Option<(u64, Hash)>, detail: String| Refusal {
            seq,
            checkpoint_offset: read.offset,
            check,
            old_size,
            old_root: old_root_hex.clone(),
            new_size: new.map(|n| n.0),
            new_root: new.map(|n| hex::encode(n.1)),
            detail,
        };
        let event = match &read.event {
            Ok(e) => e,
            Err(e) => {
                run.refusal = Some(refuse(None, Check::Unreadable, None, e.clone()));
                return Ok(run);
            }
        };
        let seq_claimed = u64::try_from(event.seq).ok();
        // 2. Signed by the key in force, with the log's origin.
        let key = NoteVerifier::from_vkey(&key_vkey)
            .map_err(|e| WitnessError::State { path: req.state_file.to_path_buf(), what: format!("log_key: {e}") })?;
        let origin = origin.or_else(|| req.origin.map(str::to_string)).unwrap_or_else(|| event.origin.clone());
        if let Some(o) = req.origin.filter(|o| *o != origin) {
            return Err(WitnessError::State {
                path: req.state_file.to_path_buf(),
                what: format!("it witnesses origin {origin:?}, not {o:?}"),
            });
        }
        let opened = match Checkpoint::open(&event.note, &origin, &key, &[]) {
            Ok(o) => o,
            Err(e) => {
                let check = if matches!(e, trustloop_schemas::transparency::checkpoint::CheckpointError::Origin { .. })
                {
                    Check::Origin
                } else {
                    Check::Signature
                };
                run.refusal = Some(refuse(
                    seq_claimed,
                    check,
                    None,
                    format!("{e} (the log key in force is {}+{:08x})", key.name(), key.key_id()),
                ));
                return Ok(run);
            }
        };
        let body = &opened.checkpoint;
        let new = Some((body.size, body.root_hash));
        let ext = match LedgerExtensions::parse(&body.extensions) {
            Ok(x) => x,
            Err(e) => {
                run.refusal = Some(refuse(seq_claimed, Check::Unreadable, new, e.to_string()));
                return Ok(run);
            }
        };
        // 3. The next number, naming the last cosigned note.
        if ext.seq != expected_seq {
            run.refusal = Some(refuse(
                Some(ext.seq),
                Check::Sequence,
                new,
                format!("it is number {} where {expected_seq} comes next", ext.seq),
            ));
            return Ok(run);
        }
        if ext.previous.map(hex::encode) != previous {
            run.refusal = Some(refuse(
                Some(ext.seq),
                Check::Sequence,
                new,
                match &previous {
                    Some(p) => format!("its predecessor is not the checkpoint last cosigned (note digest {p})"),
                    None => "the first checkpoint names a predecessor".into(),
                },
            ));
            return Ok(run);
        }
        // 4. The records' tree at the new size is consistent with the root last cosigned.
        let laid = match &read.leaves {
            Ok(n) => *n,
            Err(e) => {
                run.refusal = Some(refuse(Some(ext.seq), Check::Records, new, e.clone()));
                return Ok(run);
            }
        };
        if laid != body.size {
            run.refusal = Some(refuse(
                Some(ext.seq),
                Check::Records,
                new,
                format!("the log's records, laid out by the checkpoints, make {laid} leaves, not {}", body.size),
            ));
            return Ok(run);
        }
        if body.size < old_size {
            run.refusal = Some(refuse(
                Some(ext.seq),
                Check::Consistency,
                new,
                format!("its tree of {} leaves is smaller than the {old_size} cosigned: rolled back", body.size),
            ));
            return Ok(run);
        }
        let old_root =
            hash_of(&old_root_hex).map_err(|what| WitnessError::State { path: req.state_file.to_path_buf(), what })?;
        // The records must give both trees themselves: with equal sizes the proof is empty and
        // would compare the two roots only.
        let records_old = levels.root(old_size).map(hex::encode).unwrap_or_default();
        if records_old != old_root_hex {
            run.refusal = Some(refuse(
                Some(ext.seq),
                Check::Consistency,
                new,
                format!(
                    "the log's records no longer give the tree cosigned at size {old_size} (they give root \
                     {records_old}): its history was rewritten"
                ),
            ));
            return Ok(run);
        }
        let records_new = levels.root(body.size).map(hex::encode).unwrap_or_default();
        if records_new != hex::encode(body.root_hash) {
            run.refusal = Some(refuse(
                Some(ext.seq),
                Check::Records,
                new,
                format!("the log's records give root {records_new} at size {}, not the checkpoint's", body.size),
            ));
            return Ok(run);
        }
        let proof = match levels.consistency_proof(old_size, body.size) {
            Ok(p) => p,
            Err(e) => {
                run.refusal = Some(refuse(Some(ext.seq), Check::Records, new, e.to_string()));
                return Ok(run);
            }
        };
        if let Err(e) = verify_consistency(old_size, body.size, &old_root, &body.root_hash, &proof) {
            run.refusal = Some(refuse(
                Some(ext.seq),
                Check::Consistency,
                new,
                format!("the consistency proof from size {old_size} to {} does not verify: {e}", body.size),
            ));
            return Ok(run);
        }
        // Cosign and publish, then move the state on.
        let mut note = opened.note.clone();
        note.add_signature(req.signer);
        let note = note.to_string();
        let cosignature = CheckpointCosignature {
            envelope: Envelope {
                event_id: derive_event_id("checkpoint_cosignature", &[note.as_bytes()]),
                tenant: LEDGER_TENANT.into(),
                key: origin.as_str().into(),
                event_time: EventTime::from_micros(req.now_ms.saturating_mul(1000)),
                source: LEDGER_SOURCE.into(),
                schema_version: EventType::CheckpointCosignature.schema_version(),
            },
            origin: origin.clone(),
            seq: event.seq,
            checkpoint_offset: read.offset,
            tree_size: i64::try_from(body.size).unwrap_or(i64::MAX),
            root_hash: hex::encode(body.root_hash),
            witness: witness_id.clone(),
            note,
            old_size: i64::try_from(old_size).unwrap_or(i64::MAX),
            old_root_hash: if old_size == 0 { String::new() } else { old_root_hex.clone() },
            consistency_proof: proof.iter().map(hex::encode).collect(),
        };
        let value = codec
            .encode(&Event::CheckpointCosignature(cosignature.clone()))
            .map_err(|source| LedgerError::Codec { offset: -1, source })?;
        let mut record = Record::new(Some(Bytes::copy_from_slice(origin.as_bytes())), value);
        record.timestamp_ms = Some(req.now_ms);
        log.append(COSIGNATURES_TOPIC, 0, vec![record]).await?;
        let next_key = match ext.next_key.as_deref().map(NoteVerifier::from_vkey) {
            Some(Ok(v)) => v.to_vkey(),
            _ => key.to_vkey(),
        };
        let next = WitnessState {
            origin,
            seq: ext.seq,
            checkpoint_offset: read.offset,
            size: body.size,
            root_hash: hex::encode(body.root_hash),
            note_digest: hex::encode(note_digest(&event.note)),
            log_key: next_key,
        };
        next.save(req.state_file)?;
        tracing::info!(seq = ext.seq, tree_size = body.size, witness = %witness_id, "checkpoint cosigned");
        run.cosigned.push(cosignature);
        state = Some(next);
        run.state = state.clone();
    }
    Ok(run)
}

/// Every cosignature on [`COSIGNATURES_TOPIC`] whose witness key is one of `witnesses` and whose
/// signature verifies, by the checkpoint text it cosigns: text → `name+keyid` of the witnesses.
async fn verified_cosignatures(
    log: &dyn EventLog,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    witnesses: &[NoteVerifier],
) -> Result<BTreeMap<String, Vec<(String, SignedNote)>>, WitnessError> {
    let records = match log.offsets(COSIGNATURES_TOPIC).await {
        Ok(o) => {
            let start = o.first().map_or(0, |p| p.start);
            PartitionReader::new(COSIGNATURES_TOPIC, 0, start).read_all(log).await?
        }
        Err(LogError::UnknownTopic(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut out: BTreeMap<String, Vec<(String, SignedNote)>> = BTreeMap::new();
    for r in &records {
        let Ok(Event::CheckpointCosignature(c)) = codec.decode(&r.value, writers) else {
            tracing::warn!(offset = r.offset, "{COSIGNATURES_TOPIC}: a record that is not a cosignature");
            continue;
        };
        let Ok(note) = SignedNote::parse(&c.note) else { continue };
        for w in witnesses {
            // Only a signature by this very witness counts; any other line is ignored.
            if note.signatures.iter().any(|s| s.name == w.name() && s.key_id == w.key_id())
                && note.verify(std::slice::from_ref(w)).is_ok()
            {
                let id = format!("{}+{:08x}", w.name(), w.key_id());
                let list = out.entry(note.text.clone()).or_default();
                if !list.iter().any(|(i, _)| *i == id) {
                    list.push((id, note.clone()));
                }
            }
        }
    }
    Ok(out)
}

/// One checkpoint and the witnesses that cosigned it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckpointWitnesses {
    /// Its number (as the event says).
    pub seq: i64,
    /// Its offset on [`CHECKPOINTS_TOPIC`].
    pub offset: i64,
    /// `name+keyid` of each given witness whose valid cosignature is on [`COSIGNATURES_TOPIC`].
    pub cosigned_by: Vec<String>,
}

/// The checkpoints' cosignatures by `witnesses`, and whether the newest has `quorum` of them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WitnessReport {
    /// The quorum asked for.
    pub quorum: usize,
    /// Each checkpoint, in order.
    pub checkpoints: Vec<CheckpointWitnesses>,
}

impl WitnessReport {
    /// Whether the newest checkpoint is cosigned by at least `quorum` of the witnesses (a log
    /// without checkpoints has nothing to cosign and fails).
    pub fn is_ok(&self) -> bool {
        self.checkpoints.last().is_some_and(|c| c.cosigned_by.len() >= self.quorum)
    }

    /// One line per checkpoint, then the verdict on the newest.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for c in &self.checkpoints {
            let _ = writeln!(
                out,
                "  checkpoint {} (offset {}): {}",
                c.seq,
                c.offset,
                if c.cosigned_by.is_empty() {
                    "not cosigned".to_string()
                } else {
                    format!("cosigned by {}", c.cosigned_by.join(", "))
                }
            );
        }
        let _ = match self.checkpoints.last() {
            Some(c) => writeln!(
                out,
                "{} the newest checkpoint ({}) has {} of the {} cosignatures required",
                if self.is_ok() { "WITNESSED" } else { "NOT WITNESSED" },
                c.seq,
                c.cosigned_by.len(),
                self.quorum
            ),
            None => writeln!(out, "NOT WITNESSED: the log has no checkpoints"),
        };
        out
    }
}

/// Which of `witnesses` cosigned each checkpoint of `log` (`log verify --witness`): a cosignature
/// counts when its note's text is the checkpoint's and the witness's signature on it verifies.
pub async fn cosignatures(
    log: &dyn EventLog,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    witnesses: &[NoteVerifier],
    quorum: usize,
) -> Result<WitnessReport, WitnessError> {
    let by_text = verified_cosignatures(log, codec, writers, witnesses).await?;
    let records = match log.offsets(CHECKPOINTS_TOPIC).await {
        Ok(o) => {
            let start = o.first().map_or(0, |p| p.start);
            PartitionReader::new(CHECKPOINTS_TOPIC, 0, start).read_all(log).await?
        }
        Err(LogError::UnknownTopic(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut report = WitnessReport { quorum, checkpoints: Vec::new() };
    for r in &records {
        let Ok(event) = decode(codec, writers, r) else { continue };
        let text = SignedNote::parse(&event.note).map(|n| n.text).unwrap_or_default();
        let cosigned_by = by_text.get(&text).map(|l| l.iter().map(|(id, _)| id.clone()).collect()).unwrap_or_default();
        report.checkpoints.push(CheckpointWitnesses { seq: event.seq, offset: r.offset, cosigned_by });
    }
    Ok(report)
}

/// `note` with the signature lines of every cosignature of its text on [`COSIGNATURES_TOPIC`]
/// added (whatever witness made them: a verifier counts only the witnesses it trusts); `note`
/// unchanged when there is none.
pub async fn cosigned_note(
    log: &dyn EventLog,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    note: &str,
) -> Result<String, WitnessError> {
    let Ok(mut merged) = SignedNote::parse(note) else { return Ok(note.to_string()) };
    let records = match log.offsets(COSIGNATURES_TOPIC).await {
        Ok(o) => {
            let start = o.first().map_or(0, |p| p.start);
            PartitionReader::new(COSIGNATURES_TOPIC, 0, start).read_all(log).await?
        }
        Err(LogError::UnknownTopic(_)) => return Ok(note.to_string()),
        Err(e) => return Err(e.into()),
    };
    for r in &records {
        let Ok(Event::CheckpointCosignature(c)) = codec.decode(&r.value, writers) else { continue };
        let Ok(other) = SignedNote::parse(&c.note) else { continue };
        if other.text != merged.text {
            continue;
        }
        for s in other.signatures {
            if merged.signatures.len() < trustloop_schemas::transparency::checkpoint::MAX_SIGNATURES
                && !merged.signatures.iter().any(|m| m.name == s.name && m.key_id == s.key_id)
            {
                merged.signatures.push(s);
            }
        }
    }
    Ok(merged.to_string())
}

#[cfg(test)]
mod tests;
