//! `log repair` on the embedded log: every damaged stretch of every segment of every partition
//! (internal topics too) moved into a quarantine file, the segment rewritten without it.
//!
//! What is damaged is [`salvage::analyse`]'s call. Nothing is deleted: each damaged stretch's exact
//! bytes go to `quarantine/<topic>/<partition>/<segment>-<byte position>.batch` (with a `.json`
//! beside it saying what was wrong), and every other batch is copied into the new segment byte for
//! byte. The offsets a quarantined stretch held become a gap in the partition's `gaps.json`, which
//! readers step over; at the end of a partition's last segment they are not a gap (they were never
//! readable, and the next append takes them). Offsets that no batch holds and no gap lists (a batch
//! removed whole) are listed as a gap too, with nothing to move.
//!
//! Safe to interrupt: for each segment, the quarantine files are written and fsynced first, then
//! the gap journal (replaced atomically), then the segment's index is removed (it is derived data,
//! rebuilt from the segment), the new segment is written beside the old one, fsynced and renamed
//! over it (the directory fsynced), and the new index written the same way. Run again, a repair
//! finds what is left and reuses quarantine files that already hold the same bytes.
//!
//! A repair holds `open.lock` exclusively: it refuses to start while any other process (or any
//! [`EmbeddedLog`](super::EmbeddedLog) in this one) has the log open, and the log cannot be opened
//! while it runs. A dry run holds it shared, and `batches.lock` shared so no append lands mid-scan.

use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::gaps::{GapEntry, GapFile};
use super::partition::{INDEX_ENTRY, list_segments, segment_name};
use super::salvage::{self, Damage, DamageKind, Piece};
use super::{BatchLock, TopicMeta, lock_open, now_ms, write_atomically};
use crate::log::{LogError, LogResult};

/// How to repair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepairOptions {
    /// Find and report; change nothing.
    pub dry_run: bool,
}

/// What kind of thing a repair found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// Bytes that are not a good batch: a checksum mismatch, a malformed body, a length that does
    /// not frame a batch, offsets out of order.
    Corrupt,
    /// An incomplete batch at the end of a segment.
    TornTail,
    /// Offsets that no batch holds and no gap lists (a batch removed whole): nothing to move.
    MissingOffsets,
}

/// One thing a repair found, and (unless a dry run) moved aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// The segment file.
    pub segment: PathBuf,
    /// Byte position in the segment as it was before the repair.
    pub position: u64,
    /// Bytes moved to the quarantine file (0 for missing offsets).
    pub length: u64,
    /// What kind.
    pub kind: FindingKind,
    /// What was wrong.
    pub reason: String,
    /// The offset where the damage sits: where the good batch before it ended.
    pub at_offset: i64,
    /// The offsets `[from, to)` these bytes held, where known.
    pub offsets: Option<(i64, i64)>,
    /// How many records they held, where their header says so consistently.
    pub records: Option<u32>,
    /// The offsets readers now step over because of this, if they became a gap.
    pub gap: Option<(i64, i64)>,
    /// The quarantine file holding the bytes (for a dry run: where they would go).
    pub quarantine: Option<PathBuf>,
    /// SHA-256 of the bytes, hex.
    pub sha256: Option<String>,
}

impl Finding {
    /// One line: what was wrong, where, what it held, and where its bytes went.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}/{} {}", self.topic, self.partition, self.segment.display());
        if self.kind == FindingKind::MissingOffsets {
            let (from, to) = self.offsets.unwrap_or((self.at_offset, self.at_offset));
            let _ = write!(
                out,
                " before byte {}: offsets [{from}, {to}) are held by no batch ({})",
                self.position, self.reason
            );
        } else {
            let _ = write!(out, " at byte {} ({} bytes): {}", self.position, self.length, self.reason);
            match (self.offsets, self.records) {
                (Some((a, b)), Some(n)) => {
                    let _ = write!(out, "; held offsets [{a}, {b}), {n} record{}", if n == 1 { "" } else { "s" });
                }
                (Some((a, b)), None) => {
                    let _ = write!(out, "; held offsets [{a}, {b})");
                }
                _ => {
                    let _ = write!(out, "; at offset {}", self.at_offset);
                }
            }
            if let Some(q) = &self.quarantine {
                let _ = write!(out, "; quarantine file {}", q.display());
            }
        }
        match self.gap {
            Some((a, b)) => {
                let _ = write!(out, "; gap [{a}, {b}) for readers to step over");
            }
            None if self.kind != FindingKind::MissingOffsets => {
                out.push_str("; no gap: at the partition's end, the next append takes these offsets");
            }
            None => {}
        }
        out
    }
}

