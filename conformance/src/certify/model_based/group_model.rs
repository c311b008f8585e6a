//! One consumer group of the classic protocol as its members can know it (protocol guide,
//! "The Consumer Group Protocol"): the generation, who is in it, where the rebalance
//! stands, and the committed offsets with their metadata.
//!
//! Latitude the protocol gives and the model allows: a follower rejoining with unchanged
//! metadata may be handed the current generation again; members that do not rejoin a
//! rebalance within the rebalance timeout are removed, so while one is in progress a
//! member that has not rejoined may already be UNKNOWN_MEMBER_ID; commits during a
//! rebalance may answer REBALANCE_IN_PROGRESS.

use std::collections::{BTreeMap, BTreeSet};

use faultline_wire::ResponseError;

use super::ops::Claim;
use super::rules::{Violation, COMMITTED, FENCING, JOIN, LEAVE, SYNC, UNMANAGED_COMMIT};

/// Where the group's rebalance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// No members.
    #[default]
    Empty,
    /// Members must rejoin (after a leave).
    Rebalancing,
    /// A generation formed; its members have not all synced.
    AwaitingSync,
    /// The leader's assignment was handed out.
    Stable,
}

/// A member the model knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberModel {
    /// Its member id.
    pub member_id: String,
    /// The generation it last joined.
    pub generation_id: i32,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinSeen {
    /// Error code.
    pub error_code: i16,
    /// Generation.
    pub generation_id: i32,
    /// The member's id.
    pub member_id: String,
    /// The leader's id.
    pub leader: String,
    /// The member list (the leader's answer only).
    pub members: Vec<String>,
}

/// The model of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupModel {
    /// The current generation, once one formed.
    pub generation_id: Option<i32>,
    /// The generation may have moved without the model seeing it (a rebalance that
    /// timed out every member): only "newer" is checked.
    pub generation_inexact: bool,
    /// Joins sent together were answered across several generations (one rebalance
    /// overtook another): who is in the group is no longer known exactly until a join
    /// answered in one generation. Meanwhile members and ex-members may be accepted or
    /// fenced; ids never handed out must still be fenced.
    pub membership_inexact: bool,
    /// Members by slot.
    pub members: BTreeMap<u8, MemberModel>,
    /// The last member id each slot had (to send as an ex-member).
    pub former: BTreeMap<u8, String>,
    /// The rebalance phase.
    pub phase: Phase,
    /// The current generation's leader slot.
    pub leader: Option<u8>,
    /// Committed `(offset, metadata)` by partition slot.
    pub committed: BTreeMap<u8, (i64, String)>,
}

/// What a Heartbeat or OffsetCommit claim resolves to: `(member id, generation)`.
pub fn claimed(group: &GroupModel, member: u8, claim: Claim) -> (String, i32) {
    let generation = group.generation_id.unwrap_or(0);
    match (claim, group.members.get(&member)) {
        (
            Claim::Unmanaged | Claim::NoGeneration | Claim::EmptyMemberId | Claim::FutureGeneration,
            _,
        ) => super::commit_edges::claimed(group, member, claim),
        (Claim::UnknownMember, _) => ("faultline-never-handed-out".to_string(), generation),
        (Claim::Current, Some(m)) => (m.member_id.clone(), m.generation_id),
        (Claim::PreviousGeneration, Some(m)) => (m.member_id.clone(), m.generation_id - 1),
        (_, None) => (
            group
                .former
                .get(&member)
                .cloned()
                .unwrap_or_else(|| format!("faultline-never-joined-{member}")),
            generation,
        ),
    }
}

impl GroupModel {
    /// Whether `(member_id, generation)` is a member of the current generation.
    fn valid(&self, member_id: &str, generation: i32) -> Option<u8> {
        let slot = self
            .members
            .iter()
            .find(|(_, m)| m.member_id == member_id)
            .map(|(s, _)| *s)?;
        (Some(generation) == self.generation_id || self.generation_inexact).then_some(slot)
    }

