//! One topic-partition of the embedded log: a directory of segment files and their offset indexes.
//!
//! Appends are serialised in-process by a mutex and across processes by an exclusive file lock held
//! for the append only; readers never lock and see only complete, checksummed batches.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bytes::{Bytes, BytesMut};

use super::batch::{self, BatchHeader, HEADER_LEN};
use super::{EmbeddedOptions, FsyncPolicy, now_ms, open_file};
use crate::log::{LogError, LogResult, Record, StoredRecord};

const INDEX_ENTRY: usize = 16;

/// One segment: `<base offset>.log` and its index `<base offset>.idx`.
#[derive(Debug)]
struct Segment {
    base: i64,
    log_path: PathBuf,
    idx_path: PathBuf,
    file: Arc<File>,
    /// (batch base offset, byte position) per batch, ascending.
    index: Vec<(i64, u64)>,
    /// Bytes of complete, verified batches.
    len: u64,
    /// The offset after the last batch.
    next_offset: i64,
    /// The index file, opened on the first append of this process.
    idx_file: Option<File>,
}

impl Segment {
    fn name(base: i64) -> String {
        format!("{base:020}")
    }

    fn open(dir: &Path, base: i64) -> LogResult<Segment> {
        let log_path = dir.join(format!("{}.log", Self::name(base)));
        let idx_path = dir.join(format!("{}.idx", Self::name(base)));
        let file = open_file(&log_path)?;
        Ok(Segment {
            base,
            log_path,
            idx_path,
            file: Arc::new(file),
            index: Vec::new(),
            len: 0,
            next_offset: base,
            idx_file: None,
        })
    }

    fn disk_len(&self) -> LogResult<u64> {
        self.file.metadata().map(|m| m.len()).map_err(|e| LogError::io(self.log_path.display(), e))
    }

    /// Loads the index file, keeping only entries that are plausible for the current file.
    fn load_index(&mut self) -> LogResult<()> {
        let bytes = match std::fs::read(&self.idx_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(LogError::io(self.idx_path.display(), e)),
        };
        let disk_len = self.disk_len()?;
        self.index.clear();
        for chunk in bytes.chunks_exact(INDEX_ENTRY) {
            let offset = i64::from_le_bytes(chunk[..8].try_into().unwrap_or_default());
            let pos = u64::from_le_bytes(chunk[8..].try_into().unwrap_or_default());
            let plausible = match self.index.last() {
                None => pos == 0 && offset == self.base,
                Some(&(o, p)) => offset > o && pos > p,
            };
            if !plausible || pos >= disk_len {
                break;
            }
            self.index.push((offset, pos));
        }
        Ok(())
    }

    /// Reads and verifies the batch at `pos`. `Ok(None)`: the batch is incomplete or fails its check
    /// (what that means is up to the caller).
    fn read_batch(&self, pos: u64, limit: u64) -> LogResult<Option<(BatchHeader, Bytes)>> {
        if pos + HEADER_LEN as u64 > limit {
            return Ok(None);
        }
        let mut h = [0u8; HEADER_LEN];
        self.file.read_exact_at(&mut h, pos).map_err(|e| LogError::io(self.log_path.display(), e))?;
        let header = BatchHeader::parse(&h);
        if (header.body_len as usize) < batch::BODY_PREFIX || pos + header.total_len() > limit {
            return Ok(None);
        }
        let mut body = BytesMut::zeroed(header.body_len as usize);
        self.file
            .read_exact_at(&mut body, pos + HEADER_LEN as u64)
            .map_err(|e| LogError::io(self.log_path.display(), e))?;
        if crc32c::crc32c(&body) != header.crc {
            return Ok(None);
        }
        Ok(Some((header, body.freeze())))
    }

