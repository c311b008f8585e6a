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
//! fails, as before), and debug builds decode every hit again and compare. It is a
//! thread-local [`BatchMemo`]: direct-mapped, holding its own copy of each batch (never a
//! slice pinning a whole response frame), its copies and entries within `BUDGET` bytes,
//! so its memory is bounded and a run's result never depends on what ran on the thread
//! before it.
//!
//! A follower whose disk fails refetches the same few hundred batches every round until
//! the disk recovers, and a broker restarting after a crash decodes its whole log from
//! disk (`PartitionLog::from_batches`): the slots are many enough to hold a one-minute
//! run's batches (triggered-faults appends ~9,000 a partition; with 1,024 slots its
//! recoveries missed 9,089 of 13,265 lookups in two seeds, with 16,384 slots 1,112: 1.9%
//! of its instructions). The slots cost ~1 MB a thread; `BUDGET` still bounds the rest.

use std::cell::RefCell;

use bytes::Bytes;
use faultline_wire::memo::BatchMemo;

use crate::log::LogEntry;

/// Slots in the cache (a power of two).
const SLOTS: usize = 16384;

/// What the cache holds at most: its copies of batches and their entries, in bytes.
const BUDGET: usize = 32 << 20;

thread_local! {
    static CACHE: RefCell<BatchMemo<Vec<LogEntry>>> = RefCell::new(BatchMemo::new(SLOTS, BUDGET));
}

/// The entries these exact bytes decoded to, if they are remembered.
pub(crate) fn recall(bytes: &Bytes) -> Option<Vec<LogEntry>> {
    CACHE.with(|cache| cache.borrow().recall(bytes))
}

/// Remembers that `bytes` decode to `entries`, in place of what shared its slot.
///
/// `origin` is the buffer the entries' keys and values were sliced from, laid out as
/// `bytes` is (the same batch, or the producer's batch before the leader rewrote its
/// header): the cache keeps one copy of the batch and slices every key and value from it,
/// so it never pins a request or response frame. A key or value from elsewhere (a
/// decompressed batch) is copied.
pub(crate) fn remember(bytes: &Bytes, origin: &Bytes, entries: &[LogEntry]) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let Some(copy) = cache.admit(bytes) else {
            return;
        };
        let from = origin.as_ptr() as usize;
        let mut copied = 0;
        let mut within = |part: &Bytes| {
            let at = (part.as_ptr() as usize).wrapping_sub(from);
            if origin.len() == copy.len() && at <= copy.len() && part.len() <= copy.len() - at {
                copy.slice(at..at + part.len())
            } else {
                copied += part.len();
                Bytes::copy_from_slice(part)
            }
        };
        let entries: Vec<LogEntry> = entries
            .iter()
            .map(|e| LogEntry {
                key: e.key.as_ref().map(&mut within),
                value: e.value.as_ref().map(&mut within),
                ..*e
            })
            .collect();
        let weight = copy.len() + copied + entries.len() * std::mem::size_of::<LogEntry>();
        cache.keep(copy, entries, weight);
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
