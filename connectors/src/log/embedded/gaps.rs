//! Offset gaps that `log repair` left in a partition: the offsets of batches it quarantined (see
//! `repair.rs`), listed in the partition's `gaps.json`.
//!
//! Readers step over a listed gap — its offsets hold nothing a reader sees, as the read contract
//! allows — and a jump in offsets that no gap lists stays corruption: a reader never skips an
//! offset silently. The file is a journal (one entry per repaired stretch, naming its quarantine
//! files), replaced atomically, never edited by anything but a repair.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::write_atomically;
use crate::log::{LogError, LogResult};

/// The journal's file name in a partition directory.
pub(super) const FILE: &str = "gaps.json";

/// One stretch of offsets a repair took out of the partition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct GapEntry {
    /// First offset of the gap.
    pub from: i64,
    /// The offset after it.
    pub to: i64,
    /// Where the bytes that held these offsets went (paths relative to the data directory); empty
    /// where no byte held them (offsets missing from the segment).
    #[serde(default)]
    pub quarantine: Vec<String>,
    /// When the repair ran (milliseconds since the Unix epoch).
    pub repaired_at_ms: i64,
}

/// A partition's `gaps.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct GapFile {
    /// Every gap recorded, in the order repairs recorded them.
    pub gaps: Vec<GapEntry>,
}

impl GapFile {
    /// The journal of the partition directory `dir` (empty if there is none).
    pub(super) fn load(dir: &Path) -> LogResult<GapFile> {
        let path = dir.join(FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| LogError::Corrupt { location: path.display().to_string(), reason: e.to_string() }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(GapFile::default()),
            Err(e) => Err(LogError::io(path.display(), e)),
        }
    }

    /// Writes the journal to `dir` atomically (temporary file, fsync, rename, fsync of `dir`).
    pub(super) fn save(&self, dir: &Path) -> LogResult<PathBuf> {
        let path = dir.join(FILE);
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| LogError::Corrupt { location: path.display().to_string(), reason: e.to_string() })?;
        write_atomically(&path, &bytes)?;
        Ok(path)
    }

    /// The gaps as ranges readers step over.
    pub(super) fn ranges(&self) -> Gaps {
        Gaps::new(self.gaps.iter().map(|g| (g.from, g.to)))
    }
}

/// Offset ranges `[from, to)` that hold nothing, sorted and merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Gaps {
    ranges: Vec<(i64, i64)>,
}

impl Gaps {
    /// The union of `ranges` (empty and reversed ones ignored).
    pub(super) fn new(ranges: impl IntoIterator<Item = (i64, i64)>) -> Gaps {
        let mut all: Vec<(i64, i64)> = ranges.into_iter().filter(|(a, b)| a < b).collect();
        all.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(all.len());
        for (a, b) in all {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Gaps { ranges: merged }
    }

    /// The gap holding `offset`, if any.
    fn around(&self, offset: i64) -> Option<(i64, i64)> {
        let i = self.ranges.partition_point(|&(a, _)| a <= offset);
        i.checked_sub(1).map(|i| self.ranges[i]).filter(|&(_, b)| offset < b)
    }

    /// Whether every offset of `[from, to)` lies in a gap (true for an empty range).
    pub(super) fn covers(&self, from: i64, to: i64) -> bool {
        from >= to || self.around(from).is_some_and(|(_, b)| to <= b)
    }

    /// `offset`, or the end of the gap holding it.
    pub(super) fn step(&self, offset: i64) -> i64 {
        self.around(offset).map_or(offset, |(_, b)| b)
    }

    /// How many offsets of `[from, to)` lie in gaps.
    pub(super) fn within(&self, from: i64, to: i64) -> i64 {
        self.ranges.iter().map(|&(a, b)| b.min(to).saturating_sub(a.max(from)).max(0)).fold(0i64, i64::saturating_add)
    }

    /// The ranges, sorted and merged.
    pub(super) fn ranges(&self) -> &[(i64, i64)] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_merge_cover_and_step() {
        let g = Gaps::new([(10, 12), (3, 5), (5, 7), (20, 20), (9, 8)]);
        assert_eq!(g.ranges(), &[(3, 7), (10, 12)]);
        assert!(g.covers(3, 7) && g.covers(4, 6) && g.covers(6, 6) && g.covers(9, 9));
        assert!(!g.covers(2, 4) && !g.covers(6, 8) && !g.covers(7, 10) && !g.covers(3, 12));
        assert_eq!((g.step(2), g.step(3), g.step(6), g.step(7), g.step(11)), (2, 7, 7, 7, 12));
        assert_eq!(g.within(0, 100), 6);
        assert_eq!(g.within(4, 11), 4);
        assert!(Gaps::default().covers(1, 1) && !Gaps::default().covers(1, 2));
    }

    #[test]
    fn the_journal_round_trips_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(GapFile::load(dir.path()).expect("load"), GapFile::default());
        let file = GapFile {
            gaps: vec![GapEntry {
                from: 1,
                to: 3,
                quarantine: vec!["quarantine/t/0/x.batch".into()],
                repaired_at_ms: 5,
            }],
        };
        file.save(dir.path()).expect("save");
        assert_eq!(GapFile::load(dir.path()).expect("load"), file);
        assert_eq!(file.ranges().ranges(), &[(1, 3)]);
        std::fs::write(dir.path().join(FILE), b"{").expect("write");
        assert!(matches!(GapFile::load(dir.path()), Err(LogError::Corrupt { .. })));
    }
}