    /// The errors a Heartbeat or OffsetCommit as `(member_id, generation)` may answer,
    /// and whether NONE is among them.
    fn fencing_answers(
        &self,
        member_id: &str,
        generation: i32,
        commit: bool,
    ) -> (bool, Vec<ResponseError>) {
        if let Some(answers) = self
            .commit_without_generation(member_id, generation)
            .filter(|_| commit)
        {
            return answers;
        }
        let known = self.members.values().any(|m| m.member_id == member_id);
        let handed_out = known || self.former.values().any(|id| id == member_id);
        if self.membership_inexact && handed_out {
            let errors = vec![
                ResponseError::UnknownMemberId,
                ResponseError::IllegalGeneration,
                ResponseError::RebalanceInProgress,
            ];
            return (true, errors);
        }
        if !known {
            let mut errors = vec![ResponseError::UnknownMemberId];
            if self.phase != Phase::Stable && self.phase != Phase::Empty {
                // See below: refused either way during a rebalance.
                errors.push(ResponseError::RebalanceInProgress);
            }
            if commit || self.generation_id.is_none() {
                // A commit for a group the coordinator does not have (or a member it
                // does not know) with a generation ≥ 0 is fenced by generation.
                errors.push(ResponseError::IllegalGeneration);
            }
            if self.generation_id.is_none() {
                errors.push(ResponseError::GroupIdNotFound);
            }
            return (false, errors);
        }
        let rebalancing = self.phase == Phase::Rebalancing;
        let mut errors = Vec::new();
        if self.phase != Phase::Stable {
            // During a rebalance a coordinator may answer REBALANCE_IN_PROGRESS before it
            // looks at the member and generation: the protocol guide orders no checks,
            // and the request is refused either way (Kafka itself checks the member first).
            errors.push(ResponseError::RebalanceInProgress);
        }
        if rebalancing {
            // Not rejoined within the rebalance timeout: removed (protocol guide, JoinGroup).
            errors.push(ResponseError::UnknownMemberId);
        }
        if self.valid(member_id, generation).is_none() {
            errors.push(ResponseError::IllegalGeneration);
            return (false, errors);
        }
        match self.phase {
            Phase::Stable => (true, errors),
            Phase::AwaitingSync if !commit => (true, errors),
            Phase::AwaitingSync | Phase::Rebalancing | Phase::Empty => {
                errors.push(ResponseError::RebalanceInProgress);
                (commit, errors)
            }
        }
    }

    /// Checks a Heartbeat or OffsetCommit answer against fencing. For a commit,
    /// `committed` is what it stores; a fenced commit must store nothing.
    pub fn check_fenced(
        &mut self,
        member_id: &str,
        generation: i32,
        error_code: i16,
        committed: Option<(u8, i64, String)>,
    ) -> Result<(), Violation> {
        let (none_allowed, errors) =
            self.fencing_answers(member_id, generation, committed.is_some());
        let what = if committed.is_some() {
            "OffsetCommit"
        } else {
            "Heartbeat"
        };
        match ResponseError::try_from_code(error_code) {
            None if none_allowed => {
                if let Some((partition, offset, metadata)) = committed {
                    self.committed.insert(partition, (offset, metadata));
                }
                Ok(())
            }
            Some(e) if errors.contains(&e) => {
                if e == ResponseError::UnknownMemberId {
                    self.forget(member_id);
                }
                Ok(())
            }
            Some(e) if e.is_retriable() && e != ResponseError::RebalanceInProgress => Ok(()),
            other => Err(if committed.is_some() && (generation < 0 || member_id.is_empty()) {
                UNMANAGED_COMMIT
            } else {
                FENCING
            }
            .violated(format!(
                "{what} as member {member_id:?} of generation {generation} (the group is at {:?}, {:?}, members {:?}) answered {}; allowed: {}{errors:?}",
                self.generation_id,
                self.phase,
                self.members.values().map(|m| &m.member_id).collect::<Vec<_>>(),
                other.map_or("NONE".to_string(), |e| format!("{e:?}")),
                if none_allowed { "NONE or " } else { "" },
            ))),
        }
    }

