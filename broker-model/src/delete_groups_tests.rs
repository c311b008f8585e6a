//! Unit tests of DeleteGroups and OffsetDelete (KIP-229, KIP-496) on a broker leading
//! `__consumer_offsets` alone (so an append is replicated at once): each error the classic
//! coordinator gives (`GroupCoordinator.handleDeleteGroups`, `handleDeleteOffsets`), and
//! the tombstones that make a deletion outlive a coordinator failover.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use kafka_protocol::messages::{
    DeleteGroupsRequest, DeleteGroupsResponse, GroupId, OffsetCommitRequest, OffsetDeleteRequest,
    OffsetDeleteResponse, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::config::ClusterConfig;
use crate::group::membership::Member;
use crate::group::{partition_for, GroupCoordinator, OFFSETS_TOPIC};
use crate::handlers::delete_groups::{
    delete_groups_begin, delete_groups_response, deletion_poll, offset_delete_begin,
    offset_delete_response,
};
use crate::handlers::offset_commit::{commit_begin, commit_poll, offset_fetch, CommitState};
use crate::storage::MemoryStorage;
use crate::test_support::sole_leader_of;

/// Broker 1, sole replica and leader of every `__consumer_offsets` partition
/// (`min.insync.replicas` = 1).
fn coordinator() -> Broker {
    let config = ClusterConfig {
        min_insync_replicas: 1,
        ..ClusterConfig::default()
    };
    let partitions = config.offsets_topic_partitions;
    let mut broker = sole_leader_of(&[(OFFSETS_TOPIC, partitions)], config);
    assert!(broker.groups.group("g").is_ok(), "broker 1 coordinates g");
    broker
}

fn name(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

/// A standalone consumer's commit (generation -1, no member id) of `offset` for each
/// `(topic, partition)`, waited for.
fn commit(broker: &mut Broker, group: &str, offsets: &[(&str, i32, i64)]) {
    let topics = offsets
        .iter()
        .map(|&(topic, partition, offset)| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(name(topic)))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(partition)
                    .with_committed_offset(offset)])
        })
        .collect();
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(name(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(topics);
    let mut pending = commit_begin(broker, &request, 0);
    assert!(commit_poll(broker, &mut pending), "replicated at once");
    assert!(
        matches!(pending.state, CommitState::Done(Ok(()))),
        "{:?}",
        pending.state
    );
}

fn committed(broker: &mut Broker, group: &str, topic: &str, partition: i32) -> i64 {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(name(group)))
        .with_topics(Some(vec![
            kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(name(topic)))
                .with_partition_indexes(vec![partition]),
        ]));
    let response = offset_fetch(broker, &request);
    assert_eq!(response.error_code, 0);
    response.topics[0].partitions[0].committed_offset
}

fn delete_groups(broker: &mut Broker, groups: &[&str]) -> DeleteGroupsResponse {
    let request = DeleteGroupsRequest::default()
        .with_groups_names(groups.iter().map(|g| GroupId(name(g))).collect());
    let mut pending = delete_groups_begin(broker, &request);
    for deletion in pending.iter_mut() {
        assert!(deletion_poll(broker, deletion), "replicated at once");
    }
    delete_groups_response(&pending)
}

fn offset_delete(
    broker: &mut Broker,
    group: &str,
    partitions: &[(&str, i32)],
) -> OffsetDeleteResponse {
    let topics = partitions
        .iter()
        .map(|&(topic, partition)| {
            OffsetDeleteRequestTopic::default()
                .with_name(TopicName(name(topic)))
                .with_partitions(vec![
                    OffsetDeleteRequestPartition::default().with_partition_index(partition)
                ])
        })
        .collect();
    let request = OffsetDeleteRequest::default()
        .with_group_id(GroupId(name(group)))
        .with_topics(topics);
    let mut begun = offset_delete_begin(broker, &request);
    assert!(
        deletion_poll(broker, &mut begun.pending),
        "replicated at once"
    );
    offset_delete_response(&begun)
}

