//! The group consumer workload: members of one consumer group join, receive partitions
//! from the leader member's range assignment, resume from the group's committed offsets,
//! poll, commit after every poll and heartbeat, rejoining whenever the coordinator says the
//! group moved on (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID).
//!
//! What it records, for the group checker and the log checker:
//! - `subscribe` (the topic's keys) once per process, so the log checker lets a rebalance
//!   move the consumer's position (Jepsen's `allowed-error-types` under subscribe);
//! - `join` with a [`Membership`] once JoinGroup and SyncGroup both succeed;
//! - `fetch-committed` and `commit` with [`GroupOffsets`]; a fetch records -1 for a
//!   partition the coordinator has no committed offset for, exactly as OffsetFetch
//!   answers, so an offset that vanished (a lost commit) is visible to the checker;
//! - `poll` as the assignment consumer does.
//!
//! Errors map to completions honestly: fencing and coordinator-availability errors are
//! checked before a commit is written, so they `fail`; a lost answer or NOT_COORDINATOR
//! (which may come after the append) is `info`.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use faultline_wire::{ResponseError, Transport};

use crate::assignor::{decode_assignment, encode_assignment, range_assignment};
use crate::client::{GroupError, KafkaClient};
use crate::recorder::Recorder;
use crate::workload::{poll_once, WorkloadConfig};
use faultline_checker::history::{
    Function, GroupOffsets, Key, Membership, OpType, OpValue, Process,
};

/// `session.timeout.ms` of group members.
pub const SESSION_TIMEOUT_MS: i32 = 2_000;
/// `max.poll.interval.ms`, the rebalance timeout (KIP-62).
pub const REBALANCE_TIMEOUT_MS: i32 = 3_000;
/// `heartbeat.interval.ms`.
const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(300);
/// The assignor, by its Kafka name.
const PROTOCOL: &str = "range";

/// One member's state between calls.
struct MemberState<T: Transport> {
    client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
    group: String,
    process: u32,
    member_id: String,
}

/// A generation this member is in.
struct Generation {
    coordinator: String,
    generation_id: i32,
    assignment: Vec<Key>,
}

/// Runs one group member until `stop_at`, then leaves the group.
pub async fn run_group_consumer<T: Transport>(
    client: KafkaClient<T>,
    recorder: Recorder,
    config: WorkloadConfig,
    group: String,
    mut rng: ChaCha8Rng,
    stop_at: Instant,
) {
    let process = recorder.fresh_process();
    let mut member = MemberState {
        client,
        recorder,
        config,
        group,
        process,
        member_id: String::new(),
    };
    // Members join at seeded times, so that generations grow one member at a time.
    faultline_wire::time::sleep(Duration::from_millis(rng.random_range(0..3_000))).await;
    member.subscribe();
    let mut last = None;
    while Instant::now() < stop_at {
        let Some(generation) = member.join().await else {
            faultline_wire::time::sleep(Duration::from_millis(rng.random_range(100..300))).await;
            continue;
        };
        let crash_at = if member.config.member_crashes {
            (Instant::now() + Duration::from_millis(rng.random_range(3_000..10_000))).min(stop_at)
        } else {
            stop_at
        };
        member.consume(&generation, &mut rng, crash_at).await;
        if Instant::now() >= crash_at && crash_at < stop_at {
            if rng.random_bool(0.5) {
                member.crash(&mut rng).await;
                last = None;
            } else {
                // A stall (a long GC pause, Kafka's exceeded max.poll.interval.ms): the
                // member wakes up a zombie of its old generation and tries to go on; the
                // coordinator must fence its commit.
                let silence = SESSION_TIMEOUT_MS as u64 + rng.random_range(200..1_500);
                faultline_wire::time::sleep(Duration::from_millis(silence)).await;
                member.consume(&generation, &mut rng, stop_at).await;
                last = Some(generation);
            }
        } else {
            last = Some(generation);
        }
    }
    if let Some(generation) = last {
        let (coordinator, group, member_id) = (
            generation.coordinator,
            member.group.clone(),
            member.member_id.clone(),
        );
        let _ = member
            .client
            .leave_group(&coordinator, &group, &member_id)
            .await;
    }
}

impl<T: Transport> MemberState<T> {
    fn record(&self, kind: OpType, f: Function, value: OpValue, error: Option<String>) {
        self.recorder
            .record(Process::Client(self.process), kind, f, value, error);
    }

