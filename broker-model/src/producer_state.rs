//! Idempotent producer state of one partition: the last batches each producer wrote,
//! so that a retried batch is recognised and answered with its original offsets.
//!
//! Kafka's `ProducerStateManager` and `ProducerAppendInfo.checkSequence` (KIP-98, with the
//! KIP-360 relaxations): per producer id the leader keeps its producer_epoch and the
//! metadata of its last five batches (`NUM_BATCHES_TO_RETAIN`). A batch whose sequence
//! range matches a retained batch is a duplicate; one that does not continue the last
//! sequence is out of order; one from an older producer_epoch is fenced. The state is
//! derived from the log alone (records carry producer id, epoch and sequence), so a new
//! leader rebuilds it from its replica and a restarted broker from its disk.

use std::collections::{BTreeMap, VecDeque};

use faultline_wire::ResponseError;

use crate::log::{LogEntry, PartitionLog};
use crate::txn::index;

/// Batches retained per producer (Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`, which
/// is also why `max.in.flight.requests.per.connection` must be at most 5).
pub const BATCHES_RETAINED: usize = 5;

/// One written batch of one producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of its first record.
    pub first_sequence: i32,
    /// Sequence of its last record.
    pub last_sequence: i32,
    /// Offset of its first record.
    pub first_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
}

/// What one producer id last did here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The newest producer_epoch seen; older epochs are fenced.
    pub producer_epoch: i16,
    /// The newest batches, oldest first, at most [`BATCHES_RETAINED`].
    pub batches: VecDeque<BatchMetadata>,
}

/// The verdict on an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// New: append it.
    Append,
    /// Already written: answer with these offsets, append nothing.
    Duplicate(BatchMetadata),
}

/// Producer state of one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerStateTable {
    /// Per producer id.
    producers: BTreeMap<i64, ProducerEntry>,
}

impl ProducerStateTable {
    /// Rebuilds the table from a log, as Kafka's `loadProducerState` does from segments:
    /// consecutive records of one producer with consecutive sequences form one batch.
    pub fn rebuild(entries: &[LogEntry]) -> Self {
        let mut table = ProducerStateTable::default();
        let mut current: Option<(i64, i16, BatchMetadata)> = None;
        for entry in entries.iter().filter(|e| e.producer_id >= 0) {
            let continues = current.as_ref().is_some_and(|(id, epoch, batch)| {
                *id == entry.producer_id
                    && *epoch == entry.producer_epoch
                    && batch.last_sequence.wrapping_add(1) == entry.sequence
                    && batch.last_offset + 1 == entry.offset
            });
            if continues {
                let (_, _, batch) = current.as_mut().expect("checked above");
                batch.last_sequence = entry.sequence;
                batch.last_offset = entry.offset;
                continue;
            }
            if let Some((id, epoch, batch)) = current.take() {
                table.record(id, epoch, batch);
            }
            current = Some((
                entry.producer_id,
                entry.producer_epoch,
                BatchMetadata {
                    first_sequence: entry.sequence,
                    last_sequence: entry.sequence,
                    first_offset: entry.offset,
                    last_offset: entry.offset,
                },
            ));
        }
        if let Some((id, epoch, batch)) = current {
            table.record(id, epoch, batch);
        }
        table
    }

    /// Rebuilds the table from a log's batches, as Kafka's `loadProducerState` does from
    /// segments: each batch of an idempotent producer is one retained batch, with the
    /// sequences of its first and last records (KIP-98).
    pub fn rebuild_from_log(log: &PartitionLog) -> Self {
        let mut table = ProducerStateTable::default();
        let entries = log.entries();
        for batch in log.batches() {
            let first = &entries[batch.base_offset as usize];
            let last = &entries[batch.last_offset as usize];
            if first.producer_id < 0 {
                continue;
            }
            if index::is_control(index::attributes(&batch.bytes)) {
                // A transaction marker carries no sequences, only its epoch (KIP-98).
                table.mark(first.producer_id, first.producer_epoch);
                continue;
            }
            table.record(
                first.producer_id,
                first.producer_epoch,
                BatchMetadata {
                    first_sequence: first.sequence,
                    last_sequence: last.sequence,
                    first_offset: batch.base_offset,
                    last_offset: batch.last_offset,
                },
            );
        }
        table
    }

