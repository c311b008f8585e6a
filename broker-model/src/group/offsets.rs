//! Committed offsets: validation of OffsetCommit, the records written to
//! `__consumer_offsets`, and the cache a coordinator rebuilds from them.
//!
//! Kafka writes each commit as a record keyed by (group, topic, partition) to the group's
//! partition of `__consumer_offsets` and answers only once the append is replicated
//! (`offsets.commit.required.acks` = -1); the in-memory cache is updated on that success,
//! and a coordinator that becomes leader of the partition loads the whole log into its
//! cache (`GroupMetadataManager.loadGroupsAndOffsets`). So a commit that was acknowledged
//! survives any failover that keeps the partition's committed records.
//!
//! DeleteGroups and OffsetDelete (KIP-496) remove offsets by appending tombstones: the
//! same key with no value, as Kafka's `GroupMetadataManager.cleanupGroupMetadata` does, so
//! a coordinator that loads the log later forgets them too.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use faultline_wire::ResponseError;

use crate::group::membership::{Group, GroupState};
use crate::log::LogEntry;

/// One committed offset as stored in `__consumer_offsets` (a JSON record value; Kafka's
/// is a versioned binary `OffsetCommitKey`/`OffsetCommitValue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetRecord {
    /// The group.
    pub group: String,
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The next offset to consume.
    pub offset: i64,
    /// The metadata string committed with it (OffsetCommit `committed_metadata`), which
    /// OffsetFetch returns (protocol guide, OffsetCommit/OffsetFetch). Omitted when empty,
    /// so records without one keep their exact bytes.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub metadata: String,
}

impl OffsetRecord {
    /// The records of one commit (OffsetCommit or TxnOffsetCommit): one per
    /// (topic, partition, offset, metadata) the request names, for `group`.
    pub fn of_commit<'a>(
        group: &str,
        partitions: impl Iterator<Item = (&'a str, i32, i64, Option<&'a str>)>,
    ) -> Vec<OffsetRecord> {
        partitions
            .map(|(topic, partition, offset, metadata)| OffsetRecord {
                group: group.to_string(),
                topic: topic.to_string(),
                partition,
                offset,
                metadata: metadata.unwrap_or_default().to_string(),
            })
            .collect()
    }

    /// As a log entry to append (offset and epoch are the leader's to fill in).
    pub fn to_entry(&self) -> LogEntry {
        let value = serde_json::to_vec(self).expect("offset records serialize");
        offsets_entry(
            &self.group,
            &self.topic,
            self.partition,
            Some(Bytes::from(value)),
        )
    }

    /// Reads one back; anything else in the log is skipped.
    pub fn from_entry(entry: &LogEntry) -> Option<OffsetRecord> {
        serde_json::from_slice(entry.value.as_deref()?).ok()
    }
}

/// The committed offset of `(group, topic, partition)` removed: a tombstone for
/// `__consumer_offsets` (the commit's key, no value).
pub fn tombstone(group: &str, topic: &str, partition: i32) -> LogEntry {
    offsets_entry(group, topic, partition, None)
}

/// An entry of `__consumer_offsets` keyed by `group/topic/partition` (offset and epoch are
/// the leader's to fill in).
fn offsets_entry(group: &str, topic: &str, partition: i32, value: Option<Bytes>) -> LogEntry {
    LogEntry {
        offset: 0,
        leader_epoch: -1,
        timestamp: 0,
        key: Some(Bytes::from(format!("{group}/{topic}/{partition}"))),
        value,
        producer_id: -1,
        producer_epoch: -1,
        sequence: -1,
    }
}

/// Reads a tombstone back as `(group, topic, partition)`; `None` for anything else.
/// Topic names cannot hold a `/` (Kafka's legal characters are `[a-zA-Z0-9._-]`) while
/// group ids can, so the key splits from the right.
pub fn tombstone_key(entry: &LogEntry) -> Option<(String, String, i32)> {
    if entry.value.is_some() {
        return None;
    }
    let key = std::str::from_utf8(entry.key.as_deref()?).ok()?;
    let (rest, partition) = key.rsplit_once('/')?;
    let (group, topic) = rest.rsplit_once('/')?;
    Some((
        group.to_string(),
        topic.to_string(),
        partition.parse().ok()?,
    ))
}

/// Whether an OffsetCommit may be written (Kafka's `GroupCoordinator.handleCommitOffsets`):
/// - generation -1 with no member id is a standalone consumer's commit, allowed only while
///   the group has no members (else UNKNOWN_MEMBER_ID);
/// - an unknown member is UNKNOWN_MEMBER_ID, another generation ILLEGAL_GENERATION
///   (the fencing that keeps a zombie member from moving offsets it no longer owns);
/// - between JoinGroup and SyncGroup (CompletingRebalance) a commit is
///   REBALANCE_IN_PROGRESS; while the group waits for members to rejoin
///   (PreparingRebalance) a member of the current generation may still commit — that is
///   how a consumer commits what it processed before giving its partitions up (Kafka's
///   classic `GroupCoordinator.handleCommitOffsets`; KIP-429's revocation commits).
///
/// `fencing` off is the planted bug `no-generation-fencing`.
pub fn check_commit(
    group: &Group,
    member_id: &str,
    generation_id: i32,
    fencing: bool,
) -> Result<(), ResponseError> {
    if !fencing {
        return Ok(());
    }
    if generation_id < 0 && member_id.is_empty() {
        return if group.state == GroupState::Empty {
            Ok(())
        } else {
            Err(ResponseError::UnknownMemberId)
        };
    }
    if group.state == GroupState::CompletingRebalance {
        return Err(ResponseError::RebalanceInProgress);
    }
    group.check_member(member_id, generation_id)
}
