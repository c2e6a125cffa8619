//! Consumer-group offsets of the embedded log: `groups/<group>.json`, replaced atomically under a lock.

use std::collections::BTreeMap;
use std::path::Path;

use super::{lock_file, write_atomically};
use crate::log::{LogError, LogResult, TopicPartitionOffset};

/// topic → partition → next offset to read.
type Offsets = BTreeMap<String, BTreeMap<u32, i64>>;

fn load(path: &Path) -> LogResult<Offsets> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| LogError::Corrupt { location: path.display().to_string(), reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Offsets::new()),
        Err(e) => Err(LogError::io(path.display(), e)),
    }
}

/// Merges `offsets` into the group's committed offsets.
pub(super) fn commit(dir: &Path, group: &str, offsets: &[TopicPartitionOffset]) -> LogResult<()> {
    let _guard = lock_file(&dir.join(".lock"))?;
    let path = dir.join(format!("{group}.json"));
    let mut all = load(&path)?;
    for o in offsets {
        all.entry(o.topic.clone()).or_default().insert(o.partition, o.offset);
    }
    let bytes = serde_json::to_vec_pretty(&all)
        .map_err(|e| LogError::Corrupt { location: path.display().to_string(), reason: e.to_string() })?;
    write_atomically(&path, &bytes)
}

/// The group's committed offsets for `partitions` partitions of `topic`.
pub(super) fn committed(dir: &Path, group: &str, topic: &str, partitions: usize) -> LogResult<Vec<Option<i64>>> {
    let all = load(&dir.join(format!("{group}.json")))?;
    let t = all.get(topic);
    Ok((0..partitions as u32).map(|p| t.and_then(|t| t.get(&p).copied())).collect())
}