/// A gap a repair recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedGap {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// First offset of the gap.
    pub from: i64,
    /// The offset after it.
    pub to: i64,
}

/// What a repair found and did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    /// The data directory.
    pub dir: PathBuf,
    /// Whether nothing was changed.
    pub dry_run: bool,
    /// When the repair ran (milliseconds since the Unix epoch).
    pub repaired_at_ms: i64,
    /// Partitions read.
    pub partitions: u64,
    /// Segments read.
    pub segments: u64,
    /// Good batches found (and kept).
    pub batches: u64,
    /// Everything found, in topic, partition and byte order.
    pub findings: Vec<Finding>,
    /// The gaps recorded.
    pub gaps: Vec<RecordedGap>,
}

impl RepairReport {
    /// Whether the log needed no repair.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }

    /// The findings whose bytes were (or, for a dry run, would be) quarantined.
    pub fn quarantined(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.quarantine.is_some())
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |e| LogError::io(path.display(), e)
}

fn sync_dir(dir: &Path) -> LogResult<()> {
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// Repairs the embedded log in `dir` (see the module docs). Refuses with [`LogError::Busy`] while
/// another process has the log open.
pub fn repair(dir: impl AsRef<Path>, options: RepairOptions) -> LogResult<RepairReport> {
    let dir = dir.as_ref();
    let topics = dir.join("topics");
    if !topics.is_dir() {
        return Err(LogError::io(
            topics.display(),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no embedded log here (no topics directory)"),
        ));
    }
    let _open = lock_open(dir, !options.dry_run)?;
    let _batches = BatchLock::take(dir, !options.dry_run)?;
    let mut report = RepairReport {
        dir: dir.to_path_buf(),
        dry_run: options.dry_run,
        repaired_at_ms: now_ms(),
        partitions: 0,
        segments: 0,
        batches: 0,
        findings: Vec::new(),
        gaps: Vec::new(),
    };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&topics).map_err(io_err(&topics))? {
        let entry = entry.map_err(io_err(&topics))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    for topic in names {
        let meta_path = topics.join(&topic).join("meta.json");
        let meta: TopicMeta = match std::fs::read(&meta_path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| LogError::Corrupt { location: meta_path.display().to_string(), reason: e.to_string() })?,
            // A topic being created, or not a topic.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(LogError::io(meta_path.display(), e)),
        };
        for partition in 0..meta.partitions {
            let part_dir = topics.join(&topic).join(partition.to_string());
            if part_dir.is_dir() {
                let at = Location { dir, topic: &topic, partition, part_dir: &part_dir };
                repair_partition(&at, options, &mut report)?;
            }
        }
    }
    Ok(report)
}

/// Where a partition is.
struct Location<'a> {
    dir: &'a Path,
    topic: &'a str,
    partition: u32,
    part_dir: &'a Path,
}

fn repair_partition(at: &Location<'_>, options: RepairOptions, report: &mut RepairReport) -> LogResult<()> {
    report.partitions += 1;
    let mut journal = GapFile::load(at.part_dir)?;
    let bases = list_segments(at.part_dir)?;
    for (i, &base) in bases.iter().enumerate() {
        let path = at.part_dir.join(format!("{}.log", segment_name(base)));
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        report.segments += 1;
        let analysis = salvage::analyse(&bytes, base, bases.get(i + 1).copied(), journal.ranges().ranges());
        report.batches += analysis.batches().count() as u64;
        if analysis.is_clean() && analysis.new_gaps.is_empty() {
            continue;
        }
        let mut findings = Vec::new();
        let mut end_of_last = 0u64;
        for piece in &analysis.pieces {
            match piece {
                Piece::Batch(b) => end_of_last = b.pos + b.len,
                Piece::Damaged(d) => {
                    end_of_last = d.pos + d.len;
                    let held = &bytes[d.pos as usize..(d.pos + d.len) as usize];
                    findings.push(quarantine(at, &path, base, d, held, options, report.repaired_at_ms)?);
                }
                Piece::Missing { from, to } => findings.push(Finding {
                    topic: at.topic.to_string(),
                    partition: at.partition,
                    segment: path.clone(),
                    position: end_of_last,
                    length: 0,
                    kind: FindingKind::MissingOffsets,
                    reason: "a jump in offsets that no gap lists: a batch removed whole".into(),
                    at_offset: *from,
                    offsets: Some((*from, *to)),
                    records: None,
                    gap: Some((*from, *to)),
                    quarantine: None,
                    sha256: None,
                }),
            }
        }
        for &(from, to) in &analysis.new_gaps {
            let quarantine = findings
                .iter()
                .filter(|f| f.gap == Some((from, to)))
                .filter_map(|f| f.quarantine.as_ref())
                .map(|q| q.strip_prefix(at.dir).unwrap_or(q).display().to_string())
                .collect();
            journal.gaps.push(GapEntry { from, to, quarantine, repaired_at_ms: report.repaired_at_ms });
            report.gaps.push(RecordedGap { topic: at.topic.to_string(), partition: at.partition, from, to });
        }
        if !options.dry_run {
            if !analysis.new_gaps.is_empty() {
                journal.save(at.part_dir)?;
            }
            if analysis.pieces.iter().any(|p| matches!(p, Piece::Damaged(_))) {
                rewrite(&path, &bytes, &analysis)?;
            }
        }
        for f in &findings {
            tracing::info!(dry_run = options.dry_run, "embedded log repair: {}", f.describe());
        }
        report.findings.extend(findings);
    }
    Ok(())
}

