//! The replica fetcher as a sans-IO state machine: what a follower asks the leader it
//! follows, and what it does with the answers. The broker's state goes in, requests come
//! out; responses go in, the state moves. The network edge (`node::background`) only
//! carries the bytes, as in raft-rs's `Ready` loop.
//!
//! Per followed partition, two phases (KIP-101, KIP-279): first OffsetForLeaderEpoch until
//! the follower knows where its log diverges from the leader's and has truncated there,
//! then Fetch from the log end.

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, FetchResponse, OffsetForLeaderEpochRequest,
    OffsetForLeaderEpochResponse, TopicName,
};

use faultline_wire::ResponseError;

use crate::broker::Broker;
use crate::log::Divergence;
use crate::partition::Role;
use crate::storage::TopicPartition;

/// Version of Fetch that brokers use among themselves (topic names, leader epochs).
pub const INTER_BROKER_FETCH_VERSION: i16 = 12;
/// Kafka's `replica.fetch.max.bytes` and `replica.fetch.response.max.bytes` defaults.
const REPLICA_FETCH_MAX_BYTES: i32 = 1 << 20;
const REPLICA_FETCH_RESPONSE_MAX_BYTES: i32 = 10 << 20;
/// Version of OffsetForLeaderEpoch that followers send (KIP-320: current leader epoch).
pub const OFFSET_FOR_LEADER_EPOCH_VERSION: i16 = 3;

/// One follower partition still looking for its divergence point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The partition.
    pub partition: TopicPartition,
    /// The leader epoch the follower is in; the leader fences a different one (KIP-320).
    pub current_leader_epoch: i32,
    /// The epoch whose end offset the follower asks for next.
    pub asked_epoch: i32,
}

/// What a follower does after one OffsetForLeaderEpoch answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TruncationStep {
    /// Truncated, or nothing more to do for this partition this round.
    Done,
    /// The leader's answer was about an epoch the follower does not hold: ask again about
    /// this one (`Divergence::AskAgain`).
    AskAgain,
    /// The answer was malformed: drop the connection and start over.
    Broken,
}

/// The follower partitions led by anyone that still need OffsetForLeaderEpoch.
pub fn truncations_needed(broker: &Broker, followed: &[TopicPartition]) -> Vec<Truncation> {
    followed
        .iter()
        .filter_map(|key| {
            let p = broker.partitions.get(key)?;
            match p.role {
                Role::Follower {
                    truncated: false, ..
                } => Some(Truncation {
                    partition: key.clone(),
                    current_leader_epoch: p.leader_epoch(),
                    asked_epoch: p.log.latest_epoch(),
                }),
                _ => None,
            }
        })
        .collect()
}

/// Planted bug `truncate_to_high_watermark` (Kafka before KIP-101): truncate to the high
/// watermark without asking the leader. `true` when it applied.
pub fn truncate_without_asking(broker: &mut Broker, truncation: &Truncation) -> bool {
    if !broker.config.bugs.truncate_to_high_watermark {
        return false;
    }
    let high_watermark = broker.partitions[&truncation.partition].high_watermark;
    broker.truncate(&truncation.partition, high_watermark);
    true
}

/// The OffsetForLeaderEpoch request for one partition.
pub fn epoch_request(node_id: i32, truncation: &Truncation) -> OffsetForLeaderEpochRequest {
    let (topic, partition) = &truncation.partition;
    OffsetForLeaderEpochRequest::default()
        .with_replica_id(BrokerId(node_id))
        .with_topics(vec![OffsetForLeaderTopic::default()
            .with_topic(TopicName(topic.clone().into()))
            .with_partitions(vec![OffsetForLeaderPartition::default()
                .with_partition(*partition)
                .with_current_leader_epoch(truncation.current_leader_epoch)
                .with_leader_epoch(truncation.asked_epoch)])])
}

/// Applies the leader's answer: truncates where the logs diverge (KIP-279), or updates
/// `truncation.asked_epoch` to ask again.
pub fn on_epoch_response(
    broker: &mut Broker,
    truncation: &mut Truncation,
    response: &OffsetForLeaderEpochResponse,
) -> TruncationStep {
    let Some(answer) = response.topics.first().and_then(|t| t.partitions.first()) else {
        return TruncationStep::Broken;
    };
    if answer.error_code != 0 {
        return TruncationStep::Done;
    }
    let key = &truncation.partition;
    let still_following = broker.partitions.get(key).is_some_and(|p| {
        p.leader_epoch() == truncation.current_leader_epoch
            && matches!(
                p.role,
                Role::Follower {
                    truncated: false,
                    ..
                }
            )
    });
    if !still_following {
        return TruncationStep::Done;
    }
    let divergence = broker.partitions[key]
        .log
        .divergence(answer.leader_epoch, answer.end_offset);
    match divergence {
        Divergence::TruncateTo(offset) => {
            broker.truncate(key, offset);
            TruncationStep::Done
        }
        Divergence::AskAgain(epoch) => {
            truncation.asked_epoch = epoch;
            TruncationStep::AskAgain
        }
    }
}