    /// Scans batches after the known end up to `limit`, adding them. Returns the position where the
    /// scan stopped and whether the bytes there (if any) are an invalid batch rather than just absent.
    fn scan_forward(&mut self, limit: u64) -> LogResult<(u64, bool)> {
        let mut pos = self.len;
        while pos < limit {
            let Some((header, body)) = self.read_batch(pos, limit)? else {
                return Ok((pos, true));
            };
            match batch::body_prefix(&body) {
                Some((base, count)) if base == self.next_offset => {
                    self.index.push((base, pos));
                    self.next_offset = base + i64::from(count);
                    pos += header.total_len();
                    self.len = pos;
                }
                _ => return Ok((pos, true)),
            }
        }
        Ok((pos, false))
    }

    /// Recomputes `len` and `next_offset` from the index and the file, trusting the index only as far
    /// as its last entry verifies: that batch and everything after it are re-read and checked.
    fn load(&mut self) -> LogResult<()> {
        self.load_index()?;
        let disk_len = self.disk_len()?;
        loop {
            let (base, pos) = self.index.pop().unwrap_or((self.base, 0));
            self.len = pos;
            self.next_offset = base;
            let before = self.index.len();
            self.scan_forward(disk_len)?;
            if self.index.len() > before || pos == 0 {
                return Ok(());
            }
            // The last index entry did not verify (a stale entry past a torn tail): try the one before.
        }
    }

    fn write_index_entries(&self, from: usize) -> LogResult<()> {
        let mut buf = Vec::with_capacity((self.index.len() - from) * INDEX_ENTRY);
        for (o, p) in &self.index[from..] {
            buf.extend_from_slice(&o.to_le_bytes());
            buf.extend_from_slice(&p.to_le_bytes());
        }
        let f = self.open_index()?;
        f.set_len((from * INDEX_ENTRY) as u64).map_err(|e| LogError::io(self.idx_path.display(), e))?;
        f.write_all_at(&buf, (from * INDEX_ENTRY) as u64).map_err(|e| LogError::io(self.idx_path.display(), e))
    }

    fn open_index(&self) -> LogResult<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.idx_path)
            .map_err(|e| LogError::io(self.idx_path.display(), e))
    }

    /// Writes the last in-memory index entry to the index file (writer only).
    fn append_index_entry(&mut self) -> LogResult<()> {
        let Some(&(offset, pos)) = self.index.last() else { return Ok(()) };
        if self.idx_file.is_none() {
            self.idx_file = Some(self.open_index()?);
        }
        let mut entry = [0u8; INDEX_ENTRY];
        entry[..8].copy_from_slice(&offset.to_le_bytes());
        entry[8..].copy_from_slice(&pos.to_le_bytes());
        let at = ((self.index.len() - 1) * INDEX_ENTRY) as u64;
        match &self.idx_file {
            Some(f) => f.write_all_at(&entry, at).map_err(|e| LogError::io(self.idx_path.display(), e)),
            None => Ok(()),
        }
    }

    /// Makes the index file hold exactly the in-memory entries (writer only, under the file lock).
    fn persist_index(&self) -> LogResult<()> {
        let bytes = std::fs::metadata(&self.idx_path).map(|m| m.len() as usize).unwrap_or(0);
        if bytes != self.index.len() * INDEX_ENTRY {
            self.write_index_entries((bytes / INDEX_ENTRY).min(self.index.len()))?;
        }
        Ok(())
    }
}

struct State {
    segments: Vec<Segment>,
}

