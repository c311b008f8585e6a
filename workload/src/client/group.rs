//! The consumer-group calls of [`KafkaClient`]: FindCoordinator, JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup, OffsetCommit, OffsetFetch (protocol guide, "The Consumer Group
//! Protocol"). Like every call here, each is one attempt; the workload decides what an
//! error means for the history.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::{ResponseError, Transport};

use super::KafkaClient;

const FIND_COORDINATOR_VERSION: i16 = 2;
pub const JOIN_GROUP_VERSION: i16 = 5;
const SYNC_GROUP_VERSION: i16 = 3;
const HEARTBEAT_VERSION: i16 = 3;
const LEAVE_GROUP_VERSION: i16 = 2;
pub const OFFSET_COMMIT_VERSION: i16 = 7;
pub const OFFSET_FETCH_VERSION: i16 = 6;

/// Why a group call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// The broker answered with this error code.
    Broker(ResponseError),
    /// No answer: a timeout or a broken connection.
    Transport(String),
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupError::Broker(error) => write!(f, "{error:?}"),
            GroupError::Transport(text) => write!(f, "{text}"),
        }
    }
}

/// How long a JoinGroup may wait for its answer: the coordinator holds it until the
/// generation forms, up to the rebalance timeout (KIP-62), so the request timeout plus twice
/// that, as the Java client bounds it (`rebalance.timeout.ms` + `request.timeout.ms`).
pub fn join_timeout(request_timeout: Duration, rebalance_timeout_ms: i32) -> Duration {
    request_timeout + Duration::from_millis(rebalance_timeout_ms.max(0) as u64 * 2)
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    /// The generation formed.
    pub generation_id: i32,
    /// Our member id.
    pub member_id: String,
    /// The leader member's id.
    pub leader: String,
    /// Every member's metadata (leader only).
    pub members: Vec<(String, Bytes)>,
}

fn code(error_code: i16) -> Result<(), GroupError> {
    match ResponseError::try_from_code(error_code) {
        None => Ok(()),
        Some(error) => Err(GroupError::Broker(error)),
    }
}

impl<T: Transport> KafkaClient<T> {
    async fn group_call<R: kafka_protocol::protocol::Request>(
        &mut self,
        address: &str,
        request: &R,
        version: i16,
        timeout: Duration,
    ) -> Result<R::Response, GroupError> {
        self.send_to(address, request, version, timeout)
            .await
            .map_err(|e| GroupError::Transport(e.to_string()))
    }

