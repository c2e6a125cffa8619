//! Byte-string keys to dense ids, looked up a batch at a time.
//!
//! The component table holds millions of keys, far more than any cache: one lookup costs three
//! memory misses in a row (the slot, the key's span, the key's bytes), and a release of 5,000
//! components does 5,000 of them. Looked up one after the other the misses add up; here a batch
//! first *touches* what each lookup will read, one short loop per level whose loads do not depend on
//! each other (so the processor has many misses in flight at once), and then looks up each key in
//! turn from the cache. Touching is only a hint: the lookups are exact whatever was touched.
//!
//! Open addressing with linear probing, at most half full; a slot holds the high half of the key's
//! hash and its id, the keys themselves sit end to end in one arena. Ids are given in order of
//! insertion by the caller and never removed.

use std::hash::Hasher;

use super::fx::FxHasher;

/// An empty slot's id.
const EMPTY: u32 = u32::MAX;

/// One slot: the high 32 bits of a key's hash and its id ([`EMPTY`]: none).
#[derive(Debug, Clone, Copy)]
struct Slot {
    tag: u32,
    id: u32,
}

const FREE: Slot = Slot { tag: 0, id: EMPTY };

/// Where a key's bytes are in the arena: (offset, length).
type Span = (u64, u32);

/// Byte-string keys and their ids (see the module docs).
#[derive(Debug, Clone, Default)]
pub(super) struct KeyTable {
    /// A power of two many slots (or none).
    slots: Vec<Slot>,
    /// By id: where its key is in [`Self::arena`].
    spans: Vec<Span>,
    /// Every key, end to end.
    arena: Vec<u8>,
}

/// The hash of `key` (the table picks slots by its low bits and tags them with its high bits).
pub(super) fn hash_key(key: &[u8]) -> u64 {
    let mut h = FxHasher::default();
    h.write(key);
    h.finish()
}

impl KeyTable {
    /// How many keys it holds.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    /// The key of `id`.
    fn key(&self, id: u32) -> &[u8] {
        match self.spans.get(id as usize) {
            Some(&(at, len)) => {
                let at = at as usize;
                self.arena.get(at..at + len as usize).unwrap_or_default()
            }
            None => &[],
        }
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot a key of hash `hash` is first looked for in.
    fn home(&self, hash: u64) -> usize {
        (hash as usize) & self.mask()
    }

    fn tag(hash: u64) -> u32 {
        (hash >> 32) as u32
    }

    /// The id of `key` (whose hash is `hash`, as [`hash_key`] gives it), if it is held.
    pub(super) fn find(&self, hash: u64, key: &[u8]) -> Option<u32> {
        debug_assert_eq!(hash, hash_key(key));
        if self.slots.is_empty() {
            return None;
        }
        let (mask, tag) = (self.mask(), Self::tag(hash));
        let mut at = self.home(hash);
        loop {
            let s = self.slots[at];
            if s.id == EMPTY {
                return None;
            }
            if s.tag == tag && self.key(s.id) == key {
                return Some(s.id);
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds `key` (whose hash is `hash`, as [`hash_key`] gives it, and which is not held) as the
    /// next id; returns it.
    pub(super) fn insert(&mut self, hash: u64, key: &[u8]) -> u32 {
        debug_assert_eq!(hash, hash_key(key));
        if (self.spans.len() + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let id = u32::try_from(self.spans.len()).unwrap_or(EMPTY - 1);
        self.spans.push((self.arena.len() as u64, u32::try_from(key.len()).unwrap_or(u32::MAX)));
        self.arena.extend_from_slice(key);
        self.place(hash, id);
        id
    }

    /// Puts `id` in the first free slot from its home.
    fn place(&mut self, hash: u64, id: u32) {
        let mask = self.mask();
        let mut at = self.home(hash);
        while self.slots[at].id != EMPTY {
            at = (at + 1) & mask;
        }
        self.slots[at] = Slot { tag: Self::tag(hash), id };
    }

    /// Doubles the slots and places every key again (by its hash, recomputed from the arena).
    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(64);
        self.slots = vec![FREE; n];
        for id in 0..self.spans.len() {
            let id = id as u32;
            let hash = hash_key(self.key(id));
            self.place(hash, id);
        }
    }

    /// Brings into the cache what looking up keys of these hashes will read first (their home
    /// slots, then the spans and keys those hold); returns a value only so the loads are not
    /// optimised away.
    pub(super) fn touch(&self, hashes: &[u64]) -> u64 {
        if self.slots.is_empty() {
            return 0;
        }
        let mut sum = 0u64;
        for &h in hashes {
            sum = sum.wrapping_add(u64::from(self.slots[self.home(h)].id));
        }
        for &h in hashes {
            let s = self.slots[self.home(h)];
            if let Some(span) = self.spans.get(s.id as usize) {
                sum = sum.wrapping_add(span.0);
            }
        }
        for &h in hashes {
            let s = self.slots[self.home(h)];
            if s.tag == Self::tag(h)
                && let Some(&(at, _)) = self.spans.get(s.id as usize)
            {
                sum = sum.wrapping_add(u64::from(self.arena.get(at as usize).copied().unwrap_or(0)));
            }
        }
        std::hint::black_box(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_it_holds_and_nothing_else_across_growth() {
        let mut t = KeyTable::default();
        let keys: Vec<Vec<u8>> = (0..5_000u32).map(|i| format!("key-{i}").into_bytes()).collect();
        for (i, k) in keys.iter().enumerate() {
            let h = hash_key(k);
            assert_eq!(t.find(h, k), None);
            assert_eq!(t.insert(h, k), i as u32);
        }
        assert_eq!(t.len(), keys.len());
        let hashes: Vec<u64> = keys.iter().map(|k| hash_key(k)).collect();
        t.touch(&hashes);
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(t.find(hash_key(k), k), Some(i as u32));
        }
        assert_eq!(t.find(hash_key(b"key-5000"), b"key-5000"), None);
        assert_eq!(t.find(hash_key(b""), b""), None);
    }
}
