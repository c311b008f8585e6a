//! The group ops of a case: FindCoordinator once, then JoinGroup (members joining together
//! send at once), SyncGroup, Heartbeat, OffsetCommit, OffsetFetch and LeaveGroup, each
//! checked against the [`GroupModel`](super::group_model::GroupModel).

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
    ApiKey, GroupId, JoinGroupRequest, LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest,
    SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::{ResponseError, Transport};

use super::driver::Driver;
use super::group_model::{claimed, JoinSeen};
use super::ops::Claim;
use super::rules::{Violation, ANSWERED};
use super::setup::version_of;
use crate::certify::suite::group_calls::{find_coordinator, GroupVersions, Joined, Member};
use crate::certify::suite::join_all;
use crate::certify::suite::partition_io::topic_name;
use crate::certify::suite::probe::Probe;

/// `session.timeout.ms`: long enough that no member of a case expires between its ops,
/// within Kafka's default `group.max.session.timeout.ms` (30 minutes).
const SESSION_TIMEOUT_MS: i32 = 30_000;
/// `rebalance.timeout.ms`: a rebalance waiting for a member that does not rejoin gives up
/// on it after this (Kafka has no lower bound), so such a step costs one second.
const REBALANCE_TIMEOUT_MS: i32 = 1_000;
/// JoinGroup versions (v4+ answers a new member MEMBER_ID_REQUIRED, KIP-394).
const JOIN_VERSIONS: (i16, i16) = (0, 9);
/// Member slots a case uses.
pub const MEMBER_SLOTS: u8 = 4;
/// Versions of the group calls this file builds itself.
const SYNC_VERSIONS: (i16, i16) = (0, 5);
const COMMIT_VERSIONS: (i16, i16) = (2, 8);
const OFFSET_FETCH_VERSIONS: (i16, i16) = (1, 7);
const LEAVE_VERSIONS: (i16, i16) = (0, 5);

