//! Checkpoints of the stages: each operator's state with the input positions it reflects, in a
//! local state directory (like Kafka Streams' state directory: a cache the log can always rebuild).
//!
//! Layout: `<state-dir>/<group>/<sequence>.snapshot`, each file one header line of JSON
//! ([`SnapshotHeader`]) followed by the operator's state bytes. Files are written to a temporary
//! name, synced, then renamed, so a reader sees whole snapshots only; the newest two are kept. A
//! snapshot that is unreadable, from another operator, or ahead of the group's committed offsets is
//! skipped with a warning: the stage then restores from an older one, or by replay.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use trustloop_operators::operator::Snapshot;

use crate::backend::BackendConfig;

/// The layout version of snapshot files (the header line and what follows it).
const FILE_FORMAT: u32 = 1;
/// How many snapshots of a stage are kept.
const KEEP: usize = 2;

/// What a snapshot file says about the state it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    /// Layout version of the file.
    pub file_format: u32,
    /// The operator (its name).
    pub operator: String,
    /// The operator's state format version.
    pub version: u32,
    /// The input positions the state reflects: (topic, partition, next offset).
    pub positions: Vec<(String, u32, i64)>,
    /// Bytes of state after the header line.
    pub state_bytes: u64,
}

/// A stage snapshot read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSnapshot {
    /// Its header.
    pub header: SnapshotHeader,
    /// The operator's state.
    pub snapshot: Snapshot,
    /// The file it came from.
    pub path: PathBuf,
}

/// Where snapshots are kept and read — the one rule every command follows: none when they are
/// turned off (`off`, `--no-snapshots`); else the directory given (`--state-dir`); else the
/// embedded log's `snapshots/` directory; with Kafka, none unless a directory is given.
pub fn state_dir(backend: &BackendConfig, given: Option<&Path>, off: bool) -> Option<PathBuf> {
    match (given, &backend.brokers) {
        _ if off => None,
        (Some(dir), _) => Some(dir.to_path_buf()),
        (None, None) => Some(backend.data.join("snapshots")),
        (None, Some(_)) => None,
    }
}

/// Errors of the snapshot store.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotStoreError {
    /// File system trouble.
    #[error("snapshot store {path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A file that is not a whole snapshot.
    #[error("{path}: not a snapshot: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn io(path: &Path, source: std::io::Error) -> SnapshotStoreError {
    SnapshotStoreError::Io { path: path.display().to_string(), source }
}

