//! The search's memo of visited configurations: (set of linearized ops, model state).
//!
//! Lowe's memoization ("Testing for linearizability", 2017, §4) is what makes the
//! Wing–Gong search finish, and it is the search's hottest path: every call entry the model
//! accepts is looked up. Porcupine (anishathalye/porcupine `checker.go`, `cacheContains`)
//! stores a whole bitset per entry, n / 8 bytes: at 100,000 ops that is 12.5 kB an entry,
//! and a hard history aborted on a multi-GB allocation (issue 17). Here an entry is its
//! hash, its state and the set's compact encoding ([`LinearizedSet::encode`]: the prefix
//! length and the window of recent ops, usually under 20 bytes), back to back in one
//! arena; the table is open addressing over entry numbers. The hash comes from the set's
//! incrementally kept Zobrist hash and the state's, so a lookup costs no pass over the set;
//! the encoding is written only to confirm a hash match or to store a new entry. Every
//! growth asks the memory budget first ([`Holding::reserve`]).

use std::hash::{BuildHasher, BuildHasherDefault, Hash};

use super::memory::{Holding, OutOfMemory};
use super::set::{mix, LinearizedSet};
use crate::fast_hash::FxHasher;

/// An empty slot of the table.
const EMPTY: u32 = u32::MAX;

/// Visited (set, state) pairs.
pub(crate) struct Cache<S> {
    /// Hash of entry `i`, to probe and to grow without re-encoding.
    hashes: Vec<u64>,
    /// State of entry `i`.
    states: Vec<S>,
    /// Entry `i`'s encoded set is `arena[ends[i - 1]..ends[i]]` (from 0 for the first).
    ends: Vec<u64>,
    /// The encoded sets, back to back.
    arena: Vec<u8>,
    /// Open addressing, linear probing: entry numbers or [`EMPTY`]; a power of two long.
    slots: Vec<u32>,
    /// The current set's encoding, written at most once per lookup.
    scratch: Vec<u8>,
    /// Bytes states own on the heap, as the model reported them.
    state_heap_bytes: u64,
}

impl<S: Hash + Eq + Clone> Cache<S> {
    /// An empty cache; its first table is taken from the budget.
    pub fn new(holding: &mut Holding) -> Result<Cache<S>, OutOfMemory> {
        let mut slots = Vec::new();
        holding.reserve(&mut slots, 1024)?;
        slots.resize(1024, EMPTY);
        Ok(Cache {
            hashes: Vec::new(),
            states: Vec::new(),
            ends: Vec::new(),
            arena: Vec::new(),
            slots,
            scratch: Vec::new(),
            state_heap_bytes: 0,
        })
    }

