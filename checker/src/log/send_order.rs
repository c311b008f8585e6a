//! NonmonotonicSend: one process's successive sends to a partition landed out of order.
//!
//! Jepsen `tests/kafka.clj` `nonmonotonic-send-cases`: per process, over `ok` and `info`
//! completions, compare where the last value the previous send op wrote to a key sits in
//! the version order with where this op's first value to that key sits; at or before is an
//! error. A process runs one op at a time, so its sends are ordered in real time and the
//! log must agree — the signature of an idempotent producer that does not de-duplicate
//! retries (KIP-98, KIP-360). Unlike Jepsen we do not reset on `assign`: the consumer's
//! assignment says nothing about where the producer writes.

use std::collections::{BTreeMap, HashMap};

use super::describe::op_reference;
use crate::history::Process;
use crate::{Anomaly, AnomalyKind};

use super::facts::{Outcome, SendFact};
use super::Analysis;

/// One anomaly per out-of-order pair of send ops, in history order.
pub(crate) fn find(analysis: &Analysis) -> Vec<Anomaly> {
    let facts = &analysis.facts;
    // Per process, per dense key id: the last send of its latest send op to that key.
    let mut last_sends: HashMap<Process, BTreeMap<u32, SendFact>> = HashMap::new();
    let mut anomalies = Vec::new();
    for op in &facts.ops {
        if op.outcome == Outcome::Fail || op.sends().is_empty() {
            continue;
        }
        let sends = &facts.sends[op.sends()];
        let last = last_sends.entry(op.process).or_default();
        let mut seen_keys: Vec<u32> = Vec::new();
        for send in sends {
            if seen_keys.contains(&send.key) {
                continue;
            }
            seen_keys.push(send.key);
            if let Some(previous) = last.get(&send.key) {
                anomalies.extend(compare(analysis, previous, send));
            }
        }
        for send in sends {
            last.insert(send.key, *send);
        }
    }
    anomalies
}

fn compare(analysis: &Analysis, previous: &SendFact, next: &SendFact) -> Option<Anomaly> {
    let facts = &analysis.facts;
    let order = &analysis.orders[next.key as usize];
    let from = order.send_index(facts, previous)?;
    let to = order.send_index(facts, next)?;
    if to > from {
        return None;
    }
    let key = facts.keys[next.key as usize];
    let (before, after) = (facts.op(previous.op), facts.op(next.op));
    Some(Anomaly {
        kind: AnomalyKind::NonmonotonicSend,
        key: Some(key),
        ops: vec![before.index(), after.index()],
        description: format!(
            "key {key}: {} sent value {} which landed at offset {}, then the same process's \
             next send {} sent value {} which landed at offset {}, not after it",
            op_reference(before),
            previous.value,
            order.offsets[from as usize],
            op_reference(after),
            next.value,
            order.offsets[to as usize]
        ),
    })
}