/// The snapshots of every stage, under one directory.
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    /// A store in `dir` (created on first save).
    pub fn new(dir: impl Into<PathBuf>) -> SnapshotStore {
        SnapshotStore { dir: dir.into() }
    }

    fn group_dir(&self, group: &str) -> PathBuf {
        self.dir.join(group)
    }

    /// The snapshot files of `group`, oldest first.
    fn files(&self, group: &str) -> Result<Vec<(u64, PathBuf)>, SnapshotStoreError> {
        let dir = self.group_dir(group);
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&dir, e)),
        };
        let mut out = Vec::new();
        for e in entries.flatten() {
            let path = e.path();
            let seq = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".snapshot"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(seq) = seq {
                out.push((seq, path));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Saves a snapshot of `group`: `snapshot` of `operator`, reflecting `positions`.
    pub fn save(
        &self,
        group: &str,
        operator: &str,
        positions: Vec<(String, u32, i64)>,
        snapshot: &Snapshot,
    ) -> Result<PathBuf, SnapshotStoreError> {
        let dir = self.group_dir(group);
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        let files = self.files(group)?;
        let seq = files.last().map_or(1, |(s, _)| s + 1);
        let header = SnapshotHeader {
            file_format: FILE_FORMAT,
            operator: operator.to_string(),
            version: snapshot.version,
            positions,
            state_bytes: snapshot.state.len() as u64,
        };
        let mut bytes = serde_json::to_vec(&header)
            .map_err(|e| SnapshotStoreError::Corrupt { path: dir.display().to_string(), reason: e.to_string() })?;
        bytes.push(b'\n');
        bytes.extend_from_slice(&snapshot.state);
        let path = dir.join(format!("{seq:012}.snapshot"));
        let tmp = dir.join(format!(".{seq:012}.snapshot.tmp"));
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
            f.write_all(&bytes).map_err(|e| io(&tmp, e))?;
            f.sync_all().map_err(|e| io(&tmp, e))?;
        }
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        if let Ok(d) = std::fs::File::open(&dir) {
            // The rename is durable once the directory is synced; a failure here only risks the
            // newest snapshot, never an older one.
            let _ = d.sync_all();
        }
        let files = self.files(group)?;
        for (_, old) in files.iter().take(files.len().saturating_sub(KEEP)) {
            if let Err(e) = std::fs::remove_file(old) {
                tracing::warn!(path = %old.display(), error = %e, "cannot remove an old snapshot");
            }
        }
        Ok(path)
    }

    /// Reads one snapshot file.
    pub fn read(path: &Path) -> Result<StoredSnapshot, SnapshotStoreError> {
        let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
        let corrupt = |reason: String| SnapshotStoreError::Corrupt { path: path.display().to_string(), reason };
        let newline = bytes.iter().position(|b| *b == b'\n').ok_or_else(|| corrupt("no header line".into()))?;
        let header: SnapshotHeader =
            serde_json::from_slice(&bytes[..newline]).map_err(|e| corrupt(format!("header: {e}")))?;
        if header.file_format != FILE_FORMAT {
            return Err(corrupt(format!("file format {} (this build reads {FILE_FORMAT})", header.file_format)));
        }
        let state = bytes[newline + 1..].to_vec();
        if state.len() as u64 != header.state_bytes {
            return Err(corrupt(format!("{} bytes of state, the header says {}", state.len(), header.state_bytes)));
        }
        Ok(StoredSnapshot { snapshot: Snapshot { version: header.version, state }, header, path: path.to_path_buf() })
    }

    /// The snapshots of `group`, newest first, that could be read; the others are reported.
    pub fn newest_first(&self, group: &str) -> Result<Vec<StoredSnapshot>, SnapshotStoreError> {
        let mut out = Vec::new();
        for (_, path) in self.files(group)?.into_iter().rev() {
            match SnapshotStore::read(&path) {
                Ok(s) => out.push(s),
                Err(e) => tracing::warn!(error = %e, "skipping an unreadable snapshot"),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(n: u8) -> Snapshot {
        Snapshot { version: 1, state: vec![n; 10] }
    }

    #[test]
    fn saves_reads_back_and_keeps_the_newest_two() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(dir.path());
        assert!(store.newest_first("g").expect("empty").is_empty());
        for n in 1..=4u8 {
            store.save("g", "trust", vec![("telemetry".into(), 0, i64::from(n) * 10)], &snap(n)).expect("save");
        }
        let all = store.newest_first("g").expect("list");
        assert_eq!(all.len(), 2, "the newest two are kept");
        assert_eq!(all[0].snapshot, snap(4));
        assert_eq!(all[0].header.positions, vec![("telemetry".to_string(), 0, 40)]);
        assert_eq!(all[1].snapshot, snap(3));
    }

    #[test]
    fn torn_and_foreign_files_are_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SnapshotStore::new(dir.path());
        store.save("g", "trust", vec![], &snap(1)).expect("save");
        let newest = store.save("g", "trust", vec![], &snap(2)).expect("save");
        // A torn write (the state cut short) and garbage are reported, never restored.
        let bytes = std::fs::read(&newest).expect("read");
        std::fs::write(&newest, &bytes[..bytes.len() - 3]).expect("truncate");
        std::fs::write(dir.path().join("g").join("000000000099.snapshot"), b"not a snapshot").expect("write");
        let all = store.newest_first("g").expect("list");
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].snapshot, snap(1));
        assert!(matches!(SnapshotStore::read(&newest), Err(SnapshotStoreError::Corrupt { .. })));
    }

    #[test]
    fn one_rule_for_the_state_directory() {
        let embedded = BackendConfig::embedded("/data");
        let kafka = BackendConfig { brokers: Some("broker:9092".into()), ..BackendConfig::embedded("/data") };
        let given = Path::new("/state");
        assert_eq!(state_dir(&embedded, None, false), Some(PathBuf::from("/data/snapshots")));
        assert_eq!(state_dir(&embedded, Some(given), false), Some(given.to_path_buf()));
        assert_eq!(state_dir(&kafka, None, false), None, "with Kafka, none unless given");
        assert_eq!(state_dir(&kafka, Some(given), false), Some(given.to_path_buf()));
        for backend in [&embedded, &kafka] {
            assert_eq!(state_dir(backend, Some(given), true), None, "--no-snapshots wins");
        }
    }
}
