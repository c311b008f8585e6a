//! The log checker: Jepsen's Kafka queue taxonomy over a history of sends and polls.
//!
//! Semantics follow jepsen-io/jepsen `jepsen/src/jepsen/tests/kafka.clj` (its `analysis`):
//! flatten the history ([`facts`]), build each partition's version order from every offset
//! any op vouched for ([`version_order`]), then run one pass per anomaly family. A `fail`
//! send definitely did not happen; an `info` send (or one that never completed) may have,
//! so it is never a lost write, yet reading it is fine. Everything is a linear pass or a
//! sort, so the checker keeps up with million-op histories.
//!
//! - [`facts`], [`version_order`], [`describe`]: the shared analysis and wording.
//! - one file per anomaly family: [`inconsistent_offsets`], [`duplicate`], [`lost_write`],
//!   [`aborted_read`] (G1a), [`phantom`], [`poll_order`] (nonmonotonic-poll, poll-skip),
//!   [`send_order`] (nonmonotonic-send), [`internal_order`] (the four `int-` kinds),
//!   [`unseen`].

mod aborted_read;
pub(crate) mod describe;
mod duplicate;
pub(crate) mod facts;
mod inconsistent_offsets;
mod internal_order;
mod lost_write;
mod phantom;
mod poll_order;
mod send_order;
mod unseen;
mod value_ids;
pub(crate) mod version_order;

use std::collections::{BTreeMap, BTreeSet};

use super::{Anomaly, AnomalyKind, CheckReport};
use crate::history::History;

use facts::{LogFacts, Outcome};
use version_order::VersionOrder;

/// Options of the log checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// The history ends with final reads (every partition polled from the start until the
    /// highest acknowledged offset), so an acknowledged value never read is `unseen`, an
    /// error. Without final reads the count is only a statistic.
    pub final_reads: bool,
    /// The consumers used `subscribe` (a consumer group) rather than `assign`: a rebalance
    /// may move a consumer's position between polls, so cross-poll `poll-skip` and
    /// `nonmonotonic-poll` are allowed (Jepsen `allowed-error-types`). Processes whose
    /// latest assignment in the history was a `subscribe` are treated so regardless.
    pub subscribe: bool,
    /// Kinds found but not counted against the history: they go to the stats as
    /// `allowed <kind>`. By default `int-send-skip`, which Jepsen also allows: other
    /// producers' records may land between two sends of one op.
    pub allowed: BTreeSet<AnomalyKind>,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions {
            final_reads: false,
            subscribe: false,
            allowed: BTreeSet::from([AnomalyKind::IntSendSkip]),
        }
    }
}

/// The flattened history and version orders every anomaly family reads.
pub(crate) struct Analysis<'a> {
    /// The history, flattened.
    pub facts: LogFacts,
    /// One version order per dense key id.
    pub orders: Vec<VersionOrder>,
    /// How to judge.
    pub options: &'a LogOptions,
}

/// Checks a history of sends and polls.
pub fn check(history: &History, options: &LogOptions) -> CheckReport {
    let facts = LogFacts::from_history(history);
    let orders = VersionOrder::build_all(&facts);
    let analysis = Analysis {
        facts,
        orders,
        options,
    };
    let lost = lost_write::lost(&analysis);
    let unseen = unseen::unseen(&analysis);
    let mut found: Vec<Anomaly> = Vec::new();
    found.extend(inconsistent_offsets::find(&analysis));
    found.extend(duplicate::find(&analysis));
    found.extend(lost_write::anomalies(&analysis, &lost));
    found.extend(aborted_read::find(&analysis));
    found.extend(phantom::find(&analysis));
    found.extend(poll_order::find(&analysis));
    found.extend(send_order::find(&analysis));
    found.extend(internal_order::find(&analysis));
    let unseen_anomalies = unseen::anomalies(&analysis, &unseen, &lost);
    let mut stats = statistics(&analysis);
    stats.insert(
        "unseen".to_string(),
        unseen.values().map(|values| values.len() as u64).sum(),
    );
    if options.final_reads {
        found.extend(unseen_anomalies);
    }
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
    // Report kinds in the enum's order; within a kind, detectors already emit by key
    // and history order, and the sort is stable.
    anomalies.sort_by_key(|anomaly| anomaly.kind);
    CheckReport::from_anomalies("log", anomalies, stats)
}

fn statistics(analysis: &Analysis) -> BTreeMap<String, u64> {
    let facts = &analysis.facts;
    let count = |f: &dyn Fn(&facts::OpFacts) -> bool| facts.ops.iter().filter(|op| f(op)).count();
    let acknowledged = facts
        .sends
        .iter()
        .filter(|send| facts.op(send.op).outcome == Outcome::Ok)
        .count();
    BTreeMap::from([
        ("ops".to_string(), facts.ops.len() as u64),
        ("keys".to_string(), facts.keys.len() as u64),
        ("sends".to_string(), facts.sends.len() as u64),
        ("acknowledged".to_string(), acknowledged as u64),
        ("records read".to_string(), facts.reads.len() as u64),
        (
            "ops info".to_string(),
            count(&|op| op.outcome == Outcome::Info) as u64,
        ),
        (
            "ops fail".to_string(),
            count(&|op| op.outcome == Outcome::Fail) as u64,
        ),
    ])
}
