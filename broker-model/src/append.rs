//! What a leader does with a producer's batch before it enters the log: validate it, then
//! assign what the leader owns (offsets, leader epoch, and under `LogAppendTime` the
//! timestamp) while keeping the producer's bytes, compression and headers.
//!
//! Kafka's `LogValidator`: v2 batches are decompressed to validate and count records, and
//! assigned offsets "in place" — the producer's compressed records are kept and only the
//! header changes (base offset, partition leader epoch, max timestamp, CRC). Produce v3+
//! carries exactly one batch per partition (Kafka's `validateRecords`: "Produce requests
//! with version 3 are only allowed to contain exactly one record batch").

use bytes::Bytes;

use faultline_wire::batch::{decode_batch, rewrite_batch, split_batches, Batch};
use faultline_wire::ResponseError;

use crate::config::MessageTimestampType;
use crate::log::{record_to_entry, LogEntry, StoredBatch};

/// A producer's batch, validated: what the leader appends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducedBatch {
    /// The batch as the producer wrote it.
    pub batch: Batch,
    /// Its records, offsets relative to the batch (0, 1, …).
    pub records: Vec<LogEntry>,
    /// The largest record timestamp.
    pub max_timestamp: i64,
}

impl ProducedBatch {
    /// Validates a partition's produce bytes: one v2 batch with an intact CRC, at least
    /// one record, records that decode (decompressed), and offset deltas 0..n-1 matching
    /// `lastOffsetDelta` and the record count. Undecodable bytes are CORRUPT_MESSAGE,
    /// anything else malformed INVALID_RECORD (Kafka protocol guide, Produce errors).
    pub fn parse(bytes: &Bytes) -> Result<Self, ResponseError> {
        let mut batches = split_batches(bytes).map_err(|_| ResponseError::CorruptMessage)?;
        if batches.len() != 1 {
            return Err(ResponseError::InvalidRecord);
        }
        let batch = batches.remove(0);
        if batch.header.record_count < 1 || batch.header.control() {
            return Err(ResponseError::InvalidRecord);
        }
        let records: Vec<LogEntry> = decode_batch(&batch)
            .map_err(|_| ResponseError::CorruptMessage)?
            .iter()
            .map(record_to_entry)
            .collect();
        let base = batch.header.base_offset;
        let contiguous = records
            .iter()
            .enumerate()
            .all(|(i, r)| r.offset - base == i as i64);
        if !contiguous || batch.header.last_offset_delta as i64 != records.len() as i64 - 1 {
            return Err(ResponseError::InvalidRecord);
        }
        let records: Vec<LogEntry> = records
            .into_iter()
            .map(|r| LogEntry {
                offset: r.offset - base,
                ..r
            })
            .collect();
        let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
        Ok(ProducedBatch {
            batch,
            records,
            max_timestamp,
        })
    }

