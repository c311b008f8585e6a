//! Idempotent producers as KIP-98 defines them: a producer id and epoch from
//! InitProducerId, a sequence number per partition that each batch continues, and the
//! broker's memory of each producer's last five batches per partition, against which a
//! resend is recognised and acknowledged at its first offsets instead of written again.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use faultline_wire::ResponseError;

use super::ops::SequenceChoice;
use super::rules::{Violation, DEDUP, PRODUCER_ID, SEQUENCE};

/// Batches per producer and partition the broker must recognise as duplicates (KIP-98;
/// Kafka's `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
pub const BATCHES_REMEMBERED: usize = 5;

/// A batch an idempotent producer wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentBatch {
    /// Its first sequence.
    pub first_sequence: i32,
    /// Its values.
    pub values: Vec<String>,
    /// Its timestamp.
    pub timestamp_ms: i64,
    /// The offset it was acknowledged at.
    pub base_offset: i64,
}

/// One producer slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerModel {
    /// `(producer id, epoch)`, once InitProducerId answered.
    pub identity: Option<(i64, i16)>,
    /// The epoch before the last bump of the same id (for stale-epoch sends).
    pub previous_epoch: Option<i16>,
    /// Per partition slot: the next sequence and the last batches, oldest first.
    pub partitions: BTreeMap<u8, (i32, VecDeque<SentBatch>)>,
    /// A send of this producer ended indeterminately: its sequences are unknown.
    pub uncertain: bool,
}

/// What an idempotent send resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// A new batch: `(producer id, epoch, first sequence)`; the model expects it appended
    /// unless `refused` names the errors it must answer instead.
    New {
        /// Producer id, epoch and first sequence on the wire.
        wire: (i64, i16, i32),
        /// Errors it must answer (empty: it must be appended).
        refused: Vec<ResponseError>,
        /// It may be appended instead of refused.
        may_append: bool,
    },
    /// A resend of a remembered batch.
    Duplicate {
        /// Producer id, epoch and first sequence on the wire.
        wire: (i64, i16, i32),
        /// The batch resent.
        batch: SentBatch,
    },
}

impl ProducerModel {
    /// What `choice` means for this producer on `partition` now; `None` when the producer
    /// has no id yet (the op sends nothing).
    pub fn resolve(&self, partition: u8, choice: SequenceChoice) -> Option<Resolved> {
        let (id, epoch) = self.identity?;
        let (next, recent) = self
            .partitions
            .get(&partition)
            .cloned()
            .unwrap_or((0, VecDeque::new()));
        let new = |sequence: i32, refused: Vec<ResponseError>| Resolved::New {
            wire: (id, epoch, sequence),
            may_append: refused.is_empty(),
            refused,
        };
        Some(match choice {
            SequenceChoice::Next => new(next, Vec::new()),
            SequenceChoice::Duplicate(_) if recent.is_empty() => new(next, Vec::new()),
            SequenceChoice::Duplicate(back) => {
                let index = recent.len() - 1 - (back as usize % recent.len());
                let batch = recent[index].clone();
                Resolved::Duplicate {
                    wire: (id, epoch, batch.first_sequence),
                    batch,
                }
            }
            SequenceChoice::Gap(gap) if recent.is_empty() => Resolved::New {
                // A producer the partition has no state for: since KIP-360 the broker
                // accepts its first sequence as it comes (older brokers answered
                // UNKNOWN_PRODUCER_ID; a strict one OUT_OF_ORDER_SEQUENCE_NUMBER).
                wire: (id, epoch, next + i32::from(gap.max(1))),
                refused: vec![
                    ResponseError::OutOfOrderSequenceNumber,
                    ResponseError::UnknownProducerId,
                ],
                may_append: true,
            },
            SequenceChoice::Gap(gap) => new(
                next + i32::from(gap.max(1)),
                vec![ResponseError::OutOfOrderSequenceNumber],
            ),
            // A partition learns of an epoch bump only from a batch of the new epoch
            // (KIP-360: the bump happens at InitProducerId), so a stale epoch is only
            // fenced where the producer already wrote under the new one.
            SequenceChoice::StaleEpoch => {
                match self.previous_epoch.filter(|_| !recent.is_empty()) {
                    Some(old) => Resolved::New {
                        wire: (id, old, next),
                        may_append: false,
                        refused: vec![
                            ResponseError::InvalidProducerEpoch,
                            ResponseError::ProducerFenced,
                        ],
                    },
                    None => new(next, Vec::new()),
                }
            }
        })
    }

    /// Records a batch appended at `base_offset` with `first_sequence`.
    pub fn appended(
        &mut self,
        partition: u8,
        first_sequence: i32,
        values: Vec<String>,
        timestamp_ms: i64,
        base_offset: i64,
    ) {
        let entry = self
            .partitions
            .entry(partition)
            .or_insert((0, VecDeque::new()));
        entry.0 = first_sequence + values.len() as i32;
        entry.1.push_back(SentBatch {
            first_sequence,
            values,
            timestamp_ms,
            base_offset,
        });
        while entry.1.len() > BATCHES_REMEMBERED {
            entry.1.pop_front();
        }
    }

