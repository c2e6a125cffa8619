//! The tree's leaves as the checkpoints lay them out, read back from the log: what inclusion
//! proofs are made from. Unlike [`verify`](super::verify) this trusts nothing it cannot check on the
//! way — a span that does not hash to its checkpoint's head, or a tree that does not give the last
//! checkpoint's root, is an error (run `trustloop log verify` to see where).

use std::collections::{HashMap, HashSet};

use trustloop_schemas::transparency::checkpoint::{Checkpoint, SignedNote};
use trustloop_schemas::transparency::ledger::{LedgerExtensions, chain_start};
use trustloop_schemas::transparency::merkle::{Hash, TreeLevels};
use trustloop_schemas::{EventCodec, WriterSchemas};

use super::checkpointer::decode;
use super::span::hash_span;
use super::{CHECKPOINTS_TOPIC, LedgerError};
use crate::log::{EventLog, PartitionReader};

/// A record's place in the log.
pub type Position = (String, u32, i64);

/// Every leaf up to the last checkpoint, with the leaf index of the positions asked for.
#[derive(Debug, Clone)]
pub struct TreeLeaves {
    /// The last checkpoint's signed note.
    pub note: String,
    /// Its body.
    pub checkpoint: Checkpoint,
    /// The tree, every level.
    levels: TreeLevels,
    /// Leaf index of each position asked for that the checkpoints cover.
    indices: HashMap<Position, u64>,
}

impl TreeLeaves {
    /// The leaf index of a position, if a checkpoint covers it.
    pub fn index_of(&self, topic: &str, partition: u32, offset: i64) -> Option<u64> {
        self.indices.get(&(topic.to_string(), partition, offset)).copied()
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.leaf(index)
    }

    /// The RFC 9162 inclusion proof (audit path, bottom-up) of leaf `index` in the whole tree.
    pub fn inclusion_proof(&self, index: u64) -> Option<Vec<Hash>> {
        self.levels.inclusion_proof(index, self.levels.size()).ok()
    }

    /// The multi-leaf inclusion proof of `indices` in the whole tree
    /// ([`multi_inclusion_proof`](trustloop_schemas::transparency::merkle::multi_inclusion_proof)).
    pub fn multi_proof(&self, indices: &[u64]) -> Option<Vec<Hash>> {
        self.levels.multi_inclusion_proof(indices, self.levels.size()).ok()
    }
}

/// Reads every checkpoint in order and every span they name, and returns the tree's leaves up to
/// the last checkpoint with the leaf indices of `want`.
pub async fn tree_leaves(
    log: &dyn EventLog,
    codec: &EventCodec,
    writers: &dyn WriterSchemas,
    want: &HashSet<Position>,
) -> Result<TreeLeaves, LedgerError> {
    let records = PartitionReader::new(CHECKPOINTS_TOPIC, 0, 0).read_all(log).await?;
    let mut leaves: Vec<Hash> = Vec::new();
    let mut indices = HashMap::new();
    let mut heads: HashMap<(String, u32), Hash> = HashMap::new();
    let mut last = None;
    for r in &records {
        let event = decode(codec, writers, r)?;
        let bad = |what: String| LedgerError::BadCheckpoint { offset: r.offset, what };
        let note = SignedNote::parse(&event.note).map_err(|e| bad(e.to_string()))?;
        let checkpoint = Checkpoint::parse(&note.text).map_err(|e| bad(e.to_string()))?;
        let ext = LedgerExtensions::parse(&checkpoint.extensions).map_err(|e| bad(e.to_string()))?;
        for span in ext.spans.iter().filter(|s| s.records > 0) {
            if span.first_leaf != leaves.len() as u64 {
                return Err(bad(format!(
                    "checkpoint {} puts {}/{} at leaf {}, after {} leaves",
                    ext.seq,
                    span.topic,
                    span.partition,
                    span.first_leaf,
                    leaves.len()
                )));
            }
            let key = (span.topic.clone(), span.partition);
            let head = heads.get(&key).copied().unwrap_or_else(|| chain_start(&span.topic, span.partition));
            let hashed = hash_span(
                log,
                &span.topic,
                span.partition,
                span.from_offset,
                span.next_offset,
                head,
                |offset, leaf| {
                    let position = (span.topic.clone(), span.partition, offset);
                    if want.contains(&position) {
                        indices.insert(position, leaves.len() as u64);
                    }
                    leaves.push(*leaf);
                },
            )
            .await?;
            if hashed.records != span.records || hashed.head != span.head {
                return Err(bad(format!(
                    "{}/{} offsets [{}, {}) are not what checkpoint {} signed: run `trustloop log verify`",
                    span.topic, span.partition, span.from_offset, span.next_offset, ext.seq
                )));
            }
            heads.insert(key, span.head);
        }
        last = Some((event.note.clone(), checkpoint, r.offset));
    }
    let Some((note, checkpoint, offset)) = last else {
        return Err(LedgerError::BadCheckpoint {
            offset: -1,
            what: "the log has no checkpoints (make one with `trustloop log checkpoint`)".into(),
        });
    };
    let size = checkpoint.size;
    let levels = TreeLevels::new(leaves);
    if levels.size() != size || levels.root(size).ok() != Some(checkpoint.root_hash) {
        return Err(LedgerError::BadCheckpoint {
            offset,
            what: "the log's records do not give the last checkpoint's tree head: run `trustloop log verify`".into(),
        });
    }
    Ok(TreeLeaves { note, checkpoint, levels, indices })
}

#[cfg(test)]
mod tests {
    use trustloop_schemas::transparency::merkle::{inclusion_proof, leaf_hash, root, verify_inclusion};

    use super::*;

    #[test]
    fn proofs_from_levels_are_rfc_9162_proofs() {
        for n in 1..=33u64 {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let t = TreeLeaves {
                note: String::new(),
                checkpoint: Checkpoint { origin: "o".into(), size: n, root_hash: [0; 32], extensions: vec![] },
                levels: TreeLevels::new(leaves.clone()),
                indices: HashMap::new(),
            };
            let r = root(&leaves, n).expect("root");
            assert_eq!(t.levels.root(n).ok(), Some(r), "root of {n}");
            for i in 0..n {
                let proof = t.inclusion_proof(i).expect("proof");
                assert_eq!(proof, inclusion_proof(&leaves, i, n).expect("reference proof"), "leaf {i} of {n}");
                verify_inclusion(i, n, &leaves[i as usize], &proof, &r).expect("verifies");
            }
        }
    }
}