    /// The broker's own records (committed offsets) as a batch to append.
    pub fn from_entries(entries: &[LogEntry]) -> Self {
        let relative: Vec<LogEntry> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| LogEntry {
                offset: i as i64,
                leader_epoch: -1,
                ..e.clone()
            })
            .collect();
        let stored = StoredBatch::from_entries(&relative);
        let batch = split_batches(&stored.bytes)
            .expect("our own encoding splits")
            .remove(0);
        let max_timestamp = relative.iter().map(|r| r.timestamp).max().unwrap_or(-1);
        ProducedBatch {
            batch,
            records: relative,
            max_timestamp,
        }
    }

    /// Idempotent producer fields `(producer id, epoch, base sequence)`, if it has any
    /// (KIP-98).
    pub fn producer(&self) -> Option<(i64, i16, i32)> {
        let header = &self.batch.header;
        (header.producer_id >= 0).then_some((
            header.producer_id,
            header.producer_epoch,
            header.base_sequence,
        ))
    }

    /// Records in it.
    pub fn record_count(&self) -> i64 {
        self.records.len() as i64
    }

    /// The batch as the leader stores it at `base_offset` in `leader_epoch`, with its
    /// records. Under `LogAppendTime` the batch and every record carry `now_ms` (KIP-32);
    /// under `CreateTime` the max timestamp is recomputed from the records, as Kafka's
    /// `LogValidator` does.
    pub fn assign(
        &self,
        base_offset: i64,
        leader_epoch: i32,
        timestamp_type: MessageTimestampType,
        now_ms: i64,
    ) -> (StoredBatch, Vec<LogEntry>) {
        let log_append_time = timestamp_type == MessageTimestampType::LogAppendTime;
        let max_timestamp = if log_append_time {
            now_ms
        } else {
            self.max_timestamp
        };
        let rewritten = rewrite_batch(
            &self.batch,
            base_offset,
            leader_epoch,
            max_timestamp,
            log_append_time,
        );
        let entries: Vec<LogEntry> = self
            .records
            .iter()
            .map(|r| LogEntry {
                offset: base_offset + r.offset,
                leader_epoch,
                timestamp: if log_append_time { now_ms } else { r.timestamp },
                ..r.clone()
            })
            .collect();
        let stored = StoredBatch::from_wire(&rewritten);
        // The followers that copy these bytes decode them to these entries (unit tests
        // below; debug builds compare every time the cache answers).
        crate::decoded::remember(&stored.bytes, &self.batch.bytes, &entries);
        (stored, entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_wire::records::{encode_batch, BatchRecord};
    use kafka_protocol::records::Compression;

    fn produced(compression: Compression) -> Bytes {
        let records: Vec<BatchRecord> = [30, 10, 20]
            .iter()
            .map(|&timestamp| BatchRecord {
                key: None,
                value: Some(Bytes::from_static(b"v")),
                timestamp,
                headers: vec![("h".into(), None)],
            })
            .collect();
        encode_batch(&records, Some((5, 0, 0)), compression)
    }

    /// KIP-32: under CreateTime the producer's timestamps stay and the batch's max
    /// timestamp is the largest of them; the compressed records are kept byte for byte.
    #[test]
    fn create_time_keeps_timestamps_and_compressed_bytes() {
        let bytes = produced(Compression::Lz4);
        let batch = ProducedBatch::parse(&bytes).unwrap();
        assert_eq!(batch.max_timestamp, 30);
        let (stored, entries) = batch.assign(100, 4, MessageTimestampType::CreateTime, 999);
        assert_eq!((stored.base_offset, stored.last_offset), (100, 102));
        assert_eq!(stored.max_timestamp, 30);
        assert_eq!(stored.bytes[61..], bytes[61..]);
        assert_eq!(stored.decode().unwrap(), entries);
        assert_eq!(
            entries.iter().map(|e| e.timestamp).collect::<Vec<_>>(),
            [30, 10, 20]
        );
    }

    /// KIP-32: under LogAppendTime every record reads back with the leader's append time.
    #[test]
    fn log_append_time_stamps_every_record() {
        let batch = ProducedBatch::parse(&produced(Compression::Snappy)).unwrap();
        let (stored, entries) = batch.assign(0, 0, MessageTimestampType::LogAppendTime, 999);
        assert_eq!(stored.max_timestamp, 999);
        assert!(entries.iter().all(|e| e.timestamp == 999));
        assert_eq!(stored.decode().unwrap(), entries);
    }

    /// A client's base offset is not the broker's: Kafka's `LogValidator` checks only that
    /// `lastOffsetDelta` agrees with the record count and renumbers the batch from the log
    /// end (`assignOffsetsNonCompressed`), so a batch whose header says 7 is stored at 100.
    #[test]
    fn a_clients_base_offset_is_renumbered_from_the_log_end() {
        let bytes = faultline_wire::tamper::with_base_offset(&produced(Compression::None), 7);
        let batch = ProducedBatch::parse(&bytes).unwrap();
        let (stored, entries) = batch.assign(100, 4, MessageTimestampType::CreateTime, 999);
        assert_eq!((stored.base_offset, stored.last_offset), (100, 102));
        assert_eq!(
            entries.iter().map(|e| e.offset).collect::<Vec<_>>(),
            [100, 101, 102]
        );
        assert_eq!(stored.decode().unwrap(), entries);
    }

    /// Produce v3+: exactly one batch per partition; two are INVALID_RECORD, garbage is
    /// CORRUPT_MESSAGE.
    #[test]
    fn two_batches_or_garbage_are_refused() {
        let one = produced(Compression::None);
        let two = Bytes::from([one.to_vec(), one.to_vec()].concat());
        assert_eq!(
            ProducedBatch::parse(&two),
            Err(ResponseError::InvalidRecord)
        );
        assert_eq!(
            ProducedBatch::parse(&one.slice(0..40)),
            Err(ResponseError::CorruptMessage)
        );
    }
}