/// What a coordinator that loads `broker`'s offsets log afresh (a failover) knows.
fn reloaded(broker: &Broker, group: &str) -> GroupCoordinator {
    let index = partition_for(group, broker.config.offsets_topic_partitions);
    let partition = &broker.partitions[&(OFFSETS_TOPIC.to_string(), index)];
    let mut fresh = GroupCoordinator::new(broker.config.offsets_topic_partitions);
    fresh.load(index, 1, partition.log.entries());
    fresh
}

/// A ConsumerProtocolSubscription v0 of `topics`.
fn subscription(topics: &[&str]) -> Bytes {
    let mut out = BytesMut::new();
    out.put_i16(0);
    out.put_i32(topics.len() as i32);
    for topic in topics {
        out.put_i16(topic.len() as i16);
        out.put_slice(topic.as_bytes());
    }
    out.put_i32(-1);
    out.freeze()
}

/// Member "m" joins consumer group `group` subscribed to `topics` (protocol "range") and
/// the generation forms.
fn join(broker: &mut Broker, group: &str, topics: &[&str]) {
    join_as(broker, group, "consumer", topics);
}

/// As [`join`], with protocol type `protocol_type`.
fn join_as(broker: &mut Broker, group: &str, protocol_type: &str, topics: &[&str]) {
    let member = Member {
        member_id: String::new(),
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        protocols: vec![("range".into(), subscription(topics))],
        last_heard_ms: 0,
        joined: false,
        awaiting_join: false,
        assignment: Bytes::new(),
    };
    let group = broker.groups.group(group).unwrap();
    group.protocol_type = protocol_type.into();
    group.join(member, "m".into(), 0, 0).unwrap();
    assert!(group.join_result("m", 0).is_some(), "generation formed");
    assert_eq!(group.protocol_name, "range");
}

/// KIP-229: an Empty group is deleted with its offsets, and a coordinator loading the
/// log afterwards does not bring them back; reading its offsets recreates nothing.
#[test]
fn kip_229_an_empty_group_is_deleted_with_its_offsets_for_good() {
    let mut broker = coordinator();
    commit(&mut broker, "g", &[("events", 0, 5), ("events", 1, 7)]);
    assert_eq!(committed(&mut broker, "g", "events", 1), 7);
    let response = delete_groups(&mut broker, &["g"]);
    assert_eq!(response.results.len(), 1);
    assert_eq!(response.results[0].group_id.0.as_str(), "g");
    assert_eq!(response.results[0].error_code, 0);
    assert_eq!(broker.groups.describe("g"), Ok(None));
    assert_eq!(committed(&mut broker, "g", "events", 1), -1);
    assert_eq!(
        broker.groups.describe("g"),
        Ok(None),
        "OffsetFetch created no group"
    );
    let fresh = reloaded(&broker, "g");
    assert_eq!(
        fresh.describe("g"),
        Ok(None),
        "the tombstones outlive a failover"
    );
}

/// A commit after a deletion counts again, after a reload too: tombstones and commits
/// apply in log order.
#[test]
fn a_commit_after_a_deletion_survives_a_reload() {
    let mut broker = coordinator();
    commit(&mut broker, "g", &[("events", 0, 5)]);
    assert_eq!(delete_groups(&mut broker, &["g"]).results[0].error_code, 0);
    commit(&mut broker, "g", &[("events", 0, 9)]);
    assert_eq!(committed(&mut broker, "g", "events", 0), 9);
    let fresh = reloaded(&broker, "g");
    let group = fresh
        .describe("g")
        .unwrap()
        .expect("recommitted group loads");
    assert_eq!(
        group.committed.get(&("events".into(), 0)).map(|c| c.0),
        Some(9)
    );
}

