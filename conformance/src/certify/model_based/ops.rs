//! The generated requests: one [`Op`] is one step of a case, most of them exactly one
//! request. Ops name things relatively (the third batch, the previous generation, the
//! member in slot 2) and are resolved against the model when they run, so every
//! subsequence of a case — what shrinking tries — is still a meaningful case.

use serde::{Deserialize, Serialize};

/// A produce request's `acks` (protocol guide, Produce: 0 none, 1 the leader, -1 the ISR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Acks {
    /// acks=0: no response; a request on the same connection right behind it is the
    /// barrier that shows it was processed (protocol guide, "Network": one connection's
    /// requests are processed in order).
    None,
    /// acks=1.
    Leader,
    /// acks=-1 (all in-sync replicas).
    All,
}

impl Acks {
    /// The wire value.
    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Where a fetch starts, relative to the partition as the model knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FetchAt {
    /// The log start offset (as ListOffsets earliest reported it, else the case's first
    /// batch).
    LogStart,
    /// The log end: nothing to read yet.
    LogEnd,
    /// Inside the case's batch number `batch` (modulo the batches written), at record
    /// `record` (modulo its length).
    InsideBatch {
        /// Which batch.
        batch: u8,
        /// Which record of it.
        record: u8,
    },
    /// `beyond` records past the log end (OFFSET_OUT_OF_RANGE).
    PastEnd {
        /// How far past; at least 1.
        beyond: u8,
    },
    /// One below the log start (OFFSET_OUT_OF_RANGE).
    BelowLogStart,
}

/// A fetch's byte budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaxBytes {
    /// 1 MiB for the request and the partition.
    Large,
    /// This many bytes (smaller than one batch: KIP-74 still returns the first batch).
    Small(u16),
}

/// What a ListOffsets asks (KIP-79 sentinels, KIP-734 max timestamp).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OffsetQuery {
    /// Timestamp -2.
    Earliest,
    /// Timestamp -1.
    Latest,
    /// Timestamp -3 (ListOffsets v7+).
    MaxTimestamp,
    /// The timestamp of the case's batch number `batch` (modulo the batches written).
    TimestampOfBatch(u8),
    /// One millisecond after that batch's timestamp: the next batch's offset.
    JustAfterBatch(u8),
    /// Later than every record: no offset (-1).
    AfterEverything,
}

/// Which sequence an idempotent batch carries (KIP-98).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SequenceChoice {
    /// The next expected sequence.
    Next,
    /// A resend of the producer's batch `back` batches ago on this partition (0 the last);
    /// more than 4 back is outside the five the broker must remember.
    Duplicate(u8),
    /// The next sequence plus `gap` (OUT_OF_ORDER_SEQUENCE_NUMBER).
    Gap(u8),
    /// The next sequence, under the producer's epoch before its last bump.
    StaleEpoch,
}

/// Which generation a group request claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Claim {
    /// The member's own id and the generation it last joined.
    Current,
    /// The member's own id and the generation before that.
    PreviousGeneration,
    /// A member id the coordinator never handed out, with the group's generation.
    UnknownMember,
    /// A "simple" consumer that stores offsets in Kafka without group management
    /// (`assign()`, not `subscribe()`): generation -1 and an empty member id
    /// (see [`super::commit_edges`]).
    Unmanaged,
    /// The member's own id (or its former one) with generation -1.
    NoGeneration,
    /// An empty member id with the group's generation.
    EmptyMemberId,
    /// The member's own id with a generation newer than any the group formed.
    FutureGeneration,
}

/// How a malformed Produce batch is broken (protocol guide, "Record Batch"; Kafka's
/// `LogValidator`): a well-formed batch from the wire encoder, then tampered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Malformation {
    /// The record count is 0 and the records are gone (lastOffsetDelta -1, CRC resealed).
    NoRecords,
    /// The control bit (attributes bit 5) is set: only brokers write control batches.
    ControlBit,
    /// `lastOffsetDelta` is off by this much (never 0) from the record count minus one.
    LastOffsetDelta(i8),
    /// The records carry offset deltas `shift..shift+n` instead of `0..n` (shift ≥ 1), under
    /// `base_offset` in the header (a producer sends 0; Kafka refuses others since 3.0);
    /// lastOffsetDelta stays n-1.
    ShiftedOffsetDeltas {
        /// The first record's offset delta.
        shift: u8,
        /// The header's base offset.
        base_offset: i8,
    },
    /// The last record repeats the previous record's offset delta (needs ≥ 2 records).
    RepeatedOffsetDelta,
    /// One bit of the CRC flipped.
    BadCrc,
}

/// A topic name CreateTopics is asked for (Kafka's `Topic.validate`: 1..=249 characters
/// of `[a-zA-Z0-9._-]`, not `.` or `..`). Legal names start with the case's run token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TopicNameChoice {
    /// The run token and the op's index; with `punctuation`, `.` and `_` in it too.
    Legal {
        /// Use `.` and `_` as well as `-`.
        punctuation: bool,
    },
    /// A legal name padded to exactly this many characters (249 is the longest legal).
    Length(u16),
    /// The empty name.
    Empty,
    /// `.`.
    Dot,
    /// `..`.
    DotDot,
    /// A legal name with this character in it, outside `[a-zA-Z0-9._-]`.
    IllegalChar(char),
}

/// A partition count or replication factor CreateTopics is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CountChoice {
    /// -1: the broker's default (KIP-464, CreateTopics v4+).
    Default,
    /// 0.
    Zero,
    /// 1..=n (for a replication factor, modulo the live brokers, so 1..=live).
    Count(u8),
    /// For a replication factor: one more than the live brokers. For partitions: 4.
    PastLive,
}

