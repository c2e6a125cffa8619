//! One topic-partition of the embedded log: a directory of segment files and their offset indexes.
//!
//! Appends are serialised in-process by a mutex and across processes by an exclusive file lock held
//! for the append only; readers never lock the file and see only complete, checksummed batches. The
//! in-memory state (segments, index, known length) is behind a `RwLock` that is only ever held for
//! bookkeeping, never across file I/O, so readers are not held up by a writer's write or fsync.
//!
//! Batches follow on offset by offset, within a segment and across segments, except over the gaps
//! `log repair` recorded (`gaps.rs`): a batch may start after a listed gap, and reads step over it.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;

use super::batch::{self, BODY_PREFIX, BatchHeader, HEADER_LEN};
use super::gaps::{GapFile, Gaps};
use super::{EmbeddedOptions, FsyncPolicy, open_file};
use crate::log::{LogError, LogResult, ReadBatch, Record};

/// One index entry on disk: `[i64 batch base offset][u64 byte position]`, little-endian.
pub(super) const INDEX_ENTRY: usize = 16;
/// Batches bigger than this are not kept in the read cache.
const MAX_CACHED_BODY: usize = 16 << 20;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> LogError + '_ {
    move |e| LogError::io(path.display(), e)
}

/// The file name of the segment starting at offset `base`, without its extension.
pub(super) fn segment_name(base: i64) -> String {
    format!("{base:020}")
}

/// One segment: `<base offset>.log` and its index `<base offset>.idx`.
#[derive(Debug)]
struct Segment {
    base: i64,
    log_path: Arc<Path>,
    idx_path: PathBuf,
    file: Arc<File>,
    /// (batch base offset, byte position) per batch, ascending.
    index: Vec<(i64, u64)>,
    /// Bytes of complete batches known to this process (for a sealed segment: the file length).
    len: u64,
    /// The offset after the last known batch.
    next_offset: i64,
}

/// Why a scan stopped.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// At the limit, after a complete batch.
    End,
    /// At a batch that runs past the limit: not yet written by a live writer, or torn by a dead one.
    Incomplete(String),
    /// At bytes that are not a valid batch.
    Invalid(String),
}

/// What a scan found: batches from a start position up to where it stopped.
struct Scanned {
    entries: Vec<(i64, u64)>,
    len: u64,
    next_offset: i64,
    stop: Stop,
}

/// Why the bad bytes at `from` of a last segment (up to `disk_len`; the good batches end there at
/// offset `next`) are not a torn tail, if they are not: an intact batch follows them (what a repair
/// would keep — say a batch of a later write whose index entry was never saved), or more bytes
/// follow than one batch holds. A writer that dies leaves at most one incomplete batch at the end;
/// anything else is damage to move aside, never to truncate.
fn not_a_tail(file: &File, path: &Path, from: u64, disk_len: u64, next: i64, gaps: &Gaps) -> LogResult<Option<String>> {
    let one_batch = (HEADER_LEN + batch::MAX_BODY) as u64;
    let rest = disk_len.saturating_sub(from);
    let window = rest.min(2 * one_batch);
    let mut bytes = vec![0u8; usize::try_from(window).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut bytes, from).map_err(io_err(path))?;
    let analysis = super::salvage::analyse(&bytes, next, None, gaps.ranges());
    let intact = analysis.batches().count();
    if intact > 0 {
        return Ok(Some(format!(
            "{intact} intact batch{} follow{} it",
            plural(intact),
            if intact == 1 { "s" } else { "" }
        )));
    }
    if rest > one_batch {
        return Ok(Some(format!("{rest} bytes follow it, more than one batch holds")));
    }
    Ok(None)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "es" }
}