/// `handleDeleteGroups`: a group with members is NON_EMPTY_GROUP, an unknown one
/// GROUP_ID_NOT_FOUND, an empty id INVALID_GROUP_ID; each group is answered on its own.
#[test]
fn delete_groups_refuses_groups_with_members_and_unknown_groups() {
    let mut broker = coordinator();
    commit(&mut broker, "idle", &[("events", 0, 1)]);
    join(&mut broker, "busy", &["events"]);
    let response = delete_groups(&mut broker, &["busy", "nobody", "", "idle"]);
    let codes: Vec<i16> = response.results.iter().map(|r| r.error_code).collect();
    assert_eq!(
        codes,
        vec![
            ResponseError::NonEmptyGroup.code(),
            ResponseError::GroupIdNotFound.code(),
            ResponseError::InvalidGroupId.code(),
            0,
        ]
    );
    assert!(broker.groups.describe("busy").unwrap().is_some());
    assert_eq!(broker.groups.describe("idle"), Ok(None));
}

/// A broker that does not lead the group's offsets partition is NOT_COORDINATOR, for
/// both APIs, so the client looks the coordinator up again.
#[test]
fn only_the_coordinator_deletes() {
    let mut broker = Broker::new(
        2,
        ClusterConfig::default(),
        Box::new(MemoryStorage::default()),
    );
    let response = delete_groups(&mut broker, &["g"]);
    assert_eq!(
        response.results[0].error_code,
        ResponseError::NotCoordinator.code()
    );
    let response = offset_delete(&mut broker, "g", &[("events", 0)]);
    assert_eq!(response.error_code, ResponseError::NotCoordinator.code());
}

/// KIP-496: a group with members keeps the offsets of topics they subscribe to
/// (GROUP_SUBSCRIBED_TO_TOPIC) and loses the others; the deletion is in the log.
#[test]
fn kip_496_offset_delete_spares_subscribed_topics() {
    let mut broker = coordinator();
    commit(
        &mut broker,
        "g",
        &[("events", 0, 5), ("old", 0, 3), ("old", 1, 4)],
    );
    join(&mut broker, "g", &["events"]);
    let response = offset_delete(&mut broker, "g", &[("events", 0), ("old", 0), ("old", 1)]);
    assert_eq!(response.error_code, 0);
    let mut answers: Vec<(String, i32, i16)> = response
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.name.0.to_string(), p.partition_index, p.error_code))
        })
        .collect();
    answers.sort();
    assert_eq!(
        answers,
        vec![
            (
                "events".into(),
                0,
                ResponseError::GroupSubscribedToTopic.code()
            ),
            ("old".into(), 0, 0),
            ("old".into(), 1, 0),
        ]
    );
    assert_eq!(committed(&mut broker, "g", "events", 0), 5);
    assert_eq!(committed(&mut broker, "g", "old", 0), -1);
    let fresh = reloaded(&broker, "g");
    let group = fresh.describe("g").unwrap().unwrap();
    assert_eq!(
        group.committed.len(),
        1,
        "only events-0 is left after a reload"
    );
}

/// KIP-496: an Empty group may lose any offset; a partition without one is answered
/// NONE too; an unknown group is GROUP_ID_NOT_FOUND.
#[test]
fn kip_496_offset_delete_on_an_empty_group() {
    let mut broker = coordinator();
    commit(&mut broker, "g", &[("events", 0, 5)]);
    let response = offset_delete(&mut broker, "g", &[("events", 0), ("events", 9)]);
    assert_eq!(response.error_code, 0);
    assert!(response.topics[0]
        .partitions
        .iter()
        .all(|p| p.error_code == 0));
    assert_eq!(committed(&mut broker, "g", "events", 0), -1);
    let response = offset_delete(&mut broker, "nobody", &[("events", 0)]);
    assert_eq!(response.error_code, ResponseError::GroupIdNotFound.code());
}

/// `handleDeleteOffsets`: a group with members that is not a consumer group (Kafka
/// Connect's workers, say) is NON_EMPTY_GROUP as a whole.
#[test]
fn kip_496_offset_delete_refuses_a_live_non_consumer_group() {
    let mut broker = coordinator();
    commit(&mut broker, "workers", &[("events", 0, 5)]);
    join_as(&mut broker, "workers", "connect", &["events"]);
    let response = offset_delete(&mut broker, "workers", &[("events", 0)]);
    assert_eq!(response.error_code, ResponseError::NonEmptyGroup.code());
    assert_eq!(committed(&mut broker, "workers", "events", 0), 5);
}
