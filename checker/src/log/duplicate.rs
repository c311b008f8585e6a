//! Duplicate: one value at more than one offset of a partition.
//!
//! Jepsen `tests/kafka.clj` `duplicate-cases`. Values are unique per key and never retried
//! by the workload, so a second copy is the system's doing — typically a retried produce
//! batch the broker did not de-duplicate (Redpanda #3039, KIP-98 idempotence).

use std::collections::BTreeMap;

use super::describe::op_reference;
use crate::history::{Offset, Value};
use crate::{Anomaly, AnomalyKind};

use super::describe;
use super::Analysis;

/// One anomaly per value seen at two or more offsets.
pub(crate) fn find(analysis: &Analysis) -> Vec<Anomaly> {
    let facts = &analysis.facts;
    let mut anomalies = Vec::new();
    for key in facts.keys_in_order() {
        let order = &analysis.orders[key as usize];
        // A value seen at one index only has first == last; only duplicates differ.
        let mut copies: BTreeMap<Value, Vec<(Offset, u32)>> = BTreeMap::new();
        for entry in &order.entries {
            let span = order.span(entry.local).expect("every entry has a span");
            if span.first != span.last {
                copies
                    .entry(entry.value)
                    .or_default()
                    .push((entry.offset, entry.op));
            }
        }
        for (value, sightings) in copies {
            let offsets: Vec<Offset> = sightings.iter().map(|&(offset, _)| offset).collect();
            let witnesses: Vec<String> = sightings
                .iter()
                .map(|&(offset, op)| format!("offset {offset} per {}", op_reference(facts.op(op))))
                .collect();
            let mut ops: Vec<u64> = sightings
                .iter()
                .map(|&(_, op)| facts.op(op).index())
                .collect();
            ops.sort_unstable();
            ops.dedup();
            anomalies.push(Anomaly {
                kind: AnomalyKind::Duplicate,
                key: Some(facts.keys[key as usize]),
                ops,
                description: format!(
                    "key {}: value {value} appears at {} offsets ({}): {}",
                    facts.keys[key as usize],
                    offsets.len(),
                    describe::list(&offsets, 8),
                    describe::list(&witnesses, 8)
                ),
            });
        }
    }
    anomalies
}