/// Scans batches in `file` from `pos` (where a batch with base offset `next` must start, or one
/// after a gap of `gaps` starting there) up to `limit`. With `verify` each batch is read whole,
/// checksummed and structurally validated; without, only its header and prefix are read (for
/// building an index of a sealed segment).
#[allow(clippy::too_many_arguments, reason = "one private scanner, called from three places")]
fn scan(
    file: &File,
    path: &Path,
    mut pos: u64,
    mut next: i64,
    limit: u64,
    verify: bool,
    buf: &mut Vec<u8>,
    gaps: &Gaps,
) -> LogResult<Scanned> {
    let mut entries = Vec::new();
    let stop = loop {
        if pos >= limit {
            break Stop::End;
        }
        let mut head = [0u8; HEADER_LEN + BODY_PREFIX];
        let avail = (limit - pos).min(head.len() as u64) as usize;
        if let Err(e) = file.read_exact_at(&mut head[..avail], pos) {
            // The file shrank under us: a writer repairing a torn tail.
            break match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Stop::Incomplete("file shrank during the scan".into()),
                _ => return Err(LogError::io(path.display(), e)),
            };
        }
        if avail < HEADER_LEN {
            break Stop::Incomplete(format!("batch header of {avail} bytes"));
        }
        let header = BatchHeader::parse(head[..HEADER_LEN].try_into().unwrap_or(&[0; HEADER_LEN]));
        if (header.body_len as usize) < BODY_PREFIX {
            break Stop::Invalid(format!("batch length {} is shorter than a batch", header.body_len));
        }
        if pos + header.total_len() > limit {
            break Stop::Incomplete(format!(
                "batch of {} bytes runs {} bytes past the end",
                header.total_len(),
                pos + header.total_len() - limit
            ));
        }
        let (base, count) = if verify {
            buf.clear();
            buf.resize(header.body_len as usize, 0);
            if let Err(e) = file.read_exact_at(buf, pos + HEADER_LEN as u64) {
                break match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => Stop::Incomplete("file shrank during the scan".into()),
                    _ => return Err(LogError::io(path.display(), e)),
                };
            }
            let crc = crc32c::crc32c(buf);
            if crc != header.crc {
                break Stop::Invalid(format!("checksum mismatch (stored {:#010x}, computed {crc:#010x})", header.crc));
            }
            match batch::validate(buf) {
                Ok(bc) => bc,
                Err(reason) => break Stop::Invalid(reason),
            }
        } else {
            match batch::body_prefix(&head[HEADER_LEN..]) {
                Some(bc) => bc,
                None => break Stop::Invalid("batch prefix unreadable".into()),
            }
        };
        if base < next || !gaps.covers(next, base) {
            break Stop::Invalid(format!("batch base offset {base} where {next} was expected"));
        }
        entries.push((base, pos));
        next = base + i64::from(count);
        pos += header.total_len();
    };
    Ok(Scanned { entries, len: pos, next_offset: next, stop })
}

impl Segment {
    fn open(dir: &Path, base: i64) -> LogResult<Segment> {
        let log_path: Arc<Path> = dir.join(format!("{}.log", segment_name(base))).into();
        let idx_path = dir.join(format!("{}.idx", segment_name(base)));
        let file = open_file(&log_path)?;
        Ok(Segment { base, log_path, idx_path, file: Arc::new(file), index: Vec::new(), len: 0, next_offset: base })
    }

    fn disk_len(&self) -> LogResult<u64> {
        self.file.metadata().map(|m| m.len()).map_err(io_err(&self.log_path))
    }

    /// Loads the index file, keeping its entries only as long as they are plausible for the file.
    fn load_index(&mut self, disk_len: u64, gaps: &Gaps) -> LogResult<()> {
        let bytes = match std::fs::read(&self.idx_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(LogError::io(self.idx_path.display(), e)),
        };
        self.index.clear();
        for chunk in bytes.chunks_exact(INDEX_ENTRY) {
            let offset = i64::from_le_bytes(chunk[..8].try_into().unwrap_or_default());
            let pos = u64::from_le_bytes(chunk[8..].try_into().unwrap_or_default());
            let plausible = match self.index.last() {
                None => pos == 0 && offset >= self.base && gaps.covers(self.base, offset),
                Some(&(o, p)) => offset > o && pos > p,
            };
            if !plausible || pos >= disk_len {
                break;
            }
            self.index.push((offset, pos));
        }
        Ok(())
    }