    /// FindCoordinator on the next bootstrap broker: the coordinator's address.
    pub async fn find_coordinator(&mut self, group: &str) -> Result<String, GroupError> {
        let address = self.bootstrap[self.next_bootstrap % self.bootstrap.len()].clone();
        self.next_bootstrap += 1;
        let request = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.to_string()))
            .with_key_type(0);
        let timeout = self.request_timeout;
        let response = self
            .group_call(&address, &request, FIND_COORDINATOR_VERSION, timeout)
            .await?;
        code(response.error_code)?;
        Ok(format!("{}:{}", response.host, response.port))
    }

    /// JoinGroup; blocks at the coordinator until the generation forms.
    #[allow(clippy::too_many_arguments)]
    pub async fn join_group(
        &mut self,
        coordinator: &str,
        group: &str,
        member_id: &str,
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
        protocol: &str,
        metadata: Bytes,
    ) -> Result<Joined, GroupError> {
        let mut request = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_session_timeout_ms(session_timeout_ms)
            .with_rebalance_timeout_ms(rebalance_timeout_ms)
            .with_member_id(StrBytes::from_string(member_id.to_string()))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_string(protocol.to_string()))
                .with_metadata(metadata)]);
        let timeout = join_timeout(self.request_timeout, rebalance_timeout_ms);
        let mut response = self
            .group_call(coordinator, &request, JOIN_GROUP_VERSION, timeout)
            .await?;
        // KIP-394: from JoinGroup v4 a broker may answer a member without an id with
        // MEMBER_ID_REQUIRED and the id to use; the member joins again with it at once.
        if ResponseError::try_from_code(response.error_code)
            == Some(ResponseError::MemberIdRequired)
            && member_id.is_empty()
            && !response.member_id.is_empty()
        {
            request.member_id = response.member_id.clone();
            response = self
                .group_call(coordinator, &request, JOIN_GROUP_VERSION, timeout)
                .await?;
        }
        code(response.error_code)?;
        Ok(Joined {
            generation_id: response.generation_id,
            member_id: response.member_id.to_string(),
            leader: response.leader.to_string(),
            members: response
                .members
                .iter()
                .map(|m| (m.member_id.to_string(), m.metadata.clone()))
                .collect(),
        })
    }

    /// SyncGroup: the leader sends `assignments`; everyone gets its own back.
    pub async fn sync_group(
        &mut self,
        coordinator: &str,
        group: &str,
        generation_id: i32,
        member_id: &str,
        assignments: BTreeMap<String, Bytes>,
    ) -> Result<Bytes, GroupError> {
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_generation_id(generation_id)
            .with_member_id(StrBytes::from_string(member_id.to_string()))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(id, assignment)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(StrBytes::from_string(id))
                            .with_assignment(assignment)
                    })
                    .collect(),
            );
        let timeout = self.request_timeout * 6;
        let response = self
            .group_call(coordinator, &request, SYNC_GROUP_VERSION, timeout)
            .await?;
        code(response.error_code)?;
        Ok(response.assignment)
    }

    /// Heartbeat.
    pub async fn heartbeat(
        &mut self,
        coordinator: &str,
        group: &str,
        generation_id: i32,
        member_id: &str,
    ) -> Result<(), GroupError> {
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_generation_id(generation_id)
            .with_member_id(StrBytes::from_string(member_id.to_string()));
        let timeout = self.request_timeout;
        let response = self
            .group_call(coordinator, &request, HEARTBEAT_VERSION, timeout)
            .await?;
        code(response.error_code)
    }

    /// LeaveGroup.
    pub async fn leave_group(
        &mut self,
        coordinator: &str,
        group: &str,
        member_id: &str,
    ) -> Result<(), GroupError> {
        let request = LeaveGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_member_id(StrBytes::from_string(member_id.to_string()));
        let timeout = self.request_timeout;
        let response = self
            .group_call(coordinator, &request, LEAVE_GROUP_VERSION, timeout)
            .await?;
        code(response.error_code)
    }

    /// OffsetCommit of `offsets` (partition → next offset) for one topic.
    pub async fn offset_commit(
        &mut self,
        coordinator: &str,
        group: &str,
        generation_id: i32,
        member_id: &str,
        topic: &str,
        offsets: &BTreeMap<i32, i64>,
    ) -> Result<(), GroupError> {
        let request = OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_generation_id_or_member_epoch(generation_id)
            .with_member_id(StrBytes::from_string(member_id.to_string()))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partitions(
                    offsets
                        .iter()
                        .map(|(&partition, &offset)| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(partition)
                                .with_committed_offset(offset)
                                .with_committed_leader_epoch(-1)
                                .with_committed_metadata(Some(StrBytes::default()))
                        })
                        .collect(),
                )]);
        let timeout = self.request_timeout * 2;
        let response = self
            .group_call(coordinator, &request, OFFSET_COMMIT_VERSION, timeout)
            .await?;
        for t in &response.topics {
            for p in &t.partitions {
                code(p.error_code)?;
            }
        }
        Ok(())
    }

    /// OffsetFetch of some partitions of one topic: partition → committed offset, -1 for
    /// a partition with none (as the broker answers).
    pub async fn offset_fetch(
        &mut self,
        coordinator: &str,
        group: &str,
        topic: &str,
        partitions: &[i32],
    ) -> Result<BTreeMap<i32, i64>, GroupError> {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_string(group.to_string())))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.to_string())))
                .with_partition_indexes(partitions.to_vec())]));
        let timeout = self.request_timeout;
        let response = self
            .group_call(coordinator, &request, OFFSET_FETCH_VERSION, timeout)
            .await?;
        code(response.error_code)?;
        let mut offsets = BTreeMap::new();
        for t in &response.topics {
            for p in &t.partitions {
                code(p.error_code)?;
                offsets.insert(p.partition_index, p.committed_offset.max(-1));
            }
        }
        Ok(offsets)
    }

    /// Forgets a coordinator connection after an error.
    pub fn forget(&mut self, address: &str) {
        self.drop_connection(address);
    }
}
