//! `trustloop log verify`: the log checked against its signed checkpoints.
//!
//! Every checkpoint, in order: its signature by the log's key (the key given, then each key a
//! valid checkpoint announced), its number and the digest of its predecessor, its origin; then each
//! partition's span re-read from the log, its records counted, its chain recomputed, and every leaf
//! appended to a tree whose size and root must be the checkpoint's. A break is reported where it is
//! (checkpoint, topic, partition, offsets, and for corrupt data the file and byte the log names),
//! and verification goes on from what the checkpoint claims, so one break does not hide the next.
//! Records after the last checkpoint, and partitions no checkpoint names, are not breaks: they are
//! reported as not yet covered.

use std::collections::BTreeMap;

use serde::Serialize;
use trustloop_schemas::transparency::checkpoint::{Checkpoint, NoteVerifier, SignedNote, VerifiedCheckpoint};
use trustloop_schemas::transparency::ledger::{LedgerExtensions, chain_start, note_digest};
use trustloop_schemas::transparency::merkle::{CompactTree, Hash};
use trustloop_schemas::{EventCodec, WriterSchemas};

use super::checkpointer::{decode, tree_from};
use super::span::hash_span;
use super::{CHECKPOINTS_TOPIC, LedgerError, covered_topics};
use crate::log::{EventLog, LogError, PartitionReader};

/// What kind of break.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// A checkpoint record that is not a readable checkpoint.
    Unreadable,
    /// A checkpoint not signed by the key expected (or not signed validly).
    Signature,
    /// A checkpoint whose number is not the one after its predecessor's (removed, replayed, rolled
    /// back), or that does not name its predecessor.
    Sequence,
    /// A span that does not start where the partition's previous span ended.
    Span,
    /// A partition that a checkpoint no longer names.
    MissingPartition,
    /// Records the log cannot hand out (corrupt data, an I/O error).
    Data,
    /// A partition that ends before what a checkpoint covers.
    Truncated,
    /// A span whose record count is not the checkpoint's (where offsets may hold no record: Kafka's
    /// transaction markers).
    Count,
    /// A span whose records hash to another chain head than the checkpoint's: records edited,
    /// removed, inserted or reordered (offsets are part of each leaf, so a record removed or
    /// inserted changes every span after it up to the end of what was rewritten).
    Chain,
    /// A tree size or root that is not the checkpoint's.
    Tree,
}

/// One break in the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// What kind.
    pub kind: BreakKind,
    /// The checkpoint's number, if known.
    pub checkpoint: Option<u64>,
    /// The checkpoint's offset in [`CHECKPOINTS_TOPIC`].
    pub checkpoint_offset: i64,
    /// The topic, for a break in a partition.
    pub topic: Option<String>,
    /// The partition.
    pub partition: Option<u32>,
    /// The offsets concerned, `[from, to)`.
    pub offsets: Option<(i64, i64)>,
    /// What differs.
    pub detail: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.checkpoint {
            Some(seq) => write!(f, "checkpoint {seq} (offset {})", self.checkpoint_offset)?,
            None => write!(f, "checkpoint at offset {}", self.checkpoint_offset)?,
        }
        if let (Some(t), Some(p)) = (&self.topic, self.partition) {
            write!(f, ", {t}/{p}")?;
        }
        if let Some((a, b)) = self.offsets {
            write!(f, " offsets [{a}, {b})")?;
        }
        write!(f, ": {:?}: {}", self.kind, self.detail)
    }
}

/// A partition's records after the last checkpoint (or never checkpointed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Uncovered {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// From this offset…
    pub from: i64,
    /// …to the end offset.
    pub end: i64,
    /// Whether any checkpoint names the partition.
    pub checkpointed: bool,
}

/// What verifying a log found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LogVerification {
    /// Checkpoint records read.
    pub checkpoints: u64,
    /// Of those, the ones whose signature verified.
    pub signed: u64,
    /// Records re-read and hashed.
    pub records: u64,
    /// The last checkpoint's tree size.
    pub tree_size: u64,
    /// `name+keyid` of each key that signed, in order of first use.
    pub keys: Vec<String>,
    /// Every break found.
    pub breaks: Vec<Break>,
    /// Where chained history starts, key rotations and other facts worth knowing.
    pub notices: Vec<String>,
    /// Records no checkpoint covers yet.
    pub uncovered: Vec<Uncovered>,
}

impl LogVerification {
    /// Whether the log verified: no break.
    pub fn is_ok(&self) -> bool {
        self.breaks.is_empty()
    }

