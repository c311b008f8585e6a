//! Produce: leader appends, then, for acks=all, waiting until the ISR has the records.
//!
//! Kafka protocol guide, Produce `acks`: 0 = no response needed, 1 = the leader's append,
//! -1 (all) = every in-sync replica has the records, i.e. the high watermark passed them.
//! `min.insync.replicas` is checked before the append (NOT_ENOUGH_REPLICAS).
//! Each partition's batch is validated (decompressed) and stored as the producer wrote it
//! ([`crate::append`]).

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use faultline_wire::ResponseError;

use crate::append::ProducedBatch;
use crate::broker::Broker;
use crate::idempotence::{AppendTime, ProduceAppend};
use crate::partition::Appended;
use crate::producer_state::ProducerStateTable;
use crate::storage::TopicPartition;

/// Where one partition of a produce request stands.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Answered: appended (and committed, as acks asked) or refused.
    Done(Result<Appended, ResponseError>),
    /// Appended; acks=all waits for the high watermark.
    AwaitingIsr(Appended),
}

/// One partition of a produce request.
#[derive(Debug, Clone)]
pub struct PartitionProduce {
    /// The partition.
    pub partition: TopicPartition,
    /// Its outcome so far.
    pub outcome: Outcome,
}

/// Appends every partition's records; returns what still waits for replication.
/// `now_ms` is the leader's clock, for LogAppendTime topics.
pub fn begin(broker: &mut Broker, request: &ProduceRequest, now_ms: u64) -> Vec<PartitionProduce> {
    let mut results = Vec::new();
    for topic in &request.topic_data {
        for data in &topic.partition_data {
            let key: TopicPartition = (topic.name.0.to_string(), data.index);
            let outcome = append_one(broker, &key, data.records.as_ref(), request.acks, now_ms);
            results.push(PartitionProduce {
                partition: key,
                outcome,
            });
        }
    }
    results
}

fn append_one(
    broker: &mut Broker,
    key: &TopicPartition,
    records: Option<&bytes::Bytes>,
    acks: i16,
    now_ms: u64,
) -> Outcome {
    if !matches!(acks, -1..=1) {
        return Outcome::Done(Err(ResponseError::InvalidRequiredAcks));
    }
    let mut batch = match records.map(ProducedBatch::parse) {
        Some(Ok(batch)) => batch,
        Some(Err(error)) => return Outcome::Done(Err(error)),
        None => return Outcome::Done(Err(ResponseError::InvalidRecord)),
    };
    // Planted bug `headers_dropped`: re-batch from the decoded records, which carry no
    // headers, instead of keeping the producer's bytes.
    if broker.config.bugs.headers_dropped {
        batch = ProducedBatch::from_entries(&batch.records);
    }
    let topic_config = broker.topic_config(&key.0);
    let time = AppendTime {
        timestamp_type: topic_config.message_timestamp_type,
        now_ms: broker.config.clock_epoch_ms + now_ms as i64,
    };
    let min_insync_replicas = topic_config
        .min_insync_replicas
        .unwrap_or(broker.config.min_insync_replicas);
    let ack_early = broker.config.bugs.ack_before_replication;
    let dedup = !broker.config.bugs.idempotence_without_dedup;
    let zombie_accepted = broker.config.bugs.fenced_produce_accepted;
    let Some(partition) = broker.partitions.get_mut(key) else {
        let known = broker.image.partitions.contains_key(key);
        return Outcome::Done(Err(if known {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        }));
    };
    let previous_high_watermark = partition.high_watermark;
    // Planted bug `fenced-produce-accepted`: a transactional batch of an epoch a marker
    // already fenced skips the producer-state check (KIP-890's hanging transaction).
    let fenced = batch.batch.header.transactional()
        && batch.producer().is_some_and(|(id, epoch, _)| {
            partition
                .producers
                .producer(id)
                .is_some_and(|p| p.producer_epoch > epoch)
        });
    let dedup = dedup && !(fenced && zombie_accepted);
    let appended = match partition.append_produce(&batch, acks, min_insync_replicas, dedup, time) {
        Err(error) => return Outcome::Done(Err(error)),
        // A duplicate waits for the same high watermark its original does (KIP-98).
        Ok(ProduceAppend::Duplicate(appended)) => appended,
        Ok(ProduceAppend::Appended(written, appended)) => {
            if broker.persist_append(key, &[written]).is_err() {
                // Kafka fails the append with KAFKA_STORAGE_ERROR and acknowledges nothing
                // (`ReplicaManager.appendToLocalLog` on a `KafkaStorageException`).
                if let Some(partition) = broker.partitions.get_mut(key) {
                    partition.undo_leader_append(&appended, previous_high_watermark);
                    // The undone batch must not be remembered as written (KIP-98).
                    partition.producers = ProducerStateTable::rebuild_from_log(&partition.log);
                }
                return Outcome::Done(Err(ResponseError::KafkaStorageError));
            }
            appended
        }
    };
    // Planted bug `ack_before_replication`: answer acks=all as if acks=1.
    if acks == -1 && !ack_early {
        Outcome::AwaitingIsr(appended)
    } else {
        Outcome::Done(Ok(appended))
    }
}