    fn subscribe(&self) {
        let keys: Vec<Key> = (0..self.config.partitions as Key).collect();
        self.record(
            OpType::Invoke,
            Function::Subscribe,
            OpValue::Keys(keys.clone()),
            None,
        );
        self.record(OpType::Ok, Function::Subscribe, OpValue::Keys(keys), None);
    }

    /// After an `info`, Jepsen moves on under a fresh process; it subscribes again so the
    /// log checker knows its position may move.
    fn new_process(&mut self) {
        self.process = self.recorder.fresh_process();
        self.subscribe();
    }

    /// A crash: no LeaveGroup, silence past the session timeout, then a new process that
    /// joins as a new member (its old member id expired with its session).
    async fn crash(&mut self, rng: &mut ChaCha8Rng) {
        let silence = SESSION_TIMEOUT_MS as u64 + rng.random_range(200..1_500);
        faultline_wire::time::sleep(Duration::from_millis(silence)).await;
        self.member_id.clear();
        self.new_process();
    }

    fn offsets(&self, generation: &Generation, offsets: BTreeMap<Key, i64>) -> GroupOffsets {
        GroupOffsets {
            group: self.group.clone(),
            generation_id: generation.generation_id,
            member_id: self.member_id.clone(),
            offsets,
        }
    }

    fn forget_member_if(&mut self, error: &GroupError) {
        if *error == GroupError::Broker(ResponseError::UnknownMemberId) {
            self.member_id.clear();
        }
    }

    /// FindCoordinator, JoinGroup, SyncGroup as one `join` op.
    async fn join(&mut self) -> Option<Generation> {
        let coordinator = self.client.find_coordinator(&self.group).await.ok()?;
        self.record(
            OpType::Invoke,
            Function::Join,
            OpValue::Membership(None),
            None,
        );
        match self.join_and_sync(&coordinator).await {
            Ok(generation) => {
                let membership = Membership {
                    group: self.group.clone(),
                    generation_id: generation.generation_id,
                    member_id: self.member_id.clone(),
                    assignment: generation.assignment.clone(),
                };
                self.record(
                    OpType::Ok,
                    Function::Join,
                    OpValue::Membership(Some(membership)),
                    None,
                );
                Some(generation)
            }
            Err(error) => {
                self.forget_member_if(&error);
                self.client.forget(&coordinator);
                // A refusal is definite; a lost answer is not: the coordinator may have
                // put the member in the generation it formed, and the leader may have
                // handed it partitions it never learned of (Jepsen: `info`).
                let kind = match error {
                    GroupError::Broker(_) => OpType::Fail,
                    GroupError::Transport(_) => OpType::Info,
                };
                self.record(
                    kind,
                    Function::Join,
                    OpValue::Membership(None),
                    Some(error.to_string()),
                );
                None
            }
        }
    }

    async fn join_and_sync(&mut self, coordinator: &str) -> Result<Generation, GroupError> {
        let metadata = Bytes::from(self.config.topic.clone());
        let joined = self
            .client
            .join_group(
                coordinator,
                &self.group,
                &self.member_id,
                SESSION_TIMEOUT_MS,
                REBALANCE_TIMEOUT_MS,
                PROTOCOL,
                metadata,
            )
            .await?;
        self.member_id = joined.member_id.clone();
        let assignments: BTreeMap<String, Bytes> = if joined.leader == joined.member_id {
            let ids: Vec<String> = joined.members.iter().map(|(id, _)| id.clone()).collect();
            range_assignment(&ids, self.config.partitions)
                .into_iter()
                .map(|(id, partitions)| (id, encode_assignment(&partitions)))
                .collect()
        } else {
            BTreeMap::new()
        };
        let assignment = self
            .client
            .sync_group(
                coordinator,
                &self.group,
                joined.generation_id,
                &self.member_id,
                assignments,
            )
            .await?;
        Ok(Generation {
            coordinator: coordinator.to_string(),
            generation_id: joined.generation_id,
            assignment: decode_assignment(&assignment)
                .into_iter()
                .map(|p| p as Key)
                .collect(),
        })
    }

