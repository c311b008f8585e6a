//! LostWrite: an acknowledged value sits below the highest offset an `ok` poll reached on
//! its partition, yet no `ok` poll ever returned it.
//!
//! Jepsen `tests/kafka.clj` `lost-write-cases`: take, per key, the highest of the *first*
//! indices of every value read (`bound`); every value whose *last* index is at or below the
//! bound should have been read by someone. Writers are filtered by `must-have-committed?`:
//! an `ok` send, or an `info` send one of whose values was read — a send that may never
//! have happened cannot be lost. Values with no writer at all are phantoms, reported there.

use super::describe::op_reference;
use crate::history::{Offset, Value};
use crate::{Anomaly, AnomalyKind};

use super::facts::{Outcome, ReadFact};
use super::Analysis;

/// One lost value, with what proves a reader went past it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lost {
    /// Dense key id.
    pub key: u32,
    /// The value never read.
    pub value: Value,
    /// Where the version order places it.
    pub offset: Offset,
    /// The op that sent it (dense op id).
    pub writer: u32,
    /// The read that reached furthest on the key.
    pub bound: ReadFact,
}

/// Every lost value, by key then offset.
pub(crate) fn lost(analysis: &Analysis) -> Vec<Lost> {
    let facts = &analysis.facts;
    let mut bounds: Vec<Option<(u32, ReadFact)>> = vec![None; facts.keys.len()];
    for read in &facts.reads {
        if facts.op(read.op).outcome != Outcome::Ok {
            continue;
        }
        let order = &analysis.orders[read.key as usize];
        let Some(span) = order.span(read.local) else {
            continue;
        };
        let bound = &mut bounds[read.key as usize];
        if bound.is_none_or(|(index, _)| span.first > index) {
            *bound = Some((span.first, *read));
        }
    }
    let mut lost = Vec::new();
    for key in facts.keys_in_order() {
        let Some((bound_index, bound_read)) = bounds[key as usize] else {
            continue;
        };
        let order = &analysis.orders[key as usize];
        for index in 0..=bound_index {
            for entry in order.at_index(index) {
                let span = order.span(entry.local).expect("every entry has a span");
                if span.last != index || facts.read_ok(key, entry.local) {
                    continue;
                }
                let Some(writer) = facts.writer(key, entry.local) else {
                    continue;
                };
                if !facts.committed(writer.op) {
                    continue;
                }
                lost.push(Lost {
                    key,
                    value: entry.value,
                    offset: order.offsets[span.first as usize],
                    writer: writer.op,
                    bound: bound_read,
                });
            }
        }
    }
    lost
}

/// One anomaly per lost value.
pub(crate) fn anomalies(analysis: &Analysis, lost: &[Lost]) -> Vec<Anomaly> {
    let facts = &analysis.facts;
    lost.iter()
        .map(|lost| {
            let writer = facts.op(lost.writer);
            let reader = facts.op(lost.bound.op);
            let key = facts.keys[lost.key as usize];
            Anomaly {
                kind: AnomalyKind::LostWrite,
                key: Some(key),
                ops: vec![writer.index(), reader.index()],
                description: format!(
                    "key {key}: value {} was sent by {} and belongs at offset {}, but no poll \
                     ever returned it, although {} read past it up to offset {} (value {})",
                    lost.value,
                    op_reference(writer),
                    lost.offset,
                    op_reference(reader),
                    lost.bound.offset,
                    lost.bound.value
                ),
            }
        })
        .collect()
}
