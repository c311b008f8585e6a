//! A Fetch of several partitions at once with small byte budgets, and KIP-74's size rules.
//!
//! KIP-74 ("Add Fetch Response Size Limit in Bytes", Fetch v3+): the broker processes the
//! partitions in the order of the request; every partition gets at most its
//! `partition_max_bytes` and at most what the response's `max_bytes` leaves after the
//! partitions before it, so the response is no bigger than `max_bytes` — except that the
//! first batch of the first partition with records is returned whole even when it is
//! larger, so a consumer always makes progress. Kafka takes "first" as the first partition
//! that returns records (`ReplicaManager.readFromLocalLog`: "once we read from a non-empty
//! partition, we stop ignoring request and partition level size limits"), which the model
//! follows. A broker may end a partition's records with a partial batch (Kafka protocol
//! guide, "Messages": clients must handle a partial message at the end of a message set):
//! it counts against the budgets and carries no records.
//!
//! The op asks the leader of one partition slot for every case partition it leads (a
//! consumer fetches from each leader the partitions it leads), rotated so that any of them
//! can come first.

use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest};
use proptest::collection::vec;
use proptest::prelude::*;

use faultline_wire::records::decode_records;
use faultline_wire::Transport;

use super::driver::Driver;
use super::log_model::{FetchSeen, SeenRecord};
use super::ops::{FetchAt, Op};
use super::rules::{
    Violation, ANSWERED, FETCH_CONTENTS, FETCH_MAX_BYTES, FETCH_PARTITION_MAX_BYTES,
};
use crate::certify::suite::partition_io::topic_name;

/// Bytes of a record batch header before its length field's count starts: base offset
/// (int64) and batch length (int32) (Kafka protocol guide, "Record Batch").
const BATCH_LENGTH_PREFIX: usize = 12;

/// One partition's records as sizes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PartitionBytes {
    /// The partition id.
    pub partition: i32,
    /// The size in bytes of each whole batch, in order.
    pub batches: Vec<usize>,
    /// The bytes of a partial batch after them (0: none).
    pub partial_bytes: usize,
}

impl PartitionBytes {
    /// The partition's record bytes as sent.
    pub fn total(&self) -> usize {
        self.batches.iter().sum::<usize>() + self.partial_bytes
    }

    /// Exactly one whole batch: what KIP-74's exception lets exceed a budget.
    fn one_whole_batch(&self) -> bool {
        self.batches.len() == 1 && self.partial_bytes == 0
    }
}

/// Splits a partition's records into whole batches (by each header's length) and the
/// partial batch that may end them.
pub fn split(partition: i32, bytes: &[u8]) -> PartitionBytes {
    let mut batches = Vec::new();
    let mut at = 0usize;
    while bytes.len() - at >= BATCH_LENGTH_PREFIX {
        let field: [u8; 4] = bytes[at + 8..at + BATCH_LENGTH_PREFIX]
            .try_into()
            .expect("four bytes");
        let Ok(length) = usize::try_from(i32::from_be_bytes(field)) else {
            break;
        };
        let size = BATCH_LENGTH_PREFIX + length;
        if at + size > bytes.len() {
            break;
        }
        batches.push(size);
        at += size;
    }
    PartitionBytes {
        partition,
        batches,
        partial_bytes: bytes.len() - at,
    }
}

/// KIP-74's budgets over a response's partitions, in the order the response lists them.
pub fn check_limits(
    max_bytes: usize,
    partition_max_bytes: usize,
    answers: &[PartitionBytes],
) -> Result<(), Violation> {
    let first_with_records = answers.iter().position(|a| a.total() > 0);
    for (index, answer) in answers.iter().enumerate() {
        let excepted = Some(index) == first_with_records && answer.one_whole_batch();
        if answer.total() > partition_max_bytes && !excepted {
            return Err(FETCH_PARTITION_MAX_BYTES.violated(format!(
                "partition {} returned {} bytes ({} whole batches of {:?} bytes, {} bytes of a partial one) with partition_max_bytes {partition_max_bytes}; only the first partition with records may exceed it, with one whole batch",
                answer.partition,
                answer.total(),
                answer.batches.len(),
                answer.batches,
                answer.partial_bytes
            )));
        }
    }
    let total: usize = answers.iter().map(PartitionBytes::total).sum();
    let only_first_batch = first_with_records
        .is_some_and(|i| answers[i].one_whole_batch() && answers[i].total() == total);
    if total > max_bytes && !only_first_batch {
        let per_partition: Vec<(i32, usize)> =
            answers.iter().map(|a| (a.partition, a.total())).collect();
        return Err(FETCH_MAX_BYTES.violated(format!(
            "the response carries {total} record bytes with max_bytes {max_bytes} (partition, bytes): {per_partition:?}; only a lone first batch may exceed it"
        )));
    }
    Ok(())
}

