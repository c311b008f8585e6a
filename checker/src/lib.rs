//! faultline-checker: the history model and the checkers — pure functions of a
//! [`History`] that report named anomalies with evidence.
//!
//! The crate depends on serde alone: it knows nothing of turmoil, tokio, TCP, the Kafka
//! wire or our broker, so the same checkers judge simulated
//! runs, certified third-party brokers and histories brought from elsewhere.
//!
//! - [`history`]: the operation history (Jepsen's op shape, JSON Lines on disk).
//! - [`judge`]: the run's verdict: the checkers a plan names, combined, and whether a
//!   run meant to fail failed as expected.
//! - [`log`]: Jepsen's Kafka queue taxonomy (jepsen-io/jepsen `tests/kafka.clj`).
//! - [`linearizable`]: a Wing–Gong / Lowe linearizability engine over sequential models.
//! - [`group`]: consumer-group semantics Jepsen leaves out: exclusive assignment, fencing
//!   of stale generations, durable and monotonic committed offsets, every partition owned
//!   once the group is stable, and at-least-once below the committed offset.
//! - [`txn`]: Kafka transactions (KIP-98, KIP-447): Elle's G0/G1b/G1c, precommitted reads,
//!   zombie writes of fenced producers, offsets committed apart from their transaction.
//! - [`admin`]: DeleteRecords and ListOffsets answers (KIP-107, KIP-79, KIP-734) against
//!   what the history proves.
//! - `fast_hash`: the Fx hasher behind the checkers' lookup-only tables.

