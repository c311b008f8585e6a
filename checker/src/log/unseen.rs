//! Unseen: an acknowledged value that no `ok` poll returned by the end of the history.
//!
//! Jepsen `tests/kafka.clj` `unseen`: `ok` sends minus `ok` polls. Only meaningful after
//! final reads (`LogOptions::final_reads`): without them a consumer may simply not have
//! got there yet, so the count goes to the stats instead. Values already reported as
//! LostWrite are left out here, so each missing value is reported once, by its strongest
//! name.

use std::collections::{BTreeMap, HashSet};

use super::describe::op_reference;
use crate::history::{Offset, Value};
use crate::{Anomaly, AnomalyKind};

use super::describe;
use super::facts::Outcome;
use super::lost_write::Lost;
use super::Analysis;

/// One unseen value: dense key id, value, acknowledged offset, writer op id.
type UnseenValue = (Value, Option<Offset>, u32);

/// Every acknowledged, never-read value by dense key id, lost writes included.
pub(crate) fn unseen(analysis: &Analysis) -> BTreeMap<u32, Vec<UnseenValue>> {
    let facts = &analysis.facts;
    let mut unseen: BTreeMap<u32, Vec<UnseenValue>> = BTreeMap::new();
    for send in &facts.sends {
        if facts.op(send.op).outcome == Outcome::Ok && !facts.read_ok(send.key, send.local) {
            unseen
                .entry(send.key)
                .or_default()
                .push((send.value, send.offset, send.op));
        }
    }
    unseen
}

/// One anomaly per key with unseen values that are not lost writes.
pub(crate) fn anomalies(
    analysis: &Analysis,
    unseen: &BTreeMap<u32, Vec<UnseenValue>>,
    lost: &[Lost],
) -> Vec<Anomaly> {
    let facts = &analysis.facts;
    let lost: HashSet<(u32, Value)> = lost.iter().map(|l| (l.key, l.value)).collect();
    let mut anomalies = Vec::new();
    let mut keys: Vec<u32> = unseen.keys().copied().collect();
    keys.sort_unstable_by_key(|&key| facts.keys[key as usize]);
    for key in keys {
        let values: Vec<&UnseenValue> = unseen[&key]
            .iter()
            .filter(|(value, _, _)| !lost.contains(&(key, *value)))
            .collect();
        if values.is_empty() {
            continue;
        }
        let shown: Vec<String> = values
            .iter()
            .map(|&&(value, offset, op)| match offset {
                Some(offset) => {
                    format!(
                        "{value} at offset {offset} by {}",
                        op_reference(facts.op(op))
                    )
                }
                None => format!("{value} by {}", op_reference(facts.op(op))),
            })
            .collect();
        anomalies.push(Anomaly {
            kind: AnomalyKind::Unseen,
            key: Some(facts.keys[key as usize]),
            ops: values
                .iter()
                .take(32)
                .map(|&&(_, _, op)| facts.op(op).index())
                .collect(),
            description: format!(
                "key {}: {} acknowledged value(s) were never returned by any poll, even after \
                 final reads: {}",
                facts.keys[key as usize],
                values.len(),
                describe::list(&shown, 8)
            ),
        });
    }
    anomalies
}
