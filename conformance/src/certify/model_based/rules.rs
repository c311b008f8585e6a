//! The rules the model checks, each with where it comes from. A violation names the rule
//! it broke, so a certificate's FAIL points at the protocol text, not at faultline.

use serde::{Deserialize, Serialize};

/// One rule of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// A stable id, e.g. `produce.base-offset-is-log-end`.
    pub id: &'static str,
    /// What it says.
    pub text: &'static str,
    /// Where it comes from.
    pub citation: &'static str,
}

/// A response outside the set the model allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The rule's id.
    pub rule: String,
    /// The rule's citation.
    pub citation: String,
    /// What was expected and what came back.
    pub message: String,
}

impl Rule {
    /// A violation of this rule.
    pub fn violated(&self, message: impl Into<String>) -> Violation {
        Violation {
            rule: self.id.to_string(),
            citation: self.citation.to_string(),
            message: message.into(),
        }
    }
}

/// A broker answers every request (with an error code if need be).
pub const ANSWERED: Rule = Rule {
    id: "request.answered",
    text: "Every request but a Produce with acks=0 gets a decodable response in time",
    citation: "Kafka protocol guide, \"The Protocol\" (request/response pairs) and \"Error Codes\"",
};
/// A valid batch to the leader of an existing partition is appended.
pub const PRODUCE_ACCEPTED: Rule = Rule {
    id: "produce.valid-batch-accepted",
    text: "A well-formed batch sent to the partition's leader is acknowledged, or refused only with a retriable error, whatever base offset its header carries",
    citation: "Kafka protocol guide, Produce and \"Error Codes\" (retriable errors); Kafka's LogValidator (validateBatch, assignOffsetsNonCompressed: a client's base offset is renumbered)",
};
/// Offsets are handed out in order, without gaps or reuse.
pub const BASE_OFFSET: Rule = Rule {
    id: "produce.base-offset-is-log-end",
    text: "An acknowledged batch starts at the log end: right after the previous batch, its records numbered consecutively",
    citation: "Kafka protocol guide, Produce (base_offset) and \"Record Batch\"; Kafka design, \"Log\" (offsets are sequential per partition)",
};
/// Concurrent appends occupy disjoint ranges that tile the log.
pub const CONCURRENT_TILING: Rule = Rule {
    id: "produce.concurrent-offsets-tile",
    text: "Concurrently acknowledged batches occupy disjoint offset ranges that together follow the log end without a gap",
    citation: "Kafka protocol guide, Produce (base_offset); Jepsen, \"Bufstream 0.1.0\" (spurious offsets returned to sends)",
};
/// A fetch answers OFFSET_OUT_OF_RANGE exactly outside the log.
pub const FETCH_RANGE: Rule = Rule {
    id: "fetch.out-of-range",
    text: "A fetch below the log start or past the log end answers OFFSET_OUT_OF_RANGE; one inside answers records",
    citation: "Kafka protocol guide, Fetch and \"Error Codes\" (OFFSET_OUT_OF_RANGE)",
};
/// A consumer never sees records at or above the high watermark.
pub const FETCH_BELOW_HIGH_WATERMARK: Rule = Rule {
    id: "fetch.below-high-watermark",
    text: "A consumer fetch returns only records below the high watermark it reports",
    citation: "Kafka protocol guide, Fetch (HighWatermark); Kafka design, \"Replication\" (only committed messages are given out to the consumer)",
};
/// The high watermark never goes back and covers acks=all writes.
pub const HIGH_WATERMARK: Rule = Rule {
    id: "fetch.high-watermark-monotonic",
    text: "The high watermark never decreases, covers every batch acknowledged with acks=all, and never passes the log end",
    citation: "Kafka protocol guide, Produce (acks=-1) and Fetch (HighWatermark); KIP-101",
};
/// The records a fetch returns are the ones written there.
pub const FETCH_CONTENTS: Rule = Rule {
    id: "fetch.returns-what-was-written",
    text: "Fetched records carry the offsets and values the acknowledged batches were given, in offset order without gaps; records before the fetch offset only from the batch holding it",
    citation: "Kafka protocol guide, Fetch and \"Record Batch\" (whole batches may be returned)",
};
/// A fetch below the high watermark makes progress.
pub const FETCH_PROGRESS: Rule = Rule {
    id: "fetch.progress",
    text: "A fetch from an offset below the high watermark returns the record at that offset, even when max_bytes is smaller than its batch",
    citation: "KIP-74 (the first batch is returned even if it exceeds max_bytes, so consumers make progress)",
};
/// ListOffsets answers.
pub const LIST_OFFSETS: Rule = Rule {
    id: "list-offsets.answers",
    text: "ListOffsets earliest is the log start, latest is the high watermark (between every acks=all write and the log end), a timestamp gives the first offset at or after it, max timestamp the record with the largest timestamp",
    citation: "Kafka protocol guide, ListOffsets; KIP-79 (timestamps -1/-2), KIP-734 (-3)",
};
/// Metadata reports the topic and a known leader for each partition.
pub const METADATA: Rule = Rule {
    id: "metadata.topic-and-leaders",
    text: "Metadata reports the topic with error NONE, its partitions, and a leader among the brokers it lists",
    citation: "Kafka protocol guide, Metadata",
};
/// InitProducerId hands out fresh ids or the next epoch.
pub const PRODUCER_ID: Rule = Rule {
    id: "init-producer-id.fresh",
    text: "InitProducerId gives a producer id no other producer of the case has, or for a bump the same id with the next epoch",
    citation: "KIP-98 (producer ids); KIP-360 (epoch bump of an idempotent producer)",
};
/// Duplicates are acknowledged at their first offsets and not written twice.
pub const DEDUP: Rule = Rule {
    id: "idempotence.duplicate-not-rewritten",
    text: "A resend of one of the producer's last five batches is acknowledged with its original offset (or DUPLICATE_SEQUENCE_NUMBER) and not written again",
    citation: "KIP-98 (sequence numbers; the broker keeps the last five batches per producer)",
};
/// Sequences must follow on.
pub const SEQUENCE: Rule = Rule {
    id: "idempotence.sequence-checked",
    text: "A batch whose first sequence skips ahead answers OUT_OF_ORDER_SEQUENCE_NUMBER; a batch under an epoch older than the producer's answers INVALID_PRODUCER_EPOCH (or PRODUCER_FENCED); neither is written",
    citation: "KIP-98; KIP-360; KIP-588 (PRODUCER_FENCED)",
};
/// JoinGroup forms one generation.
pub const JOIN: Rule = Rule {
    id: "groups.join-forms-a-generation",
    text: "Members joining together get one generation, newer than the last (unless nothing changed), one leader among them, and the leader the full member list",
    citation: "Kafka protocol guide, \"The Consumer Group Protocol\" and JoinGroup; KIP-394 (MEMBER_ID_REQUIRED)",
};
/// SyncGroup hands out the leader's assignment.
pub const SYNC: Rule = Rule {
    id: "groups.sync-delivers-assignment",
    text: "SyncGroup gives each member of the current generation exactly the assignment the leader sent for it",
    citation: "Kafka protocol guide, SyncGroup",
};
/// Generation fencing.
pub const FENCING: Rule = Rule {
    id: "groups.generation-fencing",
    text: "Heartbeat and OffsetCommit from an unknown member answer UNKNOWN_MEMBER_ID, from another generation ILLEGAL_GENERATION; a rebalance in progress is REBALANCE_IN_PROGRESS; and a fenced commit is not stored",
    citation: "Kafka protocol guide, \"The Consumer Group Protocol\", Heartbeat and OffsetCommit; KIP-62",
};
/// Committed offsets read back.
pub const COMMITTED: Rule = Rule {
    id: "groups.committed-offsets-read-back",
    text: "OffsetFetch returns the last committed offset and metadata of each partition, or -1 when none was committed",
    citation: "Kafka protocol guide, OffsetCommit and OffsetFetch",
};
/// LeaveGroup.
pub const LEAVE: Rule = Rule {
    id: "groups.leave",
    text: "LeaveGroup removes a member (NONE) and answers UNKNOWN_MEMBER_ID for a member that is not in the group",
    citation: "Kafka protocol guide, LeaveGroup; KIP-345 (per-member errors from v3)",
};