/// Moves (copies, before the segment is rewritten without them) the damaged bytes `held` of the
/// segment at `path` into their quarantine file, with a `.json` beside it; returns the finding.
fn quarantine(
    at: &Location<'_>,
    path: &Path,
    base: i64,
    d: &Damage,
    held: &[u8],
    options: RepairOptions,
    repaired_at_ms: i64,
) -> LogResult<Finding> {
    let qdir = at.dir.join("quarantine").join(at.topic).join(at.partition.to_string());
    let (file, present) = quarantine_file(&qdir, base, d.pos, held)?;
    let finding = Finding {
        topic: at.topic.to_string(),
        partition: at.partition,
        segment: path.to_path_buf(),
        position: d.pos,
        length: d.len,
        kind: match d.kind {
            DamageKind::Corrupt => FindingKind::Corrupt,
            DamageKind::TornTail => FindingKind::TornTail,
        },
        reason: d.reason.clone(),
        at_offset: d.at_offset,
        offsets: d.offsets,
        records: d.records,
        gap: d.gap,
        quarantine: Some(file.clone()),
        sha256: Some(hex::encode(Sha256::digest(held))),
    };
    if options.dry_run {
        return Ok(finding);
    }
    let created = !qdir.is_dir();
    std::fs::create_dir_all(&qdir).map_err(io_err(&qdir))?;
    if created {
        // The new directories themselves, up to the data directory.
        for d in qdir.ancestors().skip(1).take_while(|d| d.starts_with(at.dir)) {
            sync_dir(d)?;
        }
    }
    if !present {
        write_atomically(&file, held)?;
    }
    let about = serde_json::json!({ "finding": &finding, "repaired_at_ms": repaired_at_ms });
    let about = serde_json::to_vec_pretty(&about).unwrap_or_default();
    write_atomically(&file.with_extension("json"), &about)?;
    Ok(finding)
}

/// The quarantine file for the damaged bytes at `pos` of segment `base`, and whether it already
/// holds exactly them (a repair interrupted and run again). A file of that name holding other bytes
/// (a later repair of the same segment) is left alone: the name gets a number.
fn quarantine_file(qdir: &Path, base: i64, pos: u64, held: &[u8]) -> LogResult<(PathBuf, bool)> {
    const TRIES: u32 = 1000;
    for n in 0..TRIES {
        let name = match n {
            0 => format!("{}-{pos}.batch", segment_name(base)),
            n => format!("{}-{pos}.{n}.batch", segment_name(base)),
        };
        let file = qdir.join(name);
        match std::fs::read(&file) {
            Ok(existing) if existing == held => return Ok((file, true)),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((file, false)),
            Err(e) => return Err(LogError::io(file.display(), e)),
        }
    }
    Err(LogError::Busy(format!(
        "{TRIES} quarantine files for byte {pos} of segment {} in {} already hold other bytes",
        segment_name(base),
        qdir.display()
    )))
}

/// Rewrites the segment at `path` with its good batches only, byte for byte, and its index.
fn rewrite(path: &Path, bytes: &[u8], analysis: &salvage::Analysis) -> LogResult<()> {
    let mut kept = Vec::with_capacity(bytes.len());
    let mut index = Vec::new();
    for b in analysis.batches() {
        index.extend_from_slice(&b.base.to_le_bytes());
        index.extend_from_slice(&(kept.len() as u64).to_le_bytes());
        kept.extend_from_slice(&bytes[b.pos as usize..(b.pos + b.len) as usize]);
    }
    debug_assert_eq!(index.len() % INDEX_ENTRY, 0);
    let idx = path.with_extension("idx");
    match std::fs::remove_file(&idx) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(LogError::io(idx.display(), e)),
    }
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    write_atomically(path, &kept)?;
    write_atomically(&idx, &index)?;
    Ok(())
}
