//! The embedded, file-backed event log: trustloop's default backend (one binary, no servers).
//!
//! Layout under the data directory:
//!
//! ```text
//! topics/<topic>/meta.json                 partition count
//! topics/<topic>/<partition>/<base>.log    segment: checksummed record batches
//! topics/<topic>/<partition>/<base>.idx    offset index: (batch base offset, byte position) per batch
//! topics/<topic>/<partition>/.lock        locked only while appending
//! topics/<topic>/<partition>/gaps.json     offsets a repair took out (only after `log repair`)
//! topics.lock                              locked only while creating a topic
//! batches.lock                             exclusive while a batch is appended, shared while
//!                                          offsets are read; holds the last batch's log time
//! open.lock                                shared by every open `EmbeddedLog`, exclusive while
//!                                          `log repair` runs
//! groups/<group>.json                      committed consumer-group offsets (replaced atomically)
//! groups/.lock                             locked only while committing
//! quarantine/<topic>/<partition>/          what `log repair` moved out of segments
//! ```
//!
//! A segment is a sequence of record batches, each `[u32 body length][u32 CRC32C of the body][body]`
//! with the body `[u64 base offset][u32 record count][records]` (see `batch.rs` for the record
//! layout). The index holds one `[i64 base offset][u64 position]` entry per batch; it is derived data,
//! checked against the segment on open and rebuilt where it is missing or stale.
//!
//! Every append is a *batch* ([`EventLog::append_batch`]: one or several partitions of a topic) made
//! under the exclusive lock of `batches.lock`, and its records without a timestamp are stamped with
//! one log time, strictly later than the batch before it (the lock file keeps the last one; so more
//! than a thousand such batches a second run the log time ahead of the clock — writers batch).
//! Offsets are read under the shared lock, so a reader sees a batch whole or not at all, and a batch
//! that becomes visible later has a later log time: ordering records by log time follows the order
//! they became visible in.
//!
//! Several processes may open one directory (say a long-running `trustloop run` and a CLI
//! `trustloop produce`): appends to a partition are serialised by an exclusive lock on the partition's
//! lock file, held only for the append; the appender first catches up with batches other processes
//! appended. Readers never lock and never change what is written: they see complete, checksummed
//! batches only, and notice other processes' appends when they ask for offsets at or past their known end.
//!
//! The first append of a process to a partition also repairs it: a torn or corrupt tail (a writer
//! died mid-write) is truncated to the end of the last complete batch, with a warning naming the file,
//! position and bytes dropped, and the index is made to match. Corruption elsewhere is reported by
//! reads as [`LogError::Corrupt`] naming the file and byte position; it is never skipped silently.
//!
//! [`repair()`] (`trustloop log repair`) moves corrupt batches anywhere in the log into quarantine
//! files and rewrites their segments without them; the offsets they held become gaps that readers
//! step over (see `repair.rs`). It runs only while no other process has the log open.

mod batch;
mod gaps;
mod groups;
mod partition;
mod repair;
pub mod salvage;

pub use repair::{Finding, FindingKind, RecordedGap, RepairOptions, RepairReport, repair};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use self::partition::Partition;
use crate::log::{
    Appended, EventLog, LogError, LogResult, PartitionOffsets, ReadBatch, Record, ScanVisitor, TopicInfo,
    TopicPartitionOffset, validate_name,
};

/// When appended data is forced to stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncPolicy {
    /// `fdatasync` after every appended batch: an acknowledged append survives a power loss. The default.
    #[default]
    Always,
    /// Leave flushing to the operating system: an acknowledged append survives a process crash but
    /// maybe not a power loss. Much faster for small batches.
    Never,
}

/// Settings of the embedded log. `EmbeddedOptions::default()` is durable and suits most uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmbeddedOptions {
    /// When appended data is forced to disk (default: after every batch).
    pub fsync: FsyncPolicy,
    /// A partition starts a new segment file once the current one reaches this size (default 128 MiB).
    /// Smaller segments mean more files; the size does not affect append or read speed.
    pub segment_bytes: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        EmbeddedOptions { fsync: FsyncPolicy::Always, segment_bytes: 128 << 20 }
    }
}

