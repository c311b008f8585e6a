//! One consumer group's membership: the classic rebalance protocol as a state machine.
//!
//! Kafka's `GroupCoordinator` / `GroupMetadata` (protocol guide, "The Consumer Group
//! Protocol"; KIP-62 for separate session and rebalance timeouts): a group moves
//! Empty → PreparingRebalance (members (re)join) → CompletingRebalance (the leader member
//! computes the assignment and sends it in SyncGroup) → Stable, and back to
//! PreparingRebalance whenever a member joins, leaves or lets its session expire. Every
//! completed rebalance is a new generation; requests carrying another generation are
//! fenced with ILLEGAL_GENERATION, unknown members with UNKNOWN_MEMBER_ID, and members
//! of a group that is rebalancing are told REBALANCE_IN_PROGRESS so that they rejoin.
//!
//! Sans-IO: every input carries `now_ms`; blocked JoinGroup and SyncGroup requests are
//! answered by polling [`Group::join_result`] and [`Group::sync_result`].

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use faultline_wire::ResponseError;
use kafka_protocol::messages::ConsumerProtocolSubscription;
use kafka_protocol::protocol::Decodable;

/// The protocol type of consumer groups (`ConsumerProtocol.PROTOCOL_TYPE`).
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Where a group is in the rebalance protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    /// No members (offsets may still be committed by a standalone consumer).
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// A generation is formed; waiting for the leader's SyncGroup.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
}

/// One member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The id the coordinator gave it.
    pub member_id: String,
    /// `session.timeout.ms`: silent this long, it is removed.
    pub session_timeout_ms: u64,
    /// `max.poll.interval.ms` as the rebalance timeout (KIP-62): how long a rebalance waits
    /// for it to rejoin.
    pub rebalance_timeout_ms: u64,
    /// The protocols it supports with their metadata (subscriptions), in preference order.
    pub protocols: Vec<(String, Bytes)>,
    /// When it was last heard from.
    pub last_heard_ms: u64,
    /// Whether it has joined the rebalance in progress.
    pub joined: bool,
    /// Whether its JoinGroup request is still waiting for an answer. A rebalance that
    /// starts before the answer is collected counts it as joined: its request is pending
    /// (Kafka's `MemberMetadata.isAwaitingJoin`).
    pub awaiting_join: bool,
    /// Its assignment in the current generation (from the leader's SyncGroup).
    pub assignment: Bytes,
}

/// What a member's JoinGroup is answered with once the generation forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResult {
    /// The new generation.
    pub generation_id: i32,
    /// The chosen protocol (assignor).
    pub protocol_name: String,
    /// The leader member's id.
    pub leader: String,
    /// This member's id.
    pub member_id: String,
    /// Every member's subscription metadata, for the leader only.
    pub members: Vec<(String, Bytes)>,
}

/// One consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group id.
    pub group_id: String,
    /// Rebalance state.
    pub state: GroupState,
    /// The current generation; 0 before the first.
    pub generation_id: i32,
    /// The chosen protocol of the current generation.
    pub protocol_name: String,
    /// The leader member of the current generation.
    pub leader: Option<String>,
    /// Members by id.
    pub members: BTreeMap<String, Member>,
    /// When the rebalance in progress gives up on members that have not rejoined.
    pub rebalance_deadline_ms: u64,
    /// Before this time a rebalance does not complete even when everyone has joined
    /// (`group.initial.rebalance.delay.ms`, for a group that was empty).
    pub rebalance_not_before_ms: u64,
    /// JoinGroup answers of the generation just formed.
    pub join_results: BTreeMap<String, JoinResult>,
    /// Committed offsets and their metadata strings by (topic, partition).
    pub committed: BTreeMap<(String, i32), (i64, String)>,
    /// Member ids handed out with MEMBER_ID_REQUIRED and not yet used to join, with when
    /// each expires (KIP-394: after a session timeout, as Kafka's `pendingMembers`).
    pub pending_members: BTreeMap<String, u64>,
    /// The protocol type its members joined with (`consumer` for consumers, `connect` for
    /// Kafka Connect workers, ...); empty for a group only offsets were committed to.
    pub protocol_type: String,
}

