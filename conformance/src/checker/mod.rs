//! Checkers: pure functions of a [`History`] that report named anomalies with evidence.
//!
//! They know nothing of turmoil, TCP or our broker, so the same checkers judge simulated
//! runs, certified third-party brokers and histories brought from elsewhere.
//!
//! - [`log`]: Jepsen's Kafka queue taxonomy (jepsen-io/jepsen `tests/kafka.clj`).

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
/// (jepsen-io/jepsen `jepsen/src/jepsen/tests/kafka.clj`) unless marked as ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// An acknowledged value sits below the highest offset a poll reached on its
    /// partition, yet no poll ever returned it.
    LostWrite,
    /// Acknowledged, but never polled by the end of the history (an error only after
    /// final reads).
    Unseen,
    /// One value at two offsets of a partition.
    Duplicate,
    /// One offset of a partition seen with two different values.
    InconsistentOffsets,
    /// A consumer's successive polls of a partition went backwards.
    NonmonotonicPoll,
}

impl AnomalyKind {
    /// Where the definition comes from, for reports.
    pub fn definition(self) -> &'static str {
        match self {
            AnomalyKind::LostWrite => "Jepsen kafka.clj :lost-write — an acknowledged write below the highest offset read on its partition was never read",
            AnomalyKind::Unseen => "Jepsen kafka.clj :unseen — an acknowledged write never read by the end of the test (after final reads)",
            AnomalyKind::Duplicate => "Jepsen kafka.clj :duplicate — a value appears at more than one offset of a partition",
            AnomalyKind::InconsistentOffsets => "Jepsen kafka.clj :inconsistent-offsets — one offset of a partition holds more than one value",
            AnomalyKind::NonmonotonicPoll => "Jepsen kafka.clj :nonmonotonic-poll — a consumer's next poll of a partition began at or before an offset it already read",
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
