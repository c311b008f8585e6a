//! Fits a response to the version the client asked for.
//!
//! `kafka-protocol` refuses to encode a field set to a non-default value in a version
//! that lacks it, so handlers fill in everything and this resets what an older version
//! does not carry (Kafka protocol guide, each API's versioned schema).

use kafka_protocol::messages::ResponseKind;

/// Resets fields `version` does not have.
pub fn fit_response(response: &mut ResponseKind, version: i16) {
    match response {
        // ListOffsets: leader_epoch is v4+.
        ResponseKind::ListOffsets(r) if version < 4 => {
            for partition in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                partition.leader_epoch = -1;
            }
        }
        // Fetch: log_start_offset is v5+.
        ResponseKind::Fetch(r) if version < 5 => {
            for partition in r.responses.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                partition.log_start_offset = -1;
            }
        }
        _ => {}
    }
}
