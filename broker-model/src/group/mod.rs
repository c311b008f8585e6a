//! The group coordinator: consumer groups of the classic protocol, hosted by the leader of
//! each group's partition of `__consumer_offsets`.
//!
//! - [`membership`]: one group's rebalance state machine (join, sync, heartbeat, leave,
//!   session expiry) and its fencing errors.
//! - [`offsets`]: OffsetCommit validation and the records that make commits durable.
//!
//! Kafka's routing (protocol guide, FindCoordinator): a group lives in partition
//! `abs(group_id.hashCode()) % offsets.topic.num.partitions`; the leader of that partition
//! is the group's coordinator. Becoming leader loads the partition's committed offsets
//! from the log; losing leadership unloads its groups (members then get NOT_COORDINATOR,
//! find the new coordinator, and rejoin).
//!
//! Generations must never repeat across coordinators, or two different memberships would
//! share a generation_id. Kafka persists a GroupMetadata record per generation; we derive
//! a floor from the partition's leader epoch instead (`leader_epoch × 100_000`), which is
//! above every generation any earlier coordinator of the partition could hand out, with
//! no write on the rebalance path.

pub mod membership;
pub mod offsets;
pub mod transactional;

use std::collections::BTreeMap;

use faultline_wire::ResponseError;

use crate::log::LogEntry;
use membership::Group;
use offsets::OffsetRecord;

/// The internal topic holding committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Generations one coordinator epoch may hand out before reaching the next epoch's floor.
const GENERATIONS_PER_EPOCH: i32 = 100_000;

/// Java's `String.hashCode`, which Kafka's partitioning of groups uses.
pub fn java_string_hash(text: &str) -> i32 {
    text.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32))
}

/// The `__consumer_offsets` partition of a group (Kafka's `partitionFor`, with
/// `Utils.abs`, which maps i32::MIN to 0).
pub fn partition_for(group_id: &str, partitions: i32) -> i32 {
    let hash = java_string_hash(group_id);
    let positive = if hash == i32::MIN { 0 } else { hash.abs() };
    positive % partitions.max(1)
}

/// Every group this broker coordinates.
#[derive(Debug, Clone, Default)]
pub struct GroupCoordinator {
    /// `__consumer_offsets` partition count.
    pub partitions: i32,
    /// Offsets partitions this broker leads, with the leader epoch it loaded them in.
    loaded: BTreeMap<i32, i32>,
    /// Groups by id, for loaded partitions only.
    groups: BTreeMap<String, Group>,
    /// Counter for new member ids.
    next_member: u64,
    /// TxnOffsetCommit offsets waiting for their transaction's marker, by offsets
    /// partition and producer id (KIP-98, KIP-447).
    pending_transactional: BTreeMap<(i32, i64), Vec<OffsetRecord>>,
}

impl GroupCoordinator {
    /// Every loaded group's current generation (read-only, for the simulation's checks).
    pub fn generations(&self) -> impl Iterator<Item = (&str, i32)> {
        self.groups
            .iter()
            .map(|(id, group)| (id.as_str(), group.generation_id))
    }

    /// A coordinator of nothing yet.
    pub fn new(partitions: i32) -> Self {
        GroupCoordinator {
            partitions,
            ..Default::default()
        }
    }

    /// Became leader of an offsets partition: load its committed offsets (all of its log,
    /// as Kafka does) and open its groups with a generation floor above every earlier
    /// coordinator's.
    pub fn load(&mut self, partition: i32, leader_epoch: i32, log: &[LogEntry]) {
        self.unload(partition);
        self.loaded.insert(partition, leader_epoch);
        // Transactional commits (a producer id) wait for their marker: `load_transactional`.
        // Commits and tombstones apply in log order.
        for entry in log.iter().filter(|e| e.producer_id < 0) {
            if let Some(record) = OffsetRecord::from_entry(entry) {
                if partition_for(&record.group, self.partitions) != partition {
                    continue;
                }
                let group = self.group_entry(&record.group, partition);
                group.committed.insert(
                    (record.topic, record.partition),
                    (record.offset, record.metadata),
                );
            } else if let Some((group_id, topic, index)) = offsets::tombstone_key(entry) {
                if let Some(group) = self.groups.get_mut(&group_id) {
                    group.committed.remove(&(topic, index));
                }
            }
        }
        // A group whose offsets were all deleted (DeleteGroups, OffsetDelete) is gone: the
        // log is all a coordinator knows of a group it did not host.
        let partitions = self.partitions;
        self.groups.retain(|id, group| {
            partition_for(id, partitions) != partition || !group.committed.is_empty()
        });
    }

