//! InitProducerId for idempotent (non-transactional) producers (KIP-98, KIP-360).
//!
//! Without a transactional id any broker may answer (Kafka sends it to the least loaded
//! node): a fresh, cluster-unique producer id at producer_epoch 0. KIP-360 lets a producer
//! that names its current id and epoch bump the epoch instead, which resets its sequences
//! on every partition without a new id. A transactional id goes to the transaction
//! coordinator instead ([`super::transactions`], KIP-98); the node layer routes it there.

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use faultline_wire::ResponseError;

use crate::broker::Broker;

/// Answers one InitProducerId.
pub fn handle(broker: &mut Broker, request: &InitProducerIdRequest) -> InitProducerIdResponse {
    let transactional = request
        .transactional_id
        .as_ref()
        .is_some_and(|id| !id.0.is_empty());
    if transactional {
        // Not an idempotent producer's request: the node routes these to the coordinator.
        return refuse(ResponseError::CoordinatorNotAvailable);
    }
    let (producer_id, producer_epoch) = match (request.producer_id.0, request.producer_epoch) {
        // KIP-360: bump the epoch of a known id; at the top of the range take a new id.
        (id, epoch) if id >= 0 && (0..i16::MAX - 1).contains(&epoch) => (id, epoch + 1),
        _ => (broker.allocate_producer_id(), 0),
    };
    InitProducerIdResponse::default()
        .with_producer_id(ProducerId(producer_id))
        .with_producer_epoch(producer_epoch)
}

fn refuse(error: ResponseError) -> InitProducerIdResponse {
    InitProducerIdResponse::default()
        .with_error_code(error.code())
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
