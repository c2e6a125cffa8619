//! Making a checkpoint: what was appended since the last one read, hashed into the tree and the
//! chains, signed, and appended to [`CHECKPOINTS_TOPIC`] as a [`LogCheckpoint`] event.

use std::collections::BTreeMap;

use bytes::Bytes;
use trustloop_schemas::transparency::checkpoint::{Checkpoint, NoteSigner, NoteVerifier, SignedNote};
use trustloop_schemas::transparency::ledger::{ChainSpan, LedgerExtensions, chain_start, note_digest};
use trustloop_schemas::transparency::merkle::{CompactTree, Hash};
use trustloop_schemas::{
    Envelope, Event, EventCodec, EventTime, EventType, LogCheckpoint, WriterSchemas, derive_event_id,
};

use super::span::hash_span;
use super::{CHECKPOINTS_TOPIC, LedgerError, covered_topics};
use crate::log::{EventLog, PartitionReader, Record, StoredRecord};

/// The origin a log's first checkpoint gets when none is given.
pub const DEFAULT_ORIGIN: &str = "trustloop.local/log";

/// The tenant checkpoints are written under: they are the log's, not a tenant's.
pub const LEDGER_TENANT: &str = "system";
/// The source checkpoints are written by.
pub const LEDGER_SOURCE: &str = "trustloop-ledger";

/// The last checkpoint of a log, as the next one goes on from it.
#[derive(Debug, Clone)]
pub struct LedgerState {
    /// Its offset in [`CHECKPOINTS_TOPIC`].
    pub offset: i64,
    /// The checkpoint event.
    pub event: LogCheckpoint,
    /// Its body.
    pub checkpoint: Checkpoint,
    /// Its extension lines, read.
    pub extensions: LedgerExtensions,
    /// The tree after it, from its right edge.
    pub tree: CompactTree,
}

impl LedgerState {
    /// The `name+keyid` that must sign the next checkpoint: the key it announced, or its own.
    pub fn next_signer(&self) -> String {
        match self.extensions.next_key.as_deref().map(NoteVerifier::from_vkey) {
            Some(Ok(v)) => format!("{}+{:08x}", v.name(), v.key_id()),
            _ => self.event.signed_by.first().cloned().unwrap_or_default(),
        }
    }
}

/// Reads a checkpoint event from its record.
pub(super) fn decode(
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    r: &StoredRecord,
) -> Result<LogCheckpoint, LedgerError> {
    match codec.decode(&r.value, writers) {
        Ok(Event::LogCheckpoint(c)) => Ok(c),
        Ok(other) => Err(LedgerError::BadCheckpoint {
            offset: r.offset,
            what: format!("a {} event, not a checkpoint", other.event_type()),
        }),
        Err(source) => Err(LedgerError::Codec { offset: r.offset, source }),
    }
}

/// The hex hashes of a tree's right edge, and back.
fn peaks_hex(tree: &CompactTree) -> Vec<String> {
    tree.peaks().iter().map(hex::encode).collect()
}

pub(super) fn tree_from(event: &LogCheckpoint) -> Result<CompactTree, String> {
    let peaks = event
        .peaks
        .iter()
        .map(|p| {
            let raw = hex::decode(p).map_err(|_| format!("peak {p:?} is not hex"))?;
            <Hash>::try_from(raw.as_slice()).map_err(|_| format!("peak {p:?} is not 32 bytes"))
        })
        .collect::<Result<Vec<Hash>, String>>()?;
    let size = u64::try_from(event.tree_size).map_err(|_| format!("tree size {}", event.tree_size))?;
    CompactTree::from_parts(size, peaks).map_err(|e| e.to_string())
}