pub mod admin;
mod fast_hash;
pub mod group;
pub mod history;
pub mod judge;
pub mod linearizable;
pub mod log;
pub mod txn;

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
    /// A broker answered a request against a rule of the Kafka protocol, judged from its
    /// own state when it answered (ours: KIP-320 leader epochs, Fetch and ListOffsets
    /// bounds, KIP-98 sequences and fencing).
    Protocol,
    /// Adya's G0: a cycle of write-write dependencies between transactions (Elle). Normal
    /// in Kafka, which does not isolate writes: allowed by default, as in Jepsen.
    #[serde(rename = "G0")]
    WriteCycle,
    /// Adya's G1b: a poll stopped inside a committed transaction's Produce batch, a state
    /// that never existed.
    #[serde(rename = "G1b")]
    IntermediateRead,
    /// Adya's G1c: a cycle of write-read dependencies — impossible at read_committed.
    #[serde(rename = "G1c")]
    CyclicInformationFlow,
    /// A transaction polled its own uncommitted write (Jepsen kafka.clj).
    PrecommittedRead,
    /// A transaction of a fenced producer epoch committed, or its records were read
    /// (ours, after KIP-98 zombie fencing and KIP-890).
    ZombieWrite,
    /// A transaction's consumed offsets and its records were not committed together
    /// (ours, after KIP-98 atomic read-process-write and KIP-447).
    NonAtomicOffsetCommit,
    /// Records below an acknowledged DeleteRecords' low watermark came back, or the log
    /// start offset moved backwards (ours, after KIP-107).
    LogStartRegression,
    /// ListOffsets latest fell below an acknowledged acks=all offset or above what any
    /// consumer could read (ours, after the protocol guide's ListOffsets and KIP-207).
    LatestOffsetOutOfBounds,
    /// ListOffsets MAX_TIMESTAMP or by timestamp named the wrong record (ours, after
    /// KIP-734 and KIP-79).
    WrongTimestampOffset,
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

    /// Every kind, in declaration order.
    pub const ALL: [AnomalyKind; 32] = [
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
        AnomalyKind::Nonlinearizable,
        AnomalyKind::OverlappingAssignment,
        AnomalyKind::FencedCommit,
        AnomalyKind::CommittedOffsetRegression,
        AnomalyKind::LostCommit,
        AnomalyKind::NotRecovered,
        AnomalyKind::UnownedPartition,
        AnomalyKind::UnprocessedRecord,
        AnomalyKind::Invariant,
        AnomalyKind::Protocol,
        AnomalyKind::WriteCycle,
        AnomalyKind::IntermediateRead,
        AnomalyKind::CyclicInformationFlow,
        AnomalyKind::PrecommittedRead,
        AnomalyKind::ZombieWrite,
        AnomalyKind::NonAtomicOffsetCommit,
        AnomalyKind::LogStartRegression,
        AnomalyKind::LatestOffsetOutOfBounds,
        AnomalyKind::WrongTimestampOffset,
    ];

    /// Where the kind's trigger and near-miss histories live (STYLE.md, Tests: every
    /// anomaly kind has a minimal history that must trigger it and a near miss that must
    /// not). Exhaustive, so a new kind does not compile until it says where its testdata is.
    pub fn testdata(self) -> Testdata {
        use AnomalyKind::*;
        match self {
            InconsistentOffsets | Duplicate | LostWrite | AbortedRead | Phantom
            | NonmonotonicPoll | PollSkip | NonmonotonicSend | IntNonmonotonicPoll
            | IntPollSkip | IntNonmonotonicSend | IntSendSkip | Unseen => Testdata::Folder("log"),
            OverlappingAssignment
            | FencedCommit
            | CommittedOffsetRegression
            | LostCommit
            | UnownedPartition
            | UnprocessedRecord => Testdata::Folder("group"),
            WriteCycle
            | IntermediateRead
            | CyclicInformationFlow
            | PrecommittedRead
            | ZombieWrite
            | NonAtomicOffsetCommit => Testdata::Folder("txn"),
            LogStartRegression | LatestOffsetOutOfBounds | WrongTimestampOffset => {
                Testdata::Folder("admin")
            }
            // The linearizability corpus pairs valid and invalid histories by model instead
            // (`testdata/linearizable/{valid,invalid}-*.jsonl`).
            Nonlinearizable => Testdata::Corpus("linearizable"),
            // Judged from the simulation's recovery measurements, not from a history: its
            // trigger and near miss are unit tests in `sim/src/liveness.rs`.
            NotRecovered => Testdata::UnitTests("sim/src/liveness.rs"),
            // Judged from the brokers' states inside the simulation: each invariant's
            // violating state and near miss are unit tests of the cluster state checker.
            Invariant => Testdata::UnitTests("sim/src/invariants/tests.rs"),
            // Judged from requests, answers and the answering broker's state: each rule's
            // violation and near miss are unit tests of the protocol checker.
            Protocol => Testdata::UnitTests("sim/src/protocol/tests.rs"),
        }
    }

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
            AnomalyKind::Protocol => "faultline protocol rules, judged per answer from the answering broker's state — KIP-320 (FENCED_LEADER_EPOCH for an older current_leader_epoch, UNKNOWN_LEADER_EPOCH for a newer), Kafka protocol guide Fetch (no OFFSET_OUT_OF_RANGE inside the log, nothing at the high watermark) and ListOffsets (latest never above the high watermark), KIP-98 (a retained duplicate answered with its original offset, out-of-order sequences refused, older producer epochs fenced)",
            AnomalyKind::WriteCycle => "Adya 1999 G0 as Elle finds it (jepsen-io/elle); Jepsen kafka.clj ww-graph — a cycle of write-write dependencies; allowed in Kafka, which does not isolate writes",
            AnomalyKind::IntermediateRead => "Adya 1999 G1b (intermediate read), for Kafka logs — a poll ended inside a committed transaction's Produce batch, though a fetch returns whole batches (Kafka protocol guide, Fetch API; KIP-98 last stable offset)",
            AnomalyKind::CyclicInformationFlow => "Adya 1999 G1c as Elle finds it; Jepsen kafka.clj wr-graph — a cycle of write-read dependencies, impossible at read_committed",
            AnomalyKind::PrecommittedRead => "Jepsen kafka.clj :precommitted-read (precommitted-read-cases) — a transaction polled a value it sent itself before committing",
            AnomalyKind::ZombieWrite => "faultline, KIP-98 zombie fencing and KIP-890 — a transaction begun after a newer epoch was granted for its transactional.id committed or was read",
            AnomalyKind::NonAtomicOffsetCommit => "faultline, KIP-98 atomic read-process-write and KIP-447 — offsets sent to a transaction were committed without its records, or its records without them",
            AnomalyKind::LogStartRegression => "faultline, KIP-107 DeleteRecords — after a deletion is acknowledged with low watermark L, ListOffsets earliest returns at least L, no later fetch returns a record below L, and the log start never moves back",
            AnomalyKind::LatestOffsetOutOfBounds => "faultline, Kafka protocol guide ListOffsets (-1 is the high watermark) and KIP-207 — latest is never below an offset acknowledged with acks=all before the request, nor above what consumers can read",
            AnomalyKind::WrongTimestampOffset => "faultline, KIP-734 (MAX_TIMESTAMP: the record with the largest timestamp) and KIP-79 (the first offset whose timestamp is at least the one asked) — the answer names a record the acknowledged records prove wrong",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = serde_json::to_value(self).expect("anomaly kinds serialize");
        f.write_str(name.as_str().expect("anomaly kinds serialize to strings"))
    }
}

