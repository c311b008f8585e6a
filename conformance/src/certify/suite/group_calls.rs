//! The classic consumer-group calls the groups suite makes, each at the version both sides
//! speak and shaped for it (FindCoordinator batches keys from v4; LeaveGroup lists members
//! from v3), each through a [`Probe`] so that it is evidence. A [`Member`] is one group
//! member on its own connection.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    OffsetCommitRequest, OffsetFetchRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::{ResponseError, Transport};

use super::partition_io::topic_name;
use super::probe::{choose_version, no_version_reason, Probe};
use crate::certify::model::AdvertisedApi;

/// `session.timeout.ms` the suite's members ask for: Kafka's default
/// `group.min.session.timeout.ms`, so every conforming broker accepts it.
pub const SESSION_TIMEOUT_MS: i32 = 6_000;
/// `rebalance.timeout.ms`: short, so a rebalance that waits for a member ends soon.
pub const REBALANCE_TIMEOUT_MS: i32 = 3_000;
/// The assignor name members advertise.
const PROTOCOL: &str = "range";
/// How long FindCoordinator is retried while the coordinator loads (Kafka creates
/// `__consumer_offsets` on first use).
const COORDINATOR_WAIT: Duration = Duration::from_secs(10);

/// `(api, lowest, highest)` versions the suite can send for each group API.
const GROUP_APIS: [(ApiKey, i16, i16); 7] = [
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    // v9+ carries KIP-848 member epochs; v10 names topics by id.
    (ApiKey::OffsetCommit, 2, 8),
    // v8+ batches groups.
    (ApiKey::OffsetFetch, 1, 7),
];

/// The versions used for each group API.
#[derive(Debug, Clone, Copy)]
pub struct GroupVersions {
    find_coordinator: i16,
    join: i16,
    sync: i16,
    heartbeat: i16,
    leave: i16,
    commit: i16,
    fetch: i16,
}

impl GroupVersions {
    /// The highest common versions, or why the group suite does not apply.
    pub fn of(advertised: &[AdvertisedApi]) -> Result<Self, String> {
        let mut chosen = [0i16; 7];
        for (slot, &(api, floor, ceiling)) in chosen.iter_mut().zip(GROUP_APIS.iter()) {
            *slot = choose_version(advertised, api, floor, ceiling)
                .ok_or_else(|| no_version_reason(advertised, api, floor, ceiling))?;
        }
        let [find_coordinator, join, sync, heartbeat, leave, commit, fetch] = chosen;
        Ok(GroupVersions {
            find_coordinator,
            join,
            sync,
            heartbeat,
            leave,
            commit,
            fetch,
        })
    }
}

/// A JoinGroup answer.
#[derive(Debug, Clone)]
pub struct Joined {
    /// Error code (0: none).
    pub error_code: i16,
    /// The generation formed.
    pub generation_id: i32,
    /// Our member id (also set with MEMBER_ID_REQUIRED, KIP-394).
    pub member_id: String,
    /// The leader's member id.
    pub leader: String,
    /// Every member's id (leader only).
    pub members: Vec<String>,
}

/// One group member on its own connection.
pub struct Member<T: Transport> {
    /// Its exchanges.
    pub probe: Probe<T>,
    /// The coordinator's address.
    pub coordinator: String,
    /// The group.
    pub group: String,
    /// The topic it subscribes to, assigns and commits offsets of.
    pub topic: String,
    /// Versions to use.
    pub versions: GroupVersions,
    /// Its member id ("" before the first join).
    pub member_id: String,
    /// Its generation (-1 before the first join).
    pub generation_id: i32,
}

