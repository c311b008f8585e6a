//! Unit tests of the group state machine and coordinator: each error code of the classic
//! protocol produced by the rule that demands it (protocol guide, "The Consumer Group
//! Protocol"; KIP-62 for session and rebalance timeouts).

use bytes::Bytes;
use faultline_wire::ResponseError;

use super::membership::{Group, GroupState, Member};
use super::offsets::{check_commit, OffsetRecord};
use super::{partition_for, GroupCoordinator};

const SESSION_MS: u64 = 1_000;

fn member(member_id: &str) -> Member {
    Member {
        member_id: member_id.to_string(),
        session_timeout_ms: SESSION_MS,
        rebalance_timeout_ms: 2_000,
        protocols: vec![("range".into(), Bytes::from_static(b"events"))],
        last_heard_ms: 0,
        joined: false,
        awaiting_join: false,
        assignment: Bytes::new(),
    }
}

/// A Stable group of `ids` at generation 1: all join within the initial delay
/// (`group.initial.rebalance.delay.ms` = 1 ms), then the leader syncs.
fn stable(ids: &[&str]) -> Group {
    let mut group = Group::new("g", 0);
    for id in ids {
        group.join(member(""), id.to_string(), 1, 0).unwrap();
    }
    for id in ids {
        assert!(group.join_result(id, 1).is_some(), "{id} joined");
    }
    let generation = group.generation_id;
    assert_eq!(generation, 1);
    let leader = group.leader.clone().unwrap();
    group
        .sync(&leader, generation, Default::default(), 1)
        .unwrap();
    assert_eq!(group.state, GroupState::Stable);
    group
}

/// Protocol guide, JoinGroup: a member id the coordinator does not know is
/// UNKNOWN_MEMBER_ID (the member must rejoin with an empty id).
#[test]
fn join_with_an_unknown_member_id_is_unknown_member_id() {
    let mut group = stable(&["a"]);
    assert_eq!(
        group.join(member("zombie"), "new".into(), 0, 10),
        Err(ResponseError::UnknownMemberId)
    );
}

/// Protocol guide, SyncGroup/Heartbeat: a request naming another generation than the
/// current one is ILLEGAL_GENERATION (generation fencing of zombie members).
#[test]
fn heartbeat_and_sync_from_an_old_generation_are_illegal_generation() {
    let mut group = stable(&["a"]);
    let old = group.generation_id - 1;
    assert_eq!(
        group.heartbeat("a", old, 10),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        group.sync("a", old, Default::default(), 10),
        Err(ResponseError::IllegalGeneration)
    );
}

/// Protocol guide, Heartbeat: once a rebalance begins (a member joined), members of the
/// current generation are told REBALANCE_IN_PROGRESS so that they rejoin.
#[test]
fn a_join_makes_heartbeats_answer_rebalance_in_progress() {
    let mut group = stable(&["a"]);
    let generation = group.generation_id;
    group.join(member(""), "b".into(), 0, 10).unwrap();
    assert_eq!(group.state, GroupState::PreparingRebalance);
    assert_eq!(
        group.heartbeat("a", generation, 20),
        Err(ResponseError::RebalanceInProgress)
    );
    // a rejoins: the next generation forms with both members.
    group.join(member("a"), String::new(), 0, 30).unwrap();
    let joined = group.join_result("b", 30).unwrap().unwrap();
    assert_eq!(joined.generation_id, generation + 1);
    assert_eq!(group.state, GroupState::CompletingRebalance);
}

