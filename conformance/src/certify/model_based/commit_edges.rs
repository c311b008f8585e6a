//! Offset commits outside a live generation: a consumer that stores its offsets in Kafka
//! without group management (`assign()`, not `subscribe()`) commits with generation -1
//! and an empty member id; clients also get the two halves wrong on their own (a member's
//! id with generation -1, an empty id with a generation, a generation from the future).
//!
//! What Kafka answers (protocol guide, OffsetCommit: "generation_id … -1 if using
//! simple consumer"; the rule [`UNMANAGED_COMMIT`](super::rules::UNMANAGED_COMMIT)):
//! - generation -1, empty member id: stored while the group has no members, else
//!   UNKNOWN_MEMBER_ID (`GroupCoordinator.validateOffsetCommit` in the classic coordinator,
//!   `ClassicGroup.validateOffsetCommit` in the KIP-848 coordinator alike);
//! - generation -1 with a member id: the member is validated first, so a member of the
//!   group gets ILLEGAL_GENERATION and anyone else UNKNOWN_MEMBER_ID — except that since
//!   Kafka 3.x both coordinators accept any generation -1 commit while the group is Empty
//!   (the admin client's `alterConsumerGroupOffsets`), so on an empty group the model allows
//!   both answers, the older and the newer;
//! - an empty member id with a generation ≥ 0: UNKNOWN_MEMBER_ID (no member has that id),
//!   which [`GroupModel`]'s ordinary fencing already requires;
//! - a generation from the future: ILLEGAL_GENERATION, likewise.
//!
//! Each such commit is followed by an OffsetFetch (the driver's), so an accepted commit
//! must be visible and a refused one must not.

use proptest::prelude::*;

use faultline_wire::ResponseError;

use super::group_model::{GroupModel, Phase};
use super::ops::Claim;

/// What one of the claims of this file resolves to: `(member id, generation)`.
pub fn claimed(group: &GroupModel, member: u8, claim: Claim) -> (String, i32) {
    let generation = group.generation_id.unwrap_or(0);
    let own = group
        .members
        .get(&member)
        .map(|m| (m.member_id.clone(), m.generation_id))
        .or_else(|| group.former.get(&member).map(|id| (id.clone(), generation)))
        .unwrap_or_else(|| (format!("faultline-never-joined-{member}"), generation));
    match claim {
        Claim::Unmanaged => (String::new(), -1),
        Claim::NoGeneration => (own.0, -1),
        Claim::EmptyMemberId => (String::new(), generation),
        // Newer than the member's and the group's: no generation the case has seen.
        Claim::FutureGeneration => (own.0, own.1.max(generation) + 1),
        Claim::Current | Claim::PreviousGeneration | Claim::UnknownMember => {
            unreachable!("resolved by group_model::claimed")
        }
    }
}

/// Whether `claim` is one of this file's (the driver reads the offsets back after them).
pub fn outside_generation(claim: Claim) -> bool {
    match claim {
        Claim::Unmanaged | Claim::NoGeneration | Claim::EmptyMemberId | Claim::FutureGeneration => {
            true
        }
        Claim::Current | Claim::PreviousGeneration | Claim::UnknownMember => false,
    }
}

impl GroupModel {
    /// The answers an OffsetCommit with generation < 0 as `member_id` may get, and whether
    /// NONE (stored) is among them; `None` for a commit with a generation ≥ 0, which the
    /// ordinary fencing judges.
    pub(super) fn commit_without_generation(
        &self,
        member_id: &str,
        generation: i32,
    ) -> Option<(bool, Vec<ResponseError>)> {
        if generation >= 0 {
            return None;
        }
        // Members the model knows of may have been removed meanwhile (a rebalance that
        // timed them out), or the model may not know who is in the group at all.
        let certainly_empty = self.members.is_empty() && !self.membership_inexact;
        let possibly_empty =
            self.members.is_empty() || self.membership_inexact || self.phase == Phase::Rebalancing;
        let mut errors = Vec::new();
        if !matches!(self.phase, Phase::Stable | Phase::Empty) {
            // The latitude the ordinary fencing gives: during a rebalance a coordinator may
            // answer REBALANCE_IN_PROGRESS before it looks at the member (refused either way).
            errors.push(ResponseError::RebalanceInProgress);
        }
        let known = self.members.values().any(|m| m.member_id == member_id);
        if member_id.is_empty() {
            // The simple consumer: accepted exactly when the group is Empty.
            if certainly_empty {
                return Some((true, Vec::new()));
            }
            errors.push(ResponseError::UnknownMemberId);
            return Some((possibly_empty, errors));
        }
        if known && !self.membership_inexact {
            // A member of the group: validated as a member, so the generation is wrong.
            errors.push(ResponseError::IllegalGeneration);
            if self.phase == Phase::Rebalancing {
                errors.push(ResponseError::UnknownMemberId);
            }
            return Some((self.phase == Phase::Rebalancing, errors));
        }
        if self.membership_inexact {
            errors.push(ResponseError::IllegalGeneration);
        }
        // Not a member: UNKNOWN_MEMBER_ID, or (Kafka 3.x and later) stored on an empty group.
        errors.push(ResponseError::UnknownMemberId);
        Some((possibly_empty, errors))
    }
}

