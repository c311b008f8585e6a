//! The search's memo of visited configurations: (set of linearized ops, model state).
//!
//! Lowe's memoization ("Testing for linearizability", 2017, §4) is what makes the
//! Wing–Gong search finish, and it is the search's hottest path: every call entry the model
//! accepts is looked up. A `HashSet<(Vec<u64>, State)>` allocates a bitset per attempt
//! even when the configuration was seen (most attempts, on Jepsen's etcd histories). Here
//! bitsets live back to back in one arena and the table is open addressing over entry
//! numbers, so a lookup hashes and compares slices in place and only a new configuration
//! copies anything. Porcupine hashes the state with the bitset for the same reason
//! (anishathalye/porcupine `checker.go`, `cacheContains`).

use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use crate::fast_hash::FxHasher;

/// An empty slot of the table.
const EMPTY: u32 = u32::MAX;

/// Visited (bitset, state) pairs; bitsets all have the same number of words.
pub(crate) struct Cache<S> {
    /// Words per bitset.
    words: usize,
    /// Bitset `i` at `arena[i * words..(i + 1) * words]`.
    arena: Vec<u64>,
    /// State `i`.
    states: Vec<S>,
    /// Hash of entry `i`, to grow without rehashing slices.
    hashes: Vec<u64>,
    /// Open addressing, linear probing: entry numbers or [`EMPTY`]; a power of two long.
    slots: Vec<u32>,
}

impl<S: Hash + Eq + Clone> Cache<S> {
    /// An empty cache for bitsets of `words` words.
    pub fn new(words: usize) -> Cache<S> {
        Cache {
            words,
            arena: Vec::new(),
            states: Vec::new(),
            hashes: Vec::new(),
            slots: vec![EMPTY; 1024],
        }
    }

    fn hash(bits: &[u64], state: &S) -> u64 {
        let mut hasher = BuildHasherDefault::<FxHasher>::default().build_hasher();
        bits.hash(&mut hasher);
        state.hash(&mut hasher);
        hasher.finish()
    }

    /// Records the configuration; `true` if it was not there yet.
    pub fn insert(&mut self, bits: &[u64], state: &S) -> bool {
        debug_assert_eq!(bits.len(), self.words);
        let hash = Cache::hash(bits, state);
        let mask = self.slots.len() - 1;
        let mut slot = hash as usize & mask;
        loop {
            let entry = self.slots[slot];
            if entry == EMPTY {
                break;
            }
            let at = entry as usize;
            if self.hashes[at] == hash
                && self.states[at] == *state
                && self.arena[at * self.words..(at + 1) * self.words] == *bits
            {
                return false;
            }
            slot = (slot + 1) & mask;
        }
        let entry = self.states.len() as u32;
        self.arena.extend_from_slice(bits);
        self.states.push(state.clone());
        self.hashes.push(hash);
        self.slots[slot] = entry;
        if self.states.len() * 2 > self.slots.len() {
            self.grow();
        }
        true
    }

    /// Doubles the table, placing entries by their stored hashes.
    fn grow(&mut self) {
        let mut slots = vec![EMPTY; self.slots.len() * 2];
        let mask = slots.len() - 1;
        for (entry, &hash) in self.hashes.iter().enumerate() {
            let mut slot = hash as usize & mask;
            while slots[slot] != EMPTY {
                slot = (slot + 1) & mask;
            }
            slots[slot] = entry as u32;
        }
        self.slots = slots;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_is_new_once() {
        let mut cache: Cache<Option<i64>> = Cache::new(2);
        assert!(cache.insert(&[1, 0], &Some(3)));
        assert!(!cache.insert(&[1, 0], &Some(3)));
        assert!(cache.insert(&[1, 0], &Some(4)));
        assert!(cache.insert(&[0, 1], &Some(3)));
    }

    #[test]
    fn growing_keeps_every_entry() {
        let mut cache: Cache<u64> = Cache::new(1);
        for i in 0..10_000u64 {
            assert!(cache.insert(&[i], &(i % 7)));
        }
        for i in 0..10_000u64 {
            assert!(!cache.insert(&[i], &(i % 7)), "{i}");
        }
    }
}
