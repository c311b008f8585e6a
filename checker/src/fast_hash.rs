//! A small multiplicative hasher for the checkers' lookup tables (integer keys, bitsets).
//!
//! The standard SipHash resists hash flooding, which a checker reading its own history
//! does not need, and cost a third of the log checker's time at a million ops and much of
//! the linearizability search's cache lookups. This is the Fx hash rustc uses
//! (rustc-hash). Tables built with it are only looked up, never iterated into output, so
//! report order stays deterministic.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Fx: rotate, xor, multiply per word.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The multiply mixes upward; hashbrown picks buckets from the low bits, so bring
        // the well-mixed high bits down (rustc-hash 2 does the same).
        self.hash.rotate_left(26)
    }
}

/// A HashMap with the Fx hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_keys_hash_equal_and_lookups_work() {
        let mut map: FastMap<(u32, u64), u32> = FastMap::default();
        map.insert((1, 2), 3);
        assert_eq!(map.get(&(1, 2)), Some(&3));
        assert_eq!(map.get(&(2, 1)), None);
    }
}
