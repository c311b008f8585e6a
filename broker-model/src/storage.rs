//! Durable state behind a trait, so the simulation can model what survives a crash.
//!
//! The broker writes its partition logs and small metadata blobs (producer state, group
//! offsets, checkpoints) here and reads them back on restart. `sync` is an fsync: the
//! simulation's disk keeps only synced data across a power loss.

use std::collections::BTreeMap;

use crate::log::StoredBatch;

/// A partition by topic name and index.
pub type TopicPartition = (String, i32);

/// The blob holding a partition's log start offset (Kafka's `log-start-offset-checkpoint`).
pub fn log_start_blob(partition: &TopicPartition) -> String {
    format!("log-start-offset/{}/{}", partition.0, partition.1)
}

/// What a restarted node finds on its disk.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    /// Each partition's log batches, from offset 0, as written.
    pub logs: BTreeMap<TopicPartition, Vec<StoredBatch>>,
    /// Named blobs.
    pub blobs: BTreeMap<String, Vec<u8>>,
}

/// A write the disk refused (EIO). Kafka's answer to one is KAFKA_STORAGE_ERROR for the
/// request that hit it; nothing it wrote may be acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("I/O error writing {partition:?}")]
pub struct StorageError {
    /// The partition whose write failed.
    pub partition: TopicPartition,
}

/// A node's disk.
pub trait Storage: Send {
    /// Appends batches to a partition's log (buffered until `sync`). On error nothing of
    /// `batches` was written.
    fn append(
        &mut self,
        partition: &TopicPartition,
        batches: &[StoredBatch],
    ) -> Result<(), StorageError>;
    /// Cuts a partition's log to end at `end_offset`: every batch from there on goes (logs
    /// are truncated at batch boundaries).
    fn truncate(&mut self, partition: &TopicPartition, end_offset: i64);
    /// Replaces a named blob (buffered until `sync`).
    fn put_blob(&mut self, name: &str, bytes: Vec<u8>);
    /// fsync: everything written so far survives a power loss.
    fn sync(&mut self);
    /// Everything on disk now, as a restarted process would read it.
    fn recover(&self) -> Recovered;
    /// Whether every `append` fails now, known before trying (a simulated disk inside its
    /// error window). A disk that cannot know says `false`; callers only skip work that
    /// a failed append would throw away.
    fn refuses_appends(&self) -> bool {
        false
    }
}

/// A disk that never loses anything and never persists across process restarts: what
/// `faultline serve` uses.
#[derive(Debug, Default)]
pub struct MemoryStorage {
    state: Recovered,
}

impl Storage for MemoryStorage {
    fn append(
        &mut self,
        partition: &TopicPartition,
        batches: &[StoredBatch],
    ) -> Result<(), StorageError> {
        self.state
            .logs
            .entry(partition.clone())
            .or_default()
            .extend_from_slice(batches);
        Ok(())
    }

    fn truncate(&mut self, partition: &TopicPartition, end_offset: i64) {
        if let Some(log) = self.state.logs.get_mut(partition) {
            log.retain(|batch| batch.base_offset < end_offset);
        }
    }

    fn put_blob(&mut self, name: &str, bytes: Vec<u8>) {
        self.state.blobs.insert(name.to_string(), bytes);
    }

    fn sync(&mut self) {}

    fn recover(&self) -> Recovered {
        self.state.clone()
    }
}
