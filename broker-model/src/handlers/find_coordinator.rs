//! FindCoordinator (protocol guide; key_type 0 = group, 1 = transaction): the leader of
//! the key's partition of `__consumer_offsets` or `__transaction_state` (KIP-98), or
//! COORDINATOR_NOT_AVAILABLE while it has none. The first transactional lookup creates
//! `__transaction_state`, as Kafka does (`KafkaApis.getOrCreateInternalTopic`).

use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::group::{partition_for, OFFSETS_TOPIC};
use crate::txn::TRANSACTION_STATE_TOPIC;

/// Answers one FindCoordinator (v0–v3: one key per request).
pub fn handle(broker: &mut Broker, request: &FindCoordinatorRequest) -> FindCoordinatorResponse {
    let (topic, partitions) = match request.key_type {
        0 => (OFFSETS_TOPIC, broker.config.offsets_topic_partitions),
        1 => (
            TRANSACTION_STATE_TOPIC,
            broker.config.transaction_state_partitions,
        ),
        _ => return refuse(ResponseError::InvalidRequest),
    };
    if request.key_type == 1 && !broker.image.topics.contains_key(TRANSACTION_STATE_TOPIC) {
        // `transaction.state.log.replication.factor` is 3, capped at the broker count.
        let replication_factor = broker.config.default_replication_factor() as i16;
        broker
            .forwarding
            .auto_create_with(TRANSACTION_STATE_TOPIC, partitions, replication_factor);
        return refuse(ResponseError::CoordinatorNotAvailable);
    }
    let partition = partition_for(&request.key, partitions);
    let leader = broker
        .image
        .partitions
        .get(&(topic.to_string(), partition))
        .map(|registration| registration.leader)
        .filter(|&leader| leader >= 0);
    let Some(leader) = leader else {
        return refuse(ResponseError::CoordinatorNotAvailable);
    };
    let Some(address) = broker.config.brokers.get(&leader) else {
        return refuse(ResponseError::CoordinatorNotAvailable);
    };
    let (host, port) = address
        .rsplit_once(':')
        .unwrap_or((address.as_str(), "9092"));
    FindCoordinatorResponse::default()
        .with_node_id(BrokerId(leader))
        .with_host(StrBytes::from_string(host.to_string()))
        .with_port(port.parse().unwrap_or(9092))
}

fn refuse(error: ResponseError) -> FindCoordinatorResponse {
    FindCoordinatorResponse::default()
        .with_error_code(error.code())
        .with_node_id(BrokerId(-1))
        .with_port(-1)
}