impl<T: Transport> Driver<'_, T> {
    fn group_id(&self) -> GroupId {
        GroupId(StrBytes::from_string(self.setup.group.clone()))
    }

    async fn coordinator(&mut self) -> Result<String, Violation> {
        if let Some(address) = &self.coordinator {
            return Ok(address.clone());
        }
        let versions =
            GroupVersions::of(&self.target.advertised).map_err(|e| ANSWERED.violated(e))?;
        let mut probe = Probe::new(self.transport, self.target);
        let found = find_coordinator(
            &mut probe,
            &self.target.bootstrap,
            versions,
            &self.setup.group,
        )
        .await;
        self.collect(&mut probe);
        let address = found.map_err(|e| ANSWERED.violated(e))?;
        self.coordinator = Some(address.clone());
        Ok(address)
    }

    /// The member object of `slot` (created on first use).
    async fn member(&mut self, slot: u8) -> Result<Member<T>, Violation> {
        let coordinator = self.coordinator().await?;
        if let Some(member) = self.members.remove(&slot) {
            return Ok(member);
        }
        let versions =
            GroupVersions::of(&self.target.advertised).map_err(|e| ANSWERED.violated(e))?;
        Ok(Member::new(
            Probe::new(self.transport, self.target),
            &coordinator,
            &self.setup.group,
            &self.setup.topic,
            versions,
        ))
    }

    fn park(&mut self, slot: u8, mut member: Member<T>) {
        self.collect(&mut member.probe);
        self.members.insert(slot, member);
    }

    pub(super) async fn join(&mut self, slots: &[u8]) -> Result<(), Violation> {
        let mut slots: Vec<u8> = slots.iter().map(|s| s % MEMBER_SLOTS).collect();
        slots.sort_unstable();
        slots.dedup();
        let Some(version) = version_of(
            self.target,
            ApiKey::JoinGroup,
            JOIN_VERSIONS.0,
            JOIN_VERSIONS.1,
        ) else {
            return Ok(());
        };
        let mut joining = Vec::new();
        for &slot in &slots {
            let mut member = self.member(slot).await?;
            // A slot that is not a member joins as a new member (empty member id).
            match self.model.group.members.get(&slot) {
                Some(known) => member.member_id = known.member_id.clone(),
                None => member.member_id.clear(),
            }
            joining.push(member);
        }
        let answers = join_all(joining.iter_mut().map(|m| join(m, version)).collect()).await;
        let mut seen = Vec::new();
        let mut failure = None;
        for ((slot, member), answer) in slots.iter().zip(joining).zip(answers) {
            self.park(*slot, member);
            match answer {
                Ok(j) => seen.push((
                    *slot,
                    JoinSeen {
                        error_code: j.error_code,
                        generation_id: j.generation_id,
                        member_id: j.member_id,
                        leader: j.leader,
                        members: j.members,
                    },
                )),
                Err(e) => {
                    failure = Some(ANSWERED.violated(format!(
                        "JoinGroup of member slot {slot} got no answer: {e}"
                    )))
                }
            }
        }
        if let Some(violation) = failure {
            return Err(violation);
        }
        self.model.group.check_join(&seen)
    }

    pub(super) async fn sync(&mut self) -> Result<(), Violation> {
        let Some(version) = version_of(
            self.target,
            ApiKey::SyncGroup,
            SYNC_VERSIONS.0,
            SYNC_VERSIONS.1,
        ) else {
            return Ok(());
        };
        let group = self.model.group.clone();
        if group.generation_id.is_none() {
            return Ok(());
        };
        let ids: Vec<(u8, String)> = group
            .members
            .iter()
            .map(|(s, m)| (*s, m.member_id.clone()))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let sent: Vec<(u8, Bytes)> = ids
            .iter()
            .enumerate()
            .map(|(k, (slot, _))| {
                (
                    *slot,
                    assignment(&self.setup.topic, &self.setup.partitions, k, ids.len()),
                )
            })
            .collect();
        let mut syncing = Vec::new();
        for (slot, member_id) in &ids {
            let member = self.member(*slot).await?;
            let leader = group.leader == Some(*slot);
            let mut request = SyncGroupRequest::default()
                .with_group_id(self.group_id())
                .with_generation_id(group.members[slot].generation_id)
                .with_member_id(StrBytes::from_string(member_id.clone()));
            if leader {
                request = request.with_assignments(
                    ids.iter()
                        .zip(&sent)
                        .map(|((_, id), (_, bytes))| {
                            SyncGroupRequestAssignment::default()
                                .with_member_id(StrBytes::from_string(id.clone()))
                                .with_assignment(bytes.clone())
                        })
                        .collect(),
                );
            }
            if version >= 5 {
                request = request
                    .with_protocol_type(Some(StrBytes::from_static_str("consumer")))
                    .with_protocol_name(Some(StrBytes::from_static_str("range")));
            }
            syncing.push((member, request));
        }
        let wait = Duration::from_millis(REBALANCE_TIMEOUT_MS as u64 * 2);
        let answers = join_all(
            syncing
                .iter_mut()
                .map(|(member, request)| {
                    let coordinator = member.coordinator.clone();
                    async move {
                        member
                            .probe
                            .send(&coordinator, &*request, version, wait)
                            .await
                    }
                })
                .collect(),
        )
        .await;
        let mut checked = Vec::new();
        let mut failure = None;
        for (((slot, _), (member, _)), answer) in ids.iter().zip(syncing).zip(answers) {
            self.park(*slot, member);
            let expected = sent
                .iter()
                .find(|(s, _)| s == slot)
                .map(|(_, b)| b.to_vec())
                .unwrap_or_default();
            match answer {
                Ok(r) => checked.push((*slot, r.error_code, r.assignment.to_vec(), expected)),
                Err(e) => {
                    failure = Some(ANSWERED.violated(format!(
                        "SyncGroup of member slot {slot} got no answer: {e}"
                    )))
                }
            }
        }
        if let Some(violation) = failure {
            return Err(violation);
        }
        self.model.group.check_sync(&checked)
    }

    pub(super) async fn heartbeat(&mut self, slot: u8, claim: Claim) -> Result<(), Violation> {
        let slot = slot % MEMBER_SLOTS;
        let (member_id, generation) = claimed(&self.model.group, slot, claim);
        let mut member = self.member(slot).await?;
        let answer = member.heartbeat_as(&member_id, generation).await;
        self.park(slot, member);
        let error_code =
            answer.map_err(|e| ANSWERED.violated(format!("Heartbeat got no answer: {e}")))?;
        self.model
            .group
            .check_fenced(&member_id, generation, error_code, None)
    }

    pub(super) async fn commit(
        &mut self,
        index: usize,
        slot: u8,
        claim: Claim,
        partition: u8,
        offset: u16,
    ) -> Result<(), Violation> {
        let Some(version) = version_of(
            self.target,
            ApiKey::OffsetCommit,
            COMMIT_VERSIONS.0,
            COMMIT_VERSIONS.1,
        ) else {
            return Ok(());
        };
        let slot = slot % MEMBER_SLOTS;
        let partition_slot = (partition as usize % self.setup.partitions.len()) as u8;
        let (member_id, generation) = claimed(&self.model.group, slot, claim);
        let metadata = format!("{}/commit-{index}", self.setup.tag);
        let request = OffsetCommitRequest::default()
            .with_group_id(self.group_id())
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(StrBytes::from_string(member_id.clone()))
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic_name(&self.setup.topic))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(self.setup.partitions[partition_slot as usize])
                    .with_committed_offset(i64::from(offset))
                    .with_committed_metadata(Some(StrBytes::from_string(
                        metadata.clone(),
                    )))])]);
        let mut member = self.member(slot).await?;
        let coordinator = member.coordinator.clone();
        let answer = member
            .probe
            .send(&coordinator, &request, version, Duration::ZERO)
            .await;
        self.park(slot, member);
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("OffsetCommit got no answer: {e}")))?;
        let error_code = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .next()
            .map(|p| p.error_code)
            .ok_or_else(|| ANSWERED.violated("the OffsetCommit response has no partition"))?;
        let stored = (partition_slot, i64::from(offset), metadata);
        self.model
            .group
            .check_fenced(&member_id, generation, error_code, Some(stored))?;
        if super::commit_edges::outside_generation(claim) {
            // An accepted commit is visible, a refused one is not (rules::UNMANAGED_COMMIT).
            self.fetch_committed(slot).await?;
        }
        Ok(())
    }

    pub(super) async fn fetch_committed(&mut self, client: u8) -> Result<(), Violation> {
        let Some(version) = version_of(
            self.target,
            ApiKey::OffsetFetch,
            OFFSET_FETCH_VERSIONS.0,
            OFFSET_FETCH_VERSIONS.1,
        ) else {
            return Ok(());
        };
        let coordinator = self.coordinator().await?;
        let request = OffsetFetchRequest::default()
            .with_group_id(self.group_id())
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name(&self.setup.topic))
                .with_partition_indexes(self.setup.partitions.clone())]));
        let index = client as usize % self.clients.len();
        let mut probe = std::mem::replace(
            &mut self.clients[index],
            Probe::new(self.transport, self.target),
        );
        let answer = probe
            .send(&coordinator, &request, version, Duration::ZERO)
            .await;
        self.collect(&mut probe);
        self.clients[index] = probe;
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("OffsetFetch got no answer: {e}")))?;
        let answers: Vec<(u8, i16, i64, Option<String>)> = self
            .setup
            .partitions
            .iter()
            .enumerate()
            .map(|(slot, id)| {
                let found = response
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == *id);
                match found {
                    _ if response.error_code != 0 => (slot as u8, response.error_code, -1, None),
                    Some(p) => (
                        slot as u8,
                        p.error_code,
                        p.committed_offset,
                        p.metadata.as_ref().map(|m| m.to_string()),
                    ),
                    None => (slot as u8, 0, -2, None),
                }
            })
            .collect();
        self.model.group.check_committed(&answers)
    }

    pub(super) async fn leave(&mut self, slot: u8) -> Result<(), Violation> {
        let Some(version) = version_of(
            self.target,
            ApiKey::LeaveGroup,
            LEAVE_VERSIONS.0,
            LEAVE_VERSIONS.1,
        ) else {
            return Ok(());
        };
        let slot = slot % MEMBER_SLOTS;
        let (member_id, _) = claimed(&self.model.group, slot, Claim::Current);
        let id = StrBytes::from_string(member_id.clone());
        // KIP-345: from v3 LeaveGroup lists members and answers per member.
        let request = if version >= 3 {
            LeaveGroupRequest::default()
                .with_group_id(self.group_id())
                .with_members(vec![MemberIdentity::default().with_member_id(id)])
        } else {
            LeaveGroupRequest::default()
                .with_group_id(self.group_id())
                .with_member_id(id)
        };
        let mut member = self.member(slot).await?;
        let coordinator = member.coordinator.clone();
        let answer = member
            .probe
            .send(&coordinator, &request, version, Duration::ZERO)
            .await;
        self.park(slot, member);
        let response =
            answer.map_err(|e| ANSWERED.violated(format!("LeaveGroup got no answer: {e}")))?;
        let error_code = match response.members.first() {
            Some(m) if response.error_code == 0 => m.error_code,
            _ => response.error_code,
        };
        self.model.group.check_leave(slot, &member_id, error_code)
    }
}

