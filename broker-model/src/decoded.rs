//! Batches decoded recently, remembered by their bytes.
//!
//! Decoding a stored batch into log entries is a pure function of its bytes, and in a
//! simulation the same bytes are decoded again and again: the leader writes a batch, and
//! every follower that copies it decodes it once more (`StoredBatch::decode`, 9% of an
//! `acks-leader-follower-faults` run's profile, issue #17). This cache hands back the
//! entries of bytes it has seen, so each batch is decoded once per thread instead of once
//! per replica.
//!
//! It cannot change an outcome: an entry is returned only for bytes equal, byte for byte,
//! to those it was decoded from (a corrupted or torn copy misses and is decoded, and
//! fails, as before), and debug builds decode every hit again and compare. It is
//! thread-local and direct-mapped, and holds its own copy of each batch (never a slice
//! pinning a whole response frame) within `BUDGET` bytes, so its memory is bounded and a
//! run's result never depends on what ran on the thread before it.
//!
//! A follower whose disk fails refetches the same few hundred batches every round until
//! the disk recovers, and a broker restarting after a crash decodes its whole log from
//! disk (`PartitionLog::from_batches`): the slots are many enough to hold a one-minute
//! run's batches (triggered-faults appends ~9,000 a partition; with 1,024 slots its
//! recoveries missed 9,089 of 13,265 lookups in two seeds, with 16,384 slots 1,112: 1.9%
//! of its instructions). The slots cost ~1 MB a thread; `BUDGET` still bounds the bytes.

use std::cell::RefCell;

use bytes::Bytes;

use crate::log::LogEntry;

/// Slots in the cache (a power of two).
const SLOTS: usize = 16384;

/// Batch bytes held at most, over all slots.
const BUDGET: usize = 8 << 20;

/// Batches larger than this are not remembered.
const LARGEST: usize = 256 << 10;

/// Where a batch's CRC sits in its header (protocol guide, "Record Batch").
const CRC_OFFSET: usize = 17;

struct Slot {
    bytes: Bytes,
    entries: Vec<LogEntry>,
}

struct Cache {
    slots: Vec<Option<Slot>>,
    held: usize,
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache {
        slots: (0..SLOTS).map(|_| None).collect(),
        held: 0,
    });
}

/// The slot for these bytes: their base offset, leader epoch and CRC mixed.
fn slot_of(bytes: &[u8]) -> Option<usize> {
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
    Some((mixed >> 32) as usize % SLOTS)
}

/// The entries these exact bytes decoded to, if they are remembered.
pub(crate) fn recall(bytes: &Bytes) -> Option<Vec<LogEntry>> {
    let slot = slot_of(bytes)?;
    CACHE.with(|cache| {
        let cache = cache.borrow();
        let remembered = cache.slots[slot].as_ref()?;
        (remembered.bytes == *bytes).then(|| remembered.entries.clone())
    })
}

/// Remembers that `bytes` decode to `entries`, in place of what shared its slot.
///
/// `origin` is the buffer the entries' keys and values were sliced from, laid out as
/// `bytes` is (the same batch, or the producer's batch before the leader rewrote its
/// header): the cache keeps one copy of the batch and slices every key and value from it,
/// so it never pins a request or response frame. A key or value from elsewhere (a
/// decompressed batch) is copied.
pub(crate) fn remember(bytes: &Bytes, origin: &Bytes, entries: &[LogEntry]) {
    let Some(slot) = slot_of(bytes) else {
        return;
    };
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let freed = cache.slots[slot].as_ref().map_or(0, |s| s.bytes.len());
        if cache.held - freed + bytes.len() > BUDGET {
            return;
        }
        let copy = Bytes::copy_from_slice(bytes);
        let from = origin.as_ptr() as usize;
        let within = |part: &Bytes| {
            let at = (part.as_ptr() as usize).wrapping_sub(from);
            if origin.len() == copy.len() && at <= copy.len() && part.len() <= copy.len() - at {
                copy.slice(at..at + part.len())
            } else {
                Bytes::copy_from_slice(part)
            }
        };
        let entries = entries
            .iter()
            .map(|e| LogEntry {
                key: e.key.as_ref().map(within),
                value: e.value.as_ref().map(within),
                ..*e
            })
            .collect();
        cache.held = cache.held - freed + bytes.len();
        cache.slots[slot] = Some(Slot {
            bytes: copy,
            entries,
        });
    });
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use faultline_wire::batch::split_batches;
    use faultline_wire::records::{encode_batch, BatchRecord};
    use kafka_protocol::records::Compression;

    use crate::append::ProducedBatch;
    use crate::config::MessageTimestampType;
    use crate::log::StoredBatch;

    /// A follower copying the leader's batch finds the leader's decoding; a batch with one
    /// byte changed does not, and fails its CRC as before.
    #[test]
    fn a_copied_batch_is_recalled_and_a_corrupted_one_is_not() {
        let records = vec![BatchRecord {
            key: Some(Bytes::from_static(b"k")),
            value: Some(Bytes::from_static(b"v")),
            timestamp: 5,
            headers: vec![],
        }];
        let produced = encode_batch(&records, Some((7, 0, 0)), Compression::None);
        let batch = ProducedBatch::parse(&produced).unwrap();
        let (stored, entries) = batch.assign(40, 3, MessageTimestampType::CreateTime, 99);
        // What a follower receives: the same bytes, in a buffer of its own.
        let copy = Bytes::from(stored.bytes.to_vec());
        let wire = split_batches(&copy).unwrap();
        let follower = StoredBatch::from_wire(&wire[0]);
        assert_eq!(super::recall(&follower.bytes), Some(entries.clone()));
        assert_eq!(follower.decode().unwrap(), entries);

        // The cache holds its own copy: what it hands back points into neither the
        // leader's nor the follower's buffers (a frame it sliced would stay pinned).
        let recalled = super::recall(&copy).unwrap();
        let key = recalled[0].key.as_ref().unwrap().as_ptr() as usize;
        for buffer in [&copy, &stored.bytes, &produced] {
            let range = buffer.as_ptr() as usize..buffer.as_ptr() as usize + buffer.len();
            assert!(!range.contains(&key));
        }

        let mut corrupted = stored.bytes.to_vec();
        let last = corrupted.len() - 1;
        corrupted[last] ^= 1;
        let corrupted = StoredBatch {
            bytes: Bytes::from(corrupted),
            ..stored
        };
        assert_eq!(super::recall(&corrupted.bytes), None);
        assert!(corrupted.decode().is_err());
    }
}