    /// Sets the index, `len` and `next_offset` from the index file and the segment: the index is
    /// trusted up to its last entry that still holds a batch with the right base offset, and the
    /// batches after it are scanned (and, with `verify`, checksummed). Never modifies the files.
    fn load(&mut self, verify: bool, buf: &mut Vec<u8>, gaps: &Gaps) -> LogResult<Stop> {
        let disk_len = self.disk_len()?;
        self.load_index(disk_len, gaps)?;
        loop {
            let (base, pos) = self.index.pop().unwrap_or((self.base, 0));
            let scanned = scan(&self.file, &self.log_path, pos, base, disk_len, verify, buf, gaps)?;
            if !scanned.entries.is_empty() || pos == 0 {
                self.index.extend(scanned.entries);
                self.len = scanned.len;
                self.next_offset = scanned.next_offset;
                return Ok(scanned.stop);
            }
            // The last entry did not hold its batch (stale, past a repaired tail): try the one before.
        }
    }
}

struct State {
    /// Never empty.
    segments: Vec<Segment>,
}

impl State {
    fn last(&self) -> &Segment {
        &self.segments[self.segments.len() - 1]
    }
    fn last_mut(&mut self) -> &mut Segment {
        let n = self.segments.len() - 1;
        &mut self.segments[n]
    }
    fn end(&self) -> i64 {
        self.last().next_offset
    }
    fn start(&self) -> i64 {
        self.segments[0].base
    }
}

/// Writer-side state, behind the partition's writer mutex (also taken by refreshes).
struct Writer {
    /// The partition's lock file (`.lock`), locked exclusively for each append.
    lock_file: File,
    /// Encoding and scanning buffer, reused.
    buf: Vec<u8>,
    /// The active segment's index file, opened by the first append to it.
    idx: Option<(i64, File)>,
    /// Whether this process has made every index file match the segments (done on the first append).
    indexes_checked: bool,
}

/// The batch a read stopped in the middle of, kept for the next read (sequential consumers reading
/// fewer records than a batch holds would otherwise re-read and re-checksum it).
struct CachedBatch {
    segment: i64,
    pos: u64,
    total: u64,
    body: Bytes,
}

/// What a read needs of one segment, taken under the state lock.
struct ReadPlan {
    segment: i64,
    file: Arc<File>,
    path: Arc<Path>,
    from: u64,
    limit: u64,
}

