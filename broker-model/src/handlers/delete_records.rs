//! DeleteRecords (KIP-107): the leader moves a partition's log start offset forward, so
//! that consumers can no longer read below it (Fetch below it is OFFSET_OUT_OF_RANGE,
//! ListOffsets earliest returns it) and followers take it over from their fetches.
//!
//! Kafka protocol guide, DeleteRecords: `offset` -1 means the high watermark; past the
//! high watermark is OFFSET_OUT_OF_RANGE. The answer's `low_watermark` is the new log
//! start. As Kafka's `DelayedDeleteRecords` does, the answer waits until the replicas have
//! moved their log start too, so that a follower elected after the answer never serves
//! the deleted records again; past the request's `timeout_ms` it is REQUEST_TIMED_OUT.
//! The low watermark is Kafka's `Partition.lowWatermarkIfLeader`: the smallest log start
//! over the leader and every replica on a live (unfenced) broker, each follower's as its
//! last Fetch request said (`log_start_offset`, Fetch v5+), -1 before its first.
//!
//! Found by the admin checker (`log-start-regression`), twice: an acknowledged deletion
//! whose leader was isolated before its followers fetched came back after the failover;
//! and (docs/findings, seed 566 of admin-and-seek-under-failover) the leader used to
//! infer a follower's log start from the order of its fetches ("fetched past the new log
//! start, then fetched again"), which a follower that dropped an answer on a leader-epoch
//! change had never taken.

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::partition::Role;
use crate::storage::TopicPartition;

/// One partition's deletion, acknowledged by the leader, waiting for its followers.
#[derive(Debug, Clone)]
pub struct PendingDelete {
    key: TopicPartition,
    /// The new log start, or why the deletion was refused.
    result: Result<i64, ResponseError>,
    /// Every live replica has taken the new log start.
    done: bool,
}

/// Deletes on the leader for every requested partition; the answer waits in [`poll`].
pub fn begin(broker: &mut Broker, request: &DeleteRecordsRequest) -> Vec<Vec<PendingDelete>> {
    request
        .topics
        .iter()
        .map(|topic| {
            topic
                .partitions
                .iter()
                .map(|wanted| {
                    let key: TopicPartition = (topic.name.0.to_string(), wanted.partition_index);
                    let result = delete_one(broker, &key, wanted.offset);
                    PendingDelete {
                        done: result.is_err(),
                        key,
                        result,
                    }
                })
                .collect()
        })
        .collect()
}

/// Moves every pending deletion on; true once all are done (their followers took the new
/// log start, or the leader lost its leadership: NOT_LEADER_OR_FOLLOWER, as Kafka's
/// `DelayedDeleteRecords.tryComplete`).
pub fn poll(broker: &Broker, pending: &mut [Vec<PendingDelete>]) -> bool {
    for one in pending.iter_mut().flatten().filter(|p| !p.done) {
        let Ok(low_watermark) = one.result else {
            continue;
        };
        let Some(partition) = broker.partitions.get(&one.key) else {
            one.result = Err(ResponseError::NotLeaderOrFollower);
            one.done = true;
            continue;
        };
        let Role::Leader(state) = &partition.role else {
            one.result = Err(ResponseError::NotLeaderOrFollower);
            one.done = true;
            continue;
        };
        if broker.config.bugs.delete_records_not_replicated {
            one.done = true;
            continue;
        }
        let live_low_watermark = state
            .followers
            .iter()
            .filter(|(id, _)| !broker.image.fenced.contains(id))
            .map(|(_, progress)| progress.log_start_offset)
            .fold(partition.log.log_start_offset(), i64::min);
        one.done = live_low_watermark >= low_watermark;
    }
    pending.iter().flatten().all(|p| p.done)
}

/// Deletions still waiting for their followers when the request's time ran out.
pub fn expire(pending: &mut [Vec<PendingDelete>]) {
    for one in pending.iter_mut().flatten().filter(|p| !p.done) {
        one.result = Err(ResponseError::RequestTimedOut);
        one.done = true;
    }
}

/// The answer to a request begun with [`begin`].
pub fn response(
    request: &DeleteRecordsRequest,
    pending: &[Vec<PendingDelete>],
) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .iter()
        .zip(pending)
        .map(|(topic, results)| {
            let partitions = topic
                .partitions
                .iter()
                .zip(results)
                .map(|(wanted, one)| {
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(wanted.partition_index);
                    match one.result {
                        Ok(low_watermark) => result.with_low_watermark(low_watermark),
                        Err(error) => result.with_low_watermark(-1).with_error_code(error.code()),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    DeleteRecordsResponse::default().with_topics(topics)
}

/// Answers DeleteRecords for every requested partition at once, without waiting for the
/// followers (the sans-IO unit tests' entry; the node waits, [`begin`] and [`poll`]).
#[cfg(test)]
pub fn handle(broker: &mut Broker, request: &DeleteRecordsRequest) -> DeleteRecordsResponse {
    let pending = begin(broker, request);
    response(request, &pending)
}

fn delete_one(
    broker: &mut Broker,
    key: &TopicPartition,
    offset: i64,
) -> Result<i64, ResponseError> {
    let Some(partition) = broker.partitions.get_mut(key) else {
        return Err(if broker.image.partitions.contains_key(key) {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        });
    };
    let before = partition.log.log_start_offset();
    let low_watermark = partition.delete_records(offset)?;
    if low_watermark > before {
        broker.persist_log_start(key, low_watermark);
        broker.storage.sync();
    }
    Ok(low_watermark)
}
