//! WriteTxnMarkers (KIP-98): the transaction coordinator asks each partition leader to
//! append a COMMIT or ABORT control batch for a producer, and is answered once the marker
//! is replicated (Kafka's `ReplicaManager.appendRecords` with acks=-1 for markers).
//!
//! A marker of an older epoch than the partition's producer state is refused
//! (INVALID_PRODUCER_EPOCH, Kafka's `ProducerAppendInfo.checkProducerEpoch`); a newer one
//! fences the older epoch here, which is how a fenced producer's late writes are refused.
//! A marker reaching a `__consumer_offsets` partition completes the producer's
//! transactional offset commits there.

use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{
    ProducerId, TopicName, WriteTxnMarkersRequest, WriteTxnMarkersResponse,
};

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::config::MessageTimestampType;
use crate::group::OFFSETS_TOPIC;
use crate::partition::Appended;
use crate::storage::TopicPartition;
use crate::txn::index::ControlType;
use crate::txn::marker::Marker;

/// One partition's marker and where it stands.
#[derive(Debug, Clone)]
pub struct PendingMarker {
    /// The partition.
    pub partition: TopicPartition,
    /// The marker.
    pub marker: Marker,
    /// `Ok(None)` once answered successfully, `Ok(Some(_))` while waiting for the high
    /// watermark, or the error.
    pub state: Result<Option<Appended>, ResponseError>,
}

/// The markers of a request, one per partition, as data.
pub fn markers_of(request: &WriteTxnMarkersRequest) -> Vec<(TopicPartition, Marker)> {
    let mut out = Vec::new();
    for marker in &request.markers {
        let control = if marker.transaction_result {
            ControlType::Commit
        } else {
            ControlType::Abort
        };
        for topic in &marker.topics {
            for &index in &topic.partition_indexes {
                out.push((
                    (topic.name.0.to_string(), index),
                    Marker {
                        producer_id: marker.producer_id.0,
                        producer_epoch: marker.producer_epoch,
                        control,
                        coordinator_epoch: marker.coordinator_epoch,
                    },
                ));
            }
        }
    }
    out
}

/// Appends every marker as leader.
pub fn begin(
    broker: &mut Broker,
    markers: Vec<(TopicPartition, Marker)>,
    now_ms: u64,
) -> Vec<PendingMarker> {
    markers
        .into_iter()
        .map(|(partition, marker)| {
            let state = append(broker, &partition, &marker, now_ms).map(Some);
            PendingMarker {
                partition,
                marker,
                state,
            }
        })
        .collect()
}

fn append(
    broker: &mut Broker,
    key: &TopicPartition,
    marker: &Marker,
    now_ms: u64,
) -> Result<Appended, ResponseError> {
    // Markers are appended with acks=all, so the topic's min.insync.replicas holds for them
    // as for any such append (Kafka's `Partition.appendRecordsToLeader`).
    let min_insync_replicas = broker.min_insync_replicas_of(&key.0);
    let timestamp = broker.config.clock_epoch_ms + now_ms as i64;
    let known = broker.image.partitions.contains_key(key);
    let partition = broker.partitions.get_mut(key).ok_or(if known {
        ResponseError::NotLeaderOrFollower
    } else {
        ResponseError::UnknownTopicOrPartition
    })?;
    let newer_epoch = partition
        .producers
        .producer(marker.producer_id)
        .is_some_and(|p| p.producer_epoch > marker.producer_epoch);
    if newer_epoch {
        return Err(ResponseError::InvalidProducerEpoch);
    }
    let previous_high_watermark = partition.high_watermark;
    let (written, appended) = partition.append_batch_as_leader(
        &marker.batch(timestamp),
        -1,
        min_insync_replicas,
        MessageTimestampType::CreateTime,
        timestamp,
    )?;
    partition
        .producers
        .mark(marker.producer_id, marker.producer_epoch);
    if broker.persist_append(key, &[written]).is_err() {
        if let Some(partition) = broker.partitions.get_mut(key) {
            partition.undo_leader_append(&appended, previous_high_watermark);
            partition.producers =
                crate::producer_state::ProducerStateTable::rebuild_from_log(&partition.log);
        }
        return Err(ResponseError::KafkaStorageError);
    }
    Ok(appended)
}

/// Re-examines waiting markers; true once all are answered. A replicated marker on an
/// offsets partition completes the producer's transactional offset commits there.
pub fn poll(broker: &mut Broker, pending: &mut [PendingMarker]) -> bool {
    let mut all_done = true;
    for item in pending.iter_mut() {
        let Ok(Some(appended)) = item.state else {
            continue;
        };
        let (replicated, leading) = match broker.partitions.get(&item.partition) {
            Some(p) if p.is_leader() && p.leader_epoch() == appended.leader_epoch => {
                (p.high_watermark > appended.last_offset, true)
            }
            _ => (false, false),
        };
        if !leading {
            item.state = Err(ResponseError::NotLeaderOrFollower);
        } else if replicated {
            item.state = Ok(None);
            if item.partition.0 == OFFSETS_TOPIC {
                let commit = item.marker.control == ControlType::Commit;
                broker.groups.complete_transaction(
                    item.partition.1,
                    item.marker.producer_id,
                    commit,
                );
            }
        } else {
            all_done = false;
        }
    }
    all_done
}

/// Ends every still-waiting marker with REQUEST_TIMED_OUT (the coordinator retries).
pub fn expire(pending: &mut [PendingMarker]) {
    for item in pending.iter_mut() {
        if matches!(item.state, Ok(Some(_))) {
            item.state = Err(ResponseError::RequestTimedOut);
        }
    }
}

/// Builds the response: per producer, per topic, per partition.
pub fn response(pending: &[PendingMarker]) -> WriteTxnMarkersResponse {
    let mut markers: Vec<WritableTxnMarkerResult> = Vec::new();
    for item in pending {
        let code = match &item.state {
            Ok(None) => 0,
            Ok(Some(_)) => ResponseError::RequestTimedOut.code(),
            Err(error) => error.code(),
        };
        let result = WritableTxnMarkerPartitionResult::default()
            .with_partition_index(item.partition.1)
            .with_error_code(code);
        let producer = ProducerId(item.marker.producer_id);
        let index = match markers.iter().position(|m| m.producer_id == producer) {
            Some(i) => i,
            None => {
                markers.push(WritableTxnMarkerResult::default().with_producer_id(producer));
                markers.len() - 1
            }
        };
        let topics = &mut markers[index].topics;
        match topics
            .iter_mut()
            .find(|t| t.name.0.as_str() == item.partition.0)
        {
            Some(topic) => topic.partitions.push(result),
            None => topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(TopicName(item.partition.0.clone().into()))
                    .with_partitions(vec![result]),
            ),
        }
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}
