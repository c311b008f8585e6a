//! The leader's produce append with idempotence: the sequence check of KIP-98 between
//! the ISR check and the append, and the producer state updated after it.
//!
//! Kafka's order (`Partition.appendRecordsToLeader`, then `UnifiedLog.analyzeAndValidateProducerState`):
//! leadership, then `min.insync.replicas` for acks=all, then the producer's sequence. A
//! duplicate appends nothing and is answered with the original batch's offsets; for
//! acks=all it still waits until the high watermark covers them, as Kafka's
//! `DelayedProduce` does with the duplicate's `LogAppendInfo`.

use faultline_wire::ResponseError;

use crate::append::ProducedBatch;
use crate::config::MessageTimestampType;
use crate::log::StoredBatch;
use crate::partition::{Appended, Partition};
use crate::producer_state::{BatchMetadata, SequenceCheck};

/// What a produce append did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProduceAppend {
    /// Appended this batch (to be persisted).
    Appended(StoredBatch, Appended),
    /// A retry of a batch already in the log: nothing appended, these are its offsets.
    Duplicate(Appended),
}

/// How a leader stamps what it appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendTime {
    /// The topic's `message.timestamp.type`.
    pub timestamp_type: MessageTimestampType,
    /// The leader's clock now, for LogAppendTime.
    pub now_ms: i64,
}

impl Partition {
    /// Appends a produce batch as leader. `dedup` off is the planted bug
    /// `idempotence-without-dedup`: sequences are neither checked nor remembered.
    pub fn append_produce(
        &mut self,
        batch: &ProducedBatch,
        required_acks: i16,
        min_insync_replicas: i32,
        dedup: bool,
        time: AppendTime,
    ) -> Result<ProduceAppend, ResponseError> {
        if !self.is_leader() {
            return Err(ResponseError::NotLeaderOrFollower);
        }
        if required_acks == -1 && (self.isr().len() as i32) < min_insync_replicas {
            return Err(ResponseError::NotEnoughReplicas);
        }
        let append = |partition: &mut Partition| {
            partition.append_batch_as_leader(
                batch,
                required_acks,
                min_insync_replicas,
                time.timestamp_type,
                time.now_ms,
            )
        };
        let Some((producer_id, producer_epoch, first_sequence)) =
            batch.producer().filter(|_| dedup)
        else {
            let (written, appended) = append(self)?;
            return Ok(ProduceAppend::Appended(written, appended));
        };
        // The protocol guide's Record Batch: one producer per batch, its records numbered
        // from the base sequence (which the header carries, so they cannot disagree).
        if first_sequence < 0 {
            return Err(ResponseError::InvalidRecord);
        }
        let last_sequence = first_sequence.wrapping_add(batch.record_count() as i32 - 1);
        match self
            .producers
            .check(producer_id, producer_epoch, first_sequence, last_sequence)?
        {
            SequenceCheck::Duplicate(batch) => Ok(ProduceAppend::Duplicate(Appended {
                base_offset: batch.first_offset,
                last_offset: batch.last_offset,
                leader_epoch: self.leader_epoch(),
            })),
            SequenceCheck::Append => {
                let (written, appended) = append(self)?;
                self.producers.record(
                    producer_id,
                    producer_epoch,
                    BatchMetadata {
                        first_sequence,
                        last_sequence,
                        first_offset: appended.base_offset,
                        last_offset: appended.last_offset,
                    },
                );
                Ok(ProduceAppend::Appended(written, appended))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::PartitionLog;
    use crate::metadata::PartitionRegistration;

    fn leader(isr: Vec<i32>) -> Partition {
        let registration = PartitionRegistration {
            topic: "events".into(),
            partition: 0,
            replicas: vec![1, 2, 3],
            isr,
            leader: 1,
            leader_epoch: 0,
            partition_epoch: 0,
        };
        let mut p = Partition::new(1, registration.clone(), PartitionLog::default());
        p.apply_registration(registration, 0);
        p
    }

    fn record(sequence: i32) -> ProducedBatch {
        let bytes = faultline_wire::records::producer_batch(
            &[bytes::Bytes::from_static(b"v")],
            Some((42, 0, sequence)),
            0,
        );
        ProducedBatch::parse(&bytes).unwrap()
    }

    const TIME: AppendTime = AppendTime {
        timestamp_type: MessageTimestampType::CreateTime,
        now_ms: 0,
    };

    /// KIP-98: the retry of an appended batch appends nothing and gets the original offset.
    #[test]
    fn kip_98_a_retry_appends_nothing_and_gets_the_original_offset() {
        let mut p = leader(vec![1, 2, 3]);
        let first = p.append_produce(&record(0), -1, 2, true, TIME).unwrap();
        let ProduceAppend::Appended(_, appended) = first else {
            panic!("first attempt appends")
        };
        let retry = p.append_produce(&record(0), -1, 2, true, TIME).unwrap();
        assert_eq!(
            retry,
            ProduceAppend::Duplicate(Appended {
                leader_epoch: 0,
                ..appended
            })
        );
        assert_eq!(p.log.end_offset(), 1);
    }

    /// The planted bug `idempotence-without-dedup` appends the retry a second time.
    #[test]
    fn without_dedup_a_retry_is_appended_twice() {
        let mut p = leader(vec![1, 2, 3]);
        p.append_produce(&record(0), -1, 2, false, TIME).unwrap();
        p.append_produce(&record(0), -1, 2, false, TIME).unwrap();
        assert_eq!(p.log.end_offset(), 2);
    }

    /// Kafka protocol guide, Produce `acks`, and KIP-1 `min.insync.replicas`: acks=all
    /// with an ISR below the minimum is NOT_ENOUGH_REPLICAS, checked before the sequence.
    #[test]
    fn min_insync_replicas_is_not_enough_replicas_before_any_sequence_check() {
        let mut p = leader(vec![1]);
        assert_eq!(
            p.append_produce(&record(9), -1, 2, true, TIME),
            Err(ResponseError::NotEnoughReplicas)
        );
        assert_eq!(p.log.end_offset(), 0);
    }

    /// KIP-98: a gap is refused at the leader as OUT_OF_ORDER_SEQUENCE_NUMBER, nothing written.
    #[test]
    fn kip_98_a_gap_is_refused_and_nothing_is_written() {
        let mut p = leader(vec![1, 2, 3]);
        p.append_produce(&record(0), 1, 2, true, TIME).unwrap();
        assert_eq!(
            p.append_produce(&record(2), 1, 2, true, TIME),
            Err(ResponseError::OutOfOrderSequenceNumber)
        );
        assert_eq!(p.log.end_offset(), 1);
    }
}