    /// A summary line, the breaks, the notices and what is not covered yet.
    pub fn render(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} checkpoint{} ({} signed by {}), {} records re-read, tree of {} leaves, {} break{}",
            if !self.is_ok() {
                "BROKEN"
            } else if self.checkpoints == 0 {
                "UNCHAINED"
            } else {
                "VERIFIED"
            },
            self.checkpoints,
            if self.checkpoints == 1 { "" } else { "s" },
            self.signed,
            if self.keys.is_empty() { "no trusted key".to_string() } else { self.keys.join(", ") },
            self.records,
            self.tree_size,
            self.breaks.len(),
            if self.breaks.len() == 1 { "" } else { "s" },
        );
        for b in &self.breaks {
            let _ = writeln!(out, "  break: {b}");
        }
        for n in &self.notices {
            let _ = writeln!(out, "  notice: {n}");
        }
        for u in &self.uncovered {
            let _ = writeln!(
                out,
                "  not yet covered: {}/{} offsets [{}, {}){}",
                u.topic,
                u.partition,
                u.from,
                u.end,
                if u.checkpointed { "" } else { " (no checkpoint names this partition)" }
            );
        }
        out
    }
}

/// Whom to trust.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    /// The log's keys: any of them may sign until a checkpoint announces a next key; from then on
    /// only the announced key may.
    pub keys: &'a [NoteVerifier],
    /// The origin expected; `None`: the first checkpoint's.
    pub origin: Option<&'a str>,
}