impl State {
    fn last(&self) -> &Segment {
        // Invariant: a partition always has at least one segment.
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

struct Writer {
    lock_file: File,
    buf: Vec<u8>,
}

/// One partition of the embedded log.
pub(super) struct Partition {
    topic: Arc<str>,
    partition: u32,
    dir: PathBuf,
    options: Arc<EmbeddedOptions>,
    state: RwLock<State>,
    writer: Mutex<Writer>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Partition {
    /// Opens (creating if needed) the partition directory `dir`.
    pub(super) fn open(
        topic: Arc<str>,
        partition: u32,
        dir: PathBuf,
        options: Arc<EmbeddedOptions>,
    ) -> LogResult<Self> {
        std::fs::create_dir_all(&dir).map_err(|e| LogError::io(dir.display(), e))?;
        let mut bases = list_segments(&dir)?;
        if bases.is_empty() {
            bases.push(0);
        }
        let mut segments = Vec::with_capacity(bases.len());
        for (i, base) in bases.iter().enumerate() {
            let mut seg = Segment::open(&dir, *base)?;
            if i + 1 == bases.len() {
                seg.load()?;
            } else {
                seg.load_index()?;
                seg.len = seg.disk_len()?;
                seg.next_offset = bases[i + 1];
            }
            segments.push(seg);
        }
        let lock_file = open_file(&dir.join(".lock"))?;
        Ok(Partition {
            topic,
            partition,
            dir,
            options,
            state: RwLock::new(State { segments }),
            writer: Mutex::new(Writer { lock_file, buf: Vec::new() }),
        })
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
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
        // An in-process append in progress will publish its own batch: no need to look.
        let Ok(_writer) = self.writer.try_lock() else { return Ok(()) };
        self.catch_up(false)
    }

    /// Brings the in-memory state up to what is on disk. With `repair` (only under the partition's
    /// file lock) an invalid or incomplete tail is a torn write by a dead writer and is truncated.
    fn catch_up(&self, repair: bool) -> LogResult<()> {
        loop {
            let (disk_len, len) = {
                let st = self.read_state();
                (st.last().disk_len()?, st.last().len)
            };
            if disk_len > len {
                let mut st = self.write_state();
                let seg = st.last_mut();
                let (stop, invalid) = seg.scan_forward(disk_len)?;
                if invalid && repair {
                    let dropped = disk_len - stop;
                    tracing::warn!(
                        file = %seg.log_path.display(),
                        position = stop,
                        bytes_dropped = dropped,
                        "embedded log: torn or corrupt tail found; truncating to the last complete batch"
                    );
                    seg.file.set_len(stop).map_err(|e| LogError::io(seg.log_path.display(), e))?;
                    seg.file.sync_all().map_err(|e| LogError::io(seg.log_path.display(), e))?;
                }
            } else if disk_len < len {
                let st = self.read_state();
                return Err(LogError::Corrupt {
                    location: st.last().log_path.display().to_string(),
                    reason: format!("segment shrank from {len} to {disk_len} bytes under us"),
                });
            }
            // Another process may have rolled to a new segment.
            let next = self.read_state().end();
            let next_path = self.dir.join(format!("{}.log", Segment::name(next)));
            let last_base = self.read_state().last().base;
            if next != last_base && next_path.exists() {
                let mut seg = Segment::open(&self.dir, next)?;
                seg.load_index()?;
                self.write_state().segments.push(seg);
                continue;
            }
            return Ok(());
        }
    }

    /// Appends `records`; returns their offsets.
    pub(super) fn append(&self, records: Vec<Record>) -> LogResult<Vec<i64>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut writer = lock(&self.writer);
        let lock_path = self.dir.join(".lock");
        writer.lock_file.lock().map_err(|e| LogError::io(lock_path.display(), e))?;
        let result = self.append_locked(&mut writer, &records);
        let unlocked = writer.lock_file.unlock().map_err(|e| LogError::io(lock_path.display(), e));
        let offsets = result?;
        unlocked?;
        Ok(offsets)
    }

    fn append_locked(&self, writer: &mut Writer, records: &[Record]) -> LogResult<Vec<i64>> {
        self.catch_up(true)?;
        self.read_state().last().persist_index()?;
        let first = self.read_state().end();
        let now = now_ms();
        let mut start = 0;
        while start < records.len() {
            // Split so that no batch body exceeds MAX_BODY (a single huge record still goes alone).
            let mut size = batch::BODY_PREFIX;
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
            let base = self.read_state().end();
            batch::encode(base, &records[start..end], now, &mut writer.buf);
            let mut st = self.write_state();
            let seg = st.last_mut();
            let pos = seg.len;
            seg.file.write_all_at(&writer.buf, pos).map_err(|e| LogError::io(seg.log_path.display(), e))?;
            if self.options.fsync == FsyncPolicy::Always {
                seg.file.sync_data().map_err(|e| LogError::io(seg.log_path.display(), e))?;
            }
            seg.index.push((base, pos));
            seg.len = pos + writer.buf.len() as u64;
            seg.next_offset = base + (end - start) as i64;
            seg.append_index_entry()?;
            start = end;
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
                File::open(&self.dir).and_then(|d| d.sync_all()).map_err(|e| LogError::io(self.dir.display(), e))?;
            }
            tracing::debug!(topic = %self.topic, partition = self.partition, base = next, "embedded log: new segment");
            self.write_state().segments.push(seg);
        }
        Ok(())
    }

    /// Reads up to `max` records from `offset`.
    pub(super) fn read(&self, offset: i64, max: usize) -> LogResult<Vec<StoredRecord>> {
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
        if offset == end || max == 0 {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(max.min((end - offset) as usize).min(1 << 16));
        // Snapshot what to read without holding the lock during I/O.
        let plan: Vec<(Arc<File>, PathBuf, u64, u64)> = {
            let st = self.read_state();
            let i = st.segments.partition_point(|s| s.base <= offset).saturating_sub(1);
            st.segments[i..]
                .iter()
                .enumerate()
                .map(|(k, s)| {
                    let from = if k == 0 {
                        let j = s.index.partition_point(|&(o, _)| o <= offset).saturating_sub(1);
                        s.index.get(j).map_or(0, |&(_, p)| p)
                    } else {
                        0
                    };
                    (s.file.clone(), s.log_path.clone(), from, s.len)
                })
                .collect()
        };
        for (file, path, mut pos, limit) in plan {
            let seg_reader = SegmentReader { file: &file, path: &path };
            while pos < limit && out.len() < max {
                let (total, body) = seg_reader.batch_at(pos, limit)?;
                batch::decode(&self.topic, self.partition, body, offset, max, &mut out).map_err(|reason| {
                    LogError::Corrupt { location: format!("{} at byte {pos}", path.display()), reason }
                })?;
                pos += total;
            }
            if out.len() >= max {
                break;
            }
        }
        Ok(out)
    }
}

struct SegmentReader<'a> {
    file: &'a File,
    path: &'a Path,
}

impl SegmentReader<'_> {
    /// Reads the verified batch at `pos` (which lies below `limit`, the known complete length):
    /// anything wrong there is corruption.
    fn batch_at(&self, pos: u64, limit: u64) -> LogResult<(u64, Bytes)> {
        let corrupt =
            |reason: String| LogError::Corrupt { location: format!("{} at byte {pos}", self.path.display()), reason };
        let mut h = [0u8; HEADER_LEN];
        self.file.read_exact_at(&mut h, pos).map_err(|e| LogError::io(self.path.display(), e))?;
        let header = BatchHeader::parse(&h);
        if pos + header.total_len() > limit || (header.body_len as usize) < batch::BODY_PREFIX {
            return Err(corrupt(format!("batch length {} runs past the segment's end", header.body_len)));
        }
        let mut body = BytesMut::zeroed(header.body_len as usize);
        self.file
            .read_exact_at(&mut body, pos + HEADER_LEN as u64)
            .map_err(|e| LogError::io(self.path.display(), e))?;
        let crc = crc32c::crc32c(&body);
        if crc != header.crc {
            return Err(corrupt(format!("checksum mismatch (stored {:#010x}, computed {crc:#010x})", header.crc)));
        }
        Ok((header.total_len(), body.freeze()))
    }
}

fn list_segments(dir: &Path) -> LogResult<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| LogError::io(dir.display(), e))? {
        let entry = entry.map_err(|e| LogError::io(dir.display(), e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".log")
            && let Ok(base) = stem.parse::<i64>()
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}
