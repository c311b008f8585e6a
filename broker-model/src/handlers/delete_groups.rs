//! DeleteGroups and OffsetDelete (KIP-229, KIP-496): an operator removes a group, or some
//! of its committed offsets. Kafka's classic coordinator (`GroupCoordinator.handleDeleteGroups`,
//! `handleDeleteOffsets`):
//!
//! - DeleteGroups deletes a group only while it is Empty (no members); a group with members
//!   is NON_EMPTY_GROUP, one the coordinator does not know GROUP_ID_NOT_FOUND;
//! - OffsetDelete deletes offsets of an Empty group, and of a consumer group with members
//!   only for topics none of them subscribes to (the others are GROUP_SUBSCRIBED_TO_TOPIC,
//!   so that a live consumer's position is never pulled from under it); a live group of
//!   another protocol type is NON_EMPTY_GROUP.
//!
//! The offsets go by tombstones appended to the group's `__consumer_offsets` partition.
//! Kafka appends them and answers without waiting; we answer once they are replicated
//! (acks=all, as commits), so that a deletion acknowledged is a deletion a later
//! coordinator sees too, and a deletion that could not be made durable is an error the
//! client retries rather than offsets that come back after a failover.

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, OffsetDeleteRequest, OffsetDeleteResponse,
};

use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::group::membership::{Group, GroupState};
use crate::group::offsets::tombstone;
use crate::handlers::offset_commit::{append_to_offsets, offsets_append_done, CommitState};

/// One group's deletion (all of it, or some offsets) in progress.
#[derive(Debug, Clone)]
pub struct PendingDeletion {
    /// The group.
    pub group_id: String,
    /// The offsets being deleted, by (topic, partition).
    pub offsets: Vec<(String, i32)>,
    /// DeleteGroups (the group goes) rather than OffsetDelete (only the offsets go).
    pub whole_group: bool,
    /// Its state: answered, or waiting for the tombstones to be replicated.
    pub state: CommitState,
}

impl PendingDeletion {
    /// Its answer so far (`None` while waiting).
    pub fn result(&self) -> Option<Result<(), ResponseError>> {
        match &self.state {
            CommitState::Done(result) => Some(*result),
            CommitState::Awaiting(..) => None,
        }
    }
}

/// Begins deleting each group DeleteGroups names, each on its own: one that may not be
/// deleted does not stop the others.
pub fn delete_groups_begin(
    broker: &mut Broker,
    request: &DeleteGroupsRequest,
) -> Vec<PendingDeletion> {
    request
        .groups_names
        .iter()
        .map(|name| {
            let group_id = name.0.to_string();
            let mut pending = PendingDeletion {
                group_id: group_id.clone(),
                offsets: Vec::new(),
                whole_group: true,
                state: CommitState::Done(Ok(())),
            };
            match deletable_group(broker, &group_id) {
                Ok(offsets) => {
                    pending.offsets = offsets;
                    begin(broker, &mut pending);
                }
                Err(error) => pending.state = CommitState::Done(Err(error)),
            }
            pending
        })
        .collect()
}

/// The offsets of `group_id` if it may be deleted now.
fn deletable_group(broker: &Broker, group_id: &str) -> Result<Vec<(String, i32)>, ResponseError> {
    let group = known_group(broker, group_id)?;
    if group.state != GroupState::Empty || !group.members.is_empty() {
        return Err(ResponseError::NonEmptyGroup);
    }
    Ok(group.committed.keys().cloned().collect())
}

/// Appends the tombstones of `pending.offsets`, or finishes at once when there are none.
fn begin(broker: &mut Broker, pending: &mut PendingDeletion) {
    if pending.offsets.is_empty() {
        finish(broker, pending, Ok(()));
        return;
    }
    let entries = pending
        .offsets
        .iter()
        .map(|(topic, partition)| tombstone(&pending.group_id, topic, *partition))
        .collect();
    pending.state = match append_to_offsets(broker, &pending.group_id, entries) {
        Ok(state) => state,
        Err(error) => CommitState::Done(Err(error)),
    };
}

fn finish(broker: &mut Broker, pending: &mut PendingDeletion, result: Result<(), ResponseError>) {
    if result.is_ok() {
        broker
            .groups
            .apply_deletes(&pending.group_id, &pending.offsets, pending.whole_group);
    }
    pending.state = CommitState::Done(result);
}

/// Re-examines a deletion waiting for replication; true once answered.
pub fn deletion_poll(broker: &mut Broker, pending: &mut PendingDeletion) -> bool {
    let CommitState::Awaiting(index, appended) = pending.state else {
        return true;
    };
    match offsets_append_done(broker, index, &appended) {
        Some(result) => {
            finish(broker, pending, result);
            true
        }
        None => false,
    }
}

