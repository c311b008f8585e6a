//! Checkers: pure functions of a [`History`] that report named anomalies with evidence.
//!
//! They know nothing of turmoil, TCP or our broker, so the same checkers judge simulated
//! runs, certified third-party brokers and histories brought from elsewhere.
//!
//! - [`log`]: Jepsen's Kafka queue taxonomy (jepsen-io/jepsen `tests/kafka.clj`).
//! - [`linearizable`]: a Wing–Gong / Lowe linearizability engine over sequential models.
//! - [`group`]: consumer-group semantics Jepsen leaves out: exclusive assignment, fencing
//!   of stale generations, durable and monotonic committed offsets, every partition owned
//!   once the group is stable, and at-least-once below the committed offset.
//! - `fast_hash`: the Fx hasher behind the checkers' lookup-only tables.

mod fast_hash;
pub mod group;
pub mod linearizable;
pub mod log;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::history::{History, Key};

/// What a checker concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Every property held.
    Valid,
    /// At least one anomaly.
    Invalid,
    /// The checker ran out of budget before deciding (never a pass).
    Unknown,
}

/// A named anomaly kind. Names and meanings follow Jepsen's Kafka workload
/// (jepsen-io/jepsen `jepsen/src/jepsen/tests/kafka.clj`, `analysis`) unless marked as ours.
/// "Index" below is a record's rank among the offsets ever seen on its partition, so
/// offset gaps (transaction markers) are not skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// One offset of a partition seen with two different values.
    InconsistentOffsets,
    /// One value at two offsets of a partition.
    Duplicate,
    /// An acknowledged value sits below the highest offset a poll reached on its
    /// partition, yet no poll ever returned it.
    LostWrite,
    /// A poll returned a value whose send definitely failed: an aborted read.
    #[serde(rename = "G1a")]
    AbortedRead,
    /// A poll returned a value no op ever sent (ours: Jepsen throws `:no-writer-of`).
    Phantom,
    /// A consumer's successive polls of a partition went backwards (or repeated).
    NonmonotonicPoll,
    /// A consumer's next poll of a partition jumped over records known to exist.
    PollSkip,
    /// One producer's successive sends to a partition landed out of order.
    NonmonotonicSend,
    /// Within one poll, the records of a partition went backwards (or repeated).
    IntNonmonotonicPoll,
    /// Within one poll, the records of a partition jumped over records known to exist.
    IntPollSkip,
    /// Within one send op, two sends to a partition landed out of order.
    IntNonmonotonicSend,
    /// Within one send op, other records landed between two sends to a partition.
    IntSendSkip,
    /// Acknowledged, but never polled by the end of the history (an error only after
    /// final reads).
    Unseen,
    /// No order of the ops respects real time and the sequential model (Herlihy & Wing;
    /// Knossos `:linearizable? false`).
    Nonlinearizable,
    /// Two members of one group generation were assigned the same partition (ours).
    OverlappingAssignment,
    /// A commit from a fenced member (stale generation, unknown member) was accepted (ours).
    FencedCommit,
    /// A group's committed offset moved backwards between fetches with no commit that
    /// could explain it (ours).
    CommittedOffsetRegression,
    /// A fetch after an acknowledged commit returned less than it committed (ours).
    LostCommit,
    /// After the faults healed, the cluster did not elect leaders for every partition or
    /// serve every acknowledged write within the scenario's bound (ours: a liveness check).
    NotRecovered,
    /// The stable group's final generation left a subscribed partition with no owner (ours).
    UnownedPartition,
    /// A record below a group's acknowledged committed offset was never returned to any
    /// member of the group: at-least-once broken (ours).
    UnprocessedRecord,
    /// A cluster invariant broke inside the brokers' own state, seen by the simulation's
    /// state checker after a step (ours: leaders per epoch, high watermark, committed
    /// records, epochs moving forward).
    Invariant,
}

impl AnomalyKind {
    /// The log checker's kinds, in report order.
    pub const LOG: [AnomalyKind; 13] = [
        AnomalyKind::InconsistentOffsets,
        AnomalyKind::Duplicate,
        AnomalyKind::LostWrite,
        AnomalyKind::AbortedRead,
        AnomalyKind::Phantom,
        AnomalyKind::NonmonotonicPoll,
        AnomalyKind::PollSkip,
        AnomalyKind::NonmonotonicSend,
        AnomalyKind::IntNonmonotonicPoll,
        AnomalyKind::IntPollSkip,
        AnomalyKind::IntNonmonotonicSend,
        AnomalyKind::IntSendSkip,
        AnomalyKind::Unseen,
    ];