/// The identity a generated OffsetCommit claims: mostly a member's own, sometimes one of
/// the claims of this file.
pub fn commit_claim() -> impl Strategy<Value = Claim> {
    prop_oneof![
        4 => Just(Claim::Current),
        2 => Just(Claim::PreviousGeneration),
        1 => Just(Claim::UnknownMember),
        1 => Just(Claim::Unmanaged),
        1 => Just(Claim::NoGeneration),
        1 => Just(Claim::EmptyMemberId),
        1 => Just(Claim::FutureGeneration),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::group_model::JoinSeen;
    use super::super::rules::UNMANAGED_COMMIT;
    use super::*;

    fn stable_pair() -> GroupModel {
        let joined = |member: &str, members: &[&str]| JoinSeen {
            error_code: 0,
            generation_id: 1,
            member_id: member.into(),
            leader: "a".into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        };
        let mut g = GroupModel::default();
        g.check_join(&[(0, joined("a", &["a", "b"])), (1, joined("b", &[]))])
            .unwrap();
        g.check_sync(&[(0, 0, vec![1], vec![1]), (1, 0, vec![2], vec![2])])
            .unwrap();
        g
    }

    fn commit(offset: i64) -> Option<(u8, i64, String)> {
        Some((0, offset, format!("m{offset}")))
    }

    const UNKNOWN: i16 = ResponseError::UnknownMemberId.code();
    const ILLEGAL: i16 = ResponseError::IllegalGeneration.code();

    #[test]
    fn a_simple_consumer_commits_to_an_empty_group_only() {
        // A group nobody joined: stored, and visible to OffsetFetch.
        let mut empty = GroupModel::default();
        let (id, generation) = claimed(&empty, 0, Claim::Unmanaged);
        assert_eq!((id.as_str(), generation), ("", -1));
        empty.check_fenced(&id, -1, 0, commit(5)).unwrap();
        empty
            .check_committed(&[(0, 0, 5, Some("m5".into()))])
            .unwrap();
        // Refusing it is outside the allowed set.
        let v = GroupModel::default()
            .check_fenced("", -1, UNKNOWN, commit(5))
            .unwrap_err();
        assert_eq!(v.rule, UNMANAGED_COMMIT.id);
        // A group with live members: UNKNOWN_MEMBER_ID, and nothing stored.
        let mut live = stable_pair();
        live.check_fenced("", -1, UNKNOWN, commit(6)).unwrap();
        live.check_committed(&[(0, 0, -1, None)]).unwrap();
        let v = live.clone().check_fenced("", -1, 0, commit(6)).unwrap_err();
        assert_eq!(v.rule, UNMANAGED_COMMIT.id);
        let v = live.check_fenced("", -1, ILLEGAL, commit(6)).unwrap_err();
        assert_eq!(v.rule, UNMANAGED_COMMIT.id);
    }

    #[test]
    fn a_member_without_its_generation_is_illegal_generation() {
        let g = stable_pair();
        let (id, generation) = claimed(&g, 0, Claim::NoGeneration);
        assert_eq!((id.as_str(), generation), ("a", -1));
        g.clone().check_fenced(&id, -1, ILLEGAL, commit(7)).unwrap();
        // The answer a coordinator gives when it takes generation -1 alone for a simple
        // consumer (the `||` mutant of the reference broker's check).
        let v = g
            .clone()
            .check_fenced(&id, -1, UNKNOWN, commit(7))
            .unwrap_err();
        assert_eq!(v.rule, UNMANAGED_COMMIT.id);
        let v = g.clone().check_fenced(&id, -1, 0, commit(7)).unwrap_err();
        assert_eq!(v.rule, UNMANAGED_COMMIT.id);
        // An ex-member of an empty group: refused by older Kafka, stored by newer.
        let mut left = g;
        left.check_leave(0, "a", 0).unwrap();
        left.check_leave(1, "b", 0).unwrap();
        assert_eq!(left.phase, Phase::Empty);
        left.clone()
            .check_fenced("a", -1, UNKNOWN, commit(8))
            .unwrap();
        left.check_fenced("a", -1, 0, commit(8)).unwrap();
        left.check_committed(&[(0, 0, 8, Some("m8".into()))])
            .unwrap();
    }

    #[test]
    fn an_empty_member_id_or_a_future_generation_is_never_stored() {
        let g = stable_pair();
        let (id, generation) = claimed(&g, 1, Claim::EmptyMemberId);
        assert_eq!((id.as_str(), generation), ("", 1));
        g.clone()
            .check_fenced(&id, generation, UNKNOWN, commit(9))
            .unwrap();
        let v = g
            .clone()
            .check_fenced(&id, generation, 0, commit(9))
            .unwrap_err();
        assert_eq!(v.rule, UNMANAGED_COMMIT.id);
        let (id, generation) = claimed(&g, 1, Claim::FutureGeneration);
        assert_eq!((id.as_str(), generation), ("b", 2));
        g.clone()
            .check_fenced(&id, generation, ILLEGAL, commit(9))
            .unwrap();
        let v = g
            .clone()
            .check_fenced(&id, generation, 0, commit(9))
            .unwrap_err();
        assert_eq!(v.rule, super::super::rules::FENCING.id);
        // On an empty group an empty member id with a generation is still no member.
        let v = GroupModel::default()
            .check_fenced("", 0, 0, commit(9))
            .unwrap_err();
        assert_eq!(v.rule, UNMANAGED_COMMIT.id);
    }
}