/// Ends a deletion that waited too long: REQUEST_TIMED_OUT (it may still become durable).
pub fn deletion_expire(pending: &mut PendingDeletion) {
    if matches!(pending.state, CommitState::Awaiting(..)) {
        pending.state = CommitState::Done(Err(ResponseError::RequestTimedOut));
    }
}

/// The DeleteGroups response: one result per group, in the order asked.
pub fn delete_groups_response(pending: &[PendingDeletion]) -> DeleteGroupsResponse {
    let results = pending
        .iter()
        .map(|deletion| {
            let error = deletion
                .result()
                .unwrap_or(Err(ResponseError::RequestTimedOut))
                .err()
                .map_or(0, |e| e.code());
            DeletableGroupResult::default()
                .with_group_id(StrBytes::from_string(deletion.group_id.clone()).into())
                .with_error_code(error)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}

/// An OffsetDelete begun: a group-level error, or the partitions refused
/// (GROUP_SUBSCRIBED_TO_TOPIC) and the deletion of the others.
#[derive(Debug, Clone)]
pub struct OffsetDeleteBegun {
    /// A group-level error (then nothing else is answered).
    pub group_error: Option<ResponseError>,
    /// Partitions of subscribed topics, left alone.
    pub subscribed: Vec<(String, i32)>,
    /// Every other partition asked, whether or not it had an offset committed.
    pub deleted: Vec<(String, i32)>,
    /// The tombstones of those that had one.
    pub pending: PendingDeletion,
}

/// Begins an OffsetDelete.
pub fn offset_delete_begin(
    broker: &mut Broker,
    request: &OffsetDeleteRequest,
) -> OffsetDeleteBegun {
    let group_id = request.group_id.0.to_string();
    let mut begun = OffsetDeleteBegun {
        group_error: None,
        subscribed: Vec::new(),
        deleted: Vec::new(),
        pending: PendingDeletion {
            group_id: group_id.clone(),
            offsets: Vec::new(),
            whole_group: false,
            state: CommitState::Done(Ok(())),
        },
    };
    let group = match known_group(broker, &group_id) {
        Ok(group) => group,
        Err(error) => {
            begun.group_error = Some(error);
            return begun;
        }
    };
    // A group with members that is not a consumer group has no subscriptions to spare:
    // NON_EMPTY_GROUP (Kafka's `handleDeleteOffsets`).
    if !group.members.is_empty() && !group.is_consumer_group() {
        begun.group_error = Some(ResponseError::NonEmptyGroup);
        return begun;
    }
    let subscribed = group.subscribed_topics();
    for topic in &request.topics {
        let name = topic.name.0.to_string();
        let consumed = subscribed.as_ref().is_none_or(|s| s.contains(&name));
        for partition in &topic.partitions {
            let key = (name.clone(), partition.partition_index);
            if consumed {
                begun.subscribed.push(key);
            } else {
                if group.committed.contains_key(&key) {
                    begun.pending.offsets.push(key.clone());
                }
                begun.deleted.push(key);
            }
        }
    }
    begin(broker, &mut begun.pending);
    begun
}

/// The group `group_id` names, if this broker coordinates it and knows it:
/// INVALID_GROUP_ID, NOT_COORDINATOR or GROUP_ID_NOT_FOUND otherwise.
fn known_group<'a>(broker: &'a Broker, group_id: &str) -> Result<&'a Group, ResponseError> {
    if group_id.is_empty() {
        return Err(ResponseError::InvalidGroupId);
    }
    broker
        .groups
        .describe(group_id)?
        .ok_or(ResponseError::GroupIdNotFound)
}

/// The OffsetDelete response: a group-level error, or each partition asked with NONE or
/// GROUP_SUBSCRIBED_TO_TOPIC. A deletion that failed or timed out fails the whole request
/// at group level (nothing is known deleted).
pub fn offset_delete_response(begun: &OffsetDeleteBegun) -> OffsetDeleteResponse {
    let error = begun.group_error.or_else(|| {
        begun
            .pending
            .result()
            .unwrap_or(Err(ResponseError::RequestTimedOut))
            .err()
    });
    if let Some(error) = error {
        return OffsetDeleteResponse::default().with_error_code(error.code());
    }
    let mut topics: Vec<OffsetDeleteResponseTopic> = Vec::new();
    let answers = begun.deleted.iter().map(|key| (key, 0)).chain(
        begun
            .subscribed
            .iter()
            .map(|key| (key, ResponseError::GroupSubscribedToTopic.code())),
    );
    for ((topic, partition), code) in answers {
        let answer = OffsetDeleteResponsePartition::default()
            .with_partition_index(*partition)
            .with_error_code(code);
        match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
            Some(t) => t.partitions.push(answer),
            None => topics.push(
                OffsetDeleteResponseTopic::default()
                    .with_name(StrBytes::from_string(topic.clone()).into())
                    .with_partitions(vec![answer]),
            ),
        }
    }
    OffsetDeleteResponse::default().with_topics(topics)
}
