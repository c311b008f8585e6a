//! Producer id allocation for InitProducerId: unique cluster-wide, across restarts and
//! failovers, with no coordination on the request path.
//!
//! Kafka allocates blocks of ids from the controller (KIP-730, `ProducerIdManager`) so that
//! no two brokers ever hand out the same id. We derive the same guarantee from the broker
//! id plus a durable counter: the high bits are the broker id, the low 40 bits a counter
//! fsynced before any id from it is handed out, so a restarted broker never repeats one.

use crate::storage::Storage;

/// The blob holding the next counter value.
pub const PRODUCER_ID_BLOB: &str = "producer-id-counter";
/// Bits of an id given to the per-broker counter.
const COUNTER_BITS: u32 = 40;

/// A broker's producer id allocator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerIdAllocator {
    /// The broker whose ids these are.
    broker_id: i32,
    /// The next counter value; everything below it may have been handed out.
    next: i64,
}

impl ProducerIdAllocator {
    /// The allocator as a (re)started broker finds it on disk.
    pub fn recover(broker_id: i32, blob: Option<&[u8]>) -> Self {
        let next = blob
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        ProducerIdAllocator { broker_id, next }
    }

    /// Hands out a fresh producer id, durably: the counter is synced before the id leaves.
    pub fn allocate(&mut self, storage: &mut dyn Storage) -> i64 {
        let counter = self.next;
        self.next += 1;
        storage.put_blob(PRODUCER_ID_BLOB, self.next.to_string().into_bytes());
        storage.sync();
        (i64::from(self.broker_id) << COUNTER_BITS) | counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    /// KIP-98 requires producer ids unique across the cluster: ids of different brokers
    /// never collide, and a restarted broker continues after its last id.
    #[test]
    fn ids_are_unique_across_brokers_and_restarts() {
        let mut storage = MemoryStorage::default();
        let mut one = ProducerIdAllocator::recover(1, None);
        let a = one.allocate(&mut storage);
        let b = one.allocate(&mut storage);
        let blob = storage.recover().blobs[PRODUCER_ID_BLOB].clone();
        let mut restarted = ProducerIdAllocator::recover(1, Some(&blob));
        let c = restarted.allocate(&mut storage);
        let d = ProducerIdAllocator::recover(2, None).allocate(&mut MemoryStorage::default());
        let mut ids = vec![a, b, c, d];
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 4);
    }
}