/// A topic's `meta.json`.
#[derive(Debug, Serialize, Deserialize)]
struct TopicMeta {
    partitions: u32,
}

struct Topic {
    partitions: Vec<Partition>,
}

/// The embedded, file-backed [`EventLog`] (see the module docs).
pub struct EmbeddedLog {
    dir: PathBuf,
    options: Arc<EmbeddedOptions>,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// `open.lock`, held shared while the log is open (so no repair rewrites segments under it).
    _open: Option<std::fs::File>,
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Writes `path` whole or not at all: a temporary file beside it, fsync, rename, fsync of the
/// directory.
fn write_atomically(path: &Path, bytes: &[u8]) -> LogResult<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let mut f = std::fs::File::create(&tmp).map_err(|e| LogError::io(tmp.display(), e))?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(|e| LogError::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| LogError::io(path.display(), e))?;
    if let Some(parent) = path.parent() {
        std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(|e| LogError::io(parent.display(), e))?;
    }
    Ok(())
}

/// Opens (creating if needed) a file for reading and writing; read-only where the directory does not
/// allow writing (a reader process on a read-only mount).
pub(crate) fn open_file(path: &Path) -> LogResult<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .or_else(|_| std::fs::File::open(path))
        .map_err(|e| LogError::io(path.display(), e))
}

/// Opens `path` and holds an exclusive lock on it until the file is dropped.
fn lock_file(path: &Path) -> LogResult<std::fs::File> {
    let f = open_file(path)?;
    f.lock().map_err(|e| LogError::io(path.display(), e))?;
    Ok(f)
}

/// The file every open log holds shared and a repair exclusively (see the module docs).
const OPEN_LOCK: &str = "open.lock";