/// The last checkpoint of the log, if it has one. Reads back from the end of [`CHECKPOINTS_TOPIC`],
/// not the whole topic.
pub async fn last_checkpoint(
    log: &dyn EventLog,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
) -> Result<Option<LedgerState>, LedgerError> {
    let offsets = match log.offsets(CHECKPOINTS_TOPIC).await {
        Ok(o) => o,
        Err(crate::log::LogError::UnknownTopic(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(p) = offsets.first() else { return Ok(None) };
    let mut back = 1i64;
    let last = loop {
        let from = (p.end - back).max(p.start);
        let records = PartitionReader::new(CHECKPOINTS_TOPIC, 0, from).until(p.end).read_all(log).await?;
        if let Some(r) = records.into_iter().next_back() {
            break r;
        }
        if from <= p.start {
            return Ok(None);
        }
        back = back.saturating_mul(16);
    };
    let event = decode(codec, writers, &last)?;
    let bad = |what: String| LedgerError::BadCheckpoint { offset: last.offset, what };
    let note = SignedNote::parse(&event.note).map_err(|e| bad(e.to_string()))?;
    let checkpoint = Checkpoint::parse(&note.text).map_err(|e| bad(e.to_string()))?;
    let extensions = LedgerExtensions::parse(&checkpoint.extensions).map_err(|e| bad(e.to_string()))?;
    let tree = tree_from(&event).map_err(&bad)?;
    if tree.size() != checkpoint.size || tree.root() != checkpoint.root_hash {
        return Err(bad("its stored right edge does not give its tree head".into()));
    }
    Ok(Some(LedgerState { offset: last.offset, event, checkpoint, extensions, tree }))
}

/// What to checkpoint with.
#[derive(Debug)]
pub struct CheckpointRequest<'a> {
    /// The log's origin line (checked against the last checkpoint's); `None`: the last
    /// checkpoint's, or [`DEFAULT_ORIGIN`] for a log's first.
    pub origin: Option<&'a str>,
    /// The log's key.
    pub signer: &'a NoteSigner,
    /// A key to sign the checkpoints after this one (key rotation), announced in this one.
    pub next_key: Option<&'a NoteVerifier>,
    /// Why (`manual`, `interval`, `verdict`).
    pub reason: &'a str,
    /// Now, in ms since the Unix epoch (the checkpoint's time; not an operator input).
    pub now_ms: i64,
}

/// A checkpoint made.
#[derive(Debug, Clone)]
pub struct Made {
    /// Its offset in [`CHECKPOINTS_TOPIC`].
    pub offset: i64,
    /// The event appended.
    pub event: LogCheckpoint,
    /// Its spans.
    pub spans: Vec<ChainSpan>,
}

/// Makes the next checkpoint of `log`: reads every covered partition from where the last
/// checkpoint ended up to its end offset now, extends the tree and the chains, signs and appends.
/// A log without checkpoints starts each partition's chained history at its first retained offset.
pub async fn checkpoint(
    log: &dyn EventLog,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    req: &CheckpointRequest<'_>,
) -> Result<Made, LedgerError> {
    match log.create_topic(CHECKPOINTS_TOPIC, 1).await {
        // Made with more partitions elsewhere: checkpoints go to partition 0 all the same.
        Ok(()) | Err(crate::log::LogError::TopicExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let last = last_checkpoint(log, codec, writers).await?;
    let signer_id = format!("{}+{:08x}", req.signer.name(), req.signer.key_id());
    let origin = match (req.origin, &last) {
        (Some(o), _) => o.to_string(),
        (None, Some(s)) => s.checkpoint.origin.clone(),
        (None, None) => DEFAULT_ORIGIN.to_string(),
    };
    let (mut tree, mut heads, seq, previous, checkpoints_end) = match &last {
        Some(s) => {
            if s.checkpoint.origin != origin {
                return Err(LedgerError::Key(format!(
                    "the log's checkpoints have origin {:?}, not {:?}",
                    s.checkpoint.origin, origin
                )));
            }
            let expected = s.next_signer();
            if expected != signer_id {
                return Err(LedgerError::Key(format!(
                    "checkpoint {} must be signed by {expected}{}, not {signer_id}",
                    s.extensions.seq + 1,
                    if s.extensions.next_key.is_some() {
                        " (announced by the last checkpoint)"
                    } else {
                        " (the last checkpoint's key)"
                    }
                )));
            }
            let heads: BTreeMap<(String, u32), (i64, Hash)> = s
                .extensions
                .spans
                .iter()
                .map(|sp| ((sp.topic.clone(), sp.partition), (sp.next_offset, sp.head)))
                .collect();
            (s.tree.clone(), heads, s.extensions.seq + 1, Some(note_digest(&s.event.note)), s.offset + 1)
        }
        None => (
            CompactTree::new(),
            BTreeMap::new(),
            1,
            None,
            log.offsets(CHECKPOINTS_TOPIC).await?.first().map_or(0, |p| p.end),
        ),
    };
    let mut spans = Vec::new();
    let mut added = 0u64;
    for (topic, partitions) in covered_topics(log).await? {
        let offsets = log.offsets(&topic).await?;
        for partition in 0..partitions {
            let Some(o) = offsets.get(partition as usize) else { continue };
            let (from, head) = match heads.remove(&(topic.clone(), partition)) {
                Some((next, head)) => (next, head),
                None => (o.start, chain_start(&topic, partition)),
            };
            let first_leaf = tree.size();
            let hashed = hash_span(log, &topic, partition, from, o.end.max(from), head, |_, leaf| {
                tree.append_leaf_hash(*leaf);
            })
            .await?;
            added += hashed.records;
            spans.push(ChainSpan {
                topic: topic.clone(),
                partition,
                from_offset: from,
                next_offset: hashed.next_offset,
                first_leaf,
                records: hashed.records,
                head: hashed.head,
            });
        }
    }
    // Partitions the last checkpoint named that the log no longer lists stay named, unchanged: a
    // checkpoint never forgets a chain.
    for ((topic, partition), (next, head)) in heads {
        spans.push(ChainSpan {
            topic,
            partition,
            from_offset: next,
            next_offset: next,
            first_leaf: tree.size(),
            records: 0,
            head,
        });
    }
    spans.sort_by(|a, b| (a.topic.as_str(), a.partition).cmp(&(b.topic.as_str(), b.partition)));
    // Leaves were appended in covered-topic order, which is this order; the partitions kept from the
    // last checkpoint hold none and take their place in it.
    let mut leaf = tree.size() - added;
    for s in &mut spans {
        s.first_leaf = leaf;
        leaf += s.records;
    }
    let extensions = LedgerExtensions {
        seq,
        time_ms: req.now_ms,
        previous,
        spans: spans.clone(),
        next_key: req.next_key.map(NoteVerifier::to_vkey),
    };
    let body = Checkpoint {
        origin: origin.clone(),
        size: tree.size(),
        root_hash: tree.root(),
        extensions: extensions.to_lines(),
    };
    let note = body.sign(&[req.signer]).map_err(|e| LedgerError::Key(e.to_string()))?.to_string();
    let event = LogCheckpoint {
        envelope: Envelope {
            event_id: derive_event_id("log_checkpoint", &[note.as_bytes()]),
            tenant: LEDGER_TENANT.into(),
            key: origin.as_str().into(),
            event_time: EventTime::from_micros(req.now_ms.saturating_mul(1000)),
            source: LEDGER_SOURCE.into(),
            schema_version: EventType::LogCheckpoint.schema_version(),
        },
        origin: origin.clone(),
        seq: i64::try_from(seq).unwrap_or(i64::MAX),
        tree_size: i64::try_from(tree.size()).unwrap_or(i64::MAX),
        root_hash: hex::encode(tree.root()),
        records: i64::try_from(added).unwrap_or(i64::MAX),
        note,
        signed_by: vec![signer_id],
        peaks: peaks_hex(&tree),
        reason: req.reason.to_string(),
    };
    let value = codec
        .encode(&Event::LogCheckpoint(event.clone()))
        .map_err(|source| LedgerError::Codec { offset: -1, source })?;
    // One checkpointer per log: refuse to fork the sequence if another appended meanwhile.
    let end = log.offsets(CHECKPOINTS_TOPIC).await?.first().map_or(0, |p| p.end);
    if end != checkpoints_end {
        return Err(LedgerError::Raced { offset: end - 1 });
    }
    let mut record = Record::new(Some(Bytes::copy_from_slice(origin.as_bytes())), value);
    record.timestamp_ms = Some(req.now_ms);
    let appended = log.append(CHECKPOINTS_TOPIC, 0, vec![record]).await?;
    tracing::info!(seq, tree_size = event.tree_size, records = added, "checkpoint appended");
    Ok(Made { offset: appended.first_offset().unwrap_or(checkpoints_end), event, spans })
}