impl Group {
    /// A group with no members, whose generations will start above `generation_floor`.
    pub fn new(group_id: &str, generation_floor: i32) -> Self {
        Group {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation_id: generation_floor,
            protocol_name: String::new(),
            leader: None,
            members: BTreeMap::new(),
            rebalance_deadline_ms: 0,
            rebalance_not_before_ms: 0,
            join_results: BTreeMap::new(),
            committed: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            protocol_type: String::new(),
        }
    }

    /// KIP-394: a JoinGroup v4+ without a member id is answered at once with
    /// MEMBER_ID_REQUIRED and `new_member_id`, which stays reserved for a session timeout.
    /// The member is not in the group until it joins again with that id, so a client that
    /// closes in between leaves nothing behind — and a client that closes while its second
    /// JoinGroup is pending knows its id and can send LeaveGroup.
    pub fn require_member_id(
        &mut self,
        new_member_id: String,
        session_timeout_ms: u64,
        now_ms: u64,
    ) -> String {
        self.pending_members.insert(
            new_member_id.clone(),
            now_ms.saturating_add(session_timeout_ms),
        );
        new_member_id
    }

    /// Whether a member joining with `protocol_type` and `protocols` fits the group (Kafka's
    /// `GroupMetadata.supportsProtocols`): it names a type and at least one protocol, and,
    /// when others are in the group, the group's type and a protocol every other member
    /// supports. INCONSISTENT_GROUP_PROTOCOL otherwise (protocol guide, JoinGroup).
    pub fn check_protocols(
        &self,
        member_id: &str,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
    ) -> Result<(), ResponseError> {
        if protocol_type.is_empty() || protocols.is_empty() {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        let others: Vec<&Member> = self
            .members
            .values()
            .filter(|m| m.member_id != member_id)
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        let shared = protocols.iter().any(|(name, _)| {
            others
                .iter()
                .all(|m| m.protocols.iter().any(|(theirs, _)| theirs == name))
        });
        if self.protocol_type != protocol_type || !shared {
            return Err(ResponseError::InconsistentGroupProtocol);
        }
        Ok(())
    }

    /// JoinGroup: an empty `member.member_id` is a new member of a v0-v3 JoinGroup, which
    /// gets `new_member_id` (protocol guide, JoinGroup); from v4 the caller first hands out
    /// an id with [`Group::require_member_id`] (KIP-394). Returns the member id; the answer
    /// comes from [`Group::join_result`].
    pub fn join(
        &mut self,
        mut member: Member,
        new_member_id: String,
        initial_delay_ms: u64,
        now_ms: u64,
    ) -> Result<String, ResponseError> {
        if member.member_id.is_empty() {
            member.member_id = new_member_id;
        } else if self.pending_members.remove(&member.member_id).is_some() {
            // KIP-394: the second JoinGroup of a member told MEMBER_ID_REQUIRED.
        } else if !self.members.contains_key(&member.member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        member.last_heard_ms = now_ms;
        member.joined = true;
        member.awaiting_join = true;
        let member_id = member.member_id.clone();
        self.join_results.remove(&member_id);
        let was_empty = self.state == GroupState::Empty;
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now_ms);
        }
        if was_empty {
            self.rebalance_not_before_ms = now_ms + initial_delay_ms;
        }
        let timeout = member.rebalance_timeout_ms;
        self.rebalance_deadline_ms = self.rebalance_deadline_ms.max(now_ms + timeout);
        self.members.insert(member_id.clone(), member);
        self.try_complete_rebalance(now_ms);
        Ok(member_id)
    }