    /// Entries stored.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.states.len()
    }

    fn hash(set: &LinearizedSet, state: &S) -> u64 {
        // Fx is weak in its low bits, which pick the slot: mix it before combining.
        set.hash() ^ mix(BuildHasherDefault::<FxHasher>::default().hash_one(state))
    }

    fn encoded(&self, at: usize) -> &[u8] {
        let start = if at == 0 { 0 } else { self.ends[at - 1] };
        &self.arena[start as usize..self.ends[at] as usize]
    }

    /// Records the configuration; `Ok(true)` if it was not there yet. `state_heap_bytes`
    /// is what the state owns on the heap (counted against the budget when stored).
    pub fn insert(
        &mut self,
        set: &LinearizedSet,
        state: &S,
        state_heap_bytes: u64,
        holding: &mut Holding,
    ) -> Result<bool, OutOfMemory> {
        let hash = Cache::hash(set, state);
        let mask = self.slots.len() - 1;
        let mut slot = hash as usize & mask;
        let mut encoded = false;
        loop {
            let entry = self.slots[slot];
            if entry == EMPTY {
                break;
            }
            let at = entry as usize;
            if self.hashes[at] == hash && self.states[at] == *state {
                if !encoded {
                    self.scratch.clear();
                    set.encode(&mut self.scratch);
                    encoded = true;
                }
                if self.encoded(at) == self.scratch.as_slice() {
                    return Ok(false);
                }
            }
            slot = (slot + 1) & mask;
        }
        if !encoded {
            self.scratch.clear();
            set.encode(&mut self.scratch);
        }
        if self.states.len() as u64 >= u64::from(EMPTY) / 2 {
            return Err(OutOfMemory); // the table's entry numbers are u32
        }
        holding.acquire(state_heap_bytes)?;
        self.state_heap_bytes += state_heap_bytes;
        holding.reserve(&mut self.arena, self.scratch.len())?;
        holding.reserve(&mut self.hashes, 1)?;
        holding.reserve(&mut self.states, 1)?;
        holding.reserve(&mut self.ends, 1)?;
        self.arena.extend_from_slice(&self.scratch);
        self.hashes.push(hash);
        self.states.push(state.clone());
        self.ends.push(self.arena.len() as u64);
        self.slots[slot] = (self.states.len() - 1) as u32;
        if self.states.len() * 2 > self.slots.len() {
            self.grow(holding)?;
        }
        Ok(true)
    }

    /// Doubles the table, placing entries by their stored hashes.
    fn grow(&mut self, holding: &mut Holding) -> Result<(), OutOfMemory> {
        let mut slots = Vec::new();
        holding.reserve(&mut slots, self.slots.len() * 2)?;
        slots.resize(self.slots.len() * 2, EMPTY);
        let mask = slots.len() - 1;
        for (entry, &hash) in self.hashes.iter().enumerate() {
            let mut slot = hash as usize & mask;
            while slots[slot] != EMPTY {
                slot = (slot + 1) & mask;
            }
            slots[slot] = entry as u32;
        }
        let old = std::mem::replace(&mut self.slots, slots);
        holding.release(old.capacity() as u64 * 4);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::memory::MemoryMeter;
    use super::*;

    #[test]
    fn a_configuration_is_new_once() {
        let meter = MemoryMeter::new(u64::MAX);
        let mut holding = Holding::new(&meter);
        let mut cache: Cache<Option<i64>> = Cache::new(&mut holding).unwrap();
        let mut set = LinearizedSet::new(100);
        set.insert(0);
        assert!(cache.insert(&set, &Some(3), 0, &mut holding).unwrap());
        assert!(!cache.insert(&set, &Some(3), 0, &mut holding).unwrap());
        assert!(cache.insert(&set, &Some(4), 0, &mut holding).unwrap());
        set.remove(0);
        set.insert(70);
        assert!(cache.insert(&set, &Some(3), 0, &mut holding).unwrap());
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn growing_keeps_every_entry() {
        let meter = MemoryMeter::new(u64::MAX);
        let mut holding = Holding::new(&meter);
        let mut cache: Cache<u64> = Cache::new(&mut holding).unwrap();
        let mut set = LinearizedSet::new(64);
        for i in 0..10_000u64 {
            set.insert((i % 64) as usize);
            assert!(cache.insert(&set, &i, 0, &mut holding).unwrap());
            set.remove((i % 64) as usize);
        }
        for i in 0..10_000u64 {
            set.insert((i % 64) as usize);
            assert!(!cache.insert(&set, &i, 0, &mut holding).unwrap(), "{i}");
            set.remove((i % 64) as usize);
        }
    }

    #[test]
    fn a_full_budget_refuses_instead_of_aborting() {
        let meter = MemoryMeter::new(64 * 1024);
        let mut holding = Holding::new(&meter);
        let mut cache: Cache<u64> = Cache::new(&mut holding).unwrap();
        let set = LinearizedSet::new(64);
        let refused = (0..100_000u64).find_map(|i| cache.insert(&set, &i, 0, &mut holding).err());
        assert_eq!(refused, Some(OutOfMemory));
        assert!(meter.peak_bytes() <= 64 * 1024);
    }
}