    /// OffsetFetch as a `fetch-committed` op: where to resume.
    async fn fetch_committed(&mut self, generation: &Generation) -> Option<BTreeMap<Key, i64>> {
        self.record(
            OpType::Invoke,
            Function::FetchCommitted,
            OpValue::Offsets(None),
            None,
        );
        let partitions: Vec<i32> = generation.assignment.iter().map(|&k| k as i32).collect();
        let (group, topic) = (self.group.clone(), self.config.topic.clone());
        match self
            .client
            .offset_fetch(&generation.coordinator, &group, &topic, &partitions)
            .await
        {
            Ok(committed) => {
                let offsets: BTreeMap<Key, i64> =
                    committed.into_iter().map(|(p, o)| (p as Key, o)).collect();
                let value = self.offsets(generation, offsets.clone());
                self.record(
                    OpType::Ok,
                    Function::FetchCommitted,
                    OpValue::Offsets(Some(value)),
                    None,
                );
                Some(offsets)
            }
            Err(error) => {
                self.client.forget(&generation.coordinator);
                self.record(
                    OpType::Fail,
                    Function::FetchCommitted,
                    OpValue::Offsets(None),
                    Some(error.to_string()),
                );
                None
            }
        }
    }

    /// Polls and commits within one generation until the group moves on or `stop_at`.
    async fn consume(&mut self, generation: &Generation, rng: &mut ChaCha8Rng, stop_at: Instant) {
        let Some(committed) = self.fetch_committed(generation).await else {
            return;
        };
        let mut positions: BTreeMap<Key, i64> = generation
            .assignment
            .iter()
            .map(|&k| {
                let start = self.config.start_offset(k);
                (k, committed.get(&k).copied().unwrap_or(start).max(start))
            })
            .collect();
        let mut last_heartbeat = Instant::now();
        while Instant::now() < stop_at {
            let mean = self.config.poll_interval.as_millis() as u64;
            let pause = rng.random_range(mean / 2..=mean + mean / 2);
            faultline_wire::time::sleep(Duration::from_millis(pause)).await;
            if !positions.is_empty() {
                let (config, process) = (self.config.clone(), self.process);
                poll_once(
                    &mut self.client,
                    &self.recorder,
                    &config,
                    process,
                    &mut positions,
                    50,
                )
                .await;
                if !self.commit(generation, &positions).await {
                    return;
                }
            }
            if last_heartbeat.elapsed() >= HEARTBEAT_INTERVAL {
                last_heartbeat = Instant::now();
                let (group, member_id) = (self.group.clone(), self.member_id.clone());
                let beat = self
                    .client
                    .heartbeat(
                        &generation.coordinator,
                        &group,
                        generation.generation_id,
                        &member_id,
                    )
                    .await;
                if let Err(error) = beat {
                    self.forget_member_if(&error);
                    self.client.forget(&generation.coordinator);
                    return;
                }
            }
        }
    }

    /// OffsetCommit of the positions as a `commit` op; false when the member must rejoin.
    async fn commit(&mut self, generation: &Generation, positions: &BTreeMap<Key, i64>) -> bool {
        let value = self.offsets(generation, positions.clone());
        self.record(
            OpType::Invoke,
            Function::Commit,
            OpValue::Offsets(Some(value.clone())),
            None,
        );
        let offsets: BTreeMap<i32, i64> = positions.iter().map(|(&k, &o)| (k as i32, o)).collect();
        let (group, topic, member_id) = (
            self.group.clone(),
            self.config.topic.clone(),
            self.member_id.clone(),
        );
        let result = self
            .client
            .offset_commit(
                &generation.coordinator,
                &group,
                generation.generation_id,
                &member_id,
                &topic,
                &offsets,
            )
            .await;
        let error = match result {
            Ok(()) => {
                self.record(
                    OpType::Ok,
                    Function::Commit,
                    OpValue::Offsets(Some(value)),
                    None,
                );
                return true;
            }
            Err(error) => error,
        };
        let definite = matches!(
            error,
            GroupError::Broker(
                ResponseError::IllegalGeneration
                    | ResponseError::UnknownMemberId
                    | ResponseError::RebalanceInProgress
                    | ResponseError::CoordinatorNotAvailable
                    | ResponseError::CoordinatorLoadInProgress
            )
        );
        let kind = if definite { OpType::Fail } else { OpType::Info };
        self.record(
            kind,
            Function::Commit,
            OpValue::Offsets(Some(value)),
            Some(error.to_string()),
        );
        self.forget_member_if(&error);
        self.client.forget(&generation.coordinator);
        if !definite {
            self.new_process();
        }
        false
    }
}