/// One partition of the embedded log.
pub(super) struct Partition {
    topic: Arc<str>,
    partition: u32,
    dir: PathBuf,
    options: Arc<EmbeddedOptions>,
    state: RwLock<State>,
    writer: Mutex<Writer>,
    cache: Mutex<Option<CachedBatch>>,
    /// The offsets `log repair` took out (read once: a repair runs only while no process has the
    /// log open).
    gaps: Gaps,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Partition {
    /// Opens (creating if needed) the partition directory `dir`. Reads only: a torn tail is left for
    /// the first append of this process to repair.
    pub(super) fn open(
        topic: Arc<str>,
        partition: u32,
        dir: PathBuf,
        options: Arc<EmbeddedOptions>,
    ) -> LogResult<Self> {
        std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let gaps = GapFile::load(&dir)?.ranges();
        let mut bases = list_segments(&dir)?;
        if bases.is_empty() {
            bases.push(0);
        }
        let mut buf = Vec::new();
        let mut segments = Vec::with_capacity(bases.len());
        for (i, &base) in bases.iter().enumerate() {
            let mut seg = Segment::open(&dir, base)?;
            match bases.get(i + 1) {
                None => {
                    if let Stop::Invalid(reason) | Stop::Incomplete(reason) = seg.load(true, &mut buf, &gaps)? {
                        tracing::debug!(
                            file = %seg.log_path.display(), position = seg.len, reason,
                            "embedded log: incomplete tail (repaired by the next append if its writer is gone)"
                        );
                    }
                }
                Some(&next_base) => {
                    // Sealed: index its batches by their headers; reads checksum what they read.
                    let stop = seg.load(false, &mut buf, &gaps)?;
                    if stop != Stop::End || seg.next_offset > next_base || !gaps.covers(seg.next_offset, next_base) {
                        tracing::warn!(
                            file = %seg.log_path.display(), position = seg.len, ?stop,
                            "embedded log: sealed segment does not end cleanly where the next begins; \
                             reads past this point will report corruption"
                        );
                    }
                    seg.len = seg.disk_len()?;
                    seg.next_offset = next_base;
                }
            }
            segments.push(seg);
        }
        let lock_path = dir.join(".lock");
        let lock_file = open_file(&lock_path)?;
        Ok(Partition {
            topic,
            partition,
            dir,
            options,
            state: RwLock::new(State { segments }),
            writer: Mutex::new(Writer { lock_file, buf, idx: None, indexes_checked: false }),
            cache: Mutex::new(None),
            gaps,
        })
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Start and end offsets, after noticing appends by other processes.
    pub(super) fn offsets(&self) -> LogResult<(i64, i64)> {
        self.refresh()?;
        let st = self.read_state();
        Ok((st.start(), st.end()))
    }

    /// Picks up batches (and segments) appended by other processes. Readers never truncate; an
    /// incomplete batch at the end is simply not visible yet.
    fn refresh(&self) -> LogResult<()> {
        // An in-process append or refresh in progress will publish what it finds: no need to look.
        let Ok(mut writer) = self.writer.try_lock() else { return Ok(()) };
        self.catch_up(false, &mut writer.buf)
    }

    /// Brings the in-memory state up to what is on disk (the caller holds the writer mutex). With
    /// `repair` (only under the partition's file lock, so no live writer is mid-append) an invalid or
    /// incomplete tail is a torn write by a dead writer and is truncated, with a warning.
    fn catch_up(&self, repair: bool, buf: &mut Vec<u8>) -> LogResult<()> {
        loop {
            let (file, path, len, next) = {
                let st = self.read_state();
                let last = st.last();
                (last.file.clone(), last.log_path.clone(), last.len, last.next_offset)
            };
            let disk_len = file.metadata().map(|m| m.len()).map_err(io_err(&path))?;
            if disk_len < len {
                return Err(LogError::Corrupt {
                    location: path.display().to_string(),
                    reason: format!("segment shrank from {len} to {disk_len} bytes under us"),
                });
            }
            if disk_len > len {
                let scanned = scan(&file, &path, len, next, disk_len, true, buf, &self.gaps)?;
                let found = !scanned.entries.is_empty();
                if found {
                    let mut st = self.write_state();
                    let seg = st.last_mut();
                    seg.index.extend(scanned.entries);
                    seg.len = scanned.len;
                    seg.next_offset = scanned.next_offset;
                }
                let torn = scanned.stop != Stop::End;
                if repair && let Stop::Invalid(reason) | Stop::Incomplete(reason) = scanned.stop {
                    if let Some(why) = not_a_tail(&file, &path, scanned.len, disk_len, scanned.next_offset, &self.gaps)?
                    {
                        return Err(LogError::Corrupt {
                            location: format!("{} at byte {}", path.display(), scanned.len),
                            reason: format!(
                                "{reason}; {why}, so this is no torn tail and nothing was truncated: run `trustloop \
                                 log repair` (it moves the damaged bytes into a quarantine file)"
                            ),
                        });
                    }
                    tracing::warn!(
                        file = %path.display(),
                        position = scanned.len,
                        bytes_dropped = disk_len - scanned.len,
                        reason,
                        "embedded log: torn or corrupt tail; truncating to the end of the last complete batch"
                    );
                    file.set_len(scanned.len).map_err(io_err(&path))?;
                    file.sync_all().map_err(io_err(&path))?;
                    *lock(&self.cache) = None;
                }
                if repair && (found || torn) {
                    // Another process's batches (its index entries may be missing if it died), or a
                    // repaired tail (entries past it must go).
                    persist_index(self.read_state().last())?;
                }
            }
            // Another process may have rolled to a new segment, named by our end offset.
            let (end, last_base) = {
                let st = self.read_state();
                (st.end(), st.last().base)
            };
            if end != last_base && self.dir.join(format!("{}.log", segment_name(end))).exists() {
                let seg = Segment::open(&self.dir, end)?;
                self.write_state().segments.push(seg);
                continue;
            }
            return Ok(());
        }
    }

    /// Appends `records`; returns their offsets. Appends of more than [`batch::MAX_BODY`] bytes are
    /// written as several batches; if one of them fails, the ones before it stay appended.
    /// Records without a timestamp get `now`.
    pub(super) fn append(&self, records: Vec<Record>, now: i64) -> LogResult<Vec<i64>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        for r in &records {
            batch::check_record(r).map_err(LogError::Unsupported)?;
        }
        let mut guard = lock(&self.writer);
        let writer = &mut *guard;
        let lock_path = self.dir.join(".lock");
        writer.lock_file.lock().map_err(io_err(&lock_path))?;
        let result = self.append_locked(writer, &records, now);
        let unlocked = writer.lock_file.unlock().map_err(io_err(&lock_path));
        let offsets = result?;
        unlocked?;
        Ok(offsets)
    }

    fn append_locked(&self, w: &mut Writer, records: &[Record], now: i64) -> LogResult<Vec<i64>> {
        self.catch_up(true, &mut w.buf)?;
        if !w.indexes_checked {
            let st = self.read_state();
            for seg in &st.segments {
                persist_index(seg)?;
            }
            w.indexes_checked = true;
        }
        let first = self.read_state().end();
        let mut start = 0;
        while start < records.len() {
            // Split so that no batch body exceeds MAX_BODY (a single huge record still goes alone).
            let mut size = BODY_PREFIX;
            let mut end = start;
            while end < records.len() {
                let s = batch::record_size(&records[end]);
                if end > start && size + s > batch::MAX_BODY {
                    break;
                }
                size += s;
                end += 1;
            }
            self.roll_if_full()?;
            let (file, path, idx_path, seg_base, pos, base, entry) = {
                let st = self.read_state();
                let s = st.last();
                (s.file.clone(), s.log_path.clone(), s.idx_path.clone(), s.base, s.len, s.next_offset, s.index.len())
            };
            batch::encode(base, &records[start..end], now, &mut w.buf);
            // Readers only read up to the published length, so the write needs no state lock.
            let written = file.write_all_at(&w.buf, pos).and_then(|()| match self.options.fsync {
                FsyncPolicy::Always => file.sync_data(),
                FsyncPolicy::Never => Ok(()),
            });
            if let Err(e) = written {
                // Best effort: leave no partial batch behind (the next append would repair it anyway).
                let _ = file.set_len(pos);
                return Err(LogError::io(path.display(), e));
            }
            let mut idx_entry = [0u8; INDEX_ENTRY];
            idx_entry[..8].copy_from_slice(&base.to_le_bytes());
            idx_entry[8..].copy_from_slice(&pos.to_le_bytes());
            let idx = match &mut w.idx {
                Some((b, f)) if *b == seg_base => f,
                slot => &mut slot.insert((seg_base, open_index(&idx_path)?)).1,
            };
            idx.write_all_at(&idx_entry, (entry * INDEX_ENTRY) as u64).map_err(io_err(&idx_path))?;
            {
                let mut st = self.write_state();
                let seg = st.last_mut();
                seg.index.push((base, pos));
                seg.len = pos + w.buf.len() as u64;
                seg.next_offset = base + (end - start) as i64;
            }
            start = end;
        }
        if w.buf.capacity() > 2 * batch::MAX_BODY {
            w.buf = Vec::new();
        }
        Ok((first..first + records.len() as i64).collect())
    }

    fn roll_if_full(&self) -> LogResult<()> {
        let (full, next) = {
            let st = self.read_state();
            (st.last().len >= self.options.segment_bytes && st.last().len > 0, st.end())
        };
        if full {
            let seg = Segment::open(&self.dir, next)?;
            if self.options.fsync == FsyncPolicy::Always {
                File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_err(&self.dir))?;
            }
            tracing::debug!(topic = %self.topic, partition = self.partition, base = next, "embedded log: new segment");
            self.write_state().segments.push(seg);
        }
        Ok(())
    }