    /// A member the coordinator removed.
    fn forget(&mut self, member_id: &str) {
        let slot = self
            .members
            .iter()
            .find(|(_, m)| m.member_id == member_id)
            .map(|(s, _)| *s);
        if let Some(slot) = slot {
            self.members.remove(&slot);
            self.former.insert(slot, member_id.to_string());
        }
        if self.members.is_empty() && self.phase != Phase::Empty {
            self.phase = Phase::Empty;
            self.generation_inexact = true;
        }
    }

    /// Checks the answers of members `joined` (slot, answer) that joined together.
    pub fn check_join(&mut self, joined: &[(u8, JoinSeen)]) -> Result<(), Violation> {
        let mut formed: Vec<(u8, &JoinSeen)> = Vec::new();
        for (slot, seen) in joined {
            match ResponseError::try_from_code(seen.error_code) {
                None => formed.push((*slot, seen)),
                Some(ResponseError::UnknownMemberId) if !self.members.contains_key(slot) => {
                    self.former.remove(slot);
                }
                Some(e) if e.is_retriable() && e != ResponseError::RebalanceInProgress => {}
                Some(e) => {
                    return Err(JOIN.violated(format!(
                        "JoinGroup of member slot {slot} ({:?}) answered {e:?}",
                        self.members.get(slot).map(|m| &m.member_id)
                    )))
                }
            }
        }
        if formed.is_empty() {
            return Ok(());
        }
        let ids: BTreeSet<&str> = formed.iter().map(|(_, s)| s.member_id.as_str()).collect();
        if ids.len() != formed.len() || ids.contains("") {
            return Err(JOIN.violated(format!(
                "members joining together got ids {ids:?}: empty or shared"
            )));
        }
        // Joins sent together may be processed one by one: a rejoin can complete a
        // rebalance before a new member's join starts the next, so answers may span
        // successive generations; the newest one is the group.
        let mut by_generation: BTreeMap<i32, Vec<&JoinSeen>> = BTreeMap::new();
        for (_, seen) in &formed {
            by_generation
                .entry(seen.generation_id)
                .or_default()
                .push(seen);
        }
        let current: BTreeSet<&str> = self
            .members
            .values()
            .map(|m| m.member_id.as_str())
            .collect();
        let previous = self.generation_id.unwrap_or(i32::MIN);
        let interleaved = by_generation.len() > 1 || self.membership_inexact;
        for (&generation, answers) in &by_generation {
            if interleaved {
                if generation < previous {
                    return Err(JOIN.violated(format!(
                        "JoinGroup answered generation {generation}, older than {previous}"
                    )));
                }
                continue;
            }
            let receivers: BTreeSet<&str> = answers.iter().map(|s| s.member_id.as_str()).collect();
            let leader = answers[0].leader.as_str();
            if answers.iter().any(|s| s.leader != leader) {
                return Err(JOIN.violated(format!(
                    "members of generation {generation} were told different leaders"
                )));
            }
            if generation < previous || (generation == previous && self.generation_inexact) {
                return Err(JOIN.violated(format!(
                    "JoinGroup answered generation {generation}, not newer than {previous}"
                )));
            }
            if generation == previous {
                // A follower rejoining with unchanged metadata may be handed the current
                // generation again (Kafka's `GroupCoordinator.handleJoinGroup`).
                if !receivers.is_subset(&current) || self.phase == Phase::Rebalancing {
                    return Err(JOIN.violated(format!(
                        "JoinGroup answered the current generation {generation} to {receivers:?}, but the membership changed (was {current:?})"
                    )));
                }
                continue;
            }
            if !receivers.contains(leader) {
                return Err(JOIN.violated(format!("generation {generation}'s leader {leader:?} is not among its members {receivers:?}")));
            }
            if let Some(answer) = answers.iter().find(|s| s.member_id == leader) {
                // Everyone told this generation is in the leader's list; the list may also
                // name a joiner whose answer a newer rebalance overtook (it was told the
                // newer generation), never anyone who did not join.
                let listed: BTreeSet<&str> = answer.members.iter().map(String::as_str).collect();
                if !listed.is_superset(&receivers) || !listed.is_subset(&ids) {
                    return Err(JOIN.violated(format!(
                        "generation {generation}'s leader was given members {listed:?}, but the members told that generation are {receivers:?}"
                    )));
                }
            }
        }
        let (&newest, answers) = by_generation.iter().next_back().expect("not empty");
        if newest == previous && !interleaved {
            return Ok(());
        }
        // Exact again once one generation answered everyone and its leader listed them.
        self.membership_inexact = by_generation.len() > 1
            || answers
                .iter()
                .find(|s| s.member_id == s.leader)
                .is_none_or(|leader| leader.members.len() != answers.len());
        for (slot, member) in std::mem::take(&mut self.members) {
            self.former.insert(slot, member.member_id);
        }
        for (slot, seen) in formed.iter().filter(|(_, s)| s.generation_id == newest) {
            self.former.remove(slot);
            self.members.insert(
                *slot,
                MemberModel {
                    member_id: seen.member_id.clone(),
                    generation_id: newest,
                },
            );
            if seen.member_id == seen.leader {
                self.leader = Some(*slot);
            }
        }
        self.phase = Phase::AwaitingSync;
        self.generation_id = Some(newest);
        self.generation_inexact = false;
        Ok(())
    }

