//! An RFC 9162 (Certificate Transparency v2) Merkle tree: the tree hash of any number of leaves,
//! inclusion proofs and consistency proofs, and a compact form that appends leaves keeping only the
//! right edge.
//!
//! * Hashing (RFC 9162 §2.1.1): a leaf is `SHA-256(0x00 || data)`, an interior node
//!   `SHA-256(0x01 || left || right)`, the empty tree `SHA-256("")`. A tree of `n > 1` leaves splits
//!   at `k`, the largest power of two smaller than `n`: the left subtree holds the first `k` leaves.
//! * Inclusion proofs (§2.1.3): [`inclusion_proof`] generates `PATH(m, D[n])` (§2.1.3.1),
//!   [`verify_inclusion`] follows §2.1.3.2 step by step.
//! * Consistency proofs (§2.1.4): [`consistency_proof`] generates `PROOF(m, D[n])` (§2.1.4.1),
//!   [`verify_consistency`] follows §2.1.4.2.
//! * Multi-leaf inclusion proofs (this project's, built on §2.1.1's splits): [`multi_inclusion_proof`]
//!   lists each subtree root that many leaves' paths share once; [`root_from_multi_proof`] walks
//!   the tree's splits from the leaves and the proof back to the root.
//! * [`TreeLevels`]: a tree held in memory, every level; subtree roots without re-reading leaves.
//! * [`CompactTree`]: the roots of the perfect subtrees along the right edge (one per set bit of the
//!   size, `O(log n)` hashes) — what an appender keeps; its [`CompactTree::root`] equals [`root`].
//!
//! Proof generation reads leaf hashes through [`LeafHashes`], so a log can serve them from storage;
//! it reads each leaf of the tree once per proof and keeps `O(log n)` hashes, never all leaves.

use sha2::{Digest, Sha256};

/// A SHA-256 digest: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The leaf hash of `data`: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Where proof generation reads leaf hashes: a slice in memory, or the log's storage.
pub trait LeafHashes {
    /// Why a leaf hash could not be read.
    type Error: std::error::Error + 'static;

    /// The hash of leaf `index` (zero-based), as [`leaf_hash`] computes it from the leaf's data.
    fn leaf_hash(&self, index: u64) -> Result<Hash, Self::Error>;
}

/// A leaf asked of a slice that does not hold it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leaf {index} asked of {len} leaf hashes")]
pub struct MissingLeaf {
    /// The leaf asked for.
    pub index: u64,
    /// How many leaf hashes the slice holds.
    pub len: usize,
}

impl LeafHashes for [Hash] {
    type Error = MissingLeaf;

    fn leaf_hash(&self, index: u64) -> Result<Hash, MissingLeaf> {
        usize::try_from(index).ok().and_then(|i| self.get(i)).copied().ok_or(MissingLeaf { index, len: self.len() })
    }
}

impl LeafHashes for Vec<Hash> {
    type Error = MissingLeaf;

    fn leaf_hash(&self, index: u64) -> Result<Hash, MissingLeaf> {
        self.as_slice().leaf_hash(index)
    }
}

/// [`LeafHashes`] from a function (`FromFn(|i| storage.leaf_hash(i))`).
pub struct FromFn<F>(pub F);

impl<F, E> LeafHashes for FromFn<F>
where
    F: Fn(u64) -> Result<Hash, E>,
    E: std::error::Error + 'static,
{
    type Error = E;

    fn leaf_hash(&self, index: u64) -> Result<Hash, E> {
        (self.0)(index)
    }
}

/// Why a proof could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ProofError<E: std::error::Error + 'static> {
    /// An inclusion proof for a leaf the tree does not hold.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    LeafBeyondSize {
        /// The leaf asked for.
        index: u64,
        /// The tree's size.
        size: u64,
    },
    /// A consistency proof from a bigger tree to a smaller one.
    #[error("no consistency proof from size {first} to the smaller size {second}")]
    SizesOutOfOrder {
        /// The older tree's size.
        first: u64,
        /// The newer tree's size.
        second: u64,
    },
    /// The leaf hashes could not be read.
    #[error("reading a leaf hash: {0}")]
    Leaves(#[source] E),
}

