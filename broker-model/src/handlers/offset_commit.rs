//! OffsetCommit and OffsetFetch. A commit is validated against the group's generation,
//! written to the group's `__consumer_offsets` partition, and acknowledged only once the
//! high watermark covers it (Kafka's `offsets.commit.required.acks` = -1), then cached;
//! OffsetFetch reads the cache a coordinator loaded from its log.

use std::collections::BTreeMap;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::group::offsets::{check_commit, OffsetRecord};
use crate::group::{partition_for, OFFSETS_TOPIC};
use crate::log::LogEntry;
use crate::partition::Appended;

/// Where a commit stands.
#[derive(Debug, Clone)]
pub enum CommitState {
    /// Answered.
    Done(Result<(), ResponseError>),
    /// Appended to this offsets partition; waiting for the high watermark.
    Awaiting(i32, Appended),
}

/// One OffsetCommit in progress.
#[derive(Debug, Clone)]
pub struct PendingCommit {
    /// The offsets to commit.
    pub records: Vec<OffsetRecord>,
    /// Its state.
    pub state: CommitState,
}

/// Validates and appends a commit.
pub fn commit_begin(
    broker: &mut Broker,
    request: &OffsetCommitRequest,
    now_ms: u64,
) -> PendingCommit {
    let group_id = request.group_id.0.to_string();
    let records = OffsetRecord::of_commit(
        &group_id,
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
    let state = match append_commit(broker, request, &records, now_ms) {
        Ok(Some(waiting)) => waiting,
        Ok(None) => CommitState::Done(Ok(())),
        Err(error) => CommitState::Done(Err(error)),
    };
    PendingCommit { records, state }
}

fn append_commit(
    broker: &mut Broker,
    request: &OffsetCommitRequest,
    records: &[OffsetRecord],
    now_ms: u64,
) -> Result<Option<CommitState>, ResponseError> {
    let fencing = !broker.config.bugs.no_generation_fencing;
    let replicated = !broker.config.bugs.offsets_not_replicated;
    let group = broker.groups.group(&request.group_id.0)?;
    group.tick(now_ms);
    check_commit(
        group,
        &request.member_id,
        request.generation_id_or_member_epoch,
        fencing,
    )?;
    if !replicated {
        // Planted bug `offsets-not-replicated`: the commit lives in this coordinator's
        // memory only.
        broker.groups.apply_commits(records);
        return Ok(None);
    }
    let entries = records.iter().map(OffsetRecord::to_entry).collect();
    append_to_offsets(broker, &request.group_id.0, entries).map(Some)
}

/// Appends `entries` (commits or tombstones of `group_id`) to the group's partition of
/// `__consumer_offsets` as its leader, with acks=all; the state to wait in for the high
/// watermark.
pub(crate) fn append_to_offsets(
    broker: &mut Broker,
    group_id: &str,
    entries: Vec<LogEntry>,
) -> Result<CommitState, ResponseError> {
    let index = partition_for(group_id, broker.config.offsets_topic_partitions);
    let key = (OFFSETS_TOPIC.to_string(), index);
    let min_insync_replicas = broker.config.min_insync_replicas;
    let partition = broker
        .partitions
        .get_mut(&key)
        .ok_or(ResponseError::NotCoordinator)?;
    let previous_high_watermark = partition.high_watermark;
    // Kafka maps the append's errors for the client: a lost leadership is
    // NOT_COORDINATOR, too small an ISR COORDINATOR_NOT_AVAILABLE.
    let (written, appended) = partition
        .append_as_leader(entries, -1, min_insync_replicas)
        .map_err(|error| match error {
            ResponseError::NotLeaderOrFollower => ResponseError::NotCoordinator,
            ResponseError::NotEnoughReplicas => ResponseError::CoordinatorNotAvailable,
            other => other,
        })?;
    if broker.persist_append(&key, &[written]).is_err() {
        // Kafka's coordinator answers a failed offsets append (KAFKA_STORAGE_ERROR) with
        // NOT_COORDINATOR (`GroupMetadataManager.storeOffsets`); nothing stays appended.
        if let Some(partition) = broker.partitions.get_mut(&key) {
            partition.undo_leader_append(&appended, previous_high_watermark);
        }
        return Err(ResponseError::NotCoordinator);
    }
    Ok(CommitState::Awaiting(index, appended))
}

/// Where an append to the offsets partition stands: `None` while the high watermark is
/// below it, `Ok` once it covers it, NOT_COORDINATOR once this broker lost the partition's
/// leadership or epoch (the append may be gone).
pub(crate) fn offsets_append_done(
    broker: &Broker,
    index: i32,
    appended: &Appended,
) -> Option<Result<(), ResponseError>> {
    let key = (OFFSETS_TOPIC.to_string(), index);
    match broker.partitions.get(&key) {
        Some(p) if p.is_leader() && p.leader_epoch() == appended.leader_epoch => {
            (p.high_watermark > appended.last_offset).then_some(Ok(()))
        }
        _ => Some(Err(ResponseError::NotCoordinator)),
    }
}

/// Re-examines a waiting commit; true once answered. Acknowledged commits enter the cache.
pub fn commit_poll(broker: &mut Broker, pending: &mut PendingCommit) -> bool {
    let CommitState::Awaiting(index, appended) = pending.state else {
        return true;
    };
    let Some(done) = offsets_append_done(broker, index, &appended) else {
        return false;
    };
    if done.is_ok() {
        broker.groups.apply_commits(&pending.records);
    }
    pending.state = CommitState::Done(done);
    true
}

/// Ends a commit that waited too long: REQUEST_TIMED_OUT (it may still become durable).
pub fn commit_expire(pending: &mut PendingCommit) {
    if matches!(pending.state, CommitState::Awaiting(..)) {
        pending.state = CommitState::Done(Err(ResponseError::RequestTimedOut));
    }
}

/// Builds the OffsetCommit response: one error code for every partition.
pub fn commit_response(
    request: &OffsetCommitRequest,
    pending: &PendingCommit,
) -> OffsetCommitResponse {
    let code = match &pending.state {
        CommitState::Done(Ok(())) => 0,
        CommitState::Done(Err(error)) => error.code(),
        CommitState::Awaiting(..) => ResponseError::RequestTimedOut.code(),
    };
    let topics = request
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// OffsetFetch (v1–v7): the cached committed offsets, -1 where none. With
/// `require_stable` (v7, KIP-447) a partition whose offset an open transaction is still
/// committing answers UNSTABLE_OFFSET_COMMIT, and the client retries.
pub fn offset_fetch(broker: &mut Broker, request: &OffsetFetchRequest) -> OffsetFetchResponse {
    let group_id = request.group_id.0.to_string();
    let unstable = |groups: &crate::group::GroupCoordinator, topic: &str, partition: i32| {
        request.require_stable && groups.has_pending_transactional(&group_id, topic, partition)
    };
    let pending: Vec<(String, i32)> = match &request.topics {
        Some(topics) => topics
            .iter()
            .flat_map(|t| {
                t.partition_indexes
                    .iter()
                    .map(move |&p| (t.name.0.to_string(), p))
            })
            .filter(|(t, p)| unstable(&broker.groups, t, *p))
            .collect(),
        None => Vec::new(),
    };
    if request.group_id.0.is_empty() {
        return OffsetFetchResponse::default()
            .with_error_code(ResponseError::InvalidGroupId.code());
    }
    // Reading offsets creates no group (Kafka's `handleFetchOffsets`): a group deleted, or
    // never used, answers -1 for every partition and stays out of ListGroups.
    let no_offsets = BTreeMap::new();
    let committed = match broker.groups.describe(&request.group_id.0) {
        Ok(group) => group.map_or(&no_offsets, |g| &g.committed),
        Err(error) => return OffsetFetchResponse::default().with_error_code(error.code()),
    };
    let wanted: Vec<(String, Vec<i32>)> = match &request.topics {
        Some(topics) => topics
            .iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes.clone()))
            .collect(),
        None => {
            let mut all: Vec<(String, Vec<i32>)> = Vec::new();
            for (topic, partition) in committed.keys() {
                match all.iter_mut().find(|(t, _)| t == topic) {
                    Some((_, partitions)) => partitions.push(*partition),
                    None => all.push((topic.clone(), vec![*partition])),
                }
            }
            all
        }
    };
    let topics = wanted
        .into_iter()
        .map(|(topic, partitions)| {
            let answers = partitions
                .iter()
                .map(|&p| {
                    let committed = committed.get(&(topic.clone(), p));
                    if pending.contains(&(topic.clone(), p)) {
                        return OffsetFetchResponsePartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(-1)
                            .with_error_code(ResponseError::UnstableOffsetCommit.code());
                    }
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(p)
                        .with_committed_offset(committed.map_or(-1, |(offset, _)| *offset))
                        .with_committed_leader_epoch(-1)
                        // Kafka answers "" (no metadata) for a partition with no commit.
                        .with_metadata(Some(
                            committed
                                .map(|(_, metadata)| metadata.clone())
                                .unwrap_or_default()
                                .into(),
                        ))
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(topic.into()))
                .with_partitions(answers)
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
