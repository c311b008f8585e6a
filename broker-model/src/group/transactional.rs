//! Offsets committed inside a transaction (TxnOffsetCommit, KIP-98 and KIP-447): written
//! to `__consumer_offsets` as transactional records of the producer, invisible to
//! OffsetFetch until the transaction's COMMIT marker reaches the partition, dropped on
//! ABORT (Kafka's `GroupMetadataManager.storeOffsets` with a producer id and
//! `handleTxnCompletion`).

use bytes::Bytes;
use kafka_protocol::records::{Record, TimestampType};

use faultline_wire::records::encode_records;

use super::offsets::OffsetRecord;
use super::{partition_for, GroupCoordinator};
use crate::append::ProducedBatch;
use crate::log::PartitionLog;

impl GroupCoordinator {
    /// Offsets of `producer_id`'s open transaction, written and replicated: they wait for
    /// the marker.
    pub fn stage_transactional(&mut self, producer_id: i64, records: &[OffsetRecord]) {
        for record in records {
            let partition = partition_for(&record.group, self.partitions);
            self.pending_transactional
                .entry((partition, producer_id))
                .or_default()
                .push(record.clone());
        }
    }

    /// Whether a transaction still holds an offset of `group` for `topic`/`partition`
    /// (KIP-447: OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT then).
    pub fn has_pending_transactional(&self, group: &str, topic: &str, partition: i32) -> bool {
        self.pending_transactional
            .values()
            .flatten()
            .any(|r| r.group == group && r.topic == topic && r.partition == partition)
    }

    /// A marker of `producer_id` reached offsets partition `partition` (and was replicated):
    /// a COMMIT makes its offsets committed, an ABORT drops them.
    pub fn complete_transaction(&mut self, partition: i32, producer_id: i64, commit: bool) {
        let Some(records) = self.pending_transactional.remove(&(partition, producer_id)) else {
            return;
        };
        if commit {
            self.apply_commits(&records);
        }
    }

    /// The transactional offsets of a freshly loaded partition's log: committed ones enter
    /// the cache, aborted ones are dropped, open ones wait for their marker (the log's
    /// transaction index says which is which).
    pub fn load_transactional(&mut self, partition: i32, log: &PartitionLog) {
        let transactions = log.transactions();
        let mut committed = Vec::new();
        for entry in log.entries().iter().filter(|e| e.producer_id >= 0) {
            let Some(record) = OffsetRecord::from_entry(entry) else {
                continue;
            };
            if partition_for(&record.group, self.partitions) != partition
                || transactions.is_aborted(entry.producer_id, entry.offset)
            {
                continue;
            }
            let open = transactions
                .open_transaction(entry.producer_id)
                .is_some_and(|t| t.first_offset <= entry.offset);
            if open {
                self.stage_transactional(entry.producer_id, &[record]);
            } else {
                committed.push(record);
            }
        }
        self.apply_commits(&committed);
    }
}

/// TxnOffsetCommit's offsets as one transactional batch of the producer (KIP-98: the
/// transactional attribute bit, the producer's id and epoch; no sequence).
pub fn transactional_offsets_batch(
    records: &[OffsetRecord],
    producer_id: i64,
    producer_epoch: i16,
) -> ProducedBatch {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, record)| {
            let entry = record.to_entry();
            Record {
                transactional: true,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id,
                producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // No sequence: the encoder numbers records on from the base sequence -1.
                sequence: i as i32 - 1,
                timestamp: 0,
                key: entry.key,
                value: entry.value.or_else(|| Some(Bytes::new())),
                headers: Default::default(),
            }
        })
        .collect();
    ProducedBatch::parse(&encode_records(&records)).expect("our own batch parses")
}