/// Why a proof does not verify. Every variant means "reject"; they say which check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The leaf index is not below the tree size.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    LeafBeyondSize {
        /// The leaf index claimed.
        index: u64,
        /// The tree size claimed.
        size: u64,
    },
    /// The newer tree is smaller than the older one.
    #[error("consistency from size {first} to the smaller size {second}")]
    SizesOutOfOrder {
        /// The older tree's size.
        first: u64,
        /// The newer tree's size.
        second: u64,
    },
    /// The proof has more hashes than the tree sizes allow.
    #[error("the proof is too long: {len} hashes")]
    ProofTooLong {
        /// The proof's length.
        len: usize,
    },
    /// The proof ends before reaching the root.
    #[error("the proof is too short: {len} hashes")]
    ProofTooShort {
        /// The proof's length.
        len: usize,
    },
    /// Equal sizes (or an empty first tree) need an empty proof.
    #[error("sizes {first} and {second} need an empty proof, got {len} hashes")]
    ProofNotEmpty {
        /// The older tree's size.
        first: u64,
        /// The newer tree's size.
        second: u64,
        /// The proof's length.
        len: usize,
    },
    /// The root computed from the proof differs from the root given.
    #[error("the proof leads to root {computed}, not {expected}")]
    RootMismatch {
        /// The root the proof leads to, hex.
        computed: String,
        /// The root given, hex.
        expected: String,
    },
    /// A multi-leaf proof of no leaf.
    #[error("a multi-leaf proof needs at least one leaf")]
    NoLeaves,
    /// A multi-leaf proof's leaves are not sorted by index, each once.
    #[error("leaf {index} comes after a leaf at or above it: leaves go by increasing index, each once")]
    LeavesOutOfOrder {
        /// The leaf out of order.
        index: u64,
    },
    /// The older tree's root computed from the proof differs from the root given.
    #[error("the proof leads to old root {computed}, not {expected}")]
    FirstRootMismatch {
        /// The old root the proof leads to, hex.
        computed: String,
        /// The old root given, hex.
        expected: String,
    },
}

