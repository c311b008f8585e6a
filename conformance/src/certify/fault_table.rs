//! The fault workload's certificate properties: each a family of anomaly kinds from one
//! checker (log, group, transaction), with its title and citation. `judge` turns the
//! checkers' reports into these properties; its `property_of` maps every anomaly kind to
//! one of them (or says why none).

use faultline_checker::AnomalyKind;

/// One fault-workload property: the anomaly kinds that break it.
pub(crate) struct FaultProperty {
    /// The property id.
    pub id: &'static str,
    /// What it says.
    pub title: &'static str,
    /// Where the rule comes from.
    pub citation: &'static str,
    /// The anomaly kinds that break it.
    pub kinds: &'static [AnomalyKind],
    /// The checker whose report judges it.
    pub checker: Checker,
}

/// Which checker's report judges a fault property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checker {
    /// The log checker (always runs).
    Log,
    /// The group checker (NOT APPLICABLE without group members).
    Group,
    /// The transaction checker (NOT APPLICABLE without transactions).
    Txn,
}

pub(crate) const PROPERTIES: &[FaultProperty] = &[
    FaultProperty {
        id: "faults.no-lost-writes",
        title: "Acknowledged writes are never lost: every one is read back by the end",
        citation: "Jepsen kafka.clj :lost-write and :unseen; Kafka protocol guide, Produce `acks`",
        kinds: &[AnomalyKind::LostWrite, AnomalyKind::Unseen],
        checker: Checker::Log,
    },
    FaultProperty {
        id: "faults.consistent-offsets",
        title: "Each offset of a partition holds one value, the one its producer was told",
        citation: "Jepsen kafka.clj :inconsistent-offsets",
        kinds: &[AnomalyKind::InconsistentOffsets],
        checker: Checker::Log,
    },
    FaultProperty {
        id: "faults.no-duplicates",
        title: "A value sent once appears at one offset only",
        citation: "Jepsen kafka.clj :duplicate",
        kinds: &[AnomalyKind::Duplicate],
        checker: Checker::Log,
    },
    FaultProperty {
        id: "faults.no-aborted-or-phantom-reads",
        title: "Consumers never read a value whose send failed, or one nobody sent",
        citation: "Jepsen kafka.clj :G1a (aborted read), :no-writer-of",
        kinds: &[AnomalyKind::AbortedRead, AnomalyKind::Phantom],
        checker: Checker::Log,
    },
    FaultProperty {
        id: "faults.monotonic-polls",
        title: "A consumer's polls of a partition go forward without skipping records",
        citation: "Jepsen kafka.clj :nonmonotonic-poll, :poll-skip, :int-nonmonotonic-poll, :int-poll-skip",
        kinds: &[
            AnomalyKind::NonmonotonicPoll,
            AnomalyKind::PollSkip,
            AnomalyKind::IntNonmonotonicPoll,
            AnomalyKind::IntPollSkip,
        ],
        checker: Checker::Log,
    },
    FaultProperty {
        id: "faults.ordered-sends",
        title: "One producer's successive sends to a partition land in order",
        citation: "Jepsen kafka.clj :nonmonotonic-send, :int-nonmonotonic-send; Kafka per-partition ordering",
        kinds: &[
            AnomalyKind::NonmonotonicSend,
            AnomalyKind::IntNonmonotonicSend,
        ],
        checker: Checker::Log,
    },
    FaultProperty {
        id: "groups.exclusive-assignment",
        title: "Within a generation, each partition is assigned to at most one member",
        citation: "Kafka protocol guide, The Consumer Group Protocol (SyncGroup)",
        kinds: &[AnomalyKind::OverlappingAssignment],
        checker: Checker::Group,
    },
    FaultProperty {
        id: "groups.fenced-commits",
        title: "Commits from stale generations or unknown members are rejected",
        citation: "Kafka OffsetCommit ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID; KIP-62",
        kinds: &[AnomalyKind::FencedCommit],
        checker: Checker::Group,
    },
    FaultProperty {
        id: "groups.durable-commits",
        title: "Acknowledged commits are not lost and committed offsets never regress",
        citation: "Kafka OffsetCommit / OffsetFetch; __consumer_offsets durability",
        kinds: &[AnomalyKind::LostCommit, AnomalyKind::CommittedOffsetRegression],
        checker: Checker::Group,
    },
    FaultProperty {
        id: "groups.at-least-once",
        title: "Every record below a group's committed offset was delivered to the group, and a stable group owns every partition",
        citation: "Kafka OffsetCommit semantics (at-least-once); KIP-429 assignor coverage",
        kinds: &[AnomalyKind::UnprocessedRecord, AnomalyKind::UnownedPartition],
        checker: Checker::Group,
    },
    FaultProperty {
        id: "txn.no-intermediate-reads",
        title: "No poll stops inside a transaction's writes to a partition (G1b)",
        citation: "Adya 1999 G1b; Jepsen kafka.clj / Elle :G1b; KIP-98 (a transaction's records commit together)",
        kinds: &[AnomalyKind::IntermediateRead],
        checker: Checker::Txn,
    },
    FaultProperty {
        id: "txn.no-cyclic-information-flow",
        title: "Committed transactions read each other's writes in no cycle (G1c)",
        citation: "Adya 1999 G1c; Jepsen kafka.clj / Elle :G1c; KIP-98 read_committed",
        kinds: &[AnomalyKind::CyclicInformationFlow],
        checker: Checker::Txn,
    },
    FaultProperty {
        id: "txn.no-precommitted-reads",
        title: "A read_committed poll never returns a record of a transaction that was still open",
        citation: "KIP-98 (read_committed reads below the last stable offset); Jepsen Redpanda 21.10 and Bufstream analyses",
        kinds: &[AnomalyKind::PrecommittedRead],
        checker: Checker::Txn,
    },
    FaultProperty {
        id: "txn.no-zombie-writes",
        title: "A fenced producer epoch's transaction never commits nor is read",
        citation: "KIP-98 (zombie fencing by producer epoch), KIP-588, KIP-890 (hanging transactions)",
        kinds: &[AnomalyKind::ZombieWrite],
        checker: Checker::Txn,
    },
    FaultProperty {
        id: "txn.offsets-commit-with-writes",
        title: "Offsets sent to a transaction become the group's exactly when the transaction's writes commit",
        citation: "KIP-98 (AddOffsetsToTxn / TxnOffsetCommit), KIP-447",
        kinds: &[AnomalyKind::NonAtomicOffsetCommit],
        checker: Checker::Txn,
    },
];
