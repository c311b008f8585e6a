//! Transaction markers as batches a partition leader appends (WriteTxnMarkers).
//!
//! Kafka protocol guide, "Control Batches": a control batch holds one control record; the
//! batch attributes carry the transactional bit (4) and the control bit (5), the batch
//! carries the transaction's producer id and epoch and base sequence -1. The record's key
//! is `version int16 = 0, type int16` (0 ABORT, 1 COMMIT); its value, the
//! `EndTransactionMarker`, is `version int16 = 0, coordinator_epoch int32` (KIP-98).

use bytes::Bytes;
use kafka_protocol::records::{Record, TimestampType};

use faultline_wire::batch::split_batches;
use faultline_wire::records::encode_records;

use crate::append::ProducedBatch;
use crate::log::record_to_entry;
use crate::txn::index::ControlType;

/// One marker to write: which transaction ends how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// The transaction's producer id.
    pub producer_id: i64,
    /// The epoch the coordinator ends it with (bumped when it fences the producer).
    pub producer_epoch: i16,
    /// Commit or abort.
    pub control: ControlType,
    /// The coordinator's epoch (its `__transaction_state` partition's leader epoch), so
    /// that a deposed coordinator's markers can be told apart.
    pub coordinator_epoch: i32,
}

impl Marker {
    /// The control batch, offsets relative, ready for a leader append at `timestamp`.
    pub fn batch(&self, timestamp: i64) -> ProducedBatch {
        let mut value = Vec::with_capacity(6);
        value.extend_from_slice(&0i16.to_be_bytes());
        value.extend_from_slice(&self.coordinator_epoch.to_be_bytes());
        let record = Record {
            transactional: true,
            control: true,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence: -1,
            timestamp,
            key: Some(Bytes::copy_from_slice(&self.control.key())),
            value: Some(Bytes::from(value)),
            headers: Default::default(),
        };
        let bytes = encode_records(std::slice::from_ref(&record));
        let batch = split_batches(&bytes)
            .expect("our own encoding splits")
            .remove(0);
        assert!(batch.header.control() && batch.header.transactional());
        ProducedBatch {
            batch,
            records: vec![record_to_entry(&record)],
            max_timestamp: timestamp,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::PartitionLog;
    use crate::txn::index::AbortedTransaction;

    /// A transactional data batch of one record, as a transactional producer sends it
    /// (KIP-98: the transactional attribute bit set).
    fn transactional(producer_id: i64, sequence: i32) -> ProducedBatch {
        let record = Record {
            transactional: true,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: 0,
            timestamp_type: TimestampType::Creation,
            offset: 0,
            sequence,
            timestamp: 0,
            key: None,
            value: Some(Bytes::from_static(b"v")),
            headers: Default::default(),
        };
        ProducedBatch::parse(&encode_records(&[record])).unwrap()
    }

    fn append(log: &mut PartitionLog, batch: &ProducedBatch) -> i64 {
        let base = log.end_offset();
        let (stored, entries) =
            batch.assign(base, 0, crate::config::MessageTimestampType::CreateTime, 0);
        log.push_batch(stored, entries);
        base
    }

    fn marker(producer_id: i64, control: ControlType) -> ProducedBatch {
        Marker {
            producer_id,
            producer_epoch: 0,
            control,
            coordinator_epoch: 3,
        }
        .batch(0)
    }

    /// KIP-98: the last stable offset stops at the first offset of the oldest open
    /// transaction; a marker closes it; an ABORT is listed with its marker offset.
    #[test]
    fn kip_98_markers_close_transactions_and_aborts_are_listed() {
        let mut log = PartitionLog::default();
        append(&mut log, &transactional(7, 0));
        append(&mut log, &transactional(8, 0));
        append(&mut log, &transactional(7, 1));
        assert_eq!(log.transactions().last_stable_offset(3), 0);
        let abort_at = append(&mut log, &marker(7, ControlType::Abort));
        assert_eq!(log.transactions().last_stable_offset(4), 1);
        append(&mut log, &marker(8, ControlType::Commit));
        assert_eq!(log.transactions().last_stable_offset(5), 5);
        assert_eq!(
            log.transactions().aborted_between(0, 5),
            vec![AbortedTransaction {
                producer_id: 7,
                first_offset: 0,
                last_offset: abort_at,
            }]
        );
        assert!(log
            .transactions()
            .aborted_between(abort_at + 1, 5)
            .is_empty());
        assert!(log.transactions().is_aborted(7, 2));
        assert!(!log.transactions().is_aborted(8, 1));
    }

    /// A truncation that cuts a marker reopens its transaction (the index is the log's).
    #[test]
    fn truncating_a_marker_reopens_the_transaction() {
        let mut log = PartitionLog::default();
        append(&mut log, &transactional(7, 0));
        append(&mut log, &marker(7, ControlType::Commit));
        assert_eq!(log.transactions().first_unstable_offset(), None);
        log.truncate_to(1);
        assert_eq!(log.transactions().first_unstable_offset(), Some(0));
    }

    /// Protocol guide, "Control Batches": the marker round-trips through the log bytes.
    #[test]
    fn a_marker_is_a_control_batch_with_its_type_in_the_key() {
        let batch = marker(9, ControlType::Commit);
        assert!(batch.batch.header.control());
        assert_eq!(batch.batch.header.producer_id, 9);
        let key = batch.records[0].key.clone().unwrap();
        assert_eq!(ControlType::from_key(&key), Some(ControlType::Commit));
    }
}
