//! FindCoordinator (protocol guide; key_type 0 = group): the leader of the group's
//! `__consumer_offsets` partition, or COORDINATOR_NOT_AVAILABLE while it has none.
//! Transaction coordinators (key_type 1) are not run here.

use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::group::{partition_for, OFFSETS_TOPIC};

/// Answers one FindCoordinator (v0–v3: one key per request).
pub fn handle(broker: &Broker, request: &FindCoordinatorRequest) -> FindCoordinatorResponse {
    if request.key_type != 0 {
        return refuse(ResponseError::CoordinatorNotAvailable);
    }
    let partition = partition_for(&request.key, broker.config.offsets_topic_partitions);
    let leader = broker
        .image
        .partitions
        .get(&(OFFSETS_TOPIC.to_string(), partition))
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
