//! NonmonotonicPoll and PollSkip: a consumer's successive polls of a partition went
//! backwards, or jumped over records known to exist.
//!
//! Jepsen `tests/kafka.clj` `poll-skip+nonmonotonic-cases`: per process, compare the index
//! of the last record the previous `ok` poll returned for a key with the first record this
//! `ok` poll returns for it; a delta above one skipped, below one went back (or repeated).
//! An `assign` or `subscribe` keeps only the positions of keys still assigned; a failed or
//! crashed poll leaves positions alone (the client seeks back to them). Under `subscribe`
//! a rebalance may legitimately move a consumer, so Jepsen allows both kinds there
//! (`allowed-error-types`); we skip processes whose latest assignment was a subscribe.

use std::collections::{BTreeMap, HashMap};

use super::describe::op_reference;
use crate::history::{Function, Process};
use crate::{Anomaly, AnomalyKind};

use super::describe;
use super::facts::{Outcome, ReadFact};
use super::Analysis;

/// What one consumer process last read.
#[derive(Debug, Default)]
struct Consumer {
    /// Its latest assignment came from `subscribe`, so positions may move.
    subscribed: bool,
    /// Per dense key id: the last record its latest `ok` poll of the key returned.
    last_reads: BTreeMap<u32, ReadFact>,
}

/// Anomalies of both kinds, in history order.
pub(crate) fn find(analysis: &Analysis) -> Vec<Anomaly> {
    let facts = &analysis.facts;
    let mut consumers: HashMap<Process, Consumer> = HashMap::new();
    let mut anomalies = Vec::new();
    for op in &facts.ops {
        let consumer = consumers.entry(op.process).or_default();
        match op.f {
            Function::Assign | Function::Subscribe => {
                if op.outcome != Outcome::Fail {
                    consumer
                        .last_reads
                        .retain(|key, _| op.assignment.contains(&facts.keys[*key as usize]));
                    consumer.subscribed = op.f == Function::Subscribe;
                }
                continue;
            }
            _ => {}
        }
        if op.outcome != Outcome::Ok || op.reads().is_empty() {
            continue;
        }
        let reads = &facts.reads[op.reads()];
        for (first, last) in first_and_last_by_key(reads) {
            if let Some(previous) = consumer.last_reads.get(&first.key) {
                if !(analysis.options.subscribe || consumer.subscribed) {
                    anomalies.extend(compare(analysis, previous, &first));
                }
            }
            consumer.last_reads.insert(first.key, last);
        }
    }
    anomalies
}

/// The first and last record of each key in one op's reads, keys in first-read order.
pub(crate) fn first_and_last_by_key(reads: &[ReadFact]) -> Vec<(ReadFact, ReadFact)> {
    let mut runs: Vec<(ReadFact, ReadFact)> = Vec::new();
    for read in reads {
        match runs.iter_mut().find(|(first, _)| first.key == read.key) {
            Some((_, last)) => *last = *read,
            None => runs.push((*read, *read)),
        }
    }
    runs
}

fn compare(analysis: &Analysis, previous: &ReadFact, next: &ReadFact) -> Option<Anomaly> {
    let facts = &analysis.facts;
    let order = &analysis.orders[next.key as usize];
    let from = order.index_of_offset(previous.offset)?;
    let to = order.index_of_offset(next.offset)?;
    let delta = i64::from(to) - i64::from(from);
    let key = facts.keys[next.key as usize];
    let (before, after) = (facts.op(previous.op), facts.op(next.op));
    let ops = vec![before.index(), after.index()];
    if delta > 1 {
        let skipped = order.values_between(from, to, 9);
        Some(Anomaly {
            kind: AnomalyKind::PollSkip,
            key: Some(key),
            ops,
            description: format!(
                "key {key}: {} ended at offset {} (value {}), then the same consumer's next \
                 poll {} began at offset {} (value {}), skipping {} record(s): values {}",
                op_reference(before),
                previous.offset,
                previous.value,
                op_reference(after),
                next.offset,
                next.value,
                delta - 1,
                describe::list(&skipped, 8)
            ),
        })
    } else if delta < 1 {
        Some(Anomaly {
            kind: AnomalyKind::NonmonotonicPoll,
            key: Some(key),
            ops,
            description: format!(
                "key {key}: {} ended at offset {} (value {}), then the same consumer's next \
                 poll {} began back at offset {} (value {}), {} record(s) behind where it \
                 should have resumed",
                op_reference(before),
                previous.offset,
                previous.value,
                op_reference(after),
                next.offset,
                next.value,
                1 - delta
            ),
        })
    } else {
        None
    }
}
