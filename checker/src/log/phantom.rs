//! Phantom: a poll returned a value that no op ever sent (ours).
//!
//! Jepsen `tests/kafka.clj` assumes every read value has a writer and throws
//! `:no-writer-of` otherwise. We report it as evidence instead: a broker that invents or
//! corrupts a record (a bit flip, a mis-assembled batch) must fail the history, never crash
//! the checker. Reads from polls of any outcome count: a consumer must never return
//! records that do not exist.

use super::describe::op_reference;
use crate::{Anomaly, AnomalyKind};

use super::Analysis;

/// One anomaly per phantom record read, in history order.
pub(crate) fn find(analysis: &Analysis) -> Vec<Anomaly> {
    let facts = &analysis.facts;
    facts
        .reads
        .iter()
        .filter(|read| facts.writer(read.key, read.local).is_none())
        .map(|read| {
            let key = facts.keys[read.key as usize];
            let reader = facts.op(read.op);
            Anomaly {
                kind: AnomalyKind::Phantom,
                key: Some(key),
                ops: vec![reader.index()],
                description: format!(
                    "key {key}: {} returned value {} at offset {}, but no op ever sent that \
                     value to key {key}",
                    op_reference(reader),
                    read.value,
                    read.offset
                ),
            }
        })
        .collect()
}