/// A generated Fetch of several partitions.
pub fn fetch_partitions() -> impl Strategy<Value = Op> {
    let at = prop_oneof![
        2 => Just(FetchAt::LogStart),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(batch, record)| FetchAt::InsideBatch { batch, record }),
        1 => Just(FetchAt::LogEnd),
    ];
    (0u8..4, 0u8..3, vec(at, 3), 1u16..400, 1u16..300).prop_map(
        |(client, first, starts, max_bytes, partition_max_bytes)| Op::FetchPartitions {
            client,
            first,
            starts,
            max_bytes,
            partition_max_bytes,
        },
    )
}

/// A partition's records as the model reads them (whole batches only; no bytes, no
/// records). Shared with the single-partition Fetch op ([`super::driver`]).
pub(super) fn seen(
    error_code: i16,
    high_watermark: i64,
    whole: Bytes,
) -> Result<FetchSeen, Violation> {
    let records = decode_records(&whole)
        .map_err(|e| FETCH_CONTENTS.violated(format!("the fetched records do not decode: {e}")))?;
    Ok(FetchSeen {
        error_code,
        high_watermark,
        records: records
            .into_iter()
            .map(|r| SeenRecord {
                offset: r.offset,
                value: r.value.map(|v| String::from_utf8_lossy(&v).into_owned()),
            })
            .collect(),
    })
}