    fn prepare_rebalance(&mut self, now_ms: u64) {
        self.state = GroupState::PreparingRebalance;
        self.join_results.clear();
        self.rebalance_not_before_ms = now_ms;
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0);
        self.rebalance_deadline_ms = now_ms + timeout;
        for member in self.members.values_mut() {
            member.joined = member.awaiting_join;
        }
    }

    /// Forms the next generation once every member rejoined, or the deadline passed
    /// (members that did not rejoin are removed, as Kafka's `onCompleteJoin` does).
    fn try_complete_rebalance(&mut self, now_ms: u64) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        let everyone = self.members.values().all(|m| m.joined);
        let ready = (everyone && now_ms >= self.rebalance_not_before_ms)
            || now_ms >= self.rebalance_deadline_ms;
        if !ready {
            return;
        }
        self.members.retain(|_, m| m.joined);
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            return;
        }
        self.generation_id += 1;
        let leader = match &self.leader {
            Some(id) if self.members.contains_key(id) => id.clone(),
            _ => self.members.keys().next().expect("not empty").clone(),
        };
        self.protocol_name = self.choose_protocol(&leader);
        let subscriptions: Vec<(String, Bytes)> = self
            .members
            .values()
            .map(|m| (m.member_id.clone(), self.metadata_for(m)))
            .collect();
        for member in self.members.values_mut() {
            member.assignment = Bytes::new();
            self.join_results.insert(
                member.member_id.clone(),
                JoinResult {
                    generation_id: self.generation_id,
                    protocol_name: self.protocol_name.clone(),
                    leader: leader.clone(),
                    member_id: member.member_id.clone(),
                    members: if member.member_id == leader {
                        subscriptions.clone()
                    } else {
                        Vec::new()
                    },
                },
            );
        }
        self.leader = Some(leader);
        self.state = GroupState::CompletingRebalance;
    }

    /// The leader's most preferred protocol that every member supports (Kafka's
    /// `selectProtocol` votes; with one client implementation they agree).
    fn choose_protocol(&self, leader: &str) -> String {
        let candidates = &self.members[leader].protocols;
        candidates
            .iter()
            .map(|(name, _)| name.clone())
            .find(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
            .or_else(|| candidates.first().map(|(name, _)| name.clone()))
            .unwrap_or_default()
    }

    fn metadata_for(&self, member: &Member) -> Bytes {
        member
            .protocols
            .iter()
            .find(|(name, _)| *name == self.protocol_name)
            .map(|(_, metadata)| metadata.clone())
            .unwrap_or_default()
    }

    /// The answer to a blocked JoinGroup, once there is one.
    pub fn join_result(
        &mut self,
        member_id: &str,
        now_ms: u64,
    ) -> Option<Result<JoinResult, ResponseError>> {
        self.tick(now_ms);
        if let Some(result) = self.join_results.get(member_id) {
            if let Some(member) = self.members.get_mut(member_id) {
                member.awaiting_join = false;
            }
            return Some(Ok(result.clone()));
        }
        if !self.members.contains_key(member_id) {
            return Some(Err(ResponseError::UnknownMemberId));
        }
        None
    }

    /// Validates a member and generation as SyncGroup, Heartbeat and OffsetCommit do
    /// (protocol guide; Kafka's `GroupCoordinator.validateGroupStatus`): an unknown member
    /// is UNKNOWN_MEMBER_ID, another generation ILLEGAL_GENERATION.
    pub fn check_member(&self, member_id: &str, generation_id: i32) -> Result<(), ResponseError> {
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        if generation_id != self.generation_id {
            return Err(ResponseError::IllegalGeneration);
        }
        Ok(())
    }

    /// SyncGroup: the leader's carries the assignment and makes the group Stable.
    pub fn sync(
        &mut self,
        member_id: &str,
        generation_id: i32,
        assignments: BTreeMap<String, Bytes>,
        now_ms: u64,
    ) -> Result<(), ResponseError> {
        self.tick(now_ms);
        self.check_member(member_id, generation_id)?;
        self.touch(member_id, now_ms);
        match self.state {
            GroupState::PreparingRebalance | GroupState::Empty => {
                Err(ResponseError::RebalanceInProgress)
            }
            GroupState::Stable => Ok(()),
            GroupState::CompletingRebalance => {
                if self.leader.as_deref() == Some(member_id) {
                    for member in self.members.values_mut() {
                        member.assignment = assignments
                            .get(&member.member_id)
                            .cloned()
                            .unwrap_or_default();
                    }
                    self.state = GroupState::Stable;
                }
                Ok(())
            }
        }
    }

    /// The answer to a blocked SyncGroup, once there is one: the assignment when Stable in
    /// that generation; REBALANCE_IN_PROGRESS if a new rebalance overtook it.
    pub fn sync_result(
        &mut self,
        member_id: &str,
        generation_id: i32,
        now_ms: u64,
    ) -> Option<Result<Bytes, ResponseError>> {
        self.tick(now_ms);
        let Some(member) = self.members.get(member_id) else {
            return Some(Err(ResponseError::UnknownMemberId));
        };
        if generation_id != self.generation_id || self.state == GroupState::PreparingRebalance {
            return Some(Err(ResponseError::RebalanceInProgress));
        }
        (self.state == GroupState::Stable).then(|| Ok(member.assignment.clone()))
    }

    /// Heartbeat: keeps the session; REBALANCE_IN_PROGRESS tells the member to rejoin.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        generation_id: i32,
        now_ms: u64,
    ) -> Result<(), ResponseError> {
        self.tick(now_ms);
        self.check_member(member_id, generation_id)?;
        self.touch(member_id, now_ms);
        match self.state {
            GroupState::PreparingRebalance | GroupState::Empty => {
                Err(ResponseError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => Ok(()),
        }
    }

    /// LeaveGroup: the member goes at once and the others rebalance.
    pub fn leave(&mut self, member_id: &str, now_ms: u64) -> Result<(), ResponseError> {
        if self.pending_members.remove(member_id).is_some() {
            // KIP-394: a member that got its id but never joined leaves nothing to rebalance.
            return Ok(());
        }
        if self.members.remove(member_id).is_none() {
            return Err(ResponseError::UnknownMemberId);
        }
        self.membership_shrank(now_ms);
        Ok(())
    }

    fn membership_shrank(&mut self, now_ms: u64) {
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.leader = None;
            self.join_results.clear();
        } else if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now_ms);
        }
        self.try_complete_rebalance(now_ms);
    }

    fn touch(&mut self, member_id: &str, now_ms: u64) {
        if let Some(member) = self.members.get_mut(member_id) {
            member.last_heard_ms = member.last_heard_ms.max(now_ms);
        }
    }

    /// Removes members whose session expired and completes a rebalance whose time came.
    /// A member waiting in JoinGroup is alive by definition (its request is the proof).
    pub fn tick(&mut self, now_ms: u64) {
        self.pending_members
            .retain(|_, expires_ms| now_ms <= *expires_ms);
        let rebalancing = self.state == GroupState::PreparingRebalance;
        let before = self.members.len();
        self.members.retain(|_, m| {
            (rebalancing && m.joined)
                || now_ms.saturating_sub(m.last_heard_ms) <= m.session_timeout_ms
        });
        if self.members.len() < before {
            self.membership_shrank(now_ms);
        } else {
            self.try_complete_rebalance(now_ms);
        }
    }

    /// Whether it is a group of consumers (Kafka's `GroupMetadata.isConsumerGroup`).
    pub fn is_consumer_group(&self) -> bool {
        self.protocol_type == CONSUMER_PROTOCOL_TYPE
    }

    /// The topics its members subscribe to (Kafka's `GroupMetadata.subscribedTopics`, which
    /// OffsetDelete consults, KIP-496): the union of each member's ConsumerProtocolSubscription
    /// for the generation's protocol; empty without members; `None` when the group has no
    /// protocol yet or a member's metadata is not a subscription, and then every topic
    /// counts as subscribed.
    pub fn subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        if self.protocol_name.is_empty() {
            return None;
        }
        let mut topics = BTreeSet::new();
        for member in self.members.values() {
            let (_, metadata) = member
                .protocols
                .iter()
                .find(|(name, _)| *name == self.protocol_name)?;
            topics.extend(subscription_topics(metadata)?);
        }
        Some(topics)
    }
}

/// The topics of a ConsumerProtocolSubscription (an `i16` version, then the body). A
/// version newer than the crate knows is read as the newest it knows, as Kafka's
/// `ConsumerProtocol.deserializeSubscription` does: later versions only append fields.
fn subscription_topics(metadata: &Bytes) -> Option<Vec<String>> {
    let mut bytes = metadata.clone();
    if bytes.len() < 2 {
        return None;
    }
    let version = i16::from_be_bytes([bytes[0], bytes[1]]);
    if version < 0 {
        return None;
    }
    let _ = bytes.split_to(2);
    let subscription = ConsumerProtocolSubscription::decode(&mut bytes, version.min(3)).ok()?;
    Some(subscription.topics.iter().map(|t| t.to_string()).collect())
}
