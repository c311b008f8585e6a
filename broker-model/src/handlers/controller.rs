//! The controller's APIs: BrokerRegistration, BrokerHeartbeat (KIP-631), AlterPartition
//! (KIP-497), and Fetch of the metadata log (KIP-500: brokers replicate it like a topic).

use kafka_protocol::messages::alter_partition_response::{PartitionData, TopicData};
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, BrokerHeartbeatRequest, BrokerHeartbeatResponse,
    BrokerId, BrokerRegistrationRequest, BrokerRegistrationResponse, FetchRequest, FetchResponse,
};

use crate::broker::encode_entries;
use crate::controller::Controller;
use crate::handlers::fetch::{self, PartitionFetch};
use crate::log::ReadBatches;
use crate::metadata::METADATA_TOPIC;

/// Metadata records per fetch.
const MAX_METADATA_RECORDS: usize = 1_000;

/// BrokerRegistration: the incarnation id's low 64 bits identify the process.
pub fn register(
    controller: &mut Controller,
    request: &BrokerRegistrationRequest,
    now_ms: u64,
) -> BrokerRegistrationResponse {
    let incarnation = request.incarnation_id.as_u64_pair().1;
    match controller.register(request.broker_id.0, incarnation, now_ms) {
        Ok(epoch) => BrokerRegistrationResponse::default().with_broker_epoch(epoch),
        Err(error) => BrokerRegistrationResponse::default()
            .with_error_code(error.code())
            .with_broker_epoch(-1),
    }
}

/// BrokerHeartbeat.
pub fn heartbeat(
    controller: &mut Controller,
    request: &BrokerHeartbeatRequest,
    now_ms: u64,
) -> BrokerHeartbeatResponse {
    match controller.heartbeat(request.broker_id.0, request.broker_epoch, now_ms) {
        Ok(fenced) => BrokerHeartbeatResponse::default()
            .with_is_caught_up(true)
            .with_is_fenced(fenced),
        Err(error) => BrokerHeartbeatResponse::default()
            .with_error_code(error.code())
            .with_is_fenced(true),
    }
}

/// AlterPartition: topics are named by id (v2+), which we derive from the name.
pub fn alter_partition(
    controller: &mut Controller,
    request: &AlterPartitionRequest,
) -> AlterPartitionResponse {
    let mut out = Vec::new();
    for topic in &request.topics {
        let name = controller
            .topic_named_by_id(topic.topic_id)
            .map(str::to_string);
        let mut partitions = Vec::new();
        for wanted in &topic.partitions {
            let new_isr: Vec<i32> = if wanted.new_isr_with_epochs.is_empty() {
                wanted.new_isr.iter().map(|id| id.0).collect()
            } else {
                wanted
                    .new_isr_with_epochs
                    .iter()
                    .map(|b| b.broker_id.0)
                    .collect()
            };
            let result = match name {
                None => Err(faultline_wire::ResponseError::UnknownTopicId),
                Some(ref name) => controller.alter_partition(
                    request.broker_id.0,
                    request.broker_epoch,
                    &(name.clone(), wanted.partition_index),
                    wanted.leader_epoch,
                    wanted.partition_epoch,
                    new_isr,
                ),
            };
            partitions.push(match result {
                Ok(registration) => PartitionData::default()
                    .with_partition_index(wanted.partition_index)
                    .with_leader_id(BrokerId(registration.leader))
                    .with_leader_epoch(registration.leader_epoch)
                    .with_isr(registration.isr.iter().map(|&id| BrokerId(id)).collect())
                    .with_partition_epoch(registration.partition_epoch),
                Err(error) => PartitionData::default()
                    .with_partition_index(wanted.partition_index)
                    .with_error_code(error.code()),
            });
        }
        out.push(
            TopicData::default()
                .with_topic_id(topic.topic_id)
                .with_partitions(partitions),
        );
    }
    AlterPartitionResponse::default().with_topics(out)
}

/// Fetch of `__cluster_metadata` partition 0.
pub fn fetch_metadata(controller: &Controller, request: &FetchRequest) -> FetchResponse {
    let mut results = Vec::new();
    for topic in &request.topics {
        for wanted in &topic.partitions {
            let is_metadata = topic.topic.0.as_str() == METADATA_TOPIC && wanted.partition == 0;
            let result = if !is_metadata {
                Err(faultline_wire::ResponseError::UnknownTopicOrPartition)
            } else if wanted.fetch_offset < 0 || wanted.fetch_offset > controller.log_end_offset() {
                Err(faultline_wire::ResponseError::OffsetOutOfRange)
            } else {
                let records = controller.read_log(wanted.fetch_offset, MAX_METADATA_RECORDS);
                let entries: Vec<_> = records
                    .iter()
                    .enumerate()
                    .map(|(i, record)| record.to_entry(wanted.fetch_offset + i as i64))
                    .collect();
                Ok(ReadBatches {
                    bytes: encode_entries(&entries),
                    batch_count: usize::from(!entries.is_empty()),
                    record_count: entries.len() as i64,
                })
            };
            results.push(PartitionFetch {
                topic: topic.topic.clone(),
                partition: wanted.partition,
                result,
                high_watermark: controller.log_end_offset(),
                log_start_offset: 0,
                last_stable_offset: controller.log_end_offset(),
                aborted: None,
            });
        }
    }
    fetch::response(&results)
}