    /// Lost leadership of an offsets partition: forget its groups.
    pub fn unload(&mut self, partition: i32) {
        if self.loaded.remove(&partition).is_some() {
            self.pending_transactional
                .retain(|(p, _), _| *p != partition);
            let partitions = self.partitions;
            self.groups
                .retain(|id, _| partition_for(id, partitions) != partition);
        }
    }

    /// Whether this broker coordinates offsets partition `partition`.
    pub fn is_loaded(&self, partition: i32) -> bool {
        self.loaded.contains_key(&partition)
    }

    fn group_entry(&mut self, group_id: &str, partition: i32) -> &mut Group {
        let floor = self.loaded[&partition].saturating_mul(GENERATIONS_PER_EPOCH);
        self.groups
            .entry(group_id.to_string())
            .or_insert_with(|| Group::new(group_id, floor.max(0)))
    }

    /// The group, if this broker coordinates it (NOT_COORDINATOR otherwise, so that the
    /// client looks the coordinator up again).
    pub fn group(&mut self, group_id: &str) -> Result<&mut Group, ResponseError> {
        if group_id.is_empty() {
            return Err(ResponseError::InvalidGroupId);
        }
        let partition = partition_for(group_id, self.partitions);
        if !self.is_loaded(partition) {
            return Err(ResponseError::NotCoordinator);
        }
        Ok(self.group_entry(group_id, partition))
    }

    /// The groups this broker coordinates, by id (ListGroups).
    pub fn coordinated(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// The group, if this broker coordinates its partition: `Ok(None)` for a group it
    /// would coordinate but knows nothing of (DescribeGroups answers it as Dead).
    pub fn describe(&self, group_id: &str) -> Result<Option<&Group>, ResponseError> {
        if !self.is_loaded(partition_for(group_id, self.partitions)) {
            return Err(ResponseError::NotCoordinator);
        }
        Ok(self.groups.get(group_id))
    }

    /// A member id never handed out before by any coordinator of the group: the client
    /// id, this broker, the coordinator's leader epoch (a restarted broker's counter starts
    /// over, its epoch does not) and a counter.
    pub fn new_member_id(&mut self, client_id: &str, group_id: &str, node_id: i32) -> String {
        self.next_member += 1;
        let partition = partition_for(group_id, self.partitions);
        let epoch = self.loaded.get(&partition).copied().unwrap_or(-1);
        format!("{client_id}-{node_id}-{epoch}-{}", self.next_member)
    }

    /// Tombstones acknowledged by the offsets partition (DeleteGroups, OffsetDelete): the
    /// offsets out of the cache. With `whole_group` (DeleteGroups) the group goes too,
    /// unless it gained a member or a commit since the deletion began.
    pub fn apply_deletes(&mut self, group_id: &str, keys: &[(String, i32)], whole_group: bool) {
        if !self.is_loaded(partition_for(group_id, self.partitions)) {
            return;
        }
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        for key in keys {
            group.committed.remove(key);
        }
        if whole_group && group.members.is_empty() && group.committed.is_empty() {
            self.groups.remove(group_id);
        }
    }

    /// Commits acknowledged by the offsets partition: into the cache.
    pub fn apply_commits(&mut self, records: &[OffsetRecord]) {
        for record in records {
            if let Ok(group) = self.group(&record.group) {
                group.committed.insert(
                    (record.topic.clone(), record.partition),
                    (record.offset, record.metadata.clone()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