impl<T: Transport> Driver<'_, T> {
    /// One Fetch of the case partitions led by the leader of slot `first`.
    pub(super) async fn fetch_partitions(
        &mut self,
        client: u8,
        first: u8,
        starts: &[FetchAt],
        budgets: (u16, u16),
    ) -> Result<(), Violation> {
        let count = self.setup.partitions.len();
        let first = first as usize % count;
        let leader = self.setup.leaders[first].clone();
        let slots: Vec<usize> = (0..count)
            .map(|k| (first + k) % count)
            .filter(|&slot| self.setup.leaders[slot] == leader)
            .collect();
        let offsets: Vec<i64> = slots
            .iter()
            .map(|&slot| {
                let at = starts
                    .get(slot % starts.len().max(1))
                    .copied()
                    .unwrap_or(FetchAt::LogStart);
                self.model.partitions[slot].fetch_offset(at)
            })
            .collect();
        let (max_bytes, partition_max_bytes) = (budgets.0.max(1), budgets.1.max(1));
        let request = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(i32::from(max_bytes))
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic_name(&self.setup.topic))
                .with_partitions(
                    slots
                        .iter()
                        .zip(&offsets)
                        .map(|(&slot, &offset)| {
                            FetchPartition::default()
                                .with_partition(self.setup.partitions[slot])
                                .with_fetch_offset(offset)
                                .with_partition_max_bytes(i32::from(partition_max_bytes))
                        })
                        .collect(),
                )]);
        // Fetch v3+ (the versions the suite speaks start at 4) has KIP-74's max_bytes.
        let response = self.send_fetch(client, &leader, &request).await?;
        let mut answered = Vec::new();
        for data in response.responses.iter().flat_map(|t| t.partitions.iter()) {
            let Some(k) = slots
                .iter()
                .position(|&s| self.setup.partitions[s] == data.partition_index)
            else {
                return Err(ANSWERED.violated(format!(
                    "the Fetch response answers partition {}, which it did not ask for",
                    data.partition_index
                )));
            };
            let bytes = data.records.clone().unwrap_or_default();
            let sizes = split(data.partition_index, &bytes);
            let whole = bytes.slice(..bytes.len() - sizes.partial_bytes);
            answered.push((k, sizes, data.error_code, data.high_watermark, whole));
        }
        for (k, &slot) in slots.iter().enumerate() {
            if !answered.iter().any(|(j, ..)| *j == k) {
                return Err(ANSWERED.violated(format!(
                    "the Fetch response has no answer for partition {}",
                    self.setup.partitions[slot]
                )));
            }
        }
        let sizes: Vec<PartitionBytes> = answered.iter().map(|(_, s, ..)| s.clone()).collect();
        check_limits(
            usize::from(max_bytes),
            usize::from(partition_max_bytes),
            &sizes,
        )?;
        // KIP-74's progress holds for each partition until one returned records.
        let mut progress = true;
        for (k, _, error_code, high_watermark, whole) in answered {
            let seen = seen(error_code, high_watermark, whole)?;
            self.model.partitions[slots[k]].check_fetch_with(offsets[k], &seen, progress)?;
            progress &= seen.records.is_empty();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_wire::records::producer_batch;

    fn batch(records: usize) -> Bytes {
        let values: Vec<Bytes> = (0..records).map(|i| Bytes::from(format!("v{i}"))).collect();
        producer_batch(&values, None, 0)
    }

    fn sizes(partition: i32, batches: &[usize], partial_bytes: usize) -> PartitionBytes {
        PartitionBytes {
            partition,
            batches: batches.to_vec(),
            partial_bytes,
        }
    }

    #[test]
    fn records_split_into_whole_batches_and_a_partial_tail() {
        let (one, two) = (batch(1), batch(3));
        let mut bytes = [one.as_ref(), two.as_ref()].concat();
        assert_eq!(split(0, &bytes), sizes(0, &[one.len(), two.len()], 0));
        bytes.truncate(one.len() + 20);
        assert_eq!(split(0, &bytes), sizes(0, &[one.len()], 20));
        assert_eq!(split(0, &bytes[..5]), sizes(0, &[], 5));
    }

    #[test]
    fn within_both_budgets_passes() {
        let answers = [sizes(0, &[80, 90], 0), sizes(1, &[70], 30)];
        check_limits(300, 200, &answers).unwrap();
        // Nothing anywhere is within every budget.
        check_limits(1, 1, &[sizes(0, &[], 0), sizes(1, &[], 0)]).unwrap();
    }

    #[test]
    fn only_the_first_partition_with_records_may_exceed_with_one_whole_batch() {
        // The first batch of the first non-empty partition, larger than both budgets.
        check_limits(50, 40, &[sizes(0, &[], 0), sizes(1, &[120], 0)]).unwrap();
        // The same oversized batch in the second partition with records.
        let v = check_limits(500, 100, &[sizes(0, &[60], 0), sizes(1, &[120], 0)]).unwrap_err();
        assert_eq!(v.rule, FETCH_PARTITION_MAX_BYTES.id);
        // Two batches past the budget in the first partition.
        let v = check_limits(500, 100, &[sizes(0, &[120, 60], 0)]).unwrap_err();
        assert_eq!(v.rule, FETCH_PARTITION_MAX_BYTES.id);
        // A partial batch after the oversized one.
        let v = check_limits(500, 100, &[sizes(0, &[120], 10)]).unwrap_err();
        assert_eq!(v.rule, FETCH_PARTITION_MAX_BYTES.id);
    }

    #[test]
    fn the_response_stays_within_max_bytes_unless_one_batch_is_all_of_it() {
        // Each partition within its budget, together past max_bytes.
        let v = check_limits(150, 100, &[sizes(0, &[90], 0), sizes(1, &[90], 0)]).unwrap_err();
        assert_eq!(v.rule, FETCH_MAX_BYTES.id);
        // An oversized first batch leaves nothing for the partitions after it.
        let v = check_limits(100, 200, &[sizes(0, &[120], 0), sizes(1, &[30], 0)]).unwrap_err();
        assert_eq!(v.rule, FETCH_MAX_BYTES.id);
        check_limits(100, 200, &[sizes(0, &[120], 0), sizes(1, &[], 0)]).unwrap();
    }
}
