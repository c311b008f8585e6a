//! Decodings of record batches remembered by their exact bytes.
//!
//! Decoding a v2 batch (protocol guide, "Record Batch") is a pure function of its bytes,
//! and in a simulation the same bytes are decoded again and again: every follower copying
//! a leader's batch decodes it, and so does every consumer reading it and the final read
//! of every log (issue #17: 4–9% of a run). A [`BatchMemo`] hands back what bytes it has
//! seen decoded to, so each batch is decoded about once per thread.
//!
//! It cannot change an outcome: a value is handed back only for bytes equal, byte for
//! byte, to those it was decoded from (a corrupted or torn copy misses and is decoded, and
//! fails, as before). It is direct-mapped and keeps its own copy of each batch
//! ([`BatchMemo::admit`]): a value must be built from that copy, never from a slice of a
//! request or response frame, which it would pin. What it holds is bounded by a budget
//! its users weigh their values against, so its memory is bounded and a run's result
//! never depends on what ran on the thread before it.

use bytes::Bytes;

/// Where a batch's CRC sits in its header (protocol guide, "Record Batch").
const CRC_OFFSET: usize = 17;

/// Batches larger than this are not remembered.
const LARGEST: usize = 256 << 10;

/// Values remembered by the exact bytes of the batch they were decoded from.
pub struct BatchMemo<T> {
    slots: Vec<Option<Slot<T>>>,
    /// The weights of the values held, summed.
    held: usize,
    budget: usize,
}

struct Slot<T> {
    bytes: Bytes,
    value: T,
    weight: usize,
}

impl<T: Clone> BatchMemo<T> {
    /// A memo of `slots` slots (a power of two) holding values weighing at most `budget`.
    pub fn new(slots: usize, budget: usize) -> Self {
        assert!(slots.is_power_of_two(), "slots are a power of two");
        BatchMemo {
            slots: (0..slots).map(|_| None).collect(),
            held: 0,
            budget,
        }
    }

    /// What these exact bytes decoded to, if it is remembered.
    pub fn recall(&self, bytes: &[u8]) -> Option<T> {
        let remembered = self.slots[self.slot_of(bytes)?].as_ref()?;
        (remembered.bytes == bytes).then(|| remembered.value.clone())
    }

    /// The memo's own copy of `bytes`, to build a value from for [`BatchMemo::keep`], or
    /// `None` when bytes like these are not remembered (too short to be a batch, or too
    /// large).
    pub fn admit(&self, bytes: &[u8]) -> Option<Bytes> {
        self.slot_of(bytes)?;
        Some(Bytes::copy_from_slice(bytes))
    }

    /// Remembers that the bytes of `copy` (from [`BatchMemo::admit`]) decode to `value`,
    /// which weighs `weight` (its bytes, as its user counts them), in place of what shared
    /// its slot, unless that would take the memo past its budget.
    pub fn keep(&mut self, copy: Bytes, value: T, weight: usize) {
        let Some(slot) = self.slot_of(&copy) else {
            return;
        };
        let freed = self.slots[slot].as_ref().map_or(0, |s| s.weight);
        if self.held - freed + weight > self.budget {
            return;
        }
        self.held = self.held - freed + weight;
        self.slots[slot] = Some(Slot {
            bytes: copy,
            value,
            weight,
        });
    }

    /// The slot for these bytes: their base offset, leader epoch and CRC mixed.
    fn slot_of(&self, bytes: &[u8]) -> Option<usize> {
        if bytes.len() < CRC_OFFSET + 4 || bytes.len() > LARGEST {
            return None;
        }
        let word = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        // base offset (0..8), partition leader epoch (12..16), CRC (17..21).
        let mixed = (word(4) as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(word(12) as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(word(CRC_OFFSET) as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Some((mixed >> 32) as usize & (self.slots.len() - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(seed: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| seed.wrapping_add(i as u8)).collect()
    }

    /// Equal bytes are recalled; bytes differing in one place are not.
    #[test]
    fn only_equal_bytes_are_recalled() {
        let mut memo = BatchMemo::new(16, 1 << 20);
        let bytes = batch(1, 100);
        let copy = memo.admit(&bytes).unwrap();
        memo.keep(copy, 7u32, 100);
        assert_eq!(memo.recall(&bytes), Some(7));
        let mut changed = bytes.clone();
        changed[99] ^= 1;
        assert_eq!(memo.recall(&changed), None);
        // Too short to hold a header, or too long: never remembered.
        assert!(memo.admit(&bytes[..20]).is_none());
        assert!(memo.admit(&batch(1, LARGEST + 1)).is_none());
    }

    /// The weights held never pass the budget: a value that would is not kept, and one
    /// that replaces another in its slot frees the other's weight.
    #[test]
    fn the_budget_bounds_what_is_held() {
        let mut memo = BatchMemo::new(1, 150);
        let (a, b) = (batch(1, 100), batch(2, 100));
        memo.keep(memo.admit(&a).unwrap(), 1u32, 100);
        memo.keep(memo.admit(&b).unwrap(), 2u32, 200);
        assert_eq!((memo.recall(&a), memo.recall(&b)), (Some(1), None));
        // One slot: b replaces a, freeing a's weight.
        memo.keep(memo.admit(&b).unwrap(), 2u32, 150);
        assert_eq!((memo.recall(&a), memo.recall(&b)), (None, Some(2)));
        assert_eq!(memo.held, 150);
    }
}
