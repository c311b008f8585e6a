//! The broker's side of the controller channel as a sans-IO state machine (KIP-631): the
//! registration, the heartbeat, the metadata fetch and the ISR proposals (KIP-497) a
//! broker sends, built from its state, and the answers applied back to it. The network
//! edge (`node::background`) only carries the bytes and sleeps between rounds.

use kafka_protocol::messages::alter_partition_request::{
    PartitionData as AlterPartitionData, TopicData,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{
    AlterPartitionRequest, AlterPartitionResponse, BrokerHeartbeatRequest, BrokerId,
    BrokerRegistrationRequest, FetchRequest, FetchResponse, TopicName,
};

use faultline_wire::records::decode_records;
use faultline_wire::ResponseError;

use crate::broker::{Broker, QueuedIsrChange};
use crate::metadata::{topic_id, MetadataRecord, PartitionRegistration, METADATA_TOPIC};
use crate::storage::TopicPartition;

/// Version of BrokerRegistration and BrokerHeartbeat a broker sends.
pub const REGISTRATION_VERSION: i16 = 0;
/// Version of AlterPartition a broker sends (v2+: topics by id).
pub const ALTER_PARTITION_VERSION: i16 = 2;
/// Version of CreateTopics a broker forwards at: the newest, so nothing a client sent is
/// lost; the answer is fitted back to the client's version.
pub const FORWARDED_CREATE_TOPICS_VERSION: i16 = 7;
/// Version of DeleteTopics a broker forwards at (v5: topics by name; v6 clients' ids are
/// resolved to names first).
pub const FORWARDED_DELETE_TOPICS_VERSION: i16 = 5;
/// Version of CreatePartitions a broker forwards at (the newest; the answer is the same in
/// every version).
pub const FORWARDED_CREATE_PARTITIONS_VERSION: i16 = 3;
/// Version of IncrementalAlterConfigs a broker forwards at (the newest).
pub const FORWARDED_INCREMENTAL_ALTER_CONFIGS_VERSION: i16 = 1;
/// Version of AlterConfigs a broker forwards at (the newest).
pub const FORWARDED_ALTER_CONFIGS_VERSION: i16 = 2;

/// BrokerRegistration: the incarnation id's low 64 bits identify this process, so a
/// restarted one is told apart from a retry (KIP-631).
pub fn registration_request(node_id: i32, incarnation: u64) -> BrokerRegistrationRequest {
    BrokerRegistrationRequest::default()
        .with_broker_id(BrokerId(node_id))
        .with_incarnation_id(uuid::Uuid::from_u64_pair(node_id as u64, incarnation))
}

/// BrokerHeartbeat, carrying how far this broker has replayed the metadata log.
pub fn heartbeat_request(broker: &Broker, broker_epoch: i64) -> BrokerHeartbeatRequest {
    BrokerHeartbeatRequest::default()
        .with_broker_id(BrokerId(broker.node_id))
        .with_broker_epoch(broker_epoch)
        .with_current_metadata_offset(broker.image.next_offset)
}

/// A Fetch of `__cluster_metadata` from where this broker's image ends (KIP-500).
pub fn metadata_fetch_request(broker: &Broker) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(broker.node_id))
        .with_max_wait_ms(0)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(METADATA_TOPIC.into()))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_current_leader_epoch(-1)
                .with_fetch_offset(broker.image.next_offset)])])
}

/// The metadata records a fetch returned, in log order.
pub fn metadata_records(response: &FetchResponse) -> Vec<MetadataRecord> {
    response
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter(|p| p.error_code == 0)
        .filter_map(|p| p.records.as_ref())
        .filter_map(|bytes| decode_records(bytes).ok())
        .flatten()
        .filter_map(|r| r.value.and_then(|v| MetadataRecord::decode(&v).ok()))
        .collect()
}

/// One ISR change the broker proposes, with the registration it was proposed against.
#[derive(Debug, Clone, PartialEq)]
pub struct IsrProposal {
    /// The registration the proposal starts from (its epochs fence a stale proposal).
    pub registration: PartitionRegistration,
    /// The proposed ISR.
    pub isr: Vec<i32>,
    /// Whether it was never sent before (see [`crate::broker::QueuedIsrChange`]).
    pub first_send: bool,
    /// The AlterPartition request.
    pub request: AlterPartitionRequest,
}

/// Takes the queued ISR proposals that are still in force (see
/// [`crate::partition::Partition::still_proposes`]) and turns each into an AlterPartition
/// request.
pub fn take_isr_proposals(broker: &mut Broker, broker_epoch: i64) -> Vec<IsrProposal> {
    let node_id = broker.node_id;
    let queued = std::mem::take(&mut broker.isr_outbox);
    queued
        .into_iter()
        .filter(|(key, q)| {
            broker
                .partitions
                .get(key)
                .is_some_and(|p| p.still_proposes(&q.registration, &q.isr))
        })
        .map(|(_, queued)| queued)
        .map(
            |QueuedIsrChange {
                 registration,
                 isr: new_isr,
                 first_send,
             }| {
                let request = AlterPartitionRequest::default()
                    .with_broker_id(BrokerId(node_id))
                    .with_broker_epoch(broker_epoch)
                    .with_topics(vec![TopicData::default()
                        .with_topic_id(topic_id(&registration.topic))
                        .with_partitions(vec![AlterPartitionData::default()
                            .with_partition_index(registration.partition)
                            .with_leader_epoch(registration.leader_epoch)
                            .with_partition_epoch(registration.partition_epoch)
                            .with_new_isr(
                                new_isr.iter().map(|&id| BrokerId(id)).collect(),
                            )])]);
                IsrProposal {
                    registration,
                    isr: new_isr,
                    first_send,
                    request,
                }
            },
        )
        .collect()
}

/// Applies the controller's answer to an ISR proposal to the partition it was about.
pub fn on_alter_partition_response(
    broker: &mut Broker,
    proposal: &IsrProposal,
    response: &AlterPartitionResponse,
    now_ms: u64,
) {
    let answer = response.topics.first().and_then(|t| t.partitions.first());
    let accepted =
        match answer {
            Some(p) if p.error_code == 0 => {
                let mut next = proposal.registration.clone();
                next.leader = p.leader_id.0;
                next.leader_epoch = p.leader_epoch;
                next.isr = p.isr.iter().map(|id| id.0).collect();
                next.partition_epoch = p.partition_epoch;
                Ok(next)
            }
            Some(p) => Err(ResponseError::try_from_code(p.error_code)
                .unwrap_or(ResponseError::UnknownServerError)),
            None => Err(ResponseError::UnknownServerError),
        };
    let key: TopicPartition = proposal.registration.topic_partition();
    if let Some(partition) = broker.partitions.get_mut(&key) {
        partition.isr_change_answered(accepted, now_ms);
    }
}
