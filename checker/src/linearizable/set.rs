//! The search's set of linearized ops: a bitset that keeps its own hash and its own bounds,
//! so a lift or a backtrack is O(1) and the cache never copies or rehashes the whole set.
//!
//! - The hash is Zobrist's (Zobrist 1970, as chess engines hash positions): the xor of a
//!   fixed random word per op in the set, updated by one xor on each insert or remove.
//!   The words come from SplitMix64 over a fixed seed, so runs are deterministic.
//! - The bounds: every word below `low` is all ones (ops linearized long ago), every word
//!   from `high` on is zero (ops not reached yet). Only the window between them differs
//!   from one configuration to the next, so [`LinearizedSet::encode`] writes `low` and the
//!   window, run-length encoded: a few bytes where the bitset would take n / 8.

/// The fixed seed of the Zobrist words.
const ZOBRIST_SEED: u64 = 0x6a09_e667_f3bc_c908;

/// SplitMix64's output function (Steele, Lea & Flood 2014): a bijective mixer.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Ops `0..n` linearized so far.
pub(crate) struct LinearizedSet {
    /// Bit `op % 64` of word `op / 64` is set if `op` is linearized.
    words: Vec<u64>,
    /// The Zobrist word of each op.
    zobrist: Vec<u64>,
    /// The xor of the Zobrist words of the ops in the set.
    hash: u64,
    /// Every word below this is all ones.
    low: usize,
    /// Every word from this on is zero.
    high: usize,
}

/// Run kinds of the encoding, in the low two bits of each token.
const ZEROS: u64 = 0;
const ONES: u64 = 1;
const LITERAL: u64 = 2;

impl LinearizedSet {
    /// The empty set over `ops` ops.
    pub fn new(ops: usize) -> LinearizedSet {
        LinearizedSet {
            words: vec![0; ops.div_ceil(64)],
            zobrist: (0..ops as u64)
                .map(|op| mix(ZOBRIST_SEED.wrapping_add(op.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
                .collect(),
            hash: 0,
            low: 0,
            high: 0,
        }
    }

    /// Bytes this set holds on the heap, for the memory budget.
    pub fn heap_bytes(&self) -> u64 {
        (self.words.capacity() + self.zobrist.capacity()) as u64 * 8
    }

    /// The set's Zobrist hash.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Adds `op` (not in the set).
    pub fn insert(&mut self, op: usize) {
        let word = op / 64;
        debug_assert_eq!(self.words[word] & (1 << (op % 64)), 0);
        self.words[word] |= 1 << (op % 64);
        self.hash ^= self.zobrist[op];
        self.high = self.high.max(word + 1);
        while self.low < self.words.len() && self.words[self.low] == u64::MAX {
            self.low += 1;
        }
    }

    /// Removes `op` (in the set).
    pub fn remove(&mut self, op: usize) {
        let word = op / 64;
        debug_assert_ne!(self.words[word] & (1 << (op % 64)), 0);
        self.words[word] &= !(1 << (op % 64));
        self.hash ^= self.zobrist[op];
        self.low = self.low.min(word);
        while self.high > 0 && self.words[self.high - 1] == 0 {
            self.high -= 1;
        }
    }

    /// Appends the set's encoding to `out`: `low`, then the window `low..high` as runs of
    /// zero words, runs of full words and literal words (LEB128 varints).
    pub fn encode(&self, out: &mut Vec<u8>) {
        varint(out, self.low as u64);
        let mut at = self.low;
        while at < self.high {
            let word = self.words[at];
            if word == 0 || word == u64::MAX {
                let run = self.words[at..self.high]
                    .iter()
                    .take_while(|&&w| w == word)
                    .count();
                let kind = if word == 0 { ZEROS } else { ONES };
                varint(out, (run as u64) << 2 | kind);
                at += run;
            } else {
                varint(out, LITERAL);
                out.extend_from_slice(&word.to_le_bytes());
                at += 1;
            }
        }
    }
}

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(set: &LinearizedSet) -> Vec<u8> {
        let mut out = Vec::new();
        set.encode(&mut out);
        out
    }

    #[test]
    fn equal_sets_have_equal_hashes_and_encodings_whatever_the_path() {
        let mut a = LinearizedSet::new(300);
        let mut b = LinearizedSet::new(300);
        for op in 0..200 {
            a.insert(op);
        }
        a.insert(250);
        for op in (0..200).rev() {
            b.insert(op);
        }
        b.insert(250);
        b.remove(7);
        b.remove(130);
        b.insert(7);
        b.insert(130);
        assert_eq!(a.hash(), b.hash());
        assert_eq!(encoded(&a), encoded(&b));
        b.remove(250);
        assert_ne!(a.hash(), b.hash());
        assert_ne!(encoded(&a), encoded(&b));
    }

    #[test]
    fn the_encoding_is_short_for_a_prefix_and_a_window() {
        let mut set = LinearizedSet::new(100_000);
        for op in 0..90_000 {
            set.insert(op);
        }
        set.insert(90_010);
        set.insert(90_500);
        assert!(encoded(&set).len() < 32, "{}", encoded(&set).len());
        // A hole far back (a crashed op left out) costs a few bytes more, not n / 8.
        set.remove(10);
        assert!(encoded(&set).len() < 48, "{}", encoded(&set).len());
    }

    #[test]
    fn sets_differing_in_one_op_encode_differently() {
        let mut seen = std::collections::BTreeSet::new();
        for op in 0..130 {
            let mut set = LinearizedSet::new(130);
            set.insert(op);
            assert!(seen.insert(encoded(&set)), "{op}");
        }
        assert!(seen.insert(encoded(&LinearizedSet::new(130))));
    }
}