/// Malformed batches are refused and not appended.
pub const MALFORMED_REFUSED: Rule = Rule {
    id: "produce.malformed-batch-refused",
    text: "A batch with no records, the control bit set, a lastOffsetDelta other than its record count minus one, offset deltas other than 0..n, or a CRC that does not match is refused with INVALID_RECORD or CORRUPT_MESSAGE and nothing of it is appended",
    citation: "Kafka protocol guide, Produce (errors CORRUPT_MESSAGE, INVALID_RECORD) and \"Record Batch\" (CRC-32C over attributes to the end, lastOffsetDelta, offsetDelta); Kafka LogValidator.validateBatch (clients may not write control records; the offset range must match the record count)",
};
/// CreateTopics validates and creates.
pub const CREATE_TOPICS: Rule = Rule {
    id: "create-topics.validates",
    text: "CreateTopics refuses an illegal name with INVALID_TOPIC_EXCEPTION, an existing one with TOPIC_ALREADY_EXISTS, partitions below 1 (other than -1) with INVALID_PARTITIONS, a replication factor below 1 (other than -1) or above the live brokers with INVALID_REPLICATION_FACTOR, and creates anything else with the partitions and replication factor asked",
    citation: "KIP-4 and Kafka protocol guide, CreateTopics; Kafka Topic.validate (1..=249 characters of [a-zA-Z0-9._-], not . or ..); KIP-464 (-1 takes the broker default, v4+); KIP-525 (counts in the answer, v5+)",
};
/// Metadata agrees with what CreateTopics answered.
pub const CREATED_TOPIC_METADATA: Rule = Rule {
    id: "create-topics.metadata-agrees",
    text: "After CreateTopics created a topic, Metadata lists it with the partitions asked and as many replicas per partition as the replication factor; after a refusal, Metadata does not list it",
    citation: "Kafka protocol guide, CreateTopics and Metadata (UNKNOWN_TOPIC_OR_PARTITION, INVALID_TOPIC_EXCEPTION); KIP-4",
};
/// DeleteRecords moves the log start as KIP-107 says.
pub const DELETE_RECORDS: Rule = Rule {
    id: "delete-records.low-watermark",
    text: "DeleteRecords up to an offset between the log start and the high watermark answers it as the low watermark, -1 deletes up to the high watermark, an offset below the log start answers the unchanged log start, one past the high watermark answers OFFSET_OUT_OF_RANGE; ListOffsets earliest then answers the low watermark and a fetch below it OFFSET_OUT_OF_RANGE",
    citation: "KIP-107 (DeleteRecords, low watermark); Kafka protocol guide, DeleteRecords and \"Error Codes\" (OFFSET_OUT_OF_RANGE)",
};