    /// What one producer id last did, if anything.
    pub fn producer(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Checks a batch before it is appended (Kafka's `ProducerAppendInfo.checkSequence`
    /// and `checkProducerEpoch`):
    /// - an older producer_epoch than the newest seen: INVALID_PRODUCER_EPOCH (KIP-98 fencing);
    /// - a newer producer_epoch must start at sequence 0 (KIP-360's epoch bump resets it);
    /// - a sequence range equal to a retained batch: a duplicate, answered with the
    ///   original offsets (KIP-98: "the broker will ... return the offset of the original");
    /// - at or below the last sequence but not retained: DUPLICATE_SEQUENCE_NUMBER;
    /// - anything but last_sequence + 1: OUT_OF_ORDER_SEQUENCE_NUMBER.
    ///
    /// A producer id this partition never saw may start at any sequence: its earlier
    /// records may have been written to a replica that lost them (KIP-360).
    pub fn check(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        first_sequence: i32,
        last_sequence: i32,
    ) -> Result<SequenceCheck, ResponseError> {
        let Some(entry) = self.producers.get(&producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if producer_epoch < entry.producer_epoch {
            return Err(ResponseError::InvalidProducerEpoch);
        }
        if producer_epoch > entry.producer_epoch {
            return if first_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(ResponseError::OutOfOrderSequenceNumber)
            };
        }
        // State rebuilt from records alone ([`Self::rebuild`]) merges adjacent batches, so
        // a retry matches any retained range that contains it.
        if let Some(batch) = entry
            .batches
            .iter()
            .find(|b| b.first_sequence <= first_sequence && last_sequence <= b.last_sequence)
        {
            let skip = i64::from(first_sequence - batch.first_sequence);
            let span = i64::from(last_sequence - first_sequence);
            return Ok(SequenceCheck::Duplicate(BatchMetadata {
                first_sequence,
                last_sequence,
                first_offset: batch.first_offset + skip,
                last_offset: batch.first_offset + skip + span,
            }));
        }
        let last = entry.batches.back().map_or(-1, |b| b.last_sequence);
        if first_sequence == last.wrapping_add(1) {
            Ok(SequenceCheck::Append)
        } else if first_sequence <= last {
            Err(ResponseError::DuplicateSequenceNumber)
        } else {
            Err(ResponseError::OutOfOrderSequenceNumber)
        }
    }

    /// Records a transaction marker written with `producer_epoch` (KIP-98): a newer epoch
    /// (the coordinator fenced the producer) fences every older one here and restarts the
    /// producer's sequences; the marker itself holds no sequence.
    pub fn mark(&mut self, producer_id: i64, producer_epoch: i16) {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_epoch,
                batches: VecDeque::new(),
            });
        if producer_epoch > entry.producer_epoch {
            entry.producer_epoch = producer_epoch;
            entry.batches.clear();
        }
    }