    /// Checks a duplicate's answer: its original offset, or DUPLICATE_SEQUENCE_NUMBER.
    pub fn check_duplicate(
        batch: &SentBatch,
        error_code: i16,
        base_offset: i64,
    ) -> Result<(), Violation> {
        match ResponseError::try_from_code(error_code) {
            None if base_offset == batch.base_offset => Ok(()),
            None => Err(DEDUP.violated(format!(
                "a resend of the batch with sequences {}..={} (first acknowledged at offset {}) was acknowledged at offset {base_offset}: written twice",
                batch.first_sequence,
                batch.first_sequence + batch.values.len() as i32 - 1,
                batch.base_offset
            ))),
            Some(ResponseError::DuplicateSequenceNumber) => Ok(()),
            Some(error) if error.is_retriable() => Ok(()),
            Some(error) => Err(DEDUP.violated(format!(
                "a resend of the batch acknowledged at offset {} answered {error:?}",
                batch.base_offset
            ))),
        }
    }

    /// Checks a refused send's answer.
    pub fn check_refused(
        refused: &[ResponseError],
        wire: (i64, i16, i32),
        error_code: i16,
    ) -> Result<(), Violation> {
        match ResponseError::try_from_code(error_code) {
            Some(error) if refused.contains(&error) || error.is_retriable() => Ok(()),
            other => Err(SEQUENCE.violated(format!(
                "a batch of producer {} epoch {} with first sequence {} answered {}, expected one of {refused:?}",
                wire.0,
                wire.1,
                wire.2,
                other.map_or("NONE (written)".to_string(), |e| format!("{e:?}"))
            ))),
        }
    }

    /// Checks and applies an InitProducerId answer; `seen` holds every id the case got.
    pub fn check_init(
        &mut self,
        bump: bool,
        answer: (i64, i16),
        seen: &mut BTreeSet<i64>,
    ) -> Result<(), Violation> {
        let (id, epoch) = answer;
        if id < 0 || epoch < 0 {
            return Err(PRODUCER_ID.violated(format!(
                "InitProducerId answered NONE with producer id {id} epoch {epoch}"
            )));
        }
        match self.identity {
            Some((old_id, old_epoch)) if bump && id == old_id => {
                if epoch <= old_epoch {
                    return Err(PRODUCER_ID.violated(format!(
                        "an epoch bump of producer {id} answered epoch {epoch}, not above {old_epoch}"
                    )));
                }
                self.previous_epoch = Some(old_epoch);
            }
            _ if seen.contains(&id) => {
                return Err(PRODUCER_ID.violated(format!(
                    "InitProducerId handed out producer id {id}, which another producer of the case already had"
                )));
            }
            _ => self.previous_epoch = None,
        }
        seen.insert(id);
        self.identity = Some((id, epoch));
        // A new epoch starts its sequences at 0 (KIP-98, KIP-360).
        self.partitions.clear();
        self.uncertain = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn producer() -> ProducerModel {
        let mut p = ProducerModel::default();
        p.check_init(false, (7, 0), &mut BTreeSet::new()).unwrap();
        p.appended(0, 0, vec!["a".into(), "b".into()], 1, 40);
        p
    }

    #[test]
    fn a_resend_must_come_back_at_its_first_offset() {
        let p = producer();
        let Some(Resolved::Duplicate { batch, wire }) = p.resolve(0, SequenceChoice::Duplicate(0))
        else {
            panic!("a duplicate resolves to the remembered batch");
        };
        assert_eq!(wire, (7, 0, 0));
        ProducerModel::check_duplicate(&batch, 0, 40).unwrap();
        ProducerModel::check_duplicate(&batch, ResponseError::DuplicateSequenceNumber.code(), -1)
            .unwrap();
        let v = ProducerModel::check_duplicate(&batch, 0, 42).unwrap_err();
        assert_eq!(v.rule, DEDUP.id);
    }

    #[test]
    fn a_gap_is_refused_once_the_partition_knows_the_producer() {
        let p = producer();
        let Some(Resolved::New {
            refused,
            wire,
            may_append,
        }) = p.resolve(0, SequenceChoice::Gap(2))
        else {
            panic!("a gap is a new batch");
        };
        assert!(!may_append);
        assert_eq!(wire.2, 4);
        ProducerModel::check_refused(
            &refused,
            wire,
            ResponseError::OutOfOrderSequenceNumber.code(),
        )
        .unwrap();
        let v = ProducerModel::check_refused(&refused, wire, 0).unwrap_err();
        assert_eq!(v.rule, SEQUENCE.id);
        // On a partition without state, KIP-360 lets the first sequence in.
        let Some(Resolved::New { may_append, .. }) = p.resolve(1, SequenceChoice::Gap(2)) else {
            panic!("a gap is a new batch");
        };
        assert!(may_append);
    }

    #[test]
    fn producer_ids_are_fresh_and_bumps_raise_the_epoch() {
        let mut seen = BTreeSet::new();
        let mut a = ProducerModel::default();
        a.check_init(false, (7, 0), &mut seen).unwrap();
        let mut b = ProducerModel::default();
        let v = b.check_init(false, (7, 0), &mut seen).unwrap_err();
        assert_eq!(v.rule, PRODUCER_ID.id);
        a.check_init(true, (7, 1), &mut seen).unwrap();
        assert_eq!(a.previous_epoch, Some(0));
        let v = a.check_init(true, (7, 1), &mut seen).unwrap_err();
        assert_eq!(v.rule, PRODUCER_ID.id);
    }
}