/// Opens `note` with the first of `keys` that signed it.
fn open_with(note: &str, origin: &str, keys: &[NoteVerifier]) -> Result<VerifiedCheckpoint, String> {
    let mut first_error = None;
    for k in keys {
        match Checkpoint::open(note, origin, k, &[]) {
            Ok(v) => return Ok(v),
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    Err(first_error.unwrap_or_else(|| "no key to verify it with".to_string()))
}

/// Verifies `log` against its checkpoints (see the module docs).
pub async fn verify_log(
    log: &dyn EventLog,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    req: &VerifyRequest<'_>,
) -> Result<LogVerification, LedgerError> {
    let mut report = LogVerification::default();
    let records = match log.offsets(CHECKPOINTS_TOPIC).await {
        Ok(offsets) => {
            for (p, o) in offsets.iter().enumerate().skip(1).filter(|(_, o)| o.end > o.start) {
                report.notices.push(format!(
                    "{CHECKPOINTS_TOPIC}/{p} holds {} records: checkpoints are only ever read from partition 0",
                    o.end - o.start
                ));
            }
            let start = offsets.first().map_or(0, |o| o.start);
            PartitionReader::new(CHECKPOINTS_TOPIC, 0, start).read_all(log).await?
        }
        Err(LogError::UnknownTopic(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut accepted: Vec<NoteVerifier> = req.keys.to_vec();
    let mut origin: Option<String> = req.origin.map(str::to_string);
    let mut tree = CompactTree::new();
    // The tree recomputed from the log agrees with the last checkpoint's (else it is re-seeded from
    // the checkpoint's right edge after each checkpoint).
    let mut heads: BTreeMap<(String, u32), (i64, Hash)> = BTreeMap::new();
    let mut last: Option<(u64, String)> = None;
    for r in &records {
        report.checkpoints += 1;
        let at = r.offset;
        let brk = |kind, checkpoint, detail: String| Break {
            kind,
            checkpoint,
            checkpoint_offset: at,
            topic: None,
            partition: None,
            offsets: None,
            detail,
        };
        let event = match decode(codec, writers, r) {
            Ok(e) => e,
            Err(e) => {
                report.breaks.push(brk(BreakKind::Unreadable, None, e.to_string()));
                continue;
            }
        };
        let origin_now = match &origin {
            Some(o) => o.clone(),
            None => match SignedNote::parse(&event.note).ok().and_then(|n| Checkpoint::parse(&n.text).ok()) {
                Some(c) => {
                    origin = Some(c.origin.clone());
                    c.origin
                }
                None => {
                    report.breaks.push(brk(BreakKind::Unreadable, None, "its note is not a checkpoint".into()));
                    continue;
                }
            },
        };
        let opened = match open_with(&event.note, &origin_now, &accepted) {
            Ok(v) => v,
            Err(e) => {
                let keys: Vec<String> = accepted.iter().map(|k| format!("{}+{:08x}", k.name(), k.key_id())).collect();
                report.breaks.push(brk(
                    BreakKind::Signature,
                    u64::try_from(event.seq).ok(),
                    format!("{e} (expected a signature by {})", keys.join(" or ")),
                ));
                continue;
            }
        };
        report.signed += 1;
        if let Some(k) = opened.signed_by.first()
            && !report.keys.contains(k)
        {
            report.keys.push(k.clone());
        }
        let body = opened.checkpoint;
        let ext = match LedgerExtensions::parse(&body.extensions) {
            Ok(x) => x,
            Err(e) => {
                report.breaks.push(brk(
                    BreakKind::Unreadable,
                    None,
                    format!("a signed checkpoint that is not a trustloop ledger's: {e}"),
                ));
                continue;
            }
        };
        let seq = Some(ext.seq);
        let expected_seq = last.as_ref().map_or(1, |(s, _)| s + 1);
        if ext.seq != expected_seq {
            report.breaks.push(brk(
                BreakKind::Sequence,
                seq,
                format!("it is number {} where number {expected_seq} comes next: a checkpoint removed, replayed or rolled back", ext.seq),
            ));
        }
        if let Some((prev_seq, prev_note)) = &last
            && ext.previous != Some(note_digest(prev_note))
        {
            report.breaks.push(brk(
                BreakKind::Sequence,
                seq,
                format!("it does not name checkpoint {prev_seq}, the one before it in the log, as its predecessor"),
            ));
        }
        if body.size < tree.size() {
            report.breaks.push(brk(
                BreakKind::Tree,
                seq,
                format!(
                    "its tree of {} leaves is smaller than the previous checkpoint's {}: rolled back",
                    body.size,
                    tree.size()
                ),
            ));
        }
        let mut in_sync = ext.first_leaf().is_none_or(|f| f == tree.size());
        let offsets = ext.spans.iter().map(|s| s.topic.clone()).collect::<std::collections::BTreeSet<_>>();
        let mut now_offsets: BTreeMap<String, Vec<crate::log::PartitionOffsets>> = BTreeMap::new();
        for t in offsets {
            match log.offsets(&t).await {
                Ok(o) => {
                    now_offsets.insert(t, o);
                }
                Err(LogError::UnknownTopic(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let mut named = std::collections::BTreeSet::new();
        for span in &ext.spans {
            let key = (span.topic.clone(), span.partition);
            named.insert(key.clone());
            let pbrk = |kind, offsets: Option<(i64, i64)>, detail: String| Break {
                kind,
                checkpoint: seq,
                checkpoint_offset: at,
                topic: Some(span.topic.clone()),
                partition: Some(span.partition),
                offsets,
                detail,
            };
            let range = Some((span.from_offset, span.next_offset));
            let first_retained =
                now_offsets.get(&span.topic).and_then(|o| o.get(span.partition as usize)).map(|o| o.start);
            let head = match heads.get(&key) {
                Some(&(next, head)) => {
                    if span.from_offset != next {
                        report.breaks.push(pbrk(
                            BreakKind::Span,
                            range,
                            format!(
                                "the span starts at offset {} but the previous checkpoint covered up to {next}",
                                span.from_offset
                            ),
                        ));
                    }
                    head
                }
                None => {
                    report.notices.push(format!(
                        "{}/{}: chained history starts at offset {} (checkpoint {})",
                        span.topic, span.partition, span.from_offset, ext.seq
                    ));
                    if let Some(start) = first_retained.filter(|s| *s < span.from_offset) {
                        report.notices.push(format!(
                            "{}/{}: offsets [{start}, {}) came before any checkpoint and are not covered",
                            span.topic, span.partition, span.from_offset
                        ));
                    }
                    chain_start(&span.topic, span.partition)
                }
            };
            heads.insert(key, (span.next_offset, span.head));
            if span.next_offset == span.from_offset {
                // Nothing appended since the last checkpoint: the head carries over.
                if span.head != head {
                    report.breaks.push(pbrk(BreakKind::Chain, range, "an empty span whose chain head changed".into()));
                }
                continue;
            }
            if first_retained.is_none_or(|s| s > span.from_offset) && span.next_offset > span.from_offset {
                report.notices.push(format!(
                    "{}/{}: offsets [{}, {}) are no longer retained; their chain is taken from checkpoint {} unchecked",
                    span.topic,
                    span.partition,
                    span.from_offset,
                    first_retained.map_or(span.next_offset, |s| s.min(span.next_offset)),
                    ext.seq
                ));
                in_sync = false;
                continue;
            }
            let hashed =
                hash_span(log, &span.topic, span.partition, span.from_offset, span.next_offset, head, |_, leaf| {
                    if in_sync {
                        tree.append_leaf_hash(*leaf);
                    }
                })
                .await;
            let hashed = match hashed {
                Ok(h) => h,
                Err(e) => {
                    report.breaks.push(pbrk(BreakKind::Data, range, e.to_string()));
                    in_sync = false;
                    continue;
                }
            };
            report.records += hashed.records;
            if hashed.next_offset < span.next_offset {
                report.breaks.push(pbrk(
                    BreakKind::Truncated,
                    Some((hashed.next_offset, span.next_offset)),
                    format!(
                        "the partition ends at offset {}; the checkpoint covers it up to {}",
                        hashed.next_offset, span.next_offset
                    ),
                ));
                in_sync = false;
            } else if hashed.records != span.records {
                report.breaks.push(pbrk(
                    BreakKind::Count,
                    range,
                    format!(
                        "the checkpoint signed {} records here, the log holds {}: records removed or inserted{}",
                        span.records,
                        hashed.records,
                        hashed.first_gap.map_or(String::new(), |(a, b)| format!(
                            "; offsets [{a}, {b}) hold no record (a gap, as a batch `trustloop log repair` \
                             quarantined leaves: its dead letter on dlq names the quarantine file)"
                        )),
                    ),
                ));
                in_sync = false;
            } else if hashed.head != span.head {
                report.breaks.push(pbrk(
                    BreakKind::Chain,
                    range,
                    "the records here are not the ones the checkpoint signed: edited, removed, inserted or reordered"
                        .into(),
                ));
                in_sync = false;
            }
        }
        for (t, p) in heads.keys() {
            if !named.contains(&(t.clone(), *p)) {
                report.breaks.push(Break {
                    kind: BreakKind::MissingPartition,
                    checkpoint: seq,
                    checkpoint_offset: at,
                    topic: Some(t.clone()),
                    partition: Some(*p),
                    offsets: None,
                    detail: "an earlier checkpoint named this partition; this one does not".into(),
                });
            }
        }
        if in_sync && (tree.size() != body.size || tree.root() != body.root_hash) {
            report.breaks.push(brk(
                BreakKind::Tree,
                seq,
                format!(
                    "the log's records give a tree of {} leaves with root {}; the checkpoint signed {} leaves with root {}",
                    tree.size(),
                    hex::encode(tree.root()),
                    body.size,
                    hex::encode(body.root_hash)
                ),
            ));
            in_sync = false;
        }
        if !in_sync {
            // Go on from what the checkpoint claims, so later checkpoints are checked on their own.
            match tree_from(&event) {
                Ok(t) if t.size() == body.size && t.root() == body.root_hash => tree = t,
                _ => {
                    report.breaks.push(brk(
                        BreakKind::Tree,
                        seq,
                        "its stored right edge does not give its tree head; later tree heads are not checked".into(),
                    ));
                    tree = CompactTree::new();
                }
            }
        }
        if let Some(k) = &ext.next_key {
            match NoteVerifier::from_vkey(k) {
                Ok(v) => {
                    report.notices.push(format!(
                        "checkpoint {} hands the log's key on to {}+{:08x}",
                        ext.seq,
                        v.name(),
                        v.key_id()
                    ));
                    accepted = vec![v];
                }
                Err(e) => report.breaks.push(brk(BreakKind::Unreadable, seq, format!("its next key: {e}"))),
            }
        }
        report.tree_size = body.size;
        last = Some((ext.seq, event.note.clone()));
    }
    if records.is_empty() {
        report.notices.push(
            "the log has no checkpoints: nothing in it is chained or signed yet (make one with `trustloop log checkpoint`)"
                .to_string(),
        );
    }
    for (topic, partitions) in covered_topics(log).await? {
        let offsets = log.offsets(&topic).await?;
        for partition in 0..partitions {
            let Some(o) = offsets.get(partition as usize) else { continue };
            match heads.get(&(topic.clone(), partition)) {
                Some(&(next, _)) if o.end < next => report.breaks.push(Break {
                    kind: BreakKind::Truncated,
                    checkpoint: last.as_ref().map(|l| l.0),
                    checkpoint_offset: records.last().map_or(-1, |r| r.offset),
                    topic: Some(topic.clone()),
                    partition: Some(partition),
                    offsets: Some((o.end, next)),
                    detail: format!(
                        "the partition ends at offset {}; the last checkpoint covers it up to {next}",
                        o.end
                    ),
                }),
                Some(&(next, _)) if o.end > next => {
                    report.uncovered.push(Uncovered {
                        topic: topic.clone(),
                        partition,
                        from: next,
                        end: o.end,
                        checkpointed: true,
                    });
                }
                Some(_) => {}
                None if o.end > o.start => report.uncovered.push(Uncovered {
                    topic: topic.clone(),
                    partition,
                    from: o.start,
                    end: o.end,
                    checkpointed: false,
                }),
                None => {}
            }
        }
    }
    Ok(report)
}