/// Where a DeleteRecords deletes up to, relative to the family's log as the model knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeleteAt {
    /// -1: up to the high watermark (KIP-107).
    HighWatermarkSentinel,
    /// The high watermark the model knows.
    HighWatermark,
    /// Inside the case's batch number `batch`, at record `record` (modulo).
    InsideBatch {
        /// Which batch.
        batch: u8,
        /// Which record of it.
        record: u8,
    },
    /// One below the current log start (or 0 when the log starts there).
    BelowLogStart,
    /// `beyond` past the log end (past the high watermark: OFFSET_OUT_OF_RANGE).
    PastHighWatermark {
        /// How far past the log end; at least 1.
        beyond: u8,
    },
}

/// One step of a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "op")]
pub enum Op {
    /// One Produce of one batch of `records` records.
    Produce {
        /// Client slot (its own connections).
        client: u8,
        /// Partition slot.
        partition: u8,
        /// Records in the batch, 1..=50.
        records: u8,
        /// acks.
        acks: Acks,
        /// The base offset in the batch header: 0, as producers write it, or another,
        /// which Kafka accepts and renumbers ([`faultline_wire::tamper::with_base_offset`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        header_offset: u32,
    },
    /// Several clients' Produce requests to one partition in flight at once.
    ProduceConcurrently {
        /// Partition slot.
        partition: u8,
        /// `(client, records)` per request.
        batches: Vec<(u8, u8)>,
        /// acks (1 or all).
        acks: Acks,
    },
    /// One Fetch of one partition.
    Fetch {
        /// Client slot.
        client: u8,
        /// Partition slot.
        partition: u8,
        /// Where it starts.
        at: FetchAt,
        /// Its byte budget.
        max_bytes: MaxBytes,
    },
    /// One ListOffsets of one partition.
    ListOffsets {
        /// Client slot.
        client: u8,
        /// Partition slot.
        partition: u8,
        /// What it asks.
        query: OffsetQuery,
    },
    /// Metadata of the case's topic.
    Metadata {
        /// Client slot.
        client: u8,
    },
    /// InitProducerId for producer slot `producer`; with `bump`, a producer that has an
    /// id asks for its next epoch (KIP-360, InitProducerId v3+).
    InitProducerId {
        /// Producer slot.
        producer: u8,
        /// Ask for an epoch bump of the current id.
        bump: bool,
    },
    /// An idempotent producer's batch.
    IdempotentProduce {
        /// Producer slot.
        producer: u8,
        /// Partition slot.
        partition: u8,
        /// Records in a new batch, 1..=50 (a duplicate resends the old batch).
        records: u8,
        /// Which sequence.
        sequence: SequenceChoice,
    },
    /// These member slots send JoinGroup at once (a new member without an id); the
    /// others do not rejoin.
    Join {
        /// Member slots, distinct.
        members: Vec<u8>,
    },
    /// Every member of the current generation sends SyncGroup at once; the leader assigns
    /// the case's partitions round-robin.
    Sync,
    /// Heartbeat.
    Heartbeat {
        /// Member slot.
        member: u8,
        /// Which identity it claims.
        claim: Claim,
    },
    /// OffsetCommit of one partition, with a metadata string.
    Commit {
        /// Member slot.
        member: u8,
        /// Which identity it claims.
        claim: Claim,
        /// Partition slot.
        partition: u8,
        /// The offset committed.
        offset: u16,
    },
    /// OffsetFetch of every partition of the case.
    FetchCommitted {
        /// Client slot.
        client: u8,
    },
    /// One Fetch of several partitions led by one broker, with small byte budgets (KIP-74;
    /// see [`super::multi_fetch`]).
    FetchPartitions {
        /// Client slot.
        client: u8,
        /// The partition slot whose leader is asked; the others it leads follow in slot
        /// order from there.
        first: u8,
        /// Where each partition slot starts (slot modulo the list).
        starts: Vec<FetchAt>,
        /// The request's `max_bytes`.
        max_bytes: u16,
        /// Each partition's `partition_max_bytes`.
        partition_max_bytes: u16,
    },
    /// LeaveGroup.
    Leave {
        /// Member slot.
        member: u8,
    },
    /// A Produce of one malformed batch (acks=1).
    MalformedProduce {
        /// Client slot.
        client: u8,
        /// Partition slot.
        partition: u8,
        /// Records in the batch before tampering, 1..=50.
        records: u8,
        /// How it is broken.
        malformation: Malformation,
    },
    /// CreateTopics of one topic.
    CreateTopic {
        /// Client slot (which bootstrap address it asks).
        client: u8,
        /// The name.
        name: TopicNameChoice,
        /// The partition count.
        partitions: CountChoice,
        /// The replication factor.
        replication_factor: CountChoice,
    },
    /// The same CreateTopics as the case's CreateTopic number `which` (modulo), again.
    CreateAgain {
        /// Client slot.
        client: u8,
        /// Which earlier CreateTopic.
        which: u8,
    },
    /// Metadata of the topic the case's CreateTopic number `which` (modulo) asked for.
    DescribeTopic {
        /// Client slot.
        client: u8,
        /// Which CreateTopic.
        which: u8,
    },
    /// DeleteRecords of the family's log partition.
    DeleteRecords {
        /// Client slot.
        client: u8,
        /// Up to where.
        at: DeleteAt,
    },
}

/// A generated case: the shape of the system under test and the ops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// Partitions used, 1..=3 (slots map modulo this, and modulo the topic's count).
    pub partitions: u8,
    /// Clients, 1..=4 (slots map modulo this).
    pub clients: u8,
    /// The steps.
    pub ops: Vec<Op>,
}

fn is_zero(value: &u32) -> bool {
    *value == 0
}
