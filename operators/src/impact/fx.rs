//! A fast, deterministic, non-cryptographic hasher (the Fx hash of rustc, as in `rustc-hash` 2) for the operator's maps,
//! which are keyed by small integer ids and short strings. The hash has no random seed, but iteration
//! order of these maps still never reaches outputs: whatever the operator emits is sorted first.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const SEED: u64 = 0xf135_7aea_2e62_a9c5;

/// The Fx hasher: one add and multiply per machine word.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = self.hash.wrapping_add(word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weakest; hashbrown picks buckets by them.
        self.hash.rotate_left(26)
    }
}

/// A `HashMap` with the Fx hasher.
pub(crate) type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::*;

    #[test]
    fn deterministic_and_spreads_small_ids() {
        let b = BuildHasherDefault::<FxHasher>::default();
        assert_eq!(b.hash_one((1u32, 2u32)), b.hash_one((1u32, 2u32)));
        assert_ne!(b.hash_one((1u32, 2u32)), b.hash_one((2u32, 1u32)));
        assert_ne!(b.hash_one("abc"), b.hash_one("abd"));
        // Consecutive ids land in different low-bit buckets.
        let buckets: std::collections::BTreeSet<u64> = (0u32..64).map(|i| b.hash_one((i, 7u32)) & 63).collect();
        assert!(buckets.len() > 40, "{} distinct buckets of 64", buckets.len());
    }
}
