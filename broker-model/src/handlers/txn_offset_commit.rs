//! TxnOffsetCommit (KIP-98, KIP-447): a transactional producer commits a consumer group's
//! offsets inside its transaction. The group coordinator checks the group membership the
//! producer names (KIP-447, v3+: generation and member id, so that a zombie consumer's
//! producer cannot commit for partitions it lost), writes the offsets to
//! `__consumer_offsets` as transactional records, and answers once they are replicated;
//! OffsetFetch sees them only after the COMMIT marker ([`crate::group::transactional`]).

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::config::MessageTimestampType;
use crate::group::offsets::OffsetRecord;
use crate::group::transactional::transactional_offsets_batch;
use crate::group::{partition_for, OFFSETS_TOPIC};
use crate::partition::Appended;

/// One TxnOffsetCommit in progress.
#[derive(Debug, Clone)]
pub struct PendingTxnCommit {
    /// The offsets.
    pub records: Vec<OffsetRecord>,
    /// The producer.
    pub producer_id: i64,
    /// `Ok(None)` once staged, `Ok(Some(_))` while waiting for replication, or the error.
    pub state: Result<Option<(i32, Appended)>, ResponseError>,
}

/// Validates and appends the offsets.
pub fn begin(
    broker: &mut Broker,
    request: &TxnOffsetCommitRequest,
    now_ms: u64,
) -> PendingTxnCommit {
    let group = request.group_id.0.to_string();
    let records = OffsetRecord::of_commit(
        &group,
        request.topics.iter().flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.name.0.as_str(),
                    p.partition_index,
                    p.committed_offset,
                    p.committed_metadata.as_deref(),
                )
            })
        }),
    );
    let state = append(broker, request, &records, now_ms).map(Some);
    PendingTxnCommit {
        records,
        producer_id: request.producer_id.0,
        state,
    }
}

fn append(
    broker: &mut Broker,
    request: &TxnOffsetCommitRequest,
    records: &[OffsetRecord],
    now_ms: u64,
) -> Result<(i32, Appended), ResponseError> {
    let fencing = !broker.config.bugs.no_generation_fencing;
    let group = broker.groups.group(&request.group_id.0)?;
    group.tick(now_ms);
    // KIP-447: a producer naming its consumer's generation is fenced like the consumer
    // would be; one naming none (generation -1, no member: pre-KIP-447 clients) is not.
    let named = request.generation_id >= 0 || !request.member_id.is_empty();
    if fencing && named {
        group.check_member(&request.member_id, request.generation_id)?;
    }
    let index = partition_for(&request.group_id.0, broker.config.offsets_topic_partitions);
    let key = (OFFSETS_TOPIC.to_string(), index);
    let min_insync_replicas = broker.config.min_insync_replicas;
    let partition = broker
        .partitions
        .get_mut(&key)
        .ok_or(ResponseError::NotCoordinator)?;
    // The offsets partition's producer state fences an older epoch, as for any
    // transactional append (INVALID_PRODUCER_EPOCH, `ProducerAppendInfo.checkProducerEpoch`).
    let fenced = partition
        .producers
        .producer(request.producer_id.0)
        .is_some_and(|p| p.producer_epoch > request.producer_epoch);
    if fenced {
        return Err(ResponseError::InvalidProducerEpoch);
    }
    let batch = transactional_offsets_batch(records, request.producer_id.0, request.producer_epoch);
    let previous_high_watermark = partition.high_watermark;
    let (written, appended) = partition
        .append_batch_as_leader(
            &batch,
            -1,
            min_insync_replicas,
            MessageTimestampType::CreateTime,
            0,
        )
        .map_err(|error| match error {
            ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
            ResponseError::NotEnoughReplicas => ResponseError::CoordinatorNotAvailable,
            other => other,
        })?;
    if broker.persist_append(&key, &[written]).is_err() {
        if let Some(partition) = broker.partitions.get_mut(&key) {
            partition.undo_leader_append(&appended, previous_high_watermark);
        }
        return Err(ResponseError::NotCoordinator);
    }
    Ok((index, appended))
}

/// Re-examines a waiting commit; true once answered. Replicated offsets are staged for
/// the transaction's marker.
pub fn poll(broker: &mut Broker, pending: &mut PendingTxnCommit) -> bool {
    let Ok(Some((index, appended))) = pending.state else {
        return true;
    };
    let key = (OFFSETS_TOPIC.to_string(), index);
    match broker.partitions.get(&key) {
        Some(p) if p.is_leader() && p.leader_epoch() == appended.leader_epoch => {
            if p.high_watermark <= appended.last_offset {
                return false;
            }
            broker
                .groups
                .stage_transactional(pending.producer_id, &pending.records);
            pending.state = Ok(None);
        }
        _ => pending.state = Err(ResponseError::NotCoordinator),
    }
    true
}

/// Ends a commit that waited too long.
pub fn expire(pending: &mut PendingTxnCommit) {
    if matches!(pending.state, Ok(Some(_))) {
        pending.state = Err(ResponseError::RequestTimedOut);
    }
}

/// Builds the response: one error code for every partition.
pub fn response(
    request: &TxnOffsetCommitRequest,
    pending: &PendingTxnCommit,
) -> TxnOffsetCommitResponse {
    let code = match &pending.state {
        Ok(None) => 0,
        Ok(Some(_)) => ResponseError::RequestTimedOut.code(),
        Err(error) => error.code(),
    };
    let topics = request
        .topics
        .iter()
        .map(|t| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}