/// FindCoordinator for `group`, retried on retriable errors (the coordinator may still be
/// loading): the coordinator's address.
pub async fn find_coordinator<T: Transport>(
    probe: &mut Probe<T>,
    bootstrap: &[String],
    versions: GroupVersions,
    group: &str,
) -> Result<String, String> {
    let version = versions.find_coordinator;
    let key = StrBytes::from_string(group.to_string());
    let request = if version >= 4 {
        FindCoordinatorRequest::default().with_coordinator_keys(vec![key])
    } else {
        FindCoordinatorRequest::default().with_key(key)
    };
    let deadline = tokio::time::Instant::now() + COORDINATOR_WAIT;
    let mut attempt = 0;
    loop {
        let address = &bootstrap[attempt % bootstrap.len()];
        attempt += 1;
        let last = match probe.send(address, &request, version, Duration::ZERO).await {
            Ok(r) => {
                let (error_code, host, port) = match r.coordinators.first() {
                    Some(c) if version >= 4 => (c.error_code, c.host.to_string(), c.port),
                    _ => (r.error_code, r.host.to_string(), r.port),
                };
                match ResponseError::try_from_code(error_code) {
                    None => return Ok(format!("{host}:{port}")),
                    Some(e) if e.is_retriable() => format!("FindCoordinator answered {e:?}"),
                    Some(e) => return Err(format!("FindCoordinator for {group} answered {e:?}")),
                }
            }
            Err(e) => format!("FindCoordinator got no answer: {e}"),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(format!("{last} for {COORDINATOR_WAIT:?}"));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

impl<T: Transport> Member<T> {
    /// A member that has not joined yet.
    pub fn new(
        probe: Probe<T>,
        coordinator: &str,
        group: &str,
        topic: &str,
        versions: GroupVersions,
    ) -> Self {
        Member {
            probe,
            coordinator: coordinator.to_string(),
            group: group.to_string(),
            topic: topic.to_string(),
            versions,
            member_id: String::new(),
            generation_id: -1,
        }
    }

    fn group_id(&self) -> GroupId {
        GroupId(StrBytes::from_string(self.group.clone()))
    }

    /// One JoinGroup with `session_timeout_ms`; remembers the member id and generation
    /// it is given.
    pub async fn join_once(&mut self, session_timeout_ms: i32) -> Result<Joined, String> {
        let request = JoinGroupRequest::default()
            .with_group_id(self.group_id())
            .with_session_timeout_ms(session_timeout_ms)
            .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str(PROTOCOL))
                .with_metadata(subscription(&self.topic))]);
        // The coordinator holds JoinGroup until the rebalance completes or times out.
        let wait = Duration::from_millis(REBALANCE_TIMEOUT_MS as u64 * 2);
        let r = self
            .probe
            .send(&self.coordinator, &request, self.versions.join, wait)
            .await?;
        if !r.member_id.is_empty() {
            self.member_id = r.member_id.to_string();
        }
        if r.error_code == 0 {
            self.generation_id = r.generation_id;
        }
        Ok(Joined {
            error_code: r.error_code,
            generation_id: r.generation_id,
            member_id: r.member_id.to_string(),
            leader: r.leader.to_string(),
            members: r.members.iter().map(|m| m.member_id.to_string()).collect(),
        })
    }

    /// JoinGroup, joining again with the member id the coordinator assigned when it
    /// answers MEMBER_ID_REQUIRED (KIP-394, JoinGroup v4+).
    pub async fn join(&mut self, session_timeout_ms: i32) -> Result<Joined, String> {
        let joined = self.join_once(session_timeout_ms).await?;
        if joined.error_code == ResponseError::MemberIdRequired.code() {
            return self.join_once(session_timeout_ms).await;
        }
        Ok(joined)
    }

    /// SyncGroup; the leader assigns the topic's `partitions` to itself and none to the
    /// others. The error code.
    pub async fn sync(&mut self, joined: &Joined, partitions: i32) -> Result<i16, String> {
        let assignments = if joined.leader == self.member_id {
            joined
                .members
                .iter()
                .map(|id| {
                    let mine = if *id == self.member_id { partitions } else { 0 };
                    SyncGroupRequestAssignment::default()
                        .with_member_id(StrBytes::from_string(id.clone()))
                        .with_assignment(assignment(&self.topic, mine))
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut request = SyncGroupRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id(self.generation_id)
            .with_member_id(StrBytes::from_string(self.member_id.clone()))
            .with_assignments(assignments);
        if self.versions.sync >= 5 {
            request = request
                .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                .with_protocol_name(Some(StrBytes::from_static_str(PROTOCOL)));
        }
        let wait = Duration::from_millis(REBALANCE_TIMEOUT_MS as u64 * 2);
        let r = self
            .probe
            .send(&self.coordinator, &request, self.versions.sync, wait)
            .await?;
        Ok(r.error_code)
    }

    /// Heartbeat as `member_id` at `generation_id`: the error code.
    pub async fn heartbeat_as(
        &mut self,
        member_id: &str,
        generation_id: i32,
    ) -> Result<i16, String> {
        let request = HeartbeatRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id(generation_id)
            .with_member_id(StrBytes::from_string(member_id.to_string()));
        let r = self
            .probe
            .send(
                &self.coordinator,
                &request,
                self.versions.heartbeat,
                Duration::ZERO,
            )
            .await?;
        Ok(r.error_code)
    }

    /// OffsetCommit of one partition as `member_id` at `generation_id`: the partition's
    /// error code.
    pub async fn commit_as(
        &mut self,
        member_id: &str,
        generation_id: i32,
        offset: i64,
        metadata: &str,
    ) -> Result<i16, String> {
        let request = OffsetCommitRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id_or_member_epoch(generation_id)
            .with_member_id(StrBytes::from_string(member_id.to_string()))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic_name(&self.topic))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)
                    .with_committed_metadata(Some(StrBytes::from_string(
                        metadata.to_string(),
                    )))])]);
        let r = self
            .probe
            .send(
                &self.coordinator,
                &request,
                self.versions.commit,
                Duration::ZERO,
            )
            .await?;
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == 0)
            .map(|p| p.error_code)
            .ok_or_else(|| "the OffsetCommit response has no answer for partition 0".to_string())
    }

    /// OffsetFetch of partition 0: `(error code, committed offset, metadata)`.
    pub async fn fetch_offset(&mut self) -> Result<(i16, i64, Option<String>), String> {
        let request = OffsetFetchRequest::default()
            .with_group_id(self.group_id())
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name(&self.topic))
                .with_partition_indexes(vec![0])]));
        let r = self
            .probe
            .send(
                &self.coordinator,
                &request,
                self.versions.fetch,
                Duration::ZERO,
            )
            .await?;
        if r.error_code != 0 {
            return Ok((r.error_code, -1, None));
        }
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == 0)
            .map(|p| {
                (
                    p.error_code,
                    p.committed_offset,
                    p.metadata.as_ref().map(|m| m.to_string()),
                )
            })
            .ok_or_else(|| "the OffsetFetch response has no answer for partition 0".to_string())
    }

    /// LeaveGroup (best effort, at the end of a test).
    pub async fn leave(&mut self) {
        if self.member_id.is_empty() {
            return;
        }
        let member_id = StrBytes::from_string(self.member_id.clone());
        let request = if self.versions.leave >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(self.group_id())
                .with_members(vec![MemberIdentity::default().with_member_id(member_id)])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(self.group_id())
                .with_member_id(member_id)
        };
        let _ = self
            .probe
            .send(
                &self.coordinator,
                &request,
                self.versions.leave,
                Duration::ZERO,
            )
            .await;
    }
}

/// A ConsumerProtocolSubscription v0 for one topic (brokers that inspect classic group
/// metadata, e.g. Kafka 4's coordinator when converting groups, need it well-formed).
fn subscription(topic: &str) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(1);
    put_string(&mut out, topic);
    out.put_i32(-1);
    out.freeze()
}

/// A ConsumerProtocolAssignment v0: partitions `0..count` of `topic` (none when 0).
fn assignment(topic: &str, count: i32) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    if count == 0 {
        out.put_i32(0);
    } else {
        out.put_i32(1);
        put_string(&mut out, topic);
        out.put_i32(count);
        for partition in 0..count {
            out.put_i32(partition);
        }
    }
    out.put_i32(-1);
    out.freeze()
}

fn put_string(out: &mut BytesMut, text: &str) {
    out.put_i16(text.len() as i16);
    out.put_slice(text.as_bytes());
}