/// JoinGroup of `member` (with its id, or as a new member), joining again with the id the
/// coordinator assigned when it answers MEMBER_ID_REQUIRED (KIP-394).
async fn join<T: Transport>(member: &mut Member<T>, version: i16) -> Result<Joined, String> {
    let mut joined = join_once(member, version).await?;
    if joined.error_code == ResponseError::MemberIdRequired.code() {
        joined = join_once(member, version).await?;
    }
    Ok(joined)
}

async fn join_once<T: Transport>(member: &mut Member<T>, version: i16) -> Result<Joined, String> {
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(member.group.clone())))
        .with_session_timeout_ms(SESSION_TIMEOUT_MS)
        .with_rebalance_timeout_ms(REBALANCE_TIMEOUT_MS)
        .with_member_id(StrBytes::from_string(member.member_id.clone()))
        .with_protocol_type(StrBytes::from_static_str("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(StrBytes::from_static_str("range"))
            .with_metadata(subscription(&member.topic))]);
    // The coordinator holds JoinGroup until the rebalance completes or times out.
    let wait = Duration::from_millis(REBALANCE_TIMEOUT_MS as u64 * 2);
    let coordinator = member.coordinator.clone();
    let r = member
        .probe
        .send(&coordinator, &request, version, wait)
        .await?;
    if !r.member_id.is_empty() {
        member.member_id = r.member_id.to_string();
    }
    if r.error_code == 0 {
        member.generation_id = r.generation_id;
    }
    Ok(Joined {
        error_code: r.error_code,
        generation_id: r.generation_id,
        member_id: r.member_id.to_string(),
        leader: r.leader.to_string(),
        members: r.members.iter().map(|m| m.member_id.to_string()).collect(),
    })
}

/// A ConsumerProtocolSubscription v0 for one topic.
fn subscription(topic: &str) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(1);
    out.put_i16(topic.len() as i16);
    out.put_slice(topic.as_bytes());
    out.put_i32(-1);
    out.freeze()
}

/// A ConsumerProtocolAssignment v0 giving member `k` of `n` the partitions `k, k+n, ...`
/// of `topic` (the bytes are opaque to the coordinator; they are well-formed for brokers
/// that inspect them).
fn assignment(topic: &str, partitions: &[i32], k: usize, n: usize) -> Bytes {
    let mine: Vec<i32> = partitions
        .iter()
        .copied()
        .skip(k)
        .step_by(n.max(1))
        .collect();
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(1);
    out.put_i16(topic.len() as i16);
    out.put_slice(topic.as_bytes());
    out.put_i32(mine.len() as i32);
    for p in mine {
        out.put_i32(p);
    }
    out.put_i32(-1);
    out.freeze()
}