/// The largest power of two smaller than `n` (`n > 1`): where RFC 9162 splits a tree of `n` leaves.
fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start .. start + n])`, reading each leaf once and keeping `O(log n)` hashes (a compact
/// tree of the range: the range's left-aligned subtrees are exactly RFC 9162's splits).
fn subtree_root<L: LeafHashes + ?Sized>(leaves: &L, start: u64, n: u64) -> Result<Hash, L::Error> {
    let mut tree = CompactTree::new();
    for i in start..start + n {
        tree.append_leaf_hash(leaves.leaf_hash(i)?);
    }
    Ok(tree.root())
}

/// The tree hash of the first `size` leaves (RFC 9162 §2.1.1); [`empty_root`] when `size` is 0.
pub fn root<L: LeafHashes + ?Sized>(leaves: &L, size: u64) -> Result<Hash, L::Error> {
    subtree_root(leaves, 0, size)
}

/// The inclusion proof of leaf `index` in the tree of the first `size` leaves: `PATH(index,
/// D[size])` of RFC 9162 §2.1.3.1, the sibling hashes from the leaf up to the root.
pub fn inclusion_proof<L: LeafHashes + ?Sized>(
    leaves: &L,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError<L::Error>> {
    inclusion_path(index, size, |start, n| subtree_root(leaves, start, n))
}

/// `PATH(index, D[size])`, the subtree roots asked of `subtree(start, n)` (`MTH(D[start..start+n])`).
fn inclusion_path<E: std::error::Error + 'static>(
    index: u64,
    size: u64,
    mut subtree: impl FnMut(u64, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, ProofError<E>> {
    if index >= size {
        return Err(ProofError::LeafBeyondSize { index, size });
    }
    // Walk down from the root, collecting siblings top-down, then reverse (PATH lists them bottom-up).
    let mut path = Vec::new();
    let (mut start, mut n, mut m) = (0u64, size, index);
    while n > 1 {
        let k = split(n);
        if m < k {
            path.push(subtree(start + k, n - k).map_err(ProofError::Leaves)?);
            n = k;
        } else {
            path.push(subtree(start, k).map_err(ProofError::Leaves)?);
            start += k;
            n -= k;
            m -= k;
        }
    }
    path.reverse();
    Ok(path)
}

/// The consistency proof between the trees of the first `first` and the first `second` leaves:
/// `PROOF(first, D[second])` of RFC 9162 §2.1.4.1. Empty when `first` is 0 or equals `second`.
pub fn consistency_proof<L: LeafHashes + ?Sized>(
    leaves: &L,
    first: u64,
    second: u64,
) -> Result<Vec<Hash>, ProofError<L::Error>> {
    consistency_path(first, second, |start, n| subtree_root(leaves, start, n))
}

/// `PROOF(first, D[second])`, the subtree roots asked of `subtree(start, n)`.
fn consistency_path<E: std::error::Error + 'static>(
    first: u64,
    second: u64,
    mut subtree: impl FnMut(u64, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, ProofError<E>> {
    if first > second {
        return Err(ProofError::SizesOutOfOrder { first, second });
    }
    if first == 0 || first == second {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start .. start + n], b), unrolled: top-down, reversed at the end.
    let mut proof = Vec::new();
    let (mut start, mut n, mut m, mut whole) = (0u64, second, first, true);
    while m != n {
        let k = split(n);
        if m <= k {
            proof.push(subtree(start + k, n - k).map_err(ProofError::Leaves)?);
            n = k;
        } else {
            proof.push(subtree(start, k).map_err(ProofError::Leaves)?);
            start += k;
            n -= k;
            m -= k;
            whole = false;
        }
    }
    // m == n: SUBPROOF(m, D[m], true) = {}, SUBPROOF(m, D[m], false) = {MTH(D[m])}.
    if !whole {
        proof.push(subtree(start, n).map_err(ProofError::Leaves)?);
    }
    proof.reverse();
    Ok(proof)
}

/// A multi-leaf inclusion proof: the roots of the subtrees that hold none of the leaves `indices`
/// and whose sibling holds one, in the order a depth-first, left-to-right walk of the tree of
/// `size` leaves meets them. With the leaves' hashes they give the root
/// ([`root_from_multi_proof`]); each subtree root appears once, however many leaves need it.
/// `indices` are sorted and deduplicated here.
pub fn multi_inclusion_proof<L: LeafHashes + ?Sized>(
    leaves: &L,
    indices: &[u64],
    size: u64,
) -> Result<Vec<Hash>, ProofError<L::Error>> {
    multi_path(indices, size, |start, n| subtree_root(leaves, start, n))
}

fn multi_path<E: std::error::Error + 'static>(
    indices: &[u64],
    size: u64,
    mut subtree: impl FnMut(u64, u64) -> Result<Hash, E>,
) -> Result<Vec<Hash>, ProofError<E>> {
    let mut sorted = indices.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    if let Some(&index) = sorted.last().filter(|&&i| i >= size) {
        return Err(ProofError::LeafBeyondSize { index, size });
    }
    let mut proof = Vec::new();
    // (start, n, the leaves asked for in it): a stack walked left subtree first.
    let mut stack: Vec<(u64, u64, &[u64])> = vec![(0, size, &sorted)];
    while let Some((start, n, wanted)) = stack.pop() {
        if wanted.is_empty() {
            proof.push(subtree(start, n).map_err(ProofError::Leaves)?);
        } else if n > 1 {
            let k = split(n);
            let cut = wanted.partition_point(|&i| i < start + k);
            stack.push((start + k, n - k, &wanted[cut..]));
            stack.push((start, k, &wanted[..cut]));
        }
    }
    Ok(proof)
}

/// The root that a multi-leaf inclusion proof ([`multi_inclusion_proof`]) leads to, given the
/// leaves' indices and hashes (sorted by index, each index once) in a tree of `size` leaves.
/// Every hash of the proof must be used.
pub fn root_from_multi_proof(size: u64, leaves: &[(u64, Hash)], proof: &[Hash]) -> Result<Hash, VerifyError> {
    if leaves.is_empty() {
        return Err(VerifyError::NoLeaves);
    }
    if let Some(w) = leaves.windows(2).find(|w| w[0].0 >= w[1].0) {
        return Err(VerifyError::LeavesOutOfOrder { index: w[1].0 });
    }
    if let Some(&(index, _)) = leaves.last().filter(|l| l.0 >= size) {
        return Err(VerifyError::LeafBeyondSize { index, size });
    }
    let mut next = proof.iter();
    let root = multi_root(0, size, leaves, &mut next, proof.len())?;
    if next.next().is_some() {
        return Err(VerifyError::ProofTooLong { len: proof.len() });
    }
    Ok(root)
}

fn multi_root<'p>(
    start: u64,
    n: u64,
    leaves: &[(u64, Hash)],
    proof: &mut impl Iterator<Item = &'p Hash>,
    len: usize,
) -> Result<Hash, VerifyError> {
    if leaves.is_empty() {
        return proof.next().copied().ok_or(VerifyError::ProofTooShort { len });
    }
    if n == 1 {
        // Sorted, distinct and within [start, start + 1): exactly the leaf `start`.
        return Ok(leaves[0].1);
    }
    let k = split(n);
    let cut = leaves.partition_point(|l| l.0 < start + k);
    let left = multi_root(start, k, &leaves[..cut], proof, len)?;
    let right = multi_root(start + k, n - k, &leaves[cut..], proof, len)?;
    Ok(node_hash(&left, &right))
}

/// Verifies that each of `leaves` (index, leaf hash; sorted by index, each once) is in the tree of
/// `size` leaves whose root is `root`, by a multi-leaf proof ([`multi_inclusion_proof`]).
pub fn verify_multi_inclusion(
    size: u64,
    leaves: &[(u64, Hash)],
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    let computed = root_from_multi_proof(size, leaves, proof)?;
    if &computed != root {
        return Err(VerifyError::RootMismatch { computed: hex::encode(computed), expected: hex::encode(root) });
    }
    Ok(())
}

/// Every level of a tree held in memory (32 bytes a leaf, about as much again for the levels
/// above): subtree roots in `O(log² n)`, so proofs of many leaves, or between many sizes, do not
/// re-read the leaves. Level 0 is the leaves; each next level pairs the one below, an unpaired last
/// node moving up as it is, which gives RFC 9162's tree.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeLevels {
    levels: Vec<Vec<Hash>>,
}