    /// What to read for the records `offset..want_end`: the segments from the one holding `offset`
    /// (or the end of the gap holding it), each from the batch that holds it; `None` if the
    /// partition ends there.
    fn plan(&self, offset: i64, want_end: i64) -> LogResult<Option<(i64, Vec<ReadPlan>)>> {
        let (start, mut end) = {
            let st = self.read_state();
            (st.start(), st.end())
        };
        if offset >= end {
            self.refresh()?;
            end = self.read_state().end();
        }
        if offset < start || offset > end {
            return Err(LogError::OffsetOutOfRange {
                topic: self.topic.to_string(),
                partition: self.partition,
                offset,
                start,
                end,
            });
        }
        // A read inside a gap starts after it.
        let offset = self.gaps.step(offset);
        if offset >= end || want_end <= offset {
            return Ok(None);
        }
        // Snapshot what to read; no lock is held during I/O.
        let st = self.read_state();
        let i = st.segments.partition_point(|s| s.base <= offset).saturating_sub(1);
        let plan = st.segments[i..]
            .iter()
            .take_while(|s| s.base <= offset || s.base < want_end)
            .map(|s| {
                let from = if s.base <= offset {
                    let j = s.index.partition_point(|&(o, _)| o <= offset).saturating_sub(1);
                    s.index.get(j).map_or(0, |&(_, p)| p)
                } else {
                    0
                };
                ReadPlan { segment: s.base, file: s.file.clone(), path: s.log_path.clone(), from, limit: s.len }
            })
            .collect();
        Ok(Some((end, plan)))
    }