/// A commit outside a live generation (generation -1, or an empty member id).
pub const UNMANAGED_COMMIT: Rule = Rule {
    id: "groups.commit-outside-generation",
    text: "An OffsetCommit with generation -1 and an empty member id (a consumer without group management) is accepted while the group has no members and answers UNKNOWN_MEMBER_ID while it has; with a member's id and generation -1 it answers ILLEGAL_GENERATION (an empty group may also accept it); an empty member id with a generation ≥ 0 is UNKNOWN_MEMBER_ID; a refused commit is not stored",
    citation: "Kafka protocol guide, OffsetCommit (generation_id -1, member_id \"\" for consumers without group management); Kafka GroupCoordinator.validateOffsetCommit (classic coordinator) and ClassicGroup.validateOffsetCommit (KIP-848 coordinator)",
};
/// KIP-74's response-wide byte budget.
pub const FETCH_MAX_BYTES: Rule = Rule {
    id: "fetch.response-within-max-bytes",
    text: "The record bytes of all partitions of a Fetch (v3+) total at most max_bytes, unless the first partition with records returns exactly one whole batch larger than that, and no other partition returns records",
    citation: "KIP-74 (the response is no bigger than max(max_bytes, the first message of the first partition)); Kafka protocol guide, Fetch Request v3+ (max_bytes)",
};
/// KIP-74's per-partition byte budget.
pub const FETCH_PARTITION_MAX_BYTES: Rule = Rule {
    id: "fetch.partition-within-partition-max-bytes",
    text: "Each partition of a Fetch returns at most its partition_max_bytes, except that the first partition with records may return exactly one whole batch larger than that",
    citation: "KIP-74 (every partition but the first is fetched up to its partition limit and the remaining response limit); Kafka protocol guide, Fetch Request (partition_max_bytes)",
};

/// Every rule, for documentation and the certificate's detail.
pub const ALL: [Rule; 26] = [
    ANSWERED,
    PRODUCE_ACCEPTED,
    BASE_OFFSET,
    CONCURRENT_TILING,
    FETCH_RANGE,
    FETCH_BELOW_HIGH_WATERMARK,
    HIGH_WATERMARK,
    FETCH_CONTENTS,
    FETCH_PROGRESS,
    LIST_OFFSETS,
    METADATA,
    PRODUCER_ID,
    DEDUP,
    SEQUENCE,
    JOIN,
    SYNC,
    FENCING,
    COMMITTED,
    LEAVE,
    MALFORMED_REFUSED,
    CREATE_TOPICS,
    CREATED_TOPIC_METADATA,
    DELETE_RECORDS,
    UNMANAGED_COMMIT,
    FETCH_MAX_BYTES,
    FETCH_PARTITION_MAX_BYTES,
];