/// Re-examines waiting partitions: committed once the high watermark passes the last
/// record; NOT_LEADER_OR_FOLLOWER once leadership moved (Kafka's `DelayedProduce`; the
/// records may still survive, which is why clients treat it as indeterminate).
pub fn poll_waiting(broker: &Broker, pending: &mut [PartitionProduce]) -> bool {
    let mut all_done = true;
    for item in pending.iter_mut() {
        let Outcome::AwaitingIsr(appended) = item.outcome else {
            continue;
        };
        let partition = broker.partitions.get(&item.partition);
        match partition {
            Some(p) if p.is_leader() && p.leader_epoch() == appended.leader_epoch => {
                if p.high_watermark > appended.last_offset {
                    let mut answered = appended;
                    // Planted bug `racy_produce_offset`: read the offset back from the log
                    // end now, after other producers may have appended.
                    if broker.config.bugs.racy_produce_offset {
                        let count = appended.last_offset - appended.base_offset + 1;
                        answered.base_offset = p.log.end_offset() - count;
                        answered.last_offset = p.log.end_offset() - 1;
                    }
                    item.outcome = Outcome::Done(Ok(answered));
                } else {
                    all_done = false;
                }
            }
            _ => item.outcome = Outcome::Done(Err(ResponseError::NotLeaderOrFollower)),
        }
    }
    all_done
}

/// Ends every still-waiting partition with REQUEST_TIMED_OUT (the records stay appended:
/// the write is indeterminate).
pub fn expire(pending: &mut [PartitionProduce]) {
    for item in pending.iter_mut() {
        if matches!(item.outcome, Outcome::AwaitingIsr(_)) {
            item.outcome = Outcome::Done(Err(ResponseError::RequestTimedOut));
        }
    }
}

/// Builds the response.
pub fn response(results: &[PartitionProduce]) -> ProduceResponse {
    let mut topics: Vec<TopicProduceResponse> = Vec::new();
    for item in results {
        let (topic, index) = &item.partition;
        let partition = match &item.outcome {
            Outcome::Done(Ok(appended)) => PartitionProduceResponse::default()
                .with_index(*index)
                .with_base_offset(appended.base_offset),
            Outcome::Done(Err(error)) => PartitionProduceResponse::default()
                .with_index(*index)
                .with_error_code(error.code())
                .with_base_offset(-1),
            Outcome::AwaitingIsr(_) => PartitionProduceResponse::default()
                .with_index(*index)
                .with_error_code(ResponseError::RequestTimedOut.code())
                .with_base_offset(-1),
        };
        match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.partition_responses.push(partition),
            None => topics.push(
                TopicProduceResponse::default()
                    .with_name(kafka_protocol::messages::TopicName(topic.clone().into()))
                    .with_partition_responses(vec![partition]),
            ),
        }
    }
    ProduceResponse::default().with_responses(topics)
}