    /// Where the definition comes from, for reports.
    pub fn definition(self) -> &'static str {
        match self {
            AnomalyKind::InconsistentOffsets => "Jepsen kafka.clj :inconsistent-offsets (version-orders) — one offset of a partition holds more than one value",
            AnomalyKind::Duplicate => "Jepsen kafka.clj :duplicate (duplicate-cases) — a value appears at more than one offset of a partition",
            AnomalyKind::LostWrite => "Jepsen kafka.clj :lost-write (lost-write-cases) — an acknowledged write below the highest offset read on its partition was never read",
            AnomalyKind::AbortedRead => "Jepsen kafka.clj :G1a (g1a-cases) — an ok poll returned a value whose send definitely failed",
            AnomalyKind::Phantom => "faultline — a poll returned a value that no op ever sent (Jepsen kafka.clj throws :no-writer-of)",
            AnomalyKind::NonmonotonicPoll => "Jepsen kafka.clj :nonmonotonic-poll (poll-skip+nonmonotonic-cases) — a consumer's next poll of a partition began at or before an offset it already read",
            AnomalyKind::PollSkip => "Jepsen kafka.clj :poll-skip (poll-skip+nonmonotonic-cases) — a consumer's next poll of a partition skipped over records known to exist",
            AnomalyKind::NonmonotonicSend => "Jepsen kafka.clj :nonmonotonic-send (nonmonotonic-send-cases) — a process's next send to a partition landed at or before its previous one",
            AnomalyKind::IntNonmonotonicPoll => "Jepsen kafka.clj :int-nonmonotonic-poll (int-poll-skip+nonmonotonic-cases) — within one poll, a partition's records went backwards or repeated",
            AnomalyKind::IntPollSkip => "Jepsen kafka.clj :int-poll-skip (int-poll-skip+nonmonotonic-cases) — within one poll, a partition's records skipped over records known to exist",
            AnomalyKind::IntNonmonotonicSend => "Jepsen kafka.clj :int-nonmonotonic-send (int-send-skip+nonmonotonic-cases) — within one op, a later send to a partition landed at or before an earlier one",
            AnomalyKind::IntSendSkip => "Jepsen kafka.clj :int-send-skip (int-send-skip+nonmonotonic-cases) — within one op, other records landed between two sends to a partition",
            AnomalyKind::Unseen => "Jepsen kafka.clj :unseen (unseen) — an acknowledged write never read by the end of the test (after final reads)",
            AnomalyKind::Nonlinearizable => "Herlihy & Wing 1990; Knossos :linearizable? false — no total order of the ops respects real time and the sequential model",
            AnomalyKind::OverlappingAssignment => "faultline, Kafka consumer group protocol (SyncGroup) — within one generation each partition is assigned to at most one member",
            AnomalyKind::FencedCommit => "faultline, Kafka OffsetCommit (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) — a commit from a stale generation or unknown member must be rejected",
            AnomalyKind::CommittedOffsetRegression => "faultline, Kafka OffsetFetch — committed offsets never move backwards except by an explicit commit of the lower offset (a seek)",
            AnomalyKind::LostCommit => "faultline, Kafka __consumer_offsets durability — a fetch after an acknowledged commit returns at least the committed offset, across coordinator failover",
            AnomalyKind::NotRecovered => "faultline liveness — after the heal, every partition has a live leader within the recovery bound and final reads reach every partition's end (Jepsen kafka.clj final polls)",
            AnomalyKind::UnownedPartition => "faultline, Kafka consumer protocol assignors (KIP-429) — once a group is stable, its generation's assignments cover every partition of the subscription",
            AnomalyKind::UnprocessedRecord => "faultline, Kafka OffsetCommit semantics (at-least-once) — every record below a group's committed offset was returned to some member of the group",
            AnomalyKind::Invariant => "faultline cluster state checker (TigerBeetle's state checker, FoundationDB's consistency checks) — one leader per leader epoch (KIP-101), high watermark within the ISR's logs, committed records identical on every replica, epochs and generations never backwards, no truncation of committed records, acks=all only with min.insync.replicas in the ISR",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = serde_json::to_value(self).expect("anomaly kinds serialize");
        f.write_str(name.as_str().expect("anomaly kinds serialize to strings"))
    }
}

/// One anomaly, with the minimal evidence a Kafka engineer needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// Which anomaly.
    pub kind: AnomalyKind,
    /// The partition (Jepsen key) it concerns, if one.
    pub key: Option<Key>,
    /// History indices of the ops involved, invoke or completion as the text says.
    pub ops: Vec<u64>,
    /// The evidence in words: values, offsets, times.
    pub description: String,
}

/// What one checker found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckReport {
    /// The checker's name, e.g. `log`.
    pub checker: String,
    /// Its conclusion.
    pub verdict: Verdict,
    /// Everything it found; empty when valid.
    pub anomalies: Vec<Anomaly>,
    /// Counts worth showing (ops read, values acknowledged, ...).
    pub stats: BTreeMap<String, u64>,
}

impl CheckReport {
    /// A report whose verdict follows from its anomalies.
    pub fn from_anomalies(
        checker: &str,
        anomalies: Vec<Anomaly>,
        stats: BTreeMap<String, u64>,
    ) -> CheckReport {
        CheckReport {
            checker: checker.to_string(),
            verdict: if anomalies.is_empty() {
                Verdict::Valid
            } else {
                Verdict::Invalid
            },
            anomalies,
            stats,
        }
    }
}

/// Checks a history with the log checker; the entry point the simulation and `check` use.
pub fn check_log(history: &History, options: &log::LogOptions) -> CheckReport {
    log::check(history, options)
}