    /// Checks SyncGroup answers: `(slot, error code, assignment received, assignment the
    /// leader sent for it)`.
    pub fn check_sync(&mut self, answers: &[(u8, i16, Vec<u8>, Vec<u8>)]) -> Result<(), Violation> {
        let mut all_none = true;
        for (slot, error_code, received, sent) in answers {
            match ResponseError::try_from_code(*error_code) {
                None if received == sent => {}
                None => {
                    return Err(SYNC.violated(format!(
                        "member slot {slot} received assignment {received:?}, but the leader sent {sent:?} for it"
                    )))
                }
                Some(e) if e.is_retriable() || e == ResponseError::RebalanceInProgress => all_none = false,
                Some(ResponseError::UnknownMemberId | ResponseError::IllegalGeneration) if self.membership_inexact => all_none = false,
                Some(e) => return Err(SYNC.violated(format!("SyncGroup of member slot {slot} answered {e:?}"))),
            }
        }
        if all_none && !answers.is_empty() {
            self.phase = Phase::Stable;
        }
        Ok(())
    }

    /// Checks OffsetFetch answers `(partition slot, error code, offset, metadata)`.
    pub fn check_committed(
        &self,
        answers: &[(u8, i16, i64, Option<String>)],
    ) -> Result<(), Violation> {
        for (slot, error_code, offset, metadata) in answers {
            if let Some(e) = ResponseError::try_from_code(*error_code) {
                if e.is_retriable() {
                    continue;
                }
                return Err(COMMITTED.violated(format!(
                    "OffsetFetch of partition slot {slot} answered {e:?}"
                )));
            }
            let ok = match self.committed.get(slot) {
                Some((o, m)) => offset == o && metadata.as_deref() == Some(m.as_str()),
                None => *offset == -1,
            };
            if !ok {
                return Err(COMMITTED.violated(format!(
                    "OffsetFetch of partition slot {slot} answered offset {offset} metadata {metadata:?}, but the last accepted commit was {:?}",
                    self.committed.get(slot)
                )));
            }
        }
        Ok(())
    }

