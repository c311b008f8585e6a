//! The admin calls of [`KafkaClient`]: DeleteRecords (KIP-107) and ListOffsets at any
//! timestamp and isolation (Kafka protocol guide, ListOffsets; KIP-79, KIP-734 for
//! MAX_TIMESTAMP, which needs v7). Like every call here, each is one attempt; the workload
//! decides what an error means for the history.

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, DeleteRecordsRequest, ListOffsetsRequest, TopicName};

use faultline_wire::{ResponseError, Transport};

use super::{known_epoch, KafkaClient};

/// DeleteRecords v1 (v0 with throttle time; the same fields).
pub const DELETE_RECORDS_VERSION: i16 = 1;
/// ListOffsets v7, the first that knows MAX_TIMESTAMP (KIP-734).
pub const LIST_OFFSETS_ADMIN_VERSION: i16 = 7;

/// Why an admin call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// The broker answered with an error code.
    #[error("{0}")]
    Broker(ResponseError),
    /// No answer: the request may or may not have taken effect.
    #[error("{0}")]
    NoAnswer(String),
}

impl<T: Transport> KafkaClient<T> {
    /// DeleteRecords of one partition below `offset`: the new log start (`low_watermark`)
    /// and the leader epoch of the leader asked, from the client's metadata.
    pub async fn delete_records(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(i64, Option<i32>), AdminError> {
        let (address, epoch) = self
            .leader(topic, partition)
            .await
            .map_err(AdminError::NoAnswer)?;
        let request = DeleteRecordsRequest::default()
            .with_timeout_ms(self.request_timeout.as_millis() as i32)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(TopicName(topic.to_string().into()))
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(partition)
                    .with_offset(offset)])]);
        let response = self
            .ask_leader(topic, partition, &address, &request, DELETE_RECORDS_VERSION)
            .await?;
        let answer = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| AdminError::NoAnswer("empty delete-records response".into()))?;
        self.refused(topic, partition, answer.error_code)?;
        Ok((answer.low_watermark, known_epoch(epoch)))
    }

    /// ListOffsets of one partition at `timestamp` (-2 earliest, -1 latest, -3 max
    /// timestamp, or a timestamp ≥ 0) and `isolation_level`: `(offset, timestamp)`, and the
    /// `current_leader_epoch` the request carried (the leader that answered was at it).
    pub async fn list_offsets_at(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        isolation_level: i8,
    ) -> Result<((i64, i64), Option<i32>), AdminError> {
        let (address, epoch) = self
            .leader(topic, partition)
            .await
            .map_err(AdminError::NoAnswer)?;
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation_level)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(topic.to_string().into()))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(epoch)
                    .with_timestamp(timestamp)])]);
        let response = self
            .ask_leader(
                topic,
                partition,
                &address,
                &request,
                LIST_OFFSETS_ADMIN_VERSION,
            )
            .await?;
        let answer = response
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .ok_or_else(|| AdminError::NoAnswer("empty list-offsets response".into()))?;
        self.refused(topic, partition, answer.error_code)?;
        Ok(((answer.offset, answer.timestamp), known_epoch(epoch)))
    }

    /// Sends `request` to the partition's leader at `address`; no answer forgets the
    /// leader (the next call looks it up again) and may or may not have taken effect.
    async fn ask_leader<R: kafka_protocol::protocol::Request>(
        &mut self,
        topic: &str,
        partition: i32,
        address: &str,
        request: &R,
        version: i16,
    ) -> Result<R::Response, AdminError> {
        let timeout = self.request_timeout;
        let answer = self.send_to(address, request, version, timeout).await;
        answer.map_err(|e| {
            self.forget_leader(topic, partition);
            AdminError::NoAnswer(e.to_string())
        })
    }

    /// An answer's error code: none is success; any error forgets the leader, as a
    /// moved leadership is the common cause.
    fn refused(&mut self, topic: &str, partition: i32, code: i16) -> Result<(), AdminError> {
        match ResponseError::try_from_code(code) {
            None => Ok(()),
            Some(error) => {
                self.forget_leader(topic, partition);
                Err(AdminError::Broker(error))
            }
        }
    }
}
