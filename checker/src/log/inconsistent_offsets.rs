//! InconsistentOffsets: one offset of a partition seen with two different values.
//!
//! Jepsen `tests/kafka.clj` `version-orders` `:errors`: "all sends and polls [must] agree
//! on the value for a given key and offset". A broker that reports two records at one offset
//! (Redpanda #3003) or hands a send a spurious offset (Bufstream) shows up here.

use super::describe::op_reference;
use crate::{Anomaly, AnomalyKind};

use super::describe;
use super::Analysis;

/// One anomaly per offset that holds more than one value.
pub(crate) fn find(analysis: &Analysis) -> Vec<Anomaly> {
    let facts = &analysis.facts;
    let mut anomalies = Vec::new();
    for key in facts.keys_in_order() {
        let order = &analysis.orders[key as usize];
        for index in 0..order.len() {
            let entries = order.at_index(index);
            if entries.len() < 2 {
                continue;
            }
            let sightings: Vec<String> = entries
                .iter()
                .map(|e| format!("value {} per {}", e.value, op_reference(facts.op(e.op))))
                .collect();
            let mut ops: Vec<u64> = entries.iter().map(|e| facts.op(e.op).index()).collect();
            ops.sort_unstable();
            ops.dedup();
            anomalies.push(Anomaly {
                kind: AnomalyKind::InconsistentOffsets,
                key: Some(facts.keys[key as usize]),
                ops,
                description: format!(
                    "key {}: offset {} holds {} different values: {}",
                    facts.keys[key as usize],
                    entries[0].offset,
                    entries.len(),
                    describe::list(&sightings, 8)
                ),
            });
        }
    }
    anomalies
}