/// Where an anomaly kind's trigger and near-miss cases are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Testdata {
    /// `testdata/<folder>/<kind>.jsonl` must trigger it, `<kind>.near-miss.jsonl` must not.
    Folder(&'static str),
    /// `testdata/<folder>/valid-*.jsonl` and `invalid-*.jsonl`.
    Corpus(&'static str),
    /// Unit tests in this file, for kinds judged from something other than a history.
    UnitTests(&'static str),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn all_lists_every_kind_once() {
        let mut seen = std::collections::BTreeSet::new();
        for kind in AnomalyKind::ALL {
            assert!(seen.insert(kind), "{kind} listed twice");
        }
        for kind in AnomalyKind::LOG {
            assert!(seen.contains(&kind), "{kind} missing from ALL");
        }
    }

    /// The guard the architecture issue asks for: every kind has a trigger and a near miss.
    #[test]
    fn every_kind_has_a_trigger_and_a_near_miss() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for kind in AnomalyKind::ALL {
            match kind.testdata() {
                Testdata::Folder(folder) => {
                    // Jepsen names the aborted read G1a; its files use the plain words.
                    let stem = match kind {
                        AnomalyKind::AbortedRead => "aborted-read".to_string(),
                        AnomalyKind::WriteCycle => "write-cycle".to_string(),
                        AnomalyKind::IntermediateRead => "intermediate-read".to_string(),
                        AnomalyKind::CyclicInformationFlow => "cyclic-information-flow".to_string(),
                        _ => kind.to_string(),
                    };
                    for file in [format!("{stem}.jsonl"), format!("{stem}.near-miss.jsonl")] {
                        let path = root.join("testdata").join(folder).join(&file);
                        assert!(path.is_file(), "{kind}: {} is missing", path.display());
                    }
                }
                Testdata::Corpus(folder) => {
                    let names: Vec<String> = std::fs::read_dir(root.join("testdata").join(folder))
                        .unwrap()
                        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                        .collect();
                    assert!(
                        names.iter().any(|n| n.starts_with("valid-")),
                        "{kind}: no valid history"
                    );
                    assert!(
                        names.iter().any(|n| n.starts_with("invalid-")),
                        "{kind}: no invalid history"
                    );
                }
                Testdata::UnitTests(file) => {
                    let source = std::fs::read_to_string(root.join("..").join(file)).unwrap();
                    let variant = format!("{kind:?}");
                    assert!(
                        source.contains("#[test]") && source.contains(&variant),
                        "{kind}: {file} has no unit test naming {variant}"
                    );
                }
            }
        }
    }
}
