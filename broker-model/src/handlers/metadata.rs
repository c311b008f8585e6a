//! Metadata: brokers and partition leadership from the broker's metadata image.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::metadata::{topic_id, METADATA_TOPIC};

/// Answers Metadata. An unknown topic is UNKNOWN_TOPIC_OR_PARTITION, unless
/// `auto.create.topics.enable` is on and the request allows it (always before v4,
/// KIP-204's `allow_auto_topic_creation` from v4): then its creation is forwarded to the
/// controller and it is LEADER_NOT_AVAILABLE until it exists, as in Kafka.
pub fn handle(broker: &mut Broker, request: &MetadataRequest, version: i16) -> MetadataResponse {
    let may_create = broker.config.auto_create_topics_enable
        && (version < 4 || request.allow_auto_topic_creation);
    let mut creating = Vec::new();
    for topic in request.topics.iter().flatten() {
        let Some(name) = &topic.name else { continue };
        let name = name.0.as_str();
        if may_create && !broker.image.topics.contains_key(name) && auto_creatable(name) {
            broker.forwarding.auto_create(name);
            creating.push(name.to_string());
        }
    }
    let mut response = describe(broker, request);
    for topic in &mut response.topics {
        let named = |n: &String| topic.name.as_ref().is_some_and(|t| t.0.as_str() == n);
        if creating.iter().any(named) {
            topic.error_code = ResponseError::LeaderNotAvailable.code();
        }
    }
    response
}

/// Whether `name` may be auto-created: a legal topic name that is not internal.
pub fn auto_creatable(name: &str) -> bool {
    crate::controller::validate_topic_name(name).is_ok() && name != METADATA_TOPIC
}

fn describe(broker: &Broker, request: &MetadataRequest) -> MetadataResponse {
    let brokers = broker
        .config
        .brokers
        .iter()
        .map(|(&id, address)| {
            let (host, port) = address
                .rsplit_once(':')
                .unwrap_or((address.as_str(), "9092"));
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(id))
                .with_host(StrBytes::from_string(host.to_string()))
                .with_port(port.parse().unwrap_or(9092))
        })
        .collect();
    let names: Vec<String> = match &request.topics {
        Some(topics) => topics
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
            .collect(),
        None => broker
            .image
            .topics
            .keys()
            .filter(|name| name.as_str() != METADATA_TOPIC)
            .cloned()
            .collect(),
    };
    let topics = names.iter().map(|name| topic(broker, name)).collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_static_str("faultline")))
        .with_controller_id(BrokerId(super::admin::controller_id(broker)))
        .with_topics(topics)
}

fn topic(broker: &Broker, name: &str) -> MetadataResponseTopic {
    let response = MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
        .with_topic_id(topic_id(name));
    let Some(&count) = broker.image.topics.get(name) else {
        return response.with_error_code(ResponseError::UnknownTopicOrPartition.code());
    };
    let partitions = (0..count)
        .filter_map(|index| broker.image.partitions.get(&(name.to_string(), index)))
        .map(|registration| {
            let error = if registration.leader < 0 {
                ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(registration.partition)
                .with_leader_id(BrokerId(registration.leader))
                .with_leader_epoch(registration.leader_epoch)
                .with_replica_nodes(
                    registration
                        .replicas
                        .iter()
                        .map(|&id| BrokerId(id))
                        .collect(),
                )
                .with_isr_nodes(registration.isr.iter().map(|&id| BrokerId(id)).collect())
        })
        .collect();
    response.with_partitions(partitions)
}