/// A subtree asked of a [`TreeLevels`] that does not hold it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("leaves [{start}, {end}) asked of a tree of {size} leaves")]
pub struct BeyondTree {
    /// The subtree's first leaf.
    pub start: u64,
    /// Its end.
    pub end: u64,
    /// The leaves held.
    pub size: u64,
}

impl TreeLevels {
    /// The levels above `leaves`.
    pub fn new(leaves: Vec<Hash>) -> TreeLevels {
        let mut levels = vec![leaves];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let below = levels.last().map(Vec::as_slice).unwrap_or_default();
            let up: Vec<Hash> =
                below.chunks(2).map(|pair| if let [l, r] = pair { node_hash(l, r) } else { pair[0] }).collect();
            levels.push(up);
        }
        TreeLevels { levels }
    }

    /// How many leaves it holds.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// The leaf hash at `index`.
    pub fn leaf(&self, index: u64) -> Option<Hash> {
        self.levels.first().and_then(|l| l.get(usize::try_from(index).ok()?)).copied()
    }

    /// `MTH(D[start .. start + n])` for a range that starts at a multiple of the largest power of
    /// two not above `n` (every subtree RFC 9162's proofs ask for): the perfect subtrees it is made
    /// of, folded from the right.
    pub fn subtree_root(&self, start: u64, n: u64) -> Result<Hash, BeyondTree> {
        let size = self.size();
        let beyond = BeyondTree { start, end: start.saturating_add(n), size };
        if n == 0 || start.checked_add(n).is_none_or(|end| end > size) {
            return Err(beyond);
        }
        // Split the range into perfect subtrees, biggest first (the set bits of n, high to low).
        let mut peaks = Vec::new();
        let mut at = start;
        for h in (0..64u32).rev() {
            if n & (1 << h) != 0 {
                if !at.is_multiple_of(1 << h) {
                    return Err(beyond);
                }
                let node = self
                    .levels
                    .get(h as usize)
                    .and_then(|l| l.get(usize::try_from(at >> h).ok()?))
                    .ok_or_else(|| beyond.clone())?;
                peaks.push(*node);
                at += 1 << h;
            }
        }
        let mut rev = peaks.iter().rev();
        let last = rev.next().copied().ok_or_else(|| beyond.clone())?;
        Ok(rev.fold(last, |acc, left| node_hash(left, &acc)))
    }

    /// The root of the first `size` leaves.
    pub fn root(&self, size: u64) -> Result<Hash, BeyondTree> {
        if size == 0 { Ok(empty_root()) } else { self.subtree_root(0, size) }
    }

    /// [`inclusion_proof`] in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ProofError<BeyondTree>> {
        inclusion_path(index, size, |start, n| self.subtree_root(start, n))
    }

    /// [`consistency_proof`] between the first `first` and the first `second` leaves.
    pub fn consistency_proof(&self, first: u64, second: u64) -> Result<Vec<Hash>, ProofError<BeyondTree>> {
        consistency_path(first, second, |start, n| self.subtree_root(start, n))
    }

    /// [`multi_inclusion_proof`] in the tree of the first `size` leaves.
    pub fn multi_inclusion_proof(&self, indices: &[u64], size: u64) -> Result<Vec<Hash>, ProofError<BeyondTree>> {
        multi_path(indices, size, |start, n| self.subtree_root(start, n))
    }
}