    /// Reads up to `max` records from `offset`, saying whether that reached the end (every offset
    /// below the end offset holds a record, except in the gaps a repair left, which the next offset
    /// steps over: an empty read is the end, or a read of no records).
    ///
    /// A corrupt batch stops the read *after* the records before it: they are returned, and the
    /// next read, which starts at the corrupt batch, is the error (so a reader gets everything up to
    /// the damage, then learns where it is). A read that starts at a corrupt batch is the error.
    pub(super) fn read(&self, offset: i64, max: usize) -> LogResult<ReadBatch> {
        let want_end = self.gaps.step(offset).saturating_add(i64::try_from(max).unwrap_or(i64::MAX));
        let Some((end, plan)) = self.plan(offset, want_end)? else {
            let end = self.read_state().end();
            return Ok(if max == 0 {
                ReadBatch::new(Vec::new(), offset, end)
            } else {
                self.answer(Vec::new(), offset, end)
            });
        };
        let mut out = Vec::with_capacity(max.min((end - offset) as usize).min(1 << 16));
        // The base offset the next batch must have (batches are contiguous, also across segments).
        let mut expect: Option<i64> = None;
        for p in &plan {
            let mut pos = p.from;
            while pos < p.limit && out.len() < max {
                let good = out.len();
                match self.read_batch(p, pos, offset, max, &mut expect, &mut out) {
                    Ok(total) => pos += total,
                    Err(e @ LogError::Corrupt { .. }) if good > 0 => {
                        // What the batch decoded before failing is not returned: the read ends
                        // where the damage starts.
                        out.truncate(good);
                        tracing::debug!(error = %e, records = good, "read ends before a corrupt batch");
                        return Ok(self.answer(out, offset, end));
                    }
                    Err(e) => return Err(e),
                }
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(self.answer(out, offset, end))
    }

    /// The answer to a read from `offset` that found `out`: it goes on after the last record, or
    /// after the gap that holds that position.
    fn answer(&self, out: Vec<crate::log::StoredRecord>, offset: i64, end: i64) -> ReadBatch {
        let next = out.last().map_or(offset, |r| r.offset + 1);
        ReadBatch::stepped(out, self.gaps.step(next), end)
    }

    /// Whether a batch with base offset `base` may come where a read is: the first batch a read
    /// meets (`expect` is `None`) holds the `offset` asked for or starts after a gap holding it; a
    /// later one starts where the one before ended, or after a gap starting there.
    fn follows_on(&self, base: i64, offset: i64, expect: Option<i64>) -> Result<(), String> {
        match expect {
            None if base > offset && !self.gaps.covers(offset, base) => {
                Err(format!("batch starts at offset {base}, after the {offset} asked for"))
            }
            Some(e) if base < e || !self.gaps.covers(e, base) => {
                Err(format!("batch starts at offset {base} where {e} was expected"))
            }
            _ => Ok(()),
        }
    }

    /// Reads the batch at `pos` of `p` into `out` (its records from `offset` on, up to `max` in
    /// all), checking that it starts where `expect` says; returns its size in bytes.
    fn read_batch(
        &self,
        p: &ReadPlan,
        pos: u64,
        offset: i64,
        max: usize,
        expect: &mut Option<i64>,
        out: &mut Vec<crate::log::StoredRecord>,
    ) -> LogResult<u64> {
        let (total, body) = self.batch_at(p, pos)?;
        let corrupt =
            |reason: String| LogError::Corrupt { location: format!("{} at byte {pos}", p.path.display()), reason };
        let (base, count) = batch::body_prefix(&body).ok_or_else(|| corrupt("batch too short".into()))?;
        self.follows_on(base, offset, *expect).map_err(corrupt)?;
        let batch_end = base + i64::from(count);
        if batch_end > offset {
            batch::decode(&self.topic, self.partition, &body, offset, max, out).map_err(corrupt)?;
        }
        if out.last().is_some_and(|r| r.offset + 1 < batch_end) && body.len() <= MAX_CACHED_BODY {
            *lock(&self.cache) = Some(CachedBatch { segment: p.segment, pos, total, body });
        }
        *expect = Some(batch_end);
        Ok(total)
    }

    /// Visits the records `offset..until` (see [`crate::log::EventLog::scan`]), reading batch after
    /// batch into one reused buffer.
    pub(super) fn scan(&self, offset: i64, until: i64, visit: &mut crate::log::ScanVisitor<'_>) -> LogResult<i64> {
        let Some((_, plan)) = self.plan(offset, until)? else {
            return Ok(self.gaps.step(offset).min(until).max(offset));
        };
        let mut next = offset;
        let mut buf = Vec::new();
        let mut expect: Option<i64> = None;
        for p in &plan {
            let mut pos = p.from;
            while pos < p.limit {
                let total = self.batch_into(p, pos, &mut buf)?;
                let body = &buf[..];
                let corrupt = |reason: String| LogError::Corrupt {
                    location: format!("{} at byte {pos}", p.path.display()),
                    reason,
                };
                let (base, count) = batch::body_prefix(body).ok_or_else(|| corrupt("batch too short".into()))?;
                self.follows_on(base, offset, expect).map_err(corrupt)?;
                let (flow, last) = batch::visit(body, offset, until, visit).map_err(corrupt)?;
                next = last.unwrap_or(next);
                if flow.is_break() {
                    return Ok(next);
                }
                let batch_end = base + i64::from(count);
                if batch_end >= until {
                    return Ok(self.gaps.step(next).min(until));
                }
                expect = Some(batch_end);
                pos += total;
            }
        }
        Ok(self.gaps.step(next).min(until))
    }

    /// Reads the batch at `pos` (below the segment's known complete length) into `buf`, verifies its
    /// checksum and returns its total length; `buf` then holds its body.
    fn batch_into(&self, p: &ReadPlan, pos: u64, buf: &mut Vec<u8>) -> LogResult<u64> {
        let corrupt =
            |reason: String| LogError::Corrupt { location: format!("{} at byte {pos}", p.path.display()), reason };
        let mut h = [0u8; HEADER_LEN];
        p.file.read_exact_at(&mut h, pos).map_err(io_err(&p.path))?;
        let header = BatchHeader::parse(&h);
        if pos + header.total_len() > p.limit || (header.body_len as usize) < BODY_PREFIX {
            return Err(corrupt(format!("batch length {} does not fit the segment", header.body_len)));
        }
        buf.resize(header.body_len as usize, 0);
        p.file.read_exact_at(buf, pos + HEADER_LEN as u64).map_err(io_err(&p.path))?;
        let crc = crc32c::crc32c(buf);
        if crc != header.crc {
            return Err(corrupt(format!("checksum mismatch (stored {:#010x}, computed {crc:#010x})", header.crc)));
        }
        Ok(header.total_len())
    }

    /// The checksum-verified body and total length of the batch at `pos`, which lies below the
    /// segment's known complete length: anything wrong there is corruption.
    fn batch_at(&self, p: &ReadPlan, pos: u64) -> LogResult<(u64, Bytes)> {
        if let Some(c) = lock(&self.cache).as_ref()
            && c.segment == p.segment
            && c.pos == pos
        {
            return Ok((c.total, c.body.clone()));
        }
        let mut body = Vec::new();
        let total = self.batch_into(p, pos, &mut body)?;
        Ok((total, Bytes::from(body)))
    }
}

fn open_index(path: &Path) -> LogResult<File> {
    OpenOptions::new().write(true).create(true).truncate(false).open(path).map_err(io_err(path))
}

/// Makes a segment's index file hold exactly its in-memory entries: drops entries past a repaired
/// tail, adds missing ones (a crash between segment and index write, or a deleted index). Writer
/// only, under the partition's file lock.
fn persist_index(seg: &Segment) -> LogResult<()> {
    let on_disk = match std::fs::metadata(&seg.idx_path) {
        Ok(m) => m.len() as usize / INDEX_ENTRY,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(LogError::io(seg.idx_path.display(), e)),
    };
    // Keep the file's entries up to the last one that matches memory (checking the last suffices:
    // entries are only ever written in order, and a mismatch rewrites everything).
    let mut keep = on_disk.min(seg.index.len());
    if keep > 0 && !index_entry_matches(seg, keep - 1)? {
        keep = 0;
    }
    if keep == on_disk && keep == seg.index.len() {
        return Ok(());
    }
    let mut buf = Vec::with_capacity((seg.index.len() - keep) * INDEX_ENTRY);
    for (o, p) in &seg.index[keep..] {
        buf.extend_from_slice(&o.to_le_bytes());
        buf.extend_from_slice(&p.to_le_bytes());
    }
    let f = open_index(&seg.idx_path)?;
    f.set_len((keep * INDEX_ENTRY) as u64).map_err(io_err(&seg.idx_path))?;
    f.write_all_at(&buf, (keep * INDEX_ENTRY) as u64).map_err(io_err(&seg.idx_path))?;
    tracing::debug!(
        file = %seg.idx_path.display(), kept = keep, dropped = on_disk - keep, added = seg.index.len() - keep,
        "embedded log: fixed offset index"
    );
    Ok(())
}

/// Whether entry `n` of the index file equals the in-memory one.
fn index_entry_matches(seg: &Segment, n: usize) -> LogResult<bool> {
    let Some(&(o, p)) = seg.index.get(n) else { return Ok(false) };
    let f = File::open(&seg.idx_path).map_err(io_err(&seg.idx_path))?;
    let mut entry = [0u8; INDEX_ENTRY];
    f.read_exact_at(&mut entry, (n * INDEX_ENTRY) as u64).map_err(io_err(&seg.idx_path))?;
    Ok(entry[..8] == o.to_le_bytes() && entry[8..] == p.to_le_bytes())
}

/// The base offsets of the segments in the partition directory `dir`, ascending.
pub(super) fn list_segments(dir: &Path) -> LogResult<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".log")
            && stem.len() == 20
            && let Ok(base) = stem.parse::<i64>()
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}