/// KIP-62: a member silent for longer than its session timeout is removed; its next
/// heartbeat is UNKNOWN_MEMBER_ID and the others rebalance without it.
#[test]
fn session_expiry_removes_the_member_and_rebalances() {
    let mut group = stable(&["a", "b"]);
    let generation = group.generation_id;
    group.heartbeat("a", generation, SESSION_MS).unwrap();
    group.tick(SESSION_MS + 500);
    assert!(group.members.contains_key("a"));
    assert!(!group.members.contains_key("b"));
    assert_eq!(
        group.heartbeat("b", generation, SESSION_MS + 600),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(group.state, GroupState::PreparingRebalance);
}

/// Protocol guide, OffsetCommit: a commit from an old generation is ILLEGAL_GENERATION,
/// from an unknown member UNKNOWN_MEMBER_ID, during a rebalance REBALANCE_IN_PROGRESS;
/// the planted bug `no-generation-fencing` accepts them all.
#[test]
fn offset_commit_is_fenced_by_generation_and_member() {
    let mut group = stable(&["a"]);
    let generation = group.generation_id;
    assert_eq!(check_commit(&group, "a", generation, true), Ok(()));
    assert_eq!(
        check_commit(&group, "a", generation - 1, true),
        Err(ResponseError::IllegalGeneration)
    );
    assert_eq!(
        check_commit(&group, "zombie", generation, true),
        Err(ResponseError::UnknownMemberId)
    );
    assert_eq!(
        check_commit(&group, "", -1, true),
        Err(ResponseError::UnknownMemberId),
        "a standalone commit into a group with members"
    );
    assert_eq!(
        check_commit(&group, "zombie", generation - 1, false),
        Ok(())
    );
    // A member of the current generation may commit while the group waits for rejoins
    // (PreparingRebalance), but not between JoinGroup and SyncGroup.
    group.join(member(""), "b".into(), 0, 10).unwrap();
    assert_eq!(group.state, GroupState::PreparingRebalance);
    assert_eq!(check_commit(&group, "a", generation, true), Ok(()));
    group.join(member("a"), String::new(), 0, 20).unwrap();
    assert!(group.join_result("b", 20).is_some());
    assert_eq!(group.state, GroupState::CompletingRebalance);
    assert_eq!(
        check_commit(&group, "a", group.generation_id, true),
        Err(ResponseError::RebalanceInProgress)
    );
}

/// A rebalance gives up on members that do not rejoin within the rebalance timeout
/// (KIP-62) and forms the generation without them.
#[test]
fn a_rebalance_completes_without_members_that_never_rejoin() {
    let mut group = stable(&["a", "b"]);
    let generation = group.generation_id;
    group.join(member("a"), String::new(), 0, 100).unwrap();
    assert!(group.join_result("a", 200).is_none(), "waits for b");
    let joined = group.join_result("a", 100 + 2_001).unwrap().unwrap();
    assert_eq!(joined.generation_id, generation + 1);
    assert!(!group.members.contains_key("b"));
}

/// Protocol guide, FindCoordinator / Kafka `partitionFor`: groups map to offsets
/// partitions by Java's `String.hashCode`; requests for a group whose partition this
/// broker does not lead are NOT_COORDINATOR.
#[test]
fn groups_route_by_java_hash_and_unloaded_partitions_are_not_coordinator() {
    assert_eq!(super::java_string_hash("group"), 98_629_247);
    let mut coordinator = GroupCoordinator::new(3);
    assert_eq!(
        coordinator.group("g").err(),
        Some(ResponseError::NotCoordinator)
    );
    coordinator.load(partition_for("g", 3), 0, &[]);
    assert!(coordinator.group("g").is_ok());
}

/// Committed offsets survive coordinator failover: the new leader of the offsets
/// partition loads them from its log, and its generations start above every old one.
#[test]
fn a_new_coordinator_loads_offsets_from_the_log_and_never_reuses_a_generation() {
    let index = partition_for("g", 3);
    let record = OffsetRecord {
        group: "g".into(),
        topic: "events".into(),
        partition: 1,
        offset: 42,
        metadata: String::new(),
    };
    let mut entry = record.to_entry();
    entry.offset = 0;
    let mut old = GroupCoordinator::new(3);
    old.load(index, 1, &[]);
    let old_generation = {
        let group = old.group("g").unwrap();
        group.join(member(""), "a".into(), 0, 0).unwrap();
        group.join_result("a", 0).unwrap().unwrap().generation_id
    };
    let mut new = GroupCoordinator::new(3);
    new.load(index, 2, &[entry]);
    let group = new.group("g").unwrap();
    assert_eq!(
        group.committed.get(&("events".into(), 1)),
        Some(&(42, String::new()))
    );
    group.join(member(""), "b".into(), 0, 0).unwrap();
    let generation = group.join_result("b", 0).unwrap().unwrap().generation_id;
    assert!(generation > old_generation);
}

/// A member whose JoinGroup answer was not yet collected when a new rebalance began is
/// still waiting in JoinGroup, so it counts as joined: the next generation includes it
/// instead of timing it out (Kafka's `isAwaitingJoin`).
#[test]
fn a_pending_join_carries_over_into_the_next_rebalance() {
    let mut group = Group::new("g", 0);
    group.join(member(""), "a".into(), 0, 0).unwrap();
    // Generation 1 formed for a, but a has not collected its answer when b joins.
    assert_eq!(group.state, GroupState::CompletingRebalance);
    group.join(member(""), "b".into(), 0, 5).unwrap();
    let a = group.join_result("a", 10).unwrap().unwrap();
    let b = group.join_result("b", 10).unwrap().unwrap();
    assert_eq!(a.generation_id, 2);
    assert_eq!(b.generation_id, 2);
}

/// KIP-394: the id handed out with MEMBER_ID_REQUIRED is accepted by the next JoinGroup,
/// and a member that leaves with it before joining leaves nothing that would hold up the
/// rebalance of the others.
#[test]
fn a_required_member_id_joins_or_leaves_without_stalling_the_group() {
    let mut group = stable(&["a"]);
    let id = group.require_member_id("b".into(), SESSION_MS, 10);
    assert!(
        !group.members.contains_key("b"),
        "not a member before it joins"
    );
    assert_eq!(
        group.join(member(&id), "unused".into(), 0, 20),
        Ok("b".into())
    );
    assert!(group.pending_members.is_empty());

    let mut group = stable(&["a"]);
    let id = group.require_member_id("c".into(), SESSION_MS, 10);
    assert_eq!(group.leave(&id, 20), Ok(()));
    assert_eq!(group.state, GroupState::Stable, "nobody to rebalance for");
    assert_eq!(
        group.join(member(&id), "unused".into(), 0, 30),
        Err(ResponseError::UnknownMemberId),
        "a left id is forgotten"
    );
}

/// KIP-394: a reserved id that is never used expires after a session timeout.
#[test]
fn a_required_member_id_expires_after_a_session_timeout() {
    let mut group = stable(&["a"]);
    group.require_member_id("b".into(), SESSION_MS, 10);
    group.tick(10 + SESSION_MS + 1);
    assert!(group.pending_members.is_empty());
}

/// Protocol guide, JoinGroup (Kafka's `GroupMetadata.supportsProtocols`): a member must
/// name a protocol type and protocols, and, once others are in the group, its type and a
/// protocol they all support; INCONSISTENT_GROUP_PROTOCOL otherwise. A member alone in
/// the group may change its protocols.
#[test]
fn joins_with_inconsistent_protocols_are_refused() {
    let mut group = stable(&["a"]);
    group.protocol_type = "consumer".into();
    let range = vec![("range".to_string(), Bytes::new())];
    let roundrobin = vec![("roundrobin".to_string(), Bytes::new())];
    let both = [roundrobin.clone(), range.clone()].concat();
    let inconsistent = Err(ResponseError::InconsistentGroupProtocol);
    assert_eq!(group.check_protocols("", "connect", &range), inconsistent);
    assert_eq!(
        group.check_protocols("", "consumer", &roundrobin),
        inconsistent
    );
    assert_eq!(group.check_protocols("", "consumer", &[]), inconsistent);
    assert_eq!(group.check_protocols("", "", &range), inconsistent);
    assert_eq!(group.check_protocols("", "consumer", &both), Ok(()));
    assert_eq!(group.check_protocols("a", "consumer", &roundrobin), Ok(()));
}