/// Takes `open.lock` in `dir` without waiting: shared, or exclusive (for a repair). Held until the
/// file is dropped.
fn lock_open(dir: &Path, exclusive: bool) -> LogResult<std::fs::File> {
    let path = dir.join(OPEN_LOCK);
    let file = open_file(&path)?;
    let locked = if exclusive { file.try_lock() } else { file.try_lock_shared() };
    match locked {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) if exclusive => Err(LogError::Busy(format!(
            "the embedded log in {} is open in another process (a running `trustloop run` or `serve`?): \
             stop it before repairing the log",
            dir.display()
        ))),
        Err(std::fs::TryLockError::WouldBlock) => Err(LogError::Busy(format!(
            "the embedded log in {} is being repaired (`trustloop log repair`); try again when it is done",
            dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(LogError::io(path.display(), e)),
    }
}

/// The log-wide batch lock (see the module docs), held until dropped.
struct BatchLock {
    file: std::fs::File,
    path: PathBuf,
}

impl BatchLock {
    fn take(dir: &Path, exclusive: bool) -> LogResult<BatchLock> {
        let path = dir.join("batches.lock");
        let file = open_file(&path)?;
        match exclusive {
            true => file.lock(),
            false => file.lock_shared(),
        }
        .map_err(|e| LogError::io(path.display(), e))?;
        Ok(BatchLock { file, path })
    }

    /// The log time of the next batch: now, or 1 ms after the last batch's if the clock has not
    /// moved past it (or went back); recorded as the last.
    fn next_log_time(&self) -> LogResult<i64> {
        use std::os::unix::fs::FileExt;
        let mut last = [0u8; 8];
        let read = self.file.read_at(&mut last, 0).map_err(|e| LogError::io(self.path.display(), e))?;
        let last = if read == 8 { i64::from_le_bytes(last) } else { 0 };
        let now = now_ms().max(last.saturating_add(1));
        // A lost write (a crash before the page cache reached the disk) only costs the strictness
        // of the next stamp if the clock also went back: no sync.
        self.file.write_all_at(&now.to_le_bytes(), 0).map_err(|e| LogError::io(self.path.display(), e))?;
        Ok(now)
    }
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log in `dir`.
    ///
    /// Cheap: topics and partitions are opened on first use. Several `EmbeddedLog`s, in one process
    /// or in several, may open the same directory at once; share one per process as
    /// `Arc<EmbeddedLog>` where you can. Opening never modifies existing data; a torn tail left by a
    /// crash is repaired by the first append to that partition.
    ///
    /// The log holds `open.lock` shared until it is dropped: while a [`repair()`] runs, opening
    /// fails with [`LogError::Busy`], and a repair does not start while the log is open. (Where
    /// the lock file cannot be opened at all — a reader on a read-only mount — the log opens
    /// without it.)
    pub fn open(dir: impl AsRef<Path>, options: EmbeddedOptions) -> LogResult<EmbeddedLog> {
        let dir = dir.as_ref().to_path_buf();
        for sub in ["topics", "groups"] {
            let d = dir.join(sub);
            std::fs::create_dir_all(&d).map_err(|e| LogError::io(d.display(), e))?;
        }
        let open = match lock_open(&dir, false) {
            Ok(f) => Some(f),
            Err(e @ LogError::Busy(_)) => return Err(e),
            Err(e) => {
                tracing::debug!(error = %e, "embedded log: opened without holding open.lock");
                None
            }
        };
        Ok(EmbeddedLog { dir, options: Arc::new(options), topics: RwLock::new(HashMap::new()), _open: open })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn topic_dir(&self, topic: &str) -> PathBuf {
        self.dir.join("topics").join(topic)
    }

    /// The topic, opened on first use (it may have been created by another process).
    fn topic(&self, topic: &str) -> LogResult<Arc<Topic>> {
        if let Some(t) = self.topics.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(topic) {
            return Ok(t.clone());
        }
        if validate_name(topic).is_err() {
            return Err(LogError::UnknownTopic(topic.to_string()));
        }
        let meta = self.read_meta(topic)?.ok_or_else(|| LogError::UnknownTopic(topic.to_string()))?;
        let name: Arc<str> = topic.into();
        let partitions = (0..meta.partitions)
            .map(|p| Partition::open(name.clone(), p, self.topic_dir(topic).join(p.to_string()), self.options.clone()))
            .collect::<LogResult<Vec<_>>>()?;
        let t = Arc::new(Topic { partitions });
        let mut topics = self.topics.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(topics.entry(topic.to_string()).or_insert(t).clone())
    }

    fn read_meta(&self, topic: &str) -> LogResult<Option<TopicMeta>> {
        let path = self.topic_dir(topic).join("meta.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| LogError::Corrupt { location: path.display().to_string(), reason: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LogError::io(path.display(), e)),
        }
    }

    fn partition<'a>(&self, topic: &'a Topic, name: &str, partition: u32) -> LogResult<&'a Partition> {
        topic.partitions.get(partition as usize).ok_or_else(|| LogError::UnknownPartition {
            topic: name.to_string(),
            partition,
            partitions: topic.partitions.len() as u32,
        })
    }
}

#[async_trait]
impl EventLog for EmbeddedLog {
    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn create_topic(&self, topic: &str, partitions: u32) -> LogResult<()> {
        validate_name(topic)?;
        if partitions == 0 {
            return Err(LogError::InvalidName {
                name: topic.to_string(),
                reason: "a topic needs at least one partition",
            });
        }
        let _guard = lock_file(&self.dir.join("topics.lock"))?;
        if let Some(meta) = self.read_meta(topic)? {
            if meta.partitions != partitions {
                return Err(LogError::TopicExists {
                    topic: topic.to_string(),
                    existing: meta.partitions,
                    requested: partitions,
                });
            }
            return Ok(());
        }
        let dir = self.topic_dir(topic);
        for p in 0..partitions {
            let d = dir.join(p.to_string());
            std::fs::create_dir_all(&d).map_err(|e| LogError::io(d.display(), e))?;
        }
        let meta = serde_json::to_vec(&TopicMeta { partitions }).unwrap_or_default();
        write_atomically(&dir.join("meta.json"), &meta)?;
        let root = self.dir.join("topics");
        std::fs::File::open(&root).and_then(|d| d.sync_all()).map_err(|e| LogError::io(root.display(), e))?;
        tracing::debug!(topic, partitions, "embedded log: created topic");
        Ok(())
    }

    async fn list_topics(&self) -> LogResult<Vec<TopicInfo>> {
        let root = self.dir.join("topics");
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&root).map_err(|e| LogError::io(root.display(), e))? {
            let entry = entry.map_err(|e| LogError::io(root.display(), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if !is_dir || name.starts_with('_') || validate_name(&name).is_err() {
                continue;
            }
            if let Some(meta) = self.read_meta(&name)? {
                out.push(TopicInfo { name, partitions: meta.partitions });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn partition_count(&self, topic: &str) -> LogResult<u32> {
        Ok(self.topic(topic)?.partitions.len() as u32)
    }

    async fn append(&self, topic: &str, partition: u32, records: Vec<Record>) -> LogResult<Appended> {
        let mut appended = self.append_batch(topic, vec![(partition, records)]).await?;
        Ok(appended.pop().unwrap_or(Appended { partition, offsets: Vec::new() }))
    }

    async fn append_batch(&self, topic: &str, batch: Vec<(u32, Vec<Record>)>) -> LogResult<Vec<Appended>> {
        let t = self.topic(topic)?;
        let parts = batch
            .into_iter()
            .map(|(p, records)| Ok((p, self.partition(&t, topic, p)?, records)))
            .collect::<LogResult<Vec<_>>>()?;
        let lock = BatchLock::take(&self.dir, true)?;
        // Batches whose records all carry a timestamp (derived events carry their cause's) take no
        // log time of their own.
        let stamped = parts.iter().all(|(_, _, records)| records.iter().all(|r| r.timestamp_ms.is_some()));
        let now = if stamped { 0 } else { lock.next_log_time()? };
        let mut out = Vec::with_capacity(parts.len());
        for (partition, part, records) in parts {
            out.push(Appended { partition, offsets: part.append(records, now)? });
        }
        drop(lock);
        Ok(out)
    }

    fn atomic_batches(&self) -> bool {
        true
    }

    async fn read(&self, topic: &str, partition: u32, offset: i64, max_records: usize) -> LogResult<ReadBatch> {
        let t = self.topic(topic)?;
        self.partition(&t, topic, partition)?.read(offset, max_records)
    }

    async fn scan(
        &self,
        topic: &str,
        partition: u32,
        offset: i64,
        until: i64,
        visit: &mut ScanVisitor<'_>,
    ) -> LogResult<i64> {
        let t = self.topic(topic)?;
        self.partition(&t, topic, partition)?.scan(offset, until, visit)
    }

    async fn offsets(&self, topic: &str) -> LogResult<Vec<PartitionOffsets>> {
        let mut all = self.offsets_of(&[topic]).await?;
        Ok(all.pop().unwrap_or_default())
    }

    async fn offsets_of(&self, topics: &[&str]) -> LogResult<Vec<Vec<PartitionOffsets>>> {
        let opened = topics.iter().map(|t| self.topic(t)).collect::<LogResult<Vec<_>>>()?;
        // No batch is half-visible while the ends are read.
        let _lock = BatchLock::take(&self.dir, false)?;
        opened
            .iter()
            .map(|t| {
                t.partitions.iter().map(|p| p.offsets().map(|(start, end)| PartitionOffsets { start, end })).collect()
            })
            .collect()
    }

    async fn commit_offsets(&self, group: &str, offsets: &[TopicPartitionOffset]) -> LogResult<()> {
        validate_name(group)?;
        groups::commit(&self.dir.join("groups"), group, offsets)
    }

    async fn committed_offsets(&self, group: &str, topic: &str) -> LogResult<Vec<Option<i64>>> {
        validate_name(group)?;
        let n = self.topic(topic)?.partitions.len();
        groups::committed(&self.dir.join("groups"), group, topic, n)
    }
}

#[cfg(test)]
mod repair_tests;
#[cfg(test)]
mod tests;
