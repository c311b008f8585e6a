//! A simulated disk per host: written data lives in the page cache until fsynced.
//!
//! A process crash keeps the page cache (the kernel still has it); a power loss keeps the
//! synced prefix and, seeded, some or none of the unsynced tail (a torn tail ends at a
//! batch boundary, as a log's CRC check cuts it on recovery: Kafka's `LogSegment.recover`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use faultline_broker::log::StoredBatch;
use faultline_broker::storage::{Recovered, Storage, StorageError, TopicPartition};

#[derive(Debug, Default)]
struct DiskState {
    /// Each partition's batches as written.
    logs: BTreeMap<TopicPartition, Vec<StoredBatch>>,
    /// How many of each partition's batches are synced.
    synced: BTreeMap<TopicPartition, usize>,
    blobs: BTreeMap<String, Vec<u8>>,
    synced_blobs: BTreeMap<String, Vec<u8>>,
    /// While set, every log write fails with EIO (a `disk-error` fault).
    failing: bool,
}

/// A host's disk; clones share it, and it outlives the host's process.
#[derive(Debug, Clone, Default)]
pub struct SimDisk {
    state: Arc<Mutex<DiskState>>,
}

impl SimDisk {
    fn lock(&self) -> std::sync::MutexGuard<'_, DiskState> {
        self.state.lock().expect("disk lock")
    }

    /// Power loss: unsynced data is lost, except a seeded part of each log's tail, cut at
    /// a batch boundary. Returns how many records were lost.
    pub fn power_loss(&self, rng: &mut ChaCha8Rng) -> usize {
        let mut state = self.lock();
        let DiskState {
            logs,
            synced,
            blobs,
            synced_blobs,
            ..
        } = &mut *state;
        let mut lost = 0;
        for (partition, log) in logs.iter_mut() {
            let durable = synced.get(partition).copied().unwrap_or(0).min(log.len());
            let unsynced = log.len() - durable;
            let kept = if unsynced == 0 {
                0
            } else {
                rng.random_range(0..=unsynced)
            };
            lost += records(&log[durable + kept..]);
            let mut end = durable + kept;
            if end < log.len() {
                // The next batch was being written: a seeded prefix of its bytes reached
                // the platter, which recovery must find torn (bad length or CRC) and cut.
                let torn = &mut log[end];
                let cut = rng.random_range(0..torn.bytes.len());
                torn.bytes = torn.bytes.slice(0..cut);
                end += 1;
            }
            log.truncate(end);
            synced.insert(partition.clone(), log.len());
        }
        *blobs = synced_blobs.clone();
        lost
    }

    /// Makes every log write fail (EIO) until called with `false`.
    pub fn set_failing(&self, failing: bool) {
        self.lock().failing = failing;
    }

    /// Records written but not yet synced, over all partitions.
    pub fn unsynced_entries(&self) -> usize {
        let state = self.lock();
        state
            .logs
            .iter()
            .map(|(p, log)| {
                records(&log[state.synced.get(p).copied().unwrap_or(0).min(log.len())..])
            })
            .sum()
    }
}

/// Records held by `batches`.
fn records(batches: &[StoredBatch]) -> usize {
    batches.iter().map(|b| b.record_count() as usize).sum()
}

impl Storage for SimDisk {
    fn append(
        &mut self,
        partition: &TopicPartition,
        batches: &[StoredBatch],
    ) -> Result<(), StorageError> {
        let mut state = self.lock();
        if state.failing {
            return Err(StorageError {
                partition: partition.clone(),
            });
        }
        state
            .logs
            .entry(partition.clone())
            .or_default()
            .extend_from_slice(batches);
        Ok(())
    }

    fn refuses_appends(&self) -> bool {
        self.lock().failing
    }

    fn truncate(&mut self, partition: &TopicPartition, end_offset: i64) {
        let mut state = self.lock();
        let Some(log) = state.logs.get_mut(partition) else {
            return;
        };
        let kept = log.partition_point(|b| b.base_offset < end_offset);
        log.truncate(kept);
        if let Some(synced) = state.synced.get_mut(partition) {
            *synced = (*synced).min(kept);
        }
    }

    fn put_blob(&mut self, name: &str, bytes: Vec<u8>) {
        self.lock().blobs.insert(name.to_string(), bytes);
    }

    fn sync(&mut self) {
        let mut guard = self.lock();
        let state = &mut *guard;
        // Every log's length becomes its synced length: in place, a key copied only the
        // first time (an fsync=always broker syncs after every append, issue #17).
        for (partition, log) in &state.logs {
            match state.synced.get_mut(partition) {
                Some(synced) => *synced = log.len(),
                None => {
                    state.synced.insert(partition.clone(), log.len());
                }
            }
        }
        if state.synced_blobs != state.blobs {
            state.synced_blobs = state.blobs.clone();
        }
    }

    fn recover(&self) -> Recovered {
        let state = self.lock();
        Recovered {
            logs: state.logs.clone(),
            blobs: state.blobs.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::stream;
    use faultline_broker::log::PartitionLog;

    /// `n` one-record batches from offset `from`.
    fn entries(from: i64, n: i64) -> Vec<StoredBatch> {
        (from..from + n)
            .map(|offset| {
                StoredBatch::from_entries(&[faultline_broker::log::LogEntry {
                    offset,
                    leader_epoch: 0,
                    timestamp: 0,
                    key: None,
                    value: None,
                    producer_id: -1,
                    producer_epoch: -1,
                    sequence: -1,
                }])
            })
            .collect()
    }

    /// Records a restarted broker recovers: up to the first torn batch.
    fn len(disk: &SimDisk, partition: &TopicPartition) -> usize {
        let batches = disk
            .recover()
            .logs
            .get(partition)
            .cloned()
            .unwrap_or_default();
        PartitionLog::from_batches(batches, 0).end_offset() as usize
    }

    #[test]
    fn power_loss_keeps_the_synced_prefix_and_at_most_the_unsynced_tail() {
        let p: TopicPartition = ("t".into(), 0);
        for seed in 0..20 {
            let mut disk = SimDisk::default();
            disk.append(&p, &entries(0, 5)).unwrap();
            disk.sync();
            disk.append(&p, &entries(5, 5)).unwrap();
            let lost = disk.power_loss(&mut stream(seed, "disk"));
            assert_eq!(len(&disk, &p), 10 - lost, "a torn batch is cut on recovery");
            assert!(len(&disk, &p) >= 5);
            assert_eq!(disk.unsynced_entries(), 0);
        }
    }

    #[test]
    fn a_failing_disk_writes_nothing_and_says_so() {
        let p: TopicPartition = ("t".into(), 0);
        let mut disk = SimDisk::default();
        disk.set_failing(true);
        assert!(disk.append(&p, &entries(0, 3)).is_err());
        assert_eq!(len(&disk, &p), 0);
        disk.set_failing(false);
        disk.append(&p, &entries(0, 3)).unwrap();
        assert_eq!(len(&disk, &p), 3);
    }
}