/// One fetch asked of a leader: what each partition's position was when it was asked, so
/// that an answer to a stale question is ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRound {
    /// `(partition, leader epoch, fetch offset)` as asked.
    pub asked: Vec<(TopicPartition, i32, i64)>,
}

/// What one fetch response did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FetchOutcome {
    /// A partition was refused for something other than its offset (a fenced or unknown
    /// leader epoch): back off before asking again, the metadata is catching up.
    pub fenced: bool,
    /// A partition's records could not be written (a disk error): back off before
    /// fetching them again, as Kafka's fetcher delays a partition whose append threw a
    /// `KafkaStorageException` (`AbstractFetcherThread`: `partitionsWithError`, delayed by
    /// `replica.fetch.backoff.ms`) instead of refetching it every round.
    pub storage_failed: bool,
}

/// The Fetch for every truncated follower partition led by `leader`, or `None` when there
/// is nothing to fetch yet.
pub fn fetch_request(
    broker: &Broker,
    leader: i32,
    followed: &[TopicPartition],
    max_wait_ms: i32,
) -> Option<(FetchRequest, FetchRound)> {
    let mut asked: Vec<(TopicPartition, i32, i64)> = Vec::with_capacity(followed.len());
    let mut topics: Vec<FetchTopic> = Vec::new();
    for key in followed {
        let Some(p) = broker.partitions.get(key) else {
            continue;
        };
        if !matches!(p.role, Role::Follower { leader: l, truncated: true } if l == leader) {
            continue;
        }
        let (epoch, offset) = (p.leader_epoch(), p.log.end_offset());
        let (topic, partition) = key;
        // The follower's own log start (Fetch v5+): the leader acknowledges DeleteRecords
        // once every live replica's log start has passed the deleted offset (KIP-107).
        let wanted = FetchPartition::default()
            .with_partition(*partition)
            .with_current_leader_epoch(epoch)
            .with_fetch_offset(offset)
            .with_log_start_offset(p.log.log_start_offset())
            .with_partition_max_bytes(REPLICA_FETCH_MAX_BYTES);
        // A topic's partitions are usually next to each other (`followed` is in partition
        // order): its entry is then the last one.
        let same_topic = |t: &FetchTopic| t.topic.0.as_str() == topic;
        let at = match topics.last() {
            Some(t) if same_topic(t) => Some(topics.len() - 1),
            _ => topics.iter().position(same_topic),
        };
        match at {
            Some(at) => topics[at].partitions.push(wanted),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(topic.clone().into()))
                    .with_partitions(vec![wanted]),
            ),
        }
        asked.push((key.clone(), epoch, offset));
    }
    if asked.is_empty() {
        return None;
    }
    let request = FetchRequest::default()
        .with_replica_id(BrokerId(broker.node_id))
        .with_max_wait_ms(max_wait_ms)
        .with_max_bytes(REPLICA_FETCH_RESPONSE_MAX_BYTES)
        .with_topics(topics);
    Some((request, FetchRound { asked }))
}

/// Appends what the leader returned to each partition still where it was when asked.
pub fn on_fetch_response(
    broker: &mut Broker,
    round: &FetchRound,
    response: &FetchResponse,
) -> FetchOutcome {
    let mut outcome = FetchOutcome::default();
    // One key, refilled per partition: looking a partition up allocates nothing.
    let mut key: TopicPartition = (String::new(), 0);
    let mut next = 0;
    for topic in &response.responses {
        key.0.clear();
        key.0.push_str(&topic.topic.0);
        for data in &topic.partitions {
            key.1 = data.partition_index;
            // Answers come in the order asked, so the next one asked is tried first; the
            // partition index is compared before the topic name.
            let is_key = |(k, _, _): &&(TopicPartition, i32, i64)| k.1 == key.1 && k.0 == key.0;
            let found = match round.asked.get(next) {
                Some(entry) if is_key(&entry) => Some((next, entry)),
                _ => round.asked.iter().enumerate().find(|(_, e)| is_key(e)),
            };
            let Some((at, &(_, epoch, offset))) = found else {
                continue;
            };
            next = at + 1;
            if data.error_code != 0 {
                outcome.fenced |= data.error_code != ResponseError::OffsetOutOfRange.code();
                continue;
            }
            let current = broker
                .partitions
                .get(&key)
                .map(|p| (p.leader_epoch(), p.log.end_offset()));
            if current != Some((epoch, offset)) {
                continue;
            }
            // The leader's batches, byte for byte, and its log start (KIP-107).
            outcome.storage_failed |= !broker.follower_append(
                &key,
                data.records.as_ref(),
                data.high_watermark,
                data.log_start_offset,
            );
        }
    }
    outcome
}
