//! ListOffsets and OffsetForLeaderEpoch.
//!
//! ListOffsets (Kafka protocol guide; KIP-79): timestamp -2 is the earliest offset (the log
//! start, which DeleteRecords moves, KIP-107), -1 the latest — for a consumer, the high
//! watermark; -3 the record with the largest timestamp (KIP-734); any timestamp ≥ 0 the
//! first offset whose timestamp is at least it (KIP-79). Only records below the high
//! watermark count (Kafka's `Partition.fetchOffsetForTimestamp` filters the rest for
//! consumers); none found is offset -1, timestamp -1 without an error — unless the leader's
//! high watermark has not yet reached the start of its epoch (KIP-207:
//! OFFSET_NOT_AVAILABLE, for latest too). Under read_committed
//! (`isolation_level` 1, KIP-98) the bound is the last stable offset instead, so latest is
//! the LSO.
//! OffsetForLeaderEpoch (KIP-101, KIP-279): the end offset of the largest epoch ≤ the one
//! asked about.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{
    ListOffsetsRequest, ListOffsetsResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse,
};

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::bugs::PlantedBugs;
use crate::handlers::fetch::{last_stable_offset, READ_COMMITTED};
use crate::partition::Partition;

/// Earliest-offset timestamp sentinel.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Latest-offset timestamp sentinel.
pub const LATEST_TIMESTAMP: i64 = -1;
/// Max-timestamp sentinel (KIP-734, ListOffsets v7).
pub const MAX_TIMESTAMP: i64 = -3;

/// One partition's ListOffsets answer: `(offset, timestamp, leader epoch)`.
/// Under read_committed (`isolation_level` 1, KIP-98) every bound is the last stable
/// offset instead of the high watermark.
pub fn offset_for(
    partition: &Partition,
    timestamp: i64,
    isolation_level: i8,
    bugs: PlantedBugs,
) -> Result<(i64, i64, i32), ResponseError> {
    let high_watermark = if isolation_level == READ_COMMITTED {
        last_stable_offset(partition, bugs)
    } else {
        partition.high_watermark
    };
    let epoch_of = |offset: i64| {
        partition
            .log
            .batch_containing(offset)
            .map_or(partition.leader_epoch(), |b| b.leader_epoch)
    };
    // KIP-207: a new leader's high watermark may still lag behind offsets its predecessor
    // already committed (and acknowledged) until it reaches the start of its own epoch;
    // until then latest is OFFSET_NOT_AVAILABLE rather than a smaller offset, and so is a
    // search that found nothing below it (Kafka's `Partition.fetchOffsetForTimestamp`).
    let lagging = {
        let (previous, epoch_start) = partition
            .log
            .end_offset_for_epoch(partition.leader_epoch() - 1);
        previous >= 0 && epoch_start > partition.high_watermark
    };
    let found = |answer: Option<(i64, i64)>| match answer {
        Some((offset, timestamp)) => Ok((offset, timestamp, epoch_of(offset))),
        None if lagging => Err(ResponseError::OffsetNotAvailable),
        None => Ok((-1, -1, -1)),
    };
    match timestamp {
        EARLIEST_TIMESTAMP => {
            let start = partition.log.log_start_offset();
            Ok((start, -1, epoch_of(start)))
        }
        LATEST_TIMESTAMP if lagging => Err(ResponseError::OffsetNotAvailable),
        LATEST_TIMESTAMP => Ok((high_watermark, -1, partition.leader_epoch())),
        MAX_TIMESTAMP => found(partition.log.max_timestamp(high_watermark)),
        target if target >= 0 => found(partition.log.offset_for_timestamp(target, high_watermark)),
        _ => Err(ResponseError::InvalidRequest),
    }
}

/// Answers ListOffsets from the leader.
pub fn list_offsets(broker: &Broker, request: &ListOffsetsRequest) -> ListOffsetsResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let key = (topic.name.0.to_string(), wanted.partition_index);
                    let response = ListOffsetsPartitionResponse::default()
                        .with_partition_index(wanted.partition_index);
                    let answer = broker
                        .partitions
                        .get(&key)
                        .ok_or(ResponseError::NotLeaderOrFollower)
                        .and_then(|p| {
                            p.check_epoch(wanted.current_leader_epoch)?;
                            if !p.is_leader() {
                                return Err(ResponseError::NotLeaderOrFollower);
                            }
                            offset_for(
                                p,
                                wanted.timestamp,
                                request.isolation_level,
                                broker.config.bugs,
                            )
                        });
                    match answer {
                        Ok((offset, timestamp, epoch)) => response
                            .with_offset(offset)
                            .with_timestamp(timestamp)
                            .with_leader_epoch(epoch),
                        Err(error) => response.with_error_code(error.code()).with_offset(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsResponse::default().with_topics(topics)
}

/// Answers OffsetForLeaderEpoch from the leader.
pub fn offset_for_leader_epoch(
    broker: &Broker,
    request: &OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let key = (topic.topic.0.to_string(), wanted.partition);
                    let answer = broker
                        .partitions
                        .get(&key)
                        .ok_or(ResponseError::NotLeaderOrFollower)
                        .and_then(|p| {
                            p.check_epoch(wanted.current_leader_epoch)?;
                            if !p.is_leader() {
                                return Err(ResponseError::NotLeaderOrFollower);
                            }
                            Ok(p.log.end_offset_for_epoch(wanted.leader_epoch))
                        });
                    let response = EpochEndOffset::default().with_partition(wanted.partition);
                    match answer {
                        Ok((epoch, end)) => response.with_leader_epoch(epoch).with_end_offset(end),
                        Err(error) => response
                            .with_error_code(error.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