    /// Records an appended batch, forgetting the oldest beyond [`BATCHES_RETAINED`]. A
    /// newer producer_epoch starts the producer's history afresh.
    pub fn record(&mut self, producer_id: i64, producer_epoch: i16, batch: BatchMetadata) {
        let entry = self
            .producers
            .entry(producer_id)
            .or_insert_with(|| ProducerEntry {
                producer_epoch,
                batches: VecDeque::new(),
            });
        if producer_epoch > entry.producer_epoch {
            entry.producer_epoch = producer_epoch;
            entry.batches.clear();
        }
        entry.batches.push_back(batch);
        while entry.batches.len() > BATCHES_RETAINED {
            entry.batches.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(sequence: i32, offset: i64) -> BatchMetadata {
        BatchMetadata {
            first_sequence: sequence,
            last_sequence: sequence,
            first_offset: offset,
            last_offset: offset,
        }
    }

    fn entry(offset: i64, producer_id: i64, producer_epoch: i16, sequence: i32) -> LogEntry {
        LogEntry {
            offset,
            leader_epoch: 0,
            timestamp: 0,
            key: None,
            value: None,
            producer_id,
            producer_epoch,
            sequence,
        }
    }

    fn table_with(sequences: std::ops::Range<i32>) -> ProducerStateTable {
        let mut table = ProducerStateTable::default();
        for s in sequences {
            table.record(7, 0, batch(s, 100 + s as i64));
        }
        table
    }

    /// KIP-98 "Idempotent producer guarantees": a retried batch that is still retained is
    /// recognised and answered with the original offsets, not appended again.
    #[test]
    fn kip_98_a_retried_batch_is_a_duplicate_with_its_original_offsets() {
        let table = table_with(0..3);
        assert_eq!(
            table.check(7, 0, 2, 2),
            Ok(SequenceCheck::Duplicate(batch(2, 102)))
        );
    }

    /// KIP-98: a sequence below the retained window is DUPLICATE_SEQUENCE_NUMBER: the
    /// broker knows it was written but no longer where.
    #[test]
    fn kip_98_a_duplicate_older_than_the_window_is_duplicate_sequence_number() {
        let table = table_with(0..(BATCHES_RETAINED as i32 + 3));
        assert_eq!(
            table.check(7, 0, 1, 1),
            Err(ResponseError::DuplicateSequenceNumber)
        );
    }

    /// KIP-98: a gap in the sequence is OUT_OF_ORDER_SEQUENCE_NUMBER (a batch was lost in
    /// between, so appending this one would reorder the producer's writes).
    #[test]
    fn kip_98_a_sequence_gap_is_out_of_order_sequence_number() {
        let table = table_with(0..3);
        assert_eq!(
            table.check(7, 0, 5, 5),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
        assert_eq!(table.check(7, 0, 3, 3), Ok(SequenceCheck::Append));
    }

    /// KIP-98 fencing: a batch from an older producer_epoch is INVALID_PRODUCER_EPOCH; a
    /// newer epoch must restart at sequence 0 (KIP-360 epoch bump).
    #[test]
    fn kip_98_an_older_producer_epoch_is_fenced_and_kip_360_a_bump_restarts_at_zero() {
        let mut table = table_with(0..3);
        assert_eq!(table.check(7, 1, 0, 0), Ok(SequenceCheck::Append));
        assert_eq!(
            table.check(7, 1, 4, 4),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
        table.record(7, 1, batch(0, 200));
        assert_eq!(
            table.check(7, 0, 3, 3),
            Err(ResponseError::InvalidProducerEpoch)
        );
    }

    /// KIP-360: a producer this partition never saw may start anywhere (its earlier
    /// records may be on replicas that lost them).
    #[test]
    fn kip_360_an_unknown_producer_may_start_at_any_sequence() {
        assert_eq!(
            ProducerStateTable::default().check(9, 0, 12, 12),
            Ok(SequenceCheck::Append)
        );
    }

    /// A new leader rebuilds producer state from its log (records carry producer id,
    /// epoch and sequence), so duplicates are still caught after failover.
    #[test]
    fn state_rebuilt_from_the_log_catches_a_retry_after_failover() {
        let log = vec![
            entry(0, -1, -1, -1),
            entry(1, 7, 0, 0),
            entry(2, 7, 0, 1),
            entry(3, 8, 0, 0),
            entry(4, 7, 0, 2),
        ];
        let table = ProducerStateTable::rebuild(&log);
        assert_eq!(
            table.check(7, 0, 2, 2),
            Ok(SequenceCheck::Duplicate(batch(2, 4)))
        );
        assert_eq!(
            table.check(8, 0, 0, 0),
            Ok(SequenceCheck::Duplicate(batch(0, 3)))
        );
        assert_eq!(table.check(7, 0, 3, 3), Ok(SequenceCheck::Append));
    }
}
