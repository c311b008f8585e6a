//! DeleteRecords (KIP-107): the leader moves a partition's log start offset forward, so
//! that consumers can no longer read below it (Fetch below it is OFFSET_OUT_OF_RANGE,
//! ListOffsets earliest returns it) and followers take it over from their fetches.
//!
//! Kafka protocol guide, DeleteRecords: `offset` -1 means the high watermark; past the
//! high watermark is OFFSET_OUT_OF_RANGE. The answer's `low_watermark` is the new log
//! start. Kafka's `DelayedDeleteRecords` waits until every replica's log start has moved;
//! this broker answers once the leader's has and checkpointed it, and followers catch up
//! on their next fetch (the low watermark it reports is the leader's).

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::storage::TopicPartition;

/// Answers DeleteRecords for every requested partition.
pub fn handle(broker: &mut Broker, request: &DeleteRecordsRequest) -> DeleteRecordsResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|wanted| {
                    let key: TopicPartition = (topic.name.0.to_string(), wanted.partition_index);
                    let result = DeleteRecordsPartitionResult::default()
                        .with_partition_index(wanted.partition_index);
                    match delete_one(broker, &key, wanted.offset) {
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