/// Verifies that `leaf` (a leaf hash) is leaf `index` of the tree of `size` leaves whose root is
/// `root`, following RFC 9162 §2.1.3.2.
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, proof: &[Hash], root: &Hash) -> Result<(), VerifyError> {
    let computed = root_from_inclusion_proof(index, size, leaf, proof)?;
    if &computed != root {
        return Err(VerifyError::RootMismatch { computed: hex::encode(computed), expected: hex::encode(root) });
    }
    Ok(())
}

/// The root that an inclusion proof leads to (§2.1.3.2 steps 1–5 without the final comparison).
pub fn root_from_inclusion_proof(index: u64, size: u64, leaf: &Hash, proof: &[Hash]) -> Result<Hash, VerifyError> {
    if index >= size {
        return Err(VerifyError::LeafBeyondSize { index, size });
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return Err(VerifyError::ProofTooLong { len: proof.len() });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(VerifyError::ProofTooShort { len: proof.len() });
    }
    Ok(r)
}

/// Verifies that the tree of `second` leaves with root `second_root` extends the tree of `first`
/// leaves with root `first_root`, following RFC 9162 §2.1.4.2. Equal sizes need equal roots and
/// an empty proof; a first size of 0 needs the empty tree's root and an empty proof.
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    proof: &[Hash],
) -> Result<(), VerifyError> {
    if first > second {
        return Err(VerifyError::SizesOutOfOrder { first, second });
    }
    if first == 0 || first == second {
        if !proof.is_empty() {
            return Err(VerifyError::ProofNotEmpty { first, second, len: proof.len() });
        }
        let (expected_first, expected_second) =
            if first == 0 { (empty_root(), *second_root) } else { (*first_root, *first_root) };
        if first_root != &expected_first {
            return Err(VerifyError::FirstRootMismatch {
                computed: hex::encode(expected_first),
                expected: hex::encode(first_root),
            });
        }
        if second_root != &expected_second {
            return Err(VerifyError::RootMismatch {
                computed: hex::encode(expected_second),
                expected: hex::encode(second_root),
            });
        }
        return Ok(());
    }
    // 1. An empty path fails.
    let Some((head, rest)) = proof.split_first() else {
        return Err(VerifyError::ProofTooShort { len: 0 });
    };
    // 2. If first is an exact power of 2, prepend first_hash to the path.
    let (c0, tail): (&Hash, &[Hash]) = if first.is_power_of_two() { (first_root, proof) } else { (head, rest) };
    // 3.–4.
    let (mut fnode, mut snode) = (first - 1, second - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    // 5.
    let (mut fr, mut sr) = (*c0, *c0);
    // 6.
    for c in tail {
        if snode == 0 {
            return Err(VerifyError::ProofTooLong { len: proof.len() });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    // 7.
    if snode != 0 {
        return Err(VerifyError::ProofTooShort { len: proof.len() });
    }
    if &fr != first_root {
        return Err(VerifyError::FirstRootMismatch { computed: hex::encode(fr), expected: hex::encode(first_root) });
    }
    if &sr != second_root {
        return Err(VerifyError::RootMismatch { computed: hex::encode(sr), expected: hex::encode(second_root) });
    }
    Ok(())
}

/// A Merkle tree kept as the roots of the perfect subtrees along its right edge: one per set bit of
/// the size, biggest (leftmost) first. Appending a leaf merges equal-sized subtrees, like a binary
/// counter. `O(log n)` hashes, whatever the size.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompactTree {
    size: u64,
    peaks: Vec<Hash>,
}

/// Subtree roots that cannot be a compact tree of the size given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tree of {size} leaves has {expected} right-edge subtree roots, not {got}")]
pub struct CompactTreeError {
    /// The size given.
    pub size: u64,
    /// How many roots that size needs (its set bits).
    pub expected: u32,
    /// How many were given.
    pub got: usize,
}

impl CompactTree {
    /// The empty tree.
    pub fn new() -> CompactTree {
        CompactTree::default()
    }

    /// A tree restored from its size and right-edge subtree roots (as [`CompactTree::peaks`] gave
    /// them): there must be one root per set bit of `size`.
    pub fn from_parts(size: u64, peaks: Vec<Hash>) -> Result<CompactTree, CompactTreeError> {
        if peaks.len() != size.count_ones() as usize {
            return Err(CompactTreeError { size, expected: size.count_ones(), got: peaks.len() });
        }
        Ok(CompactTree { size, peaks })
    }

    /// How many leaves the tree holds.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The right-edge subtree roots, biggest (leftmost) first.
    pub fn peaks(&self) -> &[Hash] {
        &self.peaks
    }

    /// Appends a leaf's data; returns its leaf hash.
    pub fn append(&mut self, data: &[u8]) -> Hash {
        let h = leaf_hash(data);
        self.append_leaf_hash(h);
        h
    }

    /// Appends a leaf by its leaf hash.
    pub fn append_leaf_hash(&mut self, leaf: Hash) {
        let mut h = leaf;
        // Each trailing 1 bit of the old size is a subtree of the new leaf's height: merge it.
        let mut s = self.size;
        while s & 1 == 1 {
            if let Some(left) = self.peaks.pop() {
                h = node_hash(&left, &h);
            }
            s >>= 1;
        }
        self.peaks.push(h);
        self.size += 1;
    }

    /// The tree hash: the right-edge roots folded from the right (RFC 9162 §2.1.1's splits).
    pub fn root(&self) -> Hash {
        let mut peaks = self.peaks.iter().rev();
        let Some(last) = peaks.next() else {
            return empty_root();
        };
        peaks.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// RFC 9162's MTH written as the RFC states it (recursive, over all leaves): a second reading
    /// of §2.1.1 to hold the iterative code to.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => empty_root(),
            1 => leaves[0],
            n => {
                let k = split(n as u64) as usize;
                node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn compact_tree_root_equals_the_recursive_definition() {
        let leaves = tree(70);
        let mut compact = CompactTree::new();
        assert_eq!(compact.root(), mth(&[]));
        for (i, h) in leaves.iter().enumerate() {
            compact.append_leaf_hash(*h);
            assert_eq!(compact.root(), mth(&leaves[..=i]), "size {}", i + 1);
            assert_eq!(compact.peaks().len(), compact.size().count_ones() as usize);
            assert_eq!(root(&leaves, i as u64 + 1).expect("root"), mth(&leaves[..=i]));
        }
        let restored = CompactTree::from_parts(compact.size(), compact.peaks().to_vec()).expect("restores");
        assert_eq!(restored, compact);
        assert!(CompactTree::from_parts(5, vec![[0; 32]]).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

        /// Proofs generated for random sizes verify (against roots of the recursive definition),
        /// and a flipped bit anywhere in them, or a wrong index or size, makes them fail.
        #[test]
        fn proofs_verify_and_tampering_fails(
            n in 1u64..300, m_seed in 0u64..u64::MAX, k_seed in 0u64..u64::MAX, bit in 0usize..256,
        ) {
            let leaves = tree(n);
            let root_n = mth(&leaves);
            let m = m_seed % n;
            let proof = inclusion_proof(&leaves, m, n).expect("generates");
            proptest::prop_assert!(verify_inclusion(m, n, &leaves[m as usize], &proof, &root_n).is_ok());
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][bit / 8] ^= 1 << (bit % 8);
                proptest::prop_assert!(verify_inclusion(m, n, &leaves[m as usize], &bad, &root_n).is_err());
            }
            let mut bad_leaf = leaves[m as usize];
            bad_leaf[bit / 8] ^= 1 << (bit % 8);
            proptest::prop_assert!(verify_inclusion(m, n, &bad_leaf, &proof, &root_n).is_err());
            let other = k_seed % n;
            if other != m && leaves[other as usize] != leaves[m as usize] {
                proptest::prop_assert!(verify_inclusion(other, n, &leaves[m as usize], &proof, &root_n).is_err());
            }
            // The size is not hashed into the root, so a size whose path has the same shape can verify
            // (leaf 0 of 3 and of 4): probe the sizes transparency-dev's tests probe, doubled and halved.
            for wrong_size in [n * 2, n / 2] {
                if wrong_size > m {
                    proptest::prop_assert!(verify_inclusion(m, wrong_size, &leaves[m as usize], &proof, &root_n).is_err());
                }
            }

            // Consistency from a random first size to n.
            let first = k_seed % (n + 1);
            let root_first = mth(&leaves[..first as usize]);
            let proof = consistency_proof(&leaves, first, n).expect("generates");
            proptest::prop_assert!(verify_consistency(first, n, &root_first, &root_n, &proof).is_ok());
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][bit / 8] ^= 1 << (bit % 8);
                proptest::prop_assert!(verify_consistency(first, n, &root_first, &root_n, &bad).is_err());
            }
            if first > 0 && first < n {
                let mut bad_root = root_first;
                bad_root[bit / 8] ^= 1 << (bit % 8);
                proptest::prop_assert!(verify_consistency(first, n, &bad_root, &root_n, &proof).is_err());
                let mut bad_root = root_n;
                bad_root[bit / 8] ^= 1 << (bit % 8);
                proptest::prop_assert!(verify_consistency(first, n, &root_first, &bad_root, &proof).is_err());
                for (a, b) in [(first + 1, n), (first - 1, n), (first ^ 2, n), (first, n * 2), (first, n / 2)] {
                    if a <= b && (a, b) != (first, n) && a > 0 {
                        proptest::prop_assert!(verify_consistency(a, b, &root_first, &root_n, &proof).is_err(), "{} -> {}", a, b);
                    }
                }
            }
        }
    }

    #[test]
    fn levels_give_the_same_proofs_and_multi_proofs_verify() {
        for n in [1u64, 2, 3, 5, 8, 13, 21] {
            let leaves = tree(n);
            let levels = TreeLevels::new(leaves.clone());
            for size in 1..=n {
                let r = mth(&leaves[..size as usize]);
                assert_eq!(levels.root(size).expect("root"), r, "root of {size}");
                for i in 0..size {
                    assert_eq!(
                        levels.inclusion_proof(i, size).expect("proof"),
                        inclusion_proof(&leaves, i, size).expect("reference"),
                        "leaf {i} of {size}"
                    );
                }
                for first in 0..=size {
                    assert_eq!(
                        levels.consistency_proof(first, size).expect("proof"),
                        consistency_proof(&leaves, first, size).expect("reference"),
                        "{first} -> {size}"
                    );
                }
                // Every subset of up to 3 leaves, and every third leaf.
                let mut sets: Vec<Vec<u64>> = (0..size).map(|i| vec![i]).collect();
                sets.extend((0..size).flat_map(|i| (i + 1..size).map(move |j| vec![i, j])));
                sets.push((0..size).step_by(3).collect());
                sets.push((0..size).collect());
                for set in sets {
                    let proof = levels.multi_inclusion_proof(&set, size).expect("multi proof");
                    assert_eq!(proof, multi_inclusion_proof(&leaves, &set, size).expect("reference"));
                    let known: Vec<(u64, Hash)> = set.iter().map(|&i| (i, leaves[i as usize])).collect();
                    assert_eq!(verify_multi_inclusion(size, &known, &proof, &r), Ok(()), "{set:?} of {size}");
                    // A flipped bit in a leaf or in the proof, a hash too many or too few, fails.
                    let mut bad = known.clone();
                    bad[0].1[0] ^= 1;
                    assert!(verify_multi_inclusion(size, &bad, &proof, &r).is_err());
                    for i in 0..proof.len() {
                        let mut bad = proof.clone();
                        bad[i][31] ^= 0x80;
                        assert!(verify_multi_inclusion(size, &known, &bad, &r).is_err());
                    }
                    let mut long = proof.clone();
                    long.push(r);
                    assert_eq!(
                        verify_multi_inclusion(size, &known, &long, &r),
                        Err(VerifyError::ProofTooLong { len: long.len() })
                    );
                    if let Some((_, short)) = proof.split_last() {
                        assert!(verify_multi_inclusion(size, &known, short, &r).is_err());
                    }
                    // Another leaf index claimed for the same hash.
                    if let Some(&(i, h)) = known.last()
                        && i + 1 < size
                        && leaves[i as usize + 1] != h
                    {
                        let mut moved = known.clone();
                        moved.last_mut().expect("a leaf").0 = i + 1;
                        assert!(verify_multi_inclusion(size, &moved, &proof, &r).is_err(), "{set:?} moved");
                    }
                }
            }
        }
        let leaves = tree(5);
        let r = mth(&leaves);
        assert_eq!(verify_multi_inclusion(5, &[], &[], &r), Err(VerifyError::NoLeaves));
        let twice = [(1, leaves[1]), (1, leaves[1])];
        assert_eq!(verify_multi_inclusion(5, &twice, &[], &r), Err(VerifyError::LeavesOutOfOrder { index: 1 }));
        assert_eq!(
            verify_multi_inclusion(5, &[(5, leaves[0])], &[], &r),
            Err(VerifyError::LeafBeyondSize { index: 5, size: 5 })
        );
        assert!(TreeLevels::new(leaves).subtree_root(1, 2).is_err(), "not a subtree RFC 9162 asks for");
    }

    #[test]
    fn split_is_the_largest_power_of_two_below() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (u64::MAX, 1 << 63)] {
            assert_eq!(split(n), k, "n = {n}");
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        let leaves = tree(4);
        assert!(matches!(inclusion_proof(&leaves, 4, 4), Err(ProofError::LeafBeyondSize { index: 4, size: 4 })));
        assert!(matches!(consistency_proof(&leaves, 3, 2), Err(ProofError::SizesOutOfOrder { .. })));
        assert!(matches!(inclusion_proof(&leaves, 1, 5), Err(ProofError::Leaves(MissingLeaf { index: 4, len: 4 }))));
        let r = root(&leaves, 4).expect("root");
        assert_eq!(verify_inclusion(4, 4, &leaves[0], &[], &r), Err(VerifyError::LeafBeyondSize { index: 4, size: 4 }));
        assert!(verify_consistency(0, 4, &empty_root(), &r, &[]).is_ok());
        assert!(verify_consistency(0, 4, &r, &r, &[]).is_err(), "a size-0 tree has the empty root");
        assert!(verify_consistency(4, 4, &r, &r, &[]).is_ok());
        assert!(verify_consistency(4, 4, &r, &r, &[r]).is_err());
        assert!(verify_consistency(4, 3, &r, &r, &[r]).is_err());
    }
}
