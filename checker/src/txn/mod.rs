//! The transaction checker: Kafka transactions (KIP-98, KIP-447, KIP-890) judged from a
//! history of `txn`, `send` and `poll` ops, after jepsen-io/jepsen `tests/kafka.clj` and
//! Elle's cycle anomalies (jepsen-io/elle, Adya 1999).
//!
//! It reuses the log checker's flattened history and version orders, so the two agree on
//! every partition's order; the log checker already reports what transactions share with
//! plain sends: a read of an aborted transaction's record is `G1a` (an aborted transaction
//! is recorded `fail`), a committed transaction's record never read below what was read is
//! `lost-write`, one recorded twice is `duplicate`. This checker adds what needs the
//! transaction's shape:
//!
//! - [`cycles`]: G0 (write cycle) and G1c (cyclic information flow), over [`graph`];
//! - [`intermediate_read`]: G1b, a poll that stopped inside a transaction's batch;
//! - [`precommitted_read`]: a transaction that read its own uncommitted write;
//! - [`zombie_write`]: a transaction of a fenced producer epoch committed or was read;
//! - [`offsets`]: consumed offsets and records of a transaction not committed together;
//! - [`facts`]: producer identities, sent offsets and Produce runs per op.

mod cycles;
mod facts;
mod graph;
mod intermediate_read;
mod offsets;
mod precommitted_read;
mod zombie_write;

use std::collections::{BTreeMap, BTreeSet};

use crate::history::{Function, History};
use crate::log::facts::LogFacts;
use crate::log::version_order::VersionOrder;
use crate::{Anomaly, AnomalyKind, CheckReport, Verdict};

use cycles::Dependency;
use graph::Budget;

/// Options of the transaction checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOptions {
    /// The consumers polled at `read_committed`. At `read_uncommitted` a cycle of reads is
    /// normal (Jepsen `allowed-error-types`), and so are reads of one's own writes.
    pub read_committed: bool,
    /// Kinds found but not counted: they go to the stats as `allowed <kind>`. By default
    /// `G0`: Kafka does not isolate writes, so write cycles are normal (Jepsen allows them).
    pub allowed: BTreeSet<AnomalyKind>,
    /// Bytes the dependency graphs and their cycle search may hold; past it the verdict is
    /// `unknown`, never a crash. Default 1 GiB.
    pub memory_budget_bytes: u64,
}

impl Default for TxnOptions {
    fn default() -> TxnOptions {
        TxnOptions {
            read_committed: true,
            allowed: BTreeSet::from([AnomalyKind::WriteCycle]),
            memory_budget_bytes: 1 << 30,
        }
    }
}

/// The transaction checker's anomaly kinds, in report order.
pub const KINDS: [AnomalyKind; 6] = [
    AnomalyKind::WriteCycle,
    AnomalyKind::IntermediateRead,
    AnomalyKind::CyclicInformationFlow,
    AnomalyKind::PrecommittedRead,
    AnomalyKind::ZombieWrite,
    AnomalyKind::NonAtomicOffsetCommit,
];

/// Checks a history's transactions.
pub fn check(history: &History, options: &TxnOptions) -> CheckReport {
    let log = LogFacts::from_history(history);
    let orders = VersionOrder::build_all(&log);
    let txn = facts::TxnFacts::from_history(history, &log);
    let mut found: Vec<Anomaly> = Vec::new();
    let mut stats = BTreeMap::from([
        (
            "transactions".to_string(),
            log.ops.iter().filter(|op| op.f == Function::Txn).count() as u64,
        ),
        (
            "transactions aborted".to_string(),
            (0..log.ops.len() as u32)
                .filter(|&op| log.op(op).f == Function::Txn && facts::aborted(&log, op))
                .count() as u64,
        ),
    ]);
    let mut budget = Budget::new(options.memory_budget_bytes);
    let mut out_of_budget = None;
    let mut dependencies = vec![Dependency::WriteWrite];
    if options.read_committed {
        dependencies.push(Dependency::WriteRead);
    }
    for dependency in dependencies {
        match cycles::find(&log, &orders, dependency, &mut budget) {
            Ok(cycles) => {
                let name = match dependency {
                    Dependency::WriteWrite => "ww",
                    Dependency::WriteRead => "wr",
                };
                stats.insert(format!("{name} edges"), cycles.edges);
                stats.insert(format!("{name} cyclic components"), cycles.components);
                found.extend(cycles.anomalies);
            }
            Err(out) => out_of_budget = Some(out.needed),
        }
    }
    stats.insert("memory peak bytes".to_string(), budget.peak);
    found.extend(intermediate_read::find(&log, &txn));
    if options.read_committed {
        found.extend(precommitted_read::find(&log));
    }
    found.extend(zombie_write::find(&log, &txn));
    found.extend(offsets::find(&log, &txn));
    let mut anomalies = Vec::new();
    for anomaly in found {
        if options.allowed.contains(&anomaly.kind) {
            *stats
                .entry(format!("allowed {}", anomaly.kind))
                .or_default() += 1;
        } else {
            anomalies.push(anomaly);
        }
    }
    anomalies.sort_by_key(|anomaly| anomaly.kind);
    let mut report = CheckReport::from_anomalies("txn", anomalies, stats);
    if let Some(needed) = out_of_budget {
        report.stats.insert(
            "memory budget bytes".to_string(),
            options.memory_budget_bytes,
        );
        report.stats.insert(
            "cycles unknown: memory budget exceeded, bytes needed".to_string(),
            needed,
        );
        if report.verdict == Verdict::Valid {
            report.verdict = Verdict::Unknown;
        }
    }
    report
}
