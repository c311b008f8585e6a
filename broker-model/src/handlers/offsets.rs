//! ListOffsets and OffsetForLeaderEpoch.
//!
//! ListOffsets (Kafka protocol guide; KIP-79): timestamp -2 is the earliest offset, -1 the
//! latest — for a consumer, the high watermark. OffsetForLeaderEpoch (KIP-101, KIP-279):
//! the end offset of the largest epoch ≤ the one asked about.

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

/// Earliest-offset timestamp sentinel.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// Latest-offset timestamp sentinel.
pub const LATEST_TIMESTAMP: i64 = -1;

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
                            match wanted.timestamp {
                                EARLIEST_TIMESTAMP => Ok((0, p.leader_epoch())),
                                LATEST_TIMESTAMP => Ok((p.high_watermark, p.leader_epoch())),
                                _ => Err(ResponseError::InvalidRequest),
                            }
                        });
                    match answer {
                        Ok((offset, epoch)) => response
                            .with_offset(offset)
                            .with_timestamp(-1)
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