    /// Checks a LeaveGroup answer of slot `member` sent as `member_id`.
    pub fn check_leave(
        &mut self,
        member: u8,
        member_id: &str,
        error_code: i16,
    ) -> Result<(), Violation> {
        let known = self
            .members
            .get(&member)
            .is_some_and(|m| m.member_id == member_id);
        match ResponseError::try_from_code(error_code) {
            None if known => {
                self.members.remove(&member);
                self.former.insert(member, member_id.to_string());
                self.phase = if self.members.is_empty() {
                    Phase::Empty
                } else {
                    Phase::Rebalancing
                };
                if self.phase == Phase::Empty {
                    self.generation_inexact = true;
                }
                Ok(())
            }
            None if self.membership_inexact => {
                self.forget(member_id);
                Ok(())
            }
            Some(ResponseError::UnknownMemberId)
                if !known || self.phase == Phase::Rebalancing || self.membership_inexact =>
            {
                self.forget(member_id);
                Ok(())
            }
            Some(e) if e.is_retriable() => Ok(()),
            other => Err(LEAVE.violated(format!(
                "LeaveGroup of {} member {member_id:?} answered {}",
                if known { "a current" } else { "a non-" },
                other.map_or("NONE".to_string(), |e| format!("{e:?}"))
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(member: &str, generation: i32, leader: &str, members: &[&str]) -> JoinSeen {
        JoinSeen {
            error_code: 0,
            generation_id: generation,
            member_id: member.into(),
            leader: leader.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    fn stable_pair() -> GroupModel {
        let mut g = GroupModel::default();
        g.check_join(&[
            (0, joined("a", 1, "a", &["a", "b"])),
            (1, joined("b", 1, "a", &[])),
        ])
        .unwrap();
        g.check_sync(&[(0, 0, vec![1], vec![1]), (1, 0, vec![2], vec![2])])
            .unwrap();
        g
    }

    #[test]
    fn a_commit_is_fenced_by_member_and_generation_and_stored_otherwise() {
        let mut g = stable_pair();
        g.check_fenced("a", 1, 0, Some((0, 5, "m".into()))).unwrap();
        assert_eq!(g.committed[&0], (5, "m".to_string()));
        let stale = ResponseError::IllegalGeneration.code();
        g.check_fenced("a", 0, stale, Some((0, 6, "x".into())))
            .unwrap();
        let v = g
            .check_fenced("a", 0, 0, Some((0, 6, "x".into())))
            .unwrap_err();
        assert_eq!(v.rule, FENCING.id);
        let v = g
            .check_fenced("never", 1, 0, Some((0, 6, "x".into())))
            .unwrap_err();
        assert_eq!(v.rule, FENCING.id);
        assert_eq!(g.committed[&0], (5, "m".to_string()));
        g.check_committed(&[(0, 0, 5, Some("m".into()))]).unwrap();
        let v = g
            .check_committed(&[(0, 0, 6, Some("x".into()))])
            .unwrap_err();
        assert_eq!(v.rule, COMMITTED.id);
    }

    #[test]
    fn a_changed_membership_needs_a_newer_generation_with_the_leader_among_it() {
        let g = stable_pair();
        // A member that rejoins unchanged may be handed the current generation again…
        g.clone()
            .check_join(&[(1, joined("b", 1, "a", &[]))])
            .unwrap();
        // …but a new member may not.
        let v = g
            .clone()
            .check_join(&[(2, joined("c", 1, "a", &[]))])
            .unwrap_err();
        assert_eq!(v.rule, JOIN.id);
        let v = g
            .clone()
            .check_join(&[(0, joined("a", 2, "b", &[]))])
            .unwrap_err();
        assert_eq!(v.rule, JOIN.id);
        let mut next = g.clone();
        next.check_join(&[(0, joined("a", 2, "a", &["a"]))])
            .unwrap();
        assert_eq!(next.members.len(), 1);
        assert_eq!(next.former[&1], "b");
    }

    #[test]
    fn sync_must_hand_out_what_the_leader_sent() {
        let mut g = stable_pair();
        let v = g.check_sync(&[(1, 0, vec![9], vec![2])]).unwrap_err();
        assert_eq!(v.rule, SYNC.id);
    }

    #[test]
    fn leave_removes_a_member_and_refuses_a_stranger() {
        let mut g = stable_pair();
        g.check_leave(1, "b", 0).unwrap();
        assert_eq!(g.phase, Phase::Rebalancing);
        let v = g.check_leave(2, "never", 0).unwrap_err();
        assert_eq!(v.rule, LEAVE.id);
    }
}
